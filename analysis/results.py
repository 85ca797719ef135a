"""Write a run's results to a directory (ROOT/JSON/Markdown, no pickles) and read them back.

``write_results(result, out_dir)`` writes:

* ``cutflow.json``  ``{"selection", "n_on_target", "box", "datasets": {NAME: {"n_on_target",
  "kind", "entries", "blinded", "cuts": [{"name": "all", "events", "weighted"}, ...],
  "nminusone": {label: {"events", "weighted"}}, "by_process": {process: {"code", "cuts"}}}}}``
  — keys sorted, no times or paths, weighted sums rounded to 12 significant digits, so the
  file is identical whatever the executor or chunking. Blinded entries are null.
* ``cutflow.md``    one table per dataset: per-cut and cumulative efficiencies, N−1 counts,
  and for simulation the weighted cut flow per process.
* ``histograms.root`` TH1D/TH2D (uproot) named ``<dataset>/<histogram>/<stage>`` (summed over
  processes) and, for simulation, ``<dataset>/<histogram>/<stage>__<process>``.
* ``histograms.json`` every histogram with all its axes (stage, process, variables):
  ``{"selection", "datasets": {NAME: {hist: {"axes": [...], "values", "variances"}}}}``;
  :func:`hist_from_dict` rebuilds the ``hist.Hist``.
* ``provenance.json`` inputs (path, size, xxh3_64 checksum, entries, n_on_target), the
  selection (file, sha256 of its text, resolved configuration, signal box), package
  versions, executor settings, command line and time.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import mmap
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hist
import numpy as np
import uproot
import xxhash

from .codes import Process
from .execution import RunResult
from .processors.base import DATA_PROCESS

GOOD_SPILLS = "good_spills"
FILES = ("cutflow.json", "cutflow.md", "histograms.root", "histograms.json", "provenance.json")
PACKAGES = ("na64-analysis", "coffea", "awkward", "uproot", "hist", "boost-histogram", "numpy",
            "dask", "distributed", "pydantic", "PyYAML", "mplhep", "matplotlib")


def process_name(code: int) -> str:
    """``mc_process`` code → lower-case name (``analysis.codes.Process``); −1 → ``data``."""
    if code == DATA_PROCESS:
        return "data"
    try:
        return Process(code).name.lower()
    except ValueError:
        return f"process_{code}"


def _r(x: float) -> float:
    return float(f"{float(x):.12g}")


def dataset_kind(d: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> str:
    """The manifest's ``kind`` when the run came from a manifest, else ``simulation`` or
    ``data`` from ``runinfo.is_mc`` (``mixed`` if the files disagree)."""
    if metadata and metadata.get("kind"):
        return str(metadata["kind"])
    kinds = sorted({"mc": "simulation"}.get(k, k) for k, n in d.get("kind", {}).items() if n)
    return kinds[0] if len(kinds) == 1 else ("mixed" if kinds else "unknown")


def _is_mc(d: Mapping[str, Any]) -> bool:
    return bool(d.get("kind", {}).get("mc")) and not d.get("kind", {}).get("data")


# ----------------------------------------------------------------------------------------
# Cut flow
# ----------------------------------------------------------------------------------------


def cutflow_document(result: RunResult) -> dict[str, Any]:
    """The ``cutflow.json`` content (see module docstring)."""
    sel = result.selection
    labels = sel.labels
    names = ["all"] + labels
    first_box = labels.index(sel.box[0]) + 1
    datasets = {}
    for ds in sorted(result.output):
        d = result.output[ds]
        kind = dataset_kind(d, result.metadata.get(ds))
        blinded = bool(d["blinded"]) if "blinded" in d else bool(sel.blinding and not _is_mc(d))

        def rows(events, weighted, *, blind=blinded):
            out = []
            for i, name in enumerate(names):
                hidden = blind and i >= first_box
                out.append({"name": name,
                            "events": None if hidden else int(events[i]),
                            "weighted": None if hidden else _r(weighted[i])})
            return out

        cf = d["cutflow"]
        cuts = rows(cf["events"], cf["weighted"])
        if "bad_spills" in d:  # events of bad spills were removed before every cut
            bs = d["bad_spills"]
            cuts.insert(1, dict(cuts[0], name=GOOD_SPILLS))
            cuts[0] = {"name": "all", "events": int(cf["events"][0] + bs["events"]),
                       "weighted": _r(cf["weighted"][0] + bs["weighted"])}
        nm1 = {}
        for i, lab in enumerate(labels):
            # blinded: N−1 of a pre-box cut lies inside the box
            hidden = blinded and lab not in sel.box
            nm1[lab] = {"events": None if hidden else int(d["nminusone"]["events"][i]),
                        "weighted": None if hidden else _r(d["nminusone"]["weighted"][i])}
        by_process = {}
        for code in sorted(d.get("by_process", {})):
            p = d["by_process"][code]
            prow = rows(p["events"], p["weighted"])
            if "bad_spills" in d:  # per process: counted after the spill filter
                prow.insert(1, dict(prow[0], name=GOOD_SPILLS))
            by_process[process_name(int(code))] = {"code": int(code), "cuts": prow}
        datasets[ds] = {
            "n_on_target": float(d["n_on_target"]),
            "kind": kind,
            "entries": int(d["entries"]),
            "blinded": blinded,
            "cuts": cuts,
            "nminusone": nm1,
            "by_process": by_process,
        }
    for ds, d in datasets.items():
        if "bad_spills" in result.output[ds]:
            d["bad_spills"] = {"events": int(result.output[ds]["bad_spills"]["events"]),
                               "n_on_target_removed": _r(sum(
                                   (i.n_on_target_all or 0.0) - i.n_on_target
                                   for i in result.inputs if i.dataset == ds))}
    total = float(sum(v["n_on_target"] for v in datasets.values()))
    exposure = dict(getattr(result, "exposure", None) or {}) or {
        "requested": total, "processed": total, "reconciled": not result.shortfall}
    return {
        "selection": sel.name,
        "n_on_target": total,
        "box": list(sel.box),
        "datasets": datasets,
        "skipped_files": [{"dataset": b.dataset, "path": b.path, "reason": b.reason,
                           "stage": b.stage, "n_on_target": b.n_on_target,
                           "entries": b.entries}
                          for b in getattr(result, "skipped", None) or []],
        "exposure": {"requested": exposure.get("requested"),
                     "processed": exposure.get("processed"),
                     "reconciled": bool(exposure.get("reconciled", not result.shortfall))},
    }


def _pct(num, den) -> str:
    if num is None or den in (None, 0):
        return "—"
    return f"{100.0 * num / den:.3g}%"


def _num(x) -> str:
    if x is None:
        return "blinded"
    if isinstance(x, int):
        return str(x)
    return f"{x:.6g}"


def cutflow_markdown(doc: Mapping[str, Any], result: RunResult | None = None) -> str:
    """``cutflow.md``: readable tables of a :func:`cutflow_document`."""
    cuts_of = {}
    if result is not None:
        cuts_of = {c.label: c.cut for c in result.selection.cuts}
    lines = [f"# Cut flow — selection `{doc['selection']}`", "",
             f"Particles on target (all datasets): {doc['n_on_target']:.6g}. "
             f"Signal box: {', '.join(f'`{b}`' for b in doc['box'])}. "
             "Efficiencies use the weighted counts (mc_weight; 1 for data); "
             "*step* is relative to the previous cut, *cumulative* to `all`; "
             "N−1 counts events passing every cut but that one.", ""]
    for ds, d in doc["datasets"].items():
        lines += [f"## {ds}", "",
                  f"kind: {d['kind']}, entries: {d['entries']}, "
                  f"n_on_target: {d['n_on_target']:.6g}"
                  + (", **blinded** (signal box hidden)" if d["blinded"] else ""), "",
                  "| # | cut | primitive | events | weighted | step eff. | cumulative eff. "
                  "| N−1 events |",
                  "|---:|---|---|---:|---:|---:|---:|---:|"]
        total = d["cuts"][0]["weighted"]
        prev = total
        for i, row in enumerate(d["cuts"]):
            nm1 = d["nminusone"].get(row["name"], {}).get("events", "") if i else ""
            box = " (box)" if row["name"] in doc["box"] else ""
            lines.append(
                f"| {i} | `{row['name']}`{box} | {cuts_of.get(row['name'], '')} | "
                f"{_num(row['events'])} | {_num(row['weighted'])} | "
                f"{_pct(row['weighted'], prev) if i else ''} | {_pct(row['weighted'], total)} "
                f"| {_num(nm1) if i and nm1 != '' else ''} |")
            prev = row["weighted"]
        if d["by_process"]:
            procs = list(d["by_process"])
            lines += ["", "Weighted cut flow by `mc_process`:", "",
                      "| cut | " + " | ".join(procs) + " |",
                      "|---|" + "---:|" * len(procs)]
            for i, row in enumerate(d["cuts"]):
                vals = [_num(next((c["weighted"] for c in d["by_process"][p]["cuts"]
                                   if c["name"] == row["name"]), None)) for p in procs]
                lines.append(f"| `{row['name']}` | " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# Histograms
# ----------------------------------------------------------------------------------------


def sort_categories(h: hist.Hist) -> hist.Hist:
    """Copy of ``h`` with its growing integer-category axes sorted (deterministic output)."""
    perms = []
    axes = []
    for ax in h.axes:
        if isinstance(ax, hist.axis.IntCategory) and ax.traits.growth:
            cats = [int(c) for c in ax]
            order = np.argsort(cats, kind="stable")
            perms.append(order)
            axes.append(hist.axis.IntCategory(sorted(cats), growth=True, name=ax.name,
                                              label=ax.label))
        else:
            perms.append(None)
            axes.append(ax)
    out = hist.Hist(*axes, storage=h.storage_type(), name=h.name, label=h.label)
    view = h.view(flow=True)
    for i, p in enumerate(perms):
        if p is not None:
            view = np.take(view, p, axis=i)
    out.view(flow=True)[...] = view
    return out


def hist_to_dict(h: hist.Hist) -> dict[str, Any]:
    """JSON form of a Weight-storage histogram: axes, values and variances *with* the
    under/overflow bins of numeric axes (``"flow": true``)."""
    h = sort_categories(h)
    axes = []
    for ax in h.axes:
        d: dict[str, Any] = {"name": ax.name, "label": ax.label}
        if isinstance(ax, hist.axis.StrCategory):
            d.update(type="str_category", categories=list(ax), growth=ax.traits.growth,
                     overflow=ax.traits.overflow)
        elif isinstance(ax, hist.axis.IntCategory):
            d.update(type="int_category", categories=[int(c) for c in ax],
                     growth=ax.traits.growth, overflow=ax.traits.overflow)
        elif isinstance(ax, hist.axis.Regular):
            d.update(type="regular", bins=int(ax.size), start=float(ax.edges[0]),
                     stop=float(ax.edges[-1]), edges=[float(e) for e in ax.edges])
        elif isinstance(ax, hist.axis.Variable):
            d.update(type="variable", edges=[float(e) for e in ax.edges])
        else:  # pragma: no cover
            raise TypeError(f"axis type {type(ax).__name__} not supported")
        axes.append(d)
    view = h.view(flow=True)
    return {"name": h.name, "axes": axes, "storage": "weight", "flow": True,
            "values": view["value"].tolist(), "variances": view["variance"].tolist()}


def hist_from_dict(d: Mapping[str, Any]) -> hist.Hist:
    """Inverse of :func:`hist_to_dict`."""
    axes = []
    for a in d["axes"]:
        kw = {"name": a["name"], "label": a.get("label") or a["name"]}
        if a["type"] == "str_category":
            axes.append(hist.axis.StrCategory(a["categories"], growth=a["growth"],
                                              overflow=a["overflow"], **kw))
        elif a["type"] == "int_category":
            axes.append(hist.axis.IntCategory(a["categories"], growth=a["growth"],
                                              overflow=a["overflow"], **kw))
        elif a["type"] == "regular":
            axes.append(hist.axis.Regular(a["bins"], a["start"], a["stop"], **kw))
        elif a["type"] == "variable":
            axes.append(hist.axis.Variable(a["edges"], **kw))
        else:
            raise ValueError(f"unknown axis type {a['type']!r}")
    h = hist.Hist(*axes, storage=hist.storage.Weight(), name=d.get("name"))
    view = h.view(flow=True)
    # reshape: an empty category axis makes the nested lists lose their inner dimensions
    view["value"] = np.asarray(d["values"], dtype=np.float64).reshape(view.shape)
    view["variance"] = np.asarray(d["variances"], dtype=np.float64).reshape(view.shape)
    return h


def histograms_document(result: RunResult) -> dict[str, Any]:
    return {"selection": result.selection.name,
            "datasets": {ds: {name: hist_to_dict(h)
                              for name, h in sorted(result.output[ds]["histograms"].items())}
                         for ds in sorted(result.output)}}


def _root_name(*parts: str) -> str:
    return "/".join(p.replace("/", "_") for p in parts)


def write_histograms_root(result: RunResult, path: str | Path) -> list[str]:
    """TH1D/TH2D per dataset, histogram and stage (and process, for simulation)."""
    names = []
    with uproot.recreate(path) as f:
        for ds in sorted(result.output):
            d = result.output[ds]
            per_process = _is_mc(d)
            for hname, h in sorted(d["histograms"].items()):
                h = sort_categories(h)
                for stage in h.axes["stage"]:
                    sub = h[{"stage": stage}]
                    total = sub[{"process": sum}]
                    name = _root_name(ds, hname, stage)
                    f[name] = total
                    names.append(name)
                    if per_process:
                        for code in sub.axes["process"]:
                            pname = f"{name}__{process_name(int(code))}"
                            f[pname] = sub[{"process": hist.loc(code)}]
                            names.append(pname)
    return names


# ----------------------------------------------------------------------------------------
# Provenance
# ----------------------------------------------------------------------------------------


def file_checksum(path: str | Path) -> str:
    """xxh3_64 of a file's bytes, hex (hashed from a read-only memory map: no copies)."""
    x = xxhash.xxh3_64()
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                x.update(m)
    return x.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def provenance_document(result: RunResult, *, command_line: Sequence[str] | None = None,
                        checksums: bool = True) -> dict[str, Any]:
    sel = result.selection
    inputs = []
    for i in result.inputs:
        entry = {"dataset": i.dataset, "path": i.path, "size": i.size, "entries": i.entries,
                 "n_on_target": i.n_on_target, "is_mc": i.is_mc}
        if checksums and getattr(i, "checksum", ""):
            entry["xxh3_64"] = i.checksum
        elif checksums and Path(i.path).exists():
            entry["xxh3_64"] = file_checksum(i.path)
        if getattr(i, "n_on_target_all", None) is not None:
            entry["n_on_target_all_spills"] = i.n_on_target_all
        inputs.append(entry)
    selection = {"name": sel.name, "file": sel.source, "sha256": sel.sha256,
                 "config": sel.to_dict(), "box": sel.box,
                 "box_region": {k: list(v) for k, v in sel.box_region().items()}}
    src = Path(sel.source) if sel.source and not str(sel.source).startswith("<") else None
    if src is not None and src.is_file():
        selection["path"] = str(src.resolve())
        selection["text"] = src.read_text(encoding="utf-8")
    return {
        "format": 2,
        "cwd": os.getcwd(),
        "selection": selection,
        "inputs": inputs,
        "datasets": {ds: {"files": list(files),
                          "metadata": dict(result.metadata.get(ds) or {})}
                     for ds, files in (getattr(result, "requested", None) or {
                         i.dataset: [j.path for j in result.inputs if j.dataset == i.dataset]
                         for i in result.inputs}).items()},
        "execution": dict(result.settings),
        "bad_spills": [list(p) for p in getattr(result, "bad_spills", None) or []],
        "skipped_files": [dict(b.to_dict(), xxh3_64=file_checksum(b.path)
                               if checksums and Path(b.path).is_file() else None)
                          for b in getattr(result, "skipped", None) or []],
        "exposure": dict(getattr(result, "exposure", None) or {}),
        "chunks": dict(getattr(result, "chunks", None) or {}),
        "shortfall": list(result.shortfall),
        "versions": package_versions(),
        "command_line": list(command_line if command_line is not None else sys.argv),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------------------
# Writing and reading a results directory
# ----------------------------------------------------------------------------------------


def _dump(obj: Any, path: Path, indent: int | None = 1) -> None:
    path.write_text(json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def write_results(result: RunResult, out_dir: str | Path, *,
                  command_line: Sequence[str] | None = None) -> dict[str, Path]:
    """Write the five result files into ``out_dir`` (created); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in FILES}
    doc = cutflow_document(result)
    _dump(doc, paths["cutflow.json"])
    paths["cutflow.md"].write_text(cutflow_markdown(doc, result))
    write_histograms_root(result, paths["histograms.root"])
    _dump(histograms_document(result), paths["histograms.json"], indent=None)
    _dump(provenance_document(result, command_line=command_line), paths["provenance.json"])
    return paths


class ExposureError(ValueError):
    """A result's particles on target do not reconcile with what was requested."""


def check_exposure(results_dir: str | Path, allow_partial: bool = False) -> dict[str, Any]:
    """Check that a results directory's exposure is complete; return ``cutflow.json``'s
    ``exposure`` (with ``skipped_files``). Raises :class:`ExposureError` naming the
    skipped files and the missing particles on target unless ``allow_partial``."""
    path = Path(results_dir) / "cutflow.json"
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise ExposureError(f"{path}: cannot read the cut flow ({exc}); is {results_dir} a "
                            "`na64 run` output directory?") from None
    except ValueError as exc:
        raise ExposureError(f"{path}: not valid JSON ({exc})") from None
    exp = doc.get("exposure")
    if not isinstance(exp, dict) or "reconciled" not in exp:
        raise ExposureError(f"{path}: no 'exposure' record (written by an older `na64 run`); "
                            "re-run the processing step")
    skipped = doc.get("skipped_files") or []
    info = dict(exp, skipped_files=skipped)
    if exp["reconciled"] or allow_partial:
        return info
    req, got = exp.get("requested"), exp.get("processed")
    lines = [f"{path}: exposure is not reconciled: processed {got:.6g} particles on target"
             + (f" of {req:.6g} requested" if req is not None else
                " (the requested total is unknown: a skipped file was unreadable)")]
    lines += [f"  skipped {s['path']} (dataset {s['dataset']}): {s['reason']}" for s in skipped]
    lines.append("fix the inputs and re-run, or pass --allow-partial to use the partial "
                 "exposure (normalised to what was processed)")
    raise ExposureError("\n".join(lines))


class RerunError(ValueError):
    """A provenance record cannot be re-run as it stands (changed input, missing key...)."""


def rerun(provenance: str | Path, out_dir: str | Path, *, executor: str | None = None,
          workers: int | None = None, scheduler: str | None = None, progress: bool = True,
          checkpoint: str | Path | None = None):
    """Re-run the processing recorded in ``provenance`` (a ``provenance.json``) and write
    the results to ``out_dir``; return ``(RunResult, paths)``.

    Uses the selection *content* stored in the record (checked against its sha256), the
    same input files (each refused if its xxh3_64 checksum changed), datasets and their
    metadata, bad spills, chunk size, schema, validation and bad-file policy. The executor
    may be overridden (results do not depend on it); a recorded batch cluster or scheduler
    address is not reused (a local executor runs instead unless ``scheduler`` is given).
    """
    import yaml

    from .execution import run
    from .processors import processor_for
    from .selection import Selection

    provenance = Path(provenance)
    try:
        prov = json.loads(provenance.read_text())
    except (OSError, ValueError) as exc:
        raise RerunError(f"{provenance}: cannot read the provenance record ({exc})") from None
    for key in ("selection", "inputs", "execution", "datasets"):
        if key not in prov:
            raise RerunError(f"{provenance}: no '{key}' in the record (written by an older "
                             "`na64 run`?); it cannot be re-run from the record alone")
    psel = prov["selection"]
    if psel.get("text") is not None:
        data = yaml.safe_load(psel["text"])
        sel = Selection.from_dict(data, source=psel.get("file") or "<provenance>",
                                  text=psel["text"])
    else:
        sel = Selection.from_dict(psel["config"], source=psel.get("file") or "<provenance>")
    if psel.get("text") is not None and sel.sha256 != psel.get("sha256"):
        raise RerunError(f"{provenance}: the stored selection text does not match its "
                         f"recorded sha256; the record was edited")
    if sel.to_dict() != psel.get("config"):
        raise RerunError(f"{provenance}: the stored selection resolves to a different "
                         "configuration than recorded (cut defaults changed in the code?)")
    ex = prov["execution"]
    proc = processor_for(sel)
    if ex.get("processor") and type(proc).__name__ != ex["processor"]:
        raise RerunError(f"{provenance}: the run used processor {ex['processor']}, the "
                         f"selection now maps to {type(proc).__name__}; re-run it from Python "
                         "with processor_instance=")
    base = Path(prov.get("cwd") or ".")

    def where(p: str) -> str:  # relative paths: as given, else against the recorded cwd
        return p if Path(p).exists() or Path(p).is_absolute() else str(base / p)

    problems = []
    checks = [(where(i["path"]), i.get("xxh3_64")) for i in prov["inputs"]]
    checks += [(where(s["path"]), s.get("xxh3_64")) for s in prov.get("skipped_files", [])
               if s.get("xxh3_64")]
    for path, digest in checks:
        if not Path(path).is_file():
            problems.append(f"{path}: input file is missing")
        elif digest and file_checksum(path) != digest:
            problems.append(f"{path}: checksum is now {file_checksum(path)}, the run "
                            f"recorded {digest}; the file changed since the run: restore it")
        elif not digest:
            problems.append(f"{path}: no checksum recorded; cannot prove it is unchanged")
    if problems:
        raise RerunError(f"{provenance}: refusing to re-run:\n  " + "\n  ".join(problems))
    fileset: dict[str, Any] = {}
    for ds, d in prov["datasets"].items():
        files = {where(p): "events" for p in d["files"]}
        fileset[ds] = {"files": files, "metadata": d["metadata"]} if d.get("metadata") \
            else list(files)
    rec_exec = ex.get("executor", "futures")
    cluster = ex.get("cluster") if (ex.get("cluster") or "").startswith("local") else None
    result = run(
        sel, fileset, executor=executor or rec_exec, workers=workers or ex.get("workers"),
        chunksize=int(ex.get("chunksize", 100_000)), maxchunks=ex.get("maxchunks"),
        scheduler=scheduler, cluster=None if scheduler or executor else cluster,
        schema={"BaseSchema": "base", "NA64Schema": "na64"}.get(ex.get("schema"), "auto"),
        reader=ex.get("reader", "nanoevents"), progress=progress,
        skip_bad_files=bool(ex.get("skip_bad_files", ex.get("skipbadfiles", False))),
        bad_spills=[tuple(p) for p in prov.get("bad_spills", [])] or None,
        validate=bool(ex.get("validate", True)), checkpoint=checkpoint)
    paths = write_results(result, out_dir,
                          command_line=["na64", "rerun", str(provenance), "--out", str(out_dir)])
    return result, paths


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """``{"cutflow", "provenance", "histograms": {dataset: {name: hist.Hist}}}``."""
    out = Path(out_dir)
    cutflow = json.loads((out / "cutflow.json").read_text())
    prov = json.loads((out / "provenance.json").read_text())
    hj = json.loads((out / "histograms.json").read_text())
    hists = {ds: {name: hist_from_dict(h) for name, h in hs.items()}
             for ds, hs in hj["datasets"].items()}
    return {"cutflow": cutflow, "provenance": prov, "histograms": hists}


__all__ = ["ExposureError", "FILES", "RerunError", "rerun", "check_exposure", "cutflow_document", "cutflow_markdown", "file_checksum", "hist_from_dict",
           "hist_to_dict", "histograms_document", "load_results", "process_name",
           "provenance_document", "sort_categories", "write_histograms_root", "write_results"]
