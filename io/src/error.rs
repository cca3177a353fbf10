//! The one error type of the storage engine.
//!
//! Operating errors (bad input bytes, a full disk, a missing directory, a torn
//! sealed segment) are variants here; programmer errors are assertions. Every
//! variant that comes from the file system names the path, so an operator can
//! act on the log line alone.

use std::io;
use std::path::PathBuf;

use crate::batch::BatchError;

/// Result alias used throughout `sluice-io`.
pub type Result<T> = std::result::Result<T, IoError>;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// A record batch handed to `append` failed validation. Nothing of the
    /// append was written.
    #[error("invalid record batch at byte {position} of the append: {source}")]
    InvalidBatch {
        position: usize,
        #[source]
        source: BatchError,
    },

    /// An append or index file would outgrow what the on-disk format can
    /// address (for example a segment over 4 GiB).
    #[error("{what}: {detail}")]
    Limit { what: &'static str, detail: String },

    /// The device has no space left. The partition refuses further appends
    /// until it is reopened, so nothing is half-written.
    #[error("disk full while {op} {path}")]
    DiskFull { op: &'static str, path: PathBuf },

    #[error("permission denied while {op} {path}")]
    PermissionDenied { op: &'static str, path: PathBuf },

    #[error("not found while {op} {path}")]
    NotFound { op: &'static str, path: PathBuf },

    /// Any other failed system call.
    #[error("I/O error while {op} {path}: {source}")]
    Os {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A write that reached the device only partly.
    #[error("short write while {op} {path}: {written} of {expected} bytes")]
    ShortWrite {
        op: &'static str,
        path: PathBuf,
        written: usize,
        expected: usize,
    },

    /// A sealed segment (not the tail, which recovery may truncate) does not
    /// hold valid batches. This needs an operator; it is never skipped.
    #[error("corrupt sealed segment {path} at byte {position}: {detail}")]
    CorruptSegment {
        path: PathBuf,
        position: u64,
        detail: String,
    },

    /// A read asked for an offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: u64,
        log_start_offset: u64,
        log_end_offset: u64,
    },

    /// An earlier write or sync failed, so the partition no longer knows what
    /// is on disk; it refuses appends until reopened (which runs recovery).
    #[error("partition {path} is failed after an earlier I/O error; reopen it to recover")]
    Fenced { path: PathBuf },

    /// The partition was closed.
    #[error("partition {path} is closed")]
    Closed { path: PathBuf },
}

impl IoError {
    /// Classifies an OS error for `op` on `path` into the typed variants.
    pub fn from_os(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => IoError::DiskFull { op, path },
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                IoError::PermissionDenied { op, path }
            }
            Some(libc::ENOENT) => IoError::NotFound { op, path },
            _ => match source.kind() {
                io::ErrorKind::NotFound => IoError::NotFound { op, path },
                io::ErrorKind::PermissionDenied => IoError::PermissionDenied { op, path },
                _ => IoError::Os { op, path, source },
            },
        }
    }

    /// True for errors after which the partition's on-disk state is unknown.
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            IoError::DiskFull { .. }
                | IoError::PermissionDenied { .. }
                | IoError::NotFound { .. }
                | IoError::Os { .. }
                | IoError::ShortWrite { .. }
        )
    }
}
