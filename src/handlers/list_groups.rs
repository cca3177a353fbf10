//! ListGroups (key 16), v0-5: every shard's groups. v4+ filter by state
//! (case-insensitive, as Kafka), v5+ by type: all of Sluice's groups are
//! "classic" (KIP-848's "consumer" groups are not implemented), and v5
//! reports that type.

use std::rc::Rc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse, RequestHeader,
};
use kafka_protocol::ResponseError;

use super::group_support::{str_bytes, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;

const CLASSIC: &str = "classic";

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: ListGroupsRequest,
) -> Result<Reply, HandlerError> {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| text(s).to_ascii_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| text(s).to_ascii_lowercase())
        .collect();
    let mut response = ListGroupsResponse::default();
    match crate::broker::frontend::groups::list_all(shard).await {
        Err(error) => {
            tracing::error!(%error, "listing groups");
            response.error_code = ResponseError::CoordinatorNotAvailable.code();
        }
        Ok(groups) => {
            response.groups = groups
                .into_iter()
                .filter(|g| states.is_empty() || states.contains(&g.state.to_ascii_lowercase()))
                .filter(|_| types.is_empty() || types.iter().any(|t| t == CLASSIC))
                .map(|g| {
                    ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(g.group_id)))
                        .with_protocol_type(str_bytes(g.protocol_type))
                        .with_group_state(str_bytes(g.state))
                        .with_group_type(str_bytes(CLASSIC))
                })
                .collect();
        }
    }
    encode(
        ApiKey::ListGroups,
        version,
        header.correlation_id,
        &response,
    )
}
