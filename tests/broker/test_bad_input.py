"""Bad bytes on a raw socket close that connection only (or are answered
with an error): a well-behaved client on its own connections keeps working
throughout."""

import socket
import struct
import time

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition

import wire
from clients import OP_TIMEOUT_S, Witness, consumer, create_topic, watermarks

SOCKET_REQUEST_MAX_BYTES = 104_857_600  # Kafka's default socket.request.max.bytes


@pytest.fixture
def witness(broker, topic_name):
    topic = topic_name("witness")
    create_topic(broker.bootstrap, topic, partitions=1)
    w = Witness(broker.bootstrap, topic)
    w.check()  # connections are up before the bad input
    yield w
    w.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "size",
    [SOCKET_REQUEST_MAX_BYTES + 1, 0x7FFFFFFF, -1],
    ids=["max-plus-one", "i32-max", "negative"],
)
def test_frame_size_out_of_bounds_closes_connection(broker, witness, size):
    with wire.connect(broker.bootstrap) as s:
        s.sendall(struct.pack(">i", size))
        wire.assert_closed_by_peer(s)
    witness.check()


@pytest.mark.timeout(90)
def test_truncated_frame_closes_connection(broker, witness):
    with wire.connect(broker.bootstrap) as s:
        s.sendall(struct.pack(">i", 100) + bytes(range(10)))
        s.shutdown(socket.SHUT_WR)  # the other 90 bytes never come
        wire.assert_closed_by_peer(s)
    witness.check()


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "api_key, api_version",
    [(999, 0), (wire.API_METADATA, 99)],
    ids=["unknown-api-key", "metadata-v99"],
)
def test_unsupported_request_closes_connection(broker, witness, api_key, api_version):
    with wire.connect(broker.bootstrap) as s:
        s.sendall(wire.request(api_key, api_version, correlation_id=7))
        wire.assert_closed_by_peer(s)
    witness.check()


@pytest.mark.timeout(90)
def test_api_versions_unsupported_version_is_answered(broker, witness):
    with wire.connect(broker.bootstrap) as s:
        # KIP-511: a version the broker does not know is answered in v0 with
        # UNSUPPORTED_VERSION and the broker's ranges.
        s.sendall(wire.request(wire.API_VERSIONS, 99, correlation_id=41))
        correlation_id, error_code, apis = wire.parse_api_versions_v0(wire.recv_frame(s))
        assert correlation_id == 41
        assert error_code == wire.UNSUPPORTED_VERSION
        ranges = {key: (lo, hi) for key, lo, hi in apis}
        assert len(ranges) == len(apis) > 0
        assert ranges[wire.API_VERSIONS][0] == 0 and ranges[wire.API_VERSIONS][1] >= 3
        for key in (wire.API_PRODUCE, 1, wire.API_METADATA):  # Produce, Fetch, Metadata
            lo, hi = ranges[key]
            assert 0 <= lo <= hi

        # The connection stays open: v0 on it is answered with no error and
        # the same ranges.
        s.sendall(wire.request(wire.API_VERSIONS, 0, correlation_id=42))
        correlation_id, error_code, apis_v0 = wire.parse_api_versions_v0(wire.recv_frame(s))
        assert (correlation_id, error_code) == (42, wire.NONE)
        assert sorted(apis_v0) == sorted(apis)
    witness.check()


@pytest.mark.timeout(90)
def test_produce_checks_batch_crc(broker, witness, topic_name):
    topic = topic_name("crc")
    create_topic(broker.bootstrap, topic, partitions=1)
    now_ms = int(time.time() * 1000)
    values = [b"first", b"second", b"third"]
    good = wire.record_batch(values, now_ms)

    with wire.connect(broker.bootstrap) as s:
        # The hand-made batch is valid: appended at 0, read back by librdkafka.
        s.sendall(wire.produce_v3(1, topic, 0, good))
        correlation_id, result = wire.parse_produce_v3(wire.recv_frame(s))
        assert (correlation_id, result) == (1, {(topic, 0): (wire.NONE, 0)})
        assert watermarks(broker.bootstrap, topic, 0) == (0, 3)

        bad_crc = bytearray(good)
        bad_crc[wire.BATCH_CRC_AT] ^= 0xFF
        bad_payload = bytearray(good)
        bad_payload[-3] ^= 0x01  # inside the last record's value
        for correlation_id, corrupt in ((2, bad_crc), (3, bad_payload)):
            s.sendall(wire.produce_v3(correlation_id, topic, 0, bytes(corrupt)))
            got_id, result = wire.parse_produce_v3(wire.recv_frame(s))
            assert got_id == correlation_id
            [(error_code, _)] = result.values()
            assert list(result) == [(topic, 0)]
            assert error_code == wire.CORRUPT_MESSAGE
            assert watermarks(broker.bootstrap, topic, 0) == (0, 3), "a corrupt batch was appended"

        # The connection is still usable after a per-partition error.
        s.sendall(wire.produce_v3(4, topic, 0, wire.record_batch([b"fourth"], now_ms)))
        assert wire.parse_produce_v3(wire.recv_frame(s)) == (4, {(topic, 0): (wire.NONE, 3)})

    c = consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + OP_TIMEOUT_S
        while len(got) < 4:
            assert time.monotonic() < deadline, got
            msg = c.poll(0.5)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not msg.error(), msg.error()
            got.append((msg.offset(), msg.value(), msg.timestamp()))
    finally:
        c.close()
    assert got == [(i, v, (1, now_ms)) for i, v in enumerate(values + [b"fourth"])]
    witness.check()
