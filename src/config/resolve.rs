//! Turning the settings given into a [`BrokerConfig`]: one value per key,
//! each parsed by its key's type, then the rules that involve several keys.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::keys::{self, *};
use super::{
    listener, BrokerConfig, ConfigError, ConfigWarning, Environment, Loaded, Origin, Setting,
};

impl BrokerConfig {
    /// Validates settings given in order (later wins) against `env`.
    pub fn resolve(settings: Vec<Setting>, env: &Environment) -> Result<Loaded, ConfigError> {
        let mut warnings = Vec::new();
        let mut latest: BTreeMap<String, String> = BTreeMap::new();
        let mut in_file = BTreeSet::new();
        let mut duplicates = BTreeSet::new();
        for setting in settings {
            if let Origin::File { .. } = setting.origin {
                if !in_file.insert(setting.key.clone()) {
                    duplicates.insert(setting.key.clone());
                }
            }
            latest.insert(setting.key, setting.value);
        }
        if !duplicates.is_empty() {
            warnings.push(ConfigWarning::DuplicateKeys(
                duplicates.into_iter().collect(),
            ));
        }

        let mut given: BTreeMap<&'static str, Value> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (key, value) in &latest {
            match keys::spec(key) {
                Some(spec) => {
                    given.insert(spec.name, spec.parse(value)?);
                }
                None => unknown.push(key.clone()),
            }
        }
        if !unknown.is_empty() {
            warnings.push(ConfigWarning::UnknownKeys(unknown));
        }
        let unused: Vec<&'static str> = KEYS
            .iter()
            .filter(|k| !k.used && given.contains_key(k.name))
            .map(|k| k.name)
            .collect();
        if !unused.is_empty() {
            warnings.push(ConfigWarning::UnusedKeys(unused));
        }

        let r = Resolver { given: &given, env };
        let config = r.config(&mut warnings)?;
        Ok((config, warnings))
    }
}

/// The rules that involve more than one key (the cluster keys' rules are in
/// `cluster.rs`).
pub(super) struct Resolver<'a> {
    given: &'a BTreeMap<&'static str, Value>,
    env: &'a Environment,
}

impl Resolver<'_> {
    fn is_given(&self, name: &str) -> bool {
        self.given.contains_key(name)
    }

    /// A number key's value: given, else its default.
    pub(super) fn number(&self, name: &'static str) -> i64 {
        let spec = keys::spec(name).expect("a known key");
        let value = match self.given.get(name) {
            Some(value) => value.clone(),
            None => match spec.default {
                DefaultValue::Text(text) => spec.parse(text).expect("defaults are valid"),
                DefaultValue::AvailableCores => Value::Number(self.env.available_cores as i64),
                DefaultValue::Null => unreachable!("{name} has no default: use given_number"),
            },
        };
        match value {
            Value::Number(n) => n,
            other => unreachable!("{name} is not a number: {other:?}"),
        }
    }

    pub(super) fn boolean(&self, name: &'static str) -> bool {
        let spec = keys::spec(name).expect("a known key");
        let value = match (self.given.get(name), spec.default) {
            (Some(value), _) => value.clone(),
            (None, DefaultValue::Text(text)) => spec.parse(text).expect("defaults are valid"),
            (None, other) => unreachable!("{name} has no boolean default: {other:?}"),
        };
        match value {
            Value::Bool(b) => b,
            other => unreachable!("{name} is not a boolean: {other:?}"),
        }
    }

    /// A Double key's value: given, else its default.
    pub(super) fn double(&self, name: &'static str) -> f64 {
        let text = self.text(name).expect("double keys have a default");
        text.trim().parse().expect("double keys were parsed")
    }

    pub(super) fn given_number(&self, name: &'static str) -> Option<i64> {
        self.given.contains_key(name).then(|| self.number(name))
    }

    pub(super) fn text(&self, name: &'static str) -> Option<String> {
        match self.given.get(name) {
            Some(Value::Text(text)) => Some(text.clone()),
            Some(other) => unreachable!("{name} is not text: {other:?}"),
            None => match keys::spec(name).expect("a known key").default {
                DefaultValue::Text(text) => Some(text.to_string()),
                _ => None,
            },
        }
    }

    /// The first given key of a chain wins; later given ones are noted.
    fn pick(
        &self,
        chain: &[&'static str],
        warnings: &mut Vec<ConfigWarning>,
    ) -> Option<&'static str> {
        let mut given = chain.iter().copied().filter(|k| self.is_given(k));
        let used = given.next()?;
        let ignored: Vec<&'static str> = given.collect();
        if !ignored.is_empty() {
            warnings.push(ConfigWarning::Shadowed { used, ignored });
        }
        Some(used)
    }

    fn config(&self, warnings: &mut Vec<ConfigWarning>) -> Result<BrokerConfig, ConfigError> {
        let broker_id = match self.number(BROKER_ID) {
            -1 => {
                warnings.push(ConfigWarning::GeneratedBrokerId);
                0
            }
            id => id as i32,
        };

        let listener_text = self.text(LISTENERS).expect("listeners has a default");
        let listeners = listener::parse_listeners(LISTENERS, &listener_text)?;
        let protocols = listener::parse_protocol_map(
            &self
                .text(LISTENER_SECURITY_PROTOCOL_MAP)
                .expect("the map has a default"),
        )?;
        listener::check_protocols(LISTENERS, &listeners, &protocols)?;
        let (advertised_listeners, notes) = listener::advertised(
            &listeners,
            self.text(ADVERTISED_LISTENERS).as_deref(),
            &self.env.hostname,
        )?;
        warnings.extend(notes);
        listener::check_protocols(ADVERTISED_LISTENERS, &advertised_listeners, &protocols)?;

        let cluster = self.cluster(&advertised_listeners)?;
        let embedded = !cluster.is_clustered();
        let default_replication_factor = self.number(DEFAULT_REPLICATION_FACTOR);
        if embedded && default_replication_factor > 1 {
            return Err(ConfigError::ReplicationNeedsCluster {
                key: DEFAULT_REPLICATION_FACTOR,
                value: default_replication_factor,
            });
        }
        let offsets_topic_replication_factor =
            match self.given_number(OFFSETS_TOPIC_REPLICATION_FACTOR) {
                Some(factor) if embedded && factor > 1 => {
                    return Err(ConfigError::ReplicationNeedsCluster {
                        key: OFFSETS_TOPIC_REPLICATION_FACTOR,
                        value: factor,
                    })
                }
                Some(factor) => factor,
                None if embedded => 1,
                None => self.number(OFFSETS_TOPIC_REPLICATION_FACTOR),
            };

        let log_dir_key = self.pick(&[LOG_DIRS, LOG_DIR], warnings).unwrap_or(LOG_DIR);
        let log_dir_text = self.text(log_dir_key).expect("log.dir has a default");
        let log_dir = match listener::csv(&log_dir_text)[..] {
            [] => {
                return Err(ConfigError::Invalid {
                    key: log_dir_key,
                    value: log_dir_text,
                    expected: "a directory".to_string(),
                })
            }
            [dir] => PathBuf::from(dir),
            ref dirs => {
                return Err(ConfigError::MultipleLogDirs {
                    key: log_dir_key,
                    count: dirs.len(),
                    value: log_dir_text,
                })
            }
        };

        let segment_ms = match self.pick(ROLL_CHAIN, warnings) {
            Some(LOG_ROLL_MS) => self.number(LOG_ROLL_MS),
            _ => self.number(LOG_ROLL_HOURS) * 3_600_000,
        };
        let retention_key = self
            .pick(RETENTION_CHAIN, warnings)
            .unwrap_or(LOG_RETENTION_HOURS);
        let retention_raw = self.number(retention_key);
        let retention_ms = match retention_key {
            LOG_RETENTION_MS => retention_raw,
            LOG_RETENTION_MINUTES => retention_raw * 60_000,
            _ => retention_raw * 3_600_000,
        };
        if retention_ms == 0 {
            return Err(ConfigError::OutOfRange {
                key: retention_key,
                value: retention_raw.to_string(),
                expected: "-1 (unlimited) or a positive value".to_string(),
            });
        }
        let flush_interval_ms = match self.given_number(LOG_FLUSH_INTERVAL_MS) {
            Some(ms) => ms,
            None => self.number(LOG_FLUSH_SCHEDULER_INTERVAL_MS),
        };

        let cores = self.number(SLUICE_CORES) as usize;
        if self.is_given(SLUICE_CORES) && cores > self.env.available_cores {
            warnings.push(ConfigWarning::CoresAboveAvailable {
                cores,
                available: self.env.available_cores,
            });
        }

        // Ranges were checked by the key table, so these casts are exact.
        Ok(BrokerConfig {
            broker_id,
            listeners,
            advertised_listeners,
            log_dir,
            num_partitions: self.number(NUM_PARTITIONS) as i32,
            default_replication_factor: default_replication_factor as i16,
            offsets_topic_replication_factor: offsets_topic_replication_factor as i16,
            offsets_topic_num_partitions: self.number(OFFSETS_TOPIC_NUM_PARTITIONS) as i32,
            auto_create_topics_enable: self.boolean(AUTO_CREATE_TOPICS_ENABLE),
            message_bytes_max: self.number(MESSAGE_MAX_BYTES) as usize,
            socket_request_bytes_max: self.number(SOCKET_REQUEST_MAX_BYTES) as usize,
            queued_request_bytes_max: u64::try_from(self.number(QUEUED_MAX_REQUEST_BYTES))
                .ok()
                .filter(|bytes| *bytes > 0),
            connection_idle_ms_max: u64::try_from(self.number(CONNECTIONS_MAX_IDLE_MS)).ok(),
            segment_bytes: self.number(LOG_SEGMENT_BYTES) as u64,
            segment_ms,
            retention_ms: (retention_ms > 0).then_some(retention_ms),
            retention_bytes: u64::try_from(self.number(LOG_RETENTION_BYTES)).ok(),
            retention_check_interval_ms: self.number(LOG_RETENTION_CHECK_INTERVAL_MS) as u64,
            flush_interval_messages: self.number(LOG_FLUSH_INTERVAL_MESSAGES) as u64,
            flush_interval_ms: flush_interval_ms as u64,
            index_interval_bytes: self.number(LOG_INDEX_INTERVAL_BYTES) as u64,
            cluster,
            groups: super::GroupConfig {
                initial_rebalance_delay_ms: self.number(GROUP_INITIAL_REBALANCE_DELAY_MS) as u64,
                min_session_timeout_ms: self.number(GROUP_MIN_SESSION_TIMEOUT_MS) as i32,
                max_session_timeout_ms: self.number(GROUP_MAX_SESSION_TIMEOUT_MS) as i32,
                max_size: self.number(GROUP_MAX_SIZE) as usize,
                offsets_retention_ms: self.number(OFFSETS_RETENTION_MINUTES) * 60_000,
                offsets_retention_check_interval_ms: self
                    .number(OFFSETS_RETENTION_CHECK_INTERVAL_MS)
                    as u64,
                offset_metadata_bytes_max: self.number(OFFSET_METADATA_MAX_BYTES) as usize,
                offsets_topic_segment_bytes: self.number(OFFSETS_TOPIC_SEGMENT_BYTES) as u64,
            },
            cleaner: super::CleanerConfig {
                enable: self.boolean(LOG_CLEANER_ENABLE),
                dedupe_buffer_bytes: self.number(LOG_CLEANER_DEDUPE_BUFFER_SIZE) as u64,
                io_buffer_bytes: self.number(LOG_CLEANER_IO_BUFFER_SIZE) as usize,
                io_buffer_load_factor: self.double(LOG_CLEANER_IO_BUFFER_LOAD_FACTOR),
                io_max_bytes_per_second: self.double(LOG_CLEANER_IO_MAX_BYTES_PER_SECOND),
                backoff_ms: self.number(LOG_CLEANER_BACKOFF_MS) as u64,
                min_cleanable_ratio: self.double(LOG_CLEANER_MIN_CLEANABLE_RATIO),
                min_compaction_lag_ms: self.number(LOG_CLEANER_MIN_COMPACTION_LAG_MS),
                max_compaction_lag_ms: self.number(LOG_CLEANER_MAX_COMPACTION_LAG_MS),
                delete_retention_ms: self.number(LOG_CLEANER_DELETE_RETENTION_MS),
            },
            cores,
            explicit: self.given.iter().map(|(k, v)| (*k, v.render())).collect(),
            available_cores: self.env.available_cores,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{err, load, ok, warnings};
    use super::*;
    use crate::config::Listener;

    #[test]
    fn retention_precedence() {
        assert_eq!(
            ok(&[("log.retention.hours", "1")]).retention_ms,
            Some(3_600_000)
        );
        assert_eq!(
            ok(&[("log.retention.minutes", "2")]).retention_ms,
            Some(120_000)
        );
        assert_eq!(ok(&[("log.retention.ms", "5")]).retention_ms, Some(5));
        let all = [
            ("log.retention.hours", "1"),
            ("log.retention.minutes", "2"),
            ("log.retention.ms", "5"),
        ];
        let (c, warnings) = load(&all).unwrap();
        assert_eq!(c.retention_ms, Some(5));
        assert_eq!(
            warnings,
            vec![ConfigWarning::Shadowed {
                used: "log.retention.ms",
                ignored: vec!["log.retention.minutes", "log.retention.hours"],
            }]
        );
        assert_eq!(ok(&all[..2]).retention_ms, Some(120_000));
        // Negative is unlimited, whichever key says it.
        assert_eq!(ok(&[("log.retention.ms", "-1")]).retention_ms, None);
        assert_eq!(ok(&[("log.retention.hours", "-1")]).retention_ms, None);
        assert_eq!(
            ok(&[
                ("log.retention.hours", "1"),
                ("log.retention.minutes", "-1")
            ])
            .retention_ms,
            None
        );
        // Zero is refused, naming the key that gave it.
        match err(&[("log.retention.minutes", "0")]) {
            ConfigError::OutOfRange { key, value, .. } => {
                assert_eq!((key, value.as_str()), ("log.retention.minutes", "0"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ok(&[("log.retention.bytes", "1000")]).retention_bytes,
            Some(1000)
        );
        assert_eq!(ok(&[("log.retention.bytes", "-5")]).retention_bytes, None);
    }

    #[test]
    fn roll_and_flush_precedence() {
        assert_eq!(ok(&[("log.roll.hours", "2")]).segment_ms, 7_200_000);
        let (c, warnings) = load(&[("log.roll.hours", "2"), ("log.roll.ms", "1000")]).unwrap();
        assert_eq!(c.segment_ms, 1000);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            ok(&[("log.flush.scheduler.interval.ms", "3000")]).flush_interval_ms,
            3000
        );
        let c = ok(&[
            ("log.flush.scheduler.interval.ms", "3000"),
            ("log.flush.interval.ms", "10"),
        ]);
        assert_eq!(c.flush_interval_ms, 10);
        assert_eq!(
            ok(&[("log.flush.interval.messages", "1")]).flush_interval_messages,
            1
        );
    }

    #[test]
    fn log_dirs_precedence() {
        assert_eq!(ok(&[("log.dir", "/a")]).log_dir, PathBuf::from("/a"));
        let (c, warnings) = load(&[("log.dir", "/a"), ("log.dirs", " /b ,")]).unwrap();
        assert_eq!(c.log_dir, PathBuf::from("/b"));
        assert_eq!(
            warnings,
            vec![ConfigWarning::Shadowed {
                used: "log.dirs",
                ignored: vec!["log.dir"]
            }]
        );
        match err(&[("log.dirs", "/a,/b")]) {
            e @ ConfigError::MultipleLogDirs {
                key: "log.dirs",
                count: 2,
                ..
            } => {
                assert!(e.to_string().contains("one log directory"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(&[("log.dir", " , ")]),
            ConfigError::Invalid { key: "log.dir", .. }
        ));
    }

    #[test]
    fn validation_errors_name_key_value_and_expectation() {
        let cases: &[(&str, &str, &str)] = &[
            ("num.partitions", "four", "32-bit integer"),
            ("num.partitions", "0", "at least 1"),
            ("broker.id", "-2", "at least -1"),
            ("message.max.bytes", "-1", "at least 0"),
            ("socket.request.max.bytes", "0", "at least 1"),
            ("log.segment.bytes", "13", "at least 14"),
            ("log.segment.bytes", "2147483648", "32-bit integer"),
            ("log.roll.ms", "0", "at least 1"),
            ("log.roll.hours", "0", "at least 1"),
            ("log.retention.ms", "0", "-1 (unlimited)"),
            ("log.retention.ms", "7d", "64-bit integer"),
            ("log.retention.check.interval.ms", "0", "at least 1"),
            ("log.flush.interval.messages", "0", "at least 1"),
            ("log.flush.interval.ms", "-1", "at least 0"),
            ("log.index.interval.bytes", "-1", "at least 0"),
            ("offsets.topic.num.partitions", "0", "at least 1"),
            ("offsets.topic.replication.factor", "0", "at least 1"),
            ("offsets.topic.replication.factor", "40000", "16-bit"),
            ("default.replication.factor", "0", "between 1 and 32767"),
            ("auto.create.topics.enable", "yes", "true or false"),
            ("num.io.threads", "0", "at least 1"),
            ("num.network.threads", "x", "32-bit integer"),
            ("sluice.cores", "0", "between 1 and 256"),
            ("sluice.cores", "257", "between 1 and 256"),
            ("listeners", "PLAINTEXT:9092", "://"),
            (
                "advertised.listeners",
                "PLAINTEXT://0.0.0.0:9092",
                "non-routable",
            ),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:TLS",
                "security protocol",
            ),
        ];
        for &(key, value, expected) in cases {
            let e = err(&[(key, value)]);
            let text = e.to_string();
            assert!(text.contains(key), "{key}={value}: {text}");
            assert!(
                text.contains(&format!("{value:?}")),
                "{key}={value}: {text}"
            );
            assert!(text.contains(expected), "{key}={value}: {text}");
        }
    }

    #[test]
    fn values_are_trimmed_and_case_is_ignored_for_booleans() {
        let c = ok(&[
            ("num.partitions", "  7\t"),
            ("auto.create.topics.enable", " FALSE "),
        ]);
        assert_eq!(c.num_partitions, 7);
        assert!(!c.auto_create_topics_enable);
        let entries = c.describe();
        let value = |n: &str| entries.iter().find(|e| e.name == n).unwrap().value.clone();
        assert_eq!(value("num.partitions").as_deref(), Some("7"));
        assert_eq!(value("auto.create.topics.enable").as_deref(), Some("false"));
    }

    #[test]
    fn unknown_keys_are_one_warning() {
        let w = warnings(&[
            ("zookeeper.sync.time.ms", "2000"),
            ("num.partitions", "1"),
            ("transaction.state.log.min.isr", "1"),
            ("Broker.Id", "1"),
        ]);
        let unknown = vec![
            "Broker.Id".to_string(),
            "transaction.state.log.min.isr".to_string(),
            "zookeeper.sync.time.ms".to_string(),
        ];
        assert_eq!(w, vec![ConfigWarning::UnknownKeys(unknown)]);
        assert!(w[0].is_warning());
        assert_eq!(
            w[0].to_string(),
            "unknown configuration keys, ignored: Broker.Id, transaction.state.log.min.isr, \
             zookeeper.sync.time.ms"
        );
        w[0].log();
        // An empty key (a line "=value") is quoted.
        let w = warnings(&[("", "x"), ("a b", "y")]);
        assert_eq!(
            w[0].to_string(),
            "unknown configuration keys, ignored: \"\", \"a b\""
        );
    }

    #[test]
    fn thread_pool_keys_are_one_info_line() {
        let w = warnings(&[("num.io.threads", "8"), ("num.network.threads", "3")]);
        assert_eq!(
            w,
            vec![ConfigWarning::UnusedKeys(vec![
                "num.io.threads",
                "num.network.threads"
            ])]
        );
        assert!(!w[0].is_warning());
        assert!(w[0].to_string().contains("one thread per core"));
    }

    #[test]
    fn broker_id_minus_one_means_zero() {
        let (c, w) = load(&[("broker.id", "-1")]).unwrap();
        assert_eq!(c.broker_id, 0);
        assert_eq!(w, vec![ConfigWarning::GeneratedBrokerId]);
        assert_eq!(ok(&[("broker.id", "7")]).broker_id, 7);
    }

    #[test]
    fn replication_needs_a_cluster() {
        for key in [
            "default.replication.factor",
            "offsets.topic.replication.factor",
        ] {
            match err(&[(key, "3")]) {
                e @ ConfigError::ReplicationNeedsCluster { .. } => {
                    let text = e.to_string();
                    assert!(text.contains(key), "{text}");
                    assert!(
                        text.contains(
                            "replication needs a cluster; clustering is not implemented yet"
                        ),
                        "{text}"
                    );
                }
                other => panic!("{other:?}"),
            }
            assert!(load(&[(key, "1")]).is_ok());
        }
        // With zookeeper.connect the refusal lifts, and the unset offsets
        // factor is Kafka's 3.
        let zk = ("zookeeper.connect", "localhost:2181");
        let c = ok(&[zk, ("default.replication.factor", "3")]);
        let zk = c.cluster.zookeeper.as_ref().unwrap();
        assert_eq!(zk.servers_text(), "localhost:2181");
        assert_eq!(
            (
                c.default_replication_factor,
                c.offsets_topic_replication_factor
            ),
            (3, 3)
        );
        // An empty zookeeper.connect is the embedded node.
        let c = ok(&[("zookeeper.connect", " ")]);
        assert_eq!(
            (c.cluster.zookeeper, c.offsets_topic_replication_factor),
            (None, 1)
        );
    }

    #[test]
    fn listeners_and_advertised() {
        let (c, w) = load(&[
            ("listeners", "PLAINTEXT://:9092,INTERNAL://[::1]:9093"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.listeners[1],
            Listener {
                name: "INTERNAL".into(),
                host: "::1".into(),
                port: 9093
            }
        );
        assert_eq!(c.advertised_listeners[0].host, "test-host");
        assert_eq!(c.advertised_listeners[1].host, "::1");
        assert_eq!(
            w,
            vec![ConfigWarning::AdvertisedHost {
                listener: "PLAINTEXT://:9092".into(),
                host: "test-host".into()
            }]
        );
        let c = ok(&[
            ("listeners", "PLAINTEXT://0.0.0.0:9092"),
            ("advertised.listeners", "PLAINTEXT://kafka:9092"),
        ]);
        assert_eq!(
            c.advertised_listeners[0].to_string(),
            "PLAINTEXT://kafka:9092"
        );
    }

    #[test]
    fn only_plaintext_is_served() {
        for (pairs, listener, protocol) in [
            (vec![("listeners", "SSL://:9093")], "SSL://:9093", "SSL"),
            (
                vec![("listeners", "PLAINTEXT://:9092,SASL_SSL://:9094")],
                "SASL_SSL://:9094",
                "SASL_SSL",
            ),
            (
                vec![
                    ("listeners", "EXTERNAL://:9092"),
                    ("listener.security.protocol.map", "EXTERNAL:SASL_PLAINTEXT"),
                ],
                "EXTERNAL://:9092",
                "SASL_PLAINTEXT",
            ),
        ] {
            match err(&pairs) {
                e @ ConfigError::UnsupportedSecurityProtocol { .. } => {
                    let text = e.to_string();
                    assert!(text.contains(listener) && text.contains(protocol), "{text}");
                    assert!(text.contains("PLAINTEXT listener"), "{text}");
                }
                other => panic!("{other:?}"),
            }
        }
        // A name the map does not know.
        let e = err(&[("listeners", "CLIENT://:9092")]);
        assert!(e.to_string().contains("CLIENT:PLAINTEXT"), "{e}");
    }

    #[test]
    fn cores() {
        assert_eq!(ok(&[("sluice.cores", "2")]).cores, 2);
        let (c, w) = load(&[("sluice.cores", "8")]).unwrap();
        assert_eq!(c.cores, 8);
        assert_eq!(
            w,
            vec![ConfigWarning::CoresAboveAvailable {
                cores: 8,
                available: 4
            }]
        );
    }
}
