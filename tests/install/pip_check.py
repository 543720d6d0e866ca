# SPDX-License-Identifier: MIT
"""An installed densecl module, as a user's script meets it (run by tests/install/pip_test.sh).

  pip_check.py MODULE_DIR LIBRARY VERSION MODEL

`import densecl` must come from MODULE_DIR (found on the interpreter's own path: no PYTHONPATH
is set by the caller except where it says so) and load LIBRARY; __version__ is VERSION; MODEL
(the shipped Fashion-MNIST safetensors) loads with its 10 labels, devices() reads
densecl_device_info field for field, runs on the default device and
classifies an array; a 1000-class model gets the ImageNet names the install ships. The last line
printed is the summary the test reports.
"""

import os
import sys

import numpy as np

moddir, library, version, model = sys.argv[1:5]
import densecl  # noqa: E402

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


real = os.path.realpath
check(real(os.path.dirname(densecl.__file__)) == real(moddir),
      f"densecl imported from {os.path.dirname(densecl.__file__)}, expected {moddir}")
check(real(densecl._lib._name) == real(library),
      f"libdensecl.so loaded from {densecl._lib._name}, expected {library}")
check(densecl.__version__ == version, f"__version__ {densecl.__version__}, expected {version}")

# densecl_device_info as ctypes lays it out: the whole device_version (256 bytes since 0.7.0) and
# the fields after it in their places.
dev = densecl.devices()[0]
check(dev["device_version"].startswith("OpenCL ") and dev["compute_units"] > 0 and
      dev["max_work_group_size"] > 0 and dev["compiler_available"] in (0, 1),
      f"densecl.devices()[0] is garbled: {dev}")

w = densecl.Weights(model)
check(w.labels is not None and len(w.labels) == 10 and w.labels[0] == "T-shirt/top",
      f"the shipped model's labels: {w.labels}")
engine = densecl.Engine(w, device="auto")
x = np.zeros((2, 1, 28, 28), np.float32)
logits = engine.run(x)
check(logits.shape == (2, 10) and np.isfinite(logits).all(), f"run gave {logits.shape}")
top = engine.classify(x, top=2)
check(len(top) == 2 and len(top[0]) == 2 and top[0][0][1] in w.labels,
      f"classify gave {top}")
engine.close()

tiny = {"growth_rate": 4, "block_layers": [1], "init_features": 8, "stem": "cifar",
        "num_classes": 1000}
names = densecl.Weights.random(tiny, 1).labels
check(names is not None and len(names) == 1000 and names[0] == "tench",
      "a 1000-class model has no ImageNet names: the install's share/densecl is not found")

for f in failures:
    print("FAIL " + f)
if failures:
    sys.exit(1)
print(f"densecl {densecl.__version__} from {os.path.dirname(densecl.__file__)}, "
      f"library {densecl._lib._name}, classify ok")
