"""Timestamps as Kafka's LogValidator treats them, on the real broker: a
batch whose header max timestamp disagrees with its records is fixed, so
offsets-for-times stays exact; LogAppendTime topics stamp the broker's
time; timestamps outside `message.timestamp.before.max.ms` /
`after.max.ms` (or `difference.max.ms`) are refused with INVALID_TIMESTAMP
and per-record errors (Produce v8)."""

import time

from confluent_kafka import KafkaError, Producer, TopicPartition
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME

import wire
from clients import OP_TIMEOUT_S, Deliveries, consumer, create_topic, flush, read_all, watermarks

HOUR_MS = 3_600_000


def now_ms():
    return int(time.time() * 1000)


def produce_raw(bootstrap, topic, batch, version=8):
    """One Produce request with `batch` for partition 0; the partition's
    result (v8 layout, or (error, base offset) for v3)."""
    with wire.connect(bootstrap) as s:
        s.sendall(wire.produce_v3(1, topic, 0, batch, version=version))
        body = wire.recv_frame(s)
    if version == 8:
        return wire.parse_produce_v8(body)[(topic, 0)]
    return wire.parse_produce_v3(body)[1][(topic, 0)]


def offset_for_time(bootstrap, topic, timestamp_ms):
    c = consumer(bootstrap)
    try:
        [found] = c.offsets_for_times([TopicPartition(topic, 0, timestamp_ms)], timeout=OP_TIMEOUT_S)
        assert found.error is None, found.error
        return found.offset
    finally:
        c.close()


def test_a_wrong_header_max_timestamp_keeps_offsets_for_times_exact(broker, topic_name):
    topic = topic_name("wrong-max")
    create_topic(broker.bootstrap, topic)
    t0 = now_ms() - 60_000
    deltas = [0, 10, 1_000, 20]
    for gzip in (False, True):
        # The header claims the first record's time; records 1-3 are later.
        batch = wire.record_batch(
            [b"a", b"b", b"c", b"d"], t0, timestamp_deltas=deltas, max_timestamp_ms=t0, gzip=gzip
        )
        result = produce_raw(broker.bootstrap, topic, batch)
        assert (result["error_code"], result["record_errors"]) == (wire.NONE, [])
    # Offsets 0-3 uncompressed, 4-7 gzip: the first record at or after each
    # time, found through the time index the fixed headers fed.
    assert offset_for_time(broker.bootstrap, topic, t0 + 5) == 1
    assert offset_for_time(broker.bootstrap, topic, t0 + 11) == 2
    assert offset_for_time(broker.bootstrap, topic, t0 + 500) == 2
    assert offset_for_time(broker.bootstrap, topic, t0 + 1_000) == 2
    assert offset_for_time(broker.bootstrap, topic, t0 + 1_001) == -1
    # Consumers see the producer's timestamps, unchanged.
    messages = read_all(broker.bootstrap, topic, 1)[0]
    assert [m.timestamp() for m in messages] == [(TIMESTAMP_CREATE_TIME, t0 + d) for d in deltas * 2]


def test_offsets_for_times_inside_a_later_compressed_batch(broker, topic_name):
    topic = topic_name("compressed-lookup")
    create_topic(broker.bootstrap, topic)
    t0 = now_ms() - 60_000
    produce_raw(broker.bootstrap, topic, wire.record_batch([b"x"], t0 - 5_000))
    batch = wire.record_batch([b"a", b"b", b"c"], t0, timestamp_deltas=[0, 100, 200], gzip=True)
    assert produce_raw(broker.bootstrap, topic, batch)["error_code"] == wire.NONE
    # Offsets 1-3 are inside one gzip batch: the lookup finds the record.
    assert offset_for_time(broker.bootstrap, topic, t0 + 150) == 3
    assert offset_for_time(broker.bootstrap, topic, t0 + 1) == 2


def test_log_append_time_topics_stamp_the_broker_time(broker, topic_name):
    topic = topic_name("append-time")
    create_topic(broker.bootstrap, topic, config={"message.timestamp.type": "LogAppendTime"})
    before = now_ms()
    deliveries = Deliveries()
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    # A producer time from 2001: the broker's time replaces it.
    p.produce(topic, value=b"old", partition=0, timestamp=1_000_000_000_000, on_delivery=deliveries)
    flush(p)
    assert deliveries.failed == [], deliveries.failed
    [message] = read_all(broker.bootstrap, topic, 1)[0]
    after = now_ms()
    kind, stamped = message.timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME
    assert before <= stamped <= after
    # The produce response names the append time too.
    result = produce_raw(broker.bootstrap, topic, wire.record_batch([b"v"], 1))
    assert result["error_code"] == wire.NONE
    assert before <= result["log_append_time_ms"] <= now_ms()
    # A producer may not claim LogAppendTime itself.
    claimed = wire.record_batch([b"v"], now_ms(), attributes=wire.ATTRIBUTE_LOG_APPEND_TIME)
    result = produce_raw(broker.bootstrap, topic, claimed)
    assert result["error_code"] == wire.INVALID_TIMESTAMP
    assert [index for index, _ in result["record_errors"]] == [0]
    assert "Producer should not set timestamp type to LogAppendTime" in result["record_errors"][0][1]
    assert watermarks(broker.bootstrap, topic, 0)[1] == 2


def test_timestamps_outside_the_window_are_refused_per_record(broker, topic_name):
    topic = topic_name("window")
    create_topic(
        broker.bootstrap,
        topic,
        config={"message.timestamp.before.max.ms": "60000", "message.timestamp.after.max.ms": "60000"},
    )
    t = now_ms()
    batch = wire.record_batch(
        [b"ok", b"an hour old", b"ok", b"an hour ahead"], t, timestamp_deltas=[0, -HOUR_MS, 10, HOUR_MS]
    )
    result = produce_raw(broker.bootstrap, topic, batch)
    assert result["error_code"] == wire.INVALID_TIMESTAMP
    assert result["base_offset"] == -1
    assert result["error_message"] == "One or more records have been rejected due to invalid timestamp"
    assert [index for index, _ in result["record_errors"]] == [1, 3]
    assert f"Timestamp {t - HOUR_MS} of message with offset 1 is out of range" in result["record_errors"][0][1]
    # Produce v3 has no per-record errors, only the code.
    assert produce_raw(broker.bootstrap, topic, batch, version=3)[0] == wire.INVALID_TIMESTAMP
    # Nothing of the refused batches was stored; a batch inside the window is.
    assert watermarks(broker.bootstrap, topic, 0)[1] == 0
    assert produce_raw(broker.bootstrap, topic, wire.record_batch([b"now"], now_ms()))["error_code"] == wire.NONE
    assert watermarks(broker.bootstrap, topic, 0)[1] == 1


def test_the_older_difference_setting_bounds_both_sides(broker, topic_name):
    topic = topic_name("difference")
    create_topic(broker.bootstrap, topic, config={"message.timestamp.difference.max.ms": "60000"})
    deliveries = Deliveries()
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    # One at a time: a batch is refused whole, so these must not share one.
    for value, timestamp in [(b"old", now_ms() - HOUR_MS), (b"new", now_ms() + HOUR_MS), (b"fine", now_ms())]:
        p.produce(topic, value=value, partition=0, timestamp=timestamp, on_delivery=deliveries)
        flush(p)
    assert sorted((value, err.code()) for err, value in deliveries.failed) == [
        (b"new", KafkaError.INVALID_TIMESTAMP),
        (b"old", KafkaError.INVALID_TIMESTAMP),
    ]
    assert [(offset, value) for _, offset, _, value in deliveries.acked] == [(0, b"fine")]
