#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the ONNX test files: DenseNets exported by torch.onnx.export with torchvision's logits,
and files densecl must refuse.

  gen_onnx.py OUTDIR

OUTDIR/parity.tsv lists NAME (NAME.onnx, NAME.input.npy, NAME.expected.npy: float64 logits of
the eval-mode torch model, as float32). OUTDIR/refused.tsv lists FILE <tab> EXPECTED, where
EXPECTED is the text the one error line must hold (";" separates texts that must all be there).
Skipped when OUTDIR/stamp matches the scripts and torch's version.

The refused files that need a changed protobuf are edited with a small wire-format editor
below (test-side only: the library decodes with protobuf-c).
"""

import hashlib
import os
import pickle
import shutil
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_fixtures as fx  # noqa: E402


# ------------------------------------------------------------------------ protobuf wire editing

def _varint(b, i):
    shift = value = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def pb_decode(b):
    """[(field, wiretype, value)]: value is an int (varint, fixed) or bytes (length-delimited)."""
    out, i = [], 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(b, i)
        elif wt == 1:
            val, i = b[i:i + 8], i + 8
        elif wt == 5:
            val, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = _varint(b, i)
            val, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        out.append((field, wt, val))
    return out


def _enc_varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pb_encode(fields):
    out = bytearray()
    for field, wt, val in fields:
        out += _enc_varint(field << 3 | wt)
        if wt == 0:
            out += _enc_varint(val)
        elif wt == 2:
            out += _enc_varint(len(val)) + val
        else:
            out += val
    return bytes(out)


def edit_initializers(model_bytes, edit):
    """Calls edit(index, tensor_fields) -> tensor_fields for each graph initializer."""
    model = pb_decode(model_bytes)
    for m, (field, wt, val) in enumerate(model):
        if field != 7:  # ModelProto.graph
            continue
        graph = pb_decode(val)
        index = 0
        for g, (gf, gwt, gval) in enumerate(graph):
            if gf == 5:  # GraphProto.initializer
                graph[g] = (gf, gwt, pb_encode(edit(index, pb_decode(gval))))
                index += 1
        model[m] = (field, wt, pb_encode(graph))
    return pb_encode(model)


def nested(levels):
    """A ModelProto whose graph's node's attribute holds a graph ..., levels times: protobuf-c
    decodes nesting by recursion, so this once overflowed the stack."""
    tags = [bytes([7 << 3 | 2])] + [bytes([1 << 3 | 2]), bytes([5 << 3 | 2]),
                                    bytes([6 << 3 | 2])] * levels
    sizes = [0] * (len(tags) + 1)
    for k in range(len(tags) - 1, -1, -1):
        sizes[k] = len(tags[k]) + len(_enc_varint(sizes[k + 1])) + sizes[k + 1]
    out = bytearray(b"\x08\x07")
    for k, tag in enumerate(tags):
        out += tag + _enc_varint(sizes[k + 1])
    return bytes(out)


def add_identities(model_bytes):
    """Routes every Conv's weight and every Relu's output through an Identity node, as exporters
    do for shared or renamed values: what densecl must look through. Each Identity goes next to
    its node (before a Conv, after a Relu), so the graph stays topologically sorted, as the ONNX
    checker (and densecl) require."""
    model = pb_decode(model_bytes)
    for m, (field, wt, val) in enumerate(model):
        if field != 7:
            continue
        out = []
        for gf, gwt, gval in pb_decode(val):
            if gf != 1:  # GraphProto.node
                out.append((gf, gwt, gval))
                continue
            node = pb_decode(gval)
            op = next(v for f, _, v in node if f == 4)
            inputs = [i for i, (f, _, _) in enumerate(node) if f == 1]
            outputs = [i for i, (f, _, _) in enumerate(node) if f == 2]
            before, after = [], []
            if op == b"Conv":
                k = inputs[1]
                name = node[k][2]
                node[k] = (1, 2, name + b"_id")
                before.append([(1, 2, name), (2, 2, name + b"_id"), (4, 2, b"Identity")])
            elif op == b"Relu":
                k = outputs[0]
                name = node[k][2]
                node[k] = (2, 2, name + b"_pre")
                after.append([(1, 2, name + b"_pre"), (2, 2, name), (4, 2, b"Identity")])
            out += [(1, 2, pb_encode(n)) for n in before]
            out.append((gf, gwt, pb_encode(node)))
            out += [(1, 2, pb_encode(n)) for n in after]
        model[m] = (field, wt, pb_encode(out))
    return pb_encode(model)


def string_entry(key, value):
    return pb_encode([(1, 2, key.encode()), (2, 2, value.encode())])


def tensor_name(t):
    return next(v.decode() for f, _, v in t if f == 8)


def to_external(t, location, offset, data):
    """TensorProto fields with raw_data (9) moved to data[offset:], located at location."""
    raw = next(v for f, _, v in t if f == 9)
    data += raw
    rest = [x for x in t if x[0] != 9]
    return rest + [(13, 2, string_entry("location", location)),
                   (13, 2, string_entry("offset", str(offset))),
                   (13, 2, string_entry("length", str(len(raw)))), (14, 0, 1)]


# ------------------------------------------------------------------------ models

def densenet121(num_classes=1000):
    return lambda: torchvision.models.densenet121(weights=None, num_classes=num_classes)


class Doubled(nn.Module):
    """A DenseNet whose logits are doubled: one Mul that densecl must refuse."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) * 2.0


# name, build, seed, input shape, opset, constant folding, dynamic batch
PARITY = [
    ("d121_op11_dyn", densenet121(), 11, (2, 3, 64, 64), 11, True, True),
    ("d121_op11_nofold", densenet121(), 111, (1, 3, 64, 64), 11, False, False),
    ("d121_op13_nofold", densenet121(), 13, (1, 3, 64, 64), 13, False, False),
    ("d121_op13_fold_dyn", densenet121(), 131, (2, 3, 56, 72), 13, True, True),
    ("bc100_op17", fx.cifar_densenet(12, (16, 16, 16), 24, 10), 100, (3, 3, 32, 32), 17, True,
     True),
    ("d121_5class_op11", densenet121(5), 5, (2, 3, 64, 64), 11, True, True),
    ("d40_op13", lambda: fx.PlainDenseNet(12, (4, 4, 4), 16, 1.0, 10), 40, (2, 3, 32, 32), 13,
     False, True),
]


def export(model, x, path, opset, fold, dynamic):
    kw = {"input_names": ["input"], "output_names": ["logits"], "opset_version": opset,
          "do_constant_folding": fold}
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.from_numpy(x[:1] if not dynamic else x), tmp, **kw)
    os.replace(tmp, path)


def make(build, seed, shape):
    torch.manual_seed(seed)
    model = fx.randomize(build()).eval()
    case = fx.Case("onnx", build, shape, "f32", False, [], None, seed)
    x, expected = fx.make_input(case, model)
    return model.float(), x, expected


def write(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def stamp():
    digest = hashlib.sha256()
    for name in ("gen_onnx.py", "gen_fixtures.py"):
        with open(os.path.join(HERE, name), "rb") as f:
            digest.update(f.read())
    digest.update(f"torch {torch.__version__} torchvision {torchvision.__version__}".encode())
    return digest.hexdigest()


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    stamp_path = os.path.join(outdir, "stamp")
    if os.path.isfile(stamp_path) and open(stamp_path).read().strip() == stamp():
        print("gen_onnx: up to date")
        return 0
    torch.set_num_threads(2)
    parity = []
    for name, build, seed, shape, opset, fold, dynamic in PARITY:
        model, x, expected = make(build, seed, shape)
        base = os.path.join(outdir, name)
        export(model, x, base + ".onnx", opset, fold, dynamic)
        fx.save_npy(base + ".input.npy", x)
        fx.save_npy(base + ".expected.npy", expected)
        parity.append(name)
        print(f"{name}: opset {opset}, folding {fold}, dynamic batch {dynamic}, input "
              f"{list(x.shape)}", flush=True)

    # The small CIFAR model again with every tensor in an external data file beside it.
    src = open(os.path.join(outdir, "bc100_op17.onnx"), "rb").read()
    data = bytearray()
    ext = edit_initializers(src, lambda i, t: to_external(t, "bc100_ext.bin", len(data), data))
    write(os.path.join(outdir, "bc100_ext.onnx"), ext)
    write(os.path.join(outdir, "bc100_ext.bin"), bytes(data))
    for suffix in (".input.npy", ".expected.npy"):
        write(os.path.join(outdir, "bc100_ext" + suffix),
              open(os.path.join(outdir, "bc100_op17" + suffix), "rb").read())
    parity.append("bc100_ext")
    # ... and with Identity nodes on the weights and after every Relu.
    write(os.path.join(outdir, "bc100_identity.onnx"), add_identities(src))
    for suffix in (".input.npy", ".expected.npy"):
        write(os.path.join(outdir, "bc100_identity" + suffix),
              open(os.path.join(outdir, "bc100_op17" + suffix), "rb").read())
    parity.append("bc100_identity")
    # ... and with ir_version written last: recognised by its .onnx name, not its first byte.
    fields = pb_decode(src)
    write(os.path.join(outdir, "bc100_reordered.onnx"),
          pb_encode([f for f in fields if f[0] != 1] + [f for f in fields if f[0] == 1]))
    for suffix in (".input.npy", ".expected.npy"):
        write(os.path.join(outdir, "bc100_reordered" + suffix),
              open(os.path.join(outdir, "bc100_op17" + suffix), "rb").read())
    parity.append("bc100_reordered")
    # ... and with its external data in a subdirectory (real directories: no link).
    nest_data = bytearray()
    os.makedirs(os.path.join(outdir, "nested", "dir"), exist_ok=True)
    write(os.path.join(outdir, "bc100_nested.onnx"),
          edit_initializers(src, lambda i, t: to_external(t, "nested/dir/weights.bin",
                                                          len(nest_data), nest_data)))
    write(os.path.join(outdir, "nested", "dir", "weights.bin"), bytes(nest_data))
    for suffix in (".input.npy", ".expected.npy"):
        write(os.path.join(outdir, "bc100_nested" + suffix),
              open(os.path.join(outdir, "bc100_op17" + suffix), "rb").read())
    parity.append("bc100_nested")

    refused = []

    def refuse(name, blob, expect, absent=""):
        write(os.path.join(outdir, name), blob)
        refused.append((name, expect, absent))

    # Not DenseNets: a ResNet-18, a DenseNet with one extra node.
    torch.manual_seed(18)
    resnet = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    path = os.path.join(outdir, "resnet18.onnx")
    torch.onnx.export(resnet, x, path, opset_version=13)
    refused.append(("resnet18.onnx", "densecl runs DenseNets (torchvision's DenseNet family and "
                    "its CIFAR variants); this graph is a residual network (it adds conv outputs "
                    "to their inputs, as ResNets do): use ONNX Runtime or OpenCV DNN for it; "
                    "detail: ONNX graph: node;does not fit a DenseNet;(Add)"))
    torch.manual_seed(2)
    mobilenet = torchvision.models.mobilenet_v2(weights=None).eval()
    path = os.path.join(outdir, "mobilenet_v2.onnx")
    torch.onnx.export(mobilenet, torch.randn(1, 3, 32, 32), path, opset_version=13)
    refused.append(("mobilenet_v2.onnx", "densecl runs DenseNets;this graph is a residual network "
                    "with grouped or depthwise convolutions;use ONNX Runtime or OpenCV DNN;detail:"))
    tiny = fx.cifar_densenet(4, (2, 2), 8, 5)
    torch.manual_seed(1)
    path = os.path.join(outdir, "doubled.onnx")
    torch.onnx.export(Doubled(tiny().eval()).eval(), torch.randn(1, 3, 16, 16), path,
                      opset_version=13)
    refused.append(("doubled.onnx", "does not fit a DenseNet;(Mul);classifier"))

    # Broken files made from a valid one.
    good = open(os.path.join(outdir, "bc100_op17.onnx"), "rb").read()
    refuse("truncated.onnx", good[:len(good) * 3 // 5], "does not decode")
    refuse("deep_nesting.onnx", nested(300000), "nested more than 32 deep")
    refuse("truncated_header.onnx", good[:40], "does not decode|does not fit")

    def huge_dims(i, t):
        if i:
            return t
        return [(1, 0, 1 << 40)] + [(1, 0, 3)] * 3 + [f for f in t if f[0] != 1]

    refuse("huge_dims.onnx", edit_initializers(good, huge_dims), "dimension 0 is 1099511627776")

    def short_raw(i, t):
        return [(f, w, v[:-4] if f == 9 and i == 0 else v) for f, w, v in t]

    refuse("short_raw.onnx", edit_initializers(good, short_raw), "bytes of data;needs")

    def overflow_dims(i, t):
        if tensor_name(t) != "classifier.weight":
            return t
        return [(1, 0, (1 << 31) - 1)] * 2 + [f for f in t if f[0] != 1]

    refuse("overflow_dims.onnx", edit_initializers(good, overflow_dims), "larger than|overflow")

    for name, location in (("ext_dotdot.onnx", "../bc100_ext.bin"),
                           ("ext_absolute.onnx", os.path.abspath(outdir) + "/bc100_ext.bin")):
        scratch = bytearray()
        refuse(name, edit_initializers(src, lambda i, t: to_external(t, location, 0, scratch)),
               f"location '{location}' is refused")
    scratch = bytearray()
    refuse("ext_missing.onnx",
           edit_initializers(src, lambda i, t: to_external(t, "nothing.bin", 0, scratch)),
           "nothing.bin")

    def past_end(i, t):
        scratch = bytearray()
        return to_external(t, "bc100_ext.bin", 1 << 30, scratch)

    refuse("ext_past_end.onnx", edit_initializers(src, past_end), "past the end")

    # External data through symbolic links in the model's directory (extlinks/): to a file
    # outside it, through a linked subdirectory, and to a file outside that is too small. Each
    # is refused as a link, never read, and the outside file's name and size are not printed.
    links = os.path.join(outdir, "extlinks")
    shutil.rmtree(links, ignore_errors=True)
    os.makedirs(links)
    write(os.path.join(outdir, "outside.bin"), bytes(data))
    write(os.path.join(outdir, "outside_small.bin"), b"0123456789")
    for name, location, link, target in (
            ("link_out", "data.bin", "data.bin", "../outside.bin"),
            ("link_dir", "sub/bc100_ext.bin", "sub", ".."),
            ("link_small", "small.bin", "small.bin", "../outside_small.bin")):
        os.symlink(target, os.path.join(links, link))
        at = bytearray()
        write(os.path.join(links, name + ".onnx"),
              edit_initializers(src, lambda i, t: to_external(t, location, len(at), at)))
        refused.append((f"extlinks/{name}.onnx",
                        f"location '{location}' is refused;'{link}' is a symbolic link",
                        "outside;bytes)"))

    # Formats densecl recognises but does not read: one line naming it and the converter.
    sd = tiny().state_dict()
    path = os.path.join(outdir, "checkpoint.pth")
    torch.save(sd, path)
    refused.append(("checkpoint.pth", "PyTorch checkpoint;densecl-export --weights"))
    path = os.path.join(outdir, "legacy.pth")
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    refused.append(("legacy.pth", "pickle;densecl-export"))
    refuse("plain.pkl", pickle.dumps({"a": 1}, protocol=4), "pickle;densecl-export")
    path = os.path.join(outdir, "arrays.npz")
    np.savez(path, w=np.zeros(3, np.float32))
    refused.append(("arrays.npz", "NumPy .npz;safetensors"))
    refuse("keras.h5", b"\x89HDF\r\n\x1a\n" + bytes(64), "HDF5;tf2onnx.convert --keras")
    refuse("model.tflite", b"\x1c\x00\x00\x00TFL3" + bytes(64),
           "TensorFlow Lite;tf2onnx.convert --tflite")

    with open(os.path.join(outdir, "parity.tsv"), "w") as f:
        f.write("".join(n + "\n" for n in parity))
    with open(os.path.join(outdir, "refused.tsv"), "w") as f:
        f.write("".join(f"{n}\t{e}\t{a}\n" for n, e, a in
                        (r if len(r) == 3 else r + ("",) for r in refused)))
    write(stamp_path, (stamp() + "\n").encode())
    print(f"gen_onnx: {len(parity)} parity cases, {len(refused)} refused files")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
