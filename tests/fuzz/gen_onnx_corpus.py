#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the ONNX fuzzer's seed corpus (tests/fuzz/corpus/onnx) with torch.onnx.export.

  tests/fuzz/gen_onnx_corpus.py [OUTDIR]

Tiny DenseNets (a few KB each) exported as PyTorch 1.13 does it: CIFAR and ImageNet stems, with
and without bottleneck, opsets 11, 13 and 17, constant folding on and off, a fixed and a dynamic
batch, one with metadata_props; and a small graph that is not a DenseNet. The files are committed; rerun this only to
change them (needs Debian's python3-torch and python3-torchvision).
"""

import os
import sys

import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "generators"))
import gen_fixtures as fx  # noqa: E402


def export(model, shape, path, opset, fold=True, dynamic=False):
    kw = {"opset_version": opset, "do_constant_folding": fold, "input_names": ["input"],
          "output_names": ["logits"]}
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "batch"}}
    torch.onnx.export(model.eval(), torch.randn(*shape), path, **kw)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    cifar = fx.randomize(fx.cifar_densenet(2, (1, 1), 4, 3, in_channels=1)())
    imagenet = fx.randomize(torchvision.models.DenseNet(growth_rate=2, block_config=(1, 1),
                                                        num_init_features=4, bn_size=2,
                                                        num_classes=3))
    plain = fx.randomize(fx.PlainDenseNet(2, (2,), 4, 1.0, 3, in_channels=1))
    export(cifar, (1, 1, 8, 8), os.path.join(outdir, "cifar_op11.onnx"), 11)
    export(cifar, (1, 1, 8, 8), os.path.join(outdir, "cifar_op13_nofold.onnx"), 13, fold=False)
    export(cifar, (2, 1, 8, 8), os.path.join(outdir, "cifar_op17_dyn.onnx"), 17, dynamic=True)
    export(imagenet, (1, 3, 32, 32), os.path.join(outdir, "imagenet_op13.onnx"), 13)
    export(plain, (1, 1, 8, 8), os.path.join(outdir, "plain_op13.onnx"), 13)
    # With metadata_props, as densecl-export --onnx appends them.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "export"))
    import export_torchvision as dexport  # densecl-export, under its importable name
    with open(os.path.join(outdir, "cifar_op11.onnx"), "rb") as f:
        blob = f.read()
    meta = dexport.build_metadata(None, "fuzz seed", {"crop": 8, "channels": 1, "mean": [0.5]},
                                 ["a", "b", "c"])
    with open(os.path.join(outdir, "cifar_meta.onnx"), "wb") as f:
        f.write(blob + dexport.onnx_metadata_props(meta))
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(72, 3))
    export(other, (1, 1, 8, 8), os.path.join(outdir, "not_densenet.onnx"), 13)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "onnx")))
