"""Small helpers for selection studies (the notebooks in ``notebooks/``, docs/notebooks.md).

A study changes one thing of a validated selection — a cut parameter, a cut removed — runs it
with :func:`analysis.execution.run` and compares counts. Nothing here re-implements a cut:

* :func:`modified_selection` edits a loaded :class:`~analysis.selection.Selection` in memory
  (``Selection.to_dict`` → change → ``Selection.from_dict``, so the result is validated like a
  file) and keeps the histogram stages consistent when cuts are dropped;
* :func:`scan_parameter` runs one such variant per value of a cut parameter;
* :func:`count_below` / :func:`count_above` turn one histogram filled once into the counts for
  many thresholds. The counts are cumulative sums over bins, so the count for a looser cut
  contains the count for a tighter one *exactly* (also in floating point): a threshold scan
  made this way is monotonic by construction, as the nested event sets are;
* :func:`produced_above` is the denominator of the signal efficiency used by
  :func:`analysis.pipeline.signal_efficiency` (generated events with E_X ≥ E_min);
* :func:`cut_counts` reads the cut flow of a result at a cut label, per process;
* :func:`run_options` picks the executor: a dask scheduler when ``NA64_SCHEDULER`` is set;
* :func:`clear_notebook_outputs` strips outputs before a notebook is committed
  (``python -m analysis.studies clear-outputs notebooks/*.ipynb``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .selection import NM1_PREFIX, STAGE_ALL, Selection

__all__ = ["Counts", "ScanPoint", "clear_notebook_outputs", "count_above", "count_below", "cut_counts",
           "modified_selection", "nm1_stage", "produced_above", "run_options", "scan_parameter",
           "split_processes"]


# --- selections -------------------------------------------------------------------------------


def modified_selection(selection: Selection, *, params: Mapping[str, Mapping[str, Any]] | None = None,
                       drop: Iterable[str] = (), histograms: Sequence[Mapping] | None = None,
                       add_histograms: Sequence[Mapping] = (), name: str | None = None,
                       description: str | None = None) -> Selection:
    """A copy of ``selection`` with cut parameters changed and/or cuts removed.

    ``params``: ``{cut label: {parameter: value}}``, merged into the cut's parameters (the
    other parameters keep their values). ``drop``: cut labels to remove; a dropped box cut
    leaves the signal box too. Histogram stages that named a dropped cut are moved to the
    preceding remaining cut (the same events: the dropped cut no longer exists), N−1 stages
    of a dropped cut are removed, and a histogram left without a stage is removed.
    ``histograms`` replaces the histogram list (dicts in the selection-file format), and
    ``add_histograms`` appends to it. The result is validated by
    :meth:`Selection.from_dict`, so an invalid change raises
    :class:`~analysis.selection.SelectionError`; ``selection`` itself is not modified.
    """
    d = copy.deepcopy(selection.to_dict())
    labels = [c["name"] for c in d["cuts"]]
    params = dict(params or {})
    unknown = [lab for lab in list(params) + list(drop) if lab not in labels]
    if unknown:
        raise KeyError(f"no cut labelled {unknown} in selection {selection.name!r}; "
                       f"labels: {labels}")
    for c in d["cuts"]:
        if c["name"] in params:
            c["params"] = {**c["params"], **dict(params[c["name"]])}
    dropped = set(drop)
    if dropped:
        # the stage "after cut X" for a dropped X is "after the last remaining cut before X"
        moved, prev = {}, STAGE_ALL
        for lab in labels:
            if lab in dropped:
                moved[lab] = prev
            else:
                prev = lab
        d["cuts"] = [c for c in d["cuts"] if c["name"] not in dropped]
        d["signal_box"] = [b for b in d["signal_box"] if b not in dropped]
        hists = []
        for h in d["histograms"]:
            stages = []
            for s in h.get("stages", []):
                s = moved.get(s, s)
                if s not in stages:
                    stages.append(s)
            h["stages"] = stages
            h["nminusone"] = [c for c in h.get("nminusone", []) if c not in dropped]
            if h["stages"] or h["nminusone"]:
                hists.append(h)
        d["histograms"] = hists
    if histograms is not None:
        d["histograms"] = [dict(h) for h in histograms]
    d["histograms"] = list(d["histograms"]) + [dict(h) for h in add_histograms]
    if name is not None:
        d["name"] = name
    if description is not None:
        d["description"] = description
    return Selection.from_dict(d, source=f"{selection.source} (modified)")


@dataclass
class ScanPoint:
    """One point of :func:`scan_parameter`: the value, the selection run, its result."""

    value: Any
    selection: Selection
    result: Any  # analysis.execution.RunResult


def scan_parameter(selection: Selection, label: str, values: Iterable[Any],
                   fileset: Mapping[str, Any], *, param: str | None = None,
                   histograms: Sequence[Mapping] | None = None,
                   **run_kwargs) -> list[ScanPoint]:
    """Run ``selection`` once per value of a cut parameter; returns a :class:`ScanPoint` each.

    With ``param``, each value is that parameter of cut ``label``; without, each value is a
    dict of parameters of the cut. A value ``None`` removes the cut (the "no cut" point).
    ``histograms`` replaces the histogram list of every variant (``[]`` for speed when only
    cut flows are needed). ``run_kwargs`` go to :func:`analysis.execution.run`
    (e.g. ``**run_options()``).
    """
    from .execution import run

    out = []
    for v in values:
        if v is None:
            sel = modified_selection(selection, drop=[label], histograms=histograms)
        else:
            p = {param: v} if param is not None else dict(v)
            sel = modified_selection(selection, params={label: p}, histograms=histograms)
        out.append(ScanPoint(v, sel, run(sel, fileset, **run_kwargs)))
    return out


def run_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`analysis.execution.run` in a study.

    ``NA64_SCHEDULER=tcp://host:port`` → the dask executor on that scheduler (``make
    cluster`` starts one); otherwise ``NA64_EXECUTOR`` (``iterative`` by default: for the
    built-in sample the start-up of a process pool costs more than it saves) with
    ``NA64_WORKERS`` workers (default: all local cores). Progress bars are off.
    """
    env = os.environ if environ is None else environ
    sched = env.get("NA64_SCHEDULER", "").strip()
    if sched:
        return {"executor": "dask", "scheduler": sched, "progress": False}
    opts: dict[str, Any] = {"executor": env.get("NA64_EXECUTOR", "iterative").strip()
                            or "iterative", "progress": False}
    if env.get("NA64_WORKERS", "").strip():
        opts["workers"] = int(env["NA64_WORKERS"])
    return opts


# --- counts from histograms -------------------------------------------------------------------


@dataclass
class Counts:
    """Summed weights and summed squared weights (one entry per threshold)."""

    values: np.ndarray
    variances: np.ndarray

    @property
    def errors(self) -> np.ndarray:
        return np.sqrt(self.variances)

    def scaled(self, factor: float) -> "Counts":
        return Counts(self.values * factor, self.variances * factor**2)

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.values + other.values, self.variances + other.variances)


def _edge_index(edges: np.ndarray, cut: float, what: str) -> int:
    """Index of the bin edge equal to ``cut`` (regular axes compute their edges in floating
    point, e.g. 14.499999999999998 for 14.5: the nearest edge within 1e-9 is taken)."""
    i = int(np.argmin(np.abs(edges - cut)))
    if not np.isclose(edges[i], cut, rtol=0, atol=1e-9 * max(1.0, abs(cut))):
        raise ValueError(f"{what}: cut {cut!r} is not a bin edge of {edges.tolist()}")
    return i


def _flow_arrays(h) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    vals = np.asarray(h.values(flow=True), float)
    var = h.variances(flow=True)
    var = vals.copy() if var is None else np.asarray(var, float)
    edges = []
    for ax in h.axes:
        if not (ax.traits.underflow and ax.traits.overflow):
            raise ValueError(f"axis {ax.name!r} needs under- and overflow bins")
        edges.append(np.asarray(ax.edges, float))
    return vals, var, edges


def count_below(h, cuts: Iterable[float]) -> Counts:
    """Σ weights of entries with every axis value below the cut, for each cut.

    ``h``: a 1D or 2D ``hist.Hist`` (select the stage and process first, e.g.
    ``h[{"stage": "nm1_emiss", "process": sum}]``) with under/overflow; each cut must be a
    bin edge of every axis. For 2D the same cut applies to both axes (x < c and y < c, as
    the VHCAL cell/sum veto). The underflow is included (e.g. E_HCAL < 0 from noise). An
    entry in bin [a, b) is counted when b ≤ c, i.e. exactly the entries with value < c — the
    strict inequality of the framework's upper cuts.

    The counts are read from one cumulative sum, so the count for a larger cut contains the
    one for a smaller cut exactly, also in floating point (non-negative weights).
    """
    vals, var, edges = _flow_arrays(h)
    if vals.ndim not in (1, 2):
        raise ValueError(f"count_below needs a 1D or 2D histogram, got {vals.ndim} axes")
    cv, cvar = vals, var
    for ax in range(vals.ndim):
        cv, cvar = np.cumsum(cv, axis=ax), np.cumsum(cvar, axis=ax)
    out_v, out_var = [], []
    for c in cuts:
        # flow index of the last bin whose upper edge is <= c: edge i is the upper edge of
        # flow bin i (flow bin 0 = underflow, whose upper edge is edges[0])
        idx = tuple(_edge_index(e, float(c), h.axes[k].name) for k, e in enumerate(edges))
        out_v.append(cv[idx])
        out_var.append(cvar[idx])
    return Counts(np.array(out_v, float), np.array(out_var, float))


def count_above(h, cuts: Iterable[float]) -> Counts:
    """Σ weights of entries of a 1D histogram with value ≥ cut, for each cut (a bin edge).

    The overflow is included. The counts come from one cumulative sum from the top, so they
    are exactly nested (monotonic in the cut). Bins [a, b) are counted when a ≥ c: entries
    exactly on the edge count as above (a strict ``>`` cut differs only for values exactly
    equal to the edge).
    """
    vals, var, edges = _flow_arrays(h)
    if vals.ndim != 1:
        raise ValueError("count_above needs a 1D histogram")
    cv = np.cumsum(vals[::-1])[::-1]
    cvar = np.cumsum(var[::-1])[::-1]
    out_v, out_var = [], []
    for c in cuts:
        i = _edge_index(edges[0], float(c), h.axes[0].name)
        out_v.append(cv[i + 1])  # flow bin i+1 = [edges[i], edges[i+1])
        out_var.append(cvar[i + 1])
    return Counts(np.array(out_v, float), np.array(out_var, float))


def split_processes(h, stage: str) -> dict[str, Any]:
    """``{process name: histogram}`` of a processor histogram at ``stage`` (simulation: one
    entry per ``mc_process`` present, names from :func:`analysis.results.process_name`)."""
    from .results import process_name

    hs = h[{"stage": stage}]
    return {process_name(int(c)): hs[{"process": hs.axes["process"].index(c)}]
            for c in hs.axes["process"]}


# --- cut flows and signal denominators ----------------------------------------------------------


def cut_counts(result, dataset: str, label: str | None = None) -> dict[str, dict[str, float]]:
    """Events and Σ weights after cut ``label`` (default: the last cut), per process.

    Returns ``{process name: {"events", "weighted"}}`` plus ``"total"``; for data (no
    process split) only ``"total"``. ``label`` may be ``"all"`` (before any cut).
    """
    from .results import process_name

    labels = result.selection.labels
    label = labels[-1] if label is None else label
    if label == STAGE_ALL:
        i = 0
    elif label in labels:
        i = labels.index(label) + 1
    else:
        raise KeyError(f"no cut {label!r} in {labels}")
    out = result[dataset]
    doc = {"total": {"events": int(out["cutflow"]["events"][i]),
                     "weighted": float(out["cutflow"]["weighted"][i])}}
    for code, cf in sorted(out.get("by_process", {}).items()):
        doc[process_name(int(code))] = {"events": int(cf["events"][i]),
                                        "weighted": float(cf["weighted"][i])}
    return doc


def produced_above(manifest, dataset: str, e_min: float) -> int:
    """Generated signal events of ``dataset`` with E_X (``mc_invisible_e``) ≥ ``e_min`` GeV.

    This is the denominator of :func:`analysis.pipeline.signal_efficiency`: signal samples
    keep every generated event, so selected / ``produced_above`` is the efficiency for
    A′ produced with E_X ≥ e_min, to be paired with the yield above e_min
    (``SignalModel(generation_threshold=e_min)``, ``efficiency_includes_threshold=True``).
    Raises ``ValueError`` if the sample was generated only above e_min (incomplete
    denominator).
    """
    import uproot

    entry = manifest.datasets[dataset]
    e_x = np.concatenate([uproot.open(manifest.resolve(f))["events"]["mc_invisible_e"]
                          .array(library="np") for f in entry.files])
    if e_x.size and e_x.min() > e_min + 1e-6 * max(e_min, 1.0):
        raise ValueError(f"{dataset}: its smallest generated E_X is {e_x.min():.3g} GeV, above "
                         f"e_min = {e_min:g} GeV: the denominator would be incomplete")
    return int(np.count_nonzero(e_x >= e_min))


def nm1_stage(label: str) -> str:
    """Histogram stage name of "every cut but ``label``"."""
    return NM1_PREFIX + label


# --- notebooks ----------------------------------------------------------------------------------


def clear_notebook_outputs(*paths) -> list[str]:
    """Remove outputs, execution counts and stored widget state from notebooks, in place.

    Committed notebooks carry no outputs (``tests/test_notebooks.py``). Returns the paths that
    changed. Needs ``nbformat`` (installed with the test extras).
    """
    import nbformat

    changed = []
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        before = nbformat.writes(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
            cell.get("metadata", {}).pop("execution", None)
        nb.metadata.pop("widgets", None)
        after = nbformat.writes(nb)
        if after != before:
            nbformat.write(nb, str(path))
            changed.append(str(path))
    return changed


if __name__ == "__main__":  # python -m analysis.studies clear-outputs NOTEBOOK...
    import sys

    if len(sys.argv) < 3 or sys.argv[1] != "clear-outputs":
        sys.exit("usage: python -m analysis.studies clear-outputs NOTEBOOK.ipynb [...]")
    for p in clear_notebook_outputs(*sys.argv[2:]):
        print(f"cleared {p}")
