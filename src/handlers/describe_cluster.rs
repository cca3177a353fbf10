//! DescribeCluster (key 60), v0-2: the cluster id, the controller and every
//! live broker (this one alone on the embedded node).
//!
//! - v1+ `endpoint_type`: 1 (brokers) is answered; 2 (controllers) is
//!   Kafka's UNSUPPORTED_ENDPOINT_TYPE from a broker.
//! - v2 `include_fenced_brokers`: ZooKeeper mode has no fenced brokers, so
//!   every broker listed has `is_fenced` false either way.

use std::rc::Rc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::shard::ShardState;

/// `endpoint_type` values (KIP-919).
const ENDPOINT_BROKERS: i8 = 1;
/// Kafka's "authorized operations not requested".
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE, CREATE: everything, with no authorizer yet.
const CLUSTER_OPERATIONS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: DescribeClusterRequest,
) -> Result<Reply, HandlerError> {
    let mut response = DescribeClusterResponse::default()
        .with_endpoint_type(ENDPOINT_BROKERS)
        .with_cluster_id(StrBytes::from_string(shard.cluster_id()))
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS_ALL
        } else {
            OPERATIONS_NOT_REQUESTED
        });
    if version >= 1 && request.endpoint_type != ENDPOINT_BROKERS {
        response = response
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
            )))
            .with_controller_id(BrokerId(-1));
        return encode(
            ApiKey::DescribeCluster,
            version,
            header.correlation_id,
            &response,
        );
    }
    let routing = shard.routing();
    let (brokers, controller) = match routing.cluster() {
        Some(view) => (
            view.brokers
                .values()
                .map(|b| {
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(b.id))
                        .with_host(StrBytes::from_string(b.host.clone()))
                        .with_port(i32::from(b.port))
                        .with_rack(b.rack.clone().map(StrBytes::from_string))
                })
                .collect(),
            view.controller.unwrap_or(-1),
        ),
        None => (
            vec![DescribeClusterBroker::default()
                .with_broker_id(BrokerId(shard.broker_id()))
                .with_host(StrBytes::from_string(shard.advertised().host.clone()))
                .with_port(i32::from(shard.advertised().port))],
            shard.broker_id(),
        ),
    };
    response = response
        .with_brokers(brokers)
        .with_controller_id(BrokerId(controller));
    encode(
        ApiKey::DescribeCluster,
        version,
        header.correlation_id,
        &response,
    )
}
