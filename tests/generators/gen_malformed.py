#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes broken weights files and inputs for malformed_cases.sh.

  gen_malformed.py OUTDIR

Starts from a small valid CIFAR-stem DenseNet-BC (1 input channel, 7 classes, blocks (4, 4),
k = 8: the architecture of gen_fixtures.py's densenet_bc_c1_k7) written by safetensors_io, and a
valid [5, 1, 28, 28] input, then breaks one thing per case. OUTDIR/cases.tsv lists the cases, one
a line, tab-separated:

  NAME  WEIGHTS  INPUT  ARGS  EXPECT

WEIGHTS and INPUT are file names in OUTDIR, ARGS extra `densecl run` arguments separated by
spaces ("-" for none), EXPECT either "OK" (the run must succeed) or what the one-line error must
contain: ";"-separated groups, each a "|"-separated list of alternatives, matched
case-insensitively; every group must match.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "export"))
import export_torchvision as export  # noqa: E402
import gen_fixtures  # noqa: E402
from safetensors_io import (atomic_write_bytes, build_file, encode_tensor,  # noqa: E402
                            read_safetensors, serialize)

SEED = 77
INPUT_SHAPE = (5, 1, 28, 28)
BASE_WEIGHTS = "base.safetensors"
BASE_INPUT = "base.input.npy"
# The rewrite race of malformed_cases.sh: one larger model (3 input channels, so that a run with
# the 1-channel base input stops right after loading it) as F32 and as F16, two valid files of
# different sizes that the test copies over each other while densecl loads them.
RACE_FILES = ("race_f32.safetensors", "race_f16.safetensors")

# Error texts a good message contains (alternatives); loose on purpose.
TRUNCATED = "truncat|short|beyond|exceed|past|end of file|eof|size|length|offset|bytes|small"
HEADER = "json|parse|syntax|header|invalid|malformed|unexpected|expected"
OFFSETS = "offset|gap|contiguous|hole|cover|overlap|unused|beyond|exceed|range|bounds"
DTYPE = "dtype|type"
# Cases whose message must also name the file: file-level format errors.
FILE_LEVEL = ("truncated", "header", "offsets")
INPUT_FILE_LEVEL = ("input_truncated", "input_not_npy")

# Keys the cases break (all in the base model)
CONV_KEY = "features.conv0.weight"
I64_KEY = "features.denseblock1.denselayer1.conv1.weight"
MISSING_KEY = "features.denseblock1.denselayer2.norm2.running_var"
EXTRA_KEY = "features.denseblock1.denselayer1.extra.weight"
SHAPE_KEY = "features.transition1.norm.running_mean"
BIAS_KEY = "features.denseblock2.denselayer3.norm2.bias"
VAR_KEY = "features.norm5.running_var"
# The shipped Fashion-MNIST model with one NaN weight, for `classify --truth` (which reported
# the accuracy of constant answers, about 10%, before NaN weights were refused).
FASHION_NAN = "fashion_nan.safetensors"
SHIPPED = os.path.join(ROOT, "models", "densenet-fashion.safetensors")


def base_arrays():
    """State dict of the seeded, BN-randomised base model (float32, no num_batches_tracked)."""
    torch.manual_seed(SEED)
    model = gen_fixtures.randomize(gen_fixtures.cifar_densenet(8, (4, 4), 16, 7, 1)())
    return export.state_dict_arrays(model.eval())


def entries_of(arrays):
    return [(name,) + encode_tensor(array, "f32") for name, array in arrays.items()]


def metadata():
    return {"format": "pt", "source": "densecl tests/generators/gen_malformed.py"}


def file_bytes(arrays, meta=None):
    header, data = build_file(entries_of(arrays), meta if meta is not None else metadata())
    return serialize(header, data)


def edited(arrays, edit):
    """File bytes after edit(header, data) -> (header, data) on the laid-out base file."""
    header, data = build_file(entries_of(arrays), metadata())
    header, data = edit(header, data)
    return serialize(header, data)


def tensor_names(header):
    return [k for k in header if k != "__metadata__"]


def shift_after(header, first, delta):
    """Moves the data_offsets of every tensor after `first` by delta bytes."""
    names = tensor_names(header)
    for name in names[names.index(first) + 1:]:
        begin, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [begin + delta, end + delta]


def gap(header, data):
    first = tensor_names(header)[0]
    cut = header[first]["data_offsets"][1]
    shift_after(header, first, 4)
    return header, data[:cut] + b"\0" * 4 + data[cut:]


def overlap(header, data):
    first = tensor_names(header)[0]
    shift_after(header, first, -4)
    return header, data[:-4]


def beyond(header, data):
    last = tensor_names(header)[-1]
    begin, end = header[last]["data_offsets"]
    header[last]["data_offsets"] = [len(data) + 64, len(data) + 64 + end - begin]
    return header, data


def shape_size(header, data):
    header[CONV_KEY]["shape"][-1] -= 1
    return header, data


def unknown_dtype(header, data):
    header[CONV_KEY]["dtype"] = "F8_E9M9"
    return header, data


def metadata_number(header, data):
    header["__metadata__"] = {"format": 1}
    return header, data


def with_header_length(blob, length):
    return struct.pack("<Q", length) + blob[8:]


def with_header_text(blob, text):
    """Replaces the header with text padded by spaces to the original length."""
    (hlen,) = struct.unpack("<Q", blob[:8])
    raw = text.encode()
    assert len(raw) <= hlen
    return blob[:8] + raw + b" " * (hlen - len(raw)) + blob[8 + hlen:]


def duplicate_key(arrays):
    header, data = build_file(entries_of(arrays), metadata())
    text = json.dumps(header, separators=(",", ":"))
    entry = f'"{CONV_KEY}":' + json.dumps(header[CONV_KEY], separators=(",", ":"))
    return serialize(None, data, header_text=text[:-1] + "," + entry + "}")


def race_files():
    """{file name: bytes} of the two race files (about 4 and 2 MB)."""
    torch.manual_seed(SEED + 1)
    model = gen_fixtures.randomize(gen_fixtures.cifar_densenet(24, (8, 8, 8), 48, 10, 3)())
    arrays = export.state_dict_arrays(model.eval())
    blobs = {}
    for name, dtype in zip(RACE_FILES, ("f32", "f16")):
        entries = [(key,) + encode_tensor(array, dtype) for key, array in arrays.items()]
        blobs[name] = serialize(*build_file(entries, metadata()))
    return blobs


def f64_bytes(arrays, edit=None):
    """The arrays as an F64 file; edit(name, float64 array) may change them."""
    entries = []
    for name, array in arrays.items():
        wide = np.array(array, dtype="<f8")
        if edit:
            edit(name, wide)
        entries.append((name, "F64", list(wide.shape), wide.tobytes()))
    return serialize(*build_file(entries, metadata()))


def with_value(arrays, key, index, value):
    """A copy of arrays with arrays[key].flat[index] = value."""
    out = dict(arrays)
    out[key] = arrays[key].copy()
    out[key].flat[index] = value
    return out


def fashion_nan():
    tensors, meta, _ = read_safetensors(SHIPPED)
    tensors = with_value(tensors, CONV_KEY, 7, np.nan)
    header, data = build_file([(k,) + encode_tensor(v, "f32") for k, v in tensors.items()], meta)
    return serialize(header, data)


def huge_at_3(name, wide):
    if name == CONV_KEY:
        wide.flat[3] = 1e300


def weight_cases(arrays, base):
    """[(name, file bytes, args, expect)] for broken weights files. File-level format errors
    (truncated_*, header_*, offsets_*) must also name the file."""
    (hlen,) = struct.unpack("<Q", base[:8])
    cuts = {"0": 0, "4": 4, "header_mid": 8 + hlen // 2, "header_end": 8 + hlen,
            "data_mid": (8 + hlen + len(base)) // 2, "last_byte": len(base) - 1}
    cases = [(f"truncated_{label}", base[:cut], [], TRUNCATED) for label, cut in cuts.items()]
    i64 = dict(arrays)
    i64[I64_KEY] = np.round(arrays[I64_KEY] * 100).astype(np.int64)
    missing = {k: v for k, v in arrays.items() if k != MISSING_KEY}
    extra = dict(arrays)
    extra[EXTRA_KEY] = np.ones(8, np.float32)
    wrong = dict(arrays)
    wrong[SHAPE_KEY] = arrays[SHAPE_KEY][:-1]
    cfg = export.densenet_config(12, (4, 4), 16, stem="cifar", in_channels=1, num_classes=7)
    bad_meta = dict(metadata(), **{"densecl.config": json.dumps(cfg)})
    n = wrong[SHAPE_KEY].shape[0]
    cases += [
        ("header_length_beyond_file", with_header_length(base, len(base)), [],
         "header|length|exceed|beyond|truncat|large|size"),
        ("header_length_huge", with_header_length(base, 1 << 63), [],
         "header|length|exceed|beyond|truncat|large|size"),
        # 8 + length wraps to 0 in 64-bit arithmetic
        ("header_length_wraps", with_header_length(base, (1 << 64) - 8), [],
         "header|length|exceed|beyond|truncat|large|size"),
        ("header_not_json", with_header_text(base, '{"features.conv0.weight": {dtype'), [],
         HEADER),
        ("header_json_array", with_header_text(base, "[1, 2, 3]"), [],
         "object|array|header|json|expected"),
        ("header_duplicate_key", duplicate_key(arrays), [],
         "duplicate|twice|repeat|more than once"),
        ("metadata_not_string", edited(arrays, metadata_number), [], "metadata|string"),
        ("offsets_gap", edited(arrays, gap), [], OFFSETS),
        ("offsets_overlap", edited(arrays, overlap), [], OFFSETS),
        ("offsets_beyond_file", edited(arrays, beyond), [], OFFSETS + "|truncat"),
        ("trailing_bytes", base + b"\0" * 16, [],
         "trailing|extra|unused|offset|size|length|bytes|cover|end"),
        ("shape_size_mismatch", edited(arrays, shape_size), [],
         f"{CONV_KEY};size|shape|bytes|offset|match"),
        ("unknown_dtype", edited(arrays, unknown_dtype), [],
         f"{DTYPE}|F8_E9M9|unknown|unsupported"),
        ("i64_weight", file_bytes(i64), [], f"{I64_KEY};{DTYPE}|I64|int"),
        ("missing_key", file_bytes(missing), [],
         f"{MISSING_KEY};missing|not found|absent|lack|no tensor|expected"),
        ("unexpected_key", file_bytes(extra), [],
         f"{EXTRA_KEY};unexpected|unknown|extra|unused|not expected|unrecognized"),
        ("wrong_shape", file_bytes(wrong), [], f"{SHAPE_KEY};{n};{n + 1}"),
        ("config_metadata_disagrees", file_bytes(arrays, bad_meta), [],
         "match|growth|shape|config|expect|differ|inconsistent"),
        ("model_mismatch", base, ["--model", "densenet121"],
         "match|missing|expect|shape|densenet121|unexpected|differ"),
        # Values no trained model has (issue 15): refused with the key and the index, unless
        # --allow-nonfinite-weights; F64 is read, but not a value float32 cannot hold.
        ("nan_weight", file_bytes(with_value(arrays, CONV_KEY, 3, np.nan)), [],
         f"{CONV_KEY};nan;index 3"),
        ("inf_bn_bias", file_bytes(with_value(arrays, BIAS_KEY, 2, -np.inf)), [],
         f"{BIAS_KEY};inf;index 2"),
        ("negative_running_var", file_bytes(with_value(arrays, VAR_KEY, 5, -0.25)), [],
         f"{VAR_KEY};negative;index 5"),
        ("nan_weight_allowed", file_bytes(with_value(arrays, CONV_KEY, 3, np.nan)),
         ["--allow-nonfinite-weights"], "OK"),
        ("f64_weights", f64_bytes(arrays), [], "OK"),
        ("f64_out_of_range", f64_bytes(arrays, huge_at_3), [],
         f"{CONV_KEY};range|float32;index 3"),
    ]
    return cases


def npy_bytes(array, descr=None, fortran=False):
    """A version 1.0 .npy of array, optionally lying about its descr or order."""
    header = {"descr": descr or array.dtype.str, "fortran_order": fortran,
              "shape": tuple(array.shape)}
    text = repr(header).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    order = "F" if fortran else "C"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + \
        array.tobytes(order=order)


def input_cases(x):
    """[(name, file bytes, expect)] for broken inputs (run with the valid base weights)."""
    rng = np.random.default_rng(SEED)
    good = npy_bytes(x)
    return [
        ("input_truncated", good[:len(good) - x.nbytes // 2],
         "truncat|short|size|data|bytes|eof|end|expected"),
        ("input_int32", npy_bytes(x.astype("<i4")), "dtype|<i4|i4|int|type|float|descr|f4"),
        ("input_big_endian", npy_bytes(x.astype(">f4")),
         "endian|>f4|byte order|dtype|type|unsupported"),
        ("input_fortran_order", npy_bytes(np.asfortranarray(x), fortran=True),
         "fortran|order|contiguous|layout|unsupported"),
        ("input_rank3", npy_bytes(x[0]), "rank|dim|shape|nchw|4-d|4d|ndim"),
        ("input_wrong_channels", npy_bytes(rng.standard_normal((2, 3, 28, 28), np.float32)),
         "channel"),
        ("input_too_small", npy_bytes(rng.standard_normal((1, 1, 1, 1), np.float32)),
         "small|size|min|least|too"),
        ("input_too_small_1x40", npy_bytes(rng.standard_normal((2, 1, 1, 40), np.float32)),
         "small|size|min|least|too"),
        ("input_empty_batch", npy_bytes(np.zeros((0, 1, 28, 28), np.float32)),
         "empty|batch|zero|size|least|positive|must|invalid"),
        ("input_not_npy", b"hello, this is not a numpy file\n", "npy|magic|numpy|format|header"),
    ]


def write(outdir, name, blob):
    atomic_write_bytes(os.path.join(outdir, name), blob)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    arrays = base_arrays()
    base = file_bytes(arrays)
    x = np.random.default_rng(SEED).standard_normal(INPUT_SHAPE, np.float32)
    write(args.outdir, BASE_WEIGHTS, base)
    write(args.outdir, BASE_INPUT, npy_bytes(x))
    for name, blob in race_files().items():
        write(args.outdir, name, blob)
    write(args.outdir, FASHION_NAN, fashion_nan())
    rows = [("valid", BASE_WEIGHTS, BASE_INPUT, "-", "OK")]
    for name, blob, extra, expect in weight_cases(arrays, base):
        filename = name + ".safetensors"
        write(args.outdir, filename, blob)
        if name.startswith(FILE_LEVEL):
            expect = f"{filename};{expect}"
        rows.append((name, filename, BASE_INPUT, " ".join(extra) or "-", expect))
    rows.append(("missing_weights_file", "no-such-file.safetensors", BASE_INPUT, "-",
                 "no-such-file.safetensors;no such|cannot|can't|not found|exist|open"))
    for name, blob, expect in input_cases(x):
        filename = name + ".npy"
        write(args.outdir, filename, blob)
        if name in INPUT_FILE_LEVEL:
            expect = f"{filename};{expect}"
        rows.append((name, BASE_WEIGHTS, filename, "-", expect))
    text = "".join("\t".join(row) + "\n" for row in rows)
    write(args.outdir, "cases.tsv", text.encode())
    print(f"gen_malformed: {len(rows)} cases in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
