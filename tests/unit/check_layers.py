#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_layers.py - keeps host/'s layering true, from the compiled objects and the sources.

    check_layers.py HOST_DIR --lib OBJ... [--tools OBJ...] [--graph]

--graph also prints the drawing: each folder's calls into the folders below it, by file.

Rules (docs/design.md, "Where things are"):
  1. A file uses (nm -u) only symbols defined in its own folder or in a folder below it:
     base < formats < cl < model < plan < conv < runtime.
  2. No circle between files: the graph of "file A calls file B" has no cycle.
  3. A conv family file (host/conv/NAME.c beside kernels/NAME.cl) uses nothing defined in
     another family's file, and no file but the registry (host/conv/registry.c) uses what a
     family's file defines (its dc_family_NAME included), direct (the fallback) excepted.
  4. Each host/ file includes (#include "folder/...") only its own folder's headers and those
     below.
  5. A function is declared in one header only (include/densecl.h counts as one).
  6. The tools' objects use, of the library's internals, only those tools_internal.h lists in
     its "tool-visible:" block.
  7. No C file in host/ over 700 lines, none in tools/ over 600.
Prints each violation on one line and exits 1 when there is one.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

ORDER = ["base", "formats", "cl", "model", "plan", "conv", "runtime"]
RANK = {f: i for i, f in enumerate(ORDER)}


def nm(path, undefined):
    args = ["nm", "-u" if undefined else "--defined-only", path]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if undefined and parts:
            syms.add(parts[-1])
        elif len(parts) == 3 and parts[1] in "TDBRG":  # global text/data/bss/rodata
            syms.add(parts[2])
    return syms


def source_of(obj, host):
    """host/<folder>/<file>.c for a CMake object .../host/<folder>/<file>.c.o."""
    m = re.search(r"/host/([a-z_]+)/([A-Za-z0-9_]+)\.c\.o$", obj)
    if not m:
        return None
    return m.group(1), m.group(2)


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def declarations(path):
    """Function names declared (prototypes, not macros) in a header."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"^\s*#.*(\\\n.*)*$", " ", text, flags=re.M)
    names = []
    # typedef'd function pointers and struct members are skipped: a declaration here is
    # "<type> name(" at the start of a statement, outside braces.
    depth = 0
    stmt = ""
    for ch in text:
        if ch == "{":
            depth += 1
            stmt = ""
        elif ch == "}":
            depth -= 1
            stmt = ""
        elif depth == 0:
            if ch == ";":
                m = re.match(r"\s*(?:extern\s+)?[A-Za-z_][\w\s\*]*?\b([a-z_][a-z0-9_]*)\s*\(", stmt)
                if m and not stmt.lstrip().startswith("typedef"):
                    names.append(m.group(1))
                stmt = ""
            else:
                stmt += ch
    return names


def main():
    argv = sys.argv[1:]
    if not argv:
        print(__doc__)
        return 2
    host = os.path.abspath(argv[0])
    lib, tools, cur = [], [], None
    graph_out = "--graph" in argv
    for a in argv[1:]:
        if a == "--graph":
            continue
        if a == "--lib":
            cur = lib
        elif a == "--tools":
            cur = tools
        elif cur is not None:
            cur.append(a)
    root = os.path.dirname(host)
    bad = []

    # Which object defines what.
    files = {}
    defined = {}
    for obj in lib:
        src = source_of(obj, host)
        if not src:
            continue  # generated code (embedded kernels, protobuf-c)
        files[src] = obj
        for s in nm(obj, False):
            defined[s] = src
    if len(files) < 20:
        bad.append(f"only {len(files)} host/ objects given: the check would prove nothing")
    families = {name for (folder, name) in files if folder == "conv" and
                os.path.exists(os.path.join(root, "kernels", name + ".cl"))}
    if "direct" not in families:
        bad.append("no direct family found under host/conv/ (with kernels/direct.cl)")

    graph = defaultdict(set)
    for src, obj in sorted(files.items()):
        folder, name = src
        for s in sorted(nm(obj, True)):
            d = defined.get(s)
            if not d or d == src:
                continue
            graph[src].add(d)
            where = f"host/{folder}/{name}.c"
            there = f"host/{d[0]}/{d[1]}.c"
            if RANK.get(d[0], 99) > RANK.get(folder, -1):
                bad.append(f"{where} ({folder}) uses {s} of {there} ({d[0]}): a call up")
            if folder == "conv" and name in families and d[0] == "conv" and d[1] in families:
                bad.append(f"{where} (family {name}) uses {s} of family {d[1]}")
            elif d[0] == "conv" and d[1] in families and d[1] != "direct" and \
                    (folder, name) != ("conv", "registry"):
                bad.append(f"{where} uses {s} of family {d[1]}: only the registry reaches a "
                           f"family but direct, through the vtable")
    for comp in find_cycles(graph):
        bad.append("circle: " + " <-> ".join(f"host/{f}/{n}.c" for f, n in comp))

    # Includes.
    inc = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)
    for dirpath, _, names in os.walk(host):
        folder = os.path.relpath(dirpath, host)
        if folder not in RANK:
            continue
        for n in names:
            if not n.endswith((".c", ".h")):
                continue
            for m in inc.finditer(open(os.path.join(dirpath, n), encoding="utf-8").read()):
                to = m.group(1)
                if to in RANK and RANK[to] > RANK[folder]:
                    bad.append(f"host/{folder}/{n} includes {m.group(0).split()[-1]}: a folder above")

    # One declaration per function.
    seen = {}
    headers = [os.path.join(root, "include", "densecl.h")]
    for dirpath, _, names in os.walk(host):
        headers += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".h")]
    for h in headers:
        for name in declarations(h):
            rel = os.path.relpath(h, root)
            if name in seen and seen[name] != rel:
                bad.append(f"{name} is declared in {seen[name]} and again in {rel}")
            seen.setdefault(name, rel)

    # The tools' boundary.
    if tools:
        text = open(os.path.join(host, "tools_internal.h"), encoding="utf-8").read()
        m = re.search(r"tool-visible:(.*?)\*/", text, re.S)
        allowed = set(re.findall(r"\b(dc_[a-z0-9_]+)\b", m.group(1))) if m else set()
        if not allowed:
            bad.append("host/tools_internal.h has no 'tool-visible:' list")
        for obj in tools:
            for s in sorted(nm(obj, True)):
                if s in defined and s.startswith("dc_") and s not in allowed:
                    d = defined[s]
                    bad.append(f"{os.path.basename(obj)} (tools) uses {s} of host/{d[0]}/{d[1]}.c, "
                               f"which tools_internal.h does not list")

    # Rooms a newcomer can read: no C file in host/ over 700 lines, none in tools/ over 600.
    for top, most in (("host", 700), ("tools", 600)):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if n.endswith(".c"):
                    path = os.path.join(dirpath, n)
                    with open(path, encoding="utf-8") as f:
                        lines = sum(1 for _ in f)
                    if lines > most:
                        bad.append(f"{os.path.relpath(path, root)} has {lines} lines "
                                   f"(at most {most} in {top}/): split it along its jobs")

    if graph_out:
        for folder in reversed(ORDER):
            srcs = sorted(k for k in graph if k[0] == folder)
            for src in srcs:
                targets = sorted(graph[src], key=lambda d: (-RANK.get(d[0], 0), d))
                print(f"{folder}/{src[1]}.c -> " +
                      ", ".join(f"{d[0]}/{d[1]}.c" for d in targets))
    for b in bad:
        print("layers: " + b)
    print(f"layers: {len(files)} host/ objects, {len(tools)} tool objects, "
          f"{sum(len(v) for v in graph.values())} calls between files, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
