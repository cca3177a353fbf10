"""Size-based retention: old segments go, and reading below the log start
is OFFSET_OUT_OF_RANGE."""

import time

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition

from clients import (
    OP_TIMEOUT_S,
    Deliveries,
    assert_contiguous,
    consumer,
    create_topic,
    flush,
    read_partitions,
    watermarks,
)

SEGMENT_BYTES = 20_000
RETENTION_BYTES = 60_000
VALUE_BYTES = 1_000
MESSAGES = 1_000  # about 1 MB
RETENTION_WAIT_S = 30


@pytest.mark.timeout(150)
def test_retention_bytes_deletes_old_segments(broker_factory, topic_name):
    broker = broker_factory(
        overrides=[
            f"log.segment.bytes={SEGMENT_BYTES}",
            f"log.retention.bytes={RETENTION_BYTES}",
            "log.retention.check.interval.ms=200",
        ]
    )
    topic = topic_name("retention")
    create_topic(broker.bootstrap, topic, partitions=1)

    deliveries = Deliveries()
    # Small batches (a few KB), so that segments roll at about
    # log.segment.bytes and not at whatever one large batch brings.
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 5,
        }
    )
    for i in range(MESSAGES):
        value = f"{i:06d}".encode().ljust(VALUE_BYTES, b".")
        producer.produce(topic, value=value, partition=0, on_delivery=deliveries)
        producer.poll(0)
    flush(producer)
    assert deliveries.failed == []
    assert sorted(o for (_, o, _, _) in deliveries.acked) == list(range(MESSAGES))

    # The retention check runs every 200 ms; wait (bounded) for it to move
    # the log start.
    deadline = time.monotonic() + RETENTION_WAIT_S
    low, high = watermarks(broker.bootstrap, topic, 0)
    while low == 0:
        assert time.monotonic() < deadline, f"log start still 0 after {RETENTION_WAIT_S}s"
        time.sleep(0.2)
        low, high = watermarks(broker.bootstrap, topic, 0)
    assert high == MESSAGES
    assert 0 < low < high
    # Kafka's rule: the oldest sealed segment goes while the log without it
    # is still at least retention.bytes; the active segment always stays.
    # So what is kept ends up between retention.bytes and retention.bytes
    # plus a segment and a batch (counted from the values, the upper bound
    # is generous by the records' overhead; the lower bound allows 100
    # bytes of overhead a record).
    kept_max = RETENTION_BYTES + 2 * SEGMENT_BYTES
    while (high - low) * VALUE_BYTES > kept_max:
        assert time.monotonic() < deadline, f"still {high - low} messages kept after {RETENTION_WAIT_S}s"
        time.sleep(0.2)
        low, high = watermarks(broker.bootstrap, topic, 0)
    assert (high - low) * (VALUE_BYTES + 100) >= RETENTION_BYTES, (low, high)
    assert high == MESSAGES and low < high

    # Offset 0 is gone: with auto.offset.reset=error the client reports
    # OFFSET_OUT_OF_RANGE instead of silently jumping.
    c = consumer(broker.bootstrap, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + OP_TIMEOUT_S
        error = None
        while error is None:
            assert time.monotonic() < deadline, "no out-of-range error for offset 0"
            msg = c.poll(0.5)
            if msg is None:
                continue
            assert msg.error(), (
                f"offset 0 answered with a message at offset {msg.offset()} (log start {low}) "
                "instead of OFFSET_OUT_OF_RANGE"
            )
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            error = msg.error()
        assert error.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE), error
        assert "out of range" in error.str().lower(), error
    finally:
        c.close()

    # From the log start on, everything that is kept reads back in order.
    low_now, high_now = watermarks(broker.bootstrap, topic, 0)
    assert high_now == MESSAGES and low_now >= low
    kept = read_partitions(broker.bootstrap, topic, {0: MESSAGES}, start=low_now)[0]
    assert_contiguous(kept, start=low_now)
    assert [m.value()[:6] for m in kept] == [f"{i:06d}".encode() for i in range(low_now, MESSAGES)]
