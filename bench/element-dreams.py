#!/usr/bin/python3
"""The element's own dreams of the bearing faults (docs/trust.md, "Defect
frequencies"): do the inner- and outer-race dreams of the element's
default model show the defect frequencies, BPFI and BPFO, as the real
recordings do?

For each fault, its 0.007 in. recording streams through

  filesrc ! wavparse ! audioconvert ! seqdream dream-trigger=interval PROPS
      ! fakesink   (dream_src ! fakesink)

with the element's defaults (the embedded default model, dream-preset
realistic, its steps and learning rate) unless PROPS say otherwise, and
the first N dreams (their "seqdream-dream" messages, in the stream's
units) are kept. Then, with the command line:
  - `seqdream envelope --band 0:24000 --rpm 1796`: the dominant frequency
    of each dream's envelope spectrum; a hit is within 5 % of the fault's
    frequency (BPFI 162.1 Hz, BPFO 107.3 Hz at 1796 rpm);
  - `seqdream predict`: whether the model names the dream its class and
    knows it (novelty below its threshold).
The control that could fail: the same with dream-learning-rate=1e-12 (the
prior start and the regularisers alone, no ascent): `--control`.

usage: bench/element-dreams.py [--builddir DIR] [--dreams N] [--control]
                               [--keep DIR] [PROP=VALUE ...]
  PROP=VALUE: element properties (model-file=M for another model: it is
  also the model predict uses; the default is the build's embedded copy,
  DIR/gst-plugin/default-model.safetensors).
Prints a markdown table: fault, dreams, on the defect frequency, named
right, known, the median logit margin and steps. Standard library and gi.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

RECORDINGS = [("109_IR007_0hp_DE_48k", "inner_race", "BPFI", 162.1),
              ("135_OR007_0hp_DE_48k", "outer_race", "BPFO", 107.3)]


def stream_dreams(Gst, rec, props, n):
    desc = ("filesrc location=\"%s\" ! wavparse ! audioconvert ! "
            "seqdream name=sd dream-trigger=interval dream-interval=1 "
            "dream-queue-size=%d post-messages=false %s ! fakesink "
            "sd.dream_src ! fakesink" % (rec, n, " ".join(props)))
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    dreams = []
    while len(dreams) < n:
        m = bus.timed_pop_filtered(
            600 * Gst.SECOND, Gst.MessageType.ELEMENT
            | Gst.MessageType.ERROR | Gst.MessageType.EOS)
        if m is None:
            sys.exit("%s: no dream within 600 s" % rec)
        if m.type == Gst.MessageType.EOS:
            break
        if m.type == Gst.MessageType.ERROR:
            err, dbg = m.parse_error()
            sys.exit("error: %s (%s)" % (err.message, dbg))
        s = m.get_structure()
        if s.get_name() != "seqdream-dream":
            continue
        seq = s.get_value("sequence")
        dreams.append({
            "class": s.get_string("class"),
            "sequence_units": [float(v) for v in seq],
            "sample_rate": 48000.0,
            "probability": s.get_value("probability"),
            "logit_margin": s.get_value("logit-margin"),
            "steps": s.get_value("steps"),
        })
    pipeline.set_state(Gst.State.NULL)
    return dreams


def run(sd, *argv):
    r = subprocess.run([sd, *argv], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("seqdream %s failed:\n%s" % (" ".join(argv), r.stderr))
    return r.stdout


def main():
    args = sys.argv[1:]
    builddir, n, control, keep = "build", 20, False, None
    while args and args[0].startswith("--"):
        if args[0] == "--builddir":
            builddir = args[1]
            del args[:2]
        elif args[0] == "--dreams":
            n = int(args[1])
            del args[:2]
        elif args[0] == "--keep":
            keep = args[1]
            del args[:2]
        elif args[0] == "--control":
            control = True
            del args[:1]
        else:
            sys.exit(__doc__)
    props = list(args)
    if control:
        props.append("dream-learning-rate=1e-12")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.join(root, builddir)
    sd = os.path.join(build, "tools", "seqdream")
    model = os.path.join(build, "gst-plugin", "default-model.safetensors")
    for p in props:
        if p.startswith("model-file="):
            model = p.split("=", 1)[1]
    data = os.environ.get("SEQDREAM_DATA",
                          os.path.join(root, "..", "shared", "data"))
    wav = os.path.join(data, "cwru", "wav")
    if not os.path.isdir(wav):
        sys.exit("element-dreams: no CWRU recordings in %s (set SEQDREAM_DATA)"
                 % wav)
    os.environ["GST_PLUGIN_PATH"] = os.path.join(build, "gst-plugin")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)

    tmp = keep or tempfile.mkdtemp(prefix="element-dreams-")
    os.makedirs(tmp, exist_ok=True)
    print("props: %s" % (" ".join(props) or "(the element's defaults)"))
    print()
    print("| fault | dreams | on its defect frequency (envelope, within 5 %) "
          "| named right | known | margin (median) | steps (median) |")
    print("|---|---|---|---|---|---|---|")
    for name, label, line, hz in RECORDINGS:
        dreams = stream_dreams(Gst, os.path.join(wav, name + ".wav"), props, n)
        if not dreams:
            sys.exit("%s: no dreams" % name)
        wrong = [d["class"] for d in dreams if d["class"] != label]
        if wrong:
            sys.exit("%s: dreams of %s, not %s (the model did not name the "
                     "recording's windows %s)" % (name, wrong[0], label, label))
        djson = os.path.join(tmp, "%s-dreams.json" % label)
        with open(djson, "w") as f:
            json.dump({"dreams": dreams}, f)
        ejson = os.path.join(tmp, "%s-envelope.json" % label)
        run(sd, "envelope", "--input", djson, "--band", "0:24000", "--rpm",
            "1796", "--json", ejson, "-q")
        env = json.load(open(ejson))["series"]
        hits = sum(abs(s["dominant"]["frequency"] - hz) <= 0.05 * hz
                   for s in env)
        tsv = os.path.join(tmp, "%s-dreams.tsv" % label)
        with open(tsv, "w") as f:
            for d in dreams:
                f.write("\t".join([label] + ["%.8g" % v
                                             for v in d["sequence_units"]]))
                f.write("\n")
        pred = [json.loads(l) for l in run(
            sd, "predict", "--model", model, "--data", tsv, "--json",
            "--threads", "1").splitlines() if l.strip()]
        right = sum(p["class"] == label for p in pred)
        known = sum(bool(p.get("known", False)) for p in pred)
        print("| %s (%s, %s %.1f Hz) | %d | %d | %d | %d | %.2f | %d |" % (
            label, name.split("_")[0] + " " + name.split("_")[1], line, hz,
            len(dreams), hits, right, known,
            statistics.median(d["logit_margin"] for d in dreams),
            statistics.median(d["steps"] for d in dreams)))
    if keep is None:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
