#!/usr/bin/env bash
# Runs every test of the workspace on a fresh Debian machine, installing what
# the tests need first. The README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests need. None yet beyond the Rust toolchain; the
# broker's client tests add kcat, zookeeper and Python clients here.
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (rustup) first" >&2
    exit 1
fi

# How many seeds the storage crash test runs (each seed is a random
# workload, crash and recovery; a failure prints its seed for replay).
export SLUICE_CRASH_SEEDS="${SLUICE_CRASH_SEEDS:-600}"

cargo build --workspace --all-targets --locked
cargo test --workspace --locked
