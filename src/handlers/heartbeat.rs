//! Heartbeat (key 12), v0-4: keeps a member's session alive; answers
//! REBALANCE_IN_PROGRESS while the group rebalances so the member rejoins,
//! and UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or FENCED_INSTANCE_ID to a
//! member the group no longer knows in that form.

use std::rc::Rc;

use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse, RequestHeader};

use super::group_support::{opt_text, route, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{GroupCall, GroupReply, MemberRef};

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: HeartbeatRequest,
) -> Result<Reply, HandlerError> {
    let group_id = text(&request.group_id);
    let member = MemberRef {
        group_id: group_id.clone(),
        generation: request.generation_id,
        member_id: text(&request.member_id),
        instance_id: opt_text(&request.group_instance_id),
    };
    let error = match route(shard, &group_id, GroupCall::Heartbeat(member)).await {
        Ok(GroupReply::Heartbeat(error)) => error,
        Ok(_) => kafka_protocol::ResponseError::UnknownServerError.code(),
        Err(error) => error,
    };
    let response = HeartbeatResponse::default().with_error_code(error);
    encode(ApiKey::Heartbeat, version, header.correlation_id, &response)
}
