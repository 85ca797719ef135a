"""Form factors, photon flux χ, materials (PHYSICS.md §2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.physics import formfactors as ff
from analysis.physics.constants import M_E

PB = (82, 207.2)


def test_scales_by_hand():
    # a = 111 Z^-1/3 / m_e ; t_a = 1/a^2 ; t_d = 0.164 A^-2/3 (hand evaluation for Pb)
    a = 111.0 / 82 ** (1 / 3) / 0.51099895e-3
    assert ff.t_atomic(82) == pytest.approx(1 / a**2, rel=1e-12)
    assert ff.t_nuclear(207.2) == pytest.approx(0.164 / 207.2 ** (2 / 3), rel=1e-12)
    assert ff.t_nuclear(207.2) == pytest.approx(4.684e-3, rel=1e-3)


def test_g2_limits():
    Z, A = PB
    ta, td = ff.t_atomic(Z), ff.t_nuclear(A)
    # plateau between the atomic and nuclear scales: G2 -> Z^2
    t = np.sqrt(ta * td)
    assert ff.g2_elastic(t, Z, A) == pytest.approx(Z**2, rel=0.02)
    # screened at t << t_a, suppressed at t >> t_d
    assert ff.g2_elastic(1e-3 * ta, Z, A) < 1e-5 * Z**2
    assert ff.g2_elastic(1e3 * td, Z, A) < 1e-5 * Z**2
    # inelastic term ~ Z (not Z^2) on its plateau
    tap = ff.t_atomic_inelastic(Z)
    assert ff.g2_inelastic(30 * tap, Z) == pytest.approx(Z, rel=0.1)


def test_chi_closed_form_matches_quadrature():
    Z, A = PB
    tmin = np.geomspace(1e-16, 0.2, 40)
    for tmax in (1e-4, 0.01, 0.5):
        sel = tmin < tmax
        a = ff.chi_elastic(tmin[sel], tmax, Z, A)
        b = ff.chi_numeric(tmin[sel], tmax, Z, A, inelastic=False)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9 * Z**2)


def test_chi_large_energy_limit():
    # t_min -> 0, t_max -> inf: chi/Z^2 -> ln(t_d/t_a) - 2 (+O(t_a/t_d)), the standard
    # complete-screening WW flux (BEST arXiv:0906.0580; DMG4 comment in DarkZ.cc)
    for Z, A in (PB, (74, 183.84), (29, 63.546), (13, 26.98)):
        ta, td = ff.t_atomic(Z), ff.t_nuclear(A)
        expected = np.log(td / ta) - 2.0
        assert ff.chi_elastic(1e-22, 1e4, Z, A) / Z**2 == pytest.approx(expected, rel=1e-4)


def test_inelastic_adds_about_1p3_percent_for_pb():
    # PHYSICS.md §2: the inelastic term changes chi(Pb) by ≈ +1.3 % (10 MeV, 100 GeV)
    m, E0 = 0.01, 100.0
    tmin, tmax = m**4 / (4 * E0**2), m**2
    rel = ff.chi(tmin, tmax, *PB, inelastic=True) / ff.chi(tmin, tmax, *PB, inelastic=False) - 1
    assert 0.010 < rel < 0.016


def test_chi_vectorised_and_interpolated_path_agree():
    Z, A = PB
    tmin = np.geomspace(1e-14, 1e-3, 600)  # > 256 entries: interpolated inelastic term
    big = ff.chi(tmin, 0.01, Z, A, inelastic=True)
    direct = ff.chi_numeric(tmin, 0.01, Z, A, inelastic=True)
    np.testing.assert_allclose(big, direct, rtol=2e-5)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-14, 1e-2), st.floats(1.01, 1e3), st.sampled_from(["Pb", "W", "Cu", "Fe", "Si", "Al"]))
def test_chi_positive_and_decreasing_in_tmin(tmin, ratio, name):
    m = ff.get_material(name)
    tmax = min(tmin * ratio * 10, 1.0)
    c1 = ff.chi(tmin, tmax, m.Z, m.A)
    c2 = ff.chi(tmin * ratio, tmax, m.Z, m.A)
    assert np.isfinite(c1) and c1 >= 0
    assert c2 <= c1 * (1 + 1e-9)


def test_materials_pdg_lengths_in_cm():
    # PDG "radiation length" column in cm (independent of the g/cm² column we store)
    expected_cm = {"Pb": 0.5612, "W": 0.3504, "Cu": 1.436, "Fe": 1.757, "Si": 9.370, "Al": 8.897, "Sc": 41.31}
    for name, x0 in expected_cm.items():
        assert ff.get_material(name).x0_cm == pytest.approx(x0, rel=3e-3), name
    sc = ff.get_material("Sc")
    assert sum(w for _, _, w in sc.components) == pytest.approx(1.0)
    with pytest.raises(KeyError):
        ff.get_material("unobtainium")
