//! What the group handlers share: who the client is, string conversions,
//! and sending a call to the group's shard.

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::shard::ShardState;
use crate::broker::BrokerError;
use crate::coordinator::calls::{GroupCall, GroupReply};

/// The connection a request came on, for what groups record of a member.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    /// Kafka's rendering of the peer address (`InetAddress.toString`):
    /// `/127.0.0.1`.
    pub host: String,
}

impl ClientInfo {
    pub fn from_peer(peer: Option<std::net::SocketAddr>) -> ClientInfo {
        ClientInfo {
            host: peer.map_or_else(|| "/unknown".to_string(), |p| format!("/{}", p.ip())),
        }
    }
}

pub fn text(s: &StrBytes) -> String {
    s.as_str().to_string()
}

pub fn opt_text(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(text)
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Sends `call` to the shard that owns `group_id`; a shard that cannot be
/// reached reads as COORDINATOR_NOT_AVAILABLE, which clients retry.
pub async fn route(shard: &ShardState, group_id: &str, call: GroupCall) -> Result<GroupReply, i16> {
    crate::broker::frontend::groups::call(shard, group_id, call)
        .await
        .map_err(|error| match error {
            BrokerError::NotCoordinator => ResponseError::NotCoordinator.code(),
            error => {
                tracing::error!(group = %group_id, %error, "group's shard unreachable");
                ResponseError::CoordinatorNotAvailable.code()
            }
        })
}
