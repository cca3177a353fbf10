//! Kafka error codes for what goes wrong below the protocol, mapped in one
//! place.

use kafka_protocol::ResponseError;
use sluice_io::IoError;

/// No error.
pub const NONE: i16 = 0;

/// The Kafka error a storage failure becomes, for a partition-level answer.
pub fn from_io(error: &IoError) -> ResponseError {
    match error {
        IoError::InvalidBatch { .. } => ResponseError::CorruptMessage,
        IoError::Limit { .. } => ResponseError::RecordListTooLarge,
        IoError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        IoError::DiskFull { .. }
        | IoError::PermissionDenied { .. }
        | IoError::NotFound { .. }
        | IoError::Os { .. }
        | IoError::ShortWrite { .. }
        | IoError::CorruptSegment { .. }
        | IoError::Fenced { .. } => ResponseError::KafkaStorageError,
        // A partition closes when its topic is deleted or the broker stops.
        IoError::Closed { .. } => ResponseError::UnknownTopicOrPartition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_io::batch::BatchError;

    #[test]
    fn codes_are_kafkas() {
        let corrupt = IoError::InvalidBatch {
            position: 0,
            source: BatchError::BadMagic(1),
        };
        assert_eq!(from_io(&corrupt).code(), 2);
        let full = IoError::DiskFull {
            op: "writing",
            path: "/x".into(),
        };
        assert_eq!(from_io(&full).code(), 56);
    }
}
