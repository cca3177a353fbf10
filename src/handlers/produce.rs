//! Produce (key 0), v0-12: validate and append each partition's record
//! batch on the shard that owns the partition; answer after the flush
//! policy's durability (acks 1 and -1 are the same on a single node: the
//! in-sync replica set is this broker), or not at all for acks=0.
//!
//! v0-2 (clients of Kafka 0.8-0.10, and librdkafka, which turns its
//! compression on only when a broker lists them: librdkafka#4956, Kafka's
//! KAFKA-18659) carry v0/v1 message sets, nested compressed wrappers and
//! the old LZ4 framing included; each is validated and converted to one v2
//! batch before the append (`partition/validation.rs`,
//! `sluice_io::legacy`). Their responses have no throttle time (v0) and
//! no log append time (v0-1).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::shard::ShardState;
use crate::clock::now_ms;
use crate::cluster::TopicPartition;
use crate::partition::{ProduceOutcome, RecordsFormat};

fn failed(error: ResponseError, message: impl Into<String>) -> ProduceOutcome {
    ProduceOutcome::failed(error, message)
}

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: ProduceRequest,
) -> Result<Reply, HandlerError> {
    let acks = request.acks;
    let routing = shard.routing();
    let table = routing.topics();
    let now = now_ms();

    // Every (topic, partition) in request order gets an outcome slot.
    let mut slots: Vec<(usize, i32, Option<ProduceOutcome>)> = Vec::new();
    let mut parts: Vec<frontend::Slotted<(TopicPartition, Bytes)>> = Vec::new();
    for (topic_index, topic) in request.topic_data.iter().enumerate() {
        let info = table.get(topic.name.as_str());
        for partition in &topic.partition_data {
            let slot = slots.len();
            let outcome = if !(-1..=1).contains(&acks) {
                Some(failed(
                    ResponseError::InvalidRequiredAcks,
                    format!("acks must be -1, 0 or 1, not {acks}"),
                ))
            } else if request.transactional_id.is_some() {
                Some(failed(
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "transactions are not supported yet",
                ))
            } else {
                match (info, &partition.records) {
                    (Some(info), _) if info.internal => Some(failed(
                        ResponseError::InvalidTopicException,
                        format!("cannot produce to internal topic {}", info.name),
                    )),
                    (Some(info), Some(records))
                        if (0..info.partitions).contains(&partition.index) =>
                    {
                        let target = TopicPartition::new(info.name.clone(), partition.index);
                        parts.push((slot, (target, records.clone())));
                        None
                    }
                    (Some(_), None) => Some(failed(ResponseError::CorruptMessage, "null records")),
                    _ => Some(failed(
                        ResponseError::UnknownTopicOrPartition,
                        "This server does not host this topic-partition.",
                    )),
                }
            };
            slots.push((topic_index, partition.index, outcome));
        }
    }

    // Produce v0-2 carry message format v0/v1 (converted to v2 on write, as
    // Kafka 3.x does with message.format.version 3.0+) or v2 batches.
    let format = if version <= 2 {
        RecordsFormat::MessageSet
    } else {
        RecordsFormat::V2Batch
    };
    let answered = frontend::partitions::produce(
        shard,
        acks,
        now,
        std::time::Duration::from_millis(request.timeout_ms.max(0) as u64),
        format,
        parts,
    )
    .await;
    for (slot, outcome) in answered {
        slots[slot].2 = Some(outcome);
    }
    if acks == 0 {
        return Ok(Reply::Nothing);
    }

    let mut responses: Vec<TopicProduceResponse> = request
        .topic_data
        .iter()
        .map(|t| {
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_topic_id(t.topic_id)
        })
        .collect();
    for (topic_index, partition, outcome) in slots {
        let outcome = outcome.expect("every slot answered");
        let (code, message) = match outcome.error {
            Some((error, message)) => {
                tracing::debug!(partition, %message, "produce refused");
                (error.code(), Some(StrBytes::from_string(message)))
            }
            None => (0, None),
        };
        responses[topic_index].partition_responses.push(
            PartitionProduceResponse::default()
                .with_index(partition)
                .with_error_code(code)
                .with_base_offset(outcome.base_offset)
                .with_log_append_time_ms(outcome.log_append_time_ms)
                .with_log_start_offset(outcome.log_start_offset)
                .with_record_errors(
                    outcome
                        .record_errors
                        .into_iter()
                        .map(|(index, message)| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(index)
                                .with_batch_index_error_message(Some(StrBytes::from_string(
                                    message,
                                )))
                        })
                        .collect(),
                )
                .with_error_message(message),
        );
    }
    let response = ProduceResponse::default().with_responses(responses);
    encode(ApiKey::Produce, version, header.correlation_id, &response)
}
