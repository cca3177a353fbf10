"""OffsetForLeaderEpoch v0-3 over the wire (v4 is the flexible form Sluice's
own followers send): where a leader epoch ends, on the embedded node (one
epoch, 0, all along) and on a cluster leader after a leadership change;
followers refuse; a stale or future current epoch is fenced (v2+)."""

import subprocess
import time

import pytest

import wire
from clients import create_topic
from conftest import SLUICE_BIN
from test_reassignment import create_placed, produce
from test_replication import OVERRIDES, partition_state, wait_until

NOT_LEADER_OR_FOLLOWER = 6
UNKNOWN_TOPIC_OR_PARTITION = 3
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75


def ask(bootstrap, version, topic, partitions, current_leader_epoch=-1):
    s = wire.connect(bootstrap)
    try:
        s.sendall(wire.offset_for_leader_epoch(7, version, topic, partitions, current_leader_epoch))
        return wire.parse_offset_for_leader_epoch(wire.recv_frame(s), version)
    finally:
        s.close()


def test_every_version_on_the_embedded_node(broker, topic_name):
    topic = topic_name("epochs")
    create_topic(broker.bootstrap, topic)
    s = wire.connect(broker.bootstrap)
    try:
        for n in range(3):
            s.sendall(wire.produce_v3(n, topic, 0, wire.record_batch([b"x", b"y"], int(time.time() * 1000))))
            wire.recv_frame(s)
    finally:
        s.close()
    for version in range(4):
        answer = ask(broker.bootstrap, version, topic, [(0, 0), (5, 0)])
        epoch = None if version == 0 else 0
        assert answer[(topic, 0)] == (0, epoch, 6), version
        assert answer[(topic, 5)][0] == UNKNOWN_TOPIC_OR_PARTITION
    assert ask(broker.bootstrap, 2, topic, [(0, 0)], current_leader_epoch=3)[(topic, 0)][0] == UNKNOWN_LEADER_EPOCH


@pytest.mark.timeout(300)
def test_epoch_ends_after_a_leadership_change(cluster_factory):
    cluster = cluster_factory(size=2, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create_placed(bootstrap, "epochs", [[1, 2]])
    produce(bootstrap, "epochs", 1, 10)
    # Broker 2 becomes the preferred replica, then the leader (epoch 1).
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert admin.alter_partition_reassignments({KTP("epochs", 0): [2, 1]}) == {KTP("epochs", 0): None}
    finally:
        admin.close()
    wait_until("broker 2 preferred and in sync", lambda: (s := partition_state(bootstrap, "epochs")) and s[2] == [1, 2])
    subprocess.run(
        [str(SLUICE_BIN), "leader-election", "--bootstrap-server", bootstrap, "--election-type", "preferred",
         "--topic", "epochs", "--partition", "0"],
        check=True, capture_output=True, timeout=60,
    )
    wait_until("broker 2 leads", lambda: (s := partition_state(bootstrap, "epochs")) and s[0] == 2)
    produce(bootstrap, "epochs", 1, 5, start=10)

    leader, follower = cluster.broker(2).bootstrap, cluster.broker(1).bootstrap
    for version in range(4):
        answer = ask(leader, version, "epochs", [(0, 0)])
        assert answer[("epochs", 0)] == (0, None if version == 0 else 0, 10), version
        answer = ask(leader, version, "epochs", [(0, 1)])
        assert answer[("epochs", 0)] == (0, None if version == 0 else 1, 15), version
        assert ask(follower, version, "epochs", [(0, 1)])[("epochs", 0)][0] == NOT_LEADER_OR_FOLLOWER
    assert ask(leader, 2, "epochs", [(0, 1)], current_leader_epoch=0)[("epochs", 0)][0] == FENCED_LEADER_EPOCH
    assert ask(leader, 3, "epochs", [(0, 1)], current_leader_epoch=9)[("epochs", 0)][0] == UNKNOWN_LEADER_EPOCH
    assert ask(leader, 2, "epochs", [(0, 1)], current_leader_epoch=1)[("epochs", 0)] == (0, 1, 15)
