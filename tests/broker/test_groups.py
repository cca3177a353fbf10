"""Consumer groups with real clients: librdkafka (confluent-kafka), in
processes of their own where a test kills one, kafka-python and kcat.

Brokers here start with group.initial.rebalance.delay.ms=0 (as Kafka's own
quickstart server.properties does) so tests do not wait 3 s per new group;
session timeouts are the smallest Kafka allows by default (6 s).
"""

import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import OP_TIMEOUT_S, create_topic, flush
from members import wait_until

HERE = Path(__file__).parent
GROUP_OVERRIDES = ["group.initial.rebalance.delay.ms=0"]
# Bounds for waits that include a session timeout and a rebalance.
REBALANCE_WAIT_S = 90
FAST_SESSION = ["session.timeout.ms=6000", "heartbeat.interval.ms=500"]


@pytest.fixture
def group_broker(broker_factory):
    return broker_factory(overrides=GROUP_OVERRIDES)


def produce_values(bootstrap, topic, values):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(topic, key=str(i).encode(), value=value.encode())
        if i % 5000 == 0:
            producer.poll(0)
    flush(producer)


def consume_group(bootstrap, topic, group, count, **extra):
    """Consumes `count` messages as a member of `group`; returns values."""
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    config.update(extra)
    consumer = Consumer(config)
    consumer.subscribe([topic])
    values = []
    deadline = time.monotonic() + OP_TIMEOUT_S
    try:
        while len(values) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            values.append(message.value().decode())
        if values:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def test_three_members_share_partitions_and_take_over_on_close_and_kill(
    group_broker, topic_name, members
):
    bootstrap = group_broker.bootstrap
    topic = topic_name("grp")
    create_topic(bootstrap, topic, partitions=6)
    group = topic_name("g")
    started = [members(bootstrap, topic, group, FAST_SESSION) for _ in range(3)]

    def balanced():
        parts = [m.partitions() for m in started]
        return all(p is not None and len(p) == 2 for p in parts) and sorted(
            sum(parts, [])
        ) == list(range(6))

    wait_until(balanced, REBALANCE_WAIT_S, "two partitions each")

    values = [f"m{i}" for i in range(30_000)]
    produce_values(bootstrap, topic, values)
    wait_until(
        lambda: sum(len(m.values()) for m in started) >= len(values),
        REBALANCE_WAIT_S,
        "all messages consumed",
    )
    time.sleep(1)  # anything consumed twice would show up by now
    consumed = sum((m.values() for m in started), [])
    assert len(consumed) == len(values), "each message exactly once"
    assert set(consumed) == set(values)

    # A clean close: its two partitions move to the other two members.
    started[0].close()
    wait_until(
        lambda: sorted((started[1].partitions() or []) + (started[2].partitions() or []))
        == list(range(6)),
        REBALANCE_WAIT_S,
        "partitions of the closed member moved",
    )
    # kill -9: its partitions move once its session (6 s) expires.
    started[1].kill()
    wait_until(
        lambda: started[2].partitions() == list(range(6)),
        REBALANCE_WAIT_S,
        "partitions of the killed member moved",
    )
    more = [f"n{i}" for i in range(600)]
    produce_values(bootstrap, topic, more)
    wait_until(
        lambda: set(more) <= set(started[2].values()),
        REBALANCE_WAIT_S,
        "the survivor reads every partition",
    )


def test_two_groups_each_get_every_message(group_broker, topic_name):
    bootstrap = group_broker.bootstrap
    topic = topic_name("pubsub")
    create_topic(bootstrap, topic, partitions=3)
    values = [f"v{i}" for i in range(1000)]
    produce_values(bootstrap, topic, values)
    first = consume_group(bootstrap, topic, topic_name("ga"), len(values))
    second = consume_group(bootstrap, topic, topic_name("gb"), len(values))
    assert sorted(first) == sorted(values)
    assert sorted(second) == sorted(values)


def test_committed_offsets_survive_consumer_and_broker_restarts(group_broker, topic_name):
    bootstrap = group_broker.bootstrap
    topic = topic_name("resume")
    create_topic(bootstrap, topic, partitions=1)
    produce_values(bootstrap, topic, [f"r{i}" for i in range(1000)])
    group = topic_name("g")

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen = []
    deadline = time.monotonic() + OP_TIMEOUT_S
    while len(seen) < 400 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            seen.append(message.offset())
    assert seen[:400] == list(range(400))
    consumer.commit(
        offsets=[TopicPartition(topic, 0, 400, metadata="checkpoint-400")], asynchronous=False
    )
    consumer.close()

    # A new consumer of the group resumes at the committed offset.
    resumed = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    resumed.subscribe([topic])
    first = None
    deadline = time.monotonic() + OP_TIMEOUT_S
    while first is None and time.monotonic() < deadline:
        message = resumed.poll(0.5)
        if message is not None and not message.error():
            first = message.offset()
    resumed.close()
    assert first == 400

    group_broker.restart()
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    committed = None
    deadline = time.monotonic() + OP_TIMEOUT_S
    while committed is None and time.monotonic() < deadline:
        try:
            committed = reader.committed([TopicPartition(topic, 0)], timeout=10)
        except KafkaException:
            time.sleep(0.5)  # the broker may still be loading the group
    reader.close()
    assert committed[0].offset == 400
    assert committed[0].metadata == "checkpoint-400"


def test_cooperative_sticky_moves_only_what_it_must(group_broker, topic_name, members):
    bootstrap = group_broker.bootstrap
    topic = topic_name("coop")
    create_topic(bootstrap, topic, partitions=6)
    group = topic_name("g")
    settings = FAST_SESSION + ["partition.assignment.strategy=cooperative-sticky"]
    first = members(bootstrap, topic, group, settings)
    wait_until(lambda: first.partitions() == list(range(6)), REBALANCE_WAIT_S, "first member owns all")
    second = members(bootstrap, topic, group, settings)
    wait_until(
        lambda: len(first.partitions() or []) == 3 and len(second.partitions() or []) == 3,
        REBALANCE_WAIT_S,
        "three partitions each",
    )
    # Incremental: the first member gave up three partitions and kept three;
    # it never had everything revoked.
    revokes = [c for c in first.changes() if c["event"] == "revoked"]
    assert revokes and all(len(c["partitions"]) < 6 for c in revokes)
    assert sorted(first.partitions() + second.partitions()) == list(range(6))
    values = [f"c{i}" for i in range(3000)]
    produce_values(bootstrap, topic, values)
    wait_until(
        lambda: set(values) <= set(first.values()) | set(second.values()),
        REBALANCE_WAIT_S,
        "both members consume",
    )


def test_static_member_restarts_without_a_rebalance(group_broker, topic_name, members):
    bootstrap = group_broker.bootstrap
    topic = topic_name("static")
    create_topic(bootstrap, topic, partitions=4)
    group = topic_name("g")
    settings = ["session.timeout.ms=30000", "heartbeat.interval.ms=500"]
    one = members(bootstrap, topic, group, settings + ["group.instance.id=one"])
    two = members(bootstrap, topic, group, settings + ["group.instance.id=two"])
    wait_until(
        lambda: len(one.partitions() or []) == 2 and len(two.partitions() or []) == 2,
        REBALANCE_WAIT_S,
        "two partitions each",
    )
    owned_by_two = two.partitions()
    changes_of_one = len(one.changes())

    # A static member's close does not leave the group; its replacement
    # with the same group.instance.id takes its place and its partitions.
    two.close()
    again = members(bootstrap, topic, group, settings + ["group.instance.id=two"])
    wait_until(lambda: again.partitions() is not None, REBALANCE_WAIT_S, "the restarted member's assignment")
    assert again.partitions() == owned_by_two
    time.sleep(2)  # a rebalance, had there been one, reaches `one` by now
    assert len(one.changes()) == changes_of_one, "the other member saw no rebalance"

    admin = AdminClient({"bootstrap.servers": bootstrap})  # alive until the result is in
    description = admin.describe_consumer_groups([group])[group].result(timeout=OP_TIMEOUT_S)
    instances = sorted(m.group_instance_id for m in description.members)
    assert instances == ["one", "two"]


def test_kafka_python_group_consumer(group_broker, topic_name):
    from kafka import KafkaConsumer, TopicPartition as KpTopicPartition

    bootstrap = group_broker.bootstrap
    topic = topic_name("kp")
    create_topic(bootstrap, topic, partitions=2)
    values = [f"k{i}" for i in range(500)]
    produce_values(bootstrap, topic, values)
    group = topic_name("g")
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    got = []
    for message in consumer:
        got.append(message.value.decode())
        if len(got) == len(values):
            break
    consumer.commit()
    committed = [consumer.committed(KpTopicPartition(topic, p)) for p in (0, 1)]
    consumer.close()
    assert sorted(got) == sorted(values)
    assert sum(committed) == len(values)


def test_kcat_balanced_consumer(group_broker, topic_name):
    bootstrap = group_broker.bootstrap
    topic = topic_name("kcat")
    create_topic(bootstrap, topic, partitions=3)
    values = [f"kc{i}" for i in range(300)]
    produce_values(bootstrap, topic, values)
    result = subprocess.run(
        [
            "kcat", "-b", bootstrap, "-G", topic_name("g"), "-X", "auto.offset.reset=earliest",
            "-e", "-q", "-f", "%s\n", topic,
        ],
        capture_output=True,
        text=True,
        timeout=OP_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(values)


def test_admin_lists_describes_and_deletes_groups_and_offsets(group_broker, topic_name):
    bootstrap = group_broker.bootstrap
    topic = topic_name("adm")
    create_topic(bootstrap, topic, partitions=2)
    produce_values(bootstrap, topic, [f"a{i}" for i in range(100)])
    group = topic_name("g")
    admin = AdminClient({"bootstrap.servers": bootstrap})

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": "admin-test-client",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = 0
    deadline = time.monotonic() + OP_TIMEOUT_S
    while got < 100 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            got += 1
    consumer.commit(asynchronous=False)

    listed = admin.list_consumer_groups().result(timeout=OP_TIMEOUT_S)
    assert group in [g.group_id for g in listed.valid]
    description = admin.describe_consumer_groups([group])[group].result(timeout=OP_TIMEOUT_S)
    assert description.state == ConsumerGroupState.STABLE
    assert len(description.members) == 1
    member = description.members[0]
    assert member.client_id == "admin-test-client"
    assert member.host.startswith("/127.0.0.1")
    assigned = sorted(tp.partition for tp in member.assignment.topic_partitions)
    assert assigned == [0, 1]

    # A group with members cannot go, nor offsets of a topic it reads.
    with pytest.raises(KafkaException) as refused:
        admin.delete_consumer_groups([group])[group].result(timeout=OP_TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    # OffsetDelete through kafka-python's admin (confluent-kafka has none).
    from kafka import TopicPartition as KpTopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import GroupSubscribedToTopicError, NoError

    kp_admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        refused = kp_admin.delete_group_offsets(group, [KpTopicPartition(topic, 0)])
        assert refused[KpTopicPartition(topic, 0)] is GroupSubscribedToTopicError
        consumer.close()
        deleted = kp_admin.delete_group_offsets(group, [KpTopicPartition(topic, 0)])
        assert deleted[KpTopicPartition(topic, 0)] is NoError
    finally:
        kp_admin.close()
    from confluent_kafka import ConsumerGroupTopicPartitions

    offsets = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0), TopicPartition(topic, 1)])]
    )[group].result(timeout=OP_TIMEOUT_S)
    by_partition = {tp.partition: tp.offset for tp in offsets.topic_partitions}
    assert by_partition[0] < 0, "partition 0's offset was deleted"
    assert by_partition[1] > 0, "partition 1's offset is kept"

    admin.delete_consumer_groups([group])[group].result(timeout=OP_TIMEOUT_S)
    listed = admin.list_consumer_groups().result(timeout=OP_TIMEOUT_S)
    assert group not in [g.group_id for g in listed.valid]


def test_protocol_misuse_gets_kafkas_errors_and_the_group_keeps_serving(group_broker, topic_name):
    import group_wire as gw
    from wire import connect

    bootstrap = group_broker.bootstrap
    topic = topic_name("misuse")
    create_topic(bootstrap, topic, partitions=1)
    group = topic_name("g")
    real = connect(bootstrap)
    other = connect(bootstrap)
    try:
        joined = gw.parse_join_group_v1(
            gw.call(real, gw.join_group_v1(1, group, "", [("range", b"meta")]))
        )
        assert joined["error"] == 0 and joined["generation"] == 1
        member, generation = joined["member_id"], joined["generation"]
        assert joined["leader"] == member and joined["members"] == [member]
        error, assignment = gw.parse_sync_group_v1(
            gw.call(real, gw.sync_group_v1(2, group, generation, member, [(member, b"mine")]))
        )
        assert (error, assignment) == (0, b"mine")

        misuse = [
            (gw.heartbeat_v1(3, group, generation, "ghost"), gw.parse_heartbeat_v1, gw.UNKNOWN_MEMBER_ID),
            (gw.heartbeat_v1(4, group, generation + 7, member), gw.parse_heartbeat_v1, gw.ILLEGAL_GENERATION),
            (gw.heartbeat_v1(5, topic_name("nogroup"), 1, member), gw.parse_heartbeat_v1, gw.UNKNOWN_MEMBER_ID),
            (
                gw.sync_group_v1(6, group, generation + 1, member, []),
                lambda f: gw.parse_sync_group_v1(f)[0],
                gw.ILLEGAL_GENERATION,
            ),
            (
                gw.offset_commit_v2(7, group, generation, "ghost", topic, 0, 5),
                gw.parse_offset_commit_v2,
                gw.UNKNOWN_MEMBER_ID,
            ),
            (
                gw.offset_commit_v2(8, group, generation, member, topic_name("missing"), 0, 5),
                gw.parse_offset_commit_v2,
                gw.UNKNOWN_TOPIC_OR_PARTITION,
            ),
        ]
        for frame, parse, expected in misuse:
            assert parse(gw.call(other, frame)) == expected
        # A member that speaks another protocol cannot join.
        mismatched = gw.parse_join_group_v1(
            gw.call(other, gw.join_group_v1(9, group, "", [("other-assignor", b"")]))
        )
        assert mismatched["error"] == gw.INCONSISTENT_GROUP_PROTOCOL
        wrong_type = gw.parse_join_group_v1(
            gw.call(other, gw.join_group_v1(10, group, "", [("range", b"")], protocol_type="connect"))
        )
        assert wrong_type["error"] == gw.INCONSISTENT_GROUP_PROTOCOL

        # The real member was never disturbed: same generation, commits work.
        assert gw.parse_heartbeat_v1(gw.call(real, gw.heartbeat_v1(11, group, generation, member))) == 0
        assert (
            gw.parse_offset_commit_v2(
                gw.call(real, gw.offset_commit_v2(12, group, generation, member, topic, 0, 5))
            )
            == 0
        )
    finally:
        real.close()
        other.close()


def java_hash_partition(group, partitions=50):
    """Kafka's Utils.abs(group.hashCode()) % partitions."""
    h = 0
    for unit in group.encode("utf-16-be").decode("utf-16-be"):
        h = (h * 31 + ord(unit)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % partitions


def test_consumer_offsets_is_internal_and_holds_kafkas_records(group_broker, topic_name):
    import struct

    from kafka.admin import KafkaAdminClient

    bootstrap = group_broker.bootstrap
    topic = topic_name("internal")
    create_topic(bootstrap, topic, partitions=1)
    group = topic_name("g")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 42, metadata="meta-42")], asynchronous=False)
    consumer.close()

    kp_admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (described,) = kp_admin.describe_topics(["__consumer_offsets"])
        assert described["is_internal"] is True
        assert len(described["partitions"]) == 50
    finally:
        kp_admin.close()

    admin = AdminClient({"bootstrap.servers": bootstrap})
    with pytest.raises(KafkaException):
        admin.delete_topics(["__consumer_offsets"])["__consumer_offsets"].result(timeout=OP_TIMEOUT_S)
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.send.max.retries": 0})
    producer.produce("__consumer_offsets", value=b"x", on_delivery=lambda err, msg: errors.append(err))
    flush(producer)
    assert errors and errors[0] is not None, "clients cannot produce to __consumer_offsets"

    # The commit is a record in the group's partition, in Kafka's schemas:
    # key OffsetCommitKey v1 (group, topic, partition), value
    # OffsetCommitValue v3 (offset, leader epoch, metadata, timestamp).
    partition = java_hash_partition(group)
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.partition.eof": True}
    )
    reader.assign([TopicPartition("__consumer_offsets", partition, 0)])
    found = None
    deadline = time.monotonic() + OP_TIMEOUT_S
    while found is None and time.monotonic() < deadline:
        message = reader.poll(0.5)
        if message is None or message.error():
            continue
        key = message.key()
        if struct.unpack_from(">h", key)[0] != 1:
            continue
        at = 2
        fields = []
        for _ in range(2):
            (n,) = struct.unpack_from(">h", key, at)
            fields.append(key[at + 2 : at + 2 + n].decode())
            at += 2 + n
        (p,) = struct.unpack_from(">i", key, at)
        if fields == [group, topic] and p == 0:
            found = message.value()
    reader.close()
    assert found is not None, "the commit record is in the group's partition"
    version, offset, _epoch, n = struct.unpack_from(">hqih", found)
    assert (version, offset) == (3, 42)
    # confluent-kafka hands librdkafka the metadata with its C terminator,
    # and the broker keeps what the client sent.
    assert found[16 : 16 + n].rstrip(b"\0") == b"meta-42", (n, found)


def test_shutdown_answers_a_join_that_waits_for_a_rebalance(group_broker, topic_name):
    """SIGTERM while a JoinGroup waits (up to its 5-minute rebalance timeout)
    for a member that never rejoins: the waiting member gets NOT_COORDINATOR
    and the broker exits 0 at once instead of holding the connection."""
    import group_wire as gw
    from wire import connect, recv_frame

    bootstrap = group_broker.bootstrap
    group = topic_name("g")
    first = connect(bootstrap)
    second = connect(bootstrap)
    try:
        joined = gw.parse_join_group_v1(
            gw.call(first, gw.join_group_v1(1, group, "", [("range", b"")], rebalance_timeout_ms=300_000))
        )
        assert joined["error"] == 0
        second.sendall(
            gw.join_group_v1(2, group, "", [("range", b"")], rebalance_timeout_ms=300_000)
        )
        time.sleep(0.5)  # the join is parked until `first` rejoins, which it never does
        assert group_broker.stop() == 0
        answer = gw.parse_join_group_v1(recv_frame(second))
        assert answer["error"] == gw.NOT_COORDINATOR
    finally:
        first.close()
        second.close()


@pytest.mark.timeout(300)
def test_offsets_of_an_unused_group_expire(broker_factory, topic_name):
    """offsets.retention.minutes=1 (its smallest value): a group that only
    stores offsets loses them a minute after its last commit, and the
    group is gone from ListGroups; a group still committing keeps them."""
    broker = broker_factory(
        overrides=GROUP_OVERRIDES
        + ["offsets.retention.minutes=1", "offsets.retention.check.interval.ms=1000"]
    )
    bootstrap = broker.bootstrap
    topic = topic_name("expiry")
    create_topic(bootstrap, topic, partitions=1)
    stale, fresh = topic_name("stale"), topic_name("fresh")

    def commit(group, offset):
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
        consumer.close()

    def committed(group):
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        try:
            return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
        finally:
            consumer.close()

    commit(stale, 7)
    commit(fresh, 7)
    assert committed(stale) == 7
    deadline = time.monotonic() + 150
    while committed(stale) == 7:
        assert time.monotonic() < deadline, "the stale group's offset never expired"
        commit(fresh, 8)  # keeps `fresh` recent
        time.sleep(2)
    assert committed(stale) < 0
    assert committed(fresh) == 8
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups().result(timeout=OP_TIMEOUT_S)
    names = [g.group_id for g in listed.valid]
    assert stale not in names and fresh in names


def test_joins_waiting_for_a_rebalance_do_not_hold_up_other_traffic(group_broker, topic_name):
    """150 members wait in JoinGroup (a rebalance waits for a member that
    never rejoins): with two shards about half of them come from the shard
    that does not own the group, more than the mesh's 64 handler slots
    between two shards. Produce and fetch across those shards must still
    be served while they wait."""
    import group_wire as gw
    from wire import connect

    bootstrap = group_broker.bootstrap
    topic = topic_name("traffic")
    create_topic(bootstrap, topic, partitions=4)
    group = topic_name("g")
    first = connect(bootstrap)
    waiting = []
    try:
        # `first` stays a member (a 5-minute session) and never rejoins.
        joined = gw.parse_join_group_v1(
            gw.call(
                first,
                gw.join_group_v1(
                    1, group, "", [("range", b"")], session_timeout_ms=300_000, rebalance_timeout_ms=300_000
                ),
            )
        )
        assert joined["error"] == 0
        for i in range(150):
            sock = connect(bootstrap)
            sock.sendall(gw.join_group_v1(2, group, "", [("range", b"")], rebalance_timeout_ms=300_000))
            waiting.append(sock)
        time.sleep(1)  # every join is parked on the group's shard by now
        values = [f"t{i}" for i in range(400)]
        produce_values(bootstrap, topic, values)
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.partition.eof": True}
        )
        consumer.assign([TopicPartition(topic, p, 0) for p in range(4)])
        got = []
        deadline = time.monotonic() + OP_TIMEOUT_S
        while len(got) < len(values) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                got.append(message.value().decode())
        consumer.close()
        assert sorted(got) == sorted(values)
    finally:
        first.close()
        for sock in waiting:
            sock.close()
