#!/usr/bin/env bash
# The one test command: `bash tests/run.sh` (CI runs it through `.ci/run`).
#
# Works on a fresh Debian machine as root from nothing but the clone: installs what is missing
# (Debian packages, the Rust components, the Kotlin compiler from npm), then runs formatting,
# clippy, the Rust tests, the Kotlin/JVM binding test (which also generates the Swift bindings),
# the browser test when present, and a smoke test of the demo. Builds in debug only.
# Ends with `all: N passed, N failed`; exits non-zero if anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/tests/cargo_selection.sh"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
START=$(date +%s)

passed=0
failed=0
summary=()

section() { echo; echo "=================== $* ==================="; }

# step NAME COMMAND...: runs one step, records ok/FAIL and its duration, never stops the run.
step() {
    local name="$1"; shift
    section "$name"
    local t0=$(date +%s) rc=0
    "$@" || rc=$?
    local dt=$(( $(date +%s) - t0 ))
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1)); summary+=("ok    $name (${dt}s)")
    else
        failed=$((failed + 1)); summary+=("FAIL  $name (exit $rc, ${dt}s)")
    fi
}

# ---------------------------------------------------------------------------------------------
section "setup: what this machine is missing"
need_apt=()
for pkg in libdbus-1-dev pkg-config libjna-java chromium chromium-driver; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
command -v java >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
# The Swift API check reads the library's uniffi metadata symbols with nm, in python3.
command -v nm >/dev/null 2>&1 || need_apt+=(binutils)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v npm >/dev/null 2>&1 || [[ -x "$TARGET_DIR/kotlin-cache/kotlin-compiler-2.4.20/bin/kotlinc" ]] || need_apt+=(npm)
if [[ ${#need_apt[@]} -gt 0 ]]; then
    echo "installing: ${need_apt[*]}"
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}"
    else
        sudo apt-get update
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}"
    fi
else
    echo "Debian packages: all present"
fi
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
cargo --version
java -version 2>&1 | head -n1

# ---------------------------------------------------------------------------------------------
step "cargo fmt --check" cargo fmt --all --check
step "cargo clippy (workspace, all targets, the ble backend too, -D warnings)" \
    cargo clippy "${CARGO_SELECTION[@]}" --all-targets -- -D warnings

rust_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run "${CARGO_SELECTION[@]}" --no-fail-fast && cargo test "${CARGO_SELECTION[@]}" --doc
    else
        cargo test "${CARGO_SELECTION[@]}" --no-fail-fast
    fi
}
# The real Bluetooth backend is behind the core's `ble` feature on the desktop (always on for
# Android/iOS): the selection turns it on, so `reader::btle`'s tests here show that it builds
# against libdbus and reports "no Bluetooth adapter" cleanly.
step "cargo test (workspace, the ble backend too)" rust_tests

step "kotlin: bindings on the JVM (+ Swift generation)" bash tests/kotlin/run.sh

if [[ -f tests/browser/run.sh ]]; then
    step "browser: pharmacist web page in headless Chromium" bash tests/browser/run.sh
else
    summary+=("skip  browser (tests/browser/run.sh not present)")
fi

# ---------------------------------------------------------------------------------------------
# Demo smoke test. The demo's simulated patient cards carry these names and IDs
# (nhi_reader_sim::card::demo_patients; the demo uses the first one): none may appear in clear
# under the data directory, WAL included, in UTF-8 or in the card's Big5.
DEMO_PATIENTS=("A123456789 王小明" "B220415378 陳美玲" "F128703126 林志豪" "H223196849 黃淑芬")
demo_smoke() {
    local base dir out1 out2 code
    # The app's data dir; the demo keeps its simulators' state (which holds the simulated cards'
    # clear data, as a real card does) beside it in `data-simulators`, outside what is checked.
    base="$(mktemp -d "${TMPDIR:-/tmp}/homevisit-demo.XXXXXX")"
    dir="$base/data"
    cargo build "${CARGO_SELECTION[@]}" --all-targets || return 1
    local sim="$TARGET_DIR/debug/homevisit-sim"
    echo "--- demo run 1 (data dir $dir)"
    out1="$("$sim" demo --data-dir "$dir" 2>&1)" || { echo "$out1"; echo "demo run 1 failed"; return 1; }
    echo "$out1"
    # The code the demo announces ("visit identification code XXXX"), else any such token.
    code="$(grep -oE 'visit identification code [0-9A-HJ-NP-Z]{20}\b' <<<"$out1" | head -n1 | awk '{print $NF}' || true)"
    [[ -n "$code" ]] || code="$(grep -oE '\b[0-9A-HJ-NP-Z]{20}\b' <<<"$out1" | head -n1 || true)"
    [[ -n "$code" ]] || { echo "demo run 1 printed no visit identification code"; return 1; }
    echo "--- demo run 2 (same data dir)"
    out2="$("$sim" demo --data-dir "$dir" 2>&1)" || { echo "$out2"; echo "demo run 2 failed"; return 1; }
    echo "$out2"
    grep -qF "$code" <<<"$out2" || { echo "demo run 2 does not show the first visit ($code)"; return 1; }
    echo "--- patient data in clear under $dir?"
    local leaks=0 entry id name big5
    for entry in "${DEMO_PATIENTS[@]}"; do
        id="${entry%% *}"; name="${entry#* }"
        big5="$(printf '%s' "$name" | iconv -f UTF-8 -t BIG5 2>/dev/null || true)"
        for needle in "$id" "$name" ${big5:+"$big5"}; do
            if LC_ALL=C grep -r -a -F -l -e "$needle" "$dir"; then leaks=1; fi
        done
    done
    [[ $leaks -eq 0 ]] || { echo "patient name or ID found in clear (files above)"; return 1; }
    echo "no clear patient name or ID under $dir ($(find "$dir" -type f | wc -l) files checked)"
    rm -rf "$base"
}
step "demo: two runs over one data dir, nothing in clear" demo_smoke

# ---------------------------------------------------------------------------------------------
section "summary"
printf '%s\n' "${summary[@]}"
echo "total time: $(( $(date +%s) - START ))s"
echo "all: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
