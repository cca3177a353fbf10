"""Every advertised version of every group API, request by request.

The versions come from the broker's own ApiVersions answer; the requests
and the decoding of the answers come from kafka-python's protocol classes,
which are generated from Kafka's message schemas (an encoder that is not
ours). Each version does real work: joins, syncs, heartbeats, commits,
fetches, describes, lists, leaves and deletes, checked by error code and
content.
"""

import struct
import uuid

import pytest
from kafka.protocol.admin.groups import (
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    ListGroupsRequest,
    ListGroupsResponse,
)
from kafka.protocol.consumer.group import (
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)
from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse

from clients import create_topic
from wire import connect, parse_api_versions_v0, recv_frame, request

GROUP_OVERRIDES = ["group.initial.rebalance.delay.ms=0"]
MEMBER_ID_REQUIRED = 79
UNKNOWN_MEMBER_ID = 25
GROUP_ID_NOT_FOUND = 69


@pytest.fixture
def session(broker_factory):
    broker = broker_factory(overrides=GROUP_OVERRIDES)
    sock = connect(broker.bootstrap)
    sock.sendall(request(18, 0, 1))
    _, _, apis = parse_api_versions_v0(recv_frame(sock))
    yield Session(broker, sock, {key: (lo, hi) for key, lo, hi in apis})
    sock.close()


class Session:
    def __init__(self, broker, sock, versions):
        self.broker = broker
        self.sock = sock
        self.versions = versions
        self.correlation_id = 100

    def advertised(self, message):
        lo, hi = self.versions[message.API_KEY]
        return range(lo, hi + 1)

    def call(self, message, response_class):
        self.correlation_id += 1
        message.with_header(correlation_id=self.correlation_id, client_id="versions-test")
        self.sock.sendall(message.encode(header=True, framed=True))
        answer = response_class.decode(recv_frame(self.sock), version=message.API_VERSION, header=True)
        return answer

    def join(self, group, version, instance_id=None):
        """Joins a new one-member group; returns (member id, generation)."""
        def join_request(member_id):
            return JoinGroupRequest[version](
                group_id=group,
                session_timeout_ms=30_000,
                rebalance_timeout_ms=30_000,
                member_id=member_id,
                group_instance_id=instance_id,
                protocol_type="consumer",
                protocols=[JoinGroupRequest[version].JoinGroupRequestProtocol(name="range", metadata=b"m")],
                reason=None,
            )

        answer = self.call(join_request(""), JoinGroupResponse)
        if answer.error_code == MEMBER_ID_REQUIRED:
            assert version >= 4
            answer = self.call(join_request(answer.member_id), JoinGroupResponse)
        assert answer.error_code == 0, (version, answer)
        assert answer.leader == answer.member_id
        assert [m.member_id for m in answer.members] == [answer.member_id]
        assert answer.members[0].metadata == b"m"
        return answer.member_id, answer.generation_id

    def sync(self, group, member, generation, version=5):
        sync = SyncGroupRequest[version](
            group_id=group,
            generation_id=generation,
            member_id=member,
            group_instance_id=None,
            protocol_type="consumer",
            protocol_name="range",
            assignments=[SyncGroupRequest[version].SyncGroupRequestAssignment(member_id=member, assignment=b"a")],
        )
        return self.call(sync, SyncGroupResponse)

    def stable_group(self, join_version=5):
        group = f"v-{uuid.uuid4().hex[:8]}"
        member, generation = self.join(group, join_version)
        assert self.sync(group, member, generation).error_code == 0
        return group, member, generation


def test_join_group_every_version(session):
    for version in session.advertised(JoinGroupRequest):
        session.join(f"join-v{version}-{uuid.uuid4().hex[:6]}", version)


def test_sync_heartbeat_every_version(session):
    for version in session.advertised(SyncGroupRequest):
        group = f"sync-v{version}-{uuid.uuid4().hex[:6]}"
        member, generation = session.join(group, 5)
        answer = session.sync(group, member, generation, version)
        assert (answer.error_code, answer.assignment) == (0, b"a"), (version, answer)
    group, member, generation = session.stable_group()
    for version in session.advertised(HeartbeatRequest):
        beat = HeartbeatRequest[version](
            group_id=group, generation_id=generation, member_id=member, group_instance_id=None
        )
        assert session.call(beat, HeartbeatResponse).error_code == 0, version


def test_offset_commit_and_fetch_every_version(session, topic_name):
    topic = topic_name("ver")
    create_topic(session.broker.bootstrap, topic, partitions=1)
    group, member, generation = session.stable_group()
    last = None
    for version in session.advertised(OffsetCommitRequest):
        cls = OffsetCommitRequest[version]
        last = 1000 + version
        commit = cls(
            group_id=group,
            generation_id_or_member_epoch=generation,
            member_id=member,
            group_instance_id=None,
            retention_time_ms=-1,
            topics=[
                cls.OffsetCommitRequestTopic(
                    name=topic,
                    partitions=[
                        cls.OffsetCommitRequestTopic.OffsetCommitRequestPartition(
                            partition_index=0,
                            committed_offset=last,
                            committed_leader_epoch=-1,
                            committed_metadata=f"v{version}",
                        )
                    ],
                )
            ],
        )
        answer = session.call(commit, OffsetCommitResponse)
        assert answer.topics[0].partitions[0].error_code == 0, (version, answer)

    for version in session.advertised(OffsetFetchRequest):
        cls = OffsetFetchRequest[version]
        if version >= 8:
            fetch = cls(
                groups=[
                    cls.OffsetFetchRequestGroup(
                        group_id=group,
                        member_id=None,
                        member_epoch=-1,
                        topics=[cls.OffsetFetchRequestGroup.OffsetFetchRequestTopics(name=topic, partition_indexes=[0])],
                    )
                ],
                require_stable=False,
            )
            answer = session.call(fetch, OffsetFetchResponse)
            partition = answer.groups[0].topics[0].partitions[0]
        else:
            fetch = cls(
                group_id=group,
                topics=[cls.OffsetFetchRequestTopic(name=topic, partition_indexes=[0])],
                require_stable=False,
            )
            answer = session.call(fetch, OffsetFetchResponse)
            partition = answer.topics[0].partitions[0]
        assert (partition.error_code, partition.committed_offset) == (0, last), (version, answer)
        assert partition.metadata == f"v{max(session.advertised(OffsetCommitRequest))}"


def test_describe_and_list_groups_every_version(session):
    group, member, _ = session.stable_group()
    for version in session.advertised(DescribeGroupsRequest):
        describe = DescribeGroupsRequest[version](groups=[group], include_authorized_operations=version >= 3)
        described = session.call(describe, DescribeGroupsResponse).groups[0]
        assert (described.error_code, described.group_state) == (0, "Stable"), version
        assert described.protocol_data == "range"
        assert [m.member_id for m in described.members] == [member]
        assert described.members[0].member_assignment == b"a"
        missing = DescribeGroupsRequest[version](groups=["no-such-group"], include_authorized_operations=False)
        absent = session.call(missing, DescribeGroupsResponse).groups[0]
        expected = GROUP_ID_NOT_FOUND if version >= 6 else 0
        assert absent.error_code == expected, (version, absent)
    for version in session.advertised(ListGroupsRequest):
        states = ["Stable"] if version >= 4 else []
        listed = session.call(ListGroupsRequest[version](states_filter=states, types_filter=[]), ListGroupsResponse)
        assert listed.error_code == 0
        assert group in [g.group_id for g in listed.groups], version
        if version >= 4:
            empty = session.call(ListGroupsRequest[version](states_filter=["Dead"], types_filter=[]), ListGroupsResponse)
            assert group not in [g.group_id for g in empty.groups]


def test_leave_group_every_version(session):
    for version in session.advertised(LeaveGroupRequest):
        group, member, generation = session.stable_group()
        cls = LeaveGroupRequest[version]
        leave = cls(
            group_id=group,
            member_id=member,
            members=[cls.MemberIdentity(member_id=member, group_instance_id=None, reason=None)],
        )
        answer = session.call(leave, LeaveGroupResponse)
        assert answer.error_code == 0, (version, answer)
        if version >= 3:
            assert [m.error_code for m in answer.members] == [0]
        beat = HeartbeatRequest[3](group_id=group, generation_id=generation, member_id=member, group_instance_id=None)
        assert session.call(beat, HeartbeatResponse).error_code == UNKNOWN_MEMBER_ID


def test_delete_groups_and_offsets_every_version(session, topic_name):
    topic = topic_name("del")
    create_topic(session.broker.bootstrap, topic, partitions=1)
    for version in session.advertised(DeleteGroupsRequest):
        group = f"del-v{version}-{uuid.uuid4().hex[:6]}"
        commit = OffsetCommitRequest[2](
            group_id=group,
            generation_id_or_member_epoch=-1,
            member_id="",
            retention_time_ms=-1,
            topics=[
                OffsetCommitRequest[2].OffsetCommitRequestTopic(
                    name=topic,
                    partitions=[
                        OffsetCommitRequest[2].OffsetCommitRequestTopic.OffsetCommitRequestPartition(
                            partition_index=0, committed_offset=5, committed_metadata=""
                        )
                    ],
                )
            ],
        )
        assert session.call(commit, OffsetCommitResponse).topics[0].partitions[0].error_code == 0
        for version_offsets in session.advertised(OffsetDeleteRequest):
            cls = OffsetDeleteRequest[version_offsets]
            delete_offsets = cls(
                group_id=group,
                topics=[cls.OffsetDeleteRequestTopic(name=topic, partitions=[cls.OffsetDeleteRequestTopic.OffsetDeleteRequestPartition(partition_index=0)])],
            )
            answer = session.call(delete_offsets, OffsetDeleteResponse)
            assert answer.error_code == 0 and answer.topics[0].partitions[0].error_code == 0
        delete = DeleteGroupsRequest[version](groups_names=[group])
        assert session.call(delete, DeleteGroupsResponse).results[0].error_code == 0, version
        again = session.call(DeleteGroupsRequest[version](groups_names=[group]), DeleteGroupsResponse)
        assert again.results[0].error_code == GROUP_ID_NOT_FOUND


def test_find_coordinator_every_version(session):
    for version in session.advertised(FindCoordinatorRequest):
        find = FindCoordinatorRequest[version](key="g", key_type=0, coordinator_keys=["g", "h"])
        answer = session.call(find, FindCoordinatorResponse)
        if version >= 4:
            assert [(c.key, c.error_code, c.port) for c in answer.coordinators] == [
                ("g", 0, session.broker.port),
                ("h", 0, session.broker.port),
            ]
        else:
            assert (answer.error_code, answer.port) == (0, session.broker.port), version
