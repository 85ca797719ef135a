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


def join_events(parts: list[dict]) -> dict:
    """Concatenate event dicts (e.g. spill ranges of one sample) branch by branch."""
    return {k: (ak.concatenate([p[k] for p in parts]) if isinstance(parts[0][k], ak.Array)
                else np.concatenate([p[k] for p in parts])) for k in parts[0]}


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
