"""Stopping and crashing the broker: what was acknowledged is there after a
restart on the same data directory."""

import time
from collections import Counter

import pytest
from confluent_kafka import Producer

from clients import (
    OP_TIMEOUT_S,
    Deliveries,
    assert_contiguous,
    create_topic,
    flush,
    read_all,
    round_trip_one,
    watermarks,
)

CRASH_PARTITIONS = 4
CRASH_CYCLES = 3
ACKED_PER_CYCLE = 10_000
PRODUCED_AFTER_KILL = 500
QUEUED_MAX = 2_000
PADDING = b"." * 100


class NumberedProducer:
    """Produces m000000000, m000000001, ... round-robin over the partitions
    (number % partitions) and records the delivery reports.

    No client retries: a message is in the log at most once and in the
    order produced, so "exactly once, in order" is what the broker alone
    must keep."""

    def __init__(self, bootstrap, topic, first, deliveries):
        self.topic = topic
        self.next = first
        self.deliveries = deliveries
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": False,
                "linger.ms": 5,
                "retries": 0,
            }
        )

    def produce_one(self):
        self.producer.produce(
            self.topic,
            value=f"m{self.next:09d}".encode() + PADDING,
            partition=self.next % CRASH_PARTITIONS,
            on_delivery=self.deliveries,
        )
        self.next += 1
        self.producer.poll(0)
        if len(self.producer) >= QUEUED_MAX:
            self.producer.poll(0.05)

    def give_up(self):
        """Fails whatever is queued or unanswered (never retried) and
        serves every delivery report."""
        self.producer.purge(in_queue=True, in_flight=True, blocking=True)
        flush(self.producer)


def number(value):
    return int(value[1:10])


@pytest.mark.timeout(300)
def test_acknowledged_messages_survive_kill_9(broker, topic_name):
    topic = topic_name("crash")
    create_topic(broker.bootstrap, topic, partitions=CRASH_PARTITIONS)
    deliveries = Deliveries()
    first = 0

    for cycle in range(CRASH_CYCLES):
        producer = NumberedProducer(broker.bootstrap, topic, first, deliveries)
        target = len(deliveries.acked) + ACKED_PER_CYCLE
        failed_before = len(deliveries.failed)
        deadline = time.monotonic() + OP_TIMEOUT_S * 2
        while len(deliveries.acked) < target:
            assert time.monotonic() < deadline, f"cycle {cycle}: {len(deliveries.acked)} acknowledged"
            assert len(deliveries.failed) == failed_before, deliveries.failed[failed_before:][:5]
            producer.produce_one()

        # Requests are in flight (the producer never stopped): crash now,
        # and keep producing into the dead broker for a while.
        broker.kill()
        for _ in range(PRODUCED_AFTER_KILL):
            producer.produce_one()
        producer.give_up()
        assert len(deliveries.failed) > failed_before, "the kill interrupted nothing"
        first = producer.next
        del producer

        broker.start()
        log = read_all(broker.bootstrap, topic, CRASH_PARTITIONS)
        check_acknowledged(log, deliveries.acked, cycle)

    # Producing goes on at the end of the recovered log.
    end = watermarks(broker.bootstrap, topic, 0)[1]
    assert round_trip_one(broker.bootstrap, topic, b"after-crash") == end


def check_acknowledged(log, acked, cycle):
    """Every acknowledged message exactly once, at its acknowledged offset;
    each partition's log contiguous and in the order produced."""
    counts = Counter(m.value() for msgs in log.values() for m in msgs)
    for partition, msgs in log.items():
        assert_contiguous(msgs)
        numbers = [number(m.value()) for m in msgs]
        assert numbers == sorted(numbers), f"cycle {cycle}: partition {partition} out of order"
        assert all(n % CRASH_PARTITIONS == partition for n in numbers)

    lost = [(p, o, v[:10]) for (p, o, _, v) in acked if counts[v] == 0]
    assert not lost, f"cycle {cycle}: {len(lost)} acknowledged messages lost, first {lost[:5]}"
    duplicated = [v[:10] for (_, _, _, v) in acked if counts[v] > 1]
    assert not duplicated, f"cycle {cycle}: {len(duplicated)} acknowledged duplicated, first {duplicated[:5]}"
    moved = [
        (p, o, v[:10], log[p][o].value()[:10] if o < len(log[p]) else None)
        for (p, o, _, v) in acked
        if o >= len(log[p]) or log[p][o].value() != v
    ]
    assert not moved, f"cycle {cycle}: {len(moved)} acknowledged not at their offset, first {moved[:5]}"


@pytest.mark.timeout(180)
def test_data_survives_clean_restart(broker, topic_name):
    topic = topic_name("restart")
    partitions = 3
    create_topic(broker.bootstrap, topic, partitions=partitions)

    def produce(prefix, count):
        deliveries = Deliveries()
        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
        for i in range(count):
            producer.produce(
                topic, value=f"{prefix}-{i:05d}".encode(), partition=i % partitions, on_delivery=deliveries
            )
        flush(producer)
        assert deliveries.failed == []
        return deliveries.acked

    first = produce("before", 1_500)
    code = broker.stop()
    assert code == 0, f"broker exited {code} on SIGTERM"
    broker.start()

    log = read_all(broker.bootstrap, topic, partitions)
    for partition in range(partitions):
        assert_contiguous(log[partition])
        assert [(m.offset(), m.value()) for m in log[partition]] == sorted(
            (o, v) for (p, o, _, v) in first if p == partition
        )
    ends = {p: len(log[p]) for p in range(partitions)}
    assert sum(ends.values()) == 1_500

    # New messages continue at the next offset of each partition.
    second = produce("after", 300)
    for partition in range(partitions):
        offsets = sorted(o for (p, o, _, _) in second if p == partition)
        assert offsets == list(range(ends[partition], ends[partition] + 100))
        assert watermarks(broker.bootstrap, topic, partition) == (0, ends[partition] + 100)

    # And a second clean restart keeps both runs' messages.
    broker.restart()
    log = read_all(broker.bootstrap, topic, partitions)
    for partition in range(partitions):
        assert_contiguous(log[partition])
        expected = sorted((o, v) for (p, o, _, v) in first + second if p == partition)
        assert [(m.offset(), m.value()) for m in log[partition]] == expected
