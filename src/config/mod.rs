//! # Broker configuration
//!
//! Sluice reads Kafka's `server.properties` ([`properties`] parses the Java
//! properties format), applies command-line overrides after it
//! (`--override key=value`, and the flags `--listen`, `--log-dirs`,
//! `--cores`, which the CLI maps to `listeners`, `log.dirs`, `sluice.cores`),
//! validates everything, and produces a [`BrokerConfig`] plus
//! [`ConfigWarning`]s for the caller to log ([`ConfigWarning::log`]).
//! Key names, types and defaults are Kafka 3.x's, except where the table says.
//!
//! | key | default | what Sluice does with it |
//! |---|---|---|
//! | `broker.id` | `0` (Kafka: `-1`) | the node id in Metadata; `-1` (Kafka's "generate one") reads as 0, with a note |
//! | `listeners` | `PLAINTEXT://127.0.0.1:9092` (Kafka: `PLAINTEXT://:9092`) | bound on every shard; empty host = all interfaces; `[::1]` for IPv6; PLAINTEXT only, other protocols are refused |
//! | `advertised.listeners` | unset: `listeners`, an all-interfaces host replaced by the machine's host name | what Metadata tells clients; names must be among `listeners`; `0.0.0.0`, `::` and port 0 refused |
//! | `listener.security.protocol.map` | `PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL` | gives each listener name its protocol; every listener must map to PLAINTEXT |
//! | `log.dirs` | unset | the data directory; wins over `log.dir`; one directory only for now |
//! | `log.dir` | `./data` (Kafka: `/tmp/kafka-logs`) | the data directory when `log.dirs` is unset |
//! | `num.partitions` | `1` | partitions of an auto-created topic, or of CreateTopics with -1 |
//! | `default.replication.factor` | `1` | above 1 is refused without `zookeeper.connect` |
//! | `offsets.topic.replication.factor` | `3` in Kafka; unset reads as 1 on the embedded node | set above 1 without `zookeeper.connect` is refused |
//! | `offsets.topic.num.partitions` | `50` | partitions of `__consumer_offsets` |
//! | `auto.create.topics.enable` | `true` | Metadata for an unknown topic creates it |
//! | `message.max.bytes` | `1048588` | largest record batch accepted; default of topic `max.message.bytes` |
//! | `socket.request.max.bytes` | `104857600` | largest request frame read |
//! | `queued.max.request.bytes` | `-1` | request bytes read and not yet answered, for the whole broker, shared evenly by the shards (each gets at least `socket.request.max.bytes`); a connection whose next frame does not fit waits (back-pressure). Kafka's `-1` is unlimited; Sluice reads it as `2 × socket.request.max.bytes` per shard |
//! | `connections.max.idle.ms` | `600000` | a connection that sends nothing (or stalls in the middle of a frame) for this long is closed; negative = never |
//! | `log.segment.bytes` | `1073741824` (at least 14) | default of topic `segment.bytes` |
//! | `log.roll.ms` | unset | default of topic `segment.ms`; wins over `log.roll.hours` |
//! | `log.roll.hours` | `168` | `segment.ms` when `log.roll.ms` is unset |
//! | `log.retention.ms` | unset | default of topic `retention.ms`; wins over minutes and hours; negative = unlimited, 0 refused (as Kafka does) |
//! | `log.retention.minutes` | unset | retention when `log.retention.ms` is unset; wins over hours |
//! | `log.retention.hours` | `168` | retention when the two above are unset |
//! | `log.retention.bytes` | `-1` (unlimited) | default of topic `retention.bytes` |
//! | `log.retention.check.interval.ms` | `300000` | how often retention runs |
//! | `log.flush.interval.messages` | `9223372036854775807` (never) | default of topic `flush.messages` |
//! | `log.flush.interval.ms` | unset | default of topic `flush.ms`; unset falls back to the next key |
//! | `log.flush.scheduler.interval.ms` | `9223372036854775807` (never) | `flush.ms` when `log.flush.interval.ms` is unset |
//! | `log.index.interval.bytes` | `4096` | default of topic `index.interval.bytes` |
//! | `group.initial.rebalance.delay.ms` | `3000` | how long the first rebalance of an empty group waits for more members (Kafka's quickstart config sets 0) |
//! | `group.min.session.timeout.ms` | `6000` | shortest session a member may ask for |
//! | `group.max.session.timeout.ms` | `1800000` | longest session a member may ask for |
//! | `group.max.size` | `2147483647` | members one group may have |
//! | `offsets.retention.minutes` | `10080` | how long offsets of an unused group are kept |
//! | `offsets.retention.check.interval.ms` | `600000` | how often offsets are checked for expiry |
//! | `offset.metadata.max.bytes` | `4096` | longest commit metadata string |
//! | `offsets.topic.segment.bytes` | `104857600` | `segment.bytes` of `__consumer_offsets` when it is created |
//! | `log.cleaner.enable` | `true` | runs the log cleaner (one per shard) for topics with `cleanup.policy` `compact` |
//! | `log.cleaner.threads` | `1` | validated, unused: every shard cleans the partitions it owns |
//! | `log.cleaner.dedupe.buffer.size` | `134217728` | the cleaners' offset maps together: each shard's is this over the shard count (24 bytes a key) |
//! | `log.cleaner.io.buffer.size` | `524288` | each shard's cleaner reads and writes in buffers of this size |
//! | `log.cleaner.io.buffer.load.factor` | `0.9` | how full an offset map gets before a cleaning stops mapping |
//! | `log.cleaner.io.max.bytes.per.second` | `1.7976931348623157E308` (unlimited) | each shard's cleaner reads and writes at most this many bytes a second |
//! | `log.cleaner.backoff.ms` | `15000` | how long a shard's cleaner sleeps when no log is due |
//! | `log.cleaner.min.cleanable.ratio` | `0.5` | default of topic `min.cleanable.dirty.ratio` |
//! | `log.cleaner.min.compaction.lag.ms` | `0` | default of topic `min.compaction.lag.ms` |
//! | `log.cleaner.max.compaction.lag.ms` | `9223372036854775807` | default of topic `max.compaction.lag.ms` |
//! | `log.cleaner.delete.retention.ms` | `86400000` | default of topic `delete.retention.ms` |
//! | `num.io.threads` | `8` | validated, unused (one info line): thread-per-core replaces the pool |
//! | `num.network.threads` | `3` | validated, unused, same line |
//! | `sluice.cores` | available parallelism, at most 256 | how many shards (one thread per core) Sluice runs |
//!
//! The cluster keys (`zookeeper.*`, `broker.rack`, the replication settings)
//! have their own table in `cluster.rs`; they land in
//! [`BrokerConfig::cluster`].
//!
//! ```
//! use sluice::config::{BrokerConfig, ConfigSource};
//!
//! let overrides = [("log.retention.hours".to_string(), "24".to_string())];
//! let (config, warnings) = BrokerConfig::load(None, &overrides).unwrap();
//! warnings.iter().for_each(|w| w.log());
//! assert_eq!(config.retention_ms, Some(24 * 3_600_000));
//! let hours = config.describe().into_iter().find(|e| e.name == "log.retention.hours").unwrap();
//! assert_eq!(hours.source, ConfigSource::StaticBrokerConfig);
//! ```
//!
//! ## Rules
//!
//! - **Precedence.** Built-in defaults, then the file, then overrides in
//!   order; the last value of a key wins. Between synonyms the more precise
//!   key wins whatever its origin: `log.retention.ms` > `.minutes` > `.hours`,
//!   `log.roll.ms` > `log.roll.hours`, `log.dirs` > `log.dir`. A note says
//!   which set key was ignored.
//! - **Values** are trimmed before parsing, as Kafka's `ConfigDef` does.
//!   Numbers are decimal Java integers of the key's type; booleans are
//!   `true`/`false` in any case.
//! - **Unknown keys** are not fatal: all of them are named in one warning.
//!   Keys given twice in the file get one warning too.
//! - **Errors** ([`ConfigError`]) name the key, the value and what was
//!   expected; the broker does not start.
//! - **Sources.** Every value given in the file or on the command line is
//!   Kafka's `STATIC_BROKER_CONFIG` (Kafka folds `--override` into the same
//!   properties); everything else is `DEFAULT_CONFIG`. Sluice has no dynamic
//!   broker config yet, so [`BrokerConfig::describe`] marks every key
//!   read-only.
//!
//! ## Types
//!
//! Fields have the type their user needs: wire types for what goes into
//! responses (`broker_id: i32`, replication factors `i16`), the storage
//! engine's types for log settings (`segment_bytes: u64`), `Option` where
//! Kafka uses `-1` for "unlimited". "Never" flushes stay Kafka's
//! `Long.MAX_VALUE` (as `u64`), which the partition code maps to the
//! engine's "no periodic fsync".
//!
//! ## Lifecycle
//!
//! Loaded once at start on the main thread, before the shards start, and then
//! shared read-only (each shard may keep a clone). Nothing here changes at
//! run time.

mod cluster;
mod error;
mod keys;
mod listener;
pub mod properties;
mod resolve;
mod topic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use cluster::{
    parse_zookeeper_connect, ClusterConfig, ZookeeperConfig, ZookeeperConnect, ZookeeperServer,
    ZOOKEEPER_PORT_DEFAULT,
};
pub use error::{ConfigError, ConfigWarning};
pub use keys::CORES_MAX;
/// The keys the CLI's flags set: `--listen`, `--log-dirs`, `--cores`.
pub use keys::{LISTENERS, LOG_DIRS, SLUICE_CORES};
pub use listener::Listener;
pub use topic::{
    validate_topic_config, CleanupPolicy, CompressionType, TimestampType, TopicConfig,
    TopicConfigError, TopicDefaults, INVALID_CONFIG,
};

use keys::*;

/// A configuration and the notes produced while loading it.
pub type Loaded = (BrokerConfig, Vec<ConfigWarning>);

/// Where a configuration value came from, in Kafka's words
/// (`DescribeConfigsResponse.ConfigSource`, with its wire codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown,
    DynamicTopicConfig,
    DynamicBrokerConfig,
    DynamicDefaultBrokerConfig,
    StaticBrokerConfig,
    DefaultConfig,
    DynamicBrokerLoggerConfig,
}

impl ConfigSource {
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::Unknown => 0,
            ConfigSource::DynamicTopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
        }
    }

    pub fn kafka_name(self) -> &'static str {
        match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
        }
    }
}

/// A config's type as DescribeConfigs (v3+) reports it, with its wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
}

impl ConfigType {
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
        }
    }
}

/// One key as DescribeConfigs reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: &'static str,
    /// None for Kafka's `null`: a key that is unset and has no default.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub config_type: ConfigType,
    pub sensitive: bool,
    pub read_only: bool,
    /// The entry's own setting and those of lower-precedence synonyms,
    /// as Kafka lists them for `include_synonyms`.
    pub synonyms: Vec<ConfigSynonym>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// Where one given `key=value` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The properties file, at this 1-based line.
    File { line: usize },
    /// The command line (`--override` or a flag), or code.
    Override,
}

/// One `key=value` as given, before validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// What loading needs from the machine, passed in so tests can fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// Advertised for listeners on all interfaces.
    pub hostname: String,
    /// The default of `sluice.cores`.
    pub available_cores: usize,
}

impl Environment {
    /// This machine. The host name is the kernel's (`gethostname`), which is
    /// where Kafka's `InetAddress.getLocalHost()` starts; Kafka then asks DNS
    /// for a canonical name, which we skip: a blocking lookup at start that
    /// often yields a name clients resolve less well. If the kernel has no
    /// name, `$HOSTNAME` (a shell variable, not always exported), and as a
    /// last resort `127.0.0.1`, so a single node stays reachable locally.
    pub fn system() -> Self {
        let available_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Environment {
            hostname: system_hostname(),
            available_cores: available_cores.min(CORES_MAX),
        }
    }
}

#[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which gethostname may
    // fill; the name is read only up to the first NUL within the buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(name) = std::str::from_utf8(&buf[..len]) {
            if !name.is_empty() {
                return name.to_string();
            }
        }
    }
    match std::env::var("HOSTNAME") {
        Ok(name) if !name.trim().is_empty() => name.trim().to_string(),
        _ => "127.0.0.1".to_string(),
    }
}

/// The group coordinator's keys, as Kafka names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`.
    pub max_size: usize,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_bytes_max: usize,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: u64,
}

/// The log cleaner's `log.cleaner.*` keys, as Kafka names them.
#[derive(Clone, Debug, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.dedupe.buffer.size`, for all shards together.
    pub dedupe_buffer_bytes: u64,
    /// `log.cleaner.io.buffer.size`.
    pub io_buffer_bytes: usize,
    /// `log.cleaner.io.buffer.load.factor`.
    pub io_buffer_load_factor: f64,
    /// `log.cleaner.io.max.bytes.per.second`, per shard.
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`.
    pub backoff_ms: u64,
    /// `log.cleaner.min.cleanable.ratio`.
    pub min_cleanable_ratio: f64,
    /// `log.cleaner.min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `log.cleaner.delete.retention.ms`.
    pub delete_retention_ms: i64,
}

/// The broker's configuration, validated. Field docs name the Kafka key.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerConfig {
    /// `broker.id`.
    pub broker_id: i32,
    /// `listeners`: where every shard binds.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`, resolved: what clients are told.
    pub advertised_listeners: Vec<Listener>,
    /// `log.dirs` or `log.dir`: the one data directory.
    pub log_dir: PathBuf,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `offsets.topic.replication.factor`, after the embedded-node rule.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `message.max.bytes`.
    pub message_bytes_max: usize,
    /// `socket.request.max.bytes`.
    pub socket_request_bytes_max: usize,
    /// `queued.max.request.bytes`; None is Kafka's -1 (see
    /// [`BrokerConfig::request_bytes_in_flight_max_per_shard`]).
    pub queued_request_bytes_max: Option<u64>,
    /// `connections.max.idle.ms`; None when negative (never).
    pub connection_idle_ms_max: Option<u64>,
    /// `log.segment.bytes`.
    pub segment_bytes: u64,
    /// `log.roll.ms`, else `log.roll.hours`.
    pub segment_ms: i64,
    /// `log.retention.ms` / `.minutes` / `.hours`; None is unlimited.
    pub retention_ms: Option<i64>,
    /// `log.retention.bytes`; None is unlimited.
    pub retention_bytes: Option<u64>,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.flush.interval.messages`.
    pub flush_interval_messages: u64,
    /// `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`.
    pub flush_interval_ms: u64,
    /// `log.index.interval.bytes`.
    pub index_interval_bytes: u64,
    /// `zookeeper.connect`, the session keys and the replication keys;
    /// `cluster.zookeeper` is None for the single embedded node.
    pub cluster: ClusterConfig,
    /// The group coordinator's `group.*` and `offsets.*` keys.
    pub groups: GroupConfig,
    /// The log cleaner's `log.cleaner.*` keys.
    pub cleaner: CleanerConfig,
    /// `sluice.cores`: shards, one per core.
    pub cores: usize,
    /// Known keys that were given, by name, rendered as Kafka renders them.
    explicit: BTreeMap<&'static str, String>,
    /// The default of `sluice.cores` on this machine.
    available_cores: usize,
}

impl Default for BrokerConfig {
    /// Every key at its default on this machine.
    fn default() -> Self {
        let (config, _) = BrokerConfig::resolve(Vec::new(), &Environment::system())
            .expect("the built-in defaults are valid");
        config
    }
}

impl BrokerConfig {
    /// Request bytes one shard may hold read but not yet answered: its even
    /// share of `queued.max.request.bytes`, never less than one frame of
    /// `socket.request.max.bytes` (a frame that could never fit would wait
    /// forever). Kafka's -1 (unlimited) becomes two frames' worth per shard:
    /// memory stays bounded whatever the clients send.
    pub fn request_bytes_in_flight_max_per_shard(&self) -> u64 {
        let frame = self.socket_request_bytes_max as u64;
        match self.queued_request_bytes_max {
            Some(total) => (total / self.cores.max(1) as u64).max(frame),
            None => 2 * frame,
        }
    }

    /// The broker's entry point: the properties file if any, then the
    /// command-line overrides in order.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Loaded, ConfigError> {
        let mut settings = match file {
            Some(path) => read_properties_file(path)?,
            None => Vec::new(),
        };
        settings.extend(overrides.iter().map(|(key, value)| Setting {
            key: key.clone(),
            value: value.clone(),
            origin: Origin::Override,
        }));
        BrokerConfig::resolve(settings, &Environment::system())
    }

    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<Loaded, ConfigError> {
        BrokerConfig::load(Some(path.as_ref()), &[])
    }

    /// Keys and values given in code, as if on the command line.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Loaded, ConfigError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        BrokerConfig::resolve(overrides(pairs), &Environment::system())
    }

    /// Every known key with its value and source, for DescribeConfigs on the
    /// broker. Like Kafka, a key reports its own value (set, else its
    /// default, else None), not the value a synonym gives it: with only
    /// `log.retention.hours=24` set, `log.retention.ms` is None and
    /// `retention_ms` is 86400000.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        KEYS.iter()
            .map(|spec| {
                let synonyms = self.synonyms(spec);
                let value = match spec.name {
                    BROKER_ID => Some(self.broker_id.to_string()),
                    OFFSETS_TOPIC_REPLICATION_FACTOR => {
                        Some(self.offsets_topic_replication_factor.to_string())
                    }
                    TRANSACTION_STATE_LOG_REPLICATION_FACTOR => Some(
                        self.cluster
                            .transaction_state_log_replication_factor
                            .to_string(),
                    ),
                    SLUICE_CORES => Some(self.cores.to_string()),
                    _ => self.value_of(spec),
                };
                ConfigEntry {
                    name: spec.name,
                    value,
                    source: synonyms
                        .first()
                        .map_or(ConfigSource::DefaultConfig, |s| s.source),
                    config_type: spec.ty,
                    sensitive: false,
                    read_only: true,
                    synonyms,
                }
            })
            .collect()
    }

    /// A key's own value: given, else its default.
    fn value_of(&self, spec: &'static KeySpec) -> Option<String> {
        self.explicit
            .get(spec.name)
            .cloned()
            .or_else(|| self.default_of(spec))
    }

    fn default_of(&self, spec: &'static KeySpec) -> Option<String> {
        match (spec.name, spec.default) {
            // The embedded node's effective default; Kafka's 3 in a cluster.
            (OFFSETS_TOPIC_REPLICATION_FACTOR | TRANSACTION_STATE_LOG_REPLICATION_FACTOR, _)
                if !self.cluster.is_clustered() =>
            {
                Some("1".to_string())
            }
            (_, DefaultValue::Null) => None,
            (_, DefaultValue::Text(text)) => Some(text.to_string()),
            (_, DefaultValue::AvailableCores) => Some(self.available_cores.to_string()),
        }
    }

    /// Kafka's `configSynonyms`: the given values of the key's synonym
    /// chain, then their defaults, each in precedence order, minus whatever
    /// comes before the first entry for `spec` itself.
    fn synonyms(&self, spec: &'static KeySpec) -> Vec<ConfigSynonym> {
        self.synonyms_from(spec.name, keys::chain_of(spec))
    }

    fn synonyms_from(&self, name: &str, chain: &'static [&'static str]) -> Vec<ConfigSynonym> {
        let chain_specs = || chain.iter().filter_map(|n| keys::spec(n));
        let given = chain_specs().filter_map(|s| {
            let value = self.explicit.get(s.name)?;
            Some(ConfigSynonym {
                name: s.name,
                value: Some(value.clone()),
                source: ConfigSource::StaticBrokerConfig,
            })
        });
        let defaults = chain_specs().filter_map(|s| {
            Some(ConfigSynonym {
                name: s.name,
                value: Some(self.default_of(s)?),
                source: ConfigSource::DefaultConfig,
            })
        });
        given
            .chain(defaults)
            .skip_while(|s| s.name != name)
            .collect()
    }

    /// The broker-derived defaults of topic configs.
    pub fn topic_defaults(&self) -> TopicDefaults {
        TopicDefaults::new(self, |broker_key| {
            let spec = keys::spec(broker_key).expect("topic synonyms are known broker keys");
            self.synonyms_from(spec.name, keys::chain_of(spec))
        })
    }
}

fn overrides<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Vec<Setting> {
    pairs
        .into_iter()
        .map(|(key, value)| Setting {
            key: key.into(),
            value: value.into(),
            origin: Origin::Override,
        })
        .collect()
}

/// The largest properties file read. Kafka's own `server.properties` is
/// under 10 KiB; anything near this is the wrong file.
pub const PROPERTIES_FILE_BYTES_MAX: u64 = 1 << 20;

/// Reads and parses a properties file into settings.
pub fn read_properties_file(path: &Path) -> Result<Vec<Setting>, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > PROPERTIES_FILE_BYTES_MAX {
        return Err(read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{size} bytes is more than {PROPERTIES_FILE_BYTES_MAX}: not a properties file"),
        )));
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    let props =
        properties::parse(&properties::decode(&bytes)).map_err(|source| ConfigError::Syntax {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(props
        .into_iter()
        .map(|p| Setting {
            key: p.key,
            value: p.value,
            origin: Origin::File { line: p.line },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn env() -> Environment {
        Environment {
            hostname: "test-host".to_string(),
            available_cores: 4,
        }
    }

    pub(super) fn load(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        BrokerConfig::resolve(overrides(pairs.iter().copied()), &env())
    }

    pub(super) fn ok(pairs: &[(&str, &str)]) -> BrokerConfig {
        load(pairs).unwrap_or_else(|e| panic!("{pairs:?}: {e}")).0
    }

    pub(super) fn warnings(pairs: &[(&str, &str)]) -> Vec<ConfigWarning> {
        load(pairs).unwrap().1
    }

    pub(super) fn err(pairs: &[(&str, &str)]) -> ConfigError {
        match load(pairs) {
            Ok((config, _)) => panic!("{pairs:?} was accepted: {config:?}"),
            Err(e) => e,
        }
    }

    /// A properties file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &[u8]) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("sluice-config-{}-{name}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn load_file(file: &TempFile, overrides: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let mut settings = read_properties_file(&file.0)?;
        settings.extend(super::overrides(overrides.iter().copied()));
        BrokerConfig::resolve(settings, &env())
    }

    #[test]
    fn defaults() {
        let (c, warnings) = load(&[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.broker_id, 0);
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://127.0.0.1:9092");
        assert_eq!(c.advertised_listeners, c.listeners);
        assert_eq!(c.log_dir, PathBuf::from("./data"));
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.default_replication_factor, 1);
        assert_eq!(c.offsets_topic_replication_factor, 1);
        assert_eq!(c.offsets_topic_num_partitions, 50);
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.message_bytes_max, 1_048_588);
        assert_eq!(c.socket_request_bytes_max, 104_857_600);
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 168 * 3_600_000);
        assert_eq!(c.retention_ms, Some(168 * 3_600_000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.retention_check_interval_ms, 300_000);
        assert_eq!(c.flush_interval_messages, i64::MAX as u64);
        assert_eq!(c.flush_interval_ms, i64::MAX as u64);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.cluster.zookeeper, None);
        assert_eq!(c.cores, 4);
    }

    #[test]
    fn system_environment_and_default() {
        let env = Environment::system();
        assert!(!env.hostname.is_empty());
        assert!((1..=CORES_MAX).contains(&env.available_cores));
        let c = BrokerConfig::default();
        assert_eq!(c.cores, env.available_cores);
        assert_eq!(c.broker_id, 0);
    }

    #[test]
    fn file_then_overrides() {
        let file = TempFile::new(
            "overrides.properties",
            b"# Sluice test\nbroker.id = 3\nnum.partitions: 4\nlog.dirs /srv/a\n\
              listeners=PLAINTEXT://:9092\nauto.create.topics.enable=false\n",
        );
        let (c, _) = load_file(
            &file,
            &[
                ("num.partitions", "6"),
                ("log.dirs", "/srv/b"),
                ("listeners", "PLAINTEXT://127.0.0.1:19092"),
                ("num.partitions", "8"),
            ],
        )
        .unwrap();
        assert_eq!(c.broker_id, 3);
        assert_eq!(c.num_partitions, 8, "the last override wins");
        assert_eq!(c.log_dir, PathBuf::from("/srv/b"));
        assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://127.0.0.1:19092");
        assert!(!c.auto_create_topics_enable);
        let sources: BTreeMap<_, _> = c
            .describe()
            .into_iter()
            .map(|e| (e.name, e.source))
            .collect();
        assert_eq!(sources["broker.id"], ConfigSource::StaticBrokerConfig);
        assert_eq!(sources["num.partitions"], ConfigSource::StaticBrokerConfig);
        assert_eq!(sources["log.retention.hours"], ConfigSource::DefaultConfig);
    }

    #[test]
    fn file_errors() {
        let missing = std::env::temp_dir().join("sluice-config-does-not-exist.properties");
        match BrokerConfig::from_properties_file(&missing) {
            Err(e @ ConfigError::Read { .. }) => assert!(e.to_string().contains("does-not-exist")),
            other => panic!("{other:?}"),
        }
        let big = vec![b'#'; PROPERTIES_FILE_BYTES_MAX as usize + 1];
        let file = TempFile::new("big.properties", &big);
        match load_file(&file, &[]) {
            Err(e @ ConfigError::Read { .. }) => {
                assert!(e.to_string().contains("not a properties file"))
            }
            other => panic!("{other:?}"),
        }
        let file = TempFile::new("syntax.properties", b"a=1\n\nbad=\\u12x4\n");
        match load_file(&file, &[]) {
            Err(e @ ConfigError::Syntax { .. }) => assert!(e.to_string().contains("line 3"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kafka_stock_server_properties() {
        // The settings of Kafka 3.x's config/server.properties (ZooKeeper mode).
        let file = TempFile::new(
            "stock.properties",
            b"# Licensed to the Apache Software Foundation (ASF) ...\n\
              ############################# Server Basics #############################\n\
              broker.id=0\n#listeners=PLAINTEXT://:9092\nnum.network.threads=3\n\
              num.io.threads=8\nsocket.send.buffer.bytes=102400\n\
              socket.receive.buffer.bytes=102400\nsocket.request.max.bytes=104857600\n\
              log.dirs=/tmp/kafka-logs\nnum.partitions=1\nnum.recovery.threads.per.data.dir=1\n\
              offsets.topic.replication.factor=1\ntransaction.state.log.replication.factor=1\n\
              transaction.state.log.min.isr=1\n#log.flush.interval.messages=10000\n\
              log.retention.hours=168\n#log.retention.bytes=1073741824\n\
              log.segment.bytes=1073741824\nlog.retention.check.interval.ms=300000\n\
              zookeeper.connect=localhost:2181\nzookeeper.connection.timeout.ms=18000\n\
              group.initial.rebalance.delay.ms=0\n",
        );
        let (c, warnings) = load_file(&file, &[]).unwrap();
        assert_eq!(c.log_dir, PathBuf::from("/tmp/kafka-logs"));
        let zk = c.cluster.zookeeper.as_ref().unwrap();
        assert_eq!(zk.servers_text(), "localhost:2181");
        assert_eq!(zk.connection_timeout_ms, 18000);
        assert_eq!(c.offsets_topic_replication_factor, 1);
        assert_eq!(c.cluster.transaction_state_log_replication_factor, 1);
        assert_eq!(c.groups.initial_rebalance_delay_ms, 0);
        let unknown = [
            "num.recovery.threads.per.data.dir",
            "socket.receive.buffer.bytes",
            "socket.send.buffer.bytes",
            "transaction.state.log.min.isr",
        ];
        assert_eq!(
            warnings,
            vec![
                ConfigWarning::UnknownKeys(unknown.iter().map(|k| k.to_string()).collect()),
                ConfigWarning::UnusedKeys(vec!["num.io.threads", "num.network.threads"]),
            ]
        );
    }

    #[test]
    fn duplicate_keys_in_the_file_are_reported_once() {
        let file = TempFile::new(
            "dup.properties",
            b"num.partitions=2\nnum.partitions=3\nb=1\nb=2\n",
        );
        let (c, warnings) = load_file(&file, &[("num.partitions", "5")]).unwrap();
        assert_eq!(c.num_partitions, 5);
        assert!(warnings.contains(&ConfigWarning::DuplicateKeys(vec![
            "b".into(),
            "num.partitions".into()
        ])));
        // An override of a file key is not a duplicate.
        let file = TempFile::new("nodup.properties", b"num.partitions=2\n");
        let (_, warnings) = load_file(&file, &[("num.partitions", "5")]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn describe_lists_every_key_with_its_source() {
        let c = ok(&[
            ("log.retention.hours", "24"),
            ("broker.id", "-1"),
            ("num.io.threads", "4"),
        ]);
        let entries = c.describe();
        assert_eq!(
            entries.iter().map(|e| e.name).collect::<Vec<_>>(),
            KEYS.iter().map(|k| k.name).collect::<Vec<_>>()
        );
        assert!(entries.iter().all(|e| e.read_only && !e.sensitive));
        let get = |n: &str| entries.iter().find(|e| e.name == n).unwrap().clone();

        let hours = get("log.retention.hours");
        assert_eq!(
            (hours.value.as_deref(), hours.source),
            (Some("24"), ConfigSource::StaticBrokerConfig)
        );
        assert_eq!(
            hours.synonyms,
            vec![
                ConfigSynonym {
                    name: "log.retention.hours",
                    value: Some("24".into()),
                    source: ConfigSource::StaticBrokerConfig
                },
                ConfigSynonym {
                    name: "log.retention.hours",
                    value: Some("168".into()),
                    source: ConfigSource::DefaultConfig
                },
            ]
        );
        assert_eq!(hours.config_type, ConfigType::Int);
        // Kafka reports a key's own value: log.retention.ms stays null.
        let ms = get("log.retention.ms");
        assert_eq!((ms.value, ms.source), (None, ConfigSource::DefaultConfig));
        assert!(ms.synonyms.is_empty());
        assert_eq!(c.retention_ms, Some(86_400_000));

        let id = get("broker.id");
        assert_eq!(
            (id.value.as_deref(), id.source),
            (Some("0"), ConfigSource::StaticBrokerConfig)
        );
        assert_eq!(
            get("num.io.threads").source,
            ConfigSource::StaticBrokerConfig
        );
        let listeners = get("listeners");
        assert_eq!(
            listeners.value.as_deref(),
            Some("PLAINTEXT://127.0.0.1:9092")
        );
        assert_eq!(listeners.source, ConfigSource::DefaultConfig);
        assert_eq!(get("advertised.listeners").value, None);
        assert_eq!(get("zookeeper.connect").value, None);
        assert_eq!(get("log.dir").value.as_deref(), Some("./data"));
        assert_eq!(
            get("offsets.topic.replication.factor").value.as_deref(),
            Some("1")
        );
        assert_eq!(get("sluice.cores").value.as_deref(), Some("4"));
        assert_eq!(
            get("log.flush.interval.messages").value.as_deref(),
            Some("9223372036854775807")
        );
        assert_eq!(ConfigSource::StaticBrokerConfig.code(), 4);
        assert_eq!(ConfigSource::DefaultConfig.kafka_name(), "DEFAULT_CONFIG");
    }

    #[test]
    fn describe_synonyms_follow_kafka() {
        // With ms set, hours is described by its own default only: Kafka
        // drops the synonyms listed before the described key.
        let c = ok(&[("log.retention.ms", "1000")]);
        let entries = c.describe();
        let get = |n: &str| entries.iter().find(|e| e.name == n).unwrap().clone();
        let ms = get("log.retention.ms");
        assert_eq!(ms.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(
            ms.synonyms
                .iter()
                .map(|s| (s.name, s.source))
                .collect::<Vec<_>>(),
            vec![
                ("log.retention.ms", ConfigSource::StaticBrokerConfig),
                ("log.retention.hours", ConfigSource::DefaultConfig),
            ]
        );
        let hours = get("log.retention.hours");
        assert_eq!(hours.source, ConfigSource::DefaultConfig);
        assert_eq!(hours.synonyms.len(), 1);
    }

    #[test]
    fn module_doc_table_lists_every_key() {
        let source = [include_str!("mod.rs"), include_str!("cluster.rs")].concat();
        for key in KEYS {
            assert!(
                source.contains(&format!("//! | `{}` |", key.name)),
                "{} is missing from the table",
                key.name
            );
        }
    }
}
