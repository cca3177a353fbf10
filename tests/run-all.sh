#!/usr/bin/env bash
# Runs every test of the workspace on a fresh Debian machine, installing what
# the tests need first. The README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (rustup) first" >&2
    exit 1
fi

# System packages the broker's client tests need (tests/broker): kcat, and a
# python3 that can make a venv (Debian's python3 needs python3-venv for it);
# and ZooKeeper (Debian's package, with a JRE) for the cluster tests, which
# start their own server on a free port (never the system service).
# Installed only when missing, so a machine that has them needs no network.
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null 2>&1; then
    missing+=(zookeeper)
fi
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 \
    && ! dpkg -s python3-venv >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# The Python clients, pinned, in .venv (git-ignored). A venv whose python is
# gone (made on another machine) is made anew.
if ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    python3 -m venv --clear .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/broker/requirements.txt

# How many seeds the storage crash test runs (each seed is a random
# workload, crash and recovery; a failure prints its seed for replay).
export SLUICE_CRASH_SEEDS="${SLUICE_CRASH_SEEDS:-600}"

# Hygiene first: formatting and every lint, warnings as errors.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo build --workspace --all-targets --locked
cargo test --workspace --locked

# Fuzzing (fuzz/): every target for a short bounded run from the committed
# corpus; `fuzz/run.sh 3600` is the long run. cargo-fuzz is pinned.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
fuzz/run.sh "${SLUICE_FUZZ_SECONDS:-20}"

# The broker's client tests: the release binary (SLUICE_BIN, default
# target/release/sluice) on loopback, driven by kcat, confluent-kafka and
# kafka-python. pytest's exit code is the script's.
cargo build --release --locked -p sluice

# The host tuning check on this machine, table printed: exit 0 (nothing
# FATAL) and 2 (a FATAL knob: this host would not run the broker well) both
# pass; anything else means the check itself broke.
tune_status=0
SLUICE_BIN=target/release/sluice tuning/check --log-dir . || tune_status=$?
if [ "$tune_status" -ne 0 ] && [ "$tune_status" -ne 2 ]; then
    echo "tuning/check failed with exit code $tune_status" >&2
    exit 1
fi
.venv/bin/pytest tests/broker -q
