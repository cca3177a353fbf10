#!/usr/bin/env python3
"""Captures real client requests as the fuzzers' seed corpus.

Starts the release `sluice` binary behind a recording proxy (the broker
advertises the proxy's port, so every connection a client makes goes
through it), drives it with confluent-kafka (librdkafka), kafka-python and
kcat, and writes:

- every distinct request frame (the bytes after the size prefix) to
  fuzz/corpus/request_decode/real-<api>-v<version>-<hash>;
- every distinct record batch the broker stored to
  fuzz/corpus/batch_validate/real-<hash>.

Run from the repository root with the test venv:
    .venv/bin/python fuzz/capture_corpus.py
The corpus is committed; run this again when clients or APIs change.
"""

import hashlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLUICE = Path(os.environ.get("SLUICE_BIN", REPO / "target" / "release" / "sluice"))
REQUESTS = REPO / "fuzz" / "corpus" / "request_decode"
BATCHES = REPO / "fuzz" / "corpus" / "batch_validate"
# Frames above this are not kept (a seed should be small to mutate well).
SEED_BYTES_MAX = 64 * 1024
# Requests of one (api, version) kept at most.
SEEDS_PER_VERSION_MAX = 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.kept = {}

    def frame(self, frame):
        if len(frame) < 8 or len(frame) > SEED_BYTES_MAX:
            return
        api, version = struct.unpack(">hh", frame[:4])
        digest = hashlib.sha1(frame).hexdigest()[:12]
        with self.lock:
            names = self.kept.setdefault((api, version), set())
            if len(names) >= SEEDS_PER_VERSION_MAX:
                return
            name = f"real-{api:02}-v{version:02}-{digest}"
            if name not in names:
                names.add(name)
                (REQUESTS / name).write_bytes(frame)


def pipe(src, dst, recorder):
    """Copies src to dst; when recorder is set, splits the stream into
    frames and records each."""
    buffered = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            if recorder is None:
                continue
            buffered += data
            while len(buffered) >= 4:
                (size,) = struct.unpack(">i", buffered[:4])
                if len(buffered) < 4 + size:
                    break
                recorder.frame(buffered[4 : 4 + size])
                buffered = buffered[4 + size :]
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxy(listen_port, broker_port, recorder):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)

    def accept():
        while True:
            client, _ = server.accept()
            try:
                upstream = socket.create_connection(("127.0.0.1", broker_port))
            except OSError:
                client.close()  # the broker is stopping
                continue
            threading.Thread(target=pipe, args=(client, upstream, recorder), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, None), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def workloads(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = ["corpus-a", "corpus-b"]
    for f in admin.create_topics([NewTopic(t, 3, 1) for t in topics]).values():
        f.result()
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        for idempotent in (False, True):
            p = Producer(
                {
                    "bootstrap.servers": bootstrap,
                    "compression.type": codec,
                    "enable.idempotence": idempotent,
                    "linger.ms": 5,
                }
            )
            for i in range(200):
                headers = [("h", b"v")] if i % 3 == 0 else None
                p.produce("corpus-a", key=f"k{i % 7}".encode(), value=b"x" * (i % 50), headers=headers)
            p.flush(30)
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "corpus-group",
            "auto.offset.reset": "earliest",
            "group.instance.id": "corpus-static",
        }
    )
    c.subscribe(["corpus-a"])
    deadline = time.time() + 20
    seen = 0
    while time.time() < deadline and seen < 1000:
        m = c.poll(0.5)
        if m is not None and not m.error():
            seen += 1
    c.commit(asynchronous=False)
    c.close()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "corpus-coop", "partition.assignment.strategy": "cooperative-sticky"})
    c.subscribe(["corpus-a"])
    for _ in range(10):
        c.poll(0.5)
    c.close()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "corpus-assign"})
    c.offsets_for_times([TopicPartition("corpus-a", 0, int(time.time() * 1000) - 60000)])
    c.get_watermark_offsets(TopicPartition("corpus-a", 0))
    c.close()
    res = ConfigResource(ConfigResource.Type.TOPIC, "corpus-b")
    for f in admin.describe_configs([res]).values():
        f.result()
    res.add_incremental_config(ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET))
    for f in admin.incremental_alter_configs([res]).values():
        f.result()
    for f in admin.create_partitions([NewPartitions("corpus-b", 4)]).values():
        f.result()
    admin.list_consumer_groups().result()
    for f in admin.describe_consumer_groups(["corpus-group"]).values():
        f.result()
    from confluent_kafka import TopicPartition as TP

    for f in admin.delete_records([TP("corpus-a", 0, 5)]).values():
        f.result()
    for f in admin.delete_consumer_groups(["corpus-assign"]).values():
        try:
            f.result()
        except Exception:
            pass

    # kafka-python: other versions of the same APIs.
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic

    kp = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip")
    for i in range(50):
        kp.send("corpus-b", key=b"k", value=f"v{i}".encode())
    kp.flush()
    kp.close()
    kc = KafkaConsumer("corpus-b", bootstrap_servers=bootstrap, group_id="corpus-kp", auto_offset_reset="earliest", consumer_timeout_ms=5000)
    for _ in kc:
        pass
    kc.commit()
    kc.close()
    ka = KafkaAdminClient(bootstrap_servers=bootstrap)
    ka.create_topics([KNewTopic("corpus-c", 2, 1)])
    ka.list_groups()
    ka.describe_groups(["corpus-kp"])
    ka.list_group_offsets("corpus-kp")
    ka.describe_configs([])
    ka.delete_topics(["corpus-c"])
    ka.close()

    # kcat (Debian's librdkafka).
    subprocess.run(["kcat", "-b", bootstrap, "-L"], check=True, capture_output=True, timeout=60)
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", "corpus-b", "-z", "snappy"], input=b"a\nb\nc\n", check=True, timeout=60)
    subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", "corpus-b", "-e", "-o", "beginning"], check=True, capture_output=True, timeout=60)


def split_batches(log_dir):
    """Every stored batch, as the broker keeps it on disk."""
    for path in Path(log_dir).glob("*/*.log"):
        data = path.read_bytes()
        at = 0
        while at + 12 <= len(data):
            (length,) = struct.unpack(">i", data[at + 8 : at + 12])
            if length <= 0:
                break
            batch = data[at : at + 12 + length]
            if len(batch) <= SEED_BYTES_MAX:
                digest = hashlib.sha1(batch).hexdigest()[:12]
                (BATCHES / f"real-{digest}").write_bytes(batch)
            at += 12 + length


def main():
    REQUESTS.mkdir(parents=True, exist_ok=True)
    BATCHES.mkdir(parents=True, exist_ok=True)
    broker_port, proxy_port = free_port(), free_port()
    recorder = Recorder()
    proxy(proxy_port, broker_port, recorder)
    with tempfile.TemporaryDirectory() as data:
        broker = subprocess.Popen(
            [
                str(SLUICE),
                "broker",
                "--listen",
                f"127.0.0.1:{broker_port}",
                "--log-dirs",
                data,
                "--cores",
                "2",
                "--override",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy_port}",
                "--override",
                "group.initial.rebalance.delay.ms=0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert b"listening" in broker.stdout.readline()
            workloads(f"127.0.0.1:{proxy_port}")
        finally:
            broker.terminate()
            broker.wait(60)
        split_batches(data)
    kept = sum(len(v) for v in recorder.kept.values())
    print(f"{kept} request frames over {len(recorder.kept)} (api, version) pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
