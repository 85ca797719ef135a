"""Tests of analysis.physics.dimuon: Bethe–Heitler γN → μ⁺μ⁻N, shower track lengths and the
QED dimuon rate per electron on target in the NA64 ECAL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.physics import dimuon as dm

# hand-typed constants (independent of the module): CODATA 2018 / PDG
ALPHA = 1.0 / 137.035999084
ME = 0.51099895e-3
MMU = 0.1056583755
RE = 2.8179403262e-13  # cm
RMU = RE * ME / MMU
NA = 6.02214076e23
PB = (82.0, 207.2)


# ---------------------------------------------------------------- cross section γN → μμN
def test_high_energy_limit_is_complete_screening_formula():
    """σ(k → ∞) = (28/9) αZ² r_μ² ln(183 Z^(−1/3) m_μ / (1.54 A^0.27 m_e))."""
    for Z, A in (PB, (26.0, 55.845), (6.0, 12.0107)):
        w_inf = 183.0 * Z ** (-1.0 / 3.0) * MMU / (1.54 * A**0.27 * ME)
        expected = 28.0 / 9.0 * ALPHA * Z**2 * RMU**2 * math.log(w_inf)
        assert dm.sigma_gamma_mumu(1e8, Z, A) == pytest.approx(expected, rel=2e-4)
        assert dm.sigma_gamma_mumu(1e9, Z, A, method="integral") == pytest.approx(expected, rel=1e-4)
    # Pb: ≈ 2.04 mb asymptotically, ≈ 0.89 mb at 100 GeV (cm² → mb: × 1e27)
    assert dm.sigma_gamma_mumu(1e8, *PB) * 1e27 == pytest.approx(2.04, abs=0.01)
    assert dm.sigma_gamma_mumu(100.0, *PB) * 1e27 == pytest.approx(0.887, abs=0.005)


@pytest.mark.parametrize("k", [1e3, 1e4, 1e5])
def test_unscreened_point_nucleus_limit(k):
    """With screening off (B → ∞) and a point nucleus (D_n = 1) the BKK differential formula
    integrates to the textbook Bethe–Heitler result (28/9) αZ² r_μ² [ln(2k/m_μ) − 109/42]."""
    Z, A = PB
    hand = 28.0 / 9.0 * ALPHA * Z**2 * RMU**2 * (math.log(2.0 * k / MMU) - 109.0 / 42.0)
    got = dm.sigma_gamma_mumu(k, Z, A, method="integral", B=1e12, Dn=1.0)
    assert got == pytest.approx(hand, rel=5e-5 * 1e3 / k + 1e-6)


@pytest.mark.parametrize("Z,A", [PB, (26.0, 55.845), (6.0, 12.0107), (1.0, 1.00794)])
def test_parametrisation_matches_integral_of_differential_formula(Z, A):
    """The analytic BKK total cross section (E_c in GeV) reproduces the numerical integral of
    the BKK dσ/dx₊ within 1.5 % from 1 GeV to 1e6 GeV (E_c in MeV, as coded in Geant4,
    would be 15 % low at 1 GeV for Pb)."""
    k = np.array([1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e6])
    par = dm.sigma_gamma_mumu(k, Z, A)
    num = dm.sigma_gamma_mumu(k, Z, A, method="integral")
    np.testing.assert_allclose(par / num, 1.0, atol=0.015)


def test_threshold_behaviour():
    Z, A = PB
    k = np.array([0.05, 0.15, 2 * MMU, 2 * MMU * 1.01, 0.3, 4 * MMU])
    assert np.all(dm.sigma_gamma_mumu(k, Z, A) == 0.0)
    assert np.all(dm.sigma_gamma_mumu(k[:3], Z, A, method="integral") == 0.0)
    k_up = np.geomspace(0.45, 1e6, 60)
    s = dm.sigma_gamma_mumu(k_up, Z, A)
    assert np.all(s > 0) and np.all(np.diff(s) > 0)
    s_inf = dm.sigma_gamma_mumu_asymptotic(Z, A)
    assert dm.sigma_gamma_mumu(0.5, Z, A) < 2e-3 * s_inf  # tiny just above 4 m_μ
    assert dm.sigma_gamma_mumu(100.0, Z, A) > 0.4 * s_inf


def test_ratio_to_electron_pair_production():
    """σ_μμ/σ_ee → (m_e/m_μ)² ln W_∞ / L_eff, with σ_ee = (7/9) A/(N_A X₀) from the PDG X₀ of
    lead (6.37 g/cm²) and L_eff = L_rad − f(Z) + L′_rad/Z (Tsai 1974)."""
    Z, A = PB
    sigma_ee = 7.0 / 9.0 * A / (NA * 6.37)
    a2 = (ALPHA * Z) ** 2
    f = a2 * (1 / (1 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
    l_eff = math.log(184.15 * Z ** (-1 / 3)) - f + math.log(1194 * Z ** (-2 / 3)) / Z
    w_inf = 183.0 * Z ** (-1.0 / 3.0) * MMU / (1.54 * A**0.27 * ME)
    expected = (ME / MMU) ** 2 * math.log(w_inf) / l_eff
    ratio = dm.sigma_gamma_mumu(1e7, Z, A) / sigma_ee
    assert ratio == pytest.approx(expected, rel=0.01)
    assert 4.5e-5 < ratio < 5.2e-5  # ≈ 2.1 × (m_e/m_μ)²


def test_cross_section_is_vectorised_and_in_cm2():
    k = np.geomspace(1.0, 100.0, 12).reshape(3, 4)
    s = dm.sigma_gamma_mumu(k, *PB)
    assert s.shape == (3, 4)
    assert np.all((s > 1e-29) & (s < 3e-27))  # 0.01 mb … 3 mb
    s_int = dm.sigma_gamma_mumu(k, *PB, method="integral")
    assert s_int.shape == (3, 4)
    # differential cross section: symmetric in x₊ ↔ x₋ and integrates to the total
    x = np.linspace(0.01, 0.99, 7)
    left, right = dm.dsigma_dx_gamma_mumu(50.0, x, *PB), dm.dsigma_dx_gamma_mumu(50.0, 1 - x, *PB)
    np.testing.assert_allclose(left, right)


def test_annihilation_cross_section():
    """σ(e⁺e⁻ → μ⁺μ⁻) = 86.8 nb / s[GeV²] × β(3 − β²)/2; zero below E₊ ≈ 43.7 GeV."""
    assert dm.sigma_ee_to_mumu(43.0) == 0.0
    e = 80.0
    s = 2 * ME * (e + ME)
    beta = math.sqrt(1 - 4 * MMU**2 / s)
    hand = 86.8e-33 / s * beta * (3 - beta**2) / 2  # cm²
    assert dm.sigma_ee_to_mumu(e) == pytest.approx(hand, rel=2e-3)


# ---------------------------------------------------------------- shower track lengths
def test_photon_track_length_low_energy_asymptote():
    """Rossi approximation A: T_γ → c X₀ E₀/k² for k ≪ E₀, c = 0.5707 without the b-terms
    (exact for these kernels) and ≈ 0.572 with them (Rossi's value)."""
    E0, k = 100.0, 100.0 * math.exp(-7.0)
    c0 = dm.photon_track_length(E0, k) * k**2 / E0
    assert c0 == pytest.approx(0.5707, rel=1e-3)
    cb = dm.photon_track_length(E0, k, b=dm.tsai_b_prime("Pb")) * k**2 / E0
    assert cb == pytest.approx(0.572, rel=2e-3)


def test_photon_track_length_matches_mellin_solution():
    """Independent cross-check against the Mellin-space solution of the same cascade."""
    tl = pytest.importorskip("analysis.physics.tracklength")
    if not hasattr(tl, "differential_track_length"):
        pytest.skip("tracklength API not available")
    E0 = 100.0
    k = E0 * np.exp(-np.array([0.3, 0.7, 1.5, 3.0, 5.0, 7.0]))
    mine = dm.photon_track_length(E0, k)
    ref = tl.differential_track_length(E0, k, "gamma")
    np.testing.assert_allclose(mine / ref, 1.0, atol=3e-3)


# ---------------------------------------------------------------- rates
def _phi(v):
    return (4.0 / 3.0 - 4.0 / 3.0 * v + v * v) / v


def test_thin_target_scaling():
    """Thin target: the two-step rate is (T²/2)∫ φ(k/E₀)/E₀ κ(k) dk (quadratic in T: the photon
    must be made, then convert); the direct trident term is T ∫ f_EPA(E₀, k) κ(k) dk (linear).
    So, contrary to a naive 'linear in X₀', only the direct part is linear."""
    E0, kmin = 100.0, 40.0
    k = np.linspace(kmin, E0, 20001)[:-1]
    kappa = dm.mumu_conversions_per_x0(k, "Pb")
    c2 = 0.5 * np.trapezoid(_phi(k / E0) / E0 * kappa, k)
    c1 = np.trapezoid(dm.epa_photon_flux(E0, k) * kappa, k)
    opts = dict(target="Pb", b_terms=False)
    for T in (1e-3, 2e-3):
        two = dm.dimuon_rate_per_eot(E0, kmin, thickness_x0=T, process="two-step", **opts)
        direct = dm.dimuon_rate_per_eot(E0, kmin, thickness_x0=T, process="direct", **opts)
        assert two == pytest.approx(c2 * T**2, rel=0.01)
        assert direct == pytest.approx(c1 * T, rel=0.01)
    r = [dm.dimuon_rate_per_eot(E0, kmin, thickness_x0=T, process="two-step", **opts)
         for T in (1e-3, 2e-3)]  # fmt: skip
    assert r[1] / r[0] == pytest.approx(4.0, rel=0.01)
    # the direct process dominates below ≈ 3 % X0 (and is ≈ 1 % of the total in the ECAL)
    direct = dm.dimuon_rate_per_eot(E0, kmin, thickness_x0=0.01, process="direct", **opts)
    two = dm.dimuon_rate_per_eot(E0, kmin, thickness_x0=0.01, process="two-step", **opts)
    assert direct > two


def test_thick_target_saturates():
    E0 = 100.0
    r = {T: dm.dimuon_rate_per_eot(E0, 40.0, thickness_x0=T, process="two-step")
         for T in (1.0, 3.0, 10.0, 40.0)}  # fmt: skip
    r_inf = dm.dimuon_rate_per_eot(E0, 40.0, thickness_x0=math.inf, process="two-step")
    assert r[1.0] < r[3.0] < r[10.0] <= r[40.0] * (1 + 1e-12)
    assert r[40.0] == pytest.approx(r_inf, rel=1e-6)
    assert r[10.0] == pytest.approx(r_inf, rel=2e-3)


def test_ecal_rate_composition():
    """Subleading pieces stay subleading; totals are consistent and monotonic."""
    b = dm.dimuon_rate_breakdown(100.0, 40.0)
    assert 0.005 < b["direct"] / b["two-step"] < 0.02
    assert 0.003 < b["annihilation"] / b["two-step"] < 0.015
    assert b["total"] == pytest.approx(dm.dimuon_rate_per_eot(100.0, 40.0), rel=1e-12)
    # monotonic in the threshold; pure Pb within 1 % of the Pb/Sc ECAL (per X0)
    thr = [1.0, 10.0, 20.0, 40.0, 60.0, 80.0, 90.0]
    rates = [dm.dimuon_rate_per_eot(100.0, t) for t in thr]
    assert np.all(np.diff(rates) < 0)
    assert dm.dimuon_rate_per_eot(100.0, 40.0, target="Pb") == pytest.approx(rates[3], rel=0.01)
    assert dm.dimuon_rate_per_eot(100.0, 100.0) == 0.0


def test_grid_convergence():
    r1 = dm.dimuon_rate_per_eot(100.0, 40.0, process="two-step", h=0.02)
    r2 = dm.dimuon_rate_per_eot(100.0, 40.0, process="two-step", h=0.04)
    assert r1 == pytest.approx(r2, rel=3e-3)


# ---------------------------------------------------------------- pdf and sampler
@pytest.mark.parametrize("emin", [None, 10.0, 40.0])
def test_pdf_integrates_to_one(emin):
    E0 = 100.0
    lo = 4 * MMU if emin is None else emin
    x = np.concatenate([np.geomspace(lo, E0 / 2, 100001), np.linspace(E0 / 2, E0, 100001)[1:]])
    pdf = dm.dimuon_pair_energy_pdf(E0, x, min_pair_energy=emin)
    assert np.trapezoid(pdf, x) == pytest.approx(1.0, abs=1e-4)
    assert np.all(dm.dimuon_pair_energy_pdf(E0, np.array([lo * 0.99, E0 * 1.01]), emin) == 0.0)
    assert np.all(pdf >= 0)
    # pdf × rate above emin = rate differential: rate(>50) = rate(>emin) × P(E > 50)
    r_lo = dm.dimuon_rate_per_eot(E0, emin)
    mask = x > 50.0
    frac = np.trapezoid(pdf[mask], x[mask])
    assert dm.dimuon_rate_per_eot(E0, 50.0) == pytest.approx(r_lo * frac, rel=2e-3)


def test_sampler_reproduces_pdf():
    E0, emin = 100.0, 20.0
    rng = np.random.default_rng(12345)
    sample = dm.sample_dimuon_pair_energy(E0, emin, 40000, rng)
    assert sample.shape == (40000,)
    assert sample.min() >= emin and sample.max() <= E0
    # CDF by independent fine integration of the pdf
    x = np.linspace(emin, E0, 200001)
    pdf = dm.dimuon_pair_energy_pdf(E0, x, emin)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    res = stats.kstest(sample, lambda v: np.interp(v, x, cdf))
    assert res.pvalue > 0.01
    np.testing.assert_allclose(dm.dimuon_pair_energy_cdf(E0, x[::1000], emin), cdf[::1000], atol=2e-5)
    # same seed, same numbers
    again = dm.sample_dimuon_pair_energy(E0, emin, 10, np.random.default_rng(12345))
    np.testing.assert_array_equal(again, sample[:10])


def test_bad_arguments():
    with pytest.raises(KeyError):
        dm.dimuon_rate_per_eot(100.0, 40.0, target="unobtainium")
    with pytest.raises(ValueError):
        dm.dimuon_rate_per_eot(100.0, 40.0, process="bremsstrahlung")
    with pytest.raises(ValueError):
        dm.dimuon_rate_per_eot(100.0, 40.0, thickness_x0=0.0)
    with pytest.raises(ValueError):
        dm.sample_dimuon_pair_energy(100.0, 120.0, 5, np.random.default_rng(1))
