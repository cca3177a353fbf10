//! The one error type of the harness.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// librdkafka refused a configuration or an operation.
    #[error("{context}: {source}")]
    Kafka {
        context: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("{context} ({path}): {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Bad arguments or a workload the broker cannot serve as asked.
    #[error("{0}")]
    Usage(String),
}

impl BenchError {
    pub fn kafka(
        context: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> BenchError {
        let context = context.into();
        move |source| BenchError::Kafka { context, source }
    }

    pub fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io {
            context,
            path,
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, BenchError>;
