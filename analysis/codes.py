"""Integer codes the framework defines on top of NTUPLE.md.

NTUPLE.md leaves `runinfo.setup` fixed and lets the framework define `mc_model` and
`mc_process`. They are documented here, next to the code that defines them, and nowhere
else: every module imports them from here.
"""

from __future__ import annotations

import enum


class Setup(enum.IntEnum):
    """`runinfo.setup` (fixed by NTUPLE.md)."""

    ELECTRON = 1
    POSITRON = 2
    MUON = 3
    HADRON = 4


SETUP_NAMES = {
    "electron": Setup.ELECTRON,
    "positron": Setup.POSITRON,
    "muon": Setup.MUON,
    "hadron": Setup.HADRON,
}


class Model(enum.IntEnum):
    """`runinfo.mc_model`: 0 for data and background simulation, else the signal model."""

    NONE = 0
    DARK_PHOTON = 1  # vector A' -> invisible, coupling eps*e
    SCALAR = 2  # lepton-specific scalar, coupling g
    PSEUDOSCALAR = 3
    AXIAL = 4
    ZPRIME = 5  # L_mu - L_tau Z', coupling g_Z'
    ETA = 6  # eta -> invisible (hadron beam), Br
    ETA_PRIME = 7  # eta' -> invisible (hadron beam), Br


MODEL_NAMES = {
    "dark-photon": Model.DARK_PHOTON,
    "scalar": Model.SCALAR,
    "pseudoscalar": Model.PSEUDOSCALAR,
    "axial": Model.AXIAL,
    "zprime": Model.ZPRIME,
    "eta": Model.ETA,
    "eta-prime": Model.ETA_PRIME,
}


class Process(enum.IntEnum):
    """`events.mc_process`: what the simulation generated for this event.

    Electron setup (NA64e) backgrounds, PHYSICS.md §1:
    """

    SIGNAL = 0  # dark-sector production (model in runinfo.mc_model)
    EM_SHOWER = 1  # ordinary beam electron, full-energy shower (random/calib trigger or leak)
    LOW_ENERGY_TAIL = 2  # beam electron from the low-energy tail of the beam
    HADRON_BEAM = 3  # hadron contamination of the beam (pi-, K-, p-bar)
    ELECTRONUCLEAR_HCAL = 4  # electro/photo-nuclear in ECAL, hadrons seen in HCAL
    ELECTRONUCLEAR_ESCAPE = 5  # electro/photo-nuclear in ECAL, leading neutral hadrons escape HCAL
    UPSTREAM_HADRONS = 6  # interaction upstream of ECAL producing large-angle hadrons
    DIMUON = 7  # e- N -> e- N mu+ mu- in the ECAL
    DECAY_IN_FLIGHT = 8  # beam hadron decaying in flight (e.g. K -> e nu) upstream
    PILEUP = 9  # two beam particles in one readout window
    # Muon setup (NA64mu) backgrounds
    MU_MOMENTUM_TAIL = 20  # mis-reconstructed outgoing momentum
    MU_KAON_DECAY = 21  # K/pi decays in flight upstream
    MU_HADRON_PUNCH = 22  # hadron contamination / punch-through
    MU_NUCLEAR = 23  # muon-nuclear interaction with energy in calorimeters
    MU_ORDINARY = 24  # ordinary scattered muon
    # Hadron setup (NA64h) backgrounds
    H_HADRON_SHOWER = 40
    H_CHARGE_EXCHANGE_VISIBLE = 41
    H_BEAM_ELECTRON = 42
    H_BEAM_MUON = 43
    H_BEAM_KAON = 44
    H_LEAKAGE = 45


SCHEMA_VERSION = 1
