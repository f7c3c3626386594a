#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and AddressSanitizer and runs each for a
# bounded time on a scratch copy of its seed corpus (Tests/Fuzz/Corpus/<target>).
#
#   Tests/Fuzz/run.sh            # 30 s per target (the CI smoke run)
#   Tests/Fuzz/run.sh 600        # 10 minutes per target
#
# A crash, a sanitizer report or a broken invariant stops with a non-zero status;
# the input that caused it is left in Tests/Fuzz/artifacts/ (replay it with
# `.build/debug/<Target> <file>`), and becomes a regression test.
set -euo pipefail
seconds="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
targets=(FuzzFormBody FuzzBasicCredentials FuzzAuthorizeQuery FuzzAccessToken FuzzPKCE FuzzRedirectURI)

swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test -x .build/debug/FuzzFormBody || { echo "fuzz build failed" >&2; exit 1; }

mkdir -p artifacts
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "$work/$target"
    cp Corpus/"$target"/* "$work/$target/"
    echo "== $target: ${seconds}s"
    ".build/debug/$target" "$work/$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target-" 2>"$work/$target.log" || {
        tail -40 "$work/$target.log" >&2
        echo "FAILED: $target (input saved under Tests/Fuzz/artifacts/)" >&2
        exit 1
    }
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/$target.log" | sed "s/^/   /"
    echo "   corpus: $(ls "$work/$target" | wc -l) inputs"
done
