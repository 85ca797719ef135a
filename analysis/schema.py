"""NTUPLE.md (reconstructed ntuple format, version 1) as code.

The branch table below *is* the contract: every other module (simulation writer,
validator, coffea schema, processors) reads it from here. Source: ../shared/design/NTUPLE.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codes import SCHEMA_VERSION


@dataclass(frozen=True)
class Branch:
    """One branch of the contract.

    `shape` is the fixed per-entry shape (() for scalars); `jagged` marks the tracker-hit
    fields counted by `n_hits`. `group` is the record the coffea schema puts it in and
    `field` its name there. `nan_allowed` marks floats where NaN means "not measured".
    """

    name: str
    dtype: str
    shape: tuple[int, ...] = ()
    meaning: str = ""
    group: str | None = None
    field: str | None = None
    jagged: bool = False
    nan_allowed: bool = False
    unit: str = ""


RUNINFO: tuple[Branch, ...] = (
    Branch("run", "int32", meaning="run number"),
    Branch("setup", "int32", meaning="1 electron, 2 positron, 3 muon, 4 hadron"),
    Branch("beam_pdg", "int32", meaning="PDG id of the beam particle"),
    Branch("beam_energy", "float32", meaning="nominal beam energy", unit="GeV"),
    Branch("n_on_target", "float64", meaning="particles on target in this run segment"),
    Branch("n_events", "int64", meaning="entries of `events` in this segment"),
    Branch("has_vhcal", "bool", meaning="VHCAL installed"),
    Branch("is_mc", "bool", meaning="simulated sample"),
    Branch("mc_seed", "int64", meaning="generator seed (-1 for data)"),
    Branch("mc_model", "int32", meaning="signal model code (analysis.codes.Model)"),
    Branch("mc_mass", "float32", meaning="signal mass, NaN when mc_model is 0", unit="GeV",
           nan_allowed=True),
    Branch("schema_version", "int32", meaning="1"),
)

SPILLS: tuple[Branch, ...] = (
    Branch("run", "int32", meaning="run number"),
    Branch("spill", "int32", meaning="spill number"),
    Branch("n_on_target", "float64", meaning="particles on target in this spill"),
)

EVENTS_COMMON: tuple[Branch, ...] = (
    Branch("run", "int32", meaning="run number"),
    Branch("spill", "int32", meaning="spill number"),
    Branch("event", "int64", meaning="event number, unique within a run"),
    Branch("trigger", "int32", meaning="bit 0 physics, bit 1 random/calibration"),
    Branch("beam_p", "float32", meaning="incoming momentum (NaN if no track)", unit="GeV",
           group="Beam", field="p", nan_allowed=True),
    Branch("beam_chi2", "float32", meaning="chi2/ndf of the incoming track", group="Beam",
           field="chi2", nan_allowed=True),
    Branch("n_tracks_in", "int16", meaning="number of upstream tracks", group="Beam",
           field="n_tracks"),
    Branch("beam_x", "float32", meaning="track at ECAL face, x", unit="mm", group="Beam",
           field="x", nan_allowed=True),
    Branch("beam_y", "float32", meaning="track at ECAL face, y", unit="mm", group="Beam",
           field="y", nan_allowed=True),
    Branch("srd_e", "float32", (3,), "SRD module energies", group="SRD", field="e", unit="MeV"),
    Branch("srd_t", "float32", meaning="SRD hit time", group="SRD", field="t", unit="ns",
           nan_allowed=True),
    Branch("ecal_pre", "float32", (6, 6), "ECAL preshower cells [ix][iy]", group="ECAL",
           field="pre", unit="GeV"),
    Branch("ecal_main", "float32", (6, 6), "ECAL main cells [ix][iy]", group="ECAL",
           field="main", unit="GeV"),
    Branch("ecal_t", "float32", meaning="ECAL time of largest cell", group="ECAL", field="t",
           unit="ns", nan_allowed=True),
    Branch("veto_e", "float32", (3,), "VETO planes", group="VETO", field="e", unit="MeV"),
    Branch("hcal_e", "float32", (4, 3, 3), "HCAL cells [module][ix][iy]", group="HCAL",
           field="e", unit="GeV"),
    Branch("hcal_t", "float32", meaning="HCAL0 time", group="HCAL", field="t", unit="ns",
           nan_allowed=True),
    Branch("vhcal_e", "float32", (4,), "VHCAL cells (NaN without VHCAL)", group="VHCAL",
           field="e", unit="GeV", nan_allowed=True),
    Branch("n_hits", "int32", meaning="upstream tracker hits", group="Hits", field="n"),
    Branch("hit_station", "int8", meaning="tracker station of each hit", group="Hits",
           field="station", jagged=True),
    Branch("hit_x", "float32", meaning="hit x", unit="mm", group="Hits", field="x", jagged=True),
    Branch("hit_y", "float32", meaning="hit y", unit="mm", group="Hits", field="y", jagged=True),
)

EVENTS_MUON: tuple[Branch, ...] = (
    Branch("mu_p_out", "float32", meaning="outgoing muon momentum (NaN if none)", unit="GeV",
           group="Muon", field="p_out", nan_allowed=True),
    Branch("mu_chi2_out", "float32", meaning="chi2/ndf outgoing track", group="Muon",
           field="chi2_out", nan_allowed=True),
    Branch("n_tracks_out", "int16", meaning="downstream tracks", group="Muon",
           field="n_tracks_out"),
    Branch("mu_theta_out", "float32", meaning="scattering angle", unit="mrad", group="Muon",
           field="theta_out", nan_allowed=True),
)

EVENTS_MC: tuple[Branch, ...] = (
    Branch("mc_process", "int32", meaning="generated process (analysis.codes.Process)",
           group="MC", field="process"),
    Branch("mc_weight", "float32", meaning="event weight", group="MC", field="weight"),
    Branch("mc_invisible_e", "float32", meaning="invisible energy", unit="GeV", group="MC",
           field="invisible_e"),
    Branch("mc_mass", "float32", meaning="dark-sector particle mass (NaN for backgrounds)",
           unit="GeV", group="MC", field="mass", nan_allowed=True),
)

HIT_COUNTER = "n_hits"


def event_branches(setup: int, is_mc: bool) -> tuple[Branch, ...]:
    """The `events` branches a file of this setup (runinfo.setup) and kind must have."""
    branches = EVENTS_COMMON
    if setup == 3:
        branches = branches + EVENTS_MUON
    if is_mc:
        branches = branches + EVENTS_MC
    return branches


def numpy_dtype(branch: Branch) -> np.dtype:
    return np.dtype(branch.dtype)


def tree_types(branches: tuple[Branch, ...]) -> dict[str, object]:
    """Branch types for `uproot` `mktree`: fixed shapes as numpy subarray dtypes.

    Jagged hit fields are declared by the writer (`analysis.rootio`) as awkward types.
    """
    types: dict[str, object] = {}
    for b in branches:
        if b.jagged or b.name == HIT_COUNTER:
            continue
        types[b.name] = np.dtype((b.dtype, b.shape)) if b.shape else np.dtype(b.dtype)
    return types


__all__ = [
    "Branch",
    "RUNINFO",
    "SPILLS",
    "EVENTS_COMMON",
    "EVENTS_MUON",
    "EVENTS_MC",
    "HIT_COUNTER",
    "SCHEMA_VERSION",
    "event_branches",
    "tree_types",
]
