"""Fixtures that run the real `sluice` binary on loopback.

Each test gets its own broker on a free port with its own data directory.
The broker's stdout and stderr go to files in the test's temp directory; when
a test fails, its brokers' stderr is added to the failure report. Stopping is
SIGTERM and the exit code must be 0 (the broker flushes and exits cleanly);
`kill()` is SIGKILL for the crash tests, after which `start()` reopens the
same directory. No broker outlives the session, and past a time budget the
remaining tests fail at once instead of each waiting for its timeout.
"""

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLUICE_BIN = Path(os.environ.get("SLUICE_BIN", REPO / "target" / "release" / "sluice"))

# Bounds on waiting for the broker; generous for a loaded 2-core machine.
# They bound loops, they are not what a test asserts.
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
READY_LINE = "sluice broker listening on"

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The whole suite takes about seven minutes on a 2-CPU machine (the
# replication tests' leader kills wait out ZooKeeper session timeouts); each
# test has its own timeout. When a broken broker makes test after test wait
# for its timeout, the rest fail at once past this budget, so the run stays
# well inside CI's limit.
SUITE_BUDGET_S = float(os.environ.get("SLUICE_TESTS_BUDGET_S", "1200"))

# A free port can be taken by another process before the broker binds it.
PORT_ATTEMPTS = 3

# Every broker process this session started, so that none outlives it (a
# test cut off by its timeout does not get to stop its brokers).
_children = []


class PortTaken(AssertionError):
    """The broker could not listen: another process took the port."""


def free_port():
    """A loopback port nobody listens on right now (bind port 0, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One `sluice broker` on one data directory, started and stopped by
    the test; a restart keeps the port and the directory."""

    def __init__(self, workdir, overrides=(), cores=2):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.overrides = list(overrides)
        self.cores = cores
        self.port = free_port()
        self.proc = None
        self.runs = 0
        self.has_listened = False
        self.stderr_path = self.workdir / "broker.stderr"
        self.stdout_path = self.workdir / "broker.stdout"

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def command(self):
        cmd = [
            str(SLUICE_BIN),
            "broker",
            "--listen",
            self.bootstrap,
            "--log-dirs",
            str(self.data_dir),
            "--cores",
            str(self.cores),
        ]
        for override in self.overrides:
            cmd += ["--override", override]
        return cmd

    def start(self):
        """Starts the broker and waits for its ready line. The first start
        picks another port if the free one was taken meanwhile by someone
        else; a restart keeps the port (clients reconnect to it)."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                return self._start_once()
            except PortTaken:
                if self.has_listened or attempt == PORT_ATTEMPTS - 1:
                    raise
                self.port = free_port()

    def _start_once(self):
        assert self.proc is None, "broker already running"
        assert SLUICE_BIN.exists(), f"{SLUICE_BIN} not built (cargo build --release -p sluice)"
        self.runs += 1
        marker = f"===== run {self.runs}: {' '.join(self.command())}\n"
        with open(self.stderr_path, "a") as err:
            err.write(marker)
        # A fresh stdout file per run, so the ready line found is this run's.
        stdout = open(self.stdout_path, "w")
        stderr = open(self.stderr_path, "a")
        env = dict(os.environ, NO_COLOR="1")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                env=env,
            )
        finally:
            stdout.close()
            stderr.close()
        _children.append(self.proc)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if READY_LINE in self.stdout_path.read_text():
                self.has_listened = True
                return self
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                if "Address already in use" in self.stderr_text().split(marker)[-1]:
                    raise PortTaken(self.bootstrap)
                raise AssertionError(f"broker exited with {code} before listening")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"broker did not print {READY_LINE!r} in {START_TIMEOUT_S}s")
            time.sleep(0.05)

    def stop(self):
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None, "broker not running"
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"broker did not exit {STOP_TIMEOUT_S}s after SIGTERM")

    def kill(self):
        """SIGKILL and wait (a crash: nothing is flushed on the way out)."""
        assert self.proc is not None, "broker not running"
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait()

    def restart(self):
        code = self.stop()
        assert code == 0, f"broker exited with {code} on SIGTERM"
        return self.start()

    @property
    def running(self):
        return self.proc is not None

    def stderr_text(self):
        try:
            return ANSI.sub("", self.stderr_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""


@pytest.fixture
def broker_factory(request, tmp_path):
    """Starts brokers (`factory(overrides=[...])`); each still running at the
    end is stopped with SIGTERM and must exit 0."""
    brokers = []
    request.node._sluice_brokers = brokers

    def factory(overrides=(), start=True):
        broker = Broker(tmp_path / f"broker{len(brokers)}", overrides=overrides)
        brokers.append(broker)
        return broker.start() if start else broker

    yield factory
    codes = []
    for broker in brokers:
        if broker.running:
            codes.append((broker.bootstrap, broker.stop()))
    bad = [(b, c) for b, c in codes if c != 0]
    assert not bad, f"brokers exited non-zero on SIGTERM: {bad}"


@pytest.fixture
def broker(broker_factory):
    """A broker with default settings."""
    return broker_factory()


@pytest.fixture
def members():
    """Starts consumer-group members in their own processes
    (members.Member); each is killed at the end of the test if still alive."""
    from members import Member

    started = []

    def start(*args, **kwargs):
        member = Member(*args, **kwargs)
        started.append(member)
        return member

    yield start
    for member in started:
        member.stop()


@pytest.fixture
def topic_name():
    """A fresh topic name per call."""

    def make(prefix="t"):
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def zookeeper(request, tmp_path):
    """A real ZooKeeper (Debian's package) on a free port with its own data
    directory; the test is skipped when java or the package is missing."""
    from cluster import ZooKeeperServer, zookeeper_unavailable

    reason = zookeeper_unavailable()
    if reason:
        pytest.skip(reason)
    server = ZooKeeperServer(tmp_path / "zookeeper")
    request.node._sluice_zookeepers = [server]
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster_factory(request, tmp_path, zookeeper):
    """Starts clusters of sluice brokers on the test's ZooKeeper:
    `factory(size=3, overrides=[...], chroot="/kafka")`. Brokers still
    running at the end get SIGTERM and must exit 0."""
    from cluster import Cluster

    clusters = []
    brokers = request.node.__dict__.setdefault("_sluice_brokers", [])

    def factory(size=3, overrides=(), chroot="", start=True):
        cluster = Cluster(
            tmp_path / f"cluster{len(clusters)}", zookeeper, size, overrides, chroot
        )
        clusters.append(cluster)
        brokers.extend(cluster.brokers)
        return cluster.start() if start else cluster

    yield factory
    codes = []
    for cluster in clusters:
        for broker in cluster.running():
            codes.append((broker.bootstrap, broker.stop()))
    bad = [(b, c) for b, c in codes if c != 0]
    assert not bad, f"brokers exited non-zero on SIGTERM: {bad}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, server in enumerate(getattr(item, "_sluice_zookeepers", [])):
            report.sections.append(
                (f"zookeeper {i} log tail ({report.when}; all of it in {server.log_path})", server.log_tail())
            )
        for i, broker in enumerate(getattr(item, "_sluice_brokers", [])):
            text = broker.stderr_text()
            # The tail is where the cause is; keep reports readable.
            lines = text.splitlines()
            if len(lines) > 400:
                lines = [f"... {len(lines) - 400} earlier lines in {broker.stderr_path}"] + lines[-400:]
            report.sections.append((f"sluice broker {i} stderr ({report.when})", "\n".join(lines)))


def pytest_sessionfinish(session, exitstatus):
    for proc in _children:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def pytest_sessionstart(session):
    session.config._sluice_started = time.monotonic()


def pytest_runtest_setup(item):
    used = time.monotonic() - item.config._sluice_started
    if used > SUITE_BUDGET_S:
        pytest.fail(f"not run: the broker tests' budget of {SUITE_BUDGET_S:.0f} s is used up ({used:.0f} s)")
