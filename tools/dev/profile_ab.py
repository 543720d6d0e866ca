#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Per-op-kind time and GFLOP/s of two or more densecl builds (or option sets), in turn.

Runs `densecl bench --profile --json` of each variant in turn, ROUNDS times, and prints per op
kind (conv1x1, conv3x3, conv7x7, ...) the minimum and the median over the rounds of each
variant's time and GFLOP/s, and the time per image (median of each bench's runs). On a machine
shared with other processes a kernel's time only grows, so the minima are the figures to
compare; alternating the variants lets them meet the same spells of load.

    tools/dev/profile_ab.py [--model densenet121] [--batch 1] [--rounds 10]
                            LABEL=DENSECL[,OPTION...] LABEL=DENSECL[,OPTION...] ...

Each variant is a label, the densecl executable, and options for its bench, comma-separated,
e.g. before=/tmp/main/build/bin/densecl after=build/bin/densecl
after-direct=build/bin/densecl,--conv,direct.
"""
import argparse
import json
import statistics
import subprocess
import sys


def bench(exe, opts, model, batch, iterations):
    cmd = [exe, "bench", "--json", "--profile", "--model", model, "--batch", str(batch),
           "--iterations", str(iterations)] + opts
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="densenet121")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=5, help="timed runs per bench")
    ap.add_argument("variants", nargs="+", help="LABEL=DENSECL[,OPTION...]")
    args = ap.parse_args()
    variants = []
    for v in args.variants:
        label, _, spec = v.partition("=")
        parts = spec.split(",")
        if not label or not parts[0]:
            ap.error(f"variant '{v}': expected LABEL=DENSECL[,OPTION...]")
        variants.append((label, parts[0], parts[1:]))
    kinds = {}  # kind -> label -> [(ms, gflops)]
    per_image = {label: [] for label, _, _ in variants}
    convs = {}
    for r in range(args.rounds):
        for label, exe, opts in variants:
            try:
                d = bench(exe, opts, args.model, args.batch, args.iterations)
            except subprocess.CalledProcessError as e:
                print(f"profile_ab: {label}: {(e.stderr or '').strip()}", file=sys.stderr)
                return 1
            convs[label] = d.get("convs", "")
            per_image[label].append(d["ms_per_image"])
            for k in d["profile"]["kinds"]:
                kinds.setdefault(k["kind"], {}).setdefault(label, []).append(
                    (k["ms"] / args.batch, k["gflops"]))
        print(f"# round {r + 1}: " + ", ".join(f"{label} {per_image[label][-1]:.2f} ms/image"
                                                for label, _, _ in variants), file=sys.stderr)
    labels = [label for label, _, _ in variants]
    print(f"{args.model}, batch {args.batch}, {args.rounds} rounds in turn; per kind ms per "
          f"image and GFLOP/s, minimum (median) over the rounds")
    for label in labels:
        print(f"  {label}: {convs[label]}")
    print(f"{'kind':16}" + "".join(f" {label:>30}" for label in labels))
    for kind, by in kinds.items():
        row = f"{kind:16}"
        for label in labels:
            xs = by.get(label, [])
            if not xs:
                row += f" {'-':>30}"
                continue
            best = min(xs)
            med = statistics.median(x[0] for x in xs)
            cell = f"{best[0]:.3f} ({med:.3f}) ms"
            if best[1] > 0:
                cell += f" {best[1]:.0f} GF/s"
            row += f" {cell:>30}"
        print(row)
    row = f"{'per image':16}"
    for label in labels:
        xs = per_image[label]
        row += f" {f'{min(xs):.2f} ({statistics.median(xs):.2f}) ms':>30}"
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
