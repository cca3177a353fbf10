# Sourced by tuning/check, tuning/apply and tuning/revert: sets $sluice to a
# `sluice` binary. In order: $SLUICE_BIN, `sluice` on PATH, the repository's
# target/release/sluice, which is built with cargo when it is missing.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${SLUICE_BIN:-}" ]; then
    sluice="$SLUICE_BIN"
elif command -v sluice >/dev/null 2>&1; then
    sluice="$(command -v sluice)"
else
    sluice="$repo/target/release/sluice"
    if [ ! -x "$sluice" ]; then
        echo "building $sluice (cargo build --release -p sluice)" >&2
        (cd "$repo" && cargo build --release --locked -p sluice) >&2
    fi
fi
