//! The broker keys Sluice knows: Kafka's names, types, ranges and defaults,
//! and the parsing of one value by its key's type.
//!
//! The table drives validation of single values, `describe()` and the
//! known/unknown split. Rules that involve several keys (precedence between
//! synonyms, listeners, log directories, replication) live in `mod.rs`.

use super::{ConfigError, ConfigType};

pub(super) const BROKER_ID: &str = "broker.id";
pub const LISTENERS: &str = "listeners";
pub(super) const ADVERTISED_LISTENERS: &str = "advertised.listeners";
pub(super) const LISTENER_SECURITY_PROTOCOL_MAP: &str = "listener.security.protocol.map";
pub const LOG_DIRS: &str = "log.dirs";
pub(super) const LOG_DIR: &str = "log.dir";
pub(super) const NUM_PARTITIONS: &str = "num.partitions";
pub(super) const DEFAULT_REPLICATION_FACTOR: &str = "default.replication.factor";
pub(super) const OFFSETS_TOPIC_REPLICATION_FACTOR: &str = "offsets.topic.replication.factor";
pub(super) const OFFSETS_TOPIC_NUM_PARTITIONS: &str = "offsets.topic.num.partitions";
pub(super) const AUTO_CREATE_TOPICS_ENABLE: &str = "auto.create.topics.enable";
pub(super) const MESSAGE_MAX_BYTES: &str = "message.max.bytes";
pub(super) const SOCKET_REQUEST_MAX_BYTES: &str = "socket.request.max.bytes";
pub(super) const QUEUED_MAX_REQUEST_BYTES: &str = "queued.max.request.bytes";
pub(super) const CONNECTIONS_MAX_IDLE_MS: &str = "connections.max.idle.ms";
pub(super) const LOG_SEGMENT_BYTES: &str = "log.segment.bytes";
pub(super) const LOG_ROLL_MS: &str = "log.roll.ms";
pub(super) const LOG_ROLL_HOURS: &str = "log.roll.hours";
pub(super) const LOG_RETENTION_MS: &str = "log.retention.ms";
pub(super) const LOG_RETENTION_MINUTES: &str = "log.retention.minutes";
pub(super) const LOG_RETENTION_HOURS: &str = "log.retention.hours";
pub(super) const LOG_RETENTION_BYTES: &str = "log.retention.bytes";
pub(super) const LOG_RETENTION_CHECK_INTERVAL_MS: &str = "log.retention.check.interval.ms";
pub(super) const LOG_FLUSH_INTERVAL_MESSAGES: &str = "log.flush.interval.messages";
pub(super) const LOG_FLUSH_INTERVAL_MS: &str = "log.flush.interval.ms";
pub(super) const LOG_FLUSH_SCHEDULER_INTERVAL_MS: &str = "log.flush.scheduler.interval.ms";
pub(super) const LOG_INDEX_INTERVAL_BYTES: &str = "log.index.interval.bytes";
pub(super) const ZOOKEEPER_CONNECT: &str = "zookeeper.connect";
pub(super) const ZOOKEEPER_SESSION_TIMEOUT_MS: &str = "zookeeper.session.timeout.ms";
pub(super) const ZOOKEEPER_CONNECTION_TIMEOUT_MS: &str = "zookeeper.connection.timeout.ms";
pub(super) const BROKER_RACK: &str = "broker.rack";
pub(super) const TRANSACTION_STATE_LOG_REPLICATION_FACTOR: &str =
    "transaction.state.log.replication.factor";
pub(super) const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
pub(super) const REPLICA_LAG_TIME_MAX_MS: &str = "replica.lag.time.max.ms";
pub(super) const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";
pub(super) const CONTROLLER_SOCKET_TIMEOUT_MS: &str = "controller.socket.timeout.ms";
pub(super) const NUM_REPLICA_FETCHERS: &str = "num.replica.fetchers";
pub(super) const REPLICA_FETCH_MAX_BYTES: &str = "replica.fetch.max.bytes";
pub(super) const REPLICA_FETCH_WAIT_MAX_MS: &str = "replica.fetch.wait.max.ms";
pub(super) const AUTO_LEADER_REBALANCE_ENABLE: &str = "auto.leader.rebalance.enable";
pub(super) const LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS: &str =
    "leader.imbalance.check.interval.seconds";
pub(super) const LEADER_IMBALANCE_PER_BROKER_PERCENTAGE: &str =
    "leader.imbalance.per.broker.percentage";
pub(super) const INTER_BROKER_LISTENER_NAME: &str = "inter.broker.listener.name";
pub(super) const GROUP_INITIAL_REBALANCE_DELAY_MS: &str = "group.initial.rebalance.delay.ms";
pub(super) const GROUP_MIN_SESSION_TIMEOUT_MS: &str = "group.min.session.timeout.ms";
pub(super) const GROUP_MAX_SESSION_TIMEOUT_MS: &str = "group.max.session.timeout.ms";
pub(super) const GROUP_MAX_SIZE: &str = "group.max.size";
pub(super) const OFFSETS_RETENTION_MINUTES: &str = "offsets.retention.minutes";
pub(super) const OFFSETS_RETENTION_CHECK_INTERVAL_MS: &str = "offsets.retention.check.interval.ms";
pub(super) const OFFSET_METADATA_MAX_BYTES: &str = "offset.metadata.max.bytes";
pub(super) const OFFSETS_TOPIC_SEGMENT_BYTES: &str = "offsets.topic.segment.bytes";
pub(super) const NUM_IO_THREADS: &str = "num.io.threads";
pub(super) const NUM_NETWORK_THREADS: &str = "num.network.threads";
pub(super) const LOG_CLEANER_ENABLE: &str = "log.cleaner.enable";
pub(super) const LOG_CLEANER_THREADS: &str = "log.cleaner.threads";
pub(super) const LOG_CLEANER_DEDUPE_BUFFER_SIZE: &str = "log.cleaner.dedupe.buffer.size";
pub(super) const LOG_CLEANER_IO_BUFFER_SIZE: &str = "log.cleaner.io.buffer.size";
pub(super) const LOG_CLEANER_IO_BUFFER_LOAD_FACTOR: &str = "log.cleaner.io.buffer.load.factor";
pub(super) const LOG_CLEANER_IO_MAX_BYTES_PER_SECOND: &str = "log.cleaner.io.max.bytes.per.second";
pub(super) const LOG_CLEANER_BACKOFF_MS: &str = "log.cleaner.backoff.ms";
pub(super) const LOG_CLEANER_MIN_CLEANABLE_RATIO: &str = "log.cleaner.min.cleanable.ratio";
pub(super) const LOG_CLEANER_MIN_COMPACTION_LAG_MS: &str = "log.cleaner.min.compaction.lag.ms";
pub(super) const LOG_CLEANER_MAX_COMPACTION_LAG_MS: &str = "log.cleaner.max.compaction.lag.ms";
pub(super) const LOG_CLEANER_DELETE_RETENTION_MS: &str = "log.cleaner.delete.retention.ms";
pub const SLUICE_CORES: &str = "sluice.cores";

/// The most shards (cores) one node runs. Every shard keeps a full routing
/// table and a mesh queue to every other shard, so the mesh grows with the
/// square of this.
pub const CORES_MAX: usize = 256;

/// Kafka's smallest legal segment: one v0 record's overhead
/// (`LegacyRecord.RECORD_OVERHEAD_V0`).
pub(super) const SEGMENT_BYTES_MIN: i64 = 14;

/// Synonym chains, highest precedence first, as Kafka's DescribeConfigs
/// reports them (`DynamicBrokerConfig.brokerConfigSynonyms`).
pub(super) const RETENTION_CHAIN: &[&str] =
    &[LOG_RETENTION_MS, LOG_RETENTION_MINUTES, LOG_RETENTION_HOURS];
pub(super) const ROLL_CHAIN: &[&str] = &[LOG_ROLL_MS, LOG_ROLL_HOURS];
pub(super) const FLUSH_MS_CHAIN: &[&str] =
    &[LOG_FLUSH_INTERVAL_MS, LOG_FLUSH_SCHEDULER_INTERVAL_MS];

fn bounds(ty: ConfigType) -> (i64, i64) {
    match ty {
        ConfigType::Short => (i16::MIN.into(), i16::MAX.into()),
        ConfigType::Int => (i32::MIN.into(), i32::MAX.into()),
        _ => (i64::MIN, i64::MAX),
    }
}

fn expected(ty: ConfigType) -> &'static str {
    match ty {
        ConfigType::Short => "a 16-bit integer (SHORT)",
        ConfigType::Int => "a 32-bit integer (INT)",
        ConfigType::Long => "a 64-bit integer (LONG)",
        ConfigType::Boolean => "true or false",
        ConfigType::Double => "a number (DOUBLE)",
        ConfigType::String | ConfigType::List => "text",
    }
}

/// A key's default when it is not set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DefaultValue {
    /// Kafka's `null`: unset, so a synonym or a rule decides.
    Null,
    Text(&'static str),
    /// `std::thread::available_parallelism()` of this machine.
    AvailableCores,
}

/// One known key.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeySpec {
    pub name: &'static str,
    pub ty: ConfigType,
    /// Inclusive range for numbers; the type's full range where Kafka has no
    /// validator.
    pub min: i64,
    pub max: i64,
    pub default: DefaultValue,
    /// False for keys accepted for compatibility that change nothing.
    pub used: bool,
}

impl KeySpec {
    pub(super) const fn new(
        name: &'static str,
        ty: ConfigType,
        min: i64,
        max: i64,
        default: DefaultValue,
    ) -> Self {
        KeySpec {
            name,
            ty,
            min,
            max,
            default,
            used: true,
        }
    }
    pub(super) const fn text(name: &'static str, default: DefaultValue) -> Self {
        KeySpec::new(name, ConfigType::String, 0, 0, default)
    }
    pub(super) const fn unused(self) -> Self {
        KeySpec {
            used: false,
            ..self
        }
    }
}

const INT_MAX: i64 = i32::MAX as i64;
const SHORT_MAX: i64 = i16::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
const LONG_MIN: i64 = i64::MIN;
const INT_MIN: i64 = i32::MIN as i64;

use ConfigType::{Boolean, Double, Int, Long, Short};
use DefaultValue::{Null, Text};

/// Every key Sluice knows, in the order `describe()` lists them.
/// Defaults are Kafka 3.x's except where the module doc's table says.
pub(super) const KEYS: &[KeySpec] = &[
    KeySpec::new(BROKER_ID, Int, -1, INT_MAX, Text("0")),
    KeySpec::text(LISTENERS, Text("PLAINTEXT://127.0.0.1:9092")),
    KeySpec::text(ADVERTISED_LISTENERS, Null),
    KeySpec::text(
        LISTENER_SECURITY_PROTOCOL_MAP,
        Text("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
    ),
    KeySpec::text(LOG_DIRS, Null),
    KeySpec::text(LOG_DIR, Text("./data")),
    KeySpec::new(NUM_PARTITIONS, Int, 1, INT_MAX, Text("1")),
    // Kafka has no validator here; a factor is an i16 on the wire.
    KeySpec::new(DEFAULT_REPLICATION_FACTOR, Int, 1, SHORT_MAX, Text("1")),
    // Kafka's default is 3; the embedded node reads an unset one as 1.
    KeySpec::new(
        OFFSETS_TOPIC_REPLICATION_FACTOR,
        Short,
        1,
        SHORT_MAX,
        Text("3"),
    ),
    KeySpec::new(OFFSETS_TOPIC_NUM_PARTITIONS, Int, 1, INT_MAX, Text("50")),
    KeySpec::new(AUTO_CREATE_TOPICS_ENABLE, Boolean, 0, 0, Text("true")),
    KeySpec::new(MESSAGE_MAX_BYTES, Int, 0, INT_MAX, Text("1048588")),
    KeySpec::new(SOCKET_REQUEST_MAX_BYTES, Int, 1, INT_MAX, Text("104857600")),
    // Kafka's -1 means unlimited; Sluice reads it as its own bound (mod.rs).
    KeySpec::new(QUEUED_MAX_REQUEST_BYTES, Long, -1, LONG_MAX, Text("-1")),
    KeySpec::new(
        CONNECTIONS_MAX_IDLE_MS,
        Long,
        LONG_MIN,
        LONG_MAX,
        Text("600000"),
    ),
    KeySpec::new(
        LOG_SEGMENT_BYTES,
        Int,
        SEGMENT_BYTES_MIN,
        INT_MAX,
        Text("1073741824"),
    ),
    // Kafka has no validator on log.roll.ms; topic-level segment.ms needs >= 1.
    KeySpec::new(LOG_ROLL_MS, Long, 1, LONG_MAX, Null),
    KeySpec::new(LOG_ROLL_HOURS, Int, 1, INT_MAX, Text("168")),
    // Negative means unlimited; 0 is refused by the loader, as Kafka does.
    KeySpec::new(LOG_RETENTION_MS, Long, LONG_MIN, LONG_MAX, Null),
    KeySpec::new(LOG_RETENTION_MINUTES, Int, INT_MIN, INT_MAX, Null),
    KeySpec::new(LOG_RETENTION_HOURS, Int, INT_MIN, INT_MAX, Text("168")),
    KeySpec::new(LOG_RETENTION_BYTES, Long, LONG_MIN, LONG_MAX, Text("-1")),
    KeySpec::new(
        LOG_RETENTION_CHECK_INTERVAL_MS,
        Long,
        1,
        LONG_MAX,
        Text("300000"),
    ),
    KeySpec::new(
        LOG_FLUSH_INTERVAL_MESSAGES,
        Long,
        1,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    // Kafka has no validator on these two; a negative interval means nothing.
    KeySpec::new(LOG_FLUSH_INTERVAL_MS, Long, 0, LONG_MAX, Null),
    KeySpec::new(
        LOG_FLUSH_SCHEDULER_INTERVAL_MS,
        Long,
        0,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    KeySpec::new(LOG_INDEX_INTERVAL_BYTES, Int, 0, INT_MAX, Text("4096")),
    KeySpec::text(ZOOKEEPER_CONNECT, Null),
    // Kafka has no validator on the two timeouts; below 1 ms means nothing.
    KeySpec::new(ZOOKEEPER_SESSION_TIMEOUT_MS, Int, 1, INT_MAX, Text("18000")),
    // Unset: zookeeper.session.timeout.ms, as Kafka does.
    KeySpec::new(ZOOKEEPER_CONNECTION_TIMEOUT_MS, Int, 1, INT_MAX, Null),
    KeySpec::text(BROKER_RACK, Null),
    // Kafka's default is 3; the embedded node reads an unset one as 1.
    KeySpec::new(
        TRANSACTION_STATE_LOG_REPLICATION_FACTOR,
        Short,
        1,
        SHORT_MAX,
        Text("3"),
    ),
    KeySpec::new(MIN_INSYNC_REPLICAS, Int, 1, INT_MAX, Text("1")),
    // Kafka has no validator on the replica timings and the fetcher count;
    // zero or negative values make no sense for any of them.
    KeySpec::new(REPLICA_LAG_TIME_MAX_MS, Long, 1, LONG_MAX, Text("30000")),
    KeySpec::new(UNCLEAN_LEADER_ELECTION_ENABLE, Boolean, 0, 0, Text("false")),
    KeySpec::new(CONTROLLER_SOCKET_TIMEOUT_MS, Int, 1, INT_MAX, Text("30000")),
    KeySpec::new(NUM_REPLICA_FETCHERS, Int, 1, INT_MAX, Text("1")),
    KeySpec::new(REPLICA_FETCH_MAX_BYTES, Int, 0, INT_MAX, Text("1048576")),
    KeySpec::new(REPLICA_FETCH_WAIT_MAX_MS, Int, 0, INT_MAX, Text("500")),
    KeySpec::new(AUTO_LEADER_REBALANCE_ENABLE, Boolean, 0, 0, Text("true")),
    KeySpec::new(
        LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS,
        Long,
        1,
        LONG_MAX,
        Text("300"),
    ),
    KeySpec::new(
        LEADER_IMBALANCE_PER_BROKER_PERCENTAGE,
        Int,
        0,
        INT_MAX,
        Text("10"),
    ),
    KeySpec::text(INTER_BROKER_LISTENER_NAME, Null),
    KeySpec::new(
        GROUP_INITIAL_REBALANCE_DELAY_MS,
        Int,
        0,
        INT_MAX,
        Text("3000"),
    ),
    KeySpec::new(GROUP_MIN_SESSION_TIMEOUT_MS, Int, 0, INT_MAX, Text("6000")),
    KeySpec::new(
        GROUP_MAX_SESSION_TIMEOUT_MS,
        Int,
        0,
        INT_MAX,
        Text("1800000"),
    ),
    KeySpec::new(GROUP_MAX_SIZE, Int, 1, INT_MAX, Text("2147483647")),
    KeySpec::new(OFFSETS_RETENTION_MINUTES, Int, 1, INT_MAX, Text("10080")),
    KeySpec::new(
        OFFSETS_RETENTION_CHECK_INTERVAL_MS,
        Long,
        1,
        LONG_MAX,
        Text("600000"),
    ),
    KeySpec::new(OFFSET_METADATA_MAX_BYTES, Int, 0, INT_MAX, Text("4096")),
    KeySpec::new(
        OFFSETS_TOPIC_SEGMENT_BYTES,
        Int,
        1,
        INT_MAX,
        Text("104857600"),
    ),
    KeySpec::new(LOG_CLEANER_ENABLE, Boolean, 0, 0, Text("true")),
    // One cleaner per shard, whatever this says.
    KeySpec::new(LOG_CLEANER_THREADS, Int, 0, INT_MAX, Text("1")).unused(),
    KeySpec::new(
        LOG_CLEANER_DEDUPE_BUFFER_SIZE,
        Long,
        0,
        LONG_MAX,
        Text("134217728"),
    ),
    KeySpec::new(LOG_CLEANER_IO_BUFFER_SIZE, Int, 0, INT_MAX, Text("524288")),
    KeySpec::new(
        LOG_CLEANER_IO_BUFFER_LOAD_FACTOR,
        Double,
        LONG_MIN,
        LONG_MAX,
        Text("0.9"),
    ),
    KeySpec::new(
        LOG_CLEANER_IO_MAX_BYTES_PER_SECOND,
        Double,
        LONG_MIN,
        LONG_MAX,
        Text("1.7976931348623157E308"),
    ),
    KeySpec::new(LOG_CLEANER_BACKOFF_MS, Long, 0, LONG_MAX, Text("15000")),
    KeySpec::new(LOG_CLEANER_MIN_CLEANABLE_RATIO, Double, 0, 1, Text("0.5")),
    KeySpec::new(
        LOG_CLEANER_MIN_COMPACTION_LAG_MS,
        Long,
        0,
        LONG_MAX,
        Text("0"),
    ),
    KeySpec::new(
        LOG_CLEANER_MAX_COMPACTION_LAG_MS,
        Long,
        1,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    KeySpec::new(
        LOG_CLEANER_DELETE_RETENTION_MS,
        Long,
        0,
        LONG_MAX,
        Text("86400000"),
    ),
    KeySpec::new(NUM_IO_THREADS, Int, 1, INT_MAX, Text("8")).unused(),
    KeySpec::new(NUM_NETWORK_THREADS, Int, 1, INT_MAX, Text("3")).unused(),
    KeySpec::new(
        SLUICE_CORES,
        Int,
        1,
        CORES_MAX as i64,
        DefaultValue::AvailableCores,
    ),
];

pub(super) fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// The synonym chain a known key belongs to, highest precedence first; a
/// key without synonyms is a chain of one.
pub(super) fn chain_of(spec: &'static KeySpec) -> &'static [&'static str] {
    [RETENTION_CHAIN, ROLL_CHAIN, FLUSH_MS_CHAIN]
        .into_iter()
        .find(|chain| chain.contains(&spec.name))
        .unwrap_or(std::slice::from_ref(&spec.name))
}

/// A value parsed by its key's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Value {
    Number(i64),
    Bool(bool),
    Text(String),
}

impl Value {
    /// The value as Kafka's `ConfigDef.convertToString` renders it.
    pub(super) fn render(&self) -> String {
        match self {
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Text(t) => t.clone(),
        }
    }
}

impl KeySpec {
    /// Parses `raw` as Kafka's `ConfigDef.parseType` does (the value trimmed
    /// first), then checks the range.
    pub(super) fn parse(&self, raw: &str) -> Result<Value, ConfigError> {
        let trimmed = raw.trim();
        let bad_type = || ConfigError::Parse {
            key: self.name,
            value: raw.to_string(),
            expected: expected(self.ty),
        };
        match self.ty {
            ConfigType::String | ConfigType::List => Ok(Value::Text(trimmed.to_string())),
            ConfigType::Double => {
                let x: f64 = trimmed.parse().map_err(|_| bad_type())?;
                if !x.is_finite() {
                    return Err(bad_type());
                }
                // A Double key without a validator has the full i64 range here.
                let bounded = !(self.min == LONG_MIN && self.max == LONG_MAX);
                if bounded && (x < self.min as f64 || x > self.max as f64) {
                    return Err(ConfigError::OutOfRange {
                        key: self.name,
                        value: raw.to_string(),
                        expected: self.range_text(),
                    });
                }
                Ok(Value::Text(trimmed.to_string()))
            }
            ConfigType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    Ok(Value::Bool(true))
                } else if trimmed.eq_ignore_ascii_case("false") {
                    Ok(Value::Bool(false))
                } else {
                    Err(bad_type())
                }
            }
            ConfigType::Short | ConfigType::Int | ConfigType::Long => {
                let n: i64 = trimmed.parse().map_err(|_| bad_type())?;
                let (type_min, type_max) = bounds(self.ty);
                if n < type_min || n > type_max {
                    return Err(bad_type());
                }
                if n < self.min || n > self.max {
                    return Err(ConfigError::OutOfRange {
                        key: self.name,
                        value: raw.to_string(),
                        expected: self.range_text(),
                    });
                }
                Ok(Value::Number(n))
            }
        }
    }

    fn range_text(&self) -> String {
        let (type_min, type_max) = bounds(self.ty);
        match (self.min > type_min, self.max < type_max) {
            (true, true) => format!("a value between {} and {}", self.min, self.max),
            (true, false) => format!("a value of at least {}", self.min),
            (false, true) => format!("a value of at most {}", self.max),
            (false, false) => "any value".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_valid_for_its_key() {
        for key in KEYS {
            if let Text(text) = key.default {
                key.parse(text)
                    .unwrap_or_else(|e| panic!("{}: {e}", key.name));
            }
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, key) in KEYS.iter().enumerate() {
            assert!(
                KEYS[i + 1..].iter().all(|k| k.name != key.name),
                "{}",
                key.name
            );
        }
    }

    #[test]
    fn numbers_parse_like_java() {
        let int = spec(NUM_PARTITIONS).unwrap();
        assert_eq!(int.parse(" 12 ").unwrap(), Value::Number(12));
        assert_eq!(int.parse("+12").unwrap(), Value::Number(12));
        assert_eq!(int.parse("012").unwrap(), Value::Number(12));
        for bad in ["", "1.0", "1e3", "0x10", "1_000", "ten", "2147483648"] {
            assert!(
                matches!(int.parse(bad), Err(ConfigError::Parse { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            int.parse("0"),
            Err(ConfigError::OutOfRange { .. })
        ));
        let short = spec(OFFSETS_TOPIC_REPLICATION_FACTOR).unwrap();
        assert!(matches!(
            short.parse("32768"),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn booleans_ignore_case() {
        let b = spec(AUTO_CREATE_TOPICS_ENABLE).unwrap();
        assert_eq!(b.parse(" TRUE ").unwrap(), Value::Bool(true));
        assert_eq!(b.parse("False").unwrap(), Value::Bool(false));
        for bad in ["yes", "1", "", "t"] {
            assert!(
                matches!(b.parse(bad), Err(ConfigError::Parse { .. })),
                "{bad:?}"
            );
        }
    }
}
