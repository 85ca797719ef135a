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
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Default NA64μ selection (repository-relative path).
DEFAULT_SELECTION = "selections/na64mu_2022.yaml"
#: Signal events per mass for an efficiency (binomial error ≈ 0.5 % at ε ≈ 0.85 for the
#: ≈30 % of them above threshold at light masses; generated above 50 GeV).
DEFAULT_SIGNAL_EVENTS = 8000
#: Fixed seed: the efficiency is a deterministic function of the selection.
DEFAULT_SIGNAL_SEED = 7701
#: Masses (GeV) at which the efficiency is simulated; log-interpolated in between.
EFFICIENCY_MASSES = (0.001, 0.01, 0.05, 0.1, 0.3, 1.0)
#: Generation cut on E_X (GeV), below the 80 GeV threshold by ≫ the p_out resolution.
GENERATION_MIN_ENERGY = 50.0


def _selection_path(selection) -> str | Path:
    if selection is None:
        here = Path(__file__).resolve().parents[2] / DEFAULT_SELECTION
        return here if here.exists() else DEFAULT_SELECTION
    return selection


def _load(selection):
    from ..selection import Selection, load_selection

    return selection if isinstance(selection, Selection) else load_selection(
        _selection_path(selection))


def cut_flow(events: dict, selection=None, *, weights=None) -> list[tuple[str, float]]:
    """[(cut label, Σ weight passing it and every earlier cut)], first entry ("all", total),
    for in-memory muon-setup events (``simulate("muon", ...).events``)."""
    from .muon import BEAM_ENERGY, PERIODS

    sel = _load(selection)
    ctx = sel.context(runinfo_beam_energy=BEAM_ENERGY, has_vhcal=PERIODS["2022"], is_mc=True,
                      setup=3)
    masks = sel.evaluate(events, ctx)
    n = len(events["trigger"])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.ones(n, dtype=bool)
    out = [("all", float(w.sum()))]
    for label in sel.labels:
        keep &= masks[label]
        out.append((label, float(w[keep].sum())))
    return out


def _threshold(sel) -> float:
    """E_X threshold of the selection: beam energy − the box's p_out bound."""
    p_max = sel.box_region().get("mu_p_out", (None, None))[1]
    if p_max is None:
        raise ValueError(f"selection {sel.name}: its signal box does not bound mu_p_out")
    return float(sel.beam_energy - p_max)


@lru_cache(maxsize=64)
def _efficiency_cached(model: str, mass: float, selection: str, n_events: int, seed: int):
    from .generate import simulate

    sel = _load(selection)
    thr = _threshold(sel)
    res = simulate("muon", "2022", signal=model, mass=mass, n_events=n_events, seed=seed,
                   min_invisible_energy=min(GENERATION_MIN_ENERGY, thr))
    flow = cut_flow(res.events, sel)
    produced = int(np.count_nonzero(res.events["mc_invisible_e"] > thr))
    return flow[-1][1] / produced, produced, tuple(flow)


def signal_efficiency(model: str = "zprime", mass: float = 0.01, selection=None, *,
                      n_events: int = DEFAULT_SIGNAL_EVENTS, seed: int = DEFAULT_SIGNAL_SEED
                      ) -> dict:
    """Efficiency of ``selection`` for ``model`` at ``mass`` (GeV): selected events /
    produced events with E_X above the selection's threshold (so it multiplies the yield
    above that threshold). Returns {"efficiency", "produced", "cut_flow", "threshold"}."""
    sel_path = str(_selection_path(selection))
    eff, produced, flow = _efficiency_cached(str(model), float(mass), sel_path, int(n_events),
                                             int(seed))
    return {"efficiency": eff, "produced": produced, "cut_flow": list(flow),
            "threshold": _threshold(_load(sel_path)),
            "binomial_unc": math.sqrt(max(eff * (1 - eff), 0.0) / max(produced, 1))}


def muon_efficiency(selection, masses, model: str = "zprime"):
    """:class:`analysis.limits.Efficiency` of ``selection`` (None: the default NA64μ
    selection) for ``model``, simulated at :data:`EFFICIENCY_MASSES` within the requested
    mass range (plus its ends) and interpolated; relative to the yield above the
    selection's threshold (``efficiency_includes_threshold`` false)."""
    from ..limits import Efficiency

    masses = np.atleast_1d(np.asarray(masses, dtype=float))
    lo, hi = float(masses.min()), float(masses.max())
    grid = sorted({lo, hi, *(m for m in EFFICIENCY_MASSES if lo < m < hi)})
    values = [signal_efficiency(model, m, selection)["efficiency"] for m in grid]
    if len(grid) == 1:
        return Efficiency.constant(values[0])
    return Efficiency.table(np.array(grid), np.array(values),
                            source=f"muon-setup signal simulation ({model}), selection "
                                   f"{Path(str(_selection_path(selection))).name}")


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
