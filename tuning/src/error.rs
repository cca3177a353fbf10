//! The crate's one error type: what went wrong talking to the host or the
//! revert state file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error("revert state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("{0}")]
    NotRoot(String),
}
