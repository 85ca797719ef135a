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

    Electron setup (NA64e, 100 GeV e⁻), PHYSICS.md §1. Rates per EOT, responses, sources
    and the cut meant to remove each background: analysis/simulation/electron.py and
    docs/simulation.md.
    """

    SIGNAL = 0  # dark-sector production (model in runinfo.mc_model, mass in mc_mass)
    EM_SHOWER = 1  # ordinary beam electron, full-energy shower (calibration trigger, bit 1)
    LOW_ENERGY_TAIL = 2  # beam electron of the low-energy tail (5-90 % lost upstream)
    HADRON_BEAM = 3  # hadron contamination of the beam (pi-, K-, p-bar), no SR
    ELECTRONUCLEAR_HCAL = 4  # electro/photo-nuclear in the ECAL, hadrons seen in the HCAL
    ELECTRONUCLEAR_ESCAPE = 5  # electro/photo-nuclear in the ECAL, leading neutral escapes
    UPSTREAM_HADRONS = 6  # interaction upstream of the ECAL, large-angle hadrons (VHCAL)
    DIMUON = 7  # e- N -> e- N gamma, gamma -> mu+ mu- in the ECAL (two MIPs per HCAL module)
    DECAY_IN_FLIGHT = 8  # beam K- -> e- nu pi0 between the magnets and the ECAL (no SR)
    PILEUP = 9  # in-time beam hadron + out-of-time beam electron in the readout window
    # Muon setup (NA64mu, 160 GeV mu): rates per MOT, responses and the cut meant for each
    # in analysis/simulation/muon.py and docs/na64mu.md (CLI names in quotes)
    MU_MOMENTUM_TAIL = 20  # "momentum-tail": accidental trigger + MS2 p_out mis-reconstruction tail
    MU_KAON_DECAY = 21  # "decay-in-flight": K/pi -> mu nu between MS1 and the ECAL
    MU_HADRON_PUNCH = 22  # "hadron-punch": beam hadron interacting; leading hadron / punch-through
    MU_NUCLEAR = 23  # "target-interaction": mu brems, e+e- pair or photonuclear loss in the ECAL
    MU_ORDINARY = 24  # "ordinary": beam muon crossing as a MIP (calibration trigger only)
    # Hadron setup (NA64h) backgrounds
    H_HADRON_SHOWER = 40
    H_CHARGE_EXCHANGE_VISIBLE = 41
    H_BEAM_ELECTRON = 42
    H_BEAM_MUON = 43
    H_BEAM_KAON = 44
    H_LEAKAGE = 45


SCHEMA_VERSION = 1
