//! Fetch response framing written by hand around record chunks, so the
//! record bytes go from the storage engine's buffers to the socket uncopied.
//!
//! `kafka-protocol` encodes a whole `FetchResponse` into one buffer, which
//! would copy every record batch. Here every field around the records is
//! encoded into one framing buffer, and the response comes out as a list of
//! [`Segment`]s to write in order (a vectored write): framing bytes, then a
//! partition's record chunks as they came, then more framing.
//!
//! Wire layout (Fetch v0-17; `[v12+]` fields exist only from that version,
//! `{v4-12}` only in that range). Before v12, arrays and bytes carry an i32
//! length (-1 = null) and strings an i16 length; from v12 on ("flexible")
//! they carry an unsigned varint of length + 1 (0 = null), and every struct
//! ends in a tagged-field section, always empty here (a single 0 byte).
//!
//! ```text
//! size                 i32   bytes after this field
//! correlation_id       i32   response header v0 (Fetch v4-11) ...
//! header_tags          [v12+] ... or v1 (Fetch v12+): one empty tag section
//! throttle_time_ms     i32   [v1+]
//! error_code           i16   [v7+]
//! session_id           i32   [v7+]
//! responses            array
//!   topic              string {v4-12}
//!   topic_id           uuid   [v13+]
//!   partitions         array
//!     partition_index        i32
//!     error_code             i16
//!     high_watermark         i64
//!     last_stable_offset     i64   [v4+]
//!     log_start_offset       i64   [v5+]
//!     aborted_transactions   [v4+] nullable array of (producer_id i64, first_offset i64, [v12+] tags)
//!     preferred_read_replica i32   [v11+]
//!     records                nullable bytes: length, then the chunks back to back
//!     partition_tags         [v12+] empty: diverging_epoch, current_leader, snapshot_id omitted
//!   topic_tags         [v12+]
//! response_tags        [v12+] empty: node_endpoints (v16+) omitted
//! ```
//!
//! Omitted tagged fields: a tagged field that is absent means "default" to
//! every client, so leaving them out is a valid response. Sluice has nothing
//! to say in them yet: `diverging_epoch` and `snapshot_id` are replication
//! (KIP-595/KIP-630) answers to followers, and `current_leader` plus
//! `node_endpoints` (KIP-951) are leader-change hints that clients only use
//! to skip a Metadata round trip after NOT_LEADER_OR_FOLLOWER. Adding one
//! means writing its tag, size and struct before the section's count.
//!
//! Fields a version cannot carry follow Kafka's schema: `error_code` (before
//! v7) and `log_start_offset` (before v5) are dropped, as Kafka marks them
//! ignorable; a `session_id` other than 0 before v7 or a
//! `preferred_read_replica` other than -1 before v11 is an error, as in Kafka.
//!
//! No I/O and no shard state: a pure function of its input, run on the shard
//! that owns the connection.

use bytes::{BufMut, Bytes, BytesMut};

/// Lowest Fetch version encoded here (Kafka 4.0 dropped v0-3; Kafka 3.9
/// and Sluice serve them to old consumers).
pub const FETCH_VERSION_MIN: i16 = 0;
/// Highest Fetch version encoded here (what Kafka 4.0 advertises).
pub const FETCH_VERSION_MAX: i16 = 17;

/// First version with throttle_time_ms.
const THROTTLE_VERSION_MIN: i16 = 1;
/// First version with last_stable_offset and aborted_transactions.
const TRANSACTIONS_VERSION_MIN: i16 = 4;
/// First version with log_start_offset.
const LOG_START_OFFSET_VERSION_MIN: i16 = 5;
/// First version with the top-level error_code and session_id.
const SESSION_VERSION_MIN: i16 = 7;
/// First version with preferred_read_replica.
const PREFERRED_READ_REPLICA_VERSION_MIN: i16 = 11;
/// First flexible version: compact lengths, tagged fields, header v1.
const FLEXIBLE_VERSION_MIN: i16 = 12;
/// First version naming topics by id instead of by name.
const TOPIC_ID_VERSION_MIN: i16 = 13;

/// A response is framed by an i32 size, so it can hold at most this many
/// bytes after the size field. Every length inside it is bounded by this too.
pub const FETCH_RESPONSE_BYTES_MAX: usize = i32::MAX as usize;
/// Kafka serializes no string longer than this (its generated code checks
/// 0x7fff for compact strings too), whatever the length encoding allows.
const STRING_BYTES_MAX: usize = i16::MAX as usize;

const _: () = assert!(FETCH_VERSION_MIN <= FLEXIBLE_VERSION_MIN);
const _: () = assert!(FLEXIBLE_VERSION_MIN < TOPIC_ID_VERSION_MIN);
const _: () = assert!(TOPIC_ID_VERSION_MIN <= FETCH_VERSION_MAX);

/// One aborted transaction in a partition's read range (for read_committed
/// consumers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// One partition's part of a Fetch response.
///
/// The tagged fields `diverging_epoch`, `current_leader` and `snapshot_id`
/// (v12+) are not modelled and never sent (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPartition<R> {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// v5+; dropped in v4.
    pub log_start_offset: i64,
    /// `None` is sent as a null array, `Some(vec![])` as an empty one.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// v11+; -1 (no preferred replica) is the only value older versions take.
    pub preferred_read_replica: i32,
    /// Record chunks, sent back to back as the partition's records field,
    /// whose length is their total length. An empty list is sent as empty,
    /// non-null records, which is what Kafka sends for "no data"
    /// (`MemoryRecords.EMPTY`).
    pub records: Vec<R>,
}

/// One topic's part of a Fetch response.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchTopic<R> {
    /// Sent in v4-12.
    pub name: String,
    /// Sent in v13+.
    pub topic_id: uuid::Uuid,
    pub partitions: Vec<FetchPartition<R>>,
}

/// The body of a Fetch response. The v16+ tagged field `node_endpoints` is
/// not modelled and never sent (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchResponseModel<R> {
    pub throttle_time_ms: i32,
    /// v7+; dropped before.
    pub error_code: i16,
    /// v7+; 0 (no session) is the only value older versions take.
    pub session_id: i32,
    /// The `responses` array.
    pub topics: Vec<FetchTopic<R>>,
}

/// A piece of the response as written to the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment<R> {
    /// Encoded fields. All framing segments of one response are slices of a
    /// single allocation.
    Framing(Bytes),
    /// One record chunk, moved here untouched from the model.
    Records(R),
}

impl<R: AsRef<[u8]>> AsRef<[u8]> for Segment<R> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Segment::Framing(bytes) => bytes,
            Segment::Records(chunk) => chunk.as_ref(),
        }
    }
}

/// Total bytes of the segments, size prefix included (for tests, metrics
/// and write accounting).
pub fn segments_len<R: AsRef<[u8]>>(segments: &[Segment<R>]) -> usize {
    segments.iter().map(|segment| segment.as_ref().len()).sum()
}

/// Why a response could not be encoded. Every variant is a handler bug or a
/// response over the protocol's limits, never a client's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchEncodeError {
    #[error(
        "Fetch version {0} is not supported (supported: {FETCH_VERSION_MIN}-{FETCH_VERSION_MAX})"
    )]
    UnsupportedVersion(i16),
    #[error("Fetch v{version} cannot carry {field} = {value}")]
    FieldNotInVersion {
        field: &'static str,
        value: i64,
        version: i16,
    },
    #[error("{what} is too large to encode ({len} bytes or items, at most {max})")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

/// The whole Fetch response as written to the socket: the 4-byte size
/// prefix, the response header for `version` (header v0 for Fetch v4-11, v1
/// with an empty tagged-field section for v12+), then the body.
///
/// Consecutive framing bytes are merged into one `Segment::Framing`; each
/// non-empty record chunk becomes its own `Segment::Records`, in model
/// order, moved and never read except for its length. Empty chunks add no
/// bytes and are dropped rather than handed to the socket as empty slices.
///
/// # Errors
/// `UnsupportedVersion` outside Fetch v4-17; `FieldNotInVersion` for a
/// `session_id` or `preferred_read_replica` the version cannot carry;
/// `TooLarge` for a topic name over 32767 bytes (v4-12) or records or a
/// whole response over `i32::MAX` bytes. On error the chunks are dropped.
pub fn encode_fetch_response<R: AsRef<[u8]>>(
    correlation_id: i32,
    version: i16,
    response: FetchResponseModel<R>,
) -> Result<Vec<Segment<R>>, FetchEncodeError> {
    if !(FETCH_VERSION_MIN..=FETCH_VERSION_MAX).contains(&version) {
        return Err(FetchEncodeError::UnsupportedVersion(version));
    }
    check_version_fields(version, &response)?;

    let mut writer = FramingWriter::new(version, framing_bytes_max(&response));
    // Patched once the whole length is known.
    writer.framing.put_i32(0);
    writer.framing.put_i32(correlation_id);
    writer.tags_none();

    if version >= THROTTLE_VERSION_MIN {
        writer.framing.put_i32(response.throttle_time_ms);
    }
    if version >= SESSION_VERSION_MIN {
        writer.framing.put_i16(response.error_code);
        writer.framing.put_i32(response.session_id);
    }
    writer.array_len(Some(response.topics.len()), "topics array")?;
    for topic in response.topics {
        writer.topic(topic)?;
    }
    writer.tags_none();
    writer.finish()
}

/// Kafka rejects non-default values of non-ignorable fields that the
/// version lacks; so do we, before doing any work.
fn check_version_fields<R>(
    version: i16,
    response: &FetchResponseModel<R>,
) -> Result<(), FetchEncodeError> {
    if version < SESSION_VERSION_MIN && response.session_id != 0 {
        return Err(FetchEncodeError::FieldNotInVersion {
            field: "session_id",
            value: response.session_id.into(),
            version,
        });
    }
    if version < PREFERRED_READ_REPLICA_VERSION_MIN {
        let partitions = response.topics.iter().flat_map(|t| &t.partitions);
        for partition in partitions {
            if partition.preferred_read_replica != -1 {
                return Err(FetchEncodeError::FieldNotInVersion {
                    field: "preferred_read_replica",
                    value: partition.preferred_read_replica.into(),
                    version,
                });
            }
        }
    }
    Ok(())
}

/// An upper bound on the framing bytes of `response` in any version, so
/// the framing buffer is allocated once.
fn framing_bytes_max<R>(response: &FetchResponseModel<R>) -> usize {
    // Lengths are at most 5 bytes as varints and 4 as i32; tag sections 1.
    const HEAD: usize = 4 + 4 + 1 + 4 + 2 + 4 + 5 + 1;
    const TOPIC: usize = 5 + 16 + 5 + 1;
    const PARTITION: usize = 4 + 2 + 8 + 8 + 8 + 5 + 4 + 5 + 1;
    const ABORTED_TRANSACTION: usize = 8 + 8 + 1;
    let mut total = HEAD;
    for topic in &response.topics {
        total = total.saturating_add(TOPIC + topic.name.len());
        for partition in &topic.partitions {
            let aborted = partition.aborted_transactions.as_ref().map_or(0, Vec::len);
            total = total
                .saturating_add(PARTITION)
                .saturating_add(aborted.saturating_mul(ABORTED_TRANSACTION));
        }
    }
    total.min(FETCH_RESPONSE_BYTES_MAX)
}

/// Builds one response: framing goes into one buffer, and each record chunk
/// is remembered with the framing offset it follows, so the buffer can be
/// frozen once and sliced around the chunks at the end.
struct FramingWriter<R> {
    version: i16,
    framing: BytesMut,
    /// Each chunk with the length `framing` had when the chunk came.
    chunks: Vec<(usize, R)>,
    records_bytes: usize,
}

impl<R: AsRef<[u8]>> FramingWriter<R> {
    fn new(version: i16, framing_capacity: usize) -> Self {
        FramingWriter {
            version,
            framing: BytesMut::with_capacity(framing_capacity),
            chunks: Vec::new(),
            records_bytes: 0,
        }
    }

    fn flexible(&self) -> bool {
        self.version >= FLEXIBLE_VERSION_MIN
    }

    fn topic(&mut self, topic: FetchTopic<R>) -> Result<(), FetchEncodeError> {
        if self.version < TOPIC_ID_VERSION_MIN {
            self.string(&topic.name, "topic name")?;
        } else {
            self.framing.put_slice(topic.topic_id.as_bytes());
        }
        self.array_len(Some(topic.partitions.len()), "partitions array")?;
        for partition in topic.partitions {
            self.partition(partition)?;
        }
        self.tags_none();
        Ok(())
    }

    fn partition(&mut self, partition: FetchPartition<R>) -> Result<(), FetchEncodeError> {
        let framing = &mut self.framing;
        framing.put_i32(partition.partition_index);
        framing.put_i16(partition.error_code);
        framing.put_i64(partition.high_watermark);
        if self.version >= TRANSACTIONS_VERSION_MIN {
            framing.put_i64(partition.last_stable_offset);
        }
        if self.version >= LOG_START_OFFSET_VERSION_MIN {
            self.framing.put_i64(partition.log_start_offset);
        }
        if self.version >= TRANSACTIONS_VERSION_MIN {
            let aborted = partition.aborted_transactions.as_deref();
            self.array_len(aborted.map(<[_]>::len), "aborted transactions array")?;
            for transaction in aborted.unwrap_or_default() {
                self.framing.put_i64(transaction.producer_id);
                self.framing.put_i64(transaction.first_offset);
                self.tags_none();
            }
        }
        if self.version >= PREFERRED_READ_REPLICA_VERSION_MIN {
            self.framing.put_i32(partition.preferred_read_replica);
        }
        self.records(partition.records)?;
        self.tags_none();
        Ok(())
    }

    /// The records field: its length from the chunks, then the chunks
    /// themselves, set aside to be interleaved with the framing.
    fn records(&mut self, records: Vec<R>) -> Result<(), FetchEncodeError> {
        let len = records.iter().fold(0usize, |sum, chunk| {
            sum.saturating_add(chunk.as_ref().len())
        });
        self.bytes_len(len, "partition records")?;
        self.records_bytes = self.records_bytes.saturating_add(len);
        let at = self.framing.len();
        self.chunks.extend(
            records
                .into_iter()
                .filter(|chunk| !chunk.as_ref().is_empty())
                .map(|chunk| (at, chunk)),
        );
        Ok(())
    }

    /// An array's length; `None` is a null array.
    fn array_len(
        &mut self,
        len: Option<usize>,
        what: &'static str,
    ) -> Result<(), FetchEncodeError> {
        self.nullable_len(len, what)
    }

    /// A non-null bytes field's length.
    fn bytes_len(&mut self, len: usize, what: &'static str) -> Result<(), FetchEncodeError> {
        self.nullable_len(Some(len), what)
    }

    /// Arrays and bytes share their length encoding: i32 (-1 = null) before
    /// v12, unsigned varint of length + 1 (0 = null) from v12 on.
    fn nullable_len(
        &mut self,
        len: Option<usize>,
        what: &'static str,
    ) -> Result<(), FetchEncodeError> {
        let len = match len {
            Some(len) => Some(checked_len(len, FETCH_RESPONSE_BYTES_MAX, what)?),
            None => None,
        };
        if self.flexible() {
            // Lengths are at most i32::MAX, so length + 1 fits a u32.
            put_unsigned_varint(&mut self.framing, len.map_or(0, |len| len + 1));
        } else {
            let len = len.map_or(-1, |len| {
                i32::try_from(len).expect("checked against i32::MAX")
            });
            self.framing.put_i32(len);
        }
        Ok(())
    }

    /// A non-null string: i16 length before v12, varint length + 1 after.
    fn string(&mut self, value: &str, what: &'static str) -> Result<(), FetchEncodeError> {
        let len = checked_len(value.len(), STRING_BYTES_MAX, what)?;
        if self.flexible() {
            put_unsigned_varint(&mut self.framing, len + 1);
        } else {
            let len = i16::try_from(len).expect("checked against i16::MAX");
            self.framing.put_i16(len);
        }
        self.framing.put_slice(value.as_bytes());
        Ok(())
    }

    /// An empty tagged-field section (flexible versions only).
    fn tags_none(&mut self) {
        if self.flexible() {
            self.framing.put_u8(0);
        }
    }

    /// Patches the size prefix and cuts the framing around the chunks.
    fn finish(mut self) -> Result<Vec<Segment<R>>, FetchEncodeError> {
        let framing_len = self.framing.len();
        let size = (framing_len - 4).saturating_add(self.records_bytes);
        let size = checked_len(size, FETCH_RESPONSE_BYTES_MAX, "response")?;
        self.framing[..4].copy_from_slice(&size.to_be_bytes());

        let framing = self.framing.freeze();
        let mut segments = Vec::with_capacity(2 * self.chunks.len() + 1);
        let mut framing_start = 0;
        for (at, chunk) in self.chunks {
            if at > framing_start {
                segments.push(Segment::Framing(framing.slice(framing_start..at)));
                framing_start = at;
            }
            segments.push(Segment::Records(chunk));
        }
        if framing_len > framing_start {
            segments.push(Segment::Framing(framing.slice(framing_start..)));
        }
        Ok(segments)
    }
}

/// `len` as a `u32` if it is at most `max` (itself at most `i32::MAX`).
fn checked_len(len: usize, max: usize, what: &'static str) -> Result<u32, FetchEncodeError> {
    debug_assert!(max <= FETCH_RESPONSE_BYTES_MAX);
    if len > max {
        return Err(FetchEncodeError::TooLarge { what, len, max });
    }
    Ok(u32::try_from(len).expect("max is at most i32::MAX"))
}

/// LEB128: seven bits a byte, low bits first, high bit set on all but the last.
fn put_unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

#[cfg(test)]
mod tests;
