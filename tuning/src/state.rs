//! The revert state: what `--apply` changed and the values it replaced, in
//! a JSON file (default [`DEFAULT_STATE_PATH`]) that `--revert` reads back.
//!
//! ```text
//! {"version":1,"changes":[{"path":"/proc/sys/vm/swappiness","previous":"60","value":"1"}]}
//! ```
//!
//! A path keeps the value it had before the first `--apply`: applying
//! again does not overwrite it with the already-applied value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TuneError;
use crate::finding::Fix;

pub const DEFAULT_STATE_PATH: &str = "/var/lib/sluice/tuning-revert.json";
const STATE_VERSION: u32 = 1;

#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevertState {
    pub version: u32,
    /// In the order applied; reverted in reverse.
    pub changes: Vec<Fix>,
}

impl RevertState {
    /// The state at `path`, empty when there is no file.
    pub fn load(path: &Path) -> Result<RevertState, TuneError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RevertState {
                    version: STATE_VERSION,
                    changes: Vec::new(),
                })
            }
            Err(error) => return Err(state_error(path, error.to_string())),
        };
        let state: RevertState =
            serde_json::from_str(&text).map_err(|error| state_error(path, error.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(state_error(
                path,
                format!(
                    "version {} (this sluice reads {STATE_VERSION})",
                    state.version
                ),
            ));
        }
        Ok(state)
    }

    /// Writes the state (through a temporary file and a rename, so a crash
    /// leaves the old or the new state), or removes the file when empty.
    pub fn save(&self, path: &Path) -> Result<(), TuneError> {
        if self.changes.is_empty() {
            return match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(error) => Err(state_error(path, error.to_string())),
            };
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| {
                state_error(path, format!("creating {}: {error}", parent.display()))
            })?;
        }
        let json = serde_json::to_string_pretty(self)
            .map_err(|error| state_error(path, error.to_string()))?;
        let temporary = temporary_path(path);
        std::fs::write(&temporary, json + "\n")
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|error| state_error(path, error.to_string()))
    }

    /// Records `fix` unless its path is already recorded (then the older,
    /// original value is the one to restore).
    pub fn record(&mut self, fix: &Fix) -> bool {
        if self.changes.iter().any(|change| change.path == fix.path) {
            return false;
        }
        self.changes.push(fix.clone());
        true
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn state_error(path: &Path, reason: String) -> TuneError {
    TuneError::State {
        path: path.to_path_buf(),
        reason,
    }
}
