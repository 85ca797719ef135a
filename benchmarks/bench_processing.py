"""Throughput of the processing step: `analysis.execution.run` against its peers.

    .venv/bin/python benchmarks/bench_processing.py [--events 2000000] [--dir /tmp/na64-bench]

Writes (once, then reuses) a large NTUPLE.md file of random-but-plausible electron-setup
events with LZ4 and with ZLIB compression, then measures on one core:

* ``uproot.iterate`` reading the branches the selection touches (the I/O + decompression
  floor; awkward arrays, same step size);
* ``run(selection, executor="iterative")`` — the full processor: 14 cuts, PackedSelection,
  cut flow, N−1, per-process cut flow and the selection's histograms;
* the same with the histograms removed (cuts and cut flow only);
* ROOT RDataFrame, single-threaded, on the same cut flow (filters written by
  ``Selection.rdf_filters()``), if ROOT is importable here or ``--root-python`` names a
  Python that has it (``pip install root`` in another venv); skipped otherwise.

Prints a table of events/s. Timing uses ``time.perf_counter``; this is a benchmark, not a test.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no BLAS threads in numpy
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402
import uproot  # noqa: E402

from analysis.codes import Process  # noqa: E402
from analysis.cuts import VARIABLES  # noqa: E402
from analysis.execution import run  # noqa: E402
from analysis.rootio import default_events, default_runinfo, write_ntuple  # noqa: E402
from analysis.schema import event_branches  # noqa: E402
from analysis.selection import Selection, load_selection  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SELECTION = ROOT_DIR / "selections" / "na64e_2023_vhcal.yaml"
GEN_CHUNK = 200_000
SEED = 20240611


# ----------------------------------------------------------------------------------------
# a large plausible sample
# ----------------------------------------------------------------------------------------


def _lateral_profile() -> np.ndarray:
    """6×6 fractions of a centred EM shower (two-Laplace profile per axis, cell 38.2 mm)."""
    edges = (np.arange(7) - 3.5) * 38.2
    def cdf(x, b):
        return np.where(x < 0, 0.5 * np.exp(x / b), 1 - 0.5 * np.exp(-x / b))
    frac = sum(w * np.diff(cdf(edges, b)) for w, b in ((0.75, 5.0), (0.25, 18.0)))
    prof = np.outer(frac, frac)
    return prof / prof.sum()


def plausible_chunk(rng: np.random.Generator, n: int, start: int) -> dict:
    """n random electron-setup events: mostly full-energy showers, a few per cent with
    energy leaking to the HCAL, 0.2 % signal-like (energy missing, HCAL empty), hadrons
    without SRD signal, pile-up hits, VETO MIPs."""
    br = event_branches(1, True)
    ev = default_events(n, br, has_vhcal=True)
    ev["event"][:] = np.arange(start, start + n)
    ev["spill"][:] = 1 + (np.arange(start, start + n) // 50_000)
    ev["trigger"][:] = np.where(rng.random(n) < 0.97, 1, 2)
    tail = rng.random(n) < 0.01
    ev["beam_p"][:] = np.where(tail, rng.normal(90, 5, n), rng.normal(100, 1.0, n))
    ev["beam_chi2"][:] = rng.exponential(1.0, n)
    ev["n_tracks_in"][:] = np.where(rng.random(n) < 0.98, 1, 2)
    ev["beam_x"][:] = rng.normal(0, 4, n)
    ev["beam_y"][:] = rng.normal(0, 4, n)
    hadron = rng.random(n) < 0.01
    srd = rng.gamma(4.0, 5.0, (n, 3))
    srd[hadron] = rng.exponential(0.3, (hadron.sum(), 3))
    ev["srd_e"][:] = srd
    t0 = rng.normal(0, 0.3, n)
    ev["srd_t"][:] = t0 + rng.normal(0, 1.0, n)
    ev["ecal_t"][:] = t0 + rng.normal(0, 1.5, n)
    u = rng.random(n)
    leak = u < 0.05
    invisible = (u >= 0.05) & (u < 0.052)  # signal-like: energy escapes, HCAL empty
    e_ecal = np.where(leak, rng.uniform(5, 95, n), rng.normal(100, 1.5, n))
    e_ecal = np.where(invisible, rng.uniform(5, 80, n), e_ecal)
    pre_frac = rng.beta(2, 25, n)
    prof = _lateral_profile()
    jitter = 1 + 0.05 * rng.standard_normal((n, 6, 6))
    cells = prof[None] * jitter * e_ecal[:, None, None]
    cells[cells < 0.03] = 0.0  # zero suppression
    ev["ecal_pre"][:] = cells * pre_frac[:, None, None]
    ev["ecal_main"][:] = cells * (1 - pre_frac)[:, None, None]
    e_hcal = np.where(leak, (100 - e_ecal) * rng.uniform(0.2, 1.0, n), 0.0)
    hcal = np.zeros((n, 4, 3, 3))
    hcal[:, 0, 1, 1] = 0.6 * e_hcal
    hcal[:, 1, 1, 1] = 0.3 * e_hcal
    hcal[:, 0, 0, 1] = 0.1 * e_hcal
    ev["hcal_e"][:] = hcal
    ev["hcal_t"][:] = np.where(e_hcal > 0, t0 + rng.normal(0, 2.0, n), np.nan)
    ev["veto_e"][:] = np.where((rng.random(n) < 0.02)[:, None], rng.normal(3.0, 0.45, (n, 3)),
                               0.0)
    ev["vhcal_e"][:] = np.where((rng.random(n) < 0.01)[:, None], rng.exponential(2.0, (n, 4)),
                                0.0)
    extra = rng.random(n) < 0.02
    st5 = np.concatenate([np.tile(np.arange(4), (n, 1)),
                          np.where(extra, rng.integers(0, 4, n), -1)[:, None]], axis=1)
    flat = st5.ravel()
    flat = flat[flat >= 0]
    counts = 4 + extra.astype(np.int64)
    ev["n_hits"] = counts.astype(np.int32)
    ev["hit_station"] = ak.unflatten(flat.astype(np.int8), counts)
    ev["hit_x"] = ak.unflatten(rng.normal(0, 3, len(flat)).astype(np.float32), counts)
    ev["hit_y"] = ak.unflatten(rng.normal(0, 3, len(flat)).astype(np.float32), counts)
    ev["mc_process"][:] = np.select([hadron, leak, tail, invisible],
                                    [Process.HADRON_BEAM, Process.ELECTRONUCLEAR_ESCAPE,
                                     Process.LOW_ENERGY_TAIL, Process.SIGNAL], Process.EM_SHOWER)
    ev["mc_invisible_e"][:] = np.where(invisible, 100.0 - e_ecal, 0.0)
    ev["mc_weight"][:] = 1.0
    return ev


def make_file(path: Path, n: int, compression: str) -> Path:
    if path.exists():
        with uproot.open(path) as f:
            if f["events"].num_entries == n:
                return path
    rng = np.random.default_rng(SEED)

    def chunks() -> Iterator[dict]:
        for start in range(0, n, GEN_CHUNK):
            yield plausible_chunk(rng, min(GEN_CHUNK, n - start), start)

    tmp = path.with_suffix(".tmp.root")
    t = time.perf_counter()
    write_ntuple(tmp, chunks(), default_runinfo(1, n, float(n) * 1.1, is_mc=True, mc_seed=SEED),
                 event_branches(1, True), compression=compression)
    tmp.rename(path)
    print(f"  wrote {path} ({path.stat().st_size / 1e6:.0f} MB, {compression}) in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    return path


# ----------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------


class _Recorder(dict):
    """A dict of events that records which branches are read."""

    def __init__(self, data):
        super().__init__(data)
        self.read: set[str] = set()

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def touched_branches(sel: Selection) -> list[str]:
    rng = np.random.default_rng(1)
    rec = _Recorder(plausible_chunk(rng, 100, 0))
    ctx = sel.context(is_mc=True)
    sel.evaluate(rec, ctx)
    for h in sel.histograms:
        for ax in h.axes:
            VARIABLES[ax.variable](rec, ctx)
    return sorted(rec.read | {"mc_weight", "mc_process"})


def bench_uproot(path: Path, branches: list[str], step: int) -> float:
    t = time.perf_counter()
    n = 0
    for arrays in uproot.iterate({str(path): "events"}, branches, step_size=step, library="ak"):
        n += len(arrays)
    return n / (time.perf_counter() - t)


def bench_run(path: Path, sel: Selection, chunksize: int) -> tuple[float, dict]:
    t = time.perf_counter()
    res = run(sel, {"bench": [str(path)]}, executor="iterative", chunksize=chunksize,
              progress=False)
    dt = time.perf_counter() - t
    return res["bench"]["entries"] / dt, res["bench"]


RDF_SCRIPT = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import ROOT
job = json.load(sys.stdin)
ROOT.DisableImplicitMT()
df = ROOT.RDataFrame("events", job["path"])
node = df
for label, expr in job["filters"]:
    node = node.Filter(expr, label)
count = node.Count()
report = node.Report()
t = time.perf_counter()
final = count.GetValue()
dt = time.perf_counter() - t
passed = [report.At(label).GetPass() for label, _ in job["filters"]]
print(json.dumps({"seconds": dt, "final": int(final), "passed": passed}))
"""


def bench_rdf(path: Path, sel: Selection, root_python: str | None) -> dict | None:
    job = json.dumps({"path": str(path), "filters": sel.rdf_filters()})
    python = None
    try:
        import ROOT  # noqa: F401  (only: is it importable here?)

        python = sys.executable
    except ImportError:
        python = root_python or os.environ.get("NA64_ROOT_PYTHON")
    if not python:
        return None
    out = subprocess.run([python, "-c", RDF_SCRIPT], input=job, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        print(f"  RDataFrame failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "na64-bench")
    ap.add_argument("--selection", type=Path, default=DEFAULT_SELECTION)
    ap.add_argument("--chunksize", type=int, default=200_000)
    ap.add_argument("--compression", default="lz4,zlib")
    ap.add_argument("--repeat", type=int, default=2, help="best of N timings per method")
    ap.add_argument("--root-python", default=None,
                    help="Python with ROOT for the RDataFrame peer (or $NA64_ROOT_PYTHON)")
    args = ap.parse_args(argv)

    sel = load_selection(args.selection)
    cfg = copy.deepcopy(sel.config.model_dump(mode="python"))
    cfg["histograms"] = []
    cuts_only = Selection.from_dict(cfg, source=f"{sel.source} (no histograms)")
    branches = touched_branches(sel)
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"selection {sel.name}: {len(sel.cuts)} cuts, {len(sel.histograms)} histograms, "
          f"{len(branches)} branches: {', '.join(branches)}")
    rows = []
    for comp in args.compression.split(","):
        path = make_file(args.dir / f"bench_v2_{args.events}_{comp}.root", args.events, comp)
        size = path.stat().st_size / 1e6
        rate_up = max(bench_uproot(path, branches, args.chunksize) for _ in range(args.repeat))
        rate_run, out = max((bench_run(path, sel, args.chunksize) for _ in range(args.repeat)),
                            key=lambda t: t[0])
        rate_cuts, out_cuts = max((bench_run(path, cuts_only, args.chunksize)
                                   for _ in range(args.repeat)), key=lambda t: t[0])
        assert out["cutflow"]["events"].tolist() == out_cuts["cutflow"]["events"].tolist()
        rdfs = [bench_rdf(path, sel, args.root_python) for _ in range(args.repeat)]
        rdf = None if rdfs[0] is None else min(rdfs, key=lambda r: r["seconds"])
        rows.append((comp, size, "uproot.iterate (same branches)", rate_up, ""))
        rows.append((comp, size, "run iterative, full (cuts + histograms)", rate_run,
                     f"pass all: {out['cutflow']['events'][-1]}"))
        rows.append((comp, size, "run iterative, cuts only", rate_cuts, ""))
        if rdf is None:
            rows.append((comp, size, "RDataFrame 1 thread", float("nan"), "skipped: no ROOT"))
        else:
            same = rdf["passed"] == out["cutflow"]["events"][1:].tolist()
            verdict = "identical" if same else "DIFFERS"
            rows.append((comp, size, "RDataFrame 1 thread (same cut flow)",
                         args.events / rdf["seconds"],
                         f"pass all: {rdf['final']}, cut flow {verdict}"))
    print()
    print(f"{args.events:,} events, chunk/step {args.chunksize:,}, one core, best of "
          f"{args.repeat}")
    print("| codec | file MB | method | events/s | note |")
    print("|---|---:|---|---:|---|")
    for comp, size, what, rate, note in rows:
        r = "—" if rate != rate else f"{rate / 1e6:.2f} M"
        print(f"| {comp} | {size:.0f} | {what} | {r} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
