#!/usr/bin/python3
"""Vibration fed to a FordA model through the element, as a plant would
stream it (docs/trust.md, "Vibration fed to the FordA model, as a stream").

    bench/forda-vibration.py [--builddir DIR] [MODEL ...]

Per model (default: the two committed FordA models) and per stream
    filesrc ! wavparse ! audioconvert ! seqdream model-file=MODEL hop=500 ! fakesink
(bench/trust-stream.py; hop 500: every window is a fresh 500 samples):
  - control, FordA: the 577 series of the held-out FordA file end to end
    (every window is exactly one series the model was tested on), where
    the model should know its input and the states should name classes;
  - control, FordA shuffled: the same series with the samples of every
    series permuted (the spectrum destroyed, the level kept);
  - the seven CWRU drive-end recordings (cwru/wav) and
  - their fan-end channel (bench/cwru-fan-end.py), a second sensor no
    design here was chosen on.
Prints a markdown table: windows, the share with known=false, the share
that arrives while the last seqdream-state says "unknown" (of those after
the first state, state-holdoff 3), and the states that named a class. SEQDREAM_DATA defaults to ../shared/data.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 48000  # the FordA models declare no rate; any is accepted


def write_wav(path, x):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "cwru_fan_end", os.path.join(ROOT, "bench", "cwru-fan-end.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.write_wav_float32(path, x, RATE)


def stream(builddir, wav, model):
    out = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "bench", "trust-stream.py"),
         wav, "-", "--builddir", builddir, "model-file=" + model, "hop=500"],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    args = sys.argv[1:]
    builddir = "build"
    if "--builddir" in args:
        i = args.index("--builddir")
        builddir = args[i + 1]
        del args[i:i + 2]
    models = args or [os.path.join(ROOT, "models", m) for m in
                      ("forda-resnet-small.safetensors",
                       "forda-fcn-small.safetensors")]
    data = os.environ.get("SEQDREAM_DATA", os.path.join(ROOT, "..", "shared", "data"))
    forda = os.path.join(data, "forda", "FordA_TRAIN_partial.tsv")
    if not os.path.isfile(forda):
        sys.exit("forda-vibration: no %s (set SEQDREAM_DATA)" % forda)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        series = np.loadtxt(forda, delimiter="\t")[:, 1:]
        fw = os.path.join(tmp, "forda-test.wav")
        write_wav(fw, series.ravel())
        rng = np.random.default_rng(1)
        shuffled = np.array([rng.permutation(s) for s in series])
        sw = os.path.join(tmp, "forda-test-shuffled.wav")
        write_wav(sw, shuffled.ravel())
        fe = os.path.join(tmp, "fan-end")
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "cwru-fan-end.py"),
                        data, fe], check=True, capture_output=True)
        wav = os.path.join(data, "cwru", "wav")
        streams = [("FordA held-out series (control: familiar)", fw),
                   ("FordA, samples shuffled (control: unfamiliar)", sw)]
        for sensor, d, tag in (("drive end", wav, "_DE_"), ("fan end", fe, "_FE_")):
            for name in sorted(os.listdir(d)):
                if tag in name and name.endswith(".wav"):
                    streams.append(("CWRU %s %s" % (sensor, name.split("_")[0] + " "
                                                    + name.split("_")[1]),
                                    os.path.join(d, name)))
        print("| model | stream | windows | known=false | windows in state unknown | states naming a class |")
        print("|---|---|---|---|---|---|")
        for model in models:
            tot = {}
            for title, path in streams:
                d = stream(builddir, path, model)
                named = [s for s in d["states"] if not s.startswith("unknown@")]
                print("| %s | %s | %d | %.1f %% | %.1f %% | %d |" % (
                    os.path.basename(model), title, d["windows"], 100 * d["unknown"],
                    100 * d["in_unknown"], len(named)))
                if title.startswith("CWRU"):
                    key = title.split()[1] + " " + title.split()[2]
                    t = tot.setdefault(key, [0, 0, 0, 0])
                    t[0] += d["windows"]
                    t[1] += round(d["unknown"] * d["windows"])
                    t[2] += d["in_unknown"] * d["windows"]
                    t[3] += len(named)
            for key, t in tot.items():
                print("| %s | **all CWRU %s** | %d | **%d of %d** | %.1f %% | **%d** |" % (
                    os.path.basename(model), key, t[0], t[1], t[0],
                    100 * t[2] / t[0], t[3]))


if __name__ == "__main__":
    main()
