"""Partition reassignment (KIP-455) on three `sluice` brokers and a real
ZooKeeper: kafka-python's alter/list_partition_reassignments and
`sluice reassign-partitions` (kafka-reassign-partitions.sh) move replicas;
the new replicas copy the log byte for byte, the old ones are deleted, and
every acknowledged record is still there."""

import json
import signal
import subprocess
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from conftest import SLUICE_BIN
from test_replication import OVERRIDES, consume_all, partition_state, stored_batches, wait_until


def create_placed(bootstrap, topic, assignment):
    """A topic whose partition p has replicas assignment[p]."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        replicas = dict(enumerate(assignment))
        admin.create_topics([NewTopic(topic, -1, -1, replica_assignments=replicas)])
    finally:
        admin.close()
    wait_until(
        f"{topic} led everywhere",
        lambda: all(
            (state := partition_state(bootstrap, topic, p)) and state[0] >= 0 for p in range(len(assignment))
        ),
    )


def produce(bootstrap, topic, partitions, count, start=0):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(start, start + count):
        producer.produce(topic, value=b"record-%06d" % i, partition=i % partitions)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def settled(bootstrap, topic, partition, replicas):
    """The partition's replicas and ISR are exactly `replicas`."""
    state = partition_state(bootstrap, topic, partition)
    return state is not None and state[1] == sorted(replicas) and state[2] == sorted(replicas)


@pytest.mark.timeout(300)
def test_kafka_python_moves_replicas_and_the_old_ones_go(cluster_factory):
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient
    from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError, UnknownTopicOrPartitionError

    cluster = cluster_factory(size=3, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create_placed(bootstrap, "moving", [[1, 2], [2, 3]])
    produce(bootstrap, "moving", 2, 4000)

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        # Refusals, each for its own partition.
        assert admin.alter_partition_reassignments({KTP("moving", 0): [1, 9]}) == {
            KTP("moving", 0): InvalidReplicationAssignmentError
        }
        assert admin.alter_partition_reassignments({KTP("moving", 7): [1, 2]}) == {
            KTP("moving", 7): UnknownTopicOrPartitionError
        }
        assert admin.alter_partition_reassignments({KTP("moving", 1): None}) == {
            KTP("moving", 1): NoReassignmentInProgressError
        }
        # Partition 0 leaves broker 2 (its leader is 1, it stays); partition 1
        # leaves broker 3 and gets a new leader order.
        moves = {KTP("moving", 0): [3, 1], KTP("moving", 1): [1, 2]}
        assert admin.alter_partition_reassignments(moves) == {tp: None for tp in moves}
        wait_until(
            "both moves complete",
            lambda: admin.list_partition_reassignments() == {}
            and settled(bootstrap, "moving", 0, [3, 1])
            and settled(bootstrap, "moving", 1, [1, 2]),
        )
    finally:
        admin.close()

    # The removed replicas are deleted; the new ones hold the same batches,
    # byte for byte, as the replicas that stayed.
    wait_until(
        "the moved-away replicas deleted",
        lambda: not (cluster.broker(2).data_dir / "moving-0").exists()
        and not (cluster.broker(3).data_dir / "moving-1").exists(),
    )
    for partition, (kept, added) in {0: (1, 3), 1: (2, 1)}.items():
        wait_until(
            f"moving-{partition} copied to broker {added}",
            lambda: stored_batches(cluster.broker(added).data_dir / f"moving-{partition}")
            == stored_batches(cluster.broker(kept).data_dir / f"moving-{partition}"),
        )
    # Every record is still there, and the partitions take new ones.
    produce(bootstrap, "moving", 2, 1000, start=4000)
    got = consume_all(bootstrap, "moving", 5000)
    assert sorted(v for _, _, v in got) == [b"record-%06d" % i for i in range(5000)]


def tool(*args, check=True):
    done = subprocess.run(
        [str(SLUICE_BIN), "reassign-partitions", *args], capture_output=True, text=True, timeout=120
    )
    if check:
        assert done.returncode == 0, (done.stdout, done.stderr)
    return done


@pytest.mark.timeout(300)
def test_reassign_partitions_tool_generate_execute_verify_cancel(cluster_factory, tmp_path):
    cluster = cluster_factory(size=3, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create_placed(bootstrap, "tool", [[1], [2]])
    produce(bootstrap, "tool", 2, 2000)
    server = ["--bootstrap-server", bootstrap]

    topics = tmp_path / "topics.json"
    topics.write_text(json.dumps({"version": 1, "topics": [{"topic": "tool"}]}))
    out = tool(*server, "--generate", "--topics-to-move-json-file", str(topics), "--broker-list", "2,3").stdout
    current, proposed = out.split("Proposed partition reassignment configuration")
    assert json.loads(current.split("\n", 1)[1]) == {
        "version": 1,
        "partitions": [
            {"topic": "tool", "partition": 0, "replicas": [1], "log_dirs": ["any"]},
            {"topic": "tool", "partition": 1, "replicas": [2], "log_dirs": ["any"]},
        ],
    }
    proposal = json.loads(proposed)
    assert sorted(r for p in proposal["partitions"] for r in p["replicas"]) == [2, 3]

    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"version": 1, "partitions": [{"topic": "tool", "partition": 0, "replicas": [2, 3]}]})
    )
    out = tool(*server, "--execute", "--reassignment-json-file", str(plan)).stdout
    assert "Current partition replica assignment" in out
    assert '{"version":1,"partitions":[{"topic":"tool","partition":0,"replicas":[1],"log_dirs":["any"]}]}' in out
    assert "Successfully started partition reassignment for tool-0" in out
    wait_until(
        "the tool's move verified",
        lambda: "Reassignment of partition tool-0 is completed."
        in tool(*server, "--verify", "--reassignment-json-file", str(plan), check=False).stdout,
    )
    assert settled(bootstrap, "tool", 0, [2, 3])
    assert tool(*server, "--list").stdout.strip() == "No partition reassignments found."
    got = consume_all(bootstrap, "tool", 2000)
    assert len({v for _, _, v in got}) == 2000

    # A move that cannot finish (its new replica's broker is stopped, not
    # the controller nor tool-1's leader), seen in --list and --verify, then
    # cancelled: the partition is back where it was and the stopped broker
    # never keeps a replica of it.
    controller_id = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).controller_id
    paused = next(cluster.broker(b) for b in (1, 3) if b != controller_id)
    controller = ["--bootstrap-server", cluster.broker(controller_id).bootstrap]
    stuck = tmp_path / "stuck.json"
    stuck.write_text(
        json.dumps(
            {"version": 1, "partitions": [{"topic": "tool", "partition": 1, "replicas": [2, paused.broker_id]}]}
        )
    )
    paused.proc.send_signal(signal.SIGSTOP)
    try:
        out = tool(*controller, "--execute", "--reassignment-json-file", str(stuck)).stdout
        assert "Successfully started partition reassignment for tool-1" in out
        listed = tool(*controller, "--list").stdout
        assert f"tool-1: replicas: 2,{paused.broker_id}. adding: {paused.broker_id}. removing: ." in listed, listed
        verified = tool(*controller, "--verify", "--reassignment-json-file", str(stuck), check=False)
        assert verified.returncode == 0  # as Kafka's tool, whatever the status
        assert "Reassignment of partition tool-1 is still in progress." in verified.stdout
        out = tool(*controller, "--cancel", "--reassignment-json-file", str(stuck)).stdout
        assert "Successfully cancelled partition reassignment for: tool-1" in out
        assert tool(*controller, "--list").stdout.strip() == "No partition reassignments found."
    finally:
        paused.proc.send_signal(signal.SIGCONT)
    wait_until("tool-1 back on broker 2 alone", lambda: settled(bootstrap, "tool", 1, [2]))
    time.sleep(2)  # broker 1 catches up with the views it missed
    assert not (paused.data_dir / "tool-1").exists()
    refused = tool(*server, "--execute", "--reassignment-json-file", str(stuck), "--throttle", "1000", check=False)
    assert refused.returncode == 2 and "--throttle is not supported" in refused.stderr


def test_reassignment_on_the_embedded_node(broker, topic_name):
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient
    from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError

    from clients import create_topic

    topic = topic_name("solo")
    create_topic(broker.bootstrap, topic)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        assert admin.alter_partition_reassignments({KTP(topic, 0): [0]}) == {KTP(topic, 0): None}
        assert admin.alter_partition_reassignments({KTP(topic, 0): [0, 1]}) == {
            KTP(topic, 0): InvalidReplicationAssignmentError
        }
        assert admin.alter_partition_reassignments({KTP(topic, 0): None}) == {
            KTP(topic, 0): NoReassignmentInProgressError
        }
        assert admin.list_partition_reassignments() == {}
    finally:
        admin.close()


@pytest.mark.timeout(300)
def test_a_new_replica_starts_at_the_leaders_log_start(cluster_factory):
    """A partition whose first 2,000 records were deleted (DeleteRecords)
    moves to another broker: the new replica's fetch from offset 0 is out
    of range, so it starts where the leader's log does (Kafka's
    truncateFullyAndStartAt) and catches up; after the old replica goes,
    the 1,000 records left are all there."""
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient

    # Three brokers: the consumer's group needs __consumer_offsets (RF 3).
    cluster = cluster_factory(size=3, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create_placed(bootstrap, "trimmed", [[1]])
    produce(bootstrap, "trimmed", 1, 3000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_records({KTP("trimmed", 0): 2000})
        assert admin.alter_partition_reassignments({KTP("trimmed", 0): [1, 2]}) == {KTP("trimmed", 0): None}
        wait_until(
            "broker 2 in sync",
            lambda: admin.list_partition_reassignments() == {} and settled(bootstrap, "trimmed", 0, [1, 2]),
        )
        assert admin.alter_partition_reassignments({KTP("trimmed", 0): [2]}) == {KTP("trimmed", 0): None}
        wait_until(
            "broker 2 alone",
            lambda: admin.list_partition_reassignments() == {} and settled(bootstrap, "trimmed", 0, [2]),
        )
    finally:
        admin.close()
    got = consume_all(cluster.broker(2).bootstrap, "trimmed", 1000)
    assert [offset for _, offset, _ in got] == list(range(2000, 3000))
    assert [v for _, _, v in got] == [b"record-%06d" % i for i in range(2000, 3000)]
