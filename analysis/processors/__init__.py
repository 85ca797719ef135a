"""coffea processors: select and fill, nothing else.

* :class:`SelectionProcessor` (``base.py``) — shared by every setup: runinfo per file,
  weights, the PackedSelection, cut flow, N−1, per-process cut flow, histograms, blinding.
* :class:`MissingEnergyProcessor` — electron, positron and hadron beams (E_miss = E_beam − E_ECAL).
* :class:`MissingMomentumProcessor` — muon beam (NA64μ: p_out < threshold, quiet calorimeters);
  its cuts and variables are in :mod:`analysis.cuts` ("muon setup").
"""

from __future__ import annotations

from .base import FileInfo, ProcessingError, SelectionProcessor, read_runinfo
from .missing_energy import MissingEnergyProcessor
from .missing_momentum import MissingMomentumProcessor


def processor_for(selection) -> SelectionProcessor:
    """The processor that runs ``selection`` (chosen by its setup)."""
    if selection.config.setup in ("electron", "positron", "hadron"):
        return MissingEnergyProcessor(selection)
    if selection.config.setup == "muon":
        return MissingMomentumProcessor(selection)
    raise NotImplementedError(
        f"no processor for setup {selection.config.setup!r}")


__all__ = ["FileInfo", "MissingEnergyProcessor", "MissingMomentumProcessor", "ProcessingError",
           "SelectionProcessor", "processor_for", "read_runinfo"]
