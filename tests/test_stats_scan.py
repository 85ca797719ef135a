"""Coupling limits vs mass: rescaling path and one-fit-per-mass path."""

from __future__ import annotations

import json
import math

import numpy as np

from analysis.stats import Channel, coupling_from_count_limit, scan_combined, scan_rescaled, upper_limit

LN10 = -math.log(0.1)


def test_rescaling_zero_events_is_analytic():
    masses = np.geomspace(1e-3, 1.0, 100)
    n_ref = 1e9 * (masses / 0.01) ** -2 + 1.0  # signal events per unit epsilon^2 (toy shape)
    r = scan_rescaled(0, 0.43, n_ref, background_unc=0.16, masses=masses, coupling="epsilon")
    assert r.method == "exact" and r.observed.shape == (100,) and r.band.shape == (100, 4)
    assert np.allclose(r.observed, np.sqrt(LN10 / n_ref), rtol=1e-9)
    assert np.all(r.band[:, 0] <= r.expected) and np.all(r.expected <= r.band[:, 3])
    json.dumps(r.to_dict())


def test_rescaling_linear_for_branching_ratio_and_reference_coupling():
    n_ref = np.array([10.0, 20.0, 0.0])
    br = coupling_from_count_limit(2.0, n_ref, coupling_ref=1e-3, power=1)
    assert np.allclose(br[:2], [2e-4, 1e-4]) and np.isinf(br[2])
    eps = coupling_from_count_limit(4.0, np.array([1.0, 16.0]), coupling_ref=1e-4, power=2)
    assert np.allclose(eps, [2e-4, 5e-5])


def test_single_bin_combined_scan_equals_rescaled_scan():
    ch = Channel("na64e", [1.0], [0.43], [0.16], [0], exposure=9.37, efficiency=0.5)
    sig = np.array([3.0, 10.0, 40.0, 0.0])  # per unit coupling^2 and per unit exposure
    comb = scan_combined([ch], [sig], coupling="epsilon")
    resc = scan_rescaled(0, 0.43, sig * 9.37 * 0.5, background_unc=0.16)
    assert comb.method == "exact"
    assert np.allclose(comb.observed[:3], resc.observed[:3], rtol=1e-9)
    assert np.allclose(comb.band[:3], resc.band[:3], rtol=1e-9)
    assert np.isinf(comb.observed[3])


def test_two_period_combined_scan_zero_counts():
    a = Channel("p1", [1.0], [0.3], [0.1], [0], exposure=2.0)
    b = Channel("p2", [1.0, 1.0], [0.2, 0.1], [0.05, 0.05], [0, 0], exposure=1.0)
    s_a = np.array([1.0, 2.0, 4.0])
    s_b = np.array([[0.5, 0.5], [0.1, 0.2], [3.0, 1.0]])
    r = scan_combined([a, b], [s_a, s_b], ntoys=20000)
    total = 2.0 * s_a + s_b.sum(1)
    # every count 0: CLs = exp(-mu * S) -> coupling^2 limit = ln(10) / S
    assert r.method == "toys"
    assert np.allclose(r.observed, np.sqrt(LN10 / total), rtol=0.01)


def test_count_limit_band_transfers_monotonically():
    lim = upper_limit(3, 2.0, 0.5)
    r = scan_rescaled(3, 2.0, [5.0, 50.0], background_unc=0.5)
    assert np.allclose(r.expected, np.sqrt(lim.expected / np.array([5.0, 50.0])))
    assert np.all(np.diff(np.column_stack([r.band[:, :2], r.expected, r.band[:, 2:]]), axis=1) >= 0)
