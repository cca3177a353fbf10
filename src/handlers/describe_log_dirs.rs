//! DescribeLogDirs (key 35), v1-4: the broker's log directory (Sluice has
//! one, `log.dirs`), and in it every replica this broker holds, leading or
//! following, on any shard: its size in bytes and how far its log end is
//! behind its high watermark (`offset_lag`). `topics` null asks for every
//! replica; named partitions this broker does not hold are left out, as
//! Kafka leaves them out. v4 adds the directory's total and usable bytes
//! (statvfs). There are no future replicas (no AlterReplicaLogDirs), so
//! `is_future_key` is always false.

use std::rc::Rc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::shard::ShardState;
use crate::cluster::TopicPartition;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: DescribeLogDirsRequest,
) -> Result<Reply, HandlerError> {
    let wanted: Option<Vec<TopicPartition>> = request.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|topic| {
                let name: std::sync::Arc<str> = topic.topic.as_str().into();
                topic
                    .partitions
                    .iter()
                    .map(move |&p| TopicPartition::new(name.clone(), p))
            })
            .collect()
    });
    let dir = &shard.config().log_dir;
    let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(shown.display().to_string()))
        .with_total_bytes(-1)
        .with_usable_bytes(-1);
    match frontend::partitions::replica_sizes(shard, wanted).await {
        Ok(sizes) => {
            let mut topics: Vec<DescribeLogDirsTopic> = Vec::new();
            for size in sizes {
                let partition = DescribeLogDirsPartition::default()
                    .with_partition_index(size.partition.partition)
                    .with_partition_size(i64::try_from(size.size_bytes).unwrap_or(i64::MAX))
                    .with_offset_lag(size.offset_lag);
                let name = &*size.partition.topic;
                match topics.last_mut() {
                    Some(topic) if topic.name.as_str() == name => topic.partitions.push(partition),
                    _ => topics.push(
                        DescribeLogDirsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(name.to_string())))
                            .with_partitions(vec![partition]),
                    ),
                }
            }
            result = result.with_topics(topics);
        }
        Err(error) => {
            tracing::warn!(%error, "DescribeLogDirs: a shard did not answer");
            result = result.with_error_code(ResponseError::KafkaStorageError.code());
        }
    }
    if version >= 4 {
        match rustix::fs::statvfs(dir.as_path()) {
            Ok(stat) => {
                let block = stat.f_frsize;
                let bytes =
                    |blocks: u64| i64::try_from(blocks.saturating_mul(block)).unwrap_or(i64::MAX);
                result = result
                    .with_total_bytes(bytes(stat.f_blocks))
                    .with_usable_bytes(bytes(stat.f_bavail));
            }
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "statvfs on the log directory")
            }
        }
    }
    let response = DescribeLogDirsResponse::default().with_results(vec![result]);
    encode(
        ApiKey::DescribeLogDirs,
        version,
        header.correlation_id,
        &response,
    )
}
