"""Replication across three `sluice` brokers and a real ZooKeeper (issue 12):
Kafka's quickstart step 6 with the leader killed, no acknowledged record
lost through repeated leader kills, min.insync.replicas, unclean leader
election, and a consumer group whose coordinator dies.

Kills are `kill -9`. A dead broker's ZooKeeper session expires after
`zookeeper.session.timeout.ms` (6 s here), then the controller moves its
leaderships; every wait below is a bounded loop, what is asserted is what
the clients and the logs on disk show.
"""

import hashlib
import random
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import wait_until as poll_until
from conftest import SLUICE_BIN

SESSION_MS = 6000
OVERRIDES = [
    f"zookeeper.session.timeout.ms={SESSION_MS}",
    "offsets.topic.replication.factor=3",
    "group.initial.rebalance.delay.ms=0",
]
WAIT_S = 90


def wait_until(what, predicate, timeout_s=WAIT_S, interval_s=0.2):
    return poll_until(what, predicate, timeout_s, interval_s)


def partition_state(bootstrap, topic, partition=0):
    """(leader, replicas, isr) from a broker's Metadata; None on error."""
    try:
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    except Exception:  # noqa: BLE001 - the broker may be down
        return None
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or partition not in info.partitions:
        return None
    p = info.partitions[partition]
    return p.leader, sorted(p.replicas), sorted(p.isrs)


def describe(bootstrap, topic, *flags):
    out = subprocess.run(
        [str(SLUICE_BIN), "topics", "--describe", "--topic", topic, "--bootstrap-server", bootstrap, *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if "Partition:" in line]


def create(bootstrap, topic, partitions=1, replication=3, config=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, partitions, replication, config=config or {})
    admin.create_topics([new])[topic].result(timeout=60)
    wait_until(
        f"{topic} led everywhere",
        lambda: all(
            (state := partition_state(bootstrap, topic, p)) and state[0] >= 0
            for p in range(partitions)
        ),
    )


def consume_all(bootstrap, topic, count, timeout_s=WAIT_S, **extra):
    """(partition, offset, value) of the first `count` records from the
    beginning of every partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{random.randrange(1 << 30)}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    print("consumer:", message.error())
                continue
            got.append((message.partition(), message.offset(), message.value()))
    finally:
        consumer.close()
    return got


def stored_batches(log_dir):
    """The bytes of every batch in a partition directory, by base offset."""
    batches = {}
    for path in sorted(Path(log_dir).glob("*.log")):
        data = path.read_bytes()
        at = 0
        while at + 12 <= len(data):
            (length,) = struct.unpack(">i", data[at + 8 : at + 12])
            if length <= 0:
                break
            (base,) = struct.unpack(">q", data[at : at + 8])
            batches[base] = data[at : at + 12 + length]
            at += 12 + length
    return batches


@pytest.mark.timeout(300)
def test_quickstart_step_6_kill_the_leader(cluster_factory):
    cluster = cluster_factory(size=3, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create(bootstrap, "my-replicated-topic")
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in (b"my test message 1", b"my test message 2"):
        producer.produce("my-replicated-topic", value=value)
    assert producer.flush(60) == 0
    leader, replicas, isr = partition_state(bootstrap, "my-replicated-topic")
    assert replicas == [1, 2, 3] and isr == [1, 2, 3]
    # The quickstart consumes once before the kill (which also creates
    # __consumer_offsets: with offsets.topic.replication.factor=3 it cannot
    # be created once a broker is gone, as in Kafka).
    got = consume_all(bootstrap, "my-replicated-topic", 2)
    assert [v for _, _, v in got] == [b"my test message 1", b"my test message 2"]
    cluster.broker(leader).kill()
    survivor = next(b for b in cluster.running())
    state = wait_until(
        "a new leader without the dead broker in the ISR",
        lambda: (s := partition_state(survivor.bootstrap, "my-replicated-topic"))
        and s[0] not in (-1, leader)
        and leader not in s[2]
        and s,
    )
    (line,) = describe(survivor.bootstrap, "my-replicated-topic")
    assert f"Leader: {state[0]}" in line and "Replicas: " in line, line
    assert str(leader) not in line.split("Isr:")[1].split()[0].split(","), line
    assert describe(survivor.bootstrap, "my-replicated-topic", "--under-replicated-partitions") == [line]
    assert describe(survivor.bootstrap, "my-replicated-topic", "--unavailable-partitions") == []
    got = consume_all(survivor.bootstrap, "my-replicated-topic", 2)
    assert [v for _, _, v in got] == [b"my test message 1", b"my test message 2"]
    # The killed broker comes back and rejoins the ISR.
    cluster.broker(leader).start()
    wait_until(
        "the restarted broker back in the ISR",
        lambda: (s := partition_state(survivor.bootstrap, "my-replicated-topic")) and s[2] == [1, 2, 3],
    )
    assert describe(survivor.bootstrap, "my-replicated-topic", "--under-replicated-partitions") == []


@pytest.mark.timeout(900)
def test_no_acknowledged_record_is_lost_through_leader_kills(cluster_factory):
    cycles = 10
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"kill schedule seed {seed}")
    cluster = cluster_factory(size=3, overrides=OVERRIDES + ["min.insync.replicas=2"])
    bootstrap = cluster.bootstrap
    topic = "no-loss"
    create(bootstrap, topic, partitions=2)
    acked = {}
    failed = []
    lock = threading.Lock()
    stop = threading.Event()

    def on_delivery(error, message):
        with lock:
            if error is None:
                acked[message.value()] = (message.partition(), message.offset())
            else:
                failed.append((message.value(), str(error)))

    def produce():
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 120000,
            }
        )
        number = 0
        while not stop.is_set():
            try:
                producer.produce(topic, value=b"n%09d" % number, on_delivery=on_delivery)
                number += 1
            except BufferError:
                producer.poll(0.05)
            producer.poll(0)
        producer.flush(180)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        for cycle in range(cycles):
            time.sleep(rng.uniform(0.5, 2.5))
            partition = cycle % 2
            state = wait_until("a leader", lambda: (s := partition_state(bootstrap, topic, partition)) and s[0] > 0 and s)
            victim = cluster.broker(state[0])
            victim.kill()
            others = [b for b in cluster.running()]
            wait_until(
                f"cycle {cycle}: a new leader",
                lambda: (s := partition_state(others[0].bootstrap, topic, partition))
                and s[0] not in (-1, victim.broker_id),
            )
            victim.start()
            cluster.wait_registered()
    finally:
        stop.set()
        thread.join(300)
    assert not failed, failed[:5]
    assert acked, "nothing was acknowledged"
    # Every replica catches up, then every acknowledged record is read back
    # once, at its acknowledged offset.
    for partition in (0, 1):
        wait_until(
            f"partition {partition} fully in sync",
            lambda: (s := partition_state(bootstrap, topic, partition)) and s[2] == [1, 2, 3],
            timeout_s=120,
        )
    got = consume_all(bootstrap, topic, len(acked), timeout_s=180)
    by_value = {}
    for partition, offset, value in got:
        assert value not in by_value, f"{value} read twice"
        by_value[value] = (partition, offset)
    missing = [v for v in acked if v not in by_value]
    assert not missing, f"{len(missing)} acknowledged records missing, e.g. {missing[:3]}"
    moved = [(v, acked[v], by_value[v]) for v in acked if acked[v] != by_value[v]]
    assert not moved, moved[:3]
    print(f"{len(acked)} records acknowledged over {cycles} leader kills, all read back")
    # Stopped cleanly, every replica's log is the same bytes.
    for broker in cluster.running():
        assert broker.stop() == 0
    for partition in (0, 1):
        logs = [stored_batches(b.data_dir / f"{topic}-{partition}") for b in cluster.brokers]
        digests = [
            hashlib.sha1(b"".join(batches[k] for k in sorted(batches))).hexdigest() for batches in logs
        ]
        assert len(set(digests)) == 1, (partition, [len(b) for b in logs])


@pytest.mark.timeout(300)
def test_min_insync_replicas_and_unclean_election(cluster_factory):
    cluster = cluster_factory(size=3, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create(bootstrap, "guarded", config={"min.insync.replicas": "2"})
    leader, _, _ = partition_state(bootstrap, "guarded")
    followers = [b for b in cluster.brokers if b.broker_id != leader]
    for broker in followers:
        broker.kill()
    # The leader shrinks its ISR to itself once the followers lag.
    survivor = cluster.broker(leader)
    wait_until(
        "the ISR down to the leader",
        lambda: (s := partition_state(survivor.bootstrap, "guarded")) and s[2] == [leader],
        timeout_s=120,
    )
    errors = []
    producer = Producer(
        {"bootstrap.servers": survivor.bootstrap, "acks": "all", "message.timeout.ms": 5000, "retries": 0}
    )
    producer.produce("guarded", value=b"refused", on_delivery=lambda e, m: errors.append(e))
    producer.flush(30)
    assert errors and errors[0] is not None
    assert errors[0].code() == KafkaError.NOT_ENOUGH_REPLICAS, errors
    # acks=1 still works.
    ok = []
    one = Producer({"bootstrap.servers": survivor.bootstrap, "acks": 1})
    one.produce("guarded", value=b"acks-1", on_delivery=lambda e, m: ok.append(e))
    one.flush(30)
    assert ok == [None]

    # Unclean election, off: with the last in-sync replica dead, the
    # partition stays offline when a stale replica returns.
    survivor.kill()
    stale = followers[0]
    stale.start()
    cluster.wait_registered()
    time.sleep(SESSION_MS / 1000 + 3)
    state = partition_state(stale.bootstrap, "guarded")
    assert state is not None and state[0] == -1, state
    # On: the stale replica takes over, with the records it lacks lost.
    subprocess.run(
        [
            str(SLUICE_BIN),
            "configs",
            "--entity-type",
            "topics",
            "--entity-name",
            "guarded",
            "--alter",
            "--add-config",
            "unclean.leader.election.enable=true",
            "--bootstrap-server",
            stale.bootstrap,
        ],
        check=True,
        timeout=60,
    )
    assert wait_until(
        "an unclean leader",
        lambda: (s := partition_state(stale.bootstrap, "guarded")) and s[0] == stale.broker_id,
    )


@pytest.mark.timeout(300)
def test_a_group_keeps_consuming_when_its_coordinator_dies(cluster_factory):
    cluster = cluster_factory(size=3, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create(bootstrap, "work", partitions=3)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(3000):
        producer.produce("work", value=b"%d" % i)
    assert producer.flush(60) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "survivors",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
        }
    )
    consumer.subscribe(["work"])
    seen = set()
    deadline = time.monotonic() + WAIT_S
    while len(seen) < 1000 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            seen.add(message.value())
    assert len(seen) >= 1000, len(seen)
    consumer.commit(asynchronous=False)
    # The coordinator is the leader of the group's __consumer_offsets
    # partition; kill it.
    # (The admin client is kept in a name: a temporary one is destroyed
    # before its future completes.)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups(["survivors"])["survivors"].result(timeout=30)
    coordinator = described.coordinator.id
    cluster.broker(coordinator).kill()
    for i in range(3000, 4000):
        producer.produce("work", value=b"%d" % i)
    producer.flush(120)
    deadline = time.monotonic() + 120
    while len(seen) < 4000 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            seen.add(message.value())
    consumer.commit(asynchronous=False)
    consumer.close()
    assert len(seen) == 4000, len(seen)


def leaders_back_to_preferred(cluster, topic, partitions):
    """Kills and restarts the preferred leader of every partition of a
    3-partition RF3 topic placed round-robin, so that every partition it
    prefers is led by another broker; returns that broker."""
    bootstrap = cluster.bootstrap
    states = [partition_state(bootstrap, topic, p) for p in range(partitions)]
    victim = states[0][0]
    cluster.broker(victim).kill()
    survivor = next(b for b in cluster.running())
    wait_until(
        "leaderships moved off the killed broker",
        lambda: all(
            (s := partition_state(survivor.bootstrap, topic, p)) and s[0] not in (-1, victim)
            for p in range(partitions)
        ),
    )
    cluster.broker(victim).start()
    cluster.wait_registered()
    wait_until(
        "the restarted broker back in every ISR",
        lambda: all(
            (s := partition_state(bootstrap, topic, p)) and victim in s[2] for p in range(partitions)
        ),
    )
    return victim


def preferred_replica(bootstrap, topic, partition):
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return metadata.topics[topic].partitions[partition].replicas[0]


@pytest.mark.timeout(300)
def test_elect_leaders_moves_leadership_back_to_the_preferred_replica(cluster_factory):
    from confluent_kafka import ElectionType

    cluster = cluster_factory(size=3, overrides=OVERRIDES + ["auto.leader.rebalance.enable=false"])
    bootstrap = cluster.bootstrap
    create(bootstrap, "elect", partitions=3)
    victim = leaders_back_to_preferred(cluster, "elect", 3)
    moved = [
        p for p in range(3) if preferred_replica(bootstrap, "elect", p) == victim
    ]
    assert moved and all(partition_state(bootstrap, "elect", p)[0] != victim for p in moved)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # Without automatic rebalancing the leaderships stay where they went.
    time.sleep(3)
    assert all(partition_state(bootstrap, "elect", p)[0] != victim for p in moved)
    # The first through Kafka's tool (sluice leader-election), the rest
    # through the admin client.
    def tool(*flags):
        return subprocess.run(
            [str(SLUICE_BIN), "leader-election", "--bootstrap-server", bootstrap, *flags],
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = moved[0]
    done = tool("--election-type", "preferred", "--topic", "elect", "--partition", str(first))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Successfully completed leader election (PREFERRED) for partitions elect-{first}\n"
    again = tool("--election-type", "PREFERRED", "--topic", "elect", "--partition", str(first))
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"Valid replica already elected for partitions elect-{first}\n"
    assert tool("--election-type", "sideways", "--all-topic-partitions").returncode == 2
    asked = [TopicPartition("elect", p) for p in range(3)]
    results = admin.elect_leaders(ElectionType.PREFERRED, asked).result(timeout=60)
    by_partition = {tp.partition: error for tp, error in results.items()}
    for p in range(3):
        if p in moved[1:]:
            assert by_partition[p] is None, (p, by_partition[p])
        else:
            assert by_partition[p] is not None
            assert by_partition[p].code() == KafkaError.ELECTION_NOT_NEEDED
    wait_until(
        "every partition led by its preferred replica",
        lambda: all(
            (s := partition_state(bootstrap, "elect", p)) and s[0] == preferred_replica(bootstrap, "elect", p)
            for p in range(3)
        ),
    )
    # Again: nothing to do; for every partition, nothing to report.
    results = admin.elect_leaders(ElectionType.PREFERRED, asked).result(timeout=60)
    assert all(
        error is not None and error.code() == KafkaError.ELECTION_NOT_NEEDED
        for error in results.values()
    )
    assert admin.elect_leaders(ElectionType.PREFERRED, None).result(timeout=60) == {}
    # An unknown partition, and an unclean election where leaders are live.
    results = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("elect", 9)]).result(timeout=60)
    assert list(results.values())[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    results = admin.elect_leaders(ElectionType.UNCLEAN, asked[:1]).result(timeout=60)
    assert list(results.values())[0].code() == KafkaError.ELECTION_NOT_NEEDED


@pytest.mark.timeout(300)
def test_the_controller_moves_leadership_back_by_itself(cluster_factory):
    cluster = cluster_factory(
        size=3,
        overrides=OVERRIDES
        + ["leader.imbalance.check.interval.seconds=1", "leader.imbalance.per.broker.percentage=0"],
    )
    bootstrap = cluster.bootstrap
    create(bootstrap, "rebalanced", partitions=3)
    leaders_back_to_preferred(cluster, "rebalanced", 3)
    wait_until(
        "every partition led by its preferred replica again",
        lambda: all(
            (s := partition_state(bootstrap, "rebalanced", p))
            and s[0] == preferred_replica(bootstrap, "rebalanced", p)
            for p in range(3)
        ),
    )


def test_elect_leaders_on_the_embedded_node(broker):
    from confluent_kafka import ElectionType

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("solo-elect", 2, 1)])["solo-elect"].result(timeout=60)
    results = admin.elect_leaders(
        ElectionType.PREFERRED, [TopicPartition("solo-elect", 0), TopicPartition("solo-elect", 5)]
    ).result(timeout=60)
    codes = {tp.partition: error.code() for tp, error in results.items()}
    assert codes == {0: KafkaError.ELECTION_NOT_NEEDED, 5: KafkaError.UNKNOWN_TOPIC_OR_PART}


@pytest.mark.timeout(300)
def test_describe_log_dirs_reports_every_replica(cluster_factory):
    """kafka-python's describe_log_dirs (DescribeLogDirs v4) to each broker:
    every replica of an RF3 topic, leader or follower, with its size (the
    same on all three: the replicas are byte-identical) and no lag; the
    directory's total and usable bytes; a partition nobody holds left out."""
    from kafka.admin import KafkaAdminClient

    cluster = cluster_factory(size=3, overrides=OVERRIDES)
    bootstrap = cluster.bootstrap
    create(bootstrap, "sized", partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(2000):
        producer.produce("sized", value=b"%06d" % i * 20, partition=i % 2)
    assert producer.flush(60) == 0
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:

        def sizes():
            found = {}
            for answer in admin.describe_log_dirs({"sized": [0, 1, 7]}):
                (log_dir,) = answer["log_dirs"]
                assert log_dir["error_code"] == 0
                assert log_dir["total_bytes"] >= log_dir["usable_bytes"] > 0
                for topic in log_dir["topics"]:
                    assert topic["name"] == "sized"
                    for p in topic["partitions"]:
                        assert p["offset_lag"] == 0 and not p["is_future_key"]
                        found[(answer["broker"], p["partition_index"])] = p["partition_size"]
            return found

        found = wait_until(
            "every replica the same size",
            lambda: (
                (s := sizes())
                and sorted(s) == [(b, p) for b in (1, 2, 3) for p in (0, 1)]
                and all(s[(b, p)] == s[(1, p)] > 0 for b in (1, 2, 3) for p in (0, 1))
                and s
            ),
        )
        assert all(partition != 7 for _, partition in found)
    finally:
        admin.close()
