"""kcat (librdkafka's command-line client) against the real broker."""

import json
import subprocess
from collections import defaultdict

import pytest

from clients import create_topic

MESSAGES = 10_000
PARTITIONS = 6
KCAT_TIMEOUT_S = 120


def kcat(*args, stdin=None):
    result = subprocess.run(
        ["kcat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=KCAT_TIMEOUT_S,
    )
    assert result.returncode == 0, f"kcat {args} exited {result.returncode}: {result.stderr}"
    return result


@pytest.mark.timeout(180)
def test_kcat_produce_consume_and_metadata(broker, topic_name, tmp_path):
    topic = topic_name("kcat")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)

    expected = {f"key-{i:05d}": f"value-{i:05d}-{'x' * (i % 50)}" for i in range(MESSAGES)}
    source = tmp_path / "messages.txt"
    source.write_text("".join(f"{k}:{v}\n" for k, v in expected.items()))
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", "-X", "acks=all", "-l", str(source))

    out = kcat(
        "-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e",
        "-f", "%p|%o|%k|%s\n",
    ).stdout
    lines = out.splitlines()
    assert len(lines) == MESSAGES

    offsets = defaultdict(list)
    partitions_of_key = defaultdict(set)
    seen = defaultdict(int)
    for line in lines:
        partition, offset, key, value = line.split("|", 3)
        offsets[int(partition)].append(int(offset))
        partitions_of_key[key].add(int(partition))
        seen[(key, value)] += 1

    # Every key/value exactly once, and nothing else.
    assert set(seen) == set(expected.items())
    assert all(count == 1 for count in seen.values())
    # Each key in exactly one partition: where librdkafka's partitioner put it.
    assert all(len(ps) == 1 for ps in partitions_of_key.values())
    # Keys spread over partitions; each partition's offsets run 0, 1, 2, ...
    assert set(offsets) == set(range(PARTITIONS)), sorted(offsets)
    for partition, offs in offsets.items():
        assert offs == list(range(len(offs))), f"partition {partition} offsets not 0.. in order"

    metadata = json.loads(kcat("-b", broker.bootstrap, "-L", "-J", "-t", topic).stdout)
    [entry] = [t for t in metadata["topics"] if t["topic"] == topic]
    assert "error" not in entry, entry
    assert sorted(p["partition"] for p in entry["partitions"]) == list(range(PARTITIONS))
    assert all(p["leader"] == 0 for p in entry["partitions"]), entry["partitions"]
    assert [b["id"] for b in metadata["brokers"]] == [0]
