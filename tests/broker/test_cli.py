"""Kafka's command-line tools as `sluice` subcommands (and the bin/kafka-*.sh
wrappers), run as a person or a runbook runs them, against the real broker:
the quickstart, consumer group lag and offset resets, live topic config
changes, and the error paths scripts rely on (exit 0 ok, 1 error, 2 usage)."""

import os
import re
import signal
import socket
import struct
import subprocess
import time

import pytest
from confluent_kafka import Producer

from clients import flush, watermarks
from conftest import REPO, SLUICE_BIN

# Bounds each tool run; the tools themselves answer in well under a second.
RUN_TIMEOUT_S = 60
# Bound on waiting for the retention pass to drop a segment.
RETENTION_WAIT_S = 30


def sluice(*args, stdin=None, check=True):
    """Runs `sluice ARGS`; returns the CompletedProcess (text)."""
    done = subprocess.run(
        [str(SLUICE_BIN), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    if check:
        assert done.returncode == 0, f"sluice {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done


def tool(name, broker, *args, **kw):
    return sluice(name, "--bootstrap-server", broker.bootstrap, *args, **kw)


def describe_rows(broker, group):
    """`groups --describe` as {(topic, partition): (current, end, lag)}."""
    out = tool("groups", broker, "--describe", "--group", group).stdout
    lines = [l for l in out.splitlines() if l.strip()]
    header = next(i for i, l in enumerate(lines) if l.startswith("GROUP"))
    assert lines[header].split() == [
        "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
        "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID",
    ]
    rows = {}
    for line in lines[header + 1:]:
        cols = line.split()
        assert cols[0] == group
        rows[(cols[1], int(cols[2]))] = (cols[3], cols[4], cols[5])
    return rows


def reset_table(out):
    """The NEW-OFFSET table of `--reset-offsets` as {(topic, partition): offset}."""
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0].split() == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    return {(c[1], int(c[2])): int(c[3]) for c in (l.split() for l in lines[1:])}


@pytest.mark.timeout(120)
def test_quickstart(broker):
    created = tool("topics", broker, "--create", "--topic", "test",
                   "--partitions", "1", "--replication-factor", "1")
    assert created.stdout == "Created topic test.\n"
    assert "test" in tool("topics", broker, "--list").stdout.splitlines()

    described = tool("topics", broker, "--describe", "--topic", "test").stdout.splitlines()
    assert len(described) == 2
    head = described[0].split("\t")
    assert head[0] == "Topic: test"
    assert re.fullmatch(r"TopicId: [A-Za-z0-9_-]{22}", head[1]), head
    assert head[2:4] == ["PartitionCount: 1", "ReplicationFactor: 1"]
    assert head[4].startswith("Configs: ")
    assert described[1].split("\t")[:6] == [
        "", "Topic: test", "Partition: 0", "Leader: 0", "Replicas: 0", "Isr: 0",
    ]

    tool("produce", broker, "--topic", "test", stdin="This is my first event\nThis is my second event\n")
    consumed = tool("consume", broker, "--topic", "test", "--from-beginning", "--max-messages", "2")
    assert consumed.stdout == "This is my first event\nThis is my second event\n"
    assert "Processed a total of 2 messages" in consumed.stderr

    # A keyed round trip, printed with the key (and Kafka's other columns).
    tool("produce", broker, "--topic", "test", "--property", "parse.key=true",
         "--property", "key.separator=:", stdin="user1:clicked\nuser2:left\n")
    keyed = tool("consume", broker, "--topic", "test", "--partition", "0", "--offset", "2",
                 "--max-messages", "2", "--property", "print.key=true",
                 "--property", "print.offset=true", "--property", "key.separator=|")
    assert keyed.stdout == "Offset:2|user1|clicked\nOffset:3|user2|left\n"

    # Headers in, headers out.
    tool("produce", broker, "--topic", "test", "--property", "parse.headers=true",
         "--property", "parse.key=true", stdin="trace:42,env:prod\tk\tv\n")
    headers = tool("consume", broker, "--topic", "test", "--partition", "0", "--offset", "4",
                   "--max-messages", "1", "--property", "print.headers=true",
                   "--property", "print.key=true")
    assert headers.stdout == "trace:42,env:prod\tk\tv\n"

    # The bin/ wrappers are the same tools under Kafka's script names.
    wrapped = subprocess.run(
        [str(REPO / "bin" / "kafka-topics.sh"), "--bootstrap-server", broker.bootstrap, "--list"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        env=dict(os.environ, SLUICE_BIN=str(SLUICE_BIN)),
    )
    assert wrapped.returncode == 0, wrapped.stderr
    assert "test" in wrapped.stdout.splitlines()


@pytest.mark.timeout(120)
def test_long_values_print_as_numbers(broker):
    """A word-count output topic holds 8-byte big-endian longs."""
    tool("topics", broker, "--create", "--topic", "counts", "--partitions", "1")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for word, count in [("kafka", 3), ("sluice", 12345678901)]:
        producer.produce("counts", key=word.encode(), value=struct.pack(">q", count))
    flush(producer)
    out = tool("consume", broker, "--topic", "counts", "--from-beginning", "--max-messages", "2",
               "--property", "print.key=true",
               "--value-deserializer", "org.apache.kafka.common.serialization.LongDeserializer")
    assert out.stdout == "kafka\t3\nsluice\t12345678901\n"


@pytest.mark.timeout(120)
def test_group_lag_and_offset_resets(broker_factory):
    broker = broker_factory(overrides=["group.initial.rebalance.delay.ms=0"])
    tool("topics", broker, "--create", "--topic", "orders", "--partitions", "1")
    tool("produce", broker, "--topic", "orders", stdin="".join(f"order-{i}\n" for i in range(10)))

    part = tool("consume", broker, "--topic", "orders", "--group", "billing",
                "--from-beginning", "--max-messages", "4")
    assert part.stdout.splitlines() == [f"order-{i}" for i in range(4)]
    assert "Processed a total of 4 messages" in part.stderr
    assert describe_rows(broker, "billing") == {("orders", 0): ("4", "10", "6")}
    assert "billing" in tool("groups", broker, "--list").stdout.splitlines()

    def reset(*how, execute=True):
        mode = "--execute" if execute else "--dry-run"
        out = tool("groups", broker, "--reset-offsets", "--group", "billing",
                   "--topic", "orders", *how, mode).stdout
        return reset_table(out)

    assert reset("--to-earliest", execute=False) == {("orders", 0): 0}
    assert describe_rows(broker, "billing")[("orders", 0)] == ("4", "10", "6")  # dry run: unchanged

    assert reset("--to-offset", "7") == {("orders", 0): 7}
    assert describe_rows(broker, "billing")[("orders", 0)] == ("7", "10", "3")
    assert reset("--shift-by", "-5") == {("orders", 0): 2}
    assert reset("--shift-by", "100") == {("orders", 0): 10}  # clamped to the log end
    assert reset("--to-earliest") == {("orders", 0): 0}
    assert reset("--to-latest") == {("orders", 0): 10}
    assert describe_rows(broker, "billing")[("orders", 0)] == ("10", "10", "0")
    assert reset("--to-datetime", "2000-01-01T00:00:00.000") == {("orders", 0): 0}

    # The group resumes where the reset put it.
    reset("--to-offset", "8")
    rest = tool("consume", broker, "--topic", "orders", "--group", "billing", "--max-messages", "2")
    assert rest.stdout.splitlines() == ["order-8", "order-9"]

    deleted = tool("groups", broker, "--delete-offsets", "--group", "billing", "--topic", "orders")
    assert "Successful" in deleted.stdout
    gone = tool("groups", broker, "--delete", "--group", "billing")
    assert gone.stdout.strip() == "Deletion of requested consumer groups ('billing') was successful."
    assert "billing" not in tool("groups", broker, "--list").stdout.splitlines()


@pytest.mark.timeout(120)
def test_ctrl_c_commits_and_reports(broker_factory):
    broker = broker_factory(overrides=["group.initial.rebalance.delay.ms=0"])
    tool("topics", broker, "--create", "--topic", "clicks", "--partitions", "1")
    tool("produce", broker, "--topic", "clicks", stdin="a\nb\nc\n")
    proc = subprocess.Popen(
        [str(SLUICE_BIN), "consume", "--bootstrap-server", broker.bootstrap, "--topic", "clicks",
         "--group", "ui", "--from-beginning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = [proc.stdout.readline() for _ in range(3)]
        assert seen == ["a\n", "b\n", "c\n"]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Processed a total of 3 messages" in err
    assert describe_rows(broker, "ui")[("clicks", 0)] == ("3", "3", "0")


@pytest.mark.timeout(120)
def test_topic_configs_change_live(broker_factory):
    broker = broker_factory(overrides=["log.retention.check.interval.ms=200"])
    tool("topics", broker, "--create", "--topic", "events", "--partitions", "1")
    tool("produce", broker, "--topic", "events", stdin="old-1\nold-2\n")

    changed = tool("configs", broker, "--entity-type", "topics", "--entity-name", "events",
                   "--alter", "--add-config", "retention.ms=1000,segment.ms=100")
    assert changed.stdout == "Completed updating config for topic events.\n"
    described = tool("configs", broker, "--entity-type", "topics", "--entity-name", "events",
                     "--describe").stdout.splitlines()
    assert described[0] == "Dynamic configs for topic events are:"
    assert "  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000" in "\n".join(described)
    assert "Configs: " in tool("topics", broker, "--describe", "--topic", "events").stdout
    assert "retention.ms=1000" in tool("topics", broker, "--describe", "--topic", "events").stdout

    # The broker applies it: the next append rolls the old segment
    # (segment.ms), and the retention pass deletes it (retention.ms).
    deadline = time.monotonic() + RETENTION_WAIT_S
    while watermarks(broker.bootstrap, "events", 0)[0] == 0:
        assert time.monotonic() < deadline, "old records were not deleted after retention.ms"
        tool("produce", broker, "--topic", "events", stdin="new\n")
        time.sleep(0.3)
    assert watermarks(broker.bootstrap, "events", 0)[0] >= 2

    tool("configs", broker, "--entity-type", "topics", "--entity-name", "events",
         "--alter", "--delete-config", "retention.ms,segment.ms")
    after = tool("configs", broker, "--entity-type", "topics", "--entity-name", "events", "--describe")
    assert after.stdout == "Dynamic configs for topic events are:\n"


@pytest.mark.timeout(60)
def test_errors_name_the_cause_and_exit_codes_hold(broker):
    # Nothing listens on a port we just closed.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    for args in (["topics", "--list"], ["consume", "--topic", "t"], ["groups", "--list"],
                 ["configs", "--entity-type", "topics", "--describe"]):
        down = sluice(*args, "--bootstrap-server", closed, check=False)
        assert down.returncode == 1, down
        assert f"cannot reach the broker at {closed}" in down.stderr
    down = sluice("produce", "--topic", "t", "--broker-list", closed, stdin="x\n", check=False)
    assert down.returncode == 1 and closed in down.stderr

    bad_name = tool("topics", broker, "--create", "--topic", "bad name!", check=False)
    assert bad_name.returncode == 1
    assert "bad name!" in bad_name.stderr and "illegal" in bad_name.stderr

    tool("topics", broker, "--create", "--topic", "t1")
    again = tool("topics", broker, "--create", "--topic", "t1", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert tool("topics", broker, "--create", "--topic", "t1", "--if-not-exists").returncode == 0

    missing = tool("topics", broker, "--describe", "--topic", "nope", check=False)
    assert missing.returncode == 1 and "'nope' does not exist" in missing.stderr
    assert tool("topics", broker, "--describe", "--topic", "nope", "--if-exists").stdout == ""
    missing = tool("consume", broker, "--topic", "nope", check=False)
    assert missing.returncode == 1 and "'nope' does not exist" in missing.stderr

    for config, named in (("retention.msx=1", "retention.msx"), ("retention.ms=soon", "retention.ms")):
        refused = tool("configs", broker, "--entity-type", "topics", "--entity-name", "t1",
                       "--alter", "--add-config", config, check=False)
        assert refused.returncode == 1, refused
        assert named in refused.stderr and "InvalidConfig" in refused.stderr
    refused = tool("topics", broker, "--create", "--topic", "t2", "--config", "cleanup.policy=shred",
                   check=False)
    assert refused.returncode == 1 and "cleanup.policy" in refused.stderr
    static = tool("configs", broker, "--entity-type", "brokers", "--entity-name", "0",
                  "--alter", "--add-config", "log.retention.ms=5", check=False)
    assert static.returncode == 1 and "log.retention.ms" in static.stderr

    usage = tool("topics", broker, check=False)
    assert usage.returncode == 2 and "exactly one action" in usage.stderr
    usage = tool("consume", broker, "--topic", "t1", "--offset", "5", check=False)
    assert usage.returncode == 2
    assert sluice("topics", "--no-such-flag", check=False).returncode == 2


def test_a_log_file_has_no_colour_codes(broker, topic_name):
    """The broker's stderr is a file here, not a terminal: plain text, no
    ANSI escape sequences (colour is only for a person at a terminal)."""
    sluice("topics", "--bootstrap-server", broker.bootstrap, "--create", "--topic", topic_name("log"))
    raw = broker.stderr_path.read_bytes()
    assert b"created topic" in raw and b" INFO " in raw
    assert b"\x1b[" not in raw
