//! One file per Kafka API, and the table of what Sluice answers.
//!
//! [`SUPPORTED_APIS`] is the single list of APIs and the version ranges each
//! handler implements in full; ApiVersions is built from it and dispatch
//! refuses anything outside it. Adding an API is adding a file and a line.
//! The ranges follow Apache Kafka 4.0's.

pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod group_support;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseHeader};
use kafka_protocol::protocol::Encodable;

use crate::broker::frontend::partitions::FetchRecords;
use crate::broker::shard::ShardState;
use crate::protocol::fetch_encoding::Segment;
use crate::protocol::request::{decode_request, Request, RequestError};
pub use group_support::ClientInfo;

/// An API and the versions Sluice implements for it.
#[derive(Clone, Copy, Debug)]
pub struct ApiSupport {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

/// Every API Sluice answers. Versions as Apache Kafka 4.0 advertises them,
/// except where a handler does not cover all of them yet (then narrower;
/// the README lists each).
pub const SUPPORTED_APIS: &[ApiSupport] = &[
    ApiSupport {
        key: ApiKey::Produce,
        min: 0,
        max: 12,
    },
    ApiSupport {
        key: ApiKey::Fetch,
        min: 0,
        max: 17,
    },
    ApiSupport {
        key: ApiKey::ListOffsets,
        min: 1,
        max: 9,
    },
    ApiSupport {
        key: ApiKey::Metadata,
        min: 0,
        max: 12,
    },
    ApiSupport {
        key: ApiKey::ApiVersions,
        min: 0,
        max: 4,
    },
    ApiSupport {
        key: ApiKey::CreateTopics,
        min: 2,
        max: 7,
    },
    ApiSupport {
        key: ApiKey::DeleteTopics,
        min: 1,
        max: 6,
    },
    ApiSupport {
        key: ApiKey::DeleteRecords,
        min: 0,
        max: 2,
    },
    ApiSupport {
        key: ApiKey::InitProducerId,
        min: 0,
        max: 5,
    },
    ApiSupport {
        key: ApiKey::DescribeConfigs,
        min: 1,
        max: 4,
    },
    ApiSupport {
        key: ApiKey::CreatePartitions,
        min: 0,
        max: 3,
    },
    ApiSupport {
        key: ApiKey::OffsetCommit,
        min: 2,
        max: 9,
    },
    ApiSupport {
        key: ApiKey::OffsetFetch,
        min: 1,
        max: 9,
    },
    ApiSupport {
        key: ApiKey::FindCoordinator,
        min: 0,
        max: 6,
    },
    ApiSupport {
        key: ApiKey::JoinGroup,
        min: 0,
        max: 9,
    },
    ApiSupport {
        key: ApiKey::Heartbeat,
        min: 0,
        max: 4,
    },
    ApiSupport {
        key: ApiKey::LeaveGroup,
        min: 0,
        max: 5,
    },
    ApiSupport {
        key: ApiKey::SyncGroup,
        min: 0,
        max: 5,
    },
    ApiSupport {
        key: ApiKey::DescribeGroups,
        min: 0,
        max: 6,
    },
    ApiSupport {
        key: ApiKey::ListGroups,
        min: 0,
        max: 5,
    },
    ApiSupport {
        key: ApiKey::DeleteGroups,
        min: 0,
        max: 2,
    },
    ApiSupport {
        key: ApiKey::OffsetDelete,
        min: 0,
        max: 0,
    },
    ApiSupport {
        key: ApiKey::AlterConfigs,
        min: 0,
        max: 2,
    },
    ApiSupport {
        key: ApiKey::IncrementalAlterConfigs,
        min: 0,
        max: 1,
    },
    ApiSupport {
        key: ApiKey::OffsetForLeaderEpoch,
        min: 0,
        max: 4,
    },
    ApiSupport {
        key: ApiKey::DescribeCluster,
        min: 0,
        max: 2,
    },
    ApiSupport {
        key: ApiKey::ElectLeaders,
        min: 0,
        max: 2,
    },
    ApiSupport {
        key: ApiKey::DescribeLogDirs,
        min: 1,
        max: 4,
    },
    ApiSupport {
        key: ApiKey::AlterPartitionReassignments,
        min: 0,
        max: 1,
    },
    ApiSupport {
        key: ApiKey::ListPartitionReassignments,
        min: 0,
        max: 0,
    },
];

pub fn support_for(key: ApiKey) -> Option<ApiSupport> {
    SUPPORTED_APIS.iter().copied().find(|s| s.key == key)
}

/// What the connection does after a request.
pub enum Reply {
    /// Write this frame (size prefix included).
    Frame(Bytes),
    /// Write these segments in order (a Fetch response around record chunks).
    Segments(Vec<Segment<FetchRecords>>),
    /// Nothing to send (Produce with acks=0).
    Nothing,
    /// Close the connection after logging this.
    Close(String),
}

/// A request that cannot be answered: the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("malformed {api:?} v{version} request: {detail}")]
    Malformed {
        api: ApiKey,
        version: i16,
        detail: String,
    },
    #[error("cannot encode {api:?} v{version} response: {detail}")]
    Encode {
        api: ApiKey,
        version: i16,
        detail: String,
    },
}

/// Encodes a response frame: size, header for the version, body.
pub fn encode<T: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Reply, HandlerError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut frame = BytesMut::with_capacity(256);
    frame.extend_from_slice(&[0; 4]);
    let encode_error = |detail: String| HandlerError::Encode {
        api,
        version,
        detail,
    };
    header
        .encode(&mut frame, api.response_header_version(version))
        .map_err(|e| encode_error(e.to_string()))?;
    body.encode(&mut frame, version)
        .map_err(|e| encode_error(e.to_string()))?;
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    Ok(Reply::Frame(frame.freeze()))
}

/// Whether Sluice implements `api` at `version` (what ApiVersions advertises).
pub fn serves(api: ApiKey, version: i16) -> bool {
    support_for(api).is_some_and(|s| (s.min..=s.max).contains(&version))
}

/// Answers one request frame: decoded once by the decoding layer
/// ([`decode_request`]), then handed to its API's handler.
pub async fn dispatch(shard: &Rc<ShardState>, client: &ClientInfo, frame: Bytes) -> Reply {
    let request = match decode_request(frame, serves) {
        Ok(request) => request,
        // KIP-511: answer an unknown ApiVersions version with v0 and the
        // supported ranges, so the client can pick one.
        Err(RequestError::UnsupportedVersion {
            api: ApiKey::ApiVersions,
            correlation_id,
            ..
        }) => return api_versions::unsupported_version(correlation_id),
        Err(error) => return Reply::Close(error.to_string()),
    };
    let Request {
        api,
        version,
        header,
        body,
    } = request;
    let result = match body {
        RequestKind::ApiVersions(r) => api_versions::handle(&header, version, r),
        RequestKind::Metadata(r) => metadata::handle(shard, &header, version, r).await,
        RequestKind::Produce(r) => produce::handle(shard, &header, version, r).await,
        RequestKind::Fetch(r) => fetch::handle(shard, &header, version, r).await,
        RequestKind::ListOffsets(r) => list_offsets::handle(shard, &header, version, r).await,
        RequestKind::CreateTopics(r) => create_topics::handle(shard, &header, version, r).await,
        RequestKind::DeleteTopics(r) => delete_topics::handle(shard, &header, version, r).await,
        RequestKind::DeleteRecords(r) => delete_records::handle(shard, &header, version, r).await,
        RequestKind::InitProducerId(r) => {
            init_producer_id::handle(shard, &header, version, r).await
        }
        RequestKind::DescribeConfigs(r) => {
            describe_configs::handle(shard, &header, version, r).await
        }
        RequestKind::CreatePartitions(r) => {
            create_partitions::handle(shard, &header, version, r).await
        }
        RequestKind::FindCoordinator(r) => {
            find_coordinator::handle(shard, &header, version, r).await
        }
        RequestKind::JoinGroup(r) => join_group::handle(shard, client, &header, version, r).await,
        RequestKind::SyncGroup(r) => sync_group::handle(shard, &header, version, r).await,
        RequestKind::Heartbeat(r) => heartbeat::handle(shard, &header, version, r).await,
        RequestKind::LeaveGroup(r) => leave_group::handle(shard, &header, version, r).await,
        RequestKind::OffsetCommit(r) => offset_commit::handle(shard, &header, version, r).await,
        RequestKind::OffsetFetch(r) => offset_fetch::handle(shard, &header, version, r).await,
        RequestKind::ListGroups(r) => list_groups::handle(shard, &header, version, r).await,
        RequestKind::DescribeGroups(r) => describe_groups::handle(shard, &header, version, r).await,
        RequestKind::DeleteGroups(r) => delete_groups::handle(shard, &header, version, r).await,
        RequestKind::OffsetDelete(r) => offset_delete::handle(shard, &header, version, r).await,
        RequestKind::AlterConfigs(r) => alter_configs::handle(shard, &header, version, r).await,
        RequestKind::OffsetForLeaderEpoch(r) => {
            offset_for_leader_epoch::handle(shard, &header, version, r).await
        }
        RequestKind::DescribeCluster(r) => {
            describe_cluster::handle(shard, &header, version, r).await
        }
        RequestKind::ElectLeaders(r) => elect_leaders::handle(shard, &header, version, r).await,
        RequestKind::AlterPartitionReassignments(r) => {
            alter_partition_reassignments::handle(shard, &header, version, r).await
        }
        RequestKind::ListPartitionReassignments(r) => {
            list_partition_reassignments::handle(shard, &header, version, r).await
        }
        RequestKind::DescribeLogDirs(r) => {
            describe_log_dirs::handle(shard, &header, version, r).await
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            incremental_alter_configs::handle(shard, &header, version, r).await
        }
        // `serves` admits only the APIs above; reaching this is a table
        // entry without a handler.
        _ => Ok(Reply::Close(format!("{api:?} has no handler"))),
    };
    result.unwrap_or_else(|error| Reply::Close(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_ranges_are_within_the_codec() {
        for api in SUPPORTED_APIS {
            let codec = api.key.valid_versions();
            assert!(api.min <= api.max, "{:?}", api.key);
            assert!(
                codec.min <= api.min && api.max <= codec.max,
                "{:?} beyond the codec",
                api.key
            );
        }
    }
}
