"""A ZooKeeper-coordinated cluster on loopback for the cluster tests: a real
ZooKeeper (Debian's `zookeeper` package, run by java) on a free port with its
own data directory, and N `sluice` brokers (each `--cores 2`, its own port,
log directory and `broker.id`, all with `zookeeper.connect`).

Everything runs from the test's temp directory, which pytest keeps (the last
few runs), so logs survive a failure: `zookeeper/zookeeper.log`,
`broker<i>/broker.stderr`. The conftest fixtures add their tails to a failed
test's report and stop every process at the end.
"""

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from conftest import Broker, free_port

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
SLF4J_SIMPLE_JAR = Path("/usr/share/java/slf4j-simple.jar")
ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

# Bounds on waiting; generous for a loaded 2-core machine.
ZK_START_TIMEOUT_S = 60
ZK_STOP_TIMEOUT_S = 30

# tickTime bounds the session timeouts ZooKeeper grants (2 to 20 ticks):
# 1000 ms allows Kafka's default of 18000 and short test sessions of 2000.
TICK_TIME_MS = 1000


def wait_until(what, predicate, timeout_s=30.0, interval_s=0.1):
    """Polls `predicate` until it returns a true value, which is returned;
    fails naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s}s")
        time.sleep(interval_s)


def zookeeper_unavailable():
    """Why ZooKeeper cannot run here (None when it can)."""
    if shutil.which("java") is None:
        return "java is not installed (tests/run-all.sh installs Debian's zookeeper)"
    if not ZOOKEEPER_JAR.exists():
        return f"{ZOOKEEPER_JAR} is missing (apt-get install zookeeper)"
    return None


def four_letter_word(port, word, timeout=2.0):
    """Sends a ZooKeeper four-letter command; the answer, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None


class ZooKeeperServer:
    """One standalone ZooKeeper; a restart keeps its port and data."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config_path = self.workdir / "zoo.cfg"
        self.log_path = self.workdir / "zookeeper.log"
        self.proc = None
        self.write_config()

    def write_config(self):
        self.config_path.write_text(
            f"tickTime={TICK_TIME_MS}\n"
            f"dataDir={self.data_dir}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            # No AdminServer: it would take port 8080 from whoever has it.
            "admin.enableServer=false\n"
            "maxClientCnxns=0\n"
            "4lw.commands.whitelist=ruok,srvr,stat,cons\n"
        )

    @property
    def connect(self):
        return f"127.0.0.1:{self.port}"

    def command(self):
        return [
            "java",
            "-Xmx256m",
            "-cp",
            f"{ZOOKEEPER_JAR}:{SLF4J_SIMPLE_JAR}",
            ZOOKEEPER_MAIN,
            str(self.config_path),
        ]

    def start(self):
        assert self.proc is None, "ZooKeeper already running"
        log = open(self.log_path, "a")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        finally:
            log.close()
        deadline = time.monotonic() + ZK_START_TIMEOUT_S
        # `ruok` answers before the server serves; `srvr` tells its mode once
        # it does.
        while "Mode:" not in (four_letter_word(self.port, "srvr") or ""):
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                raise AssertionError(f"ZooKeeper exited with {code}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"ZooKeeper did not answer in {ZK_START_TIMEOUT_S}s")
            time.sleep(0.1)
        return self

    def stop(self):
        """SIGTERM and wait."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=ZK_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self):
        """SIGKILL and wait (a crash)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    @property
    def running(self):
        return self.proc is not None

    def log_tail(self, lines=200):
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])

    def client(self, chroot=""):
        """A started kazoo client (the caller stops it)."""
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=self.connect + chroot, timeout=10.0)
        zk.start(timeout=ZK_START_TIMEOUT_S)
        return zk


class Cluster:
    """N sluice brokers sharing one ZooKeeper (under `chroot`, if given)."""

    def __init__(self, workdir, zookeeper, size=3, overrides=(), chroot="", cores=2):
        self.workdir = Path(workdir)
        self.zookeeper = zookeeper
        self.chroot = chroot
        self.brokers = []
        for broker_id in range(1, size + 1):
            own = [
                f"broker.id={broker_id}",
                f"zookeeper.connect={zookeeper.connect}{chroot}",
            ]
            broker = Broker(
                self.workdir / f"broker{broker_id}",
                overrides=own + list(overrides),
                cores=cores,
            )
            broker.broker_id = broker_id
            self.brokers.append(broker)

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers)

    def start(self):
        for broker in self.brokers:
            broker.start()
        self.wait_registered()
        return self

    def wait_registered(self, timeout_s=60):
        """Waits until every running broker is in `/brokers/ids`: a broker
        listens first and registers right after, as Kafka's do, so a
        client that comes in between sees fewer brokers."""
        wanted = sorted(str(b.broker_id) for b in self.running())
        zk = self.zookeeper.client(self.chroot)
        try:
            deadline = time.monotonic() + timeout_s
            while sorted(zk.get_children("/brokers/ids") if zk.exists("/brokers/ids") else []) != wanted:
                if time.monotonic() > deadline:
                    raise AssertionError(f"brokers {wanted} not all registered in {timeout_s}s")
                time.sleep(0.05)
        finally:
            zk.stop()
            zk.close()

    def broker(self, broker_id):
        return next(b for b in self.brokers if b.broker_id == broker_id)

    def running(self):
        return [b for b in self.brokers if b.running]
