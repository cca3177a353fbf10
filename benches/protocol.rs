//! Criterion micro benchmarks of the protocol layer: decoding and encoding
//! a Produce request that carries one 16 KiB record batch (what every
//! produce costs before storage), and encoding a Fetch response both ways
//! the broker could: kafka-protocol's whole-message encoder, which copies
//! the records, and Sluice's framing encoder, which leaves them in place.
//!
//! `cargo bench -p sluice --bench protocol`

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sluice::handlers::serves;
use sluice::protocol::fetch_encoding::{
    encode_fetch_response, segments_len, FetchPartition, FetchResponseModel, FetchTopic,
};
use sluice::protocol::request::decode_request;
use sluice_io::batch::{build_test_batch, BATCH_HEADER_BYTES};

/// A 16 KiB batch: the producer default `batch.size`.
const BATCH_BYTES: usize = 16 << 10;
/// 16 KiB of 1 KiB records.
const RECORDS_PER_BATCH: i32 = 16;
/// Produce v9 is the first flexible version (librdkafka 2.x sends it);
/// Fetch v12 likewise.
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
const TOPIC: &str = "bench-topic";

fn batch() -> Bytes {
    Bytes::from(build_test_batch(
        RECORDS_PER_BATCH,
        BATCH_BYTES - BATCH_HEADER_BYTES,
        1_700_000_000_000,
    ))
}

fn produce_request(records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

fn produce(c: &mut Criterion) {
    let request = produce_request(batch());
    let mut encoded = BytesMut::new();
    request
        .encode(&mut encoded, PRODUCE_VERSION)
        .expect("a valid request encodes");
    let encoded = encoded.freeze();

    let mut group = c.benchmark_group("produce_request_16KiB");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut body = encoded.clone();
            let request = ProduceRequest::decode(&mut body, PRODUCE_VERSION).expect("decodes");
            black_box(request)
        })
    });
    // The whole frame through the broker's decoding layer: prefix, version
    // check, header and body, as the connection loop decodes it.
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(PRODUCE_VERSION)
        .with_correlation_id(1)
        .encode(
            &mut frame,
            ApiKey::Produce.request_header_version(PRODUCE_VERSION),
        )
        .expect("a header encodes");
    frame.extend_from_slice(&encoded);
    let frame = frame.freeze();
    group.bench_function("decode_request", |b| {
        b.iter(|| black_box(decode_request(frame.clone(), serves).expect("decodes")))
    });
    group.bench_function("encode", |b| {
        let mut buffer = BytesMut::with_capacity(encoded.len());
        b.iter(|| {
            buffer.clear();
            request
                .encode(&mut buffer, PRODUCE_VERSION)
                .expect("encodes");
            black_box(buffer.len())
        })
    });
    group.finish();
}

fn fetch(c: &mut Criterion) {
    let records = batch();
    let mut group = c.benchmark_group("fetch_response_16KiB");
    group.throughput(Throughput::Bytes(records.len() as u64));

    let message = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_partitions(vec![PartitionData::default()
            .with_partition_index(0)
            .with_high_watermark(1_000)
            .with_last_stable_offset(1_000)
            .with_log_start_offset(0)
            .with_records(Some(records.clone()))])]);
    group.bench_function("encode_kafka_protocol_copying", |b| {
        let mut buffer = BytesMut::with_capacity(2 * BATCH_BYTES);
        b.iter(|| {
            buffer.clear();
            message.encode(&mut buffer, FETCH_VERSION).expect("encodes");
            black_box(buffer.len())
        })
    });
    group.bench_function("encode_sluice_zero_copy", |b| {
        b.iter(|| {
            let model = FetchResponseModel {
                throttle_time_ms: 0,
                error_code: 0,
                session_id: 0,
                topics: vec![FetchTopic {
                    name: TOPIC.to_string(),
                    topic_id: uuid::Uuid::nil(),
                    partitions: vec![FetchPartition {
                        partition_index: 0,
                        error_code: 0,
                        high_watermark: 1_000,
                        last_stable_offset: 1_000,
                        log_start_offset: 0,
                        aborted_transactions: None,
                        preferred_read_replica: -1,
                        records: vec![records.clone()],
                    }],
                }],
            };
            let segments = encode_fetch_response(7, FETCH_VERSION, model).expect("encodes");
            black_box(segments_len(&segments))
        })
    });
    let mut encoded = BytesMut::new();
    message
        .encode(&mut encoded, FETCH_VERSION)
        .expect("encodes");
    let encoded = encoded.freeze();
    group.bench_function("decode_kafka_protocol", |b| {
        b.iter(|| {
            let mut body = encoded.clone();
            black_box(FetchResponse::decode(&mut body, FETCH_VERSION).expect("decodes"))
        })
    });
    group.finish();
}

criterion_group!(benches, produce, fetch);
criterion_main!(benches);
