//! SyncGroup (key 14), v0-5: the leader hands in the assignment; every
//! member gets its part once it is written to `__consumer_offsets`.
//! v3+ carry `group_instance_id`; v5+ protocol type and name, checked
//! against the group's (INCONSISTENT_GROUP_PROTOCOL) and echoed back.

use std::rc::Rc;

use kafka_protocol::messages::{ApiKey, RequestHeader, SyncGroupRequest, SyncGroupResponse};

use super::group_support::{opt_text, route, str_bytes, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{GroupCall, GroupReply, MemberRef, SyncCall, SyncReply};

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: SyncGroupRequest,
) -> Result<Reply, HandlerError> {
    let group_id = text(&request.group_id);
    let call = SyncCall {
        member: MemberRef {
            group_id: group_id.clone(),
            generation: request.generation_id,
            member_id: text(&request.member_id),
            instance_id: opt_text(&request.group_instance_id),
        },
        protocol_type: opt_text(&request.protocol_type),
        protocol_name: opt_text(&request.protocol_name),
        assignments: request
            .assignments
            .iter()
            .map(|a| (text(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let reply = match route(shard, &group_id, GroupCall::Sync(call)).await {
        Ok(GroupReply::Sync(reply)) => reply,
        Ok(_) => SyncReply {
            error: kafka_protocol::ResponseError::UnknownServerError.code(),
            ..SyncReply::default()
        },
        Err(error) => SyncReply {
            error,
            ..SyncReply::default()
        },
    };
    let response = SyncGroupResponse::default()
        .with_error_code(reply.error)
        .with_protocol_type(reply.protocol_type.map(str_bytes))
        .with_protocol_name(reply.protocol_name.map(str_bytes))
        .with_assignment(reply.assignment);
    encode(ApiKey::SyncGroup, version, header.correlation_id, &response)
}
