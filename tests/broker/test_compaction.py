"""Log compaction with real clients: the latest value per key survives with
its offset, tombstones go after delete.retention.ms, keyless records are
refused per record, __consumer_offsets stays small under many commits, and
kill -9 in the middle of a cleaning loses no key."""

import random
import struct
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition

import wire
from clients import OP_TIMEOUT_S, Deliveries, consumer, create_topic, flush, watermarks
from group_wire import call, offset_commit_v2, parse_offset_commit_v2

KEYS = 1_000
RECORDS = 100_000
TOMBSTONED = 100
# Small segments and a cleaner that looks often, so the test is quick.
CLEANER = [
    "log.cleaner.backoff.ms=100",
    "log.cleaner.min.cleanable.ratio=0.01",
]
COMPACTED = {
    "cleanup.policy": "compact",
    "segment.bytes": "65536",
    "segment.ms": "1000",
    "delete.retention.ms": "3000",
}
CLEAN_WAIT_S = 90


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"no {what} after {timeout_s}s"
        time.sleep(0.2)


def read_compacted(bootstrap, topic, partition=0):
    """Every record of the partition up to its high watermark, as
    [(offset, key, value)]: offsets may have gaps."""
    low, high = watermarks(bootstrap, topic, partition)
    c = consumer(bootstrap)
    out = []
    try:
        c.assign([TopicPartition(topic, partition, low)])
        deadline = time.monotonic() + OP_TIMEOUT_S
        while low < high:
            assert time.monotonic() < deadline, f"read stuck at {out[-1][0] if out else low} of {high}"
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    # A compacted log can end in a gap before its high watermark.
                    if c.position([TopicPartition(topic, partition)])[0].offset >= high:
                        break
                    continue
                raise AssertionError(f"consumer error: {msg.error()}")
            out.append((msg.offset(), msg.key(), msg.value()))
            if msg.offset() + 1 >= high:
                break
    finally:
        c.close()
    offsets = [o for o, _, _ in out]
    assert offsets == sorted(set(offsets)), "offsets increase, each once"
    return out


def produce_keyed(bootstrap, topic, records):
    """Produces (key, value) pairs to partition 0 with acks=all; returns the
    acknowledged (offset, key, value)."""
    deliveries = Deliveries()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            # Batches well inside segment.bytes.
            "batch.size": 16384,
        }
    )
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, partition=0, on_delivery=deliveries)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    flush(producer)
    assert deliveries.failed == []
    return sorted((o, k, v) for (_, o, k, v) in deliveries.acked)


def latest_per_key(acked):
    latest = {}
    for offset, key, value in acked:
        latest[key] = (offset, value)
    return latest


def roll_with_sentinel(bootstrap, topic):
    """segment.ms rolls the active segment at the next append: one record
    after it has passed leaves everything before in sealed segments."""
    time.sleep(1.2)
    return produce_keyed(bootstrap, topic, [(b"sentinel", b"x")])[0]


@pytest.mark.timeout(240)
def test_latest_value_per_key_and_tombstones_after_delete_retention(broker_factory, topic_name):
    broker = broker_factory(overrides=CLEANER)
    topic = topic_name("compacted")
    create_topic(broker.bootstrap, topic, config=COMPACTED)
    # Keys in a seeded random order, so the latest values are spread out.
    rng = random.Random(15)
    keys = list(range(KEYS)) + [rng.randrange(KEYS) for _ in range(RECORDS - KEYS)]
    records = [(f"key-{k}".encode(), f"value-{i}".encode()) for i, k in enumerate(keys)]
    records += [(f"key-{k}".encode(), None) for k in rng.sample(range(KEYS), TOMBSTONED)]
    acked = produce_keyed(broker.bootstrap, topic, records)
    acked.append(roll_with_sentinel(broker.bootstrap, topic))
    latest = latest_per_key(acked)
    with_tombstones = sorted((o, k, v) for k, (o, v) in latest.items())
    without = [r for r in with_tombstones if r[2] is not None]
    assert len(with_tombstones) == KEYS + 1 and len(without) == KEYS - TOMBSTONED + 1

    # Cleaned: exactly the latest record per key (tombstones too, for now),
    # at the offsets they were given.
    def cleaned():
        got = read_compacted(broker.bootstrap, topic)
        return got if got in (with_tombstones, without) else None

    got = wait_until(cleaned, CLEAN_WAIT_S, "cleaning down to the latest value per key")
    offsets = [o for o, _, _ in got]
    assert offsets[-1] - offsets[0] > len(offsets), "offsets have gaps"
    # After delete.retention.ms the tombstones go too.
    wait_until(lambda: read_compacted(broker.bootstrap, topic) == without, CLEAN_WAIT_S, "tombstone removal")
    # A consumer starting inside a gap gets the next record kept.
    gap = without[1][0] - 1
    c = consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, gap)])
        msg = c.poll(OP_TIMEOUT_S)
        assert msg is not None and msg.error() is None and msg.offset() == without[1][0]
    finally:
        c.close()
    # What the cleaner did survives a restart.
    broker.restart()
    assert read_compacted(broker.bootstrap, topic) == without


def nullable(data):
    return wire.varint(-1) if data is None else wire.varint(len(data)) + data


def keyed_record(offset_delta, key, value):
    body = struct.pack(">b", 0) + wire.varint(0) + wire.varint(offset_delta)
    body += nullable(key) + nullable(value) + wire.varint(0)
    return wire.varint(len(body)) + body


def keyed_batch(pairs, timestamp_ms):
    """An uncompressed v2 batch of (key, value) records; None is null."""
    records = b"".join(keyed_record(i, k, v) for i, (k, v) in enumerate(pairs))
    from_attributes = (
        struct.pack(">hiqqqhii", 0, len(pairs) - 1, timestamp_ms, timestamp_ms, -1, -1, -1, len(pairs))
        + records
    )
    from_epoch = struct.pack(">ibI", -1, 2, wire.crc32c(from_attributes)) + from_attributes
    return struct.pack(">qi", 0, len(from_epoch)) + from_epoch


def produce_v8(correlation_id, topic, records):
    body = (
        wire.string(None)
        + struct.pack(">hi", -1, 30_000)
        + struct.pack(">i", 1)
        + wire.string(topic)
        + struct.pack(">i", 1)
        + struct.pack(">i", 0)
        + struct.pack(">i", len(records))
        + records
    )
    return wire.request(0, 8, correlation_id, body)


def parse_produce_v8(frame):
    """(error code, base offset, [(batch index, message)], error message)."""
    r = wire.Reader(frame)
    r.take(">i")  # correlation id
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    _partition, error, base_offset, _append_time, _log_start = r.take(">ihqqq")
    record_errors = [(r.take(">i"), r.string()) for _ in range(r.take(">i"))]
    message = r.string()
    r.take(">i")  # throttle time
    r.done()
    return error, base_offset, record_errors, message


@pytest.mark.timeout(120)
def test_keyless_records_are_refused_per_record(broker_factory, topic_name):
    broker = broker_factory()
    topic = topic_name("compacted")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})

    # confluent-kafka: the delivery fails with INVALID_RECORD.
    deliveries = Deliveries()
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "retries": 0})
    producer.produce(topic, value=b"no key", partition=0, on_delivery=deliveries)
    producer.produce(topic, key=b"k", value=b"keyed", partition=0, on_delivery=deliveries)
    flush(producer)
    codes = sorted(e.code() for e, _ in deliveries.failed)
    assert KafkaError.INVALID_RECORD in codes, deliveries.failed
    assert [m[3] for m in deliveries.acked] in ([b"keyed"], []), "the keyed record is its own batch or refused with it"

    # The wire: Produce v8 names each keyless record of the batch.
    s = wire.connect(broker.bootstrap)
    try:
        batch = keyed_batch([(b"a", b"1"), (None, b"2"), (b"c", b"3"), (None, None)], int(time.time() * 1000))
        error, base_offset, record_errors, message = parse_produce_v8(call(s, produce_v8(7, topic, batch)))
        assert (error, base_offset) == (87, -1)  # INVALID_RECORD
        assert [i for i, _ in record_errors] == [1, 3]
        assert all(m.startswith("Compacted topic cannot accept message without key") for _, m in record_errors)
        assert message.startswith("One or more records have been rejected due to 2 record errors")
        # Nothing of the refused batch was written; a keyed one still is.
        ok = keyed_batch([(b"a", b"1")], int(time.time() * 1000))
        error, base_offset, record_errors, _ = parse_produce_v8(call(s, produce_v8(8, topic, ok)))
        assert error == 0 and record_errors == []
    finally:
        s.close()
    assert [k for _, k, _ in read_compacted(broker.bootstrap, topic)] == [m[2] for m in deliveries.acked] + [b"a"]


def dir_bytes(path):
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())


COMMITS = 100_000
PIPELINE = 500


@pytest.mark.timeout(300)
def test_consumer_offsets_stays_bounded_and_reloads(broker_factory, topic_name):
    broker = broker_factory(
        overrides=CLEANER
        + [
            "offsets.topic.num.partitions=1",
            "offsets.topic.segment.bytes=262144",
        ]
    )
    topic = topic_name("committed")
    create_topic(broker.bootstrap, topic, partitions=4)
    group = "many-commits"
    s = wire.connect(broker.bootstrap)
    try:
        # Pipelined commits of a group without members, each its own record.
        for start in range(0, COMMITS, PIPELINE):
            frames = [
                offset_commit_v2(i, group, -1, "", topic, i % 4, i)
                for i in range(start, min(start + PIPELINE, COMMITS))
            ]
            s.sendall(b"".join(frames))
            for _ in frames:
                assert parse_offset_commit_v2(wire.recv_frame(s)) == 0
    finally:
        s.close()
    expected = {p: max(i for i in range(COMMITS) if i % 4 == p) for p in range(4)}
    offsets_dir = broker.data_dir / "__consumer_offsets-0"
    written = watermarks(broker.bootstrap, "__consumer_offsets", 0)[1]
    assert written >= COMMITS
    # Unbounded it would be megabytes (100,000 records of ~100 bytes); the
    # live keys are 4 offsets and what the active segment still holds.
    bound = 2 * 262144 + 65536
    wait_until(lambda: dir_bytes(offsets_dir) < bound, CLEAN_WAIT_S, f"__consumer_offsets under {bound} bytes")
    size = dir_bytes(offsets_dir)

    started = time.monotonic()
    broker.restart()
    restart_s = time.monotonic() - started
    c = consumer(broker.bootstrap, **{"group.id": group})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(4)], timeout=OP_TIMEOUT_S)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in committed} == expected
    print(f"__consumer_offsets: {written} records, {size} bytes on disk after cleaning; restart took {restart_s:.2f}s")


@pytest.mark.timeout(300)
def test_kill_during_cleaning_loses_no_key(broker_factory, topic_name):
    # A slow cleaner, so a kill lands in the middle of a cleaning.
    broker = broker_factory(overrides=CLEANER + ["log.cleaner.io.max.bytes.per.second=1000000"])
    topic = topic_name("killed")
    create_topic(broker.bootstrap, topic, config=COMPACTED)
    partition_dir = broker.data_dir / f"{topic}-0"
    acked = []
    kills = 0
    for round_ in range(3):
        records = [(f"key-{i % 300}".encode(), f"round-{round_}-{i}".encode() * 4) for i in range(30_000)]
        acked += produce_keyed(broker.bootstrap, topic, records)
        acked.append(roll_with_sentinel(broker.bootstrap, topic))
        # Kill -9 while a cleaned segment is being written.
        deadline = time.monotonic() + CLEAN_WAIT_S
        while not list(partition_dir.glob("*.cleaned")):
            assert time.monotonic() < deadline, "no cleaning in progress seen"
            time.sleep(0.01)
        broker.kill()
        kills += 1
        broker.start()
        # The reopened log found the interrupted cleaning and undid it (or
        # finished a committed swap).
        log = broker.stderr_text().split("===== run")[-1]
        assert "unfinished cleaned segment" in log or "interrupted swap" in log
        latest = latest_per_key(acked)
        got = read_compacted(broker.bootstrap, topic)
        by_offset = {o: (k, v) for o, k, v in acked}
        for offset, key, value in got:
            assert by_offset.get(offset) == (key, value), f"offset {offset} was not acknowledged as {key}={value}"
        present = {o for o, _, _ in got}
        lost = [(k, o) for k, (o, _) in latest.items() if o not in present]
        assert lost == [], f"latest values lost: {lost[:5]}"
    assert kills == 3
