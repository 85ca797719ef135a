"""A histogram while it is being filled: its bin sums per (stage, process), mergeable.

Building a ``hist.Hist`` costs ≈ 0.14 ms and adding two ≈ 0.13 ms — for the 15 histograms of
a selection, per chunk, that was ≈ 8 % of the processing (docs/performance.md). Chunks
therefore return :class:`HistogramSums` (numpy arrays; ``+`` aligns the processes), and
the merged result becomes a ``hist.Hist`` once, at the end (:func:`to_hists`): the same
float64 additions in the same order as adding the boost histograms, so the same bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class HistogramSums:
    """Weight sums of one histogram: ``sumw``/``sumw2`` of shape (stages, processes, flow
    bins of each variable axis...), ``processes`` sorted. ``make`` builds the empty
    ``hist.Hist`` for given processes (:func:`analysis.processors.base.make_hist`)."""

    __slots__ = ("make", "processes", "sumw", "sumw2")

    def __init__(self, make, processes: np.ndarray, sumw: np.ndarray, sumw2: np.ndarray):
        self.make = make
        self.processes = np.asarray(processes, dtype=np.int64)
        self.sumw = sumw
        self.sumw2 = sumw2

    def _aligned(self, other: "HistogramSums") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        procs = np.union1d(self.processes, other.processes)
        shape = (self.sumw.shape[0], len(procs), *self.sumw.shape[2:])
        sumw, sumw2 = np.zeros(shape), np.zeros(shape)
        mine = np.searchsorted(procs, self.processes)
        sumw[:, mine] += self.sumw
        sumw2[:, mine] += self.sumw2
        return procs, sumw, sumw2

    def __iadd__(self, other: "HistogramSums") -> "HistogramSums":
        if not np.array_equal(self.processes, other.processes):
            self.processes, self.sumw, self.sumw2 = self._aligned(other)
        theirs = np.searchsorted(self.processes, other.processes)
        self.sumw[:, theirs] += other.sumw
        self.sumw2[:, theirs] += other.sumw2
        return self

    def __add__(self, other: "HistogramSums") -> "HistogramSums":
        out = HistogramSums(self.make, self.processes, self.sumw.copy(), self.sumw2.copy())
        out += other
        return out

    def to_hist(self):
        """The ``hist.Hist`` (axes stage, process, variables; Weight storage)."""
        h = self.make(self.processes.tolist())
        if len(self.processes):
            view = h.view(flow=True)
            view["value"] += self.sumw.reshape(view.shape)
            view["variance"] += self.sumw2.reshape(view.shape)
        return h


def to_hists(output: Any) -> Any:
    """``output`` with every :class:`HistogramSums` (at any depth of dicts) made a
    ``hist.Hist``."""
    if isinstance(output, HistogramSums):
        return output.to_hist()
    if isinstance(output, Mapping):
        return {k: to_hists(v) for k, v in output.items()}
    return output


__all__ = ["HistogramSums", "to_hists"]
