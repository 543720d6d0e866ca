#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Compares densecl's logits with the expected ones.

  compare_logits.py EXPECTED.npy GOT.npy [--name CASE] [--rtol 1e-4]

Passes iff both have the same shape, GOT is all finite, max|GOT - EXPECTED| <= rtol *
max|EXPECTED| and every row has the same argmax. Prints one summary line either way (plus the
reasons on failure); exit status 1 on failure.
"""

import argparse
import os
import sys

import numpy as np

DEFAULT_RTOL = 1e-4


def case_name(path):
    name = os.path.basename(path)
    for suffix in (".expected.npy", ".npy"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def load(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"compare_logits: cannot read {path}: {exc}")


def compare(expected, got, rtol):
    """Returns (summary, list of problems); no problems means a pass."""
    if expected.shape != got.shape or got.ndim != 2:
        return (f"shape {list(got.shape)}, expected {list(expected.shape)}",
                ["shape differs" if expected.shape != got.shape else "not a [N, classes] array"])
    problems = []
    if got.dtype != np.float32:
        problems.append(f"dtype {got.dtype}, expected float32")
    got64, expected64 = got.astype(np.float64), expected.astype(np.float64)
    nonfinite = int(np.size(got64) - np.count_nonzero(np.isfinite(got64)))
    if nonfinite:
        problems.append(f"{nonfinite} non-finite values")
        got64 = np.nan_to_num(got64, nan=np.inf)
    abs_diff = np.abs(got64 - expected64)
    diff = float(abs_diff.max(initial=0.0))
    limit = rtol * float(np.abs(expected64).max(initial=0.0))
    if diff > limit:
        row, col = np.unravel_index(np.argmax(abs_diff), abs_diff.shape)
        problems.append(f"worst at [{row}, {col}]: got {got[row, col]:.7g}, "
                        f"expected {expected[row, col]:.7g}")
    bad_rows = np.nonzero(np.argmax(got64, 1) != np.argmax(expected64, 1))[0].tolist()
    if bad_rows or nonfinite:
        problems.append(f"argmax differs in rows {bad_rows[:10]}")
    argmax = "argmax BAD" if bad_rows or nonfinite else "argmax ok"
    return f"max|diff| = {diff:.3g} (limit {limit:.3g}), {argmax}", problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("expected")
    parser.add_argument("got")
    parser.add_argument("--name", help="case name for the summary (default: from EXPECTED)")
    parser.add_argument("--rtol", type=float, default=DEFAULT_RTOL,
                        help="tolerance relative to max|EXPECTED| (default %(default)g)")
    args = parser.parse_args(argv)
    summary, problems = compare(load(args.expected), load(args.got), args.rtol)
    name = args.name or case_name(args.expected)
    print(f"{name}: {summary}" + ("" if not problems else " -- FAIL"))
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
