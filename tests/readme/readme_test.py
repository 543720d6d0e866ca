#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs the README's blocks as a reader would (issue 24, item 8).

  readme_test.py SOURCE_DIR SCRATCH [--list] [--timeout SECONDS]

Every fenced block of README.md is classified by its info string:
  ```sh                 a shell block: run, with bash -e -o pipefail
  ```sh gpu             needs a GPU (or another accelerator): listed, not run
  ```sh slurm           needs a Slurm cluster: listed, not run
  ```sh minutes         takes many minutes (the whole test suite, training, benchmarks): listed
  ```sh template        holds names the reader replaces: listed, not run
  ```python             run with python3 and PYTHONPATH=python (the tree's module, as the README
                        says), after the shell blocks before it
  ```python fragment    part of a program: not run
  ```c, ```cmake, ...   other languages: not run (examples/*.c are built and run by other tests;
                        the CMake routes by tests/install/cmake_routes_test.sh)
A runnable shell block may not hold a placeholder (<name>, "...", "[--option]" outside comments):
those belong in a template block. An unknown marker fails.

The runnable blocks run top to bottom in one copy of the tree (its tracked and new files, not
build/: the README's first command builds it), SCRATCH/tree, with HOME=SCRATCH/home, the PATH
of a fresh Debian 12 (so python3 is /usr/bin/python3), no PYTHONPATH, DENSECL_LIBRARY,
PKG_CONFIG_PATH or LD_LIBRARY_PATH, and PIP_NO_INDEX=1 (pip must not need the network). As root,
Open MPI's OMPI_ALLOW_RUN_AS_ROOT pair is set, as the README tells root users to. The table
printed at the end says, per block, whether it works or what it needs. Exit status 1 when a
runnable block fails or a rule is broken.
"""

import os
import re
import shutil
import subprocess
import sys
import time

MARKERS = {"sh": {"gpu": "needs a GPU", "slurm": "needs Slurm", "minutes": "needs minutes",
                  "template": "template"},
           "python": {"fragment": "fragment", "template": "template"}}
SHELLS = {"sh", "bash", "shell"}
PLACEHOLDERS = [(re.compile(r"<[A-Za-z][A-Za-z0-9 _.-]*>"), "<name>"),
                (re.compile(r"\.\.\."), "..."),
                (re.compile(r"\[--"), "[--option]")]
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def blocks(text):
    """[(line, lang, markers, body)] of the fenced blocks."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^```(\S*)(.*)$", lines[i])
        if not m:
            i += 1
            continue
        start, lang, markers = i + 1, m.group(1), m.group(2).split()
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        out.append((start, lang, markers, "\n".join(body) + "\n"))
        i += 1
    return out


def code_text(body):
    """The shell text without comments and heredoc bodies (where "..." is prose or Python)."""
    kept, heredoc = [], None
    for line in body.split("\n"):
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", line)
        if m:
            heredoc = m.group(1)
        kept.append(re.sub(r"(^|\s)#.*$", "", line))
    return "\n".join(kept)


def first_command(body):
    for line in body.split("\n"):
        s = line.strip()
        if s and not s.startswith("#"):
            return s if len(s) <= 60 else s[:57] + "..."
    return ""


def copy_tree(src, dst):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=src,
                           check=True, capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        rel = f.decode()
        s, d = os.path.join(src, rel), os.path.join(dst, rel)
        if not os.path.lexists(s):
            continue  # deleted in the work tree
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d, follow_symlinks=False)


def main():
    args = sys.argv[1:]
    listing = "--list" in args
    timeout = 1200
    if "--timeout" in args:
        timeout = int(args[args.index("--timeout") + 1])
    pos = [a for a in args if not a.startswith("--") and not a.isdigit()]
    if len(pos) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, scratch = (os.path.abspath(p) for p in pos)
    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        found = blocks(f.read())

    problems, plan = [], []
    for line, lang, markers, body in found:
        kind = "sh" if lang in SHELLS else lang
        allowed = MARKERS.get(kind, {})
        bad = [m for m in markers if m not in allowed]
        if bad and kind in MARKERS:
            problems.append(f"README.md:{line}: unknown marker {' '.join(bad)} (known: "
                            f"{', '.join(allowed)})")
        status = next((allowed[m] for m in markers if m in allowed), None)
        if kind not in MARKERS:
            status = "not run (" + (lang or "text") + ")"
        elif status is None:
            status = "run"
            if kind == "sh":
                text = code_text(body)
                for rx, what in PLACEHOLDERS:
                    m = rx.search(text)
                    if m:
                        problems.append(f"README.md:{line}: a placeholder ({what}: "
                                        f"'{m.group(0)}') in a runnable block: mark it "
                                        f"'```sh template' or make it run")
        plan.append((line, kind, status, body))
    for p in problems:
        print("FAIL " + p)
    if listing:
        for line, kind, status, body in plan:
            print(f"{line:5d}  {kind:7s} {status:20s} {first_command(body)}")
        return 1 if problems else 0

    shutil.rmtree(scratch, ignore_errors=True)
    tree, home = os.path.join(scratch, "tree"), os.path.join(scratch, "home")
    os.makedirs(home)
    copy_tree(src, tree)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DENSECL_LIBRARY", "PKG_CONFIG_PATH", "LD_LIBRARY_PATH",
                        "VIRTUAL_ENV", "CMAKE_PREFIX_PATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")}
    env.update(HOME=home, PATH=DEBIAN_PATH, PIP_NO_INDEX="1", PYTHONDONTWRITEBYTECODE="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    results = []
    failed = len(problems)
    for n, (line, kind, status, body) in enumerate(plan):
        if status != "run":
            results.append((line, kind, status, body, 0.0))
            continue
        script = os.path.join(scratch, f"block-{line}.{'py' if kind == 'python' else 'sh'}")
        with open(script, "w", encoding="utf-8") as f:
            f.write(body)
        if kind == "python":
            cmd, benv = ["python3", script], dict(env, PYTHONPATH=os.path.join(tree, "python"))
        else:
            cmd, benv = ["bash", "-e", "-o", "pipefail", script], env
        print(f"=== README.md:{line} ({kind})\n{body.rstrip()}", flush=True)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=tree, env=benv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout)
            out, rc = proc.stdout.decode(errors="replace"), proc.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode(errors="replace"), f"timeout after {timeout} s"
        took = time.monotonic() - t0
        tail = "\n".join(out.rstrip().split("\n")[-25:])
        print("--- output (last lines):\n" + tail, flush=True)
        if rc == 0:
            results.append((line, kind, "works", body, took))
        else:
            failed += 1
            results.append((line, kind, f"FAILS ({rc})", body, took))
            print(f"FAIL README.md:{line}: exit status {rc}", flush=True)

    print("\nREADME blocks:")
    print(f"{'line':>5}  {'kind':7s} {'status':20s} {'time':>7}  first command")
    for line, kind, status, body, took in results:
        t = f"{took:6.1f}s" if took else ""
        print(f"{line:5d}  {kind:7s} {status:20s} {t:>7}  {first_command(body)}")
    counts = {}
    for r in results:
        counts[r[2]] = counts.get(r[2], 0) + 1
    print("; ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
