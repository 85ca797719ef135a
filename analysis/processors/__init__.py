"""coffea processors: select and fill, nothing else.

* :class:`SelectionProcessor` (``base.py``) — shared by every setup: runinfo per file,
  weights, the PackedSelection, cut flow, N−1, per-process cut flow, histograms, blinding.
* :class:`MissingEnergyProcessor` — electron, positron and hadron beams (E_miss = E_beam − E_ECAL).
* A missing-momentum processor for the muon setup will subclass ``SelectionProcessor`` the
  same way (its cuts and variables go into :mod:`analysis.cuts`).
"""

from __future__ import annotations

from .base import FileInfo, ProcessingError, SelectionProcessor, read_runinfo
from .missing_energy import MissingEnergyProcessor


def processor_for(selection) -> SelectionProcessor:
    """The processor that runs ``selection`` (chosen by its setup)."""
    if selection.config.setup in ("electron", "positron", "hadron"):
        return MissingEnergyProcessor(selection)
    raise NotImplementedError(
        f"no processor for setup {selection.config.setup!r} yet: the missing-momentum "
        "(muon) processor is still to be written (subclass SelectionProcessor)")


__all__ = ["FileInfo", "MissingEnergyProcessor", "ProcessingError", "SelectionProcessor",
           "processor_for", "read_runinfo"]
