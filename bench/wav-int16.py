#!/usr/bin/python3
"""Writes a recording as a data acquisition card would: 16-bit PCM WAV
whose full scale (+-32767) is +-FULL_SCALE input units (default +-10, i.e.
+-10 g for the CWRU accelerometer recordings). Read back through
`wavparse ! audioconvert`, the samples are the input divided by
FULL_SCALE: a model trained on g sees them 10 x too small (docs/trust.md,
"The element on a user's stream").

usage: bench/wav-int16.py IN.wav OUT.wav [--full-scale 10]

IN.wav: mono IEEE float (32 or 64 bit) or 16-bit PCM WAV. Samples beyond
the full scale are clipped (and counted on stderr)."""
import argparse
import struct
import sys
import wave

import numpy as np


def read_wav(path):
    """(samples as float64, rate) of a mono float or 16-bit PCM WAV."""
    with open(path, "rb") as f:
        d = f.read()
    if d[:4] != b"RIFF" or d[8:12] != b"WAVE":
        sys.exit("%s: not a RIFF/WAVE file" % path)
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(d):
        cid, size = d[pos:pos + 4], struct.unpack("<I", d[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            fmt = d[pos + 8:pos + 8 + size]
        elif cid == b"data":
            data = d[pos + 8:pos + 8 + size]
            break
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        sys.exit("%s: no fmt or data chunk" % path)
    tag, channels, rate = struct.unpack("<HHI", fmt[:8])
    bits = struct.unpack("<H", fmt[14:16])[0]
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE
        tag = struct.unpack("<H", fmt[24:26])[0]
    if channels != 1:
        sys.exit("%s: %d channels; a mono recording is expected" % (path, channels))
    if tag == 3 and bits in (32, 64):
        x = np.frombuffer(data, dtype="<f%d" % (bits // 8))
    elif tag == 1 and bits == 16:
        x = np.frombuffer(data, dtype="<i2") / 32767.0
    else:
        sys.exit("%s: format %d with %d bits; float or 16-bit PCM expected" % (path, tag, bits))
    return x.astype(np.float64), rate


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--full-scale", type=float, default=10.0,
                    help="input units at +-32767 (default 10)")
    a = ap.parse_args()
    if not a.full_scale > 0 or not np.isfinite(a.full_scale):
        sys.exit("--full-scale must be a positive number, not %g" % a.full_scale)
    x, rate = read_wav(a.input)
    q = np.round(x / a.full_scale * 32767.0)
    clipped = int(np.count_nonzero(np.abs(q) > 32767))
    q = np.clip(q, -32767, 32767).astype("<i2")
    with wave.open(a.output, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(q.tobytes())
    print("%s: %d samples at %d Hz, full scale +-%g, %d clipped, RMS %.4f -> %.4f"
          % (a.output, len(q), rate, a.full_scale, clipped,
             float(np.sqrt(np.mean(x ** 2))),
             float(np.sqrt(np.mean((q / 32767.0) ** 2)))), file=sys.stderr)


if __name__ == "__main__":
    main()
