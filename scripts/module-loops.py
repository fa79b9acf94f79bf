#!/usr/bin/env python3
"""Mutual imports between the modules of a Rust crate: pairs where A uses an item or path of
B and B one of A (`use` lines, `crate::`/`super::` paths, child modules named bare).
Usage: scripts/module-loops.py [SRC_DIR]  (default src) -> the pairs and their count."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'src'
mods = {}
for dp, dn, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f); rel = os.path.relpath(p, root)[:-3].split(os.sep)
        if rel[-1] in ('mod', 'lib', 'main'): rel = rel[:-1]
        mods[tuple(rel)] = p
def resolve(path):
    # deepest existing module prefix
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in mods: return tuple(path[:n])
    return None
PATH = re.compile(r'\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+|(?:crate|super)(?=::\{))')
edges = {}
for m, p in mods.items():
    text = open(p).read()
    cut = re.search(r'^\s*#\[cfg\(test\)\]\s*\n\s*mod\s+\w+\s*\{', text, re.M)
    if cut: text = text[:cut.start()]
    text = re.sub(r'//.*', '', text)
    # expand use groups: crate::a::{b, c::d}
    targets = set()
    for um in re.finditer(r'\buse\s+([^;]+);', text, re.S):
        u = re.sub(r'\s+', '', um.group(1))
        stack = [u]
        while stack:
            s = stack.pop()
            g = re.match(r'^(.*?)::\{(.*)\}$', s)
            if g:
                pre, inner = g.group(1), g.group(2)
                depth = 0; cur = ''
                for ch in inner + ',':
                    if ch == ',' and depth == 0:
                        if cur: stack.append(pre + '::' + cur)
                        cur = ''
                    else:
                        if ch == '{': depth += 1
                        if ch == '}': depth -= 1
                        cur += ch
                continue
            targets.add(s.split(' as ')[0])
    for pm in PATH.finditer(text): targets.add(pm.group(1))
    # child module references used bare (e.g. `child::f()` in mod.rs)
    for t in targets:
        parts = t.split('::')
        if parts[0] == 'crate': base = []; parts = parts[1:]
        elif parts[0] in ('super', 'self'):
            base = list(m)
            while parts and parts[0] in ('super', 'self'):
                if parts[0] == 'super':
                    # super of a file module m is m[:-1]
                    base = base[:-1]
                parts = parts[1:]
        else: continue
        r = resolve(base + parts)
        if r is not None and r != m and r != ():
            edges.setdefault(m, set()).add(r)
    # bare child paths: name::item where name is a child module
    for cm in mods:
        if len(cm) == len(m) + 1 and cm[:len(m)] == m:
            if re.search(r'(?<![:\w])' + re.escape(cm[-1]) + r'::', text) or re.search(r'\buse\s+' + re.escape(cm[-1]) + r'::', text):
                edges.setdefault(m, set()).add(cm)
pairs = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
for a, b in pairs: print('::'.join(a) or 'crate', '<->', '::'.join(b) or 'crate')
print(len(pairs), 'mutual pairs')
