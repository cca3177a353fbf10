"""Fetch's response-level `max_bytes` (KIP-74), as librdkafka's test 0082
(fetch_max_bytes) found it missing: a consumer whose
`max.partition.fetch.bytes` is larger than `fetch.max.bytes` must still get
responses within `fetch.max.bytes` (only the first batch of the first
non-empty partition may exceed it), or librdkafka drops the connection
("Invalid response size ... (0..receive.message.max.bytes)") and never
finishes."""

import time

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition

import wire
from clients import OP_TIMEOUT_S, Deliveries, consumer, create_topic, flush

PARTITIONS = 10
BIG_MESSAGE = 900 * 1024


@pytest.mark.timeout(180)
def test_librdkafka_fetch_max_bytes_below_partition_limit(broker, topic_name):
    """0082's shape: 10 partitions of 900 KiB messages, fetch.max.bytes 1 MB,
    max.partition.fetch.bytes 20 MB; every message arrives."""
    topic = topic_name("fmb")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    per_partition = 3
    deliveries = Deliveries()
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": "all"})
    for partition in range(PARTITIONS):
        for n in range(per_partition):
            value = bytes([partition]) * (BIG_MESSAGE - 8) + n.to_bytes(8, "big")
            p.produce(topic, value=value, partition=partition, on_delivery=deliveries)
            p.poll(0)
    flush(p)
    assert deliveries.failed == []
    assert len(deliveries.acked) == PARTITIONS * per_partition

    c = consumer(
        broker.bootstrap,
        **{
            "max.partition.fetch.bytes": 20_000_000,
            "fetch.max.bytes": 1_000_000,
            "receive.message.max.bytes": 1_000_512,
            "auto.offset.reset": "earliest",
        },
    )
    errors = []
    got = set()
    try:
        c.assign([TopicPartition(topic, partition, 0) for partition in range(PARTITIONS)])
        deadline = time.monotonic() + OP_TIMEOUT_S * 2
        while len(got) < PARTITIONS * per_partition:
            assert time.monotonic() < deadline, f"got {len(got)} messages; errors {errors[:5]}"
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    errors.append(str(msg.error()))
                continue
            value = msg.value()
            assert len(value) == BIG_MESSAGE and value[0] == msg.partition()
            got.add((msg.partition(), int.from_bytes(value[-8:], "big")))
    finally:
        c.close()
    assert got == {(partition, n) for partition in range(PARTITIONS) for n in range(per_partition)}


def produce_batches(bootstrap, topic, partition, count, value_size):
    """`count` one-record batches of `value_size` bytes, one request each."""
    s = wire.connect(bootstrap)
    try:
        for n in range(count):
            batch = wire.record_batch([bytes([n % 256]) * value_size], int(time.time() * 1000))
            s.sendall(wire.produce_v3(n, topic, partition, batch))
            _, results = wire.parse_produce_v3(wire.recv_frame(s))
            assert results[(topic, partition)][0] == wire.NONE
    finally:
        s.close()


def fetch(bootstrap, topic, partitions, max_bytes):
    s = wire.connect(bootstrap)
    try:
        s.sendall(wire.fetch_v4(1, topic, partitions, max_bytes))
        frame = wire.recv_frame(s)
    finally:
        s.close()
    return len(frame), wire.parse_fetch_v4(frame)


@pytest.mark.timeout(120)
def test_response_max_bytes_cuts_partitions_at_whole_batches(broker, topic_name):
    """Three partitions of 20 batches of ~3 KB; max_bytes 50,000 with a
    per-partition limit of 1 MB: the first partition brings what fits
    50,000 (not all it has), later ones nothing past the budget, and every
    partition's records are whole batches."""
    topic = topic_name("cut")
    create_topic(broker.bootstrap, topic, partitions=3)
    for partition in range(3):
        produce_batches(broker.bootstrap, topic, partition, 20, 3000)

    size, answer = fetch(broker.bootstrap, topic, [(p, 0, 1_000_000) for p in range(3)], 50_000)
    records = {p: answer[(topic, p)][2] for p in range(3)}
    assert all(answer[(topic, p)][0] == wire.NONE for p in range(3))
    for p in range(3):
        assert sum(wire.batch_sizes(records[p])) == len(records[p]), "only whole batches"
    kept = sum(len(r) for r in records.values())
    batch = wire.batch_sizes(records[0])[0]
    assert 50_000 - batch < kept <= 50_000, (kept, [len(r) for r in records.values()])
    assert size < 50_000 + 500  # the framing of three partitions on top
    assert len(records[0]) > 0 and len(records[2]) == 0

    # The budget left after the first partition is filled from the next one
    # with the whole batches that fit.
    size, answer = fetch(
        broker.bootstrap, topic, [(0, 18, 1_000_000), (1, 0, 1_000_000), (2, 0, 1_000_000)], 20_000
    )
    first, second = (answer[(topic, p)][2] for p in (0, 1))
    assert len(wire.batch_sizes(first)) == 2  # partition 0 has 2 batches left
    assert len(first) + len(second) <= 20_000
    assert len(wire.batch_sizes(second)) == (20_000 - len(first)) // batch
    assert answer[(topic, 2)][2] == b""


@pytest.mark.timeout(60)
def test_first_batch_larger_than_max_bytes_is_still_sent(broker, topic_name):
    """KIP-74's one exception: a batch larger than max_bytes comes whole when
    it is the first of the response, so a consumer always progresses."""
    topic = topic_name("big")
    create_topic(broker.bootstrap, topic, partitions=2)
    for partition in range(2):
        produce_batches(broker.bootstrap, topic, partition, 2, 30_000)
    _, answer = fetch(broker.bootstrap, topic, [(0, 0, 1_000_000), (1, 0, 1_000_000)], 10_000)
    assert [len(wire.batch_sizes(answer[(topic, p)][2])) for p in range(2)] == [1, 0]
    assert len(answer[(topic, 0)][2]) > 30_000
