//! Ctrl-C: the first SIGINT (or SIGTERM) asks the run to stop and print what
//! it measured so far; a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::error::{BenchError, Result};

/// Set once the user asked to stop. Cloned into every worker thread.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag that SIGINT and SIGTERM set.
    pub fn on_signals() -> Result<StopFlag> {
        let flag = StopFlag::default();
        for signal in [SIGINT, SIGTERM] {
            // Order matters: the conditional shutdown sees the flag already
            // set only on the second signal.
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag.0))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag.0)))
                .map_err(|source| BenchError::Io {
                    context: "cannot install the Ctrl-C handler",
                    path: "signal".into(),
                    source,
                })?;
        }
        Ok(flag)
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed)
    }
}
