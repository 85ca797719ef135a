"""Muon-setup (NA64μ, 160 GeV μ) fast simulation: determinism, files, physics sanity.

Expectations are computed here from the documented constants and formulas (MIP scales,
Moyal means, Highland, two-body decay kinematics, the KKP bremsstrahlung formula typed in
again, decay probabilities from PDG lifetimes), never copied from a run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import uproot
from scipy import integrate
from scipy.special import erfc

from analysis.codes import Model, Process
from analysis.schema import event_branches, validate_file
from analysis.simulation import simulate
from analysis.simulation import muon as mu
from helpers import assert_same_events, join_events, poisson_ok

BRANCHES = event_branches(3, True)
MOYAL_MEAN = math.log(2.0) + 0.5772156649  # mean of X = -ln Z², Z ~ N(0, 1)


def _ecal(ev):
    return ev["ecal_pre"].sum(axis=(1, 2)).astype(float) + ev["ecal_main"].sum(axis=(1, 2))


def _sel(ev, mask):
    return {k: v[mask] for k, v in ev.items()}


@pytest.fixture(scope="module")
def pseudo():
    return simulate("muon", "2022", n_on_target=2e7, seed=21)


@pytest.fixture(scope="module")
def zprime():
    return simulate("muon", "2022", signal="zprime", mass=0.01, n_events=20000, seed=22).events


# ----------------------------------------------------------------------------------------
# determinism
# ----------------------------------------------------------------------------------------

def test_chunked_equals_unchunked(pseudo):
    one_by_one = simulate("muon", "2022", n_on_target=2e7, seed=21, chunk_spills=1)
    assert_same_events(pseudo.events, one_by_one.events)
    other = simulate("muon", "2022", n_on_target=2e7, seed=22)
    assert not np.array_equal(other.events["mu_p_out"][:100], pseudo.events["mu_p_out"][:100])


def test_spill_ranges_and_fixed_size_samples_are_reproducible():
    full = simulate("muon", "2022", n_on_target=3e7, seed=5, spills_per_run=2)
    parts = [simulate("muon", "2022", n_on_target=3e7, seed=5, spills_per_run=2,
                      spill_range=r).events for r in ((0, 1), (1, 3))]
    assert_same_events(full.events, join_events(parts))
    a = simulate("muon", "2022", process="decay-in-flight", n_events=3000, bias=1e-2, seed=3,
                 block_size=1000).events
    b = simulate("muon", "2022", process="decay-in-flight", n_events=3000, bias=1e-2, seed=3,
                 block_size=1000, chunk_spills=2).events
    assert_same_events(a, b)
    s1 = simulate("muon", "2022", signal="scalar", mass=0.1, n_events=700, seed=4,
                  block_size=300)
    s2 = simulate("muon", "2022", signal="scalar", mass=0.1, n_events=700, seed=4,
                  block_size=300, chunk_spills=1)
    assert_same_events(s1.events, s2.events)


# ----------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------

def test_files_pass_validation_and_carry_the_muon_runinfo(tmp_path, pseudo):
    res = simulate("muon", "2022", n_on_target=2e7, seed=21, out=tmp_path / "pd.root")
    sig = simulate("muon", "2022", signal="dark-photon", mass=0.1, n_events=500, seed=3,
                   out=tmp_path / "ap.root")
    for path in (res.path, sig.path):
        report = validate_file(path)
        assert report.ok, [str(p) for p in report.problems]
    with uproot.open(res.path) as f:
        ri = f["runinfo"].arrays(library="np")
        assert np.all(ri["setup"] == 3) and np.all(ri["beam_pdg"] == mu.BEAM_PDG)
        assert np.all(ri["beam_energy"] == 160) and np.all(ri["has_vhcal"])
        assert ri["n_on_target"].sum() == 2e7
        sp = f["spills"].arrays(library="np")
        assert math.fsum(sp["n_on_target"].tolist()) == 2e7 and len(sp["run"]) == 2
        for b in BRANCHES:
            assert b.name in f["events"], b.name
        np.testing.assert_array_equal(f["events"]["mu_p_out"].array(library="np"),
                                      pseudo.events["mu_p_out"])
    with uproot.open(sig.path) as f:
        ri = f["runinfo"].arrays(library="np")
        assert ri["mc_model"][0] == int(Model.DARK_PHOTON) and ri["n_on_target"][0] == 0
        assert ri["n_events"][0] == 500


def test_unknown_period_and_process_are_errors():
    with pytest.raises(ValueError, match="unknown period"):
        simulate("muon", "2023", n_on_target=1e6)
    with pytest.raises(ValueError, match="unknown muon-setup process"):
        simulate("muon", "2022", process="dimuon", n_events=10)


# ----------------------------------------------------------------------------------------
# detector response
# ----------------------------------------------------------------------------------------

def test_ordinary_muons_are_mips_with_the_beam_momentum():
    ev = simulate("muon", "2022", process="ordinary", n_events=20000, seed=31).events
    assert np.all(ev["trigger"] == 2)  # calibration only
    n = len(ev["trigger"])
    # ECAL: 11.5 MeV per X0 over 40 X0 on the EM scale, Moyal width 10 % → mean 0.46·(1 + 0.1·⟨X⟩)
    ecal = _ecal(ev)
    exp_ecal = 0.0115 * 40 * (1 + 0.1 * MOYAL_MEAN)
    assert ecal.mean() == pytest.approx(exp_ecal, abs=4 * ecal.std() / math.sqrt(n))
    assert np.mean(np.argmax((ev["ecal_pre"] + ev["ecal_main"]).reshape(n, -1), axis=1)
                   == 3 * 6 + 3) > 0.9  # on the beam cell (8 mm spot, 38.2 mm cells)
    # HCAL behind MS2: four modules of 2.0 GeV MIP (p ≈ 160 GeV crosses all), central cell
    hcal = ev["hcal_e"].sum(axis=(1, 2, 3)).astype(float)
    exp_hcal = 4 * 2.0 * (1 + 0.1 * MOYAL_MEAN)
    assert hcal.mean() == pytest.approx(exp_hcal, abs=4 * hcal.std() / math.sqrt(n))
    assert np.mean(ev["hcal_e"][:, 0, 1, 1] > 1.0) > 0.99
    # VETO: one MIP (3 MeV) per plane; VHCAL: the muon goes through its hole
    assert ev["veto_e"].mean() == pytest.approx(3.0 * (1 + 0.15 * MOYAL_MEAN), rel=0.03)
    assert np.all(np.abs(ev["vhcal_e"]) < 0.15)
    # momenta: p_out = p - 0.3 GeV, spread = beam spread ⊕ MS2 resolution (core, robust)
    p_out = ev["mu_p_out"].astype(float)
    assert np.median(p_out) == pytest.approx(160 - 0.3, abs=0.3)
    iqr = np.subtract(*np.percentile(p_out, [75, 25])) / 1.349
    assert iqr == pytest.approx(160 * math.hypot(0.03, 0.044), rel=0.05)
    iqr_in = np.subtract(*np.nanpercentile(ev["beam_p"], [75, 25])) / 1.349
    assert iqr_in == pytest.approx(160 * math.hypot(0.03, 0.038), rel=0.05)
    # scattering angle: 2D Gaussian of Highland θ0 (x/X0 = 40 at p ≈ 160 GeV) → Rayleigh,
    # median θ0 √(2 ln 2) with the angle resolution added in quadrature per projection
    th0 = 13.6e-3 / 160 * math.sqrt(40) * (1 + 0.038 * math.log(40)) * 1e3  # mrad
    sig = math.hypot(th0, 0.1)
    assert np.median(ev["mu_theta_out"]) == pytest.approx(sig * math.sqrt(2 * math.log(2)),
                                                          rel=0.05)
    assert np.all(ev["n_tracks_out"] == 1) and np.all(ev["n_tracks_in"] <= 1)


def test_hcal_position_follows_the_deflection_in_ms2():
    # p = 50 GeV: extra deflection 12 m × 0.3 × 4.2 T·m × (1/50 − 1/160) = 208 mm → column 2
    off = 12000 * 0.3 * 4.2 * (1 / 50 - 1 / 160)
    assert mu.hcal_offset(50.0) == pytest.approx(off)
    assert 0.5 * 194 < off < 1.5 * 194
    # 45–55 GeV: 180–240 mm, well inside column 2 (97–291 mm) given the ≈1.5 mrad kick and
    # scattering (≈20 mm at 12 m) and the 8 mm spot; 10 GeV: 1.2 m, outside the HCAL
    ev = simulate("muon", "2022", signal="zprime", mass=0.01, n_events=20000, seed=32,
                  min_invisible_energy=60.0).events
    p = ev["mu_p_out"].astype(float)
    col = np.argmax(ev["hcal_e"][:, 0].sum(axis=2), axis=1)
    mid = (p > 45) & (p < 55)
    assert mid.sum() > 300 and np.mean(col[mid] == 2) > 0.9
    low = p < 10
    assert np.all(ev["hcal_e"][low].sum(axis=(1, 2, 3)) < 1.5)


def test_trigger_efficiency_curve():
    assert mu.trigger_efficiency(np.array([5.0, 50.0, 100.0, np.nan]))[[0, 2, 3]].tolist() \
        == [0.0, 0.5, 0.0]
    assert mu.trigger_efficiency(80.0) == pytest.approx(0.5 * erfc(-20 / (5 * math.sqrt(2))))
    ev = simulate("muon", "2022", signal="zprime", mass=0.1, n_events=6000, seed=33).events
    e_x = ev["mc_invisible_e"].astype(float)
    bit0 = (ev["trigger"] & 1) == 1
    assert np.mean(bit0[(e_x > 70) & (e_x < 140)]) > 0.995   # p_out 20–90 GeV
    assert np.mean(bit0[e_x < 30]) < 0.01                     # p_out > 130 GeV


# ----------------------------------------------------------------------------------------
# processes and rates
# ----------------------------------------------------------------------------------------

def _kkp_by_hand(v, e):
    """dσ/dv (cm²) of muon bremsstrahlung on Pb, typed in again from Groom et al. (2001)."""
    z, a, me, mmu = 82.0, 207.2, 0.000510999, 0.1056584
    alpha, re = 1 / 137.035999, 2.8179403e-13
    d = mmu ** 2 * v / (2 * e * (1 - v))
    bz = 183 * z ** (-1 / 3)
    dn = 1.54 * a ** 0.27
    phi = (math.log(bz * mmu / me / (1 + d * math.sqrt(math.e) * bz / me))
           - math.log(dn / (1 + d * (dn * math.sqrt(math.e) - 2) / mmu)))
    return alpha * (2 * z * re * me / mmu) ** 2 / v * (4 / 3 * (1 - v) + v * v) * phi


def test_bremsstrahlung_rate_is_the_kkp_integral():
    assert mu.kkp_brems_dsdv(0.5, 160.0) == pytest.approx(_kkp_by_hand(0.5, 160.0), rel=1e-9)
    vmax = 1 - 0.75 * math.sqrt(math.e) * 0.1056584 / 160 * 82 ** (1 / 3)
    sigma, _ = integrate.quad(_kkp_by_hand, 0.25, vmax, args=(160.0,))
    n_pb = 11.35 * 6.02214076e23 / 207.2 * 22.0  # 22 cm of lead in the 40 X0 ECAL
    assert mu.RATE_BREMS == pytest.approx(sigma * n_pb, rel=2e-3)
    # order of magnitude: b_brems(Pb) = N_A/A ∫ v dσ/dv ≈ 4-6e-6 g⁻¹ cm² near E_μc(Pb)
    b, _ = integrate.quad(lambda v: v * _kkp_by_hand(v, 141.0), 1e-6, vmax, limit=200)
    assert 3e-6 < b * 6.022e23 / 207.2 < 8e-6


def test_recorded_counts_are_poisson_consistent(pseudo):
    mot = 2e7
    rates = {s.code: s.rate for s in mu.PROCESSES.values()}
    assert sum(rates.values()) == pytest.approx(1.0)
    for s in mu.PROCESSES.values():
        mean = s.rate * mot * (1e-4 if s.calib_only else 1.0)
        assert poisson_ok(pseudo.per_process[s.name]["generated"], mean), s.name
    counts = np.bincount(pseudo.events["mc_process"], minlength=25)
    assert poisson_ok(counts[Process.MU_ORDINARY], rates[Process.MU_ORDINARY] * mot * 1e-4)
    assert poisson_ok(counts[Process.MU_MOMENTUM_TAIL], 1e-4 * mot)  # accidental triggers
    # target interactions: trigger acceptance ∫ dσ/dv ε(p(1 − v) − 0.3) over v and the
    # beam spread, computed here by quadrature (calibration triggers add 1e-4)
    vmax = 1 - 0.75 * math.sqrt(math.e) * 0.1056584 / 160 * 82 ** (1 / 3)
    vs = np.linspace(0.25, vmax, 4001)
    dsdv = np.array([_kkp_by_hand(v, 160.0) for v in vs])
    gx, gw = np.polynomial.hermite_e.hermegauss(21)
    acc = 0.0
    for x, w in zip(gx, gw / gw.sum()):
        p = 160 * (1 + 0.03 * x)
        eff = 0.5 * erfc((p * (1 - vs) - 0.3 - 100) / (5 * math.sqrt(2))) * (
            p * (1 - vs) - 0.3 > 10)
        acc += w * np.trapezoid(dsdv * eff, vs) / np.trapezoid(dsdv, vs)
    acc = acc + (1 - acc) * 1e-4
    assert poisson_ok(counts[Process.MU_NUCLEAR], rates[Process.MU_NUCLEAR] * mot * acc)
    assert np.all(pseudo.events["trigger"] > 0)


def test_biased_weights_sum_to_rate_times_exposure():
    exposure = 1.98e10
    spec = mu.process_spec("target-interaction")
    res = simulate("muon", "2022", process="target-interaction", n_events=20000,
                   n_on_target=exposure, bias=1e-9, seed=41, record="all")
    w = res.events["mc_weight"].astype(np.float64)
    assert abs(w.sum() - spec.rate * exposure) < 4 * math.sqrt(w.size) * w.std()
    # the escape tail (leading neutral, ≤ 15 % of ν ≥ 40 GeV visible; HCAL ≈ the muon's
    # 4 MIPs) is oversampled, and weighted back to ≲ P_escape × photonuclear share
    ecal = _ecal(res.events)
    hcal = res.events["hcal_e"].sum(axis=(1, 2, 3))
    share = mu.PHOTONUCLEAR_OVER_BREMS / (1 + mu.PAIR_OVER_BREMS + mu.PHOTONUCLEAR_OVER_BREMS)
    quiet = (ecal < 0.2 * 40) & (hcal < 12)
    assert quiet.sum() > 100
    assert w[quiet].sum() / w.sum() < share * mu.ESCAPE_PROBABILITY


def test_decays_in_flight_kinematics_and_kink():
    res = simulate("muon", "2022", process="decay-in-flight", n_events=20000, seed=42,
                   record="all")
    ev = res.events
    # rate: hadron fraction × Σ share × L/(γcτ) × BR [PDG masses, lifetimes]
    l_m = 20.0
    r_k = 0.08 * l_m / (160 / 0.493677 * 3.712) * 0.6356
    r_pi = 0.88 * l_m / (160 / 0.1395704 * 7.8045) * 0.99988
    assert mu.process_spec(21).rate == pytest.approx(2e-8 * (r_k + r_pi), rel=1e-6)
    f_k = r_k / (r_k + r_pi)
    # E_ν/E_h uniform on [0, 1 − m_μ²/m_h²]: only kaons give E_ν > 0.5 E_h (pions ≤ 0.427)
    e_h = ev["beam_p"].astype(float)  # measured; the 3.8 % resolution blurs the edge only
    frac = np.mean(ev["mc_invisible_e"] > 0.55 * 160)
    r = (0.1056584 / 0.493677) ** 2
    assert frac == pytest.approx(f_k * (1 - r - 0.55) / (1 - r), abs=0.02)
    assert np.all(ev["mc_invisible_e"] < 1.2 * np.nanmax(e_h))
    # kaon decays (tagged by E_ν > 0.55 E: backward muons, θ ≳ 1 mrad) upstream of the last
    # MS1 station (18 of the 20 m) show a kink in the track
    kaon = ev["mc_invisible_e"] > 0.55 * 160
    bad = ev["beam_chi2"][kaon] > 10
    assert 0.85 < np.mean(bad) < 0.91


def test_hadron_interactions_shower_and_punch_through_is_rare():
    ev = simulate("muon", "2022", process="hadron-punch", n_events=5000, seed=43).events
    ecal = _ecal(ev)
    hcal = ev["hcal_e"].sum(axis=(1, 2, 3))
    assert np.median(ecal) > 10 and np.median(hcal) > 20
    assert np.mean(ev["n_tracks_out"] > 1) > 0.5


def test_signal_kinematics(zprime):
    ev = zprime
    e_x = ev["mc_invisible_e"].astype(float)
    # E_X above 80 GeV: the physics yield ratio σ(E_X > 80)/σ (thin-target muon spectrum)
    from analysis.physics.yields import signal_yield

    y80 = signal_yield("muon", 160, "zprime", 0.01, 1e-3, 80).signal_per_particle
    y0 = signal_yield("muon", 160, "zprime", 0.01, 1e-3, 0.0).signal_per_particle
    assert np.mean(e_x > 80) == pytest.approx(y80 / y0, abs=0.015)
    # p_out = p_in − E_X − 0.3 (measured p_in, p_out: resolutions cancel in the median)
    d = ev["mu_p_out"] - (ev["beam_p"] - e_x)
    assert np.nanmedian(d) == pytest.approx(-0.3, abs=0.4)
    # quiet detector: MIP in the ECAL, nothing in the VHCAL
    assert np.percentile(_ecal(ev), 99) < 1.2
    assert np.all(np.abs(ev["vhcal_e"]) < 0.15)
    assert np.all(ev["mc_process"] == 0) and np.all(ev["mc_mass"] == np.float32(0.01))


def test_emission_kick_median():
    # dN/dθ_X² ∝ 1/(θ_X² + θ_c²)²: the median θ_X is θ_c, so the median recoil angle is
    # x θ_c/(1 − x), θ_c² = m²(1 − x)/(x²E²) + m_μ²/E²
    rng = np.random.default_rng(5)
    for x, m in ((0.6, 0.01), (0.8, 0.5)):
        th = mu.emission_kick(rng, np.full(40000, x), m)
        tc = math.sqrt(m ** 2 * (1 - x) / (x * x * 160 ** 2) + (0.1056584 / 160) ** 2)
        assert np.median(th) == pytest.approx(x * tc / (1 - x), rel=0.03)


def test_momentum_tail_is_the_ms2_tail():
    res = simulate("muon", "2022", process="momentum-tail", n_events=20000, seed=44,
                   bias=1e-9)
    ev = res.events
    w = ev["mc_weight"].astype(float)
    assert np.all((ev["trigger"] & 1) == 1)  # accidental triggers
    # weighted fraction with p_out < 80 GeV: tail fraction × P(δ < 80/p_out_true − 1) with
    # δ ~ N(0, 0.15), integrated over p_out_true = p − 0.3 (beam spread 3 %) here
    gx, gw = np.polynomial.hermite_e.hermegauss(21)
    frac = sum(wi * 0.5 * erfc(-(80 / (160 * (1 + 0.03 * xi) - 0.3) - 1) / (0.15 * math.sqrt(2)))
               for xi, wi in zip(gx, gw / gw.sum())) * 1e-3
    low = ev["mu_p_out"] < 80
    assert w[low].sum() / w.sum() == pytest.approx(frac, rel=0.15)
    assert np.median(ev["mu_chi2_out"][low]) > 2.5  # χ² × 5 in the tail
