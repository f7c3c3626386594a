#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and AddressSanitizer and runs each for a
# bounded time on a scratch copy of its seed corpus (Tests/Fuzz/Corpus/<target>).
#
#   Tests/Fuzz/run.sh            # 30 s per target (the CI smoke run)
#   Tests/Fuzz/run.sh 600        # 10 minutes per target
#
# Leak detection is off: LeakSanitizer cannot follow Swift's tagged references and
# reports objects that static state still holds; AddressSanitizer stays on.
# A crash, a sanitizer report or a broken invariant stops with a non-zero status;
# the input that caused it is left in Tests/Fuzz/artifacts/ (replay it with
# `.build/debug/<Target> <file>`), and becomes a regression test.
set -euo pipefail
seconds="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
targets=(FuzzFormBody FuzzBasicCredentials FuzzAuthorizeQuery FuzzAccessToken FuzzPKCE FuzzRedirectURI FuzzDPoPProof FuzzClientAssertion FuzzClientMetadata)

mkdir -p artifacts
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# gold's "cannot export local symbol"
# notes about ASan's own helpers are the linker's, not the code's, and are dropped.
if ! swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld >"$work/build.log" 2>&1; then
    grep -v 'ld.gold: warning: Cannot export local symbol' "$work/build.log" | tail -40 >&2
    echo "FAILED: the fuzz targets did not build" >&2
    exit 1
fi
grep -E 'error|warning' "$work/build.log" | grep -v 'ld.gold: warning: Cannot export local symbol' || true
for target in "${targets[@]}"; do
    mkdir -p "$work/$target"
    cp Corpus/"$target"/* "$work/$target/"
    echo "== $target: ${seconds}s"
    ASAN_OPTIONS=detect_leaks=0 ".build/debug/$target" "$work/$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
        -detect_leaks=0 -print_final_stats=1 -artifact_prefix="artifacts/$target-" 2>"$work/$target.log" || {
        tail -40 "$work/$target.log" >&2
        # A broken invariant is a Swift fatal error; its message sits above the crash report.
        grep -m 3 "Fatal error" "$work/$target.log" >&2 || true
        echo "FAILED: $target (input saved under Tests/Fuzz/artifacts/)" >&2
        exit 1
    }
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$target.log" | sed "s/^/   /" || true
    echo "   corpus: $(ls "$work/$target" | wc -l) inputs"
done
