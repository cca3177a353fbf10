#!/bin/sh
# Kafka's kafka-reassign-partitions.sh, answered by `sluice reassign-partitions`: the same JSON plans, flags and output (no --throttle).
exec "$(dirname "$0")/sluice-tool.sh" reassign-partitions "$@"
