"""Cut primitives and variables on tiny hand-made arrays, with hand-computed masks."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from analysis import cuts
from analysis.cuts import CUTS, VARIABLES, Context, column

NOWALL = settings(deadline=None, max_examples=60)  # no wall-time dependence
CTX = Context(beam_energy=100.0, runinfo_beam_energy=70.0)


def apply(name, events, **params):
    return CUTS[name].apply(events, params, CTX)


def ecal(n, cells_main=(), cells_pre=()):
    """(pre, main) arrays of n events; cells_*: list of (event, ix, iy, energy)."""
    pre = np.zeros((n, 6, 6), np.float32)
    main = np.zeros((n, 6, 6), np.float32)
    for i, ix, iy, e in cells_main:
        main[i, ix, iy] = e
    for i, ix, iy, e in cells_pre:
        pre[i, ix, iy] = e
    return {"ecal_pre": pre, "ecal_main": main}


# ----------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------


def test_every_cut_documents_what_it_rejects_and_forbids_unknown_params():
    for name, d in CUTS.items():
        assert d.summary.startswith("Rejects"), name
        assert d.params.model_config.get("extra") == "forbid", name
    expected = {"physics_trigger", "beam_momentum_window", "single_track", "srd_tag",
                "ecal_shower", "ecal_preshower_min", "missing_energy", "veto_quiet",
                "hcal_veto", "vhcal_veto", "time_window", "pileup_rejection", "beam_spot"}
    assert expected <= set(CUTS)
    assert CUTS["vhcal_veto"].requires == {"vhcal"}
    assert VARIABLES["vhcal_energy"].requires == {"vhcal"}


def test_params_are_typed():
    with pytest.raises(ValidationError, match="valid number"):
        CUTS["missing_energy"].validate({"threshold": "50"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        CUTS["beam_momentum_window"].validate({"low": 1.0, "high": 2.0, "mid": 1.5})
    with pytest.raises(ValidationError, match="must be below"):
        CUTS["beam_momentum_window"].validate({"low": 103.0, "high": 97.0})
    with pytest.raises(ValidationError, match="Field required"):
        CUTS["time_window"].validate({"detector": "srd", "mean": 0.0, "sigma": 1.0,
                                      "n_sigma": 3.0})  # allow_missing must be explicit
    with pytest.raises(ValidationError, match="out of range"):
        CUTS["srd_tag"].validate({"e_min": 1.0, "e_max": 2.0, "modules": [0, 3]})
    assert CUTS["missing_energy"].validate({"threshold": 50}).threshold == 50.0  # int ok


# ----------------------------------------------------------------------------------------
# the accessor layer
# ----------------------------------------------------------------------------------------


def test_column_reads_flat_grouped_and_dict_layouts():
    main = np.arange(2 * 36, dtype=np.float32).reshape(2, 6, 6)
    flat = ak.zip({"ecal_main": main, "trigger": np.array([1, 2])}, depth_limit=1)
    grouped = ak.zip({"ECAL": ak.zip({"main": main}, depth_limit=1),
                      "trigger": np.array([1, 2])}, depth_limit=1)
    for events in (flat, grouped, {"ecal_main": main}):
        got = column(events, "ecal_main")
        assert isinstance(got, np.ndarray) and got.shape == (2, 6, 6)
        np.testing.assert_array_equal(got, main)
    with pytest.raises(cuts.MissingBranchError, match="hcal_e"):
        column(flat, "hcal_e")


# ----------------------------------------------------------------------------------------
# each cut
# ----------------------------------------------------------------------------------------


def test_physics_trigger():
    ev = {"trigger": np.array([0, 1, 2, 3], np.int32)}
    assert apply("physics_trigger", ev).tolist() == [False, True, False, True]
    assert apply("physics_trigger", ev, bit=1).tolist() == [False, False, True, True]


def test_beam_momentum_window():
    ev = {"beam_p": np.array([96.9, 97.0, 100.0, 102.99, 103.0, np.nan], np.float32)}
    assert apply("beam_momentum_window", ev, low=97.0, high=103.0).tolist() == \
        [False, False, True, True, False, False]


def test_single_track():
    ev = {
        "n_tracks_in": np.array([1, 2, 1, 1, 1], np.int16),
        "beam_chi2": np.array([1.0, 1.0, np.nan, 1.0, 1.0], np.float32),
        "hit_station": ak.Array([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3],
                                 [0, 1, 1, 2, 3], [0, 1, 2]]),
    }
    assert apply("single_track", ev, max_chi2=10.0).tolist() == [True, False, False, False,
                                                                  False]
    # two hits allowed per station: the doubled station passes, the missing one still fails
    assert apply("single_track", ev, max_chi2=10.0, max_hits_per_station=2).tolist() == \
        [True, False, False, True, False]
    # only stations 0..2 required
    assert apply("single_track", ev, max_chi2=10.0, stations=[0, 1, 2]).tolist() == \
        [True, False, False, False, True]
    ev["beam_chi2"][0] = 10.0  # chi2 must be strictly below max
    assert not apply("single_track", ev, max_chi2=10.0)[0]


def test_srd_tag():
    ev = {"srd_e": np.array([[10, 10, 10], [0.5, 10, 10], [10, 10, 100], [10, 10, 99.9]],
                            np.float32),
          "srd_t": np.array([0.0, 0.0, 0.0, 4.0], np.float32)}
    assert apply("srd_tag", ev, e_min=1.0, e_max=100.0).tolist() == [True, False, False, True]
    assert apply("srd_tag", ev, e_min=1.0, e_max=100.0, modules=[0, 1]).tolist() == \
        [True, False, True, True]
    t = {"mean": 0.0, "sigma": 1.0, "n_sigma": 3.0}
    assert apply("srd_tag", ev, e_min=1.0, e_max=100.0, time=t).tolist() == \
        [True, False, False, False]


def test_ecal_shower():
    ev = ecal(4, cells_main=[(0, 3, 3, 10.0), (0, 3, 4, 1.0),     # A: central shower
                             (1, 3, 3, 1.0), (1, 2, 3, 10.0),     # B: max in a neighbour
                             (3, 3, 3, 5.0), (3, 0, 0, 4.0)])     # D: 4 GeV far away
    # event 2 (C) is empty
    assert apply("ecal_shower", ev).tolist() == [True, False, False, True]
    # fraction in the centre: A 10/11, D 5/9
    assert apply("ecal_shower", ev, max_in_center=False, min_center_fraction=0.8).tolist() \
        == [True, False, False, False]
    # outside the 3x3 block around [3][3]: A 0, B 0, D 4/9
    assert apply("ecal_shower", ev, max_in_center=False, max_outer_fraction=0.5).tolist() \
        == [True, True, False, True]
    assert apply("ecal_shower", ev, max_in_center=False, max_outer_fraction=0.4).tolist() \
        == [True, True, False, False]
    # preshower and main add per cell: 8 + 3 GeV in [2][3] beats 10 GeV in [3][3]
    ev2 = ecal(1, cells_main=[(0, 3, 3, 10.0), (0, 2, 3, 8.0)], cells_pre=[(0, 2, 3, 3.0)])
    assert apply("ecal_shower", ev2).tolist() == [False]


def test_ecal_preshower_min():
    ev = ecal(3, cells_pre=[(0, 3, 3, 0.5), (1, 3, 3, 0.3), (1, 2, 2, 0.21)])
    assert apply("ecal_preshower_min", ev, e_min=0.5).tolist() == [False, True, False]


def test_missing_energy_selection_runinfo_and_number():
    ev = ecal(4, cells_main=[(0, 3, 3, 45.0), (1, 3, 3, 46.0), (2, 3, 3, 46.0)],
              cells_pre=[(0, 3, 3, 4.9), (1, 3, 3, 4.0), (2, 3, 3, 4.1)])
    # E_ECAL = 49.9, 50.0, 50.1, 0 -> E_miss = 50.1, 50.0, 49.9, 100 (> 50 strictly)
    assert apply("missing_energy", ev, threshold=50.0).tolist() == [True, False, False, True]
    # runinfo beam energy 70 GeV: E_miss = 20.1, 20, 19.9, 70
    assert apply("missing_energy", ev, threshold=20.0, beam_energy="runinfo").tolist() == \
        [True, False, False, True]
    assert apply("missing_energy", ev, threshold=40.0, beam_energy=90.0).tolist() == \
        [True, False, False, True]
    with pytest.raises(ValueError, match="Context"):
        CUTS["missing_energy"].apply(ev, {"threshold": 50.0})


def test_veto_quiet():
    ev = {"veto_e": np.array([[0, 0, 0], [0, 1.0, 0], [0.99, 0.99, 0.99]], np.float32)}
    assert apply("veto_quiet", ev, e_max=1.0).tolist() == [True, False, True]
    assert apply("veto_quiet", ev, e_max=1.0, planes=[0, 2]).tolist() == [True, True, True]


def test_hcal_veto():
    h = np.zeros((4, 4, 3, 3), np.float32)
    h[0, 0, 1, 1] = 0.5                        # 0.5 total
    h[1, 0, 1, 1], h[1, 1, 0, 0] = 0.6, 0.4    # 1.0 total: not < 1
    h[2, 0, 0, 0], h[2, 1, 2, 2] = 0.3, 0.3    # 0.6 total, 0.3 per module
    h[3, 2, 1, 1] = 0.6                        # 0.6 in module 2
    ev = {"hcal_e": h}
    assert apply("hcal_veto", ev, total_max=1.0).tolist() == [True, False, True, True]
    # module_max is exclusive too: event 0 has exactly 0.5 GeV in module 0
    assert apply("hcal_veto", ev, total_max=1.0, module_max=0.5).tolist() == \
        [False, False, True, False]
    assert apply("hcal_veto", ev, total_max=1.0, module_max=0.55).tolist() == \
        [True, False, True, False]
    assert apply("hcal_veto", ev, total_max=1.0, modules=[0]).tolist() == \
        [True, True, True, True]


def test_vhcal_veto_nan_fails():
    ev = {"vhcal_e": np.array([[0, 0, 0, 0], [0.5, 0.6, 0, 0], [1.0, 0, 0, 0],
                               [np.nan, 0, 0, 0]], np.float32)}
    assert apply("vhcal_veto", ev, cell_max=1.0, total_max=1.0).tolist() == \
        [True, False, False, False]
    assert apply("vhcal_veto", ev, cell_max=1.0, total_max=2.0).tolist() == \
        [True, True, False, False]


def test_time_window():
    ev = {"hcal_t": np.array([0.0, 3.0, 3.01, -3.0, np.nan], np.float32),
          "ecal_t": np.array([8.0, 12.0, 7.9, 10.0, 14.0], np.float32)}
    p = {"mean": 0.0, "sigma": 1.0, "n_sigma": 3.0}
    assert apply("time_window", ev, detector="hcal", allow_missing=False, **p).tolist() == \
        [True, True, False, True, False]
    assert apply("time_window", ev, detector="hcal", allow_missing=True, **p).tolist() == \
        [True, True, False, True, True]
    assert apply("time_window", ev, detector="ecal", mean=10.0, sigma=2.0, n_sigma=1.0,
                 allow_missing=False).tolist() == [True, True, False, True, False]


def test_pileup_rejection():
    ev = {"hit_station": ak.Array([[0, 1, 2, 3], [0, 0, 0, 1], [0, 0, 1], [0, 1]]),
          "srd_t": np.array([0.0, 0.0, 2.5, np.nan], np.float32),
          "ecal_t": np.array([0.0, 0.0, -2.5, 0.0], np.float32)}
    assert apply("pileup_rejection", ev, max_hits_per_station=2).tolist() == \
        [True, False, True, True]
    assert apply("pileup_rejection", ev, max_srd_ecal_dt=3.0).tolist() == \
        [True, True, False, False]
    with pytest.raises(ValidationError, match="needs"):
        CUTS["pileup_rejection"].validate({})


def test_beam_spot():
    ev = {"beam_x": np.array([0.0, 3.0, 3.0, np.nan], np.float32),
          "beam_y": np.array([0.0, 4.0, 4.1, 0.0], np.float32)}
    assert apply("beam_spot", ev, r_max=5.0).tolist() == [True, False, False, False]


# ----------------------------------------------------------------------------------------
# variables
# ----------------------------------------------------------------------------------------


def test_variables():
    ev = ecal(2, cells_main=[(0, 3, 3, 20.0), (1, 0, 0, 30.0)], cells_pre=[(0, 3, 3, 1.0)])
    h = np.zeros((2, 4, 3, 3), np.float32)
    h[0, 1, 0, 0], h[0, 3, 2, 2] = 2.0, 3.0
    ev.update(hcal_e=h, srd_e=np.array([[1, 2, 3], [4, 5, 6]], np.float32),
              srd_t=np.array([1.0, 2.0], np.float32), ecal_t=np.array([0.5, 3.0], np.float32),
              hit_station=ak.Array([[0, 1, 1, 2], [3]]))
    v = {n: VARIABLES[n](ev, CTX) for n in ("ecal_energy", "missing_energy", "ecal_pre_energy",
                                            "hcal_energy", "hcal_module_energy", "hcal3_energy",
                                            "srd_energy", "srd_total_energy", "srd_ecal_dt",
                                            "max_hits_per_station", "n_hits",
                                            "ecal_center_fraction")}
    assert v["ecal_energy"].tolist() == [21.0, 30.0]
    assert v["missing_energy"].tolist() == [79.0, 70.0]
    assert v["ecal_pre_energy"].tolist() == [1.0, 0.0]
    assert v["hcal_energy"].tolist() == [5.0, 0.0]
    assert v["hcal_module_energy"].tolist() == [[0, 2, 0, 3], [0, 0, 0, 0]]
    assert v["hcal3_energy"].tolist() == [3.0, 0.0]
    assert v["srd_energy"].shape == (2, 3) and VARIABLES["srd_energy"].multiplicity == 3
    assert v["srd_total_energy"].tolist() == [6.0, 15.0]
    assert v["srd_ecal_dt"].tolist() == [0.5, -1.0]
    assert v["max_hits_per_station"].tolist() == [2.0, 1.0]
    assert v["n_hits"].tolist() == [4.0, 1.0]
    assert v["ecal_center_fraction"].tolist() == [1.0, 0.0]


# ----------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------

energies = st.lists(st.floats(0, 120, allow_nan=False, width=32), min_size=1, max_size=30)


def _ecal_from(es):
    ev = ecal(len(es))
    ev["ecal_main"][:, 3, 3] = np.asarray(es, np.float32)
    return ev


@NOWALL
@given(energies, st.floats(1, 99), st.floats(1, 99))
def test_missing_energy_monotone_in_threshold(es, t1, t2):
    lo, hi = sorted((t1, t2))
    ev = _ecal_from(es)
    loose = apply("missing_energy", ev, threshold=lo)
    tight = apply("missing_energy", ev, threshold=hi)
    assert not np.any(tight & ~loose)  # tighter threshold keeps a subset
    # and agrees with E_ECAL < E_beam - threshold computed by hand
    np.testing.assert_array_equal(loose, 100.0 - np.asarray(es, np.float32).astype(float) > lo)


@NOWALL
@given(st.lists(st.floats(0, 10, allow_nan=False, width=32), min_size=36, max_size=36),
       st.floats(0.1, 20), st.floats(0.1, 20))
def test_hcal_veto_monotone(cells, a, b):
    h = np.asarray(cells, np.float32).reshape(1, 4, 3, 3)
    lo, hi = sorted((a, b))
    if apply("hcal_veto", {"hcal_e": h}, total_max=lo)[0]:
        assert apply("hcal_veto", {"hcal_e": h}, total_max=hi)[0]


@NOWALL
@given(st.lists(st.one_of(st.floats(-50, 50, width=32), st.just(float("nan"))), min_size=1,
                max_size=20),
       st.floats(-5, 5), st.floats(0.1, 5), st.floats(0.5, 5))
def test_time_window_properties(ts, mean, sigma, n):
    ev = {"ecal_t": np.asarray(ts, np.float32)}
    p = dict(detector="ecal", mean=mean, sigma=sigma, n_sigma=n)
    strict = apply("time_window", ev, allow_missing=False, **p)
    lax = apply("time_window", ev, allow_missing=True, **p)
    nan = np.isnan(ev["ecal_t"])
    assert not np.any(strict & nan)          # NaN never passes without allow_missing
    assert np.all(lax[nan])                   # and always passes with it
    np.testing.assert_array_equal(strict[~nan], lax[~nan])
    wider = apply("time_window", ev, allow_missing=False, **dict(p, n_sigma=n + 1))
    assert not np.any(strict & ~wider)


@NOWALL
@given(st.lists(st.floats(80, 120, width=32), min_size=1, max_size=30),
       st.floats(85, 99), st.floats(101, 115), st.floats(0, 5))
def test_momentum_window_nested(ps, low, high, widen):
    ev = {"beam_p": np.asarray(ps, np.float32)}
    inner = apply("beam_momentum_window", ev, low=low, high=high)
    outer = apply("beam_momentum_window", ev, low=low - widen, high=high + widen)
    assert not np.any(inner & ~outer)
