"""ZooKeeper-mode clusters (issue 11): a real ZooKeeper and three `sluice`
brokers on loopback, each `--cores 2`.

The first test checks the ZooKeeper fixture itself (it serves kazoo and
keeps data over a restart). The cluster tests after it are written against
Kafka's behaviour; they read Kafka's znodes with kazoo and check them field
by field.
"""

import json
import os
import re
import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import four_letter_word, wait_until
from conftest import SLUICE_BIN


# Kafka's broker registration (version 5) as ZkData.scala writes it.
BROKER_KEYS = {
    "version",
    "host",
    "port",
    "endpoints",
    "jmx_port",
    "timestamp",
    "listener_security_protocol_map",
    "features",
}


def read_json(zk, path):
    data, stat = zk.get(path)
    return json.loads(data.decode()), stat


@pytest.mark.timeout(120)
def test_zookeeper_fixture_serves_kazoo(zookeeper):
    srvr = four_letter_word(zookeeper.port, "srvr")
    assert "Mode: standalone" in srvr, srvr
    writer = zookeeper.client()
    reader = zookeeper.client()
    try:
        writer.ensure_path("/kafka/brokers/ids")
        registration = {"version": 5, "host": "127.0.0.1", "port": 9092}
        writer.create("/kafka/brokers/ids/1", json.dumps(registration).encode(), ephemeral=True)
        writer.create("/kafka/cluster/id", b'{"version":"1","id":"x"}', makepath=True)
        assert reader.get_children("/kafka/brokers/ids") == ["1"]
        assert read_json(reader, "/kafka/brokers/ids/1")[0] == registration
        # A chrooted client sees the same tree from /kafka.
        rooted = zookeeper.client("/kafka")
        assert rooted.get_children("/brokers/ids") == ["1"]
        rooted.stop()
        # The ephemeral goes with its session.
        writer.stop()
        writer.close()
        wait_until("the ephemeral is gone", lambda: reader.exists("/kafka/brokers/ids/1") is None)
    finally:
        reader.stop()
        reader.close()
    # A restart keeps persistent data (same port, same data directory).
    zookeeper.kill()
    zookeeper.start()
    after = zookeeper.client()
    try:
        assert after.exists("/kafka/cluster/id") is not None
        assert after.exists("/kafka/brokers/ids/1") is None
    finally:
        after.stop()
        after.close()


# ---------------------------------------------------------------------------
# Cluster tests.


def check_broker_registration(zk, broker):
    registration, stat = read_json(zk, f"/brokers/ids/{broker.broker_id}")
    assert stat.ephemeralOwner != 0, "a broker registration is ephemeral"
    assert set(registration) == BROKER_KEYS, registration
    assert registration["version"] == 5
    assert registration["host"] == "127.0.0.1"
    assert registration["port"] == broker.port
    assert registration["endpoints"] == [f"PLAINTEXT://127.0.0.1:{broker.port}"]
    assert registration["listener_security_protocol_map"] == {"PLAINTEXT": "PLAINTEXT"}
    assert registration["jmx_port"] == -1
    assert re.fullmatch(r"\d{13}", registration["timestamp"]), registration
    assert registration["features"] == {}


@pytest.mark.timeout(180)
def test_brokers_register_in_kafkas_layout(cluster_factory, zookeeper):
    cluster = cluster_factory(size=3, chroot="/sluice")
    zk = zookeeper.client("/sluice")
    try:
        wait_until("three brokers registered", lambda: sorted(zk.get_children("/brokers/ids")) == ["1", "2", "3"])
        for broker in cluster.brokers:
            check_broker_registration(zk, broker)
        controller, stat = read_json(zk, "/controller")
        assert stat.ephemeralOwner != 0
        assert set(controller) == {"version", "brokerid", "timestamp", "kraftControllerEpoch"}
        assert controller["version"] == 2
        assert controller["brokerid"] in (1, 2, 3)
        assert controller["kraftControllerEpoch"] == -1
        epoch, _ = zk.get("/controller_epoch")
        assert int(epoch.decode()) >= 1
        cluster_id, _ = read_json(zk, "/cluster/id")
        assert cluster_id["version"] == "1"
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id["id"]), cluster_id
        for path in ["/brokers/topics", "/config/topics", "/config/changes", "/admin/delete_topics", "/isr_change_notification"]:
            assert zk.exists(path) is not None, path
    finally:
        zk.stop()
        zk.close()


def describe_lines(bootstrap, topic):
    out = subprocess.run(
        [str(SLUICE_BIN), "topics", "--describe", "--topic", topic, "--bootstrap-server", bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if "Partition:" in line]


@pytest.mark.timeout(240)
def test_quickstart_replicated_topic(cluster_factory, zookeeper):
    cluster = cluster_factory(size=3)
    bootstrap = cluster.brokers[0].bootstrap
    for topic, flag, target in [
        ("my-replicated-topic", "--bootstrap-server", bootstrap),
        ("my-replicated-topic-zk", "--zookeeper", zookeeper.connect),
    ]:
        subprocess.run(
            [str(SLUICE_BIN), "topics", "--create", "--topic", topic, "--partitions", "1", "--replication-factor", "3", flag, target],
            check=True,
            timeout=60,
        )
        (line,) = describe_lines(bootstrap, topic)
        fields = dict(re.findall(r"(\w+): (\S+)", line))
        assert sorted(fields["Replicas"].split(",")) == ["1", "2", "3"], line
        assert sorted(fields["Isr"].split(",")) == ["1", "2", "3"], line
        assert fields["Leader"] in ("1", "2", "3"), line
    # RF above the live brokers is Kafka's INVALID_REPLICATION_FACTOR.
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    futures = admin.create_topics([NewTopic("too-many-replicas", 1, 4)])
    with pytest.raises(Exception, match="INVALID_REPLICATION_FACTOR|larger than available brokers"):
        futures["too-many-replicas"].result(timeout=30)
    # Every client sees all three brokers.
    metadata = admin.list_topics(timeout=30)
    assert sorted(metadata.brokers) == [1, 2, 3]
    kcat = subprocess.run(["kcat", "-b", bootstrap, "-L", "-J"], capture_output=True, text=True, timeout=60, check=True)
    assert sorted(b["id"] for b in json.loads(kcat.stdout)["brokers"]) == [1, 2, 3]


@pytest.mark.timeout(240)
def test_rf1_partitions_spread_and_keyed_records_reach_their_leaders(cluster_factory, zookeeper):
    cluster = cluster_factory(size=3)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("spread", 12, 1)])["spread"].result(timeout=30)
    zk = zookeeper.client()
    try:
        assignment, _ = read_json(zk, "/brokers/topics/spread")
        assert assignment["version"] == 3
        assert set(assignment) == {"version", "partitions", "topic_id", "adding_replicas", "removing_replicas"}
        leaders = [replicas[0] for replicas in assignment["partitions"].values()]
        assert sorted(set(leaders)) == [1, 2, 3] and all(leaders.count(b) == 4 for b in (1, 2, 3))
        for partition in range(12):
            state, _ = read_json(zk, f"/brokers/topics/spread/partitions/{partition}/state")
            assert set(state) == {"version", "leader", "leader_epoch", "isr", "controller_epoch"}
            assert state["leader"] == assignment["partitions"][str(partition)][0]
            assert state["isr"] == [state["leader"]]
    finally:
        zk.stop()
        zk.close()
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(10_000):
        producer.produce("spread", key=f"k{i % 97}", value=str(i))
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "spread", "auto.offset.reset": "earliest"})
    consumer.subscribe(["spread"])
    seen = set()
    deadline = time.monotonic() + 90
    while len(seen) < 10_000 and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            seen.add(int(message.value()))
    consumer.close()
    assert seen == set(range(10_000))


@pytest.mark.timeout(240)
def test_killed_controller_is_replaced(cluster_factory, zookeeper):
    cluster = cluster_factory(size=3, overrides=["zookeeper.session.timeout.ms=6000"])
    zk = zookeeper.client()
    try:
        wait_until("a controller", lambda: zk.exists("/controller"))
        first, _ = read_json(zk, "/controller")
        cluster.broker(first["brokerid"]).kill()
        # Another broker takes /controller within the session timeout.
        def new_controller():
            if zk.exists("/controller") is None:
                return None
            controller, _ = read_json(zk, "/controller")
            return controller if controller["brokerid"] != first["brokerid"] else None
        wait_until("a new controller", new_controller, timeout_s=30)
        survivor = cluster.running()[0]
        admin = AdminClient({"bootstrap.servers": survivor.bootstrap})
        admin.create_topics([NewTopic("after-failover", 3, 2)])["after-failover"].result(timeout=30)
        assert zk.exists("/brokers/topics/after-failover") is not None
    finally:
        zk.stop()
        zk.close()


@pytest.mark.timeout(300)
def test_restarts_keep_ids_and_brokers_reregister(cluster_factory, zookeeper):
    cluster = cluster_factory(size=3, overrides=["zookeeper.session.timeout.ms=6000"])
    zk = zookeeper.client()
    try:
        wait_until("three brokers", lambda: len(zk.get_children("/brokers/ids")) == 3)
        broker = cluster.broker(2)
        assert broker.restart() is broker
        wait_until("broker 2 back", lambda: "2" in zk.get_children("/brokers/ids"))
        check_broker_registration(zk, broker)
    finally:
        zk.stop()
        zk.close()
    # ZooKeeper itself restarts: every broker registers again.
    zookeeper.kill()
    zookeeper.start()
    zk = zookeeper.client()
    try:
        wait_until("all registered again", lambda: sorted(zk.get_children("/brokers/ids")) == ["1", "2", "3"], timeout_s=60)
        for broker in cluster.brokers:
            check_broker_registration(zk, broker)
    finally:
        zk.stop()
        zk.close()


# ---------------------------------------------------------------------------
# The quickstart's files: config/*.properties and the bin/ start scripts.

def repo_path(*parts):
    from conftest import REPO

    return REPO.joinpath(*parts)


def properties_with(path, replacements):
    """The properties file's lines with `key=value` replaced (or dropped
    when the value is None), others kept as they are."""
    out = []
    for line in path.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.startswith("#") and key in replacements:
            if replacements[key] is not None:
                out.append(f"{key}={replacements[key]}")
            continue
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.timeout(120)
def test_zookeeper_server_start_runs_kafkas_properties_file(tmp_path):
    from cluster import zookeeper_unavailable

    reason = zookeeper_unavailable()
    if reason:
        pytest.skip(reason)
    from conftest import free_port

    port = free_port()
    props = tmp_path / "zookeeper.properties"
    props.write_text(
        properties_with(
            repo_path("config", "zookeeper.properties"),
            {"dataDir": str(tmp_path / "zookeeper"), "clientPort": str(port)},
        )
    )
    log = open(tmp_path / "zookeeper.out", "w")
    env = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx256M")
    proc = subprocess.Popen(
        [str(repo_path("bin", "zookeeper-server-start.sh")), str(props)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_until("ZooKeeper serves", lambda: "Mode: standalone" in (four_letter_word(port, "srvr") or ""), 60)
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=f"127.0.0.1:{port}", timeout=10.0)
        zk.start(timeout=30)
        zk.ensure_path("/brokers/ids")
        assert zk.get_children("/brokers") == ["ids"]
        zk.stop()
        zk.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    usage = subprocess.run([str(repo_path("bin", "zookeeper-server-start.sh"))], capture_output=True, text=True)
    assert usage.returncode == 1 and "USAGE:" in usage.stderr


@pytest.mark.timeout(120)
def test_kafka_server_start_runs_the_broker(tmp_path):
    from conftest import READY_LINE, free_port

    port = free_port()
    # Kafka's server.properties, without zookeeper.connect until cluster
    # mode is wired, on a free port and a temp directory.
    props = tmp_path / "server.properties"
    props.write_text(
        properties_with(
            repo_path("config", "server.properties"),
            {"zookeeper.connect": None, "log.dirs": str(tmp_path / "kafka-logs")},
        )
    )
    stdout = tmp_path / "broker.stdout"
    with open(stdout, "w") as out, open(tmp_path / "broker.stderr", "w") as err:
        proc = subprocess.Popen(
            [
                str(repo_path("bin", "kafka-server-start.sh")),
                str(props),
                "--override",
                f"listeners=PLAINTEXT://127.0.0.1:{port}",
                "--override",
                "sluice.cores=2",
            ],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, SLUICE_BIN=str(SLUICE_BIN), NO_COLOR="1"),
        )
    try:
        wait_until("the broker listens", lambda: READY_LINE in stdout.read_text() or proc.poll() is not None, 60)
        assert proc.poll() is None, (tmp_path / "broker.stderr").read_text()
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
        assert 0 in admin.list_topics(timeout=30).brokers
    finally:
        proc.terminate()
        code = proc.wait(timeout=60)
    assert code == 0
    usage = subprocess.run([str(repo_path("bin", "kafka-server-start.sh"))], capture_output=True, text=True)
    assert usage.returncode == 1 and "USAGE:" in usage.stderr
