"""A hand-crafted sample whose cut flow is known by construction (tests, demos, docs).

:data:`CRAFTED_SELECTION` is a 14-cut electron selection (the 2023 cut list with simple
thresholds). :func:`crafted_events` makes ``n_pass`` events that pass every cut and, for the
i-th cut (1-based), ``i`` events that fail *that cut only* — 105 failing events in all — so
the cut flow after cut i is ``n_pass + sum_{j>i} j`` and the N−1 count of cut i is
``n_pass + i``. Weights (``mc_weight``) are 0.5 for passing events and 1.5 for failing
ones; ``mc_process`` is 0 (signal) for passing events and the background a cut is meant for
otherwise (:data:`FAIL_PROCESS`).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from ..codes import Process
from ..rootio import default_events, default_runinfo, write_ntuple
from ..schema import event_branches

CRAFTED_SELECTION: dict = {
    "name": "crafted",
    "setup": "electron",
    "period": "test",
    "beam_energy": 100.0,
    "vhcal": True,
    "blinding": False,
    "cuts": [
        {"name": "trigger", "cut": "physics_trigger", "params": {"bit": 0}},
        {"name": "momentum", "cut": "beam_momentum_window",
         "params": {"low": 97.0, "high": 103.0}},
        {"name": "track", "cut": "single_track", "params": {"max_chi2": 10.0}},
        {"name": "srd", "cut": "srd_tag", "params": {"e_min": 1.0, "e_max": 100.0}},
        {"name": "srd_time", "cut": "time_window",
         "params": {"detector": "srd", "mean": 0.0, "sigma": 1.0, "n_sigma": 3.0,
                    "allow_missing": False}},
        {"name": "ecal_time", "cut": "time_window",
         "params": {"detector": "ecal", "mean": 0.0, "sigma": 1.0, "n_sigma": 3.0,
                    "allow_missing": False}},
        {"name": "pileup", "cut": "pileup_rejection", "params": {"max_srd_ecal_dt": 3.0}},
        {"name": "preshower", "cut": "ecal_preshower_min", "params": {"e_min": 0.5}},
        {"name": "shower", "cut": "ecal_shower", "params": {"max_in_center": True}},
        {"name": "veto", "cut": "veto_quiet", "params": {"e_max": 1.0}},
        {"name": "hcal_time", "cut": "time_window",
         "params": {"detector": "hcal", "mean": 0.0, "sigma": 1.0, "n_sigma": 3.0,
                    "allow_missing": True}},
        {"name": "vhcal", "cut": "vhcal_veto", "params": {"cell_max": 1.0, "total_max": 1.0}},
        {"name": "emiss", "cut": "missing_energy", "params": {"threshold": 50.0}},
        {"name": "hcal", "cut": "hcal_veto", "params": {"total_max": 1.0}},
    ],
    "signal_box": ["emiss", "hcal"],
    "histograms": [
        {"name": "ecal_energy", "x": {"variable": "ecal_energy", "bins": 100, "start": 0.0,
                                      "stop": 100.0},
         "stages": ["all", "vhcal"], "nminusone": ["emiss"]},
        {"name": "ecal_hcal",
         "x": {"variable": "ecal_energy", "bins": 10, "start": 0.0, "stop": 100.0},
         "y": {"variable": "hcal_energy", "edges": [0.0, 1.0, 10.0]},
         "stages": ["all"]},
        {"name": "srd_energy", "x": {"variable": "srd_energy", "bins": 4, "start": 0.0,
                                     "stop": 20.0},
         "stages": ["all"], "nminusone": ["srd"]},
    ],
}

#: mc_process of the events failing each cut
FAIL_PROCESS = {
    "trigger": Process.EM_SHOWER, "momentum": Process.LOW_ENERGY_TAIL,
    "track": Process.PILEUP, "srd": Process.HADRON_BEAM, "srd_time": Process.PILEUP,
    "ecal_time": Process.PILEUP, "pileup": Process.PILEUP,
    "preshower": Process.HADRON_BEAM, "shower": Process.HADRON_BEAM,
    "veto": Process.DIMUON, "hcal_time": Process.PILEUP,
    "vhcal": Process.UPSTREAM_HADRONS, "emiss": Process.EM_SHOWER,
    "hcal": Process.ELECTRONUCLEAR_HCAL,
}


def _passing(n: int, *, is_mc: bool) -> dict:
    ev = default_events(n, event_branches(1, is_mc), has_vhcal=True)
    ev["beam_p"][:] = 100.0
    ev["beam_chi2"][:] = 1.0
    ev["srd_e"][:] = 10.0
    ev["ecal_pre"][:, 3, 3] = 1.0
    ev["ecal_main"][:, 3, 3] = 20.0  # E_ECAL = 21 GeV, E_miss = 79 GeV
    ev["hcal_t"][:] = np.nan  # empty HCAL: no time
    return ev


def _spoil(ev: dict, i: int, label: str, variant: int) -> None:
    """Make event i fail the cut `label` (and only it)."""
    if label == "trigger":
        ev["trigger"][i] = 2  # calibration trigger only
    elif label == "momentum":
        ev["beam_p"][i] = (90.0, np.nan)[variant % 2]
    elif label == "track":
        v = variant % 3
        if v == 0:
            ev["n_tracks_in"][i] = 2
        elif v == 1:
            ev["beam_chi2"][i] = 20.0
        else:
            ev["hit_station"][i] = [0, 1, 1, 2, 3]  # two hits in station 1
    elif label == "srd":
        ev["srd_e"][i, 2] = 0.1  # no synchrotron light: a hadron
    elif label == "srd_time":
        ev["srd_t"][i], ev["ecal_t"][i] = 5.0, 2.5
    elif label == "ecal_time":
        ev["srd_t"][i], ev["ecal_t"][i] = 2.5, 5.0
    elif label == "pileup":
        ev["srd_t"][i], ev["ecal_t"][i] = 2.5, -2.5
    elif label == "preshower":
        ev["ecal_pre"][i, 3, 3] = 0.2
    elif label == "shower":
        ev["ecal_main"][i, 3, 3] = 0.0
        ev["ecal_main"][i, 2, 3] = 20.0  # shower in the neighbouring cell
    elif label == "veto":
        ev["veto_e"][i, 1] = 5.0
    elif label == "hcal_time":
        ev["hcal_t"][i] = 10.0
    elif label == "vhcal":
        ev["vhcal_e"][i, 2] = 3.0
    elif label == "emiss":
        ev["ecal_main"][i, 3, 3] = 79.0  # E_ECAL = 80 GeV
    elif label == "hcal":
        ev["hcal_e"][i, 0, 1, 1] = 5.0
        ev["hcal_t"][i] = 0.0
    else:  # pragma: no cover
        raise ValueError(label)


def crafted_events(n_pass: int = 5, *, is_mc: bool = True) -> tuple[dict, list[str]]:
    """The events and, per event, ``"pass"`` or the label of the one cut it fails.

    Order: the ``n_pass`` passing events first, then the failing ones cut by cut.
    """
    labels = [c["name"] for c in CRAFTED_SELECTION["cuts"]]
    why = ["pass"] * n_pass
    for k, lab in enumerate(labels, start=1):
        why += [lab] * k
    n = len(why)
    ev = _passing(n, is_mc=is_mc)
    hits = [[0, 1, 2, 3] for _ in range(n)]
    ev["hit_station"] = hits  # list form while spoiling
    counters: dict[str, int] = {}
    for i, lab in enumerate(why):
        if lab != "pass":
            _spoil(ev, i, lab, counters.get(lab, 0))
            counters[lab] = counters.get(lab, 0) + 1
    ev["n_hits"] = np.array([len(h) for h in ev["hit_station"]], dtype=np.int32)
    ev["hit_station"] = ak.Array(ev["hit_station"])
    ev["hit_x"] = ak.Array([[0.0] * len(h) for h in hits])
    ev["hit_y"] = ak.Array([[0.0] * len(h) for h in hits])
    ev["event"][:] = np.arange(n)
    if is_mc:
        ev["mc_weight"][:] = np.where(np.array(why) == "pass", 0.5, 1.5)
        ev["mc_process"][:] = [int(Process.SIGNAL) if w == "pass" else int(FAIL_PROCESS[w])
                               for w in why]
    return ev, why


def write_crafted(path: str | Path, *, n_pass: int = 5, is_mc: bool = True,
                  has_vhcal: bool = True, n_on_target: float = 1.5e9, run: int = 1,
                  compression: str = "lz4") -> Path:
    """Write the crafted sample as an NTUPLE.md file."""
    ev, why = crafted_events(n_pass, is_mc=is_mc)
    if not has_vhcal:
        ev["vhcal_e"][:] = np.nan
    ev["run"][:] = run
    info = default_runinfo(1, len(why), n_on_target, run=run, has_vhcal=has_vhcal,
                           is_mc=is_mc, mc_seed=7 if is_mc else -1)
    return write_ntuple(path, ev, info, event_branches(1, is_mc), compression=compression)


__all__ = ["CRAFTED_SELECTION", "FAIL_PROCESS", "crafted_events", "write_crafted"]
