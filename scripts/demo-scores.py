#!/usr/bin/env python3
"""Reads `gst-launch-1.0 -m` output with seqdream messages on stdin, prints
one line per window (every 50th, and every dream), and compares the
predicted classes with the labels file given as argument.
Standard library only."""
import re, sys

labels = [l.strip() for l in open(sys.argv[1]) if l.strip()]
scores, dreams = [], 0
for line in sys.stdin:
    if "element" not in line:
        continue
    m = re.search(r'seqdream-dream, .*?class=\(string\)"?([^,"]+)"?.*?probability=\(double\)([-0-9.e]+).*?steps=\(int\)(\d+)', line)
    if m:
        dreams += 1
        print(f"  dream of class {m.group(1)}: p = {float(m.group(2)):.3f} after {m.group(3)} steps")
        continue
    m = re.search(r'seqdream, timestamp=\(guint64\)(\d+).*?class=\(string\)"?([^,"]+)"?.*?confidence=\(double\)([-0-9.e]+)', line)
    if m:
        i = len(scores)
        scores.append(m.group(2))
        if i % 50 == 0:
            truth = labels[i] if i < len(labels) else "?"
            print(f"window {i:4d} at {int(m.group(1)) / 1e9:7.3f} s: class {m.group(2):>3} "
                  f"(confidence {float(m.group(3)):.3f}), true class {truth}")
n = min(len(scores), len(labels))
if n == 0:
    sys.exit("demo: no seqdream messages were seen")
correct = sum(1 for a, b in zip(scores, labels) if a == b)
print(f"{len(scores)} windows scored live, {dreams} dreams; accuracy against the labels "
      f"{correct / n:.4f} ({correct}/{n})")
