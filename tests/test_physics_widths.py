"""Decay widths (PHYSICS.md §2) against hand computations."""

import math

import numpy as np
import pytest

from analysis.physics import widths as w
from analysis.physics.constants import ALPHA, E_CHARGE, M_E, M_MU

ALPHA_HAND = 1 / 137.035999084


def test_e_charge():
    assert E_CHARGE == pytest.approx(0.30282, abs=1e-5)  # PHYSICS.md quotes 0.3028


def test_dark_photon_ee_by_hand():
    m, eps = 0.0167, 1e-4
    r = (0.51099895e-3 / m) ** 2
    hand = ALPHA_HAND * eps**2 * m / 3 * (1 + 2 * r) * math.sqrt(1 - 4 * r)
    assert w.width_dark_photon_ee(m, eps) == pytest.approx(hand, rel=1e-12)
    # far above threshold: alpha eps^2 m / 3
    assert w.width_dark_photon_ee(1.0, 1.0) == pytest.approx(ALPHA_HAND / 3, rel=1e-5)
    assert w.width_dark_photon_ee(1.5 * M_E, 1.0) == 0.0


def test_scalar_pseudoscalar_axial_by_hand():
    m, g = 0.05, 1e-3
    b2 = 1 - 4 * (0.51099895e-3 / m) ** 2
    # scalar: g^2 m beta^3 / (8 pi) == (1/2) alpha (g/e)^2 m beta^3
    assert w.width_scalar_ee(m, g) == pytest.approx(g**2 * m * b2**1.5 / (8 * math.pi), rel=1e-10)
    assert w.width_pseudoscalar_ee(m, g) == pytest.approx(g**2 * m * b2**0.5 / (8 * math.pi), rel=1e-10)
    assert w.width_axial_ee(m, g) == pytest.approx(g**2 * m * b2**1.5 / (12 * math.pi), rel=1e-10)


def test_zprime_by_hand():
    g = 1e-3
    # nu nu (two flavours, one helicity each): g^2 m / (12 pi)
    assert w.width_zprime_nunu(0.1, g) == pytest.approx(g**2 * 0.1 / (12 * math.pi), rel=1e-10)
    assert w.width_zprime_mumu(0.2, g) == 0.0  # below 2 m_mu
    m = 0.5
    r = (0.1056583755 / m) ** 2
    mumu = g**2 * m / (12 * math.pi) * (1 + 2 * r) * math.sqrt(1 - 4 * r)
    assert w.width_zprime_total(m, g) == pytest.approx(g**2 * m / (12 * math.pi) + mumu, rel=1e-10)
    with pytest.raises(ValueError):
        w.width_zprime_total(4.0, g)


def test_widths_scale_as_coupling_squared():
    for f in (w.width_dark_photon_ee, w.width_scalar_ee, w.width_pseudoscalar_ee, w.width_axial_ee,
              w.width_zprime_nunu):
        assert f(0.1, 3e-3) / f(0.1, 1e-3) == pytest.approx(9.0, rel=1e-12)


def test_dark_width_by_hand():
    m, ad, mchi = 0.03, 0.5, 0.01
    r = (mchi / m) ** 2
    hand = ad / 3 * m * (1 + 2 * r) * math.sqrt(1 - 4 * r)
    assert w.width_vector_chichi(m, ad, mchi) == pytest.approx(hand, rel=1e-12)
    assert np.all(w.width_vector_chichi(np.array([0.01]), ad, 0.006) == 0)
