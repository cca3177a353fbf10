"""Clients of Kafka 0.8-0.10 producing with Produce v0-2 (message formats v0
and v1, each codec): kafka-python pinned to an old `api_version` sends
them, the broker converts every message set to one v2 batch (Kafka 3.x's
behaviour with message.format.version 3.0+), and a current client reads
back every value, key and (v1) timestamp. Also librdkafka 2.0's reason to
need Produce v0-2 listed: kcat then compresses its batches (librdkafka
turns compression on only when a broker lists them)."""

import subprocess
import time

import pytest
from kafka import KafkaProducer

from clients import create_topic, read_all
from test_replication import stored_batches

# kafka-python's api_version -> (Produce version, message magic).
GENERATIONS = {(0, 8, 2): (0, 0), (0, 9): (1, 0), (0, 10, 1): (2, 1)}
CODECS = [None, "gzip", "snappy", "lz4"]


@pytest.mark.parametrize("api_version", list(GENERATIONS), ids=lambda v: ".".join(map(str, v)))
@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_an_old_producer_is_read_by_a_new_consumer(broker, topic_name, api_version, codec):
    topic = topic_name("old")
    create_topic(broker.bootstrap, topic, partitions=2)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        api_version=api_version,
        compression_type=codec,
        linger_ms=20,
        acks=1,
    )
    sent_at = int(time.time() * 1000)
    futures = [
        producer.send(topic, key=b"k%04d" % i, value=b"v%04d" % i, partition=i % 2, timestamp_ms=sent_at + i)
        for i in range(500)
    ]
    producer.flush(60)
    metadata = [f.get(timeout=60) for f in futures]
    producer.close()
    assert sorted((m.partition, m.offset) for m in metadata) == sorted(
        [(0, o) for o in range(250)] + [(1, o) for o in range(250)]
    )
    got = read_all(broker.bootstrap, topic, 2)
    messages = sorted((m for ms in got.values() for m in ms), key=lambda m: m.value())
    assert [(m.key(), m.value()) for m in messages] == [(b"k%04d" % i, b"v%04d" % i) for i in range(500)]
    _, magic = GENERATIONS[api_version]
    for i, m in enumerate(messages):
        _, timestamp = m.timestamp()
        if magic == 1:
            assert timestamp == sent_at + i  # v1 carries the producer's timestamps
        else:
            # v0 has none, and up-conversion keeps none (-1), as Kafka's
            # LogValidator does on a CreateTime topic.
            assert timestamp == -1
    # Stored as v2 batches (magic byte at offset 16), compressed as sent.
    codec_bits = {None: 0, "gzip": 1, "snappy": 2, "lz4": 3}[codec]
    for partition in range(2):
        batches = stored_batches(broker.data_dir / f"{topic}-{partition}")
        assert batches
        for raw in batches.values():
            assert raw[16] == 2
            attributes = int.from_bytes(raw[21:23], "big")
            assert attributes & 0x07 == codec_bits


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4"])
def test_kcat_compresses_its_batches(broker, topic_name, codec):
    topic = topic_name("kcat")
    create_topic(broker.bootstrap, topic)
    lines = "".join(f"line {i} " * 20 + "\n" for i in range(200))
    subprocess.run(
        ["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-z", codec, "-X", "linger.ms=50"],
        input=lines.encode(),
        check=True,
        timeout=60,
    )
    batches = stored_batches(broker.data_dir / f"{topic}-0")
    assert batches
    codec_bits = {"gzip": 1, "snappy": 2, "lz4": 3}[codec]
    assert all(int.from_bytes(raw[21:23], "big") & 0x07 == codec_bits for raw in batches.values())
    got = read_all(broker.bootstrap, topic, 1)
    assert [m.value().decode() + "\n" for m in got[0]] == lines.splitlines(keepends=True)


@pytest.mark.parametrize("api_version", list(GENERATIONS), ids=lambda v: ".".join(map(str, v)))
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
def test_an_old_consumer_reads_what_a_new_producer_wrote(broker, topic_name, api_version, codec):
    """Fetch v0-3: the stored v2 batches down-converted to the consumer's
    message format (v1 keeps the timestamps, v0 has none)."""
    from confluent_kafka import Producer
    from kafka import KafkaConsumer, TopicPartition as KTP

    from clients import flush

    topic = topic_name("down")
    create_topic(broker.bootstrap, topic, partitions=2)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 20})
    sent_at = int(time.time() * 1000)
    for i in range(500):
        producer.produce(topic, key=b"k%04d" % i, value=b"v%04d" % i, partition=i % 2, timestamp=sent_at + i)
    flush(producer)
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        api_version=api_version,
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    try:
        partitions = [KTP(topic, 0), KTP(topic, 1)]
        consumer.assign(partitions)
        # An explicit offset: seek_to_beginning would ask ListOffsets v0,
        # which Sluice does not serve yet (its codec starts at v1).
        for tp in partitions:
            consumer.seek(tp, 0)
        got = []
        for message in consumer:
            got.append(message)
            if len(got) == 500:
                break
    finally:
        consumer.close()
    assert sorted((m.key, m.value) for m in got) == [(b"k%04d" % i, b"v%04d" % i) for i in range(500)]
    for p in (0, 1):
        offsets = [m.offset for m in got if m.partition == p]
        assert offsets == list(range(250))
    _, magic = GENERATIONS[api_version]
    for m in got:
        i = int(m.value[1:])
        # Format v0 has no timestamp field at all.
        assert m.timestamp == (sent_at + i if magic == 1 else None)
