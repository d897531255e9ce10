#!/usr/bin/env python3
"""Regenerates docs/forda-report.md and its figures: Sequence Dreaming on
the FordA resnet-small model with the seqdream command line.

    scripts/forda-report.py [--builddir build] [--seeds 20] [--jobs 2]
                            [--reuse] [--judge MODEL ...]

Needs the built `seqdream`, models/forda-resnet-small.safetensors, the
second model models/forda-fcn-small.safetensors and the FordA data under
$SEQDREAM_DATA (default ../shared/data). --judge adds further independently
trained models whose verdicts on the centered dreams are reported beside the
second model's (they are never used in the dreaming). Python standard
library only.
"""
import argparse, cmath, json, math, os, random, statistics as st, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("SEQDREAM_DATA", os.path.join(ROOT, "..", "shared", "data"))
TRAIN = os.path.join(DATA, "forda", "FordA_TEST_partial.tsv")   # 2015 orientation
TEST = os.path.join(DATA, "forda", "FordA_TRAIN_partial.tsv")
MODEL = os.path.join(ROOT, "models", "forda-resnet-small.safetensors")
SECOND = os.path.join(ROOT, "models", "forda-fcn-small.safetensors")
FIG = os.path.join(ROOT, "docs", "figures", "forda")

# The preset before the spectral filter (Gaussian smoothing), spelled out.
OLD_REC = ["--reg", "gaussian:param=1,every=1", "--clip", "auto", "--jitter", "8",
           "--lr", "0.2", "--steps", "1000"]
REC = ["--preset", "recommended"]

# (name, what it is, options), centered and border dreams of both classes.
# Each regulariser alone uses the engine's defaults (docs/dreaming.md).
CONFIGS = [
    ("none", "no regulariser", []),
    ("l1", "L1 penalty, weight 1", ["--l1", "1"]),
    ("l2", "L2 penalty, weight 1", ["--l2", "1"]),
    ("tv", "total variation, weight 1", ["--tv", "1"]),
    ("tv2", "squared total variation, weight 1", ["--tv2", "1"]),
    ("exp-smooth", "causal exponential smoothing, alpha 0.8 every 10 steps", ["--exp-smooth", "0.8"]),
    ("exp-smooth-zerophase", "zero-phase exponential smoothing, alpha 0.8 every 10 steps", ["--exp-smooth-zerophase", "0.8"]),
    ("gaussian", "Gaussian filter, sigma 0.7 every 10 steps", ["--gaussian", "0.7"]),
    ("gaussian-1", "Gaussian filter, sigma 1 every step", ["--reg", "gaussian:param=1,every=1"]),
    ("clip", "clip to the training range", ["--clip", "auto"]),
    ("jitter", "random circular shift up to 8 samples", ["--jitter", "8"]),
    ("spectrum", "log-spectrum penalty against the mean class spectrum, weight 10, floor 1e-4", ["--reg", "spectrum:weight=10"]),
    ("recommended-old", "the previous preset: Gaussian sigma 1 every step, clip, jitter 8, lr 0.2, 1000 steps", OLD_REC),
    ("recommended", "--preset recommended: Wiener filter of the mean class spectrum, 40 dB, every step", REC),
]

# Candidates for dreams that transfer to the second model: centered dreams
# of both classes. (group, name, what it is, options)
TRANSFER = [
    ("spectral", "spectrum-1", "log-spectrum penalty, weight 1, floor 1e-4", ["--reg", "spectrum:weight=1"]),
    ("spectral", "spectrum-deep", "log-spectrum penalty, weight 1, floor 1e-9 (down to the stop band)", ["--reg", "spectrum:weight=1,param=1e-9"]),
    ("spectral", "spectral-filter-30", "spectral filter, 30 dB", ["--reg", "spectral-filter:param=30"]),
    ("spectral", "spectral-filter-50", "spectral filter, 50 dB", ["--reg", "spectral-filter:param=50"]),
    ("spectral", "spectral-filter-class", "spectral filter of the dreamed class's own spectrum (param2=1), 40 dB", ["--reg", "spectral-filter:param2=1"]),
    ("preconditioning", "precondition", "spectral filter (40 dB) on the gradient, Adam", ["--reg", "spectral-filter:apply=gradient"]),
    ("preconditioning", "precondition-normalized", "the same from zeros with normalised steps (the step keeps the filtered gradient's spectrum)",
     ["--reg", "spectral-filter:apply=gradient", "--init", "zeros", "--optimizer", "normalized"]),
    ("robustness", "noise-0.5", "Gaussian noise transform, sd 0.5", ["--reg", "noise:param=0.5"]),
    ("robustness", "noise-1", "Gaussian noise transform, sd 1", ["--reg", "noise:param=1"]),
    ("robustness", "jitter-50", "random circular shift up to 50 samples", ["--jitter", "50"]),
    ("robustness", "scale", "random amplitude factor in [0.5, 1.5]", ["--scale", "0.5:1.5"]),
    ("robustness", "old+noise", "the previous preset with a noise transform of sd 0.3", OLD_REC + ["--reg", "noise:param=0.3"]),
    ("objective", "probability", "objective p instead of the logit", ["--objective", "probability"]),
    ("objective", "log-probability", "objective log p", ["--objective", "log-probability"]),
    ("objective", "stop-0.99", "logit, stop at p >= 0.99", ["--stop-probability", "0.99"]),
    ("objective", "old+stop-0.99", "the previous preset, stop at p >= 0.99", OLD_REC + ["--stop-probability", "0.99"]),
    ("objective", "recommended+log-probability", "the recommended preset with objective log p", REC + ["--objective", "log-probability"]),
    ("objective", "recommended+stop-0.99", "the recommended preset, stop at p >= 0.99", REC + ["--stop-probability", "0.99"]),
    ("control", "filter-only", "control: the spectral filter once, without ascent (one step of lr 1e-9 from noise)", ["--reg", "spectral-filter", "--steps", "1", "--lr", "1e-9"]),
    ("control", "filter-only-500", "control: the spectral filter 500 times, without ascent (lr 1e-9)", ["--reg", "spectral-filter", "--lr", "1e-9"]),
]
# Dreams started from real training series, 100 steps: (name, what, options, init class)
INITS = [
    ("init-own", "from a real series of the dreamed class, 100 steps, no regulariser", ["--steps", "100"], "own"),
    ("init-other", "from a real series of the other class, 100 steps, no regulariser", ["--steps", "100"], "other"),
    ("init-own+rec", "from a real series of the dreamed class, 100 steps, recommended preset", REC + ["--steps", "100"], "own"),
    ("init-other+rec", "from a real series of the other class, 100 steps, recommended preset", REC + ["--steps", "100"], "other"),
]

REUSE = False
LABELS = ["-1", "1"]
OTHER = {"-1": "1", "1": "-1"}


def run(sd, args):
    if REUSE and "--json" in args and os.path.exists(args[args.index("--json") + 1]):
        return ""
    r = subprocess.run([sd] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"forda-report: {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def dreams_of(path):
    d = json.load(open(path))
    return d["dreams"] if "dreams" in d else [d]


def med(ds, key):
    v = [x["metrics"].get(key) for x in ds]
    v = [x for x in v if x is not None]
    return st.median(v) if v else float("nan")


def load_ucr(path):
    rows = []
    for line in open(path):
        f = line.split()
        if f:
            rows.append((f[0], [float(v) for v in f[1:]]))
    return rows


def znorm(x):
    m = sum(x) / len(x)
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / len(x))
    return [(v - m) / sd for v in x]


def band_share(x, lo, hi=None):
    """Share of the normalised (Hann-windowed, mean-free) power spectrum of x
    in bins lo .. hi - 1 (default: up to T/2; docs/dreaming.md); direct DFT
    of those bins only, the total from Parseval."""
    T = len(x)
    m = sum(x) / T
    c = [(v - m) * (0.5 - 0.5 * math.cos(2 * math.pi * t / T)) for t, v in enumerate(x)]
    total = T * sum(v * v for v in c)
    tw = [cmath.exp(-2j * math.pi * k / T) for k in range(T)]
    s = 0.0
    for k in range(lo, T // 2 + 1 if hi is None else hi):
        acc = 0j
        for t, v in enumerate(c):
            acc += v * tw[(k * t) % T]
        s += (1 if k == 0 or 2 * k == T else 2) * abs(acc) ** 2
    return s / total if total > 0 else float("nan")


def dtw(a, b, band):
    """DTW of docs/metrics.md: sqrt of the summed squared differences along
    the best path, Sakoe-Chiba band."""
    n, m = len(a), len(b)
    inf = float("inf")
    prev = [inf] * (m + 1)
    prev[0] = 0.0
    for i in range(1, n + 1):
        cur = [inf] * (m + 1)
        for j in range(max(1, i - band), min(m, i + band) + 1):
            d = (a[i - 1] - b[j - 1]) ** 2
            cur[j] = d + min(prev[j], prev[j - 1], cur[j - 1])
        prev = cur
    return math.sqrt(prev[m])


def summarise(ds, mode, judges=None, cls=None):
    p = [x["probability"] for x in ds]
    row = {
        "n": len(ds),
        "p_med": st.median(p),
        "p_min": min(p),
        "steps": st.median(x["steps"] for x in ds),
        # returned sequences from the first 10 steps: the starting noise, barely changed
        "early": sum(1 for x in ds if x.get("best_step", x["steps"]) <= 10),
        "nn": med(ds, "nn_euclidean_ratio"),
        "dtw": med(ds, "nn_dtw_ratio"),
        "spec": med(ds, "spectral_distance"),
        "tv": med(ds, "tv_ratio"),
        "agree": sum(1 for x in ds if x["metrics"].get("second_model_agrees")) / len(ds),
    }
    if mode == "centered":
        row["reached"] = sum(1 for x in p if x >= 0.99) / len(p)
    else:
        row["reached"] = sum(1 for x in p if abs(x - 0.5) <= 0.01) / len(p)
    row["judges"] = [j(ds, cls) for j in (judges or [])]
    return row


def predict_share(sd, model, series, label, tmp, tag):
    """Share of the series the model assigns to class `label`."""
    path = os.path.join(tmp, f"probe_{tag}_{os.path.basename(model)}.tsv")
    with open(path, "w") as f:
        for x in series:
            f.write(label + "\t" + "\t".join(f"{v:.7g}" for v in x) + "\n")
    out = run(sd, ["predict", "--model", model, "--data", path, "--json", "-j", "1"])
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return sum(1 for r in rows if r["class"] == label) / len(rows)


def predict_margin(sd, model, series, tmp, tag):
    """Median logit margin z_1 - z_-1 of the model over the series."""
    path = os.path.join(tmp, f"margin_{tag}_{os.path.basename(model)}.tsv")
    with open(path, "w") as f:
        for x in series:
            f.write("1\t" + "\t".join(f"{v:.7g}" for v in x) + "\n")
    out = run(sd, ["predict", "--model", model, "--data", path, "--json", "-j", "1"])
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return st.median(r["logits"][1] - r["logits"][0] for r in rows)


def lowpass(x, cutoff, taps=101):
    """Zero-phase windowed-sinc (Hamming) low-pass, cutoff in cycles per
    sample, reflected at the ends."""
    h = []
    R = taps // 2
    for k in range(-R, R + 1):
        s = 2 * cutoff if k == 0 else math.sin(2 * math.pi * cutoff * k) / (math.pi * k)
        h.append(s * (0.54 + 0.46 * math.cos(math.pi * k / R)))
    z = sum(h)
    h = [v / z for v in h]
    T = len(x)
    pad = x[R:0:-1] + x + x[-2:-R - 2:-1]
    return [sum(h[k] * pad[t + k] for k in range(taps)) for t in range(T)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--builddir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="dream runs at once (each one thread)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep dream JSON files of an earlier run (in BUILDDIR/forda-report)")
    ap.add_argument("--judge", action="append", default=[],
                    help="a further independently trained FordA model whose verdict on the centered "
                         "dreams is reported (repeatable; never used in the dreaming)")
    a = ap.parse_args()
    global REUSE
    REUSE = a.reuse
    sd = os.path.join(a.builddir, "tools", "seqdream")
    for f in [sd, MODEL, SECOND, TRAIN, TEST] + a.judge:
        if not os.path.exists(f):
            sys.exit(f"forda-report: {f} is missing")
    os.makedirs(FIG, exist_ok=True)
    t0 = time.time()
    tmp = os.path.join(a.builddir, "forda-report")
    os.makedirs(tmp, exist_ok=True)
    common = ["--model", MODEL, "--reference", TRAIN, "--second-model", SECOND,
              "--batch", str(a.seeds), "--seed", "1", "-q", "-j", "1"]
    pool = ThreadPoolExecutor(max_workers=max(1, a.jobs))

    # ---- every dream run, in parallel ----
    jobs = {}

    def submit(key, path, args):
        jobs[key] = (path, pool.submit(run, sd, args))

    for name, _, opts in CONFIGS:
        for cls in LABELS:
            for mode in ("centered", "border"):
                out = os.path.join(tmp, f"{name}_{mode}_{cls}.json")
                submit((name, mode, cls), out,
                       ["dream", f"--class={cls}", "--mode", mode, "--json", out] + common + opts)
    for _, name, _, opts in TRANSFER:
        for cls in LABELS:
            out = os.path.join(tmp, f"{name}_centered_{cls}.json")
            submit((name, "centered", cls), out,
                   ["dream", f"--class={cls}", "--json", out] + common + opts)
    for name, _, opts, which in INITS:
        for cls in LABELS:
            src = cls if which == "own" else OTHER[cls]
            out = os.path.join(tmp, f"{name}_centered_{cls}.json")
            submit((name, "centered", cls), out,
                   ["dream", f"--class={cls}", "--init", f"sample:{TRAIN}:{src}", "--json", out]
                   + common + opts)
    # dreams from real held-out series toward the other class
    for cls, other in (("-1", "1"), ("1", "-1")):
        out = os.path.join(tmp, f"towards_{other}.json")
        submit(("towards", cls, other), out,
               ["dream", f"--class={other}", "--init", f"sample:{TEST}:{cls}",
                "--stop-probability", "0.99", "--json", out] + common[:6]
               + ["--batch", "5", "--seed", "1", "-q", "-j", "1"] + REC)
    for key, (path, fut) in jobs.items():
        fut.result()

    # ---- further judges: their verdict on the centered dreams ----
    judge_names = [os.path.basename(j).replace(".safetensors", "") for j in a.judge]

    def judge_fn(model):
        def f(ds, cls):
            seqs = [x["sequence"] for x in ds]
            return predict_share(sd, model, seqs, cls, tmp, f"judge_{id(ds)}")
        return f
    judges = [judge_fn(j) for j in a.judge]

    table = {}
    for key, (path, _) in jobs.items():
        if key[0] == "towards":
            continue
        name, mode, cls = key
        table[key] = summarise(dreams_of(path), mode, judges if mode == "centered" else None, cls)
    towards = {}
    for cls, other in (("-1", "1"), ("1", "-1")):
        towards[(cls, other)] = summarise(dreams_of(jobs[("towards", cls, other)][0]), "centered")

    # how far dreams from real series moved from their start
    train = load_ucr(TRAIN)
    moved = {}
    for name, _, _, _ in INITS:
        for cls in LABELS:
            ds = dreams_of(jobs[(name, "centered", cls)][0])
            eu, dt = [], []
            for x in ds:
                x0 = znorm(train[x["init_row"]][1])
                m = x["metrics"]
                typ_e = m["nn_euclidean"] / m["nn_euclidean_ratio"]
                typ_d = m["nn_dtw"] / m["nn_dtw_ratio"]
                seq = x["sequence"]
                eu.append(math.sqrt(sum((u - v) ** 2 for u, v in zip(seq, x0))) / typ_e)
                dt.append(dtw(seq, x0, round(0.1 * len(seq))) / typ_d)
            moved[(name, cls)] = (st.median(eu), st.median(dt))

    # ---- why: what the two models read (held-out test series) ----
    test = load_ucr(TEST)
    rnd = random.Random(1)
    pos = [znorm(x) for l, x in test if l == "1"]
    neg = [znorm(x) for l, x in test if l == "-1"]
    probes = [
        ("real class 1 series", pos, "1"),
        ("class 1 + white noise of sd 0.01 (-40 dB)", [[v + rnd.gauss(0, 0.01) for v in x] for x in pos], "1"),
        ("class 1 + white noise of sd 0.03 (-30 dB)", [[v + rnd.gauss(0, 0.03) for v in x] for x in pos], "1"),
        ("real class -1 series", neg, "1"),
        ("class -1, low-passed at 0.12 cycles/sample (bin 60)", [lowpass(x, 0.12) for x in neg], "1"),
        ("class -1, low-passed at 0.10 cycles/sample (bin 50)", [lowpass(x, 0.10) for x in neg], "1"),
    ]
    probe_models = [("resnet-small", MODEL), ("fcn-small", SECOND)] + list(zip(judge_names, a.judge))
    probe_rows = []
    futs = []
    for i, (what, series, label) in enumerate(probes):
        futs.append([pool.submit(predict_share, sd, m, series, label, tmp, f"p{i}") for _, m in probe_models])
    for (what, _, _), fs in zip(probes, futs):
        probe_rows.append((what, [f.result() for f in fs]))
    # logit margins: what the ascent adds beyond the filter
    margin_sets = [
        ("real held-out class 1 series", pos),
        ("real held-out class -1 series", neg),
        ("control: filter only, 500 steps (its most class-1 point)",
         [x["sequence"] for x in dreams_of(jobs[("filter-only-500", "centered", "1")][0])]),
        ("recommended, class-1 dreams", [x["sequence"] for x in dreams_of(jobs[("recommended", "centered", "1")][0])]),
        ("recommended, class -1 dreams", [x["sequence"] for x in dreams_of(jobs[("recommended", "centered", "-1")][0])]),
        ("previous preset, class-1 dreams", [x["sequence"] for x in dreams_of(jobs[("recommended-old", "centered", "1")][0])]),
        ("no regulariser, class-1 dreams", [x["sequence"] for x in dreams_of(jobs[("none", "centered", "1")][0])]),
    ]
    futs = [[pool.submit(predict_margin, sd, m, series, tmp, f"m{i}") for _, m in probe_models]
            for i, (_, series) in enumerate(margin_sets)]
    margin_rows = [(what, [f.result() for f in fs]) for (what, _), fs in zip(margin_sets, futs)]
    # stop-band share (bins >= 65 of 250, where real series are >= 50 dB
    # below the spectrum's peak): real series and centered class-1 dreams
    SB = 65
    sb_real = {c: st.median(band_share(znorm(x), SB) for l, x in train[:400] if l == c) for c in LABELS}
    slow_real = {c: st.mean(band_share(znorm(x), 0, 10) for l, x in train[:400] if l == c) for c in LABELS}
    top_real = {c: st.mean(band_share(znorm(x), 50, SB) for l, x in train[:400] if l == c) for c in LABELS}
    sb, slow, main_band, top = {}, {}, {}, {}
    for name in ("none", "recommended-old", "recommended"):
        for cls in LABELS:
            ds = dreams_of(jobs[(name, "centered", cls)][0])
            sb[(name, cls)] = st.median(band_share(x["sequence"], SB) for x in ds)
            slow[(name, cls)] = st.mean(band_share(x["sequence"], 0, 10) for x in ds)
            main_band[(name, cls)] = st.mean(band_share(x["sequence"], 10, 50) for x in ds)
            top[(name, cls)] = st.mean(band_share(x["sequence"], 50, SB) for x in ds)

    # ---- figures (seed 1) ----
    for name in ("none", "recommended"):
        for cls in LABELS:
            for mode in ("centered", "border"):
                one = os.path.join(tmp, f"{name}_{mode}_{cls}_seed1.json")
                json.dump(dreams_of(jobs[(name, mode, cls)][0])[0], open(one, "w"))
                run(sd, ["plot", "--input", one, "--reference", TRAIN, "--model", MODEL,
                         "--out", os.path.join(FIG, f"{name}-{mode}-{cls}.png")])
                if mode == "centered":
                    run(sd, ["plot", "--trace", "--input", one, "--out",
                             os.path.join(FIG, f"{name}-{mode}-{cls}-trace.png")])
    for cls, other in (("-1", "1"), ("1", "-1")):
        one = os.path.join(tmp, f"towards_{other}_seed1.json")
        json.dump(dreams_of(jobs[("towards", cls, other)][0])[0], open(one, "w"))
        run(sd, ["plot", "--input", one, "--reference", TRAIN, "--model", MODEL,
                 "--title", f"a real class {cls} test series pushed to class {other}",
                 "--out", os.path.join(FIG, f"towards-{other}.png")])

    # ---- the report ----
    T = lambda name, cls, mode="centered": table[(name, mode, cls)]
    md = []
    w = md.append
    pct = lambda v: f"{v * 100:.0f} %"
    w("# Sequence Dreaming on FordA: what the dreams show\n")
    w("Regenerated by `scripts/forda-report.py` "
      f"({a.seeds} seeds per class and setting, seeds 1-{a.seeds}, all reported). "
      "Model: `models/forda-resnet-small.safetensors` (test accuracy 0.9393); second, "
      "independently trained model for the agreement check: `models/forda-fcn-small.safetensors` "
      "(another architecture, seed 3, test accuracy 0.9619), never used in the dreaming; reference "
      "data for the metrics and for the spectral regularisers: the 1319 training series. Every "
      "dream is z-normalised during the ascent (the model normalises every input per series, "
      "docs/dreaming.md) and starts from seeded noise, 500 Adam steps of lr 0.05 unless stated.\n")
    w("Columns: *reached* = share of dreams with p >= 0.99 (centered) or |p - 0.5| <= 0.01 "
      "(border); *p* = median (minimum) target probability; *NN* and *DTW* = median nearest-"
      "neighbour distance ratios (1.0 = as typical as a real series of the class); *spec* = "
      "median spectral distance to the class mean spectrum (real single series: about 0.44); "
      "*TV* = median total-variation ratio; *agree* = share of dreams the second model assigns to "
      "the dreamed class (docs/metrics.md).\n")
    none_m, none_p = T("none", "-1"), T("none", "1")
    old_m, old_p = T("recommended-old", "-1"), T("recommended-old", "1")
    rec_m, rec_p = T("recommended", "-1"), T("recommended", "1")
    w("## Transfer to a second model (issue 3)\n")
    w("Target: with the recommended setting, centered dreams reach p >= 0.99, the nearest-"
      "neighbour ratio stays <= 1.5, and the second model agrees with the dreamed class on >= 90 % "
      "of them.\n")
    jh = "".join(f" | {n} -1 | {n} 1" for n in judge_names)
    w("| setting | reached -1 / 1 | NN -1 / 1 | DTW -1 / 1 | agree -1 | agree 1" + jh + " |")
    w("|---|---|---|---|---|---" + "|---|---" * len(judge_names) + "|")
    for name, what in (("none", "no regulariser"), ("recommended-old", "previous recommended (Gaussian)"),
                       ("recommended", "**recommended** (spectral filter, 40 dB)")):
        r1, r2 = T(name, "-1"), T(name, "1")
        js = "".join(f" | {pct(r1['judges'][i])} | {pct(r2['judges'][i])}" for i in range(len(judge_names)))
        w(f"| {what} | {r1['reached']:.2f} / {r2['reached']:.2f} | {r1['nn']:.2f} / {r2['nn']:.2f} | "
          f"{r1['dtw']:.2f} / {r2['dtw']:.2f} | {pct(r1['agree'])} | {pct(r2['agree'])}{js} |")
    w("")
    met = rec_p["agree"] >= 0.9 and rec_m["agree"] >= 0.9 and max(rec_m["nn"], rec_p["nn"]) <= 1.5 \
        and min(rec_m["reached"], rec_p["reached"]) >= 1.0
    w(f"The target is **{'met' if met else 'not met'}**: the recommended setting's centered dreams "
      f"reach p >= 0.99 in {pct(min(rec_m['reached'], rec_p['reached']))} of the cases, at nearest-"
      f"neighbour ratios of {rec_m['nn']:.2f} (class -1) and {rec_p['nn']:.2f} (class 1), and the "
      f"second model agrees on {pct(rec_m['agree'])} and {pct(rec_p['agree'])} of them; unregularised "
      f"{pct(none_m['agree'])} and {pct(none_p['agree'])}, with the previous (Gaussian) preset "
      f"{pct(old_m['agree'])} and {pct(old_p['agree'])}.\n")
    if judge_names:
        jr = [f"{n} {pct(rec_m['judges'][i])} / {pct(rec_p['judges'][i])}" for i, n in enumerate(judge_names)]
        w("Further judges, trained only for this check and never looked at while the setting was "
          "chosen (class -1 / class 1 agreement with the recommended dreams): " + ", ".join(jr) + ".\n")
    else:
        w("(Run with `--judge MODEL` to add the verdicts of further models that were never looked "
          "at while the setting was chosen, e.g. resnet-small seed 2 and fcn-small seed 1 trained "
          "with the models/README.md recipe.)\n")
    P = lambda i, j: probe_rows[i][1][j]
    w("### Why class-1 dreams did not transfer, and what does\n")
    w("Real FordA series are band-limited: almost all their energy lies below bin 60 of 250 "
      "(0.12 cycles per sample); above it the spectrum drops to a floor 50-70 dB below its peak. "
      "Class -1 has more energy at the top of the band and above it (mean share of the power in "
      f"bins 50-64: {top_real['-1']:.1e} for class -1, {top_real['1']:.1e} for class 1; median share "
      f"in bins 65-250: {sb_real['-1']:.1e} and {sb_real['1']:.1e}). Both models use that, fcn-small "
      "far more steeply. Share of held-out test series each model assigns to class 1:\n")
    w("| series | " + " | ".join(n for n, _ in probe_models) + " |")
    w("|---|" + "---|" * len(probe_models))
    for what, shares in probe_rows:
        w(f"| {what} | " + " | ".join(f"{v:.2f}" for v in shares) + " |")
    w("")
    w(f"White noise at 1 % of the signal's sd, invisible in a plot, turns {pct(P(0, 1) - P(1, 1))} of "
      f"the class-1 series into class -1 for fcn-small (resnet-small: {pct(P(0, 0) - P(1, 0))}); "
      f"low-passing class -1 series at bin 50 turns {pct(P(5, 1))} of them into class 1 for "
      f"fcn-small ({pct(P(5, 0))} for resnet-small). For fcn-small 'class 1' is largely 'nothing "
      "above bin 50'. A dream from noise never gets there by itself: the median stop-band share "
      f"of the centered class-1 dreams is {sb[('none', '1')]:.1e} unregularised and "
      f"{sb[('recommended-old', '1')]:.1e} with the previous Gaussian preset (real class 1: "
      f"{sb_real['1']:.1e}), so fcn-small calls them class -1, while resnet-small reaches p = 1 "
      "for class 1 anyway through features of its own. The Gaussian filter (sigma 1) keeps 0.72 "
      "of a stop-band component at bin 65 and 0.45 at bin 100 per step, less than each Adam step "
      "puts back, and it also pulls the dream below the band: "
      f"{slow[('recommended-old', '1')]:.2f} of the energy of its class-1 dreams lies at periods "
      f"over 50 samples (bins 0-9), against {slow_real['1']:.3f} in real class-1 series.\n")
    w("The spectral filter (`--reg spectral-filter`, docs/dreaming.md) is the Wiener filter for "
      "'a real series of this data plus white noise 40 dB below the spectrum's peak', with the "
      "mean spectrum of both classes of the training data as the signal spectrum: gain about 1 "
      "where real series have energy, at most 0.25 in the stop band (under 0.05 above bin 100), at every step. It treats both "
      "classes alike and knows nothing of the second model. With it the class-1 dreams keep "
      f"{main_band[('recommended', '1')]:.2f} of their energy in bins 10-49 and a stop-band share "
      f"of {sb[('recommended', '1')]:.1e}; the class -1 dreams put {top[('recommended', '-1')]:.3f} "
      f"of theirs into bins 50-64 (class-1 dreams {top[('recommended', '1')]:.3f}; real series "
      f"{top_real['-1']:.3f} and {top_real['1']:.3f}), the class -1 evidence both models share.\n")
    M = lambda i, j: margin_rows[i][1][j]
    w("**How much of the agreement is the filter's doing?** For class 1, most of it. Run "
      "without the ascent (lr 1e-9), the filter turns the starting noise, step by step, into "
      "a band-limited oscillation, and the most class-1 point of that path is class 1 for "
      f"resnet-small in {pct(T('filter-only-500', '1')['reached'])} of the seeds (p >= 0.99) and "
      f"for the second model in {pct(T('filter-only-500', '1')['agree'])}: to these models a series "
      "with nothing above the band is class 1 by default. The class-1 agreement therefore shows "
      "above all that the dreams stay inside the data's band, which the earlier settings did "
      "not. What the ascent itself adds shows in the logit margins (median z_1 - z_-1 over the "
      "series or dreams):\n")
    w("| series | " + " | ".join(n for n, _ in probe_models) + " |")
    w("|---|" + "---|" * len(probe_models))
    for what, vals in margin_rows:
        w(f"| {what} | " + " | ".join(f"{v:+.1f}" for v in vals) + " |")
    w("")
    gains = ", ".join(f"{n} {M(3, j) - M(2, j):+.1f}" for j, (n, _) in enumerate(probe_models) if j > 0)
    w(f"Over the filter-only control the ascent raises resnet-small's own class-1 margin by "
      f"{M(3, 0) - M(2, 0):+.1f}, and the other models' by {gains}: part of resnet-small's "
      f"class-1 evidence transfers, most of it does not. Real class-1 series sit at "
      f"{min(margin_rows[0][1]):+.1f} to {max(margin_rows[0][1]):+.1f}, so these dreams and the "
      "control are all 'more class 1' than real data to every model. "
      "The class -1 dreams are the stronger evidence of transfer: the filter pulls every dream "
      "toward class 1, and the class -1 evidence the ascent builds against it (energy at bins "
      "50-64) is recognised by the second model and by both further judges.\n")
    w("The 40 dB come from the data: the pooled training spectrum's pass band (bins 5-60) lies "
      "within 34 dB of its peak and its stop band (bins 63 and up) 47-70 dB below it; 40 dB sits "
      "between the two. It was compared with 30 and 50 dB while looking at the second model's "
      "verdict (table below): 30 dB also cuts the top of the pass band, where class -1 has its "
      "extra energy, and the second model then calls most class -1 dreams class 1; 50 dB is at "
      "the stop-band floor and leaves too much of it. Because that choice saw the second model, "
      "the further judges above matter: they were not looked at.\n")
    w("### Every candidate (centered dreams, 20 seeds per class)\n")
    w("*early* counts the dreams (of 20 per class) whose returned sequence is from their first 10 "
      "steps: the starting noise, hardly changed (a stop at p >= 0.99 at step 0, or keep-best "
      "finding no later sequence with more class evidence than the noise after one filter "
      "step).\n")
    w("| group | setting | reached -1 / 1 | p min -1 / 1 | early -1 / 1 | NN -1 / 1 | DTW -1 / 1 | agree -1 | agree 1" + jh + " |")
    w("|---|---|---|---|---|---|---|---|---" + "|---|---" * len(judge_names) + "|")
    rows = [("baseline", "none", "no regulariser"),
            ("baseline", "recommended-old", "previous preset (Gaussian sigma 1 every step, clip, jitter 8, lr 0.2, 1000 steps)"),
            ("baseline", "recommended", "recommended preset (spectral filter, 40 dB, every step)"),
            ("smoothing", "gaussian-1", "Gaussian sigma 1 every step (lr 0.05)"),
            ("spectral", "spectrum", "log-spectrum penalty, weight 10, floor 1e-4")]
    rows += [(g, n, what) for g, n, what, _ in TRANSFER]
    rows += [("real init", n, what) for n, what, _, _ in INITS]
    for g, name, what in rows:
        r1, r2 = T(name, "-1"), T(name, "1")
        js = "".join(f" | {pct(r1['judges'][i])} | {pct(r2['judges'][i])}" for i in range(len(judge_names)))
        w(f"| {g} | {name}: {what} | {r1['reached']:.2f} / {r2['reached']:.2f} | "
          f"{r1['p_min']:.4f} / {r2['p_min']:.4f} | {r1['early']} / {r2['early']} | {r1['nn']:.2f} / {r2['nn']:.2f} | "
          f"{r1['dtw']:.2f} / {r2['dtw']:.2f} | {pct(r1['agree'])} | {pct(r2['agree'])}{js} |")
    w("")
    c1, c500 = T("filter-only", "1"), T("filter-only-500", "1")
    w(f"- **Controls** (the filter without the ascent; keep-best picks the point of the filter's "
      f"path with the highest target logit). After one filter step the noise is still class -1 "
      f"for every model (class 1: median p = {c1['p_med']:.4f}, second model "
      f"{pct(c1['agree'])}); along 500 steps it becomes class 1 (median p = {c500['p_med']:.4f}, "
      f"second model {pct(c500['agree'])}), see above.")
    w("- **Robustness transforms** do not help: the models treat noise as class -1 evidence, so a "
      "noise transform keeps class 1 out of reach, and a larger jitter or gain range changes "
      "nothing (both models are nearly shift-invariant and see z-normalised input).")
    w("- **Saturating objectives and early stopping** change nothing from noise: z-normalised "
      "noise is already class -1 with p = 1, so a probability objective has no gradient for either "
      "class (class 1 stays at p = 0), and with a stop at p >= 0.99 a class -1 dream stops at "
      "its starting noise. Log-probability behaves like the logit, with or without the filter.")
    w("- **Preconditioning** (the same filter on the gradient) fails: Adam rescales every sample "
      "and so whitens the step again, the starting noise is never removed, and even from zeros "
      "with normalised steps the step's spectrum follows the gradient's, not the data's.")
    w("- **The log-spectrum penalty** matches the spectrum's shape (spec distance "
      f"{T('spectrum', '1')['spec']:.2f} for class 1) but cannot reach the stop band: with a "
      "floor of 1e-4 it ignores it, with 1e-9 the problem is too stiff for Adam.")
    io1, io_m = T("init-own", "1"), T("init-own", "-1")
    ior1, ior_m = T("init-own+rec", "1"), T("init-own+rec", "-1")
    iorr1, iorr_m = T("init-other+rec", "1"), T("init-other+rec", "-1")
    w(f"- **Starting from real training series** (table below; 'moved' is the distance to the "
      f"starting series in units of the class's typical nearest-neighbour distance). Without a "
      f"regulariser 100 steps keep a real class-1 series at only {moved[('init-own', '1')][0]:.2f} "
      f"of that distance from where it started, yet the second model's agreement drops to "
      f"{pct(io1['agree'])}: the ascent adds the stop-band energy that says class -1 to fcn-small. "
      f"With the recommended preset the own-class starts stay close ({moved[('init-own+rec', '1')][0]:.2f} "
      f"and {moved[('init-own+rec', '-1')][0]:.2f}) and agree for {pct(ior1['agree'])} (class 1) and "
      f"{pct(ior_m['agree'])} (class -1: the filter also removes the stop-band floor that made "
      f"the real series class -1 for fcn-small); from the other class, 100 steps reach p >= 0.99 "
      f"for {pct(iorr1['reached'])} (to class 1) and {pct(iorr_m['reached'])} (to class -1) and the "
      f"second model agrees for {pct(iorr1['agree'])} and {pct(iorr_m['agree'])}. Real starts "
      f"therefore do not give better centered dreams than noise under the same filter; they "
      f"mostly show how little it takes to cross the boundary.\n")
    w("| setting | class | reached | agree | NN | moved (Euclidean / DTW) |")
    w("|---|---|---|---|---|---|")
    for name, what, _, _ in INITS:
        for cls in LABELS:
            r = T(name, cls)
            e, d = moved[(name, cls)]
            w(f"| {name}: {what} | {cls} | {r['reached']:.2f} | {pct(r['agree'])} | {r['nn']:.2f} | {e:.2f} / {d:.2f} |")
    w("")
    w("A move of 1.0 is the distance from a real series to its nearest real neighbour of the "
      "class: below that the dream is still essentially its starting series.\n")
    w("An ensemble objective (several independently trained resnet-small models dreamed at once) "
      "was not needed and is not implemented: one model with the spectral prior transfers.\n")

    w("## What the dreams show\n")
    w(f"- **Targets.** Centered dreams reach p >= 0.99 for both classes with no regulariser, with "
      f"every regulariser alone at its default and with both presets (only a Gaussian filter at "
      f"every step with the default lr stalls class 1: p = "
      f"{T('gaussian-1', '1')['p_med']:.2f}). Border dreams reach |p - 0.5| <= 0.01 "
      f"in every setting but that one, mostly within a few dozen steps.")
    w(f"- **Class 1 is a clean, band-limited oscillation.** With the spectral filter, class-1 "
      f"dreams are bursts of oscillation with periods of 10-50 samples "
      f"({main_band[('recommended', '1')]:.2f} of the energy in bins 10-49, the band where real "
      f"series have most of theirs) and a silent stop band; nearest-neighbour ratio "
      f"{rec_p['nn']:.2f} (DTW {rec_p['dtw']:.2f}), total variation {rec_p['tv']:.2f} times the "
      f"class median. The previous Gaussian preset gave class 1 slow waves "
      f"({slow[('recommended-old', '1')]:.2f} of the energy at periods over 50 samples) at NN "
      f"{old_p['nn']:.2f}.")
    w(f"- **Class -1 is energy at the top of the band and above it.** Unregularised, class -1 "
      f"dreams are broadband roughness (TV {none_m['tv']:.1f} times the class median); with the "
      f"spectral filter, which removes the stop band, they put their energy at the top of the "
      f"pass band instead (bins 50-64): NN {rec_m['nn']:.2f}, TV {rec_m['tv']:.2f}. Z-normalised "
      f"white noise is itself class -1 with p = 1 for resnet-small.")
    w("- **Keep-best and the starting noise.** A dream never returns its initialisation "
      "(docs/dreaming.md, section 8). Before that rule, 18 of 20 class -1 dreams of the Gaussian "
      "preset returned their starting white noise, because no filtered sequence had a higher "
      "class -1 logit; the class -1 figures of earlier versions of this report for that preset "
      "(TV 4.7 times the class median) described noise, not dreams. The rule does not cure it "
      f"all: {T('recommended-old', '-1')['early']} of 20 class -1 dreams of that preset still "
      "return a sequence from their first 10 steps, noise after a Gaussian pass or a few (column "
      f"*early*); the recommended preset has {T('recommended', '-1')['early']} and "
      f"{T('recommended', '1')['early']}.")
    w(f"- **Border dreams** with the recommended preset sit on the boundary for both models: the "
      f"second model calls {pct(T('recommended', '-1', 'border')['agree'])} and "
      f"{pct(T('recommended', '1', 'border')['agree'])} of the border dreams labelled -1 and 1 "
      f"by their class (a coin toss would give 50 %); without a regulariser "
      f"{pct(T('none', '-1', 'border')['agree'])} and {pct(T('none', '1', 'border')['agree'])}.")
    w(f"- **Realism.** Every setting keeps the Euclidean nearest-neighbour ratio at or below "
      f"{max(max(T(n, c)['nn'] for c in LABELS) for n, _, _ in CONFIGS):.2f}; the recommended "
      f"setting is at {rec_m['nn']:.2f} (-1) and {rec_p['nn']:.2f} (1), DTW {rec_m['dtw']:.2f} and "
      f"{rec_p['dtw']:.2f}. DTW ratios of other settings are higher (up to "
      f"{max(max(T(n, c)['dtw'] for c in LABELS) for n, _, _ in CONFIGS):.1f}) because DTW aligns "
      f"real series to each other much better than to a rough dream. L1, L2 and clipping change "
      f"little because every dream is kept z-normalised anyway, and jitter changes little because "
      f"the model is nearly shift-invariant.")
    w(f"- **From real series.** Held-out class -1 series need only a few dozen steps to become "
      f"class 1 with p >= 0.99 while staying as close to real class-1 data as real series are "
      f"(last table): the decision boundary passes close to the data.\n")
    for mode in ("centered", "border"):
        w(f"## {mode.capitalize()} dreams\n")
        w("| setting | class | reached | p | NN | DTW | spec | TV | agree |")
        w("|---|---|---|---|---|---|---|---|---|")
        for name, what, _ in CONFIGS:
            for cls in LABELS:
                r = table[(name, mode, cls)]
                w(f"| {name} ({what}) | {cls} | {r['reached']:.2f} | {r['p_med']:.4f} ({r['p_min']:.4f}) | "
                  f"{r['nn']:.2f} | {r['dtw']:.2f} | {r['spec']:.2f} | {r['tv']:.2f} | {r['agree']:.2f} |")
        w("")
    w("## Figures (seed 1)\n")
    for name in ("none", "recommended"):
        for mode in ("centered", "border"):
            for cls in LABELS:
                w(f"![{name} {mode} dream of class {cls}](figures/forda/{name}-{mode}-{cls}.png)\n")
        for cls in LABELS:
            w(f"![convergence, {name}, class {cls}](figures/forda/{name}-centered-{cls}-trace.png)\n")
    w("## From real test series toward the other class\n")
    w("Five held-out series of each class, each pushed by the recommended setting until the model "
      "gives the other class p >= 0.99:\n")
    w("| from | to | reached | p | NN | DTW | spec | agree |")
    w("|---|---|---|---|---|---|---|---|")
    for (cls, other), r in towards.items():
        w(f"| {cls} | {other} | {r['reached']:.2f} | {r['p_med']:.4f} | {r['nn']:.2f} | {r['dtw']:.2f} | {r['spec']:.2f} | {r['agree']:.2f} |")
    w("")
    for other in ("1", "-1"):
        w(f"![towards {other}](figures/forda/towards-{other}.png)\n")
    if REUSE:
        w(f"Regenerated in {time.time() - t0:.0f} s from the dreams of an earlier run (--reuse); a "
          "full run took about 45 minutes with --jobs 2 on two shared, busy cores.")
    else:
        w(f"Generated in {time.time() - t0:.0f} s with {a.jobs} parallel runs.")
    open(os.path.join(ROOT, "docs", "forda-report.md"), "w").write("\n".join(md) + "\n")
    print(f"wrote docs/forda-report.md ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
