"""Builds icd10cm.fc.zlib from the ICD-10-CM code list (run once; see README.md beside this file).

Usage: python3 make_icd10cm.py code-list-April-2026.txt icd10cm.fc.zlib
Output: zlib stream of sorted, de-duplicated codes (no dot), one per line, front-coded: each line is
one digit (the length of the prefix shared with the previous code) followed by the rest of the code.
"""
import re
import sys
import zlib

codes = sorted({
    line.strip()
    for line in open(sys.argv[1], encoding="ascii")
    if re.fullmatch(r"[A-Z][0-9][0-9A-Z]{1,5}", line.strip())
})
lines, prev = [], ""
for code in codes:
    k = 0
    while k < min(len(code), len(prev)) and code[k] == prev[k]:
        k += 1
    lines.append(f"{k}{code[k:]}")
    prev = code
with open(sys.argv[2], "wb") as out:
    out.write(zlib.compress("\n".join(lines).encode("ascii"), 9))
print(len(codes), "codes")
