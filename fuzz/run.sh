#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20), starting from the
# committed corpus (copied: the run's finds stay in WORK, not in the tree).
#   fuzz/run.sh            the short run tests/run-all.sh does
#   fuzz/run.sh 3600       an hour per target
# A crash leaves its input in fuzz/artifacts/<target>/; copy it to
# fuzz/regressions/<target>/ so `cargo test` replays it from then on.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). The stable
# toolchain runs the targets without a sanitizer (-s none): the code is
# safe Rust, so what is looked for is panics, aborts on huge allocations,
# timeouts and RSS past the limit, which libFuzzer catches without one.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-20}"
WORK="${FUZZ_WORK:-$(mktemp -d)}"
TARGETS=(request_decode batch_validate)

for target in "${TARGETS[@]}"; do
    cargo fuzz build -s none "$target"
done
for target in "${TARGETS[@]}"; do
    mkdir -p "$WORK/$target" "fuzz/artifacts/$target"
    cp -r "fuzz/corpus/$target/." "$WORK/$target/"
    echo "fuzzing $target for ${SECONDS_PER_TARGET}s (corpus in $WORK/$target)"
    # -rss_limit_mb: any input that makes the decoder hold this much is a
    # find; -timeout: one input taking this long is a find.
    cargo fuzz run -s none "$target" "$WORK/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=512 -timeout=10 \
        -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 2>&1 \
        | grep -E "^(stat::|Done|==|INFO: seed corpus)|panicked|ERROR|SUMMARY" || true
    if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
        echo "fuzz target $target found a failing input: fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
