#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fixtures for tests/cli/folder_tests.sh (and tests/python/): models without densecl's metadata,
exported plainly with torch.onnx.export, and labelled ImageFolder trees to classify with them.

  gen_folders.py prepare DIR
      DIR/model48.onnx     a 3-channel ImageNet-stem DenseNet for 48x48 inputs, 3 classes, no
                           metadata: torch.onnx.export(model, x[2, 3, 48, 48], path), nothing else
      DIR/model48.input64.npy, DIR/model48.input48.npy   float32 batches of those sizes
      DIR/gray28.onnx      a 1-channel CIFAR-stem DenseNet for 28x28 inputs, no metadata
      DIR/tree/            ImageFolder layout: class folders cat/ dog/ fish/ (sorted: classes 0,
                           1, 2 by ImageFolder's numbering), each holding the PNGs the model puts
                           in that class with the declared size's preprocessing, one of them in
                           a subfolder; beside them what a folder walk must skip: notes.txt,
                           .hidden.png, an image outside the class folders (stray.png)
      DIR/named/           the same images in folders named as labels.txt names the classes
                           (zebra = class 0, ant = 1, moth = 2: sorted order is not class order)
      DIR/labels.txt       zebra, ant, moth; DIR/partial.txt: zebra, ant, bee
      DIR/expect.json      for each tree: the files in ImageFolder's order and their classes
      (skipped when DIR/stamp matches these scripts and torch's version)
  gen_folders.py check DIR RESULT.json TREE
      a `densecl classify --json --truth folders` document of DIR/TREE against torchvision:
      the images and their order are torchvision.datasets.ImageFolder's, each truth is the
      class that image's folder stands for, and the probabilities are the model's (torch) with
      the preprocessing the graph's declared size implies (resize 48, centre crop 48, ImageNet
      mean and std); prints one line per mismatch, exit status 1 if any
  gen_folders.py torch_accuracy DIR TREE RESIZE CROP
      top-1 accuracy (correct/total) of the model in torch on TREE with that preprocessing

The classes are what the model itself predicts with the declared size's preprocessing, so that
classifying at that size scores 100%, and the generator checks that torchvision's ImageNet
preprocessing (resize 256, crop 224: what densecl silently assumed before) scores less.
"""

import hashlib
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import classify_reference as ref  # noqa: E402

CLASSES = ["cat", "dog", "fish"]          # the tree's folders: ImageFolder numbers them 0, 1, 2
NAMED = ["zebra", "ant", "moth"]          # labels.txt: class 0, 1, 2; sorted: ant, moth, zebra
DECLARED = {"resize": 48, "crop": 48, "size": (48, 48), "channels": 3,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
IMAGENET = dict(DECLARED, resize=256, crop=224, size=(224, 224))


def randomized(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
        model.classifier.weight.normal_(0.0, 2.0)
        model.classifier.bias.zero_()
    return model.eval()


def model48(seed=7):
    torch.manual_seed(seed)
    return randomized(torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2),
                                                  num_init_features=16, bn_size=4,
                                                  num_classes=3), seed)


def predict(model, pixels, pp):
    with torch.no_grad():
        return torch.softmax(model(ref.to_model_input(pixels, pp)[None]), 1)[0]


def pixels_of(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def stamp():
    digest = hashlib.sha256()
    for name in ("gen_folders.py", "classify_reference.py"):
        with open(os.path.join(HERE, name), "rb") as f:
            digest.update(f.read())
    digest.update(f"torch {torch.__version__} torchvision {torchvision.__version__}".encode())
    return digest.hexdigest()


def prepare(out):
    stamp_path = os.path.join(out, "stamp")
    if os.path.isfile(stamp_path) and open(stamp_path).read().strip() == stamp():
        print("gen_folders: up to date")
        return
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    torch.set_num_threads(2)
    model = model48()
    x = torch.randn(2, 3, 48, 48)
    torch.onnx.export(model, x, os.path.join(out, "model48.onnx"))  # plainly: static shape
    np.save(os.path.join(out, "model48.input48.npy"), np.random.default_rng(1).standard_normal(
        (2, 3, 48, 48)).astype(np.float32))
    np.save(os.path.join(out, "model48.input64.npy"), np.random.default_rng(2).standard_normal(
        (2, 3, 64, 64)).astype(np.float32))
    gray = ref.build_model({"growth_rate": 4, "block_layers": [2], "init_features": 8,
                            "bn_size": 4, "stem": "cifar", "in_channels": 1, "num_classes": 4})
    torch.onnx.export(randomized(gray, 3), torch.randn(1, 1, 28, 28),
                      os.path.join(out, "gray28.onnx"))

    # Images the model puts in each class at the declared size, until every class has three;
    # at least one of them in another class with ImageNet's preprocessing.
    rng = np.random.default_rng(5)
    picked = {c: [] for c in range(3)}
    differs = 0
    for attempt in range(4000):
        h, w = int(rng.integers(40, 160)), int(rng.integers(40, 160))
        pixels = ref.smooth_image(rng, h, w, 3)
        c = int(torch.argmax(predict(model, pixels, DECLARED)))
        if len(picked[c]) >= 3:
            continue
        picked[c].append(pixels)
        differs += int(torch.argmax(predict(model, pixels, IMAGENET))) != c
        if all(len(v) >= 3 for v in picked.values()):
            break
    if not all(len(v) >= 3 for v in picked.values()) or differs == 0:
        raise SystemExit(f"gen_folders: cannot make the labelled tree (classes "
                         f"{[len(v) for v in picked.values()]}, {differs} differ)")
    expect = {}
    for tree, names in (("tree", CLASSES), ("named", NAMED)):
        root = os.path.join(out, tree)
        for c, name in enumerate(names):
            folder = os.path.join(root, name)
            os.makedirs(os.path.join(folder, "more"))
            for i, pixels in enumerate(picked[c]):
                sub = "more" if i == 0 else ""
                ref.write(os.path.join(folder, sub, f"{name}{i}.png"), ref.png_bytes(pixels))
        ref.write(os.path.join(root, names[0], "notes.txt"), b"not an image\n")
        ref.write(os.path.join(root, ".hidden.png"), ref.png_bytes(picked[0][0]))
        ref.write(os.path.join(root, "stray.png"), ref.png_bytes(picked[1][0]))
        folder_class = {name: c for c, name in enumerate(names)}
        data = torchvision.datasets.ImageFolder(root)
        expect[tree] = [[p, folder_class[data.classes[t]]] for p, t in data.samples]
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(NAMED) + "\n")
    with open(os.path.join(out, "partial.txt"), "w") as f:
        f.write("zebra\nant\nbee\n")
    with open(os.path.join(out, "expect.json"), "w") as f:
        json.dump(expect, f)
    with open(stamp_path, "w") as f:
        f.write(stamp() + "\n")
    print(f"gen_folders: {sum(len(v) for v in picked.values())} images a tree, {differs} of them "
          f"classified otherwise with ImageNet's preprocessing")


def check(out, result_path, tree):
    torch.set_num_threads(2)
    model = model48()
    with open(result_path) as f:
        result = json.load(f)
    with open(os.path.join(out, "expect.json")) as f:
        expect = json.load(f)[tree]
    got = [(e["input"], e.get("truth")) for e in result["images"]]
    want = [(p, t) for p, t in expect]
    bad = 0
    if [os.path.realpath(p) for p, _ in got] != [os.path.realpath(p) for p, _ in want]:
        print(f"images: densecl {[p for p, _ in got]}, ImageFolder {[p for p, _ in want]}")
        bad += 1
    elif [t for _, t in got] != [t for _, t in want]:
        print(f"truth: densecl {[t for _, t in got]}, the folders' classes {[t for _, t in want]}")
        bad += 1
    for e in result["images"]:
        p = predict(model, pixels_of(e["input"]), DECLARED)
        for item in e["top"]:
            want_p = float(p[item["class_id"]])
            if abs(item["probability"] - want_p) > 1e-5 + 2e-3 * want_p:
                print(f"{e['input']}: class {item['class_id']}: densecl p "
                      f"{item['probability']:.6g}, torch {want_p:.6g}")
                bad += 1
                break
    print(f"checked {len(got)} images against torchvision's ImageFolder and the model: "
          f"{bad} mismatches")
    return 1 if bad else 0


def torch_accuracy(out, tree, resize, crop):
    torch.set_num_threads(2)
    model = model48()
    pp = dict(DECLARED, resize=int(resize), crop=int(crop), size=(int(crop), int(crop)))
    with open(os.path.join(out, "expect.json")) as f:
        expect = json.load(f)[tree]
    correct = sum(int(torch.argmax(predict(model, pixels_of(p), pp))) == t for p, t in expect)
    print(f"{correct}/{len(expect)}")
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "prepare":
        prepare(argv[1])
        return 0
    if len(argv) == 4 and argv[0] == "check":
        return check(argv[1], argv[2], argv[3])
    if len(argv) == 5 and argv[0] == "torch_accuracy":
        return torch_accuracy(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
