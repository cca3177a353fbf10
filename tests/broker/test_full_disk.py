"""A full disk: produce fails with an error the client sees, everything
acknowledged before stays readable, the broker keeps serving and logs the
failure once per partition, not once per tick.

Needs root and a loop device (a small ext4 image mounted for the broker's
log directory); skipped, with the reason, where the machine has neither.
"""

import os
import shutil
import subprocess
import time

import pytest
from confluent_kafka import Producer

from clients import OP_TIMEOUT_S, create_topic, flush, read_all
from conftest import Broker

IMAGE_MB = 96
PARTITIONS = 2
RECORD = b"x" * 1024


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs root and mkfs.ext4 to mount a small filesystem")
    image = tmp_path / "disk.img"
    mount = tmp_path / "mnt"
    mount.mkdir()
    subprocess.run(["truncate", "-s", f"{IMAGE_MB}M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.timeout(300)
def test_full_disk_fails_produce_and_loses_nothing_acknowledged(small_disk, tmp_path, topic_name):
    # The broker's own output stays off the small disk; its data goes there.
    broker = Broker(tmp_path / "broker")
    broker.data_dir = small_disk / "data"
    broker.start()
    try:
        topic = topic_name("full")
        create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
        acked, failed = [], []

        def delivered(err, msg):
            (failed if err is not None else acked).append(msg if err is None else err)

        producer = Producer(
            {
                "bootstrap.servers": broker.bootstrap,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 10_000,
            }
        )
        # Twice the image's size: the disk fills well before the end.
        for i in range(2 * IMAGE_MB * 1024):
            while True:
                try:
                    producer.produce(topic, key=str(i).encode(), value=RECORD, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        flush(producer, timeout_s=OP_TIMEOUT_S * 2)
        assert acked, "some writes fit on the disk"
        assert failed, "writes past the full disk fail"
        assert all("STORAGE" in str(err).upper() or "TIMED_OUT" in str(err).upper() for err in failed[:20]), failed[:5]
        assert broker.proc.poll() is None, "the broker keeps running"

        # Everything acknowledged is there, in order, and the broker still
        # answers metadata, list offsets and fetch.
        log = read_all(broker.bootstrap, topic, PARTITIONS)
        kept = {(m.partition(), m.offset()) for messages in log.values() for m in messages}
        assert {(m.partition(), m.offset()) for m in acked} <= kept
        time.sleep(1)
        warnings = broker.stderr_text().count("partition tick failed")
        assert warnings <= PARTITIONS * 2, f"{warnings} tick-failure lines: logged once per failure"
    finally:
        if broker.running:
            broker.stop()  # its exit code is not the point here
