#!/bin/sh
# Kafka's kafka-leader-election.sh, answered by `sluice leader-election`: the same flags and output.
exec "$(dirname "$0")/sluice-tool.sh" leader-election "$@"
