"""NA64h signal efficiency from the framework's own simulation, and Br(M⁰ → invisible) limits.

* :func:`cut_flow` — the selection (``selections/na64h_eta.yaml`` by default) applied, cut by
  cut, to in-memory events of ``analysis.simulation.simulate`` (the same ``Selection``
  objects and cut registry the coffea processor uses).
* :func:`signal_efficiency` — selected / generated π⁻N → M⁰X, M⁰ → invisible events
  (signal samples keep every generated event, so the trigger is part of the efficiency).
  The meson production depth (inside the ECAL, the target of
  ``analysis.physics.mesons.meson_yield_per_pot``) is part of the simulation, so yield ×
  efficiency counts every produced meson once.
* :func:`hadron_efficiency` — the :class:`analysis.limits.Efficiency` that
  ``analysis.limits.efficiency_from_selection`` uses for ``setup="hadron"`` (``na64 project
  --setup hadron`` without ``--efficiency``).
* :func:`br_limit` — Br(M⁰ → inv) < N_up / (N_POT · Y_M · ε) through ``analysis.limits.scan``
  (exact CLs counting, the same chain as every other limit of the framework).

Documentation: docs/na64h.md.
"""

from __future__ import annotations

import math

import numpy as np

from .. import efficiency as _eff
from . import hadron as h

_SETUP = _eff.SETUPS["hadron"]
#: Default NA64h selection (repository-relative path).
DEFAULT_SELECTION = next(iter(_SETUP.selections))
#: Signal events simulated for an efficiency (binomial error ≈ 0.2 % at ε ≈ 0.9).
DEFAULT_SIGNAL_EVENTS = _SETUP.n_events
#: Fixed seed: the efficiency is a deterministic function of the selection.
DEFAULT_SIGNAL_SEED = _SETUP.seed


def cut_flow(events: dict, selection=None, *, runinfo: dict | None = None,
             weights: np.ndarray | None = None) -> list[tuple[str, float]]:
    """[(cut label, Σ weight of events passing it and every earlier cut)], first entry
    ("all", total). ``runinfo`` (a simulate() runinfo) sets the cut context."""
    sel = _eff.load("hadron", selection)
    return _eff.cut_flow(events, sel, _eff.runinfo_context(sel, runinfo, setup=4),
                         weights=weights)


def signal_efficiency(meson: str = "eta", selection=None, *, n_events: int = DEFAULT_SIGNAL_EVENTS,
                      seed: int = DEFAULT_SIGNAL_SEED) -> dict:
    """Efficiency of ``selection`` for π⁻N → M⁰X, M⁰ → invisible (``meson`` eta/eta-prime):
    ``{"efficiency", "error" (binomial), "cut_flow", "n_events", "selection"}``."""
    meson = h.signal_meson(meson)
    sel = str(_eff.selection_path("hadron", selection))
    p = _eff.point_efficiency("hadron", meson, None, selection, n_events=n_events, seed=seed)
    eff = p["efficiency"]
    return {"meson": meson, "efficiency": eff,
            "error": math.sqrt(eff * (1.0 - eff) / n_events), "cut_flow": p["cut_flow"],
            "n_events": int(n_events), "seed": int(seed), "selection": sel}


def meson_for_mass(mass: float) -> str:
    for name, m in h.MESON_MASSES.items():
        if name in ("eta", "eta-prime") and math.isclose(float(mass), m, rel_tol=1e-3):
            return name
    raise ValueError(f"no hadron-setup signal at mass {mass} GeV (eta {h.MESON_MASSES['eta']}, "
                     f"eta-prime {h.MESON_MASSES['eta-prime']})")


def hadron_efficiency(selection, masses):
    """Efficiency table at the meson mass(es) from the simulation (analysis.limits hook;
    :func:`analysis.efficiency.simulated_efficiency`)."""
    return _eff.simulated_efficiency(selection, "hadron", masses)


def br_limit(meson: str = "eta", n_on_target: float = 2.9e9, *, selection=None,
             efficiency: float | None = None, background: float = 0.0, observed: int = 0,
             cross_section_model: str = "geant4", xsec_unc: float = 0.0, cl: float = 0.9):
    """Br(M⁰ → invisible) upper limit for ``n_on_target`` POT with the framework's own
    efficiency (unless given) and yield, through analysis.limits.scan (exact CLs counting).
    Returns ``(limit, details)``."""
    from ..limits import Efficiency, SignalModel, SignalSystematics, scan

    meson = h.signal_meson(meson)
    if efficiency is None:
        efficiency = signal_efficiency(meson, selection)["efficiency"]
    model = SignalModel(model=meson, setup="hadron", energy=h.BEAM_ENERGY,
                        meson_xs_model=cross_section_model)
    t = scan(model, [h.MESON_MASSES[meson]], n_on_target=n_on_target,
             efficiency=Efficiency.constant(efficiency), background=background,
             observed=observed, systematics=SignalSystematics(xsec=xsec_unc), cl=cl,
             method="exact")
    y = float(model.yield_per_pot([h.MESON_MASSES[meson]])[0])
    return float(t.observed[0]), {"efficiency": efficiency, "yield_per_pot": y,
                                  "n_signal_upper": float(t.observed[0]) * n_on_target * y
                                  * efficiency, "table": t}


__all__ = ["DEFAULT_SELECTION", "cut_flow", "signal_efficiency", "hadron_efficiency",
           "meson_for_mass", "br_limit"]
