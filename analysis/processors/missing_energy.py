"""The missing-energy processor (NA64e electrons and positrons, NA64h hadrons)."""

from __future__ import annotations

from ..codes import Setup
from .base import SelectionProcessor


class MissingEnergyProcessor(SelectionProcessor):
    """Applies a missing-energy selection (E_miss = E_beam − E_ECAL with E_beam the
    selection's ``beam_energy``) and fills its cut flow, N−1 counts and histograms.

    All the work is in :class:`SelectionProcessor`; this class fixes the setups it accepts.
    """

    setups = frozenset({int(Setup.ELECTRON), int(Setup.POSITRON), int(Setup.HADRON)})
