#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyTorch reference implementation of the seqdream models and file format.

This file is the PyTorch side of seqdream: it defines the same 1-D CNN
classifiers as the C library (include/seqdream/model.h), reads and writes
seqdream model files (safetensors with seqdream metadata) by hand, and has a
small command line to export models and to print reference logits.

It needs torch and the Python standard library only (no numpy, no
safetensors package).  With Debian's torch run it as ``/usr/bin/python3``.

Architecture
------------
An architecture is a dict (stored as JSON in the model file)::

    {"name": "resnet-small", "in_channels": 1, "num_classes": 2,
     "bn_eps": 1e-05, "bn_momentum": 0.1,
     "stages": [{"type": "residual", "channels": [10, 10, 10],
                 "kernels": [5, 3, 1]}, ...]}

Stages, in order, followed by global average pooling over time and
``fc = nn.Linear(C, num_classes)``:

* ``{"type": "conv", "channels": [OC], "kernels": [K]}`` -- module with
  ``conv`` (``nn.Conv1d(IC, OC, K, padding='same', bias=False)``) and ``bn``
  (``nn.BatchNorm1d(OC)``); forward ``relu(bn(conv(x)))``.
* ``{"type": "residual", "channels": [c1, ..., cn], "kernels": [k1, ..., kn]}``
  -- ``convs`` (``nn.ModuleList`` of n conv+bn modules), and ``shortcut``
  (1x1 conv without bias + bn) only when the stage's input channel count
  differs from cn.  Forward: ``h = x; for j: h = bn_j(conv_j(h))`` with a ReLU
  between (not after the last), ``out = relu(h + shortcut(x) or x)``.
* any stage may carry ``"pool": P`` (P > 1): its output is then average
  pooled over time with kernel = stride = P (``F.avg_pool1d``, floor), so
  the model needs inputs of at least the product of the P.

'same' padding for an even kernel K is asymmetric, as in PyTorch:
left = (K-1)//2 zeros, right = K-1-left.

Presets (``PRESETS``, ``preset_arch()``): resnet-small (residual 10/20/20,
kernels 5,3,1), resnet (residual 64/128/128, kernels 8,5,3), fcn (conv 128 k8, 256 k5, 128 k3), fcn-small (3 x conv 64 k3),
fcn-pool (conv 16 k7, 32 k5, 32 k5, 32 k5, 32 k5 with pooling 4, 4, 4, 2).

Tensor names are the state_dict names, e.g. ``stages.0.convs.1.bn.weight``,
``stages.0.shortcut.conv.weight``, ``fc.bias``.  ``num_batches_tracked`` is
never written; readers tolerate it.

File format
-----------
safetensors: u64 little-endian header length N, N bytes of JSON header
(padded with spaces to a multiple of 8), then the raw little-endian tensor
data, contiguous from offset 0 in state_dict order.  ``__metadata__`` (all
values are strings):

=========================  ====================================================
format                     "pt"
seqdream.format_version    "1"
arch                       JSON text of the architecture dict above
labels                     JSON array of strings (class index -> label)
normalization              JSON: {"mode":"per-series"} | {"mode":"none"} |
                           {"mode":"fixed","mean":m,"std":s}
train_length               decimal integer, e.g. "500"
sample_rate                Hz, "0" when unknown, e.g. "48000"
input_range                JSON [lo, hi] of the normalised training inputs
provenance                 JSON object (data, protocol, accuracy, seed, ...)
=========================  ====================================================

Command line
------------
Export a randomly initialised (seeded) model::

    export_pytorch.py --arch resnet-small --classes 2 --seed 0 --out m.safetensors

Export a trained model (a state_dict saved with ``torch.save``)::

    export_pytorch.py --arch resnet-small --classes 2 --state-dict trained.pt \\
        --data FordA_TEST_partial.tsv --out forda.safetensors

Print the logits of every series of a UCR file as JSON lines (to compare with
the C library)::

    export_pytorch.py --check m.safetensors --input X.tsv

Show what a file holds::

    export_pytorch.py --info m.safetensors
"""

import argparse
import ctypes
import datetime
import json
import math
import os
import re
import signal
import struct
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

# PyTorch warns that an even kernel with padding='same' pads a copy of the
# input; that is expected here (the asymmetric padding is the definition).
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")

FORMAT_VERSION = "1"

# Limits of the C library (include/seqdream/model.h).
MAX_STAGES = 16
MAX_STAGE_CONVS = 4

PRESETS = {
    "resnet-small": [
        {"type": "residual", "channels": [10, 10, 10], "kernels": [5, 3, 1]},
        {"type": "residual", "channels": [20, 20, 20], "kernels": [5, 3, 1]},
        {"type": "residual", "channels": [20, 20, 20], "kernels": [5, 3, 1]},
    ],
    "resnet": [
        {"type": "residual", "channels": [64, 64, 64], "kernels": [8, 5, 3]},
        {"type": "residual", "channels": [128, 128, 128], "kernels": [8, 5, 3]},
        {"type": "residual", "channels": [128, 128, 128], "kernels": [8, 5, 3]},
    ],
    "fcn": [
        {"type": "conv", "channels": [128], "kernels": [8]},
        {"type": "conv", "channels": [256], "kernels": [5]},
        {"type": "conv", "channels": [128], "kernels": [3]},
    ],
    "fcn-small": [
        {"type": "conv", "channels": [64], "kernels": [3]},
        {"type": "conv", "channels": [64], "kernels": [3]},
        {"type": "conv", "channels": [64], "kernels": [3]},
    ],
    "fcn-pool": [
        {"type": "conv", "channels": [16], "kernels": [7], "pool": 4},
        {"type": "conv", "channels": [32], "kernels": [5], "pool": 4},
        {"type": "conv", "channels": [32], "kernels": [5], "pool": 4},
        {"type": "conv", "channels": [32], "kernels": [5], "pool": 2},
        {"type": "conv", "channels": [32], "kernels": [5]},
    ],
}
MAX_POOL = 1024
MAX_TOTAL_POOL = 65536


# --------------------------------------------------------------------------
# Architecture


def preset_arch(name, num_classes, in_channels=1):
    """The architecture dict of a preset (a key of PRESETS)."""
    if name not in PRESETS:
        raise ValueError("unknown preset %r (known: %s)" % (name, ", ".join(PRESETS)))
    return normalize_arch({
        "name": name,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "bn_eps": 1e-5,
        "bn_momentum": 0.1,
        "stages": [dict(s, channels=list(s["channels"]), kernels=list(s["kernels"]))
                   for s in PRESETS[name]],
    })


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("%s must be a positive integer, not %r" % (what, value))
    return value


def normalize_arch(arch):
    """Validate an architecture dict and return a clean copy with defaults.

    Fills in in_channels (1), bn_eps (1e-5), bn_momentum (0.1) and name
    ("custom") when absent; raises ValueError on anything the C library
    would reject.
    """
    if not isinstance(arch, dict):
        raise ValueError("architecture must be a JSON object")
    out = {
        "name": str(arch.get("name", "custom")),
        "in_channels": _positive_int(arch.get("in_channels", 1), "in_channels"),
        "num_classes": _positive_int(arch.get("num_classes"), "num_classes"),
        "bn_eps": float(arch.get("bn_eps", 1e-5)),
        "bn_momentum": float(arch.get("bn_momentum", 0.1)),
        "stages": [],
    }
    if len(out["name"].encode()) >= 64:
        raise ValueError("architecture name longer than 63 bytes")
    if not out["bn_eps"] > 0 or not math.isfinite(out["bn_eps"]):
        raise ValueError("bn_eps must be positive")
    if not 0 <= out["bn_momentum"] <= 1:
        raise ValueError("bn_momentum must be in [0, 1]")
    stages = arch.get("stages")
    if not isinstance(stages, list) or not 1 <= len(stages) <= MAX_STAGES:
        raise ValueError("stages must be a list of 1..%d stages" % MAX_STAGES)
    for i, s in enumerate(stages):
        kind = s.get("type")
        ch = [_positive_int(c, "stages[%d].channels" % i) for c in s.get("channels", [])]
        ks = [_positive_int(k, "stages[%d].kernels" % i) for k in s.get("kernels", [])]
        if len(ch) != len(ks):
            raise ValueError("stages[%d]: channels and kernels differ in length" % i)
        if kind == "conv":
            if len(ch) != 1:
                raise ValueError("stages[%d]: a conv stage has exactly one conv" % i)
        elif kind == "residual":
            if not 1 <= len(ch) <= MAX_STAGE_CONVS:
                raise ValueError("stages[%d]: a residual stage has 1..%d convs"
                                 % (i, MAX_STAGE_CONVS))
        else:
            raise ValueError("stages[%d]: unknown type %r" % (i, kind))
        stage = {"type": kind, "channels": ch, "kernels": ks}
        pool = s.get("pool", 1)
        if isinstance(pool, bool) or not isinstance(pool, int) or not 1 <= pool <= MAX_POOL:
            raise ValueError("stages[%d]: pool must be an integer from 1 to %d" % (i, MAX_POOL))
        if pool > 1:
            # written only when there is pooling, as the C library does
            stage["pool"] = pool
        out["stages"].append(stage)
    total = 1
    for s in out["stages"]:
        total *= s.get("pool", 1)
    if total > MAX_TOTAL_POOL:
        raise ValueError("the stages pool by more than %d in total" % MAX_TOTAL_POOL)
    return out


def arch_to_json(arch):
    """Compact JSON text of an architecture, as stored in model files."""
    return json.dumps(normalize_arch(arch), separators=(",", ":"))


# --------------------------------------------------------------------------
# Modules


class ConvBN(nn.Module):
    """conv1d('same', no bias) followed by batch norm (no activation)."""

    def __init__(self, in_ch, out_ch, kernel, eps=1e-5, momentum=0.1):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, padding="same", bias=False)
        self.bn = nn.BatchNorm1d(out_ch, eps=eps, momentum=momentum)

    def forward(self, x):
        return self.bn(self.conv(x))


def _pool(x, p):
    """The optional average pooling that ends a stage ("pool": p)."""
    return F.avg_pool1d(x, p) if p > 1 else x


class ConvStage(ConvBN):
    """{"type": "conv"}: relu(bn(conv(x))), then average pooling by
    ``pool`` (kernel = stride = pool) when pool > 1."""

    def __init__(self, in_ch, out_ch, kernel, eps=1e-5, momentum=0.1, pool=1):
        super().__init__(in_ch, out_ch, kernel, eps, momentum)
        self.pool = pool

    def forward(self, x):
        return _pool(F.relu(self.bn(self.conv(x))), self.pool)


class ResidualStage(nn.Module):
    """{"type": "residual"}: n x [conv -> bn] with ReLU between, plus the
    shortcut (identity, or 1x1 conv + bn when the channel count changes),
    then ReLU, then average pooling by ``pool`` when pool > 1."""

    def __init__(self, in_ch, channels, kernels, eps=1e-5, momentum=0.1, pool=1):
        super().__init__()
        self.pool = pool
        convs = []
        c = in_ch
        for oc, k in zip(channels, kernels):
            convs.append(ConvBN(c, oc, k, eps, momentum))
            c = oc
        self.convs = nn.ModuleList(convs)
        if in_ch != channels[-1]:
            self.shortcut = ConvBN(in_ch, channels[-1], 1, eps, momentum)
        else:
            self.shortcut = None

    def forward(self, x):
        h = x
        n = len(self.convs)
        for j, layer in enumerate(self.convs):
            h = layer(h)
            if j + 1 < n:
                h = F.relu(h)
        s = self.shortcut(x) if self.shortcut is not None else x
        return _pool(F.relu(h + s), self.pool)


class SeqDreamNet(nn.Module):
    """stages -> global average pooling over time -> fc.

    Input (B, in_channels, T) or (B, T) for univariate models; output logits
    (B, num_classes).  ``self.arch`` holds the normalised architecture dict.
    """

    def __init__(self, arch):
        super().__init__()
        arch = normalize_arch(arch)
        self.arch = arch
        eps, mom = arch["bn_eps"], arch["bn_momentum"]
        stages = []
        c = arch["in_channels"]
        for s in arch["stages"]:
            pool = s.get("pool", 1)
            if s["type"] == "conv":
                stages.append(ConvStage(c, s["channels"][0], s["kernels"][0], eps, mom,
                                        pool))
            else:
                stages.append(ResidualStage(c, s["channels"], s["kernels"], eps, mom,
                                            pool))
            c = s["channels"][-1]
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(c, arch["num_classes"])

    def features(self, x):
        """Output of every stage, then the pooled features (for inspection)."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        outs.append(x.mean(-1))
        return outs

    def forward(self, x):
        if x.dim() == 2:
            x = x.unsqueeze(1)
        for stage in self.stages:
            x = stage(x)
        return self.fc(x.mean(-1))


class InceptionModule(nn.Module):
    """One module of InceptionTime (Ismail Fawaz et al. 2020): a 1x1
    bottleneck to nf channels (none on a 1-channel input), convolutions of
    nf filters with kernels 40, 20, 10 on it, padded as Keras's 'same' (the
    reference implementation's: left (k-1)//2, right k//2 for an even k),
    and max-pool(3, stride 1, pad 1) of the input followed by a 1x1 conv of
    nf filters; concatenated (4 nf channels), batch norm.  The ReLU is the
    caller's (a shortcut is added before it)."""

    def __init__(self, c_in, nf, kernels=(40, 20, 10)):
        super().__init__()
        self.kernels = tuple(kernels)
        self.bottleneck = nn.Conv1d(c_in, nf, 1, bias=False) if c_in > 1 else None
        b = nf if c_in > 1 else c_in
        self.convs = nn.ModuleList(nn.Conv1d(b, nf, k, bias=False) for k in self.kernels)
        self.pool_conv = nn.Conv1d(c_in, nf, 1, bias=False)
        self.bn = nn.BatchNorm1d(nf * (len(self.kernels) + 1))

    def forward(self, x):
        h = self.bottleneck(x) if self.bottleneck is not None else x
        outs = [conv(F.pad(h, ((k - 1) // 2, k // 2)))
                for conv, k in zip(self.convs, self.kernels)]
        outs.append(self.pool_conv(F.max_pool1d(x, 3, stride=1, padding=1)))
        return self.bn(torch.cat(outs, 1))


class InceptionShortcut(nn.Module):
    """1x1 conv (no bias) + batch norm: the residual of every third module."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x):
        return self.bn(self.conv(x))


class InceptionTime(nn.Module):
    """The seqdream presets "inception" (nf 32, the paper's) and
    "inception-small" (nf 16), as the C library builds them
    (sd_model_new_inception, core/inception.c; same state_dict names): six
    modules, a shortcut added before the ReLU of modules 3 and 6, global
    average pooling, fc.  Input (B, 1, T) or (B, T)."""

    def __init__(self, num_classes, nf=32, depth=6):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        c, res_c = 1, 1
        for i in range(depth):
            self.blocks.append(InceptionModule(c, nf))
            c = 4 * nf
            if i % 3 == 2:
                self.shortcuts.append(InceptionShortcut(res_c, c))
                res_c = c
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        if x.dim() == 2:
            x = x.unsqueeze(1)
        res = x
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i % 3 == 2:
                x = torch.relu(x + self.shortcuts[i // 3](res))
                res = x
            else:
                x = torch.relu(x)
        return self.fc(x.mean(-1))


INCEPTION_PRESETS = {"inception": 32, "inception-small": 16}


def build_model(arch_dict):
    """A freshly initialised (PyTorch default init) model for an arch dict.

    Seed with torch.manual_seed() first for reproducible weights.
    """
    return SeqDreamNet(arch_dict)


def conv_macs(arch, T):
    """Multiply-accumulates of all convolutions for one series of length T
    (shortcut 1x1 convs included; BN, ReLU, pooling and fc not)."""
    arch = normalize_arch(arch)
    total = 0
    c = arch["in_channels"]
    for s in arch["stages"]:
        ic = c
        for oc, k in zip(s["channels"], s["kernels"]):
            total += oc * ic * k * T
            ic = oc
        if s["type"] == "residual" and c != s["channels"][-1]:
            total += s["channels"][-1] * c * T
        c = s["channels"][-1]
        T //= s.get("pool", 1)  # pooling ends the stage
    return total


# --------------------------------------------------------------------------
# safetensors, by hand

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
    "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
    "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}

# Refuse absurd headers (the reference implementation's limit is 100 MB).
_MAX_HEADER = 100 * 1024 * 1024


def _tensor_bytes(t):
    """Raw little-endian bytes of a tensor (torch + ctypes, no numpy)."""
    t = t.detach().cpu().contiguous()
    n = t.numel() * t.element_size()
    if n == 0:
        return b""
    data = ctypes.string_at(t.data_ptr(), n)
    if sys.byteorder != "little" and t.element_size() > 1:
        size = t.element_size()
        data = b"".join(data[i:i + size][::-1] for i in range(0, n, size))
    return data


def save_safetensors(path, tensors, metadata=None):
    """Write tensors (dict name -> Tensor, in dict order) and metadata (dict
    str -> str) as a safetensors file.  The write is atomic (temporary file
    + rename)."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("metadata keys and values must be strings (%r)" % (k,))
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is not a valid tensor name")
        if not isinstance(t, torch.Tensor):
            raise TypeError("%s is not a tensor" % name)
        if t.dtype not in _DTYPE_NAMES:
            raise TypeError("%s: unsupported dtype %s" % (name, t.dtype))
        data = _tensor_bytes(t)
        header[name] = {
            "dtype": _DTYPE_NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    hdr = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hdr += b" " * (-len(hdr) % 8)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hdr)))
            f.write(hdr)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_safetensors(path):
    """Read a safetensors file -> (tensors: dict name -> Tensor in data-offset
    order, metadata: dict str -> str).  The file is validated (header size,
    JSON, dtypes, shapes, offsets, overlaps, holes) and ValueError names the
    problem."""
    with open(path, "rb") as f:
        raw = f.read()

    def fail(msg):
        raise ValueError("%s: %s" % (path, msg))

    if len(raw) < 8:
        fail("file too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        fail("header length %d exceeds the file size %d" % (n, len(raw)))
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        fail("invalid JSON header (%s)" % e)
    if not isinstance(header, dict):
        fail("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        fail("__metadata__ must map strings to strings")
    data = raw[8 + n:]
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict):
            fail("tensor %s: entry is not an object" % name)
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            fail("tensor %s: unsupported dtype %r" % (name, info.get("dtype")))
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if (not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            fail("tensor %s: bad shape %r" % (name, shape))
        if (not isinstance(offs, list) or len(offs) != 2 or not all(
                isinstance(o, int) and not isinstance(o, bool) for o in offs)
                or not 0 <= offs[0] <= offs[1] <= len(data)):
            fail("tensor %s: bad data_offsets %r" % (name, offs))
        numel = 1
        for d in shape:
            numel *= d
        itemsize = torch.empty((), dtype=dtype).element_size()
        if offs[1] - offs[0] != numel * itemsize:
            fail("tensor %s: %d bytes for shape %s %s" % (
                name, offs[1] - offs[0], shape, info["dtype"]))
        entries.append((offs[0], offs[1], name, dtype, shape))
    entries.sort()
    pos = 0
    tensors = {}
    for begin, end, name, dtype, shape in entries:
        if begin != pos:
            fail("tensor %s: data at %d, expected %d (hole or overlap)" % (name, begin, pos))
        pos = end
        buf = bytearray(data[begin:end])
        if dtype == torch.bool and any(b > 1 for b in buf):
            fail("tensor %s: BOOL values other than 0/1" % name)
        if end == begin:
            t = torch.empty(shape, dtype=dtype)
        else:
            itemsize = torch.empty((), dtype=dtype).element_size()
            if sys.byteorder != "little" and itemsize > 1:
                buf = bytearray(b"".join(buf[i:i + itemsize][::-1]
                                         for i in range(0, len(buf), itemsize)))
            t = torch.frombuffer(buf, dtype=dtype).reshape(shape).clone()
        tensors[name] = t
    if pos != len(data):
        fail("%d bytes after the last tensor" % (len(data) - pos))
    return tensors, metadata


# --------------------------------------------------------------------------
# seqdream model files


def _json(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _normalization_dict(normalization):
    if isinstance(normalization, str):
        normalization = {"mode": normalization}
    mode = normalization.get("mode")
    if mode in ("per-series", "none"):
        return {"mode": mode}
    if mode == "fixed":
        mean, std = float(normalization["mean"]), float(normalization["std"])
        if not math.isfinite(mean) or not std > 0 or not math.isfinite(std):
            raise ValueError("fixed normalization needs a finite mean and std > 0")
        return {"mode": "fixed", "mean": mean, "std": std}
    raise ValueError("unknown normalization mode %r" % mode)


def _format_rate(rate):
    rate = float(rate or 0)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError("sample_rate must be >= 0")
    return str(int(rate)) if rate == int(rate) else repr(rate)


def model_tensors(model):
    """The tensors written to a file: the state_dict without
    num_batches_tracked, as contiguous float32."""
    out = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        out[name] = t.detach().to(torch.float32).contiguous()
    return out


def export_model(model, path, labels, normalization, train_length,
                 sample_rate=0, input_range=(-5.0, 5.0), provenance=None):
    """Write a SeqDreamNet as a seqdream model file.

    labels: num_classes strings (class index -> label); normalization: dict
    ({"mode": "per-series"|"none"} or {"mode": "fixed", "mean", "std"}) or
    a mode string; train_length: series length used for training;
    sample_rate: Hz or 0 when unknown; input_range: (lo, hi) of the
    normalised training inputs; provenance: dict (JSON object) or None.
    """
    arch = normalize_arch(model.arch)
    labels = [str(l) for l in labels]
    if len(labels) != arch["num_classes"]:
        raise ValueError("%d labels for %d classes" % (len(labels), arch["num_classes"]))
    if len(set(labels)) != len(labels):
        raise ValueError("duplicate labels")
    lo, hi = (float(v) for v in input_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError("input_range must be finite with lo < hi")
    train_length = int(train_length)
    if train_length <= 0:
        raise ValueError("train_length must be positive")
    if provenance is None:
        provenance = {}
    if not isinstance(provenance, dict):
        raise ValueError("provenance must be a dict")
    metadata = {
        "format": "pt",
        "seqdream.format_version": FORMAT_VERSION,
        "arch": _json(arch),
        "labels": _json(labels),
        "normalization": _json(_normalization_dict(normalization)),
        "train_length": str(train_length),
        "sample_rate": _format_rate(sample_rate),
        "input_range": _json([lo, hi]),
        "provenance": _json(provenance),
    }
    save_safetensors(path, model_tensors(model), metadata)


def _load_state(model, state, where):
    """Load a state dict, tolerating present or absent num_batches_tracked
    and skipping the training statistics (stats.*, docs/model-format.md
    2.6: not parameters); anything else missing or unexpected is an error."""
    state = {k: v for k, v in state.items()
             if not k.endswith("num_batches_tracked") and not k.startswith("stats.")}
    own = {k: v for k, v in model.state_dict().items()
           if not k.endswith("num_batches_tracked")}
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise ValueError("%s: tensors do not match the architecture (missing: %s; "
                         "unexpected: %s)" % (where, missing or "none", extra or "none"))
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError("%s: %s has shape %s, expected %s"
                             % (where, k, list(v.shape), list(own[k].shape)))
        if not v.is_floating_point():
            raise ValueError("%s: %s is not a floating point tensor" % (where, k))
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)


def load_model(path):
    """Read a seqdream model file -> SeqDreamNet in eval mode.

    The architecture comes from the "arch" metadata.  The parsed metadata is
    attached as attributes: labels (list), normalization (dict),
    train_length (int), sample_rate (float), input_range ([lo, hi]),
    provenance (dict), metadata (the raw string dict).
    """
    tensors, meta = load_safetensors(path)
    version = meta.get("seqdream.format_version")
    if version != FORMAT_VERSION:
        raise ValueError("%s: seqdream.format_version %r, expected %r"
                         % (path, version, FORMAT_VERSION))
    if "arch" not in meta:
        raise ValueError("%s: no 'arch' metadata" % path)
    model = build_model(json.loads(meta["arch"]))
    _load_state(model, tensors, path)
    model.eval()
    k = model.arch["num_classes"]
    labels = json.loads(meta["labels"]) if "labels" in meta else [str(i) for i in range(k)]
    if len(labels) != k:
        raise ValueError("%s: %d labels for %d classes" % (path, len(labels), k))
    model.labels = [str(l) for l in labels]
    model.normalization = _normalization_dict(
        json.loads(meta.get("normalization", '{"mode":"none"}')))
    model.train_length = int(meta.get("train_length", "0"))
    model.sample_rate = float(meta.get("sample_rate", "0"))
    model.input_range = json.loads(meta.get("input_range", "[-5, 5]"))
    model.provenance = json.loads(meta.get("provenance", "{}"))
    model.metadata = meta
    return model


def normalize_input(x, normalization):
    """Apply a model's input normalisation to x (B, T) (returns a new tensor).

    per-series: (x - mean) / std over each series with the population
    standard deviation (divide by T); a constant series (std < 1e-8) only
    has its mean removed.  fixed: (x - mean) / std.  none: unchanged.
    """
    mode = normalization["mode"]
    if mode == "none":
        return x.clone()
    if mode == "fixed":
        return (x - normalization["mean"]) / normalization["std"]
    mean = x.mean(-1, keepdim=True)
    std = x.var(-1, unbiased=False, keepdim=True).sqrt()
    std = torch.where(std < 1e-8, torch.ones_like(std), std)
    return (x - mean) / std


# --------------------------------------------------------------------------
# UCR text files


def read_ucr(path):
    """UCR TSV/TXT: one series per line, the label first, then the values,
    separated by tabs, commas or spaces.  Returns (labels: list of str,
    x: float32 Tensor (n, T))."""
    labels, rows = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            tok = [t for t in re.split(r"[\t, ]+", line) if t]
            if len(tok) < 2:
                raise ValueError("%s:%d: no values" % (path, lineno))
            try:
                vals = [float(v) for v in tok[1:]]
            except ValueError:
                raise ValueError("%s:%d: not a number" % (path, lineno)) from None
            if not all(math.isfinite(v) for v in vals):
                raise ValueError("%s:%d: NaN or Inf" % (path, lineno))
            if rows and len(vals) != len(rows[0]):
                raise ValueError("%s:%d: %d values, expected %d"
                                 % (path, lineno, len(vals), len(rows[0])))
            labels.append(tok[0])
            rows.append(vals)
    if not rows:
        raise ValueError("%s: no series" % path)
    return labels, torch.tensor(rows, dtype=torch.float32)


def sorted_labels(labels):
    """Distinct labels in the library's order: numerically when every label
    is a number, else lexicographically."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


# --------------------------------------------------------------------------
# Command line


def _read_state_dict(path):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickled modules etc.
        raise SystemExit("%s: cannot load as a weights-only state_dict (%s); save "
                         "model.state_dict() with torch.save()" % (path, e))
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise SystemExit("%s: not a state_dict" % path)
    # Strip a "module." prefix left by DataParallel.
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def cmd_export(args):
    if args.arch_json:
        with open(args.arch_json, encoding="utf-8") as f:
            arch = json.load(f)
        if args.classes:
            arch["num_classes"] = args.classes
        arch = normalize_arch(arch)
    else:
        if not args.classes and not args.data:
            raise SystemExit("--classes (or --data) is needed with --arch")
        arch = None

    labels = args.labels.split(",") if args.labels else None
    train_length = args.train_length
    input_range = None
    if args.data:
        data_labels, x = read_ucr(args.data)
        if labels is None:
            labels = sorted_labels(data_labels)
        train_length = train_length or x.shape[1]
        norm = _normalization_dict(args.normalization)
        xn = normalize_input(x, norm)
        input_range = [float(xn.min()), float(xn.max())]
    classes = args.classes or (len(labels) if labels else 0)
    if arch is None:
        arch = preset_arch(args.arch, classes)
    if labels is None:
        labels = [str(i) for i in range(arch["num_classes"])]

    torch.manual_seed(args.seed)
    model = build_model(arch)
    if args.state_dict:
        _load_state(model, _read_state_dict(args.state_dict), args.state_dict)
    if args.input_range:
        input_range = [float(v) for v in args.input_range.split(",")]
    if input_range is None:
        input_range = [-5.0, 5.0]

    provenance = {
        "tool": "examples/export_pytorch.py",
        "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": torch.__version__,
        "seed": args.seed,
        "weights": args.state_dict or "random (PyTorch default init)",
    }
    if args.data:
        provenance["data"] = args.data
    if args.provenance:
        provenance.update(json.loads(args.provenance))
    export_model(model, args.out, labels, _normalization_dict(args.normalization),
                 train_length or 500, args.sample_rate, input_range, provenance)
    n = sum(t.numel() for t in model_tensors(model).values())
    print("wrote %s: %s, %d classes, %d floats" % (args.out, arch["name"],
                                                   arch["num_classes"], n),
          file=sys.stderr)


def cmd_check(args):
    model = load_model(args.check)
    labels, x = read_ucr(args.input)
    if args.limit:
        labels, x = labels[:args.limit], x[:args.limit]
    norm = {"mode": "none"} if args.raw else model.normalization
    xn = normalize_input(x, norm)
    correct = known = 0
    out = sys.stdout
    with torch.no_grad():
        for b in range(0, x.shape[0], args.batch):
            logits = model(xn[b:b + args.batch])
            for i, row in enumerate(logits.tolist()):
                idx = b + i
                pred = max(range(len(row)), key=row.__getitem__)
                rec = {"index": idx, "label": labels[idx], "logits": row,
                       "predicted": model.labels[pred]}
                out.write(json.dumps(rec) + "\n")
                if labels[idx] in model.labels:
                    known += 1
                    correct += model.labels[pred] == labels[idx]
    if known:
        print("%s: %d series; accuracy %.4f over the %d whose label is one of the "
              "model's" % (args.input, x.shape[0], correct / known, known), file=sys.stderr)


def cmd_info(args):
    tensors, meta = load_safetensors(args.info)
    for k, v in meta.items():
        print("%s: %s" % (k, v))
    for name, t in tensors.items():
        print("%-40s %-5s %s" % (name, _DTYPE_NAMES[t.dtype], list(t.shape)))
    print("%d tensors, %d values" % (len(tensors), sum(t.numel() for t in tensors.values())))


def main(argv=None):
    if hasattr(signal, "SIGPIPE"):  # quiet when piped into head
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    p = argparse.ArgumentParser(
        description="Export seqdream models from PyTorch and print reference logits.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  %(prog)s --arch resnet-small --classes 2 --seed 0 --out m.safetensors\n"
               "  %(prog)s --check m.safetensors --input FordA_TRAIN_partial.tsv\n"
               "  %(prog)s --info m.safetensors")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", metavar="FILE", help="export a model to FILE")
    mode.add_argument("--check", metavar="MODEL",
                      help="print the logits of MODEL for --input as JSON lines")
    mode.add_argument("--info", metavar="FILE", help="print metadata and tensors of FILE")

    g = p.add_argument_group("export")
    g.add_argument("--arch", default="resnet-small", choices=sorted(PRESETS),
                   help="preset architecture (default resnet-small)")
    g.add_argument("--arch-json", metavar="FILE",
                   help="custom architecture (JSON object) instead of --arch")
    g.add_argument("--classes", type=int, default=0, help="number of classes")
    g.add_argument("--seed", type=int, default=0,
                   help="torch.manual_seed before building the model (default 0)")
    g.add_argument("--state-dict", metavar="FILE.pt",
                   help="trained weights (torch.save(model.state_dict()))")
    g.add_argument("--labels", metavar="A,B,...",
                   help="class labels (default: from --data, else 0..K-1)")
    g.add_argument("--data", metavar="UCR.tsv",
                   help="training data: labels, train length and input range from it")
    g.add_argument("--normalization", default="per-series",
                   help="per-series | none | JSON such as "
                        "'{\"mode\":\"fixed\",\"mean\":0,\"std\":1}' (default per-series)")
    g.add_argument("--train-length", type=int, default=0,
                   help="training series length (default: from --data, else 500)")
    g.add_argument("--sample-rate", type=float, default=0.0,
                   help="sample rate in Hz, 0 when unknown (default)")
    g.add_argument("--input-range", metavar="LO,HI",
                   help="range of the normalised inputs (default: from --data, else -5,5)")
    g.add_argument("--provenance", metavar="JSON",
                   help="JSON object merged into the provenance")

    g = p.add_argument_group("check")
    g.add_argument("--input", metavar="UCR.tsv", help="series to classify (label first)")
    g.add_argument("--raw", action="store_true",
                   help="do not apply the model's normalisation to --input")
    g.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    g.add_argument("--limit", type=int, default=0, help="only the first N series")

    args = p.parse_args(argv)
    if isinstance(args.normalization, str) and args.normalization.startswith("{"):
        args.normalization = json.loads(args.normalization)
    if args.check:
        if not args.input:
            p.error("--check needs --input")
        cmd_check(args)
    elif args.info:
        cmd_info(args)
    else:
        cmd_export(args)


if __name__ == "__main__":
    main()
