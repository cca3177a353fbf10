#!/usr/bin/env bash
# Neutral throughput harness (issue 19): librdkafka's own benchmark client,
# examples/rdkafka_performance, rather than our `sluice perf`, so the figures
# are comparable with what others publish for Kafka and Redpanda. The client
# is built from the librdkafka sources the rdkafka-sys crate ships in the
# cargo registry (no network, no extra packages: SSL, GSSAPI, zstd and curl
# off) into a cache dir outside the repository, once; delete the dir to
# rebuild. Against a running broker it runs, each RUNS times on a fresh
# 4-partition topic (linger.ms=5, keyless records), and prints
# min/median/max msgs/s and MB/s (MB = 1e6 B, as rdkafka_performance counts):
#   p100     produce 1,000,000 x 100 B, acks=1
#   p1k      produce 200,000 x 1 KiB, acks=1
#   p1k-all  produce 200,000 x 1 KiB, acks=all
#   c1k      consume a 200,000 x 1 KiB topic from the beginning
# Usage:
#   bench/scripts/rdkperf.sh [BOOTSTRAP [RUNS]]   (default 127.0.0.1:9092 3)
# Env: WORKLOADS="p100 p1k p1k-all c1k" (a subset, space/comma separated),
#   RDKPERF_DIR (build cache, default ~/.cache/sluice-rdkperf), SLUICE_BIN
#   (for topic creation, default target/release/sluice; if it fails the
#   broker's auto-create is relied on), RDKPERF_ARGS (extra client flags,
#   e.g. "-X batch.size=1000000"), KEEP_LOGS=1 (keep each run's output),
#   C1K_STOP=eof|count (default eof). With eof, c1k's consumer stops at
#   end of partition (-e), which librdkafka reports only on the Fetch after
#   the last data; that one finds nothing new and is held for the client's
#   fetch.wait.max.ms (500 ms), as Kafka holds it, so its time includes
#   about 0.5 s of waiting (204.8 MB at any speed reads as under 410 MB/s
#   with it). count (-c 200000) stops at the last record: the read rate.
set -euo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP="${1:-127.0.0.1:9092}"
RUNS="${2:-3}"
WORKLOADS="${WORKLOADS:-p100 p1k p1k-all c1k}"
WORKLOADS="${WORKLOADS//,/ }"
RDKPERF_DIR="${RDKPERF_DIR:-$HOME/.cache/sluice-rdkperf}"
BIN="${SLUICE_BIN:-target/release/sluice}"
PARTITIONS=4
read -r -a EXTRA <<< "${RDKPERF_ARGS:-}"
perf="$RDKPERF_DIR/librdkafka/examples/rdkafka_performance"

# Build rdkafka_performance once from the crate's vendored librdkafka.
if [ ! -x "$perf" ]; then
    src=$(ls -d "$HOME"/.cargo/registry/src/*/rdkafka-sys-4.10.0+2.12.1/librdkafka 2>/dev/null | head -1 || true)
    [ -n "$src" ] || { echo "rdkafka-sys-4.10.0+2.12.1 not in ~/.cargo/registry (cargo fetch)" >&2; exit 1; }
    echo "building rdkafka_performance in $RDKPERF_DIR (log: $RDKPERF_DIR/build.log)" >&2
    mkdir -p "$RDKPERF_DIR"
    rm -rf "$RDKPERF_DIR/librdkafka"
    cp -r "$src" "$RDKPERF_DIR/librdkafka"
    chmod -R u+w "$RDKPERF_DIR/librdkafka"
    (cd "$RDKPERF_DIR/librdkafka" &&
        ./configure --disable-ssl --disable-gssapi --disable-zstd --disable-curl --disable-lz4-ext &&
        make -j"$(nproc)" libs &&
        make -C examples rdkafka_performance) > "$RDKPERF_DIR/build.log" 2>&1 ||
        { tail -20 "$RDKPERF_DIR/build.log" >&2; exit 1; }
fi

work=$(mktemp -d)
[ "${KEEP_LOGS:-}" = 1 ] && echo "run logs in $work" >&2 || trap 'rm -rf "$work"' EXIT
stamp=$(date +%s)-$$

create() {  # a fresh topic; auto-create when the tool is missing or fails
    if [ -x "$BIN" ] && "$BIN" topics --bootstrap-server "$BOOTSTRAP" --create --topic "$1" \
        --partitions "$PARTITIONS" --replication-factor 1 > "$work/create.out" 2>&1; then
        return
    fi
    local why="no $BIN"; [ -x "$BIN" ] && why=$(tail -1 "$work/create.out")
    echo "  (could not create $1 ($why): relying on auto-create, num.partitions of the broker)" >&2
}

produce() {  # TOPIC COUNT SIZE ACKS LOG
    "$perf" -P -b "$BOOTSTRAP" -t "$1" -c "$2" -s "$3" -a "$4" -X linger.ms=5 \
        ${EXTRA[@]+"${EXTRA[@]}"} > "$5" 2>&1 || { tail -5 "$5" >&2; return 1; }
    # "% N messages produced (B bytes), D delivered (offset O, F failed) in Tms: X msgs/s and Y MB/s, ..."
    local line; line=$(grep 'messages produced' "$5" | tail -1)
    local delivered; delivered=$(sed -E 's/.* ([0-9]+) delivered .*/\1/' <<< "$line")
    [ "$delivered" = "$2" ] || { echo "  only $delivered of $2 delivered: $line" >&2; return 1; }
    sed -E 's/.* ([0-9]+) msgs\/s and ([0-9.]+) MB\/s.*/\1 \2/' <<< "$line"
}

consume() {  # TOPIC COUNT LOG
    local parts=() p stop=(-e)
    for ((p = 0; p < PARTITIONS; p++)); do parts+=(-p "$p"); done
    [ "${C1K_STOP:-eof}" = count ] && stop=(-c "$2")
    "$perf" -C -b "$BOOTSTRAP" -t "$1" "${parts[@]}" -o beginning "${stop[@]}" \
        ${EXTRA[@]+"${EXTRA[@]}"} > "$3" 2>&1 || { tail -5 "$3" >&2; return 1; }
    # "% N messages (B bytes) consumed in Tms: X msgs/s (Y MB/s)"
    local line; line=$(grep 'consumed in' "$3" | grep -v INTERVAL | tail -1)
    local got; got=$(sed -E 's/^% ([0-9]+) messages.*/\1/' <<< "$line")
    [ "$got" = "$2" ] || { echo "  consumed $got of $2: $line" >&2; return 1; }
    sed -E 's/.*: ([0-9]+) msgs\/s \(([0-9.]+) MB\/s\).*/\1 \2/' <<< "$line"
}

summary() {  # NAME FILE-of-"msgs/s MB/s"-lines
    python3 - "$1" "$2" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
m = sorted(r[0] for r in rows); b = sorted(r[1] for r in rows)
print(f"{sys.argv[1]:8} runs={len(rows)}  msgs/s min/median/max {m[0]:.0f} / {statistics.median(m):.0f} / {m[-1]:.0f}"
      f"   MB/s {b[0]:.2f} / {statistics.median(b):.2f} / {b[-1]:.2f}")
PY
}

for w in $WORKLOADS; do
    case "$w" in p100|p1k|p1k-all|c1k) ;; *) echo "unknown workload $w (p100 p1k p1k-all c1k)" >&2; exit 2 ;; esac
done
echo "rdkafka_performance $("$perf" -h 2>&1 | sed -n 's/^librdkafka version \([^ ]*\).*/\1/p') against $BOOTSTRAP, $RUNS runs, $PARTITIONS partitions, linger.ms=5, c1k stops at ${C1K_STOP:-eof}"
for w in $WORKLOADS; do
    : > "$work/$w.res"
    for ((i = 1; i <= RUNS; i++)); do
        log="$work/$w.$i.log"
        case "$w" in
            p100)    t="rdkperf-p100-$stamp-$i";  create "$t"; produce "$t" 1000000 100 1 "$log" ;;
            p1k)     t="rdkperf-p1k-$stamp-$i";   create "$t"; produce "$t" 200000 1024 1 "$log" ;;
            p1k-all) t="rdkperf-p1kall-$stamp-$i"; create "$t"; produce "$t" 200000 1024 -1 "$log" ;;
            c1k)     # its own topic, filled once (acks=1, not timed), read RUNS times
                     t="rdkperf-c1k-$stamp"
                     if [ "$i" = 1 ]; then create "$t"; produce "$t" 200000 1024 1 "$work/c1k.fill.log" > /dev/null; fi
                     consume "$t" 200000 "$log" ;;
            *) echo "unknown workload $w (p100 p1k p1k-all c1k)" >&2; exit 2 ;;
        esac >> "$work/$w.res"
        echo "  $w run $i: $(tail -1 "$work/$w.res" | awk '{print $1 " msgs/s, " $2 " MB/s"}')" >&2
    done
    summary "$w" "$work/$w.res"
done
