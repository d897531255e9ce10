#!/usr/bin/env python3
"""Realistic dreams by default (docs/trust.md, "Realistic dreams"): the
FordA targets of issue 14, with their controls. Standard library only; runs
the seqdream command line.

For the dreamed model (forda-resnet-small) and each class:
  - the real margins: the 99th percentile of the logit margin of the
    held-out series (FordA_TRAIN_partial, never trained on) the model
    classifies right;
  - dreams from noise with the default settings (no flags): p, margin, and
    whether the independent model (forda-fcn-small) agrees;
  - dreams started from a held-out series of the *other* class
    (--init sample:FILE:OTHER): the share the independent model calls the
    target class, against two controls that could fail: the start itself
    (no dream) and the prior alone (the same settings, a learning rate of
    1e-12: the regularisers act, the ascent does not);
  - the paper's unregularised ascent (--preset none) for comparison.
And for the element's default model (CWRU, the build's embedded copy,
BUILDDIR/gst-plugin/default-model.safetensors; --cwru-model FILE for
another): every class's
dreams, default against --preset none: converged, margin, level (RMS in
g) and whether the model knows them (novelty below its threshold).

Usage: bench/dream-trust.py [BUILDDIR] [--batch N] [--only forda|cwru]
                            [--cwru-model FILE]
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 50
argv = sys.argv[1:]
if "--batch" in argv:
    i = argv.index("--batch")
    BATCH = int(argv[i + 1])
    del argv[i:i + 2]
ONLY = None
if "--only" in argv:
    i = argv.index("--only")
    ONLY = argv[i + 1]
    del argv[i:i + 2]
CWRU_MODEL = None
if "--cwru-model" in argv:
    i = argv.index("--cwru-model")
    CWRU_MODEL = argv[i + 1]
    del argv[i:i + 2]
BUILD = argv[0] if argv else os.path.join(ROOT, "build")
DATA = os.environ.get("SEQDREAM_DATA", os.path.join(ROOT, "..", "shared", "data"))
HELD_OUT = os.path.join(DATA, "forda", "FordA_TRAIN_partial.tsv")
SD = os.path.join(BUILD, "tools", "seqdream")
MODEL = os.path.join(ROOT, "models", "forda-resnet-small.safetensors")
JUDGE = os.path.join(ROOT, "models", "forda-fcn-small.safetensors")
CLASSES = ["-1", "1"]


def run(*argv):
    r = subprocess.run([SD, *argv], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("seqdream %s failed:\n%s" % (" ".join(argv), r.stderr))
    return r.stdout


def predict(model, tsv):
    out = run("predict", "--model", model, "--data", tsv, "--json")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def quantile(v, q):
    v = sorted(v)
    if not v:
        return float("nan")
    pos = q * (len(v) - 1)
    i = int(pos)
    j = min(i + 1, len(v) - 1)
    return v[i] + (pos - i) * (v[j] - v[i])


def real_margins():
    """p99 of the margins of correctly classified held-out series."""
    labels = [line.split("\t", 1)[0].strip() for line in open(HELD_OUT)]
    rows = predict(MODEL, HELD_OUT)
    out = {}
    for c in CLASSES:
        k = CLASSES.index(c)
        m = [r["logits"][k] - r["logits"][1 - k]
             for r, lab in zip(rows, labels)
             if lab == c and r["class_index"] == k]
        out[c] = (quantile(m, 0.5), quantile(m, 0.99))
    return out


def dream(cls, tmp, tag, *extra):
    path = os.path.join(tmp, "%s-%s.json" % (tag, cls))
    run("dream", "--model", MODEL, "--class", cls, "--batch", str(BATCH),
        "--seed", "1", "--json", path, *extra)
    dreams = json.load(open(path))["dreams"]
    tsv = os.path.join(tmp, "%s-%s.tsv" % (tag, cls))
    with open(tsv, "w") as f:
        for d in dreams:
            f.write(cls + "\t" + "\t".join("%.7g" % v for v in d["sequence"]) + "\n")
    judged = predict(JUDGE, tsv)
    k = CLASSES.index(cls)
    agree = sum(1 for r in judged if r["class_index"] == k) / len(judged)
    return dreams, agree


def main():
    if not os.path.exists(HELD_OUT):
        sys.exit("dream-trust: %s not found (SEQDREAM_DATA)" % HELD_OUT)
    real = real_margins()
    print("FordA, forda-resnet-small dreams, %d per row, judged by "
          "forda-fcn-small; real margins of held-out series (median, p99)"
          % BATCH)
    print("| class | settings | start | p >= 0.99 | margin median (max) | "
          "limit 1.5 x p99 | judge agrees |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for cls in CLASSES:
            med, p99 = real[cls]
            other = CLASSES[1 - CLASSES.index(cls)]
            init = ["--init", "sample:%s:%s" % (HELD_OUT, other)]
            rows = [
                ("default (no flags)", "noise", []),
                ("--preset none (the paper)", "noise", ["--preset", "none"]),
                ("default", "other class", init),
                ("control: prior alone (lr 1e-12)", "other class",
                 init + ["--lr", "1e-12"]),
                ("control: the start, no dream", "other class",
                 init + ["--preset", "none", "--steps", "1", "--lr", "1e-12"]),
                ("--preset none", "other class", init + ["--preset", "none"]),
            ]
            for i, (name, start, extra) in enumerate(rows):
                dreams, agree = dream(cls, tmp, "r%d" % i, *extra)
                ps = [d["probability"] for d in dreams]
                ms = [d["logit_margin"] for d in dreams]
                print("| %s | %s | %s | %d/%d | %.2f (%.2f) | %.2f | %.1f %% |"
                      % (cls, name, start, sum(p >= 0.99 for p in ps),
                         len(ps), quantile(ms, 0.5), max(ms), 1.5 * p99,
                         100 * agree))
            print("| %s | real held-out series | | | %.2f (p99 %.2f) | | |"
                  % (cls, med, p99))


def cwru():
    """The element's default model: dreams of every class, default
    settings against --preset none; level (RMS in the input units) and
    novelty of each dream, against the real recordings' level."""
    model = CWRU_MODEL or os.path.join(BUILD, "gst-plugin",
                                       "default-model.safetensors")
    print()
    print("CWRU, %s, %d dreams per row; novelty threshold %s"
          % (model, BATCH, novelty_threshold(model)))
    print("| class | settings | converged | margin median | RMS median (g) "
          "| known | novelty median |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for cls in ["normal", "inner_race", "ball", "outer_race"]:
            for name, extra in [
                    ("default", []),
                    ("control: prior alone (lr 1e-12)", ["--lr", "1e-12"]),
                    ("default, --init noise (small noise)",
                     ["--init", "noise"]),
                    ("--preset none", ["--preset", "none"])]:
                path = os.path.join(tmp, "d.json")
                run("dream", "--model", model, "--class", cls, "--batch",
                    str(BATCH), "--seed", "1", "--json", path, *extra)
                d = json.load(open(path))
                dreams = d["dreams"] if "dreams" in d else [d]
                tsv = os.path.join(tmp, "d.tsv")
                with open(tsv, "w") as f:
                    for x in dreams:
                        f.write(cls + "\t" + "\t".join(
                            "%.7g" % v for v in x["sequence_units"]) + "\n")
                judged = predict(model, tsv)
                rms = [(sum(v * v for v in x["sequence_units"])
                        / len(x["sequence_units"])) ** 0.5 for x in dreams]
                print("| %s | %s | %d/%d | %.2f | %.3f | %d/%d | %.1f |" % (
                    cls, name, sum(x["converged"] for x in dreams),
                    len(dreams),
                    quantile([x["logit_margin"] for x in dreams], 0.5),
                    quantile(rms, 0.5), sum(r["known"] for r in judged),
                    len(judged),
                    quantile([r["novelty"] for r in judged], 0.5)))


def novelty_threshold(model):
    info = json.loads(run("info", "--model", model, "--json"))
    return "%.2f" % info["stats"]["novelty_threshold"]


if __name__ == "__main__":
    if ONLY in (None, "forda"):
        main()
    if ONLY in (None, "cwru"):
        cwru()
