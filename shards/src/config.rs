//! [`RuntimeConfig`]: how many shards, where they run, and the size of each
//! shard's io_uring resources.

use std::time::Duration;

use crate::error::RuntimeError;
use crate::id::SHARDS_MAX;

/// Default memory each shard registers with io_uring for DMA buffers.
///
/// Small on purpose: it is locked memory, and the default `ulimit -l` on
/// many systems is 8 MiB for the whole process. When registration fails
/// glommio logs a warning and uses ordinary memory (slower DMA, still
/// correct). Production configurations raise both this and the limit.
pub const IO_MEMORY_BYTES_DEFAULT: usize = 1 << 20;

/// Default depth of each shard's io_uring rings (glommio's default).
pub const RING_DEPTH_DEFAULT: usize = 128;

/// The deepest ring a shard may ask for; the kernel caps rings at 32768.
pub const RING_DEPTH_MAX: usize = 32_768;

/// How a [`Runtime`](crate::Runtime) lays out its shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Number of shards (executor threads), 1 to [`SHARDS_MAX`].
    pub shards: usize,
    /// Pin shard `i` to CPU `i`. Without pinning the kernel schedules the
    /// threads freely: fine for tests, wasteful for a broker.
    pub pin_to_cores: bool,
    /// Memory each shard registers with io_uring; see
    /// [`IO_MEMORY_BYTES_DEFAULT`].
    pub io_memory_bytes: usize,
    /// Depth of each shard's io_uring rings.
    pub ring_depth: usize,
    /// Prefix of the shard threads' names (`<name>-<shard>`), seen in `top`,
    /// `perf` and panic messages.
    pub name: String,
    /// How long an idle pinned shard spins before it sleeps. Spinning
    /// trades a busy core for a faster wake-up on the next cross-shard
    /// message; glommio ignores it for unpinned shards. `None`: sleep at
    /// once.
    pub spin_before_park: Option<Duration>,
}

impl RuntimeConfig {
    /// `shards` unpinned shards with default sizes.
    pub fn new(shards: usize) -> RuntimeConfig {
        RuntimeConfig {
            shards,
            pin_to_cores: false,
            io_memory_bytes: IO_MEMORY_BYTES_DEFAULT,
            ring_depth: RING_DEPTH_DEFAULT,
            name: "sluice-shard".to_string(),
            spin_before_park: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |reason: String| Err(RuntimeError::InvalidConfig(reason));
        if self.shards == 0 || self.shards > SHARDS_MAX {
            return invalid(format!(
                "shards is {}, must be 1 to {SHARDS_MAX}",
                self.shards
            ));
        }
        if self.ring_depth == 0 || self.ring_depth > RING_DEPTH_MAX {
            return invalid(format!(
                "ring_depth is {}, must be 1 to {RING_DEPTH_MAX}",
                self.ring_depth
            ));
        }
        if self.name.is_empty() || self.name.contains('\0') {
            return invalid(format!(
                "name {:?} must be non-empty, without NUL",
                self.name
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        RuntimeConfig::new(1).validate().unwrap();
        RuntimeConfig::new(SHARDS_MAX).validate().unwrap();
    }

    #[test]
    fn bad_values_are_rejected() {
        let bad = [
            RuntimeConfig::new(0),
            RuntimeConfig::new(SHARDS_MAX + 1),
            RuntimeConfig {
                ring_depth: 0,
                ..RuntimeConfig::new(2)
            },
            RuntimeConfig {
                ring_depth: RING_DEPTH_MAX + 1,
                ..RuntimeConfig::new(2)
            },
            RuntimeConfig {
                name: String::new(),
                ..RuntimeConfig::new(2)
            },
        ];
        for config in bad {
            let error = config.validate().unwrap_err();
            assert!(
                matches!(error, RuntimeError::InvalidConfig(_)),
                "{config:?}"
            );
        }
    }
}
