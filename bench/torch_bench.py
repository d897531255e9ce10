#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyTorch side of the seqdream benchmarks (single thread).

Run with Debian's torch:

    /usr/bin/python3 bench/torch_bench.py [--forda-train PATH] [--only NAME[,NAME]]
                                          [--repeat N] [--quick]

Every measurement prints ONE JSON object on one line of stdout::

    {"name": ..., "impl": "pytorch", "value": ..., "unit": ...,
     "samples": [...], "config": {...}, "threads": 1, "torch": "..."}

``value`` is the median of ``samples`` (one sample per timed repeat).
Timing uses time.perf_counter around the timed region only; every
measurement warms up first.  torch runs on one thread
(torch.set_num_threads(1), set_num_interop_threads(1)); the C side must be
measured single-threaded as well (e.g. OPENBLAS_NUM_THREADS=1).

The models are the seqdream architectures of examples/export_pytorch.py
(PyTorch default initialisation, torch.manual_seed(0)); weights do not
influence the amount of work.  Inputs are float32.

Measurements (the C benchmark must do exactly the same work):

infer_resnet_small_b1
    resnet-small (2 classes) in eval mode, inference only (no autograd),
    one window of T=500 per forward (batch 1), input drawn once from N(0,1).
    A repeat is 500 forwards (50 with --quick) after 20 warm-up forwards;
    value: windows/s.

train_epoch_resnet_small_forda
    One training epoch of resnet-small (2 classes) on FordA's training set
    of the 2015 orientation (1319 series of length 500, ``--forda-train``,
    default $SEQDREAM_DATA/forda/FordA_TEST_partial.tsv with SEQDREAM_DATA
    defaulting to ../shared/data next to the project).  Labels are mapped
    to class indices in sorted numeric order (-1 -> 0, 1 -> 1); series are
    z-normalised per series (population std) when loaded (not timed).
    model.train(); Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, no weight
    decay); batch 32 in the order of a seeded random permutation of the
    1319 series, the last batch of 7 kept (42 optimizer steps); each step:
    gather the batch, zero the gradients, forward (batch statistics,
    running stats updated), mean cross-entropy, backward (parameter
    gradients only), Adam step.  Warm-up: 3 steps on the same model and
    optimizer, then one full epoch is timed (the permutation is drawn
    inside the timed region).  value: seconds per epoch.  With --quick only
    the first 10 batches are timed and the epoch time is extrapolated
    (``"extrapolated": true``).  Also reported: the mean training loss of
    the timed epoch (a sanity check, not a benchmark).

train_epoch_resnet_forda, train_epoch_inception_forda,
train_epoch_inception_small_forda
    The same for the resnet preset, and for InceptionTime with 32 and 16
    filters per branch (examples/export_pytorch.py, InceptionTime: the
    inception and inception-small presets).

infer_fcn_b64
    fcn (conv 128 k8, 256 k5, 128 k3; 2 classes) in eval mode, inference
    only, batch 64, T=500.  One warm-up forward, then a repeat is 3
    forwards (1 with --quick);
    value: ms per batch; ``gflops``: convolution FLOP / time with FLOP =
    2 * MACs of the three convolutions = 2 * 64 * 500 * (128*1*8 +
    256*128*5 + 128*256*3) = 16.84 GFLOP per batch (batch norm, ReLU,
    pooling and fc are not counted).

dream_resnet_small_b1, dream_resnet_small_b16
    A "dream" (input optimisation) step of resnet-small (2 classes) in eval
    mode (running statistics, model untouched; no parameter gradients),
    batch B = 1 or 16, T=500.  x starts as 0.1 * N(0,1) (seeded) and each
    step is:

        logits = model(x)                                       (B, 2)
        J = sum_b logits[b, 0]
            - 1e-3 * sum_{b,t} x[b,t]^2                         (L2)
            - 1e-2 * sum_{b,t<T-1} |x[b,t+1] - x[b,t]|          (TV)
        g = dJ/dx   (backward through the model and both penalties;
                     d|u|/du = sign(u), 0 at 0)
        x = clamp(x + 0.01 * g, -5, 5)

    A repeat is 100 steps for B=1, 20 for B=16 (5 with --quick), after 3
    warm-up steps;
    value: steps/s (``series_per_s`` = steps/s * B).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import export_pytorch as ep  # noqa: E402

T = 500
MEASUREMENTS = ["infer_resnet_small_b1", "train_epoch_resnet_small_forda",
                "train_epoch_resnet_forda", "train_epoch_inception_forda",
                "train_epoch_inception_small_forda",
                "infer_fcn_b64", "dream_resnet_small_b1", "dream_resnet_small_b16"]


def default_forda_train():
    data = os.environ.get("SEQDREAM_DATA",
                          os.path.join(ROOT, "..", "shared", "data"))
    return os.path.normpath(os.path.join(data, "forda", "FordA_TEST_partial.tsv"))


class Bench:
    def __init__(self, args):
        self.args = args

    def emit(self, name, value, unit, samples, config, **extra):
        rec = {"name": name, "impl": "pytorch", "value": value, "unit": unit,
               "samples": samples}
        rec.update(extra)
        rec.update({"config": config, "threads": torch.get_num_threads(),
                    "torch": torch.__version__})
        print(json.dumps(rec), flush=True)

    def model(self, preset, classes=2):
        torch.manual_seed(self.args.seed)
        if preset in ep.INCEPTION_PRESETS:
            return ep.InceptionTime(classes, nf=ep.INCEPTION_PRESETS[preset])
        return ep.build_model(ep.preset_arch(preset, classes))

    # (a)
    def infer_resnet_small_b1(self):
        q = self.args.quick
        n = 50 if q else 500
        model = self.model("resnet-small").eval()
        g = torch.Generator().manual_seed(self.args.seed)
        x = torch.randn(1, 1, T, generator=g)
        samples = []
        with torch.inference_mode():
            for _ in range(20):
                model(x)
            for _ in range(self.args.repeat):
                t0 = time.perf_counter()
                for _ in range(n):
                    model(x)
                samples.append(n / (time.perf_counter() - t0))
        self.emit("infer_resnet_small_b1", statistics.median(samples), "windows/s",
                  samples, {"arch": "resnet-small", "mode": "eval", "batch": 1,
                            "length": T, "forwards_per_repeat": n})

    # (b)
    def train_epoch_resnet_small_forda(self):
        self.train_epoch_forda("train_epoch_resnet_small_forda", "resnet-small")

    def train_epoch_resnet_forda(self):
        """The same for the resnet preset (64/128/128 filters)."""
        self.train_epoch_forda("train_epoch_resnet_forda", "resnet")

    def train_epoch_inception_forda(self):
        """The same for InceptionTime (examples/export_pytorch.py), 32 filters."""
        self.train_epoch_forda("train_epoch_inception_forda", "inception")

    def train_epoch_inception_small_forda(self):
        """The same with 16 filters (the inception-small preset)."""
        self.train_epoch_forda("train_epoch_inception_small_forda", "inception-small")

    def train_epoch_forda(self, name, preset):
        path = self.args.forda_train
        if not os.path.exists(path):
            print(json.dumps({"name": name,
                              "impl": "pytorch",
                              "skipped": "FordA training file not found: %s "
                                         "(--forda-train or SEQDREAM_DATA)" % path}),
                  flush=True)
            return
        labels, x = ep.read_ucr(path)
        classes = ep.sorted_labels(labels)
        index = {l: i for i, l in enumerate(classes)}
        y = torch.tensor([index[l] for l in labels], dtype=torch.long)
        x = ep.normalize_input(x, {"mode": "per-series"}).unsqueeze(1).contiguous()
        n = x.shape[0]
        bs = 32

        model = self.model(preset, len(classes)).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999),
                               eps=1e-8, weight_decay=0)
        gen = torch.Generator().manual_seed(self.args.seed)

        def step(idx):
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return float(loss.detach()) * len(idx)

        warm = torch.randperm(n, generator=gen)
        for b in range(3):
            step(warm[b * bs:(b + 1) * bs])

        n_batches = (n + bs - 1) // bs
        timed = min(10, n_batches) if self.args.quick else n_batches
        samples, losses = [], []
        for _ in range(self.args.epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            total, count = 0.0, 0
            for b in range(timed):
                idx = perm[b * bs:(b + 1) * bs]
                total += step(idx)
                count += len(idx)
            dt = time.perf_counter() - t0
            samples.append(dt * n / count)
            losses.append(total / count)
        self.emit(name, statistics.median(samples),
                  "s/epoch", samples,
                  {"arch": preset, "data": os.path.basename(path),
                   "series": n, "length": x.shape[-1], "batch": bs,
                   "batches_per_epoch": n_batches, "optimizer": "adam",
                   "lr": 1e-3, "loss": "cross-entropy (mean)", "warmup_steps": 3},
                  extrapolated=timed < n_batches, batches_timed=timed,
                  series_per_s=n / statistics.median(samples),
                  mean_train_loss=losses[-1])

    # (c)
    def infer_fcn_b64(self):
        B = 64
        n = 1 if self.args.quick else 3
        arch = ep.preset_arch("fcn", 2)
        model = self.model("fcn").eval()
        g = torch.Generator().manual_seed(self.args.seed)
        x = torch.randn(B, 1, T, generator=g)
        flop = 2 * B * ep.conv_macs(arch, T)
        samples = []
        with torch.inference_mode():
            model(x)
            for _ in range(self.args.repeat):
                t0 = time.perf_counter()
                for _ in range(n):
                    model(x)
                samples.append(1e3 * (time.perf_counter() - t0) / n)
        ms = statistics.median(samples)
        self.emit("infer_fcn_b64", ms, "ms/batch", samples,
                  {"arch": "fcn", "mode": "eval", "batch": B, "length": T,
                   "forwards_per_repeat": n, "flop_per_batch": flop},
                  gflops=flop / (ms * 1e-3) / 1e9)

    # (d)
    def dream(self, B):
        name = "dream_resnet_small_b%d" % B
        n = 5 if self.args.quick else (100 if B == 1 else 20)
        model = self.model("resnet-small").eval()
        for p in model.parameters():
            p.requires_grad_(False)
        g = torch.Generator().manual_seed(self.args.seed)
        x = 0.1 * torch.randn(B, 1, T, generator=g)
        target, l2, tv, lr, lo, hi = 0, 1e-3, 1e-2, 0.01, -5.0, 5.0

        def step(x):
            x = x.detach().requires_grad_(True)
            logits = model(x)
            J = (logits[:, target].sum()
                 - l2 * (x * x).sum()
                 - tv * (x[..., 1:] - x[..., :-1]).abs().sum())
            (grad,) = torch.autograd.grad(J, x)
            with torch.no_grad():
                return (x + lr * grad).clamp_(lo, hi)

        for _ in range(3):
            x = step(x)
        samples = []
        for _ in range(self.args.repeat):
            t0 = time.perf_counter()
            for _ in range(n):
                x = step(x)
            samples.append(n / (time.perf_counter() - t0))
        v = statistics.median(samples)
        self.emit(name, v, "steps/s", samples,
                  {"arch": "resnet-small", "mode": "eval", "batch": B, "length": T,
                   "target_class": target, "l2": l2, "tv": tv, "step_size": lr,
                   "clamp": [lo, hi], "steps_per_repeat": n},
                  series_per_s=v * B)

    def dream_resnet_small_b1(self):
        self.dream(1)

    def dream_resnet_small_b16(self):
        self.dream(16)


def main():
    p = argparse.ArgumentParser(
        description="PyTorch benchmarks for seqdream (one JSON object per line).",
        epilog="measurements: " + ", ".join(MEASUREMENTS))
    p.add_argument("--forda-train", default=default_forda_train(),
                   help="UCR TSV of the FordA training set (default %(default)s)")
    p.add_argument("--only", metavar="NAME[,NAME]",
                   help="run only these measurements (a prefix selects all that "
                        "start with it, e.g. 'dream')")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed repeats per measurement (default 5)")
    p.add_argument("--epochs", type=int, default=1,
                   help="timed epochs of the training measurement (default 1)")
    p.add_argument("--quick", action="store_true",
                   help="fewer iterations (smoke test; numbers are noisier)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1; the benchmarks are single-thread)")
    p.add_argument("--list", action="store_true", help="list the measurements")
    args = p.parse_args()
    if args.list:
        print("\n".join(MEASUREMENTS))
        return 0
    if args.repeat < 1 or args.epochs < 1:
        p.error("--repeat and --epochs must be >= 1")

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    names = MEASUREMENTS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        names = [m for m in MEASUREMENTS if any(m.startswith(w) for w in wanted)]
        if not names:
            p.error("no measurement matches %r (see --list)" % args.only)
    bench = Bench(args)
    for name in names:
        getattr(bench, name)()
    return 0


if __name__ == "__main__":
    sys.exit(main())
