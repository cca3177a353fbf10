//! Message formats v0 and v1 (Kafka before 0.11), for the clients that
//! still speak them: Produce v0-2 and Fetch v0-3.
//!
//! The log stores only v2 batches. A v0/v1 message set a producer sends is
//! validated and converted to one v2 batch ([`up_convert::to_v2`]); stored
//! batches are converted back for consumers that read only v0/v1
//! ([`down_convert::down_convert`]). Kafka 3.x does the same: with
//! `message.format.version` at 3.0 or later every append is v2, and old
//! consumers are served by down-conversion.
//!
//! ```text
//! v0/v1 message set                     v2 record batch (crate::batch)
//! ┌─────────────────────────────┐       ┌──────────────────────────────┐
//! │ offset i64 │ size i32        │       │ 61-byte header, CRC-32C       │
//! │ crc u32 (CRC-32, magic..end) │  ──►  │ record: varint deltas, key,   │
//! │ magic │ attributes │ [ts]    │  ◄──  │   value, headers              │
//! │ key i32+bytes │ value i32+b  │       │ record ...                    │
//! ├─────────────────────────────┤       └──────────────────────────────┘
//! │ next message ...             │
//! └─────────────────────────────┘
//! ```
//!
//! | file | what |
//! |---|---|
//! | `message.rs` | one message: parse, CRC-32, write |
//! | `wrapper.rs` | compressed message sets: inflate (bounded), inner offsets and timestamps, compress |
//! | `lz4_framing.rs` | the old LZ4 header checksum of v0 (KAFKA-3160, KIP-57) |
//! | `up_convert.rs` | produced v0/v1 → one v2 batch, with Kafka's validation |
//! | `down_convert.rs` | stored v2 → v0/v1 for old consumers |

pub mod down_convert;
pub mod lz4_framing;
pub mod message;
pub mod up_convert;
pub mod wrapper;

pub use down_convert::{down_convert, DownConvertError, DownConvertOptions, DownConverted};
pub use up_convert::{to_v2, UpConverted};

/// Message format v0 (Kafka 0.8-0.9): no timestamps, absolute inner offsets.
pub const MAGIC_V0: u8 = 0;
/// Message format v1 (Kafka 0.10, KIP-31/32): timestamps, relative inner
/// offsets.
pub const MAGIC_V1: u8 = 1;
/// Attributes bits 0-2: the codec, numbered as in v2.
pub const ATTRIBUTE_CODEC_MASK: u8 = 0x07;
/// Attributes bit 3 (v1): the timestamp is the broker's append time.
pub const ATTRIBUTE_LOG_APPEND_TIME: u8 = 0x08;

/// The magic byte of the first batch or message in `records`: at byte 16
/// in both formats (after offset, length and, for v2, the leader epoch; for
/// v0/v1, the CRC). `None` if there are fewer bytes.
pub fn magic_of(records: &[u8]) -> Option<u8> {
    records.get(16).copied()
}
