"""Consumer-group requests built by hand (JoinGroup v1, SyncGroup v1,
Heartbeat v1, OffsetCommit v2), for tests that misuse the protocol in ways
no client library would."""

import struct

from wire import Reader, recv_frame, request, string

API_OFFSET_COMMIT = 8
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_SYNC_GROUP = 14

ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_COORDINATOR = 16


def blob(data):
    return struct.pack(">i", len(data)) + data


def join_group_v1(correlation_id, group, member_id, protocols, protocol_type="consumer",
                  session_timeout_ms=10_000, rebalance_timeout_ms=10_000):
    body = (
        string(group)
        + struct.pack(">ii", session_timeout_ms, rebalance_timeout_ms)
        + string(member_id)
        + string(protocol_type)
        + struct.pack(">i", len(protocols))
        + b"".join(string(name) + blob(metadata) for name, metadata in protocols)
    )
    return request(API_JOIN_GROUP, 1, correlation_id, body)


def parse_join_group_v1(frame):
    r = Reader(frame)
    correlation_id = r.take(">i")
    error = r.take(">h")
    generation = r.take(">i")
    protocol = r.string()
    leader = r.string()
    member_id = r.string()
    count = r.take(">i")
    members = []
    for _ in range(count):
        member = r.string()
        size = r.take(">i")
        r.take(f">{size}s")
        members.append(member)
    return {
        "correlation_id": correlation_id,
        "error": error,
        "generation": generation,
        "protocol": protocol,
        "leader": leader,
        "member_id": member_id,
        "members": members,
    }


def sync_group_v1(correlation_id, group, generation, member_id, assignments):
    body = (
        string(group)
        + struct.pack(">i", generation)
        + string(member_id)
        + struct.pack(">i", len(assignments))
        + b"".join(string(m) + blob(a) for m, a in assignments)
    )
    return request(API_SYNC_GROUP, 1, correlation_id, body)


def parse_sync_group_v1(frame):
    r = Reader(frame)
    r.take(">i")  # correlation id
    r.take(">i")  # throttle time
    error = r.take(">h")
    size = r.take(">i")
    assignment = r.take(f">{max(size, 0)}s")
    return error, assignment


def heartbeat_v1(correlation_id, group, generation, member_id):
    body = string(group) + struct.pack(">i", generation) + string(member_id)
    return request(API_HEARTBEAT, 1, correlation_id, body)


def parse_heartbeat_v1(frame):
    r = Reader(frame)
    r.take(">i")
    r.take(">i")
    error = r.take(">h")
    return error


def offset_commit_v2(correlation_id, group, generation, member_id, topic, partition, offset):
    body = (
        string(group)
        + struct.pack(">i", generation)
        + string(member_id)
        + struct.pack(">q", -1)  # retention time
        + struct.pack(">i", 1)
        + string(topic)
        + struct.pack(">i", 1)
        + struct.pack(">iq", partition, offset)
        + string("")
    )
    return request(API_OFFSET_COMMIT, 2, correlation_id, body)


def parse_offset_commit_v2(frame):
    """The error of the one partition committed."""
    r = Reader(frame)
    r.take(">i")
    r.take(">i")  # topics
    r.string()
    r.take(">i")  # partitions
    r.take(">i")  # partition index
    error = r.take(">h")
    return error


def call(sock, frame):
    sock.sendall(frame)
    return recv_frame(sock)
