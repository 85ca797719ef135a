"""Coupling limits versus mass from signal-count limits (issue 5, items 3–5).

Chain (docs/limits.md; statistics in docs/statistics.md, physics in docs/physics.md)::

    N_sig(m; c) = N_on_target · eff(m) · Y(m) · c^p                                   (1)

* ``Y(m)`` — produced dark-sector particles per particle on target per unit ``c^p``
  (:func:`analysis.physics.yields.signal_yield`, PHYSICS.md §2 "Yield in a thick active
  target"), for ε (dark photon) or g (Z′, scalar, …) with ``p = 2`` (rates ∝ coupling²,
  PHYSICS.md §3); for Br(η/η′ → invisible) ``p = 1`` and ``Y`` = mesons per POT
  (``analysis.physics.mesons.meson_yield_per_pot``; PHYSICS.md §3 "Invisible meson decays:
  Br from N_meson × efficiency per POT").
* ``eff(m)`` — the signal efficiency of the selection, interpolated between simulated masses
  linearly in efficiency and in ln m (:class:`Efficiency`).
* **Missing-energy acceptance is counted once.**  ``efficiency_includes_threshold=False``
  (default): the efficiency is that of the selection for signal events that already have
  E_miss = E_X above the threshold, so ``Y`` is evaluated with the selection's threshold.
  ``efficiency_includes_threshold=True``: the efficiency is "selected / generated" from a
  signal simulation, which already contains the E_miss acceptance; ``Y`` is then the total
  production yield above the simulation's generation cut
  (:attr:`SignalModel.generation_threshold`, 0 GeV for ``analysis.simulation``, which samples
  the full E_X spectrum).

Count → coupling (docs/statistics.md "Mass scans"):

* one period (single bin, only the yield depends on mass): the CLs limit ``N_up`` on the
  signal count (with expected median and ±1σ/±2σ band) is computed once with
  :func:`analysis.stats.upper_limit` and rescaled, ``c_up(m) = (N_up / (N·eff(m)·Y(m)))^(1/p)``
  (eq. 1 solved for c; exact because the count limit does not depend on the mass);
* several periods (each with its own exposure, efficiency, background, observed count and
  threshold): one combined fit per mass with :func:`analysis.stats.scan_combined`; the
  cross-section systematic is one shared nuisance parameter (fully correlated), POT and
  efficiency systematics are per period.  Periods with zero expected signal at every mass
  (zero exposure or efficiency) carry no information on the signal and are dropped.

Signal systematics enter as log-normal priors (σ_ln = ln(1 + δ), added in quadrature;
Cousins & Highland, NIM A 320 (1992) 331): POT counting, production cross section
(default δ = 10 %: WW vs ETL and form-factor choices, arXiv:2409.12748) and efficiency.

Thermal-target variable (PHYSICS.md §3): ``y = ε² α_D (m_χ/m_A′)⁴`` with ``m_A′ = 3 m_χ`` and
α_D = 0.1, 0.5.  For the dark photon on e± beams the yield itself depends on α_D (resonant
annihilation: Breit–Wigner width and Br(A′→χχ̄), :mod:`analysis.physics.annihilation`), so each
α_D table uses the ε limit computed with the yield for that α_D (identical where annihilation
does not contribute).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .stats import Channel, LimitResult, coupling_from_count_limit, scan_combined, upper_limit
from .stats.counting import background_distribution
from .stats.results import _clean
from .stats.toys import DEFAULT_NTOYS, DEFAULT_SEED

__all__ = [
    "COUPLINGS",
    "DEFAULT_XSEC_UNC",
    "THERMAL_ALPHAS",
    "Efficiency",
    "LimitTable",
    "Period",
    "SignalModel",
    "SignalSystematics",
    "default_masses",
    "efficiency_from_selection",
    "load_limit_config",
    "project",
    "projection_dict",
    "projection_table",
    "read_limits",
    "scan_config",
    "scan",
    "set_efficiency_provider",
    "thermal_y",
    "write_limits",
]

#: what each model's limit is quoted in (PHYSICS.md §3)
COUPLINGS = {
    "dark-photon": "epsilon",
    "scalar": "g",
    "pseudoscalar": "g",
    "axial": "g",
    "zprime": "g",
    "eta": "Br",
    "eta-prime": "Br",
}
#: yields ∝ coupling^POWER (PHYSICS.md §3 last bullet)
POWER = {"epsilon": 2.0, "g": 2.0, "Br": 1.0}
#: models allowed per setup (electron/positron/muon: lepton beams; hadron: NA64h mesons)
SETUP_MODELS = {
    "electron": ("dark-photon", "scalar", "pseudoscalar", "axial", "zprime"),
    "positron": ("dark-photon", "scalar", "pseudoscalar", "axial", "zprime"),
    "muon": ("zprime", "dark-photon", "scalar", "pseudoscalar", "axial"),
    "hadron": ("eta", "eta-prime"),
}
#: hadron-beam default energy (GeV): NA64h 50 GeV π⁻ (PHYSICS.md §1)
HADRON_ENERGY = 50.0
#: meson masses (GeV), PDG 2024: m_η = 547.862 MeV, m_η′ = 957.78 MeV
MESON_MASSES = {"eta": 0.547862, "eta-prime": 0.95778}
#: relative production cross-section uncertainty, WW vs ETL and form factors (arXiv:2409.12748)
DEFAULT_XSEC_UNC = 0.10
#: α_D benchmarks and m_A′/m_χ of the thermal-target plots (PHYSICS.md §3)
THERMAL_ALPHAS = (0.1, 0.5)
MASS_RATIO = 3.0
#: coupling at which per-coupling² yields are evaluated (Γ_ee ≪ Γ_χχ; as analysis.physics.yields)
_COUPLING_REF = 1e-4
FORMAT_VERSION = 1

_LABELS = {
    "epsilon": "epsilon (A' couples as epsilon*e; rates scale as epsilon^2)",
    "g": "g (coupling itself, DMG4 g = epsilon_eff*e; rates scale as g^2)",
    "Br": "Br(meson -> invisible) (rates linear in Br)",
}


# ------------------------------------------------------------------------------------------
# efficiency
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Efficiency:
    """Signal efficiency versus mass.

    ``masses is None``: one mass-independent value.  Otherwise a table of simulated masses
    (GeV) and efficiencies, interpolated linearly in efficiency and in ln m (piecewise-linear
    in log-mass: the natural variable of a log-spaced mass grid; exact at the simulated
    masses).  Outside ``[min(masses), max(masses)]`` the interpolation raises ``ValueError``
    unless ``allow_extrapolation`` is set, in which case the nearest simulated value is used
    (flat; no trend is extrapolated) and the caller's table records a note.
    """

    values: tuple[float, ...]
    masses: tuple[float, ...] | None = None
    allow_extrapolation: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        v = np.atleast_1d(np.asarray(self.values, float))
        if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v < 0) or np.any(v > 1):
            raise ValueError(f"efficiencies must be finite and in [0, 1], got {v.tolist()}")
        if self.masses is None:
            if v.size != 1:
                raise ValueError("a mass-independent efficiency is one value")
            object.__setattr__(self, "values", (float(v[0]),))
            return
        m = np.atleast_1d(np.asarray(self.masses, float))
        if m.size != v.size:
            raise ValueError(f"{m.size} masses but {v.size} efficiencies")
        if not np.all(np.isfinite(m)) or np.any(m <= 0):
            raise ValueError("simulated masses must be finite and > 0")
        order = np.argsort(m)
        m, v = m[order], v[order]
        if np.any(np.diff(m) <= 0):
            raise ValueError(f"duplicate simulated masses in {m.tolist()}")
        object.__setattr__(self, "masses", tuple(float(x) for x in m))
        object.__setattr__(self, "values", tuple(float(x) for x in v))

    @classmethod
    def constant(cls, value: float) -> "Efficiency":
        return cls((float(value),))

    @classmethod
    def table(cls, masses, values, allow_extrapolation: bool = False, source: str = "") -> "Efficiency":
        return cls(tuple(np.atleast_1d(values).tolist()), tuple(np.atleast_1d(masses).tolist()),
                   allow_extrapolation, source)

    @classmethod
    def from_csv(cls, path, allow_extrapolation: bool = False) -> "Efficiency":
        """CSV with columns ``mass`` (GeV) and ``efficiency`` (``#`` lines are comments)."""
        with open(path, newline="") as f:
            rows = list(csv.DictReader(line for line in f if not line.lstrip().startswith("#")))
        if not rows or not {"mass", "efficiency"} <= set(rows[0]):
            raise ValueError(f"{path}: needs columns 'mass' and 'efficiency'")
        return cls.table([float(r["mass"]) for r in rows], [float(r["efficiency"]) for r in rows],
                         allow_extrapolation, source=str(path))

    @property
    def is_constant(self) -> bool:
        return self.masses is None

    def outside(self, masses) -> np.ndarray:
        """Boolean mask of ``masses`` outside the simulated range (relative tolerance 1e-9)."""
        m = np.atleast_1d(np.asarray(masses, float))
        if self.masses is None:
            return np.zeros(m.shape, bool)
        lo, hi = self.masses[0], self.masses[-1]
        return (m < lo * (1 - 1e-9)) | (m > hi * (1 + 1e-9))

    def __call__(self, masses) -> np.ndarray:
        m = np.atleast_1d(np.asarray(masses, float))
        if self.masses is None:
            return np.full(m.shape, self.values[0])
        out = self.outside(m)
        if np.any(out) and not self.allow_extrapolation:
            raise ValueError(
                f"masses {m[out].tolist()} GeV are outside the simulated range "
                f"[{self.masses[0]:g}, {self.masses[-1]:g}] GeV of the efficiency table "
                f"{self.source or ''}(allow_extrapolation=True takes the nearest simulated value)")
        if m.size and np.any(m <= 0):
            raise ValueError("masses must be > 0")
        # np.interp is flat outside the table: the allowed "extrapolation"
        return np.interp(np.log(m), np.log(np.asarray(self.masses)), np.asarray(self.values))

    def to_dict(self) -> dict:
        if self.masses is None:
            return {"value": self.values[0]}
        return {"masses": list(self.masses), "values": list(self.values),
                "interpolation": "linear in efficiency, linear in ln(mass)",
                "allow_extrapolation": self.allow_extrapolation, "source": self.source}


def as_efficiency(x, allow_extrapolation: bool = False) -> Efficiency:
    """A number, ``(masses, values)``, a ``{mass: eff}`` mapping, a CSV path or an Efficiency."""
    if isinstance(x, Efficiency):
        return x if not allow_extrapolation else replace(x, allow_extrapolation=True)
    if isinstance(x, (int, float, np.floating, np.integer)):
        return Efficiency.constant(float(x))
    if isinstance(x, (str, Path)):
        return Efficiency.from_csv(x, allow_extrapolation)
    if isinstance(x, Mapping):
        if {"masses", "values"} <= set(x):
            return Efficiency.table(x["masses"], x["values"],
                                    allow_extrapolation or bool(x.get("allow_extrapolation", False)),
                                    x.get("source", ""))
        if "value" in x:
            return Efficiency.constant(float(x["value"]))
        return Efficiency.table([float(k) for k in x], list(x.values()), allow_extrapolation)
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return Efficiency.table(x[0], x[1], allow_extrapolation)
    raise TypeError(f"cannot interpret {x!r} as an efficiency")


# Selection → simulated signal efficiency (pluggable: the selection/simulation pieces
# register a provider once signal samples can be produced and processed).
_EFFICIENCY_PROVIDER: Callable | None = None


def set_efficiency_provider(func: Callable | None) -> None:
    """Register ``func(selection, setup, masses) -> Efficiency`` used by
    :func:`efficiency_from_selection` (``None`` unregisters)."""
    global _EFFICIENCY_PROVIDER
    _EFFICIENCY_PROVIDER = func


def efficiency_from_selection(selection, setup: str, masses, threshold=None,
                              model: str | None = None) -> Efficiency:
    """Signal efficiency of ``selection`` (a selection YAML or object) from simulated signal
    samples of ``setup`` at ``masses`` (``model``: the signal model, used by the muon setup,
    whose p_out acceptance depends on the E_X spectrum).

    Not available yet: it needs signal samples processed with the selection.  A provider can
    be registered with :func:`set_efficiency_provider`.
    """
    if _EFFICIENCY_PROVIDER is not None:
        return as_efficiency(_EFFICIENCY_PROVIDER(selection, setup, masses))
    from .efficiency import SETUPS, simulated_efficiency

    if setup in SETUPS:  # fresh signal simulation through the selection (analysis.efficiency)
        return simulated_efficiency(selection, setup, masses, threshold=threshold,
                                    model=model if SETUPS[setup].model_dependent else None)
    raise NotImplementedError(
        "the signal efficiency of a selection needs signal samples processed with it (not "
        "available yet): pass --efficiency E (a number or a CSV with columns mass,efficiency)")


# ------------------------------------------------------------------------------------------
# systematics, model, periods
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalSystematics:
    """Relative signal-yield uncertainties δ (log-normal priors, σ_ln = ln(1 + δ)).

    ``pot``: particles-on-target counting; ``xsec``: production cross section (default 10 %,
    WW vs ETL and form factors, arXiv:2409.12748; shared between periods); ``efficiency``:
    signal efficiency; ``other``: further named sources.  Independent sources add in
    quadrature in σ_ln (product of independent log-normals is log-normal).
    """

    pot: float = 0.0
    xsec: float = DEFAULT_XSEC_UNC
    efficiency: float = 0.0
    other: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k, v in (("pot", self.pot), ("xsec", self.xsec), ("efficiency", self.efficiency),
                     *self.other.items()):
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"systematic {k} must be finite and >= 0, got {v}")

    @classmethod
    def none(cls) -> "SignalSystematics":
        return cls(0.0, 0.0, 0.0)

    def log_unc(self, pot: float | None = None, efficiency: float | None = None) -> float:
        """σ_ln = sqrt(Σ ln(1 + δ_i)²), optionally with per-period POT/efficiency δ."""
        ds = [self.pot if pot is None else pot, self.xsec,
              self.efficiency if efficiency is None else efficiency, *self.other.values()]
        return math.sqrt(sum(math.log1p(d) ** 2 for d in ds))

    def rel_unc(self, **kw) -> float:
        """The single δ with ln(1 + δ) = σ_ln (what :func:`analysis.stats.upper_limit` takes)."""
        return math.expm1(self.log_unc(**kw))

    def to_dict(self) -> dict:
        return {"pot": self.pot, "xsec": self.xsec, "efficiency": self.efficiency,
                "other": dict(self.other), "prior": "log-normal, sigma_ln = ln(1+delta), "
                "sources added in quadrature in sigma_ln; xsec shared between periods"}


def _setup_defaults(setup: str) -> tuple[float, float | None]:
    if setup == "hadron":
        return HADRON_ENERGY, None
    from .physics.yields import get_setup

    st = get_setup(setup)
    return st.default_energy, st.default_threshold


@dataclass(frozen=True)
class SignalModel:
    """What the limit is on.

    ``model``: dark-photon (coupling ε), scalar / pseudoscalar / axial / zprime (coupling g),
    eta / eta-prime (Br(→ invisible)); ``setup``: electron, positron, muon, hadron;
    ``energy``: beam energy (GeV; setup default); ``threshold``: missing-energy threshold of
    the selection, E_miss = E_X > threshold (GeV; setup default: 50 e±, 80 μ).
    ``coupling`` may be given to assert the convention (``epsilon`` | ``g`` | ``Br``).
    ``xsec_method``: etl | iww | ww (:mod:`analysis.physics.cross_sections`);
    ``alpha_d``: α_D of the annihilation yield (dark photon on e± beams, m_χ = m/3);
    ``generation_threshold``: the E_X cut of the signal simulation (used with
    ``efficiency_includes_threshold=True``); ``production_per_pot``: an external yield per
    particle on target per unit coupling^p (a number or ``f(masses) -> array``) replacing the
    physics module (e.g. mesons per POT from another calculation); ``meson_xs_model``: the
    charge-exchange cross-section model of :mod:`analysis.physics.mesons` (``geant4``,
    ``na64h-implied``, …) for η/η′.
    """

    model: str = "dark-photon"
    setup: str = "electron"
    energy: float | None = None
    threshold: float | None = None
    coupling: str | None = None
    xsec_method: str = "etl"
    alpha_d: float = 0.5
    generation_threshold: float = 0.0
    include_annihilation: bool | None = None
    production_per_pot: float | Callable | None = None
    meson_xs_model: str = "geant4"

    def __post_init__(self) -> None:
        if self.model not in COUPLINGS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {sorted(COUPLINGS)}")
        if self.setup not in SETUP_MODELS:
            raise ValueError(f"unknown setup {self.setup!r}; expected one of {sorted(SETUP_MODELS)}")
        if self.model not in SETUP_MODELS[self.setup]:
            raise ValueError(f"model {self.model!r} is not available for the {self.setup} setup "
                             f"(expected one of {SETUP_MODELS[self.setup]})")
        expected = COUPLINGS[self.model]
        if self.coupling is not None and self.coupling != expected:
            raise ValueError(f"the {self.model} limit is quoted in {expected!r}, not {self.coupling!r}")
        object.__setattr__(self, "coupling", expected)
        e0, thr0 = _setup_defaults(self.setup)
        if self.energy is None:
            object.__setattr__(self, "energy", float(e0))
        if self.threshold is None:
            object.__setattr__(self, "threshold", None if thr0 is None else float(thr0))
        if not self.energy > 0:
            raise ValueError("beam energy must be > 0")
        if self.threshold is not None and not 0 <= self.threshold < self.energy:
            raise ValueError(f"threshold must be in [0, {self.energy:g}) GeV, got {self.threshold}")

    @property
    def power(self) -> float:
        return POWER[self.coupling]

    @property
    def is_meson(self) -> bool:
        return self.coupling == "Br"

    @property
    def coupling_convention(self) -> str:
        if self.is_meson:
            return _LABELS["Br"]
        from .physics.cross_sections import coupling_convention

        beam = "muon" if self.setup == "muon" else "electron"
        return coupling_convention(self.model, beam)

    def yield_per_pot(self, masses, threshold: float | None = None, alpha_d: float | None = None,
                      energy: float | None = None) -> np.ndarray:
        """Y(m): produced X with E_X > ``threshold`` per particle on target per unit coupling^p
        (eq. 1 of the module docstring); for mesons, mesons per POT (threshold unused)."""
        m = np.atleast_1d(np.asarray(masses, float))
        energy = self.energy if energy is None else float(energy)
        if self.production_per_pot is not None:
            p = self.production_per_pot
            vals = np.asarray(p(m), float) if callable(p) else np.full(m.shape, float(p))
            return np.broadcast_to(vals, m.shape).astype(float)
        if self.is_meson:
            return np.full(m.shape, _meson_yield(self.model, energy, self.meson_xs_model)[0])
        thr = self.threshold if threshold is None else float(threshold)
        ad = self.alpha_d if alpha_d is None else float(alpha_d)
        return np.array([_lepton_yield(self.setup, energy, self.model, float(x), thr, self.xsec_method,
                                       self.include_annihilation, ad) for x in m])

    def depends_on_alpha_d(self) -> bool:
        """True if the yield depends on α_D (resonant annihilation of the dark photon, e± beams)."""
        if self.production_per_pot is not None or self.model != "dark-photon":
            return False
        if self.setup not in ("electron", "positron"):
            return False
        return self.include_annihilation is not False

    def alpha_d_mask(self, masses, energy: float | None = None) -> np.ndarray:
        """Masses whose yield depends on α_D: resonant annihilation contributes only for
        1 GeV ≤ E_R = (m² − 2m_e²)/(2m_e) < E₀ (:func:`analysis.physics.yields.annihilation_yield`)."""
        m = np.atleast_1d(np.asarray(masses, float))
        if not self.depends_on_alpha_d():
            return np.zeros(m.shape, bool)
        from .physics.annihilation import resonance_energy
        from .physics.yields import ANNIHILATION_E_MIN

        e_r = resonance_energy(m)
        return (e_r >= ANNIHILATION_E_MIN) & (e_r < (self.energy if energy is None else energy))

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("model", "setup", "energy", "threshold", "coupling",
                                            "xsec_method", "alpha_d", "generation_threshold",
                                            "include_annihilation", "meson_xs_model")}
        d["production_per_pot"] = (None if self.production_per_pot is None else
                                   "external" if callable(self.production_per_pot)
                                   else float(self.production_per_pot))
        return d


@lru_cache(maxsize=4096)
def _lepton_yield(setup, energy, model, mass, threshold, method, include_annihilation, alpha_d) -> float:
    """N_X/(N_beam coupling²) from :func:`analysis.physics.yields.signal_yield` at c = 1e-4."""
    from .physics.yields import signal_yield

    r = signal_yield(setup, energy, model, mass, _COUPLING_REF, threshold, method, True,
                     include_annihilation, alpha_d=alpha_d, mchi_ratio=1.0 / MASS_RATIO)
    return r.signal_per_particle / _COUPLING_REF**2


@lru_cache(maxsize=64)
def _meson_yield(meson: str, energy: float, xs_model: str = "geant4") -> tuple[float, tuple]:
    """(mesons per POT, notes) from ``analysis.physics.mesons.meson_yield_per_pot`` (thick
    NA64h ECAL target, π⁻ absorbed with λ_I; docs/physics.md)."""
    try:
        from .physics import mesons  # noqa: PLC0415
    except ImportError:
        mesons = None
    fn = getattr(mesons, "meson_yield_per_pot", None)
    if fn is None:
        raise NotImplementedError(
            f"Br({meson} -> invisible) limits need the meson yield per POT from "
            "analysis.physics.mesons.meson_yield_per_pot(meson, energy), which is not available "
            "yet (or pass SignalModel(production_per_pot=...))")
    r = fn(meson, energy, model=xs_model) if xs_model != "geant4" else fn(meson, energy)
    v = float(getattr(r, "value", getattr(r, "per_pot", r)))
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"meson yield per POT must be finite and >= 0, got {v}")
    notes = tuple(getattr(r, "notes", ()))
    return v, (f"{meson} yield {v:.4g} per POT at {energy:g} GeV from "
               f"analysis.physics.mesons.meson_yield_per_pot (cross-section model {xs_model})",) + notes


def default_masses(model: SignalModel | str) -> np.ndarray:
    """Meson mass for Br models; otherwise 31 log-spaced masses 1 MeV – 1 GeV."""
    name = model.model if isinstance(model, SignalModel) else model
    if name in MESON_MASSES:
        return np.array([MESON_MASSES[name]])
    return np.geomspace(1e-3, 1.0, 31)


def _background(value, unc=None) -> tuple[float, float]:
    """(value, uncertainty) from a number, a pair, a mapping or a background.Estimate."""
    if hasattr(value, "value") and hasattr(value, "total_unc"):
        b, s = float(value.value), float(value.total_unc)
    elif isinstance(value, Mapping):
        b, s = float(value["value"]), float(value.get("uncertainty", 0.0))
    elif isinstance(value, (tuple, list)):
        b, s = float(value[0]), float(value[1])
    else:
        b, s = float(value), 0.0
    if unc is not None:
        s = float(unc)
    if not (math.isfinite(b) and b >= 0 and math.isfinite(s) and s >= 0):
        raise ValueError(f"background must be >= 0 with uncertainty >= 0, got {b} ± {s}")
    return b, s


@dataclass
class Period:
    """One run period (or beam / detector configuration) of a combination.

    ``efficiency``: number, ``(masses, values)``, CSV path or :class:`Efficiency`;
    ``background``: number, ``(value, unc)``, mapping or :class:`analysis.background.Estimate`
    (``background_unc`` overrides); ``observed``: events in the signal box (``None`` while
    blinded); ``threshold`` / ``energy`` override the model's; ``pot_unc`` / ``efficiency_unc``
    override :class:`SignalSystematics` for this period.
    """

    name: str
    n_on_target: float
    efficiency: Any = 1.0
    background: Any = 0.0
    background_unc: float | None = None
    observed: int | None = None
    threshold: float | None = None
    energy: float | None = None
    efficiency_includes_threshold: bool = False
    pot_unc: float | None = None
    efficiency_unc: float | None = None
    allow_extrapolation: bool = False

    def __post_init__(self) -> None:
        self.n_on_target = float(self.n_on_target)
        if not (math.isfinite(self.n_on_target) and self.n_on_target >= 0):
            raise ValueError(f"{self.name}: n_on_target must be finite and >= 0")
        self.efficiency = as_efficiency(self.efficiency, self.allow_extrapolation)
        self.background, self.background_unc = _background(self.background, self.background_unc)
        if self.observed is not None:
            if int(self.observed) != self.observed or self.observed < 0:
                raise ValueError(f"{self.name}: observed must be a non-negative integer or None")
            self.observed = int(self.observed)

    def yield_threshold(self, model: SignalModel) -> float | None:
        """Threshold at which Y(m) is evaluated: the simulation's generation cut if the
        efficiency includes the E_miss acceptance, else the selection's threshold."""
        if self.efficiency_includes_threshold:
            return model.generation_threshold
        return model.threshold if self.threshold is None else float(self.threshold)

    def to_dict(self, model: SignalModel) -> dict:
        return {"name": self.name, "n_on_target": self.n_on_target,
                "background": {"value": self.background, "uncertainty": self.background_unc},
                "observed": self.observed,
                "threshold": model.threshold if self.threshold is None else self.threshold,
                "energy": model.energy if self.energy is None else self.energy,
                "efficiency": self.efficiency.to_dict(),
                "efficiency_includes_threshold": self.efficiency_includes_threshold,
                "yield_threshold": self.yield_threshold(model),
                "pot_unc": self.pot_unc, "efficiency_unc": self.efficiency_unc}


# ------------------------------------------------------------------------------------------
# the y variable
# ------------------------------------------------------------------------------------------
def thermal_y(epsilon, alpha_d: float, mass_ratio: float = MASS_RATIO):
    """y = ε² α_D (m_χ/m_A′)⁴ with m_A′ = ``mass_ratio`` · m_χ (PHYSICS.md §3)."""
    eps = np.asarray(epsilon, float)
    return eps**2 * alpha_d * mass_ratio ** (-4.0)


# ------------------------------------------------------------------------------------------
# the limit table
# ------------------------------------------------------------------------------------------
def _fa(x) -> np.ndarray:
    """Float array; None → nan."""
    return np.array([np.nan if v is None else float(v) for v in np.ravel(np.asarray(x, dtype=object))], float)


@dataclass
class LimitTable:
    """Coupling limits versus mass (one row per mass).

    ``observed`` is ``None`` while blinded; ``band`` is (nmass, 4) ordered
    ``[-2σ, -1σ, +1σ, +2σ]``; ``methods`` the statistical method per mass; ``y_tables`` maps
    α_D → ``{"m_chi", "observed", "expected", "band"}`` (dark photon only);
    ``signal_per_coupling`` the expected signal events per unit coupling^p (all periods).
    Non-finite limits (no signal at that mass) are ``inf`` here and ``null``/empty on disk.
    """

    model: str
    setup: str
    energy: float
    threshold: float | None
    coupling: str
    coupling_convention: str
    power: float
    cl: float
    masses: np.ndarray
    expected: np.ndarray
    band: np.ndarray
    methods: list[str]
    observed: np.ndarray | None = None
    exposure: float = 0.0
    background: dict = field(default_factory=dict)
    observed_count: int | None = None
    signal_per_coupling: np.ndarray | None = None
    periods: list[dict] = field(default_factory=list)
    systematics: dict = field(default_factory=dict)
    signal_model: dict = field(default_factory=dict)
    y_tables: dict[float, dict] = field(default_factory=dict)
    count_limit: dict | None = None
    notes: list[str] = field(default_factory=list)
    kind: str = "limit"  # or "projection"

    @property
    def blinded(self) -> bool:
        return self.observed is None

    @property
    def method(self) -> str:
        """The method used (``"mixed"`` if it differs between masses)."""
        used = sorted(set(self.methods))
        return used[0] if len(used) == 1 else "mixed: " + ", ".join(used)

    def points(self) -> list[dict]:
        obs = [None] * len(self.masses) if self.observed is None else self.observed
        return _clean([{"mass": float(m), "observed": None if o is None else float(o),
                        "expected": float(e), "band": [float(v) for v in b], "method": meth}
                       for m, o, e, b, meth in zip(self.masses, obs, self.expected, self.band,
                                                   self.methods)])

    def y_points(self, alpha_d: float) -> list[dict]:
        t = self.y_tables[alpha_d]
        obs = t["observed"] if t["observed"] is not None else [None] * len(t["m_chi"])
        return _clean([{"m_chi": float(mc), "mass": float(m), "observed": None if o is None else float(o),
                        "expected": float(e), "band": [float(v) for v in b], "method": meth}
                       for mc, m, o, e, b, meth in zip(t["m_chi"], self.masses, obs, t["expected"],
                                                       t["band"], self.methods)])

    def to_dict(self) -> dict:
        return _clean({
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "model": self.model, "setup": self.setup, "energy": self.energy,
            "threshold": self.threshold, "coupling": self.coupling,
            "coupling_convention": self.coupling_convention, "power": self.power,
            "cl": self.cl, "exposure": self.exposure, "background": self.background,
            "observed": self.observed_count, "blinded": self.blinded, "method": self.method,
            "points": self.points(),
            "y": [{"alpha_d": a, "m_A_over_m_chi": MASS_RATIO,
                   "definition": "y = epsilon^2 alpha_D (m_chi/m_A')^4, m_A' = 3 m_chi",
                   "points": self.y_points(a)} for a in sorted(self.y_tables)],
            "signal_per_coupling": self.signal_per_coupling,
            "periods": self.periods, "systematics": self.systematics,
            "signal_model": self.signal_model, "count_limit": self.count_limit,
            "notes": self.notes,
        })

    @classmethod
    def from_dict(cls, d: Mapping) -> "LimitTable":
        pts = d["points"]
        masses = _fa([p["mass"] for p in pts])
        blinded = d.get("blinded", all(p["observed"] is None for p in pts))
        inf = lambda a: np.where(np.isnan(a), np.inf, a)  # noqa: E731
        y_tables = {}
        for t in d.get("y", []):
            yp = t["points"]
            y_tables[float(t["alpha_d"])] = {
                "m_chi": _fa([p["m_chi"] for p in yp]),
                "observed": None if blinded else inf(_fa([p["observed"] for p in yp])),
                "expected": inf(_fa([p["expected"] for p in yp])),
                "band": inf(_fa([v for p in yp for v in p["band"]]).reshape(-1, 4)),
            }
        spc = d.get("signal_per_coupling")
        return cls(
            model=d["model"], setup=d.get("setup", ""), energy=d.get("energy"),
            threshold=d.get("threshold"), coupling=d["coupling"],
            coupling_convention=d.get("coupling_convention", ""), power=d.get("power", POWER.get(d["coupling"], 2.0)),
            cl=d["cl"], masses=masses,
            expected=inf(_fa([p["expected"] for p in pts])),
            band=inf(_fa([v for p in pts for v in p["band"]]).reshape(-1, 4)),
            methods=[p.get("method", d.get("method", "")) for p in pts],
            observed=None if blinded else inf(_fa([p["observed"] for p in pts])),
            exposure=d.get("exposure", 0.0), background=d.get("background", {}),
            observed_count=d.get("observed"),
            signal_per_coupling=None if spc is None else _fa(spc),
            periods=list(d.get("periods", [])), systematics=d.get("systematics", {}),
            signal_model=d.get("signal_model", {}), y_tables=y_tables,
            count_limit=d.get("count_limit"), notes=list(d.get("notes", [])),
            kind=d.get("kind", "limit"),
        )


# ------------------------------------------------------------------------------------------
# scan
# ------------------------------------------------------------------------------------------
def _check_masses(model: SignalModel, masses) -> np.ndarray:
    m = np.atleast_1d(np.asarray(masses, float))
    if m.size == 0 or not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError("masses must be finite and > 0")
    if model.is_meson:
        mm = MESON_MASSES[model.model]
        if not np.allclose(m, mm, rtol=1e-3):
            raise ValueError(f"{model.model}: the only mass is m = {mm} GeV")
    return m


def _default_scan_masses(model: SignalModel, periods: Sequence[Period]) -> np.ndarray:
    tabs = [p.efficiency for p in periods if not p.efficiency.is_constant]
    if model.is_meson or not tabs:
        return default_masses(model)
    lo = max(t.masses[0] for t in tabs)
    hi = min(t.masses[-1] for t in tabs)
    m = np.unique(np.concatenate([t.masses for t in tabs]))
    m = m[(m >= lo * (1 - 1e-9)) & (m <= hi * (1 + 1e-9))]
    if m.size == 0:
        raise ValueError("the efficiency tables of the periods have no common mass range")
    return m


def _blinded_placeholder(b: float, s: float) -> int:
    """Observed count used internally while blinded: the background-only median count (the
    observed limit is then discarded)."""
    return int(background_distribution(b, s).ppf(0.5))


def _signal_arrays(model: SignalModel, periods: Sequence[Period], masses, alpha_d=None):
    """Expected signal events per unit coupling^p per period: N · eff(m) · Y(m)."""
    out, notes = [], []
    for p in periods:
        eff = p.efficiency(masses)
        outside = p.efficiency.outside(masses)
        if np.any(outside):
            notes.append(f"{p.name}: efficiency extrapolated (nearest simulated value) at masses "
                         f"{np.asarray(masses)[outside].tolist()} GeV")
        if p.n_on_target == 0 or not np.any(eff > 0):
            out.append(np.zeros(len(masses)))
            continue
        y = model.yield_per_pot(masses, threshold=p.yield_threshold(model), alpha_d=alpha_d,
                                energy=p.energy)
        out.append(p.n_on_target * eff * y)
    return out, notes


def _period_log_unc(p: Period, syst: SignalSystematics) -> float:
    return syst.log_unc(pot=p.pot_unc, efficiency=p.efficiency_unc)


def _single_count_limit(p: Period, syst, cl, method, ntoys, seed, blinded) -> LimitResult:
    n_obs = _blinded_placeholder(p.background, p.background_unc) if blinded else p.observed
    kw: dict[str, Any] = {"seed": seed}
    if method in ("toys", "pyhf-toys"):
        kw["ntoys"] = ntoys
    return upper_limit(n_obs, p.background, p.background_unc, cl, method,
                       signal_rel_unc=math.expm1(_period_log_unc(p, syst)), **kw)


def _combined(periods, sigs, syst, cl, method, power, ntoys, seed, blinded, coupling="coupling"):
    if method == "exact":
        raise ValueError("method='exact' is a single-bin construction; a combination of "
                         f"{len(periods)} periods needs auto, toys or asymptotic")
    chans = []
    for p in periods:
        n_obs = _blinded_placeholder(p.background, p.background_unc) if blinded else p.observed
        chans.append(Channel(
            p.name, [1.0], [p.background], [p.background_unc], [n_obs], exposure=1.0,
            pot_unc=syst.pot if p.pot_unc is None else p.pot_unc, xsec_unc=syst.xsec,
            efficiency_unc=syst.efficiency if p.efficiency_unc is None else p.efficiency_unc,
            systematics=dict(syst.other), xsec_name="xsec"))
    r = scan_combined(chans, [np.asarray(s, float) for s in sigs], cl=cl, method=method,
                      coupling_ref=1.0, power=power, coupling=coupling, ntoys=ntoys, seed=seed)
    return r.observed, r.expected, r.band, list(r.details["methods"]), r.notes


def _limits(periods, sigs, syst, cl, method, power, ntoys, seed, blinded, count_limit=None,
            coupling="coupling"):
    """(observed, expected, band, methods, notes, count_limit) for signal arrays ``sigs``."""
    if len(periods) == 1:
        lim = count_limit or _single_count_limit(periods[0], syst, cl, method, ntoys, seed, blinded)
        ref = np.asarray(sigs[0], float)
        exp = coupling_from_count_limit(np.asarray(lim.expected_set)[None, :], ref[:, None], 1.0, power)
        obs = coupling_from_count_limit(lim.upper_limit, ref, 1.0, power)
        note = (f"single bin: count limit computed once ({lim.method}) and rescaled, "
                f"c_up = (N_up / (N_on_target eff(m) Y(m)))^(1/{power:g})")
        return obs, exp[:, 2], exp[:, [0, 1, 3, 4]], [lim.method] * len(ref), note, lim
    obs, exp, band, methods, note = _combined(periods, sigs, syst, cl, method, power, ntoys, seed, blinded,
                                              coupling)
    return obs, exp, band, methods, note, None


def scan(
    model: SignalModel,
    masses=None,
    *,
    n_on_target: float | None = None,
    efficiency=None,
    background=0.0,
    background_unc: float | None = None,
    observed: int | None = None,
    systematics: SignalSystematics | None = None,
    cl: float = 0.9,
    method: str = "auto",
    efficiency_includes_threshold: bool = False,
    allow_extrapolation: bool = False,
    periods: Sequence[Period] | None = None,
    thermal_alphas: Sequence[float] = THERMAL_ALPHAS,
    ntoys: int = DEFAULT_NTOYS,
    seed: int = DEFAULT_SEED,
) -> LimitTable:
    """Observed (if unblinded) and expected (median, ±1σ, ±2σ) coupling limits versus mass.

    Single period: ``n_on_target``, ``efficiency``, ``background`` (value or (value, unc) or
    an :class:`analysis.background.Estimate`), ``observed`` (``None`` = blinded → expected
    only).  Several periods: ``periods=[Period(...), ...]`` instead (not both).
    ``efficiency_includes_threshold``: see the module docstring (counts the E_miss acceptance
    once).  ``method``: auto | exact | asymptotic | toys (auto → exact for one period, toys or
    asymptotic for combinations, docs/statistics.md).  ``masses`` default to the simulated
    masses of the efficiency table(s), else :func:`default_masses`.
    """
    if not isinstance(model, SignalModel):
        raise TypeError("model must be a SignalModel")
    syst = SignalSystematics() if systematics is None else systematics
    if periods is None:
        if n_on_target is None or efficiency is None:
            raise ValueError("give n_on_target and efficiency (or periods=[...])")
        periods = [Period("all", n_on_target, efficiency, background, background_unc, observed,
                          efficiency_includes_threshold=efficiency_includes_threshold,
                          allow_extrapolation=allow_extrapolation)]
    else:
        if n_on_target is not None or efficiency is not None or observed is not None:
            raise ValueError("give either periods or n_on_target/efficiency/observed, not both")
        periods = list(periods)
        if not periods:
            raise ValueError("no periods")
        names = [p.name for p in periods]
        if len(set(names)) != len(names):
            raise ValueError(f"period names must be unique: {names}")
    obs_given = [p.observed is not None for p in periods]
    if any(obs_given) and not all(obs_given):
        raise ValueError("observed counts must be given for every period or for none (blinded)")
    blinded = not any(obs_given)
    masses = _check_masses(model, _default_scan_masses(model, periods) if masses is None else masses)

    sigs, notes = _signal_arrays(model, periods, masses)
    active = [i for i, s in enumerate(sigs) if np.any(s > 0)]
    if not active:
        raise ValueError("the expected signal is zero at every mass (exposure, efficiency or yield)")
    dropped = [periods[i].name for i in range(len(periods)) if i not in active]
    if dropped:
        notes.append(f"periods {dropped} dropped: zero expected signal at every mass (they carry "
                     "no information on the signal)")
    aper = [periods[i] for i in active]
    asig = [sigs[i] for i in active]
    power = model.power
    obs, exp, band, methods, note, lim = _limits(aper, asig, syst, cl, method, power, ntoys, seed, blinded,
                                                 coupling=model.coupling)
    notes.insert(0, note)
    if model.is_meson:
        notes.append("Br limit: N_sig = N_on_target * eff * (mesons per POT) * Br")
        if model.production_per_pot is None:
            for e in sorted({model.energy if p.energy is None else p.energy for p in aper}):
                notes.extend(_meson_yield(model.model, e, model.meson_xs_model)[1])
    else:
        thr_note = ", ".join(
            f"{p.name}: Y(E_X > {p.yield_threshold(model):g} GeV)"
            + (" [efficiency includes the E_miss acceptance]" if p.efficiency_includes_threshold
               else " [selection threshold]") for p in aper)
        notes.append(f"yield threshold per period: {thr_note}")
    if blinded:
        notes.append("blinded: expected limits only")

    # thermal-target tables (dark photon): y = eps^2 alpha_D / 3^4 with eps for that alpha_D
    y_tables: dict[float, dict] = {}
    if model.coupling == "epsilon" and model.model == "dark-photon":
        for a in thermal_alphas:
            a = float(a)
            o2, e2, b2 = obs, exp, band
            cand = np.zeros(len(masses), bool)
            for p in aper:
                cand |= model.alpha_d_mask(masses, p.energy)
            if np.any(cand) and not math.isclose(a, model.alpha_d):
                s2, _ = _signal_arrays(model, aper, masses[cand], alpha_d=a)
                diff = np.zeros(len(masses), bool)
                for s_a, s_b in zip(s2, asig):
                    diff[cand] |= ~np.isclose(s_a, s_b[cand], rtol=1e-12, atol=0)
                if np.any(diff):
                    sel = diff[cand]
                    o2, e2, b2 = (None if obs is None else obs.copy()), exp.copy(), band.copy()
                    o_d, e_d, b_d, _, _, _ = _limits(aper, [s[sel] for s in s2], syst, cl, method, power,
                                                     ntoys, seed, blinded, lim, model.coupling)
                    if o2 is not None:
                        o2[diff] = o_d
                    e2[diff], b2[diff] = e_d, b_d
                    notes.append(f"alpha_D = {a:g}: epsilon recomputed with the annihilation yield "
                                 f"for alpha_D = {a:g} at {int(diff.sum())} masses")
            y_tables[a] = {
                "m_chi": masses / MASS_RATIO,
                "observed": None if blinded else thermal_y(o2, a),
                "expected": thermal_y(e2, a),
                "band": thermal_y(b2, a),
            }

    bsum = sum(p.background for p in periods)
    bunc = math.sqrt(sum(p.background_unc**2 for p in periods))
    cl_dict = None
    if lim is not None:
        cl_dict = lim.to_dict()
        cl_dict["signal_rel_unc"] = math.expm1(_period_log_unc(aper[0], syst))
        if blinded:
            cl_dict["upper_limit"] = None
    return LimitTable(
        model=model.model, setup=model.setup, energy=model.energy, threshold=model.threshold,
        coupling=model.coupling, coupling_convention=model.coupling_convention, power=power,
        cl=cl, masses=masses, expected=np.asarray(exp, float), band=np.asarray(band, float),
        methods=list(methods), observed=None if blinded else np.asarray(obs, float),
        exposure=float(sum(p.n_on_target for p in periods)),
        background={"value": bsum, "uncertainty": bunc},
        observed_count=None if blinded else int(sum(p.observed for p in periods)),
        signal_per_coupling=np.sum(asig, axis=0),
        periods=[p.to_dict(model) for p in periods], systematics=syst.to_dict(),
        signal_model=model.to_dict(), y_tables=y_tables, count_limit=cl_dict, notes=notes,
    )


# ------------------------------------------------------------------------------------------
# outputs
# ------------------------------------------------------------------------------------------
_CSV_COLUMNS = ["observed", "expected", "minus2", "minus1", "plus1", "plus2", "method"]
_MASS_NAMES = {"dark-photon": "m_A'", "zprime": "m_Z'", "scalar": "m_S", "pseudoscalar": "m_a",
               "axial": "m_V", "eta": "m_eta", "eta-prime": "m_eta'"}


def _num(v) -> str:
    return "" if v is None or not math.isfinite(v) else repr(float(v))


def _write_csv(path: Path, lead: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(lead + _CSV_COLUMNS)
        for r in rows:
            w.writerow(r)


def _csv_rows(lead_cols, observed, expected, band, methods):
    n = len(expected)
    obs = [None] * n if observed is None else list(observed)
    for i in range(n):
        b = band[i]
        yield ([_num(c[i]) for c in lead_cols] + [_num(obs[i]), _num(expected[i])]
               + [_num(v) for v in b] + [methods[i]])


def _hep_values(a) -> list[dict]:
    return [{"value": float(v) if math.isfinite(v) else "-"} for v in a]


def _hep_expected(expected, band) -> list[dict]:
    out = []
    for e, b in zip(expected, band):
        if not (math.isfinite(e) and np.all(np.isfinite(b))):
            out.append({"value": "-"})
            continue
        out.append({"value": float(e), "errors": [
            {"label": "expected 1 sigma", "asymmetric": {"minus": float(b[1] - e), "plus": float(b[2] - e)}},
            {"label": "expected 2 sigma", "asymmetric": {"minus": float(b[0] - e), "plus": float(b[3] - e)}},
        ]})
    return out


def hepdata_table(table: LimitTable, alpha_d: float | None = None) -> dict:
    """HEPData table (independent/dependent variables; the band as asymmetric errors on the
    expected median: minus = (−1σ or −2σ) − median, plus = (+1σ or +2σ) − median)."""
    quals = [{"name": "CL", "value": table.cl}, {"name": "model", "value": table.model},
             {"name": "setup", "value": table.setup},
             {"name": "beam energy", "value": table.energy, "units": "GeV"},
             {"name": "missing-energy threshold", "value": "-" if table.threshold is None
              else table.threshold, "units": "GeV"},
             {"name": "particles on target", "value": table.exposure},
             {"name": "method", "value": table.method}]
    if alpha_d is None:
        x = {"header": {"name": _MASS_NAMES.get(table.model, "mass"), "units": "GeV"},
             "values": _hep_values(table.masses)}
        name = table.coupling
        quals = [{"name": "coupling", "value": table.coupling_convention}] + quals
        obs, exp, band = table.observed, table.expected, table.band
    else:
        t = table.y_tables[alpha_d]
        x = {"header": {"name": "m_chi", "units": "GeV"}, "values": _hep_values(t["m_chi"])}
        name = "y"
        quals = [{"name": "coupling", "value": "y = epsilon^2 alpha_D (m_chi/m_A')^4"},
                 {"name": "alpha_D", "value": alpha_d}, {"name": "m_A'/m_chi", "value": MASS_RATIO}] + quals
        obs, exp, band = t["observed"], t["expected"], t["band"]
    deps = []
    if obs is not None:
        deps.append({"header": {"name": f"{name} observed upper limit"},
                     "qualifiers": quals + [{"name": "limit", "value": "observed"}],
                     "values": _hep_values(obs)})
    deps.append({"header": {"name": f"{name} expected upper limit"},
                 "qualifiers": quals + [{"name": "limit", "value": "expected median, band as errors"}],
                 "values": _hep_expected(exp, band)})
    return {"independent_variables": [x], "dependent_variables": deps}


def _y_stem(alpha_d: float) -> str:
    return f"limits_y_alphaD{alpha_d:g}"


def write_limits(table: LimitTable, outdir) -> dict[str, Path]:
    """Write ``limits.json``, ``limits.csv``, ``limits.yaml`` (HEPData), and per α_D
    ``limits_y_alphaD<a>.csv/.yaml``, plus a HEPData ``submission.yaml`` listing the tables.
    Returns {name: path}."""
    import yaml

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    p = out / "limits.json"
    p.write_text(json.dumps(table.to_dict(), indent=1) + "\n")
    paths["json"] = p
    p = out / "limits.csv"
    _write_csv(p, ["mass"], _csv_rows([table.masses], table.observed, table.expected, table.band,
                                      table.methods))
    paths["csv"] = p
    p = out / "limits.yaml"
    p.write_text(yaml.safe_dump(hepdata_table(table), sort_keys=False))
    paths["yaml"] = p
    sub = [{"comment": f"{table.kind} on {table.coupling} for {table.model} ({table.setup}, "
                       f"{table.energy:g} GeV), {100 * table.cl:g}% CL CLs, method {table.method}"},
           {"name": f"{table.coupling} vs mass", "description": f"{100 * table.cl:g}% CL upper limits on "
            f"{table.coupling_convention}", "data_file": "limits.yaml",
            "keywords": [{"name": "cmenergies", "values": [table.energy]}]}]
    for a in sorted(table.y_tables):
        t = table.y_tables[a]
        stem = _y_stem(a)
        p = out / f"{stem}.csv"
        _write_csv(p, ["m_chi", "mass"], _csv_rows([t["m_chi"], table.masses], t["observed"],
                                                   t["expected"], t["band"], table.methods))
        paths[f"y_csv_{a:g}"] = p
        p = out / f"{stem}.yaml"
        p.write_text(yaml.safe_dump(hepdata_table(table, a), sort_keys=False))
        paths[f"y_yaml_{a:g}"] = p
        sub.append({"name": f"y vs m_chi, alpha_D = {a:g}",
                    "description": f"{100 * table.cl:g}% CL upper limits on y = eps^2 alpha_D "
                    f"(m_chi/m_A')^4, m_A' = 3 m_chi, alpha_D = {a:g}", "data_file": f"{stem}.yaml",
                    "keywords": [{"name": "cmenergies", "values": [table.energy]}]})
    p = out / "submission.yaml"
    p.write_text(yaml.safe_dump_all(sub, sort_keys=False))
    paths["submission"] = p
    return paths


def read_limits(path) -> LimitTable:
    """A :class:`LimitTable` from ``limits.json`` (or the directory containing it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "limits.json"
    return LimitTable.from_dict(json.loads(p.read_text()))


# ------------------------------------------------------------------------------------------
# projection
# ------------------------------------------------------------------------------------------
def projection_table(
    setup: str,
    energy: float | None,
    n_on_target: float,
    threshold: float | None,
    background,
    model: str = "dark-photon",
    efficiency=None,
    masses=None,
    cl: float = 0.9,
    selection=None,
    *,
    background_unc: float | None = None,
    systematics: SignalSystematics | None = None,
    efficiency_includes_threshold: bool = False,
    xsec_method: str = "etl",
    alpha_d: float = 0.5,
) -> LimitTable:
    """The :class:`LimitTable` of :func:`project` (``kind="projection"``, expected only)."""
    sm = SignalModel(model=model, setup=setup, energy=energy, threshold=threshold,
                     xsec_method=xsec_method, alpha_d=alpha_d)
    notes = []
    if efficiency is None:
        efficiency = efficiency_from_selection(selection, setup,
                                               default_masses(sm) if masses is None else masses,
                                               threshold=threshold, model=model)
        notes.append(f"efficiency from the signal simulation through selection "
                     f"{selection or 'built-in (nearest threshold)'}")
    elif selection is not None:
        notes.append(f"efficiency given explicitly; selection {selection} not used for it")
    t = scan(sm, masses, n_on_target=n_on_target, efficiency=efficiency, background=background,
             background_unc=background_unc, observed=None, systematics=systematics, cl=cl,
             method="exact", efficiency_includes_threshold=efficiency_includes_threshold)
    t.kind = "projection"
    t.notes = notes + t.notes
    return t


def projection_dict(t: LimitTable) -> dict:
    """JSON-ready projection: ``model``, ``coupling``, ``points`` [{mass, expected, band}],
    ``method``, ``n_on_target``, ``efficiency_values`` and the other table fields."""
    d = t.to_dict()
    d["points"] = [{k: p[k] for k in ("mass", "expected", "band")} for p in d["points"]]
    for y in d["y"]:
        y["points"] = [{k: p[k] for k in ("m_chi", "mass", "expected", "band")} for p in y["points"]]
    d["n_on_target"] = t.exposure
    eff = as_efficiency(t.periods[0]["efficiency"], allow_extrapolation=True)
    d["efficiency_values"] = _clean(eff(t.masses))
    d.pop("observed", None)
    return d


def project(*args: Any, **kw: Any) -> dict:
    """Expected limits for a planned exposure; arguments as :func:`projection_table`
    (setup, energy, n_on_target, threshold, background, model, efficiency, masses, cl,
    selection, ...): exact counting construction, background-only median and ±1σ/±2σ band of
    the count (docs/statistics.md "exact").

    ``efficiency``: number, ``(masses, values)``, CSV path or :class:`Efficiency`; if ``None``
    the simulated signal efficiency of ``selection`` (:func:`efficiency_from_selection`).
    Keyword options: ``background_unc``, ``systematics`` (default: 10 % cross section),
    ``efficiency_includes_threshold``, ``xsec_method``, ``alpha_d``.
    Returns a JSON-ready dict with ``model``, ``coupling``, ``points`` [{mass, expected, band}],
    ``method`` and the inputs; for the dark photon also ``y`` tables for α_D = 0.1, 0.5.
    """
    return projection_dict(projection_table(*args, **kw))


# ------------------------------------------------------------------------------------------
# configuration files (na64 limits CONFIG.yaml)
# ------------------------------------------------------------------------------------------
_CONFIG_KEYS = {"model", "setup", "energy", "threshold", "cl", "method", "masses", "alpha_d",
                "xsec_method", "generation_threshold", "include_annihilation", "systematics",
                "periods", "ntoys", "seed", "description"}
_PERIOD_KEYS = {"name", "n_on_target", "efficiency", "efficiency_includes_threshold", "background",
                "background_unc", "observed", "threshold", "energy", "pot_unc", "efficiency_unc",
                "allow_extrapolation"}


def scan_config(cfg: Mapping, base_dir=".") -> LimitTable:
    """:func:`scan` from a mapping (a YAML limits configuration, docs/limits.md).

    Unknown keys are errors; relative efficiency CSV paths are relative to ``base_dir``.
    """
    unknown = set(cfg) - _CONFIG_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed: {sorted(_CONFIG_KEYS)}")
    if not cfg.get("periods"):
        raise ValueError("'periods' (a list of run periods) is required")
    model = SignalModel(**{k: cfg[k] for k in ("model", "setup", "energy", "threshold", "alpha_d",
                                              "xsec_method", "generation_threshold",
                                              "include_annihilation") if k in cfg})
    sy = dict(cfg.get("systematics") or {})
    bad = set(sy) - {"pot", "xsec", "efficiency", "other"}
    if bad:
        raise ValueError(f"unknown systematics {sorted(bad)}; allowed: pot, xsec, efficiency, other")
    periods = []
    for i, pc in enumerate(cfg["periods"]):
        unknown = set(pc) - _PERIOD_KEYS
        if unknown:
            raise ValueError(f"period {i}: unknown keys {sorted(unknown)}; allowed: {sorted(_PERIOD_KEYS)}")
        pc = dict(pc)
        pc.setdefault("name", f"period{i}")
        eff = pc.get("efficiency", 1.0)
        if isinstance(eff, str):
            eff = Path(base_dir) / eff
        pc["efficiency"] = eff
        periods.append(Period(**pc))
    return scan(model, cfg.get("masses"), periods=periods, systematics=SignalSystematics(**sy),
                cl=float(cfg.get("cl", 0.9)), method=cfg.get("method", "auto"),
                ntoys=int(cfg.get("ntoys", DEFAULT_NTOYS)), seed=int(cfg.get("seed", DEFAULT_SEED)))


def load_limit_config(path) -> LimitTable:
    """:func:`scan_config` of a YAML file (read with ``yaml.safe_load``)."""
    import yaml

    p = Path(path)
    cfg = yaml.safe_load(p.read_text())
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{p}: expected a mapping at the top level")
    try:
        return scan_config(cfg, p.parent)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{p}: {exc}") from None
