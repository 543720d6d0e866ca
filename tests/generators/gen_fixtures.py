#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the whole-model test fixtures: weights, inputs and torchvision's logits.

  gen_fixtures.py OUTDIR [--force] [--only CASE,...] [--list] [--check-f32]

Per case: OUTDIR/CASE.safetensors, CASE.input.npy, CASE.expected.npy ([N, classes] float32
logits of the torch model in eval mode, computed in float64 so that the reference itself adds no
float32 error) and CASE.args (extra `densecl run` arguments, one line). BatchNorm statistics and
affine parameters are randomised so that folding BN into the convolutions is really tested.
OUTDIR/stamp records a hash of the generating scripts and torch's version; when it matches and
every file is present, nothing is regenerated.

Needs only Debian's python3-torch, python3-torchvision and python3-numpy.
"""

import argparse
import collections
import hashlib
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.densenet import _Transition

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tools", "export")
sys.path.insert(0, TOOLS)
import export_torchvision as export  # noqa: E402
from safetensors_io import atomic_write_bytes, quantize, write_safetensors  # noqa: E402

# An input is redrawn (up to this many times) until every row's top two logits are apart by at
# least ARGMAX_MARGIN * max|logit|, so that a correct implementation cannot flip an argmax.
ARGMAX_MARGIN = 2e-3
INPUT_TRIES = 20
# log10 range of the BatchNorm running variances (see randomize())
BN_VAR_DECADES = (-3.0, 0.0)
SUFFIXES = (".safetensors", ".input.npy", ".expected.npy", ".args")

Case = collections.namedtuple(
    "Case", "name build input_shape dtype legacy args metadata seed")


class PlainLayer(nn.Module):
    """A dense layer without bottleneck: BN-ReLU-3x3 conv (DenseNet-40), torchvision names."""

    def __init__(self, in_channels, growth_rate):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv1(self.relu1(self.norm1(x)))], 1)


class PlainDenseNet(nn.Module):
    """DenseNet without bottleneck and a CIFAR stem, mirroring torchvision's structure."""

    def __init__(self, growth_rate, block_layers, init_features, compression, num_classes,
                 in_channels=3):
        super().__init__()
        modules = collections.OrderedDict(
            conv0=nn.Conv2d(in_channels, init_features, 3, padding=1, bias=False))
        channels = init_features
        for b, layers in enumerate(block_layers, 1):
            block = nn.Sequential(collections.OrderedDict(
                (f"denselayer{i + 1}", PlainLayer(channels + i * growth_rate, growth_rate))
                for i in range(layers)))
            modules[f"denseblock{b}"] = block
            channels += layers * growth_rate
            if b != len(block_layers):
                out = int(channels * compression)
                modules[f"transition{b}"] = _Transition(channels, out)
                channels = out
        modules["norm5"] = nn.BatchNorm2d(channels)
        self.features = nn.Sequential(modules)
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.features(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def torchvision_densenet(name):
    return lambda: getattr(torchvision.models, name)(weights=None)


def cifar_densenet(growth_rate, block_layers, init_features, num_classes, in_channels=3):
    """torchvision's DenseNet-BC with the ImageNet stem replaced by one 3x3/1 conv."""

    def build():
        model = torchvision.models.DenseNet(growth_rate=growth_rate, block_config=block_layers,
                                            num_init_features=init_features, bn_size=4,
                                            num_classes=num_classes)
        stem = nn.Conv2d(in_channels, init_features, 3, padding=1, bias=False)
        nn.init.kaiming_normal_(stem.weight)
        modules = collections.OrderedDict(conv0=stem)
        for name, module in model.features.named_children():
            if name not in ("conv0", "norm0", "relu0", "pool0"):
                modules[name] = module
        model.features = nn.Sequential(modules)
        return model

    return build


def randomize(model):
    """Non-trivial BN (so folding is tested) that keeps activations O(1) through 100+ layers.

    Per channel, running_var spans BN_VAR_DECADES and gamma scales with sqrt(running_var), so
    that gamma / sqrt(var) stays in [0.6, 1.6] while eps (1e-5) changes the result by more than
    the tests' tolerance: a wrong or missing eps fails.
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                scale = 10.0 ** torch.empty_like(m.running_var).uniform_(*BN_VAR_DECADES)
                m.weight.uniform_(0.7, 1.3).mul_(scale.sqrt())
                m.bias.uniform_(-0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.7, 1.3).mul_(scale)
            elif isinstance(m, nn.Linear):
                m.bias.uniform_(-0.1, 0.1)
    return model


def cases():
    """The fixture cases, in test order."""
    src = "densecl tests/generators/gen_fixtures.py, randomised weights"

    def meta(name, preprocess=False):
        return export.build_metadata(export.torchvision_config(name), src,
                                     export.preprocess_metadata(name) if preprocess else None)

    bc100 = export.build_metadata(
        export.densenet_config(12, (16, 16, 16), 24, stem="cifar", num_classes=10), src)
    return [
        Case("densenet121", torchvision_densenet("densenet121"), (2, 3, 224, 224), "f32", False,
             ["--model", "densenet121"], meta("densenet121", True), 121),
        Case("densenet161_64", torchvision_densenet("densenet161"), (1, 3, 64, 64), "f32", False,
             ["--model", "densenet161"], meta("densenet161"), 161),
        Case("densenet169_48x40", torchvision_densenet("densenet169"), (2, 3, 48, 40), "f32",
             False, [], meta("densenet169"), 169),
        # no densecl.config: the architecture comes from the tensor shapes alone
        Case("densenet201_33x45", torchvision_densenet("densenet201"), (1, 3, 33, 45), "f32",
             False, [], {"format": "pt", "source": src}, 201),
        Case("densenet121_legacy", torchvision_densenet("densenet121"), (3, 3, 29, 29), "f32",
             True, [], meta("densenet121"), 1210),
        Case("densenet121_f16", torchvision_densenet("densenet121"), (2, 3, 64, 64), "f16",
             False, ["--model", "densenet121"], meta("densenet121"), 1211),
        Case("densenet121_bf16", torchvision_densenet("densenet121"), (2, 3, 56, 72), "bf16",
             False, [], meta("densenet121"), 1212),
        Case("densenet_bc100_k12", cifar_densenet(12, (16, 16, 16), 24, 10), (4, 3, 32, 32),
             "f32", False, ["--model", "densenet-bc-100-k12"], bc100, 100),
        # no __metadata__ at all
        Case("densenet40_k12", lambda: PlainDenseNet(12, (12, 12, 12), 16, 1.0, 10),
             (2, 3, 32, 32), "f32", False, [], None, 40),
        Case("densenet_bc_c1_k7", cifar_densenet(8, (4, 4), 16, 7, in_channels=1),
             (5, 1, 28, 28), "f32", False, [], {"format": "pt", "note": "1 channel, 7 classes"},
             7),
    ]


def argmax_margin(logits):
    """Smallest gap between the two largest logits of a row, relative to max|logits|."""
    top2 = np.sort(logits, axis=1)[:, -2:]
    return float(np.min(top2[:, 1] - top2[:, 0]) / max(np.max(np.abs(logits)), 1e-30))


def forward(model, x, dtype):
    with torch.no_grad():
        return model.to(dtype)(torch.from_numpy(x).to(dtype)).float().numpy()


def make_model(case):
    """Seeded, randomised, eval-mode model; weights rounded to the case's file dtype."""
    torch.manual_seed(case.seed)
    model = randomize(case.build()).eval()
    if case.dtype != "f32":
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(torch.from_numpy(quantize(tensor.numpy(), case.dtype)))
    return model


def make_input(case, model):
    """A randn input whose logits have clear argmaxes; returns (x, float64 logits)."""
    for attempt in range(INPUT_TRIES):
        gen = torch.Generator().manual_seed(case.seed * 1000 + attempt)
        x = torch.randn(case.input_shape, generator=gen).numpy()
        expected = forward(model, x, torch.float64)
        if argmax_margin(expected) >= ARGMAX_MARGIN:
            return x, expected
    raise SystemExit(f"gen_fixtures: {case.name}: no input with a clear argmax in "
                     f"{INPUT_TRIES} tries")


def save_npy(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(array, dtype=np.float32))
    os.replace(tmp, path)


def write_case(case, outdir, check_f32):
    start = time.monotonic()
    model = make_model(case)
    x, expected = make_input(case, model)
    model.float()
    arrays = export.state_dict_arrays(model, keep_num_batches_tracked=(case.name == "densenet121"))
    if case.legacy:
        arrays = export.to_legacy_keys(arrays)
    base = os.path.join(outdir, case.name)
    write_safetensors(base + ".safetensors", arrays, case.metadata, case.dtype)
    save_npy(base + ".input.npy", x)
    save_npy(base + ".expected.npy", expected)
    atomic_write_bytes(base + ".args", (" ".join(case.args) + "\n").encode())
    scale = float(np.max(np.abs(expected)))
    f32 = ""
    if check_f32:
        f32_err = float(np.max(np.abs(forward(model, x, torch.float32) - expected)))
        f32 = f", torch float32 error {f32_err / scale:.2g} x max|logit|"
    print(f"{case.name}: input {list(x.shape)} {case.dtype}, logits max|.| {scale:.3g} "
          f"std {float(np.std(expected)):.3g}, argmax margin {argmax_margin(expected):.2g}"
          f"{f32}, {time.monotonic() - start:.1f} s", flush=True)


def source_stamp():
    """Hash of everything that determines the fixtures."""
    digest = hashlib.sha256()
    for path in (os.path.abspath(__file__), os.path.join(TOOLS, "safetensors_io.py"),
                 os.path.join(TOOLS, "export_torchvision.py"),
                 os.path.join(TOOLS, "densecl-export")):
        with open(path, "rb") as f:
            digest.update(f.read())
    digest.update(f"torch {torch.__version__} torchvision {torchvision.__version__}".encode())
    return digest.hexdigest()


def up_to_date(outdir, selected, stamp):
    try:
        with open(os.path.join(outdir, "stamp")) as f:
            if f.read().strip() != stamp:
                return False
    except OSError:
        return False
    return all(os.path.isfile(os.path.join(outdir, c.name + s))
               for c in selected for s in SUFFIXES)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", nargs="?")
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    parser.add_argument("--check-f32", action="store_true",
                        help="also report torch's own float32 error against the float64 logits")
    args = parser.parse_args(argv)
    if not args.list and not args.outdir:
        parser.error("OUTDIR is required")
    return args


def main(argv=None):
    args = parse_args(argv)
    all_cases = cases()
    if args.list:
        print("\n".join(c.name for c in all_cases))
        return 0
    selected = all_cases
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {c.name for c in all_cases})
        if unknown:
            raise SystemExit(f"gen_fixtures: unknown case(s) {', '.join(unknown)}")
        selected = [c for c in all_cases if c.name in wanted]
    os.makedirs(args.outdir, exist_ok=True)
    stamp = source_stamp()
    if not args.force and up_to_date(args.outdir, selected, stamp):
        print(f"gen_fixtures: {args.outdir} is up to date")
        return 0
    torch.set_num_threads(2)
    stamp_path = os.path.join(args.outdir, "stamp")
    if os.path.exists(stamp_path):
        os.unlink(stamp_path)
    start = time.monotonic()
    for case in selected:
        write_case(case, args.outdir, args.check_f32)
    if selected is all_cases:
        atomic_write_bytes(stamp_path, (stamp + "\n").encode())
    print(f"gen_fixtures: {len(selected)} cases in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
