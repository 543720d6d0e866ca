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
passed to classify are used as they are (already preprocessed).
"""

import ctypes
import ctypes.util
import json
import os
import threading

import numpy as np

__all__ = ["Error", "Weights", "Engine", "Job", "devices", "image_to_input", "version",
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


_PP_SOURCES = {0: "metadata", 1: "imagenet"}
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


def _path_bytes(path):
    return os.fsencode(os.fspath(path))


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
    """A model's weights: Weights(path) loads a safetensors file (architecture inferred);
    Weights.random(preset_or_config, seed) makes seeded random ones.

    config:     the architecture, a dict with the keys of the "densecl.config" metadata
    labels:     class names from the "densecl.labels" metadata, else for 1000-class models
                ImageNet's (imagenet-classes.txt), else None
    preprocess: the "densecl.preprocess" metadata as a dict; torchvision's ImageNet
                preprocessing for a 3-channel ImageNet-stem model without it; else None
    preprocessing: what the library makes of it (densecl_weights_preprocess): a dict with
                channels, height, width, resize, resize_height, resize_width, crop_height,
                crop_width (0: none), mean and std (one per channel) and source ("metadata"
                or "imagenet"); None when the model has no standard preprocessing or the
                metadata is malformed (the reason is then in preprocessing_error, and image
                files are refused with it)
    metadata(key): a raw string of the file's __metadata__, or None
    """

    def __init__(self, path, _handle=None):
        self._h = None
        if _handle is None:
            h = _P()
            _check(_weights_load(_path_bytes(path), None, ctypes.byref(h)), "densecl_weights_load")
            _handle = h
        self._h = _handle
        self.path = None if path is None else os.fspath(path)
        c = _weights_config(self._h).contents
        self._config = _Config.from_buffer_copy(c)
        self.config = _config_dict(self._config)
        self.labels = self._labels()
        self.preprocess = self._preprocess()
        self._pp = _Preprocess()
        self.preprocessing_error = None
        if _weights_preprocess(self._h, ctypes.byref(self._pp)) != 0:
            self._pp = None  # image files are refused with the reason, arrays still run
            self.preprocessing_error = _text(_last_error())
        self.preprocessing = None if self._pp is None else _pp_dict(self._pp)

    @classmethod
    def random(cls, model, seed=0):
        """Seeded random weights of a preset name ("densenet-bc-100-k12") or a config dict."""
        cfg = _Config()
        if isinstance(model, str):
            _check(_config_preset(model.encode(), ctypes.byref(cfg)), "densecl_config_preset")
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
        h = _P()
        _check(_weights_random(ctypes.byref(cfg), ctypes.c_uint64(seed), ctypes.byref(h)),
               "densecl_weights_random")
        return cls(None, _handle=h)

    def metadata(self, key):
        self._alive()
        return _text(_weights_metadata(self._h, key.encode()))

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
        if self._config.stem == 0 and self._config.in_channels == 3:
            return dict(_IMAGENET_PREPROCESS)
        return None

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
        if self._h:
            _weights_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if _weights_free is not None:
            self.close()


# ---------------------------------------------------------------------------------------------
# Preprocessing: the library's (densecl_image_to_input), on pixels PIL decoded

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
# Engine

class Engine:
    """Weights bound to OpenCL device(s), ready to run: Engine(weights, device="auto").

    device: as densecl_engine_create: "auto", "cpu", "gpu", "accelerator", "P:D", part of a
    device name, several joined by commas, or "all". The weights may be closed afterwards.
    """

    def __init__(self, weights, device="auto"):
        self._h = None
        if not isinstance(weights, Weights):
            weights = Weights(weights)
        weights._alive()
        h = _P()
        _check(_engine_create(weights._h, None if device is None else device.encode(),
                              ctypes.byref(h)), "densecl_engine_create")
        self._h = h
        self._cond = threading.Condition()
        self._inflight = 0
        self._pending = set()  # _Pending of the jobs started and not yet waited for
        self.config = dict(weights.config)
        self.labels = weights.labels
        self.preprocess = weights.preprocess
        self.preprocessing = weights.preprocessing
        self._pp = weights._pp
        self._pp_error = weights.preprocessing_error
        self._cfg = _Config.from_buffer_copy(weights._config)

    # Calls in flight are counted so that close() never frees the engine under another thread.
    def _enter(self):
        with self._cond:
            if not self._h:
                raise ValueError("densecl.Engine: used after close()")
            self._inflight += 1
            return self._h

    def _leave(self):
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    @property
    def device(self):
        """The (first) device, as a dict like densecl.devices()'s."""
        h = self._enter()
        try:
            return _device_dict(_engine_device(h).contents)
        finally:
            self._leave()

    @property
    def replica_count(self):
        h = self._enter()
        try:
            return _engine_replica_count(h)
        finally:
            self._leave()

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
        h = self._enter()
        try:
            _check(_engine_run(h, x.ctypes.data_as(fp), n, c, hh, ww, out.ctypes.data_as(fp)),
                   "densecl_engine_run")
        finally:
            self._leave()
        return out

    def start(self, x):
        """Starts a batch without waiting for it: x as for run() -> a densecl.Job, whose
        wait() gives the logits, float32 [N, num_classes].

        Start batch i+1 before waiting for batch i and the device(s) never idle between
        batches: batch i+1's upload overlaps batch i's compute, and Python prepares batch i+2
        meanwhile (densecl_engine_start, include/densecl.h). Any number of jobs may be in
        flight, waited for in any order, from any thread; each once.

        x is converted to a C-contiguous float32 array only when it is not one already
        (np.ascontiguousarray); the job keeps that array and its logits alive until waited for.
        The device reads x until then: do not write into it before wait() (fill a new array
        for the next batch). Errors about the input (its shape, channels, size) raise
        densecl.Error here; errors of the device(s) raise from wait(). A job dropped without
        wait() is waited for when garbage-collected (its errors ignored), and close() waits for
        every job still open (a later wait() then gives that job's result)."""
        x = np.ascontiguousarray(x, np.float32)
        if x.ndim != 4:
            raise ValueError("densecl.Engine.start: want a float32 [N, C, H, W] array, got "
                             f"{x.dtype} {list(x.shape)}")
        n, c, hh, ww = (int(v) for v in x.shape)
        p = _Pending(x, np.empty((n, self._cfg.num_classes), np.float32))
        fp = ctypes.POINTER(ctypes.c_float)
        job = _P()
        h = self._enter()
        try:
            _check(_engine_start(h, x.ctypes.data_as(fp), n, c, hh, ww, p.out.ctypes.data_as(fp),
                                 ctypes.byref(job)), "densecl_engine_start")
            # Registered before _leave(), so that close() (which waits for the calls in
            # flight first) always finds it.
            p.h = job
            with self._cond:
                self._pending.add(p)
        finally:
            self._leave()
        return Job(self, p)

    def _take(self, p):
        """The C job of p, taken (under the lock) by the one caller that will wait for it:
        None when another took it. The caller then counts as a call in flight until _finish."""
        with self._cond:
            h, p.h = p.h, None
            if h:
                self._pending.discard(p)
                self._inflight += 1
            return h

    def _finish(self, p, h):
        # densecl_job_wait, once per job: writes p.out on success and frees the C job; the
        # input is no longer read after it.
        st = _job_wait(h)
        if st != 0:
            p.error = Error(st, _text(_last_error()), "densecl_job_wait")
        p.x = None

    def _batch(self, inputs):
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        elif isinstance(inputs, (str, bytes, os.PathLike)):
            inputs = [inputs]
        arrays = []
        for item in inputs:
            if isinstance(item, np.ndarray):
                a = item[None] if item.ndim == 3 else item
                if a.ndim != 4:
                    raise ValueError("densecl.Engine.classify: arrays must be [C, H, W] or "
                                     f"[N, C, H, W], got {list(item.shape)}")
                arrays.extend(np.ascontiguousarray(a, np.float32))
            else:
                if self._pp is None:
                    raise Error(6, self._pp_error, "classify")
                arrays.append(_preprocess_image(item, self._pp))
        if not arrays:
            raise ValueError("densecl.Engine.classify: no inputs")
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"densecl.Engine.classify: inputs of different shapes {shapes}")
        return np.ascontiguousarray(np.stack(arrays))

    def classify(self, inputs, top=5):
        """The top classes of each input: a list, per image, of (class id, name, probability),
        most likely first. inputs: image paths (decoded with PIL and preprocessed as the weights
        say), arrays [C, H, W] or [N, C, H, W] already preprocessed, or a list of them."""
        x = self._batch(inputs)
        p = self.run(x)
        _softmax(p.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), p.shape[0], p.shape[1])
        top = max(1, min(int(top), p.shape[1]))
        results = []
        for row in p:
            ids = np.argsort(-row, kind="stable")[:top]
            results.append([(int(i), self.labels[i] if self.labels else f"class {i}",
                             float(row[i])) for i in ids])
        return results

    def close(self):
        """Frees the engine once every call in flight on other threads has returned, after
        waiting for the jobs started and never waited for (their Job.wait() then gives what
        that wait gave), so that no C job outlives the arrays it reads and writes."""
        cond = getattr(self, "_cond", None)
        if cond is None:
            return
        with cond:
            h, self._h = self._h, None
            while self._inflight:
                cond.wait()
            # No start can begin now, and every wait that began has ended: the jobs left are
            # this thread's. Waited for under the lock, so a Job.wait() on another thread
            # blocks until its job's result is recorded.
            pending, self._pending = self._pending, set()
            for p in pending:
                job, p.h = p.h, None
                if job:
                    self._finish(p, job)
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
    garbage-collected."""

    __slots__ = ("h", "x", "out", "error")

    def __init__(self, x, out):
        self.h = None      # the densecl_job *; None once taken by the one who waits for it
        self.x = x         # the input, read by the device until the wait
        self.out = out     # the logits, written by the wait on success
        self.error = None  # the wait's densecl.Error, if it failed


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
        eng, p = self._engine, self._p
        h = eng._take(p)
        if h:
            try:
                eng._finish(p, h)
            finally:
                eng._leave()
        # else Engine.close() waited for it, under the lock _take just took: its result is in p
        if p.error is not None:
            raise p.error
        out, p.out = p.out, None
        return out

    def __del__(self):
        p = getattr(self, "_p", None)
        if p is None or _job_wait is None or p.h is None:
            return
        eng = self._engine
        h = eng._take(p)
        if h:
            try:
                eng._finish(p, h)  # its error, if any, is nobody's to see
            finally:
                eng._leave()
