#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""densecl, ONNX Runtime and PyTorch side by side on the same machine, inputs and models.

Runs `densecl bench --json`, ONNX Runtime (THREADS intra-op threads) and PyTorch (eval mode,
no_grad, torch.set_num_threads(THREADS)) on three workloads (issue 26's: DenseNet-121 at batch 1
and 8, DenseNet-BC-100 at batch 64; --workloads picks by number: 4-6 are DenseNet-169, 201 and 161), then the
start-up of `densecl run` with empty and with warm caches, and prints one table: per workload
each one's median and every round's value, and densecl's ratio to each, round by round (>1 means
densecl is faster); the first line names the CPU (/proc/cpuinfo's model name, the cores, the
kernel) and the device densecl ran on. --markdown prints the table for the README.

Each workload runs in ROUNDS rounds, densecl then ONNX Runtime then PyTorch in each, so that all
meet the same spells of a busy or throttled machine (on a shared VM the same run can vary by a
third from one minute to the next); the table gives the medians over the rounds and each
round's values and ratios.

ONNX Runtime is PyPI's onnxruntime 1.20.1 (its prebuilt CPU library is inside the wheel),
installed by tools/dev/install_onnxruntime.sh into the venv third_party/onnxruntime-venv (or
--ort-dir, or $DENSECL_ORT_DIR), or imported by the interpreter running this script where it can;
each round runs it in a process of its own (a small Python script, ORT_SCRIPT). Its model is the
same PyTorch model exported with torch.onnx.export (opset 13, do_constant_folding=True, a static
input shape), so all three run the same weights. Without onnxruntime the table says so in ONNX
Runtime's column, and the rest still runs; --no-ort leaves it out.

    tools/dev/compare_pytorch.py [--densecl build/bin/densecl] [--threads 2] [--iterations 10]
                                 [--rounds 3] [--markdown] [--json FILE] [--ort-dir DIR] [--no-ort]
                                 [--workloads 1,2,3,...] [--no-startup]

--device gpu compares densecl on the OpenCL GPU with PyTorch on CUDA in fp32 (TF32 off, cuDNN
benchmark mode), eager and, where PyTorch has them, replaying a CUDA graph, on the GPU workloads
of issue 11 (DenseNet-121 224x224 at batch 1, 8, 64; DenseNet-BC-100 32x32 at 64 and 512), in
the same interleaved rounds. Both sides are timed from host memory to host memory, as `densecl
bench` times densecl_engine_run: PyTorch's input goes to the GPU and its logits come back in
every timed run. Without CUDA in PyTorch, or without an OpenCL GPU for densecl, it says which is
missing and exits with status 2. torchvision is not needed there: without it the models are
built here, layer for layer as torchvision builds them (speed only; the weights are random).
--conv NAME passes densecl's conv family choice (auto, direct, gemm, clblast, winograd) to its bench.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "export"))
import safe_output  # noqa: E402  (densecl's rules for outputs, as every tool writes them)

try:
    import torchvision
except ImportError:  # a GPU machine's PyTorch may come without it (--device gpu)
    torchvision = None

# (name, densecl model, batch, side, what to compare): DenseNet-121 in ms per image, as issue 26
# states its target (densecl <= 0.90 of ONNX Runtime's), the CIFAR model in images per second.
WORKLOADS = [
    ("DenseNet-121 224x224 batch 1", "densenet121", 1, 224, "ms_per_image"),
    ("DenseNet-121 224x224 batch 8", "densenet121", 8, 224, "ms_per_image"),
    ("DenseNet-BC-100 k=12 32x32 batch 64", "densenet-bc-100-k12", 64, 32, "images_per_second"),
    # Not run by default (--workloads 4,5,6): torchvision's other ImageNet models, which users
    # run too; 161 has a growth rate of 48, which 32-channel conv tiles do not divide.
    ("DenseNet-169 224x224 batch 1", "densenet169", 1, 224, "ms_per_image"),
    ("DenseNet-201 224x224 batch 1", "densenet201", 1, 224, "ms_per_image"),
    ("DenseNet-161 224x224 batch 1", "densenet161", 1, 224, "ms_per_image"),
]
DEFAULT_WORKLOADS = 3

# --device gpu: issue 11's GPU workloads.
GPU_WORKLOADS = [
    ("DenseNet-121 224x224 batch 1", "densenet121", 1, 224, "ms_per_image"),
    ("DenseNet-121 224x224 batch 8", "densenet121", 8, 224, "images_per_second"),
    ("DenseNet-121 224x224 batch 64", "densenet121", 64, 224, "images_per_second"),
    ("DenseNet-BC-100 k=12 32x32 batch 64", "densenet-bc-100-k12", 64, 32, "images_per_second"),
    ("DenseNet-BC-100 k=12 32x32 batch 512", "densenet-bc-100-k12", 512, 32,
     "images_per_second"),
]


class _DenseLayer(nn.Module):
    """torchvision's _DenseLayer (memory_efficient=False): BN-ReLU-1x1-BN-ReLU-3x3."""

    def __init__(self, cin, growth, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, xs):
        x = torch.cat(xs, 1)
        y = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(y)))


class _DenseBlock(nn.ModuleDict):
    def __init__(self, layers, cin, growth, bn_size):
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(cin + i * growth, growth, bn_size))

    def forward(self, x):
        xs = [x]
        for layer in self.values():
            xs.append(layer(xs))
        return torch.cat(xs, 1)


class _DenseNet(nn.Module):
    """torchvision.models.DenseNet's layers in its order, for a machine without torchvision."""

    def __init__(self, growth, blocks, init, bn_size, classes, cifar_stem):
        super().__init__()
        if cifar_stem:
            layers = [("conv0", nn.Conv2d(3, init, 3, padding=1, bias=False))]
        else:
            layers = [("conv0", nn.Conv2d(3, init, 7, stride=2, padding=3, bias=False)),
                      ("norm0", nn.BatchNorm2d(init)), ("relu0", nn.ReLU(inplace=True)),
                      ("pool0", nn.MaxPool2d(3, stride=2, padding=1))]
        c = init
        for b, n in enumerate(blocks):
            layers.append((f"denseblock{b + 1}", _DenseBlock(n, c, growth, bn_size)))
            c += n * growth
            if b != len(blocks) - 1:
                layers.append((f"transition{b + 1}", nn.Sequential(OrderedDict([
                    ("norm", nn.BatchNorm2d(c)), ("relu", nn.ReLU(inplace=True)),
                    ("conv", nn.Conv2d(c, c // 2, 1, bias=False)),
                    ("pool", nn.AvgPool2d(2, stride=2))]))))
                c //= 2
        layers.append(("norm5", nn.BatchNorm2d(c)))
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        x = F.relu(self.features(x), inplace=True)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def torch_model(name):
    """The torchvision model densecl's preset describes (random weights: speed only)."""
    if torchvision is None:
        if name == "densenet121":
            return _DenseNet(32, (6, 12, 24, 16), 64, 4, 1000, False)
        if name == "densenet-bc-100-k12":
            return _DenseNet(12, (16, 16, 16), 24, 4, 10, True)
        if name in ("densenet161", "densenet169", "densenet201"):
            k, blocks, stem = {"densenet161": (48, (6, 12, 36, 24), 96),
                               "densenet169": (32, (6, 12, 32, 32), 64),
                               "densenet201": (32, (6, 12, 48, 32), 64)}[name]
            return _DenseNet(k, blocks, stem, 4, 1000, False)
        raise ValueError(name)
    if name in ("densenet121", "densenet161", "densenet169", "densenet201"):
        return getattr(torchvision.models, name)(weights=None)
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


def bench_torch_cuda(model, batch, side, iterations, warmup, graph):
    """PyTorch on CUDA, fp32, host to host: the input is copied to the GPU and the logits back
    in every timed run, as densecl's bench does. graph: replay a captured CUDA graph."""
    dev = torch.device("cuda")
    x_host = torch.randn(batch, 3, side, side)
    with torch.no_grad():
        if graph:
            static_x = x_host.to(dev)
            side_stream = torch.cuda.Stream()
            side_stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side_stream):  # cuDNN's benchmark picks before capture
                for _ in range(max(3, warmup)):
                    model(static_x)
            torch.cuda.current_stream().wait_stream(side_stream)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                static_y = model(static_x)

            def run():
                static_x.copy_(x_host)
                g.replay()
                return static_y.cpu()
        else:
            def run():
                return model(x_host.to(dev)).cpu()
        for _ in range(warmup):
            run()
        torch.cuda.synchronize()
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            run()  # .cpu() waits for the GPU
            times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    return {"ms_per_batch": ms, "ms_per_image": ms / batch, "images_per_second": batch * 1e3 / ms}


# The ONNX Runtime side, run by the venv's (or this) interpreter in a process of its own: times
# InferenceSession.run on one input and prints one line of JSON. argv: model file, batch, side,
# iterations, warm-up runs, intra-op threads. The session options are those of the node script
# this replaced (npm's onnxruntime-node): sequential, one inter-op thread, all graph
# optimizations (ORT's NCHWc layout and fusions included).
ORT_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
import onnxruntime as ort
model, batch, side, iters, warm, threads = sys.argv[1:7]
n, hw = int(batch), int(side)
so = ort.SessionOptions()
so.intra_op_num_threads = int(threads)
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
x = np.sin(np.arange(n * 3 * hw * hw, dtype=np.float64) * 0.37).astype(np.float32)
feeds = {s.get_inputs()[0].name: x.reshape(n, 3, hw, hw)}
for _ in range(int(warm)):
    s.run(None, feeds)
times = []
for _ in range(int(iters)):
    t0 = time.perf_counter()
    s.run(None, feeds)
    times.append((time.perf_counter() - t0) * 1e3)
ms = statistics.median(times)
print(json.dumps({"version": ort.__version__, "ms_per_batch": ms, "ms_per_image": ms / n,
                  "images_per_second": n * 1e3 / ms}))
"""


def ort_dir(args):
    return (args.ort_dir or os.environ.get("DENSECL_ORT_DIR") or
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "third_party",
                         "onnxruntime-venv"))


def ort_python(args):
    """The interpreter that imports onnxruntime: the venv's, else this one; None if neither."""
    venv = os.path.join(ort_dir(args), "bin", "python")
    for exe in ([venv] if os.path.exists(venv) else []) + ([] if args.ort_dir else
                                                           [sys.executable]):
        r = subprocess.run([exe, "-c", "import onnxruntime"], capture_output=True)
        if r.returncode == 0:
            return exe
    return None


def ort_missing(args):
    """Why ONNX Runtime cannot run here, or None when it can (args.ort_python set)."""
    if args.no_ort:
        return "left out (--no-ort)"
    args.ort_python = ort_python(args)
    if not args.ort_python:
        return (f"not run: no onnxruntime in {ort_dir(args)} or for {sys.executable} "
                f"(tools/dev/install_onnxruntime.sh installs it)")
    return None


def export_onnx(model, batch, side, path):
    """The model as a static-shape ONNX file (opset 13, constants folded), as issue 12 says."""
    x = torch.randn(batch, 3, side, side)
    with torch.no_grad():
        torch.onnx.export(model, x, path, opset_version=13, do_constant_folding=True,
                          input_names=["input"], output_names=["logits"])


def bench_ort(args, onnx_path, batch, side):
    # One more warm-up run than the others: each round starts a new session, whose first run
    # sets up its memory arena, as densecl bench's untimed first run builds its kernels.
    cmd = [args.ort_python, "-c", ORT_SCRIPT, onnx_path, str(batch), str(side),
           str(args.iterations), str(args.warmup + 1), str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_densecl(exe, model_name, batch, side, iterations, warmup, device, conv=None):
    cmd = [exe, "bench", "--json", "--model", model_name, "--batch", str(batch),
           "--size", f"{side}x{side}", "--iterations", str(iterations), "--warmup", str(warmup)]
    if device:
        cmd += ["--device", device]
    if conv:
        cmd += ["--conv", conv]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def startup(exe, device, rounds):
    """Wall times of `densecl run` on one 224x224 image with a DenseNet-121 safetensors file (as
    a user runs it): in each round with empty caches, then warm ones."""
    import numpy as np

    colds, warms = [], []
    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.npy")
        w = os.path.join(tmp, "densenet121.safetensors")
        np.save(x, np.random.RandomState(0).randn(1, 3, 224, 224).astype(np.float32))
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..",
                                                     "export", "export_torchvision.py"),
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
    """The CPU model line: /proc/cpuinfo's model name, vendor, family and model numbers, the
    widest vector extension, the logical CPUs and the kernel (a VM's model name can be as
    generic as "Intel(R) Xeon(R) Processor")."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" not in line:
                    if fields:
                        break  # the first processor's block is enough
                    continue
                key, value = (part.strip() for part in line.split(":", 1))
                fields.setdefault(key, value)
    except OSError:
        pass
    cpu = fields.get("model name") or platform.processor() or platform.machine()
    flags = fields.get("flags", "").split()
    isa = next((f for f in ("avx512f", "avx2", "avx", "neon", "asimd") if f in flags), None)
    ids = ", ".join(f"{k} {fields[k2]}" for k, k2 in (("vendor", "vendor_id"),
                                                       ("family", "cpu family"),
                                                       ("model", "model")) if k2 in fields)
    return (f"{cpu}" + (f" ({ids}{', ' + isa if isa else ''})" if ids else "")
            + f", {os.cpu_count()} logical CPUs, Linux {platform.release()}")


def opencl_gpus(exe):
    """The OpenCL GPUs densecl sees, as `densecl info` lists them ("0:0  GPU  name ...")."""
    r = subprocess.run([exe, "info"], capture_output=True, text=True)
    if r.returncode != 0:
        return [], r.stderr.strip()
    gpus = [line.strip() for line in r.stdout.splitlines()
            if re.match(r"^\s+\d+:\d+\s+GPU\s", line)]
    return gpus, r.stdout.strip()


def main_gpu(args):
    """--device gpu: densecl on the OpenCL GPU against PyTorch CUDA fp32, eager and graphed."""
    if not torch.cuda.is_available():
        print(f"compare_pytorch: --device gpu needs PyTorch with CUDA and a CUDA device; this "
              f"PyTorch ({torch.__version__}) sees none", file=sys.stderr)
        return 2
    if not os.path.exists(args.densecl):
        print(f"compare_pytorch: no densecl at {args.densecl} (--densecl)", file=sys.stderr)
        return 2
    gpus, info = opencl_gpus(args.densecl)
    if not gpus:
        print(f"compare_pytorch: --device gpu: densecl sees no OpenCL GPU (is the vendor's ICD "
              f"in /etc/OpenCL/vendors or OCL_ICD_VENDORS?); `densecl info` says:\n{info}",
              file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    has_graph = hasattr(torch.cuda, "CUDAGraph") and hasattr(torch.cuda, "graph")
    cuda_name = torch.cuda.get_device_name(0)
    raw = {"machine": machine(), "torch": torch.__version__, "cuda_device": cuda_name,
           "opencl_gpus": gpus, "conv": args.conv, "workloads": []}
    rows = []
    for label, model, batch, side, metric in GPU_WORKLOADS:
        net = torch_model(model).eval().to("cuda")
        ds, es, gs, r_e, r_g = [], [], [], [], []
        for _ in range(max(1, args.rounds)):
            try:
                d = bench_densecl(args.densecl, model, batch, side, args.iterations,
                                  args.warmup, "gpu", args.conv)
            except subprocess.CalledProcessError as e:
                print(f"compare_pytorch: densecl bench failed on {label}: "
                      f"{(e.stderr or '').strip()}", file=sys.stderr)
                return 1
            t = bench_torch_cuda(net, batch, side, args.iterations, args.warmup, False)
            g = None
            if has_graph:
                try:
                    g = bench_torch_cuda(net, batch, side, args.iterations, args.warmup, True)
                except RuntimeError as e:  # a capture this PyTorch or model refuses
                    print(f"# {label}: no CUDA graph: {e}", file=sys.stderr)
                    torch.cuda.synchronize()
            ds.append(d)
            es.append(t)
            # > 1: densecl is faster (less time per image, more images per second)
            r_e.append(t[metric] / d[metric] if metric == "ms_per_image" else
                       d[metric] / t[metric])
            if g:
                gs.append(g)
                r_g.append(g[metric] / d[metric] if metric == "ms_per_image" else
                           d[metric] / g[metric])
            print(f"# {label}: densecl {d[metric]:.2f}, PyTorch eager {t[metric]:.2f}"
                  + (f", graph {g[metric]:.2f}" if g else "") + f" {metric}", file=sys.stderr)
        del net
        torch.cuda.empty_cache()
        unit = "ms/image" if metric == "ms_per_image" else "images/s"

        def med(xs):
            return f"{statistics.median(x[metric] for x in xs):.2f} {unit}" if xs else "n/a"
        rows.append((label, med(ds), med(es), med(gs), r_e, r_g))
        raw["workloads"].append({"label": label, "metric": metric, "densecl": ds,
                                 "torch_eager": es, "torch_graph": gs, "ratios_eager": r_e,
                                 "ratios_graph": r_g})
    device = raw["workloads"][0]["densecl"][0].get("device", gpus[0])

    def per_round(ratios):
        return ", ".join(f"{r:.2f}x" for r in ratios) if ratios else "n/a"

    def median_ratio(ratios):
        return f"{statistics.median(ratios):.2f}x" if ratios else "n/a"
    conv = f", conv family `{args.conv}`" if args.conv else ""
    print(f"Machine: {raw['machine']}; densecl on `{device}` (OpenCL){conv}; PyTorch "
          f"{torch.__version__} on `{cuda_name}` (CUDA, fp32: TF32 off, cuDNN benchmark), eager"
          f"{' and replaying a CUDA graph' if has_graph else ' (no CUDA graphs in this PyTorch)'}"
          f"; both timed host to host (input up, logits down); {args.rounds} rounds of densecl "
          f"then PyTorch, each the median of {args.iterations} runs after {args.warmup} warm-up "
          f"runs; medians over the rounds. Speed-up > 1: densecl is faster.\n")
    print("| workload | densecl | PyTorch eager | PyTorch CUDA graph | speed-up vs eager "
          "(per round) | speed-up vs graph (per round) |")
    print("|---|---|---|---|---|---|")
    for label, d, e, g, r_e, r_g in rows:
        print(f"| {label} | {d} | {e} | {g} | {median_ratio(r_e)} ({per_round(r_e)}) | "
              f"{median_ratio(r_g)} ({per_round(r_g)}) |")
    if args.json:
        safe_output.write_bytes(args.json, json.dumps(raw, indent=1).encode(), prog=PROG)
    return 0


PROG = "compare_pytorch.py"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--densecl", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                      "build", "bin", "densecl"))
    ap.add_argument("--device", default=None,
                    help="densecl's device; 'gpu': the GPU comparison against PyTorch CUDA")
    ap.add_argument("--conv", default=None,
                    help="densecl's conv family (auto, direct, gemm, clblast, winograd), passed to its bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="also write the raw numbers here")
    ap.add_argument("--ort-dir", default=None,
                    help="the venv tools/dev/install_onnxruntime.sh made (default: "
                         "$DENSECL_ORT_DIR, else third_party/onnxruntime-venv, else this "
                         "interpreter's onnxruntime)")
    ap.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    ap.add_argument("--workloads", default=None,
                    help="which CPU workloads, by number (comma-separated; default 1-3): 1-2 "
                         "DenseNet-121 batch 1 and 8, 3 DenseNet-BC-100 batch 64, 4-6 "
                         "DenseNet-169, 201 and 161 at batch 1")
    ap.add_argument("--no-startup", action="store_true",
                    help="leave out the start-up of densecl run (CPU comparison)")
    args = ap.parse_args()
    try:  # before minutes of timing: an output that cannot be written is said now
        safe_output.check_outputs([("--json", args.json)], [("--densecl", args.densecl)], PROG)
    except safe_output.OutputError as exc:
        sys.exit(f"{PROG}: error: {exc}")
    torch.set_num_threads(args.threads)
    if args.device == "gpu":
        sys.exit(main_gpu(args))
    sys.exit(main_cpu(args))


def main_cpu(args):
    """The CPU comparison: densecl, ONNX Runtime and PyTorch in interleaved rounds."""
    workloads = WORKLOADS[:DEFAULT_WORKLOADS]
    if args.workloads:
        try:
            picks = [int(w) for w in args.workloads.split(",")]
            workloads = [WORKLOADS[i - 1] for i in picks if i >= 1]
            if len(workloads) != len(picks):
                raise IndexError
        except (ValueError, IndexError):
            print(f"compare_pytorch: --workloads takes numbers 1 to {len(WORKLOADS)}, "
                  f"got '{args.workloads}'", file=sys.stderr)
            return 2
    ort_why = ort_missing(args)
    if ort_why:
        print(f"# ONNX Runtime: {ort_why}", file=sys.stderr)
    rows, raw = [], {"machine": machine(), "torch": torch.__version__,
                     "threads": args.threads, "onnxruntime": ort_why, "workloads": []}
    ort_version = None
    tmp = tempfile.TemporaryDirectory()
    for label, model, batch, side, metric in workloads:
        net = torch_model(model).eval()
        onnx_path = None
        if not ort_why:
            onnx_path = os.path.join(tmp.name, f"{model}-{batch}x{side}.onnx")
            export_onnx(net, batch, side, onnx_path)
        ds, ts, os_, ratios, ort_ratios = [], [], [], [], []
        for _ in range(max(1, args.rounds)):
            try:
                d = bench_densecl(args.densecl, model, batch, side, args.iterations,
                                  args.warmup, args.device)
            except subprocess.CalledProcessError as e:
                print(f"compare_pytorch: densecl bench failed on {label}: "
                      f"{(e.stderr or '').strip()}", file=sys.stderr)
                return 1
            o = None
            if onnx_path:
                try:
                    o = bench_ort(args, onnx_path, batch, side)
                    ort_version = o.get("version")
                except subprocess.CalledProcessError as e:
                    print(f"compare_pytorch: ONNX Runtime failed on {label}: "
                          f"{(e.stderr or '').strip()}", file=sys.stderr)
                    return 1
            t = bench_torch(net, batch, side, args.iterations, args.warmup)
            ds.append(d)
            ts.append(t)

            # > 1: densecl is faster (less time per image, more images per second)
            def ratio(peer):
                return (peer[metric] / d[metric] if metric == "ms_per_image" else
                        d[metric] / peer[metric])
            ratios.append(ratio(t))
            if o:
                os_.append(o)
                ort_ratios.append(ratio(o))
            print(f"# {label}: densecl {d[metric]:.2f}"
                  + (f", ONNX Runtime {o[metric]:.2f}" if o else "")
                  + f", PyTorch {t[metric]:.2f} {metric}", file=sys.stderr)
        unit = "ms/image" if metric == "ms_per_image" else "images/s"

        def med(xs):
            if not xs:
                return "n/a"
            each = ", ".join(f"{x[metric]:.1f}" for x in xs)
            return f"{statistics.median(x[metric] for x in xs):.1f} {unit} ({each})"
        rows.append((label, med(ds), med(os_), med(ts),
                     statistics.median(ort_ratios) if ort_ratios else None, ort_ratios,
                     statistics.median(ratios), ratios))
        raw["workloads"].append({"label": label, "metric": metric, "densecl": ds, "torch": ts,
                                 "onnxruntime": os_, "ratios": ratios,
                                 "ratios_onnxruntime": ort_ratios})
    tmp.cleanup()

    cold = warm = None
    if not args.no_startup:
        colds, warms = startup(args.densecl, args.device, args.rounds)
        raw["startup"] = {"cold_s": colds, "warm_s": warms}
        cold, warm = statistics.median(colds), statistics.median(warms)
        spread = (f"median of {len(colds)}: " + ", ".join(f"{c:.2f}" for c in colds) + " s"
                  if len(colds) > 1 else "one run")
        wspread = ", ".join(f"{w:.2f}" for w in warms) + " s"

    device = raw["workloads"][0]["densecl"][0]["device"]

    def per_round(ratios):
        return ", ".join(f"{r:.2f}x" for r in ratios) if ratios else "n/a"

    def x(r):
        return f"{r:.2f}x" if r is not None else "n/a"
    ort_name = (f"ONNX Runtime {ort_version} (PyPI onnxruntime, {args.threads} intra-op "
                f"threads)" if ort_version else f"ONNX Runtime {ort_why}")
    if args.markdown:
        print(f"Machine: {raw['machine']}; densecl on `{device}` (POCL), {ort_name}, PyTorch "
              f"{torch.__version__} CPU with {args.threads} threads; {args.rounds} rounds of "
              f"densecl, ONNX Runtime then PyTorch, each the median of {args.iterations} runs "
              f"after {args.warmup} warm-up runs; medians over the rounds (each round's value "
              f"in brackets). Speed-up > 1: densecl is faster.\n")
        print("| workload | densecl | ONNX Runtime | PyTorch | speed-up vs ONNX Runtime (per "
              "round) | speed-up vs PyTorch (per round) |")
        print("|---|---|---|---|---|---|")
        for label, d, o, t, ro, ros, r, rs in rows:
            print(f"| {label} | {d} | {o} | {t} | {x(ro)} ({per_round(ros)}) | "
                  f"{x(r)} ({per_round(rs)}) |")
        if cold is not None:
            print(f"| start-up: first `densecl run`, empty caches | {cold:.2f} s | | | {spread} "
                  f"| |")
            print(f"| start-up: later `densecl run` | {warm:.2f} s | | | {wspread} | |")
    else:
        print(f"machine: {raw['machine']}")
        print(f"densecl device: {device}; {ort_name}; PyTorch {torch.__version__}, "
              f"{args.threads} threads")
        for label, d, o, t, ro, ros, r, rs in rows:
            print(f"{label}\n  densecl      {d}\n  ONNX Runtime {o}\n  PyTorch      {t}\n"
                  f"  densecl vs ONNX Runtime {x(ro)} ({per_round(ros)}), vs PyTorch {x(r)} "
                  f"({per_round(rs)})")
        if cold is not None:
            print(f"start-up (densenet121, 1 image): cold {cold:.2f} s ({spread}), "
                  f"warm {warm:.2f} s ({wspread})")
    if args.json:
        safe_output.write_bytes(args.json, json.dumps(raw, indent=1).encode(), prog=PROG)
    return 0


if __name__ == "__main__":
    main()
