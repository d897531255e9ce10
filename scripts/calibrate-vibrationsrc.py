#!/usr/bin/python3
"""Calibrates the vibrationsrc element (gst-plugin/gstvibrationsrc.c) to the
CWRU bearing recordings and prints real and synthetic statistics side by
side (the tables of docs/vibrationsrc.md).

    /usr/bin/python3 scripts/calibrate-vibrationsrc.py [--builddir build]
        [--seconds 10] [--seeds 1,2,3]                  statistics table
        [--no-table] [--classify [--rig-tones both] [--severity 1,0.5]]
    /usr/bin/python3 scripts/calibrate-vibrationsrc.py --probe --seeds 1
    /usr/bin/python3 scripts/calibrate-vibrationsrc.py --fit

Default: measures the four 0 HP 0.007 in. recordings (097 normal, 109
IR007, 135 OR007, 122 B007) and the element's output for the same fault
(BUILDDIR/gst-plugin, default properties, every seed) and prints one
markdown row per signal. --classify adds the per-window class counts of
the element's embedded default model (seqdream, its default window and hop) on
the synthetic signals; --rig-tones both also runs them with
rig-tones=false, --severity with other severities.

--probe classifies altered versions (halved, lines notched, band-limited,
...) of the recordings and of the synthesis (first seed) with
BUILDDIR/tools/seqdream predict and models/cwru-resnet-small.safetensors:
what the model keys on.

--fit derives the calibration from the recordings and prints the tables
of gstvibrationsrc.c: the rig lines, the background (white floor and
noise-driven resonators fitted to the power spectrum of 097 without its
lines), per fault the impulse response (damped sinusoids fitted to the
power spectrum of the recording above that background), the modulation of
the impulse amplitudes (from the envelope peaks of the impulses), the
share of the fault energy from discrete impulses (bisection on the
kurtosis) and the level (the RMS of the recording). The fits are
deterministic (fixed starts and seeds, single-threaded BLAS); a numpy
model of the element (the same sources, filters and random parts, not
sample-identical) stands in for it while fitting. About 10 minutes on one
core.

numpy only (no scipy); gst-launch-1.0 for the element. The recordings are
read from $SEQDREAM_DATA/cwru/wav (default ../shared/data).
"""
import argparse, collections, copy, os, re, subprocess, sys, tempfile

# Single-threaded BLAS: the least-squares fits are then reproducible.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("SEQDREAM_DATA", os.path.join(ROOT, "..", "shared", "data"))
WAV = os.path.join(DATA, "cwru", "wav")
FS = 48000
RPM = 1796.0
FAULTS = ["none", "inner-race", "outer-race", "ball"]
RECORDING = {"none": "097_normal_0hp_DE_48k", "inner-race": "109_IR007_0hp_DE_48k",
             "outer-race": "135_OR007_0hp_DE_48k", "ball": "122_B007_0hp_DE_48k"}
CLASSES = ["normal", "inner_race", "outer_race", "ball"]

# SKF 6205-2RS JEM: balls, ball and pitch diameter (in), contact angle 0.
N_BALLS, BALL_D, PITCH_D = 9.0, 0.3126, 1.537
R = BALL_D / PITCH_D
ORDER = {"inner-race": N_BALLS / 2 * (1 + R), "outer-race": N_BALLS / 2 * (1 - R),
         "ball": PITCH_D / (2 * BALL_D) * (1 - R * R)}
FTF_ORDER = 0.5 * (1 - R)

RIG_LINES = [4024.7, 4144.4, 4264.2, 4383.9, 8408.6]   # Hz, as in 097
BANDS = [(0, 500), (500, 2000), (2000, 5000), (5000, 10000), (10000, 24001)]


# ---------------------------------------------------------------- signals

def read_wav(path):
    """Mono IEEE float or 16-bit PCM WAV -> float64 array."""
    raw = open(path, "rb").read()
    i = raw.find(b"fmt ")
    fmt = int.from_bytes(raw[i + 8:i + 10], "little")
    bits = int.from_bytes(raw[i + 22:i + 24], "little")
    j = raw.find(b"data")
    n = int.from_bytes(raw[j + 4:j + 8], "little")
    body = raw[j + 8:j + 8 + n]
    if fmt == 3 and bits == 32:
        return np.frombuffer(body, "<f4").astype(np.float64)
    if fmt == 1 and bits == 16:
        return np.frombuffer(body, "<i2").astype(np.float64) / 32768.0
    raise ValueError(f"{path}: unsupported WAV format {fmt}/{bits}")


def real(fault):
    return read_wav(os.path.join(WAV, RECORDING[fault] + ".wav"))


def welch(x, n=4096):
    """One-sided PSD (g^2/Hz), Hann, 50 % overlap, every segment's mean removed."""
    w = np.hanning(n)
    segs = [(x[i:i + n] - x[i:i + n].mean()) * w for i in range(0, len(x) - n + 1, n // 2)]
    P = np.mean([abs(np.fft.rfft(s)) ** 2 for s in segs], 0) / (w ** 2).sum() / FS * 2
    return np.fft.rfftfreq(n, 1 / FS), P


def kurtosis(x):
    x = x - x.mean()
    return (x ** 4).mean() / (x ** 2).mean() ** 2 - 3


def fftfilt(x, gain):
    X = np.fft.rfft(x)
    return np.fft.irfft(X * gain(np.fft.rfftfreq(len(x), 1 / FS)), len(x))


def envelope_spectrum(x, lo=2000, hi=5000):
    """Magnitude spectrum of the envelope of x band-passed to [lo, hi] Hz."""
    X = np.fft.fft(x - x.mean())
    f = np.fft.fftfreq(len(x), 1 / FS)
    e = abs(np.fft.ifft(X * ((f >= lo) & (f <= hi)) * 2.0))
    e = (e - e.mean()) * np.hanning(len(e))
    return np.fft.rfftfreq(len(x), 1 / FS), abs(np.fft.rfft(e))


def line_amps(x, freqs, search=15.0, n=131072):
    """Amplitude (g) and frequency of the strongest line within +-search Hz."""
    x = x - x.mean()
    n = min(n, 1 << int(np.log2(len(x))))
    w = np.hanning(n)
    X = abs(np.fft.rfft(x[:n] * w)) * 2 / w.sum()
    f = np.fft.rfftfreq(n, 1 / FS)
    out = []
    for f0 in freqs:
        m = abs(f - f0) <= search
        i = np.argmax(X[m])
        out.append((f[m][i], X[m][i]))
    return out


def resonance(x):
    """Peak of the smoothed PSD (1024-point Welch, 47 Hz) in 1-10 kHz, its
    half-power bandwidth and the ring-down time 1 / (pi bandwidth)."""
    f, P = welch(x, 1024)
    P = np.convolve(P, np.ones(3) / 3, "same")
    m = (f > 1000) & (f < 10000)
    i = int(np.argmax(np.where(m, P, 0)))
    half = P[i] / 2
    lo = i
    while P[lo] > half:
        lo -= 1
    hi = i
    while P[hi] > half:
        hi += 1
    df = f[1]
    flo = f[lo] + (half - P[lo]) / (P[lo + 1] - P[lo]) * df
    fhi = f[hi - 1] + (P[hi - 1] - half) / (P[hi - 1] - P[hi]) * df
    return f[i], fhi - flo


def stats(x, rpm=RPM):
    x = np.asarray(x, np.float64)
    xc = x - x.mean()
    rms = xc.std()
    f, P = welch(x)
    e = np.array([P[(f >= a) & (f < b)].sum() for a, b in BANDS])
    fres, bw = resonance(x)
    fe, E = envelope_spectrum(x[:min(len(x), 4 * FS)])
    m = (fe > 50) & (fe < 500)
    fr = rpm / 60
    shaft = [a for _, a in line_amps(x, [h * fr for h in (1, 2, 4)], search=0.5)]
    rig = [a for _, a in line_amps(x, [4144.4, 8408.6])]
    floor = 10 * np.log10(np.median(P[(f >= 10000) & (f < 20000)]))
    nw = len(x) // 1024
    wr = xc[:nw * 1024].reshape(nw, 1024).std(1)
    n5 = min(len(x), 5 * FS)   # crest over 5 s, the length of the recordings
    return dict(rms=rms, kurt=kurtosis(x), crest=abs(xc[:n5]).max() / xc[:n5].std(),
                peak=f[np.argmax(P)], res=fres, bw=bw, tau=1e3 / (np.pi * bw),
                bands=100 * e / e.sum(), env=fe[m][np.argmax(E[m])], shaft=shaft,
                rig=rig, floor=floor, wrms=(np.percentile(wr, 10), np.percentile(wr, 90)))


# ---------------------------------------------------------------- model

def H_mode(f, f0, tau, fs=FS):
    """y[k] = 2 p cos(w) y[k-1] - p^2 y[k-2] + sin(w) x[k] at frequency f."""
    w = 2 * np.pi * f0 / fs
    p = np.exp(-1 / (tau * fs))
    z1 = np.exp(-2j * np.pi * np.asarray(f, float) / fs)
    return np.sin(w) / (1 - 2 * p * np.cos(w) * z1 + p * p * z1 * z1)


def peak_gain(f0, tau, fs=FS):
    return abs(H_mode([f0], f0, tau, fs))[0]


def mode_response(f0, tau, n, fs=FS):
    """Impulse response of the resonator above: p^k sin(w (k + 1))."""
    w = 2 * np.pi * f0 / fs
    k = np.arange(n)
    return np.exp(-k / (tau * fs)) * np.sin(w * (k + 1))


def conv(x, h):
    n = len(x) + len(h)
    N = 1 << int(np.ceil(np.log2(n)))
    return np.fft.irfft(np.fft.rfft(x, N) * np.fft.rfft(h, N), N)[:len(x)]


def synth(C, fault, n, seed=0, rpm=RPM, fs=FS):
    """numpy model of the element for the calibration C (statistically the
    same as the C code, not sample-identical)."""
    rng = np.random.default_rng(seed)
    fr = rpm / 60
    t = np.arange(n) / fs
    x = np.zeros(n)
    for h, a in enumerate(C["shaft"]):
        x += a * np.cos(2 * np.pi * ((h + 1) * fr * t + rng.random()))
    for f0, a in zip(RIG_LINES, C["lines"][fault]):
        x += a * np.cos(2 * np.pi * (f0 * t + rng.random()))
    g = np.sqrt(C["bg_scale"][fault])
    x += g * C["floor"] * rng.standard_normal(n)
    for f0, tau, s in C["bg_modes"]:
        x += conv(g * s * rng.standard_normal(n), mode_response(f0, tau, min(n, int(40 * tau * fs) + 8)))
    F = C["fault"].get(fault)
    if F:
        u = F["random"] * rng.standard_normal(n)
        period = fs / (ORDER[fault] * fr)
        ti = rng.random() * period if F.get("impulses", True) else n
        while ti < n - 0.5:
            i = int(np.floor(ti + 0.5))
            tt = i / fs
            mod = (1 + F["m1"] * np.cos(2 * np.pi * fr * tt) + F["m2"] * np.cos(4 * np.pi * fr * tt)
                   + F["mc"] * np.cos(2 * np.pi * FTF_ORDER * fr * tt))
            u[i] += mod * (1 + F["spread"] * np.clip(rng.standard_normal(), -2, 2))
            ti += period * (1 + F["jitter"] * np.clip(rng.standard_normal(), -3, 3))
        L = int(40 * max(m[1] for m in F["modes"]) * fs) + 8
        h = sum(c * mode_response(f0, tau, L) for f0, tau, c in F["modes"])
        x += conv(u, h)
    return x


# ---------------------------------------------------------------- fitting

def bounded(u, lo, hi):
    return lo + (hi - lo) / (1 + np.exp(-np.clip(u, -50, 50)))


def unbounded(v, lo, hi):
    return -np.log((hi - lo) / (v - lo) - 1)


def lm(fun, p0, iters=600, lam=1e-2):
    """Levenberg-Marquardt with a forward-difference Jacobian."""
    p = np.array(p0, float)
    r = fun(p)
    cost = (r ** 2).sum()
    for _ in range(iters):
        J = np.empty((len(r), len(p)))
        for i in range(len(p)):
            d = np.zeros(len(p))
            d[i] = 1e-6
            J[:, i] = (fun(p + d) - r) / 1e-6
        A, g = J.T @ J, J.T @ r
        ok = False
        while lam < 1e10:
            pn = p + np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), -g)
            rn = fun(pn)
            cn = (rn ** 2).sum()
            if np.isfinite(cn) and cn < cost:
                ok = cost - cn > 1e-10 * cost
                p, r, cost, lam = pn, rn, cn, max(lam / 3, 1e-9)
                break
            lam *= 4
        if not ok:
            break
    return p, cost


def remove_lines(x, width=4.0):
    """x without its rig lines (spectral bins within +-width Hz zeroed)."""
    found = [f for f, _ in line_amps(x, RIG_LINES)]
    return fftfilt(x - x.mean(), lambda f: 1.0 - np.any([abs(f - f0) < width for f0 in found], axis=0))


BG_INIT = [375, 620, 1000, 1450, 2000, 2700, 3250, 4150, 5300, 6100, 6750, 8000, 11500, 13000, 19500]
FAULT_INIT = {
    "inner-race": [620, 1000, 1150, 1330, 1480, 1650, 1970, 2450, 2620, 2880, 3590, 4140, 4560, 7000, 8000],
    "outer-race": [480, 1400, 1940, 2480, 2800, 2900, 3340, 3450, 3550, 6200, 8000],
    "ball": [1100, 1450, 1950, 2500, 2620, 2860, 2950, 3260, 3370, 4500]}
# Measured on the impulses of the recordings (fit_modulation), rounded;
# spread and jitter: see docs/vibrationsrc.md.
SPREAD = {"inner-race": 0.10, "outer-race": 0.05, "ball": 0.10}
# Shortest ring-down of a fitted term: shorter ones only cancel each other.
TAU_MIN = 0.2e-3
JITTER = {"inner-race": 0.010, "outer-race": 0.006, "ball": 0.010}


def fit_background(log):
    """White floor + noise-driven modes on the PSD of 097 without its lines.
    Returns floor std and (f, tau, peak PSD dB) per mode."""
    f, P = welch(remove_lines(real("none")), 1024)
    m = (f >= 100) & (f <= 21000)
    fm, Pm = f[m], P[m]
    lo, hi = 0.05e-3, 20e-3

    def unpack(p):
        return p[0], [(bounded(p[1 + 3 * i], 0.85 * f0, 1.15 * f0), bounded(p[2 + 3 * i], lo, hi),
                       p[3 + 3 * i]) for i, f0 in enumerate(BG_INIT)]

    def model(p):
        L, modes = unpack(p)
        modes = [(f0, tau, min(Lm, 50.0)) for f0, tau, Lm in modes]
        out = 10 ** (L / 10) * np.ones_like(fm)
        for f0, tau, Lm in modes:
            out = out + 10 ** (Lm / 10) * (abs(H_mode(fm, f0, tau)) / peak_gain(f0, tau)) ** 2
        return out

    p0 = [10 * np.log10(Pm[-20:].mean())]
    for f0 in BG_INIT:
        p0 += [0.0, unbounded(0.5e-3, lo, hi), 10 * np.log10(np.interp(f0, fm, Pm)) - 3]
    p, cost = lm(lambda p: 10 * np.log10(model(p)) - 10 * np.log10(Pm), p0, 1000)
    L, modes = unpack(p)
    log(f"background: {len(modes)} modes, rms error {np.sqrt(cost / len(fm)):.2f} dB")
    return L, [md for md in modes if md[2] > -150]


def bg_psd(L, modes, f):
    """The fitted background PSD at the frequencies f."""
    out = 10 ** (L / 10) * np.ones_like(f)
    for f0, tau, Lm in modes:
        out = out + 10 ** (Lm / 10) * (abs(H_mode(f, f0, tau)) / peak_gain(f0, tau)) ** 2
    return out


def fit_fault(fault, L, bgmodes, log, ridge=3.0, trials=16):
    """Damped sinusoids (shared impulse, signed amplitudes) on the PSD of the
    recording above the background; for the ball also the level of the
    background. Returns (background power factor, [(f, tau, a)])."""
    f, P = welch(remove_lines(real(fault)), 1024)
    m = (f >= 100) & (f <= 21000)
    fm, Pm = f[m], P[m]
    bg = bg_psd(L, bgmodes, fm)
    W = np.where(fm < 6000, 1.0, 0.5)
    init = FAULT_INIT[fault]
    fit_hi = fault == "ball"
    tlo, thi = TAU_MIN, 10e-3

    def unpack(p):
        b = bounded(p[0], 0.05, 1.0) if fit_hi else 1.0
        return b, [(bounded(p[1 + 3 * i], 0.9 * f0, 1.1 * f0), bounded(p[2 + 3 * i], tlo, thi),
                    p[3 + 3 * i]) for i, f0 in enumerate(init)]

    z1 = np.exp(-2j * np.pi * fm / FS)[None, :]

    def res(p):
        b, modes = unpack(p)
        f0, tau, amp = (np.array(v)[:, None] for v in zip(*modes))
        w = 2 * np.pi * f0 / FS
        q = np.exp(-1 / (tau * FS))
        zw = np.exp(-1j * w)
        peak = np.sin(w) / abs((1 - q * zw * np.exp(1j * w)) * (1 - q * zw * np.exp(-1j * w)))
        H = np.sin(w) / (1 - 2 * q * np.cos(w) * z1 + q * q * z1 * z1) / peak
        h = (amp * 1e-3 * H).sum(0)
        r = W * (10 * np.log10(b * bg + abs(h) ** 2) - 10 * np.log10(Pm))
        a = np.array([md[2] for md in modes])
        return np.concatenate([r, ridge * a / (np.sqrt(Pm.max()) * 1e3)])

    best = None
    for trial in range(trials):
        rng = np.random.default_rng(trial)
        p0 = [0.0]
        for f0 in init:
            amp = np.sqrt(max(np.interp(f0, fm, Pm) - np.interp(f0, fm, bg), 1e-12)) * 1e3 / 2
            p0 += [0.0, unbounded(1e-3, tlo, thi), (1 if trial == 0 else rng.choice([-1, 1])) * amp]
        p, cost = lm(res, p0, 600)
        if best is None or cost < best[1]:
            best = (p, cost)
    p, cost = best
    b, modes = unpack(p)
    err = np.sqrt(((res(p)[:len(fm)] / W) ** 2).mean())
    log(f"{fault}: {len(modes)} modes, rms error {err:.2f} dB, background x{b:.3f}")
    am = max(abs(md[2]) for md in modes)
    return b, [(f0, tau, a / am / peak_gain(f0, tau)) for f0, tau, a in modes]


def detect_impulses(x, fault):
    """Envelope peaks of the impulses (1.5-6 kHz), at least 0.6 period apart."""
    period = FS / (ORDER[fault] * RPM / 60)
    X = np.fft.fft(x - x.mean())
    f = np.fft.fftfreq(len(x), 1 / FS)
    e = abs(np.fft.ifft(X * ((f >= 1500) & (f <= 6000)) * 2.0))
    e = np.convolve(e, np.ones(9) / 9, "same")
    taken = np.zeros(len(x), bool)
    md = int(0.6 * period)
    thr = 2 * np.median(e)
    peaks = []
    for i in np.argsort(-e):
        if e[i] < thr:
            break
        if not taken[max(0, i - md):i + md].any():
            peaks.append(i)
            taken[i] = True
    peaks = np.array(sorted(peaks))
    return peaks, e[peaks]


def fit_modulation(fault):
    """Depth of the modulation of the impulse envelopes at f_r, 2 f_r, FTF."""
    t, a = detect_impulses(real(fault), fault)
    t = t / FS
    fr = RPM / 60
    out = {}
    for name, fm in (("m1", fr), ("m2", 2 * fr), ("mc", FTF_ORDER * fr)):
        th = 2 * np.pi * fm * t
        A = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], 1)
        c, *_ = np.linalg.lstsq(A, a, rcond=None)
        out[name] = np.hypot(c[1], c[2]) / c[0]
    return out


def set_level(C, fault, q, n=10 * FS):
    """Scales impulses and random excitation: the RMS of the recording, a
    share q of the fault energy from the impulses."""
    F = C["fault"][fault]
    base = copy.deepcopy(C)
    base["fault"] = {}
    pb = synth(base, fault, n, seed=1).var()
    alone = copy.deepcopy(C)   # the fault part alone
    alone.update(shaft=[], floor=0.0, bg_modes=[], lines={fault: [0.0] * len(RIG_LINES)})
    D = copy.deepcopy(alone)
    D["fault"][fault].update(random=0.0)
    p_imp = synth(D, fault, n, seed=1).var()
    D = copy.deepcopy(alone)
    D["fault"][fault].update(random=1.0, impulses=False)
    p_rnd = synth(D, fault, n, seed=1).var()
    target = real(fault).var() - pb
    si = np.sqrt(q * target / p_imp)
    sr = np.sqrt((1 - q) * target / p_rnd)
    F["modes"] = [(f0, tau, c * si) for f0, tau, c in F["modes"]]
    F["random"] = sr / si


def fit_all(log):
    C = {"shaft": [], "lines": {}, "bg_scale": {}, "fault": {}}
    x = real("none") - real("none").mean()
    fr = RPM / 60
    C["shaft"] = [a for _, a in line_amps(x, [h * fr for h in range(1, 7)], search=0.5)]
    for fault in FAULTS:
        C["lines"][fault] = [a for _, a in line_amps(real(fault), RIG_LINES)]
    L, bgmodes = fit_background(log)
    C["floor"] = np.sqrt(10 ** (L / 10) * FS / 2)
    C["bg_modes"] = [(f0, tau, np.sqrt(10 ** (Lm / 10) * FS / 2) / peak_gain(f0, tau))
                     for f0, tau, Lm in bgmodes]
    C["bg_scale"] = {fault: 1.0 for fault in FAULTS}
    for fault in FAULTS[1:]:
        b, modes = fit_fault(fault, L, bgmodes, log)
        C["bg_scale"][fault] = b
        mod = fit_modulation(fault)
        log(f"{fault}: modulation at f_r {mod['m1']:.3f}, 2 f_r {mod['m2']:.3f}, FTF {mod['mc']:.3f}")
        F = dict(modes=modes, spread=SPREAD[fault], jitter=JITTER[fault], random=0.0,
                 m1=round(mod["m1"], 2) if fault != "ball" else 0.0,
                 m2=round(mod["m2"], 2) if fault != "ball" else 0.0,
                 mc=round(mod["mc"], 2) if fault == "ball" else 0.0)
        C["fault"][fault] = F
        target = kurtosis(real(fault))
        lo, hi = 0.0, 1.0
        for _ in range(9):
            q = 0.5 * (lo + hi)
            D = copy.deepcopy(C)
            set_level(D, fault, q)
            k = np.mean([kurtosis(synth(D, fault, 10 * FS, seed=s)) for s in (1, 2)])
            lo, hi = (q, hi) if k < target else (lo, q)
        q = 0.5 * (lo + hi)
        set_level(C, fault, q)
        C["fault"][fault]["q"] = q
        log(f"{fault}: impulse share of the fault energy {q:.3f} (kurtosis {target:.2f})")
    # The healthy background's standard deviation: the default of `noise`.
    C["noise"] = np.sqrt(C["floor"] ** 2 + sum(
        (s ** 2) * (mode_response(f0, tau, int(40 * tau * FS) + 8) ** 2).sum()
        for f0, tau, s in C["bg_modes"]))
    return C


def print_tables(C):
    """The calibration as the C tables of gstvibrationsrc.c."""
    p = print
    p(f"#define N_HARMONICS {len(C['shaft'])}")
    p(f"#define N_LINES {len(RIG_LINES)}")
    p(f"#define DEFAULT_NOISE {C['noise']:.4f}")
    p(f"#define FLOOR_STD {C['floor']:.6f}")
    p()
    p("/* Shaft harmonics 1-%d x f_r (g). */" % len(C["shaft"]))
    p("static const double shaft_amp[N_HARMONICS] = { "
      + ", ".join(f"{a:.4f}" for a in C["shaft"]) + " };")
    p()
    p("/* Rig lines (Hz). */")
    p("static const double rig_line_hz[N_LINES] = { " + ", ".join(f"{f:.1f}" for f in RIG_LINES) + " };")
    p()
    p("/* Background modes: frequency, time constant, input std at 48 kHz. */")
    p("static const Mode bg_modes[] = {")
    for f0, tau, s_ in C["bg_modes"]:
        p(f"  {{ {f0:.1f}, {tau * 1e3:.4f}e-3, {s_:.6f} }},")
    p("};")
    for fault in FAULTS[1:]:
        F = C["fault"][fault]
        name = fault.replace("-", "_")
        p()
        p(f"/* {fault}: frequency, time constant, amplitude (g) per impulse. */")
        p(f"static const Mode {name}_modes[] = {{")
        for f0, tau, c in F["modes"]:
            p(f"  {{ {f0:.1f}, {tau * 1e3:.4f}e-3, {c:.5f} }},")
        p("};")
    p("@@CALIB@@")
    p("static const Calibration cwru_0_007[] = {")
    for fault in FAULTS:
        F = C["fault"].get(fault)
        lines = "{ " + ", ".join(f"{a:.4f}" for a in C["lines"][fault]) + " }"
        if F is None:
            p(f"  /* {fault} */ {{ NULL, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, {lines} }},")
            continue
        name = fault.replace("-", "_")
        p(f"  /* {fault} (q = {F['q']:.3f}) */ {{ {name}_modes, G_N_ELEMENTS ({name}_modes), "
          f"{F['m1']:.2f}, {F['m2']:.2f}, {F['mc']:.2f}, {F['spread']:.2f}, {F['jitter']:.3f}, "
          f"{F['random']:.5f}, {C['bg_scale'][fault]:.4f}, {lines} }},")
    p("};")


# ---------------------------------------------------------------- element

def plugin_env(builddir):
    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = os.path.join(builddir, "gst-plugin")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def element(builddir, props, seconds):
    """Runs vibrationsrc with props for `seconds` s at 48 kHz; the samples."""
    fd, path = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        n = int(round(seconds * FS / 1024))
        cmd = ["gst-launch-1.0", "-q", "vibrationsrc", *props, f"num-buffers={n}", "!",
               "wavenc", "!", "filesink", f"location={path}"]
        subprocess.run(cmd, check=True, env=plugin_env(builddir), stdout=subprocess.DEVNULL)
        return read_wav(path)
    finally:
        os.unlink(path)


def classify(builddir, props, seconds):
    """Per-window classes of the embedded default model (seqdream defaults)."""
    n = int(round(seconds * FS / 1024))
    cmd = ["gst-launch-1.0", "-m", "vibrationsrc", *props, f"num-buffers={n}", "!", "seqdream",
           "!", "fakesink"]
    out = subprocess.run(cmd, check=True, env=plugin_env(builddir), capture_output=True,
                         text=True).stdout
    return collections.Counter(re.findall(r"class=\(string\)([a-z_]+)", out))


def predict(builddir, x):
    """Per-window classes (window 1024, hop 512) of models/cwru-resnet-small
    for the signal x, with the seqdream command line."""
    fd, path = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        d = np.asarray(x, "<f4").tobytes()
        hdr = (b"RIFF" + (36 + len(d)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
               + (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + FS.to_bytes(4, "little")
               + (4 * FS).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
               + b"data" + len(d).to_bytes(4, "little"))
        open(path, "wb").write(hdr + d)
        out = subprocess.run(
            [os.path.join(builddir, "tools", "seqdream"), "predict", "--model",
             os.path.join(ROOT, "models", "cwru-resnet-small.safetensors"), "--wav", path + "=normal",
             "--window", "1024", "--hop", "512", "--part", "all", "--json", "--threads", "1"],
            check=True, capture_output=True, text=True).stdout
        return collections.Counter(re.findall(r'"class":"([a-z_]+)"', out))
    finally:
        os.unlink(path)


def notch(freqs, width=30.0):
    return lambda f: 1.0 - np.any([abs(f - f0) < width for f0 in freqs], axis=0)


PROBES = [
    ("as recorded", lambda x: x),
    ("mean removed", lambda x: x - x.mean()),
    ("amplitude x0.5", lambda x: 0.5 * x),
    ("amplitude x2", lambda x: 2 * x),
    ("rig lines notched (+-30 Hz)", lambda x: fftfilt(x, notch([f for f, _ in line_amps(x, RIG_LINES)]))),
    ("4.02-4.38 kHz lines notched", lambda x: fftfilt(x, notch([f for f, _ in line_amps(x, RIG_LINES[:4])]))),
    ("8.41 kHz line notched", lambda x: fftfilt(x, notch([f for f, _ in line_amps(x, RIG_LINES[4:])]))),
    ("above 5 kHz removed", lambda x: fftfilt(x, lambda f: (f <= 5000).astype(float))),
    ("5-10 kHz removed but the 8.41 kHz line",
     lambda x: fftfilt(x, lambda f: ((f <= 5000) | (f > 10000) | (abs(f - 8408.6) < 30)).astype(float))),
    ("2-5 kHz only", lambda x: fftfilt(x, lambda f: ((f >= 2000) & (f <= 5000)).astype(float))),
]


def fmt_row(name, s):
    b = "/".join(f"{v:.1f}" for v in s["bands"])
    return (f"| {name} | {s['rms']:.3f} | {s['kurt']:.2f} | {s['crest']:.1f} | {s['peak']:.0f} | "
            f"{s['res']:.0f} / {s['bw']:.0f} ({s['tau']:.2f}) | {b} | {s['env']:.1f} | "
            + " / ".join(f"{a * 1e3:.1f}" for a in s["shaft"]) + " | "
            + " / ".join(f"{a * 1e3:.1f}" for a in s["rig"]) + f" | {s['floor']:.0f} | "
            f"{s['wrms'][0]:.3f}-{s['wrms'][1]:.3f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--builddir", default="build")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--fit", action="store_true", help="derive the tables of gstvibrationsrc.c")
    ap.add_argument("--classify", action="store_true", help="class counts of the default model")
    ap.add_argument("--rig-tones", choices=["true", "both"], default="true")
    ap.add_argument("--severity", default="1", help="comma-separated severities for --classify")
    ap.add_argument("--no-table", action="store_true", help="skip the statistics table")
    ap.add_argument("--probe", action="store_true",
                    help="classify altered real recordings (seqdream predict)")
    a = ap.parse_args()
    builddir = os.path.abspath(a.builddir)

    if a.fit:
        print_tables(fit_all(lambda s: print("# " + s, file=sys.stderr)))
        return

    seeds = [int(s) for s in a.seeds.split(",")]
    if a.probe:
        print("| signal | change | windows | " + " | ".join(CLASSES) + " |")
        print("|" + "---|" * (3 + len(CLASSES)))
        for fault in FAULTS:
            signals = [(f"{RECORDING[fault][:3]} (real)", real(fault))]
            signals += [(f"fault={fault} seed={seed}",
                         element(builddir, [f"fault={fault}", f"seed={seed}"], a.seconds))
                        for seed in seeds[:1]]
            for label, x in signals:
                for name, change in PROBES:
                    c = predict(builddir, change(x))
                    print(f"| {label} | {name} | {sum(c.values())} | "
                          + " | ".join(str(c.get(k, 0)) for k in CLASSES) + " |")
                    sys.stdout.flush()
        return
    if not a.no_table:
        print("| signal | RMS (g) | kurtosis | crest | PSD peak (Hz) | resonance / -3 dB "
              "bandwidth (Hz) (ring-down ms) | energy % 0-0.5/0.5-2/2-5/5-10/10-24 kHz | "
              "envelope peak (Hz) | shaft 1x/2x/4x (mg) | lines 4144/8409 Hz (mg) | "
              "floor 10-20 kHz (dB g²/Hz) | 1024-window RMS p10-p90 |")
        print("|" + "---|" * 13)
        for fault in FAULTS:
            print(fmt_row(f"{RECORDING[fault][:3]} {RECORDING[fault].split('_')[1]} (real)",
                          stats(real(fault))))
            for seed in seeds:
                x = element(builddir, [f"fault={fault}", f"seed={seed}"], a.seconds)
                print(fmt_row(f"fault={fault} seed={seed}", stats(x)))
    if a.classify:
        print()
        print("| fault | severity | rig-tones | seed | windows | " + " | ".join(CLASSES) + " |")
        print("|" + "---|" * (5 + len(CLASSES)))
        for tones in (["true", "false"] if a.rig_tones == "both" else ["true"]):
            for sev in a.severity.split(","):
                for fault in FAULTS:
                    if fault == "none" and sev != a.severity.split(",")[0]:
                        continue
                    for seed in seeds:
                        c = classify(builddir, [f"fault={fault}", f"seed={seed}", f"severity={sev}",
                                                f"rig-tones={tones}"], a.seconds)
                        print(f"| {fault} | {sev} | {tones} | {seed} | {sum(c.values())} | "
                              + " | ".join(str(c.get(k, 0)) for k in CLASSES) + " |")
                        sys.stdout.flush()


if __name__ == "__main__":
    main()
