"""Resonant e+e- -> A' -> chi chi annihilation (PHYSICS.md §2, arXiv:1802.03794)."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from analysis.physics import annihilation as ann
from analysis.physics.constants import GEV2_TO_PB

ME = 0.51099895e-3
ALPHA = 1 / 137.035999084


def test_resonance_energy_by_hand():
    # E_R = m^2 / (2 m_e) (PHYSICS.md §1) up to -m_e (exact: (m^2 - 2 m_e^2)/(2 m_e))
    assert ann.resonance_energy(0.0167) == pytest.approx(0.0167**2 / (2 * ME), rel=2e-3)
    assert ann.resonance_energy(0.0167) == pytest.approx(0.0167**2 / (2 * ME) - ME, rel=1e-12)
    assert ann.resonance_energy(0.25) == pytest.approx(61.15, rel=1e-3)
    assert ann.mandelstam_s(ann.resonance_energy(0.3)) == pytest.approx(0.09, rel=1e-12)


def test_peak_cross_section_is_unitarity_form():
    m, eps = 0.2, 1e-4
    e_r = ann.resonance_energy(m)
    g_ee = ALPHA * eps**2 * m / 3
    r2 = (1 / 3) ** 2
    g_chi = 0.5 / 3 * m * (1 + 2 * r2) * math.sqrt(1 - 4 * r2)
    g = g_ee + g_chi
    hand = 12 * math.pi / m**2 * (g_ee / g) * (g_chi / g) * GEV2_TO_PB
    assert ann.sigma_bw_pb(e_r, m, eps) == pytest.approx(hand, rel=1e-9)
    assert ann.sigma_peak_pb(m, eps) == pytest.approx(hand, rel=1e-12)


def test_narrow_width_limit_of_breit_wigner():
    # ∫ dE σ_BW(E) -> (2 π² α ε²/m_e) Br(inv) for Γ << m (small alpha_D)
    m, eps, ad = 0.1, 1e-4, 2e-3
    e_r = float(ann.resonance_energy(m))
    width = float(ann.width_in_energy(m, eps, ad))
    f = lambda e: float(ann.sigma_bw_pb(e, m, eps, ad))  # noqa: E731
    lo, hi = e_r - 400 * width, e_r + 400 * width
    integral = quad(f, lo, hi, points=[e_r], limit=400)[0]
    br = ann.branching_invisible(m, eps, ad)
    expected = 2 * math.pi**2 * ALPHA * eps**2 / ME * br * GEV2_TO_PB
    assert integral == pytest.approx(expected, rel=5e-3)
    assert ann.narrow_width_strength_pb_gev(m, eps, br) == pytest.approx(expected, rel=1e-12)


def test_scaling_with_eps():
    m = 0.15
    e = np.array([0.8, 1.0, 1.2]) * float(ann.resonance_energy(m))
    a = ann.sigma_bw_pb(e, m, 1e-5)
    b = ann.sigma_bw_pb(e, m, 2e-5)
    np.testing.assert_allclose(b / a, 4.0, rtol=1e-6)
