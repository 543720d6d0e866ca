#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Trains the small DenseNet-BC that densecl ships for Fashion-MNIST, or evaluates one.

  train_fashion_mnist.py [--out FILE] [--epochs N] [--threads N] [--seed N] [--log FILE]
  train_fashion_mnist.py --evaluate FILE.safetensors [--predictions OUT.npy] [--threads N]

The model is torchvision's DenseNet with a CIFAR stem: features.conv0 is a 3x3, padding 1,
1-channel convolution without norm0/relu0/pool0; the dense blocks, transitions, norm5 and the
classifier are torchvision's own modules, so the state_dict keys are torchvision's.

Input: 28x28 grey images scaled to [0, 1] (pixel / 255), then (x - 0.2860) / 0.3530. That is
what the "densecl.preprocess" metadata says (mean/std apply to the [0, 1] values).

Reproducible: seeded, a fixed data order and augmentation drawn from one seeded generator,
deterministic algorithms. Bit-identical results need the same --threads (oneDNN's reductions
depend on the thread count) and the same torch build.

Needs only Debian's python3-torch, python3-torchvision and python3-numpy; reads the gzipped IDX
files from --data (default /usr/share/datasets/fashion-mnist). Nothing is downloaded.
"""

import argparse
import collections
import ctypes
import gzip
import io
import json
import os
import shlex
import sys
import time

# Sleep rather than spin while waiting for the other OpenMP thread: on a shared machine a
# descheduled peer made spinning threads four times slower. Must precede libgomp's start-up.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "export"))
import safe_output  # noqa: E402  (densecl's rules for outputs, as every tool writes them)
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

PROG = "train_fashion_mnist.py"

DATA_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
          "Bag", "Ankle boot"]
MEAN, STD = 0.2860, 0.3530

# The shipped architecture: DenseNet-BC, k=12, 3 blocks of 4 layers, 24 stem channels (about
# 0.1 M parameters, 33 M multiply-adds per image): what trains in half an hour on 2 CPU cores.
GROWTH_RATE = 12
BLOCK_LAYERS = (4, 4, 4)
INIT_FEATURES = 24
BN_SIZE = 4
EVAL_BATCH = 250


def densecl_config(growth_rate=GROWTH_RATE, block_layers=BLOCK_LAYERS,
                   init_features=INIT_FEATURES):
    """The "densecl.config" dictionary (see densecl_config in include/densecl.h)."""
    return {"growth_rate": growth_rate, "block_layers": list(block_layers),
            "init_features": init_features, "bottleneck": True, "bn_size": BN_SIZE,
            "compression": 0.5, "stem": "cifar", "in_channels": 1, "num_classes": 10}


def preprocess_metadata():
    # Images are scaled to [0, 1] first (pixel / 255), then normalised as (x - mean) / std.
    return {"height": 28, "width": 28, "channels": 1, "mean": [MEAN], "std": [STD],
            "resize": None, "crop": None}


# ---------------------------------------------------------------------------------------------
# Data

def read_idx(path):
    """A gzipped IDX file as a numpy uint8 array of its declared shape."""
    with gzip.open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = blob[3]
    dims = [int.from_bytes(blob[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims, dtype=np.int64))
    if len(blob) != offset + count:
        raise ValueError(f"{path}: {len(blob) - offset} data bytes, header says {count}")
    return np.frombuffer(blob, dtype=np.uint8, offset=offset).reshape(dims)


def load_split(data_dir, prefix):
    """(images float32 [N, 1, 28, 28] normalised, labels int64 [N]) of "train" or "t10k"."""
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(f"{prefix}: images {images.shape} and labels {labels.shape} disagree")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - MEAN) / STD
    return x, torch.from_numpy(labels.astype(np.int64))


def augment(x, generator, pad=2):
    """Random crop with zero padding (the background, 0 before normalisation) + horizontal flip.

    x: [B, 1, H, W] normalised. Offsets and flips come from generator, so they are reproducible.
    """
    b, _, h, w = x.shape
    background = (0.0 - MEAN) / STD
    padded = F.pad(x, (pad, pad, pad, pad), value=background)  # [B, 1, H+2p, W+2p]
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # [B, H, 1]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # [B, 1, W]
    out = padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)  # [B, 1, H, W]
    flip = torch.rand(b, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


# ---------------------------------------------------------------------------------------------
# Model

def build_model(config):
    """torchvision DenseNet with the CIFAR stem described by a densecl.config dictionary."""
    if config.get("stem") != "cifar" or not config.get("bottleneck", True) or \
            float(config.get("compression", 0.5)) != 0.5:
        raise ValueError(f"unsupported config for this tool: {config}")
    model = torchvision.models.DenseNet(
        growth_rate=config["growth_rate"], block_config=tuple(config["block_layers"]),
        num_init_features=config["init_features"], bn_size=config["bn_size"], drop_rate=0,
        num_classes=config["num_classes"])
    conv0 = nn.Conv2d(config["in_channels"], config["init_features"], kernel_size=3, padding=1,
                      bias=False)
    nn.init.kaiming_normal_(conv0.weight)  # as torchvision initialises its convolutions
    children = [("conv0", conv0)]
    children += [(name, module) for name, module in model.features.named_children()
                 if name not in ("conv0", "norm0", "relu0", "pool0")]
    model.features = nn.Sequential(collections.OrderedDict(children))
    # torchvision's forward: features -> relu -> adaptive avg pool (1, 1) -> flatten -> linear
    return model


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def state_dict_arrays(model):
    """{key: float32 numpy array} in state_dict order, without num_batches_tracked."""
    return {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


@torch.no_grad()
def predict(model, x):
    """Argmax predictions, int64 [N], in eval mode with fixed batches."""
    model.eval()
    out = [model(x[i:i + EVAL_BATCH]).argmax(1) for i in range(0, x.shape[0], EVAL_BATCH)]
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# Training

class Log:
    """Prints each line and keeps the log in --log FILE, which is written by densecl's rules
    (safe_output.py): a regular file is replaced when training ends (commit), and an earlier
    log stays as it was if training fails (abort); a FIFO or device gets each line at once."""

    def __init__(self, path, target=None):
        self.file = None
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.file = safe_output.OutputFile(path, target, PROG)

    def __call__(self, line):
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")

    def commit(self):
        if self.file:
            self.file.commit()

    def abort(self):
        if self.file:
            self.file.abort()


def check_outputs(outputs, inputs):
    """safe_output's checks before any work: an output that is an input or another output is
    refused (exit 2). {path: Target}."""
    try:
        return safe_output.check_outputs(outputs, inputs, PROG)
    except safe_output.OutputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2 if exc.usage else 1)


def data_files(data_dir, prefixes):
    return [("--data", os.path.join(data_dir, f"{p}-{k}-idx{n}-ubyte.gz"))
            for p in prefixes for k, n in (("images", 3), ("labels", 1))]


def keep_freed_memory():
    """Stops glibc from returning big activation buffers to the kernel after every step.

    Activations of a batch are tens of MB, above glibc's largest mmap threshold, so each one is
    mmapped, page-faulted in and unmapped again, and a third of the time went to the kernel.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, (1 << 31) - 1)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: only slower


def load_trained(arrays, config):
    """A fresh eval-mode model (contiguous format) holding {key: float32 array}."""
    model = build_model(config)
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in arrays.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"missing keys {missing}, unexpected keys {unexpected}")
    return model.eval()


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def train(args):
    targets = check_outputs([("--out", args.out), ("--log", args.log)],
                            data_files(args.data, ("train", "t10k")))
    log = Log(args.log, targets.get(args.log))
    try:
        rc = train_logged(args, log)
    except BaseException:
        log.abort()
        raise
    log.commit()
    return rc


def train_logged(args, log):
    start = time.time()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    command = " ".join(shlex.quote(a)
                       for a in ["tools/dev/train_fashion_mnist.py"] + args.argv)
    log(f"command: {command}")
    log(f"seed: {args.seed}  threads: {args.threads}  torch {torch.__version__}  "
        f"torchvision {torchvision.__version__}  numpy {np.__version__}")

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    log(f"data: {args.data}: train {tuple(x_train.shape)}, test {tuple(x_test.shape)}")

    config = densecl_config(args.growth_rate, args.blocks, args.init_features)
    # channels_last makes oneDNN's convolutions about a third cheaper on CPU
    model = build_model(config).to(memory_format=torch.channels_last)
    x_train = x_train.contiguous(memory_format=torch.channels_last)
    x_test_cl = x_test.contiguous(memory_format=torch.channels_last)
    log(f"model: DenseNet-BC {json.dumps(config)}")
    log(f"parameters: {count_params(model)}")

    steps_per_epoch = (x_train.shape[0] + args.batch - 1) // args.batch
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim == 1 else decay).append(p)  # no weight decay on BN affine, biases
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=args.lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.2, div_factor=20.0, final_div_factor=200.0)
    log(f"optimizer: SGD nesterov momentum 0.9, weight decay {args.weight_decay}, OneCycle "
        f"max lr {args.lr}, batch {args.batch}, label smoothing {args.label_smoothing}, "
        f"augmentation: random crop pad 2 + horizontal flip")

    generator = torch.Generator().manual_seed(args.seed)
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        order = torch.randperm(x_train.shape[0], generator=generator)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = order[step * args.batch:(step + 1) * args.batch]
            xb = augment(x_train[idx], generator).contiguous(memory_format=torch.channels_last)
            yb = y_train[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * yb.shape[0]
            correct += (logits.argmax(1) == yb).sum().item()
            seen += yb.shape[0]
            if args.max_steps and step + 1 >= args.max_steps:
                break
        train_time = time.time() - t0
        accuracy = (predict(model, x_test_cl) == y_test).float().mean().item()
        log(f"epoch {epoch:3d}/{args.epochs}  loss {loss_sum / seen:.4f}  "
            f"train acc {correct / seen:.4f}  test acc {accuracy:.4f}  "
            f"lr {scheduler.get_last_lr()[0]:.5f}  time {train_time:.1f}s "
            f"(+{time.time() - t0 - train_time:.1f}s eval)")

    # The recorded accuracy is that of the exported float32 tensors in a fresh contiguous model,
    # exactly what --evaluate computes from the file.
    arrays = state_dict_arrays(model)
    predictions = predict(load_trained(arrays, config), x_test)
    accuracy = (predictions == y_test).float().mean().item()
    accuracy_text = f"{accuracy:.4f}"
    metadata = {
        "format": "pt",
        "densecl.config": json.dumps(config),
        "densecl.preprocess": json.dumps(preprocess_metadata()),
        "densecl.labels": json.dumps(LABELS),
        "densecl.test_accuracy": accuracy_text,
        "densecl.trained_by": command,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_safetensors(args.out, arrays, metadata, "f32")
    log(f"final test accuracy: {accuracy_text} ({int((predictions == y_test).sum())}/"
        f"{y_test.shape[0]})")
    log(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    log(f"total time: {time.time() - start:.1f}s")
    return 0


def evaluate(args):
    targets = check_outputs([("--predictions", args.predictions)],
                            [("--evaluate", args.evaluate)] + data_files(args.data, ("t10k",)))
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    tensors, metadata, _ = read_safetensors(args.evaluate)
    try:
        model = load_trained(tensors, json.loads(metadata["densecl.config"]))
    except (KeyError, ValueError) as exc:
        raise SystemExit(f"train_fashion_mnist: error: {args.evaluate}: {exc}")
    x_test, y_test = load_split(args.data, "t10k")
    predictions = predict(model, x_test)
    correct = int((predictions == y_test).sum())
    accuracy = correct / y_test.shape[0]
    if args.predictions:
        buf = io.BytesIO()
        np.save(buf, predictions.numpy().astype(np.int64))
        safe_output.write_bytes(args.predictions, buf.getvalue(), targets.get(args.predictions),
                                PROG)
    print(f"{args.evaluate}: test accuracy {accuracy:.4f} ({correct}/{y_test.shape[0]}), "
          f"recorded {metadata.get('densecl.test_accuracy', '?')}")
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="models/densenet-fashion.safetensors")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", help="also write the training log to this file")
    parser.add_argument("--data", default=DATA_DIR, help="folder of the gzipped IDX files")
    parser.add_argument("--growth-rate", type=int, default=GROWTH_RATE)
    parser.add_argument("--blocks", type=lambda t: tuple(int(v) for v in t.split(",")),
                        default=BLOCK_LAYERS, help="layers per dense block (default 4,4,4)")
    parser.add_argument("--init-features", type=int, default=INIT_FEATURES)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--limit", type=int, default=0, help="use the first N training images")
    parser.add_argument("--max-steps", type=int, default=0, help="steps per epoch (timing)")
    parser.add_argument("--evaluate", metavar="FILE.safetensors",
                        help="evaluate a trained file instead of training")
    parser.add_argument("--predictions", metavar="OUT.npy",
                        help="with --evaluate: write the int64 [10000] argmax predictions")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    return evaluate(args) if args.evaluate else train(args)


if __name__ == "__main__":
    sys.exit(main())
