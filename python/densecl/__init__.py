# SPDX-License-Identifier: MIT
"""densecl: DenseNet inference on any OpenCL device, from Python.

Pure ctypes over the shared library libdensecl.so (no compiled extension)::

    import densecl
    w = densecl.Weights("densenet-fashion.safetensors")
    engine = densecl.Engine(w, device="auto")
    logits = engine.run(batch)                 # float32 [N, C, H, W] -> float32 [N, classes]
    job = engine.start(batch)                  # the same without blocking: a densecl.Job ...
    logits = job.wait()                        # ... waited for once, when its logits are wanted
    engine.classify(["shoe.png"], top=3)       # [[(class, name, probability), ...], ...]

The library is looked for in this order: $DENSECL_LIBRARY (a path to the .so); next to this
module in an installed tree (PREFIX/lib/...); a build tree (build/ beside python/ in the source
tree); then ctypes.util.find_library("densecl").

Errors of the library become densecl.Error, which carries the status (its number and name, as
densecl_status_str gives it) and densecl_last_error()'s text.

Threads: as the C engine. A Weights may be shared once loaded; an Engine may be shared by any
number of threads: ctypes releases the GIL during each library call and the engine lets its
runs take turns. close() (and garbage collection) of an Engine waits for the calls in flight,
and for the jobs of Engine.start never waited for.

Preprocessing of image files (Engine.classify with paths, Weights.load_image): decoded with PIL,
then turned into the model's input by the library's densecl_image_to_input, the code `densecl
classify` runs (scale to [0, 1], resize so the shorter side is `resize` with antialiased bilinear
filtering, centre crop, resize to height x width if still different, per-channel
(x - mean) / std; grey replicated into 3-channel models, colour made luminance (ITU-R 601) for
1-channel ones, alpha dropped), with the settings densecl_weights_preprocess gives
(Weights.preprocessing). The tensors are the CLI's bit for bit for the same pixels; PIL and
the CLI's stb_image may decode a JPEG to slightly different pixels, and PIL reads 16-bit colour
PNGs as 8-bit. EXIF orientation is not applied (torchvision does not apply it either).
image_to_input(preprocessing, pixels) does the same for pixels decoded any other way. Arrays
passed to classify are used as they are (already preprocessed). Without "densecl.preprocess"
metadata the library assumes what it has a standard for (the input size an ONNX graph declares,
torchvision's ImageNet sizes, ImageNet's mean and std): classify then warns once
(PreprocessingWarning) saying what, and Engine(preprocess={...}) sets any field, with the names of
`densecl classify`'s options (size, resize, crop, mean, std, channels).

Batches and folders: Engine.classify / classify_batches take image paths, arrays, or a directory
(its images, in the order torchvision's ImageFolder lists them); they decode, preprocess and run
batch_size images at a time, the next batch prepared while the device computes the last, so
memory stays at two batches whatever the number of images. truth="folders" takes the class
folders of an ImageFolder tree as the truth (image_folder()), matched to the model's class names
as `densecl classify --truth folders` does; Engine.evaluate gives the accuracy.

Signals: a KeyboardInterrupt may land anywhere (between any two calls): no C job is ever left
without the arrays it reads and writes. A job is registered with the engine, with its arrays,
before densecl_engine_start runs, and the handle the library writes goes straight into memory
the engine holds; a wait takes the handle out only in the same step as it calls
densecl_job_wait. A job interrupted between the two is waited for by Engine.close() or garbage
collection. tests/python/test_interrupts.py injects the interrupt at every such point.

Strings go to the library as C strings: a path or device spec with an embedded NUL raises
ValueError ("embedded null byte", as open() does) instead of being cut at the NUL.
"""

import collections
import ctypes
import ctypes.util
import json
import os
import sys
import threading
import time
import warnings

import numpy as np

__all__ = ["Error", "Weights", "Engine", "Job", "Result", "ImageFolder", "PreprocessingWarning",
           "devices", "image_folder", "list_images", "image_to_input", "version",
           "__version__"]

# ---------------------------------------------------------------------------------------------
# The shared library


def _candidates():
    env = os.environ.get("DENSECL_LIBRARY")
    if env:
        yield env
        return  # an explicit choice: no silent fallback to another library
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from . import _install  # written by cmake/package.cmake at install time

        yield os.path.normpath(os.path.join(here, _install.LIBDIR, "libdensecl.so"))
    except ImportError:
        pass
    yield os.path.normpath(os.path.join(here, "..", "..", "build", "libdensecl.so"))
    found = ctypes.util.find_library("densecl")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path} ({exc})")
    raise ImportError("densecl: cannot load libdensecl.so; tried: " + "; ".join(tried or ["-"]) +
                      ". Set DENSECL_LIBRARY to its path.")


_lib = _load()

_MAX_BLOCKS = 8
_STATUS = ["DENSECL_OK", "DENSECL_ERR_ARGUMENT", "DENSECL_ERR_IO", "DENSECL_ERR_FORMAT",
           "DENSECL_ERR_MISMATCH", "DENSECL_ERR_INPUT", "DENSECL_ERR_UNSUPPORTED",
           "DENSECL_ERR_NO_DEVICE", "DENSECL_ERR_BUILD", "DENSECL_ERR_OPENCL",
           "DENSECL_ERR_NO_MEMORY", "DENSECL_ERR_LIMIT"]


class _Config(ctypes.Structure):
    # densecl_config in include/densecl.h, field for field.
    _fields_ = [("growth_rate", ctypes.c_int), ("num_blocks", ctypes.c_int),
                ("block_layers", ctypes.c_int * _MAX_BLOCKS), ("init_features", ctypes.c_int),
                ("bottleneck", ctypes.c_int), ("bn_size", ctypes.c_int),
                ("compression", ctypes.c_float), ("stem", ctypes.c_int),
                ("in_channels", ctypes.c_int), ("num_classes", ctypes.c_int)]


class _DeviceInfo(ctypes.Structure):
    # densecl_device_info in include/densecl.h, field for field.
    _fields_ = [("platform_index", ctypes.c_int), ("device_index", ctypes.c_int),
                ("type", ctypes.c_int), ("platform_name", ctypes.c_char * 128),
                ("name", ctypes.c_char * 128), ("vendor", ctypes.c_char * 128),
                ("driver_version", ctypes.c_char * 64), ("device_version", ctypes.c_char * 256),
                ("opencl_c_version", ctypes.c_char * 64), ("compute_units", ctypes.c_uint),
                ("clock_mhz", ctypes.c_uint), ("global_mem_bytes", ctypes.c_uint64),
                ("max_alloc_bytes", ctypes.c_uint64), ("local_mem_bytes", ctypes.c_uint64),
                ("max_work_group_size", ctypes.c_size_t), ("compiler_available", ctypes.c_int)]


class _Preprocess(ctypes.Structure):
    # densecl_preprocess in include/densecl.h, field for field.
    _fields_ = [("channels", ctypes.c_int), ("height", ctypes.c_int), ("width", ctypes.c_int),
                ("resize", ctypes.c_int), ("resize_height", ctypes.c_int),
                ("resize_width", ctypes.c_int), ("crop_height", ctypes.c_int),
                ("crop_width", ctypes.c_int), ("mean", ctypes.c_float * 3),
                ("std", ctypes.c_float * 3), ("source", ctypes.c_int)]


class _Tiles(ctypes.Structure):
    # densecl_tiles in include/densecl.h, field for field.
    _fields_ = [("conv1x1_channels", ctypes.c_int), ("conv1x1_pixels", ctypes.c_int),
                ("conv_channels", ctypes.c_int), ("conv_pixels", ctypes.c_int)]


class _EngineOptions(ctypes.Structure):
    # densecl_engine_options in include/densecl.h, field for field (threads: since 0.7.0).
    _fields_ = [("device", ctypes.c_char_p), ("kernels_binary", ctypes.c_char_p),
                ("no_kernel_cache", ctypes.c_int), ("tiles", _Tiles),
                ("conv", ctypes.c_char_p), ("kernel_params", ctypes.c_char_p),
                ("threads", ctypes.c_int)]


_PP_SOURCES = {0: "metadata", 1: "imagenet", 2: "onnx-input", 3: "given"}
_PP_INTS = ["channels", "height", "width", "resize", "resize_height", "resize_width",
            "crop_height", "crop_width"]


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_P = ctypes.c_void_p
_status_str = _fn("densecl_status_str", ctypes.c_char_p, ctypes.c_int)
_last_error = _fn("densecl_last_error", ctypes.c_char_p)
_version = _fn("densecl_version", ctypes.c_char_p)
_config_preset = _fn("densecl_config_preset", ctypes.c_int, ctypes.c_char_p,
                     ctypes.POINTER(_Config))
_config_min_size = _fn("densecl_config_min_size", ctypes.c_int, ctypes.POINTER(_Config))
_weights_load = _fn("densecl_weights_load", ctypes.c_int, ctypes.c_char_p, _P,
                    ctypes.POINTER(_P))
_weights_random = _fn("densecl_weights_random", ctypes.c_int, ctypes.POINTER(_Config),
                      ctypes.c_uint64, ctypes.POINTER(_P))
_weights_config = _fn("densecl_weights_config", ctypes.POINTER(_Config), _P)
_weights_metadata = _fn("densecl_weights_metadata", ctypes.c_char_p, _P, ctypes.c_char_p)
_weights_free = _fn("densecl_weights_free", None, _P)
_weights_preprocess = _fn("densecl_weights_preprocess", ctypes.c_int, _P,
                          ctypes.POINTER(_Preprocess))
_weights_preprocess_ex = _fn("densecl_weights_preprocess_ex", ctypes.c_int, _P, ctypes.c_char_p,
                             ctypes.POINTER(_Preprocess))
_weights_label_count = _fn("densecl_weights_label_count", ctypes.c_int, _P)
_weights_label = _fn("densecl_weights_label", ctypes.c_char_p, _P, ctypes.c_int)
_image_to_input = _fn("densecl_image_to_input", ctypes.c_int, ctypes.POINTER(_Preprocess), _P,
                      ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_size_t,
                      ctypes.POINTER(ctypes.c_float))
_devices = _fn("densecl_devices", ctypes.c_int, ctypes.POINTER(_DeviceInfo), ctypes.c_int,
               ctypes.POINTER(ctypes.c_int))
_device_type_str = _fn("densecl_device_type_str", ctypes.c_char_p, ctypes.c_int)
_engine_create = _fn("densecl_engine_create", ctypes.c_int, _P, ctypes.c_char_p,
                     ctypes.POINTER(_P))
_engine_create_ex = _fn("densecl_engine_create_ex", ctypes.c_int, _P,
                        ctypes.POINTER(_EngineOptions), ctypes.POINTER(_P))
_engine_run = _fn("densecl_engine_run", ctypes.c_int, _P, ctypes.POINTER(ctypes.c_float),
                  ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                  ctypes.POINTER(ctypes.c_float))
_engine_start = _fn("densecl_engine_start", ctypes.c_int, _P, ctypes.POINTER(ctypes.c_float),
                    ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                    ctypes.POINTER(ctypes.c_float), ctypes.POINTER(_P))
_job_wait = _fn("densecl_job_wait", ctypes.c_int, _P)
_engine_device = _fn("densecl_engine_device", ctypes.POINTER(_DeviceInfo), _P)
_engine_replica_count = _fn("densecl_engine_replica_count", ctypes.c_int, _P)
_engine_free = _fn("densecl_engine_free", None, _P)
_softmax = _fn("densecl_softmax", None, ctypes.POINTER(ctypes.c_float), ctypes.c_int,
               ctypes.c_int)


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else None


class Error(Exception):
    """A densecl call failed. status: the densecl_status number; status_name: its enum name
    ("DENSECL_ERR_IO"); reason: densecl_status_str's text ("I/O error"); detail:
    densecl_last_error()'s text (the file, key, shapes, OpenCL error name or build log)."""

    def __init__(self, status, detail, call=""):
        self.status = int(status)
        self.status_name = _STATUS[status] if 0 <= status < len(_STATUS) else f"status {status}"
        self.reason = _text(_status_str(status))
        self.detail = detail
        self.call = call
        super().__init__(f"{call + ': ' if call else ''}{self.reason}: {detail}")


def _check(status, call):
    # densecl_last_error is per thread: read it on the thread that made the call, right after.
    if status != 0:
        raise Error(status, _text(_last_error()), call)


def _c_string(b, what):
    # A C string ends at its first NUL: one inside would silently cut the text there.
    if b"\0" in b:
        raise ValueError(f"densecl: embedded null byte in {what}")
    return b


def _path_bytes(path):
    return _c_string(os.fsencode(os.fspath(path)), "a path")


def _text_bytes(text, what):
    if not isinstance(text, str):
        raise TypeError(f"densecl: {what} must be a str, not {type(text).__name__}")
    return _c_string(text.encode("utf-8"), what)


# ---------------------------------------------------------------------------------------------
# Version and devices

__version__ = _text(_version())
version = __version__

_DEVICE_FIELDS = [f for f, _ in _DeviceInfo._fields_]


def _device_dict(info):
    d = {}
    for f in _DEVICE_FIELDS:
        v = getattr(info, f)
        d[f] = _text(v) if isinstance(v, bytes) else v
    d["type"] = _text(_device_type_str(info.type))
    d["spec"] = f"{info.platform_index}:{info.device_index}"
    return d


def devices():
    """Every OpenCL device of every platform, as dictionaries of densecl_device_info's fields
    (type as "GPU"/"CPU"/..., strings decoded) plus "spec", the "P:D" an Engine accepts.
    densecl.Error (DENSECL_ERR_NO_DEVICE) when there is no OpenCL platform at all."""
    count = ctypes.c_int(0)
    _check(_devices(None, 0, ctypes.byref(count)), "densecl_devices")
    infos = (_DeviceInfo * max(count.value, 1))()
    _check(_devices(infos, count.value, ctypes.byref(count)), "densecl_devices")
    return [_device_dict(infos[i]) for i in range(count.value)]


# ---------------------------------------------------------------------------------------------
# Weights

_STEMS = {0: "imagenet", 1: "cifar"}
_IMAGENET_PREPROCESS = {"resize": 256, "crop": 224, "height": 224, "width": 224, "channels": 3,
                        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def _config_dict(c):
    # The keys of the "densecl.config" metadata that tools/export/export_torchvision.py writes.
    return {"growth_rate": c.growth_rate, "block_layers": list(c.block_layers[:c.num_blocks]),
            "init_features": c.init_features, "bottleneck": bool(c.bottleneck),
            "bn_size": c.bn_size, "compression": float(c.compression),
            "stem": _STEMS.get(c.stem, str(c.stem)), "in_channels": c.in_channels,
            "num_classes": c.num_classes}


def _imagenet_labels():
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [os.environ.get("DENSECL_DATA_DIR", "")]
    try:
        from . import _install

        dirs.append(os.path.join(here, _install.LIBDIR, "..", "share", "densecl"))
        dirs.append(os.path.join(here, _install.LIBDIR, "..", "..", "share", "densecl"))
    except ImportError:
        pass
    dirs.append(os.path.join(here, "..", "..", "models"))
    for d in dirs:
        path = os.path.join(d, "imagenet-classes.txt")
        if d and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                names = [line.rstrip("\n") for line in f if line.strip()]
            if len(names) == 1000:
                return names
    return None


class Weights:
    """A model's weights: Weights(path) loads a safetensors or ONNX file (architecture
    inferred); Weights.random(preset_or_config, seed) makes seeded random ones.

    config:     the architecture, a dict with the keys of the "densecl.config" metadata
    labels:     class names from the "densecl.labels" metadata, else for 1000-class models
                ImageNet's (imagenet-classes.txt), else None
    preprocess: the "densecl.preprocess" metadata as a dict; without it, what the library
                assumes in that form (see preprocessing), or None
    preprocessing: what the library makes of it (densecl_weights_preprocess): a dict with
                channels, height, width, resize, resize_height, resize_width, crop_height,
                crop_width (0: none), mean and std (one per channel) and source ("metadata";
                without metadata "onnx-input" or "imagenet": assumed, at least in part); None
                when the model has no standard preprocessing or the metadata is malformed (the
                reason is then in preprocessing_error, and image files are refused with it
                unless Engine(preprocess=...) gives what is missing)
    preprocessing_for(**fields): the same with fields set (size, resize, crop, mean, std,
                channels; as `densecl classify`'s options): densecl_weights_preprocess_ex
    metadata(key): a raw string of the file's __metadata__, or None
    """

    def __init__(self, path, _loaded=False):
        # The handle lives in a cell the library writes: an interrupt after the load returns
        # cannot lose it (close() and collection free what the cell holds).
        if not _loaded:
            self._cell = _P()
            _check(_weights_load(_path_bytes(path), None, ctypes.byref(self._cell)),
                   "densecl_weights_load")
        self.path = None if path is None else os.fspath(path)
        c = _weights_config(self._h).contents
        self._config = _Config.from_buffer_copy(c)
        self.config = _config_dict(self._config)
        self.labels = self._labels()
        self._pp = _Preprocess()
        self.preprocessing_error = None
        if _weights_preprocess(self._h, ctypes.byref(self._pp)) != 0:
            self._pp = None  # image files are refused with the reason, arrays still run
            self.preprocessing_error = _text(_last_error())
        self.preprocessing = None if self._pp is None else _pp_dict(self._pp)
        self.preprocess = self._preprocess()

    @property
    def _h(self):
        cell = getattr(self, "_cell", None)
        return cell.value if cell is not None else None

    @classmethod
    def random(cls, model, seed=0):
        """Seeded random weights of a preset name ("densenet-bc-100-k12") or a config dict."""
        cfg = _Config()
        if isinstance(model, str):
            _check(_config_preset(_text_bytes(model, "a preset name"), ctypes.byref(cfg)),
                   "densecl_config_preset")
        else:
            layers = list(model["block_layers"])
            cfg.growth_rate = model["growth_rate"]
            cfg.num_blocks = len(layers)
            for i, n in enumerate(layers[:_MAX_BLOCKS]):
                cfg.block_layers[i] = n
            cfg.init_features = model["init_features"]
            cfg.bottleneck = int(bool(model.get("bottleneck", True)))
            cfg.bn_size = model.get("bn_size", 4)
            cfg.compression = model.get("compression", 0.5)
            cfg.stem = {v: k for k, v in _STEMS.items()}.get(model.get("stem", "imagenet"), -1)
            cfg.in_channels = model.get("in_channels", 3)
            cfg.num_classes = model["num_classes"]
        self = cls.__new__(cls)
        self._cell = _P()
        _check(_weights_random(ctypes.byref(cfg), ctypes.c_uint64(seed),
                               ctypes.byref(self._cell)), "densecl_weights_random")
        self.__init__(None, _loaded=True)
        return self

    def metadata(self, key):
        self._alive()
        return _text(_weights_metadata(self._h, _text_bytes(key, "a metadata key")))

    def _labels(self):
        n = _weights_label_count(self._h)
        if n > 0:
            return [_weights_label(self._h, i).decode("utf-8") for i in range(n)]
        if self._config.num_classes == 1000:
            return _imagenet_labels()
        return None

    def _preprocess(self):
        raw = self.metadata("densecl.preprocess")
        if raw is not None:
            pp = json.loads(raw)
            if not isinstance(pp, dict):
                raise Error(3, f"{self.path}: densecl.preprocess is not a JSON object",
                            "Weights")
            return pp
        return None if self.preprocessing is None else _pp_metadata(self.preprocessing)

    def preprocessing_for(self, **fields):
        """The preprocessing with fields set, as a dict like Weights.preprocessing:
        densecl_weights_preprocess_ex. fields: size (N or (H, W): the input and the centre
        crop; without resize nothing is resized before the crop), resize (N: the shorter side,
        (H, W): exactly, None: no resize), crop (N, (H, W) or None), mean and std (a number
        or one per channel), channels (checked): the names and meanings of `densecl classify
        --size/--resize/--crop/--mean/--std/--channels`. densecl.Error when the result is
        refused (a size an ONNX graph's static input contradicts, names it)."""
        self._alive()
        pp = _Preprocess()
        _check(_weights_preprocess_ex(self._h, _overrides_json(fields), ctypes.byref(pp)),
               "densecl_weights_preprocess_ex")
        return _pp_dict(pp)

    def load_image(self, path):
        """An image file decoded and preprocessed for this model: float32 [C, H, W] (see the
        module's docstring for how closely this follows `densecl classify`)."""
        if self._pp is None:
            raise Error(6, self.preprocessing_error, "load_image")
        return _preprocess_image(path, self._pp)

    def min_size(self):
        """The smallest input side the model accepts."""
        return _config_min_size(ctypes.byref(self._config))

    def _alive(self):
        if not self._h:
            raise ValueError("densecl.Weights: used after close()")

    def close(self):
        cell = getattr(self, "_cell", None)
        if cell is not None:
            h = cell.value
            cell.value = None  # taken before the free: a second close() finds nothing
            if h:
                _weights_free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if _weights_free is not None:
            self.close()


# ---------------------------------------------------------------------------------------------
# Preprocessing: the library's (densecl_image_to_input), on pixels PIL decoded

def _pp_metadata(d):
    """Weights.preprocessing's dict in the keys of "densecl.preprocess"."""
    resize = d["resize"] or ([d["resize_height"], d["resize_width"]] if d["resize_height"]
                             else None)
    crop = [d["crop_height"], d["crop_width"]] if d["crop_height"] else None
    return {"channels": d["channels"], "height": d["height"], "width": d["width"],
            "resize": resize, "crop": crop, "mean": list(d["mean"]), "std": list(d["std"])}


def _side(v, what, none_ok):
    if v is None and none_ok:
        return None
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v):
        return [int(v[0]), int(v[1])]
    raise ValueError(f"densecl: preprocess {what} must be N or (H, W)"
                     f"{' or None' if none_ok else ''}, not {v!r}")


def _overrides_json(fields):
    """Engine(preprocess=...) / preprocessing_for(**...) fields as the JSON overrides of
    densecl_weights_preprocess_ex, with `densecl classify`'s meanings: size is the input and the
    crop, and without resize nothing is resized before it; crop replaces that crop."""
    fields = dict(fields or {})
    known = {"size", "resize", "crop", "mean", "std", "channels"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"densecl: unknown preprocess field(s) {unknown}; the fields are "
                         "size, resize, crop, mean, std, channels")
    if not fields:
        return None
    o = {}
    if "size" in fields:
        size = _side(fields["size"], "size", False)
        h, w = (size, size) if isinstance(size, int) else size
        o.update(height=h, width=w, crop=[h, w])
        if "resize" not in fields:
            o["resize"] = None
    if "resize" in fields:
        o["resize"] = _side(fields["resize"], "resize", True)
    if "crop" in fields:
        crop = _side(fields["crop"], "crop", True)
        o["crop"] = [crop, crop] if isinstance(crop, int) else crop
    for key in ("mean", "std"):
        if key in fields:
            v = fields[key]
            v = [float(x) for x in v] if isinstance(v, (list, tuple, np.ndarray)) else [float(v)]
            o[key] = v
    if "channels" in fields:
        o["channels"] = int(fields["channels"])
    return _c_string(json.dumps(o).encode(), "the preprocess fields")


def _pp_flags(d):
    """Weights.preprocessing's dict as the fields that set it: "resize=48, size=48, ..."."""
    if d["resize"]:
        resize = str(d["resize"])
    elif d["resize_height"]:
        resize = f"({d['resize_height']}, {d['resize_width']})"
    else:
        resize = "None"
    size = str(d["height"]) if d["height"] == d["width"] else f"({d['height']}, {d['width']})"
    out = f"resize={resize}, size={size}"
    if (d["crop_height"], d["crop_width"]) != (d["height"], d["width"]):
        out += ", crop=" + (f"({d['crop_height']}, {d['crop_width']})" if d["crop_height"]
                            else "None")
    for key in ("mean", "std"):
        vals = [f"{v:.6g}" for v in d[key]]
        out += f", {key}=" + (vals[0] if len(vals) == 1 else "(" + ", ".join(vals) + ")")
    return out


class PreprocessingWarning(UserWarning):
    """The weights carry no preprocessing metadata and some of it was assumed (what, and how to
    set it, is in the message): the Python form of `densecl classify`'s warning."""


def _pp_dict(pp):
    d = {k: int(getattr(pp, k)) for k in _PP_INTS}
    d["mean"] = [float(pp.mean[c]) for c in range(pp.channels)]
    d["std"] = [float(pp.std[c]) for c in range(pp.channels)]
    d["source"] = _PP_SOURCES.get(pp.source, str(pp.source))
    return d


def _pp_struct(d):
    if isinstance(d, _Preprocess):
        return d
    pp = _Preprocess()
    for k in _PP_INTS:
        setattr(pp, k, int(d.get(k, 0)))
    for key, fill in (("mean", 0.0), ("std", 1.0)):
        v = d.get(key, fill)
        v = list(v) if isinstance(v, (list, tuple)) else [v]
        for c in range(3):
            getattr(pp, key)[c] = float(v[c] if c < len(v) else v[-1])
    return pp


def image_to_input(preprocessing, pixels):
    """Decoded pixels into the model's input, as `densecl classify` computes it (the library's
    densecl_image_to_input): float32 [channels, height, width].

    preprocessing: Weights.preprocessing, or a dict with its keys (missing sizes 0, mean 0,
                   std 1)
    pixels:        uint8 or uint16 array [H, W] (grey) or [H, W, C], C = 1 grey, 2 grey + alpha,
                   3 RGB, 4 RGBA
    """
    pp = _pp_struct(preprocessing)
    a = np.asarray(pixels)
    if a.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"densecl.image_to_input: pixels must be uint8 or uint16, not {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError("densecl.image_to_input: pixels must be [H, W] or [H, W, C], got "
                         f"{list(a.shape)}")
    a = np.ascontiguousarray(a)
    out = np.empty((pp.channels, pp.height, pp.width), np.float32) if pp.channels > 0 and \
        pp.height > 0 and pp.width > 0 else np.empty(1, np.float32)
    _check(_image_to_input(ctypes.byref(pp), a.ctypes.data_as(_P), a.shape[1], a.shape[0],
                           a.shape[2], 8 * a.itemsize, 0,
                           out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))),
           "densecl_image_to_input")
    return out


def _decode(path):
    """The pixels of an image file, uint8 or uint16 [H, W, C], as PIL decodes them."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("densecl: classifying image files needs PIL (python3-pil); pass "
                          "preprocessed arrays instead") from exc
    try:
        im = Image.open(path)
        im.load()
    except OSError as exc:
        raise Error(2, f"{path}: {exc}", "classify") from exc
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    return np.asarray(im, dtype=np.uint8)


def _preprocess_image(path, pp):
    return image_to_input(pp, _decode(path))


# ---------------------------------------------------------------------------------------------
# Folders: the images of a directory, and ImageFolder trees (as tools/densecl/classify_folders.c)

# torchvision's ImageFolder's extensions, and the other formats `densecl classify` reads
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                    ".gif", ".pnm", ".tga", ".psd", ".hdr", ".pic")


def _is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and len(name) > 0


def _key(path):
    return os.fsencode(path)  # byte order, as the CLI sorts (and sorted() sorts UTF-8 names)


class _Walk:
    def __init__(self):
        self.dirs, self.other, self.hidden, self.outside = [], [], 0, 0
        self._stack = []

    def collect(self, d):
        """d and every directory below it (symbolic links followed, loops refused)."""
        st = os.stat(d)
        ident = (st.st_dev, st.st_ino)
        if ident in self._stack:
            raise Error(2, f"{d}: a symbolic link loop", "image_folder")
        if len(self._stack) == 64:
            raise Error(2, f"{d}: more than 64 directories deep", "image_folder")
        self._stack.append(ident)
        self.dirs.append(d)
        for name in sorted(os.listdir(d), key=_key):
            path = os.path.join(d, name)
            if name.startswith("."):
                self.hidden += 1
            elif os.path.isdir(path):
                self.collect(path)
            elif not _is_image_name(name):
                self.other.append(path)
        self._stack.pop()

    def images(self):
        """The images of every directory: directories by path, files by name."""
        out = []
        for d in sorted(self.dirs, key=_key):
            for name in sorted(os.listdir(d), key=_key):
                path = os.path.join(d, name)
                if not name.startswith(".") and _is_image_name(name) and not os.path.isdir(path):
                    out.append(path)
        return out

    def skipped(self):
        return len(self.other) + self.hidden + self.outside


def list_images(root):
    """The image files under a directory, as `densecl classify DIR` takes them: every directory
    in the order of its path (sorted(os.walk(root)), symbolic links followed), in each its files
    by name; images by extension, case ignored (IMAGE_EXTENSIONS: ImageFolder's and the other
    formats densecl reads); hidden entries (a leading '.') skipped."""
    w = _Walk()
    w.collect(os.fspath(root))
    return w.images()


class ImageFolder:
    """A directory of class folders, as torchvision's ImageFolder reads it (and `densecl
    classify --truth folders`): classes are the subdirectories sorted by name; samples are
    (path, class index) with each class folder walked as list_images() walks a directory;
    files beside the class folders belong to none. skipped: how many entries were skipped
    (not images by name, hidden, images outside the class folders)."""

    def __init__(self, root):
        self.root = os.fspath(root)
        _c_string(os.fsencode(self.root), "a path")
        w = _Walk()
        self.classes, self.samples = [], []
        for name in sorted(os.listdir(self.root), key=_key):
            path = os.path.join(self.root, name)
            if name.startswith("."):
                w.hidden += 1
            elif os.path.isdir(path):
                cw = _Walk()
                cw.collect(path)
                w.other += cw.other
                w.hidden += cw.hidden
                self.samples += [(p, len(self.classes)) for p in cw.images()]
                self.classes.append(name)
            elif _is_image_name(name):
                w.outside += 1
            else:
                w.other.append(path)
        if not self.classes:
            raise Error(1, f"{self.root} has no class folders: truth=\"folders\" takes a "
                        "directory whose subdirectories are the classes (torchvision's "
                        "ImageFolder layout)", "image_folder")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.skipped = w.skipped()
        self.not_images = list(w.other)

    def model_classes(self, labels, num_classes):
        """The model's class index of each class folder, and how it was found: ("name", map)
        when every folder is named as one of labels (case ignored, '_' as ' '); ("position",
        map) when none is and there are num_classes folders (folder i is class i, as ImageFolder
        numbers them). densecl.Error otherwise, as `densecl classify --truth folders`."""
        def norm(t):  # ASCII case ignored, '_' as ' ': the CLI's comparison
            return "".join(" " if c == "_" else c.lower() if c.isascii() else c for c in t)

        mapping = []
        for folder in self.classes:
            hits = [k for k, name in enumerate(labels or []) if norm(name) == norm(folder)]
            if len(hits) > 1:
                raise Error(1, f"class folder '{folder}' matches two of the model's classes, "
                            f"{hits[0]} '{labels[hits[0]]}' and {hits[1]} '{labels[hits[1]]}'",
                            "classify")
            mapping.append(hits[0] if hits else -1)
        matched = sum(m >= 0 for m in mapping)
        if matched == len(mapping):
            return "name", mapping
        if matched:
            missing = [f"'{f}'" for f, m in zip(self.classes, mapping) if m < 0]
            raise Error(1, f"truth=\"folders\": {len(missing)} of the {len(mapping)} class "
                        f"folders are not class names of the model ({', '.join(missing[:5])}"
                        f"{', ...' if len(missing) > 5 else ''}): the folders must all be named "
                        "as the model's classes, or none (then they are matched by sorted "
                        "position, as ImageFolder numbers them)", "classify")
        if len(mapping) != num_classes:
            raise Error(1, f"truth=\"folders\": {len(mapping)} class folders, but the model has "
                        f"{num_classes} classes and "
                        f"{'none of the folders is named as one of them' if labels else 'no class names'}"
                        ": which folder is which class cannot be told", "classify")
        return "position", list(range(len(mapping)))


def image_folder(root):
    """ImageFolder(root): the class folders of an ImageFolder tree and their images."""
    return ImageFolder(root)


Result = collections.namedtuple("Result", "input index top truth")
Result.__doc__ = """One classified image: input (the path, or "array" for arrays), index (its
position among the inputs), top (the top classes, [(class id, name, probability), ...], most
likely first) and truth (the true class id with truth="folders", else None)."""


# ---------------------------------------------------------------------------------------------
# Engine

class Engine:
    """Weights bound to OpenCL device(s), ready to run: Engine(weights, device="auto", ...).

    device:         as densecl_engine_create: "auto", "cpu", "gpu", "accelerator", "P:D", part
                    of a device name, several joined by commas (each batch split over them), "A|B"
                    (the first of them that exists: "gpu|cpu"), or "all"
    threads:        run a CPU device on this many threads (an OpenCL sub-device; 0: all), as
                    ONNX Runtime's intra_op_num_threads
    conv:           the conv kernel family ("auto", "direct", "gemm", "clblast", "winograd")
    kernel_params:  the families' parameters ("direct:1x1=8x32,conv=16x4")
    kernels_binary: a program binary from `densecl compile-kernels` (FPGA boards)
    no_kernel_cache: neither read nor write the on-disk kernel cache
    preprocess:     preprocessing fields to set for image files: a dict of size, resize, crop,
                    mean, std, channels (see Weights.preprocessing_for); refused at once when the
                    result is (a size an ONNX graph's static input contradicts, ...)
    The options are densecl_engine_options'. The weights may be closed afterwards.
    """

    def __init__(self, weights, device="auto", *, threads=0, conv=None, kernel_params=None,
                 kernels_binary=None, no_kernel_cache=False, preprocess=None):
        # Everything close() and __del__ look at exists before the library is called.
        self._cell = None
        self._lock = threading.RLock()
        self._calls = 0        # calls in flight that use the handle (close() waits for them)
        self._closing = False
        self._pending = set()  # _Pending of the jobs started and not yet waited for
        self._warned = False
        if not isinstance(weights, Weights):
            weights = Weights(weights)
        weights._alive()
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise ValueError(f"densecl.Engine: threads must be an int >= 0, not {threads!r}")
        o = _EngineOptions()
        o.device = None if device is None else _text_bytes(device, "the device spec")
        o.kernels_binary = None if kernels_binary is None else _path_bytes(kernels_binary)
        o.no_kernel_cache = int(bool(no_kernel_cache))
        o.conv = None if conv is None else _text_bytes(conv, "the conv family")
        o.kernel_params = (None if kernel_params is None
                           else _text_bytes(kernel_params, "the kernel parameters"))
        o.threads = threads
        self.config = dict(weights.config)
        self.labels = weights.labels
        self.preprocess = weights.preprocess
        self.preprocessing = weights.preprocessing
        self._pp = weights._pp
        self._pp_error = weights.preprocessing_error
        if preprocess is not None:
            pp = _Preprocess()
            _check(_weights_preprocess_ex(weights._h, _overrides_json(preprocess),
                                          ctypes.byref(pp)), "densecl_weights_preprocess_ex")
            self._pp, self._pp_error = pp, None
            self.preprocessing = _pp_dict(pp)
            self.preprocess = _pp_metadata(self.preprocessing)
        self._weights_path = weights.path
        self._cfg = _Config.from_buffer_copy(weights._config)
        cell = _P()
        self._cell = cell  # the library writes the handle here: an interrupt cannot lose it
        _check(_engine_create_ex(weights._h, ctypes.byref(o), ctypes.byref(cell)),
               "densecl_engine_create_ex")

    @property
    def _h(self):
        cell = self._cell
        return cell.value if cell is not None else None

    # A call that uses the handle counts itself in flight, so that close() never frees the
    # engine under another thread. Written out in each method (not a context manager): between
    # two steps of Python code an interrupt may land, and only these orderings leave the count
    # right whatever step it lands after (see the module's docstring).
    def _closed_error(self):
        return ValueError("densecl.Engine: used after close()")

    @property
    def device(self):
        """The (first) device, as a dict like densecl.devices()'s."""
        entered = False
        try:
            with self._lock:
                h = self._h
                if not h or self._closing:
                    raise self._closed_error()
                self._calls += 1
                entered = True
            return _device_dict(_engine_device(h).contents)
        finally:
            if entered:
                with self._lock:
                    self._calls -= 1

    @property
    def replica_count(self):
        entered = False
        try:
            with self._lock:
                h = self._h
                if not h or self._closing:
                    raise self._closed_error()
                self._calls += 1
                entered = True
            return _engine_replica_count(h)
        finally:
            if entered:
                with self._lock:
                    self._calls -= 1

    def run(self, x):
        """Logits of a batch: x float32 [N, C, H, W], C-contiguous (checked, never copied) ->
        float32 [N, num_classes]."""
        if not isinstance(x, np.ndarray):
            raise TypeError("densecl.Engine.run: want a numpy.ndarray")
        if x.dtype != np.float32 or x.ndim != 4 or not x.flags["C_CONTIGUOUS"]:
            raise ValueError("densecl.Engine.run: want a C-contiguous float32 [N, C, H, W] "
                             f"array, got {x.dtype} {list(x.shape)}"
                             f"{'' if x.flags['C_CONTIGUOUS'] else ' (not C-contiguous)'}")
        n, c, hh, ww = (int(v) for v in x.shape)
        out = np.empty((n, self._cfg.num_classes), np.float32)
        fp = ctypes.POINTER(ctypes.c_float)
        xp, op = x.ctypes.data_as(fp), out.ctypes.data_as(fp)
        entered = False
        try:
            with self._lock:
                h = self._h
                if not h or self._closing:
                    raise self._closed_error()
                self._calls += 1
                entered = True
            # Blocking: the library is done with x and out when it returns.
            st = _engine_run(h, xp, n, c, hh, ww, op)
            if st != 0:
                raise Error(st, _text(_last_error()), "densecl_engine_run")
        finally:
            if entered:
                with self._lock:
                    self._calls -= 1
        return out

    def start(self, x):
        """Starts a batch without waiting for it: x as for run() -> a densecl.Job, whose
        wait() gives the logits, float32 [N, num_classes].

        Start batch i+1 before waiting for batch i and the device(s) never idle between
        batches: batch i+1's upload overlaps batch i's compute, and Python prepares batch i+2
        meanwhile (densecl_engine_start, include/densecl.h). Any number of jobs may be in
        flight, waited for in any order, from any thread; each once.

        x is converted to a C-contiguous float32 array only when it is not one already
        (np.ascontiguousarray); the engine keeps that array and its logits alive until the job
        is waited for. The device reads x until then: do not write into it before wait() (fill
        a new array for the next batch). Errors about the input (its shape, channels, size)
        raise densecl.Error here; errors of the device(s) raise from wait(). A job dropped
        without wait() is waited for when garbage-collected (its errors ignored), and close()
        waits for every job still open (a later wait() then gives that job's result)."""
        x = np.ascontiguousarray(x, np.float32)
        if x.ndim != 4:
            raise ValueError("densecl.Engine.start: want a float32 [N, C, H, W] array, got "
                             f"{x.dtype} {list(x.shape)}")
        n, c, hh, ww = (int(v) for v in x.shape)
        p = _Pending(x, np.empty((n, self._cfg.num_classes), np.float32))
        fp = ctypes.POINTER(ctypes.c_float)
        xp, op, cell = x.ctypes.data_as(fp), p.out.ctypes.data_as(fp), ctypes.byref(p.cell)
        entered = False
        try:
            with self._lock:
                h = self._h
                if not h or self._closing:
                    raise self._closed_error()
                self._calls += 1
                entered = True
                # Registered, with its arrays, before the library can make the job: the handle
                # it writes lands in p.cell, which the engine already holds.
                self._pending.add(p)
            st = _engine_start(h, xp, n, c, hh, ww, op, cell)
            if st != 0:
                detail = _text(_last_error())
                with self._lock:
                    self._pending = self._pending - {p}
                raise Error(st, detail, "densecl_engine_start")
        finally:
            if entered:
                with self._lock:
                    self._calls -= 1
        return Job(self, p)

    def _wait_pending(self, p):
        """Waits for p's C job unless someone did: once, under p's own lock, which close()
        takes too. The handle leaves p.cell in the same step as densecl_job_wait is called
        (nothing between them can be interrupted), so it is waited for exactly once."""
        with p.lock:
            job = p.cell.value
            if job:
                p.cell.value = None
                st = _job_wait(job)
                p.status = st
                if st != 0:
                    p.error = Error(st, _text(_last_error()), "densecl_job_wait")
                p.x = None
            with self._lock:
                self._pending = self._pending - {p}  # a new set: iterations stay valid

    def _warn_assumed(self):
        if self._warned or not self.preprocessing or self.preprocessing["source"] not in (
                "imagenet", "onnx-input"):
            return
        self._warned = True
        why = ("the input size its ONNX graph declares, ImageNet's mean and std"
               if self.preprocessing["source"] == "onnx-input"
               else "torchvision's ImageNet preprocessing")
        warnings.warn(f"{self._weights_path or 'the weights'} has no preprocessing metadata: "
                      f"assuming {_pp_flags(self.preprocessing)} ({why}); pass "
                      "Engine(preprocess={...}) to set them", PreprocessingWarning, stacklevel=4)

    def _items(self, inputs, truth):
        """(input name, tensor or path, truth) for every image of inputs."""
        if truth not in (None, "folders"):
            raise ValueError(f"densecl.Engine.classify: truth must be None or \"folders\", not "
                             f"{truth!r}")
        if isinstance(inputs, (np.ndarray, str, bytes, os.PathLike)):
            inputs = [inputs]
        items = []
        for item in inputs:
            if isinstance(item, np.ndarray):
                if truth:
                    raise ValueError("densecl.Engine.classify: truth=\"folders\" takes "
                                     "directories, not arrays")
                a = item[None] if item.ndim == 3 else item
                if a.ndim != 4:
                    raise ValueError("densecl.Engine.classify: arrays must be [C, H, W] or "
                                     f"[N, C, H, W], got {list(item.shape)}")
                items += [("array", t, None) for t in a]
                continue
            path = os.fsdecode(item) if isinstance(item, bytes) else os.fspath(item)
            _path_bytes(path)
            if truth:
                if not os.path.isdir(path):
                    raise ValueError(f"densecl.Engine.classify: truth=\"folders\" takes "
                                     f"directories (ImageFolder roots), not '{path}'")
                folder = ImageFolder(path)
                how, mapping = folder.model_classes(self.labels, self._cfg.num_classes)
                if how == "position":
                    warnings.warn(f"{path}: the class folders are not named as the model's "
                                  "classes: folder i in sorted order is class i, as "
                                  "torchvision's ImageFolder numbers them", UserWarning,
                                  stacklevel=4)
                items += [(p, p, mapping[t]) for p, t in folder.samples]
            elif os.path.isdir(path):
                items += [(p, p, None) for p in list_images(path)]
            else:
                items.append((path, path, None))
        if not items:
            raise ValueError("densecl.Engine.classify: no inputs")
        return items

    def _top(self, probs, top):
        top = max(1, min(int(top), probs.shape[1]))
        out = []
        for row in probs:
            ids = np.argsort(-row, kind="stable")[:top]
            out.append([(int(i), self.labels[i] if self.labels else f"class {i}",
                         float(row[i])) for i in ids])
        return out

    def classify_batches(self, inputs, top=5, batch_size=32, progress=None, truth=None):
        """Classifies inputs batch_size images at a time and yields each batch's results, a
        list of densecl.Result (input, index, top, truth), in input order. inputs: image paths
        (decoded with PIL and preprocessed by the library as the weights say), directories
        (their images, as list_images() lists them), arrays [C, H, W] or [N, C, H, W] already
        preprocessed, or a list of them. truth="folders": each input is an ImageFolder tree
        whose class folders are the truth (ImageFolder.model_classes). progress: a callable
        progress(done, total) called after each batch, or True for a line on stderr.

        Memory stays at two batches: batch i+1 is decoded and preprocessed into one buffer
        while the device computes batch i from the other (Engine.start / Job.wait)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"densecl.Engine.classify: batch_size must be a positive int, not "
                             f"{batch_size!r}")
        items = self._items(inputs, truth)
        total = len(items)
        if progress is True:
            def progress(done, total):
                print(f"\rdensecl: {done}/{total} images", end="\n" if done == total else "",
                      file=sys.stderr, flush=True)
        buffers = [None, None]
        k = 0
        prev = None  # (job, its items, first index)
        done = 0
        i = 0
        while i < total or prev is not None:
            batch, shape = [], None
            while i < total and len(batch) < batch_size:
                name, src, t = items[i]
                if isinstance(src, np.ndarray):
                    tensor = np.ascontiguousarray(src, np.float32)
                else:
                    if self._pp is None:
                        raise Error(6, self._pp_error, "classify")
                    self._warn_assumed()
                    tensor = _preprocess_image(src, self._pp)
                if shape is not None and tensor.shape != shape:
                    break  # another size: it starts the next batch
                if shape is None:
                    shape = tensor.shape
                    buf = buffers[k]
                    if buf is None or buf.shape[1:] != shape or buf.shape[0] < batch_size:
                        buf = buffers[k] = np.empty((batch_size,) + shape, np.float32)
                buf[len(batch)] = tensor
                batch.append((name, i, t))
                i += 1
            job = self.start(buf[:len(batch)]) if batch else None  # buf is read until waited
            k ^= 1
            if prev is not None:
                pjob, pbatch = prev
                probs = pjob.wait()
                _softmax(probs.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), probs.shape[0],
                         probs.shape[1])
                done += len(pbatch)
                results = [Result(name, index, t5, t) for (name, index, t), t5
                           in zip(pbatch, self._top(probs, top))]
                if progress:
                    progress(done, total)
                prev = (job, batch) if job is not None else None
                yield results
            else:
                prev = (job, batch) if job is not None else None

    def classify(self, inputs, top=5, batch_size=32, progress=None):
        """The top classes of each input: a list, per image, of (class id, name, probability),
        most likely first; classify_batches() in one list (the inputs as there: image paths,
        directories, arrays)."""
        out = []
        for batch in self.classify_batches(inputs, top=top, batch_size=batch_size,
                                           progress=progress):
            out += [r.top for r in batch]
        return out

    def evaluate(self, folders, top=5, batch_size=32, progress=None):
        """Accuracy on ImageFolder trees (truth="folders"): a dict with images, correct1,
        correct5, top1 and top5 (fractions), as `densecl classify --truth folders` reports."""
        n = c1 = c5 = 0
        for batch in self.classify_batches(folders, top=max(5, top), batch_size=batch_size,
                                           progress=progress, truth="folders"):
            for r in batch:
                ids = [t[0] for t in r.top]
                n += 1
                c1 += ids[0] == r.truth
                c5 += r.truth in ids[:5]
        return {"images": n, "correct1": c1, "correct5": c5, "top1": c1 / n if n else 0.0,
                "top5": c5 / n if n else 0.0}

    def close(self):
        """Frees the engine once every call in flight on other threads has returned, after
        waiting for the jobs started and never waited for (their Job.wait() then gives what
        that wait gave), so that no C job outlives the arrays it reads and writes."""
        if getattr(self, "_cell", None) is None:
            return
        with self._lock:
            self._closing = True  # no call begins from now on
        while True:
            with self._lock:
                if self._calls <= 0:
                    break
            time.sleep(0.002)
        # No start is under way now: every job is in _pending (one whose start was
        # interrupted before the library made it has no handle and is simply dropped).
        for p in list(self._pending):
            self._wait_pending(p)
        with self._lock:
            if not self._pending:
                h = self._cell.value
                self._cell.value = None  # taken before the free: nothing can free it twice
                if h:
                    _engine_free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if _engine_free is not None:
            self.close()


class _Pending:
    """A started C job and the arrays it reads and writes until it is waited for. Held by the
    engine (not the Job) until then, so that close() finds it even while the Job is being
    garbage-collected. cell: the densecl_job * as the library wrote it; NULL before the start
    and once taken by the one wait."""

    __slots__ = ("cell", "lock", "x", "out", "error", "status")

    def __init__(self, x, out):
        self.cell = _P()
        self.lock = threading.Lock()
        self.x = x           # the input, read by the device until the wait
        self.out = out       # the logits, written by the wait on success
        self.error = None    # the wait's densecl.Error, if it failed
        self.status = None   # the wait's status; None until waited for

    @property
    def h(self):
        return self.cell.value


class Job:
    """A batch started by Engine.start: wait() blocks until its logits are ready and returns
    them, float32 [N, num_classes], or raises densecl.Error when the device(s) failed. Each job
    is waited for once: a second wait() raises ValueError. Dropping a job without wait() is
    safe (it is waited for when garbage-collected, or by Engine.close())."""

    def __init__(self, engine, pending):
        self._engine = engine  # kept alive until every job of it is gone
        self._p = pending
        self._waited = False
        self._lock = threading.Lock()

    def wait(self):
        """The logits, float32 [N, num_classes]; densecl.Error when the run failed."""
        with self._lock:
            if self._waited:
                raise ValueError("densecl.Job.wait: this job was already waited for (each job "
                                 "is waited for once)")
            self._waited = True
        p = self._p
        self._engine._wait_pending(p)  # or Engine.close() did: its result is in p
        if p.error is not None:
            raise p.error
        if p.status is None:
            raise ValueError("densecl.Job.wait: an earlier wait of this job was interrupted; "
                             "its logits are lost")
        out, p.out = p.out, None
        return out

    def __del__(self):
        p = getattr(self, "_p", None)
        if p is None or _job_wait is None or not p.cell.value:
            return
        self._engine._wait_pending(p)  # its error, if any, is nobody's to see
