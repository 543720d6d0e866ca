#!/usr/bin/python3
"""densecl and PyTorch side by side on the same machine, the same inputs, the same models.

Runs `densecl bench --json` and PyTorch (eval mode, no_grad, torch.set_num_threads(THREADS))
on three workloads, then the start-up of `densecl run` with empty and with warm caches, and
prints one table with the ratios (>1 means densecl is faster). --markdown prints the table for
the README.

Each workload runs in ROUNDS rounds, densecl then PyTorch in each, so that both meet the same
spells of a busy or throttled machine (on a shared VM the same run can vary by a third from
one minute to the next); the table gives the medians over the rounds and each round's ratio.

    tools/compare_pytorch.py [--densecl build/bin/densecl] [--threads 2] [--iterations 10]
                             [--rounds 3] [--markdown] [--json FILE]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torchvision

# (name, densecl model, batch, side, what to compare)
WORKLOADS = [
    ("DenseNet-121 224x224 batch 1", "densenet121", 1, 224, "ms_per_image"),
    ("DenseNet-121 224x224 batch 8", "densenet121", 8, 224, "images_per_second"),
    ("DenseNet-BC-100 k=12 32x32 batch 64", "densenet-bc-100-k12", 64, 32, "images_per_second"),
]


def torch_model(name):
    """The torchvision model densecl's preset describes (random weights: speed only)."""
    if name == "densenet121":
        return torchvision.models.densenet121(weights=None)
    if name == "densenet-bc-100-k12":
        m = torchvision.models.DenseNet(growth_rate=12, block_config=(16, 16, 16),
                                        num_init_features=24, bn_size=4, num_classes=10)
        children = [(n, c) for n, c in m.features.named_children()
                    if n not in ("conv0", "norm0", "relu0", "pool0")]
        m.features = nn.Sequential(OrderedDict(
            [("conv0", nn.Conv2d(3, 24, 3, padding=1, bias=False))] + children))
        return m
    raise ValueError(name)


def bench_torch(model, batch, side, iterations, warmup):
    x = torch.randn(batch, 3, side, side)
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    return {"ms_per_batch": ms, "ms_per_image": ms / batch, "images_per_second": batch * 1e3 / ms}


def bench_densecl(exe, model_name, batch, side, iterations, warmup, device):
    cmd = [exe, "bench", "--json", "--model", model_name, "--batch", str(batch),
           "--size", f"{side}x{side}", "--iterations", str(iterations), "--warmup", str(warmup)]
    if device:
        cmd += ["--device", device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def startup(exe, device, rounds):
    """Wall times of `densecl run` on one 224x224 image with a DenseNet-121 safetensors file (as
    a user runs it): in each round with empty caches, then warm ones."""
    colds, warms = [], []
    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.npy")
        w = os.path.join(tmp, "densenet121.safetensors")
        np.save(x, np.random.RandomState(0).randn(1, 3, 224, 224).astype(np.float32))
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__),
                                                     "export_torchvision.py"),
                        "--model", "densenet121", "--random", "0", "--out", w],
                       check=True, capture_output=True)
        cmd = [exe, "run", "--weights", w, "--input", x, "--output", os.path.join(tmp, "y.npy")]
        if device:
            cmd += ["--device", device]
        for r in range(max(1, rounds)):
            env = dict(os.environ, POCL_CACHE_DIR=os.path.join(tmp, f"pocl{r}"),
                       DENSECL_CACHE_DIR=os.path.join(tmp, f"densecl{r}"))
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, capture_output=True)
                times.append(time.perf_counter() - t0)
            colds.append(times[0])
            warms.append(min(times[1:]))
    return colds, warms


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--densecl", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                      "bin", "densecl"))
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="also write the raw numbers here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows, raw = [], {"machine": machine(), "torch": torch.__version__,
                     "threads": args.threads, "workloads": []}
    for label, model, batch, side, metric in WORKLOADS:
        net = torch_model(model).eval()
        ds, ts, ratios = [], [], []
        for _ in range(max(1, args.rounds)):
            d = bench_densecl(args.densecl, model, batch, side, args.iterations, args.warmup,
                              args.device)
            t = bench_torch(net, batch, side, args.iterations, args.warmup)
            ds.append(d)
            ts.append(t)
            # > 1: densecl is faster (less time per image, more images per second)
            ratios.append(t[metric] / d[metric] if metric == "ms_per_image" else
                          d[metric] / t[metric])
            print(f"# {label}: densecl {d[metric]:.2f}, PyTorch {t[metric]:.2f} {metric}",
                  file=sys.stderr)
        dm = statistics.median(x[metric] for x in ds)
        tm = statistics.median(x[metric] for x in ts)
        unit = "ms/image" if metric == "ms_per_image" else "images/s"
        rows.append((label, f"{dm:.1f} {unit}", f"{tm:.1f} {unit}",
                     statistics.median(ratios), ratios))
        raw["workloads"].append({"label": label, "metric": metric, "densecl": ds, "torch": ts,
                                 "ratios": ratios})

    colds, warms = startup(args.densecl, args.device, args.rounds)
    raw["startup"] = {"cold_s": colds, "warm_s": warms}
    cold, warm = statistics.median(colds), statistics.median(warms)
    spread = (f"median of {len(colds)}: " + ", ".join(f"{c:.2f}" for c in colds) + " s"
              if len(colds) > 1 else "one run")

    device = raw["workloads"][0]["densecl"][0]["device"]

    def per_round(ratios):
        return ", ".join(f"{r:.2f}x" for r in ratios)

    if args.markdown:
        print(f"Machine: {raw['machine']}; densecl on `{device}` (POCL), PyTorch "
              f"{torch.__version__} CPU with {args.threads} threads; {args.rounds} rounds of "
              f"densecl then PyTorch, each the median of {args.iterations} runs after "
              f"{args.warmup} warm-up runs; medians over the rounds.\n")
        print("| workload | densecl | PyTorch | densecl speed-up (median) | per round |")
        print("|---|---|---|---|---|")
        for label, d, t, ratio, ratios in rows:
            print(f"| {label} | {d} | {t} | {ratio:.2f}x | {per_round(ratios)} |")
        print(f"| start-up: first `densecl run`, empty caches | {cold:.2f} s | | | {spread} |")
        print(f"| start-up: later `densecl run` | {warm:.2f} s | | | |")
    else:
        print(f"machine: {raw['machine']}")
        print(f"densecl device: {device}; PyTorch {torch.__version__}, {args.threads} threads")
        print(f"{'workload':40} {'densecl':>18} {'PyTorch':>18} {'speed-up':>9}  per round")
        for label, d, t, ratio, ratios in rows:
            print(f"{label:40} {d:>18} {t:>18} {ratio:>8.2f}x  {per_round(ratios)}")
        print(f"start-up (densenet121, 1 image): cold {cold:.2f} s ({spread}), "
              f"warm {warm:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
