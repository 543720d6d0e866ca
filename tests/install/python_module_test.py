#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The installed Python module `densecl` against torchvision and the CLI (run by install_test.sh).

  python_module_test.py PREFIX SOURCE_DIR SCRATCH

PREFIX is an install tree: the module must come from it (PYTHONPATH set by the caller) and load
PREFIX's libdensecl.so. Checks, each a failure when wrong:
  - __version__, devices(), Weights' config, labels and preprocess of the shipped model;
  - Engine.run logits against torchvision's forward (the shipped Fashion-MNIST model, and a
    seeded 3-channel DenseNet-BC): max|diff| <= 1e-4 x max|expected|, same argmax;
  - classify() of arrays against softmax(run); of PNG files (resize, crop, grey and RGBA) against
    torch's own preprocessing (tests/generators/classify_reference.py) and against
    `densecl classify --json`;
  - Weights.preprocessing and image_to_input (the library's densecl_weights_preprocess and
    densecl_image_to_input): the tensors of tests/unit/data/image_to_input/ bit for bit from
    lossless PNGs PIL decodes as stb does, and the argument checks;
  - errors: densecl.Error with the status name and densecl_last_error()'s text;
  - Engine.start / Job.wait: jobs of different shapes waited for out of order, a pipeline, a
    wait on another thread: run()'s logits bit for bit, and two jobs' and one pipelined
    batch's against torchvision too; a second wait raises; input errors raise at start; jobs
    dropped without wait, and an engine closed with jobs open, are safe;
  - one engine shared by four threads gives each its own results, one batch torchvision's.
"""

import gc
import json
import os
import subprocess
import sys
import threading

import numpy as np
import torch

prefix, source, scratch = (os.path.abspath(a) for a in sys.argv[1:4])
sys.path.insert(0, os.path.join(source, "tests", "generators"))
import classify_reference as ref  # noqa: E402

import densecl  # noqa: E402

RTOL = 1e-4
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def compare(what, expected, got):
    expected = np.asarray(expected, np.float64)
    got64 = np.asarray(got, np.float64)
    diff = float(np.abs(got64 - expected).max()) if got64.shape == expected.shape else np.inf
    limit = RTOL * float(np.abs(expected).max())
    same_argmax = got64.shape == expected.shape and bool(
        (got64.argmax(-1) == expected.argmax(-1)).all())
    check(diff <= limit and same_argmax and np.isfinite(got64).all(),
          f"{what}: max|diff| {diff:.3g} (limit {limit:.3g}), argmax "
          f"{'same' if same_argmax else 'DIFFERS'}")


def expect_error(what, status_name, needle, fn):
    try:
        fn()
    except densecl.Error as exc:
        check(exc.status_name == status_name and needle in str(exc) and needle in exc.detail,
              f"{what}: densecl.Error {exc.status_name}: {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - any other kind is the failure being tested for
        check(False, f"{what}: {type(exc).__name__}: {exc}, expected densecl.Error {status_name}")
        return
    check(False, f"{what}: no error, expected densecl.Error {status_name}")


def expect_value_error(what, needle, fn):
    """fn() must raise ValueError whose text holds needle."""
    try:
        fn()
        check(False, f"{what}: accepted")
    except ValueError as exc:
        check(needle in str(exc), f"{what}: ValueError: {exc}")


def torch_logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- where it came from -------------------------------------------------------------------------
module_dir = os.path.dirname(os.path.abspath(densecl.__file__))
check(module_dir.startswith(prefix + os.sep), f"module imported from the install: {module_dir}")
lib_path = os.path.realpath(densecl._lib._name)
check(lib_path.startswith(os.path.realpath(prefix) + os.sep),
      f"libdensecl.so loaded from the install: {lib_path}")
check(isinstance(densecl.__version__, str) and densecl.__version__.count(".") == 2,
      f"__version__ {densecl.__version__!r}")
devs = densecl.devices()
check(len(devs) >= 1 and all(d["name"] and d["type"] for d in devs),
      f"devices(): {[(d['spec'], d['type'], d['name']) for d in devs]}")

# --- the shipped model against torchvision --------------------------------------------------------
fashion = os.path.join(prefix, "share", "densecl", "densenet-fashion.safetensors")
w = densecl.Weights(fashion)
check(w.config["in_channels"] == 1 and w.config["num_classes"] == 10 and
      w.config["block_layers"] == [4, 4, 4] and w.config["stem"] == "cifar",
      f"Weights.config {w.config}")
check(w.labels is not None and len(w.labels) == 10 and w.labels[9] == "Ankle boot",
      f"Weights.labels {w.labels}")
check(w.preprocess is not None and w.preprocess.get("height") == 28,
      f"Weights.preprocess {w.preprocess}")
model, _, _ = ref.load_model(fashion)
engine = densecl.Engine(w, device="auto")
w.close()  # the engine keeps no reference to the weights
rng = np.random.default_rng(7)
x = rng.standard_normal((5, 1, 28, 28)).astype(np.float32)
expected = torch_logits(model, x)
logits = engine.run(x)
check(logits.dtype == np.float32 and logits.shape == (5, 10), f"run() gives {logits.dtype} "
      f"{list(logits.shape)}")
compare("Fashion-MNIST model, run() vs torchvision", expected, logits)

probs = torch.softmax(torch.from_numpy(expected.astype(np.float64)), 1).numpy()
top = engine.classify(x, top=3)
check(len(top) == 5 and all(len(t) == 3 for t in top), "classify(array [N,C,H,W]): 5 x top 3")
got = np.array([[p for _, _, p in t] for t in top])
want = np.sort(probs, 1)[:, ::-1][:, :3]
check(all(t[0][0] == int(probs[i].argmax()) for i, t in enumerate(top)) and
      float(np.abs(got - want).max()) <= 1e-4 and top[0][0][1] == w.labels[top[0][0][0]],
      f"classify(array) = softmax(torchvision) (max|diff| {float(np.abs(got - want).max()):.2g})")
one = engine.classify(x[2])
check(len(one) == 1 and one[0][0][0] == top[2][0][0] and len(one[0]) == 5,
      "classify(array [C,H,W])")

# --- a seeded 3-channel model with resize + crop metadata, and image files ---------------------
os.makedirs(scratch, exist_ok=True)
rgb_model = os.path.join(scratch, "rgb.safetensors")
pp = {"resize": 40, "crop": 32, "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]}
labels = ["zero", "one", "two", "three", "four", "five"]
ref.make_model(rgb_model, 3, 6, preprocess=pp, labels=labels, seed=3)
torch_model, config, metadata = ref.load_model(rgb_model)
w3 = densecl.Weights(rgb_model)
check(w3.labels == labels and w3.preprocess["crop"] == 32, "Weights of the RGB model")
e3 = densecl.Engine(w3)
x3 = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
compare("seeded DenseNet-BC (3 channels), run() vs torchvision", torch_logits(torch_model, x3),
        e3.run(x3))

img_rng = np.random.default_rng(11)
images = {"wide.png": ref.smooth_image(img_rng, 50, 70, 3),
          "tall.png": ref.smooth_image(img_rng, 90, 41, 3),
          "grey.png": ref.smooth_image(img_rng, 37, 33, 1),
          "rgba.png": ref.smooth_image(img_rng, 45, 45, 4)}
paths = []
ref_pp = ref.preprocess_params(metadata, config)
want_inputs = []
for name, pixels in images.items():
    path = os.path.join(scratch, name)
    ref.write(path, ref.png_bytes(pixels))
    paths.append(path)
    want_inputs.append(ref.to_model_input(pixels, ref_pp).numpy().reshape(3, 32, 32))
    got_input = w3.load_image(path)
    d = float(np.abs(got_input - want_inputs[-1]).max())
    check(got_input.shape == (3, 32, 32) and d <= 1e-5,
          f"load_image({name}) vs torch's preprocessing: max|diff| {d:.2g}")
want_logits = torch_logits(torch_model, np.stack(want_inputs).astype(np.float32))
want_probs = torch.softmax(torch.from_numpy(want_logits.astype(np.float64)), 1).numpy()
top = e3.classify(paths, top=6)
got = np.array([[p for _, _, p in sorted(t)] for t in top])
d = float(np.abs(got - want_probs).max())
check(d <= 1e-4 and all(t[0][0] == int(want_probs[i].argmax()) for i, t in enumerate(top)),
      f"classify(paths) vs torchvision's preprocessing and model: max|diff| {d:.2g}")

cli = subprocess.run([os.path.join(prefix, "bin", "densecl"), "classify", "--weights", rgb_model,
                      "--top", "6", "--json"] + paths, capture_output=True, text=True)
check(cli.returncode == 0, f"densecl classify --json (status {cli.returncode}) {cli.stderr}")
if cli.returncode == 0:
    doc = json.loads(cli.stdout)
    rows = next(v for v in doc.values() if isinstance(v, list) and v and "top" in v[0])
    cli_probs = np.array([[e["probability"] for e in sorted(r["top"], key=lambda e: e["class_id"])]
                          for r in rows])
    d = float(np.abs(got - cli_probs).max())
    check(d <= 1e-4, f"classify(paths) vs `densecl classify`: max|diff| {d:.2g}")

# --- the library's preprocessing: Weights.preprocessing, image_to_input ----------------------------
check(w3.preprocessing == {"channels": 3, "height": 32, "width": 32, "resize": 40,
                           "resize_height": 0, "resize_width": 0, "crop_height": 32,
                           "crop_width": 32, "mean": [0.5, np.float32(0.4), np.float32(0.3)],
                           "std": [0.25, np.float32(0.2), np.float32(0.3)],
                           "source": "metadata"}, f"Weights.preprocessing {w3.preprocessing}")
check(e3.preprocessing == w3.preprocessing, "Engine.preprocessing")
fixtures = os.path.join(source, "tests", "unit", "data", "image_to_input")
small = {"channels": 3, "height": 16, "width": 16, "resize": 20, "crop_height": 16,
         "crop_width": 16, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
grey = {"channels": 1, "height": 8, "width": 12, "resize_height": 12, "resize_width": 18,
        "crop_height": 10, "crop_width": 14, "mean": 0.5, "std": 0.25}
for name in ("rgb8_37x23.png", "rgba8_23x37.png", "grey8_33x27.png", "grey16_21x15.png"):
    for case, pp in (("small", small), ("grey", grey)):
        px = densecl._decode(os.path.join(fixtures, name))
        got = densecl.image_to_input(pp, px)
        want = np.fromfile(os.path.join(fixtures, f"{name}.{case}.f32"), np.float32)
        check(got.dtype == np.float32 and got.tobytes() == want.tobytes(),
              f"image_to_input({name}, {case}) = the CLI's tensor, bit for bit")
expect_error("image_to_input(std 0)", "DENSECL_ERR_ARGUMENT", "std",
             lambda: densecl.image_to_input(dict(small, std=[0.2, 0.0, 0.2]),
                                            np.zeros((5, 5, 3), np.uint8)))
expect_error("image_to_input(5 channels)", "DENSECL_ERR_ARGUMENT", "channels",
             lambda: densecl.image_to_input(small, np.zeros((5, 5, 5), np.uint8)))
expect_value_error("image_to_input(float32 pixels)", "uint8 or uint16",
                   lambda: densecl.image_to_input(small, np.zeros((5, 5, 3), np.float32)))
bare = os.path.join(scratch, "bare.safetensors")
ref.make_model(bare, 1, 4, seed=5)
wb = densecl.Weights(bare)
check(wb.preprocessing is None and "densecl.preprocess" in (wb.preprocessing_error or "") and
      wb.labels is None, f"Weights without metadata: {wb.preprocessing_error}")
expect_error("load_image() without preprocessing", "DENSECL_ERR_UNSUPPORTED",
             "densecl.preprocess", lambda: wb.load_image(paths[0]))
wb.close()

# --- errors -------------------------------------------------------------------------------------
missing = os.path.join(scratch, "no-such-file.safetensors")
expect_error("Weights(missing file)", "DENSECL_ERR_IO", missing, lambda: densecl.Weights(missing))
garbage = os.path.join(scratch, "garbage.safetensors")
ref.write(garbage, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
expect_error("Weights(malformed file)", "DENSECL_ERR_FORMAT", garbage,
             lambda: densecl.Weights(garbage))
wr = densecl.Weights.random("densenet-bc-100-k12", seed=1)
expect_error("Engine(unknown device)", "DENSECL_ERR_NO_DEVICE", "no-such-device-xyz",
             lambda: densecl.Engine(wr, device="no-such-device-xyz"))
expect_error("run(3 channels into a 1-channel model)", "DENSECL_ERR_INPUT", "channel",
             lambda: engine.run(np.zeros((1, 3, 28, 28), np.float32)))
expect_error("classify(missing image)", "DENSECL_ERR_IO", "nothing.png",
             lambda: e3.classify([os.path.join(scratch, "nothing.png")]))
for what, bad in (("float64", np.zeros((1, 1, 28, 28))),
                  ("not C-contiguous", np.zeros((1, 1, 28, 56), np.float32)[..., ::2])):
    expect_value_error(f"run({what})", "C-contiguous float32", lambda: engine.run(bad))

# --- runs that do not block: Engine.start -> Job, Job.wait -------------------------------------
# Same engine, same kernels: each job's logits must be run()'s bit for bit, whatever the order.
shapes = [(3, 1, 28, 28), (1, 1, 28, 28), (4, 1, 28, 28), (2, 1, 32, 32)]
inputs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
jobs = [engine.start(a) for a in inputs]
check(all(isinstance(j, densecl.Job) for j in jobs), "start() gives densecl.Job")
waited = {}
for i in (2, 0, 3, 1):
    got = waited[i] = jobs[i].wait()
    want = engine.run(inputs[i])
    check(got.dtype == np.float32 and got.shape == (shapes[i][0], 10) and
          np.array_equal(got, want), f"start({list(shapes[i])}), waited out of order: run()'s "
          "logits bit for bit")
expect_value_error("Job.wait() twice", "already waited", jobs[0].wait)
# Not only run()'s numbers: a job at 28x28 and the one at 32x32 against torchvision.
for i in (0, 3):
    compare(f"start({list(shapes[i])}).wait() vs torchvision", torch_logits(model, inputs[i]),
            waited[i])

# The job keeps its input alive: the caller's only reference is gone before the wait. Arrays that
# are not C-contiguous float32 are copied into one that is.
kept = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
want = engine.run(kept)
job = engine.start(kept.copy())
gc.collect()
check(np.array_equal(job.wait(), want), "start(temporary array): the job keeps it alive")
wide = np.zeros((2, 1, 28, 56), np.float64)
wide[..., ::2] = kept
check(np.array_equal(engine.start(wide[..., ::2]).wait(), want),
      "start(float64, not C-contiguous): converted, run()'s logits")

# A pipeline, as README shows it: start batch i+1, then wait for batch i.
stream = [rng.standard_normal((1 + i % 3, 1, 28, 28)).astype(np.float32) for i in range(5)]
piped, previous = [], None
for b in stream:
    job = engine.start(b)
    if previous is not None:
        piped.append(previous.wait())
    previous = job
piped.append(previous.wait())
check(all(np.array_equal(p, engine.run(b)) for p, b in zip(piped, stream)),
      "pipelined start/wait of 5 batches = run()'s logits")
compare("pipelined batch 2 (3 images) vs torchvision", torch_logits(model, stream[2]), piped[2])

# Started on one thread, waited for on another.
job = engine.start(stream[0])
box = []
t = threading.Thread(target=lambda: box.append(job.wait()))
t.start()
t.join()
check(len(box) == 1 and np.array_equal(box[0], piped[0]), "Job.wait() on another thread")

expect_error("start(3 channels into a 1-channel model)", "DENSECL_ERR_INPUT", "channel",
             lambda: engine.start(np.zeros((1, 3, 28, 28), np.float32)))
expect_value_error("start([C, H, W])", "[N, C, H, W]",
                   lambda: engine.start(np.zeros((1, 28, 28), np.float32)))
check(not engine._pending, "no job left open on the engine after the waits and the failed starts")

# Jobs never waited for: one dropped (waited for by its garbage collection), one still held when
# the engine closes (close() waits for it; its wait() then gives the logits), one dropped after.
wd = densecl.Weights(fashion)
ed = densecl.Engine(wd, device="auto")
wd.close()
dropped = ed.start(inputs[0])
record = dropped._p  # what the engine holds for the C job until its wait
del dropped
gc.collect()
check(record.h is None and record.x is None and not ed._pending,
      "a job dropped without wait(): waited for when collected")
held = ed.start(inputs[2])
forgotten = ed.start(inputs[1])
records = [held._p, forgotten._p]
check(len(ed._pending) == 2 and all(r.h for r in records), "two jobs open on the engine")
ed.close()
check(all(r.h is None and r.x is None for r in records) and not ed._pending,
      "Engine.close() with two jobs open: waited for both, no crash")
check(np.array_equal(held.wait(), engine.run(inputs[2])),
      "wait() after Engine.close() waited for the job: its logits")
del forgotten
gc.collect()
expect_value_error("start() after close()", "", lambda: ed.start(inputs[0]))

# --- one engine, four threads ---------------------------------------------------------------------
batches = [rng.standard_normal((2 + i, 1, 28, 28)).astype(np.float32) for i in range(4)]
serial = [engine.run(b) for b in batches]
results = [None] * 4


def worker(i):
    for _ in range(3):
        results[i] = engine.run(batches[i])


threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(all(r is not None and np.allclose(r, s, rtol=1e-6, atol=1e-6)
          for r, s in zip(results, serial)), "four threads sharing one engine")
if results[3] is not None:
    compare("four threads: the last thread's batch vs torchvision",
            torch_logits(model, batches[3]), results[3])
else:
    check(False, "four threads: the last thread gave no result")
engine.close()
expect_value_error("run() after close()", "", lambda: engine.run(batches[0]))
e3.close()

print(f"python_module_test: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
