"""Helpers shared by the simulation tests (tests/ is on sys.path: ``from helpers import``)."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np


def ecal_energy(ev):
    """ECAL energy per event: preshower + main, summed over cells."""
    return ev["ecal_pre"].sum(axis=(1, 2)) + ev["ecal_main"].sum(axis=(1, 2))


def hcal_energy(ev):
    """HCAL energy per event, summed over modules and cells."""
    return ev["hcal_e"].sum(axis=(1, 2, 3))


def assert_same_events(a: dict, b: dict):
    """Two event dicts have the same branches with identical contents."""
    assert set(a) == set(b)
    for k in a:
        if isinstance(a[k], ak.Array):
            assert ak.to_list(a[k]) == ak.to_list(b[k]), k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def poisson_ok(observed, expected, n_sigma=4.0):
    """``observed`` within ``n_sigma`` √max(expected, 1) of ``expected``."""
    return abs(observed - expected) <= n_sigma * math.sqrt(max(expected, 1.0))
