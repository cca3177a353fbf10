//! DeleteGroups (key 42), v0-2: removes groups that have no members, with
//! their offsets (tombstones in `__consumer_offsets`). A group with members
//! is NON_EMPTY_GROUP; an unknown one GROUP_ID_NOT_FOUND.

use std::rc::Rc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, RequestHeader};
use kafka_protocol::ResponseError;

use super::group_support::{route, text};
use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;
use crate::coordinator::calls::{GroupCall, GroupReply};

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: DeleteGroupsRequest,
) -> Result<Reply, HandlerError> {
    let deletions = request.groups_names.iter().map(|group| {
        let group_id = text(group);
        async move {
            let call = GroupCall::Delete {
                group_id: group_id.clone(),
            };
            match route(shard, &group_id, call).await {
                Ok(GroupReply::Delete(error)) => error,
                Ok(_) => ResponseError::UnknownServerError.code(),
                Err(error) => error,
            }
        }
    });
    let errors = futures::future::join_all(deletions).await;
    let results = request
        .groups_names
        .iter()
        .zip(errors)
        .map(|(group, error)| {
            DeletableGroupResult::default()
                .with_group_id(group.clone())
                .with_error_code(error)
        })
        .collect();
    let response = DeleteGroupsResponse::default().with_results(results);
    encode(
        ApiKey::DeleteGroups,
        version,
        header.correlation_id,
        &response,
    )
}
