#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write the golden reference files of the C test (tests/test_golden.c).

Run from the project root with Debian's torch:

    /usr/bin/python3 tests/golden/make_golden.py [--out tests/data/golden]

For every architecture in CASES it writes, into the output directory,

* ``<name>.model.safetensors`` -- the model (seqdream model file, see
  examples/export_pytorch.py) with randomised, non-trivial batch-norm affine
  parameters and running statistics;
* ``<name>.ref.safetensors`` -- the input and the PyTorch results (F32):

  =========================  =========  =====================================
  input                      [B, T]     x (B=3, T=37), normalisation "none"
  labels                     [B]        class indices (as floats)
  eval.R                     [B, K]     fixed random weights of the eval loss
  eval.logits                [B, K]     model.eval() logits
  eval.dx                    [B, T]     d(sum(eval.logits * eval.R)) / dx
  eval.grad.<param>          param      d(sum(eval.logits * eval.R)) / dparam
                                        (running statistics are constants)
  train.logits               [B, K]     model.train() logits (batch stats)
  train.loss                 [1]        mean cross-entropy against labels
  train.dx                   [B, T]     d(train.loss) / dx
  train.grad.<param>         param      d(train.loss) / dparam, every
                                        trainable parameter (conv weights, bn
                                        weight/bias, fc weight/bias)
  train.after.<buffer>       [C]        every bn running_mean / running_var
                                        after that one training forward
                                        (momentum 0.1, unbiased variance)
  =========================  =========  =====================================

Everything is computed in float32, as the C library does.  As a check of
the references themselves, the same computation is repeated in float64 and
the largest error under the comparison rule of the C test (``rel_error``,
README.md) is printed; it must stay far below the 1e-4 tolerance.

The output is deterministic (fixed seeds, no dates): regenerating on the same
torch version gives identical files.
"""

import argparse
import copy
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import export_pytorch as ep  # noqa: E402

B, T = 3, 37

TOLERANCE = 1e-4
# Scale floor of the comparison rule for parameter gradients, as a fraction
# of the largest value of the whole gradient (all eval.grad.* or all
# train.grad.*).  A gradient tensor whose values are all tiny -- e.g. that of
# a 1x1 shortcut conv on a single input channel, which train-mode batch norm
# makes almost scale invariant, so it is a sum of O(0.1) terms cancelling to
# O(1e-4) -- carries float32 rounding noise of the size of its terms, not of
# its own values.
GRAD_FLOOR = 1e-2


def rel_error(ref, test):
    """The comparison rule of the C test.  ref, test: dicts name -> tensor.
    Returns name -> max|test - ref| / scale, where scale is max|ref| of the
    tensor, raised for eval.grad.* / train.grad.* tensors to at least
    GRAD_FLOOR times the largest |ref| of all gradients of that mode."""
    group = {}
    for name, r in ref.items():
        for prefix in ("eval.grad.", "train.grad."):
            if name.startswith(prefix):
                group[prefix] = max(group.get(prefix, 0.0), float(r.abs().max()))
    out = {}
    for name, r in ref.items():
        scale = float(r.abs().max())
        for prefix, g in group.items():
            if name.startswith(prefix):
                scale = max(scale, GRAD_FLOOR * g)
        diff = float((test[name].double() - r.double()).abs().max())
        out[name] = diff / scale if scale > 0 else diff
    return out

def narrowed(arch, name, divisor):
    """arch with every channel count divided by divisor: the same stage
    list, kernels and shortcut kinds at a size that can be committed."""
    out = copy.deepcopy(arch)
    out["name"] = name
    for s in out["stages"]:
        s["channels"] = [c // divisor for c in s["channels"]]
    return out


# The full resnet preset has about 500 k parameters: its model and gradient
# references would be 6 MB.  Its golden case is the preset with channels
# 64/128/128 divided by 8 (8/16/16): the same kernels 8/5/3 (even kernel 8
# inside a residual block), 1x1 conv shortcuts in stages 0 and 1 and an
# identity shortcut in stage 2, i.e. the same ops.  The reference's
# metadata "preset_arch" holds the full preset as PyTorch builds it, which
# the C test compares with sd_arch_from_preset ("resnet").
FULL_PRESETS = {"resnet-narrow": ep.preset_arch("resnet", 3)}

# name -> (architecture, seed)
CASES = {
    "resnet-narrow": (narrowed(FULL_PRESETS["resnet-narrow"], "resnet-narrow", 8), 7),
    "resnet-small": (ep.preset_arch("resnet-small", 2), 1),
    "fcn-small": (ep.preset_arch("fcn-small", 3), 2),
    # Even kernel (8): asymmetric 'same' padding, left 3, right 4.
    "fcn-tiny": ({
        "name": "fcn-tiny", "in_channels": 1, "num_classes": 3,
        "bn_eps": 1e-5, "bn_momentum": 0.1,
        "stages": [
            {"type": "conv", "channels": [8], "kernels": [8]},
            {"type": "conv", "channels": [12], "kernels": [5]},
            {"type": "conv", "channels": [6], "kernels": [3]},
        ]}, 3),
    # The second stage keeps 6 channels: identity shortcut (no shortcut.*).
    "resnet-identity": ({
        "name": "resnet-identity", "in_channels": 1, "num_classes": 2,
        "bn_eps": 1e-5, "bn_momentum": 0.1,
        "stages": [
            {"type": "residual", "channels": [6, 6, 6], "kernels": [5, 3, 1]},
            {"type": "residual", "channels": [6, 6, 6], "kernels": [3, 3, 1]},
        ]}, 4),
    # Average pooling after a conv and after a residual stage; both drop a
    # tail (37 -> 18 -> 4), so the dropped samples must get zero gradient.
    "pool": ({
        "name": "pool", "in_channels": 1, "num_classes": 3,
        "bn_eps": 1e-5, "bn_momentum": 0.1,
        "stages": [
            {"type": "conv", "channels": [6], "kernels": [5], "pool": 2},
            {"type": "residual", "channels": [8, 8], "kernels": [3, 1], "pool": 4},
            {"type": "conv", "channels": [5], "kernels": [3]},
        ]}, 5),
}


def make_model(arch, seed):
    """Default-initialised model whose batch norms are randomised so that
    eval mode (running statistics) and the affine parameters really matter."""
    torch.manual_seed(seed)
    model = ep.build_model(arch)
    g = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                n = mod.num_features
                mod.weight.copy_(0.6 + 0.8 * torch.rand(n, generator=g))
                mod.bias.copy_(0.3 * torch.randn(n, generator=g))
                mod.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                mod.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
    return model


def reference(model, x, labels, R):
    """All reference tensors for one model (in the model's dtype)."""
    out = {}
    params = dict(model.named_parameters())

    # Eval mode: running statistics, model untouched.
    model.eval()
    model.zero_grad(set_to_none=True)
    xe = x.clone().requires_grad_(True)
    logits = model(xe)
    (logits * R).sum().backward()
    out["eval.R"] = R
    out["eval.logits"] = logits.detach()
    out["eval.dx"] = xe.grad.detach()
    for name, p in params.items():
        out["eval.grad." + name] = p.grad.detach().clone()

    # Train mode: batch statistics; one forward updates the running stats.
    model.train()
    model.zero_grad(set_to_none=True)
    xt = x.clone().requires_grad_(True)
    logits = model(xt)
    loss = F.cross_entropy(logits, labels.long())
    loss.backward()
    out["train.logits"] = logits.detach()
    out["train.loss"] = loss.detach().reshape(1)
    out["train.dx"] = xt.grad.detach()
    for name, p in params.items():
        out["train.grad." + name] = p.grad.detach().clone()
    for name, buf in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            out["train.after." + name] = buf.detach().clone()
    model.eval()
    return out


def relu_activity(model, x):
    """Fraction of positive outputs of every stage in eval mode (a sanity
    check that the randomised statistics do not kill the network)."""
    model.eval()
    with torch.no_grad():
        feats = model.features(x)[:-1]
    return [round(float((f > 0).float().mean()), 2) for f in feats]


# InceptionTime is an op graph in the C library, not a stage list: its case
# has no model file.  The reference holds the PyTorch state_dict as
# "param.<name>"; the C test builds sd_model_new_inception with the same
# filter count and copies the parameters in by name, so the preset's
# construction (every op, padding and tensor name) is what is checked.
# nf 4 keeps it small (the same ops as the presets' 32 and 16); metadata
# "preset_params" holds torch's trainable parameter counts of the presets.
INCEPTION_NF, INCEPTION_K, INCEPTION_SEED = 4, 3, 9


def inception_case(out_dir):
    torch.manual_seed(INCEPTION_SEED)
    model = ep.InceptionTime(INCEPTION_K, nf=INCEPTION_NF)
    g = torch.Generator().manual_seed(1000 + INCEPTION_SEED)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                n = mod.num_features
                mod.weight.copy_(0.6 + 0.8 * torch.rand(n, generator=g))
                mod.bias.copy_(0.3 * torch.randn(n, generator=g))
                mod.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                mod.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    k = INCEPTION_K
    g = torch.Generator().manual_seed(2000 + INCEPTION_SEED)
    x = torch.randn(B, T, generator=g)
    labels = torch.tensor([(2 + i) % k for i in range(B)], dtype=torch.float32)
    R = torch.randn(B, k, generator=g)
    ref32 = reference(copy.deepcopy(model), x, labels, R)
    ref64 = reference(copy.deepcopy(model).double(), x.double(), labels, R.double())
    err = max(rel_error(ref64, ref32).values())

    tensors = {"input": x, "labels": labels}
    tensors.update({"param." + name: v for name, v in state.items()})
    tensors.update({key: v.to(torch.float32).contiguous() for key, v in ref32.items()})
    counts = {}
    for preset, nf in ep.INCEPTION_PRESETS.items():
        counts[preset] = sum(p.numel() for p in ep.InceptionTime(2, nf=nf).parameters())
    meta = {
        "filters": str(INCEPTION_NF), "batch": str(B), "length": str(T),
        "num_classes": str(k), "generator": "tests/golden/make_golden.py",
        "torch": torch.__version__,
        "loss": "mean cross-entropy (train); sum(logits * eval.R) (eval)",
        "preset_params": json.dumps(counts),
    }
    path = os.path.join(out_dir, "inception-4.ref.safetensors")
    ep.save_safetensors(path, tensors, meta)
    size = os.path.getsize(path)
    print("%-16s ref %7d B  params %6d  f32-vs-f64 %.1e  train.loss %.4f  presets %s"
          % ("inception-4", size, sum(v.numel() for v in state.values()), err,
             float(ref32["train.loss"]), counts))
    return size, err


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "golden"),
                   help="output directory (default tests/data/golden)")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    total = 0
    worst = 0.0
    for name, (arch, seed) in CASES.items():
        model = make_model(arch, seed)
        k = model.arch["num_classes"]
        model_path = os.path.join(args.out, name + ".model.safetensors")
        ep.export_model(
            model, model_path, labels=["c%d" % i for i in range(k)],
            normalization={"mode": "none"}, train_length=T, sample_rate=0,
            input_range=(-3.0, 3.0),
            provenance={"generator": "tests/golden/make_golden.py", "seed": seed,
                        "weights": "PyTorch default init, randomised batch norm"})

        g = torch.Generator().manual_seed(2000 + seed)
        x = torch.randn(B, T, generator=g)
        labels = torch.tensor([(2 + i) % k for i in range(B)], dtype=torch.float32)
        R = torch.randn(B, k, generator=g)

        # The reference is computed from the model as read back from the file.
        loaded = ep.load_model(model_path)
        ref32 = reference(copy.deepcopy(loaded), x, labels, R)
        ref64 = reference(copy.deepcopy(loaded).double(), x.double(), labels, R.double())

        errs = rel_error(ref64, ref32)
        err = max(errs.values())
        worst = max(worst, err)

        tensors = {"input": x, "labels": labels}
        tensors.update({key: v.to(torch.float32).contiguous() for key, v in ref32.items()})
        meta = {
            "model": name + ".model.safetensors",
            "batch": str(B), "length": str(T), "num_classes": str(k),
            "generator": "tests/golden/make_golden.py",
            "torch": torch.__version__,
            "loss": "mean cross-entropy (train); sum(logits * eval.R) (eval)",
        }
        if name in FULL_PRESETS:
            meta["preset_arch"] = json.dumps(FULL_PRESETS[name])
        ref_path = os.path.join(args.out, name + ".ref.safetensors")
        ep.save_safetensors(ref_path, tensors, meta)

        sizes = [os.path.getsize(model_path), os.path.getsize(ref_path)]
        total += sum(sizes)
        print("%-16s model %7d B  ref %7d B  params %6d  f32-vs-f64 %.1e  "
              "relu-active %s  train.loss %.4f"
              % (name, sizes[0], sizes[1],
                 sum(t.numel() for t in ep.model_tensors(loaded).values()), err,
                 relu_activity(loaded, x), float(ref32["train.loss"])))
    size, err = inception_case(args.out)
    total += size
    worst = max(worst, err)
    print("total %d bytes (%.1f KB) in %s; worst f32-vs-f64 difference %.1e"
          % (total, total / 1024, os.path.relpath(args.out), worst))
    if worst > TOLERANCE / 10:
        print("WARNING: float32 references differ from float64 by more than a "
              "tenth of the tolerance", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
