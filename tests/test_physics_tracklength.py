"""Shower track lengths (approximation A, Mellin/Talbot) against analytic expectations."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gamma

from analysis.physics import tracklength as tl


def test_talbot_on_known_transforms():
    t = np.array([0.01, 0.3, 1.0, 5.0])
    np.testing.assert_allclose(tl.talbot_inverse(lambda s: 1 / (s + 1), t), np.exp(-t), atol=1e-10)
    np.testing.assert_allclose(tl.talbot_inverse(lambda s: 1 / s**2, t), t, rtol=1e-10)


def test_tsai_primary_depth_integral():
    # Tsai's I_e integrated over depth: inverse Laplace of 1/(b ln(1+s)) (b = 4/3) equals
    # the direct depth integral ∫ dt e^{-y} y^{bt-1}/Γ(bt) (per unit y, in X0)
    b = 4 / 3
    for y in (0.05, 0.7, 2.0):
        direct = quad(lambda t: np.exp(-y) * y ** (b * t - 1) / gamma(b * t), 0, 80, limit=200)[0]
        assert tl.tsai_primary_track_length_y(y)[0] == pytest.approx(direct, rel=1e-7)


def test_low_energy_asymptotics_match_rossi():
    # approximation A (Rossi 1952): T_e± = 0.437 X0 E0/E², T_γ = 0.572 X0 E0/E² for E << E0
    E0, E = 100.0, np.array([0.05, 0.2])
    for sp, rossi, tol in (("e", 0.437, 0.02), ("gamma", 0.572, 0.005)):
        c = tl.differential_track_length(E0, E, sp, "electron") * E**2 / E0
        np.testing.assert_allclose(c, rossi, rtol=tol)
    # at low energy e+ and e- tracks are equal halves
    tp = tl.differential_track_length(E0, 0.05, "e+", "electron")
    tm = tl.differential_track_length(E0, 0.05, "e-", "electron")
    assert tp[0] == pytest.approx(tm[0], rel=2e-3)
    assert tp[0] + tm[0] == pytest.approx(tl.differential_track_length(E0, 0.05, "e", "electron")[0], rel=1e-9)


def test_primary_swaps_for_positron_beam():
    y = np.array([0.1, 1.0, 3.0])
    np.testing.assert_allclose(tl.track_length_density_y(y, "e+", "positron"), tl.track_length_density_y(y, "e-", "electron"), rtol=1e-12)


def test_cumulative_is_integral_of_density():
    for sp in ("e+", "gamma"):
        y = 2.5
        q = quad(lambda u: tl.track_length_density_y(u, sp)[0], 0, y, limit=100)[0]
        assert tl.cumulative_track_length_y(y, sp)[0] == pytest.approx(q, rel=1e-6)
    # e-: integrable 1/(y ln² y) singularity of the primary at y -> 0
    c = tl.cumulative_track_length_y(np.array([1e-12, 1e-6, 0.5, 1.0]), "e-")
    assert np.all(np.diff(c) > 0) and c[0] > 0


def test_primary_energy_loss_rate():
    # renewal theorem: a single electron loses on average A'(0) = ∫ φ(v)(−ln(1−v)) dv in
    # y = ln(E0/E) per X0 (φ = (4/3 − 4v/3 + v²)/v), so its track per unit y -> 1/A'(0)
    a0 = quad(lambda v: (4 / 3 - 4 * v / 3 + v * v) / v * (-np.log1p(-v)), 0, 1)[0]
    prim = tl.track_length_density_y(12.0, "e-") - tl.track_length_density_y(12.0, "e+")
    assert prim[0] == pytest.approx(1 / a0, rel=1e-3)
