"""The missing-momentum processor (NA64μ: 160 GeV muons, p_out measured by MS2)."""

from __future__ import annotations

import functools

from ..codes import Setup
from ..schema import EVENTS_MUON
from .base import FileInfo, ProcessingError, SelectionProcessor


@functools.lru_cache(maxsize=1024)
def _missing_muon_branches(filename: str) -> tuple[str, ...]:
    import uproot

    with uproot.open(filename) as f:
        return tuple(b.name for b in EVENTS_MUON if b.name not in f["events"])


class MissingMomentumProcessor(SelectionProcessor):
    """Applies a missing-momentum selection (a single scattered muon with p_out below a
    threshold, E_X = p_beam − p_out carried away; quiet calorimeters apart from its MIP
    signals) and fills its cut flow, N−1 counts and histograms.

    Everything is shared with the missing-energy processor through
    :class:`SelectionProcessor` (cuts and variables come from the registry in
    :mod:`analysis.cuts`, "muon setup" section); this class fixes the accepted setup and
    refuses files without the outgoing-spectrometer branches NTUPLE.md requires for it.
    """

    setups = frozenset({int(Setup.MUON)})

    def check_file(self, info: FileInfo) -> None:
        super().check_file(info)
        missing = _missing_muon_branches(info.filename)
        if missing:
            raise ProcessingError(f"{info.filename}: setup 3 (muon) file without the "
                                  f"outgoing-muon branches {list(missing)} (NTUPLE.md)")
