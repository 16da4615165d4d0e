#!/usr/bin/env bash
# Kotlin-on-the-JVM test of the uniffi bindings.
#
# Builds homevisit-ffi (debug, unstripped: the bindings are read from the library's uniffi
# metadata), generates the Kotlin and Swift bindings with the crate's own uniffi-bindgen, fetches
# kotlinc from npm (kotlin-compiler, whose lib/ also carries kotlin-stdlib and
# kotlinx-coroutines-core-jvm) into a cache under target/, compiles the generated Kotlin with
# tests/kotlin/Main.kt against Debian's JNA, and runs it against the host-built library.
#
# Prints `kotlin: N passed, N failed` and exits non-zero when anything fails.
# Needs: cargo, java (JDK 17+), npm (only when the compiler is not cached), /usr/share/java/jna.jar.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
KOTLIN_VERSION="2.4.20"
CACHE="${KOTLIN_CACHE:-$TARGET_DIR/kotlin-cache}"
KOTLIN_HOME="$CACHE/kotlin-compiler-$KOTLIN_VERSION"
JNA_JAR="${JNA_JAR:-/usr/share/java/jna.jar}"
OUT="$TARGET_DIR/kotlin-test"
LIB="$TARGET_DIR/debug/libhomevisit_ffi.so"

echo "--- kotlin: build homevisit-ffi and the simulators (debug)"
# The workspace selection of tests/run.sh: after its test step this only links the cdylib.
source "$ROOT/tests/cargo_selection.sh"
cargo build "${CARGO_SELECTION[@]}" --all-targets
export HOMEVISIT_SIM="$TARGET_DIR/debug/homevisit-sim"
[[ -f "$LIB" ]] || { echo "kotlin: $LIB was not built"; echo "kotlin: 0 passed, 1 failed"; exit 1; }

echo "--- kotlin: generate Kotlin and Swift bindings"
rm -rf "$TARGET_DIR/bindings/kotlin" "$TARGET_DIR/bindings/swift"
"$TARGET_DIR/debug/uniffi-bindgen" generate --library "$LIB" --language kotlin \
    --out-dir "$TARGET_DIR/bindings/kotlin" --no-format
"$TARGET_DIR/debug/uniffi-bindgen" generate --library "$LIB" --language swift \
    --out-dir "$TARGET_DIR/bindings/swift" --no-format

echo "--- kotlin: fetch kotlinc $KOTLIN_VERSION"
if [[ ! -x "$KOTLIN_HOME/bin/kotlinc" ]]; then
    mkdir -p "$CACHE"
    TGZ="$CACHE/kotlin-compiler-$KOTLIN_VERSION.tgz"
    LOCAL_COPY="${KOTLIN_COMPILER_TGZ:-/tmp/kotlin/kotlin-compiler-$KOTLIN_VERSION.tgz}"
    if [[ ! -s "$TGZ" && -s "$LOCAL_COPY" ]]; then
        cp "$LOCAL_COPY" "$TGZ.tmp" && mv "$TGZ.tmp" "$TGZ"
    fi
    if [[ ! -s "$TGZ" ]]; then
        echo "fetching kotlin-compiler@$KOTLIN_VERSION from the npm registry"
        (cd "$CACHE" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
    fi
    rm -rf "$KOTLIN_HOME.tmp" && mkdir -p "$KOTLIN_HOME.tmp"
    tar xzf "$TGZ" -C "$KOTLIN_HOME.tmp" --strip-components=1
    chmod +x "$KOTLIN_HOME.tmp"/bin/*
    mv "$KOTLIN_HOME.tmp" "$KOTLIN_HOME"
fi
KOTLINC="$KOTLIN_HOME/bin/kotlinc"
COROUTINES_JAR="$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar"
STDLIB_JAR="$KOTLIN_HOME/lib/kotlin-stdlib.jar"
for jar in "$COROUTINES_JAR" "$STDLIB_JAR" "$JNA_JAR"; do
    [[ -f "$jar" ]] || { echo "kotlin: missing $jar"; echo "kotlin: 0 passed, 1 failed"; exit 1; }
done

echo "--- kotlin: check the Swift bindings (generated only: no Swift toolchain here)"
swift_failed=0
SWIFT_FILE="$TARGET_DIR/bindings/swift/homevisit_ffi.swift"
for f in "$SWIFT_FILE" "$TARGET_DIR/bindings/swift/homevisit_ffiFFI.h" \
         "$TARGET_DIR/bindings/swift/homevisit_ffiFFI.modulemap"; do
    if [[ -s "$f" ]]; then echo "ok    swift file $(basename "$f")"
    else echo "FAIL  swift file $(basename "$f") missing"; swift_failed=$((swift_failed + 1)); fi
done
# The whole exported API, derived from the library's uniffi metadata symbols, must be in Swift.
swift_api_out="$(python3 "$ROOT/tests/kotlin/swift_api.py" "$LIB" "$SWIFT_FILE" 2>&1)" || true
echo "$swift_api_out"
swift_api_line="$(grep -E '^swift-api: [0-9]+ passed, [0-9]+ failed' <<<"$swift_api_out" | tail -n1 || true)"
if [[ -n "$swift_api_line" ]]; then
    swift_api_passed="$(sed -E 's/^swift-api: ([0-9]+) passed.*/\1/' <<<"$swift_api_line")"
    swift_api_failed="$(sed -E 's/^swift-api: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$swift_api_line")"
else
    swift_api_passed=0; swift_api_failed=1
fi
swift_failed=$((swift_failed + swift_api_failed))
swift_passed=$((3 - (swift_failed - swift_api_failed) + swift_api_passed))

echo "--- kotlin: compile the generated bindings, the android/ Kotlin layer and the test"
rm -rf "$OUT" && mkdir -p "$OUT"
CP="$JNA_JAR:$COROUTINES_JAR"
"$KOTLINC" -nowarn -cp "$CP" -d "$OUT/test.jar" \
    $(find "$TARGET_DIR/bindings/kotlin" -name '*.kt') \
    $(find "$ROOT/android" -name '*.kt' 2>/dev/null) \
    "$ROOT"/tests/kotlin/*.kt

echo "--- kotlin: run on the JVM"
set +e
java -Djna.library.path="$TARGET_DIR/debug" -cp "$OUT/test.jar:$CP:$STDLIB_JAR" \
    homevisit.test.MainKt "$OUT/work" | tee "$OUT/output.txt"
jvm_status=${PIPESTATUS[0]}
set -e

# Main.kt prints its own tally; fold the Swift checks into the final line.
line="$(grep -E '^kotlin-jvm: [0-9]+ passed, [0-9]+ failed$' "$OUT/output.txt" | tail -n1 || true)"
if [[ -z "$line" ]]; then
    echo "kotlin: the JVM test did not finish (exit $jvm_status)"
    echo "kotlin: $swift_passed passed, $((swift_failed + 1)) failed"
    exit 1
fi
jvm_passed="$(sed -E 's/^kotlin-jvm: ([0-9]+) passed.*/\1/' <<<"$line")"
jvm_failed="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")"
passed=$((jvm_passed + swift_passed))
failed=$((jvm_failed + swift_failed))
if [[ $jvm_status -ne 0 && $jvm_failed -eq 0 ]]; then failed=$((failed + 1)); fi
echo "kotlin: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
