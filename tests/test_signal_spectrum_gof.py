"""Goodness of fit: the simulated signal's missing-energy spectrum against the model it was
drawn from (issue 3 acceptance). The model is the physics CDF of E_X
(analysis.physics.signal_spectrum), conditioned on the generation cut; the simulation scales
E_X with each electron's momentum (σ_p/p = 0.8 %), which the test folds in."""

import numpy as np
import pytest
from scipy import stats

from analysis.physics.signal_spectrum import invisible_energy_cdf
from analysis.simulation import simulate

E0 = 100.0


def _model_cdf(mass, e_min):
    f0 = invisible_energy_cdf("dark-photon", "electron", E0, mass, e_min)

    def cdf(e):
        return np.clip((invisible_energy_cdf("dark-photon", "electron", E0, mass, e) - f0)
                       / (1.0 - f0), 0.0, 1.0)
    return cdf


@pytest.mark.parametrize("mass", [0.001, 0.1, 0.5])
def test_truth_missing_energy_follows_the_model(mass):
    e_min = 25.0
    res = simulate("electron", "2023", signal="dark-photon", mass=mass, n_events=4000, seed=5,
                   min_invisible_energy=e_min)
    e_x = np.asarray(res.events["mc_invisible_e"], dtype=float)
    # undo the per-event momentum scaling with the simulated beam momentum spread folded
    # into the model: draw the same spread and compare the ratio-free quantity E_X/E_beam
    # (the beam energy of each event is not stored; its 0.8 % spread moves E_X by < 0.8 GeV,
    # which a KS test on 4000 events resolves only where the density is steep — so compare
    # with a model smeared by the same spread)
    rng = np.random.default_rng(0)
    u = rng.random(200_000)
    grid = np.linspace(e_min, E0, 4001)
    cdf = _model_cdf(mass, e_min)(grid)
    model = np.interp(u, cdf, grid) * rng.normal(1.0, 0.008, u.size)
    ks = stats.ks_2samp(e_x, model)
    assert ks.pvalue > 1e-3, ks
    # and the reconstructed missing energy E0 − E_ECAL tracks the truth within resolution
    ecal = res.events["ecal_pre"].reshape(len(e_x), -1).sum(1) + \
        res.events["ecal_main"].reshape(len(e_x), -1).sum(1)
    e_miss = E0 - ecal
    # σ(E_ECAL) = 10 %/√E ⊕ 1 % (docs/simulation.md) and the 0.8 % beam spread
    e_vis = np.clip(E0 - e_x, 1.0, None)
    sigma = np.hypot(np.hypot(0.10 * np.sqrt(e_vis), 0.01 * e_vis), 0.008 * E0)
    pull = (e_miss - e_x) / sigma
    core = np.abs(pull) < 5
    assert core.mean() > 0.97
    assert abs(np.median(pull[core])) < 0.2
