#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Python module's batches, folders, engine options, preprocessing and C strings (issues 24
and 25), against the CLI and torchvision, from the source tree (DENSECL_LIBRARY names the built
libdensecl.so, PYTHONPATH the python/ folder).

  module_features_test.py FIXTURES DENSECL SCRATCH

FIXTURES is gen_folders.py's directory (a 48x48 model without metadata, ImageFolder trees),
DENSECL the CLI. Checks, each a failure when wrong:
  - classify_batches streams: batches of batch_size in input order, progress after each, at
    most one job in flight between batches; a directory is its images in ImageFolder's order;
    the results are `densecl classify --json`'s;
  - truth="folders" and evaluate(): the class folders as the CLI matches them (by name, else by
    sorted position with a warning, refused when partly named); list_images / ImageFolder
    against torchvision.datasets.ImageFolder;
  - the preprocessing: a PreprocessingWarning once, saying what was assumed; Engine(preprocess=
    ...) sets fields, and a size that contradicts the graph's static input is refused naming it;
  - Engine options: threads (the sub-device's compute units), conv and kernel_params, a kernels
    binary from `densecl compile-kernels`, the gpu|cpu fallback; bad values refused;
  - paths, device specs and other strings with an embedded NUL raise ValueError, as open()
    does, instead of being cut at the NUL.
"""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import torchvision

import densecl

fx, cli, scratch = (os.path.abspath(a) for a in sys.argv[1:4])
os.makedirs(scratch, exist_ok=True)
os.chdir(fx)
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def raises(exc, text, fn):
    try:
        fn()
    except exc as e:
        return text in str(e)
    return False


def run_cli(*args):
    return subprocess.run([cli] + list(args), capture_output=True, text=True)


w = densecl.Weights("model48.onnx")
engine = densecl.Engine(w, device="cpu")

# --- batches and streaming ----------------------------------------------------------------------
seen, in_flight = [], []
batches = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for batch in engine.classify_batches("tree", top=3, batch_size=4, truth="folders",
                                         progress=lambda d, t: seen.append((d, t))):
        batches.append(batch)
        in_flight.append(len(engine._pending))
assumed = [c for c in caught if issubclass(c.category, densecl.PreprocessingWarning)]
check([len(b) for b in batches] == [4, 4, 1] and seen == [(4, 9), (8, 9), (9, 9)] and
      [r.index for b in batches for r in b] == list(range(9)),
      f"classify_batches: batches {[len(b) for b in batches]}, progress {seen}")
check(max(in_flight) <= 1, f"at most one job in flight between batches: {in_flight}")
check(len(assumed) == 1 and all(r.truth == t for r, (_, t) in zip(
      [r for b in batches for r in b], torchvision.datasets.ImageFolder("tree").samples)) and "model48.onnx has no preprocessing metadata: assuming resize=48, "
      "size=48, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225) (the input size its ONNX "
      "graph declares" in str(assumed[0].message), f"one PreprocessingWarning: {assumed}")
results = [r for b in batches for r in b]
tv = torchvision.datasets.ImageFolder("tree")
check([r.input for r in results] == [p for p, _ in tv.samples],
      "a directory's images in torchvision ImageFolder's order")
doc = run_cli("classify", "--weights", "model48.onnx", "--top", "3", "--json", "tree")
plain = engine.classify("tree", top=3, batch_size=3)
if doc.returncode == 0:
    rows = json.loads(doc.stdout)["images"]
    got = [[(c, p) for c, _, p in t] for t in plain]
    want = [[(t["class_id"], t["probability"]) for t in row["top"]] for row in rows]
    same = len(got) == len(want) == 10 and all(
        [c for c, _ in g] == [c for c, _ in h] and np.allclose([p for _, p in g],
                                                               [p for _, p in h], atol=2e-6)
        for g, h in zip(got, want))
    check(same, "classify(folder) = `densecl classify --json` on the same folder")
else:
    check(False, f"densecl classify --json: {doc.stderr}")
check(densecl.list_images("tree") == [r["input"] for r in json.loads(doc.stdout)["images"]],
      "list_images = the CLI's folder walk")
check(engine.classify(["tree/cat/cat1.png"], top=2) == [results[0].top[:2]],
      "classify() = classify_batches' results")

# --- folders as truth ------------------------------------------------------------------------------
folder = densecl.image_folder("tree")
check(folder.classes == tv.classes and folder.samples == tv.samples and folder.skipped == 3,
      f"ImageFolder = torchvision's (skipped {folder.skipped})")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    acc = engine.evaluate("tree", batch_size=5)
check(acc["images"] == 9 and acc["top1"] == 1.0 and
      any("sorted order is class i" in str(c.message) for c in caught),
      f"evaluate(tree): {acc}, by sorted position with a warning")
engine.labels = ["zebra", "ant", "moth"]
acc = engine.evaluate("named")
check(acc["images"] == 9 and acc["top1"] == 1.0, f"evaluate(named), folders by name: {acc}")
engine.labels = ["zebra", "ant", "bee"]
check(raises(densecl.Error, "1 of the 3 class folders are not class names of the model ('moth')",
             lambda: engine.evaluate("named")), "folders partly named: refused")
engine.labels = None
check(raises(ValueError, "takes directories", lambda: list(
    engine.classify_batches("tree/cat/cat1.png", truth="folders"))),
    "truth=\"folders\" takes directories")

# --- preprocessing fields ---------------------------------------------------------------------------
check(raises(densecl.Error, "index: 2 Got: 64 Expected: 48",
             lambda: densecl.Engine(w, preprocess={"size": 64})),
      "Engine(preprocess={'size': 64}) refused with the declared shape")
check(raises(ValueError, "unknown preprocess field", lambda: densecl.Engine(w, preprocess={
    "sizes": 48})), "an unknown preprocess field is refused")
given = densecl.Engine(w, preprocess={"size": 48, "resize": 48, "mean": [0.485, 0.456, 0.406],
                                      "std": [0.229, 0.224, 0.225]})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    top = given.classify("tree", top=3)
check(given.preprocessing["source"] == "given" and not caught and
      [t[0][0] for t in top] == [t[0][0] for t in plain],
      f"every field given: nothing assumed, no warning ({given.preprocessing['source']})")
given.close()
check(w.preprocessing_for(size=48, crop=None, resize=(48, 48))["crop_height"] == 0,
      "Weights.preprocessing_for: crop None, an exact resize")

# --- engine options --------------------------------------------------------------------------------
x = np.random.default_rng(3).standard_normal((3, 3, 48, 48)).astype(np.float32)
want = engine.run(x)
one = densecl.Engine(w, device="gpu|cpu", threads=1)
check(one.device["compute_units"] == 1 and np.array_equal(one.run(x), want),
      f"threads=1: {one.device['compute_units']} compute unit, the same logits")
one.close()
direct = densecl.Engine(w, device="cpu", conv="direct", kernel_params="direct:1x1=4x16,conv=8x2")
check(np.allclose(direct.run(x), want, rtol=1e-5, atol=1e-6), "conv and kernel_params")
direct.close()
binary = os.path.join(scratch, "kernels.bin")
made = run_cli("compile-kernels", "--device", "cpu", "--out", binary)
check(made.returncode == 0, f"densecl compile-kernels: {made.stderr}")
if made.returncode == 0:
    fromb = densecl.Engine(w, device="cpu", kernels_binary=binary, no_kernel_cache=True)
    check(np.allclose(fromb.run(x), want, rtol=1e-5, atol=1e-6), "kernels_binary")
    fromb.close()
check(raises(densecl.Error, "conv", lambda: densecl.Engine(w, conv="no-such-family")),
      "a bad conv family is refused")
check(raises(ValueError, "threads", lambda: densecl.Engine(w, threads=-2)),
      "a negative thread count is refused")

# --- C strings: a NUL is refused, never cut at --------------------------------------------------
for what, fn in (
        ("Weights(path\\0.txt)", lambda: densecl.Weights("model48.onnx\0.txt")),
        ("Engine(device='cpu\\0gpu')", lambda: densecl.Engine(w, device="cpu\0gpu")),
        ("Engine(conv=...)", lambda: densecl.Engine(w, conv="direct\0x")),
        ("Engine(kernels_binary=...)", lambda: densecl.Engine(w, kernels_binary=binary + "\0")),
        ("classify(path\\0)", lambda: engine.classify(["tree/cat/cat1.png\0x"])),
        ("load_image(path\\0)", lambda: w.load_image("tree/cat/cat1.png\0")),
        ("metadata(key\\0)", lambda: w.metadata("densecl.labels\0x")),
        ("Weights(bytes path)", lambda: densecl.Weights(b"model48.onnx\0"))):
    check(raises(ValueError, "embedded null byte", fn), f"{what}: ValueError, as open()")

engine.close()
w.close()
print(f"module_features_test: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
