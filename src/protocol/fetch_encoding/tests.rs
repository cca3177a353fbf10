//! The hand-written framing checked against kafka-protocol's own encoder
//! (byte for byte) and decoder (field by field), for every supported version.

use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response as kp;
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use proptest::prelude::*;
use sluice_io::storage::Chunk;

use super::*;

const VERSIONS: std::ops::RangeInclusive<i16> = FETCH_VERSION_MIN..=FETCH_VERSION_MAX;

/// A record chunk that cannot be cloned, so the encoder can only move it.
/// Tests compare its `Rc` with the one they kept to prove the chunk that
/// comes out is the chunk that went in.
#[derive(Debug)]
struct TestChunk(Rc<Vec<u8>>);

impl AsRef<[u8]> for TestChunk {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Plain data from which both the model and kafka-protocol's message are
/// built (the model takes its chunks by value, so it is built anew per use).
#[derive(Debug, Clone)]
struct ResponseSpec {
    throttle_time_ms: i32,
    error_code: i16,
    session_id: i32,
    topics: Vec<TopicSpec>,
}

#[derive(Debug, Clone)]
struct TopicSpec {
    name: String,
    topic_id: u128,
    partitions: Vec<PartitionSpec>,
}

#[derive(Debug, Clone)]
struct PartitionSpec {
    partition_index: i32,
    error_code: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    aborted_transactions: Option<Vec<(i64, i64)>>,
    preferred_read_replica: i32,
    chunks: Vec<Rc<Vec<u8>>>,
}

impl PartitionSpec {
    fn new(partition_index: i32, chunks: &[&[u8]]) -> Self {
        PartitionSpec {
            partition_index,
            error_code: 0,
            high_watermark: 100,
            last_stable_offset: 90,
            log_start_offset: 7,
            aborted_transactions: None,
            preferred_read_replica: -1,
            chunks: chunks.iter().map(|c| Rc::new(c.to_vec())).collect(),
        }
    }

    fn records(&self) -> Bytes {
        Bytes::from(
            self.chunks
                .iter()
                .flat_map(|c| c.iter().copied())
                .collect::<Vec<u8>>(),
        )
    }
}

impl ResponseSpec {
    fn new(topics: Vec<TopicSpec>) -> Self {
        ResponseSpec {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            topics,
        }
    }

    /// The model, its chunks sharing buffers with the spec's.
    fn model(&self) -> FetchResponseModel<TestChunk> {
        FetchResponseModel {
            throttle_time_ms: self.throttle_time_ms,
            error_code: self.error_code,
            session_id: self.session_id,
            topics: self.topics.iter().map(TopicSpec::model).collect(),
        }
    }

    /// The same response as kafka-protocol's message.
    fn message(&self) -> FetchResponse {
        FetchResponse::default()
            .with_throttle_time_ms(self.throttle_time_ms)
            .with_error_code(self.error_code)
            .with_session_id(self.session_id)
            .with_responses(self.topics.iter().map(TopicSpec::message).collect())
    }

    /// This spec with the non-ignorable fields `version` lacks at their
    /// defaults, so it encodes in `version`.
    fn encodable_in(&self, version: i16) -> Self {
        let mut spec = self.clone();
        if version < 7 {
            spec.session_id = 0;
        }
        if version < 11 {
            let partitions = spec.topics.iter_mut().flat_map(|t| &mut t.partitions);
            partitions.for_each(|p| p.preferred_read_replica = -1);
        }
        spec
    }

    /// Every chunk, in order.
    fn chunks(&self) -> Vec<Rc<Vec<u8>>> {
        let partitions = self.topics.iter().flat_map(|t| &t.partitions);
        partitions.flat_map(|p| p.chunks.iter().cloned()).collect()
    }
}

impl TopicSpec {
    fn new(name: &str, partitions: Vec<PartitionSpec>) -> Self {
        TopicSpec {
            name: name.to_owned(),
            topic_id: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
            partitions,
        }
    }

    fn model(&self) -> FetchTopic<TestChunk> {
        FetchTopic {
            name: self.name.clone(),
            topic_id: uuid::Uuid::from_u128(self.topic_id),
            partitions: self.partitions.iter().map(PartitionSpec::model).collect(),
        }
    }

    fn message(&self) -> kp::FetchableTopicResponse {
        kp::FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_string(self.name.clone())))
            .with_topic_id(uuid::Uuid::from_u128(self.topic_id))
            .with_partitions(self.partitions.iter().map(PartitionSpec::message).collect())
    }
}

impl PartitionSpec {
    fn model(&self) -> FetchPartition<TestChunk> {
        FetchPartition {
            partition_index: self.partition_index,
            error_code: self.error_code,
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset,
            log_start_offset: self.log_start_offset,
            aborted_transactions: self.aborted_transactions.as_ref().map(|all| {
                all.iter()
                    .map(|&(producer_id, first_offset)| AbortedTransaction {
                        producer_id,
                        first_offset,
                    })
                    .collect()
            }),
            preferred_read_replica: self.preferred_read_replica,
            records: self.chunks.iter().map(|c| TestChunk(c.clone())).collect(),
        }
    }

    fn message(&self) -> kp::PartitionData {
        kp::PartitionData::default()
            .with_partition_index(self.partition_index)
            .with_error_code(self.error_code)
            .with_high_watermark(self.high_watermark)
            .with_last_stable_offset(self.last_stable_offset)
            .with_log_start_offset(self.log_start_offset)
            .with_aborted_transactions(self.aborted_transactions.as_ref().map(|all| {
                all.iter()
                    .map(|&(producer_id, first_offset)| {
                        kp::AbortedTransaction::default()
                            .with_producer_id(producer_id.into())
                            .with_first_offset(first_offset)
                    })
                    .collect()
            }))
            .with_preferred_read_replica(self.preferred_read_replica.into())
            .with_records(Some(self.records()))
    }
}

fn concat<R: AsRef<[u8]>>(segments: &[Segment<R>]) -> Vec<u8> {
    segments
        .iter()
        .flat_map(|s| s.as_ref().iter().copied())
        .collect()
}

fn encode(correlation_id: i32, version: i16, spec: &ResponseSpec) -> Vec<Segment<TestChunk>> {
    encode_fetch_response(correlation_id, version, spec.model()).expect("encodes")
}

/// kafka-protocol's encoding with the size prefix, or `None` if it refuses.
fn crate_encode(correlation_id: i32, version: i16, spec: &ResponseSpec) -> Option<Vec<u8>> {
    let mut body = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut body, ApiKey::Fetch.response_header_version(version))
        .ok()?;
    spec.message().encode(&mut body, version).ok()?;
    let mut framed = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    Some(framed)
}

/// Decodes a whole framed response with kafka-protocol, checking the size
/// prefix and that nothing is left over.
fn crate_decode(version: i16, framed: &[u8]) -> (i32, FetchResponse) {
    let mut buf = Bytes::copy_from_slice(framed);
    let size = buf.get_i32();
    assert_eq!(usize::try_from(size).unwrap(), buf.len(), "size prefix");
    let header_version = ApiKey::Fetch.response_header_version(version);
    let header = ResponseHeader::decode(&mut buf, header_version).expect("header decodes");
    let body = FetchResponse::decode(&mut buf, version).expect("body decodes");
    assert!(buf.is_empty(), "{} bytes left after the body", buf.len());
    (header.correlation_id, body)
}

/// What a client decoding `version` should see: fields the version lacks
/// come back as the decoder's defaults.
fn expected_after_decode(spec: &ResponseSpec, version: i16) -> FetchResponse {
    let mut expected = spec.message();
    if version < 7 {
        expected.error_code = 0;
    }
    if version < 1 {
        expected.throttle_time_ms = 0;
    }
    for topic in &mut expected.responses {
        if version >= 13 {
            topic.topic = TopicName::default();
        } else {
            topic.topic_id = uuid::Uuid::nil();
        }
        for partition in &mut topic.partitions {
            if version < 5 {
                partition.log_start_offset = -1;
            }
            if version < 4 {
                partition.last_stable_offset = -1;
                partition.aborted_transactions = None;
            }
        }
    }
    expected
}

/// Framing segments are never empty and never adjacent; the first segment
/// is framing (it holds the size prefix).
fn assert_merged(segments: &[Segment<TestChunk>]) {
    assert!(matches!(segments.first(), Some(Segment::Framing(_))));
    for segment in segments {
        assert!(!segment.as_ref().is_empty(), "empty segment");
    }
    for pair in segments.windows(2) {
        let both_framing = matches!(pair, [Segment::Framing(_), Segment::Framing(_)]);
        assert!(!both_framing, "adjacent framing segments");
    }
}

/// The Records segments are exactly the non-empty input chunks, in order,
/// as the same buffers.
fn assert_chunks_passed_through(segments: &[Segment<TestChunk>], spec: &ResponseSpec) {
    let out: Vec<&Rc<Vec<u8>>> = segments
        .iter()
        .filter_map(|s| match s {
            Segment::Records(chunk) => Some(&chunk.0),
            Segment::Framing(_) => None,
        })
        .collect();
    let input: Vec<Rc<Vec<u8>>> = spec
        .chunks()
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(out.len(), input.len());
    for (out, input) in out.iter().zip(&input) {
        assert!(Rc::ptr_eq(out, input), "chunk was replaced, not moved");
    }
}

/// Everything the encoder promises, for one spec and version.
fn check_against_crate(correlation_id: i32, version: i16, spec: &ResponseSpec) {
    let ours = encode_fetch_response(correlation_id, version, spec.model());
    let theirs = crate_encode(correlation_id, version, spec);
    let (segments, theirs) = match (ours, theirs) {
        (Ok(segments), Some(theirs)) => (segments, theirs),
        (Err(_), None) => return,
        (ours, theirs) => panic!("v{version}: ours {ours:?}, crate's {theirs:?}"),
    };
    let bytes = concat(&segments);
    assert_eq!(
        bytes, theirs,
        "v{version}: bytes differ from kafka-protocol's"
    );
    assert_eq!(segments_len(&segments), bytes.len());
    assert_merged(&segments);
    assert_chunks_passed_through(&segments, spec);

    let (decoded_correlation_id, decoded) = crate_decode(version, &bytes);
    assert_eq!(decoded_correlation_id, correlation_id);
    assert_eq!(decoded, expected_after_decode(spec, version), "v{version}");
}

fn partition_strategy() -> impl Strategy<Value = PartitionSpec> {
    let aborted = proptest::option::of(prop::collection::vec(any::<(i64, i64)>(), 0..4));
    let chunks = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..5);
    let replica = prop_oneof![Just(-1), any::<i32>()];
    let offsets = any::<(i64, i64, i64)>();
    (
        any::<i32>(),
        any::<i16>(),
        offsets,
        aborted,
        replica,
        chunks,
    )
        .prop_map(
            |(partition_index, error_code, offsets, aborted, replica, chunks)| PartitionSpec {
                partition_index,
                error_code,
                high_watermark: offsets.0,
                last_stable_offset: offsets.1,
                log_start_offset: offsets.2,
                aborted_transactions: aborted,
                preferred_read_replica: replica,
                chunks: chunks.into_iter().map(Rc::new).collect(),
            },
        )
}

fn topic_strategy() -> impl Strategy<Value = TopicSpec> {
    let partitions = prop::collection::vec(partition_strategy(), 0..4);
    ("\\PC{0,16}", any::<u128>(), partitions).prop_map(|(name, topic_id, partitions)| TopicSpec {
        name,
        topic_id,
        partitions,
    })
}

fn response_strategy() -> impl Strategy<Value = ResponseSpec> {
    let session_id = prop_oneof![Just(0), any::<i32>()];
    let topics = prop::collection::vec(topic_strategy(), 0..4);
    (any::<i32>(), any::<i16>(), session_id, topics).prop_map(
        |(throttle_time_ms, error_code, session_id, topics)| ResponseSpec {
            throttle_time_ms,
            error_code,
            session_id,
            topics,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Each random response, in every supported version: the same bytes as
    /// kafka-protocol (or refused by both), and decodable to the same fields.
    /// The spec is also tried with the fields the version lacks reset, so
    /// every version is exercised on the encoding path, not only refused.
    #[test]
    fn matches_kafka_protocol_in_every_version(
        correlation_id in any::<i32>(),
        spec in response_strategy(),
    ) {
        for version in VERSIONS {
            check_against_crate(correlation_id, version, &spec);
            let encodable = spec.encodable_in(version);
            prop_assert!(encode_fetch_response(correlation_id, version, encodable.model()).is_ok());
            check_against_crate(correlation_id, version, &encodable);
        }
    }
}

#[test]
fn golden_empty_response_v16() {
    // Size 17, correlation id, header tags, throttle 0, error 0, session id,
    // empty compact array, body tags.
    let spec = ResponseSpec {
        session_id: 0x0ab9_c12e,
        ..ResponseSpec::new(vec![])
    };
    let segments = encode(0x5e33_46cc, 16, &spec);
    assert_eq!(segments.len(), 1);
    let expected = [
        0x00, 0x00, 0x00, 0x11, 0x5e, 0x33, 0x46, 0xcc, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0a, 0xb9, 0xc1, 0x2e, 0x01, 0x00,
    ];
    assert_eq!(concat(&segments), expected);
}

#[test]
fn unsupported_versions_are_errors() {
    let spec = ResponseSpec::new(vec![TopicSpec::new(
        "t",
        vec![PartitionSpec::new(0, &[b"x"])],
    )]);
    for version in [i16::MIN, -1, 18, 19, i16::MAX] {
        let result = encode_fetch_response(1, version, spec.model());
        assert_eq!(
            result.err(),
            Some(FetchEncodeError::UnsupportedVersion(version))
        );
    }
}

#[test]
fn empty_topics_and_empty_partitions() {
    let specs = [
        ResponseSpec::new(vec![]),
        ResponseSpec::new(vec![
            TopicSpec::new("a", vec![]),
            TopicSpec::new("", vec![]),
        ]),
    ];
    for spec in &specs {
        for version in VERSIONS {
            check_against_crate(7, version, spec);
            assert_eq!(
                encode(7, version, spec).len(),
                1,
                "all framing, one segment"
            );
        }
    }
}

#[test]
fn null_and_empty_aborted_transactions_differ() {
    let with = |aborted: Option<Vec<(i64, i64)>>| {
        let partition = PartitionSpec {
            aborted_transactions: aborted,
            ..PartitionSpec::new(3, &[])
        };
        ResponseSpec::new(vec![TopicSpec::new("t", vec![partition])])
    };
    let null = with(None);
    let empty = with(Some(vec![]));
    let two = with(Some(vec![(1, 2), (3, 4)]));
    for version in VERSIONS {
        for spec in [&null, &empty, &two] {
            check_against_crate(1, version, spec);
        }
        if version < 4 {
            continue; // no aborted_transactions before v4
        }
        let null_bytes = concat(&encode(1, version, &null));
        let empty_bytes = concat(&encode(1, version, &empty));
        assert_eq!(null_bytes.len(), empty_bytes.len(), "same length encoding");
        let at = null_bytes
            .iter()
            .zip(&empty_bytes)
            .position(|(a, b)| a != b);
        let at = at.expect("null and empty encode differently");
        if version >= 12 {
            assert_eq!((null_bytes[at], empty_bytes[at]), (0x00, 0x01));
        } else {
            assert_eq!(&null_bytes[at..at + 4], &[0xff; 4]);
            assert_eq!(&empty_bytes[at..at + 4], &[0x00; 4]);
        }
        let (_, decoded) = crate_decode(version, &null_bytes);
        assert_eq!(
            decoded.responses[0].partitions[0].aborted_transactions,
            None
        );
        let (_, decoded) = crate_decode(version, &empty_bytes);
        assert_eq!(
            decoded.responses[0].partitions[0].aborted_transactions,
            Some(vec![])
        );
    }
}

#[test]
fn no_records_encode_as_empty_not_null() {
    let spec = ResponseSpec::new(vec![TopicSpec::new("t", vec![PartitionSpec::new(0, &[])])]);
    for version in VERSIONS {
        check_against_crate(1, version, &spec);
        let segments = encode(1, version, &spec);
        assert_eq!(segments.len(), 1, "no Records segment");
        let bytes = concat(&segments);
        let tail = if version >= 12 {
            // Records length 0 + 1, partition tags, topic tags, body tags.
            &[0x01, 0x00, 0x00, 0x00][..]
        } else {
            &[0x00, 0x00, 0x00, 0x00][..]
        };
        assert!(bytes.ends_with(tail), "v{version}: {bytes:02x?}");
        let (_, decoded) = crate_decode(version, &bytes);
        let records = decoded.responses[0].partitions[0].records.clone();
        assert_eq!(records, Some(Bytes::new()));
    }
}

#[test]
fn empty_chunks_are_dropped_but_counted_as_nothing() {
    let spec = ResponseSpec::new(vec![TopicSpec::new(
        "t",
        vec![PartitionSpec::new(0, &[b"", b"abc", b"", b"de", b""])],
    )]);
    for version in VERSIONS {
        check_against_crate(1, version, &spec);
        let segments = encode(1, version, &spec);
        let records: Vec<&[u8]> = segments
            .iter()
            .filter(|s| matches!(s, Segment::Records(_)))
            .map(AsRef::as_ref)
            .collect();
        assert_eq!(records, [&b"abc"[..], &b"de"[..]]);
    }
}

#[test]
fn consecutive_framing_is_merged() {
    let spec = ResponseSpec::new(vec![
        TopicSpec::new(
            "a",
            vec![
                PartitionSpec::new(0, &[b"a0", b"a1"]),
                PartitionSpec::new(1, &[]),
                PartitionSpec::new(2, &[b"a2"]),
            ],
        ),
        TopicSpec::new("b", vec![PartitionSpec::new(0, &[b"b0"])]),
    ]);
    let shape = |segments: &[Segment<TestChunk>]| -> String {
        let kinds = segments.iter().map(|s| match s {
            Segment::Framing(_) => 'F',
            Segment::Records(_) => 'R',
        });
        kinds.collect()
    };
    for version in VERSIONS {
        check_against_crate(1, version, &spec);
        let segments = encode(1, version, &spec);
        // Before v12 the records field ends the partition, the topic and the
        // response, so nothing follows the last chunk; from v12 on the three
        // tag sections do.
        let expected = if version >= 12 { "FRRFRFRF" } else { "FRRFRFR" };
        assert_eq!(shape(&segments), expected, "v{version}");
    }
}

#[test]
fn storage_chunks_are_passed_through_not_copied() {
    let buffer: Rc<dyn AsRef<[u8]>> = Rc::new((0..=255u8).collect::<Vec<u8>>());
    let whole = Chunk::new(buffer);
    let inputs = [
        whole.slice(0..10),
        whole.slice(10..100),
        whole.slice(200..256),
    ];
    let pointers: Vec<*const u8> = inputs.iter().map(|c| c.as_slice().as_ptr()).collect();
    let response = FetchResponseModel {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        topics: vec![FetchTopic {
            name: "t".to_owned(),
            topic_id: uuid::Uuid::nil(),
            partitions: vec![FetchPartition {
                partition_index: 0,
                error_code: 0,
                high_watermark: 1,
                last_stable_offset: 1,
                log_start_offset: 0,
                aborted_transactions: None,
                preferred_read_replica: -1,
                records: inputs.into_iter().collect(),
            }],
        }],
    };
    let segments = encode_fetch_response(1, FETCH_VERSION_MAX, response).unwrap();
    let out: Vec<&Chunk> = segments
        .iter()
        .filter_map(|s| match s {
            Segment::Records(chunk) => Some(chunk),
            Segment::Framing(_) => None,
        })
        .collect();
    assert_eq!(out.len(), 3);
    for (chunk, pointer) in out.iter().zip(&pointers) {
        assert!(chunk.shares_buffer_with(&whole));
        assert_eq!(chunk.as_slice().as_ptr(), *pointer);
    }
    let (_, decoded) = crate_decode(FETCH_VERSION_MAX, &concat(&segments));
    let records = decoded.responses[0].partitions[0].records.clone().unwrap();
    let expected: Vec<u8> = (0..100u8).chain(200..=255).collect();
    assert_eq!(records, expected);
}

#[test]
fn fields_a_version_cannot_carry_are_errors_like_in_kafka() {
    let session = ResponseSpec {
        session_id: 5,
        ..ResponseSpec::new(vec![])
    };
    let replica = ResponseSpec::new(vec![TopicSpec::new(
        "t",
        vec![PartitionSpec {
            preferred_read_replica: 2,
            ..PartitionSpec::new(0, &[b"x"])
        }],
    )]);
    for version in VERSIONS {
        check_against_crate(1, version, &session);
        check_against_crate(1, version, &replica);
        let result = encode_fetch_response(1, version, session.model());
        assert_eq!(result.is_err(), version < 7, "session_id in v{version}");
        let result = encode_fetch_response(1, version, replica.model());
        assert_eq!(
            result.is_err(),
            version < 11,
            "preferred_read_replica in v{version}"
        );
    }
    let result = encode_fetch_response(1, 6, session.model());
    let expected = FetchEncodeError::FieldNotInVersion {
        field: "session_id",
        value: 5,
        version: 6,
    };
    assert_eq!(result.err(), Some(expected));
}

#[test]
fn multi_byte_lengths_match_kafka_protocol() {
    // Over 127 items or bytes, compact lengths take two varint bytes.
    let aborted: Vec<(i64, i64)> = (0..130).map(|i| (i, -i)).collect();
    let big_chunk = vec![0x5a; 20_000];
    let mut partitions: Vec<PartitionSpec> = (0..200).map(|i| PartitionSpec::new(i, &[])).collect();
    partitions[3].aborted_transactions = Some(aborted);
    partitions[4].chunks = vec![Rc::new(big_chunk), Rc::new(vec![1; 300])];
    let name = "n".repeat(300);
    let spec = ResponseSpec::new(vec![TopicSpec::new(&name, partitions)]);
    for version in VERSIONS {
        check_against_crate(1, version, &spec);
    }
}

#[test]
fn topic_names_longer_than_kafka_allows_are_errors() {
    let at_limit = ResponseSpec::new(vec![TopicSpec::new(&"x".repeat(0x7fff), vec![])]);
    let over = ResponseSpec::new(vec![TopicSpec::new(&"x".repeat(0x8000), vec![])]);
    for version in VERSIONS {
        check_against_crate(1, version, &at_limit);
        let result = encode_fetch_response(1, version, over.model());
        // From v13 the name is not sent at all.
        assert_eq!(result.is_err(), version < 13, "v{version}");
    }
    // kafka-protocol refuses too before v12; in v12 it would send the name
    // as a compact string, which Kafka's own serializer refuses.
    assert_eq!(crate_encode(1, 11, &over), None);
}

/// A response whose records add up to more than an i32 can frame, built
/// from one shared megabyte so nothing large is allocated.
fn oversized(partition_count: i32, chunks_per_partition: usize) -> FetchResponseModel<TestChunk> {
    let megabyte = Rc::new(vec![0u8; 1 << 20]);
    let partition = |index| FetchPartition {
        partition_index: index,
        error_code: 0,
        high_watermark: 0,
        last_stable_offset: 0,
        log_start_offset: 0,
        aborted_transactions: None,
        preferred_read_replica: -1,
        records: (0..chunks_per_partition)
            .map(|_| TestChunk(megabyte.clone()))
            .collect(),
    };
    FetchResponseModel {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        topics: vec![FetchTopic {
            name: "t".to_owned(),
            topic_id: uuid::Uuid::nil(),
            partitions: (0..partition_count).map(partition).collect(),
        }],
    }
}

#[test]
fn records_over_the_frame_limit_are_errors() {
    for version in [FETCH_VERSION_MIN, FETCH_VERSION_MAX] {
        // One partition of 2 GiB: its records length cannot be framed.
        let result = encode_fetch_response(1, version, oversized(1, 2048));
        let Err(FetchEncodeError::TooLarge { what, .. }) = result else {
            panic!("v{version}: {result:?}");
        };
        assert_eq!(what, "partition records");
        // Two partitions of 1.5 GiB: each fits, the response does not.
        let result = encode_fetch_response(1, version, oversized(2, 1536));
        let Err(FetchEncodeError::TooLarge { what, .. }) = result else {
            panic!("v{version}: {result:?}");
        };
        assert_eq!(what, "response");
    }
}

#[test]
fn segments_len_counts_the_size_prefix_and_every_chunk() {
    let spec = ResponseSpec::new(vec![TopicSpec::new(
        "t",
        vec![PartitionSpec::new(0, &[b"hello", b"world"])],
    )]);
    for version in VERSIONS {
        let segments = encode(1, version, &spec);
        let total = segments_len(&segments);
        let prefix = i32::from_be_bytes(concat(&segments)[..4].try_into().unwrap());
        assert_eq!(usize::try_from(prefix).unwrap() + 4, total);
    }
}

#[test]
fn varints_match_leb128() {
    let cases: [(u32, &[u8]); 6] = [
        (0, &[0x00]),
        (1, &[0x01]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (300, &[0xac, 0x02]),
        (u32::MAX, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
    ];
    for (value, expected) in cases {
        let mut buf = BytesMut::new();
        put_unsigned_varint(&mut buf, value);
        assert_eq!(&buf[..], expected, "{value}");
    }
}
