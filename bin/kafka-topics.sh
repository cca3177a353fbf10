#!/bin/sh
# Kafka's kafka-topics.sh, answered by `sluice topics`: the same flags and output.
exec "$(dirname "$0")/sluice-tool.sh" topics "$@"
