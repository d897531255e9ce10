#!/usr/bin/python3
"""Write the fan-end accelerometer channel of the CWRU MATLAB files as
float32 WAV files, the form the benchmarks read.

    cwru-fan-end.py [--stereo] DATA_DIR OUT_DIR

DATA_DIR is the shared data folder (cwru/manifest.csv names every file and
its fan-end variable). The fan-end channel is a second sensor on the same
motor, recorded at the same time as the drive-end channel of cwru/wav: it
is vibration that no model or design in this project was chosen on, which
is what bench/novelty.c uses it for. OUT_DIR/NNN_<condition>_FE_48k.wav
per recording (48 kHz, mono, the samples in g as stored). With --stereo
also OUT_DIR/NNN_<condition>_DE+FE_48k.wav: both sensors as one two-channel
stream (channel 0 drive end, channel 1 fan end), as a two-sensor DAQ
would deliver them.

The MAT files are MATLAB 5 level files with uncompressed double matrices;
this reads exactly that form (numpy and the standard library, no scipy)
and refuses anything else with a message naming the file.
"""
import csv
import os
import struct
import sys

import numpy as np


def mat_variables(path):
    """name -> 1-D float64 array of every real double matrix in a MAT 5 file."""
    with open(path, "rb") as fh:
        buf = fh.read()
    if len(buf) < 128 or not buf.startswith(b"MATLAB 5.0 MAT-file"):
        sys.exit(f"{path}: not a MATLAB 5 MAT-file")
    if buf[126:128] != b"IM":
        sys.exit(f"{path}: not little-endian (endian indicator {buf[126:128]!r})")
    out = {}
    pos = 128
    while pos + 8 <= len(buf):
        dtype, nbytes = struct.unpack_from("<II", buf, pos)
        body = buf[pos + 8:pos + 8 + nbytes]
        pos += 8 + nbytes + (-nbytes % 8)
        if dtype == 15:
            sys.exit(f"{path}: compressed MAT elements are not supported")
        if dtype != 14:  # miMATRIX
            continue
        sub, p = [], 0
        while p + 8 <= len(body):
            t, n = struct.unpack_from("<II", body, p)
            if t >> 16:  # small data element: size in the upper half
                t, n = t & 0xFFFF, t >> 16
                sub.append((t, body[p + 4:p + 4 + n]))
                p += 8
            else:
                sub.append((t, body[p + 8:p + 8 + n]))
                p += 8 + n + (-n % 8)
        if len(sub) < 4:
            continue
        flags = struct.unpack_from("<I", sub[0][1])[0]
        if flags & 0xFF != 6 or flags & 0x800:  # mxDOUBLE_CLASS, real
            continue
        name = sub[2][1].decode("ascii")
        t, raw = sub[3]
        if t == 9:  # miDOUBLE; scalars saved in a smaller type are skipped
            out[name] = np.frombuffer(raw, dtype="<f8")
    return out


def write_wav_float32(path, x, rate):
    """x: (n,) mono or (n, channels) interleaved."""
    x = np.asarray(x, dtype="<f4")
    ch = 1 if x.ndim == 1 else x.shape[1]
    data = x.tobytes()
    fmt = struct.pack("<HHIIHH", 3, ch, rate, rate * 4 * ch, 4 * ch, 32)
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data))
                 + b"WAVE")
        fh.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        fh.write(b"data" + struct.pack("<I", len(data)) + data)


def main():
    args = sys.argv[1:]
    stereo = "--stereo" in args
    args = [a for a in args if a != "--stereo"]
    if len(args) != 2:
        sys.exit("usage: cwru-fan-end.py [--stereo] DATA_DIR OUT_DIR")
    data, out = args
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(data, "cwru", "manifest.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            mat = os.path.join(data, "cwru", row["mat_file"])
            var = row["mat_fe_variable"]
            vs = mat_variables(mat)
            if var not in vs:
                sys.exit(f"{mat}: no variable {var} (has {', '.join(vs)})")
            x = vs[var]
            if not np.all(np.isfinite(x)):
                sys.exit(f"{mat}: {var} holds non-finite samples")
            name = os.path.basename(row["wav_file"]).replace("_DE_", "_FE_")
            write_wav_float32(os.path.join(out, name), x, int(row["fs_hz"]))
            if stereo:
                de = vs[row["mat_de_variable"]]
                write_wav_float32(os.path.join(out, name.replace("_FE_", "_DE+FE_")),
                                  np.stack([de, x], axis=1), int(row["fs_hz"]))
            print(f"{name}: {len(x)} samples, rms {np.sqrt(np.mean(x * x)):.4f} g")


if __name__ == "__main__":
    main()
