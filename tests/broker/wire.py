"""Kafka wire bytes built by hand, for the tests that send the broker what
no well-behaved client would: just enough of the protocol (request header
v1, ApiVersions v0 response, Produce v3, record batch v2) to say exactly
which bytes go out.
"""

import gzip as gzip_module
import socket
import struct

SOCKET_TIMEOUT_S = 60

API_PRODUCE = 0
API_METADATA = 3
API_VERSIONS = 18

NONE = 0
CORRUPT_MESSAGE = 2
INVALID_TIMESTAMP = 32
UNSUPPORTED_VERSION = 35
INVALID_RECORD = 87

# Batch attributes bit 3: the timestamps are the broker's (LogAppendTime).
ATTRIBUTE_LOG_APPEND_TIME = 0x08

# Offset of the CRC field in a v2 batch: base offset (8), batch length (4),
# partition leader epoch (4), magic (1).
BATCH_CRC_AT = 17


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), the checksum of a v2 record batch."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


def varint(n):
    """Zigzag varint (records use signed varints)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def string(s):
    if s is None:
        return struct.pack(">h", -1)
    data = s.encode()
    return struct.pack(">h", len(data)) + data


def record(offset_delta, value, key=None, timestamp_delta=0):
    body = (
        struct.pack(">b", 0)  # attributes
        + varint(timestamp_delta)
        + varint(offset_delta)
        + (varint(-1) if key is None else varint(len(key)) + key)
        + varint(len(value))
        + value
        + varint(0)  # headers
    )
    return varint(len(body)) + body


def record_batch(values, timestamp_ms, timestamp_deltas=None, max_timestamp_ms=None, attributes=0, gzip=False):
    """A v2 batch of `values` (no producer id), CRC included.
    Record i has timestamp `timestamp_ms + timestamp_deltas[i]` (all
    `timestamp_ms` by default); the header's max timestamp is the records'
    maximum unless `max_timestamp_ms` says otherwise (a careless producer).
    `gzip` compresses the records (codec 1)."""
    deltas = timestamp_deltas or [0] * len(values)
    assert len(deltas) == len(values)
    records = b"".join(record(i, v, timestamp_delta=d) for i, (v, d) in enumerate(zip(values, deltas)))
    if max_timestamp_ms is None:
        max_timestamp_ms = timestamp_ms + max(deltas)
    if gzip:
        records = gzip_module.compress(records)
        attributes |= 1
    from_attributes = (
        struct.pack(
            ">hiqqqhii",
            attributes,  # bits 0-2 compression, bit 3 LogAppendTime
            len(values) - 1,  # last offset delta
            timestamp_ms,  # base timestamp
            max_timestamp_ms,
            -1,  # producer id
            -1,  # producer epoch
            -1,  # base sequence
            len(values),
        )
        + records
    )
    from_epoch = struct.pack(">ibI", -1, 2, crc32c(from_attributes)) + from_attributes
    batch = struct.pack(">qi", 0, len(from_epoch)) + from_epoch
    assert batch[BATCH_CRC_AT - 1] == 2  # magic right before the CRC
    return batch


def request(api_key, api_version, correlation_id, body=b"", client_id="sluice-wire-test"):
    """A framed request with header v1 (non-flexible)."""
    payload = struct.pack(">hhi", api_key, api_version, correlation_id) + string(client_id) + body
    return struct.pack(">i", len(payload)) + payload


def produce_v3(correlation_id, topic, partition, records, acks=-1, timeout_ms=30_000, version=3):
    """A Produce request (v3 by default; v3-8 share this layout)."""
    assert 3 <= version <= 8
    body = (
        string(None)  # transactional id
        + struct.pack(">hi", acks, timeout_ms)
        + struct.pack(">i", 1)
        + string(topic)
        + struct.pack(">i", 1)
        + struct.pack(">i", partition)
        + struct.pack(">i", len(records))
        + records
    )
    return request(API_PRODUCE, version, correlation_id, body)


class Reader:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.at : self.at + n].decode()
        self.at += n
        return s

    def done(self):
        assert self.at == len(self.data), f"{len(self.data) - self.at} bytes left over"


def parse_produce_v3(frame_body):
    """{(topic, partition): (error_code, base_offset)} and the correlation id."""
    r = Reader(frame_body)
    correlation_id = r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            partition, error_code, base_offset, _log_append_time = r.take(">ihqq")
            out[(topic, partition)] = (error_code, base_offset)
    r.take(">i")  # throttle time
    r.done()
    return correlation_id, out


def parse_produce_v8(frame_body):
    """{(topic, partition): {error_code, base_offset, log_append_time_ms,
    record_errors: [(batch_index, message)], error_message}}."""
    r = Reader(frame_body)
    r.take(">i")  # correlation id
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            partition, error_code, base_offset, log_append_time_ms, _log_start = r.take(">ihqqq")
            record_errors = [(r.take(">i"), r.string()) for _ in range(r.take(">i"))]
            out[(topic, partition)] = {
                "error_code": error_code,
                "base_offset": base_offset,
                "log_append_time_ms": log_append_time_ms,
                "record_errors": record_errors,
                "error_message": r.string(),
            }
    r.take(">i")  # throttle time
    r.done()
    return out


def parse_api_versions_v0(frame_body):
    """(correlation id, error code, [(key, min, max)])."""
    r = Reader(frame_body)
    correlation_id, error_code = r.take(">ih")
    apis = [r.take(">hhh") for _ in range(r.take(">i"))]
    r.done()
    return correlation_id, error_code, apis


def connect(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_S)
    s.settimeout(SOCKET_TIMEOUT_S)
    return s


def recv_exact(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def recv_frame(s):
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, size)


def assert_closed_by_peer(s):
    """The broker closes the connection (EOF or reset) without answering;
    waiting longer than SOCKET_TIMEOUT_S for it fails the test."""
    try:
        data = s.recv(65536)
    except ConnectionResetError:
        return
    assert data == b"", f"expected the connection closed, got {len(data)} bytes: {data[:64]!r}"


API_FETCH = 1


def fetch_v4(correlation_id, topic, partitions, max_bytes, max_wait_ms=0, min_bytes=1):
    """A Fetch v4 request: `partitions` is [(partition, fetch_offset,
    partition_max_bytes)], read-uncommitted."""
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, max_bytes, 0) + struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", len(partitions))
    for partition, offset, partition_max_bytes in partitions:
        body += struct.pack(">iqi", partition, offset, partition_max_bytes)
    return request(API_FETCH, 4, correlation_id, body)


def batch_sizes(records):
    """The size of each whole v2 batch in a fetched record set (a trailing
    partial batch, which Kafka may send, is not counted)."""
    sizes, at = [], 0
    while at + 12 <= len(records):
        (length,) = struct.unpack_from(">i", records, at + 8)
        if at + 12 + length > len(records):
            break
        sizes.append(12 + length)
        at += 12 + length
    return sizes


def parse_fetch_v4(frame_body):
    """{(topic, partition): (error_code, high_watermark, records bytes)}."""
    r = Reader(frame_body)
    r.take(">i")  # correlation id
    r.take(">i")  # throttle time
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            partition, error_code, high_watermark, _last_stable = r.take(">ihqq")
            aborted = r.take(">i")
            for _ in range(max(aborted, 0)):
                r.take(">qq")
            size = r.take(">i")
            records = r.data[r.at : r.at + max(size, 0)]
            r.at += max(size, 0)
            out[(topic, partition)] = (error_code, high_watermark, records)
    r.done()
    return out


API_OFFSET_FOR_LEADER_EPOCH = 23


def offset_for_leader_epoch(correlation_id, version, topic, partitions, current_leader_epoch=-1, replica_id=-1):
    """An OffsetForLeaderEpoch request, v0-3 (non-flexible): `partitions`
    is [(partition, leader_epoch)]; v2+ carry `current_leader_epoch`, v3+
    `replica_id` (-1: a consumer)."""
    assert 0 <= version <= 3
    body = struct.pack(">i", replica_id) if version >= 3 else b""
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    for partition, leader_epoch in partitions:
        body += struct.pack(">i", partition)
        if version >= 2:
            body += struct.pack(">i", current_leader_epoch)
        body += struct.pack(">i", leader_epoch)
    return request(API_OFFSET_FOR_LEADER_EPOCH, version, correlation_id, body)


def parse_offset_for_leader_epoch(frame_body, version):
    """{(topic, partition): (error_code, leader_epoch or None before v1,
    end_offset)}."""
    r = Reader(frame_body)
    r.take(">i")  # correlation id
    if version >= 2:
        r.take(">i")  # throttle time
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            error_code, partition = r.take(">hi")
            leader_epoch = r.take(">i") if version >= 1 else None
            end_offset = r.take(">q")
            out[(topic, partition)] = (error_code, leader_epoch, end_offset)
    r.done()
    return out
