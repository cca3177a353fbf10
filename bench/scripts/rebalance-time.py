#!/usr/bin/env python3
"""How long a consumer-group rebalance takes, through librdkafka.

Usage: rebalance-time.py BOOTSTRAP [--runs N] [--members M] [--partitions P]

Each run uses a fresh group on one topic (created if missing) and measures,
with M members in this process (one thread each, all polling):
  join:  from subscribe() of all M members until each has its share;
  leave: from one member's close() until the others own every partition;
  add:   from one new member's subscribe() until all M again have a share.
Prints every run and the min/median/max of each. The broker's
group.initial.rebalance.delay.ms adds to "join" (Kafka's default is 3 s;
Kafka's quickstart config sets 0).
"""

import argparse
import statistics
import threading
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic


class Member:
    def __init__(self, bootstrap, group, topic):
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
            }
        )
        self.owned = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.consumer.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _assigned(self, consumer, partitions):
        consumer.assign(partitions)
        with self.lock:
            self.owned = sorted(p.partition for p in partitions)

    def _revoked(self, consumer, partitions):
        consumer.unassign()
        with self.lock:
            self.owned = []

    def _run(self):
        while not self.stop.is_set():
            self.consumer.poll(0.05)

    def partitions(self):
        with self.lock:
            return list(self.owned)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.consumer.close()


def wait_for(predicate, timeout_s=120):
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError("the group did not settle")
        time.sleep(0.002)
    return time.monotonic()


def balanced(members, partitions):
    owned = [m.partitions() for m in members]
    return all(owned) and sorted(sum(owned, [])) == list(range(partitions))


def one_run(bootstrap, topic, count, partitions):
    group = f"rebalance-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    members = [Member(bootstrap, group, topic) for _ in range(count)]
    join = wait_for(lambda: balanced(members, partitions)) - start
    leaving = members.pop()
    start = time.monotonic()
    leaving.close()
    leave = wait_for(lambda: balanced(members, partitions)) - start
    start = time.monotonic()
    members.append(Member(bootstrap, group, topic))
    add = wait_for(lambda: balanced(members, partitions)) - start
    for member in members:
        member.close()
    return {"join": join, "leave": leave, "add": add}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()
    topic = f"rebalance-{args.partitions}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    future = admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic]
    try:
        future.result(timeout=30)
    except Exception as error:  # already there from an earlier run
        if "already exists" not in str(error).lower():
            raise
    results = []
    for run in range(args.runs):
        result = one_run(args.bootstrap, topic, args.members, args.partitions)
        results.append(result)
        print(f"run {run + 1}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.items()), flush=True)
    for key in ("join", "leave", "add"):
        values = sorted(r[key] * 1000 for r in results)
        print(
            f"{key}: min {values[0]:.0f} ms, median {statistics.median(values):.0f} ms, "
            f"max {values[-1]:.0f} ms ({args.members} members, {args.partitions} partitions)"
        )


if __name__ == "__main__":
    main()
