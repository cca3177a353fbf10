//! JoinGroup (key 11), v0-9: the first step of a rebalance; the answer
//! waits until the group's join phase ends (see `coordinator::group`).
//!
//! - v0 has no rebalance timeout: the session timeout stands in, as in Kafka.
//! - v4+: a new dynamic member gets MEMBER_ID_REQUIRED and its id first.
//! - v5+: `group_instance_id` (static membership).
//! - v7+: protocol type and name in the answer (nullable).
//! - v9: a static leader rejoining a stable group gets `skip_assignment`.

use std::rc::Rc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse, RequestHeader};

use super::group_support::{opt_text, route, str_bytes, text, ClientInfo};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{GroupCall, GroupReply, JoinCall, JoinReply};

pub async fn handle(
    shard: &Rc<ShardState>,
    client: &ClientInfo,
    header: &RequestHeader,
    version: i16,
    request: JoinGroupRequest,
) -> Result<Reply, HandlerError> {
    let group_id = text(&request.group_id);
    let call = JoinCall {
        group_id: group_id.clone(),
        member_id: text(&request.member_id),
        instance_id: opt_text(&request.group_instance_id),
        protocol_type: text(&request.protocol_type),
        protocols: request
            .protocols
            .iter()
            .map(|p| (text(&p.name), p.metadata.clone()))
            .collect(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        client_id: header.client_id.as_ref().map_or_else(String::new, text),
        client_host: client.host.clone(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let reply = match route(shard, &group_id, GroupCall::Join(call)).await {
        Ok(GroupReply::Join(reply)) => reply,
        Ok(_) => JoinReply {
            error: kafka_protocol::ResponseError::UnknownServerError.code(),
            generation: -1,
            ..JoinReply::default()
        },
        Err(error) => JoinReply {
            error,
            generation: -1,
            member_id: text(&request.member_id),
            ..JoinReply::default()
        },
    };
    let nullable = version >= 7;
    let name = |s: Option<String>| match s {
        Some(s) => Some(str_bytes(s)),
        None if nullable => None,
        None => Some(str_bytes("")),
    };
    let response = JoinGroupResponse::default()
        .with_error_code(reply.error)
        .with_generation_id(reply.generation)
        .with_protocol_type(if version >= 7 {
            reply.protocol_type.map(str_bytes)
        } else {
            None
        })
        .with_protocol_name(name(reply.protocol_name))
        .with_leader(str_bytes(reply.leader))
        .with_skip_assignment(reply.skip_assignment)
        .with_member_id(str_bytes(reply.member_id))
        .with_members(
            reply
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.instance_id.map(str_bytes))
                        .with_metadata(m.metadata)
                })
                .collect(),
        );
    encode(ApiKey::JoinGroup, version, header.correlation_id, &response)
}
