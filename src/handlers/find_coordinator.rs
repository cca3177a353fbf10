//! FindCoordinator (key 10), v0-6: every group's coordinator is this
//! broker (a single node); the group's shard is found per request by the
//! handlers, not by the client.
//!
//! - v0-3 ask for one key, v4+ for several (`coordinator_keys`).
//! - Key type 0 (group): this node. Type 1 (transaction):
//!   COORDINATOR_NOT_AVAILABLE, since there is no transaction coordinator
//!   (InitProducerId refuses transactional ids). Other types (2, share
//!   groups): INVALID_REQUEST.

use std::rc::Rc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::group_support::str_bytes;
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

fn lookup(shard: &ShardState, key: &StrBytes, key_type: i8) -> Coordinator {
    let mut coordinator = Coordinator::default().with_key(key.clone());
    let refuse = |c: Coordinator, error: ResponseError, message: &str| {
        c.with_error_code(error.code())
            .with_error_message(Some(str_bytes(message)))
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::default())
            .with_port(-1)
    };
    match key_type {
        KEY_TYPE_GROUP => {
            coordinator = coordinator
                .with_node_id(BrokerId(shard.config().broker_id))
                .with_host(str_bytes(shard.advertised().host.clone()))
                .with_port(i32::from(shard.advertised().port));
            coordinator
        }
        KEY_TYPE_TRANSACTION => refuse(
            coordinator,
            ResponseError::CoordinatorNotAvailable,
            "transactions are not supported by this broker",
        ),
        _ => refuse(
            coordinator,
            ResponseError::InvalidRequest,
            "unsupported coordinator key type",
        ),
    }
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: FindCoordinatorRequest,
) -> Result<Reply, HandlerError> {
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| lookup(shard, key, request.key_type))
            .collect();
    } else {
        let found = lookup(shard, &request.key, request.key_type);
        response.error_code = found.error_code;
        response.error_message = if version >= 1 {
            found.error_message
        } else {
            None
        };
        response.node_id = found.node_id;
        response.host = found.host;
        response.port = found.port;
    }
    encode(
        ApiKey::FindCoordinator,
        version,
        header.correlation_id,
        &response,
    )
}
