#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a fixed budget each and prints, per target, the
# executions and the crashes found. Not run by CI (CI replays the crash inputs and the seeds through
# tests/tests/fuzz_regressions.rs instead).
#
#   bash tests/fuzz/run.sh              # 60 s per target
#   bash tests/fuzz/run.sh 150          # 150 s per target
#   bash tests/fuzz/run.sh runs=200000  # a fixed number of executions per target
#   bash tests/fuzz/run.sh 60 rx_qr qr2_binding
#
# Works on stable Rust: `cargo install cargo-fuzz`, then this script builds with `-s none` (no
# sanitizer: AddressSanitizer needs nightly's -Zsanitizer; safe Rust needs it little, and every
# panic, overflow check and debug assertion still aborts the run as a crash). Needs a C++ compiler
# (libfuzzer-sys builds libFuzzer from source). Crash inputs land in tests/fuzz/artifacts/<target>/;
# the growing corpus in tests/fuzz/corpus/<target>/ (both ignored by git); the committed seeds in
# tests/fuzz/seeds/<target>/ are read, never written.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
budget=${1:-60}
shift || true
all=(reader_frame reader_session card_apdu rx_qr qr2_binding server_bodies upload_xml)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi
# The fuzz crate is its own workspace; keep its instrumented build apart from the project's.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}

case "$budget" in
    runs=*) limit="-runs=${budget#runs=}" ;;
    *) limit="-max_total_time=$budget" ;;
esac

cd "$here"
# --debug-assertions: overflow checks and debug_assert! count as crashes too.
cargo fuzz build --fuzz-dir "$here" -s none --debug-assertions

mkdir -p "$here/logs"
printf '%-16s %12s %8s %8s  %s\n' target executions crashes corpus "crash files"
total_crashes=0
for t in "${targets[@]}"; do
    mkdir -p "$here/corpus/$t" "$here/artifacts/$t" "$here/seeds/$t"
    before=$(ls "$here/artifacts/$t" | wc -l)
    log="$here/logs/$t.log"
    # -rss_limit_mb / -timeout: an input that eats memory or hangs is a finding too.
    cargo fuzz run --fuzz-dir "$here" -s none --debug-assertions "$t" \
        "$here/corpus/$t" "$here/seeds/$t" -- \
        "$limit" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || true
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    # A crash stops libFuzzer at once; then the last status line holds the count.
    [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tr -d '#' | tail -1 || true)
    after=$(ls "$here/artifacts/$t" | wc -l)
    crashes=$((after - before))
    total_crashes=$((total_crashes + crashes))
    corpus=$(ls "$here/corpus/$t" | wc -l)
    new=""
    if [ "$crashes" -gt 0 ]; then new=$(ls -t "$here/artifacts/$t" | head -n "$crashes" | tr '\n' ' ' || true); fi
    printf '%-16s %12s %8s %8s  %s\n' "$t" "${execs:-?}" "$crashes" "$corpus" "$new"
done
echo "logs in $here/logs/; crash inputs in $here/artifacts/<target>/"
[ "$total_crashes" -eq 0 ]
