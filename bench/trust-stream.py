#!/usr/bin/python3
"""Streams a recording through the seqdream element and counts what a user
would see: per window the class and whether it is known (the "seqdream"
messages), the warnings (input level, rate) and the "seqdream-state"
messages. The measurement behind docs/trust.md, "The element on a user's
stream".

usage: bench/trust-stream.py REC.wav LABEL [PROP=VALUE ...] [--builddir DIR]

  filesrc location=REC.wav ! wavparse ! audioconvert ! seqdream PROPS ! fakesink

LABEL: the right class of every window (a label of the model). Prints one
JSON line: windows, right (share of windows of class LABEL), unknown
(share with known=false), right_or_unknown, wrong_known (share named
wrongly and known), the novelty's median, the warnings' texts, the
states in order and in_unknown: of the windows that arrive after the
first seqdream-state, the share that arrive while the last state said
"unknown" (what an operator watching the states sees). A stream of
several channels gets the same counts per channel under "channels" (each
channel its own states); the top-level ones are over all channels. Runs with the build's plugin (GST_PLUGIN_PATH)."""
import json
import os
import statistics
import sys


def main():
    args = [a for a in sys.argv[1:]]
    builddir = "build"
    if "--builddir" in args:
        i = args.index("--builddir")
        builddir = args[i + 1]
        del args[i:i + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    rec, label, props = args[0], args[1], args[2:]
    if not os.path.isfile(rec):
        sys.exit("%s: no such file" % rec)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["GST_PLUGIN_PATH"] = os.path.join(root, builddir, "gst-plugin")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    desc = ("filesrc location=\"%s\" ! wavparse ! audioconvert ! "
            "seqdream name=sd %s ! fakesink" % (rec, " ".join(props)))
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    ch = {}  # channel -> counters; a mono stream has channel 0 only
    warnings = []

    def channel(c):
        return ch.setdefault(c, {
            "windows": 0, "right": 0, "unknown": 0, "right_or_unknown": 0,
            "wrong_known": 0, "novelty": [], "states": [], "state": None,
            "in_unknown": 0, "after_state": 0})

    while True:
        m = bus.timed_pop_filtered(
            60 * Gst.SECOND,
            Gst.MessageType.ELEMENT | Gst.MessageType.WARNING
            | Gst.MessageType.ERROR | Gst.MessageType.EOS)
        if m is None:
            sys.exit("no EOS within 60 s")
        if m.type == Gst.MessageType.EOS:
            break
        if m.type == Gst.MessageType.ERROR:
            err, dbg = m.parse_error()
            sys.exit("error: %s (%s)" % (err.message, dbg))
        if m.type == Gst.MessageType.WARNING:
            err, _ = m.parse_warning()
            warnings.append(err.message)
            continue
        s = m.get_structure()
        if s.get_name() == "seqdream":
            c = channel(s.get_value("channel"))
            c["windows"] += 1
            ok = s.get_string("class") == label
            known = s.get_value("known")
            c["right"] += ok
            c["unknown"] += not known
            c["right_or_unknown"] += ok or not known
            c["wrong_known"] += known and not ok
            c["novelty"].append(s.get_value("novelty"))
            c["after_state"] += c["state"] is not None
            c["in_unknown"] += c["state"] == "unknown"
        elif s.get_name() == "seqdream-state":
            c = channel(s.get_value("channel"))
            c["state"] = s.get_string("state")
            c["states"].append("%s@%.3fs" % (c["state"],
                                             s.get_value("stream-time") / 1e9))
    pipeline.set_state(Gst.State.NULL)

    def summary(cs):
        n = max(sum(c["windows"] for c in cs), 1)
        share = lambda k: round(sum(c[k] for c in cs) / n, 4)
        finite = [v for c in cs for v in c["novelty"] if v == v]
        after = max(sum(c["after_state"] for c in cs), 1)
        return {
            "windows": sum(c["windows"] for c in cs), "right": share("right"),
            "unknown": share("unknown"),
            "right_or_unknown": share("right_or_unknown"),
            "wrong_known": share("wrong_known"),
            "in_unknown": round(sum(c["in_unknown"] for c in cs) / after, 4),
            "novelty_median": round(statistics.median(finite), 3) if finite else None,
            "states": [st for c in cs for st in c["states"]]}

    out = {"recording": os.path.basename(rec), "label": label, "props": props}
    out.update(summary(list(ch.values())))
    out["warnings"] = warnings
    if len(ch) > 1:
        out["channels"] = {k: summary([ch[k]]) for k in sorted(ch)}
    print(json.dumps(out))

if __name__ == "__main__":
    main()
