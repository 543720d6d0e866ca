#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the small images of tests/unit/data/image_to_input/ (committed; rerun only to change
them).

Odd sizes, every layout stb_image hands classify: 8- and 16-bit PNG in grey, grey + alpha, RGB
and RGBA, and JPEG in colour and grey. The pixels are a seeded mix of gradients and noise, so
that resampling, cropping and the channel mapping all change the values. PNG is written here
(zlib), since PIL cannot write 16-bit colour PNG; JPEG by PIL.

    /usr/bin/python3 tests/generators/gen_image_to_input.py tests/unit/data/image_to_input
"""
import io
import struct
import sys
import zlib

import numpy as np
from PIL import Image


def pixels(rng, h, w, c, bits):
    top = (1 << bits) - 1
    y, x = np.mgrid[0:h, 0:w]
    base = (x / max(w - 1, 1) + y / max(h - 1, 1)) / 2
    out = np.empty((h, w, c))
    for k in range(c):
        out[..., k] = 0.6 * np.roll(base, k * 3, axis=1) + 0.4 * rng.random((h, w))
    return np.clip(np.round(out * top), 0, top).astype(np.uint16 if bits == 16 else np.uint8)


def png(path, px, bits):
    h, w, c = px.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = px.astype(">u2" if bits == 16 else "u1").tobytes()
    stride = w * c * bits // 8
    rows = b"".join(b"\0" + raw[y * stride:(y + 1) * stride] for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, ctype, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


def jpeg(path, px):
    mode = "L" if px.shape[2] == 1 else "RGB"
    im = Image.fromarray(px[..., 0] if mode == "L" else px, mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    open(path, "wb").write(buf.getvalue())


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(2026)
    # name: (width, height, channels, bits, format)
    images = {
        "rgb8_37x23.png": (37, 23, 3, 8, "png"),
        "rgb16_31x19.png": (31, 19, 3, 16, "png"),
        "rgba8_23x37.png": (23, 37, 4, 8, "png"),
        "rgba16_17x29.png": (17, 29, 4, 16, "png"),
        "grey8_33x27.png": (33, 27, 1, 8, "png"),
        "grey16_21x15.png": (21, 15, 1, 16, "png"),
        "greya16_19x25.png": (19, 25, 2, 16, "png"),
        "rgb_41x29.jpg": (41, 29, 3, 8, "jpg"),
        "grey_27x35.jpg": (27, 35, 1, 8, "jpg"),
    }
    for name, (w, h, c, bits, fmt) in images.items():
        px = pixels(rng, h, w, c, bits)
        if fmt == "png":
            png(f"{out}/{name}", px, bits)
        else:
            jpeg(f"{out}/{name}", px)


main()
