#!/usr/bin/env python3
"""Checks the generated Swift bindings against the whole exported API.

The list of what is exported is derived from the library itself: uniffi keeps one metadata symbol
per exported item (`UNIFFI_META_<CRATE>_<KIND>_<NAME>`), so nothing here is a hand-kept list.
Each item must appear in the Swift file under Swift's naming (lowerCamelCase functions, the type
names as declared). Prints one line per failure, then `swift-api: N passed, N failed`.

Usage: swift_api.py LIBRARY SWIFT_FILE
"""
import re
import subprocess
import sys


def main() -> int:
    lib, swift_path = sys.argv[1], sys.argv[2]
    symbols = subprocess.run(["nm", lib], capture_output=True, text=True, check=True).stdout
    metas = sorted(set(re.findall(r"UNIFFI_META_HOMEVISIT_FFI_([A-Z0-9_]+)", symbols)))
    # Swift text, lower-cased, so `func listVisits(` matches `LIST_VISITS` without underscores.
    swift = open(swift_path, encoding="utf-8").read().lower()
    declared_types = set(re.findall(r"\b(?:class|struct|enum|protocol)\s+([a-z0-9_]+)", swift))
    functions = set(re.findall(r"\bfunc\s+`?([a-z0-9_]+)`?\s*\(", swift))
    inits = "init(" in swift
    passed = failed = 0

    def verdict(ok: bool, what: str) -> None:
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL  swift lacks {what}")

    flat = lambda s: s.replace("_", "").lower()
    for meta in metas:
        kind, _, rest = meta.partition("_")
        if kind in ("INTERFACE", "RECORD", "ENUM", "ERROR"):
            verdict(flat(rest) in declared_types, f"type {rest}")
        elif kind == "CALLBACK" and rest.startswith("INTERFACE_"):
            verdict(flat(rest[len("INTERFACE_"):]) in declared_types, f"callback interface {rest}")
        elif kind == "FUNC":
            verdict(flat(rest) in functions, f"function {rest}")
        elif kind in ("METHOD", "CONSTRUCTOR"):
            owner, _, name = rest.partition("_")
            if kind == "CONSTRUCTOR" and name == "NEW":
                verdict(inits and flat(owner) in declared_types, f"init of {owner}")
            else:
                verdict(flat(owner) in declared_types and flat(name) in functions, f"{kind.lower()} {owner}.{name}")
        elif kind in ("NAMESPACE", "UDL", "TRAIT", "CHECKSUM"):
            continue
        else:
            verdict(False, f"an item of unknown kind {meta}")
    print(f"swift-api: {passed} passed, {failed} failed ({len(metas)} exported items)")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
