"""Simulated signal efficiency of a selection, for every setup: projections (`na64 project`
without `--efficiency`), ``analysis.limits.efficiency_from_selection``, and the NA64μ / NA64h
helpers in ``analysis.simulation.muon_limits`` / ``hadron_limits``.

One table (:data:`SETUPS`) says, per setup, which built-in selection to use, at which masses
to simulate, how far below the selection's E_X threshold to generate, how many events and
which seed; one function (:func:`point_efficiency`) simulates signal with
``analysis.simulation.simulate``, applies the selection cut by cut with the same
``Selection`` objects, cut registry, run-info context and ``mc_weight`` weights the coffea
processor uses (its cut flow is identical, event for event), and returns selected / produced;
:func:`simulated_efficiency` assembles the :class:`analysis.limits.Efficiency` table.

*Produced* counts the events generated with E_X above the selection's threshold (electron:
the missing-energy cut; muon: beam energy − the box's p_out bound), so the efficiency pairs
with the production yield above the threshold (``efficiency_includes_threshold=False`` in
analysis.limits) and is smooth in mass, so it interpolates safely; events produced just
below the threshold that the resolution pushes into the box are counted in the numerator:
that migration is real. Setups without an E_X threshold (hadron: π⁻N → M⁰X, M⁰ → invisible)
count every generated event. Signal samples keep every generated event, so the trigger is
part of the efficiency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from .limits import Efficiency
from .selection import Selection, load_selection

#: repository root (built-in selections are resolved against it, then against the cwd)
REPOSITORY = Path(__file__).resolve().parents[1]


def repository_path(path) -> str | Path:
    """``path`` (repository-relative) under the repository if it exists there, else as is."""
    here = REPOSITORY / path
    return here if here.exists() else path


# ----------------------------------------------------------------------------------------
# per-setup rules
# ----------------------------------------------------------------------------------------

def missing_energy_threshold(selection: Selection) -> float:
    """E_X threshold of an electron-setup selection: its ``missing_energy`` cut (GeV)."""
    for c in selection.to_dict()["cuts"]:
        if c["cut"] == "missing_energy":
            return float(c["params"]["threshold"])
    raise ValueError(f"selection {selection.name} has no missing_energy cut")


def missing_momentum_threshold(selection: Selection) -> float:
    """E_X threshold of a muon-setup selection: beam energy − the box's p_out bound."""
    p_max = selection.box_region().get("mu_p_out", (None, None))[1]
    if p_max is None:
        raise ValueError(f"selection {selection.name}: its signal box does not bound mu_p_out")
    return float(selection.beam_energy - p_max)


def _grid_decade_window(grid, masses) -> list[float]:
    """Grid masses within a decade of the requested range, plus its ends (all if None)."""
    if masses is None:
        return list(grid)
    m = np.atleast_1d(np.asarray(masses, dtype=float))
    return sorted({g for g in grid if m.min() / 10 <= g <= m.max() * 10}
                  | {float(m.min()), float(m.max())})


def _grid_inside(grid, masses) -> list[float]:
    """The ends of the requested range and the grid masses strictly inside it."""
    m = np.atleast_1d(np.asarray(masses, dtype=float))
    lo, hi = float(m.min()), float(m.max())
    return sorted({lo, hi, *(g for g in grid if lo < g < hi)})


def _grid_requested(grid, masses) -> list[float]:
    """Exactly the requested masses (the setup's signals have fixed masses)."""
    return [float(x) for x in np.atleast_1d(np.asarray(masses, dtype=np.float64))]


def _same_signal(model: str, mass: float | None) -> tuple[str, float | None]:
    return model, mass


def _hadron_signal(model: str, mass: float | None) -> tuple[str, None]:
    """The meson at ``mass`` (or named ``model``); the meson fixes the mass."""
    from .simulation import hadron
    from .simulation.hadron_limits import meson_for_mass

    return (hadron.signal_meson(model) if mass is None else meson_for_mass(mass)), None


@dataclass(frozen=True)
class SetupEfficiency:
    """How the signal efficiency of a selection is simulated for one setup."""

    #: built-in selections (repository-relative) → their E_X threshold (GeV; None: no
    #: threshold); the first is the default
    selections: dict
    #: default signal model
    model: str
    #: masses (GeV) simulated for the table
    masses: tuple
    #: generation cut on E_X (GeV) from the selection's threshold (None: no cut)
    generation_cut: Callable[[float | None], float | None]
    #: signal events per mass, and the seed (the efficiency is a deterministic function of
    #: the selection); the i-th mass of a table uses ``seed + seed_step * i``
    n_events: int
    seed: int
    seed_step: int = 0
    #: simulation period (None: the selection's)
    period: str | None = None
    #: E_X threshold of a selection (None: every generated event is "produced")
    threshold: Callable[[Selection], float] | None = None
    #: requested masses → simulated masses
    grid: Callable = _grid_requested
    #: (model, mass) → (signal, mass) passed to simulate
    signal: Callable = _same_signal
    #: a one-mass table: "table", "constant" (mass-independent) or "extrapolate" (flat)
    single: str = "table"
    #: the missing-energy threshold of the selection can be overridden (``threshold=``)
    threshold_override: bool = False
    #: the projection's signal model is simulated (else the setup's ``model``: the
    #: efficiency's dependence on it is neglected)
    model_dependent: bool = False

    def default_selection(self, threshold: float | None = None) -> str:
        table = self.selections
        if threshold is None or any(v is None for v in table.values()):
            name = next(iter(table))
        else:
            name = min(table, key=lambda k: abs(table[k] - threshold))
        return str(repository_path(name))


#: the per-setup table
SETUPS = {
    "electron": SetupEfficiency(
        selections={"selections/na64e_2023_vhcal.yaml": 40.0,
                    "selections/na64e_2016_2022.yaml": 50.0},
        model="dark-photon", masses=(0.001, 0.01, 0.1, 0.3, 1.0),
        # a few ECAL resolutions below the threshold
        generation_cut=lambda thr: max(thr - 6.0, 0.0),
        n_events=3000, seed=7, seed_step=1, threshold=missing_energy_threshold,
        grid=_grid_decade_window, threshold_override=True),
    "muon": SetupEfficiency(
        # binomial error ≈ 0.5 % at ε ≈ 0.85 for the ≈30 % of the events above threshold
        selections={"selections/na64mu_2022.yaml": 80.0},
        model="zprime", masses=(0.001, 0.01, 0.05, 0.1, 0.3, 1.0),
        # below the 80 GeV threshold by ≫ the p_out resolution
        generation_cut=lambda thr: min(50.0, thr),
        n_events=8000, seed=7701, period="2022", threshold=missing_momentum_threshold,
        grid=_grid_inside, single="constant", model_dependent=True),  # p_out acceptance
    "hadron": SetupEfficiency(
        # binomial error ≈ 0.2 % at ε ≈ 0.9
        selections={"selections/na64h_eta.yaml": None},
        model="eta", masses=(), generation_cut=lambda thr: None,
        n_events=20000, seed=8801, period="2023", signal=_hadron_signal,
        single="extrapolate"),
}

#: built-in selections by setup, with their thresholds (GeV)
BUILTIN_SELECTIONS = {k: v.selections for k, v in SETUPS.items()}
#: masses (GeV) simulated for the efficiency table of the electron setup
ELECTRON_MASS_GRID = SETUPS["electron"].masses


def setup_efficiency(setup: str) -> SetupEfficiency:
    if setup not in SETUPS:
        raise NotImplementedError(f"simulated efficiencies for setup {setup!r} are not "
                                  "available here: pass --efficiency")
    return SETUPS[setup]


def default_selection(setup: str, threshold: float | None = None) -> str:
    """The built-in selection of `setup` whose threshold is nearest to `threshold` (path
    resolved against the repository)."""
    if setup not in SETUPS:
        raise ValueError(f"no built-in selection for setup {setup!r}: pass --selection or "
                         "--efficiency")
    return SETUPS[setup].default_selection(threshold)


def with_threshold(selection: Selection, threshold: float | None) -> Selection:
    """A copy of `selection` with every `missing_energy` cut at `threshold` (GeV)."""
    if threshold is None:
        return selection
    data = selection.to_dict()
    found = False
    for c in data["cuts"]:
        if c["cut"] == "missing_energy":
            c["params"]["threshold"] = float(threshold)
            found = True
    if not found:
        raise ValueError(f"selection {selection.name} has no missing_energy cut to set the "
                         f"threshold {threshold} GeV on")
    return Selection.from_dict(data, source=f"{selection.source} (threshold {threshold:g} GeV)")


def selection_path(setup: str, selection=None) -> str | Path:
    """``selection`` or, if None, the setup's default selection (repository-resolved)."""
    if selection is None:
        return repository_path(next(iter(setup_efficiency(setup).selections)))
    return selection


def load(setup: str, selection=None, threshold: float | None = None) -> Selection:
    """The selection object (default: the setup's; ``threshold`` overrides the missing-energy
    cut where the setup allows it)."""
    spec = setup_efficiency(setup)
    if selection is None and spec.threshold_override:
        selection = spec.default_selection(threshold)
    sel = selection if isinstance(selection, Selection) else load_selection(
        selection_path(setup, selection))
    return with_threshold(sel, threshold) if spec.threshold_override else sel


# ----------------------------------------------------------------------------------------
# the cut flow and the efficiency
# ----------------------------------------------------------------------------------------

def runinfo_context(selection: Selection, runinfo: dict | None, *, setup: int | None = None,
                    has_vhcal: bool = False):
    """The cut context the processor builds from a file's run info (``simulate().runinfo``);
    ``setup``/``has_vhcal`` are used where the run info lacks them."""
    ri = runinfo or {}
    return selection.context(
        runinfo_beam_energy=float(ri["beam_energy"][0]) if "beam_energy" in ri else None,
        has_vhcal=bool(ri["has_vhcal"][0]) if "has_vhcal" in ri else has_vhcal,
        is_mc=True, setup=int(ri["setup"][0]) if "setup" in ri else setup)


def cut_flow(events: dict, selection: Selection, ctx=None, *,
             weights=None) -> list[tuple[str, float]]:
    """[(cut label, Σ weight of events passing it and every earlier cut)], first entry
    ("all", total), for in-memory events (``simulate(...).events``)."""
    masks = selection.evaluate(events, ctx)
    n = len(events["trigger"])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.ones(n, dtype=bool)
    out = [("all", float(w.sum()))]
    for label in selection.labels:
        keep &= masks[label]
        out.append((label, float(w[keep].sum())))
    return out


def _point(setup: str, sel: Selection, model: str, mass: float | None, n_events: int,
           seed: int) -> dict:
    from .simulation import simulate

    spec = SETUPS[setup]
    thr = spec.threshold(sel) if spec.threshold else None
    res = simulate(setup, spec.period or sel.config.period, signal=model, mass=mass,
                   n_events=n_events, seed=seed,
                   min_invisible_energy=spec.generation_cut(thr))
    ri = res.runinfo
    if int(ri["setup"][0]) != sel.setup:
        raise ValueError(f"selection {sel.name} ({sel.source}) is for setup "
                         f"{sel.config.setup!r}, not {setup!r}")
    flow = cut_flow(res.events, sel, runinfo_context(sel, ri),
                    weights=res.events["mc_weight"])
    if thr is None:
        produced = len(res.events["trigger"])
    else:
        produced = int(np.count_nonzero(res.events["mc_invisible_e"] > thr))
    eff = flow[-1][1] / produced if produced else 0.0
    return {"efficiency": eff, "produced": produced, "cut_flow": flow, "threshold": thr,
            "signal": model, "n_events": int(n_events), "seed": int(seed),
            "binomial_unc": math.sqrt(max(eff * (1 - eff), 0.0) / max(produced, 1))}


@lru_cache(maxsize=64)
def _point_cached(setup, path, threshold, model, mass, n_events, seed):
    return _point(setup, load(setup, path, threshold), model, mass, n_events, seed)


def point_efficiency(setup: str, model: str | None = None, mass: float | None = None,
                     selection=None, *, threshold: float | None = None,
                     n_events: int | None = None, seed: int | None = None) -> dict:
    """Signal efficiency of ``selection`` (None: the setup's default) for ``model`` at
    ``mass`` (GeV): ``{"efficiency" (selected / produced), "produced", "cut_flow",
    "threshold" (E_X, GeV, None: all events count), "signal", "n_events", "seed",
    "binomial_unc"}``. Selections given by path are cached."""
    spec = setup_efficiency(setup)
    model = spec.model if model is None else str(model)
    model, mass = spec.signal(model, None if mass is None else float(mass))
    n_events = spec.n_events if n_events is None else int(n_events)
    seed = spec.seed if seed is None else int(seed)
    if isinstance(selection, Selection):
        out = _point(setup, load(setup, selection, threshold), model, mass, n_events, seed)
    else:
        path = selection
        if path is None and spec.threshold_override:
            path = spec.default_selection(threshold)
        path = str(selection_path(setup, path))
        out = _point_cached(setup, path, threshold, model, mass, n_events, seed)
    return {**out, "cut_flow": list(out["cut_flow"])}


def simulated_efficiency(selection, setup: str, masses=None, *, threshold: float | None = None,
                         model: str | None = None, n_events: int | None = None,
                         seed: int | None = None, workdir=None) -> Efficiency:
    """:class:`analysis.limits.Efficiency` of ``selection`` (None: the setup's default; for
    the electron setup the built-in one nearest ``threshold``) for ``model``, simulated on
    the setup's mass grid as bounded by ``masses`` (see :data:`SETUPS`) and interpolated;
    ``threshold`` overrides the missing-energy cut (electron). ``workdir`` is unused (kept
    for callers: nothing is written)."""
    spec = setup_efficiency(setup)
    model = spec.model if model is None else str(model)
    n_events = spec.n_events if n_events is None else int(n_events)
    seed = spec.seed if seed is None else int(seed)
    sel = load(setup, selection, threshold)
    grid = spec.grid(spec.masses, masses)
    points = [point_efficiency(setup, model, m, selection, threshold=threshold,
                               n_events=n_events, seed=seed + spec.seed_step * i)
              for i, m in enumerate(grid)]
    values = [p["efficiency"] for p in points]
    if len(grid) == 1 and spec.single == "constant":
        return Efficiency.constant(values[0])
    thr = points[0]["threshold"]
    signals = ", ".join(dict.fromkeys(p["signal"] for p in points))
    source = (f"{setup}-setup signal simulation ({signals}, {n_events} events per mass, seed "
              f"{seed}) with {sel.source}" + (f", E_X > {thr:g} GeV" if thr is not None else ""))
    return Efficiency.table(grid, values, source=source,
                            allow_extrapolation=len(grid) == 1 and spec.single == "extrapolate")
