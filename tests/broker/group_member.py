"""One consumer-group member in its own process, so a test can kill -9 it.

Usage: python group_member.py BOOTSTRAP TOPIC GROUP [key=value ...]
(extra librdkafka settings). Prints one JSON object per line on stdout:
  {"event": "assigned", "partitions": [...], "all": [...]}   after each change
  {"event": "revoked", "partitions": [...], "all": [...]}
  {"event": "message", "partition": p, "offset": o, "value": "..."}
  {"event": "closed"}
It closes cleanly (committing, leaving the group) when "close" arrives on
stdin, and dies without a word on SIGKILL.
"""

import json
import select
import sys

from confluent_kafka import Consumer, KafkaException


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main():
    bootstrap, topic, group = sys.argv[1:4]
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 200,
    }
    for setting in sys.argv[4:]:
        key, value = setting.split("=", 1)
        config[key] = value
    consumer = Consumer(config)
    cooperative = config.get("partition.assignment.strategy") == "cooperative-sticky"

    def current():
        try:
            return sorted(tp.partition for tp in consumer.assignment())
        except KafkaException:
            return []  # the consumer is closing

    def on_assign(c, partitions):
        if cooperative:
            c.incremental_assign(partitions)
        else:
            c.assign(partitions)
        emit(event="assigned", partitions=sorted(tp.partition for tp in partitions), all=current())

    def on_revoke(c, partitions):
        if cooperative:
            c.incremental_unassign(partitions)
        else:
            c.unassign()
        emit(event="revoked", partitions=sorted(tp.partition for tp in partitions), all=current())

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if ready and sys.stdin.readline().strip() == "close":
            break
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error():
            emit(event="error", error=str(message.error()))
            continue
        emit(
            event="message",
            partition=message.partition(),
            offset=message.offset(),
            value=message.value().decode(),
        )
    consumer.close()
    emit(event="closed")


if __name__ == "__main__":
    main()
