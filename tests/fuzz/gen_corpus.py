#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the fuzzers (Python standard library only).

  tests/fuzz/gen_corpus.py [OUTDIR]      (default: tests/fuzz/corpus)

Small valid and near-valid inputs, deterministic, a few KB in all: safetensors files of a tiny
CIFAR-stem DenseNet (1 block of 1 bottleneck layer; F32, F16, BF16, legacy key names, our
densecl.config metadata, a 2-block model with a transition, an ImageNet stem), .npy files of
each format version, JSON documents, and IDX / PGM / BMP / PNG images. The files are committed;
rerun this only to change them.
"""

import gzip
import json
import os
import random
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ------------------------------------------------------------------------------- safetensors

def f32_bytes(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f16_bytes(vals):
    return struct.pack("<%de" % len(vals), *vals)


def bf16_bytes(vals):
    out = bytearray()
    for v in vals:
        u = struct.unpack("<I", struct.pack("<f", v))[0]
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even, as torch does
        out += struct.pack("<H", u)
    return bytes(out)


ENCODE = {"F32": f32_bytes, "F16": f16_bytes, "BF16": bf16_bytes}


def bn(prefix, c):
    return [(prefix + ".weight", [c]), (prefix + ".bias", [c]),
            (prefix + ".running_mean", [c]), (prefix + ".running_var", [c])]


def densenet(k=2, blocks=(1,), init=4, bottleneck=True, bn_size=2, in_ch=1, classes=3,
             imagenet=False, theta=0.5):
    """(key, shape) pairs in torchvision's state_dict order."""
    t = [("features.conv0.weight", [init, in_ch, 7 if imagenet else 3, 7 if imagenet else 3])]
    if imagenet:
        t += bn("features.norm0", init)
    c = init
    for b, layers in enumerate(blocks, 1):
        for i in range(1, layers + 1):
            m = "features.denseblock%d.denselayer%d" % (b, i)
            t += bn(m + ".norm1", c)
            if bottleneck:
                t += [(m + ".conv1.weight", [bn_size * k, c, 1, 1])]
                t += bn(m + ".norm2", bn_size * k)
                t += [(m + ".conv2.weight", [k, bn_size * k, 3, 3])]
            else:
                t += [(m + ".conv1.weight", [k, c, 3, 3])]
            c += k
        if b < len(blocks):
            t += bn("features.transition%d.norm" % b, c)
            out = int(c * theta + 1e-4)
            t += [("features.transition%d.conv.weight" % b, [out, c, 1, 1])]
            c = out
    t += bn("features.norm5", c)
    t += [("classifier.weight", [classes, c]), ("classifier.bias", [classes])]
    return t


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def values(rng, key, n):
    if key.endswith("running_var"):
        return [rng.uniform(0.5, 1.5) for _ in range(n)]
    return [round(rng.uniform(-1.0, 1.0), 3) for _ in range(n)]


def safetensors(tensors, dtype="F32", metadata=None, extra=(), rename=None, seed=1):
    """tensors: (key, shape); extra: (key, dtype, shape, raw bytes) appended as they are."""
    rng = random.Random(seed)
    header, data = {}, bytearray()
    if metadata is not None:
        header["__metadata__"] = metadata
    for key, shape in tensors:
        raw = ENCODE[dtype](values(rng, key, count(shape)))
        name = rename(key) if rename else key
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    for key, dt, shape, raw in extra:
        header[key] = {"dtype": dt, "shape": shape,
                       "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


def legacy_name(key):
    """torchvision's old .pth names: "denselayer1.norm1" -> "denselayer1.norm.1", plus the
    "module." prefix DataParallel adds."""
    if "denselayer" in key:
        for a in ("norm1", "norm2", "conv1", "conv2"):
            key = key.replace("." + a + ".", "." + a[:-1] + "." + a[-1] + ".")
    return "module." + key


def st_corpus(out):
    small = densenet()
    nbt = [("features.denseblock1.denselayer1.norm1.num_batches_tracked", "I64", [],
            struct.pack("<q", 100))]
    files = {
        "cifar_f32": safetensors(small, "F32", {"format": "pt"}, nbt),
        "cifar_f16": safetensors(small, "F16"),
        "cifar_bf16": safetensors(small, "BF16"),
        "cifar_legacy": safetensors(small, "F32", None, nbt, rename=legacy_name),
        "cifar_meta": safetensors(small, "F32", {"densecl.config": json.dumps(
            {"growth_rate": 2, "block_layers": [1], "init_features": 4, "bottleneck": True,
             "bn_size": 2, "compression": 0.5, "stem": "cifar", "in_channels": 1,
             "num_classes": 3})}),
        "two_blocks_plain": safetensors(densenet(blocks=(1, 2), bottleneck=False, theta=0.5),
                                        "F16", seed=2),
        "two_blocks_theta1": safetensors(densenet(blocks=(1, 1), theta=1.0), "BF16", seed=3),
        "imagenet_stem": safetensors(densenet(imagenet=True, in_ch=3, classes=2), "F32",
                                     seed=4),
        # near-valid: each is refused somewhere between the header and the config check
        "int_weight": safetensors(small[1:], "F32", None, [
            ("features.conv0.weight", "I8", [4, 1, 3, 3], bytes(36))]),
        "extra_key": safetensors(small, "F32", None, [
            ("features.denseblock1.denselayer1.extra.weight", "F32", [1], f32_bytes([1]))]),
        "missing_key": safetensors(small[:-1], "F32"),
        "wrong_shape": safetensors([(k, [s[0] + 1] + s[1:]) if k == "features.norm5.bias"
                                    else (k, s) for k, s in small], "F32"),
        "zero_dims": safetensors([], "F32", None, [
            ("features.conv0.weight", "F32", [4, 1, 0, 3], b""),
            ("features.transition1.conv.weight", "F64", [2000000000, 1, 0, 1], b"")]),
        "empty_header": struct.pack("<Q", 8) + b"{}      ",
        "metadata_only": safetensors([], "F32", {"a": "b"}),
    }
    whole = files["cifar_f32"]
    files["truncated"] = whole[:-4]
    files["trailing"] = whole + b"\0\0\0\0"
    for name, data in files.items():
        write(os.path.join(out, "safetensors", name + ".safetensors"), data)


# ------------------------------------------------------------------------------- npy

def npy(descr, shape, raw, version=(1, 0), fortran="False", quote="'"):
    q = quote
    if len(shape) == 1:
        shp = "(%d,)" % shape[0]
    else:
        shp = "(" + ", ".join(str(d) for d in shape) + ")"
    text = "{%sdescr%s: %s%s%s, %sfortran_order%s: %s, %sshape%s: %s, }" % (
        q, q, q, descr, q, q, q, fortran, q, q, shp)
    prefix = 10 if version[0] == 1 else 12
    total = (prefix + len(text) + 1 + 63) // 64 * 64
    head = (text + " " * (total - prefix - len(text) - 1) + "\n").encode()
    size = struct.pack("<H", len(head)) if version[0] == 1 else struct.pack("<I", len(head))
    return b"\x93NUMPY" + bytes(version) + size + head + raw


def npy_corpus(out):
    six = f32_bytes([0.5, -1.0, 2.25, 3.0, -0.0, 1e-3])
    files = {
        "v1_f4_2x3": npy("<f4", [2, 3], six),
        "v2_f4_6": npy("<f4", [6], six, version=(2, 0)),
        "v3_f8_2x2": npy("<f8", [2, 2], struct.pack("<4d", 1.0, -2.5, 1e300, 3.0),
                         version=(3, 0), quote='"'),
        "scalar": npy("<f4", [], f32_bytes([7.0])),
        "empty": npy("<f4", [0], b""),
        "rank4": npy("<f4", [1, 1, 2, 3], six),
        # near-valid
        "fortran": npy("<f4", [2, 3], six, fortran="True"),
        "big_endian": npy(">f4", [2, 3], six),
        "int_dtype": npy("<i4", [2, 3], six),
        "truncated": npy("<f4", [2, 3], six[:-4]),
        "not_tuple": npy("<f4", [6], six).replace(b"(6,)", b"(6) "),
        "bad_version": b"\x93NUMPY\x04\x00" + npy("<f4", [6], six)[8:],
    }
    for name, data in files.items():
        write(os.path.join(out, "npy", name + ".npy"), data)


# ------------------------------------------------------------------------------- json

def json_corpus(out):
    docs = {
        "header": '{"__metadata__":{"format":"pt"},"a.weight":{"dtype":"F32","shape":[2,3],'
                  '"data_offsets":[0,24]}}',
        "config": json.dumps({"growth_rate": 12, "block_layers": [16, 16, 16],
                              "init_features": 24, "bottleneck": True, "bn_size": 4,
                              "compression": 0.5, "stem": "cifar", "in_channels": 3,
                              "num_classes": 10}),
        "scalars": '[null,true,false,0,-0,1.5,-2.5e-3,1E+2,123456789012345678901234567890,'
                   '9007199254740993,0.1]',
        "strings": '["plain","esc \\" \\\\ \\/ \\b \\f \\n \\r \\t","\\u00e9\\u4e2d\\ud83d\\ude00",'
                   '"utf8 \u00e9 \u4e2d \U0001F600"]',
        "nested": "[" * 40 + "{}" + "]" * 40,
        "whitespace": ' \t\r\n{ "a" : [ 1 , 2 ] , "b" : { } } \n',
        "empty_string_key": '{"":""}',
        # near-valid
        "trailing_comma": '{"a":1,}',
        "duplicate": '{"a":1,"a":2}',
        "lone_surrogate": '["\\ud800"]',
        "leading_zero": "[01]",
        "too_deep": "[" * 70 + "]" * 70,
    }
    for name, text in docs.items():
        write(os.path.join(out, "json", name + ".json"), text.encode("utf-8"))


# ------------------------------------------------------------------------------- images

def idx(magic_type, dims, raw):
    return struct.pack(">BBBB", 0, 0, magic_type, len(dims)) + b"".join(
        struct.pack(">I", d) for d in dims) + raw


def pgm(w, h, pixels, binary=True):
    if binary:
        return b"P5\n%d %d\n255\n" % (w, h) + bytes(pixels)
    return (b"P2\n# comment\n%d %d\n255\n" % (w, h)) + b" ".join(b"%d" % p for p in pixels) + b"\n"


def bmp24(w, h, rgb):
    row = (w * 3 + 3) // 4 * 4
    data = bytearray()
    for y in range(h - 1, -1, -1):  # bottom-up
        line = bytearray()
        for x in range(w):
            r, g, b = rgb[y * w + x]
            line += bytes((b, g, r))
        data += line + bytes(row - len(line))
    head = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return head + info + bytes(data)


def png(w, h, color_type, pixels, depth=8):
    """color_type 0 (gray), 2 (RGB) or 6 (RGBA), samples of `depth` 8 or 16 bits (pixels are
    then bytes, big-endian pairs); filter 0 on every row."""
    bpp = {0: 1, 2: 3, 6: 4}[color_type] * depth // 8
    raw = b"".join(b"\0" + bytes(pixels[y * w * bpp:(y + 1) * w * bpp]) for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type,
                                                                0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def jpeg_gray8():
    """The smallest baseline JPEG we can write by hand: 8 x 8 grey, every coefficient 0. Both
    Huffman tables hold one 1-bit code (DC category 0, AC end-of-block), so the scan is 2 bits."""
    def seg(marker, body):
        return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body
    one_code = bytes([1] + [0] * 15) + b"\0"
    return (b"\xff\xd8" + seg(0xDB, b"\0" + bytes([1] * 64)) +
            seg(0xC0, bytes((8, 0, 8, 0, 8, 1, 1, 0x11, 0))) +
            seg(0xC4, b"\x00" + one_code) + seg(0xC4, b"\x10" + one_code) +
            seg(0xDA, bytes((1, 1, 0x00, 0, 63, 0))) + b"\x3f" + b"\xff\xd9")


def tga(w, h, bgr, rle=False):
    head = struct.pack("<BBBHHBHHHHBB", 0, 0, 10 if rle else 2, 0, 0, 0, 0, 0, w, h, 24, 0)
    if not rle:
        return head + b"".join(bytes(p) for p in bgr)
    # one run packet of the first pixel, then a raw packet of the rest
    return head + bytes((0x80,)) + bytes(bgr[0]) + bytes((len(bgr) - 2,)) + b"".join(
        bytes(p) for p in bgr[1:])


GIF_1X1 = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
           b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00"
           b"\x02\x02D\x01\x00;")


def png16(w, h, gray):
    return png(w, h, 0, [b for v in gray for b in struct.pack(">H", v)], depth=16)


def image_corpus(out):
    gray = [(x * 37 + y * 11) % 256 for y in range(6) for x in range(5)]
    rgb = [((x * 40) % 256, (y * 50) % 256, ((x + y) * 30) % 256) for y in range(4) for x in range(3)]
    files = {
        "images.idx3-ubyte": idx(0x08, [2, 4, 3], bytes(range(24))),
        "labels.idx1-ubyte": idx(0x08, [3], bytes([0, 9, 4])),
        "floats.idx": idx(0x0D, [1, 2, 2], struct.pack(">4f", 0.0, 0.5, 1.0, -1.0)),
        "gray.pgm": pgm(5, 6, gray),
        "gray_ascii.pgm": pgm(5, 6, gray, binary=False),
        "rgb.bmp": bmp24(3, 4, rgb),
        "gray.png": png(5, 6, 0, gray),
        "rgb.png": png(3, 4, 2, [c for p in rgb for c in p]),
        "images.idx3-ubyte.gz": gzip.compress(idx(0x08, [2, 4, 3], bytes(range(24))), mtime=0),
        "rgb_nhwc.idx": idx(0x08, [1, 2, 2, 3], bytes(range(0, 240, 20))),
        "rgb.ppm": b"P6\n3 4\n255\n" + bytes(c for p in rgb for c in p),
        "gray16.png": png16(4, 3, [i * 5000 for i in range(12)]),
        "rgba.png": png(2, 2, 6, [255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 9, 9, 9, 9]),
        "gray8.jpg": jpeg_gray8(),
        "rgb.tga": tga(2, 2, [(1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12)]),
        "rle.tga": tga(2, 2, [(1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12)], rle=True),
        "dot.gif": GIF_1X1,
        "tiny.hdr": b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + bytes(
            (128, 64, 32, 129, 10, 20, 30, 128, 0, 0, 0, 0, 255, 255, 255, 130)),
        "labels.txt": b"0\n3\n 9 \r\n\n1",
        "names.txt": b"cat\r\ndog\nbird",
        "names.json": json.dumps(["cat", "dog"]).encode(),
        "preprocess.json": json.dumps({"height": 6, "width": 5, "channels": 3, "resize": 7,
                                       "crop": [6, 5], "mean": [0.5, 0.4, 0.3], "std": 0.25,
                                       "interpolation": "bilinear"}).encode(),
        "preprocess_exact.json": json.dumps({"resize": [9, 4], "crop": 3, "mean": 0.5,
                                             "std": [2]}).encode(),
        # near-valid
        "idx_truncated.idx3-ubyte": idx(0x08, [2, 4, 3], bytes(range(20))),
        "idx_huge_dims.idx3-ubyte": idx(0x08, [0xFFFFFFFF, 0xFFFFFFFF, 2], b""),
        "pgm_truncated.pgm": pgm(5, 6, gray)[:-7],
        "png_bad_crc.png": png(3, 4, 2, [c for p in rgb for c in p])[:-5] + b"\0\0\0\0\0",
    }
    for name, data in files.items():
        write(os.path.join(out, "idx_image", name), data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    st_corpus(out)
    npy_corpus(out)
    json_corpus(out)
    image_corpus(out)


if __name__ == "__main__":
    main()
