#!/usr/bin/python3
"""Writes a torchvision DenseNet as a safetensors file that densecl reads.

  export_torchvision.py --model densenet121 [--out FILE] [--dtype f32|f16|bf16]
                        [--weights PATH.pth | --random SEED] [--legacy-keys]

Weights come from --weights, else from the pretrained checkpoint in the local torch hub cache
(torch.hub.get_dir()/checkpoints/densenet121-a639ec97.pth, ...), else from a seeded
initialisation with --random SEED. Nothing is downloaded.

Needs only Debian's python3-torch, python3-torchvision and python3-numpy.
"""

import argparse
import json
import os
import re
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

# torchvision's DenseNets: growth rate, layers per block, stem channels, weights enum name
TORCHVISION_MODELS = {
    "densenet121": (32, (6, 12, 24, 16), 64, "DenseNet121_Weights"),
    "densenet161": (48, (6, 12, 36, 24), 96, "DenseNet161_Weights"),
    "densenet169": (32, (6, 12, 32, 32), 64, "DenseNet169_Weights"),
    "densenet201": (32, (6, 12, 48, 32), 64, "DenseNet201_Weights"),
}

# torchvision's _load_state_dict: the old .pth files name a layer's modules "norm.1", "conv.2".
LEGACY_PATTERN = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var))$")
CURRENT_PATTERN = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))([12]\.(?:weight|bias|running_mean|running_var))$")


def densenet_config(growth_rate, block_layers, init_features, *, bottleneck=True, bn_size=4,
                    compression=0.5, stem="imagenet", in_channels=3, num_classes=1000):
    """The "densecl.config" dictionary (see densecl_config in include/densecl.h)."""
    return {
        "growth_rate": growth_rate,
        "block_layers": list(block_layers),
        "init_features": init_features,
        "bottleneck": bool(bottleneck),
        "bn_size": bn_size,
        "compression": compression,
        "stem": stem,
        "in_channels": in_channels,
        "num_classes": num_classes,
    }


def torchvision_config(name):
    growth, blocks, init, _ = TORCHVISION_MODELS[name]
    return densenet_config(growth, blocks, init)


def weights_enum(name):
    return getattr(torchvision.models, TORCHVISION_MODELS[name][3]).IMAGENET1K_V1


def preprocess_metadata(name):
    """ImageNet preprocessing of the pretrained weights, read from torchvision."""
    transform = weights_enum(name).transforms()
    return {
        "resize": int(transform.resize_size[0]),
        "crop": int(transform.crop_size[0]),
        "interpolation": transform.interpolation.value,
        "mean": [float(v) for v in transform.mean],
        "std": [float(v) for v in transform.std],
    }


def build_metadata(config, source, preprocess=None):
    """__metadata__ strings: our config, the format tag, where the weights came from."""
    metadata = {"format": "pt", "source": source, "densecl.config": json.dumps(config)}
    if preprocess is not None:
        metadata["densecl.preprocess"] = json.dumps(preprocess)
    return metadata


def remap_legacy_keys(state_dict):
    """"...denselayer1.norm.1.weight" -> "...denselayer1.norm1.weight", as torchvision does."""
    out = {}
    for key, value in state_dict.items():
        match = LEGACY_PATTERN.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out


def to_legacy_keys(arrays):
    """The inverse of remap_legacy_keys: "norm1.weight" -> "norm.1.weight" in dense layers."""
    out = {}
    for key, value in arrays.items():
        match = CURRENT_PATTERN.match(key)
        out[match.group(1) + "." + match.group(2) if match else key] = value
    return out


def state_dict_arrays(model, keep_num_batches_tracked=False):
    """The model's state_dict as {key: float32 numpy array}, in torchvision's order."""
    arrays = {}
    for key, tensor in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            if keep_num_batches_tracked:
                arrays[key] = tensor.detach().cpu().numpy().astype(np.int64)
            continue
        arrays[key] = tensor.detach().cpu().float().numpy()
    return arrays


def cached_checkpoint(name):
    """Path of the pretrained checkpoint in the torch hub cache (may not exist)."""
    filename = os.path.basename(weights_enum(name).url)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def load_checkpoint(model, path):
    """Loads a torchvision .pth (optionally wrapped in {"state_dict": ...}) strictly."""
    state_dict = torch.load(path, map_location="cpu")
    if isinstance(state_dict, dict) and isinstance(state_dict.get("state_dict"), dict):
        state_dict = state_dict["state_dict"]
    if not isinstance(state_dict, dict):
        raise SystemExit(f"export_torchvision: error: {path} holds no state_dict")
    state_dict = {k[len("module."):] if k.startswith("module.") else k: v
                  for k, v in state_dict.items()}
    try:
        model.load_state_dict(remap_legacy_keys(state_dict))
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        if len(detail) > 400:
            detail = detail[:400] + " ..."
        raise SystemExit(f"export_torchvision: error: {path} does not fit the model: {detail}")


def missing_weights_message(name):
    url = weights_enum(name).url
    path = cached_checkpoint(name)
    return (f"export_torchvision: error: no weights for {name}: {path} does not exist.\n"
            f"  Pass --weights PATH.pth, or fetch the pretrained checkpoint into the cache:\n"
            f"    mkdir -p {os.path.dirname(path)} && curl -L -o {path} {url}\n"
            f"  or let torchvision do it: /usr/bin/python3 -c \"import torchvision; "
            f"torchvision.models.{name}(weights='IMAGENET1K_V1')\"\n"
            f"  or use --random SEED for a seeded random initialisation.")


def prepare_model(name, weights_path, seed):
    """Returns (eval-mode model, source string) or exits with a message."""
    if weights_path is None and seed is None:
        weights_path = cached_checkpoint(name)
        if not os.path.isfile(weights_path):
            raise SystemExit(missing_weights_message(name))
    if seed is not None:
        torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    if weights_path is not None:
        if not os.path.isfile(weights_path):
            raise SystemExit(f"export_torchvision: error: {weights_path}: no such file")
        load_checkpoint(model, weights_path)
        source = f"torchvision {name} from {os.path.basename(weights_path)}"
    else:
        source = f"torchvision {name}, random initialisation, torch.manual_seed({seed})"
    return model.eval(), source


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, choices=sorted(TORCHVISION_MODELS))
    parser.add_argument("--out", help="output file (default: MODEL[-DTYPE].safetensors)")
    parser.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", metavar="PATH.pth", help="torchvision checkpoint")
    source.add_argument("--random", metavar="SEED", type=int, help="seeded random weights")
    parser.add_argument("--legacy-keys", action="store_true",
                        help="write the old 'norm.1'/'conv.2' key names")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model, source = prepare_model(args.model, args.weights, args.random)
    arrays = state_dict_arrays(model)
    if args.legacy_keys:
        arrays = to_legacy_keys(arrays)
    suffix = "" if args.dtype == "f32" else "-" + args.dtype
    out = args.out or f"{args.model}{suffix}.safetensors"
    metadata = build_metadata(torchvision_config(args.model), source,
                              preprocess_metadata(args.model))
    write_safetensors(out, arrays, metadata, args.dtype)
    print(f"wrote {out}: {len(arrays)} tensors, {args.dtype}, {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
