"""confluent-kafka (librdkafka) admin, producer and consumer (assign only:
consumer groups are not implemented yet)."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from clients import (
    OP_TIMEOUT_S,
    Deliveries,
    admin,
    assert_contiguous,
    consumer,
    create_topic,
    flush,
    read_partitions,
    watermarks,
)


def create_result(futures):
    """{topic: None or KafkaError code} from create_topics futures."""
    out = {}
    for name, future in futures.items():
        try:
            future.result(timeout=OP_TIMEOUT_S)
            out[name] = None
        except KafkaException as e:
            out[name] = e.args[0].code()
    return out


@pytest.mark.timeout(90)
def test_admin_create_topics(broker, topic_name):
    client = admin(broker.bootstrap)
    good, checked, dup, three = (topic_name(p) for p in ("good", "validate", "dup", "rf3"))
    bad = "bad name!"

    kw = dict(operation_timeout=OP_TIMEOUT_S, request_timeout=OP_TIMEOUT_S)
    assert create_result(client.create_topics([NewTopic(good, 3, 1), NewTopic(dup, 1, 1)], **kw)) == {
        good: None,
        dup: None,
    }

    # validate_only: accepted, but nothing is created.
    assert create_result(client.create_topics([NewTopic(checked, 2, 1)], validate_only=True, **kw)) == {
        checked: None
    }

    results = create_result(
        client.create_topics(
            [NewTopic(bad, 1, 1), NewTopic(dup, 1, 1), NewTopic(three, 1, 3)], **kw
        )
    )
    assert results == {
        bad: KafkaError.TOPIC_EXCEPTION,  # INVALID_TOPIC_EXCEPTION (17)
        dup: KafkaError.TOPIC_ALREADY_EXISTS,
        three: KafkaError.INVALID_REPLICATION_FACTOR,
    }
    # validate_only also reports errors.
    assert create_result(client.create_topics([NewTopic(dup, 1, 1)], validate_only=True, **kw)) == {
        dup: KafkaError.TOPIC_ALREADY_EXISTS
    }

    topics = client.list_topics(timeout=OP_TIMEOUT_S).topics
    assert good in topics and dup in topics
    assert checked not in topics and bad not in topics and three not in topics
    assert sorted(topics[good].partitions) == [0, 1, 2]
    assert all(p.leader == 0 and p.error is None for p in topics[good].partitions.values())
    assert len(topics[dup].partitions) == 1


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 1_000
CODEC_PARTITIONS = 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_compression(broker, topic_name, codec):
    topic = topic_name(f"codec-{codec}")
    create_topic(broker.bootstrap, topic, partitions=CODEC_PARTITIONS)

    deliveries = Deliveries()
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "compression.type": codec,
            "linger.ms": 5,
        }
    )
    sent = {p: [] for p in range(CODEC_PARTITIONS)}
    for i in range(PER_CODEC):
        partition = i % CODEC_PARTITIONS
        value = f"{codec}-{i:06d}-".encode() + b"abc" * (i % 40)
        key = f"k{i}".encode()
        sent[partition].append((key, value))
        producer.produce(topic, key=key, value=value, partition=partition, on_delivery=deliveries)
        producer.poll(0)
    flush(producer)
    assert deliveries.failed == []
    assert len(deliveries.acked) == PER_CODEC

    acked = {p: sorted((o, k, v) for (pp, o, k, v) in deliveries.acked if pp == p) for p in sent}
    for p in sent:
        # One producer, one partition: acknowledged in order at 0, 1, 2, ...
        assert [(k, v) for (_, k, v) in acked[p]] == sent[p]
        assert [o for (o, _, _) in acked[p]] == list(range(len(sent[p])))
        assert watermarks(broker.bootstrap, topic, p) == (0, len(sent[p]))

    got = read_partitions(broker.bootstrap, topic, {p: len(sent[p]) for p in sent})
    for p in sent:
        assert_contiguous(got[p])
        assert [(m.key(), m.value()) for m in got[p]] == sent[p]

    # Seek into the middle of partition 0 and read from there to the end.
    middle = len(sent[0]) // 2 + 3
    c = consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        first = poll_message(c)
        assert (first.offset(), first.value()) == (0, sent[0][0][1])
        c.seek(TopicPartition(topic, 0, middle))
        rest = []
        deadline = time.monotonic() + OP_TIMEOUT_S
        while len(rest) < len(sent[0]) - middle:
            assert time.monotonic() < deadline, f"read {len(rest)} after seek"
            msg = c.poll(0.5)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not msg.error(), msg.error()
            if msg.offset() < middle and not rest:
                # Prefetched before the seek took effect; the seek discards
                # these, but one may already be in the application queue.
                continue
            rest.append(msg)
        assert_contiguous(rest, start=middle)
        assert [m.value() for m in rest] == [v for (_, v) in sent[0][middle:]]
    finally:
        c.close()


def poll_message(c, timeout_s=OP_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
            continue
        assert not msg.error(), msg.error()
        return msg
    raise AssertionError(f"no message in {timeout_s}s")


@pytest.mark.timeout(90)
def test_offsets_for_times(broker, topic_name):
    topic = topic_name("times")
    create_topic(broker.bootstrap, topic, partitions=1)
    # Explicit create times, a step of 10 ms, an hour in the past (inside
    # the default 7-day retention).
    base_ms = (int(time.time()) - 3600) * 1000
    count = 200
    deliveries = Deliveries()
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(
            topic, value=f"t{i}".encode(), partition=0, timestamp=base_ms + 10 * i, on_delivery=deliveries
        )
    flush(producer)
    assert deliveries.failed == [] and len(deliveries.acked) == count

    got = read_partitions(broker.bootstrap, topic, {0: count})[0]
    assert [m.timestamp() for m in got] == [(1, base_ms + 10 * i) for i in range(count)]  # CreateTime

    cases = {
        base_ms - 5000: 0,  # before everything: the first offset
        base_ms: 0,
        base_ms + 1: 1,  # the first message at or after the time
        base_ms + 10 * 55: 55,
        base_ms + 10 * 55 + 5: 56,
        base_ms + 10 * (count - 1): count - 1,
        base_ms + 10 * count: -1,  # after everything: no offset (OFFSET_END)
    }
    # Kafka answers with the first record (not batch) at or after the time.
    c = consumer(broker.bootstrap)
    answers = {}
    try:
        for ts in cases:
            [result] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=OP_TIMEOUT_S)
            assert result.error is None, result.error
            answers[ts] = result.offset
    finally:
        c.close()
    wrong = {
        f"base{ts - base_ms:+d}ms": {"expected": cases[ts], "got": answers[ts]}
        for ts in cases
        if answers[ts] != cases[ts]
    }
    assert not wrong, f"offsets_for_times answers: {wrong}"
