//! Fetch (key 1), v0-17: consumers reading partitions.
//!
//! Partitions this shard owns are read in place: the response carries the
//! log's own buffers ([`FetchRecords::Local`]) and the framing is encoded
//! around them, so no record byte is copied. Partitions of other shards are
//! read there and copied once into the mesh answer. Limits follow Kafka:
//! `partition_max_bytes` per partition, `max_bytes` for the whole response
//! (each partition is read with at most that many bytes, and a partition
//! read after the budget is spent keeps only the whole batches that fit),
//! and the first batch of the first non-empty partition whole even if
//! larger (KIP-74), so a client's `receive.message.max.bytes` holds. When fewer than `min_bytes` are available the request waits,
//! up to `max_wait_ms`, for an append to any of its partitions. No fetch
//! sessions are created (session id 0), so clients send full requests.
//!
//! v0-3 (consumers of Kafka 0.8-0.10) read message formats v0 (v0-1) and
//! v1 (v2-3): the stored v2 batches are down-converted
//! (`sluice_io::legacy::down_convert`), which copies them, so these
//! versions are not zero-copy; zstd batches cannot be converted and get
//! `UNSUPPORTED_COMPRESSION_TYPE`, as in Kafka.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_io::{batch, legacy};

use kafka_protocol::messages::{ApiKey, FetchRequest, RequestHeader};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::frontend::partitions::{FetchRecords, PartitionRead};
use crate::broker::messages::ReadPart;
use crate::broker::shard::ShardState;
use crate::cluster::TopicPartition;
use crate::partition::validation::INFLATED_BYTES_MIN;
use crate::protocol::fetch_encoding::{
    encode_fetch_response, FetchPartition, FetchResponseModel, FetchTopic,
};

/// One requested partition and what was found for it.
struct Wanted {
    topic_index: usize,
    partition: i32,
    /// `None` when the topic or partition is unknown (error set below).
    target: Option<TopicPartition>,
    unknown_error: ResponseError,
    offset: i64,
    max_bytes: usize,
    /// The leader epoch the fetcher believes in (v9+), -1 if unknown.
    current_leader_epoch: i32,
    result: Option<PartitionRead>,
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: FetchRequest,
) -> Result<Reply, HandlerError> {
    let table = shard.topics();
    let mut topics: Vec<(String, Uuid)> = Vec::new();
    let mut wanted: Vec<Wanted> = Vec::new();
    for topic in &request.topics {
        let info = if version >= 13 {
            table.get_by_id(&topic.topic_id)
        } else {
            table.get(topic.topic.as_str())
        };
        let unknown_error = if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        topics.push((
            info.map_or_else(|| topic.topic.as_str().to_string(), |i| i.name.to_string()),
            topic.topic_id,
        ));
        for partition in &topic.partitions {
            let target = info
                .filter(|i| (0..i.partitions).contains(&partition.partition))
                .map(|i| TopicPartition::new(i.name.clone(), partition.partition));
            let unknown_error = if info.is_some() {
                ResponseError::UnknownTopicOrPartition
            } else {
                unknown_error
            };
            wanted.push(Wanted {
                topic_index: topics.len() - 1,
                partition: partition.partition,
                target,
                unknown_error,
                offset: partition.fetch_offset,
                // No partition may bring more than the whole response may
                // hold (KIP-74): the response budget caps each read.
                max_bytes: (partition.partition_max_bytes.max(0) as usize)
                    .min(request.max_bytes.max(0) as usize),
                current_leader_epoch: partition.current_leader_epoch,
                result: None,
            });
        }
    }

    // A follower names itself (replica_id before v15, replica_state from
    // v15): it reads up to the log end and its offset is its log end.
    let replica_id = if version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    let max_bytes = request.max_bytes.max(0) as usize;
    let min_bytes = request.min_bytes.max(0) as usize;
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    loop {
        read_all(shard, &mut wanted, replica_id).await;
        let total = apply_response_limit(&mut wanted, max_bytes);
        let now = Instant::now();
        let any_error = wanted
            .iter()
            .any(|w| w.result.as_ref().is_some_and(|r| r.error_code != 0));
        if total >= min_bytes.max(1) || any_error || now >= deadline {
            break;
        }
        // A long poll ends early at shutdown, so connections drain at once.
        let shutdown = shard.context().shutdown_signal();
        futures::future::select(
            Box::pin(wait_for_data(shard, &wanted, deadline - now)),
            Box::pin(shutdown.requested()),
        )
        .await;
        if Instant::now() >= deadline || shutdown.is_requested() {
            read_all(shard, &mut wanted, replica_id).await;
            apply_response_limit(&mut wanted, max_bytes);
            break;
        }
    }

    if version <= LAST_OLD_FORMAT_VERSION {
        for entry in &mut wanted {
            if let Some(result) = entry.result.as_mut() {
                down_convert(result, version, entry.offset, entry.max_bytes);
            }
        }
    }

    let mut model = FetchResponseModel {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        topics: topics
            .into_iter()
            .map(|(name, topic_id)| FetchTopic {
                name,
                topic_id,
                partitions: Vec::new(),
            })
            .collect(),
    };
    for entry in wanted {
        let result = entry.result.expect("read_all fills every entry");
        model.topics[entry.topic_index]
            .partitions
            .push(FetchPartition {
                partition_index: entry.partition,
                error_code: result.error_code,
                high_watermark: result.high_watermark,
                last_stable_offset: result.high_watermark,
                log_start_offset: result.log_start_offset,
                aborted_transactions: None,
                preferred_read_replica: -1,
                records: result.records,
            });
    }
    let segments = encode_fetch_response(header.correlation_id, version, model).map_err(|e| {
        HandlerError::Encode {
            api: ApiKey::Fetch,
            version,
            detail: e.to_string(),
        }
    })?;
    Ok(Reply::Segments(segments))
}

/// Reads every wanted partition through the frontend: in place on this
/// shard, one mesh request per other owning shard.
async fn read_all(shard: &Rc<ShardState>, wanted: &mut [Wanted], replica_id: i32) {
    let mut parts = Vec::new();
    for (index, entry) in wanted.iter_mut().enumerate() {
        match &entry.target {
            Some(target) => parts.push((
                index,
                ReadPart {
                    partition: target.clone(),
                    offset: entry.offset,
                    max_bytes: entry.max_bytes,
                    min_one_batch: true,
                    replica_id,
                    current_leader_epoch: entry.current_leader_epoch,
                },
            )),
            None => entry.result = Some(PartitionRead::failed(entry.unknown_error.code())),
        }
    }
    for (index, read) in frontend::partitions::read(shard, parts).await {
        wanted[index].result = Some(read);
    }
}

/// Keeps records in request order while they fit `max_bytes`: the first
/// non-empty partition whole (its read was capped at `max_bytes`, or is one
/// larger batch: KIP-74's exception), each later one cut to the whole
/// batches that fit what is left. What is cut the client fetches again.
/// Returns the bytes kept.
fn apply_response_limit(wanted: &mut [Wanted], max_bytes: usize) -> usize {
    let mut total = 0;
    for entry in wanted.iter_mut() {
        let Some(result) = entry.result.as_mut() else {
            continue;
        };
        if result.bytes == 0 {
            continue;
        }
        if total > 0 && total + result.bytes > max_bytes {
            result.bytes =
                keep_batches_within(&mut result.records, max_bytes.saturating_sub(total));
        }
        total += result.bytes;
    }
    total
}

/// Cuts `records` (whole record batches, as the log reads them) to the
/// longest run of whole batches within `budget` bytes; returns its size.
fn keep_batches_within(records: &mut Vec<FetchRecords>, budget: usize) -> usize {
    let mut kept = Vec::new();
    let mut used = 0;
    'chunks: for chunk in records.drain(..) {
        let bytes = chunk.as_ref();
        let mut end = 0;
        while let Some(size) = whole_batch_at(bytes, end) {
            if used + size > budget {
                if end > 0 {
                    kept.push(chunk.prefix(end));
                }
                break 'chunks;
            }
            used += size;
            end += size;
        }
        if end > 0 {
            kept.push(chunk.prefix(end));
        }
        if end < bytes.len() {
            break;
        }
    }
    *records = kept;
    used
}

/// The size of the whole record batch starting at `position` (its 12-byte
/// offset and length prefix included), `None` past the end or where the
/// bytes do not hold a whole batch (the log only reads whole ones).
fn whole_batch_at(bytes: &[u8], position: usize) -> Option<usize> {
    let size = batch::total_bytes_from_prefix(bytes.get(position..)?)?;
    (position + size <= bytes.len()).then_some(size)
}

/// The last Fetch version whose consumers read only message formats v0/v1.
const LAST_OLD_FORMAT_VERSION: i16 = 3;

/// Replaces a partition's v2 batches with the message set a Fetch v0-3
/// consumer reads: magic 0 for v0-1, magic 1 for v2-3, from `offset` on.
fn down_convert(result: &mut PartitionRead, version: i16, offset: i64, max_bytes: usize) {
    if result.bytes == 0 {
        return;
    }
    // One chunk (the usual case) converts in place; several are joined.
    let stored: std::borrow::Cow<[u8]> = match result.records.as_slice() {
        [one] => one.as_ref().into(),
        chunks => chunks
            .iter()
            .flat_map(|c| c.as_ref().iter().copied())
            .collect::<Vec<u8>>()
            .into(),
    };
    let options = legacy::DownConvertOptions {
        magic: if version >= 2 { 1 } else { 0 },
        first_offset: offset,
        inflated_bytes_max: INFLATED_BYTES_MIN,
        output_bytes_max: max_bytes,
    };
    match legacy::down_convert(&stored, &options) {
        Ok(converted) => {
            result.bytes = converted.bytes.len();
            result.records = vec![FetchRecords::Remote(Bytes::from(converted.bytes))];
        }
        Err(error) => {
            tracing::debug!(%error, "down-conversion refused");
            result.error_code = ResponseError::UnsupportedCompressionType.code();
            result.records.clear();
            result.bytes = 0;
        }
    }
}

/// Waits until any wanted partition gets an append, or `timeout`.
async fn wait_for_data(shard: &Rc<ShardState>, wanted: &[Wanted], timeout: Duration) {
    let parts = wanted.iter().filter_map(|w| w.target.clone()).collect();
    frontend::partitions::wait_for_data(shard, parts, timeout).await;
}

#[cfg(test)]
mod tests {

    use super::*;

    /// A fake batch of `size` bytes: only the length prefix matters here.
    fn batch(size: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; size];
        bytes[8..12].copy_from_slice(&((size - 12) as i32).to_be_bytes());
        bytes
    }

    fn remote(batches: &[usize]) -> FetchRecords {
        FetchRecords::Remote(Bytes::from(
            batches.iter().flat_map(|s| batch(*s)).collect::<Vec<_>>(),
        ))
    }

    fn sizes(records: &[FetchRecords]) -> Vec<usize> {
        records.iter().map(|r| r.as_ref().len()).collect()
    }

    #[test]
    fn keeps_the_whole_batches_that_fit() {
        let mut records = vec![remote(&[100, 200]), remote(&[70, 80])];
        assert_eq!(keep_batches_within(&mut records, 390), 370);
        assert_eq!(sizes(&records), vec![300, 70]);

        let mut records = vec![remote(&[100, 200])];
        assert_eq!(keep_batches_within(&mut records, 99), 0);
        assert!(records.is_empty());

        let mut records = vec![remote(&[100])];
        assert_eq!(keep_batches_within(&mut records, 1000), 100);
        assert_eq!(sizes(&records), vec![100]);
    }

    #[test]
    fn a_length_past_the_end_or_negative_ends_the_walk() {
        let mut bytes = batch(100);
        bytes.extend_from_slice(&batch(100)[..30]);
        assert_eq!(whole_batch_at(&bytes, 0), Some(100));
        assert_eq!(whole_batch_at(&bytes, 100), None);
        let mut negative = batch(100);
        negative[8..12].copy_from_slice(&(-20i32).to_be_bytes());
        assert_eq!(whole_batch_at(&negative, 0), None);
        let mut records = vec![FetchRecords::Remote(Bytes::from(bytes))];
        assert_eq!(keep_batches_within(&mut records, 1000), 100);
    }
}
