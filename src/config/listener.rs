//! `listeners`, `advertised.listeners` and `listener.security.protocol.map`.
//!
//! A listener is `NAME://host:port`. The name picks the security protocol
//! through `listener.security.protocol.map` (by default each protocol's own
//! name maps to itself, so `PLAINTEXT://...` is plaintext); Sluice serves
//! PLAINTEXT only. The host may be empty (all interfaces), a name, an IPv4
//! address, or an IPv6 address in brackets (`[::1]`). Names are upper-cased,
//! as Kafka's `ListenerName.normalised` does.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::keys::{ADVERTISED_LISTENERS, LISTENERS, LISTENER_SECURITY_PROTOCOL_MAP};
use super::{ConfigError, ConfigWarning};

/// The security protocols Kafka knows (`SecurityProtocol`).
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Kafka parses listener lists with `parseCsvList`, which drops empty
/// entries; this bound keeps a pasted mistake from becoming a huge list.
pub(super) const LISTENERS_MAX: usize = 64;

/// One endpoint: where the broker binds (`listeners`) or what it tells
/// clients (`advertised.listeners`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Upper-cased listener name, `PLAINTEXT` unless the operator named it.
    pub name: String,
    /// Empty for all interfaces; an IPv6 address without its brackets.
    pub host: String,
    /// 0 asks the OS for a free port (tests); the server advertises the port
    /// it got.
    pub port: u16,
}

impl Listener {
    /// True for an empty host, `0.0.0.0` or `::`: bind every interface, and
    /// never tell a client to connect there.
    pub fn binds_all_interfaces(&self) -> bool {
        self.host.is_empty()
            || self
                .host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
    }

    /// `host:port` for `ToSocketAddrs`, brackets around IPv6. An empty host
    /// becomes `0.0.0.0` (IPv4 all interfaces: it works where IPv6 is
    /// disabled; name `[::]` to bind IPv6 too).
    pub fn socket_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        format_host_port(host, self.port)
    }
}

fn format_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}",
            self.name,
            format_host_port(&self.host, self.port)
        )
    }
}

/// Splits a comma list as Kafka's `parseCsvList`: entries trimmed, empty ones
/// dropped.
pub(super) fn csv(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses a `listeners` or `advertised.listeners` value.
pub(super) fn parse_listeners(
    key: &'static str,
    value: &str,
) -> Result<Vec<Listener>, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidListener {
        key,
        value: value.to_string(),
        reason,
    };
    let entries = csv(value);
    if entries.is_empty() {
        return Err(invalid("no listener given".to_string()));
    }
    if entries.len() > LISTENERS_MAX {
        return Err(invalid(format!("more than {LISTENERS_MAX} listeners")));
    }
    let mut listeners: Vec<Listener> = Vec::with_capacity(entries.len());
    for entry in entries {
        let listener =
            parse_one(entry).map_err(|reason| invalid(format!("{entry:?}: {reason}")))?;
        if listeners.iter().any(|l| l.name == listener.name) {
            return Err(invalid(format!(
                "listener name {} appears twice",
                listener.name
            )));
        }
        if key == LISTENERS && listener.port != 0 {
            if let Some(other) = listeners.iter().find(|l| clash(l, &listener)) {
                return Err(invalid(format!(
                    "listeners {} and {} bind the same port",
                    other.name, listener.name
                )));
            }
        }
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Two listeners may share a port only when one is an IPv4 and the other an
/// IPv6 address (Kafka allows that pair since 3.1, KIP-797).
fn clash(a: &Listener, b: &Listener) -> bool {
    if a.port != b.port {
        return false;
    }
    match (a.host.parse::<IpAddr>(), b.host.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x.is_ipv4() == y.is_ipv4(),
        _ => true,
    }
}

fn parse_one(entry: &str) -> Result<Listener, String> {
    let (name, address) = entry
        .split_once("://")
        .ok_or_else(|| "missing \"://\" after the listener name".to_string())?;
    if name.is_empty() {
        return Err("the listener name is empty".to_string());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "listener name {name:?} may hold only letters, digits, '_' and '-'"
        ));
    }
    let (host, port) = if let Some(bracketed) = address.strip_prefix('[') {
        let (ip, rest) = bracketed
            .split_once(']')
            .ok_or_else(|| "'[' without a closing ']'".to_string())?;
        ip.parse::<Ipv6Addr>()
            .map_err(|_| format!("{ip:?} in brackets is not an IPv6 address"))?;
        let port = rest
            .strip_prefix(':')
            .ok_or_else(|| "expected ':' and a port after ']'".to_string())?;
        (ip, port)
    } else {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| "missing \":port\"".to_string())?;
        if host.contains(':') {
            return Err("an IPv6 address must be in brackets, as [::1]".to_string());
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(format!("{host:?} is not a host name or address"));
        }
        (host, port)
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
    Ok(Listener {
        name: name.to_ascii_uppercase(),
        host: host.to_string(),
        port,
    })
}

/// Parses `listener.security.protocol.map`: `NAME:PROTOCOL` pairs.
pub(super) fn parse_protocol_map(value: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let invalid = |expected: String| ConfigError::Invalid {
        key: LISTENER_SECURITY_PROTOCOL_MAP,
        value: value.to_string(),
        expected,
    };
    let mut map = BTreeMap::new();
    for entry in csv(value) {
        let Some((name, protocol)) = entry.split_once(':') else {
            return Err(invalid(format!(
                "NAME:PROTOCOL pairs; {entry:?} has no ':'"
            )));
        };
        let protocol = protocol.trim().to_ascii_uppercase();
        if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid(format!(
                "a security protocol among {} for {name:?}, not {protocol:?}",
                SECURITY_PROTOCOLS.join(", ")
            )));
        }
        map.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

/// Checks that every listener maps to PLAINTEXT.
pub(super) fn check_protocols(
    key: &'static str,
    listeners: &[Listener],
    map: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for listener in listeners {
        match map.get(&listener.name) {
            None => {
                return Err(ConfigError::Invalid {
                    key: LISTENER_SECURITY_PROTOCOL_MAP,
                    value: map
                        .iter()
                        .map(|(n, p)| format!("{n}:{p}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    expected: format!(
                        "an entry for listener {} of {key} (such as {}:PLAINTEXT)",
                        listener.name, listener.name
                    ),
                })
            }
            Some(protocol) if protocol != "PLAINTEXT" => {
                return Err(ConfigError::UnsupportedSecurityProtocol {
                    key,
                    listener: listener.to_string(),
                    protocol: protocol.clone(),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The listeners clients are told about. Without `advertised.listeners`,
/// those of `listeners`; a listener on all interfaces is advertised under
/// `hostname` (as Kafka advertises its host's name). With it, every name must
/// be one of `listeners`', an empty host still means `hostname`, and
/// `0.0.0.0`, `::` and port 0 are refused: a client cannot connect there.
pub(super) fn advertised(
    listeners: &[Listener],
    advertised: Option<&str>,
    hostname: &str,
) -> Result<(Vec<Listener>, Vec<ConfigWarning>), ConfigError> {
    let mut notes = Vec::new();
    let Some(value) = advertised else {
        let derived = listeners
            .iter()
            .map(|l| {
                if !l.binds_all_interfaces() {
                    return l.clone();
                }
                notes.push(ConfigWarning::AdvertisedHost {
                    listener: l.to_string(),
                    host: hostname.to_string(),
                });
                Listener {
                    host: hostname.to_string(),
                    ..l.clone()
                }
            })
            .collect();
        return Ok((derived, notes));
    };
    let mut parsed = parse_listeners(ADVERTISED_LISTENERS, value)?;
    let invalid = |reason: String| ConfigError::InvalidListener {
        key: ADVERTISED_LISTENERS,
        value: value.to_string(),
        reason,
    };
    for l in &mut parsed {
        if !listeners.iter().any(|b| b.name == l.name) {
            return Err(invalid(format!(
                "listener name {} is not one of {LISTENERS} ({})",
                l.name,
                listeners
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if l.port == 0 {
            return Err(invalid(format!("{l}: clients cannot connect to port 0")));
        }
        if l.host.is_empty() {
            l.host = hostname.to_string();
        } else if l.binds_all_interfaces() {
            return Err(invalid(format!(
                "{l}: cannot advertise the non-routable meta-address {}; use a routable \
                 address or host name",
                l.host
            )));
        }
    }
    Ok((parsed, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(entry: &str) -> Listener {
        let mut all = parse_listeners(LISTENERS, entry).unwrap();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    fn l(name: &str, host: &str, port: u16) -> Listener {
        Listener {
            name: name.into(),
            host: host.into(),
            port,
        }
    }

    fn reason(key: &'static str, value: &str) -> String {
        match parse_listeners(key, value) {
            Err(ConfigError::InvalidListener {
                key: k,
                value: v,
                reason,
            }) => {
                assert_eq!((k, v.as_str()), (key, value));
                reason
            }
            other => panic!("{value:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_hosts() {
        assert_eq!(
            one("PLAINTEXT://127.0.0.1:9092"),
            l("PLAINTEXT", "127.0.0.1", 9092)
        );
        assert_eq!(one("PLAINTEXT://:9092"), l("PLAINTEXT", "", 9092));
        assert_eq!(one("PLAINTEXT://[::1]:9093"), l("PLAINTEXT", "::1", 9093));
        assert_eq!(one("PLAINTEXT://[::]:0"), l("PLAINTEXT", "::", 0));
        assert_eq!(
            one("plaintext://kafka-1.example.com:19092"),
            l("PLAINTEXT", "kafka-1.example.com", 19092)
        );
        assert_eq!(
            one("  INTERNAL://broker_a:1 "),
            l("INTERNAL", "broker_a", 1)
        );
    }

    #[test]
    fn lists() {
        let all =
            parse_listeners(LISTENERS, "PLAINTEXT://:9092, ,INTERNAL://127.0.0.1:9093,").unwrap();
        assert_eq!(
            all,
            vec![l("PLAINTEXT", "", 9092), l("INTERNAL", "127.0.0.1", 9093)]
        );
        // An IPv4 and an IPv6 listener may share a port.
        assert!(parse_listeners(LISTENERS, "A://0.0.0.0:9092,B://[::]:9092").is_ok());
        // Port 0 never clashes.
        assert!(parse_listeners(LISTENERS, "A://:0,B://:0").is_ok());
    }

    #[test]
    fn display_and_socket_address() {
        assert_eq!(
            l("PLAINTEXT", "::1", 9092).to_string(),
            "PLAINTEXT://[::1]:9092"
        );
        assert_eq!(l("PLAINTEXT", "", 9092).to_string(), "PLAINTEXT://:9092");
        assert_eq!(l("PLAINTEXT", "", 9092).socket_address(), "0.0.0.0:9092");
        assert_eq!(l("PLAINTEXT", "::", 1).socket_address(), "[::]:1");
        assert_eq!(l("PLAINTEXT", "h", 1).socket_address(), "h:1");
        assert!(l("P", "", 1).binds_all_interfaces());
        assert!(l("P", "0.0.0.0", 1).binds_all_interfaces());
        assert!(l("P", "::", 1).binds_all_interfaces());
        assert!(!l("P", "127.0.0.1", 1).binds_all_interfaces());
        assert!(!l("P", "host", 1).binds_all_interfaces());
    }

    #[test]
    fn refuses_bad_listeners() {
        for (value, words) in [
            ("", "no listener"),
            ("127.0.0.1:9092", "://"),
            ("://:9092", "name is empty"),
            ("PLAIN TEXT://:9092", "letters"),
            ("PLAINTEXT://localhost", ":port"),
            ("PLAINTEXT://localhost:", "port \"\""),
            ("PLAINTEXT://localhost:65536", "0 to 65535"),
            ("PLAINTEXT://localhost:-1", "0 to 65535"),
            ("PLAINTEXT://::1:9092", "brackets"),
            ("PLAINTEXT://[::1:9092", "closing"),
            ("PLAINTEXT://[::1]9092", "after ']'"),
            ("PLAINTEXT://[127.0.0.1]:9092", "not an IPv6"),
            ("PLAINTEXT://ho/st:9092", "not a host"),
            ("PLAINTEXT://:9092,PLAINTEXT://:9093", "appears twice"),
            ("A://:9092,B://127.0.0.1:9092", "same port"),
        ] {
            let reason = reason(LISTENERS, value);
            assert!(reason.contains(words), "{value:?}: {reason}");
        }
    }

    #[test]
    fn protocol_map() {
        let map = parse_protocol_map("internal:plaintext, EXTERNAL : SSL").unwrap();
        assert_eq!(map.get("INTERNAL").map(String::as_str), Some("PLAINTEXT"));
        assert_eq!(map.get("EXTERNAL").map(String::as_str), Some("SSL"));
        assert!(matches!(
            parse_protocol_map("A:TLS"),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            parse_protocol_map("A"),
            Err(ConfigError::Invalid { .. })
        ));

        let listeners = parse_listeners(LISTENERS, "INTERNAL://:1,EXTERNAL://:2").unwrap();
        match check_protocols(LISTENERS, &listeners, &map) {
            Err(ConfigError::UnsupportedSecurityProtocol {
                listener, protocol, ..
            }) => {
                assert_eq!(
                    (listener.as_str(), protocol.as_str()),
                    ("EXTERNAL://:2", "SSL")
                );
            }
            other => panic!("{other:?}"),
        }
        let unmapped = parse_listeners(LISTENERS, "OTHER://:1").unwrap();
        let err = check_protocols(LISTENERS, &unmapped, &map).unwrap_err();
        assert!(err.to_string().contains("OTHER:PLAINTEXT"), "{err}");
    }

    #[test]
    fn advertised_from_listeners() {
        let listeners =
            parse_listeners(LISTENERS, "A://:1,B://0.0.0.0:2,C://[::]:3,D://10.0.0.1:4").unwrap();
        let (adv, notes) = advertised(&listeners, None, "myhost").unwrap();
        assert_eq!(
            adv,
            vec![
                l("A", "myhost", 1),
                l("B", "myhost", 2),
                l("C", "myhost", 3),
                l("D", "10.0.0.1", 4)
            ]
        );
        assert_eq!(notes.len(), 3);
        assert_eq!(
            notes[0],
            ConfigWarning::AdvertisedHost {
                listener: "A://:1".into(),
                host: "myhost".into()
            }
        );
    }

    #[test]
    fn advertised_explicit() {
        let listeners = parse_listeners(LISTENERS, "PLAINTEXT://:9092,INTERNAL://:9093").unwrap();
        let (adv, notes) = advertised(
            &listeners,
            Some("PLAINTEXT://broker.example:9092,INTERNAL://:19093"),
            "me",
        )
        .unwrap();
        assert_eq!(
            adv,
            vec![
                l("PLAINTEXT", "broker.example", 9092),
                l("INTERNAL", "me", 19093)
            ]
        );
        assert!(notes.is_empty());

        for (value, words) in [
            ("OTHER://h:1", "not one of listeners"),
            ("PLAINTEXT://0.0.0.0:9092", "non-routable"),
            ("PLAINTEXT://[::]:9092", "non-routable"),
            ("PLAINTEXT://h:0", "port 0"),
            ("", "no listener"),
        ] {
            match advertised(&listeners, Some(value), "me") {
                Err(ConfigError::InvalidListener { key, reason, .. }) => {
                    assert_eq!(key, ADVERTISED_LISTENERS);
                    assert!(reason.contains(words), "{value:?}: {reason}");
                }
                other => panic!("{value:?}: {other:?}"),
            }
        }
    }
}
