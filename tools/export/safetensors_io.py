# SPDX-License-Identifier: MIT
"""Minimal safetensors reader/writer (numpy only) for densecl's tools and tests.

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
N bytes of JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}} padded with spaces to a multiple of 8, then the tensor bytes, each
tensor C-order little-endian at [begin, end) relative to the end of the header, contiguous and
without gaps.

bfloat16 has no numpy dtype: it travels as uint16 bit patterns (round-to-nearest-even from
float32, as torch does).
"""

import json
import os
import struct
import sys

import numpy as np

# safe_output.py sits beside this file (tools/export, or share/densecl/python installed).
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safe_output  # noqa: E402

# name -> (safetensors dtype, numpy storage dtype)
FLOAT_DTYPES = {
    "f32": ("F32", np.dtype("<f4")),
    "f16": ("F16", np.dtype("<f2")),
    "bf16": ("BF16", np.dtype("<u2")),
}

# safetensors dtype -> numpy storage dtype, for everything this module reads or writes
_ST_TO_NUMPY = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
# (numpy kind, item size) -> safetensors dtype, for the non-float tensors tests write
_OTHER_DTYPES = {("i", 8): "I64", ("i", 4): "I32", ("i", 2): "I16", ("i", 1): "I8",
                 ("u", 1): "U8", ("b", 1): "BOOL"}


def float32_to_bf16_bits(x):
    """float32 array -> uint16 bfloat16 bit patterns, round to nearest even (NaN kept NaN)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    rounded = np.where(nan, (u >> 16) | 0x40, rounded)
    return rounded.astype(np.uint16)


def bf16_bits_to_float32(bits):
    """uint16 bfloat16 bit patterns -> float32."""
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def quantize(x, dtype):
    """Rounds a float array to dtype ("f32", "f16", "bf16") and back to float32."""
    x = np.asarray(x, dtype=np.float32)
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float32)
    if dtype == "bf16":
        return bf16_bits_to_float32(float32_to_bf16_bits(x))
    if dtype == "f32":
        return x
    raise ValueError(f"unknown dtype {dtype!r} (f32, f16 or bf16)")


def encode_tensor(array, dtype):
    """Returns (safetensors dtype, shape, bytes) for one array.

    Floating arrays are stored as dtype ("f32", "f16", "bf16"); other arrays keep their own type
    (int64 -> I64, ...), so that tests can write non-float tensors.
    """
    array = np.asarray(array)
    shape = list(array.shape)
    if array.dtype.kind == "f":
        st_dtype, np_dtype = FLOAT_DTYPES[dtype]
        if dtype == "bf16":
            data = float32_to_bf16_bits(array.astype(np.float32))
        else:
            data = array.astype(np_dtype)
        return st_dtype, shape, np.ascontiguousarray(data).tobytes()
    st_dtype = _OTHER_DTYPES.get((array.dtype.kind, array.dtype.itemsize))
    if st_dtype is None:
        raise ValueError(f"no safetensors dtype for numpy {array.dtype}")
    data = np.ascontiguousarray(array, dtype=_ST_TO_NUMPY[st_dtype])
    return st_dtype, shape, data.tobytes()


def build_file(entries, metadata=None):
    """Lays out a file from [(name, st_dtype, shape, raw bytes)] in the given order.

    Returns (header dict, data bytes); serialize() turns them into the file's bytes. Tests edit the
    header dict in between to make broken files.
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks, offset = [], 0
    for name, st_dtype, shape, raw in entries:
        header[name] = {"dtype": st_dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return header, b"".join(chunks)


def serialize(header, data, header_text=None):
    """File bytes: length, JSON header padded with spaces to a multiple of 8, data.

    header_text, when given, replaces the JSON encoding of header (for broken files).
    """
    text = header_text if header_text is not None else \
        json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    raw = text.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def atomic_write_bytes(path, blob):
    """Writes blob to path by densecl's rules for outputs (safe_output.py): through symbolic
    links, devices and FIFOs, else via a temporary in the same directory renamed over it."""
    safe_output.write_bytes(path, blob)


def write_safetensors(path, tensors, metadata=None, dtype="f32"):
    """Writes {name: np.ndarray} (in insertion order) with float tensors stored as dtype."""
    entries = [(name,) + encode_tensor(array, dtype) for name, array in tensors.items()]
    header, data = build_file(entries, metadata)
    atomic_write_bytes(path, serialize(header, data))


def read_safetensors(path):
    """Reads a file written by write_safetensors (strictly checked).

    Returns (tensors, metadata, dtypes): float tensors converted to float32, other tensors in
    their own numpy type; metadata a dict (empty if absent); dtypes the file's dtype per name.
    """
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise ValueError(f"{path}: header length {hlen} beyond the file")
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    data = blob[8 + hlen:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors, dtypes, spans = {}, {}, []
    for name, info in header.items():
        np_dtype = _ST_TO_NUMPY[info["dtype"]]
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if end - begin != count * np_dtype.itemsize or not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: {name}: data_offsets {begin, end} do not fit")
        array = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(info["shape"])
        if info["dtype"] == "BF16":
            array = bf16_bits_to_float32(array)
        elif array.dtype.kind == "f":
            array = array.astype(np.float32)
        tensors[name], dtypes[name] = array, info["dtype"]
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise ValueError(f"{path}: data_offsets leave a gap or overlap at byte {begin}")
        position = end
    if position != len(data):
        raise ValueError(f"{path}: {len(data) - position} bytes after the last tensor")
    return tensors, metadata, dtypes
