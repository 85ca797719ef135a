"""Shared processor machinery: one chunk of events in, one mergeable dict out.

Output of :meth:`SelectionProcessor.process` (coffea ``accumulate`` adds it with ``+``)::

    {dataset: {
        "cutflow":   {"events": int64[k+1], "weighted": float64[k+1]},   # [all, cut1, ...]
        "nminusone": {"events": int64[k],   "weighted": float64[k]},     # all cuts but i
        "by_process": {mc_process: {"events": ..., "weighted": ...}},    # cut flow per process (MC)
        "histograms": {name: HistogramSums},  # hist.Hist(stage, process, x[, y]) after
                                               # postprocess / run(): histsums.to_hists
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

from .. import kernels
from ..cuts import VARIABLES, Context, EventColumns, column, n_events
from ..selection import NM1_PREFIX, STAGE_ALL, HistogramSpec, Selection
from .histsums import HistogramSums, to_hists

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


def make_hist(spec: HistogramSpec, processes=()) -> hist.Hist:
    """An empty histogram for ``spec`` (identical axes in every chunk, so it merges).

    ``processes``: initial categories of the (growing) ``process`` axis, in order (the
    processor passes the processes present in the chunk, sorted)."""
    axes = [
        hist.axis.StrCategory(spec.stage_names, name="stage", label="stage", overflow=False),
        hist.axis.IntCategory(list(processes), growth=True, name="process",
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


def _unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for int64 codes; a bincount instead of a
    sort when the codes are small non-negative integers (``mc_process``), same result."""
    if len(values) and 0 <= values.min() and values.max() < 65536:
        present = np.bincount(values) > 0
        codes = np.flatnonzero(present).astype(values.dtype)
        lut = np.cumsum(present, dtype=np.intp) - 1
        return codes, lut[values]
    codes, inv = np.unique(values, return_inverse=True)
    return codes, inv.reshape(-1)


def _count(masks: np.ndarray) -> np.ndarray:
    """Events passing, per row of a (k, n) boolean array."""
    return np.array([np.count_nonzero(m) for m in masks], dtype=np.int64)


def _wsum(masks: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum of weights of passing events, per row."""
    return np.array([np.dot(m, w) for m in masks], dtype=np.float64)


def _blind(meta) -> bool | None:
    """Whether a chunk's dataset is data for blinding: fileset metadata `blind`, or the
    manifest kind `data`/`pseudo-data` (pseudo-data stands in for data and is blinded
    although its runinfo.is_mc is true). None: unknown, decided from runinfo.is_mc."""
    if meta.get("blind") is not None:
        return bool(meta["blind"])
    kind = meta.get("kind")
    return None if kind is None else kind in ("data", "pseudo-data")


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
            out = self.summarize(events, info, blind=_blind(meta))
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
        blind = _blind(meta)
        out["blinded"] = int(bool(self.selection.blinding
                                  and (not info.is_mc if blind is None else blind)))
        return {dataset: out}

    def summarize(self, events, info: FileInfo, blind: bool | None = None) -> dict:
        """Cut flow, N−1, per-process cut flow and histograms of one chunk.

        ``blind``: the dataset is data (or pseudo-data standing in for data) whose signal box
        stays hidden; None → decide from ``runinfo.is_mc``.
        """
        sel = self.selection
        ctx = self.context(info)
        n = len(events)
        events = EventColumns(events)  # each branch converted once for all cuts/variables
        w = self.weights(events, info)
        labels = sel.labels
        k = len(labels)
        # one boolean mask per cut, each evaluated once (shared quantities are memoised in
        # EventColumns); every stage below is derived from two small integer arrays
        masks = list(sel.evaluate(events, ctx).values())
        everything = np.ones(n, dtype=bool)

        # depth[j] = number of leading cuts event j passes: "after cut i" is depth >= i, so
        # every cumulative count is a reversed cumulative sum of one bincount; nm1[i]: every
        # cut but cut i passes (kernels.cut_stages, one pass)
        if k:
            depth, nm1 = kernels.cut_stages(np.stack(masks))
        else:
            depth, nm1 = np.zeros(n, dtype=np.int64), np.empty((0, n), dtype=bool)

        blinded = sel.blinding and (not info.is_mc if blind is None else bool(blind))
        visible = everything
        if blinded:
            inside = everything.copy()
            for b in sel.box:
                inside &= masks[labels.index(b)]
            visible = ~inside
            nm1 &= visible
        cf_events = _after(np.bincount(depth, minlength=k + 1)).astype(np.int64)
        cf_weighted = _after(np.bincount(depth, weights=w, minlength=k + 1))
        if blinded:
            first_box = labels.index(sel.box[0]) + 1
            cf_events[first_box:] = 0
            cf_weighted[first_box:] = 0.0

        # unit weights (data, unweighted MC): Σw is the count, exactly — and np.dot goes to
        # BLAS, which may start threads (slow on a shared or oversubscribed machine)
        unit = bool(np.all(w == 1.0))
        nm1_events = _count(nm1)
        out = {
            "cutflow": {"events": cf_events, "weighted": cf_weighted},
            "nminusone": {"events": nm1_events,
                          "weighted": nm1_events.astype(np.float64) if unit else _wsum(nm1, w)},
            "by_process": {},
        }
        if info.is_mc:
            proc = column(events, "mc_process").astype(np.int64)
            codes, inv = _unique_inverse(proc)
            key = inv * (k + 1) + depth
            m = len(codes)
            ev = _after(np.bincount(key, minlength=m * (k + 1)).reshape(m, k + 1))
            wt = _after(np.bincount(key, weights=w, minlength=m * (k + 1)).reshape(m, k + 1))
            out["by_process"] = {int(c): {"events": ev[j].astype(np.int64), "weighted": wt[j]}
                                 for j, c in enumerate(codes)}
        else:
            codes = np.array([DATA_PROCESS], dtype=np.int64)
            inv = np.zeros(n, dtype=np.intp)

        index = {lab: i for i, lab in enumerate(labels)}

        def stage_mask(stage: str) -> np.ndarray | None:  # None: every event
            if stage == STAGE_ALL:
                mask = None
            elif stage.startswith(NM1_PREFIX) and stage[len(NM1_PREFIX):] in index:
                return nm1[index[stage[len(NM1_PREFIX):]]]  # already & visible
            else:
                mask = depth > index[stage]
            if blinded:
                mask = visible if mask is None else mask & visible
            return mask

        out["histograms"] = self._histograms(events, ctx, n, w, unit, codes, inv, stage_mask)
        return out

    def _histograms(self, events, ctx: Context, n: int, w: np.ndarray, unit: bool,
                    codes: np.ndarray, inv: np.ndarray, stage_mask) -> dict[str, HistogramSums]:
        """Fill the selection's histograms, compiled: every variable is computed once per
        chunk and binned once per binning (boost-histogram's ``axis.index`` rules:
        :func:`~analysis.kernels.bin_regular`, :func:`~analysis.kernels.bin_variable`), then
        each event adds 1 or its weight (and squared weight) to the bins of every stage it
        passes, in event order (:func:`~analysis.kernels.fill_counts`,
        :func:`~analysis.kernels.fill_weighted`) — the sums ``Hist.fill`` would make, bit for
        bit. The process axis holds the processes present, sorted (what
        ``results.sort_categories`` makes of a filled histogram; independent of the
        chunking). Returns :class:`HistogramSums` (merged by ``+``, ``hist.Hist`` at the
        end)."""
        m = len(codes)
        proc = np.ascontiguousarray(inv, dtype=np.intp)
        wts = np.ascontiguousarray(w, dtype=np.float64)
        rows: dict[str, int] = {}  # stage -> row of `masks`, −1: every event
        stage_masks: list[np.ndarray] = []
        for spec in self.selection.histograms:
            for stage in spec.stage_names:
                if stage not in rows:
                    mask = stage_mask(stage)
                    rows[stage] = -1 if mask is None else len(stage_masks)
                    if mask is not None:
                        stage_masks.append(mask)
        masks = np.stack(stage_masks) if stage_masks else np.ones((1, n), dtype=bool)
        values: dict[str, np.ndarray] = {}
        bins: dict[tuple, np.ndarray] = {}
        hists = {}
        for spec in self.selection.histograms:
            flat = None  # (n,) or (n, k): bin of each value in the flow view of one process block
            nbins = 1
            sizes = []
            for ax in spec.axes:
                edges = None if ax.edges is None else np.asarray(ax.edges, dtype=np.float64)
                bkey = (ax.variable, ax.bins, ax.start, ax.stop,
                        None if edges is None else tuple(ax.edges))
                if bkey not in bins:
                    if ax.variable not in values:
                        values[ax.variable] = VARIABLES[ax.variable](events, ctx)
                    v = values[ax.variable]
                    x = np.ascontiguousarray(v.reshape(-1))
                    b = (kernels.bin_regular(x, ax.bins, float(ax.start), float(ax.stop))
                         if edges is None else kernels.bin_variable(x, edges))
                    bins[bkey] = b.reshape(v.shape)
                b = bins[bkey]
                size = (ax.bins if edges is None else len(edges) - 1) + 2  # with flow bins
                flat = b if flat is None else flat * size + b
                nbins *= size
                sizes.append(size)
            k = flat.shape[1] if flat.ndim == 2 else 1
            flat1 = np.ascontiguousarray(flat.reshape(-1))
            srows = np.array([rows[st] for st in spec.stage_names], dtype=np.intp)
            sumw = np.zeros((len(srows), m * nbins), dtype=np.float64)
            seen = np.zeros((len(srows), m), dtype=bool)
            if n == 0 or m == 0:
                sumw2 = sumw
            elif unit:  # Σw = Σw² = the count
                sumw2 = sumw
                kernels.fill_counts(flat1, k, proc, masks, srows, sumw, seen)
            else:
                sumw2 = np.zeros_like(sumw)
                kernels.fill_weighted(flat1, k, proc, masks, srows, wts, sumw, sumw2, seen)
            order = np.flatnonzero(seen.any(axis=0))
            shape = (len(srows), m, *sizes)
            sumw = sumw.reshape(shape)[:, order]  # fancy indexing: copies
            sumw2 = sumw.copy() if unit else sumw2.reshape(shape)[:, order]
            hists[spec.name] = HistogramSums(functools.partial(make_hist, spec), codes[order],
                                             sumw, sumw2)
        return hists

    def postprocess(self, accumulator):
        """The merged output with its histograms as ``hist.Hist``."""
        return to_hists(accumulator)


__all__ = ["DATA_PROCESS", "FileInfo", "ProcessingError", "SelectionProcessor", "make_hist",
           "read_runinfo"]
