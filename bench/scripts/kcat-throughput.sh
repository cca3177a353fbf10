#!/usr/bin/env bash
# Quick broker throughput check with librdkafka (kcat; the venv of
# tests/run-all.sh for topic creation), until the perf
# harness (sluice perf) exists: produces MESSAGES records of RECORD_BYTES to a
# PARTITIONS-partition topic with acks=1 and acks=all, consumes them all, and
# prints MB/s, the broker's CPU seconds and peak RSS, beside loopback TCP
# bandwidth measured in the same run. Usage:
#   bench/scripts/kcat-throughput.sh [CORES]   (release binary, free port, temp dir)
set -euo pipefail
cd "$(dirname "$0")/../.."
CORES="${1:-2}"
MESSAGES="${MESSAGES:-1048576}"
RECORD_BYTES="${RECORD_BYTES:-1024}"
PARTITIONS="${PARTITIONS:-12}"
BIN="${SLUICE_BIN:-target/release/sluice}"
work=$(mktemp -d)
trap 'kill "$broker" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c "
import sys
line = ('x' * ($RECORD_BYTES - 1) + '\n').encode()
with open('$work/records', 'wb') as f:
    for _ in range($MESSAGES): f.write(line)"
mb=$(python3 -c "print($MESSAGES * $RECORD_BYTES / 1e6)")

# Loopback TCP ceiling: one connection, 256 KiB sends.
python3 - <<'PY'
import socket, threading, time
total = 2 << 30
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def sink():
    c, _ = srv.accept(); n = 0
    while n < total:
        b = c.recv(1 << 20)
        if not b: break
        n += len(b)
t = threading.Thread(target=sink); t.start()
cl = socket.create_connection(srv.getsockname()); buf = b"x" * (256 << 10); sent = 0
start = time.monotonic()
while sent < total:
    cl.sendall(buf); sent += len(buf)
t.join(); print(f"loopback TCP: {total / (time.monotonic() - start) / 1e6:.0f} MB/s")
PY

"$BIN" broker --listen "127.0.0.1:$port" --log-dirs "$work/data" --cores "$CORES" > "$work/out" 2> "$work/err" &
broker=$!
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$broker/stat"; }
timed() { local s; s=$(date +%s.%N); "$@"; python3 -c "import time; print(time.time() - $s)"; }
for acks in 1 all; do
    topic="t-acks-$acks"
    .venv/bin/python -c "
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({'bootstrap.servers': '127.0.0.1:$port'})
admin.create_topics([NewTopic('$topic', $PARTITIONS, 1)])['$topic'].result()"
    before=$(cpu)
    secs=$(timed kcat -b "127.0.0.1:$port" -t "$topic" -P -l "$work/records" -X acks=$acks -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.messages=1000000 | tail -1)
    after=$(cpu)
    echo "produce acks=$acks cores=$CORES: $(python3 -c "print(f'{$mb / $secs:.0f} MB/s, {$MESSAGES / $secs:.0f} msg/s, broker CPU {($after - $before):.1f} s over {$secs:.1f} s')")"
done
before=$(cpu)
secs=$(timed sh -c "kcat -b 127.0.0.1:$port -t t-acks-1 -C -e -q -o beginning > /dev/null" | tail -1)
after=$(cpu)
echo "consume cores=$CORES: $(python3 -c "print(f'{$mb / $secs:.0f} MB/s, {$MESSAGES / $secs:.0f} msg/s, broker CPU {($after - $before):.1f} s over {$secs:.1f} s')")"
echo "broker peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$broker/status)"
