//! InitProducerId (key 22), v0-5: producer ids for idempotent producers.
//!
//! - `transactional_id` null: a new producer id from the control shard
//!   (`ControlRequest::AllocateProducerId`; ids come from persisted blocks,
//!   so a restart never reuses one) with epoch 0, as Kafka does for
//!   non-transactional producers. `transaction_timeout_ms` is ignored.
//! - v3+ (KIP-360) with an existing `producer_id` and `producer_epoch`: the
//!   producer wants its epoch bumped after a sequence error. Kafka answers
//!   a non-transactional producer with a fresh id and epoch 0, and so does
//!   Sluice: epoch bumps are new ids, and the partitions start the new id's
//!   sequences from 0. Only one of the two set (the other -1) is
//!   INVALID_REQUEST, as in Kafka.
//! - `transactional_id` set: transactions are not supported. Kafka without
//!   a transaction coordinator would answer COORDINATOR_NOT_AVAILABLE,
//!   which clients retry forever; Sluice answers INVALID_REQUEST, which
//!   clients treat as fatal, and logs a warning naming the transactional id.
//! - The control shard cannot persist a new id block (a disk error):
//!   COORDINATOR_LOAD_IN_PROGRESS, which clients retry, as Kafka answers
//!   while it has no producer id block; the cause is logged as an error.

use std::rc::Rc;

use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse};
use crate::broker::shard::ShardState;

/// What to answer before asking the control shard.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Allocate,
    Refuse(ResponseError),
}

fn plan(request: &InitProducerIdRequest) -> Plan {
    // Before v3 these fields are absent and decode as -1.
    let producer_id = request.producer_id.0;
    let epoch = request.producer_epoch;
    if (producer_id == -1) != (epoch == -1) {
        return Plan::Refuse(ResponseError::InvalidRequest);
    }
    if request.transactional_id.is_some() {
        return Plan::Refuse(ResponseError::InvalidRequest);
    }
    Plan::Allocate
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: InitProducerIdRequest,
) -> Result<Reply, HandlerError> {
    let client = header.client_id.as_ref().map_or("", |c| c.as_str());
    let outcome = match plan(&request) {
        Plan::Refuse(error) => {
            match &request.transactional_id {
                Some(transactional_id) => tracing::warn!(
                    client,
                    transactional_id = %transactional_id.as_str(),
                    "InitProducerId with a transactional id refused: transactions are not supported"
                ),
                None => tracing::info!(
                    client,
                    producer_id = request.producer_id.0,
                    epoch = request.producer_epoch,
                    "InitProducerId refused: producer id and epoch must both be set or both be -1"
                ),
            }
            Err(error)
        }
        Plan::Allocate => {
            match frontend::control::call(shard, ControlRequest::AllocateProducerId).await {
                Ok(ControlResponse::ProducerId(Ok(id))) => {
                    tracing::debug!(
                        client,
                        producer_id = id,
                        previous = request.producer_id.0,
                        "producer id allocated"
                    );
                    Ok(id)
                }
                Ok(ControlResponse::ProducerId(Err(error))) => {
                    tracing::error!(%error, "cannot allocate a producer id");
                    Err(ResponseError::CoordinatorLoadInProgress)
                }
                Ok(_) => {
                    tracing::error!("unexpected control answer to AllocateProducerId");
                    Err(ResponseError::CoordinatorLoadInProgress)
                }
                Err(error) => {
                    tracing::error!(%error, "InitProducerId: control shard unreachable");
                    Err(ResponseError::CoordinatorLoadInProgress)
                }
            }
        }
    };
    let response = match outcome {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    };
    encode(
        ApiKey::InitProducerId,
        version,
        header.correlation_id,
        &response,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TransactionalId;
    use kafka_protocol::protocol::StrBytes;

    fn request(
        transactional_id: Option<&'static str>,
        id: i64,
        epoch: i16,
    ) -> InitProducerIdRequest {
        InitProducerIdRequest::default()
            .with_transactional_id(
                transactional_id.map(|t| TransactionalId(StrBytes::from_static_str(t))),
            )
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
    }

    #[test]
    fn idempotent_producers_get_ids() {
        assert_eq!(plan(&request(None, -1, -1)), Plan::Allocate);
        // KIP-360 epoch bump: a fresh id.
        assert_eq!(plan(&request(None, 42, 3)), Plan::Allocate);
    }

    #[test]
    fn transactions_and_half_set_ids_are_refused() {
        let invalid = Plan::Refuse(ResponseError::InvalidRequest);
        assert_eq!(plan(&request(Some("tx"), -1, -1)), invalid);
        assert_eq!(plan(&request(Some(""), -1, -1)), invalid);
        assert_eq!(plan(&request(None, 42, -1)), invalid);
        assert_eq!(plan(&request(None, -1, 0)), invalid);
    }
}
