//! Sluice's storage engine (crate doc written with the benchmark results).

pub mod batch;
pub mod config;
pub mod error;
pub mod index;
pub mod log;
pub mod storage;

pub use config::{FlushPolicy, LogConfig};
pub use error::{IoError, Result};
pub use log::retention::Retention;
pub use log::{AppendInfo, AppendTime, LogRead, LogStats, PartitionLog};
