//! LeaveGroup (key 13), v0-5: members leave, the group rebalances.
//! v0-2 name one member and answer with one error; v3+ (KIP-345) name
//! several, by member id or by `group_instance_id` (an AdminClient
//! removing static members), with an error per member.

use std::rc::Rc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse, RequestHeader};

use super::group_support::{opt_text, route, str_bytes, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{GroupCall, GroupReply, LeaveReply, LeavingMember};

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: LeaveGroupRequest,
) -> Result<Reply, HandlerError> {
    let group_id = text(&request.group_id);
    let members: Vec<LeavingMember> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: text(&m.member_id),
                instance_id: opt_text(&m.group_instance_id),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: text(&request.member_id),
            instance_id: None,
        }]
    };
    let call = GroupCall::Leave {
        group_id: group_id.clone(),
        members,
    };
    let reply = match route(shard, &group_id, call).await {
        Ok(GroupReply::Leave(reply)) => reply,
        Ok(_) => LeaveReply {
            error: kafka_protocol::ResponseError::UnknownServerError.code(),
            members: Vec::new(),
        },
        Err(error) => LeaveReply {
            error,
            members: Vec::new(),
        },
    };
    let mut response = LeaveGroupResponse::default().with_error_code(reply.error);
    if version >= 3 {
        response.members = reply
            .members
            .into_iter()
            .map(|(m, error)| {
                MemberResponse::default()
                    .with_member_id(str_bytes(m.member_id))
                    .with_group_instance_id(m.instance_id.map(str_bytes))
                    .with_error_code(error)
            })
            .collect();
    } else if reply.error == 0 {
        response.error_code = reply.members.first().map_or(0, |(_, error)| *error);
    }
    encode(
        ApiKey::LeaveGroup,
        version,
        header.correlation_id,
        &response,
    )
}
