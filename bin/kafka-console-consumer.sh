#!/bin/sh
# Kafka's kafka-console-consumer.sh, answered by `sluice consume`: the same flags and output.
exec "$(dirname "$0")/sluice-tool.sh" consume "$@"
