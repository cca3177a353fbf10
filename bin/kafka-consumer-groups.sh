#!/bin/sh
# Kafka's kafka-consumer-groups.sh, answered by `sluice groups`: the same flags and output.
exec "$(dirname "$0")/sluice-tool.sh" groups "$@"
