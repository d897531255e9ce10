#!/usr/bin/env python3
"""Writes UCR series as one continuous mono 32-bit float WAV stream, so a
GStreamer pipeline can score them window by window, plus the labels.

    scripts/forda-wav.py IN.tsv OUT.wav [--rate 8000]

FordA has no sample rate; 8000 Hz makes 500-sample series 62.5 ms windows.
The labels go to OUT.wav.labels, one per series. Standard library only.
"""
import argparse, struct, sys

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("tsv")
ap.add_argument("wav")
ap.add_argument("--rate", type=int, default=8000)
a = ap.parse_args()
rows, labels = [], []
for n, line in enumerate(open(a.tsv), 1):
    parts = line.replace(",", " ").split()
    if not parts:
        continue
    labels.append(parts[0])
    rows.append([float(v) for v in parts[1:]])
    if len(rows[-1]) != len(rows[0]):
        sys.exit(f"{a.tsv}:{n}: ragged row")
samples = [v for r in rows for v in r]
data = struct.pack(f"<{len(samples)}f", *samples)
# WAVE_FORMAT_IEEE_FLOAT (3), mono, 32 bit, with the fact chunk it requires
fmt = struct.pack("<HHIIHH", 3, 1, a.rate, a.rate * 4, 4, 32)
fact = struct.pack("<I", len(samples))
body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"fact" + struct.pack("<I", 4) + fact
        + b"data" + struct.pack("<I", len(data)) + data)
with open(a.wav, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", len(body)) + body)
with open(a.wav + ".labels", "w") as f:
    f.write("\n".join(labels) + "\n")
print(f"{a.wav}: {len(rows)} series of {len(rows[0])} samples at {a.rate} Hz")
