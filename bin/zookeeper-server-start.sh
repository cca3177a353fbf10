#!/bin/sh
# Kafka's zookeeper-server-start.sh, running Debian's `zookeeper` package
# (apt-get install zookeeper) with the given properties file:
#   bin/zookeeper-server-start.sh [-daemon] config/zookeeper.properties
# The heap is Kafka's (KAFKA_HEAP_OPTS, default -Xmx512M -Xms512M). With
# -daemon the server runs in the background, its output in
# $LOG_DIR/zookeeper.out (LOG_DIR defaults to logs/ beside bin/).
set -e
here=$(cd "$(dirname "$0")" && pwd)
daemon=
if [ "${1:-}" = "-daemon" ]; then
    daemon=1
    shift
fi
if [ $# -lt 1 ]; then
    echo "USAGE: $0 [-daemon] zookeeper.properties" >&2
    exit 1
fi
jar=/usr/share/java/zookeeper.jar
if ! command -v java >/dev/null 2>&1 || [ ! -f "$jar" ]; then
    echo "error: ZooKeeper is not installed: apt-get install zookeeper (Debian's package and a JRE)" >&2
    exit 1
fi
# zookeeper.jar's manifest names the jars it needs; slf4j-simple gives its
# log lines somewhere to go (stderr).
classpath=$jar
[ -f /usr/share/java/slf4j-simple.jar ] && classpath=$classpath:/usr/share/java/slf4j-simple.jar
heap=${KAFKA_HEAP_OPTS:--Xmx512M -Xms512M}
main=org.apache.zookeeper.server.quorum.QuorumPeerMain
if [ -n "$daemon" ]; then
    log_dir=${LOG_DIR:-$here/../logs}
    mkdir -p "$log_dir"
    # shellcheck disable=SC2086 # the heap options are words
    nohup java $heap -cp "$classpath" "$main" "$@" >"$log_dir/zookeeper.out" 2>&1 </dev/null &
    exit 0
fi
# shellcheck disable=SC2086
exec java $heap -cp "$classpath" "$main" "$@"
