"""Throughput of the processing step: `analysis.execution.run` against its peers.

    .venv/bin/python benchmarks/bench_processing.py [--events 2000000] [--dir /tmp/na64-bench]

Writes (once, then reuses) a large NTUPLE.md file of random-but-plausible electron-setup
events with LZ4 and with ZLIB compression, then measures on one core:

* ``uproot.iterate`` reading the branches the selection touches (the I/O + decompression
  floor; awkward arrays, same step size);
* ``run(selection, executor="iterative", validate=False)`` — the full processor: 14 cuts,
  cut flow, N−1, per-process cut flow and the selection's 15 histograms (``--validated``
  also times ``run()``'s default input-validation pass, which reads every branch once more);
* the same with the histograms removed (cuts and cut flow only);
* ROOT RDataFrame, single-threaded, on the same cut flow (filters written by
  ``Selection.rdf_filters()``), first event loop (includes the JIT of the filters) and a
  later one, if ROOT is importable here, ``--root-python``/``$NA64_ROOT_PYTHON`` names a
  Python that has it, or /tmp/rootvenv exists (``pip install root``); skipped otherwise.

Prints tables of events/s (wall clock and CPU time of the process, each best of N: the
machine may be shared) and the ratios processor/uproot and processor/RDataFrame.
``--file`` adds existing files (e.g. from ``na64 simulate``); ``--json`` writes the rows.
This is a benchmark, not a test.
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

from analysis.chunkio import tune_allocator  # noqa: E402
from analysis.codes import Process  # noqa: E402
from analysis.cuts import VARIABLES  # noqa: E402
from analysis.execution import DEFAULT_CHUNKSIZE, run  # noqa: E402
from analysis.rootio import default_events, default_runinfo, write_ntuple  # noqa: E402
from analysis.schema import event_branches  # noqa: E402
from analysis.selection import Selection, load_selection  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SELECTION = ROOT_DIR / "selections" / "na64e_2023_vhcal.yaml"
GEN_CHUNK = 50_000  # entries per extend = per basket (7 MB for a 6×6 float32 branch)
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


def touched_branches(sel: Selection, path: Path | None = None) -> list[str]:
    """The branches the selection's cuts and histograms read (recorded on 100 events of
    ``path``, or of the generator)."""
    if path is None:
        rec = _Recorder(plausible_chunk(np.random.default_rng(1), 100, 0))
    else:
        with uproot.open(path) as f:
            arr = f["events"].arrays(entry_stop=100, library="ak")
        rec = _Recorder({k: arr[k] if arr[k].ndim > 1 and k.startswith("hit_")
                         else ak.to_numpy(arr[k]) for k in arr.fields})
    ctx = sel.context(is_mc=True)
    sel.evaluate(rec, ctx)
    for h in sel.histograms:
        for ax in h.axes:
            VARIABLES[ax.variable](rec, ctx)
    return sorted(rec.read | {"mc_weight", "mc_process"})


def _timed(fn) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, result) of one call."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall and best CPU time of ``repeat`` calls (the machine is shared)."""
    runs = [_timed(fn) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def bench_uproot(path: Path, branches: list[str], step: int) -> int:
    n = 0
    for arrays in uproot.iterate({str(path): "events"}, branches, step_size=step, library="ak"):
        n += len(arrays)
    return n


def bench_run(path: Path, sel: Selection, chunksize: int, validate: bool = False) -> dict:
    res = run(sel, {"bench": [str(path)]}, executor="iterative", chunksize=chunksize,
              progress=False, validate=validate)
    return res["bench"]


RDF_SCRIPT = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import ROOT
job = json.load(sys.stdin)
ROOT.DisableImplicitMT()
out = []
for loop in range(job["loops"]):  # the first event loop includes the JIT of the filters
    df = ROOT.RDataFrame("events", job["path"])
    node = df
    for label, expr in job["filters"]:
        node = node.Filter(expr, label)
    count = node.Count()
    report = node.Report()
    t, c = time.perf_counter(), time.process_time()
    final = count.GetValue()
    dt, dc = time.perf_counter() - t, time.process_time() - c
    passed = [report.At(label).GetPass() for label, _ in job["filters"]]
    out.append({"seconds": dt, "cpu": dc, "final": int(final), "passed": passed})
print(json.dumps(out))
"""


def root_python(explicit: str | None = None) -> str | None:
    """A Python with ROOT: ``explicit``, this one, $NA64_ROOT_PYTHON or /tmp/rootvenv."""
    cands = [explicit, os.environ.get("NA64_ROOT_PYTHON")]
    try:
        import ROOT  # noqa: F401  (only: is it importable here?)

        cands.insert(1, sys.executable)
    except ImportError:
        pass
    cands.append("/tmp/rootvenv/bin/python")
    for c in cands:
        if c and Path(c).exists():
            return c
    return None


def bench_rdf(path: Path, sel: Selection, python: str | None, loops: int) -> list | None:
    if not python:
        return None
    job = json.dumps({"path": str(path), "filters": sel.rdf_filters(), "loops": loops})
    out = subprocess.run([python, "-c", RDF_SCRIPT], input=job, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        print(f"  RDataFrame failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(path: Path, sel: Selection, cuts_only: Selection, branches: list[str], args,
            rpython: str | None, label: str) -> list[dict]:
    """Every method on one file; rows of {codec, file, MB, method, events, wall, cpu, note}."""
    size = path.stat().st_size / 1e6
    with uproot.open(path) as f:
        n_ev = int(f["events"].num_entries)
    rows = []

    def row(method, wall, cpu, note=""):
        rows.append({"codec": label, "file": path.name, "MB": size, "method": method,
                     "events": n_ev, "wall": wall, "cpu": cpu, "note": note})

    w, c, n = _best(lambda: bench_uproot(path, branches, args.chunksize), args.repeat)
    row("uproot.iterate, same branches", w, c)
    w, c, out = _best(lambda: bench_run(path, sel, args.chunksize), args.repeat)
    row("processor: run iterative (cuts + histograms)", w, c,
        f"pass all: {out['cutflow']['events'][-1]}")
    w, c, out_cuts = _best(lambda: bench_run(path, cuts_only, args.chunksize), args.repeat)
    row("processor: run iterative, cuts only", w, c)
    assert out["cutflow"]["events"].tolist() == out_cuts["cutflow"]["events"].tolist()
    if args.validated:
        w, c, _ = _best(lambda: bench_run(path, sel, args.chunksize, validate=True), 1)
        row("run() default: + input validation pass", w, c, "validate=True reads every branch")
    loops = bench_rdf(path, sel, rpython, max(2, args.repeat))
    if loops is None:
        row("RDataFrame 1 thread", float("nan"), float("nan"), "skipped: no ROOT")
    else:
        same = all(lp["passed"] == out["cutflow"]["events"][1:].tolist() for lp in loops)
        verdict = "cut flow identical" if same else "cut flow DIFFERS"
        row("RDataFrame 1 thread, first loop (incl. JIT)", loops[0]["seconds"], loops[0]["cpu"],
            verdict)
        row("RDataFrame 1 thread, later loop", min(lp["seconds"] for lp in loops[1:]),
            min(lp["cpu"] for lp in loops[1:]), verdict)
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """processor / uproot and processor / RDataFrame (best later loop), per codec."""
    out = []
    for codec in dict.fromkeys(r["codec"] for r in rows):
        rs = {r["method"]: r for r in rows if r["codec"] == codec}
        proc = rs["processor: run iterative (cuts + histograms)"]
        up = rs["uproot.iterate, same branches"]
        rdf = rs.get("RDataFrame 1 thread, later loop")
        rdf0 = rs.get("RDataFrame 1 thread, first loop (incl. JIT)")
        d = {"codec": codec,
             "proc_over_uproot_wall": up["wall"] / proc["wall"],
             "proc_over_uproot_cpu": up["cpu"] / proc["cpu"]}
        if rdf is not None:
            d["proc_over_rdf_wall"] = rdf["wall"] / proc["wall"]
            d["proc_over_rdf_cpu"] = rdf["cpu"] / proc["cpu"]
            d["proc_over_rdf_first_wall"] = rdf0["wall"] / proc["wall"]
        out.append(d)
    return out


def print_tables(rows: list[dict], rat: list[dict], header: str) -> None:
    print()
    print(header)
    print("| codec | file MB | method | events/s (wall) | events/s (CPU) | note |")
    print("|---|---:|---|---:|---:|---|")
    for r in rows:
        def f(t):
            return "—" if t != t else f"{r['events'] / t / 1e6:.2f} M"
        print(f"| {r['codec']} | {r['MB']:.0f} | {r['method']} | {f(r['wall'])} | "
              f"{f(r['cpu'])} | {r['note']} |")
    print()
    print("| codec | processor / uproot (wall, CPU) | processor / RDataFrame (wall, CPU) |")
    print("|---|---|---|")
    for d in rat:
        rdf = (f"{d['proc_over_rdf_wall']:.2f}×, {d['proc_over_rdf_cpu']:.2f}×"
               if "proc_over_rdf_wall" in d else "—")
        print(f"| {d['codec']} | {d['proc_over_uproot_wall']:.0%}, "
              f"{d['proc_over_uproot_cpu']:.0%} | {rdf} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "na64-bench")
    ap.add_argument("--selection", type=Path, default=DEFAULT_SELECTION)
    ap.add_argument("--chunksize", type=int, default=DEFAULT_CHUNKSIZE)
    ap.add_argument("--compression", default="lz4,zlib")
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings per method")
    ap.add_argument("--file", action="append", type=Path, default=[],
                    help="also measure this existing NTUPLE.md file (e.g. `na64 simulate`)")
    ap.add_argument("--validated", action="store_true",
                    help="also time run() with its default input validation pass")
    ap.add_argument("--root-python", default=None,
                    help="Python with ROOT for the RDataFrame peer (default: this one, "
                         "$NA64_ROOT_PYTHON or /tmp/rootvenv/bin/python)")
    ap.add_argument("--json", type=Path, default=None, help="write rows and ratios here")
    args = ap.parse_args(argv)

    # run() tunes glibc's allocator in the process that processes (analysis.chunkio); do it
    # first, so that the uproot peer is measured with the same allocator
    tuned = tune_allocator()
    sel = load_selection(args.selection)
    cfg = copy.deepcopy(sel.config.model_dump(mode="python"))
    cfg["histograms"] = []
    cuts_only = Selection.from_dict(cfg, source=f"{sel.source} (no histograms)")
    codecs = [c for c in args.compression.split(",") if c]
    branches = touched_branches(sel, args.file[0] if args.file and not codecs else None)
    rpython = root_python(args.root_python)
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"selection {sel.name}: {len(sel.cuts)} cuts, {len(sel.histograms)} histograms, "
          f"{len(branches)} branches: {', '.join(branches)}; RDataFrame: {rpython or 'none'}; "
          f"glibc allocator tuned for every method: {tuned}")
    rows = []
    for comp in codecs:
        path = make_file(args.dir / f"bench_v3_{args.events}_{comp}.root", args.events, comp)
        rows += measure(path, sel, cuts_only, branches, args, rpython, comp)
    for path in args.file:
        with uproot.open(path) as f:
            codec = type(f.file.compression).__name__.lower() if f.file.compression else "none"
        rows += measure(path, sel, cuts_only, touched_branches(sel, path), args, rpython,
                        f"{codec} ({path.name})")
    rat = ratios(rows)
    print_tables(rows, rat, f"{args.events:,} events per generated file, chunk/step "
                 f"{args.chunksize:,}, one core, best of {args.repeat} (wall and CPU separately)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratios": rat,
                                         "chunksize": args.chunksize, "repeat": args.repeat,
                                         "events": args.events}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
