//! Topic-level configs: Kafka's names, their defaults derived from the broker
//! (`segment.bytes` from `log.segment.bytes`, ...), and validation of the
//! `name=value` pairs clients send in CreateTopics and AlterConfigs.
//!
//! | topic config | default | Sluice |
//! |---|---|---|
//! | `segment.bytes` | `log.segment.bytes` | segment size |
//! | `segment.ms` | `log.roll.ms` / `log.roll.hours` | segment age before a roll |
//! | `retention.ms` | `log.retention.ms` / `.minutes` / `.hours` | time retention; -1 unlimited |
//! | `retention.bytes` | `log.retention.bytes` | size retention; negative unlimited |
//! | `flush.messages` | `log.flush.interval.messages` | fsync every N messages |
//! | `flush.ms` | `log.flush.interval.ms` | fsync every N ms |
//! | `index.interval.bytes` | `log.index.interval.bytes` | sparse index spacing |
//! | `max.message.bytes` | `message.max.bytes` | largest batch accepted |
//! | `cleanup.policy` | `delete` | `delete` applies retention; `compact` runs the log cleaner (latest value per key) and refuses keyless records; `compact,delete` both |
//! | `delete.retention.ms` | `log.cleaner.delete.retention.ms` | how long a tombstone stays after the cleaning that first kept it |
//! | `min.compaction.lag.ms` | `log.cleaner.min.compaction.lag.ms` | a segment is cleaned once its newest record is this old |
//! | `max.compaction.lag.ms` | `log.cleaner.max.compaction.lag.ms` | older dirty records make the log due whatever its dirty ratio; the active segment of a compacted topic rolls at this age too |
//! | `min.cleanable.dirty.ratio` | `log.cleaner.min.cleanable.ratio` | the dirty share of the log at which it is cleaned |
//! | `message.timestamp.type` | `CreateTime` | `LogAppendTime` makes the broker stamp batches |
//! | `message.timestamp.before.max.ms` | unlimited | a CreateTime record older than this is refused (`INVALID_TIMESTAMP`) |
//! | `message.timestamp.after.max.ms` | unlimited | a CreateTime record this far in the future is refused |
//! | `message.timestamp.difference.max.ms` | unlimited | both of the above where they are left unlimited (Kafka 3.6's rule) |
//! | `message.format.version` | `3.0-IV1` | validated; the log is always v2 (Kafka 3.0+ ignores the setting too); v0/v1 producers are converted |
//! | `message.downconversion.enable` | `true` | `false` refuses consumers that need v0/v1 (Fetch v0-3) |
//! | `min.insync.replicas` | `1` | checked for `acks=all` |
//! | `compression.type` | `producer` | batches are kept as the producer compressed them; other values are accepted, recompression is not implemented yet |
//!
//! Other Kafka 3.x topic configs (`segment.index.bytes`, `preallocate`,
//! `file.delete.delay.ms`, ...) are
//! validated and kept with Kafka's defaults, because clients (Kafka Streams,
//! Connect, schema registries) send them, but they change nothing yet. A
//! name Kafka does not know is refused, as Kafka refuses it.

use std::collections::BTreeMap;

use super::keys::{
    DefaultValue, KeySpec, Value, LOG_CLEANER_DELETE_RETENTION_MS,
    LOG_CLEANER_MAX_COMPACTION_LAG_MS, LOG_CLEANER_MIN_CLEANABLE_RATIO,
    LOG_CLEANER_MIN_COMPACTION_LAG_MS, LOG_FLUSH_INTERVAL_MESSAGES, LOG_FLUSH_INTERVAL_MS,
    LOG_INDEX_INTERVAL_BYTES, LOG_RETENTION_BYTES, LOG_RETENTION_MS, LOG_ROLL_MS,
    LOG_SEGMENT_BYTES, MESSAGE_MAX_BYTES, SEGMENT_BYTES_MIN,
};
use super::{BrokerConfig, ConfigEntry, ConfigError, ConfigSource, ConfigSynonym, ConfigType};

/// Kafka's `INVALID_CONFIG` error code, which every [`TopicConfigError`] maps
/// to in CreateTopics, AlterConfigs and IncrementalAlterConfigs responses.
pub const INVALID_CONFIG: i16 = 40;

/// A refused topic config. The messages are Kafka's, word for word, since
/// clients show them to people who know Kafka's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicConfigError {
    #[error("Unknown topic config name: {name}")]
    UnknownName { name: String },
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    InvalidValue {
        name: &'static str,
        value: String,
        reason: String,
    },
}

impl TopicConfigError {
    /// Both kinds are `INVALID_CONFIG` on the wire.
    pub fn kafka_error_code(&self) -> i16 {
        INVALID_CONFIG
    }
}

pub(super) const SEGMENT_BYTES: &str = "segment.bytes";
pub(super) const SEGMENT_MS: &str = "segment.ms";
pub(super) const RETENTION_MS: &str = "retention.ms";
pub(super) const RETENTION_BYTES: &str = "retention.bytes";
pub(super) const FLUSH_MESSAGES: &str = "flush.messages";
pub(super) const FLUSH_MS: &str = "flush.ms";
pub(super) const INDEX_INTERVAL_BYTES: &str = "index.interval.bytes";
pub(super) const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub(super) const CLEANUP_POLICY: &str = "cleanup.policy";
pub(super) const MESSAGE_TIMESTAMP_TYPE: &str = "message.timestamp.type";
pub(super) const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
pub(super) const COMPRESSION_TYPE: &str = "compression.type";
pub(super) const MESSAGE_TIMESTAMP_BEFORE_MAX_MS: &str = "message.timestamp.before.max.ms";
pub(super) const MESSAGE_TIMESTAMP_AFTER_MAX_MS: &str = "message.timestamp.after.max.ms";
pub(super) const MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS: &str = "message.timestamp.difference.max.ms";
pub(super) const MESSAGE_FORMAT_VERSION: &str = "message.format.version";
pub(super) const MESSAGE_DOWNCONVERSION_ENABLE: &str = "message.downconversion.enable";
pub(super) const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";
pub(super) const DELETE_RETENTION_MS: &str = "delete.retention.ms";
pub(super) const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
pub(super) const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
pub(super) const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";

use ConfigType::{Boolean, Double, Int, List, Long, String as Str};
use DefaultValue::Text;

const LONG_MAX: i64 = i64::MAX;
const INT_MAX: i64 = i32::MAX as i64;

/// Every topic config Sluice accepts, in the order `describe` lists them.
/// Defaults of the first eight and the four compaction ones come from the
/// broker (see
/// [`broker_key_of`]); the texts here are Kafka's defaults.
const TOPIC_KEYS: &[KeySpec] = &[
    KeySpec::new(
        SEGMENT_BYTES,
        Int,
        SEGMENT_BYTES_MIN,
        INT_MAX,
        Text("1073741824"),
    ),
    KeySpec::new(SEGMENT_MS, Long, 1, LONG_MAX, Text("604800000")),
    KeySpec::new(RETENTION_MS, Long, -1, LONG_MAX, Text("604800000")),
    KeySpec::new(RETENTION_BYTES, Long, i64::MIN, LONG_MAX, Text("-1")),
    KeySpec::new(
        FLUSH_MESSAGES,
        Long,
        1,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    KeySpec::new(FLUSH_MS, Long, 0, LONG_MAX, Text("9223372036854775807")),
    KeySpec::new(INDEX_INTERVAL_BYTES, Int, 0, INT_MAX, Text("4096")),
    KeySpec::new(MAX_MESSAGE_BYTES, Int, 0, INT_MAX, Text("1048588")),
    KeySpec::new(CLEANUP_POLICY, List, 0, 0, Text("delete")),
    KeySpec::new(MESSAGE_TIMESTAMP_TYPE, Str, 0, 0, Text("CreateTime")),
    KeySpec::new(MIN_INSYNC_REPLICAS, Int, 1, INT_MAX, Text("1")),
    KeySpec::new(COMPRESSION_TYPE, Str, 0, 0, Text("producer")),
    KeySpec::new(DELETE_RETENTION_MS, Long, 0, LONG_MAX, Text("86400000")),
    KeySpec::new(MIN_COMPACTION_LAG_MS, Long, 0, LONG_MAX, Text("0")),
    KeySpec::new(
        MAX_COMPACTION_LAG_MS,
        Long,
        1,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    KeySpec::new(MIN_CLEANABLE_DIRTY_RATIO, Double, 0, 1, Text("0.5")),
    // Accepted and kept, no effect yet.
    KeySpec::new("segment.index.bytes", Int, 4, INT_MAX, Text("10485760")).unused(),
    KeySpec::new("segment.jitter.ms", Long, 0, LONG_MAX, Text("0")).unused(),
    KeySpec::new("file.delete.delay.ms", Long, 0, LONG_MAX, Text("60000")).unused(),
    KeySpec::new("preallocate", Boolean, 0, 0, Text("false")).unused(),
    // The controller reads it from the topic's config znode (cluster mode).
    KeySpec::new(UNCLEAN_LEADER_ELECTION_ENABLE, Boolean, 0, 0, Text("false")),
    KeySpec::new(MESSAGE_DOWNCONVERSION_ENABLE, Boolean, 0, 0, Text("true")),
    KeySpec::new(MESSAGE_FORMAT_VERSION, Str, 0, 0, Text("3.0-IV1")),
    KeySpec::new(
        MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS,
        Long,
        0,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    KeySpec::new(
        MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
        Long,
        0,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    KeySpec::new(
        MESSAGE_TIMESTAMP_AFTER_MAX_MS,
        Long,
        0,
        LONG_MAX,
        Text("9223372036854775807"),
    ),
    KeySpec::new(
        "leader.replication.throttled.replicas",
        List,
        0,
        0,
        Text(""),
    )
    .unused(),
    KeySpec::new(
        "follower.replication.throttled.replicas",
        List,
        0,
        0,
        Text(""),
    )
    .unused(),
    KeySpec::new("remote.storage.enable", Boolean, 0, 0, Text("false")).unused(),
    KeySpec::new("local.retention.ms", Long, -2, LONG_MAX, Text("-2")).unused(),
    KeySpec::new("local.retention.bytes", Long, -2, LONG_MAX, Text("-2")).unused(),
];

/// The broker key whose value is a topic config's default (Kafka's
/// `ServerTopicConfigSynonyms`), for the topic configs that have one here.
pub(super) fn broker_key_of(topic_name: &str) -> Option<&'static str> {
    Some(match topic_name {
        SEGMENT_BYTES => LOG_SEGMENT_BYTES,
        SEGMENT_MS => LOG_ROLL_MS,
        RETENTION_MS => LOG_RETENTION_MS,
        RETENTION_BYTES => LOG_RETENTION_BYTES,
        FLUSH_MESSAGES => LOG_FLUSH_INTERVAL_MESSAGES,
        FLUSH_MS => LOG_FLUSH_INTERVAL_MS,
        INDEX_INTERVAL_BYTES => LOG_INDEX_INTERVAL_BYTES,
        MAX_MESSAGE_BYTES => MESSAGE_MAX_BYTES,
        MIN_INSYNC_REPLICAS => super::keys::MIN_INSYNC_REPLICAS,
        DELETE_RETENTION_MS => LOG_CLEANER_DELETE_RETENTION_MS,
        MIN_COMPACTION_LAG_MS => LOG_CLEANER_MIN_COMPACTION_LAG_MS,
        MAX_COMPACTION_LAG_MS => LOG_CLEANER_MAX_COMPACTION_LAG_MS,
        MIN_CLEANABLE_DIRTY_RATIO => LOG_CLEANER_MIN_CLEANABLE_RATIO,
        _ => return None,
    })
}

/// `cleanup.policy`: `delete`, `compact`, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

const COMPRESSION_TYPES: &[(&str, CompressionType)] = &[
    ("uncompressed", CompressionType::Uncompressed),
    ("zstd", CompressionType::Zstd),
    ("lz4", CompressionType::Lz4),
    ("snappy", CompressionType::Snappy),
    ("gzip", CompressionType::Gzip),
    ("producer", CompressionType::Producer),
];

/// One topic's effective configuration: defaults from the broker plus the
/// topic's own overrides. Kept by the shard that owns the topic's
/// partitions; replaced whole when the topic's config changes.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    /// None is unlimited.
    pub retention_ms: Option<i64>,
    /// None is unlimited.
    pub retention_bytes: Option<u64>,
    pub flush_messages: u64,
    pub flush_ms: u64,
    pub index_interval_bytes: u64,
    pub max_message_bytes: usize,
    pub cleanup_policy: CleanupPolicy,
    pub message_timestamp_type: TimestampType,
    pub min_insync_replicas: i32,
    pub compression_type: CompressionType,
    /// `message.timestamp.before.max.ms`; i64::MAX is unlimited.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`; i64::MAX is unlimited.
    pub message_timestamp_after_max_ms: i64,
    /// `message.timestamp.difference.max.ms` (deprecated in Kafka 3.6).
    pub message_timestamp_difference_max_ms: i64,
    /// `message.format.version`, as given (validated).
    pub message_format_version: String,
    /// `message.downconversion.enable`.
    pub message_downconversion_enable: bool,
    /// `unclean.leader.election.enable` (the broker's by default).
    pub unclean_leader_election_enable: bool,
    pub delete_retention_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    /// The topic's own settings, rendered as Kafka renders them.
    overrides: BTreeMap<&'static str, String>,
}

impl Default for TopicConfig {
    /// Kafka's defaults: those of a broker with every key at its default.
    fn default() -> Self {
        TopicConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            retention_ms: Some(7 * 24 * 3_600_000),
            retention_bytes: None,
            flush_messages: i64::MAX as u64,
            flush_ms: i64::MAX as u64,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            cleanup_policy: CleanupPolicy {
                delete: true,
                compact: false,
            },
            message_timestamp_type: TimestampType::CreateTime,
            min_insync_replicas: 1,
            compression_type: CompressionType::Producer,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: i64::MAX,
            message_timestamp_difference_max_ms: i64::MAX,
            message_format_version: "3.0-IV1".to_string(),
            message_downconversion_enable: true,
            unclean_leader_election_enable: false,
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
            overrides: BTreeMap::new(),
        }
    }
}

/// Checks one `name=value` as CreateTopics and AlterConfigs would.
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), TopicConfigError> {
    TopicConfig::default().set(name, value)
}

impl TopicConfig {
    /// Applies one override after validating it; on error nothing changes.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), TopicConfigError> {
        let spec = TOPIC_KEYS.iter().find(|k| k.name == name).ok_or_else(|| {
            TopicConfigError::UnknownName {
                name: name.to_string(),
            }
        })?;
        let invalid = |reason: String| TopicConfigError::InvalidValue {
            name: spec.name,
            value: value.to_string(),
            reason,
        };
        let parsed = spec
            .parse(value)
            .map_err(|e| invalid(kafka_reason(spec, &e)))?;
        let number = match parsed {
            Value::Number(n) => n,
            _ => 0,
        };
        let text = match &parsed {
            Value::Text(t) => t.as_str(),
            _ => "",
        };
        let flag = matches!(parsed, Value::Bool(true));
        let mut rendered = parsed.render();
        match spec.name {
            SEGMENT_BYTES => self.segment_bytes = number as u64,
            SEGMENT_MS => self.segment_ms = number,
            RETENTION_MS => self.retention_ms = (number >= 0).then_some(number),
            RETENTION_BYTES => self.retention_bytes = u64::try_from(number).ok(),
            FLUSH_MESSAGES => self.flush_messages = number as u64,
            FLUSH_MS => self.flush_ms = number as u64,
            INDEX_INTERVAL_BYTES => self.index_interval_bytes = number as u64,
            MAX_MESSAGE_BYTES => self.max_message_bytes = number as usize,
            MIN_INSYNC_REPLICAS => self.min_insync_replicas = number as i32,
            MESSAGE_TIMESTAMP_BEFORE_MAX_MS => self.message_timestamp_before_max_ms = number,
            MESSAGE_TIMESTAMP_AFTER_MAX_MS => self.message_timestamp_after_max_ms = number,
            MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS => {
                self.message_timestamp_difference_max_ms = number
            }
            MESSAGE_DOWNCONVERSION_ENABLE => self.message_downconversion_enable = flag,
            UNCLEAN_LEADER_ELECTION_ENABLE => self.unclean_leader_election_enable = flag,
            MESSAGE_FORMAT_VERSION => {
                if record_format_magic(text).is_none() {
                    return Err(invalid(format!("Version `{text}` is not a valid version")));
                }
                self.message_format_version = text.to_string();
            }
            DELETE_RETENTION_MS => self.delete_retention_ms = number,
            MIN_COMPACTION_LAG_MS => self.min_compaction_lag_ms = number,
            MAX_COMPACTION_LAG_MS => self.max_compaction_lag_ms = number,
            MIN_CLEANABLE_DIRTY_RATIO => {
                self.min_cleanable_dirty_ratio = text
                    .parse()
                    .map_err(|_| invalid("Not a number of type DOUBLE".to_string()))?
            }
            CLEANUP_POLICY => {
                let mut policy = CleanupPolicy {
                    delete: false,
                    compact: false,
                };
                let items: Vec<&str> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                for item in &items {
                    match *item {
                        "delete" => policy.delete = true,
                        "compact" => policy.compact = true,
                        _ => {
                            return Err(invalid(
                                "String must be one of: compact, delete".to_string(),
                            ))
                        }
                    }
                }
                if items.is_empty() {
                    return Err(invalid(
                        "expected compact, delete or compact,delete".to_string(),
                    ));
                }
                self.cleanup_policy = policy;
                rendered = items.join(",");
            }
            MESSAGE_TIMESTAMP_TYPE => {
                self.message_timestamp_type = match text {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(invalid(
                            "String must be one of: CreateTime, LogAppendTime".to_string(),
                        ))
                    }
                }
            }
            COMPRESSION_TYPE => {
                self.compression_type = COMPRESSION_TYPES
                    .iter()
                    .find(|(n, _)| *n == text)
                    .map(|(_, t)| *t)
                    .ok_or_else(|| {
                        let names: Vec<&str> = COMPRESSION_TYPES.iter().map(|(n, _)| *n).collect();
                        invalid(format!("String must be one of: {}", names.join(", ")))
                    })?;
            }
            _ => debug_assert!(!spec.used, "{} has no field", spec.name),
        }
        self.overrides.insert(spec.name, rendered);
        Ok(())
    }

    /// The topic's own settings (name, value), for persisting them.
    pub fn overrides(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.overrides.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// A config's value as Kafka renders it.
    fn value_of(&self, spec: &KeySpec) -> String {
        if let Some(value) = self.overrides.get(spec.name) {
            return value.clone();
        }
        let policy = self.cleanup_policy;
        match spec.name {
            SEGMENT_BYTES => self.segment_bytes.to_string(),
            SEGMENT_MS => self.segment_ms.to_string(),
            RETENTION_MS => self.retention_ms.unwrap_or(-1).to_string(),
            RETENTION_BYTES => self.retention_bytes.map_or(-1, |b| b as i64).to_string(),
            FLUSH_MESSAGES => self.flush_messages.to_string(),
            FLUSH_MS => self.flush_ms.to_string(),
            INDEX_INTERVAL_BYTES => self.index_interval_bytes.to_string(),
            MAX_MESSAGE_BYTES => self.max_message_bytes.to_string(),
            CLEANUP_POLICY => match (policy.compact, policy.delete) {
                (true, true) => "compact,delete",
                (true, false) => "compact",
                _ => "delete",
            }
            .to_string(),
            MESSAGE_TIMESTAMP_TYPE => format!("{:?}", self.message_timestamp_type),
            MIN_INSYNC_REPLICAS => self.min_insync_replicas.to_string(),
            MESSAGE_TIMESTAMP_BEFORE_MAX_MS => self.message_timestamp_before_max_ms.to_string(),
            MESSAGE_TIMESTAMP_AFTER_MAX_MS => self.message_timestamp_after_max_ms.to_string(),
            MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS => {
                self.message_timestamp_difference_max_ms.to_string()
            }
            MESSAGE_FORMAT_VERSION => self.message_format_version.clone(),
            MESSAGE_DOWNCONVERSION_ENABLE => self.message_downconversion_enable.to_string(),
            UNCLEAN_LEADER_ELECTION_ENABLE => self.unclean_leader_election_enable.to_string(),
            DELETE_RETENTION_MS => self.delete_retention_ms.to_string(),
            MIN_COMPACTION_LAG_MS => self.min_compaction_lag_ms.to_string(),
            MAX_COMPACTION_LAG_MS => self.max_compaction_lag_ms.to_string(),
            MIN_CLEANABLE_DIRTY_RATIO => self.min_cleanable_dirty_ratio.to_string(),
            COMPRESSION_TYPE => {
                let name = COMPRESSION_TYPES
                    .iter()
                    .find(|(_, t)| *t == self.compression_type);
                name.map(|(n, _)| *n).unwrap_or("producer").to_string()
            }
            _ => match spec.default {
                Text(text) => text.to_string(),
                _ => String::new(),
            },
        }
    }
}

/// The record format (magic) a `message.format.version` stands for: 0
/// before 0.10.0-IV1, 1 before 0.11.0, 2 since. `None` for a string that
/// is not one of Kafka's versions (`0.8.0` to `0.11.0`, `1.0` to `3.x`,
/// each optionally with an `-IVn` suffix), which Kafka refuses.
pub(super) fn record_format_magic(version: &str) -> Option<u8> {
    let (release, iv) = match version.split_once("-IV") {
        Some((release, iv)) => (release, Some(iv.parse::<u32>().ok()?)),
        None => (version, None),
    };
    let parts: Vec<u32> = release
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [0, 8, 0..=2] | [0, 9, 0] => Some(0),
        [0, 10, 0] => Some(if iv == Some(0) { 0 } else { 1 }),
        [0, 10, 1..=2] => Some(1),
        [0, 11, 0] | [1..=3, _] => Some(2),
        _ => None,
    }
}

/// Kafka's `ConfigException` reason for a refused value.
fn kafka_reason(spec: &KeySpec, error: &ConfigError) -> String {
    let type_name = match spec.ty {
        Int => "INT",
        Long => "LONG",
        Double => "DOUBLE",
        _ => "",
    };
    match (error, spec.ty) {
        (ConfigError::Parse { .. }, Boolean) => {
            "Expected value to be either true or false".to_string()
        }
        (ConfigError::Parse { .. }, _) => format!("Not a number of type {type_name}"),
        (ConfigError::OutOfRange { value, .. }, _) => match value.trim().parse::<f64>() {
            Ok(x) if x < spec.min as f64 => format!("Value must be at least {}", spec.min),
            _ => format!("Value must be no more than {}", spec.max),
        },
        (other, _) => other.to_string(),
    }
}

/// The topic configs a new topic gets from this broker, and where each
/// default comes from, for DescribeConfigs on topics.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicDefaults {
    config: TopicConfig,
    /// Synonyms of each broker-derived topic config, by topic name.
    broker_synonyms: BTreeMap<&'static str, Vec<ConfigSynonym>>,
}

impl TopicDefaults {
    pub(super) fn new(
        broker: &BrokerConfig,
        synonyms: impl Fn(&'static str) -> Vec<ConfigSynonym>,
    ) -> Self {
        let config = TopicConfig {
            segment_bytes: broker.segment_bytes,
            segment_ms: broker.segment_ms,
            retention_ms: broker.retention_ms,
            retention_bytes: broker.retention_bytes,
            flush_messages: broker.flush_interval_messages,
            flush_ms: broker.flush_interval_ms,
            index_interval_bytes: broker.index_interval_bytes,
            max_message_bytes: broker.message_bytes_max,
            min_insync_replicas: broker.cluster.min_insync_replicas,
            unclean_leader_election_enable: broker.cluster.unclean_leader_election_enable,
            delete_retention_ms: broker.cleaner.delete_retention_ms,
            min_compaction_lag_ms: broker.cleaner.min_compaction_lag_ms,
            max_compaction_lag_ms: broker.cleaner.max_compaction_lag_ms,
            min_cleanable_dirty_ratio: broker.cleaner.min_cleanable_ratio,
            ..TopicConfig::default()
        };
        let broker_synonyms = TOPIC_KEYS
            .iter()
            .filter_map(|k| Some((k.name, synonyms(broker_key_of(k.name)?))))
            .collect();
        TopicDefaults {
            config,
            broker_synonyms,
        }
    }

    /// The configuration of a topic without overrides.
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// A topic's configuration: these defaults plus its overrides, in order.
    /// The first refused pair is the error.
    pub fn with_overrides<'a>(
        &self,
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TopicConfig, TopicConfigError> {
        let mut config = self.config.clone();
        for (name, value) in overrides {
            config.set(name, value)?;
        }
        Ok(config)
    }

    /// Every topic config of `topic` as DescribeConfigs reports it: its own
    /// overrides as `DYNAMIC_TOPIC_CONFIG`, then the broker's synonyms (with
    /// Kafka's rule that they start at the topic config's direct broker key).
    pub fn describe(&self, topic: &TopicConfig) -> Vec<ConfigEntry> {
        TOPIC_KEYS
            .iter()
            .map(|spec| {
                let value = topic.value_of(spec);
                let mut synonyms = Vec::new();
                if topic.overrides.contains_key(spec.name) {
                    synonyms.push(ConfigSynonym {
                        name: spec.name,
                        value: Some(value.clone()),
                        source: ConfigSource::DynamicTopicConfig,
                    });
                }
                if let Some(broker) = self.broker_synonyms.get(spec.name) {
                    synonyms.extend(broker.iter().cloned());
                }
                ConfigEntry {
                    name: spec.name,
                    value: Some(value),
                    source: synonyms
                        .first()
                        .map_or(ConfigSource::DefaultConfig, |s| s.source),
                    config_type: spec.ty,
                    sensitive: false,
                    read_only: false,
                    synonyms,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{keys, Environment};

    fn env() -> Environment {
        Environment {
            hostname: "test-host".into(),
            available_cores: 4,
        }
    }

    fn broker(pairs: &[(&str, &str)]) -> BrokerConfig {
        let settings = super::super::overrides(pairs.iter().copied());
        BrokerConfig::resolve(settings, &env()).unwrap().0
    }

    fn invalid(name: &str, value: &str) -> String {
        match validate_topic_config(name, value) {
            Err(e @ TopicConfigError::InvalidValue { .. }) => {
                assert_eq!(e.kafka_error_code(), INVALID_CONFIG);
                e.to_string()
            }
            other => panic!("{name}={value}: {other:?}"),
        }
    }

    #[test]
    fn defaults_match_kafka_and_the_default_broker() {
        assert_eq!(broker(&[]).topic_defaults().config, TopicConfig::default());
        for spec in TOPIC_KEYS {
            if let Text(text) = spec.default {
                validate_topic_config(spec.name, text).unwrap_or_else(|e| panic!("{e}"));
                if spec.used {
                    assert_eq!(TopicConfig::default().value_of(spec), text, "{}", spec.name);
                }
            }
        }
    }

    #[test]
    fn defaults_derive_from_the_broker() {
        let b = broker(&[
            ("log.segment.bytes", "1048576"),
            ("log.roll.hours", "1"),
            ("log.retention.minutes", "10"),
            ("log.retention.bytes", "5000"),
            ("log.flush.interval.messages", "1"),
            ("log.flush.scheduler.interval.ms", "2000"),
            ("log.index.interval.bytes", "100"),
            ("message.max.bytes", "2000000"),
        ]);
        let d = b.topic_defaults();
        let c = d.config();
        assert_eq!(c.segment_bytes, 1_048_576);
        assert_eq!(c.segment_ms, 3_600_000);
        assert_eq!(c.retention_ms, Some(600_000));
        assert_eq!(c.retention_bytes, Some(5000));
        assert_eq!(c.flush_messages, 1);
        assert_eq!(c.flush_ms, 2000);
        assert_eq!(c.index_interval_bytes, 100);
        assert_eq!(c.max_message_bytes, 2_000_000);
        assert_eq!(
            c.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: false
            }
        );

        let unlimited = broker(&[("log.retention.hours", "-1")]).topic_defaults();
        assert_eq!(unlimited.config().retention_ms, None);
    }

    #[test]
    fn compaction_configs_derive_from_the_cleaner_keys() {
        let b = broker(&[
            ("log.cleaner.min.cleanable.ratio", "0.1"),
            ("log.cleaner.delete.retention.ms", "1000"),
            ("log.cleaner.min.compaction.lag.ms", "5"),
            ("log.cleaner.max.compaction.lag.ms", "60000"),
            ("log.cleaner.io.max.bytes.per.second", "1e6"),
        ]);
        assert_eq!(b.cleaner.io_max_bytes_per_second, 1e6);
        assert!(b.cleaner.enable);
        assert_eq!(b.cleaner.dedupe_buffer_bytes, 128 << 20);
        let d = b.topic_defaults();
        let c = d.config();
        assert_eq!(c.min_cleanable_dirty_ratio, 0.1);
        assert_eq!(
            (
                c.delete_retention_ms,
                c.min_compaction_lag_ms,
                c.max_compaction_lag_ms
            ),
            (1000, 5, 60_000)
        );
        let topic = d
            .with_overrides([
                ("min.cleanable.dirty.ratio", "0.75"),
                ("delete.retention.ms", "7"),
            ])
            .unwrap();
        assert_eq!(
            (topic.min_cleanable_dirty_ratio, topic.delete_retention_ms),
            (0.75, 7)
        );
        let entries = d.describe(&topic);
        let ratio = entries
            .iter()
            .find(|e| e.name == "min.cleanable.dirty.ratio")
            .unwrap();
        assert_eq!(ratio.value.as_deref(), Some("0.75"));
        assert_eq!(ratio.synonyms[1].name, "log.cleaner.min.cleanable.ratio");
        assert_eq!(ratio.synonyms[1].value.as_deref(), Some("0.1"));
        // Kafka's unlimited default parses (it is past i64's range).
        assert_eq!(broker(&[]).cleaner.io_max_bytes_per_second, f64::MAX);
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = validate_topic_config("retention.hours", "1").unwrap_err();
        assert_eq!(
            err,
            TopicConfigError::UnknownName {
                name: "retention.hours".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "Unknown topic config name: retention.hours"
        );
        assert_eq!(err.kafka_error_code(), INVALID_CONFIG);
    }

    #[test]
    fn bad_values_get_kafka_messages() {
        assert_eq!(
            invalid("segment.bytes", "13"),
            "Invalid value 13 for configuration segment.bytes: Value must be at least 14"
        );
        assert_eq!(
            invalid("retention.ms", "1d"),
            "Invalid value 1d for configuration retention.ms: Not a number of type LONG"
        );
        assert_eq!(
            invalid("segment.bytes", "4294967296"),
            "Invalid value 4294967296 for configuration segment.bytes: Not a number of type INT"
        );
        assert!(invalid("retention.ms", "-2").ends_with("Value must be at least -1"));
        assert!(invalid("segment.ms", "0").ends_with("Value must be at least 1"));
        assert!(invalid("flush.messages", "0").ends_with("Value must be at least 1"));
        assert!(invalid("min.insync.replicas", "0").ends_with("Value must be at least 1"));
        assert!(invalid("min.cleanable.dirty.ratio", "1.5").contains("no more than 1"));
        assert!(invalid("min.cleanable.dirty.ratio", "x").contains("type DOUBLE"));
        assert!(
            invalid("preallocate", "yes").ends_with("Expected value to be either true or false")
        );
        assert!(
            invalid("cleanup.policy", "compat").ends_with("String must be one of: compact, delete")
        );
        assert!(invalid("cleanup.policy", " , ").contains("expected compact"));
        assert!(
            invalid("message.timestamp.type", "createtime").contains("CreateTime, LogAppendTime")
        );
        assert!(invalid("compression.type", "brotli").contains("zstd"));
        assert!(invalid("message.format.version", "0.7").contains("not a valid version"));
        assert!(invalid("message.timestamp.before.max.ms", "-1").contains("at least 0"));
        assert!(invalid("message.downconversion.enable", "no").contains("true or false"));
    }

    #[test]
    fn overrides_apply_and_render() {
        let d = broker(&[]).topic_defaults();
        let c = d
            .with_overrides([
                ("retention.ms", " -1 "),
                ("retention.bytes", "-7"),
                ("cleanup.policy", "compact, delete"),
                ("message.timestamp.type", "LogAppendTime"),
                ("compression.type", "zstd"),
                ("min.insync.replicas", "2"),
                ("segment.bytes", "52428800"),
                ("min.compaction.lag.ms", "100"),
            ])
            .unwrap();
        assert_eq!(c.retention_ms, None);
        assert_eq!(c.retention_bytes, None);
        assert_eq!(
            c.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: true
            }
        );
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.compression_type, CompressionType::Zstd);
        assert_eq!(c.min_insync_replicas, 2);
        assert_eq!(c.segment_bytes, 52_428_800);
        let overrides: Vec<_> = c.overrides().collect();
        assert!(overrides.contains(&("retention.ms", "-1")));
        assert!(overrides.contains(&("cleanup.policy", "compact,delete")));
        assert!(overrides.contains(&("min.compaction.lag.ms", "100")));

        // A refused pair leaves the config as it was.
        let mut c2 = c.clone();
        assert!(c2.set("segment.bytes", "1").is_err());
        assert_eq!(c2, c);
    }

    #[test]
    fn message_format_versions_name_their_record_format() {
        for (version, magic) in [
            ("0.8.2", 0),
            ("0.9.0", 0),
            ("0.10.0-IV0", 0),
            ("0.10.0-IV1", 1),
            ("0.10.0", 1),
            ("0.10.2", 1),
            ("0.10.2-IV0", 1),
            ("0.11.0", 2),
            ("2.8", 2),
            ("3.0-IV1", 2),
        ] {
            assert_eq!(record_format_magic(version), Some(magic), "{version}");
        }
        for bad in ["", "0.7.0", "4.0.0.1", "0.10.3", "x", "3.0-IVx", "0.8"] {
            assert_eq!(record_format_magic(bad), None, "{bad}");
        }
        let c = TopicConfig::default();
        let mut changed = c.clone();
        changed.set("message.format.version", "0.10.2").unwrap();
        changed
            .set("message.downconversion.enable", "false")
            .unwrap();
        changed
            .set("message.timestamp.after.max.ms", "3600000")
            .unwrap();
        assert_eq!(changed.message_format_version, "0.10.2");
        assert!(!changed.message_downconversion_enable);
        assert_eq!(changed.message_timestamp_after_max_ms, 3_600_000);
        assert_eq!(c.message_timestamp_before_max_ms, i64::MAX);
    }

    #[test]
    fn describe_sources() {
        let b = broker(&[
            ("log.segment.bytes", "1048576"),
            ("log.retention.hours", "24"),
        ]);
        let d = b.topic_defaults();
        let topic = d.with_overrides([("retention.bytes", "1000")]).unwrap();
        let entries = d.describe(&topic);
        let get = |n: &str| entries.iter().find(|e| e.name == n).unwrap().clone();

        let seg = get("segment.bytes");
        assert_eq!(seg.value.as_deref(), Some("1048576"));
        assert_eq!(seg.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(seg.synonyms[0].name, "log.segment.bytes");
        assert_eq!(seg.synonyms[1].source, ConfigSource::DefaultConfig);

        let bytes = get("retention.bytes");
        assert_eq!(bytes.value.as_deref(), Some("1000"));
        assert_eq!(bytes.source, ConfigSource::DynamicTopicConfig);
        assert_eq!(bytes.synonyms[1].name, "log.retention.bytes");

        // Kafka's rule: retention.ms's broker synonyms start at
        // log.retention.ms, which is unset, so the source is the default even
        // though log.retention.hours set the value.
        let retention = get("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("86400000"));
        assert_eq!(retention.source, ConfigSource::DefaultConfig);

        let policy = get("cleanup.policy");
        assert_eq!(
            (policy.value.as_deref(), policy.source),
            (Some("delete"), ConfigSource::DefaultConfig)
        );
        assert_eq!(policy.config_type, ConfigType::List);
        assert!(entries.iter().all(|e| !e.read_only && !e.sensitive));
        assert_eq!(get("preallocate").value.as_deref(), Some("false"));
        assert_eq!(entries.len(), TOPIC_KEYS.len());
    }

    #[test]
    fn every_broker_synonym_is_a_known_broker_key() {
        for spec in TOPIC_KEYS {
            if let Some(key) = broker_key_of(spec.name) {
                assert!(keys::spec(key).is_some(), "{key}");
            }
        }
    }
}
