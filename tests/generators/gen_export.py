#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the checkpoints that densecl-export's round-trip tests convert, with torchvision's logits.

  gen_export.py OUTDIR

OUTDIR/cases.tsv: NAME <tab> CHECKPOINT <tab> densecl-export arguments (space-separated, may be
empty). Per case: the checkpoint as users save them, NAME.input.npy and NAME.expected.npy
(float64 logits of the eval-mode torch model, as float32). Also OUTDIR/labels5.txt (5 class
names) and OUTDIR/image64.png (an RGB image for classify). Skipped when OUTDIR/stamp matches.
"""

import hashlib
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_fixtures as fx  # noqa: E402

LABELS5 = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


def d121(classes=1000):
    return lambda: torchvision.models.densenet121(weights=None, num_classes=classes)


def sequential_head(build, dropout=0.3):
    """A fine-tuned head as scripts write it: classifier = Sequential(Dropout, Linear), whose
    state_dict keys are classifier.1.*."""
    def head():
        model = build()
        model.classifier = nn.Sequential(nn.Dropout(dropout), model.classifier)
        return model
    return head


class FcDenseNet(nn.Module):
    """A DenseNet whose head is called fc (ResNet's name): keys features.* and fc.*."""

    def __init__(self, densenet):
        super().__init__()
        self.features = densenet.features
        self.fc = densenet.classifier

    def forward(self, x):
        out = F.adaptive_avg_pool2d(F.relu(self.features(x)), (1, 1))
        return self.fc(torch.flatten(out, 1))


def make(build, seed, shape):
    torch.manual_seed(seed)
    model = fx.randomize(build()).eval()
    case = fx.Case("export", build, shape, "f32", False, [], None, seed)
    x, expected = fx.make_input(case, model)
    return model.float(), x, expected


def stamp():
    digest = hashlib.sha256()
    for name in ("gen_export.py", "gen_fixtures.py"):
        with open(os.path.join(HERE, name), "rb") as f:
            digest.update(f.read())
    digest.update(f"torch {torch.__version__} torchvision {torchvision.__version__}".encode())
    return digest.hexdigest()


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    stamp_path = os.path.join(outdir, "stamp")
    if os.path.isfile(stamp_path) and open(stamp_path).read().strip() == stamp():
        print("gen_export: up to date")
        return 0
    torch.set_num_threads(2)
    with open(os.path.join(outdir, "labels5.txt"), "w") as f:
        f.write("".join(n + "\n" for n in LABELS5))
    rng = np.random.RandomState(5)
    torchvision.io.write_png(torch.from_numpy(rng.randint(0, 256, (3, 64, 64), np.uint8)),
                             os.path.join(outdir, "image64.png"))

    cases = []

    def case(name, build, seed, shape, save, args=""):
        model, x, expected = make(build, seed, shape)
        checkpoint = os.path.join(outdir, name + ".pth")
        save(model, checkpoint)
        fx.save_npy(os.path.join(outdir, name + ".input.npy"), x)
        fx.save_npy(os.path.join(outdir, name + ".expected.npy"), expected)
        cases.append((name, os.path.basename(checkpoint), args))
        print(f"{name}: input {list(x.shape)}", flush=True)

    bc = fx.cifar_densenet(8, (3, 3), 16, 10)
    # A plain state_dict of a torchvision preset.
    case("state_dict_d121", d121(), 121, (1, 3, 64, 64),
         lambda m, p: torch.save(m.state_dict(), p), "--model densenet121")
    # A training checkpoint dict (epoch, optimizer state, the state_dict under 'state_dict') of a
    # CIFAR DenseNet-BC: the architecture is inferred. Also written as ONNX.
    case("checkpoint_dict_bc", bc, 8, (2, 3, 32, 32),
         lambda m, p: torch.save({"epoch": 7, "state_dict": m.state_dict(),
                                  "optimizer": {"lr": 0.1}}, p), "--onnx")
    # DistributedDataParallel: every key prefixed with 'module.', under 'model'; 5 classes,
    # with labels and a preprocessing.
    case("ddp_module_5class", d121(5), 55, (2, 3, 64, 64),
         lambda m, p: torch.save({"model": {"module." + k: v
                                            for k, v in m.state_dict().items()}}, p),
         "--labels labels5.txt --size 64 --resize 72 --mean 0.5,0.4,0.3 --std 0.2,0.25,0.3 "
         "--onnx")
    # A pickled whole model (torchvision classes only), in torch.save's legacy format.
    # (read only with --trust-pickle: unpickling a model runs code from the file).
    case("pickled_model_bc", fx.cifar_densenet(6, (2, 2, 2), 12, 4, in_channels=1), 6,
         (2, 1, 28, 28), lambda m, p: torch.save(m, p, _use_new_zipfile_serialization=False),
         "--size 28 --mean 0.5 --std 0.25 --trust-pickle")
    # A fine-tuned 5-class densenet121 given as the preset: classes come from the checkpoint.
    case("five_class_d121", d121(5), 5, (1, 3, 64, 64),
         lambda m, p: torch.save(m.state_dict(), p), "--model densenet121 --onnx")
    # A DenseNet without bottleneck and compression 1 (DenseNet-40's shape, smaller).
    case("plain_densenet", lambda: fx.PlainDenseNet(6, (3, 3), 8, 1.0, 10), 40, (2, 3, 32, 32),
         lambda m, p: torch.save(m.state_dict(), p))

    # Heads as fine-tuning scripts name them (issue 24 item 5): Sequential(Dropout, Linear)
    # under DDP's 'module.' prefix (keys module.classifier.1.*), and fc.* under 'model.'.
    case("sequential_head_bc", sequential_head(fx.cifar_densenet(6, (2, 2), 12, 7)), 71,
         (2, 3, 32, 32),
         lambda m, p: torch.save({"module." + k: v for k, v in m.state_dict().items()}, p))
    case("fc_head_bc", lambda: FcDenseNet(fx.cifar_densenet(6, (2, 2), 12, 5)()), 72,
         (2, 3, 32, 32),
         lambda m, p: torch.save({"model": {"model." + k: v for k, v in m.state_dict().items()}},
                                 p))

    with open(os.path.join(outdir, "cases.tsv"), "w") as f:
        f.write("".join("\t".join(c) + "\n" for c in cases))
    with open(stamp_path, "w") as f:
        f.write(stamp() + "\n")
    print(f"gen_export: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
