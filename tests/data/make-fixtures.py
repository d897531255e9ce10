#!/usr/bin/env python3
# Generates the small, deterministic test fixtures in this folder.
# Standard library only. Run from anywhere:
#   python3 tests/data/make-fixtures.py           (rewrites the files)
#   python3 tests/data/make-fixtures.py --check   (fails if they differ)
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures (see README.md next to this script):

ucr-small.tsv       40 series, labels -1/1, length 64, UCR 2018 TSV.
ucr-small-test.tsv  20 series drawn the same way (a held-out split).
ucr-3class.txt      30 series, labels inner/normal/outer, length 48, the old
                    UCR .txt layout (space separated, exponent notation).
wav-normal.wav      1 s, 8 kHz, mono 16-bit PCM: noise and a 50 Hz hum.
wav-fault.wav       the same with periodic 1.2 kHz bursts every 25 ms.

Every series is z-normalised (population sd). Classes are easy to tell
apart, so a tiny CNN learns them in a few epochs:
  -1 / normal  noise plus a slow sine of random period and phase;
   1 / inner   the same plus a Hann-windowed burst of period 4 samples;
   outer       the same plus a Hann-windowed burst of period 10 samples.
"""

import io
import math
import os
import random
import struct
import sys
import wave

HERE = os.path.dirname(os.path.abspath(__file__))


def znorm(xs):
    n = len(xs)
    mean = sum(xs) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in xs) / n)
    if sd == 0:
        return [0.0] * n
    return [(v - mean) / sd for v in xs]


def series(rng, length, burst_period):
    period = rng.uniform(length / 2, length * 1.5)
    phase = rng.uniform(0, 2 * math.pi)
    xs = [0.6 * math.sin(2 * math.pi * t / period + phase)
          + rng.gauss(0, 0.25) for t in range(length)]
    if burst_period:
        width = length * 3 // 8
        start = rng.randrange(0, length - width + 1)
        bphase = rng.uniform(0, 2 * math.pi)
        for k in range(width):
            hann = 0.5 - 0.5 * math.cos(2 * math.pi * (k + 0.5) / width)
            xs[start + k] += 2.0 * hann * math.sin(
                2 * math.pi * k / burst_period + bphase)
    return znorm(xs)


def ucr_tsv(seed, n, length):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label = "1" if i % 2 else "-1"  # balanced, interleaved
        xs = series(rng, length, 4 if label == "1" else 0)
        lines.append("\t".join([label] + ["%.6f" % v for v in xs]))
    return ("\n".join(lines) + "\n").encode()


def ucr_txt(seed, n, length):
    rng = random.Random(seed)
    bursts = {"normal": 0, "inner": 4, "outer": 10}
    names = ["normal", "inner", "outer"]
    lines = []
    for i in range(n):
        label = names[i % 3]
        xs = series(rng, length, bursts[label])
        lines.append("  ".join([label] + ["%.7e" % v for v in xs]))
    return ("\n".join(lines) + "\n").encode()


def wav_bytes(seed, fault, rate=8000, seconds=1.0):
    rng = random.Random(seed)
    n = int(rate * seconds)
    samples = []
    for t in range(n):
        v = 0.2 * math.sin(2 * math.pi * 50 * t / rate) + rng.gauss(0, 0.05)
        if fault:
            k = t % (rate // 40)  # a burst every 25 ms
            width = rate // 200  # 5 ms long
            if k < width:
                hann = 0.5 - 0.5 * math.cos(2 * math.pi * (k + 0.5) / width)
                v += 0.5 * hann * math.sin(2 * math.pi * 1200 * t / rate)
        samples.append(max(-32768, min(32767, round(v * 32767))))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack("<%dh" % n, *samples))
    return out.getvalue()


FIXTURES = {
    "ucr-small.tsv": lambda: ucr_tsv(20240601, 40, 64),
    "ucr-small-test.tsv": lambda: ucr_tsv(20240602, 20, 64),
    "ucr-3class.txt": lambda: ucr_txt(20240603, 30, 48),
    "wav-normal.wav": lambda: wav_bytes(20240604, False),
    "wav-fault.wav": lambda: wav_bytes(20240605, True),
}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, make in FIXTURES.items():
        path = os.path.join(HERE, name)
        data = make()
        if check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(name)
        else:
            with open(path, "wb") as f:
                f.write(data)
            print("wrote %s (%d bytes)" % (path, len(data)))
    if stale:
        print("stale fixtures: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
