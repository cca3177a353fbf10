//! DescribeGroups (key 15), v0-6: state, protocol and members of each
//! group, asked of each group's shard concurrently.
//!
//! As in Kafka, member metadata, assignments and the protocol name are
//! given only for a Stable group. An unknown group is "Dead" with no error
//! before v6, and GROUP_ID_NOT_FOUND from v6 (KIP-1043). With
//! `include_authorized_operations` (v3+), there are no ACLs, so every group
//! operation is allowed: READ, DELETE and DESCRIBE.

use std::rc::Rc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, RequestHeader,
};
use kafka_protocol::ResponseError;

use super::group_support::{route, str_bytes, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{self, GroupCall, GroupReply};

/// Kafka's AclOperation codes READ (3), DELETE (6), DESCRIBE (8) as bits.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

async fn describe(shard: &ShardState, group_id: String) -> calls::DescribedGroup {
    let call = GroupCall::Describe {
        group_id: group_id.clone(),
    };
    let failed = |error: i16| calls::DescribedGroup {
        error,
        group_id: group_id.clone(),
        ..calls::DescribedGroup::default()
    };
    match route(shard, &group_id, call).await {
        Ok(GroupReply::Describe(described)) => described,
        Ok(_) => failed(ResponseError::UnknownServerError.code()),
        Err(error) => failed(error),
    }
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: DescribeGroupsRequest,
) -> Result<Reply, HandlerError> {
    let answers =
        futures::future::join_all(request.groups.iter().map(|g| describe(shard, text(g)))).await;
    let operations = if request.include_authorized_operations {
        GROUP_OPERATIONS
    } else {
        i32::MIN
    };
    let groups = request
        .groups
        .iter()
        .zip(answers)
        .map(|(id, group)| {
            let mut described = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_error_code(group.error)
                .with_group_state(str_bytes(group.state.clone()))
                .with_protocol_type(str_bytes(group.protocol_type))
                .with_protocol_data(str_bytes(group.protocol))
                .with_authorized_operations(operations)
                .with_members(
                    group
                        .members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_group_instance_id(m.instance_id.map(str_bytes))
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                );
            if version >= 6 && group.error == 0 && group.state == "Dead" {
                described.error_code = ResponseError::GroupIdNotFound.code();
                described.error_message =
                    Some(str_bytes(format!("Group {} not found.", id.as_str())));
            }
            described
        })
        .collect();
    let response = DescribeGroupsResponse::default().with_groups(groups);
    encode(
        ApiKey::DescribeGroups,
        version,
        header.correlation_id,
        &response,
    )
}
