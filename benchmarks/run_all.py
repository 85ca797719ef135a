"""All benchmarks in one go (``make bench``): processing, simulation, limits [, memory].

    .venv/bin/python benchmarks/run_all.py [--quick] [--memory] [--out DIR]

Runs each benchmark script as a subprocess (one core each, one after the other) with
``--json``, keeps their full output in ``DIR`` (default ``/tmp/na64-bench/report``) and
prints one summary table. The processing benchmark measures LZ4 and ZLIB files against a
plain uproot read and, when a Python with ROOT is found (``$NA64_ROOT_PYTHON``, else
``/tmp/rootvenv/bin/python``, else this Python), against single-threaded RDataFrame; without
ROOT that row is skipped. ``--memory`` adds the peak-RSS benchmark (a 10⁷-event file,
~3 min more). ``--quick`` uses smaller samples (a smoke test, ~2 min).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(name: str, args: list[str], out: Path, env: dict) -> tuple[dict | list | None, float]:
    js = out / f"{name}.json"
    log = out / f"{name}.log"
    js.unlink(missing_ok=True)
    t = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, str(HERE / f"bench_{name}.py"), *args,
                             "--json", str(js)], stdout=f, stderr=subprocess.STDOUT, env=env,
                            check=False).returncode
    dt = time.perf_counter() - t
    if rc != 0 or not js.exists():
        print(f"[{name}] failed (exit {rc}); see {log}", flush=True)
        return None, dt
    print(f"[{name}] done in {dt:.0f} s (log: {log})", flush=True)
    return json.loads(js.read_text()), dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/na64-bench/report"))
    ap.add_argument("--quick", action="store_true", help="small samples (smoke test)")
    ap.add_argument("--memory", action="store_true", help="also the 1e7-event peak-RSS run")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if not env.get("NA64_ROOT_PYTHON") and Path("/tmp/rootvenv/bin/python").exists():
        env["NA64_ROOT_PYTHON"] = "/tmp/rootvenv/bin/python"
    print(f"RDataFrame peer: {env.get('NA64_ROOT_PYTHON') or 'ROOT in this Python, if any'}")

    t0 = time.perf_counter()
    proc_args = ["--events", "300000", "--repeat", "2"] if args.quick else ["--repeat", "3"]
    proc, _ = _run("processing", proc_args, args.out, env)
    sim, _ = _run("simulation", ["--eot", "2e7", "--repeat", "1"] if args.quick else [],
                  args.out, env)
    lim, _ = _run("limits", ["--pyhf-points", "2", "--ntoys", "5000"] if args.quick else [],
                  args.out, env)
    mem = None
    if args.memory:
        mem, _ = _run("memory", ["--events", "1000000"] if args.quick else [], args.out, env)

    print()
    print(f"## Benchmarks (one core each; total {time.perf_counter() - t0:.0f} s)")
    print()
    print("| benchmark | what | figure |")
    print("|---|---|---:|")
    if proc:
        for r in proc["rows"]:
            rate = r["events"] / r["wall"] if r["wall"] == r["wall"] else float("nan")
            fig = "skipped" if rate != rate else f"{rate / 1e6:.2f} M events/s"
            print(f"| processing, {r['codec']} | {r['method']} | {fig} |")
        for d in proc["ratios"]:
            line = f"processor / uproot {d['proc_over_uproot_wall']:.0%} (CPU " \
                   f"{d['proc_over_uproot_cpu']:.0%})"
            if "proc_over_rdf_wall" in d:
                line += f"; processor / RDataFrame {d['proc_over_rdf_wall']:.2f}× (CPU " \
                        f"{d['proc_over_rdf_cpu']:.2f}×)"
            print(f"| processing, {d['codec']} | ratios | {line} |")
    if sim:
        for r in sim["rows"]:
            mb = f", {r['MB']:.0f} MB" if r.get("MB") else ""
            print(f"| simulation ({sim['eot']:.0e} EOT) | {r['step']} | "
                  f"{r['events_per_s'] / 1e3:.0f} k events/s ({r['seconds']:.2f} s{mb}) |")
    if lim:
        for r in lim:
            print(f"| limits (100 masses) | {r['path']} | {r['limits_per_s']:.1f} limits/s |")
    if mem:
        for r in mem["rows"]:
            what = "run() defaults" if r["validate"] else "validate=False"
            print(f"| memory ({mem['events']:.0e} events) | chunk {r['chunksize']:,}, {what} | "
                  f"peak RSS {r['peak_MB']:.0f} MB (imports {r['base_MB']:.0f} MB) |")
    for name, res in (("processing", proc), ("simulation", sim), ("limits", lim)):
        if res is None:
            print(f"\n{name} benchmark failed: see {args.out / (name + '.log')}")
    return 0 if proc and sim and lim else 1


if __name__ == "__main__":
    sys.exit(main())
