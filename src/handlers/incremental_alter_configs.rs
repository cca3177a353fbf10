//! IncrementalAlterConfigs (key 44), v0-1: SET, DELETE, APPEND or SUBTRACT
//! single config keys of a topic, or only check them with `validate_only`.
//! Routed and answered as AlterConfigs (see `alter_configs::alter`); the
//! operations' rules are in `broker::config_edit`. An unknown operation code
//! refuses its resource with INVALID_REQUEST.

use std::rc::Rc;

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::alter_configs::{alter, Alteration};
use super::{encode, HandlerError, Reply};
use crate::broker::config_edit::{ConfigEdit, ConfigOp};
use crate::broker::shard::ShardState;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: IncrementalAlterConfigsRequest,
) -> Result<Reply, HandlerError> {
    let alterations = request
        .resources
        .iter()
        .map(|resource| Alteration {
            resource_type: resource.resource_type,
            resource_name: resource.resource_name.clone(),
            edit: resource
                .configs
                .iter()
                .map(|c| {
                    ConfigOp::from_wire(
                        c.config_operation,
                        c.name.as_str(),
                        c.value.as_ref().map(|v| v.as_str()),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map(ConfigEdit::Incremental),
        })
        .collect::<Vec<_>>();
    let answers = alter(shard, &alterations, request.validate_only).await;
    let responses = alterations
        .iter()
        .zip(answers)
        .map(|(alteration, refusal)| {
            let mut response = AlterConfigsResourceResponse::default()
                .with_resource_type(alteration.resource_type)
                .with_resource_name(alteration.resource_name.clone());
            if let Some((error, message)) = refusal {
                response = response
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message)));
            }
            response
        })
        .collect();
    let response = IncrementalAlterConfigsResponse::default().with_responses(responses);
    encode(
        ApiKey::IncrementalAlterConfigs,
        version,
        header.correlation_id,
        &response,
    )
}
