#!/usr/bin/env bash
# The measurement matrix of bench/results/: for each CORES given, starts
# `sluice broker --cores CORES` on a free port and a fresh directory, runs
# `sluice perf limits` on that directory, then RUNS runs each of: produce
# 1 KiB records unlimited with acks=1 and acks=all, produce 100-byte records
# (acks=1), consume each acks=1 1 KiB topic, and e2e latency at 50% and 90% of
# the median acks=1 1 KiB records/s. Every run writes JSON to OUT; the
# summary (min/median/max) is printed by bench/scripts/perf-summary.py.
# Usage: bench/scripts/perf-matrix.sh OUT CORES...   (release binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="$1"; shift
BIN="${SLUICE_BIN:-target/release/sluice}"
RUNS="${RUNS:-3}"
SECS="${SECS:-10s}"
E2E_SECS="${E2E_SECS:-15s}"
PARTITIONS="${PARTITIONS:-12}"
DATA="${DATA:-$(mktemp -d)}"
mkdir -p "$OUT"
broker=""
trap '[ -n "$broker" ] && kill "$broker" 2>/dev/null; rm -rf "$DATA"' EXIT

for cores in "$@"; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    dir="$DATA/cores$cores"
    o="$OUT/cores$cores"
    mkdir -p "$dir" "$o"
    # The broker's output stays with the results (a crash is a result too).
    "$BIN" broker --listen "127.0.0.1:$port" --log-dirs "$dir/data" --cores "$cores" > "$o/broker.out" 2> "$o/broker.err" &
    broker=$!
    for _ in $(seq 100); do grep -q listening "$o/broker.out" && break; sleep 0.1; done
    bs="127.0.0.1:$port"
    uptime | tee "$o/uptime-start.txt"
    "$BIN" perf limits --log-dir "$dir/limits" --json "$o/limits.json"
    for run in $(seq "$RUNS"); do
        for acks in 1 all; do
            echo "== cores $cores run $run produce 1KiB acks=$acks"
            "$BIN" perf produce --bootstrap-server "$bs" --topic "p1k-acks$acks-$run" --partitions "$PARTITIONS" \
                --duration "$SECS" --record-size 1024 --throughput -1 \
                --producer-props acks=$acks linger.ms=5 --json "$o/produce-1k-acks$acks-$run.json" | tail -1
        done
        echo "== cores $cores run $run produce 100B acks=1"
        "$BIN" perf produce --bootstrap-server "$bs" --topic "p100-$run" --partitions "$PARTITIONS" \
            --duration "$SECS" --record-size 100 --throughput -1 \
            --producer-props acks=1 linger.ms=5 --json "$o/produce-100-acks1-$run.json" | tail -1
        echo "== cores $cores run $run consume 1KiB"
        "$BIN" perf consume --bootstrap-server "$bs" --topic "p1k-acks1-$run" --json "$o/consume-1k-$run.json" | tail -1
    done
    max=$(python3 -c "
import json, statistics, sys
rates = [json.load(open('$o/produce-1k-acks1-%d.json' % r))['run']['figures']['records_per_sec']['value'] for r in range(1, $RUNS + 1)]
print(statistics.median(rates))")
    for load in 50 90; do
        rate=$(python3 -c "print(int($max * $load / 100))")
        for run in $(seq "$RUNS"); do
            echo "== cores $cores run $run e2e at $load% = $rate records/s"
            "$BIN" perf e2e --bootstrap-server "$bs" --topic "e2e-$load-$run" --partitions "$PARTITIONS" \
                --throughput "$rate" --duration "$E2E_SECS" --record-size 1024 \
                --json "$o/e2e-$load-$run.json" | grep "Aggregated E2E Latency (ms)"
        done
    done
    uptime | tee "$o/uptime-end.txt"
    kill "$broker"; wait "$broker" || true; broker=""
done
