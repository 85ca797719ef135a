"""Hadron-setup (NA64h, 50 GeV π⁻) fast simulation: determinism, files, physics sanity.

Expectations are computed here from the documented constants and formulas (decay
probabilities from PDG cτ, the synchrotron mean photon energy, truncated-exponential means,
the leakage CDF, an independent Monte Carlo of the Ke3 Dalitz plot), never copied from a run.
The charge-exchange cross sections themselves are tested against PHYSICS.md §2 in
tests/test_physics_mesons.py (not repeated here).
"""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from analysis.codes import Model, Process, Setup
from analysis.schema import event_branches, validate_file
from analysis.simulation import simulate
from analysis.simulation import detector as det
from analysis.simulation import electron as el
from analysis.simulation import hadron as h
from helpers import assert_same_events, ecal_energy, hcal_energy

BRANCHES = event_branches(int(Setup.HADRON), True)


@pytest.fixture(scope="module")
def pseudo():
    return simulate("hadron", "2023", n_on_target=3e6, seed=21)


# ----------------------------------------------------------------------------------------
# determinism, bookkeeping, files
# ----------------------------------------------------------------------------------------

def test_chunked_equals_unchunked(pseudo):
    again = simulate("hadron", "2023", n_on_target=3e6, seed=21, chunk_spills=1)
    assert_same_events(pseudo.events, again.events)
    parts = [simulate("hadron", "2023", n_on_target=3e6, seed=21, spill_range=(i, i + 1))
             for i in range(3)]
    joined = {k: (ak.concatenate([p.events[k] for p in parts])
                  if isinstance(pseudo.events[k], ak.Array)
                  else np.concatenate([p.events[k] for p in parts])) for k in pseudo.events}
    assert_same_events(pseudo.events, joined)
    assert math.fsum(p.n_on_target for p in parts) == pseudo.n_on_target == 3e6


def test_runinfo_and_spills(pseudo):
    ri = pseudo.runinfo
    assert set(ri["setup"]) == {int(Setup.HADRON)}
    assert set(ri["beam_pdg"]) == {-211}
    assert set(ri["beam_energy"]) == {50.0}
    assert not ri["has_vhcal"].any()
    assert ri["n_on_target"].sum() == 3e6 == pseudo.spills["n_on_target"].sum()
    assert len(pseudo.spills["spill"]) == 3  # 1e6 π⁻ per spill
    assert np.isnan(pseudo.events["vhcal_e"]).all()
    assert ri["n_events"].sum() == len(pseudo.events["trigger"])


def test_files_pass_validation(tmp_path):
    pd = simulate("hadron", "2023", n_on_target=1e6, seed=3, out=tmp_path / "pd.root")
    sig = simulate("hadron", "2023", signal="eta-prime", n_events=300, seed=4,
                   out=tmp_path / "sig.root")
    bkg = simulate("hadron", "2023", process="leakage", n_events=300, n_on_target=2.9e9,
                   bias=1e-6, seed=5, out=tmp_path / "bkg.root")
    for res in (pd, sig, bkg):
        rep = validate_file(res.path)
        assert rep.ok, [str(p) for p in rep.problems]


# ----------------------------------------------------------------------------------------
# rates and beam
# ----------------------------------------------------------------------------------------

def test_decay_probabilities_and_rates():
    # 5 m from the last tracker station to the ECAL; PDG: m_π 0.13957 GeV, cτ_π 7.8045 m,
    # m_K 0.493677 GeV, cτ_K 3.712 m; BR(K → μν) 63.56 %, BR(Ke3) 5.07 %.
    p_pi = 1.0 - math.exp(-5.0 * 0.13957039 / (50.0 * 7.8045))
    p_k = 1.0 - math.exp(-5.0 * 0.493677 / (50.0 * 3.712))
    assert h.P_DECAY_PI == pytest.approx(p_pi, rel=1e-9)
    assert h.P_DECAY_K == pytest.approx(p_k, rel=1e-9)
    r = h.rates()
    assert r[Process.H_BEAM_MUON] == pytest.approx(1e-3 + p_pi + 0.03 * p_k * 0.6356)
    assert r[Process.H_BEAM_KAON] == pytest.approx(0.03 * p_k * 0.0507)
    assert r[Process.H_BEAM_ELECTRON] == 0.02
    from analysis.physics.mesons import meson_yield_per_pot

    cex = sum(meson_yield_per_pot(m, 50.0).value for m in ("pi0", "eta", "eta-prime", "omega"))
    assert r[Process.H_CHARGE_EXCHANGE_VISIBLE] == pytest.approx(cex)
    assert 3e-5 < cex < 5e-5  # π⁰ dominates: ≈3.2e-5 per POT in the ECAL


def test_recorded_counts(pseudo):
    r = h.rates()
    proc = pseudo.events["mc_process"]
    pot = 3e6
    n_mu = np.count_nonzero(proc == Process.H_BEAM_MUON)
    exp_mu = r[Process.H_BEAM_MUON] * pot  # every muon fires the low-energy trigger
    assert abs(n_mu - exp_mu) < 4 * math.sqrt(exp_mu)
    n_sh = np.count_nonzero(proc == Process.H_HADRON_SHOWER)
    exp_sh = r[Process.H_HADRON_SHOWER] * pot * det.CALIB_PRESCALE
    assert abs(n_sh - exp_sh) < 4 * math.sqrt(exp_sh)
    trig = pseudo.events["trigger"]
    sh = proc == Process.H_HADRON_SHOWER
    assert (trig[sh] & 2).all() and not (trig[sh] & 1).any()
    assert (trig[proc == Process.H_BEAM_MUON] & 1).all()


def test_beam_momentum_and_srd_of_electrons():
    ev = simulate("hadron", "2023", process="beam-electron", n_events=4000, seed=7).events
    # SR critical energy 0.665 keV E² B at 50 GeV, 1.7 T (detector.MAGNET_B); mean photon
    # energy 8/(15√3) ε_c; 10 photons per module on average.
    eps_c = 0.665e-6 * 50.0 ** 2 * 1.7 * 1e3  # MeV
    mean = 10 * 8.0 / (15.0 * math.sqrt(3.0)) * eps_c
    assert ev["srd_e"].mean() == pytest.approx(mean, rel=0.03)
    assert np.nanmedian(ev["beam_p"]) == pytest.approx(50.0, abs=0.05)  # NaN: no track
    assert np.median(ecal_energy(ev)) == pytest.approx(50.0, rel=0.02)


# ----------------------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------------------

def test_pi0_fraction():
    # Groom / PDG: f_em = 1 − (E/1 GeV)^(0.83 − 1)
    assert h.em_fraction_mean(50.0) == pytest.approx(1.0 - 50.0 ** -0.17)
    rng = np.random.default_rng(1)
    f = h.pi0_fraction(rng, np.full(200000, 50.0))
    mu = 1.0 - 50.0 ** -0.17
    assert f.mean() == pytest.approx(mu, abs=2e-3)
    assert f.std() == pytest.approx(math.sqrt(mu * (1 - mu) / 7.0), rel=0.02)  # Beta, κ = 6


def test_ke3_table_matches_an_independent_dalitz_monte_carlo():
    rng = np.random.default_rng(5)
    _, x_nu = el._ke3_fractions(rng, 1_000_000)  # rejection sampling of the Dalitz plot
    x_tab = h.sample_ke3_neutrino_fraction(np.random.default_rng(6).random(1_000_000))
    for cut in (0.3, 0.5, 0.8, 0.88):
        p_mc, p_tab = (x_nu > cut).mean(), (x_tab > cut).mean()
        err = math.sqrt(p_mc * (1 - p_mc) / 1e6) * 2
        assert abs(p_mc - p_tab) < 4 * err + 1e-6, cut
    cdf, x = h.ke3_neutrino_table()
    assert x[-1] == pytest.approx((0.493677 ** 2 - 0.1349768 ** 2) / 0.493677 ** 2)


def test_leakage_visible_fraction_cdf():
    b, vmax = h.LEAK_SLOPE, h.LEAK_V_MAX
    u = np.random.default_rng(2).random(400000)
    v = h.leakage_visible_fraction(u)
    for cut in (0.1, 0.3, 0.45):
        expected = math.expm1(cut / b) / math.expm1(vmax / b)
        assert (v < cut).mean() == pytest.approx(expected, abs=4 * math.sqrt(expected / 4e5)
                                                 + 1e-5)
    assert h.leakage_visible_fraction(np.array([1.0]))[0] == 0.0


def test_muon_paths_and_components():
    paths = h.muon_hcal_paths(np.array([50.0, 2.3, 0.3 + 1.4 * 1.5]))
    np.testing.assert_allclose(paths[0], [1, 1, 1, 1])
    np.testing.assert_allclose(paths[1], [1, (2.3 - 0.3) / 1.4 - 1, 0, 0])
    np.testing.assert_allclose(paths[2], [1, 0.5, 0, 0])
    r = np.array([h.RATE_MU_BEAM, h.RATE_MU_PI_DECAY, h.RATE_MU_K_DECAY])
    comp, x = h._muon_components(np.random.default_rng(3).random(300000))
    frac = np.bincount(comp, minlength=3) / comp.size
    np.testing.assert_allclose(frac, r / r.sum(), atol=4e-3)
    assert x[comp == 0].min() == 1.0
    # two-body decays: x_μ uniform on [(m_μ/m_P)², 1]
    rk = (0.1056584 / 0.493677) ** 2
    assert x[comp == 2].min() >= rk - 1e-12
    assert x[comp == 2].mean() == pytest.approx((1 + rk) / 2, abs=0.02)


def test_muons_leave_mips_in_the_hcal():
    ev = simulate("hadron", "2023", process="beam-muon", n_events=4000, seed=8,
                  record="all").events
    hard = ev["mc_invisible_e"] < 1.0  # beam muons and hard decay muons cross everything
    per_module = ev["hcal_e"].sum(axis=(2, 3))[hard]
    # Moyal median: MPV (1 + width · 0.7875), MPV 2.0 GeV, width 0.10 (detector.py)
    assert np.median(per_module) == pytest.approx(2.0 * (1 + 0.1 * 0.7875), abs=0.05)
    assert (ev["veto_e"].min(axis=1) > 1.0).all()  # every muon crosses the VETO


def test_hadron_showers_are_contained_and_never_trigger():
    res = simulate("hadron", "2023", process="hadron-shower", n_events=20000, seed=9,
                   record="all")
    ev = res.events
    tot = ecal_energy(ev) + hcal_energy(ev)
    assert not (ev["trigger"] & 1).any()
    assert tot.min() > h.TRIGGER_TOTAL_MAX
    assert 40.0 < np.median(tot) < 55.0
    # non-compensation: the spread is far wider than a compensating 65 %/√E calorimeter
    assert np.std(tot) > 0.65 * math.sqrt(50.0)


def test_visible_charge_exchange_is_electromagnetic():
    ev = simulate("hadron", "2023", process="charge-exchange-visible", n_events=4000,
                  seed=10, record="all").events
    assert np.median(ecal_energy(ev)) > 40.0
    assert np.median(hcal_energy(ev)) < 5.0
    assert not (ev["trigger"] & 1).any()


# ----------------------------------------------------------------------------------------
# signal
# ----------------------------------------------------------------------------------------

def test_signal_sample():
    res = simulate("hadron", "2023", signal="eta", n_events=20000, seed=12)
    ev, ri = res.events, res.runinfo
    assert ri["mc_model"][0] == int(Model.ETA)
    assert ri["mc_mass"][0] == pytest.approx(0.547862)
    assert ri["n_on_target"][0] == 0
    assert (ev["mc_process"] == Process.SIGNAL).all()
    np.testing.assert_allclose(ev["mc_mass"], 0.547862, rtol=1e-6)
    # ⟨E_X⟩ = 0.3 ⟨Exp(1) on [0, 10]⟩ + 0.7 (⟨|t|⟩/(2 m_n) + 0.02), ⟨|t|⟩ = 1/8 GeV²
    trunc = 1.0 - 10.0 * math.exp(-10.0) / (1.0 - math.exp(-10.0))
    e_rec = 0.3 * trunc + 0.7 * (1.0 / 8.0 / (2 * 0.93957) + 0.02)
    assert ev["mc_invisible_e"].mean() == pytest.approx(50.0 - e_rec, abs=0.03)
    tot = ecal_energy(ev) + hcal_energy(ev)
    assert (ev["trigger"] & 1).mean() > 0.999
    assert np.median(tot) < 1.0  # "complete disappearance": MIP track + recoil
    assert (tot < 5.0).mean() > 0.99


def test_signal_eta_prime_and_errors():
    res = simulate("hadron", "2023", signal="eta-prime", mass=0.95778, n_events=50, seed=1)
    assert res.runinfo["mc_model"][0] == int(Model.ETA_PRIME)
    with pytest.raises(ValueError, match="meson mass"):
        simulate("hadron", "2023", signal="eta", mass=0.5, n_events=10)
    with pytest.raises(ValueError, match="eta or eta-prime"):
        simulate("hadron", "2023", signal="dark-photon", mass=0.01, n_events=10)
    with pytest.raises(ValueError, match="period"):
        simulate("hadron", "2016-2022", n_on_target=1e6)
    with pytest.raises(ValueError, match="unknown hadron-setup process"):
        simulate("hadron", "2023", process="dimuon", n_events=10)


def test_biased_weights_sum_to_rate_times_exposure():
    for name, bias in (("leakage", 1e-6), ("beam-kaon", 1e-7)):
        res = simulate("hadron", "2023", process=name, n_events=20000, n_on_target=2.9e9,
                       bias=bias, seed=13, record="all")
        w = res.events["mc_weight"]
        rate = h.process_spec(name).rate
        assert w.sum() == pytest.approx(rate * 2.9e9, rel=0.03)
    # the biased Ke3 endpoint (E_ν > 45 GeV ⇔ E_vis ≲ 5 GeV) against the table's own tail,
    # averaged over the beam momentum core (σ_p/p = 0.8 %, detector.BEAM_SPREAD)
    tail = res.events["mc_invisible_e"] > 45.0
    cdf, x = h.ke3_neutrino_table()
    z, wz = np.polynomial.hermite_e.hermegauss(40)
    p = 50.0 * (1.0 + 0.008 * z)
    p_tail = float(np.sum(wz * (1.0 - np.interp(45.0 / p, x, cdf))) / wz.sum())
    assert w[tail].sum() == pytest.approx(rate * 2.9e9 * p_tail, rel=0.1)
