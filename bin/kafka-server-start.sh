#!/bin/sh
# Kafka's kafka-server-start.sh, answered by `sluice broker`:
#   bin/kafka-server-start.sh [-daemon] server.properties [--override property=value]*
# The binary as for the other wrappers ($SLUICE_BIN, else `sluice` on PATH,
# else target/release/sluice). With -daemon the broker runs in the
# background, its output in $LOG_DIR/sluiceServer.out (LOG_DIR defaults to
# logs/ beside bin/).
set -e
here=$(cd "$(dirname "$0")" && pwd)
daemon=
if [ "${1:-}" = "-daemon" ]; then
    daemon=1
    shift
fi
if [ $# -lt 1 ]; then
    echo "USAGE: $0 [-daemon] server.properties [--override property=value]*" >&2
    exit 1
fi
if [ -n "$daemon" ]; then
    log_dir=${LOG_DIR:-$here/../logs}
    mkdir -p "$log_dir"
    nohup "$here/sluice-tool.sh" broker "$@" >"$log_dir/sluiceServer.out" 2>&1 </dev/null &
    exit 0
fi
exec "$here/sluice-tool.sh" broker "$@"
