#!/bin/sh
# Kafka's kafka-console-producer.sh, answered by `sluice produce`: the same flags and output.
exec "$(dirname "$0")/sluice-tool.sh" produce "$@"
