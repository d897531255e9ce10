#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Export the ONNX test models and their PyTorch golden results for
tests/test_onnx.c.

Run from the project root with Debian's torch (1.13; the onnx Python package
is not needed):

    /usr/bin/python3 tests/onnx/make_onnx.py [--out tests/data/onnx]

For every model in MODELS it writes ``<name>.onnx`` (opset 13, eval mode,
batch and, unless the model flattens time, time axes dynamic) and
``<name>.golden.json`` (and ``unsupported.onnx``, with an Abs node, for
the error test):

    B, T     the input shape (B series of T samples)
    x        the input, B*T floats
    R        fixed random weights, B*K floats
    logits   model(x), B*K floats (before any trailing softmax)
    dx       d(sum(logits * R)) / dx, B*T floats

Batch-norm statistics and affine parameters are randomised so that they
matter.  Everything is float32; the same computation in float64 is printed
as a check of the references (its relative difference must stay far below
the 1e-4 tolerance of the C test).  Deterministic: fixed seeds.

PyTorch cannot export padding="same", so the preset models pad explicitly
(odd kernels: Conv1d padding k//2; even kernels: ConstantPad1d, as 'same').
The "fcn" preset is left out: 263k parameters (1 MB) for no op the others
lack.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import export_pytorch  # noqa: E402


def same_pad_conv(conv):
    """An exportable equivalent of a padding='same' Conv1d (same weights)."""
    k = conv.kernel_size[0]
    new = nn.Conv1d(conv.in_channels, conv.out_channels, k, bias=conv.bias is not None,
                    padding=(k // 2 if k % 2 else 0))
    new.weight = conv.weight
    if conv.bias is not None:
        new.bias = conv.bias
    if k % 2:
        return new
    return nn.Sequential(nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0), new)


def preset(name, n_classes=3):
    arch = export_pytorch.preset_arch(name, n_classes)
    model = export_pytorch.build_model(arch)
    for mod in list(model.modules()):
        if isinstance(mod, export_pytorch.ConvBN):
            mod.conv = same_pad_conv(mod.conv)
    return model


class Flat(nn.Module):
    """A plain Sequential: stride, dilation, groups, max and average
    pooling, every activation, global pooling, two dense layers."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(1, 8, 7, stride=2, padding=3), nn.BatchNorm1d(8), nn.ReLU(),
            nn.MaxPool1d(3, stride=2, padding=1),
            nn.Conv1d(8, 16, 5, dilation=2, padding=4, groups=2), nn.LeakyReLU(0.1),
            nn.Conv1d(16, 16, 3, groups=4, bias=False), nn.BatchNorm1d(16), nn.ELU(),
            nn.AvgPool1d(2), nn.Conv1d(16, 12, 3, padding=1), nn.GELU(),
            nn.Conv1d(12, 12, 1), nn.Sigmoid(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(12, 8), nn.Tanh(),
            nn.Dropout(0.5), nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)


class FixedLength(nn.Module):
    """Flatten of a time axis (the model takes one length), a mean over
    time beside it, scaling by constants, and a LogSoftmax at the end."""

    def __init__(self, T):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, stride=2)
        self.pool = nn.MaxPool1d(2)
        L = ((T - 5) // 2 + 1) // 2
        self.fc = nn.Linear(4 * L + 4, 2)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv(x * 0.5 - 0.25)))
        g = torch.cat([h.flatten(1), h.mean(-1)], 1)
        return F.log_softmax(self.fc(g), dim=1)


class InceptionModule(nn.Module):
    """Ismail Fawaz et al. 2020: a bottleneck, convolutions of kernels 40,
    20 and 10 ('same', as Keras pads even kernels), and a max-pool branch
    with a 1x1 convolution, concatenated, batch norm, ReLU."""

    def __init__(self, c_in, nf, bottleneck=8, kernels=(40, 20, 10)):
        super().__init__()
        self.bottleneck = nn.Conv1d(c_in, bottleneck, 1, bias=False) if c_in > 1 else None
        b = bottleneck if c_in > 1 else c_in
        self.convs = nn.ModuleList(
            [nn.Sequential(nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0),
                           nn.Conv1d(b, nf, k, bias=False)) for k in kernels])
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)
        self.pool_conv = nn.Conv1d(c_in, nf, 1, bias=False)
        self.bn = nn.BatchNorm1d(nf * (len(kernels) + 1))

    def forward(self, x):
        h = self.bottleneck(x) if self.bottleneck is not None else x
        outs = [c(h) for c in self.convs] + [self.pool_conv(self.pool(x))]
        return torch.relu(self.bn(torch.cat(outs, 1)))


class InceptionTime(nn.Module):
    """Six modules, a residual (1x1 conv + BN shortcut) every three, global
    average pooling and a dense layer; narrowed (8 filters) to stay small."""

    def __init__(self, n_classes=2, nf=8, depth=6):
        super().__init__()
        self.mods = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        c = 1
        res_c = 1
        for d in range(depth):
            self.mods.append(InceptionModule(c, nf))
            c = 4 * nf
            if d % 3 == 2:
                self.shortcuts.append(nn.Sequential(nn.Conv1d(res_c, c, 1, bias=False),
                                                    nn.BatchNorm1d(c)))
                res_c = c
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        res = x
        for d, m in enumerate(self.mods):
            x = m(x)
            if d % 3 == 2:
                x = torch.relu(x + self.shortcuts[d // 3](res))
                res = x
        return self.fc(x.mean(-1))


def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)


def strip_log_softmax(model):
    """The logits of a model that ends in LogSoftmax (what seqdream keeps)."""
    if isinstance(model, FixedLength):
        def logits(x):
            h = model.pool(torch.relu(model.conv(x * 0.5 - 0.25)))
            return model.fc(torch.cat([h.flatten(1), h.mean(-1)], 1))
        return logits
    return model


MODELS = [
    # name, constructor, B, T, dynamic time
    ("resnet-small", lambda: preset("resnet-small"), 2, 50, True),
    ("fcn-small", lambda: preset("fcn-small"), 2, 40, True),
    ("fcn-pool", lambda: preset("fcn-pool"), 2, 300, True),
    ("sequential", Flat, 2, 64, True),
    ("fixed-length", lambda: FixedLength(48), 2, 48, False),
    ("inceptiontime", InceptionTime, 2, 96, True),
]


def golden(model, B, T, gen, dtype):
    m = strip_log_softmax(model)
    x = torch.randn(B, 1, T, generator=gen).to(dtype).requires_grad_(True)
    with torch.no_grad():
        K = m(x).shape[1]
    R = torch.randn(B, K, generator=gen).to(dtype)
    logits = m(x)
    (logits * R).sum().backward()
    return x, R, logits.detach(), x.grad.detach()


def rel(a, b):
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-30))


class Unsupported(nn.Module):
    """A model with an op seqdream does not run (Abs): the error test."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)

    def forward(self, x):
        return torch.abs(self.conv(x)).mean(-1)


def train_3class(out):
    """A small network trained on tests/data/ucr-3class.txt (labels sorted:
    inner, normal, outer; every series z-normalised with its own mean and
    population standard deviation, as seqdream's "series" normalisation),
    for the command-line test (tests/test-onnx.sh): writes
    trained-3class.onnx and trained-3class.json (labels, accuracy and the
    predicted class of every series, in file order)."""
    rows = [line.split() for line in open(os.path.join(ROOT, "tests", "data",
                                                      "ucr-3class.txt"))]
    labels = sorted({r[0] for r in rows})
    y = torch.tensor([labels.index(r[0]) for r in rows])
    x = torch.tensor([[float(v) for v in r[1:]] for r in rows])
    x = (x - x.mean(1, keepdim=True)) / x.std(1, unbiased=False, keepdim=True)
    x = x.unsqueeze(1)
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv1d(1, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(8, 8, 3, padding=2, dilation=2), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, len(labels)))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    torch.onnx.export(model, torch.zeros(1, 1, x.shape[2]),
                      os.path.join(out, "trained-3class.onnx"), opset_version=13,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch", 2: "time"}, "y": {0: "batch"}})
    acc = float((pred == y).float().mean())
    with open(os.path.join(out, "trained-3class.json"), "w") as f:
        json.dump({"labels": labels, "accuracy": acc,
                   "predicted": [labels[i] for i in pred.tolist()]}, f)
        f.write("\n")
    print(f"trained-3class: accuracy {acc:.4f} on its training data")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "onnx"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i, (name, make, B, T, dynamic) in enumerate(MODELS):
        torch.manual_seed(100 + i)
        model = make()
        randomise_bn(model, torch.Generator().manual_seed(200 + i))
        model.eval()
        path = os.path.join(args.out, name + ".onnx")
        axes = {"x": {0: "batch", 2: "time"} if dynamic else {0: "batch"},
                "y": {0: "batch"}}
        torch.onnx.export(model, torch.zeros(1, 1, T), path, opset_version=13,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes=axes, do_constant_folding=True)
        x, R, logits, dx = golden(model, B, T, torch.Generator().manual_seed(300 + i),
                                  torch.float32)
        model64 = make().double()
        model64.load_state_dict(model.state_dict())
        model64.eval()
        x64, _, l64, dx64 = golden(model64, B, T, torch.Generator().manual_seed(300 + i),
                                   torch.float64)
        print(f"{name}: {os.path.getsize(path)} bytes, float32 vs float64: logits "
              f"{rel(logits.double(), l64):.1e}, dx {rel(dx.double(), dx64):.1e}")
        ref = {"B": B, "T": T, "x": x.detach().flatten().tolist(),
               "R": R.flatten().tolist(), "logits": logits.flatten().tolist(),
               "dx": dx.flatten().tolist()}
        with open(os.path.join(args.out, name + ".golden.json"), "w") as f:
            json.dump(ref, f)
            f.write("\n")
    train_3class(args.out)
    torch.manual_seed(99)
    torch.onnx.export(Unsupported().eval(), torch.zeros(1, 1, 16),
                      os.path.join(args.out, "unsupported.onnx"), opset_version=13,
                      input_names=["x"], output_names=["y"])


if __name__ == "__main__":
    main()
