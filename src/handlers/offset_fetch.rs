//! OffsetFetch (key 9), v1-9 (Kafka 4.0 dropped v0).
//!
//! - v1-7: one group; `topics` null (v2+) means every committed partition.
//!   v1 has no top-level error, so a group error goes on every partition.
//! - v8+: several groups in one request, each answered separately (each
//!   from its own shard, concurrently).
//! - A group or partition without a committed offset answers offset -1
//!   with no error, as Kafka does. `require_stable` (v7+) waits for
//!   pending transactional offsets; there are none without transactions.

use std::rc::Rc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, TopicName,
};
use kafka_protocol::ResponseError;

use super::group_support::{route, str_bytes, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{FetchedOffsets, GroupCall, GroupReply};

type TopicQuery = Option<Vec<(String, Vec<i32>)>>;

async fn fetch(shard: &ShardState, group_id: String, topics: TopicQuery) -> FetchedOffsets {
    let call = GroupCall::FetchOffsets {
        group_id: group_id.clone(),
        topics,
    };
    match route(shard, &group_id, call).await {
        Ok(GroupReply::FetchOffsets(fetched)) => fetched,
        Ok(_) => FetchedOffsets {
            error: ResponseError::UnknownServerError.code(),
            topics: Vec::new(),
        },
        Err(error) => FetchedOffsets {
            error,
            topics: Vec::new(),
        },
    }
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: OffsetFetchRequest,
) -> Result<Reply, HandlerError> {
    let mut response = OffsetFetchResponse::default();
    if version >= 8 {
        let queries = request.groups.iter().map(|group| {
            let topics: TopicQuery = group.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|t| (text(&t.name), t.partition_indexes.clone()))
                    .collect()
            });
            fetch(shard, text(&group.group_id), topics)
        });
        let answers = futures::future::join_all(queries).await;
        response.groups = request
            .groups
            .iter()
            .zip(answers)
            .map(|(group, fetched)| {
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id.clone())
                    .with_error_code(fetched.error)
                    .with_topics(
                        fetched
                            .topics
                            .into_iter()
                            .map(|(name, parts)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(str_bytes(name)))
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|p| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p.partition)
                                                    .with_committed_offset(p.offset)
                                                    .with_committed_leader_epoch(p.leader_epoch)
                                                    .with_metadata(p.metadata.map(str_bytes))
                                                    .with_error_code(p.error)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            })
            .collect();
    } else {
        let topics: TopicQuery = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| (text(&t.name), t.partition_indexes.clone()))
                .collect()
        });
        let requested = topics.clone();
        let mut fetched = fetch(shard, text(&request.group_id), topics).await;
        if fetched.error != 0 && version < 2 {
            // No top-level error field before v2: report it per partition.
            let error = fetched.error;
            fetched.topics = requested
                .unwrap_or_default()
                .into_iter()
                .map(|(name, parts)| {
                    let parts = parts
                        .into_iter()
                        .map(|p| crate::coordinator::calls::FetchedOffset {
                            partition: p,
                            offset: -1,
                            leader_epoch: -1,
                            metadata: Some(String::new()),
                            error,
                        })
                        .collect();
                    (name, parts)
                })
                .collect();
        }
        response.error_code = fetched.error;
        response.topics = fetched
            .topics
            .into_iter()
            .map(|(name, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str_bytes(name)))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p.partition)
                                    .with_committed_offset(p.offset)
                                    .with_committed_leader_epoch(p.leader_epoch)
                                    .with_metadata(p.metadata.map(str_bytes))
                                    .with_error_code(p.error)
                            })
                            .collect(),
                    )
            })
            .collect();
    }
    encode(
        ApiKey::OffsetFetch,
        version,
        header.correlation_id,
        &response,
    )
}
