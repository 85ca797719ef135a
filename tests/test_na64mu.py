"""NA64μ analysis: the missing-momentum processor on a hand-crafted file (exact cut flow), the
background each cut is meant for on simulation, closure of the background estimate, the Z′
yield against PHYSICS.md §2, the (g−2)_μ band, projections.

Expected numbers are computed here (the crafted design, PHYSICS.md cross sections times
the lead column density, the one-loop integral by quadrature), never copied from a run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from coffea import processor
from scipy import integrate

from analysis.background import Plane, SignalBox, closure
from analysis.cli import main
from analysis.codes import Process
from analysis.execution import schema_class
from analysis.physics.yields import signal_yield
from analysis.processors import MissingMomentumProcessor, processor_for
from analysis.rootio import default_events, default_runinfo, write_ntuple
from analysis.schema import event_branches, validate_file
from analysis.selection import load_selection
from analysis.simulation import simulate
from analysis.simulation import muon_limits as ml

SELECTION = "selections/na64mu_2022.yaml"
BRANCHES = event_branches(3, True)


@pytest.fixture(scope="module")
def sel():
    return load_selection(SELECTION)


# ----------------------------------------------------------------------------------------
# hand-crafted file → exact cut flow
# ----------------------------------------------------------------------------------------

#: (cut label, list of ways to fail it): the k-th label gets k + 1 failing events, each
#: failing only that cut; 5 events pass everything.
SPOILERS = [
    ("trigger", [lambda e, i: e["trigger"].__setitem__(i, 2)]),
    ("momentum", [lambda e, i: e["beam_p"].__setitem__(i, 120.0),
                  lambda e, i: e["beam_p"].__setitem__(i, np.nan)]),
    ("track_in", [lambda e, i: e["n_tracks_in"].__setitem__(i, 2),
                  lambda e, i: e["beam_chi2"].__setitem__(i, 50.0)]),
    ("track_out", [lambda e, i: e["n_tracks_out"].__setitem__(i, 2),
                   lambda e, i: e["mu_chi2_out"].__setitem__(i, 10.0)]),
    ("veto", [lambda e, i: e["veto_e"].__setitem__((i, 1), 10.0)]),
    ("vhcal", [lambda e, i: e["vhcal_e"].__setitem__((i, 2), 2.0)]),
    ("hcal", [lambda e, i: e["hcal_e"].__setitem__((i, 0, 1, 1), 20.0),
              lambda e, i: e["hcal_e"].__setitem__((i, slice(None), 1, 1), 3.9)]),
    ("ecal", [lambda e, i: e["ecal_main"].__setitem__((i, 3, 3), 20.0),
              lambda e, i: e["ecal_main"].__setitem__((i, 3, 3), 0.0)]),
    ("pout", [lambda e, i: e["mu_p_out"].__setitem__(i, 120.0),
              lambda e, i: e["mu_p_out"].__setitem__(i, np.nan)]),
]
N_PASS = 5


def crafted_muon_events():
    """Events on rootio.default_events (setup 3): a passing single muon, then spoiled."""
    n_fail = [k + 1 for k in range(len(SPOILERS))]
    n = N_PASS + sum(n_fail)
    ev = default_events(n, BRANCHES, run=7, has_vhcal=True)
    ev["trigger"][:] = 1
    ev["beam_p"][:] = 160.0
    ev["beam_chi2"][:] = 1.0
    ev["beam_x"][:] = 0.0
    ev["beam_y"][:] = 0.0
    ev["n_tracks_out"][:] = 1
    ev["mu_chi2_out"][:] = 1.0
    ev["mu_p_out"][:] = 50.0
    ev["mu_theta_out"][:] = 1.5
    ev["veto_e"][:] = 3.0
    ev["hcal_e"][:, :, 1, 1] = 2.0
    ev["ecal_pre"][:, 3, 3] = 0.05
    ev["ecal_main"][:, 3, 3] = 0.40
    why = ["pass"] * N_PASS
    codes = [int(Process.SIGNAL)] * N_PASS
    muon_codes = [20, 21, 22, 23, 24]
    i = N_PASS
    for k, (label, ways) in enumerate(SPOILERS):
        for j in range(k + 1):
            ways[j % len(ways)](ev, i)
            why.append(label)
            codes.append(muon_codes[k % 5])
            i += 1
    ev["mc_process"][:] = codes
    ev["mc_weight"][:] = 1.0 + np.arange(n) % 3  # 1, 2, 3, 1, ...
    return ev, why


@pytest.fixture(scope="module")
def crafted_file(tmp_path_factory):
    ev, _ = crafted_muon_events()
    n = len(ev["trigger"])
    ri = default_runinfo(3, n, 1.0e9, run=7, beam_energy=160.0, has_vhcal=True, is_mc=True,
                         mc_seed=1)
    path = tmp_path_factory.mktemp("mu") / "crafted_mu.root"
    write_ntuple(path, ev, ri, BRANCHES)
    return str(path)


def _run(files, sel):
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False, retries=0),
                              schema=schema_class("auto"), chunksize=10_000, metadata_cache={})
    return runner({"mu": files}, processor_instance=MissingMomentumProcessor(sel),
                  treename="events")["mu"]


def test_crafted_file_is_valid_and_each_event_fails_one_cut(crafted_file, sel):
    assert validate_file(crafted_file).ok
    assert sel.labels == [label for label, _ in SPOILERS]
    ev, why = crafted_muon_events()
    masks = sel.evaluate(ev, sel.context(runinfo_beam_energy=160.0, has_vhcal=True,
                                         is_mc=True, setup=3))
    failed = np.array([[not m[i] for m in masks.values()] for i in range(len(why))])
    assert failed.sum(axis=1).tolist() == [0 if w == "pass" else 1 for w in why]
    for i, w in enumerate(why):
        if w != "pass":
            assert sel.labels[int(np.argmax(failed[i]))] == w


def test_crafted_file_gives_the_exact_cut_flow(crafted_file, sel):
    assert isinstance(processor_for(sel), MissingMomentumProcessor)
    ev, why = crafted_muon_events()
    w = ev["mc_weight"].astype(float)
    why = np.array(why)
    # after cut k: every event not spoiled at a cut ≤ k
    labels = sel.labels
    exp_events = [len(why)] + [int(np.sum(~np.isin(why, labels[:k + 1])))
                               for k in range(len(labels))]
    exp_w = [w.sum()] + [w[~np.isin(why, labels[:k + 1])].sum() for k in range(len(labels))]
    assert exp_events == [50, 49, 47, 44, 40, 35, 29, 22, 14, 5]
    out = _run([crafted_file], sel)
    assert out["cutflow"]["events"].tolist() == exp_events
    np.testing.assert_allclose(out["cutflow"]["weighted"], exp_w, rtol=0, atol=1e-9)
    # N−1 of cut k: the 5 passing events plus the ones spoiled only at k
    assert out["nminusone"]["events"].tolist() == [N_PASS + k + 1 for k in range(len(labels))]
    assert out["n_on_target"] == 1.0e9 and out["entries"] == 50
    bp = out["by_process"]
    assert bp[int(Process.SIGNAL)]["events"].tolist() == [5] * 10
    assert sum(p["events"] for p in bp.values()).tolist() == exp_events


def test_processor_refuses_an_electron_file(tmp_path, sel):
    from analysis.processors import ProcessingError

    ev = default_events(3, event_branches(1, True))
    path = tmp_path / "e.root"
    write_ntuple(path, ev, default_runinfo(1, 3, 1e6, is_mc=True), event_branches(1, True))
    with pytest.raises(Exception) as info:
        _run([str(path)], sel)
    chain, e = [], info.value
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    assert any(isinstance(c, ProcessingError) and "setup" in str(c) for c in chain)


# ----------------------------------------------------------------------------------------
# each background removed by the cut meant for it (simulation, per-process cut flow)
# ----------------------------------------------------------------------------------------

def _masks(events, sel):
    ctx = sel.context(runinfo_beam_energy=160.0, has_vhcal=True, is_mc=True, setup=3)
    return sel.evaluate(events, ctx)


def _nm1(masks, label, w):
    keep = np.logical_and.reduce([m for k, m in masks.items() if k != label])
    return w[keep].sum()


def _all(masks, w):
    return w[np.logical_and.reduce(list(masks.values()))].sum()


def _sample(process, bias, seed=61):
    res = simulate("muon", "2022", process=process, n_events=20000, n_on_target=1.98e10,
                   bias=bias, seed=seed)
    return res.events, res.events["mc_weight"].astype(float)


def test_ordinary_muons_never_fire_the_physics_trigger(sel):
    ev = simulate("muon", "2022", process="ordinary", n_events=5000, seed=60).events
    assert not _masks(ev, sel)["trigger"].any()


def test_momentum_tail_removed_by_outgoing_track_quality_and_pout(sel):
    ev, w = _sample("momentum-tail", 1e-9)
    m = _masks(ev, sel)
    # the bulk (correctly measured p_out ≈ 160 GeV) fails p_out < 80
    assert _nm1(m, "pout", w) > 1e5 * _all(m, w)
    # the dangerous MS2 tail: the outgoing-track cut removes ≳ 70 % of it (χ² × 5, halo track)
    assert _nm1(m, "track_out", w) > 3 * _all(m, w)


def test_decays_in_flight_removed_by_the_incoming_track_kink(sel):
    ev, w = _sample("decay-in-flight", 1e-2)
    m = _masks(ev, sel)
    # decays before the last MS1 station (90 % of the decay volume) fail the track χ²
    assert _nm1(m, "track_in", w) > 5 * _all(m, w)
    # pion decays (E_μ ≥ 0.57 E_π ≈ 92 GeV) — and any decay with E_ν < 0.4 E — are removed
    # by p_out < 80 GeV (MS2 resolution 4.4 %: ≥ 3.5 σ away)
    hard_mu = (ev["mc_invisible_e"] < 0.4 * 160) & m["trigger"]
    assert hard_mu.sum() > 1000
    assert w[hard_mu & m["pout"]].sum() < 1e-3 * w[hard_mu].sum()


def test_hadrons_removed_by_ecal_and_hcal(sel):
    ev, w = _sample("hadron-punch", 1e-3)
    m = _masks(ev, sel)
    trig = m["trigger"]
    # each calorimeter cut alone removes ≥ 95 % of the triggered hadrons — the ECAL (showers
    # start there; late ones leak out of its back), the HCAL (a leading hadron below ≈25 GeV
    # is bent out of it by MS2) — and together they leave < 1e-3
    assert w[trig & m["ecal"]].sum() < 0.05 * w[trig].sum()
    assert w[trig & m["hcal"]].sum() < 0.05 * w[trig].sum()
    assert w[trig & m["hcal"] & m["ecal"]].sum() < 1e-3 * w[trig].sum()
    assert _all(m, w) == 0


def test_target_interactions_removed_by_the_ecal_mip_cut(sel):
    ev, w = _sample("target-interaction", 1e-9)
    m = _masks(ev, sel)
    assert _nm1(m, "ecal", w) > 1e4 * max(_all(m, w), 1e-12)
    # and what survives is the leading-neutral escape tail (≤ 15 % of ν visible)
    keep = np.logical_and.reduce(list(m.values()))
    assert w[keep].sum() < 0.05  # events per 1.98e10 MOT


def test_pseudo_data_box_is_empty_and_signal_efficiency_is_high(sel):
    pd = simulate("muon", "2022", n_on_target=2e7, seed=62).events
    assert not np.logical_and.reduce(list(_masks(pd, sel).values())).any()
    eff = ml.signal_efficiency("zprime", 0.01, SELECTION, n_events=4000, seed=63)
    # trigger, hit efficiency 0.99⁴, χ² cuts, VETO Moyal tail, p_out resolution at 80 GeV
    assert 0.8 < eff["efficiency"] < 0.95 and eff["threshold"] == 80.0


# ----------------------------------------------------------------------------------------
# background estimate: closure on simulation
# ----------------------------------------------------------------------------------------

def test_closure_of_the_pout_tail_extrapolation(sel):
    h = next(x for x in sel.histograms if x.name == "pout_ecal")
    xe, ye = np.array(h.x.edges), np.array(h.y.edges)
    values = np.zeros((len(xe) - 1, len(ye) - 1))
    variances = np.zeros_like(values)
    labels = sel.labels
    pre = labels[:labels.index("hcal") + 1]
    for proc, bias in (("momentum-tail", 1e-9), ("decay-in-flight", 1e-2)):
        ev, w = _sample(proc, bias, seed=64)
        m = _masks(ev, sel)
        keep = np.logical_and.reduce([m[k] for k in pre])
        x = ev["mu_p_out"][keep].astype(float)
        y = (ev["ecal_pre"].sum(axis=(1, 2)) + ev["ecal_main"].sum(axis=(1, 2)))[keep]
        values += np.histogram2d(x, y, [xe, ye], weights=w[keep])[0]
        variances += np.histogram2d(x, y, [xe, ye], weights=w[keep] ** 2)[0]
    plane = Plane(values, variances, xe, ye)
    box = SignalBox(80.0, 1.5)
    c = closure(plane, box, "tail-ecal", sideband=(80.0, 120.0), shape="exponential")
    assert c.truth > 0 and c.estimate.value > 0
    assert c.to_dict()["passes_2sigma"], c.to_dict()


# ----------------------------------------------------------------------------------------
# physics: Z′ yield (PHYSICS.md §2), (g−2)_μ, projection
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mass,lo,hi", [(0.001, 1.1e4, 1.3e4), (0.01, 1.1e4, 1.3e4),
                                         (0.1, 6.4e3, 6.8e3), (1.0, 110.0, 110.0)])
def test_zprime_yield_per_mot_matches_physics_md(mass, lo, hi):
    # PHYSICS.md §2: σ(Pb, 160 GeV, g = 1e-3, E_Z′ > 80 GeV) [derived, ±20 %]; yield per
    # MOT = n_Pb × L_Pb × σ, L_Pb = half of 40 X0 of 1.5 mm Pb / 1.5 mm Sc layers
    x0_period = 0.15 / 0.5612 + 0.15 / 41.31  # cm / X0(cm) [PDG]
    l_pb = 40.0 / x0_period * 0.15
    n_pb = 11.35 * 6.02214076e23 / 207.2
    expected = n_pb * l_pb * 0.5 * (lo + hi) * 1e-36
    got = signal_yield("muon", 160.0, "zprime", mass, 1e-3, 80.0).signal_per_particle
    assert got == pytest.approx(expected, rel=0.10)


def test_delta_a_mu_of_a_zprime():
    g = 4e-4
    # m ≪ m_μ: ∫ (1 − x) dx = 1/2 → g²/(8π²)
    assert ml.delta_a_mu_zprime(g, 1e-6)[0] == pytest.approx(g * g / (8 * math.pi ** 2),
                                                             rel=1e-4)
    for m in (0.01, 0.1056584, 0.5):
        r = (m / 0.1056584) ** 2
        integ, _ = integrate.quad(lambda x: x * x * (1 - x) / (x * x + (1 - x) * r), 0, 1)
        assert ml.delta_a_mu_zprime(g, m)[0] == pytest.approx(g * g / (4 * math.pi ** 2)
                                                              * integ, rel=1e-6)
    band = ml.gm2_band(np.array([0.01]))
    # the 2σ band of 251(59)e-11 at 10 MeV: g such that Δa_μ = 133e-11 and 369e-11
    np.testing.assert_allclose(ml.delta_a_mu_zprime(band.low, 0.01), 133e-11, rtol=1e-9)
    np.testing.assert_allclose(ml.delta_a_mu_zprime(band.high, 0.01), 369e-11, rtol=1e-9)
    assert 3e-4 < band.low[0] < band.high[0] < 7e-4


def test_projection_for_the_muon_setup_with_a_given_efficiency():
    from analysis.limits import project

    d = project("muon", 160.0, 2e13, None, 0.1, "zprime", efficiency=0.9, masses=[0.01, 0.1])
    assert d["coupling"] == "g" and d["setup"] == "muon" and d["threshold"] == 80.0
    for p in d["points"]:
        y = signal_yield("muon", 160.0, "zprime", p["mass"], 1e-4, 80.0).per_coupling2
        # 0 observed is the median for b = 0.1: N_up(90 % CL) = 2.30 (PHYSICS.md §4)
        n_up = -math.log(0.1)
        assert p["expected"] == pytest.approx(math.sqrt(n_up / (2e13 * 0.9 * y)), rel=0.02)
    eps = project("muon", 160.0, 2e13, None, 0.1, "dark-photon", efficiency=0.9,
                  masses=[0.01])
    assert eps["coupling"] == "epsilon"


def test_project_cli_muon_json_shape_matches_electron():
    runner = CliRunner()
    mu = runner.invoke(main, ["project", "--setup", "muon", "--energy", "160", "--n-on-target",
                              "2e13", "--background", "0.1", "--model", "scalar",
                              "--masses", "0.01", "--json"])
    assert mu.exit_code == 0, mu.output
    el = runner.invoke(main, ["project", "--setup", "electron", "--energy", "100",
                              "--n-on-target", "1e13", "--threshold", "40", "--background",
                              "0.5", "--efficiency", "0.5", "--masses", "0.01", "--json"])
    assert el.exit_code == 0, el.output
    dm, de = json.loads(mu.output), json.loads(el.output)
    assert set(dm) == set(de)
    assert set(dm["points"][0]) == set(de["points"][0])
    assert dm["coupling"] == "g" and dm["model"] == "scalar"
    # the efficiency is the simulated one of selections/na64mu_2022.yaml
    assert 0.8 < dm["efficiency_values"][0] < 0.95
