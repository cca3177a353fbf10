"""Small helpers over confluent-kafka shared by the broker tests.

Every wait is a bounded loop over a deadline: the deadline only stops a
stuck test, what a test asserts is what the clients got back.
"""

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# Bounds for one client operation on a slow 2-core machine.
OP_TIMEOUT_S = 60


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap, name, partitions=1, config=None):
    client = admin(bootstrap)  # kept alive until the result is in
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=OP_TIMEOUT_S,
        request_timeout=OP_TIMEOUT_S,
    )
    futures[name].result(timeout=OP_TIMEOUT_S)


def consumer(bootstrap, **extra):
    """A consumer for assign(): no group membership is used, but
    librdkafka's consumer needs a group.id in its config."""
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": "sluice-tests-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }
    config.update(extra)
    return Consumer(config)


class Deliveries:
    """Delivery reports of a confluent-kafka producer."""

    def __init__(self):
        self.acked = []  # (partition, offset, key, value)
        self.failed = []  # (error, value)

    def __call__(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        else:
            self.failed.append((err, msg.value()))


def flush(producer, timeout_s=OP_TIMEOUT_S):
    remaining = producer.flush(timeout_s)
    assert remaining == 0, f"{remaining} messages still undelivered after {timeout_s}s"


def watermarks(bootstrap, topic, partition):
    c = consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=OP_TIMEOUT_S)
    finally:
        c.close()


def read_partitions(bootstrap, topic, ends, start=0, timeout_s=OP_TIMEOUT_S, **extra):
    """Reads every partition p of `ends` from `start` up to offset ends[p]
    (exclusive). Returns {partition: [Message]} in the order received.
    Fails on any consumer error."""
    c = consumer(bootstrap, **extra)
    got = {p: [] for p in ends}
    try:
        pending = {p for p, end in ends.items() if end > start}
        c.assign([TopicPartition(topic, p, start) for p in pending])
        deadline = time.monotonic() + timeout_s
        while pending:
            assert time.monotonic() < deadline, (
                f"still waiting for partitions {sorted(pending)} after {timeout_s}s; "
                f"got {[(p, len(m)) for p, m in got.items()]}"
            )
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error: {msg.error()}")
            p = msg.partition()
            got[p].append(msg)
            if msg.offset() + 1 >= ends[p]:
                pending.discard(p)
    finally:
        c.close()
    return got


def read_all(bootstrap, topic, partitions, timeout_s=OP_TIMEOUT_S, **extra):
    """Every message of partitions 0..partitions-1, from offset 0 up to the
    high watermark at the time of the call."""
    ends = {p: watermarks(bootstrap, topic, p)[1] for p in range(partitions)}
    return read_partitions(bootstrap, topic, ends, timeout_s=timeout_s, **extra)


def assert_contiguous(messages, start=0):
    offsets = [m.offset() for m in messages]
    assert offsets == list(range(start, start + len(offsets))), (
        f"offsets not contiguous from {start}: first {offsets[:10]} ... last {offsets[-10:]}"
    )


def round_trip_one(bootstrap, topic, payload):
    """Produces one message with acks=all to partition 0 of `topic` and
    reads it back at its acknowledged offset: the broker still serves a
    well-behaved client."""
    deliveries = Deliveries()
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    p.produce(topic, value=payload, partition=0, on_delivery=deliveries)
    flush(p)
    assert deliveries.failed == [], deliveries.failed
    [(partition, offset, _, value)] = deliveries.acked
    assert (partition, value) == (0, payload)
    got = read_partitions(bootstrap, topic, {0: offset + 1}, start=offset)
    assert [(m.offset(), m.value()) for m in got[0]] == [(offset, payload)]
    return offset


class Witness:
    """A producer and a consumer connected before the bad input and used
    after it: one message produced (acks=all) and read back each check."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
        self.consumer = consumer(bootstrap)
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.checks = 0

    def check(self):
        payload = f"witness-{self.checks}".encode()
        deliveries = Deliveries()
        self.producer.produce(self.topic, value=payload, partition=0, on_delivery=deliveries)
        flush(self.producer)
        assert deliveries.failed == [], deliveries.failed
        [(_, offset, _, _)] = deliveries.acked
        assert offset == self.checks
        deadline = time.monotonic() + OP_TIMEOUT_S
        while True:
            assert time.monotonic() < deadline, f"witness message {offset} not read back"
            msg = self.consumer.poll(0.5)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not msg.error(), msg.error()
            assert (msg.offset(), msg.value()) == (offset, payload)
            break
        self.checks += 1

    def close(self):
        self.consumer.close()
