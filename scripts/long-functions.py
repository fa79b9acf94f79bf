#!/usr/bin/env python3
"""Longest Rust functions under a tree (brace matching; skips #[cfg(test)] modules and tests/ dirs).
Usage: scripts/long-functions.py SRC_DIR [LIMIT] -> prints 'N functions over LIMIT lines; longest: path:fn N' and exits 1 if any."""
import os, re, sys
root = sys.argv[1]; limit = int(sys.argv[2]) if len(sys.argv) > 2 else 100
FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+([A-Za-z0-9_]+)')
res = []
for dp, dn, fs in os.walk(root):
    dn[:] = [d for d in dn if d not in ('tests',)]
    for f in fs:
        if not f.endswith('.rs') or f.startswith('tests') or f.endswith('_tests.rs'):
            continue
        p = os.path.join(dp, f); lines = open(p, encoding='utf-8', errors='replace').read().split('\n')
        i = 0; in_test = False
        while i < len(lines):
            l = lines[i]
            if re.match(r'\s*#\[cfg\(test\)\]', l):
                break  # unit-test module: rest of file is tests by convention
            m = FN.match(l)
            if m and not l.rstrip().endswith(';'):
                depth = 0; started = False; j = i
                while j < len(lines):
                    s = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j]); s = re.sub(r"'(\\.|[^'\\])'", "''", s); s = s.split('//')[0]
                    for ch in s:
                        if ch == '{': depth += 1; started = True
                        elif ch == '}': depth -= 1
                    if started and depth <= 0: break
                    j += 1
                n = j - i + 1
                res.append((n, f"{os.path.relpath(p, root)}:{m.group(6)}"))
                i = j + 1; continue
            i += 1
res.sort(reverse=True)
over = [r for r in res if r[0] > limit]
top = ", ".join(f"{w} {n}" for n, w in over)
print(f"{len(over)} functions over {limit} lines; longest: {top}")
sys.exit(1 if over else 0)
