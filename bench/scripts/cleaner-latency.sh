#!/usr/bin/env bash
# Produce latency with the log cleaner busy against idle, on one broker.
#
# Preloads a compacted topic `dirty` (4 partitions, unique keys, so every
# cleaning reads and rewrites all of it) with the cleaner off, then runs
# the same fixed-rate `sluice perf produce` to a plain topic `lat`, three
# times each, interleaved: idle (log.cleaner.enable=false) and busy (the
# cleaner checkpoints removed, so at start every shard's cleaner works
# through the whole backlog while the producer runs). Prints each run's
# perf summary line, the cleaner's log lines of the busy runs (to check it
# was busy for the whole run), and the load average.
#
#   bench/scripts/cleaner-latency.sh [DIRTY_RECORDS] [RATE] [DURATION]
#   defaults:                         3000000         20000  10s
# CLEANER_OVERRIDES="--override log.cleaner.io.max.bytes.per.second=N" adds
# broker settings to the busy runs; CORES=1 runs a one-shard broker (the
# client then has the other CPU to itself).
set -euo pipefail
cd "$(dirname "$0")/../.."
SLUICE=${SLUICE_BIN:-target/release/sluice}
DIRTY_RECORDS=${1:-3000000}
RATE=${2:-20000}
DURATION=${3:-10s}
CORES=${CORES:-2}
WORK=$(mktemp -d "${SLUICE_BENCH_DIR:-/tmp}/sluice-cleaner-latency.XXXXXX")
PORT=$((20000 + RANDOM % 20000))
BOOT=127.0.0.1:$PORT
trap 'kill $(cat "$WORK/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # extra --override arguments
    NO_COLOR=1 "$SLUICE" broker --listen "$BOOT" --log-dirs "$WORK/data" --cores "$CORES" "$@" \
        >"$WORK/out" 2>>"$WORK/err" &
    echo $! >"$WORK/pid"
    for _ in $(seq 600); do grep -q "listening on" "$WORK/out" 2>/dev/null && return; sleep 0.1; done
    echo "broker did not start" >&2; exit 1
}
stop() { kill -TERM "$(cat "$WORK/pid")"; wait "$(cat "$WORK/pid")" || true; }

start --override log.cleaner.enable=false
"$SLUICE" topics --bootstrap-server "$BOOT" --create --topic dirty --partitions 4 \
    --config cleanup.policy=compact --config segment.bytes=67108864 >/dev/null
"$SLUICE" topics --bootstrap-server "$BOOT" --create --topic lat --partitions 12 >/dev/null
echo "preloading $DIRTY_RECORDS records of 1000 bytes into the compacted topic" >&2
"$SLUICE" perf produce --bootstrap-server "$BOOT" --topic dirty --keys --record-size 1000 \
    --num-records "$DIRTY_RECORDS" --producer-props acks=1 linger.ms=5 2>/dev/null | tail -1 >&2
stop
du -sh "$WORK/data" >&2

for run in 1 2 3; do
    for mode in idle busy; do
        if [ "$mode" = busy ]; then
            rm -f "$WORK"/data/dirty-*/cleaner-offset-checkpoint
            : >"$WORK/err"
            start --override log.cleaner.backoff.ms=100 --override log.cleaner.min.cleanable.ratio=0.01 ${CLEANER_OVERRIDES:-}
        else
            start --override log.cleaner.enable=false
        fi
        echo "== $mode run $run, load average $(cut -d' ' -f1-3 /proc/loadavg), from $(date -u +%T.%N)"
        "$SLUICE" perf produce --bootstrap-server "$BOOT" --topic lat --record-size 1000 \
            --throughput "$RATE" --duration "$DURATION" \
            --producer-props acks=all linger.ms=1 2>/dev/null | tail -1
        echo "   to $(date -u +%T.%N)"
        if [ "$mode" = busy ]; then
            { grep "cleaned log" "$WORK/err" || echo "  (no cleaning finished during the run)"; } |
                sed -E 's/^([^ ]+).*partition=([0-9]+).*bytes_before=([0-9]+).*read_mb_per_s=([0-9.]+).*/  cleaned at \1 partition \2: \3 bytes, read \4 MB\/s/'
        fi
        stop
    done
done
