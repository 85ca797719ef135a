"""Throughput of the NA64e fast simulation against a plain uproot TTree write of the same
arrays (LZ4 and ZLIB). Prints a table; nothing is asserted (wall time is not a test).

    .venv/bin/python benchmarks/bench_simulation.py [--eot 1e8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from analysis.rootio import write_ntuple
from analysis.schema import event_branches
from analysis.simulation import simulate


def _best(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eot", type=float, default=1e8, help="pseudo-data exposure (EOT)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args()
    branches = event_branches(1, True)

    t_gen, res = _best(lambda: simulate("electron", "2023", n_on_target=args.eot, seed=1),
                       args.repeat)
    n = res.n_events
    events = res.events
    rows = [("simulate, in memory (pseudo-data)", t_gen, None)]
    with tempfile.TemporaryDirectory() as tmp:
        for codec in ("lz4", "zlib"):
            path = Path(tmp) / f"w_{codec}.root"
            t, _ = _best(lambda p=path, c=codec: write_ntuple(p, events, res.runinfo, branches,
                                                              spills=res.spills, compression=c),
                         args.repeat)
            rows.append((f"uproot TTree write only, {codec.upper()}", t, os.path.getsize(path)))
        for codec in ("lz4", "zlib"):
            path = Path(tmp) / f"s_{codec}.root"
            t, _ = _best(lambda p=path, c=codec: simulate("electron", "2023",
                                                          n_on_target=args.eot, seed=1,
                                                          out=p, compression=c), args.repeat)
            rows.append((f"simulate + write, {codec.upper()}", t, os.path.getsize(path)))
        t_bkg, bkg = _best(lambda: simulate("electron", "2023", process="hadron-beam",
                                            n_events=200000, seed=2, record="all"), args.repeat)
    print(f"pseudo-data: {args.eot:.3g} EOT -> {n} recorded events "
          f"({np.mean(events['trigger'] & 1):.1%} physics-triggered); best of {args.repeat}")
    print(f"{'step':42s} {'seconds':>8s} {'events/s':>12s} {'EOT/s':>10s} {'MB':>7s}")
    for name, t, size in rows:
        mb = f"{size / 1e6:7.1f}" if size else "      -"
        print(f"{name:42s} {t:8.2f} {n / t:12.3g} {args.eot / t:10.3g} {mb}")
    print(f"{'hadron-beam, 2e5 events, all read out':42s} {t_bkg:8.2f} "
          f"{bkg.n_events / t_bkg:12.3g} {'-':>10s} {'-':>7s}")
    if args.json:
        import json

        out = [{"step": name, "seconds": t, "events_per_s": n / t, "eot_per_s": args.eot / t,
                "MB": size / 1e6 if size else None} for name, t, size in rows]
        out.append({"step": "hadron-beam, 2e5 events, all read out", "seconds": t_bkg,
                    "events_per_s": bkg.n_events / t_bkg, "eot_per_s": None, "MB": None})
        with open(args.json, "w") as f:
            json.dump({"eot": args.eot, "events": n, "rows": out}, f, indent=1)


if __name__ == "__main__":
    main()
