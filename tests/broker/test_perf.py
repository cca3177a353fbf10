"""`sluice perf` (the perf harness, librdkafka inside) against the real broker.

Each mode runs briefly with bounded record counts; the tests check what the
tools print (Kafka's producer line and consumer CSV, parsed the way scripts
parse them) and that the JSON report has every field. They never assert on
timings: only on counts, formats and fields.
"""

import json
import re
import subprocess

import pytest

import wire
from conftest import SLUICE_BIN

PERF_TIMEOUT_S = 60
RECORDS = 20_000

# kafka-producer-perf-test's final line (ProducerPerformance.Stats.printTotal).
PRODUCER_TOTAL = re.compile(
    r"^(\d+) records sent, (\d+\.\d{6}) records/sec \((\d+\.\d{2}) MB/sec\), "
    r"(\d+\.\d{2}) ms avg latency, (\d+\.\d{2}) ms max latency, "
    r"(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$"
)
# Its window line (Stats.printWindow), printed every 5 s.
PRODUCER_WINDOW = re.compile(
    r"^\d+ records sent, \d+\.\d records/sec \(\d+\.\d{2} MB/sec\), "
    r"\d+\.\d ms avg latency, \d+\.\d ms max latency\.$"
)
CONSUMER_HEADER = (
    "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
    "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
)
CONSUMER_LINE = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}:\d{3}, \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}:\d{3}, "
    r"\d+\.\d{4}, \d+\.\d{4}, (\d+), \d+\.\d{4}, (\d+), (\d+), \d+\.\d{4}, \d+\.\d{4}$"
)
PERCENTILE_KEYS = ["count", "mean_ms", "p50_ms", "p75_ms", "p95_ms", "p99_ms", "p99.9_ms", "p99.99_ms", "max_ms"]
API_JOIN_GROUP = 11


def perf(*args):
    result = subprocess.run(
        [str(SLUICE_BIN), "perf", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=PERF_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"sluice perf {args} exited {result.returncode}:\n{result.stderr}"
    return result.stdout.splitlines()


def check_host(document):
    host = document["host"]
    assert host["hostname"] and host["kernel"] and host["cpu_count"] >= 1


def check_run(run, mode):
    assert run["mode"] == mode
    assert run["interrupted"] is False
    for key in ["target", "workload", "started_unix_ms", "elapsed_s", "figures", "windows", "latency", "details"]:
        assert key in run, key
    for window in run["windows"]:
        for key in ["start_s", "elapsed_s", "records", "bytes", "errors", "records_per_sec", "mib_per_sec", "latency"]:
            assert key in window, key
    for latency in run["latency"]:
        assert sorted(latency["summary"]) == sorted(PERCENTILE_KEYS)
        assert latency["curve"][0]["percentile"] == 0.0 and latency["curve"][-1]["percentile"] == 100.0


def check_html(path):
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html
    assert "<script src" not in html and "<link" not in html


def produce(broker, topic, tmp_path, name="produce", records=RECORDS, size=100, partitions=3, *extra):
    out = tmp_path / f"{name}.json"
    lines = perf(
        "produce", "--bootstrap-server", broker.bootstrap, "--topic", topic,
        "--num-records", records, "--record-size", size, "--throughput", -1,
        "--partitions", partitions, "--producer-props", "acks=all", "linger.ms=5",
        "--json", out, "--report", tmp_path / f"{name}.html", *extra,
    )
    return lines, json.loads(out.read_text())


@pytest.mark.timeout(90)
def test_produce_prints_kafkas_lines_and_a_full_report(broker, topic_name, tmp_path):
    topic = topic_name("perf")
    lines, document = produce(broker, topic, tmp_path, "produce", RECORDS, 100, 3, "--keys")
    final = PRODUCER_TOTAL.match(lines[-1])
    assert final, f"not Kafka's final line: {lines[-1]!r}"
    assert int(final.group(1)) == RECORDS
    assert int(final.group(6)) <= int(final.group(7)) <= int(final.group(8)) <= int(final.group(9))
    for line in lines[:-1]:
        assert PRODUCER_WINDOW.match(line), f"not Kafka's window line: {line!r}"

    check_host(document)
    run = document["run"]
    check_run(run, "produce")
    assert run["workload"]["num_records"] == RECORDS and run["workload"]["keys"] is True
    assert run["details"]["records_acknowledged"] == RECORDS
    assert run["details"]["records_failed"] == 0
    assert run["details"]["final_line"] == lines[-1]
    assert sum(w["records"] for w in run["windows"]) == RECORDS
    for figure in ["records_per_sec", "mib_per_sec", "latency_p50_ms", "latency_p99.9_ms", "latency_max_ms"]:
        assert figure in run["figures"], figure
    assert run["latency"][0]["summary"]["count"] == RECORDS
    check_html(tmp_path / "produce.html")


@pytest.mark.timeout(90)
def test_consume_without_a_group_reads_everything_from_the_beginning(broker, topic_name, tmp_path):
    topic = topic_name("perf")
    produce(broker, topic, tmp_path, "seed", RECORDS, 200, 4)
    out = tmp_path / "consume.json"
    lines = perf(
        "consume", "--bootstrap-server", broker.bootstrap, "--topic", topic,
        "--json", out, "--report", tmp_path / "consume.html",
    )
    assert lines[0] == CONSUMER_HEADER
    row = CONSUMER_LINE.match(lines[-1])
    assert row, f"not Kafka's consumer line: {lines[-1]!r}"
    assert int(row.group(1)) == RECORDS
    assert int(row.group(2)) == 0  # no group, no rebalance

    document = json.loads(out.read_text())
    check_host(document)
    run = document["run"]
    check_run(run, "consume")
    assert run["details"]["records"] == RECORDS
    assert run["details"]["bytes"] == RECORDS * 200
    assert run["workload"]["partitions"] == [0, 1, 2, 3]
    for figure in ["mib_per_sec", "records_per_sec", "fetch_mib_per_sec", "rebalance_ms"]:
        assert figure in run["figures"], figure
    check_html(tmp_path / "consume.html")


def broker_has_groups(bootstrap):
    with wire.connect(bootstrap) as s:
        s.sendall(wire.request(18, 0, 1))
        _, error_code, apis = wire.parse_api_versions_v0(wire.recv_frame(s))
    return error_code == 0 and any(key == API_JOIN_GROUP for key, _, _ in apis)


@pytest.mark.timeout(90)
def test_consume_in_a_group(broker, topic_name, tmp_path):
    if not broker_has_groups(broker.bootstrap):
        pytest.skip("this broker does not advertise JoinGroup yet")
    topic = topic_name("perf")
    produce(broker, topic, tmp_path, "seed", 5_000, 100, 2)
    lines = perf("consume", "--bootstrap-server", broker.bootstrap, "--topic", topic, "--group", topic_name("g"))
    row = CONSUMER_LINE.match(lines[-1])
    assert row, lines[-1]
    assert int(row.group(1)) == 5_000


@pytest.mark.timeout(90)
def test_e2e_receives_every_record_and_reports_all_percentiles(broker, topic_name, tmp_path):
    topic = topic_name("perf")
    out = tmp_path / "e2e.json"
    lines = perf(
        "e2e", "--bootstrap-server", broker.bootstrap, "--topic", topic, "--partitions", 2,
        "--throughput", 2_000, "--num-records", 4_000, "--record-size", 64,
        "--json", out, "--report", tmp_path / "e2e.html",
    )
    aggregated = [line for line in lines if line.startswith("----- Aggregated E2E Latency (ms)")]
    assert len(aggregated) == 1
    for label in ["50%", "75%", "95%", "99%", "99.9%", "99.99%", "Max"]:
        assert f" {label}: " in aggregated[0], label

    document = json.loads(out.read_text())
    check_host(document)
    run = document["run"]
    check_run(run, "e2e")
    assert run["details"]["records_sent"] == 4_000
    assert run["details"]["records_received"] == 4_000
    assert run["details"]["records_malformed"] == 0
    for figure in ["e2e_p50_ms", "e2e_p75_ms", "e2e_p95_ms", "e2e_p99_ms", "e2e_p99.9_ms", "e2e_p99.99_ms", "e2e_max_ms"]:
        assert figure in run["figures"], figure
    corrected = run["latency"][0]
    assert corrected["what"] == "end to end (from intended send)"
    assert corrected["summary"]["count"] == 4_000
    check_html(tmp_path / "e2e.html")


@pytest.mark.timeout(120)
def test_compare_interleaves_runs_against_both_addresses(broker, topic_name, tmp_path):
    topic = topic_name("perf")
    out = tmp_path / "compare.json"
    lines = perf(
        "compare", "--a", broker.bootstrap, "--b", broker.bootstrap, "--runs", 2,
        "--json", out, "--report", tmp_path / "compare.html",
        "produce", "--topic", topic, "--num-records", 3_000, "--record-size", 100, "--partitions", 2,
    )
    order = [line.split()[3] for line in lines if line.startswith("=== run ")]
    assert order == ["A", "B", "A", "B"]
    assert len([line for line in lines if PRODUCER_TOTAL.match(line)]) == 4
    assert any(line.startswith("records_per_sec") for line in lines)

    document = json.loads(out.read_text())
    check_host(document)
    assert len(document["a"]["runs"]) == 2 and len(document["b"]["runs"]) == 2
    for run in document["a"]["runs"] + document["b"]["runs"]:
        check_run(run, "produce")
        assert run["details"]["records_acknowledged"] == 3_000
    rows = {row["figure"]: row for row in document["comparison"]}
    row = rows["records_per_sec"]
    for side in ["a", "b"]:
        assert row[side]["min"] <= row[side]["median"] <= row[side]["max"]
    assert row["ratio_b_over_a"] > 0
    check_html(tmp_path / "compare.html")


@pytest.mark.timeout(60)
def test_limits_measure_disk_and_loopback(tmp_path):
    out = tmp_path / "limits.json"
    log_dir = tmp_path / "logdir"
    lines = perf("limits", "--log-dir", log_dir, "--seconds", "200ms", "--json", out, "--report", tmp_path / "limits.html")
    assert any(line.startswith("O_DIRECT sequential write") for line in lines)
    assert any(line.startswith("TCP loopback") for line in lines)
    assert any(line.startswith("fdatasync after O_DIRECT write") for line in lines)
    assert list(log_dir.iterdir()) == []  # the scratch files are removed

    document = json.loads(out.read_text())
    check_host(document)
    run = document["run"]
    check_run(run, "limits")
    for size in ["64KiB", "256KiB", "1MiB"]:
        for kind in ["direct_write", "tcp", "limit"]:
            figure = run["figures"][f"{kind}_mb_per_sec_{size}"]
            assert figure["unit"] == "MB/s" and figure["value"] > 0
    assert run["details"]["fdatasync"]["count"] >= 1
    check_html(tmp_path / "limits.html")
