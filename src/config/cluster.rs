//! The cluster keys: `zookeeper.connect` parsed into servers and a chroot,
//! the session timeouts, the rack, and the replication settings a cluster
//! needs. They are accepted and validated here; whether the broker runs as a
//! cluster is decided by whoever reads [`ClusterConfig::zookeeper`]
//! (`Some` = clustered mode was asked for, `None` = the embedded single node).
//!
//! | key | default | what Sluice does with it |
//! |---|---|---|
//! | `zookeeper.connect` | unset | unset (or empty): the single embedded node. Set: `host:port[,host:port...][/chroot]` as ZooKeeper's `ConnectStringParser` reads it (a host without a port is 2181); parsed into [`ClusterConfig::zookeeper`]: the broker joins that ZooKeeper cluster |
//! | `zookeeper.session.timeout.ms` | `18000` | the session timeout asked of ZooKeeper (the server clamps it to 2..20 ticks) |
//! | `zookeeper.connection.timeout.ms` | unset: `zookeeper.session.timeout.ms` | how long the broker waits for its first ZooKeeper session at start |
//! | `broker.rack` | unset | this broker's rack in `/brokers/ids/<id>`, for rack-aware replica placement |
//! | `transaction.state.log.replication.factor` | `3` in Kafka; unset reads as 1 on the embedded node | validated; set above 1 without `zookeeper.connect` is refused (no transactions yet) |
//! | `min.insync.replicas` | `1` | the default of topic `min.insync.replicas` |
//! | `replica.lag.time.max.ms` | `30000` | how long a follower may lag before it leaves the ISR (with replication) |
//! | `unclean.leader.election.enable` | `false` | whether a replica outside the ISR may become leader (with replication) |
//! | `controller.socket.timeout.ms` | `30000` | the controller's request timeout to brokers (with clustering) |
//! | `num.replica.fetchers` | `1` | validated; Sluice runs one fetcher per source broker on each shard that follows it (a shard's replicas share it), whatever the value |
//! | `replica.fetch.max.bytes` | `1048576` | bytes a follower asks per partition (with replication) |
//! | `replica.fetch.wait.max.ms` | `500` | a follower fetch's `max_wait_ms`; at most `replica.lag.time.max.ms` (Kafka's rule) |
//! | `auto.leader.rebalance.enable` | `true` | whether the controller moves leadership back to preferred replicas |
//! | `leader.imbalance.check.interval.seconds` | `300` | how often the controller looks for leaderships off their preferred replica |
//! | `leader.imbalance.per.broker.percentage` | `10` | the share of a broker's preferred leaderships held elsewhere above which the controller moves them back |
//! | `inter.broker.listener.name` | unset: the listener named `PLAINTEXT` | the advertised listener brokers use to reach each other; in clustered mode it must be among `advertised.listeners`, as Kafka requires |

use super::keys::*;
use super::resolve::Resolver;
use super::{ConfigError, Listener};

/// ZooKeeper's default client port, used for a host given without one.
pub const ZOOKEEPER_PORT_DEFAULT: u16 = 2181;

/// The most servers one `zookeeper.connect` may list; an ensemble has a
/// handful (3, 5, 7), so anything near this is a mistake.
pub(super) const ZOOKEEPER_SERVERS_MAX: usize = 64;

/// Where ZooKeeper is and how the session behaves (`zookeeper.*` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZookeeperConfig {
    /// `zookeeper.connect`'s servers, in the order given.
    pub servers: Vec<ZookeeperServer>,
    /// `zookeeper.connect`'s chroot (`/kafka`), None for the root. Kafka
    /// creates it when it is missing; so does the session.
    pub chroot: Option<String>,
    /// `zookeeper.session.timeout.ms`.
    pub session_timeout_ms: u32,
    /// `zookeeper.connection.timeout.ms`, else the session timeout.
    pub connection_timeout_ms: u32,
}

impl ZookeeperConfig {
    /// The servers as a connect string without the chroot,
    /// `host:port,[v6]:port`, the form the ZooKeeper client takes.
    pub fn servers_text(&self) -> String {
        let servers: Vec<String> = self.servers.iter().map(|s| s.to_string()).collect();
        servers.join(",")
    }
}

/// One ZooKeeper server of `zookeeper.connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZookeeperServer {
    /// A name or an address; an IPv6 address without brackets.
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for ZookeeperServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The cluster and replication keys. Read by the cluster wiring; nothing in
/// the embedded node uses them beyond validation (and `min.insync.replicas`
/// as the topic default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `zookeeper.connect` and the session keys: Some when clustered mode is
    /// asked for.
    pub zookeeper: Option<ZookeeperConfig>,
    /// `broker.rack`.
    pub broker_rack: Option<String>,
    /// `transaction.state.log.replication.factor`, after the embedded-node rule.
    pub transaction_state_log_replication_factor: i16,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: u64,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
    /// `controller.socket.timeout.ms`.
    pub controller_socket_timeout_ms: u64,
    /// `num.replica.fetchers`.
    pub num_replica_fetchers: u32,
    /// `replica.fetch.max.bytes`.
    pub replica_fetch_bytes_max: usize,
    /// `replica.fetch.wait.max.ms`.
    pub replica_fetch_wait_max_ms: u64,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_s: u64,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_per_broker_percentage: u32,
    /// `inter.broker.listener.name`, else `PLAINTEXT`.
    pub inter_broker_listener_name: String,
    /// The advertised listener of that name; always Some in clustered mode.
    pub inter_broker_listener: Option<Listener>,
}

impl ClusterConfig {
    /// True when `zookeeper.connect` asks for clustered mode.
    pub fn is_clustered(&self) -> bool {
        self.zookeeper.is_some()
    }
}

/// `zookeeper.connect`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZookeeperConnect {
    pub servers: Vec<ZookeeperServer>,
    pub chroot: Option<String>,
}

/// Parses `zookeeper.connect` as ZooKeeper's `ConnectStringParser` does:
/// everything from the first `/` is the chroot (`/` alone is none), the rest
/// is a comma-separated list of `host[:port]` or `[v6]:port`, blanks dropped.
/// Returns None for an empty string (the embedded node).
pub fn parse_zookeeper_connect(text: &str) -> Result<Option<ZookeeperConnect>, ConfigError> {
    let invalid = |expected: String| ConfigError::Invalid {
        key: ZOOKEEPER_CONNECT,
        value: text.to_string(),
        expected,
    };
    let text_trimmed = text.trim();
    if text_trimmed.is_empty() {
        return Ok(None);
    }
    let (hosts, chroot) = match text_trimmed.find('/') {
        Some(at) => (&text_trimmed[..at], Some(&text_trimmed[at..])),
        None => (text_trimmed, None),
    };
    let chroot = match chroot {
        None | Some("/") => None,
        Some(path) => {
            validate_chroot(path).map_err(|reason| {
                invalid(format!(
                    "a chroot that is a valid ZooKeeper path ({reason})"
                ))
            })?;
            Some(path.to_string())
        }
    };
    let mut servers = Vec::new();
    for entry in hosts.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let server = parse_server(entry)
            .ok_or_else(|| invalid(format!("host:port pairs; {entry:?} is not one")))?;
        servers.push(server);
    }
    if servers.is_empty() {
        return Err(invalid(
            "at least one ZooKeeper server, such as localhost:2181".to_string(),
        ));
    }
    if servers.len() > ZOOKEEPER_SERVERS_MAX {
        return Err(invalid(format!("at most {ZOOKEEPER_SERVERS_MAX} servers")));
    }
    Ok(Some(ZookeeperConnect { servers, chroot }))
}

fn parse_server(entry: &str) -> Option<ZookeeperServer> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match entry.rsplit_once(':') {
            // A trailing colon means the default port, as ZooKeeper reads it.
            Some((host, "")) => (host, None),
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let port = match port {
        None => ZOOKEEPER_PORT_DEFAULT,
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0)?,
    };
    Some(ZookeeperServer {
        host: host.to_string(),
        port,
    })
}

/// ZooKeeper's `PathUtils.validatePath` for an absolute path other than `/`.
pub(super) fn validate_chroot(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("it must start with /");
    }
    if path.ends_with('/') {
        return Err("it must not end with /");
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return Err("it has an empty segment"),
            "." | ".." => return Err("relative segments are not allowed"),
            _ => {}
        }
    }
    if path.chars().any(|c| {
        c == '\0'
            || ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            // ZooKeeper refuses U+D800..U+F8FF; surrogates cannot occur in
            // a Rust string, the private-use rest can.
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
    }) {
        return Err("it has a character ZooKeeper refuses");
    }
    Ok(())
}

impl Resolver<'_> {
    /// The cluster keys, given the resolved advertised listeners.
    pub(super) fn cluster(
        &self,
        advertised_listeners: &[Listener],
    ) -> Result<ClusterConfig, ConfigError> {
        let connect = self.text(ZOOKEEPER_CONNECT).unwrap_or_default();
        let session_timeout_ms = self.number(ZOOKEEPER_SESSION_TIMEOUT_MS) as u32;
        let zookeeper = parse_zookeeper_connect(&connect)?.map(|connect| ZookeeperConfig {
            servers: connect.servers,
            chroot: connect.chroot,
            session_timeout_ms,
            connection_timeout_ms: self
                .given_number(ZOOKEEPER_CONNECTION_TIMEOUT_MS)
                .map_or(session_timeout_ms, |ms| ms as u32),
        });
        let embedded = zookeeper.is_none();

        let transaction_state_log_replication_factor =
            match self.given_number(TRANSACTION_STATE_LOG_REPLICATION_FACTOR) {
                Some(factor) if embedded && factor > 1 => {
                    return Err(ConfigError::ReplicationNeedsCluster {
                        key: TRANSACTION_STATE_LOG_REPLICATION_FACTOR,
                        value: factor,
                    })
                }
                Some(factor) => factor,
                None if embedded => 1,
                None => self.number(TRANSACTION_STATE_LOG_REPLICATION_FACTOR),
            };

        let replica_lag_time_max_ms = self.number(REPLICA_LAG_TIME_MAX_MS);
        let replica_fetch_wait_max_ms = self.number(REPLICA_FETCH_WAIT_MAX_MS);
        if replica_fetch_wait_max_ms > replica_lag_time_max_ms {
            return Err(ConfigError::Invalid {
                key: REPLICA_FETCH_WAIT_MAX_MS,
                value: replica_fetch_wait_max_ms.to_string(),
                expected: format!(
                    "at most {REPLICA_LAG_TIME_MAX_MS} ({replica_lag_time_max_ms}), so that \
                     followers do not leave and rejoin the ISR all the time"
                ),
            });
        }

        let inter_broker_listener_name = self
            .text(INTER_BROKER_LISTENER_NAME)
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "PLAINTEXT".to_string());
        let inter_broker_listener = advertised_listeners
            .iter()
            .find(|l| l.name == inter_broker_listener_name)
            .cloned();
        if inter_broker_listener.is_none() && !embedded {
            let names: Vec<&str> = advertised_listeners
                .iter()
                .map(|l| l.name.as_str())
                .collect();
            return Err(ConfigError::Invalid {
                key: INTER_BROKER_LISTENER_NAME,
                value: inter_broker_listener_name,
                expected: format!(
                    "a listener name defined in {ADVERTISED_LISTENERS}; the valid options \
                     based on currently configured listeners are {}",
                    names.join(",")
                ),
            });
        }

        // Ranges were checked by the key table, so these casts are exact.
        Ok(ClusterConfig {
            zookeeper,
            broker_rack: self.text(BROKER_RACK).filter(|rack| !rack.is_empty()),
            transaction_state_log_replication_factor: transaction_state_log_replication_factor
                as i16,
            min_insync_replicas: self.number(MIN_INSYNC_REPLICAS) as i32,
            replica_lag_time_max_ms: replica_lag_time_max_ms as u64,
            unclean_leader_election_enable: self.boolean(UNCLEAN_LEADER_ELECTION_ENABLE),
            controller_socket_timeout_ms: self.number(CONTROLLER_SOCKET_TIMEOUT_MS) as u64,
            num_replica_fetchers: self.number(NUM_REPLICA_FETCHERS) as u32,
            replica_fetch_bytes_max: self.number(REPLICA_FETCH_MAX_BYTES) as usize,
            replica_fetch_wait_max_ms: replica_fetch_wait_max_ms as u64,
            auto_leader_rebalance_enable: self.boolean(AUTO_LEADER_REBALANCE_ENABLE),
            leader_imbalance_check_interval_s: self.number(LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS)
                as u64,
            leader_imbalance_per_broker_percentage: self
                .number(LEADER_IMBALANCE_PER_BROKER_PERCENTAGE)
                as u32,
            inter_broker_listener_name,
            inter_broker_listener,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{err, ok};
    use super::*;

    fn server(host: &str, port: u16) -> ZookeeperServer {
        ZookeeperServer {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn connect_strings_parse_as_zookeeper_reads_them() {
        let parse = |t: &str| {
            let connect = parse_zookeeper_connect(t).unwrap().unwrap();
            (connect.servers, connect.chroot)
        };
        assert_eq!(
            parse("localhost:2181"),
            (vec![server("localhost", 2181)], None)
        );
        assert_eq!(
            parse(" a:1, b ,c:,[::1]:2182,[fe80::1] /kafka/prod"),
            (
                vec![
                    server("a", 1),
                    server("b", 2181),
                    server("c", 2181),
                    server("::1", 2182),
                    server("fe80::1", 2181),
                ],
                Some("/kafka/prod".to_string())
            )
        );
        // "/" alone is the root.
        assert_eq!(parse("zk:2181/"), (vec![server("zk", 2181)], None));
        assert_eq!(parse_zookeeper_connect("  ").unwrap(), None);
        let (servers, _) = parse("a:1,[::1]:2");
        let config = ZookeeperConfig {
            servers,
            chroot: None,
            session_timeout_ms: 1,
            connection_timeout_ms: 1,
        };
        assert_eq!(config.servers_text(), "a:1,[::1]:2");
    }

    #[test]
    fn bad_connect_strings_name_the_key() {
        for (bad, expected) in [
            ("localhost:notaport", "host:port"),
            ("localhost:0", "host:port"),
            ("localhost:65536", "host:port"),
            (":2181", "host:port"),
            ("[::1", "host:port"),
            ("[::1]x", "host:port"),
            (",", "at least one"),
            ("/kafka", "at least one"),
            ("zk:2181/kafka/", "must not end with /"),
            ("zk:2181/a//b", "empty segment"),
            ("zk:2181/a/../b", "relative"),
            ("zk:2181/a\u{1}", "refuses"),
        ] {
            let e = err(&[("zookeeper.connect", bad)]);
            let text = e.to_string();
            assert!(text.contains("zookeeper.connect"), "{bad}: {text}");
            assert!(text.contains(expected), "{bad}: {text}");
        }
        let many = vec!["zk:1"; ZOOKEEPER_SERVERS_MAX + 1].join(",");
        assert!(err(&[("zookeeper.connect", &many)])
            .to_string()
            .contains("at most 64 servers"));
    }

    #[test]
    fn embedded_defaults() {
        let c = ok(&[]).cluster;
        assert_eq!(c.zookeeper, None);
        assert!(!c.is_clustered());
        assert_eq!(c.broker_rack, None);
        assert_eq!(c.transaction_state_log_replication_factor, 1);
        assert_eq!(c.min_insync_replicas, 1);
        assert_eq!(c.replica_lag_time_max_ms, 30_000);
        assert!(!c.unclean_leader_election_enable);
        assert_eq!(c.controller_socket_timeout_ms, 30_000);
        assert_eq!(c.num_replica_fetchers, 1);
        assert_eq!(c.replica_fetch_bytes_max, 1_048_576);
        assert_eq!(c.replica_fetch_wait_max_ms, 500);
        assert!(c.auto_leader_rebalance_enable);
        assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
        assert_eq!(
            c.inter_broker_listener.map(|l| l.to_string()).as_deref(),
            Some("PLAINTEXT://127.0.0.1:9092")
        );
        // A listener not named PLAINTEXT is fine on the embedded node.
        let c = ok(&[
            ("listeners", "CLIENT://127.0.0.1:9092"),
            ("listener.security.protocol.map", "CLIENT:PLAINTEXT"),
        ]);
        assert_eq!(c.cluster.inter_broker_listener, None);
    }

    #[test]
    fn clustered_settings() {
        let c = ok(&[
            ("zookeeper.connect", "zk1:2181,zk2:2181/sluice"),
            ("zookeeper.session.timeout.ms", "6000"),
            ("broker.rack", "rack-a"),
            ("min.insync.replicas", "2"),
            ("unclean.leader.election.enable", "TRUE"),
            ("replica.lag.time.max.ms", "10000"),
            ("replica.fetch.wait.max.ms", "10000"),
        ]);
        let zk = c.cluster.zookeeper.clone().unwrap();
        assert_eq!(zk.servers, vec![server("zk1", 2181), server("zk2", 2181)]);
        assert_eq!(zk.chroot.as_deref(), Some("/sluice"));
        assert_eq!(
            (zk.session_timeout_ms, zk.connection_timeout_ms),
            (6000, 6000)
        );
        assert_eq!(c.cluster.broker_rack.as_deref(), Some("rack-a"));
        assert_eq!(c.cluster.min_insync_replicas, 2);
        assert!(c.cluster.unclean_leader_election_enable);
        // Kafka's 3 once clustered, and the topic default follows the broker.
        assert_eq!(c.cluster.transaction_state_log_replication_factor, 3);
        assert_eq!(c.topic_defaults().config().min_insync_replicas, 2);

        let c = ok(&[
            ("zookeeper.connect", "zk:2181"),
            ("zookeeper.connection.timeout.ms", "500"),
        ]);
        let zk = c.cluster.zookeeper.unwrap();
        assert_eq!(
            (zk.session_timeout_ms, zk.connection_timeout_ms),
            (18000, 500)
        );
    }

    #[test]
    fn the_repositorys_server_properties_is_kafkas_and_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/server.properties");
        let (c, warnings) = crate::config::BrokerConfig::from_properties_file(path).unwrap();
        let zk = c.cluster.zookeeper.as_ref().unwrap();
        assert_eq!(zk.servers, vec![server("localhost", 2181)]);
        assert_eq!(
            (zk.session_timeout_ms, zk.connection_timeout_ms),
            (18000, 18000)
        );
        assert_eq!(c.cluster.transaction_state_log_replication_factor, 1);
        assert_eq!(c.offsets_topic_replication_factor, 1);
        assert_eq!(c.broker_id, 0);
        assert_eq!(c.groups.initial_rebalance_delay_ms, 0);
        let unknown: Vec<String> = [
            "num.recovery.threads.per.data.dir",
            "socket.receive.buffer.bytes",
            "socket.send.buffer.bytes",
            "transaction.state.log.min.isr",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        assert!(
            warnings.contains(&crate::config::ConfigWarning::UnknownKeys(unknown)),
            "{warnings:?}"
        );
    }

    #[test]
    fn cluster_rules() {
        let e = err(&[("transaction.state.log.replication.factor", "3")]);
        assert!(
            matches!(e, ConfigError::ReplicationNeedsCluster { .. }),
            "{e}"
        );
        let e = err(&[("replica.fetch.wait.max.ms", "30001")]);
        assert!(
            e.to_string().contains("at most replica.lag.time.max.ms"),
            "{e}"
        );
        // Clustered mode needs the inter-broker listener among the advertised.
        let e = err(&[
            ("zookeeper.connect", "zk:2181"),
            ("listeners", "CLIENT://127.0.0.1:9092"),
            ("listener.security.protocol.map", "CLIENT:PLAINTEXT"),
        ]);
        let text = e.to_string();
        assert!(text.contains("inter.broker.listener.name"), "{text}");
        assert!(
            text.contains("valid options based on currently configured listeners are CLIENT"),
            "{text}"
        );
        let c = ok(&[
            ("zookeeper.connect", "zk:2181"),
            (
                "listeners",
                "CLIENT://127.0.0.1:9092,REPLICATION://127.0.0.1:9093",
            ),
            (
                "listener.security.protocol.map",
                "CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "REPLICATION"),
        ]);
        assert_eq!(
            c.cluster.inter_broker_listener.unwrap().to_string(),
            "REPLICATION://127.0.0.1:9093"
        );
        for (key, value) in [
            ("zookeeper.session.timeout.ms", "0"),
            ("min.insync.replicas", "0"),
            ("num.replica.fetchers", "0"),
            ("replica.fetch.max.bytes", "-1"),
            ("transaction.state.log.replication.factor", "0"),
        ] {
            let text = err(&[(key, value)]).to_string();
            assert!(text.contains(key) && text.contains("at least"), "{text}");
        }
    }
}
