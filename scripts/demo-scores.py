#!/usr/bin/env python3
"""Reads `gst-launch-1.0 -m` output with seqdream messages on stdin, prints
some windows and every dream as they pass, and compares the predicted
classes with the truth. Standard library only.

    demo-scores.py --labels FILE          one label per window, in order (FordA)
    demo-scores.py --label L [--from S] [--rate R] [--name N]
                                          every window is class L; only windows
                                          starting at sample S or later count
                                          (the held-out part of a recording)
    --tally FILE                          also append "correct counted" to FILE

Prints a closing line `N windows scored live, D dreams; accuracy ... (c/n)`.
"""
import argparse, re, sys

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--labels", help="file with one label per window")
ap.add_argument("--label", help="the class of every window")
ap.add_argument("--from", dest="first", type=int, default=0,
                help="first sample of the part that counts (with --label)")
ap.add_argument("--rate", type=int, default=48000, help="sample rate (with --from)")
ap.add_argument("--name", default="", help="prefix of the printed lines")
ap.add_argument("--every", type=int, default=50, help="print every Nth window")
ap.add_argument("--tally", help="append 'correct counted' to this file")
a = ap.parse_args()
if (a.labels is None) == (a.label is None):
    sys.exit("demo-scores.py: give exactly one of --labels and --label")
labels = [l.strip() for l in open(a.labels) if l.strip()] if a.labels else None

DREAM = re.compile(r'seqdream-dream, .*?class=\(string\)"?([^,"]+)"?.*?'
                   r'probability=\(double\)([-0-9.e]+).*?steps=\(int\)(\d+)')
SCORE = re.compile(r'seqdream, timestamp=\(guint64\)(\d+).*?class=\(string\)"?([^,"]+)"?'
                   r'.*?confidence=\(double\)([-0-9.e]+)')
n_seen = n_counted = correct = dreams = 0
confusion = {}
prefix = a.name + ": " if a.name else ""
for line in sys.stdin:
    if "element" not in line:
        continue
    m = DREAM.search(line)
    if m:
        dreams += 1
        print(f"  {prefix}dream of class {m.group(1)}: p = {float(m.group(2)):.3f} "
              f"after {m.group(3)} steps")
        continue
    m = SCORE.search(line)
    if not m:
        continue
    i = n_seen
    n_seen += 1
    ts, cls, conf = int(m.group(1)), m.group(2), float(m.group(3))
    if labels is not None:
        truth = labels[i] if i < len(labels) else None
    else:
        # the window's first sample, from its timestamp (rounded to a sample)
        start = (ts * a.rate + 500000000) // 1000000000
        truth = a.label if start >= a.first else None
    if i % a.every == 0:
        print(f"  {prefix}window {i:4d} at {ts / 1e9:7.3f} s: {cls} "
              f"(confidence {conf:.3f})" + (f", true {truth}" if truth else ", training part"))
    if truth is None:
        continue
    n_counted += 1
    correct += cls == truth
    confusion[cls] = confusion.get(cls, 0) + 1
if n_seen == 0:
    sys.exit(f"{prefix}no seqdream messages were seen")
if n_counted == 0:
    sys.exit(f"{prefix}no window fell in the part that counts")
if a.tally:
    with open(a.tally, "a") as f:
        f.write(f"{correct} {n_counted}\n")
called = ", ".join(f"{k} {v}" for k, v in sorted(confusion.items()))
print(f"{prefix}{n_seen} windows scored live, {dreams} dreams; accuracy "
      f"{correct / n_counted:.4f} ({correct}/{n_counted}; called: {called})")
