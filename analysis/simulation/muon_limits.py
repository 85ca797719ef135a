"""NA64μ limit inputs: the simulated signal efficiency of a selection, and the (g−2)_μ band
of the Lμ−Lτ Z′.

* :func:`signal_efficiency` — selected / produced signal with E_X above the missing-momentum
  threshold (E_X > 160 − 80 GeV) for one model and mass, from ``simulate("muon", ...)`` and
  the selection (``selections/na64mu_2022.yaml`` by default) applied with the same
  ``Selection`` objects and cut registry the coffea processor uses. Signal samples keep every
  generated event, so the trigger is part of the efficiency.
* :func:`muon_efficiency` — the :class:`analysis.limits.Efficiency` that
  ``analysis.limits.efficiency_from_selection`` uses for ``setup="muon"`` (``na64 project
  --setup muon`` without ``--efficiency``): a table over a few masses, interpolated.
* :func:`delta_a_mu_zprime`, :func:`gm2_band` — the one-loop Z′ contribution to a_μ and the
  coupling band that explains the 2021 anomaly.

Documentation: docs/na64mu.md.
"""

from __future__ import annotations

import math

import numpy as np

from .. import efficiency as _eff

_SETUP = _eff.SETUPS["muon"]
#: Default NA64μ selection (repository-relative path).
DEFAULT_SELECTION = next(iter(_SETUP.selections))
#: Signal events per mass for an efficiency (binomial error ≈ 0.5 % at ε ≈ 0.85 for the
#: ≈30 % of them above threshold at light masses; generated above 50 GeV).
DEFAULT_SIGNAL_EVENTS = _SETUP.n_events
#: Fixed seed: the efficiency is a deterministic function of the selection.
DEFAULT_SIGNAL_SEED = _SETUP.seed
#: Masses (GeV) at which the efficiency is simulated; log-interpolated in between.
EFFICIENCY_MASSES = _SETUP.masses
#: Generation cut on E_X (GeV), below the 80 GeV threshold by ≫ the p_out resolution.
GENERATION_MIN_ENERGY = _SETUP.generation_cut(math.inf)


def cut_flow(events: dict, selection=None, *, weights=None) -> list[tuple[str, float]]:
    """[(cut label, Σ weight passing it and every earlier cut)], first entry ("all", total),
    for in-memory muon-setup events (``simulate("muon", ...).events``)."""
    from .muon import BEAM_ENERGY, PERIODS

    sel = _eff.load("muon", selection)
    ctx = sel.context(runinfo_beam_energy=BEAM_ENERGY, has_vhcal=PERIODS["2022"], is_mc=True,
                      setup=3)
    return _eff.cut_flow(events, sel, ctx, weights=weights)


def signal_efficiency(model: str = "zprime", mass: float = 0.01, selection=None, *,
                      n_events: int = DEFAULT_SIGNAL_EVENTS, seed: int = DEFAULT_SIGNAL_SEED
                      ) -> dict:
    """Efficiency of ``selection`` for ``model`` at ``mass`` (GeV): selected events /
    produced events with E_X above the selection's threshold (so it multiplies the yield
    above that threshold). Returns {"efficiency", "produced", "cut_flow", "threshold",
    "binomial_unc"} (:func:`analysis.efficiency.point_efficiency`)."""
    return _eff.point_efficiency("muon", model, mass, selection, n_events=n_events, seed=seed)


def muon_efficiency(selection, masses, model: str = "zprime"):
    """:class:`analysis.limits.Efficiency` of ``selection`` (None: the default NA64μ
    selection) for ``model``, simulated at :data:`EFFICIENCY_MASSES` within the requested
    mass range (plus its ends) and interpolated; relative to the yield above the
    selection's threshold (``efficiency_includes_threshold`` false)."""
    return _eff.simulated_efficiency(selection, "muon", masses, model=model)


# ----------------------------------------------------------------------------------------
# (g−2)_μ
# ----------------------------------------------------------------------------------------

#: Muon mass, GeV [PDG].
M_MU = 0.1056584
#: Δa_μ = a_μ(exp) − a_μ(SM) = 251(59) × 10⁻¹¹: Fermilab Run-1 + BNL average against the 2020
#: Theory-Initiative White Paper (Muon g−2 Collaboration, PRL 126 (2021) 141801). The 2025
#: White Paper update (lattice-QCD hadronic vacuum polarisation) brings the SM prediction
#: close to the final measurement, leaving no significant tension [check: arXiv:2505.21476]:
#: the band is the 2021 target region, kept as the reference the NA64μ papers show.
DELTA_A_MU = 251e-11
DELTA_A_MU_UNC = 59e-11


def _loop_integral(mass) -> np.ndarray:
    """I(m) = ∫₀¹ dx x²(1−x) / (x² + (1−x) m²/m_μ²), Gauss–Legendre (64 points)."""
    x, w = np.polynomial.legendre.leggauss(64)
    x = 0.5 * (x + 1.0)
    w = 0.5 * w
    r = (np.atleast_1d(np.asarray(mass, dtype=float)) / M_MU) ** 2
    return np.sum(w * x * x * (1 - x) / (x * x + (1 - x) * r[:, None]), axis=1)


def delta_a_mu_zprime(g, mass) -> np.ndarray:
    """One-loop contribution of an Lμ−Lτ Z′ (vector coupling g to the muon) to a_μ:
    Δa_μ = (g²/4π²) ∫₀¹ dx x²(1−x)/(x² + (1−x) m_Z′²/m_μ²), → g²/(8π²) for m_Z′ ≪ m_μ
    (e.g. Leveille, Nucl. Phys. B137 (1978) 63; Baek et al., PRD 64 (2001) 055006)."""
    return np.asarray(g, dtype=float) ** 2 / (4 * math.pi ** 2) * _loop_integral(mass)


def gm2_band(masses=None, n_sigma: float = 2.0):
    """The couplings g_Z′(m) for which Δa_μ(Z′) lies within ±n_sigma of 251(59)e-11, as an
    :class:`analysis.exclusion.Band` (label says what it is)."""
    from ..exclusion import Band

    m = np.geomspace(1e-3, 1.0, 61) if masses is None else np.asarray(masses, dtype=float)
    integ = _loop_integral(m)
    lo = DELTA_A_MU - n_sigma * DELTA_A_MU_UNC
    hi = DELTA_A_MU + n_sigma * DELTA_A_MU_UNC
    g_lo = np.sqrt(lo * 4 * math.pi ** 2 / integ)
    g_hi = np.sqrt(hi * 4 * math.pi ** 2 / integ)
    return Band(m, g_lo, g_hi, label=rf"$(g-2)_\mu$ {n_sigma:g}$\sigma$ (2021: Δa$_\mu$ = 251(59)e-11)")
