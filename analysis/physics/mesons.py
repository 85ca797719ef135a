"""Neutral-meson production by π⁻ charge exchange for NA64h (issue 8, item 2).

NA64h (PHYSICS.md §1; arXiv:2406.01990) sends 50 GeV π⁻ onto the active target and looks for
π⁻ N → M⁰ X with M⁰ (η, η′) → invisible: the whole beam energy disappears.  This module
gives

* :func:`charge_exchange_xs` — σ(π⁻ A → M⁰ X) per nucleus in μb, M⁰ = π⁰, η, η′, ω, f₂(1270),
  from a pluggable cross-section model (default: the Geant4 ``G4ChargeExchangeXS``
  parametrisation of V. Lyubovitskij, PHYSICS.md §2);
* :func:`meson_yield_per_pot` — mesons produced per π⁻ on target in a thick target in which
  the beam is absorbed with the nuclear interaction length λ_I;
* :func:`invisible_signal_per_pot` and :func:`invisible_br_upper_limit` — signal events per
  π⁻ = yield × Br(M⁰ → invisible) × efficiency, and the Br limit for a given N_POT.

**Geant4 parametrisation** (``G4ChargeExchangeXS::GetElementCrossSection``, π⁻ branch,
Geant4 git commit 082ba4df9a7ffa7be4b27287e1dcad8306a0abaa; re-expressed here, PHYSICS.md §2)::

    σ_i(Z, A) = Z^(2/3) · A^(−β′ ln A) · A_i · x^(−(2−2α′)_i) · max(1 + g0_i + g1_i ln x, 0)
                / max(c0_i + c1_i ln x, 1e-16)                                   [μb]
    x = s / (10 GeV²),   s = m_p² + m_π² + 2 m_p E_π   (π⁻ on a free proton, E_π total energy)
    β′ = 0.0410

The factor Z^(2/3) is Geant4's "approximation of the Glauber–Gribov formula" from a proton to a
nucleus (charge exchange happens on the Z protons, shadowed); A^(−β′ ln A) accounts for the
absorption of the produced meson in the nucleus (Geant4 source comment).  Geant4 evaluates A
as the rounded natural-abundance mass number (207 for Pb); we use the A passed in (207.2 in the
materials table): the difference is 0.04 % for Pb.

**η′ caveat (PHYSICS.md §2).** With these parameters σ(η′)/σ(η) ≈ 0.029 at 50 GeV, whereas the
published NA64h limits Br(η → inv) < 1.1e-4 and Br(η′ → inv) < 2.1e-4 (same data, same
signature) imply a production ratio of ≈ 1.1/2.1 ≈ 0.52: the paper used other η′ inputs
(arXiv:2312.01703, Gninenko, Kirpichnikov, Kuleshov, Lyubovitskij, Zhevlakov).  Any η′ number
from the ``geant4`` model is therefore ≈ 18× below what NA64h assumed; every result involving
η′ carries this caveat in its ``notes``.  Use :class:`ScaledModel` / :class:`TableModel`
(or the registered ``"na64h-implied"`` model) to set σ(η′) from another source.

Units: GeV, cm, g/cm², cross sections in μb (1 μb = 1e-30 cm²).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .constants import M_P, N_A
from .formfactors import MATERIALS

# ------------------------------------------------------------------------------------------
# constants and meson names
# ------------------------------------------------------------------------------------------
#: charged-pion mass (GeV), PDG 2024
M_PI_CHARGED = 0.13957039
#: 1 μb in cm²
UB_TO_CM2 = 1.0e-30

#: canonical meson names, in Geant4's order (pi0, eta, eta_prime, omega, f2(1270))
MESONS: tuple[str, ...] = ("pi0", "eta", "eta-prime", "omega", "f2")

_ALIASES = {
    "pi0": "pi0", "π0": "pi0", "π⁰": "pi0",
    "eta": "eta", "η": "eta",
    "eta-prime": "eta-prime", "eta_prime": "eta-prime", "etaprime": "eta-prime",
    "etap": "eta-prime", "eta'": "eta-prime", "η'": "eta-prime", "η′": "eta-prime",
    "omega": "omega", "ω": "omega",
    "f2": "f2", "f2(1270)": "f2", "f₂": "f2",
}  # fmt: skip

ETA_PRIME_CAVEAT = (
    "eta-prime caveat (PHYSICS.md §2): the Geant4 G4ChargeExchangeXS parameters give "
    "sigma(eta')/sigma(eta) ~ 0.029 at 50 GeV, but the published NA64h limits "
    "(Br(eta->inv) < 1.1e-4, Br(eta'->inv) < 2.1e-4, arXiv:2406.01990) imply a production "
    "ratio ~ 0.52; the paper used other eta' inputs (arXiv:2312.01703). Geant4-model eta' "
    "yields are ~18x below NA64h's assumption; set sigma(eta') with ScaledModel/TableModel "
    "(e.g. model='na64h-implied') when comparing with the paper."
)


def canonical_meson(meson: str) -> str:
    """Canonical name ('pi0', 'eta', 'eta-prime', 'omega', 'f2') of a meson alias.

    Raises ValueError for an unknown meson.
    """
    key = str(meson).strip()
    name = _ALIASES.get(key) or _ALIASES.get(key.lower())
    if name is None:
        raise ValueError(
            f"unknown meson {meson!r}: expected one of {list(MESONS)} "
            f"(aliases: {sorted(_ALIASES)})"
        )
    return name


def meson_notes(meson: str) -> tuple[str, ...]:
    """Notes every result involving ``meson`` must carry (the η′ caveat for η′)."""
    return (ETA_PRIME_CAVEAT,) if canonical_meson(meson) == "eta-prime" else ()


# ------------------------------------------------------------------------------------------
# Geant4 (Lyubovitskij) parameter table
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChargeExchangeParameters:
    """One row of the Lyubovitskij parametrisation (π⁻ p → M⁰ n).

    ``norm`` = A_i (μb), ``slope`` = (2 − 2α′)_i, ``c0``/``c1`` and ``g0``/``g1`` as in
    ``G4ChargeExchangeXS.cc`` (arrays piA, pAP, pC0, pC1, pG0, pG1).
    """

    meson: str
    norm: float
    slope: float
    c0: float
    c1: float
    g0: float
    g1: float


#: Source of :data:`G4_CHARGE_EXCHANGE_PARAMETERS` (also PHYSICS.md §2 [code]).
G4_SOURCE = (
    "Geant4 G4ChargeExchangeXS (V. Lyubovitskij parametrisation for NA64; authors "
    "V. Ivanchenko, T. L. Chau), source/processes/hadronic/cross_sections/src/"
    "G4ChargeExchangeXS.cc, GetElementCrossSection, geant4 commit "
    "082ba4df9a7ffa7be4b27287e1dcad8306a0abaa; PHYSICS.md §2"
)

#: Parameters of the Geant4 parametrisation, one row per meson (data, cited above).
G4_CHARGE_EXCHANGE_PARAMETERS: dict[str, ChargeExchangeParameters] = {
    "pi0": ChargeExchangeParameters("pi0", 430.0, 1.04, 12.7, 1.57, 2.55, -0.23),
    "eta": ChargeExchangeParameters("eta", 36.0, 1.26, 6.0, 1.6, 4.6, -0.5),
    "eta-prime": ChargeExchangeParameters("eta-prime", 1.37, 1.35, 6.84, 1.7, 3.7, 0.0),
    "omega": ChargeExchangeParameters("omega", 2.0, 0.94, 6.5, 1.23, 5.5, 0.0),
    "f2": ChargeExchangeParameters("f2", 60.0, 0.94, 8.0, 2.6, 4.6, -2.0),
}
#: β′ of the nuclear absorption factor A^(−β′ ln A) (Geant4 ``beta_prime_pi``)
G4_BETA_PRIME = 0.0410
#: Geant4's lower clamp of the denominator c0 + c1 ln x
_G4_CSMAX = 1.0e-16


def mandelstam_s(p_beam_GeV, target_mass: float = M_P, beam_mass: float = M_PI_CHARGED):
    """s = m_T² + m_π² + 2 m_T E_π for a π⁻ of momentum p on a target at rest (GeV²).

    Geant4 uses the free-proton mass as target for every element (PHYSICS.md §2: "s for π⁻p").
    Vectorised in ``p_beam_GeV``.
    """
    p = np.asarray(p_beam_GeV, float)
    e = np.sqrt(p**2 + beam_mass**2)
    return target_mass**2 + beam_mass**2 + 2.0 * target_mass * e


def scaling_variable(p_beam_GeV):
    """x = s/(10 GeV²) of the Geant4 parametrisation (s for π⁻p), vectorised."""
    return mandelstam_s(p_beam_GeV) / 10.0


def nuclear_factor(Z, A):
    """Z^(2/3) · A^(−β′ ln A), β′ = 0.041: proton → nucleus factor of G4ChargeExchangeXS.

    Z^(2/3): Geant4's approximation of Glauber–Gribov shadowing for charge exchange on the
    Z protons; A^(−β′ ln A) = exp(−β′ (ln A)²): absorption of the produced meson (Geant4
    source comments).  Equal to 1 for a free proton (Z = A = 1).  Pb: 18.87 × 0.3115 = 5.878.
    """
    Z = np.asarray(Z, float)
    A = np.asarray(A, float)
    if np.any(Z < 1) or np.any(A < Z):
        raise ValueError(f"need Z >= 1 and A >= Z, got Z={Z}, A={A}")
    lnA = np.log(A)
    return np.power(Z, 2.0 / 3.0) * np.exp(-G4_BETA_PRIME * lnA * lnA)


def _as_output(value, like):
    """float for scalar input, ndarray otherwise."""
    return float(value) if np.ndim(like) == 0 else np.asarray(value, float)


def g4_proton_xs(meson: str, p_beam_GeV):
    """σ(π⁻ p → M⁰ n) in μb, Geant4/Lyubovitskij parametrisation (PHYSICS.md §2).

    σ = A_i x^(−(2−2α′)_i) max(1 + g0_i + g1_i ln x, 0)/max(c0_i + c1_i ln x, 1e-16),
    x = s/10 GeV² (s for π⁻p).  Returns 0 below the π⁻p threshold s ≤ (m_p + m_π)², as Geant4.
    Vectorised in momentum.  At 50 GeV: η 0.988 μb, η′ 0.0290 μb (PHYSICS.md: 0.99, 0.029).
    Validity: the high-energy (Regge) region the parametrisation was fitted to; it has no
    resonance structure and should not be used near threshold.
    """
    par = G4_CHARGE_EXCHANGE_PARAMETERS[canonical_meson(meson)]
    s = mandelstam_s(p_beam_GeV)
    x = s / 10.0
    lx = np.log(x)
    num = np.maximum(1.0 + par.g0 + par.g1 * lx, 0.0)
    den = np.maximum(par.c0 + par.c1 * lx, _G4_CSMAX)
    sig = par.norm * np.power(x, -par.slope) * num / den
    sig = np.where(s > (M_P + M_PI_CHARGED) ** 2, sig, 0.0)
    return _as_output(sig, p_beam_GeV)


# ------------------------------------------------------------------------------------------
# pluggable cross-section models
# ------------------------------------------------------------------------------------------
@runtime_checkable
class CrossSectionModel(Protocol):
    """Interface of a charge-exchange cross-section model.

    ``sigma(meson, p_beam_GeV, Z, A)`` returns σ(π⁻ A → M⁰ X) per nucleus in μb (vectorised in
    momentum); ``notes(meson)`` the caveats that go into every result using the model.
    """

    name: str
    source: str

    def sigma(self, meson: str, p_beam_GeV, Z, A): ...

    def notes(self, meson: str) -> tuple[str, ...]: ...


class Geant4ChargeExchange:
    """The Geant4 ``G4ChargeExchangeXS`` parametrisation (PHYSICS.md §2)::

        σ_i(Z, A) = Z^(2/3) A^(−0.041 ln A) σ_i(π⁻p; x),   x = s/10 GeV².

    See :func:`g4_proton_xs` and :func:`nuclear_factor`; η′ carries the PHYSICS.md §2 caveat.
    """

    name = "geant4"
    source = G4_SOURCE

    def sigma(self, meson, p_beam_GeV, Z, A):
        fac = float(nuclear_factor(Z, A))
        return _as_output(np.asarray(g4_proton_xs(meson, p_beam_GeV)) * fac, p_beam_GeV)

    def notes(self, meson):
        return (f"cross section: {self.source}",) + meson_notes(meson)


class ScaledModel:
    """A base model with per-meson factors and/or ratios to another meson.

    * ``factors={"eta-prime": f}``: σ_M = f · σ_base,M (cf. Geant4's SetCrossSectionFactor);
    * ``ratios={"eta-prime": ("eta", r)}``: σ_M = r · σ_base,reference, i.e. the reference
      meson's energy and A dependence with a fixed ratio (e.g. the η′/η ratio implied by the
      published NA64h limits or by arXiv:2312.01703).

    Mesons not listed are passed through to the base model.  ``source`` must say where the
    numbers come from; it is added to every result's notes.
    """

    def __init__(self, base="geant4", factors: Mapping[str, float] | None = None,
                 ratios: Mapping[str, tuple[str, float]] | None = None,
                 name: str = "scaled", source: str = "user-supplied scale factors"):  # fmt: skip
        self.base = get_model(base)
        self.factors = {canonical_meson(k): float(v) for k, v in (factors or {}).items()}
        self.ratios = {
            canonical_meson(k): (canonical_meson(ref), float(r)) for k, (ref, r) in (ratios or {}).items()
        }
        if set(self.factors) & set(self.ratios):
            raise ValueError("a meson cannot have both a factor and a ratio")
        for k, v in {**self.factors, **{m: r for m, (_, r) in self.ratios.items()}}.items():
            if not (v >= 0.0 and math.isfinite(v)):
                raise ValueError(f"scale for {k!r} must be finite and >= 0, got {v}")
        self.name = name
        self.source = source

    def sigma(self, meson, p_beam_GeV, Z, A):
        m = canonical_meson(meson)
        if m in self.ratios:
            ref, r = self.ratios[m]
            return _as_output(r * np.asarray(self.base.sigma(ref, p_beam_GeV, Z, A)), p_beam_GeV)
        f = self.factors.get(m, 1.0)
        return _as_output(f * np.asarray(self.base.sigma(m, p_beam_GeV, Z, A)), p_beam_GeV)

    def notes(self, meson):
        m = canonical_meson(meson)
        out = list(self.base.notes(m if m not in self.ratios else self.ratios[m][0]))
        if m in self.ratios:
            ref, r = self.ratios[m]
            out.append(f"{self.name}: sigma({m}) = {r:g} x sigma({ref}) of model "
                       f"{self.base.name!r}; source: {self.source}")
        elif m in self.factors:
            out.append(f"{self.name}: sigma({m}) scaled by {self.factors[m]:g}; source: {self.source}")
        if m == "eta-prime" and ETA_PRIME_CAVEAT not in out:
            out.append(ETA_PRIME_CAVEAT)
        return tuple(out)


class TableModel:
    """User numbers (measured values, another parametrisation) for some mesons.

    ``values[meson]`` is either a number (σ in μb, energy independent) or a pair
    ``(momenta_GeV, sigma_ub)`` interpolated linearly in (ln p, ln σ) — no extrapolation
    outside the table (ValueError).  The values are per **proton** (π⁻p → M⁰n) and scaled to
    a nucleus with ``a_dependence``: ``"geant4"`` (Z^(2/3) A^(−0.041 ln A), default),
    ``"none"`` (the numbers are used as they are, e.g. per-nucleus values for one target) or a
    callable ``f(Z, A)``.  Mesons absent from the table go to ``fallback`` (a model or registry
    name) or raise ValueError.
    """

    def __init__(self, values: Mapping[str, object], *, a_dependence="geant4", fallback=None,
                 name: str = "table", source: str = "user table"):  # fmt: skip
        self.values = {}
        for k, v in values.items():
            m = canonical_meson(k)
            if np.ndim(v) == 0:
                val = float(v)
                if not (val >= 0.0 and math.isfinite(val)):
                    raise ValueError(f"cross section for {m!r} must be finite and >= 0, got {v}")
                self.values[m] = val
            else:
                p, s = (np.asarray(a, float) for a in v)
                if p.ndim != 1 or p.shape != s.shape or p.size < 2 or np.any(np.diff(p) <= 0):
                    raise ValueError(f"table for {m!r}: need increasing momenta and matching sigmas")
                if np.any(p <= 0) or np.any(s <= 0):
                    raise ValueError(f"table for {m!r}: momenta and sigmas must be > 0 (log interpolation)")
                self.values[m] = (p, s)
        if a_dependence == "geant4":
            self._afac: Callable = lambda Z, A: float(nuclear_factor(Z, A))
        elif a_dependence == "none":
            self._afac = lambda Z, A: 1.0
        elif callable(a_dependence):
            self._afac = lambda Z, A: float(a_dependence(Z, A))
        else:
            raise ValueError("a_dependence must be 'geant4', 'none' or a callable f(Z, A)")
        self.a_dependence = a_dependence if isinstance(a_dependence, str) else "callable"
        self.fallback = get_model(fallback) if fallback is not None else None
        self.name = name
        self.source = source

    def _proton(self, m, p):
        v = self.values[m]
        if isinstance(v, float):
            return np.full(np.shape(p), v)
        pt, st = v
        p = np.asarray(p, float)
        if np.any(p < pt[0]) or np.any(p > pt[-1]):
            raise ValueError(f"{self.name}: momentum {p} outside the table range "
                             f"[{pt[0]:g}, {pt[-1]:g}] GeV for {m!r}")
        return np.exp(np.interp(np.log(p), np.log(pt), np.log(st)))

    def sigma(self, meson, p_beam_GeV, Z, A):
        m = canonical_meson(meson)
        if m not in self.values:
            if self.fallback is None:
                raise ValueError(f"model {self.name!r} has no value for {m!r} and no fallback")
            return self.fallback.sigma(m, p_beam_GeV, Z, A)
        return _as_output(self._proton(m, p_beam_GeV) * self._afac(Z, A), p_beam_GeV)

    def notes(self, meson):
        m = canonical_meson(meson)
        if m not in self.values and self.fallback is not None:
            return self.fallback.notes(m)
        out = [f"{self.name}: sigma({m}) from {self.source} (per proton, A-dependence "
               f"{self.a_dependence})"]
        if m == "eta-prime":
            out.append(ETA_PRIME_CAVEAT)
        return tuple(out)


#: Ratio σ(η′)/σ(η) implied by the published NA64h limits, 1.1e-4/2.1e-4 (arXiv:2406.01990),
#: assuming equal signal efficiency for η and η′ — *implied*, not a measured cross section.
NA64H_IMPLIED_ETAPRIME_ETA_RATIO = 1.1e-4 / 2.1e-4

#: Registry of cross-section models; add your own with :func:`register_model`.
CROSS_SECTION_MODELS: dict[str, CrossSectionModel] = {"geant4": Geant4ChargeExchange()}


def register_model(name: str, model: CrossSectionModel, overwrite: bool = False) -> None:
    """Add ``model`` to :data:`CROSS_SECTION_MODELS` under ``name``."""
    if not isinstance(model, CrossSectionModel):
        raise TypeError("a model needs name, source, sigma(meson, p, Z, A) and notes(meson)")
    if name in CROSS_SECTION_MODELS and not overwrite:
        raise ValueError(f"model {name!r} already registered (use overwrite=True)")
    CROSS_SECTION_MODELS[name] = model


def get_model(model) -> CrossSectionModel:
    """A model instance from a registry name or an object implementing the interface."""
    if isinstance(model, str):
        try:
            return CROSS_SECTION_MODELS[model]
        except KeyError:
            raise ValueError(
                f"unknown cross-section model {model!r}; known: {sorted(CROSS_SECTION_MODELS)}"
            ) from None
    if isinstance(model, CrossSectionModel):
        return model
    raise TypeError(f"not a cross-section model: {model!r}")


register_model(
    "na64h-implied",
    ScaledModel(
        "geant4",
        ratios={"eta-prime": ("eta", NA64H_IMPLIED_ETAPRIME_ETA_RATIO)},
        name="na64h-implied",
        source="ratio of the published NA64h limits 1.1e-4/2.1e-4 (arXiv:2406.01990), equal "
        "efficiencies assumed; stands in for the eta' inputs of arXiv:2312.01703",
    ),
)


def charge_exchange_xs(meson: str, p_beam_GeV, Z, A, model="geant4"):
    """σ(π⁻ A → M⁰ X) per nucleus in μb for M⁰ ∈ {pi0, eta, eta-prime, omega, f2}.

    Default ``model="geant4"``: the G4ChargeExchangeXS parametrisation of PHYSICS.md §2,
    σ_i = Z^(2/3) A_i x^(−(2−2α′)_i) A^(−0.041 ln A) max(1 + g0_i + g1_i ln x, 0)/(c0_i + c1_i ln x),
    x = s/10 GeV² with s for π⁻p at momentum ``p_beam_GeV`` (vectorised).  ``model`` may be a
    registry name (:data:`CROSS_SECTION_MODELS`) or any :class:`CrossSectionModel`
    (:class:`ScaledModel`, :class:`TableModel`).

    η′ caveat: the Geant4 η′ parameters give σ(η′)/σ(η) ≈ 0.029, ≈ 18× below the ratio
    (≈ 0.52) implied by the published NA64h limits (PHYSICS.md §2; arXiv:2312.01703 inputs).
    """
    canonical_meson(meson)
    return get_model(model).sigma(meson, p_beam_GeV, Z, A)


# ------------------------------------------------------------------------------------------
# targets and nuclear interaction lengths
# ------------------------------------------------------------------------------------------
#: Nuclear interaction length λ_I (g/cm²), PDG "Atomic and Nuclear Properties of Materials"
#: (pdg.lbl.gov/AtomicNuclearProperties) [check: values remembered from the PDG tables; in cm
#: they give Pb 17.59, polystyrene 77.07, Fe 16.77, Cu 15.32, W 9.946 cm].  λ_I is defined with
#: the *nucleon* inelastic cross section; the π⁻ inelastic cross section on nuclei is smaller, so
#: the pion attenuation length is longer (PDG also lists a "pion interaction length"), see
#: ``lambda_scale`` in :func:`meson_yield_per_pot`.
NUCLEAR_INTERACTION_LENGTH_GCM2: dict[str, float] = {
    "Pb": 199.6,
    "W": 191.9,
    "Cu": 137.3,
    "Fe": 132.1,
    "Si": 108.4,
    "Al": 107.2,
    "C": 85.8,
    "Sc": 81.7,  # polystyrene
}


def _material(name: str):
    for key, mat in MATERIALS.items():
        if key.lower() == str(name).lower():
            return key, mat
    raise ValueError(f"unknown material {name!r}; known: {sorted(MATERIALS)}")


def interaction_length_cm(material: str) -> float:
    """λ_I in cm of a material of :data:`formfactors.MATERIALS` (PDG λ_I/ρ)."""
    key, mat = _material(material)
    if key == "polystyrene":
        key = "Sc"
    if key not in NUCLEAR_INTERACTION_LENGTH_GCM2:
        raise ValueError(f"no nuclear interaction length for material {material!r}; known: "
                         f"{sorted(NUCLEAR_INTERACTION_LENGTH_GCM2)}")
    return NUCLEAR_INTERACTION_LENGTH_GCM2[key] / mat.density


@dataclass(frozen=True)
class HadronTarget:
    """A (layered) active target for hadron beams.

    ``layers`` is one period ((material, thickness_cm), ...) repeated to ``depth_cm``.
    """

    name: str
    layers: tuple
    depth_cm: float
    description: str = ""

    def __post_init__(self):
        if not self.layers or any(d <= 0 for _, d in self.layers) or self.depth_cm <= 0:
            raise ValueError("target needs layers with positive thickness and a positive depth")
        for m, _ in self.layers:
            _material(m)

    @classmethod
    def uniform(cls, material: str, thickness_cm: float) -> HadronTarget:
        key, _ = _material(material)
        return cls(key, ((key, float(thickness_cm)),), float(thickness_cm), f"uniform {key}")

    @property
    def period_cm(self) -> float:
        return sum(d for _, d in self.layers)

    def depth_x0(self, depth_cm: float | None = None) -> float:
        """Depth in radiation lengths (homogenised over a period)."""
        d = self.depth_cm if depth_cm is None else depth_cm
        per = sum(t / MATERIALS[_material(m)[0]].x0_cm for m, t in self.layers) / self.period_cm
        return d * per

    def depth_lambda(self, depth_cm: float | None = None) -> float:
        """Depth in nuclear interaction lengths λ_I (homogenised over a period)."""
        d = self.depth_cm if depth_cm is None else depth_cm
        per = sum(t / interaction_length_cm(m) for m, t in self.layers) / self.period_cm
        return d * per

    def segments(self, max_depth_cm: float | None = None):
        """(material, start_cm, thickness_cm) of every layer up to min(depth, max_depth)."""
        L = self.depth_cm if max_depth_cm is None else min(self.depth_cm, float(max_depth_cm))
        out, z = [], 0.0
        while z < L * (1 - 1e-12):
            for m, t in self.layers:
                if z >= L * (1 - 1e-12):
                    break
                d = min(t, L - z)
                out.append((m, z, d))
                z += d
        return out


#: NA64 ECAL shashlik: 1.5 mm Pb + 1.5 mm Sc periods [check: NA64 ECAL description; same
#: geometry as analysis.physics.yields/dimuon], 40 X₀ deep (PHYSICS.md §1: preshower + main).
_ECAL_PERIOD = (("Pb", 0.15), ("Sc", 0.15))
_ECAL_X0_PER_PERIOD = 0.15 / MATERIALS["Pb"].x0_cm + 0.15 / MATERIALS["Sc"].x0_cm
ECAL_DEPTH_X0 = 40.0
HADRON_TARGETS: dict[str, HadronTarget] = {
    "ECAL": HadronTarget(
        "ECAL",
        _ECAL_PERIOD,
        ECAL_DEPTH_X0 / _ECAL_X0_PER_PERIOD * 0.30,
        "NA64 Pb/Sc shashlik ECAL used as the NA64h active target (PHYSICS.md §1; "
        "arXiv:2406.01990): 1.5 mm Pb + 1.5 mm Sc [check], 40 X0 = 44.3 cm = 1.55 lambda_I",
    ),
}


def get_hadron_target(target, thickness_cm: float | None = None) -> HadronTarget:
    """'ECAL', a :class:`HadronTarget`, or a material name with ``thickness_cm`` (uniform)."""
    if isinstance(target, HadronTarget):
        return target
    for key, tgt in HADRON_TARGETS.items():
        if key.lower() == str(target).lower():
            if thickness_cm is not None:
                raise ValueError("thickness_cm applies to uniform material targets only; "
                                 "use max_depth to truncate the ECAL")
            return tgt
    _material(target)  # clear error for unknown names
    if thickness_cm is None:
        raise ValueError(f"target {target!r} is a material: give thickness_cm")
    return HadronTarget.uniform(target, thickness_cm)


# ------------------------------------------------------------------------------------------
# thick-target yield
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MesonYield:
    """Mesons M⁰ produced per π⁻ on target (``value``) and how it was obtained."""

    value: float
    meson: str
    energy: float
    target: str
    model: str
    depth_cm: float
    depth_x0: float
    depth_lambda: float
    interacting_fraction: float  # 1 − exp(−∫dz/λ): π⁻ that interact within the depth
    sigma_ub: dict  # σ per nucleus (μb) of every element, key "Z=..,A=.."
    homogeneous: bool
    notes: tuple = field(default=())


def _element_terms(material: str, meson, p, model):
    """Σ_el n_el σ_el (cm⁻¹) of a material and the σ per element (μb)."""
    _, mat = _material(material)
    total, sig = 0.0, {}
    for Z, A, w in mat.components:
        s = float(model.sigma(meson, p, Z, A))
        sig[f"Z={Z:g},A={A:g}"] = s
        total += mat.density * w * N_A / A * s * UB_TO_CM2
    return total, sig


def meson_yield_per_pot(meson: str, energy: float = 50.0, target="ECAL", model="geant4",
                        max_depth: float | None = None, thickness_cm: float | None = None,
                        lambda_scale: float = 1.0, homogeneous: bool = False) -> MesonYield:  # fmt: skip
    """Mesons produced per π⁻ on target in a thick target (PHYSICS.md §2, NA64h row of §1).

    The π⁻ beam is absorbed with the interaction length λ(z); the meson yield is::

        N_M/N_π = ∫₀^L dz S(z) exp(−∫₀^z dz′/λ(z′)),   S = Σ_el n_el σ_el(π⁻ A → M⁰ X),

    evaluated exactly layer by layer (piecewise constant S, λ): each layer j of thickness d_j
    adds S_j λ_j e^(−τ_j)(1 − e^(−d_j/λ_j)), τ_j the optical depth in front of it.  For a
    uniform target this is S λ (1 − e^(−L/λ)).  ``homogeneous=True`` uses the period-averaged
    S and 1/λ instead (+0.15 % for the 3 mm Pb-first ECAL period).

    Parameters: ``energy`` = π⁻ momentum (GeV); ``target`` = "ECAL" (NA64 Pb/Sc shashlik, 40 X₀
    = 44.3 cm = 1.55 λ_I, default), a material name of :data:`formfactors.MATERIALS` with
    ``thickness_cm``, or a :class:`HadronTarget`; ``max_depth`` (cm) — count only charge
    exchanges within the first ``max_depth`` cm (the NA64h signature needs the π⁻ to convert
    before it has deposited visible energy/left the calorimeter acceptance: the efficiency of
    the selection for a given depth is the user's input); ``lambda_scale`` multiplies λ_I
    (π⁻–nucleus inelastic cross sections are smaller than nucleon ones, i.e. λ_π > λ_I:
    use e.g. 1.1–1.3 to study this; default 1 = PDG λ_I).

    Approximations (sizes checked in tests/docs): the beam is absorbed by every inelastic
    interaction with λ_I (charge exchange itself is part of it); σ evaluated at the beam
    momentum (ionisation loss before the interaction ≤ 0.33 GeV over the full ECAL changes σ by
    ≤ 1 %); the meson decays at the production point (η: γcτ ≈ 14 nm at 50 GeV), so Br applies
    directly; its absorption inside the production nucleus is in the A^(−β′ ln A) factor.  The
    recoil system (neutron, excited nucleus) deposits some energy in the target — a signal
    selection must accept it (part of the efficiency, not of this yield).
    """
    m = canonical_meson(meson)
    mdl = get_model(model)
    tgt = get_hadron_target(target, thickness_cm)
    if not (energy > 0 and math.isfinite(energy)):
        raise ValueError(f"energy must be a positive momentum in GeV, got {energy}")
    if max_depth is not None and not max_depth > 0:
        raise ValueError(f"max_depth must be > 0 cm, got {max_depth}")
    if not lambda_scale > 0:
        raise ValueError("lambda_scale must be > 0")

    mats = {mt for mt, _ in tgt.layers}
    S = {}
    sig_all = {}
    for mt in mats:
        S[mt], sig = _element_terms(mt, m, energy, mdl)
        sig_all.update(sig)
    lam = {mt: interaction_length_cm(mt) * lambda_scale for mt in mats}

    L = tgt.depth_cm if max_depth is None else min(tgt.depth_cm, float(max_depth))
    if homogeneous:
        per = tgt.period_cm
        S_bar = sum(S[mt] * d for mt, d in tgt.layers) / per
        inv_lam = sum(d / lam[mt] for mt, d in tgt.layers) / per
        tau = L * inv_lam
        value = S_bar / inv_lam * -math.expm1(-tau)
    else:
        segs = tgt.segments(L)
        s_arr = np.array([S[mt] for mt, _, _ in segs])
        l_arr = np.array([lam[mt] for mt, _, _ in segs])
        d_arr = np.array([d for _, _, d in segs])
        dtau = d_arr / l_arr
        tau_in = np.concatenate(([0.0], np.cumsum(dtau)[:-1]))
        value = float(np.sum(s_arr * l_arr * np.exp(-tau_in) * -np.expm1(-dtau)))
        tau = float(np.sum(dtau))

    notes = list(mdl.notes(m))
    notes.append(f"target: {tgt.description or tgt.name}; depth used {L:.2f} cm "
                 f"({tgt.depth_x0(L):.1f} X0, {tgt.depth_lambda(L) / lambda_scale:.2f} lambda_I)")
    notes.append(f"beam attenuation: PDG nuclear interaction length lambda_I x {lambda_scale:g} "
                 "[check: the pi- attenuation length is longer than lambda_I]")
    notes.append("signature: the charge exchange must occur before the pi- has deposited "
                 "visible energy (first part of the target; see max_depth); the recoil neutron / "
                 "excited nucleus deposits some energy: include it in the efficiency")
    notes.append("meson decays at the production point; sigma at the beam momentum "
                 "(ionisation loss before the interaction changes sigma by <= 1 %)")
    return MesonYield(
        value=float(value),
        meson=m,
        energy=float(energy),
        target=tgt.name,
        model=mdl.name,
        depth_cm=float(L),
        depth_x0=float(tgt.depth_x0(L)),
        depth_lambda=float(tau),
        interacting_fraction=float(-math.expm1(-tau)),
        sigma_ub=sig_all,
        homogeneous=homogeneous,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------------------------------
# invisible decays: signal per POT and Br limits
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InvisibleSignal:
    """Signal events per π⁻ on target = yield × Br(M⁰ → invisible) × efficiency."""

    value: object  # float, or ndarray if br was an array
    yield_per_pot: float
    br: object
    efficiency: float
    meson: str
    model: str
    notes: tuple = field(default=())


def invisible_signal_per_pot(meson: str, br, efficiency: float = 1.0, energy: float = 50.0,
                             target="ECAL", model="geant4", **yield_kw) -> InvisibleSignal:  # fmt: skip
    """N_sig/N_POT = Y_M × Br(M⁰ → invisible) × ε (PHYSICS.md §3: linear in Br).

    ``Y_M`` from :func:`meson_yield_per_pot` (``yield_kw`` are passed on, e.g. ``max_depth``);
    ``br`` may be an array; ``efficiency`` is the full signal efficiency (selection, recoil
    energy below the cuts, trigger, …) supplied by the caller.
    """
    if not 0.0 <= efficiency <= 1.0:
        raise ValueError(f"efficiency must be in [0, 1], got {efficiency}")
    b = np.asarray(br, float)
    if np.any(b < 0) or np.any(b > 1):
        raise ValueError("Br must be in [0, 1]")
    y = meson_yield_per_pot(meson, energy, target, model, **yield_kw)
    val = y.value * b * efficiency
    return InvisibleSignal(
        value=float(val) if np.ndim(br) == 0 else val,
        yield_per_pot=y.value,
        br=br,
        efficiency=float(efficiency),
        meson=y.meson,
        model=y.model,
        notes=y.notes,
    )


@dataclass(frozen=True)
class BrLimit:
    """Upper limit on Br(M⁰ → invisible) = N_up/(N_POT × yield × efficiency)."""

    value: float
    meson: str
    n_pot: float
    n_signal_upper: float
    efficiency: float
    yield_per_pot: float
    model: str
    notes: tuple = field(default=())


#: NA64h published numbers (arXiv:2406.01990 abstract; PHYSICS.md §1): π⁻ on target and
#: 90 % CL limits.
NA64H_PUBLISHED = {
    "n_pot": 2.9e9,
    "energy": 50.0,
    "br_limit": {"eta": 1.1e-4, "eta-prime": 2.1e-4},
    "source": "arXiv:2406.01990 (NA64 Collaboration, 2024)",
}
#: 90 % CL upper limit on the signal count for 0 observed events (PHYSICS.md §4): −ln(0.1)
N_UP_ZERO_OBSERVED_90CL = -math.log(0.1)


def invisible_br_upper_limit(meson: str, n_pot: float, n_signal_upper: float = N_UP_ZERO_OBSERVED_90CL,
                             efficiency: float = 1.0, energy: float = 50.0, target="ECAL",
                             model="geant4", **yield_kw) -> BrLimit:  # fmt: skip
    """Br(M⁰ → inv) < N_up/(N_POT · Y_M · ε); N_up = 2.30 for 0 events at 90 % CL (PHYSICS.md §4).

    Linear counting only (background-free single bin); for background or systematics use the
    statistics package and rescale: the limit is ∝ 1/(Y ε).
    """
    if not n_pot > 0 or not n_signal_upper > 0:
        raise ValueError("n_pot and n_signal_upper must be > 0")
    s = invisible_signal_per_pot(meson, 1.0, efficiency, energy, target, model, **yield_kw)
    if s.value <= 0:
        raise ValueError("zero signal yield: no limit")
    notes = s.notes + (f"N_up = {n_signal_upper:.3g} signal events (0 observed, 90% CL: 2.30, "
                       "PHYSICS.md §4)",)
    return BrLimit(
        value=n_signal_upper / (n_pot * s.value),
        meson=s.meson,
        n_pot=float(n_pot),
        n_signal_upper=float(n_signal_upper),
        efficiency=float(efficiency),
        yield_per_pot=s.yield_per_pot,
        model=s.model,
        notes=notes,
    )


def na64h_comparison(efficiency: float = 1.0, model="geant4", **yield_kw) -> list[dict]:
    """Framework Br limits for the published NA64h exposure next to the published limits.

    One row per meson (η, η′): yield per POT, predicted limit, published limit, their ratio and
    the yield × efficiency the published limit implies (2.3/(N_POT × Br_pub)).
    """
    rows = []
    for m, pub in NA64H_PUBLISHED["br_limit"].items():
        lim = invisible_br_upper_limit(m, NA64H_PUBLISHED["n_pot"], efficiency=efficiency,
                                       energy=NA64H_PUBLISHED["energy"], model=model, **yield_kw)  # fmt: skip
        rows.append({
            "meson": m,
            "model": lim.model,
            "efficiency": efficiency,
            "yield_per_pot": lim.yield_per_pot,
            "br_limit": lim.value,
            "br_published": pub,
            "ratio_to_published": lim.value / pub,
            "implied_yield_x_eff": N_UP_ZERO_OBSERVED_90CL / (NA64H_PUBLISHED["n_pot"] * pub),
            "notes": lim.notes,
        })  # fmt: skip
    return rows


__all__ = [
    "M_PI_CHARGED",
    "MESONS",
    "ETA_PRIME_CAVEAT",
    "canonical_meson",
    "meson_notes",
    "ChargeExchangeParameters",
    "G4_SOURCE",
    "G4_CHARGE_EXCHANGE_PARAMETERS",
    "G4_BETA_PRIME",
    "mandelstam_s",
    "scaling_variable",
    "nuclear_factor",
    "g4_proton_xs",
    "CrossSectionModel",
    "Geant4ChargeExchange",
    "ScaledModel",
    "TableModel",
    "NA64H_IMPLIED_ETAPRIME_ETA_RATIO",
    "CROSS_SECTION_MODELS",
    "register_model",
    "get_model",
    "charge_exchange_xs",
    "NUCLEAR_INTERACTION_LENGTH_GCM2",
    "interaction_length_cm",
    "HadronTarget",
    "HADRON_TARGETS",
    "ECAL_DEPTH_X0",
    "get_hadron_target",
    "MesonYield",
    "meson_yield_per_pot",
    "InvisibleSignal",
    "invisible_signal_per_pot",
    "BrLimit",
    "NA64H_PUBLISHED",
    "N_UP_ZERO_OBSERVED_90CL",
    "invisible_br_upper_limit",
    "na64h_comparison",
]
