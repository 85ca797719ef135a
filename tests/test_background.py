"""Background estimates against analytic expectations and Poisson-fluctuated toy planes."""

import numpy as np
import pytest

from analysis.background import (Plane, SignalBox, abcd, closure, simulation_estimate,
                                 tail_extrapolation)

ECAL_EDGES = np.arange(0.0, 121.0, 5.0)
HCAL_EDGES = np.arange(0.0, 31.0, 0.5)
BOX = SignalBox(ecal_max=60.0, hcal_max=1.0)


def exp_bin_integrals(edges, n_total_per_gev, slope):
    """∫ A·exp(slope·x) over each bin, by hand."""
    return n_total_per_gev * (np.exp(slope * edges[1:]) - np.exp(slope * edges[:-1])) / slope


def factorised_plane(n=2.0e4, slope_e=-0.05, slope_h=-0.4):
    """Expected counts of a density f(E_ECAL)·g(E_HCAL), both exponential."""
    fx = exp_bin_integrals(ECAL_EDGES, 1.0, slope_e)
    gy = exp_bin_integrals(HCAL_EDGES, 1.0, slope_h)
    mu = n * np.outer(fx / fx.sum(), gy / gy.sum())
    return mu


def test_exponential_tail_recovers_analytic_box_content():
    mu = factorised_plane()
    plane = Plane(mu, mu.copy(), ECAL_EDGES, HCAL_EDGES)
    est = tail_extrapolation(plane, BOX, axis="hcal", sideband=(1.0, 10.0))
    truth = mu[ECAL_EDGES[:-1] < 60.0][:, HCAL_EDGES[:-1] < 1.0].sum()
    assert est.value == pytest.approx(truth, rel=1e-3)
    assert est.stat > 0
    assert est.method == "tail-extrapolation-hcal"


def test_ecal_axis_extrapolation_recovers_analytic_box_content():
    mu = factorised_plane()
    plane = Plane(mu, mu.copy(), ECAL_EDGES, HCAL_EDGES)
    est = tail_extrapolation(plane, BOX, axis="ecal", sideband=(60.0, 100.0))
    truth = mu[ECAL_EDGES[:-1] < 60.0][:, HCAL_EDGES[:-1] < 1.0].sum()
    assert est.value == pytest.approx(truth, rel=1e-3)


def test_abcd_exact_on_factorised_expectation():
    mu = factorised_plane()
    plane = Plane(mu, mu.copy(), ECAL_EDGES, HCAL_EDGES)
    est = abcd(plane, BOX)
    lowE, lowH = ECAL_EDGES[:-1] < 60.0, HCAL_EDGES[:-1] < 1.0
    truth = mu[lowE][:, lowH].sum()
    assert est.value == pytest.approx(truth, rel=1e-9)


def test_region_must_fall_on_bin_edges():
    mu = factorised_plane()
    plane = Plane(mu, mu.copy(), ECAL_EDGES, HCAL_EDGES)
    with pytest.raises(ValueError, match="bin edges"):
        plane.region((0.0, 62.0), (0.0, 1.0))


def test_closure_pulls_are_standard_normal_on_poisson_toys():
    """Coverage: on Poisson-fluctuated factorised planes the pull is within 2σ ~95% of the time."""
    mu = factorised_plane(n=5.0e3)
    rng = np.random.default_rng(7)
    pulls = []
    for _ in range(60):
        counts = rng.poisson(mu).astype(float)
        c = closure(Plane(counts, counts.copy(), ECAL_EDGES, HCAL_EDGES), BOX, "tail-hcal",
                    sideband=(1.0, 10.0), n_samples=300)
        pulls.append(c.pull)
    pulls = np.array(pulls)
    assert np.mean(np.abs(pulls) <= 2.0) >= 0.85
    assert abs(np.mean(pulls)) < 0.5


def test_weighted_plane_gives_same_estimate_as_unweighted_equivalent():
    """Weights w with n events behave like w·n: scaled-Poisson fit is scale invariant."""
    mu = factorised_plane()
    w = 3.0e-4
    a = tail_extrapolation(Plane(mu, mu.copy(), ECAL_EDGES, HCAL_EDGES), BOX, sideband=(1.0, 10.0))
    b = tail_extrapolation(Plane(mu * w, mu * w * w, ECAL_EDGES, HCAL_EDGES), BOX,
                           sideband=(1.0, 10.0))
    assert b.value == pytest.approx(a.value * w, rel=1e-4)
    assert b.stat == pytest.approx(a.stat * w, rel=0.1)


def test_simulation_estimate_scales_with_exposure_and_bounds_empty_processes():
    mu = factorised_plane()
    p = Plane(mu, mu.copy(), ECAL_EDGES, HCAL_EDGES)
    empty = Plane(np.zeros_like(mu), np.zeros_like(mu), ECAL_EDGES, HCAL_EDGES)
    box_content = mu[ECAL_EDGES[:-1] < 60.0][:, HCAL_EDGES[:-1] < 1.0].sum()
    est = simulation_estimate({"a": p, "b": empty}, {"a": 1e10, "b": 1e12}, 1e11, BOX,
                              max_weight={"b": 2.0})
    assert est.value == pytest.approx(10 * box_content)
    # process b: zero in box, bound 1.15 × max weight × scale (0.1)
    assert est.details["processes"]["b"]["stat"] == pytest.approx(1.15 * 2.0 * 0.1)
    with pytest.raises(ValueError, match="particles on target"):
        simulation_estimate({"a": p}, {"a": 0.0}, 1e11, BOX)


def test_from_hist_keeps_flow_entries():
    """Noise makes an empty HCAL read slightly negative: those events are in the box."""
    import hist

    h = hist.Hist(hist.axis.Regular(4, 0, 120, name="ecal"),
                  hist.axis.Variable([0, 1, 10], name="hcal"), storage=hist.storage.Weight())
    h.fill(ecal=[10, 10, 10, 130, 50], hcal=[-0.2, 0.5, 25.0, 0.3, 5.0], weight=[1, 2, 3, 4, 5])
    p = Plane.from_hist(h)
    assert p.values.shape == (4, 2)
    assert p.values.sum() == pytest.approx(15)  # every fill is kept
    assert p.region((0, 120), (0, 1))[0] == pytest.approx(1 + 2 + 4)
    assert p.region((0, 60), (0, 1)) == pytest.approx((3.0, 5.0))
