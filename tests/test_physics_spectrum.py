"""Signal E_X spectrum hook used by the simulation."""

import numpy as np
import pytest
from scipy.stats import kstest

from analysis.physics.cross_sections import cross_section
from analysis.physics.signal_spectrum import (
    invisible_energy_cdf,
    invisible_energy_distribution,
    invisible_energy_pdf,
    sample_invisible_energy,
)
from analysis.physics.yields import signal_yield

CASES = [
    ("dark-photon", "electron", 100.0, 0.0167),
    ("dark-photon", "electron", 100.0, 0.25),  # with resonant annihilation
    ("scalar", "electron", 100.0, 0.05),
    ("zprime", "muon", 160.0, 0.1),
]


@pytest.mark.parametrize("model, setup, E0, m", CASES)
def test_sampler_reproduces_its_cdf(model, setup, E0, m):
    rng = np.random.default_rng(12345)
    s = sample_invisible_energy(model, setup, E0, m, 20000, rng)
    assert s.shape == (20000,) and np.all(s >= m * 0.999) and np.all(s <= E0)
    res = kstest(s, lambda e: invisible_energy_cdf(model, setup, E0, m, e))
    assert res.pvalue > 1e-3
    c = invisible_energy_cdf(model, setup, E0, m, np.array([0.0, m, 0.5 * E0, E0, 2 * E0]))
    assert c[0] == 0.0 and c[-1] == 1.0 and np.all(np.diff(c) >= 0)


@pytest.mark.parametrize("model, setup, E0, m, thr", [("dark-photon", "electron", 100.0, 0.0167, 50.0),
                                                       ("scalar", "electron", 100.0, 0.05, 70.0),
                                                       ("dark-photon", "electron", 100.0, 0.25, 50.0)])  # fmt: skip
def test_fraction_above_threshold_matches_yields(model, setup, E0, m, thr):
    # independent code paths: yields integrate σ(E, x > thr/E) directly
    cdf = lambda e: invisible_energy_cdf(model, setup, E0, m, e)  # noqa: E731
    frac = (1 - cdf(thr)) / (1 - cdf(1.0))
    y = signal_yield(setup, E0, model, m, 1e-4, thr).signal_per_particle
    y1 = signal_yield(setup, E0, model, m, 1e-4, 1.0).signal_per_particle
    assert frac == pytest.approx(y / y1, rel=0.02)


def test_muon_spectrum_is_thin_target_dsigma_dx():
    E0, m = 160.0, 0.1
    for e in (40.0, 80.0, 120.0):
        frac = cross_section("zprime", "muon", E0, "Pb", m, 1e-3, "ww", e / E0).cross_section_pb
        tot = cross_section("zprime", "muon", E0, "Pb", m, 1e-3, "ww", 0.0).cross_section_pb
        assert 1 - invisible_energy_cdf("zprime", "muon", E0, m, e) == pytest.approx(frac / tot, rel=2e-3)


def test_pdf_normalised():
    d = invisible_energy_distribution("dark-photon", "electron", 100.0, 0.0167)
    e = np.linspace(0.0, 100.0, 200001)
    pdf = invisible_energy_pdf("dark-photon", "electron", 100.0, 0.0167, e)
    assert np.all(pdf >= 0)
    assert np.trapezoid(pdf, e) == pytest.approx(1.0, abs=0.01)
    assert d.method_used == "etl"
