//! What loading a broker configuration can refuse ([`ConfigError`]) and what
//! it reports without refusing ([`ConfigWarning`]).

use std::fmt;
use std::path::PathBuf;

use super::properties::PropertiesError;

/// A configuration the broker cannot start with. Each variant about a value
/// names the key, the value as given and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("config file {}, {source}", path.display())]
    Syntax {
        path: PathBuf,
        #[source]
        source: PropertiesError,
    },

    /// Not a value of the key's type (not a number, a number too large for
    /// the type, not a boolean).
    #[error("{key}={value:?}: expected {expected}")]
    Parse {
        key: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error("{key}={value:?} is out of range: expected {expected}")]
    OutOfRange {
        key: &'static str,
        value: String,
        expected: String,
    },

    /// A value of the right type that still makes no sense, or keys that
    /// contradict each other.
    #[error("{key}={value:?}: expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: String,
    },

    #[error(
        "{key}={value:?}: {reason}; expected a comma-separated list of NAME://host:port, \
         such as PLAINTEXT://127.0.0.1:9092, PLAINTEXT://:9092 (all interfaces) or \
         PLAINTEXT://[::1]:9092"
    )]
    InvalidListener {
        key: &'static str,
        value: String,
        reason: String,
    },

    #[error(
        "{key}: listener {listener} uses security protocol {protocol}, which Sluice does not \
         support yet (TLS and SASL are not implemented); use a PLAINTEXT listener"
    )]
    UnsupportedSecurityProtocol {
        key: &'static str,
        listener: String,
        protocol: String,
    },

    #[error(
        "{key}={value}: replication needs a cluster; clustering is not implemented yet. \
         Set {key}=1 (or leave it unset) for the single embedded node"
    )]
    ReplicationNeedsCluster { key: &'static str, value: i64 },

    #[error(
        "{key}={value:?} names {count} directories: Sluice uses one log directory per node \
         for now (several, as Kafka's JBOD, are not implemented); keep one"
    )]
    MultipleLogDirs {
        key: &'static str,
        value: String,
        count: usize,
    },
}

/// Something worth telling the operator that does not stop the broker. Each
/// is one log line; [`ConfigWarning::log`] writes it at its level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigWarning {
    /// Keys Sluice does not know, all of them, sorted. Kafka's rule: reported,
    /// not fatal.
    UnknownKeys(Vec<String>),
    /// Keys given more than once in the file, where the last value wins.
    DuplicateKeys(Vec<String>),
    /// Known Kafka keys that were set but change nothing in Sluice.
    UnusedKeys(Vec<&'static str>),
    /// `broker.id=-1` asks Kafka to generate an id; the embedded node is 0.
    GeneratedBrokerId,
    /// A key was set, so lower-precedence synonyms that were also set are
    /// ignored (`log.retention.ms` over `log.retention.hours`, ...).
    Shadowed {
        used: &'static str,
        ignored: Vec<&'static str>,
    },
    /// A listener on all interfaces is advertised to clients under this host.
    AdvertisedHost { listener: String, host: String },
    /// More shards than the machine has cores: they will share cores.
    CoresAboveAvailable { cores: usize, available: usize },
}

impl ConfigWarning {
    /// True for what an operator should act on; false for notes.
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            ConfigWarning::UnknownKeys(_)
                | ConfigWarning::DuplicateKeys(_)
                | ConfigWarning::CoresAboveAvailable { .. }
        )
    }

    /// Writes the line with `tracing`: a warning, or an info note.
    pub fn log(&self) {
        if self.is_warning() {
            tracing::warn!("{self}");
        } else {
            tracing::info!("{self}");
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::UnknownKeys(keys) => {
                // Quote keys that would not read as one word.
                let shown: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        if k.is_empty() || k.contains(|c: char| c.is_whitespace() || c == ',') {
                            format!("{k:?}")
                        } else {
                            k.clone()
                        }
                    })
                    .collect();
                write!(
                    f,
                    "unknown configuration keys, ignored: {}",
                    shown.join(", ")
                )
            }
            ConfigWarning::DuplicateKeys(keys) => write!(
                f,
                "configuration keys set more than once in the file (the last value wins): {}",
                keys.join(", ")
            ),
            ConfigWarning::UnusedKeys(keys) => write!(
                f,
                "accepted but unused: {}; Sluice runs one thread per core (sluice.cores) \
                 instead of Kafka's network and I/O thread pools",
                keys.join(", ")
            ),
            ConfigWarning::GeneratedBrokerId => write!(
                f,
                "broker.id=-1 asks Kafka to generate an id; the single embedded node uses 0"
            ),
            ConfigWarning::Shadowed { used, ignored } => write!(
                f,
                "{used} is set, so {} {} ignored",
                ignored.join(" and "),
                if ignored.len() == 1 { "is" } else { "are" }
            ),
            ConfigWarning::AdvertisedHost { listener, host } => write!(
                f,
                "listener {listener} binds all interfaces and advertised.listeners does not \
                 name it, so clients are told to connect to {host:?} (set advertised.listeners \
                 to choose)"
            ),
            ConfigWarning::CoresAboveAvailable { cores, available } => write!(
                f,
                "sluice.cores={cores} is more than the {available} cores available: shards will \
                 share cores"
            ),
        }
    }
}
