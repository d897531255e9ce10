#!/usr/bin/python3
# Writes the seed corpus of the fuzz targets: valid inputs and systematic
# corruptions of them, small and deterministic. Standard library only.
#   /usr/bin/python3 fuzz/make-corpus.py           (rewrites fuzz/corpus/)
#   /usr/bin/python3 fuzz/make-corpus.py --check   (fails if it differs)
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Seed corpus (docs/fuzzing.md):

corpus/fuzz_model/    safetensors model files: tiny models written here
                      (conv, residual with and without a projection
                      shortcut, every normalisation and metadata field),
                      two golden models of tests/data/golden, and
                      corruptions: truncations, header length, JSON
                      syntax, offsets, dtypes, shapes, every metadata key
                      and every architecture limit; a model with
                      training statistics and corruptions of them.
corpus/fuzz_ucr/      UCR text files: every separator and line ending,
                      numeric, decimal and string labels, and the errors
                      the loader names (ragged rows, NaN, overflow, ...).
corpus/fuzz_onnx/     ONNX files: the small test models of tests/data/onnx
                      (exported by PyTorch: tests/onnx/make_onnx.py, and
                      by seqdream export with its normalisation ops and
                      metadata: exported-*.onnx) and truncations and byte
                      changes of one of them.
corpus/fuzz_element/  scripts for fuzz_element.c (see the format there):
                      caps, properties, buffers, timestamps, events and
                      dream requests.

Files are named after what they hold. A file name is a stable id: the
corpus is rewritten whole, and --check compares it file by file.
"""

import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(ROOT, "tests", "data", "golden")


# ---------------------------------------------------------------- models

def f32(values):
    return struct.pack("<%df" % len(values), *values)


def safetensors(tensors, metadata=None, header_override=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = header_override if header_override is not None else \
        json.dumps(header, separators=(",", ":"))
    hb = text.encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    return struct.pack("<Q", len(hb)) + hb + data


def values(n, seed):
    """n deterministic floats in [-1, 1]."""
    return [math.sin(0.37 * (i + 1) * (seed + 1)) for i in range(n)]


def conv_bn(prefix, oc, ic, k, seed):
    return [
        (prefix + ".conv.weight", "F32", [oc, ic, k],
         f32(values(oc * ic * k, seed))),
        (prefix + ".bn.weight", "F32", [oc], f32([1.0 + 0.1 * v for v in
                                                 values(oc, seed + 1)])),
        (prefix + ".bn.bias", "F32", [oc], f32(values(oc, seed + 2))),
        (prefix + ".bn.running_mean", "F32", [oc],
         f32([0.1 * v for v in values(oc, seed + 3)])),
        (prefix + ".bn.running_var", "F32", [oc],
         f32([1.0 + 0.5 * abs(v) for v in values(oc, seed + 4)])),
    ]


def arch_json(name, stages, n_classes=2, **extra):
    a = {"name": name, "in_channels": 1, "num_classes": n_classes,
         "bn_eps": 1e-05, "bn_momentum": 0.1, "stages": stages}
    a.update(extra)
    return json.dumps(a, separators=(",", ":"))


def model_tensors(stages, n_classes=2):
    """The state_dict of an architecture (list of stage dicts)."""
    tensors = []
    c = 1
    for i, s in enumerate(stages):
        if s["type"] == "conv":
            tensors += conv_bn("stages.%d" % i, s["channels"][0], c,
                               s["kernels"][0], 10 * i)
            c = s["channels"][0]
        else:
            h = c
            for j, (oc, k) in enumerate(zip(s["channels"], s["kernels"])):
                tensors += conv_bn("stages.%d.convs.%d" % (i, j), oc, h, k,
                                   10 * i + j)
                h = oc
            if h != c:
                tensors += conv_bn("stages.%d.shortcut" % i, h, c, 1, 10 * i + 7)
            c = h
    tensors.append(("fc.weight", "F32", [n_classes, c],
                    f32(values(n_classes * c, 99))))
    tensors.append(("fc.bias", "F32", [n_classes], f32(values(n_classes, 98))))
    return tensors


CONV_TINY = [{"type": "conv", "channels": [2], "kernels": [3]}]
RES_PROJ = [{"type": "residual", "channels": [3, 3], "kernels": [3, 1]}]
RES_IDENT = [{"type": "conv", "channels": [2], "kernels": [1]},
             {"type": "residual", "channels": [2], "kernels": [3]}]


def meta(arch, labels=("a", "b"), **extra):
    m = {"format": "pt", "seqdream.format_version": "1", "arch": arch,
         "labels": json.dumps(list(labels)),
         "normalization": '{"mode":"none"}', "train_length": "16",
         "sample_rate": "100"}
    for k, v in extra.items():
        key = k.replace("__", ".")
        if v is None:
            m.pop(key, None)
        else:
            m[key] = v
    return m


def model(stages=CONV_TINY, n_classes=2, labels=None, arch=None,
          tensors=None, meta_override=None, **extra):
    """extra: metadata values (None drops the key); meta_override: the
    same for "arch" and "labels"."""
    if labels is None:
        labels = ["c%d" % k for k in range(n_classes)]
    if arch is None:
        arch = arch_json("tiny", stages, n_classes)
    if tensors is None:
        tensors = model_tensors(stages, n_classes)
    m = meta(arch, labels, **extra)
    for k, v in (meta_override or {}).items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return safetensors(tensors, m)


def replace_tensor(tensors, name, new):
    return [new if t[0] == name else t for t in tensors]


def stats_model(drop=None, cov=(1.0, 0.25, 0.25, 2.0), **fields):
    """CONV_TINY (2 classes, 2 features, length 16) with training
    statistics (docs/model-format.md 2.6, 3 quantiles); fields replace
    members of the "stats" metadata, drop leaves a tensor out."""
    st = {"version": 1, "length": 16, "false_alarm": 0.005, "threshold": 3.5,
          "shrinkage": 0.01, "level": [0.1, 2.0], "counts": [4, 5],
          "heldout_counts": [2, 2]}
    st.update(fields)
    tensors = model_tensors(CONV_TINY) + [
        ("stats.spectra", "F32", [2, 9], f32([1.0 / 9] * 18)),
        ("stats.feature_means", "F32", [2, 2], f32([0.5, 1.0, 1.5, 0.2])),
        ("stats.covariance", "F32", [2, 2], f32(cov)),
        ("stats.novelty_quantiles", "F32", [3], f32([0.5, 1.5, 4.0])),
        ("stats.margin_quantiles", "F32", [2, 3],
         f32([1.0, 2.0, 3.0] + [float("nan")] * 3))]
    tensors = [t for t in tensors if t[0] != drop]
    return safetensors(tensors, meta(arch_json("tiny", CONV_TINY),
                                     ["c0", "c1"], stats=json.dumps(st)))


def stats_tensors(prefix, cov=(1.0, 0.25, 0.25, 2.0)):
    """The version-1 statistics tensors of CONV_TINY under prefix."""
    return [
        (prefix + ".spectra", "F32", [2, 9], f32([1.0 / 9] * 18)),
        (prefix + ".feature_means", "F32", [2, 2], f32([0.5, 1.0, 1.5, 0.2])),
        (prefix + ".covariance", "F32", [2, 2], f32(cov)),
        (prefix + ".novelty_quantiles", "F32", [3], f32([0.5, 1.5, 4.0])),
        (prefix + ".margin_quantiles", "F32", [2, 3],
         f32([1.0, 2.0, 3.0] + [float("nan")] * 3))]


def stage_tensors(prefix):
    """The stage space of CONV_TINY's one stage (2 channels) under prefix."""
    return [(prefix + ".stage_means.0", "F32", [2, 2],
             f32([0.4, 0.9, 1.4, 0.1])),
            (prefix + ".stage_covariance.0", "F32", [2, 2],
             f32([1.0, 0.2, 0.2, 1.5]))]


def ensemble_stats_model(members_flag=True, member_stats=(0, 1)):
    """Two CONV_TINY members, each with (version 1) statistics of its own
    ("members.<i>.stats") when listed in member_stats, and the ensemble's
    version-3 statistics, whose novelty combines the members'
    (members_flag: the value of "members")."""
    st = {"version": 3, "length": 16, "false_alarm": 0.005, "threshold": 2.5,
          "shrinkage": 0.01, "novelty": "stages", "stage_shrinkage": [0.01],
          "level": [0.1, 2.0], "counts": [4, 5], "heldout_counts": [2, 2],
          "members": members_flag}
    m = {k: v for k, v in meta(arch_json("tiny", CONV_TINY), ["c0", "c1"],
                               stats=json.dumps(st)).items() if k != "arch"}
    m["ensemble"] = "2"
    tensors = stats_tensors("stats") + stage_tensors("stats")
    for i in range(2):
        m["members.%d.arch" % i] = arch_json("tiny", CONV_TINY)
        tensors += [("members.%d.%s" % (i, t[0]),) + t[1:]
                    for t in model_tensors(CONV_TINY)]
        if i in member_stats:
            mst = {k: v for k, v in st.items()
                   if k not in ("members", "novelty", "stage_shrinkage")}
            mst["version"] = 1
            m["members.%d.stats" % i] = json.dumps(mst)
            tensors += stats_tensors("members.%d.stats" % i)
    return safetensors(tensors, m)


def model_corpus():
    c = {}
    c["valid-stats"] = stats_model()
    c["valid-ensemble-member-stats"] = ensemble_stats_model()
    c["ensemble-member-stats-missing"] = ensemble_stats_model(
        member_stats=(0,))
    c["ensemble-members-not-boolean"] = ensemble_stats_model(
        members_flag="yes")
    c["stats-threshold-negative"] = stats_model(threshold=-1)
    c["stats-length-other"] = stats_model(length=32)
    c["stats-counts-short"] = stats_model(counts=[4])
    c["stats-covariance-singular"] = stats_model(cov=(1.0, 1.0, 1.0, 1.0))
    c["stats-covariance-asymmetric"] = stats_model(cov=(1.0, 0.5, 0.25, 2.0))
    c["stats-tensor-missing"] = stats_model(drop="stats.covariance")
    base = model()
    c["valid-conv-tiny"] = base
    c["valid-residual-projection"] = model(RES_PROJ)
    c["valid-residual-identity"] = model(RES_IDENT, n_classes=3)
    c["valid-norm-per-series"] = model(
        normalization='{"mode":"per-series"}')
    c["valid-norm-fixed"] = model(
        normalization='{"mode":"fixed","mean":0.5,"std":2.0}')
    c["valid-input-range-provenance"] = model(
        input_range="[-3.0, 3.0]", provenance='{"seed":1,"data":"x"}')
    c["valid-no-optional-metadata"] = model(
        normalization=None, train_length=None, sample_rate=None)
    c["valid-num-batches-tracked"] = model(tensors=model_tensors(CONV_TINY) + [
        ("stages.0.bn.num_batches_tracked", "I64", [], struct.pack("<q", 5))])
    c["valid-unicode-labels"] = model(labels=["\u00e9t\u00e9", "\u96ea"])
    for name in ("fcn-tiny", "resnet-identity"):
        with open(os.path.join(GOLDEN, name + ".model.safetensors"),
                  "rb") as f:
            c["golden-" + name] = f.read()

    # Truncations and the header length.
    hlen = struct.unpack("<Q", base[:8])[0]
    for cut in (0, 4, 7, 8, 9, 8 + hlen // 2, 8 + hlen, 8 + hlen + 10,
                len(base) - 1):
        c["trunc-%d" % cut] = base[:cut]
    for name, n in (("zero", 0), ("one", 1), ("past-end", len(base)),
                    ("huge", 1 << 63), ("all-ones", (1 << 64) - 1),
                    ("over-limit", 100 * 1024 * 1024 + 1)):
        c["hlen-" + name] = struct.pack("<Q", n) + base[8:]
    c["extra-byte"] = base + b"\0"

    # Header JSON: syntax the strict validator must refuse.
    t = model_tensors(CONV_TINY)
    good = json.loads(base[8:8 + hlen])
    headers = {
        "not-object": "[]",
        "empty": "",
        "comment": '{/*x*/}',
        "single-quotes": "{'a':1}",
        "trailing-comma": '{"__metadata__":{},}',
        "duplicate-key": '{"__metadata__":{},"__metadata__":{}}',
        "nul-escape": '{"a\\u0000b":{"dtype":"F32","shape":[0],'
                      '"data_offsets":[0,0]}}',
        "lone-surrogate": '{"\\ud800":{"dtype":"F32","shape":[0],'
                          '"data_offsets":[0,0]}}',
        "deep": "[" * 100 + "]" * 100,
        "big-int": '{"x":{"dtype":"F32","shape":[1],'
                   '"data_offsets":[0,99999999999999999999999]}}',
        "negative-shape": '{"x":{"dtype":"F32","shape":[-1],'
                          '"data_offsets":[0,4]}}',
        "float-shape": '{"x":{"dtype":"F32","shape":[1.5],'
                       '"data_offsets":[0,4]}}',
        "nine-dims": '{"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],'
                     '"data_offsets":[0,4]}}',
        "unknown-dtype": '{"x":{"dtype":"F8","shape":[1],'
                         '"data_offsets":[0,1]}}',
        "shape-overflow": '{"x":{"dtype":"F64","shape":[4294967296,'
                          '4294967296],"data_offsets":[0,0]}}',
        "extra-field": '{"x":{"dtype":"F32","shape":[1],'
                       '"data_offsets":[0,4],"z":1}}',
        "metadata-not-string": '{"__metadata__":{"a":1}}',
        "raw-control": '{"__metadata__":{"a":"\x01"}}',
        "bad-utf8": '{"__metadata__":{"a":"\udcff"}}',
    }
    for name, text in headers.items():
        hb = text.encode("utf-8", "surrogateescape")
        c["json-" + name] = struct.pack("<Q", len(hb)) + hb + b"\0" * 8

    # Offsets and dtypes against the data section.
    def with_header(mutate):
        h = json.loads(base[8:8 + hlen])
        mutate(h)
        hb = json.dumps(h, separators=(",", ":")).encode()
        return struct.pack("<Q", len(hb)) + hb + base[8 + hlen:]

    def set_off(name, off):
        return lambda h: h[name].__setitem__("data_offsets", off)

    n_data = len(base) - 8 - hlen
    c["offsets-reversed"] = with_header(set_off("fc.bias", [8, 0]))
    c["offsets-past-end"] = with_header(set_off("fc.bias",
                                                [n_data - 4, n_data + 4]))
    c["offsets-overlap"] = with_header(set_off("fc.bias", [0, 8]))
    c["offsets-size-mismatch"] = with_header(set_off("fc.bias",
                                                     [n_data - 12, n_data]))
    c["dtype-f16"] = with_header(lambda h: h["fc.bias"].update(
        dtype="F16", shape=[4]))
    c["dtype-i32"] = with_header(lambda h: h["fc.bias"].update(dtype="I32"))
    c["shape-scalar"] = with_header(lambda h: h["fc.bias"].update(shape=[]))
    c["shape-wrong"] = model(tensors=replace_tensor(
        t, "fc.weight", ("fc.weight", "F32", [4], f32(values(4, 1)))))
    c["tensor-missing"] = model(tensors=t[:-1])
    c["tensor-extra"] = model(tensors=t + [
        ("stages.9.conv.weight", "F32", [1], f32([1.0]))])
    c["tensor-nan"] = model(tensors=replace_tensor(
        t, "fc.bias", ("fc.bias", "F32", [2], f32([float("nan"), 0.0]))))
    c["tensor-inf"] = model(tensors=replace_tensor(
        t, "fc.bias", ("fc.bias", "F32", [2], f32([float("inf"), 0.0]))))
    c["tensor-negative-var"] = model(tensors=replace_tensor(
        t, "stages.0.bn.running_var",
        ("stages.0.bn.running_var", "F32", [2], f32([1.0, -1.0]))))
    c["tensor-huge-weights"] = model(tensors=replace_tensor(
        t, "stages.0.conv.weight",
        ("stages.0.conv.weight", "F32", [2, 1, 3], f32([3e38] * 6))))

    # Metadata, key by key.
    arch = arch_json("tiny", CONV_TINY)
    bad_meta = {
        "arch-missing": dict(meta_override={"arch": None}),
        "labels-missing": dict(meta_override={"labels": None}),
        "arch-invalid-json": dict(meta_override={"arch": "{"}),
        "arch-array": dict(meta_override={"arch": "[]"}),
        "labels-not-array": dict(meta_override={"labels": '"a"'}),
        "labels-count": dict(meta_override={"labels": '["a"]'}),
        "labels-not-strings": dict(meta_override={"labels": "[1,2]"}),
        "labels-duplicate": dict(meta_override={"labels": '["a","a"]'}),
        "labels-empty": dict(meta_override={"labels": '["","b"]'}),
        "norm-bogus": dict(normalization='{"mode":"zscore"}'),
        "norm-not-object": dict(normalization="1"),
        "norm-fixed-no-std": dict(normalization='{"mode":"fixed","mean":0}'),
        "norm-fixed-std-zero": dict(
            normalization='{"mode":"fixed","mean":0,"std":0}'),
        "norm-fixed-std-tiny": dict(
            normalization='{"mode":"fixed","mean":0,"std":1e-50}'),
        "norm-fixed-mean-huge": dict(
            normalization='{"mode":"fixed","mean":1e300,"std":1}'),
        "range-reversed": dict(input_range="[1, -1]"),
        "range-collapses-in-float": dict(input_range="[1e-50, 2e-50]"),
        "range-huge": dict(input_range="[-1e300, 1e300]"),
        "range-three": dict(input_range="[1, 2, 3]"),
        "sample-rate-negative": dict(sample_rate="-1"),
        "sample-rate-nan": dict(sample_rate="nan"),
        "sample-rate-overflow": dict(sample_rate="1e999"),
        "sample-rate-trailing": dict(sample_rate="100Hz"),
        "train-length-negative": dict(train_length="-1"),
        "train-length-too-big": dict(train_length="100000001"),
        "train-length-float": dict(train_length="1e3"),
        "provenance-invalid": dict(provenance="{"),
    }
    for name, kw in bad_meta.items():
        c["meta-" + name] = model(**kw)

    # The architecture: limits and shapes.
    def stage(typ, ch, k):
        return {"type": typ, "channels": ch, "kernels": k}
    bad_arch = {
        "no-stages": arch_json("x", []),
        "17-stages": arch_json("x", [stage("conv", [1], [1])] * 17),
        "channels-zero": arch_json("x", [stage("conv", [0], [1])]),
        "channels-4097": arch_json("x", [stage("conv", [4097], [1])]),
        "kernel-1025": arch_json("x", [stage("conv", [1], [1025])]),
        "unknown-type": arch_json("x", [stage("lstm", [1], [1])]),
        "conv-two-convs": arch_json("x", [stage("conv", [1, 1], [1, 1])]),
        "residual-five-convs": arch_json("x", [stage("residual", [1] * 5,
                                                     [1] * 5)]),
        "kernels-count": arch_json("x", [stage("residual", [1, 1], [1])]),
        "one-class": arch_json("x", CONV_TINY, n_classes=1),
        "in-channels-2": arch_json("x", CONV_TINY, in_channels=2),
        "bn-eps-zero": arch_json("x", CONV_TINY, bn_eps=0),
        "bn-momentum-2": arch_json("x", CONV_TINY, bn_momentum=2),
        "name-long": arch_json("\u00e9" * 40, CONV_TINY),
        # Legal limits in a file far too small for their parameters.
        "max-everything": arch_json("x", [stage("residual", [4096] * 4,
                                                [1024] * 4)] * 4,
                                    n_classes=100000),
        "too-deep": arch_json("x", [stage("residual", [1] * 4,
                                          [1] * 4)] * 16),
        "big-conv": arch_json("x", [stage("conv", [4096], [1024])]),
        "three-big-convs": arch_json("x", [stage("conv", [4096], [1024])]
                                     * 3),
        "wide-fc": arch_json("x", CONV_TINY, n_classes=100000),
    }
    for name, a in bad_arch.items():
        c["arch-" + name] = model(arch=a)
    return c


# ------------------------------------------------------------------ UCR

def series(label, n, seed, fmt="%.6g"):
    return [label] + [fmt % math.sin(0.3 * i + seed) for i in range(n)]


def ucr_corpus():
    c = {}
    rows = [series("1", 8, 0), series("-1", 8, 1), series("1", 8, 2),
            series("2", 8, 3)]
    c["valid-tsv"] = "".join("\t".join(r) + "\n" for r in rows)
    c["valid-csv-no-final-newline"] = "\n".join(",".join(r) for r in rows)
    c["valid-spaces-exponents"] = "".join(
        "  " + "  ".join(series(r[0], 8, i, "%.7e")) + "\n"
        for i, r in enumerate(rows))
    c["valid-crlf"] = "".join("\t".join(r) + "\r\n" for r in rows)
    c["valid-cr"] = "".join("\t".join(r) + "\r" for r in rows)
    c["valid-bom-blank-lines"] = "\ufeff\n  \t\n" + c["valid-tsv"] + "\n\n"
    c["valid-mixed-separators"] = "1\t0.5 -2,3e2\t\n\n2 1\t\t2  3\n"
    c["valid-decimal-labels"] = "1\t1\t2\n1.0\t3\t4\n01\t5\t6\n-1e0\t7\t8\n"
    c["valid-string-labels"] = ("normal 1 2 3\ninner 4 5 6\nouter 7 8 9\n"
                                "normal 0 0 0\n")
    c["valid-mixed-labels"] = "1 1 2\na 3 4\n1.0 5 6\nnan 7 8\n"
    c["valid-hex-floats-signs"] = "1\t0x1p3\t+.5\t-0\t1e-50\n2\t1\t2\t3\t4\n"
    c["valid-many-classes"] = "".join("%d\t%d\t1\n" % (k, k)
                                      for k in range(40))
    c["valid-one-value"] = "a 1\nb 2\n"
    c["valid-long-row"] = "1\t" + "\t".join("%d" % (i % 7) for i in
                                             range(600)) + "\n"
    bad = {
        "empty": "",
        "blank": "\n\n  \t\r\n\n",
        "label-only": "1\n",
        "ragged": "1\t1\t2\n2\t1\n",
        "not-a-number": "1\t1\tx\n",
        "nan": "1\t1\tnan\n",
        "inf": "1\t1\t-inf\n",
        "float-overflow": "1\t1\t1e39\n",
        "double-overflow": "1\t1\t1e999\n",
        "two-commas": "1,2,,3\n",
        "trailing-comma": "1,2,3,\n",
        "leading-comma": ",1,2\n",
        "nul-in-label": "1\t1\t2\na\0b\t1\t2\n",
        "nul-in-value": "1\t1\0\t2\n",
        "number-glued": "1\t1.5.5\t2\n",
        "long-token": "1\t" + "9" * 500 + "x\n",
    }
    for name, text in bad.items():
        c["bad-" + name] = text
    return {k: v.encode("utf-8") for k, v in c.items()}


# -------------------------------------------------------------- element

def u8(v):
    return bytes([v & 0xFF])


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# head byte (fuzz_element.c): bit 0 link dream_src, bits 1-4 all set: no
# caps, bit 5 fuzzed first segment, bit 6 push buffers without caps, bit 7
# EOS at the end.
DREAM_PAD, NO_CAPS, SEGMENT, BUFFERS_ANYWAY, EOS_AT_END = 1, 0x1e, 0x20, \
    0x40, 0x80


def props(window=0, hop=0, normalize=0, post=1, trigger=0, mode=0, steps=1,
          queue=1, threshold=8, interval=9, seed=0):
    """window 0 (the model's 37) or 1..208; trigger: 0 none, 1
    class-change, 2 interval, 3 threshold, 4 manual."""
    w = 0 if window == 0 else window + 31
    # fuzz_element.c: hop = 1 + hb % (2 * max (window, 37)), 0: default.
    period = 2 * max(window, 37)
    hop = 0 if hop == 0 else (hop - 1 if hop > 1 else period)
    assert hop < 256
    p = normalize | (post << 2) | (trigger << 3) | (mode << 6)
    q = (steps - 1) | ((queue - 1) << 2) | (threshold << 4)
    return u8(w) + u8(hop) + u8(p) + u8(q) + u8(interval) + u8(seed)


def caps(fmt=0, channels=0, planar=False, rate_sel=0):
    """fmt 0-4 F32LE, 5 F32BE, 6 S16LE, 7 F64LE; channels 0-2 mono, 3
    stereo; rate_sel < 200: 8000, 1000, 44100, 16000, 100 (mod 5); 204 +
    i: the odd rates 1, 2, 0, -1, G_MAXINT, 3; 250 and up: a u32 follows."""
    a = fmt | (channels << 3) | (0x60 if planar else 0)
    return u8(a) + u8(rate_sel)


def buf(n_bytes, flags=0, fill=b"\x01\x10\x00", ts=b""):
    """flags: bit 0 DISCONT, 1 GAP, 2-4 timestamp mode, 5 two memories,
    6-7 both set: odd size. fill: mode byte and its arguments."""
    return u8(0) + u16(n_bytes) + u8(flags) + fill + ts


def sine(amp_sel=0, freq=16, every=0, special=False, special_sel=0):
    mode = (3 if special else 1) | (amp_sel << 2) | (special_sel << 5)
    return u8(mode) + u8(freq) + u8(every)


def const(value):
    return u8(2) + struct.pack("<f", value)


def raw(data):
    return u8(0) + data


def ts_mode(m):
    return m << 2


def element_corpus():
    c = {}
    s = sine()
    c["plain-windows"] = (u8(EOS_AT_END) + props() + caps()
                          + buf(400, fill=s) * 4)
    c["post-messages-off"] = u8(0) + props(post=0) + caps() + buf(600, fill=s)
    c["window-1-hop-1"] = u8(0) + props(window=1, hop=1) + caps() + \
        buf(64, fill=s) * 3
    c["window-large-hop-skips"] = u8(0) + props(window=200, hop=250) + \
        caps() + buf(1600, fill=s) * 4
    for n, name in enumerate(("model", "per-series", "fixed", "none")):
        c["normalize-" + name] = u8(EOS_AT_END) + props(normalize=n) + \
            caps() + buf(300, fill=sine(amp_sel=n)) * 2
    c["flat-windows"] = u8(0) + props(normalize=1) + caps() + \
        buf(400, fill=const(2.5))
    c["specials"] = u8(0) + props() + caps() + b"".join(
        buf(400, fill=sine(every=e, special=True, special_sel=k))
        for k, e in ((0, 7), (1, 13), (3, 5), (5, 2), (6, 1), (7, 3)))
    c["huge-values"] = u8(0) + props(normalize=3) + caps() + \
        buf(400, fill=const(3e38)) + buf(400, fill=sine(amp_sel=5))
    c["raw-floats"] = u8(0) + props() + caps() + \
        buf(32, fill=raw(struct.pack("<8f", 1, -1, 0.5, 1e-40, -0.0, 3e38,
                                     -3e38, 7)))
    c["sizes-zero-odd-split"] = u8(0) + props() + caps() + \
        buf(0) + buf(3, flags=0xc0) + buf(401, flags=0xc0, fill=s) + \
        buf(400, flags=0x20, fill=s) + buf(0, flags=1)
    c["timestamps"] = u8(0) + props() + caps() + \
        buf(200, fill=s) + \
        buf(200, flags=ts_mode(3), fill=s, ts=u16(500)) + \
        buf(200, flags=ts_mode(4), fill=s, ts=u16(800)) + \
        buf(200, flags=ts_mode(5), fill=s) + \
        buf(200, flags=ts_mode(6), fill=s, ts=u64(2 ** 64 - 10 ** 9)) + \
        buf(200, flags=ts_mode(7), fill=s) + \
        buf(200, flags=ts_mode(6), fill=s, ts=u64(2 ** 64 - 1))
    c["discont-gap-flags"] = u8(0) + props() + caps() + \
        buf(200, fill=s) + buf(200, flags=1, fill=s) + \
        buf(200, flags=2, fill=s) + buf(200, flags=3, fill=s)
    seg = u8(0x80 | (4 << 3)) + u16(100) + u16(50) + u16(10) + u16(900)
    c["events"] = u8(0) + props() + caps() + \
        buf(200, fill=s) + u8(11) + u8(7) + u8(0x80) + u16(1) + u16(2) + \
        u16(3) + buf(200, fill=s) + u8(12) + buf(200, fill=s) + \
        u8(13) + seg + u8(14) + u8(0) + u32(10 ** 6) + u16(20) + \
        buf(200, fill=s) + u8(14) + u8(1 | 8) + caps(rate_sel=1) + \
        u8(0x07) + buf(200, fill=s) + u8(14) + u8(2) + caps(rate_sel=3) + \
        buf(200, fill=s) + u8(11) + u8(2) + buf(200, fill=s)
    c["segments"] = u8(SEGMENT) + props() + caps() + u8(0x80 | (2 << 3)) + \
        u16(5) + u16(6) + u16(7) + buf(300, fill=s) + u8(13) + \
        u8(7) + buf(300, fill=s) + u8(13) + u8(3 << 3) + buf(300, fill=s)
    for name, cp in (("f32be", caps(fmt=5)), ("s16le", caps(fmt=6)),
                     ("f64le", caps(fmt=7)), ("stereo", caps(channels=3)),
                     ("planar", caps(planar=True)),
                     ("rate-one", caps(rate_sel=204)),
                     ("rate-two", caps(rate_sel=205)),
                     ("rate-zero", caps(rate_sel=206)),
                     ("rate-negative", caps(rate_sel=207)),
                     ("rate-max", caps(rate_sel=208)),
                     ("rate-negative-raw", caps(rate_sel=255) + u32(-5)),
                     ("channel-mask", u8(0x80) + u8(0x21) + u8(3))):
        c["caps-" + name] = u8(0) + props() + cp + buf(400, fill=s) * 2
    c["no-caps"] = u8(NO_CAPS | BUFFERS_ANYWAY) + props() + \
        buf(400, fill=s) + u8(14) + u8(1) + buf(400, fill=s)
    for t, name in ((1, "class-change"), (2, "interval"), (3, "threshold"),
                    (4, "manual")):
        c["dream-" + name] = u8(DREAM_PAD | EOS_AT_END) + \
            props(trigger=t, steps=2, threshold=15, interval=0) + caps() + \
            buf(400, fill=sine(amp_sel=3, freq=3)) + \
            buf(400, fill=sine(amp_sel=2, freq=90)) + \
            u8(15) + u8(0) + u8(15) + u8(2 | (3 << 3)) + \
            u8(15) + u8(3 | (4 << 3)) + u8(15) + u8(4 | (5 << 3))
    for m, name in enumerate(("centered", "border", "from-window")):
        c["dream-mode-" + name] = u8(DREAM_PAD | EOS_AT_END) + \
            props(trigger=2, mode=m, steps=3, queue=2, interval=0) + \
            caps() + buf(800, fill=s) + u8(11) + u8(0) + buf(800, fill=s)
    c["dream-unlinked-flush"] = u8(0) + props(trigger=2, steps=4,
                                               interval=0) + caps() + \
        buf(800, fill=s) + u8(11) + u8(1) + buf(400, fill=s) + u8(12)
    # set_properties reads r (interval) and s (seed): odd r turns on the
    # smoothing, Gaussian, L2, TV and learning-rate bytes from s.
    c["dream-options"] = u8(DREAM_PAD | EOS_AT_END) + u8(0) + u8(0) + \
        u8(2 << 3 | 4) + \
        u8(1) + u8(0x21) + u8(0xff) + caps() + buf(400, fill=s) * 2
    return c


# ----------------------------------------------------------------- main

# ----------------------------------------------------------------- ONNX

ONNX = os.path.join(ROOT, "tests", "data", "onnx")


def onnx_corpus():
    files = {}
    for name in ("sequential", "fixed-length", "unsupported", "trained-3class",
                 "exported-series", "exported-fixed"):
        with open(os.path.join(ONNX, name + ".onnx"), "rb") as f:
            files[name + ".onnx"] = f.read()
    seq = files["sequential.onnx"]
    for frac in (1, 2, 3):
        cut = len(seq) * frac // 4
        files["sequential-cut-%d.onnx" % cut] = seq[:cut]
    # one byte changed every len/16 bytes: lengths, tags, values
    for k in range(16):
        pos = len(seq) * k // 16
        files["sequential-byte-%d.onnx" % pos] = (
            seq[:pos] + bytes([seq[pos] ^ 0x55]) + seq[pos + 1:])
    return files


def write_all(check):
    corpora = {"fuzz_model": model_corpus(), "fuzz_ucr": ucr_corpus(),
               "fuzz_onnx": onnx_corpus(), "fuzz_element": element_corpus()}
    differ = []
    for target, files in corpora.items():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        have = set(os.listdir(d))
        for name, data in sorted(files.items()):
            path = os.path.join(d, name)
            if check:
                try:
                    with open(path, "rb") as f:
                        if f.read() != data:
                            differ.append(path)
                except FileNotFoundError:
                    differ.append(path)
            else:
                with open(path, "wb") as f:
                    f.write(data)
        for stale in sorted(have - set(files)):
            if check:
                differ.append(os.path.join(d, stale))
            else:
                os.remove(os.path.join(d, stale))
    total = sum(len(v) for f in corpora.values() for v in f.values())
    n = sum(len(f) for f in corpora.values())
    if check:
        if differ:
            print("corpus differs from make-corpus.py:", *differ, sep="\n  ")
            return 1
        print("corpus up to date: %d files, %d bytes" % (n, total))
        return 0
    print("wrote %d files, %d bytes" % (n, total))
    return 0


if __name__ == "__main__":
    sys.exit(write_all("--check" in sys.argv[1:]))
