#!/usr/bin/env bash
# Replication figures on one machine: a real ZooKeeper (Debian's package)
# and three `sluice` brokers on loopback, each with --cores 1 (the machine
# has two CPUs for three brokers and the client).
#
#  1. Produce throughput and latency, 1 KiB records, acks=all, to a topic
#     with replication factor 3 beside one with replication factor 1,
#     interleaved RF1 RF3 three times (`sluice perf produce` lines), at
#     full speed and then at a fixed RATE (default 20000 records/s) for
#     DURATION (default 10s).
#  2. Follower catch-up: stop one broker, produce CATCHUP_MB to the RF3
#     topic, start it again and time until it is back in every ISR.
#  3. Failover: kill -9 the leader of a partition and time until a
#     produce with acks=all to that partition succeeds again (the new
#     leader serving), three times. The time is mostly the dead broker's
#     ZooKeeper session expiring: zookeeper.session.timeout.ms (SESSION_MS,
#     default 6000 here; Kafka's default is 18000).
#  4. Reassignment: a one-partition topic of MOVE_MB (default 300) moved
#     three times with `sluice reassign-partitions` to the brokers that do
#     not hold it, timed from --execute until --verify says completed.
#
#   bench/scripts/replication.sh [RECORDS] [CATCHUP_MB]
#   defaults:                     300000    500
#   SECTIONS="1 2 3 4" picks sections (all by default).
set -euo pipefail
cd "$(dirname "$0")/../.."
SLUICE=${SLUICE_BIN:-target/release/sluice}
RECORDS=${1:-300000}
CATCHUP_MB=${2:-500}
RATE=${RATE:-20000}
DURATION=${DURATION:-10s}
SESSION_MS=${SESSION_MS:-6000}
MOVE_MB=${MOVE_MB:-300}
SECTIONS=${SECTIONS:-"1 2 3 4"}
wanted() { [[ " $SECTIONS " == *" $1 "* ]]; }
WORK=$(mktemp -d "${SLUICE_BENCH_DIR:-/tmp}/sluice-replication.XXXXXX")
BASE=$((20000 + RANDOM % 20000))
ZK_PORT=$BASE
port() { echo $((BASE + $1)); }
BOOT="127.0.0.1:$(port 1),127.0.0.1:$(port 2),127.0.0.1:$(port 3)"

cleanup() {
    for pidfile in "$WORK"/*.pid; do
        [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/zk"
cat >"$WORK/zk.properties" <<EOF
dataDir=$WORK/zk
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
tickTime=500
EOF
java -Xmx256M -cp "/usr/share/java/*:/usr/share/zookeeper/lib/*" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zk.properties" \
    >"$WORK/zk.log" 2>&1 &
echo $! >"$WORK/zk.pid"
for _ in $(seq 200); do
    (echo srvr | timeout 1 bash -c "cat >/dev/tcp/127.0.0.1/$ZK_PORT") 2>/dev/null && break
    sleep 0.1
done

start() { # broker id
    local id=$1
    NO_COLOR=1 "$SLUICE" broker --listen "127.0.0.1:$(port "$id")" --log-dirs "$WORK/b$id" \
        --cores 1 --override "broker.id=$id" --override "zookeeper.connect=127.0.0.1:$ZK_PORT" \
        --override "zookeeper.session.timeout.ms=$SESSION_MS" \
        --override offsets.topic.replication.factor=3 \
        >>"$WORK/b$id.out" 2>>"$WORK/b$id.err" &
    echo $! >"$WORK/b$id.pid"
    for _ in $(seq 600); do
        grep -q "registered in ZooKeeper" "$WORK/b$id.err" 2>/dev/null && return
        sleep 0.1
    done
    echo "broker $id did not register" >&2
    exit 1
}
stop() { kill -TERM "$(cat "$WORK/b$1.pid")"; wait "$(cat "$WORK/b$1.pid")" 2>/dev/null || true; rm -f "$WORK/b$1.pid"; }
kill9() { kill -9 "$(cat "$WORK/b$1.pid")"; wait "$(cat "$WORK/b$1.pid")" 2>/dev/null || true; rm -f "$WORK/b$1.pid"; }
now() { date +%s.%N; }
describe() { "$SLUICE" topics --bootstrap-server "$BOOT" --describe --topic "$1" 2>/dev/null | grep "Partition:" || true; }
leader_of() { describe "$1" | awk -v p="$2" '$4 == p { print $6 }'; }

for id in 1 2 3; do start "$id"; done
"$SLUICE" topics --bootstrap-server "$BOOT" --create --topic rf1 --partitions 6 --replication-factor 1 >/dev/null
"$SLUICE" topics --bootstrap-server "$BOOT" --create --topic rf3 --partitions 6 --replication-factor 3 >/dev/null
sleep 2

if wanted 1; then
echo "== 1. produce $RECORDS x 1 KiB, acks=all, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in 1 2 3; do
    for topic in rf1 rf3; do
        printf '%s run %s: ' "$topic" "$run"
        "$SLUICE" perf produce --bootstrap-server "$BOOT" --topic "$topic" --record-size 1024 \
            --num-records "$RECORDS" --throughput -1 \
            --producer-props acks=all linger.ms=5 2>/dev/null | tail -1
    done
done

echo "== 1b. the same at a fixed $RATE records/s for $DURATION (latency below saturation)"
for run in 1 2 3; do
    for topic in rf1 rf3; do
        printf '%s run %s: ' "$topic" "$run"
        "$SLUICE" perf produce --bootstrap-server "$BOOT" --topic "$topic" --record-size 1024 \
            --throughput "$RATE" --duration "$DURATION" \
            --producer-props acks=all linger.ms=1 2>/dev/null | tail -1
    done
done

fi

if wanted 2; then
echo "== 2. follower catch-up after $CATCHUP_MB MB produced while it was down"
stop 3
"$SLUICE" perf produce --bootstrap-server "$BOOT" --topic rf3 --record-size 1024 \
    --num-records $((CATCHUP_MB * 1000000 / 1024)) --throughput -1 \
    --producer-props acks=1 linger.ms=5 2>/dev/null | tail -1
before=$(du -sb "$WORK/b3" | cut -f1)
started=$(now)
start 3
for _ in $(seq 3000); do
    lagging=$(describe rf3 | awk '{ split($10, isr, ","); found = 0; for (i in isr) if (isr[i] == 3) found = 1; if (!found) print }' | wc -l)
    [ "$lagging" -eq 0 ] && break
    sleep 0.1
done
took=$(echo "$(now) - $started" | bc)
after=$(du -sb "$WORK/b3" | cut -f1)
echo "broker 3 back in every ISR after ${took}s (start-up included), copied $(((after - before) / 1000000)) MB: $(echo "($after - $before) / 1000000 / $took" | bc) MB/s"

fi

if wanted 3; then
echo "== 3. kill -9 the leader of rf3-0, time until an acks=all produce to it succeeds"
for cycle in 1 2 3; do
    leader=$(leader_of rf3 0)
    killed=$(now)
    kill9 "$leader"
    for _ in $(seq 600); do
        if echo "after-kill-$cycle" | timeout 5 kcat -P -b "$BOOT" -t rf3 -p 0 -X acks=all \
            -X message.timeout.ms=2000 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    echo "cycle $cycle: broker $leader killed, partition 0 served by broker $(leader_of rf3 0) after $(echo "$(now) - $killed" | bc)s (session timeout ${SESSION_MS} ms)"
    start "$leader"
    sleep 3
done
fi

if wanted 4; then
echo "== 4. reassign a ${MOVE_MB} MB partition to the brokers that do not hold it, three times"
"$SLUICE" topics --bootstrap-server "$BOOT" --create --topic moving --partitions 1 --replication-factor 1 >/dev/null
sleep 1
"$SLUICE" perf produce --bootstrap-server "$BOOT" --topic moving --record-size 1024 \
    --num-records $((MOVE_MB * 1000000 / 1024)) --throughput -1 \
    --producer-props acks=all linger.ms=5 2>/dev/null | tail -1
replicas_of() { describe moving | awk '{ print $8 }'; }
for move in 1 2 3; do
    current=$(replicas_of)
    target=$(for id in 1 2 3; do [[ ",$current," == *",$id,"* ]] || printf '%s,' "$id"; done)
    target=${target%,}
    printf '{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[%s]}]}' "$target" >"$WORK/plan.json"
    started=$(now)
    "$SLUICE" reassign-partitions --bootstrap-server "$BOOT" --execute --reassignment-json-file "$WORK/plan.json" >/dev/null
    for _ in $(seq 6000); do
        "$SLUICE" reassign-partitions --bootstrap-server "$BOOT" --verify --reassignment-json-file "$WORK/plan.json" \
            | grep -q "is completed" && break
        sleep 0.1
    done
    took=$(echo "$(now) - $started" | bc)
    copies=$(echo "$target" | tr ',' '\n' | wc -l)
    echo "move $move: [$current] -> [$target] in ${took}s: $(echo "$MOVE_MB * $copies / $took" | bc) MB/s copied ($copies new replica(s))"
done
fi
