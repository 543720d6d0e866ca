#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fixtures for tests/cli/classify_tests.sh, and torchvision's answers to compare
`densecl classify` to.

  classify_reference.py prepare DIR
      writes small seeded models (safetensors with densecl metadata), images in several formats
      (with their exact pixels in DIR/pixels.npz), IDX files, label files and .npy inputs
  classify_reference.py check WEIGHTS RESULT.json [--loose]
      recomputes every image of a `densecl classify --json` document with torch/torchvision
      (decoding, the documented preprocessing, the model) and compares the top-K classes and
      their probabilities; prints one line per mismatch, exit status 1 if any
  classify_reference.py accuracy RESULT.json
      prints "top1 top5 labelled" counted from the document's per-image "truth" fields

Needs only Debian's python3-torch, python3-torchvision and python3-numpy. The preprocessing here
is written with torch's own operators (antialiased bilinear F.interpolate, torchvision's
center_crop), not as a copy of densecl's C code.
"""

import collections
import gzip
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "export"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"]
IMAGENET_PREPROCESS = {"resize": 256, "crop": 224, "mean": [0.485, 0.456, 0.406],
                       "std": [0.229, 0.224, 0.225]}


# ---------------------------------------------------------------------------------------------
# Models

def build_model(config):
    """torchvision's DenseNet for a densecl.config dictionary (CIFAR stem: one 3x3/1 conv)."""
    model = torchvision.models.DenseNet(
        growth_rate=config["growth_rate"], block_config=tuple(config["block_layers"]),
        num_init_features=config["init_features"], bn_size=config["bn_size"], drop_rate=0,
        num_classes=config["num_classes"])
    if config["stem"] == "cifar":
        modules = collections.OrderedDict(
            conv0=nn.Conv2d(config["in_channels"], config["init_features"], 3, padding=1,
                            bias=False))
        for name, module in model.features.named_children():
            if name not in ("conv0", "norm0", "relu0", "pool0"):
                modules[name] = module
        model.features = nn.Sequential(modules)
    elif config["in_channels"] != 3:
        model.features.conv0 = nn.Conv2d(config["in_channels"], config["init_features"], 7,
                                         stride=2, padding=3, bias=False)
    return model


def load_model(path):
    tensors, metadata, _ = read_safetensors(path)
    config = json.loads(metadata["densecl.config"])
    model = build_model(config)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval(), config, metadata


def make_model(path, channels, classes, preprocess=None, labels=None, seed=0):
    """A small seeded DenseNet-BC with a CIFAR stem and non-trivial BN statistics."""
    torch.manual_seed(seed)
    config = {"growth_rate": 8, "block_layers": [2, 2], "init_features": 16, "bottleneck": True,
              "bn_size": 4, "compression": 0.5, "stem": "cifar", "in_channels": channels,
              "num_classes": classes}
    model = build_model(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
        model.classifier.weight.normal_(0.0, 1.0)  # spread the probabilities out
        model.classifier.bias.normal_(0.0, 0.1)
    arrays = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
              if not k.endswith("num_batches_tracked")}
    metadata = {"format": "pt", "densecl.config": json.dumps(config)}
    if preprocess is not None:
        metadata["densecl.preprocess"] = json.dumps(preprocess)
    if labels is not None:
        metadata["densecl.labels"] = json.dumps(labels)
    write_safetensors(path, arrays, metadata, "f32")


# ---------------------------------------------------------------------------------------------
# Files

def png_bytes(a):
    """PNG of a [H, W] or [H, W, C] uint8/uint16 array (grey, grey+alpha, RGB, RGBA)."""
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    depth = 16 if a.dtype == np.uint16 else 8
    rows = a.reshape(h, w * c).astype(">u2" if depth == 16 else "u1")
    data = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body +
                struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, depth, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(data))
            + chunk(b"IEND", b""))


def bmp_bytes(a):
    """24-bit BMP of an [H, W, 3] uint8 array: bottom-up BGR rows padded to 4 bytes."""
    h, w, _ = a.shape
    pad = (4 - (w * 3) % 4) % 4
    rows = b"".join(a[y, :, ::-1].tobytes() + b"\x00" * pad for y in range(h - 1, -1, -1))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(rows), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return header + info + rows


def idx_bytes(a):
    """IDX of a uint8 array: 0, 0, type 0x08, ndim, big-endian sizes, data."""
    return (bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) +
            a.astype(np.uint8).tobytes())


def read_idx(path):
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    ndim = blob[3]
    dims = struct.unpack(">" + "I" * ndim, blob[4:4 + 4 * ndim])
    return np.frombuffer(blob, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def smooth_image(rng, h, w, c, dtype=np.uint8):
    """Low-frequency noise with some edges: resizing it is not the identity."""
    base = torch.from_numpy(rng.random((1, c, 5, 7)).astype(np.float32))
    x = F.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)[0]
    x = x + 0.25 * torch.from_numpy((rng.random((c, h, w)) > 0.97).astype(np.float32))
    top = 65535 if dtype == np.uint16 else 255
    x = (x.clamp(0, 1) * top).round().numpy().astype(dtype)
    return np.ascontiguousarray(x.transpose(1, 2, 0)) if c > 1 else x[0]


def strip_jpeg_segment(jpeg, marker):
    """The JPEG without its segments of the given marker (up to the first scan)."""
    out, p = jpeg[:2], 2
    while jpeg[p + 1] != 0xDA:
        end = p + 2 + struct.unpack(">H", jpeg[p + 2:p + 4])[0]
        if jpeg[p + 1] != marker:
            out += jpeg[p:end]
        p = end
    return out + jpeg[p:]


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def prepare(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    pixels = {}

    def image(name, array, data):
        pixels[name] = array
        write(os.path.join(out, name), data)

    rgb = smooth_image(rng, 300, 400, 3)
    image("photo.png", rgb, png_bytes(rgb))
    odd = smooth_image(rng, 33, 47, 3)
    image("odd.bmp", odd, bmp_bytes(odd))
    rgba = smooth_image(rng, 50, 37, 4)
    image("rgba.png", rgba, png_bytes(rgba))
    g16 = smooth_image(rng, 64, 48, 1, np.uint16)
    image("grey16.png", g16, png_bytes(g16))
    grey = smooth_image(rng, 20, 30, 1)
    image("grey.pgm", grey, b"P5\n30 20\n255\n" + grey.tobytes())
    # The JPEG's pixels are whatever a decoder makes of it: the check decodes it with libjpeg.
    jpeg = torchvision.io.encode_jpeg(torch.from_numpy(smooth_image(rng, 200, 320, 3))
                                      .permute(2, 0, 1).contiguous(), quality=90)
    write(os.path.join(out, "photo.jpg"), bytes(jpeg.numpy()))
    # The same JPEG without its Huffman tables (as Motion-JPEG frames come): stb_image 2.27 would
    # decode it with uninitialised tables; densecl must refuse it.
    write(os.path.join(out, "nodht.jpg"), strip_jpeg_segment(bytes(jpeg.numpy()), 0xC4))
    # A corrupt PNG (truncated) and a file that is no image at all.
    write(os.path.join(out, "corrupt.png"), png_bytes(rgb)[:300])
    write(os.path.join(out, "notes.txt"), b"not an image\n")
    # A JPEG whose Huffman table declares 300 codes: Debian's stb_image 2.27 writes past its
    # 256-entry tables on it; densecl must refuse it before stb sees it.
    dht = bytes([0x00]) + bytes(14) + bytes([200, 100]) + bytes(300)
    write(os.path.join(out, "huffman.jpg"),
          b"\xff\xd8\xff\xc4" + struct.pack(">H", 2 + len(dht)) + dht + b"\xff\xd9")
    # A PNG whose second IDAT chunk declares 2^30 bytes and holds none: stb_image 2.27 would
    # allocate 2 GiB for it; densecl must refuse it by the chunk's length.
    head = png_bytes(grey)
    iend = head.rindex(b"IEND") - 4
    write(os.path.join(out, "hugechunk.png"),
          head[:iend] + struct.pack(">I", 1 << 30) + b"IDAT" + bytes(8))
    # A name the CSV must quote.
    write(os.path.join(out, 'we"ird, name.png'), png_bytes(grey))
    pixels['we"ird, name.png'] = grey
    np.savez(os.path.join(out, "pixels.npz"), **{k: v for k, v in pixels.items()})

    # Fashion-MNIST test images 0..11 as a gzipped IDX, their labels as text and as IDX.
    images = read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))[:12]
    labels = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))[:12]
    write(os.path.join(out, "fashion12.idx.gz"), gzip.compress(idx_bytes(images)))
    write(os.path.join(out, "fashion3.idx"), idx_bytes(images[:3]))
    write(os.path.join(out, "labels12.txt"), "".join(f"{v}\n" for v in labels).encode())
    write(os.path.join(out, "labels12.idx.gz"), gzip.compress(idx_bytes(labels)))
    write(os.path.join(out, "truncated.idx.gz"), gzip.compress(idx_bytes(images))[:-40])

    # Preprocessed .npy inputs: two sizes (a batch must split there), and a wrong channel count.
    np.save(os.path.join(out, "x28.npy"), rng.standard_normal((3, 1, 28, 28)).astype(np.float32))
    np.save(os.path.join(out, "x32.npy"), rng.standard_normal((2, 1, 32, 32)).astype(np.float32))
    np.save(os.path.join(out, "x3ch.npy"), rng.standard_normal((2, 3, 28, 28)).astype(np.float32))

    fashion = {"height": 28, "width": 28, "channels": 1, "mean": [0.2860], "std": [0.3530],
               "resize": None, "crop": None}
    make_model(os.path.join(out, "grey.safetensors"), 1, 10, fashion, FASHION_LABELS, seed=1)
    # Three channels, all three size steps (resize, crop, a last resize), no labels.
    colour = {"resize": 40, "crop": 36, "height": 32, "width": 32,
              "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3], "interpolation": "bilinear"}
    make_model(os.path.join(out, "colour.safetensors"), 3, 7, colour, seed=2)
    make_model(os.path.join(out, "bare.safetensors"), 1, 10, None, seed=3)
    # Numbers that are finite and positive as doubles but not as the floats densecl uses: a
    # mean that overflows to +Inf, a std that underflows to 0 (subnormals are refused too).
    make_model(os.path.join(out, "bigmean.safetensors"), 1, 10,
               dict(fashion, mean=[6.7e95]), seed=3)
    make_model(os.path.join(out, "tinystd.safetensors"), 1, 10,
               dict(fashion, std=[1e-300]), seed=3)
    make_model(os.path.join(out, "subnormalstd.safetensors"), 1, 10,
               dict(fashion, std=[1e-40]), seed=3)


# ---------------------------------------------------------------------------------------------
# The reference

def preprocess_params(metadata, config):
    if "densecl.preprocess" in metadata:
        p = json.loads(metadata["densecl.preprocess"])
    else:
        p = dict(IMAGENET_PREPROCESS)
    channels = config["in_channels"]
    crop = p.get("crop")
    height = p.get("height") or (crop if isinstance(crop, int) else crop[0])
    width = p.get("width") or (crop if isinstance(crop, int) else crop[1])
    mean = p.get("mean", [0.0])
    std = p.get("std", [1.0])
    return {"resize": p.get("resize"), "crop": crop, "size": (height, width),
            "mean": (mean * channels)[:channels] if len(mean) == 1 else mean,
            "std": (std * channels)[:channels] if len(std) == 1 else std, "channels": channels}


def to_model_input(pixels, pp):
    """[H, W] or [H, W, C] uint8/uint16 pixels -> float32 [C, H, W], as documented."""
    top = 65535.0 if pixels.dtype == np.uint16 else 255.0
    x = torch.from_numpy(pixels.astype(np.float32) / top)
    x = x[:, :, None] if x.ndim == 2 else x
    x = x.permute(2, 0, 1)
    if x.shape[0] in (2, 4):
        x = x[:-1]  # alpha dropped
    if pp["channels"] == 1 and x.shape[0] == 3:
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]  # ITU-R 601
    x = x[None]

    def resize(t, h, w):
        if (h, w) == tuple(t.shape[-2:]):
            return t
        return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False,
                             antialias=True)

    h, w = x.shape[-2:]
    r = pp["resize"]
    if isinstance(r, int):
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(r * long / short)
        x = resize(x, new_long, r) if w <= h else resize(x, r, new_long)
    elif isinstance(r, list):
        x = resize(x, r[0], r[1])
    if pp["crop"] is not None:
        x = TF.center_crop(x, pp["crop"] if isinstance(pp["crop"], list) else [pp["crop"]] * 2)
    x = resize(x, *pp["size"])
    if pp["channels"] == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor(pp["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(pp["std"]).view(1, -1, 1, 1)
    return ((x - mean) / std)[0]


def source_pixels(path, index, cache):
    """The pixels densecl decoded for (path, index), or a preprocessed [C, H, W] tensor."""
    name = os.path.basename(path)
    folder = os.path.dirname(path) or "."
    if path.endswith(".npy"):
        return torch.from_numpy(np.load(path)[index]), True
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"\x00\x00\x08":
        if path not in cache:
            cache[path] = read_idx(path)
        return cache[path][index], False
    if head[:2] == b"\xff\xd8":
        return torchvision.io.decode_jpeg(torchvision.io.read_file(path)).permute(1, 2, 0) \
            .numpy(), False
    key = os.path.join(folder, "pixels.npz")
    if key not in cache:
        cache[key] = np.load(key)
    return cache[key][name], False


def check(weights, result_path, loose):
    model, config, metadata = load_model(weights)
    pp = preprocess_params(metadata, config)
    with open(result_path) as f:
        result = json.load(f)
    cache = {}
    xs, entries = [], result["images"]
    for entry in entries:
        pixels, ready = source_pixels(entry["input"], entry["index"], cache)
        xs.append(pixels if ready else to_model_input(pixels, pp))
    if not xs:
        print(f"{result_path}: no images")
        return 1
    with torch.no_grad():
        probs = [torch.softmax(model(x[None]), 1)[0] for x in xs]
    # JPEG decoders differ by a level or two per pixel (stb_image vs libjpeg): looser there.
    rtol, atol = (0.02, 1e-5) if loose else (2e-3, 1e-6)
    bad = 0
    for entry, p in zip(entries, probs):
        where = f"{entry['input']}[{entry['index']}]"
        ref_top = int(torch.argmax(p))
        got_top = entry["top"][0]["class_id"]
        if got_top != ref_top and float(p[got_top]) < float(p[ref_top]) * (1 - rtol):
            print(f"{where}: densecl top-1 {got_top} (p {entry['top'][0]['probability']:.6g}), "
                  f"torchvision {ref_top} (p {float(p[ref_top]):.6g})")
            bad += 1
        for item in entry["top"]:
            want = float(p[item["class_id"]])
            if abs(item["probability"] - want) > atol + rtol * want:
                print(f"{where}: class {item['class_id']}: densecl p {item['probability']:.6g}, "
                      f"torchvision {want:.6g}")
                bad += 1
                break
    print(f"checked {len(entries)} images against torchvision: {bad} mismatches")
    return 1 if bad else 0


def accuracy(result_path):
    with open(result_path) as f:
        result = json.load(f)
    top1 = top5 = n = 0
    for entry in result["images"]:
        if "truth" in entry:
            ids = [t["class_id"] for t in entry["top"]]
            n += 1
            top1 += ids[0] == entry["truth"]
            top5 += entry["truth"] in ids[:5]
    print(top1, top5, n)
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "prepare":
        prepare(argv[1])
        return 0
    if len(argv) in (3, 4) and argv[0] == "check":
        return check(argv[1], argv[2], len(argv) == 4 and argv[3] == "--loose")
    if len(argv) == 2 and argv[0] == "accuracy":
        return accuracy(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    torch.set_num_threads(2)
    sys.exit(main(sys.argv[1:]))
