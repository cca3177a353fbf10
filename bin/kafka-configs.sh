#!/bin/sh
# Kafka's kafka-configs.sh, answered by `sluice configs`: the same flags and output.
exec "$(dirname "$0")/sluice-tool.sh" configs "$@"
