"""A consumer-group member (confluent-kafka) in a process of its own
(group_member.py), so a test can close it, kill -9 it, and read the
assignment changes and messages it reports."""

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from clients import OP_TIMEOUT_S

HERE = Path(__file__).parent


def wait_until(predicate, timeout_s, what):
    """Polls `predicate` every 0.1 s; fails naming `what` after `timeout_s`
    (the group tests' wait: it only stops a stuck test)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Member:
    """A group member in its own process (group_member.py)."""

    def __init__(self, bootstrap, topic, group, settings=()):
        self.events = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "group_member.py"), bootstrap, topic, group, *settings],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def partitions(self):
        """The assignment after the last change, or None before the first."""
        changes = [e for e in self.snapshot() if e["event"] in ("assigned", "revoked")]
        return changes[-1]["all"] if changes else None

    def values(self):
        return [e["value"] for e in self.snapshot() if e["event"] == "message"]

    def changes(self):
        return [e for e in self.snapshot() if e["event"] in ("assigned", "revoked")]

    def close(self):
        self.proc.stdin.write("close\n")
        self.proc.stdin.flush()
        wait_until(lambda: any(e["event"] == "closed" for e in self.snapshot()), OP_TIMEOUT_S, "close")
        self.proc.wait(timeout=OP_TIMEOUT_S)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=OP_TIMEOUT_S)

    def stop(self):
        if self.proc.poll() is None:
            self.kill()
