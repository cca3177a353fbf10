#!/bin/sh
# Runs a `sluice` subcommand for the kafka-*.sh wrappers beside this file.
# The binary: $SLUICE_BIN if set, else `sluice` on PATH, else this
# repository's target/release/sluice.
set -e
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${SLUICE_BIN:-}" ]; then
    sluice=$SLUICE_BIN
elif command -v sluice >/dev/null 2>&1; then
    sluice=$(command -v sluice)
elif [ -x "$here/../target/release/sluice" ]; then
    sluice=$here/../target/release/sluice
else
    echo "error: no sluice binary: set SLUICE_BIN, put sluice on PATH, or run cargo build --release" >&2
    exit 1
fi
exec "$sluice" "$@"
