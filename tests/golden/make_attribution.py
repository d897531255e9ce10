#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write the attribution references of tests/test_attribution.c, computed
by hand with torch autograd (no Captum).

Run from the project root with Debian's torch:

    /usr/bin/python3 tests/golden/make_attribution.py [--out tests/data/golden]

Three models of tests/data/golden (written by make_golden.py) with three
input normalisations, so the map between data units and the model's input
is checked as well as the network:

  attribution-none      fcn-tiny.model.safetensors as it is ("none")
  attribution-fixed     resnet-small, re-exported with {"mode": "fixed",
                        "mean": 0.3, "std": 1.7}
  attribution-series    pool, re-exported with {"mode": "per-series"}

For each, ``<name>.model.safetensors`` (the two re-exported ones) and
``<name>.ref.safetensors`` with F32 tensors (B = 3 series, T = 37 samples,
in data units: 0.7 + 2.5 N(0, 1), so normalisation matters):

  ================  ======  ================================================
  input             [B, T]  x, data units
  baseline          [T]     a given baseline series, data units
  predicted         [B]     argmax of the logits (as floats)
  saliency          [B, T]  d logit_pred / dx (normalisation included)
  saliency.c0       [B, T]  d logit_0 / dx
  gradxinput        [B, T]  d logit_pred / dz * (z - z0), z the normalised
                            input, z0 the normalised all-zero series
  ig.gl16           [B, T]  IG of the predicted class from the zero series,
                            16 Gauss-Legendre nodes on the straight path in
                            the model's input space
  ig.trap8          [B, T]  IG from `baseline`, trapezoid rule, 8 intervals
  ig.trap8.base     [B]     logit_pred at the normalised `baseline`
  ================  ======  ================================================

The C test compares with max|c - ref| / max|ref| <= 1e-4 per tensor (the
rule of test_golden.c). Deterministic: fixed seeds, no dates.
"""

import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import export_pytorch as ep  # noqa: E402

B, T = 3, 37

# name -> (golden model it is made from, normalisation)
CASES = {
    "attribution-none": ("fcn-tiny", {"mode": "none"}),
    "attribution-fixed": ("resnet-small", {"mode": "fixed", "mean": 0.3, "std": 1.7}),
    "attribution-series": ("pool", {"mode": "per-series"}),
}


def logit_grad(model, z, target):
    """d logits[b, target[b]] / dz for every row of z (B', T)."""
    z = z.clone().requires_grad_(True)
    logits = model(z)
    logits.gather(1, target.view(-1, 1)).sum().backward()
    return z.grad.detach()


def integrated(model, z, zb, target, alpha, w):
    """(z - zb) * sum_j w_j grad(zb + alpha_j (z - zb))."""
    acc = torch.zeros_like(z, dtype=torch.float64)
    for a, wj in zip(alpha, w):
        acc += wj * logit_grad(model, zb + float(a) * (z - zb), target).double()
    return ((z - zb).double() * acc).float()


def references(model, norm, x, baseline):
    def normalize(v):
        return ep.normalize_input(v, norm)

    out = {"input": x, "baseline": baseline}
    z = normalize(x)
    with torch.no_grad():
        pred = model(z).argmax(1)
    out["predicted"] = pred.float()
    xs = x.clone().requires_grad_(True)
    model(normalize(xs)).gather(1, pred.view(-1, 1)).sum().backward()
    out["saliency"] = xs.grad.detach()
    xs = x.clone().requires_grad_(True)
    model(normalize(xs))[:, 0].sum().backward()
    out["saliency.c0"] = xs.grad.detach()

    z0 = normalize(torch.zeros(1, T))
    out["gradxinput"] = logit_grad(model, z, pred) * (z - z0)

    nodes, weights = np.polynomial.legendre.leggauss(16)
    alpha, w = (nodes + 1) / 2, weights / 2
    out["ig.gl16"] = integrated(model, z, z0.expand_as(z), pred, alpha, w)

    zb = normalize(baseline.view(1, T))
    alpha = np.arange(9) / 8.0
    w = np.array([0.5] + [1.0] * 7 + [0.5]) / 8.0
    out["ig.trap8"] = integrated(model, z, zb.expand_as(z), pred, alpha, w)
    with torch.no_grad():
        out["ig.trap8.base"] = model(zb)[0, pred]
    return {k: v.to(torch.float32).contiguous() for k, v in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "golden"))
    args = p.parse_args()
    torch.set_num_threads(1)
    for seed, (name, (source, norm)) in enumerate(CASES.items()):
        model = ep.load_model(os.path.join(args.out, source + ".model.safetensors"))
        model_file = source + ".model.safetensors"
        if norm["mode"] != "none":
            model_file = name + ".model.safetensors"
            ep.export_model(
                model, os.path.join(args.out, model_file), labels=model.labels,
                normalization=norm, train_length=T, sample_rate=0,
                input_range=(-3.0, 3.0),
                provenance={"generator": "tests/golden/make_attribution.py",
                            "weights": "tests/data/golden/" + source + ".model.safetensors"})
            model = ep.load_model(os.path.join(args.out, model_file))
        g = torch.Generator().manual_seed(3000 + seed)
        x = 0.7 + 2.5 * torch.randn(B, T, generator=g)
        baseline = 0.2 * torch.randn(T, generator=g) - 0.1
        ref = references(model, model.normalization, x, baseline)
        path = os.path.join(args.out, name + ".ref.safetensors")
        ep.save_safetensors(path, ref, {
            "model": model_file, "batch": str(B), "length": str(T),
            "generator": "tests/golden/make_attribution.py",
            "torch": torch.__version__})
        print("%-20s model %-34s ref %6d B  predicted %s" % (
            name, model_file, os.path.getsize(path),
            ref["predicted"].int().tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
