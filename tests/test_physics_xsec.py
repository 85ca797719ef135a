"""Production cross sections ℓN → ℓN X against PHYSICS.md §2 numbers and analytic checks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.physics import cross_sections as xs
from analysis.physics.constants import ALPHA, E_CHARGE, GEV2_TO_PB, M_E, M_MU
from analysis.physics.formfactors import chi
from analysis.physics.kfactors import k_factor

PB = (82, 207.2)


def sigma(model, beam, E, m, c, method, **kw):
    return xs.cross_section(model, beam, E, "Pb", m, c, method, **kw)


def test_dmg4_reference_value_150_gev():
    # DMG4 DarkPhotons.cc: "Ref. value ETL MA=0.0167, E0=150: 3643 pb" (eps = 1e-4, Pb,
    # elastic form factor as in DMG4). K at 150 GeV from DMG4's 2D table (E0 grid 20..160 GeV).
    r = sigma("dark-photon", "electron", 150.0, 0.0167, 1e-4, "etl", inelastic=False)
    assert r.method_used == "etl"
    assert r.cross_section_pb == pytest.approx(3643.0, rel=0.02)
    assert 1.07 < r.k_factor < 1.19  # between the 10 and 20 MeV rows


@pytest.mark.parametrize(
    "mass, iww, etl",
    [(0.001, 1.24e5, 2.06e5), (0.01, 9.19e3, 8.49e3), (0.1, 175.0, 106.0), (1.0, 0.41, 0.19)],
)
def test_physics_md_derived_numbers_100_gev(mass, iww, etl):
    # PHYSICS.md §2 [derived]: Pb, 100 GeV, eps = 1e-4, elastic only
    r_iww = sigma("dark-photon", "electron", 100.0, mass, 1e-4, "iww", inelastic=False)
    r_etl = sigma("dark-photon", "electron", 100.0, mass, 1e-4, "etl", inelastic=False)
    assert r_iww.cross_section_pb == pytest.approx(iww, rel=0.03)
    assert r_etl.cross_section_pb == pytest.approx(etl, rel=0.03)
    # the inelastic term adds ≈ 1–3 % (PHYSICS.md)
    r_in = sigma("dark-photon", "electron", 100.0, mass, 1e-4, "iww")
    assert 1.005 < r_in.cross_section_pb / r_iww.cross_section_pb < 1.035


def test_k_table_matches_physics_md_at_100_gev():
    masses = [0.001, 0.002, 0.004, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
    expected = [0.605, 0.832, 0.954, 1.083, 1.200, 1.443, 1.651, 1.888, 1.911, 1.922, 2.144]
    np.testing.assert_allclose(k_factor("vector", masses, 100.0), expected, atol=6e-4)
    # 30 and 40 MeV sit at their intended masses (DMG4 grid typo 0.3/0.4 corrected)
    assert 1.200 < k_factor("vector", 0.03, 100.0) < 1.443
    assert np.isnan(k_factor("vector", 0.5, 200.0)) and np.isnan(k_factor("scalar", 2.0, 100.0))


@pytest.mark.parametrize("mass, lo, hi", [(0.001, 1.1e4, 1.3e4), (0.01, 1.1e4, 1.3e4), (0.1, 6.4e3, 6.8e3), (1.0, 110.0, 110.0)])
def test_muon_zprime_physics_md(mass, lo, hi):
    # PHYSICS.md §2: Pb, 160 GeV, g = 1e-3, E_Z' > 80 GeV, theta < 0.3, WW (DMG4 DarkZ):
    # two re-implementations gave the ranges below; treat as ±20 %.
    for inel in (False, True):
        r = sigma("zprime", "muon", 160.0, mass, 1e-3, "ww", min_fraction=0.5, inelastic=inel)
        assert 0.8 * lo <= r.cross_section_pb <= 1.2 * hi
    r = sigma("zprime", "muon", 160.0, mass, 1e-3, "etl", min_fraction=0.5, inelastic=False)
    assert r.method_used == "ww" and any("fell back to WW" in n for n in r.notes)


def test_dmg4_closed_form_dsdx_shapes():
    # DMG4 CrossSectionDSDX closed forms (DarkPhotons.cc, DarkScalars.cc, DarkAxials.cc),
    # re-typed here; our dσ/dx_IWW must be α³ χ DSDX / E0 times 2 (vector: N/2 with N = 4)
    # or 1 (scalar, N = 2; axial: DMG4's axial DSDX already carries the factor 2).
    E0, m = 100.0, 0.02
    x = np.linspace(0.05, 0.999, 50)
    p = np.sqrt(x**2 * E0**2 - m**2)
    u = -m * m * (1 - x) / x - M_E**2 * x
    dsdx = {
        "vector": p * (M_E**2 * x * (-2 + 2 * x + x * x) - 2 * u * (3 - 3 * x + x * x)) / (3 * x * u * u),
        "scalar": p * (M_E**2 * (2 - x) ** 2 - 2 * u * x) / (3 * u * u),
        "axial": 2 * p * ((M_E**2 * x * (2 - x) ** 2 - 2 * (3 - 3 * x + x * x) * u) / (3 * x * u * u)
                          + 2 * M_E**2 * (1 - x) / (u * (u + M_E**2 * x))),
    }
    c = chi(m**4 / (4 * E0**2), m * m, *PB, inelastic=False)
    norm = {"vector": 2.0, "axial": 1.0, "scalar": 1.0}
    for kind, ref in dsdx.items():
        ours = xs.dsigma_dx_iww_unit(kind, E0, m, M_E, *PB, x, inelastic=False, t_max=m * m)
        np.testing.assert_allclose(ours, norm[kind] * ALPHA**3 * c * ref / E0, rtol=1e-9)
    # pseudoscalar: chiral limit m_e << m -> same spectrum as the scalar (DMG4's closed-form
    # pseudoscalar DSDX has an extra 1/x, inconsistent with its own CrossSectionDSDXDU)
    ps = xs.dsigma_dx_iww_unit("pseudoscalar", E0, 0.5, M_E, *PB, x, inelastic=False, t_max=0.25)
    sc = xs.dsigma_dx_iww_unit("scalar", E0, 0.5, M_E, *PB, x, inelastic=False, t_max=0.25)
    np.testing.assert_allclose(ps, sc, rtol=1e-4)


def test_ww_with_frozen_flux_equals_iww():
    # WW double differential with chi frozen at the IWW value, integrated over theta,
    # must give the IWW dσ/dx (the same amplitudes; small-angle substitution only).
    E0, m, ml = 160.0, 0.1, M_MU
    x = np.array([0.3, 0.6, 0.9, 0.99])
    c_iww = chi(m**4 / (4 * E0**2), m * m + ml * ml, *PB, inelastic=False)
    th = np.geomspace(1e-8, 0.3, 20001)
    out = []
    for xi in x:
        U = xs.u_min(xi, E0, m, ml) + E0**2 * xi * th**2
        tmin = U**2 / (4 * E0**2 * (1 - xi) ** 2)
        beta_x = np.sqrt(xi**2 - m * m / E0**2)
        f = 2 * ALPHA**3 * E0**2 * 4 * np.sin(th) * beta_x * xs.amplitude("vector", xi, U, m, ml) * c_iww
        out.append(np.trapezoid(f, th))
        # and the WW form itself is this with chi(t_min(theta)):
        ww = xs.dsigma_dxdtheta_ww_unit("vector", E0, m, ml, *PB, xi, th[::1000], inelastic=False)
        np.testing.assert_allclose(ww, f[::1000] / c_iww * chi(tmin[::1000], m * m + ml * ml, *PB, inelastic=False), rtol=1e-12)
    ref = xs.dsigma_dx_iww_unit("vector", E0, m, ml, *PB, x, inelastic=False, theta_max=0.3)
    np.testing.assert_allclose(out, ref, rtol=5e-3)


@pytest.mark.parametrize(
    "model, beam, E, m, method, fmin",
    [("dark-photon", "electron", 100.0, 0.0167, "etl", 0.0), ("scalar", "electron", 100.0, 0.1, "iww", 0.5),
     ("dark-photon", "electron", 100.0, 0.05, "ww", 0.3), ("zprime", "muon", 160.0, 0.1, "ww", 0.5),
     ("scalar", "muon", 160.0, 0.3, "iww", 0.0)],
)  # fmt: skip
def test_dsigma_dx_integrates_to_sigma(model, beam, E, m, method, fmin):
    r = xs.cross_section(model, beam, E, "Pb", m, 1e-3, method, min_fraction=fmin)
    x_lo, x_hi = xs.x_range(E, m, M_MU if beam == "muon" else M_E, 207.2)
    a = max(fmin, x_lo)
    # independent grid: uniform in ln(1-x) plus uniform in x
    x = np.unique(np.concatenate([1 - np.geomspace(1 - a, 1 - x_hi, 40001), np.linspace(a, x_hi, 20001)]))
    f, used = xs.dsigma_dx(model, beam, E, "Pb", m, x, 1e-3, method)
    assert used == r.method_used
    assert np.trapezoid(f, x) == pytest.approx(r.cross_section_pb, rel=4e-3)


def test_coupling_scaling_and_conventions():
    for model, beam in (("dark-photon", "electron"), ("scalar", "muon"), ("zprime", "electron"), ("axial", "electron")):
        a = sigma(model, beam, 100.0, 0.02, 1e-4, "iww")
        b = sigma(model, beam, 100.0, 0.02, 3e-4, "iww")
        assert b.cross_section_pb == pytest.approx(9 * a.cross_section_pb, rel=1e-12)
    assert sigma("scalar", "muon", 160.0, 0.02, 1e-3, "ww").epsilon_eff == pytest.approx(1e-3 / 0.30282, rel=1e-4)
    assert "epsilon" in sigma("dark-photon", "electron", 100.0, 0.02, 1e-4, "iww").coupling_convention


def test_zprime_loop_mixing_by_hand():
    # q^2 -> 0: eps = e g ln(m_tau^2/m_mu^2) / (12 pi^2) ≈ g/69.3
    g = 1e-3
    hand = E_CHARGE * g * math.log((1.77686 / 0.1056583755) ** 2) / (12 * math.pi**2)
    assert xs.zprime_kinetic_mixing(g, 1e-4) == pytest.approx(hand, rel=1e-6)
    assert hand == pytest.approx(g / 69.3, rel=3e-3)


def test_fallbacks_are_reported():
    r = sigma("scalar", "electron", 100.0, 2.0, 1e-4, "etl")
    assert r.method_used == "iww" and any("fell back to IWW" in n for n in r.notes)
    r = sigma("dark-photon", "electron", 10.0, 0.05, 1e-4, "etl")
    assert r.method_used == "iww"
    r = sigma("dark-photon", "electron", 100.0, 2.0, 1e-4, "etl")  # vector table reaches 3 GeV
    assert r.method_used == "etl"
    r = sigma("dark-photon", "electron", 100.0, 5e-4, 1e-4, "etl")  # DMG4 sub-MeV ETL table
    assert r.method_used == "etl" and r.cross_section_pb > sigma("dark-photon", "electron", 100.0, 1e-3, 1e-4, "etl").cross_section_pb
    assert sigma("dark-photon", "electron", 100.0, 150.0, 1e-4, "iww").cross_section_pb == 0.0
    with pytest.raises(ValueError):
        sigma("graviton", "electron", 100.0, 0.1, 1e-4, "etl")


def test_iww_over_etl_range_for_electrons():
    # arXiv:2409.12748: WW vs ETL differs by -20 % … +80 % for electrons; our WW/ETL on Pb
    # at 100 GeV for the vector between 1 MeV and 1 GeV must lie within that band.
    for m in (0.001, 0.01, 0.1, 0.5):
        ww = sigma("dark-photon", "electron", 100.0, m, 1e-4, "ww").cross_section_pb
        etl = sigma("dark-photon", "electron", 100.0, m, 1e-4, "etl").cross_section_pb
        assert -0.2 <= ww / etl - 1 <= 0.8


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["dark-photon", "scalar", "pseudoscalar", "axial", "zprime"]),
    st.floats(0.0012, 0.9),
    st.floats(30.0, 150.0),
    st.floats(0.0, 0.9),
    st.floats(0.01, 0.09),
)
def test_sigma_positive_finite_and_decreasing_in_min_fraction(model, m, E, f1, df):
    a = sigma(model, "electron", E, m, 1e-4, "etl", min_fraction=f1).cross_section_pb
    b = sigma(model, "electron", E, m, 1e-4, "etl", min_fraction=min(f1 + df, 0.999)).cross_section_pb
    assert np.isfinite(a) and a >= 0 and np.isfinite(b)
    assert b <= a * (1 + 1e-9)
    if f1 < 0.5:
        assert a > 0
