"""Shared processor machinery: one chunk of events in, one mergeable dict out.

Output of :meth:`SelectionProcessor.process` (coffea ``accumulate`` adds it with ``+``)::

    {dataset: {
        "cutflow":   {"events": int64[k+1], "weighted": float64[k+1]},   # [all, cut1, ...]
        "nminusone": {"events": int64[k],   "weighted": float64[k]},     # all cuts but i
        "by_process": {mc_process: {"events": ..., "weighted": ...}},    # cut flow per process (MC)
        "histograms": {name: hist.Hist(stage, process, x[, y])},
        "n_on_target": float,     # runinfo.n_on_target, counted in the chunk starting at entry 0
        "entries": int,           # entries processed
        "files": {filename: {"entries": int, "n_on_target": float}},
        "kind": {"mc" | "data": number of chunks},
    }}

Weights are ``mc_weight`` for simulation and 1 for data. Histogram axes: ``stage``
(StrCategory, fixed: the histogram's stages then ``nm1_<cut>``), ``process`` (IntCategory,
growth; ``mc_process`` for simulation, −1 for data), then the variable axes named after
their variables; storage Weight.

Blinding (selection ``blinding: true``, data only): events inside the signal box (passing
every box cut) are left out of all histograms and N−1 counts, and the cut-flow entries of
the box cuts are zeroed (``results`` writes them as null).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import hist
import numpy as np
import uproot
from coffea import processor

from ..cuts import VARIABLES, Context, EventColumns, column, n_events
from ..selection import NM1_PREFIX, STAGE_ALL, HistogramSpec, Selection

#: process-axis value of data events
DATA_PROCESS = -1


class ProcessingError(RuntimeError):
    """A file cannot be processed with this selection (wrong setup, no VHCAL, ...)."""


@dataclass(frozen=True)
class FileInfo:
    """What the processor needs from a file's ``runinfo`` tree (summed over segments)."""

    filename: str
    n_on_target: float
    n_events: int
    setup: int
    beam_energy: float
    has_vhcal: bool
    is_mc: bool


@functools.lru_cache(maxsize=1024)
def read_runinfo(filename: str, fileuuid: str = "") -> FileInfo:
    """Read and summarise ``runinfo`` (cached per process by file name and UUID)."""
    try:
        with uproot.open(filename) as f:
            if "runinfo" not in f:
                raise ProcessingError(f"{filename}: no `runinfo` tree (NTUPLE.md)")
            r = f["runinfo"].arrays(
                ["setup", "beam_energy", "n_on_target", "n_events", "has_vhcal", "is_mc"],
                library="np")
    except ProcessingError:
        raise
    except Exception as exc:
        raise ProcessingError(f"{filename}: cannot read runinfo: {exc}") from exc
    if len(r["setup"]) == 0:
        raise ProcessingError(f"{filename}: runinfo has no entries")
    for key in ("setup", "beam_energy", "is_mc"):
        if len(np.unique(r[key])) != 1:
            raise ProcessingError(f"{filename}: runinfo segments disagree on {key} "
                                  f"({sorted(set(r[key].tolist()))}); split the file")
    return FileInfo(
        filename=filename,
        n_on_target=float(np.sum(r["n_on_target"], dtype=np.float64)),
        n_events=int(np.sum(r["n_events"])),
        setup=int(r["setup"][0]),
        beam_energy=float(r["beam_energy"][0]),
        has_vhcal=bool(np.all(r["has_vhcal"])),
        is_mc=bool(r["is_mc"][0]),
    )


def make_hist(spec: HistogramSpec) -> hist.Hist:
    """An empty histogram for ``spec`` (identical axes in every chunk, so it merges)."""
    axes = [
        hist.axis.StrCategory(spec.stage_names, name="stage", label="stage", overflow=False),
        hist.axis.IntCategory([], growth=True, name="process",
                              label="mc_process (-1: data)"),
    ]
    for ax in spec.axes:
        v = VARIABLES[ax.variable]
        label = ax.label or v.axis_label
        if ax.edges is not None:
            axes.append(hist.axis.Variable(ax.edges, name=ax.variable, label=label))
        else:
            axes.append(hist.axis.Regular(ax.bins, ax.start, ax.stop, name=ax.variable,
                                          label=label))
    return hist.Hist(*axes, storage=hist.storage.Weight(), name=spec.name)


def _after(per_depth: np.ndarray) -> np.ndarray:
    """Counts by depth (last axis) → counts passing at least that many cuts."""
    return np.flip(np.cumsum(np.flip(per_depth, axis=-1), axis=-1), axis=-1)


class _StageMasks:
    """Stage name → event mask, built on demand (``all``, a cut label, ``nm1_<label>``)."""

    def __init__(self, everything, depth, labels, nm1):
        self.everything, self.depth, self.nm1 = everything, depth, nm1
        self.index = {lab: i for i, lab in enumerate(labels)}

    def __getitem__(self, stage: str) -> np.ndarray:
        if stage == STAGE_ALL:
            return self.everything
        if stage.startswith(NM1_PREFIX) and stage[len(NM1_PREFIX):] in self.index:
            return self.nm1[self.index[stage[len(NM1_PREFIX):]]]
        return self.depth > self.index[stage]


def _count(masks: np.ndarray) -> np.ndarray:
    """Events passing, per row of a (k, n) boolean array."""
    return np.array([np.count_nonzero(m) for m in masks], dtype=np.int64)


def _wsum(masks: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum of weights of passing events, per row."""
    return np.array([np.dot(m, w) for m in masks], dtype=np.float64)


class SelectionProcessor(processor.ProcessorABC):
    """Select and fill for one :class:`~analysis.selection.Selection`.

    Subclasses set ``setups`` (accepted ``runinfo.setup`` values) and may override
    :meth:`weights` or :meth:`context`.
    """

    setups: frozenset[int] = frozenset()

    def __init__(self, selection: Selection):
        self.selection = selection

    # -- per file ---------------------------------------------------------------------------

    def check_file(self, info: FileInfo) -> None:
        """Refuse files this selection cannot analyse, naming the file."""
        sel = self.selection
        if self.setups and info.setup not in self.setups:
            raise ProcessingError(
                f"{info.filename}: runinfo.setup is {info.setup}; {type(self).__name__} "
                f"handles setups {sorted(self.setups)}")
        if info.setup != sel.setup:
            raise ProcessingError(
                f"{info.filename}: runinfo.setup is {info.setup} but selection {sel.name} "
                f"({sel.source}) is for setup {sel.config.setup!r} ({sel.setup})")
        if "vhcal" in sel.requires and not info.has_vhcal:
            users = [c.label for c in sel.cuts if "vhcal" in c.definition.requires]
            raise ProcessingError(
                f"{info.filename}: runinfo.has_vhcal is false but selection {sel.name} "
                f"({sel.source}) uses the VHCAL (cuts {users}); use a selection for a period "
                "without VHCAL")
        if not math.isclose(info.beam_energy, sel.beam_energy, rel_tol=1e-3):
            raise ProcessingError(
                f"{info.filename}: runinfo.beam_energy is {info.beam_energy:g} GeV but "
                f"selection {sel.name} ({sel.source}) is for {sel.beam_energy:g} GeV")

    def context(self, info: FileInfo) -> Context:
        return self.selection.context(runinfo_beam_energy=info.beam_energy,
                                      has_vhcal=info.has_vhcal, is_mc=info.is_mc,
                                      setup=info.setup)

    def weights(self, events, info: FileInfo) -> np.ndarray:
        """``mc_weight`` for simulation, 1 for data (float64)."""
        if info.is_mc:
            return column(events, "mc_weight").astype(np.float64)
        return np.ones(n_events(events), dtype=np.float64)

    # -- per chunk --------------------------------------------------------------------------

    def process(self, events):
        meta = events.metadata
        dataset = meta["dataset"]
        filename = str(meta["filename"])
        info = read_runinfo(filename, str(meta.get("fileuuid", "")))
        self.check_file(info)
        try:
            out = self.summarize(events, info)
        except ProcessingError:
            raise
        except Exception as exc:
            raise ProcessingError(f"{filename}: {type(exc).__name__}: {exc}") from exc
        first = int(meta.get("entrystart", 0)) == 0
        n_on_target = info.n_on_target if first else 0.0
        out["n_on_target"] = n_on_target
        out["entries"] = len(events)
        out["files"] = {filename: {"entries": len(events), "n_on_target": n_on_target}}
        out["kind"] = {"mc" if info.is_mc else "data": 1}
        return {dataset: out}

    def summarize(self, events, info: FileInfo) -> dict:
        """Cut flow, N−1, per-process cut flow and histograms of one chunk."""
        sel = self.selection
        ctx = self.context(info)
        n = len(events)
        events = EventColumns(events)  # each branch converted once for all cuts/variables
        w = self.weights(events, info)
        labels = sel.labels
        k = len(labels)
        packed = sel.packed(events, ctx)
        everything = np.ones(n, dtype=bool)

        # depth[j] = number of leading cuts event j passes: "after cut i" is depth >= i, so
        # every cumulative count is a reversed cumulative sum of one bincount
        depth = np.zeros(n, dtype=np.int64)
        alive = everything.copy()
        for i in range(k):
            alive &= packed.all(labels[i])
            depth += alive
        nm1 = np.empty((k, n), dtype=bool)
        for i in range(k):
            others = labels[:i] + labels[i + 1:]
            nm1[i] = packed.all(*others) if others else everything

        blinded = sel.blinding and not info.is_mc
        visible = everything
        if blinded:
            visible = ~packed.all(*sel.box)
            nm1 &= visible
        cf_events = _after(np.bincount(depth, minlength=k + 1)).astype(np.int64)
        cf_weighted = _after(np.bincount(depth, weights=w, minlength=k + 1))
        if blinded:
            first_box = labels.index(sel.box[0]) + 1
            cf_events[first_box:] = 0
            cf_weighted[first_box:] = 0.0

        out = {
            "cutflow": {"events": cf_events, "weighted": cf_weighted},
            "nminusone": {"events": _count(nm1), "weighted": _wsum(nm1, w)},
            "by_process": {},
        }
        if info.is_mc:
            proc = column(events, "mc_process").astype(np.int64)
            codes, inv = np.unique(proc, return_inverse=True)
            key = inv.reshape(-1) * (k + 1) + depth
            m = len(codes)
            ev = _after(np.bincount(key, minlength=m * (k + 1)).reshape(m, k + 1))
            wt = _after(np.bincount(key, weights=w, minlength=m * (k + 1)).reshape(m, k + 1))
            out["by_process"] = {int(c): {"events": ev[j].astype(np.int64), "weighted": wt[j]}
                                 for j, c in enumerate(codes)}
        else:
            proc = np.full(n, DATA_PROCESS, dtype=np.int64)

        stage_mask = _StageMasks(everything, depth, labels, nm1)
        values: dict[str, np.ndarray] = {}
        picked: dict[str, tuple] = {}  # stage -> (indices, process, weight), shared by hists
        hists = {}
        for spec in sel.histograms:
            h = make_hist(spec)
            for ax in spec.axes:
                if ax.variable not in values:
                    values[ax.variable] = VARIABLES[ax.variable](events, ctx)
            for stage in spec.stage_names:
                if stage not in picked:
                    mask = stage_mask[stage] if visible is everything \
                        else stage_mask[stage] & visible
                    idx = np.flatnonzero(mask)
                    picked[stage] = (idx, proc[idx], w[idx])
                idx, p, wm = picked[stage]
                if len(idx) == 0:
                    continue
                fill = {}
                mult = 1
                for ax in spec.axes:
                    v = values[ax.variable].take(idx, axis=0)
                    if v.ndim == 2:
                        mult = v.shape[1]
                        v = v.reshape(-1)
                    fill[ax.variable] = v
                if mult > 1:
                    p, wm = np.repeat(p, mult), np.repeat(wm, mult)
                h.fill(stage=stage, process=p, weight=wm, **fill)
            hists[spec.name] = h
        out["histograms"] = hists
        return out

    def postprocess(self, accumulator):
        return accumulator


__all__ = ["DATA_PROCESS", "FileInfo", "ProcessingError", "SelectionProcessor", "make_hist",
           "read_runinfo"]
