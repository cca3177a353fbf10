//! Sluice's storage engine (placeholder doc, rewritten when the log lands).

pub mod batch;
pub mod error;
pub mod index;
pub mod storage;

pub use error::{IoError, Result};
