"""Limits per second for a 100-point mass scan with expected bands.

Paths compared (all produce an observed limit and the ±1σ/±2σ expected band per mass):

1. rescaling  — single-bin analysis: one exact CLs limit on the signal count (with band),
   rescaled to ε for all 100 masses (``analysis.stats.scan_rescaled``).
2. combined   — two run periods × 3 ECAL-energy bins, signal templates changing with the
   mass: one limit per mass (``scan_combined``, method ``auto`` → vectorised hybrid toys).
3. pyhf loop  — plain per-point ``pyhf.infer.intervals.upper_limits.toms748_scan`` (asymptotic,
   numpy backend + minuit, with band) on (a) the single-bin model and (b) the combined model;
   a handful of points are timed and the rate extrapolated.

Signal yields are synthetic (no physics import): N_sig(m) per unit ε² falls like m^-2.
Run: ``.venv/bin/python benchmarks/bench_limits.py [--pyhf-points 5] [--ntoys 20000]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pyhf
from pyhf.infer.intervals.upper_limits import toms748_scan

from analysis.stats import Channel, build_workspace, model_and_data, scan_combined, scan_rescaled

NMASS = 100
MASSES = np.geomspace(1e-3, 1.0, NMASS)  # GeV
N_EPS2_SINGLE = 4e11 * (MASSES / 1e-3) ** -2 + 1e5  # events per unit ε² (synthetic)


def periods():
    a = Channel("p2016_2022", [1.0, 1.0, 1.0], [0.2, 0.15, 0.08], [0.08, 0.06, 0.04], [0, 1, 0],
                exposure=9.37, efficiency=0.55, pot_unc=0.03, xsec_unc=0.1, efficiency_unc=0.05)
    b = Channel("p2023", [1.0, 1.0, 1.0], [0.1, 0.08, 0.05], [0.05, 0.04, 0.03], [0, 0, 0],
                exposure=4.4, efficiency=0.65, pot_unc=0.03, xsec_unc=0.1, efficiency_unc=0.05)
    return [a, b]


def templates():
    """Per-period signal per unit ε² (before exposure × efficiency), shape (NMASS, 3)."""
    x = np.log10(MASSES / 1e-3) / 3.0  # 0 … 1 across the scan
    frac = np.column_stack([0.2 + 0.3 * x, 0.5 - 0.1 * x, 0.3 - 0.2 * x])  # ECAL-energy bins
    norm = 4e10 * (MASSES / 1e-3)[:, None] ** -2 + 1e4
    return [norm * frac, 1.2 * norm * frac[:, ::-1]]


def timed(fn, repeat=1):
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t0) / repeat, out


def pyhf_loop(model, data, n_points, mu_guess):
    """Plain pyhf: per point one toms748_scan with band (level = 1 - CL = 0.1)."""
    pyhf.set_backend("numpy", "minuit")  # plain pyhf (both models have free nuisance parameters)
    lims = []
    t0 = time.perf_counter()
    for _ in range(n_points):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obs, exp = toms748_scan(data, model, mu_guess / 20, 2 * mu_guess, level=0.1, rtol=1e-4)
        lims.append((float(obs), [float(e) for e in exp]))
    return (time.perf_counter() - t0) / n_points, lims


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pyhf-points", type=int, default=5)
    ap.add_argument("--ntoys", type=int, default=20000)
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args()
    rows = []

    # 1. rescaling
    t, res = timed(lambda: scan_rescaled(0, 0.43, N_EPS2_SINGLE, background_unc=0.16, masses=MASSES,
                                         coupling="epsilon"), repeat=20)
    rows.append(("rescaling (exact count limit once + rescale)", NMASS, t, NMASS / t))
    eps_single = res.observed

    # 2. combined, one limit per mass
    chans, tmpl = periods(), templates()
    t, comb = timed(lambda: scan_combined(chans, tmpl, masses=MASSES, coupling="epsilon", ntoys=args.ntoys))
    rows.append((f"combined per-point ({comb.method}, {args.ntoys} toys)", NMASS, t, NMASS / t))

    # 3a. pyhf loop, single-bin model (what the rescaling path replaces)
    ws1 = build_workspace([Channel("counting", [1.0], [0.43], [0.16], [0])])
    m1, d1 = model_and_data(ws1)
    saved = pyhf.get_backend()
    try:
        tp1, l1 = pyhf_loop(m1, d1, args.pyhf_points, 3.0)
        rows.append(("pyhf toms748_scan loop, single bin (asymptotic)", args.pyhf_points, tp1 * NMASS, 1.0 / tp1))
        # 3b. pyhf loop, combined model at the first masses
        tsum, l2 = 0.0, []
        for i in range(args.pyhf_points):
            total = sum(float((a[i] * c.exposure * c.efficiency).sum()) for a, c in zip(tmpl, chans))
            ws = build_workspace([c.with_signal(a[i] / total) for a, c in zip(tmpl, chans)])
            m, d = model_and_data(ws)
            tp, lim = pyhf_loop(m, d, 1, 2.3)
            tsum += tp
            l2.append(np.sqrt(lim[0][0] / total))
        tp2 = tsum / args.pyhf_points
        rows.append(("pyhf toms748_scan loop, combined (asymptotic)", args.pyhf_points, tp2 * NMASS, 1.0 / tp2))
    finally:
        pyhf.set_backend(*saved)

    print(f"{'path':58s} {'points timed':>12s} {'s / 100 pts':>12s} {'limits/s':>10s}")
    for name, n, t100, rate in rows:
        print(f"{name:58s} {n:12d} {t100:12.3f} {rate:10.1f}")
    print("(pyhf rows: time per point x 100, extrapolated)")
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump([{"path": name, "points_timed": n, "seconds_per_100": t100,
                        "limits_per_s": rate} for name, n, t100, rate in rows], f, indent=1)
    print()
    print("sanity: 90% CL limit at m = 1 MeV")
    print(f"  single bin, exact:            N_up = {res.count_limit.upper_limit:.3f}, eps = {eps_single[0]:.3e}")
    print(f"  single bin, pyhf asymptotic:  N_up = {l1[0][0]:.3f} (asymptotic at 0 events: invalid)")
    print(f"  combined, toys:               eps = {comb.observed[0]:.3e}  (median {comb.expected[0]:.3e})")
    print(f"  combined, pyhf asymptotic:    eps = {l2[0]:.3e}")


if __name__ == "__main__":
    main()
