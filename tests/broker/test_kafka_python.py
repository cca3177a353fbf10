"""kafka-python 3 (a pure-Python client, independent of librdkafka)."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from clients import OP_TIMEOUT_S, create_topic

COUNT = 1_000


@pytest.mark.timeout(120)
def test_kafka_python_idempotent_produce_and_assign_consume(broker, topic_name):
    topic = topic_name("kpy")
    create_topic(broker.bootstrap, topic, partitions=2)

    # Idempotent (InitProducerId, sequence numbers) and acks=all are the
    # defaults; said explicitly so that the client raises instead of quietly
    # falling back to a plain producer.
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        enable_idempotence=True,
        request_timeout_ms=OP_TIMEOUT_S * 1000,
        max_block_ms=OP_TIMEOUT_S * 1000,
    )
    try:
        futures = [
            producer.send(topic, key=f"k{i}".encode(), value=f"v{i:05d}".encode(), partition=i % 2)
            for i in range(COUNT)
        ]
        producer.flush(timeout=OP_TIMEOUT_S)
        metadata = [f.get(timeout=OP_TIMEOUT_S) for f in futures]
        # The idempotent path really ran: the broker handed out a producer id
        # (the pinned client's own state; no public accessor).
        assert producer._transaction_manager is not None
        assert producer._transaction_manager.producer_id_and_epoch.producer_id >= 0
    finally:
        producer.close(timeout=OP_TIMEOUT_S)
    for partition in (0, 1):
        offsets = [m.offset for m in metadata if m.partition == partition]
        assert offsets == list(range(COUNT // 2)), f"partition {partition}"

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        request_timeout_ms=OP_TIMEOUT_S * 1000,
    )
    got = {0: [], 1: []}
    try:
        partitions = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        deadline = time.monotonic() + OP_TIMEOUT_S
        while sum(len(v) for v in got.values()) < COUNT:
            assert time.monotonic() < deadline, {p: len(v) for p, v in got.items()}
            for tp, records in consumer.poll(timeout_ms=500).items():
                got[tp.partition].extend(records)
    finally:
        consumer.close()
    for partition in (0, 1):
        records = got[partition]
        assert [r.offset for r in records] == list(range(COUNT // 2))
        expected = [i for i in range(COUNT) if i % 2 == partition]
        assert [(r.key, r.value) for r in records] == [
            (f"k{i}".encode(), f"v{i:05d}".encode()) for i in expected
        ]
