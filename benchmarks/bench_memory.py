"""Peak memory of a long run: is it bounded by the chunk size?

    .venv/bin/python benchmarks/bench_memory.py [--events 10000000] [--chunksizes 50000,100000,200000]

Writes a large LZ4 NTUPLE.md file of random-but-plausible events (the generator of
``bench_processing.py``, written in pieces so the writer's memory stays small), then runs
``analysis.execution.run`` (iterative executor, ``validate=False``: the processor only) once
per chunk size, each in a fresh subprocess, and reports that process's peak resident set
size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) next to its RSS after the imports.
A last run uses ``run()``'s defaults (input validation on) at the default chunk size. The
file is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_processing import DEFAULT_SELECTION, make_file  # noqa: E402

from analysis.execution import DEFAULT_CHUNKSIZE  # noqa: E402

CHILD = r"""
import json, resource, sys, time
job = json.loads(sys.argv[1])
from analysis.execution import run
from analysis.selection import load_selection
sel = load_selection(job["selection"])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
res = run(sel, {"mem": [job["path"]]}, executor="iterative", chunksize=job["chunksize"],
          progress=False, **job["kwargs"])
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_MB": base / 1024, "peak_MB": peak / 1024, "seconds": dt,
                  "entries": int(res["mem"]["entries"]),
                  "pass_all": int(res["mem"]["cutflow"]["events"][-1])}))
"""


def measure(path: Path, selection: Path, chunksize: int, **kwargs) -> dict:
    job = json.dumps({"path": str(path), "selection": str(selection), "chunksize": chunksize,
                      "kwargs": kwargs})
    out = subprocess.run([sys.executable, "-c", CHILD, job], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--chunksizes", default="50000,100000,200000")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "na64-bench")
    ap.add_argument("--selection", type=Path, default=DEFAULT_SELECTION)
    ap.add_argument("--keep", action="store_true", help="keep the large file")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = make_file(args.dir / f"mem_{args.events}_lz4.root", args.events, "lz4")
    rows = []
    try:
        for cs in [int(c) for c in args.chunksizes.split(",")]:
            r = measure(path, args.selection, cs, validate=False)
            rows.append({"chunksize": cs, "validate": False, **r})
            print(f"  chunk {cs:>8,}: peak {r['peak_MB']:.0f} MB", flush=True)
        r = measure(path, args.selection, DEFAULT_CHUNKSIZE)
        rows.append({"chunksize": DEFAULT_CHUNKSIZE, "validate": True, **r})
    finally:
        size = path.stat().st_size / 1e6
        if not args.keep:
            path.unlink()
    print()
    print(f"{args.events:,} events, {size:.0f} MB LZ4 file, iterative executor, one process "
          "per row")
    print("| chunk size | run() | RSS after imports | peak RSS | peak − imports | events/s |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        what = "defaults (validate=True)" if r["validate"] else "validate=False"
        print(f"| {r['chunksize']:,} | {what} | {r['base_MB']:.0f} MB | {r['peak_MB']:.0f} MB | "
              f"{r['peak_MB'] - r['base_MB']:.0f} MB | {r['entries'] / r['seconds'] / 1e6:.2f} M |")
    if args.json:
        args.json.write_text(json.dumps({"events": args.events, "file_MB": size, "rows": rows},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
