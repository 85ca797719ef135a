"""Signal yields per particle on target (PHYSICS.md §2 "Yield in a thick active target").

Thick active target (electron and positron setups, NA64e ECAL)::

    N_X/N_beam = Σ_c f_c X0_c Σ_el (w_el N_A / A_el) ∫ dE T(E₀, E) σ_el(E; E_X > E_thr)

T(E₀, E) is the depth-integrated differential track length of all shower e± in radiation
lengths per GeV (:mod:`.tracklength`, approximation A), f_c the fraction of the radiation
length contributed by layer material c (Pb carries ≈ 98.7 % of the X₀ of the Pb/Sc
shashlik), X0_c its radiation length in g/cm², and the missing-energy cut is
E_miss = E_beam − E_ECAL = E_X > E_thr (the X carries E_X away; the recoil lepton and
nucleus deposit the rest).  Only e± with E ≥ ``SHOWER_E_MIN`` = 1 GeV are integrated
(approximation A is valid for E ≫ E_c; the cut is irrelevant for thresholds ≥ 1 GeV).

Resonant annihilation of shower (or beam) positrons (dark photon only)::

    N_ann/N_beam = Σ_c f_c X0_c Σ_el (w_el N_A Z_el / A_el) ∫ dE T₊(E₀, E) σ_BW(E) Θ(E > E_thr)

(Breit–Wigner of :mod:`.annihilation`; narrow-width form n_e (2π²αε²/m_e) Br T₊(E_R) when
the resonance is narrower than 5 % of E_R; only E_R ≥ ``ANNIHILATION_E_MIN`` = 1 GeV).

Thin target (muon setup): the muon crosses the active target once with negligible energy
loss (≈ 0.3 GeV ionisation + ≈ 0.2 GeV radiative in 22.5 cm of Pb at 160 GeV, < 0.5 % of
E₀), so N_X/N_μ = Σ_c n_c L_c σ_c(E₀; E_X > E_thr), with L_c the path in material c.

Coupling scaling: every yield is computed at the requested coupling and is ∝ coupling²
(ε² or g²) for these production-only signals; :func:`yield_per_coupling2` returns
N/(N_beam coupling²) (the annihilation width Γ_ee ∝ ε² is negligible against Γ_χχ, so the
scaling holds to < 1e-8 there too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from . import annihilation as ann
from .constants import GEV2_TO_PB, N_A, PB_TO_CM2
from .cross_sections import (
    MODELS,
    THETA_MAX,
    coupling_convention,
    effective_epsilon,
    resolve_method,
    sigma_above_vec,
    sigma_element_unit,
)
from .formfactors import get_material
from .tracklength import cumulative_track_length_y

#: lowest shower-particle energy integrated (GeV); approximation A needs E ≫ E_c
SHOWER_E_MIN = 1.0
#: lowest resonance energy for which annihilation is included (GeV)
ANNIHILATION_E_MIN = 1.0
GEV2_TO_CM2 = GEV2_TO_PB * PB_TO_CM2


@dataclass(frozen=True)
class Setup:
    """An experimental setup: beam, active target layers and defaults.

    ``layers``: ((material, thickness_cm), ...) of one sampling period; ``depth_x0`` the
    total depth in radiation lengths.  Thick setups integrate the shower over all depths;
    thin setups use the path length through ``depth_x0`` of the layer structure.
    """

    name: str
    beam: str
    default_energy: float
    default_threshold: float
    layers: tuple
    depth_x0: float
    thick: bool
    description: str

    def layer_x0(self) -> np.ndarray:
        """Radiation lengths per layer of one period."""
        return np.array([d / get_material(m).x0_cm for m, d in self.layers])

    def x0_fractions(self) -> dict:
        """Fraction of the radiation length contributed by each material (Pb ≈ 0.987)."""
        tau = self.layer_x0()
        return {m: float(t / tau.sum()) for (m, _), t in zip(self.layers, tau)}

    def path_lengths_cm(self) -> dict:
        """Total path (cm) through each material for a straight track over ``depth_x0``."""
        n_periods = self.depth_x0 / self.layer_x0().sum()
        return {m: n_periods * d for m, d in self.layers}

    def effective_material(self) -> str:
        fr = self.x0_fractions()
        return ", ".join(f"{m}: {100 * f:.1f}% of X0" for m, f in fr.items())


#: NA64e ECAL: Pb/Sc shashlik, ≈ 40 X₀ (PHYSICS.md §1). Layer thicknesses 1.5 mm Pb +
#: 1.5 mm Sc per period [check: NA64 ECAL technical description].
_ECAL_LAYERS = (("Pb", 0.15), ("Sc", 0.15))
SETUPS: dict[str, Setup] = {
    "electron": Setup("electron", "electron", 100.0, 50.0, _ECAL_LAYERS, 40.0, True,
                      "NA64e: 100 GeV e- on the Pb/Sc shashlik ECAL (~40 X0), E_miss > 50 GeV (2016-22)"),
    "positron": Setup("positron", "positron", 100.0, 50.0, _ECAL_LAYERS, 40.0, True,
                      "NA64e positron mode: e+ on the same ECAL"),
    "muon": Setup("muon", "muon", 160.0, 80.0, _ECAL_LAYERS, 40.0, False,
                  "NA64mu: 160 GeV mu on the Pb/Sc active target (~40 X0, thin-target treatment), "
                  "p_out < 80 GeV i.e. E_X > 80 GeV"),
}  # fmt: skip


def get_setup(setup) -> Setup:
    if isinstance(setup, Setup):
        return setup
    try:
        return SETUPS[setup]
    except KeyError:
        raise ValueError(f"unknown setup {setup!r}; expected one of {sorted(SETUPS)}") from None


@dataclass(frozen=True)
class YieldResult:
    """Signal yield per particle on target (N_X / N_beam)."""

    signal_per_particle: float
    brem_per_particle: float
    annihilation_per_particle: float
    per_coupling2: float
    setup: str
    beam: str
    energy: float
    model: str
    mass: float
    coupling: float
    coupling_convention: str
    threshold: float
    method: str
    method_used: str
    effective_target: str
    notes: tuple = field(default=())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["units"] = {"signal_per_particle": "produced X (E_X > threshold) per beam particle",
                      "energy": "GeV", "mass": "GeV", "threshold": "GeV"}  # fmt: skip
        return d


# ------------------------------------------------------------------------------------------
# y grids for Stieltjes integrals over the track length (P(y) ∝ 1/(y ln²y) at y → 0)
# ------------------------------------------------------------------------------------------
def _y_edges(y_max: float, y_refine: float | None = None, n: int = 160) -> np.ndarray:
    parts = [np.array([0.0]), np.geomspace(1e-9, 1e-2, 16), np.linspace(1e-2, max(y_max, 1e-2), n)]
    if y_refine is not None and 0 < y_refine < y_max:
        d = np.geomspace(1e-6, 0.05, 12)
        parts += [y_refine - d, y_refine + d, [y_refine]]
    y = np.unique(np.concatenate(parts))
    return y[(y >= 0) & (y <= y_max)]


@lru_cache(maxsize=512)
def _cum_track(species: str, primary: str, y_edges_key: tuple) -> np.ndarray:
    return cumulative_track_length_y(np.array(y_edges_key), species, primary)


def _stieltjes_nodes(energy, y_max, species, primary, y_refine=None, n=160):
    y = _y_edges(y_max, y_refine, n)
    T = _cum_track(species, primary, tuple(y))
    dT = np.diff(T)
    ym = 0.5 * (y[1:] + y[:-1])
    return energy * np.exp(-ym), dT


# ------------------------------------------------------------------------------------------
# yields
# ------------------------------------------------------------------------------------------
def _brem_thick(setup: Setup, energy, model, mass, eps, threshold, method_used, inelastic):
    """Brem yield in the thick target for ε_eff = ``eps``."""
    e_min = max(threshold, SHOWER_E_MIN)
    if e_min >= energy:
        return 0.0
    y_max = np.log(energy / e_min)
    E, dT = _stieltjes_nodes(energy, y_max, "e", setup.beam, None, 160 if method_used != "ww" else 40)
    total = 0.0
    for mat_name, frac in setup.x0_fractions().items():
        mat = get_material(mat_name)
        for Z, A, w in mat.components:
            sig, _ = sigma_above_vec(model, setup.beam, method_used, E, mass, Z, A, threshold / E, inelastic)
            total += frac * mat.x0_gcm2 * w * N_A / A * np.sum(dT * sig)
    return total * eps**2 * GEV2_TO_CM2


def _brem_thin(setup: Setup, energy, model, mass, eps, threshold, method_used, inelastic):
    total = 0.0
    for mat_name, length in setup.path_lengths_cm().items():
        mat = get_material(mat_name)
        for Z, A, w in mat.components:
            sig = sigma_element_unit(model, setup.beam, method_used, energy, mass, Z, A, threshold / energy,
                                     inelastic, THETA_MAX)  # fmt: skip
            total += mat.density * length * w * N_A / A * sig
    return total * eps**2 * GEV2_TO_CM2


def annihilation_yield(setup, energy, mass, eps, threshold, alpha_d=ann.ALPHA_D_DEFAULT,
                       mchi_ratio=ann.MCHI_RATIO_DEFAULT, narrow_width=None):  # fmt: skip
    """Resonant e⁺e⁻ → A′ → χχ̄ on atomic electrons, per beam particle, thick target.

    ``narrow_width=None`` chooses the narrow-width formula when the resonance FWHM in
    positron energy is < 5 % of E_R, else integrates the Breit–Wigner over T₊.
    Returns (yield, notes).
    """
    setup = get_setup(setup)
    notes = []
    if setup.beam not in ("electron", "positron") or not setup.thick:
        return 0.0, ["annihilation only for e-/e+ beams on a thick target"]
    e_r = float(ann.resonance_energy(mass))
    e_lo = max(threshold, ANNIHILATION_E_MIN)
    if e_r >= energy or e_r < ANNIHILATION_E_MIN:
        return 0.0, notes
    n_e = 0.0  # electrons per X0-weighted gram: Σ_c f_c X0_c Σ_el w Z N_A / A
    for mat_name, frac in setup.x0_fractions().items():
        mat = get_material(mat_name)
        n_e += frac * mat.x0_gcm2 * sum(w * Z * N_A / A for Z, A, w in mat.components)
    width_e = float(ann.width_in_energy(mass, eps, alpha_d, mchi_ratio))
    if narrow_width is None:
        narrow_width = width_e < 0.05 * e_r
    if narrow_width:
        if e_r < e_lo:
            return 0.0, notes
        y_r = np.log(energy / e_r)
        h = 1e-4
        T = cumulative_track_length_y(np.array([y_r - h, y_r + h]), "e+", setup.beam)
        t_plus = (T[1] - T[0]) / (2 * h) / e_r  # X0 per GeV
        br = ann.branching_invisible(mass, eps, alpha_d, mchi_ratio)
        strength = ann.narrow_width_strength_pb_gev(mass, eps, br) * PB_TO_CM2
        notes.append("annihilation: narrow-width approximation")
        return float(n_e * t_plus * strength), notes
    y_max = np.log(energy / e_lo)
    y_r = np.log(energy / e_r)
    w_y = width_e / e_r  # resonance FWHM in y
    y = np.unique(np.concatenate([_y_edges(y_max, y_r, 400), y_r + w_y * np.linspace(-10, 10, 401)]))
    y = y[(y >= 0) & (y <= y_max)]
    dT = np.diff(_cum_track("e+", setup.beam, tuple(y)))
    E = energy * np.exp(-0.5 * (y[1:] + y[:-1]))
    sig = ann.sigma_bw_pb(E, mass, eps, alpha_d, mchi_ratio) * PB_TO_CM2
    notes.append(f"annihilation: Breit-Wigner (alpha_D = {alpha_d}, m_chi/m = {mchi_ratio:.3g}) over the e+ track length")
    return float(n_e * np.sum(dT * sig)), notes


def signal_yield(setup, energy: float, model: str, mass: float, coupling: float, threshold: float,
                 method: str = "etl", inelastic: bool = True, include_annihilation: bool | None = None,
                 alpha_d: float = ann.ALPHA_D_DEFAULT, mchi_ratio: float = ann.MCHI_RATIO_DEFAULT) -> YieldResult:  # fmt: skip
    """Produced X with E_X > ``threshold`` per beam particle for ``setup`` (PHYSICS.md §2).

    ``coupling``: ε (dark photon) or g (others), PHYSICS.md §3; the yield ∝ coupling².
    ``threshold``: missing-energy threshold E_miss = E_X > threshold (GeV), e.g. 50 GeV for
    NA64e 2016–22, 40 GeV for 2023, 80 GeV for NA64μ (p_out < 80 GeV).
    ``include_annihilation``: default True for the dark photon on e± setups.
    """
    st = get_setup(setup)
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}")
    target = "Pb"
    method_used, notes = resolve_method(model, st.beam, method, energy, mass, target)
    notes = list(notes)
    eps = float(effective_epsilon(model, st.beam, mass, coupling))
    if st.thick:
        if method_used == "etl":
            notes.append("K-factors outside 20-160 GeV taken at the nearest tabulated energy (DMG4 convention)")
        brem = _brem_thick(st, energy, model, mass, eps, threshold, method_used, inelastic)
        notes.append(f"thick target: depth-integrated e+- track length (approximation A), E >= {SHOWER_E_MIN} GeV")
    else:
        brem = _brem_thin(st, energy, model, mass, eps, threshold, method_used, inelastic)
        notes.append("thin target: path length through the active target, muon energy loss neglected (<0.5% of E0)")
    if include_annihilation is None:
        include_annihilation = model == "dark-photon" and st.beam in ("electron", "positron")
    y_ann = 0.0
    if include_annihilation:
        if model != "dark-photon":
            notes.append("annihilation implemented only for the dark photon: not included")
        else:
            y_ann, n2 = annihilation_yield(st, energy, mass, eps, threshold, alpha_d, mchi_ratio)
            notes += n2
    total = brem + y_ann
    return YieldResult(
        signal_per_particle=float(total),
        brem_per_particle=float(brem),
        annihilation_per_particle=float(y_ann),
        per_coupling2=float(total / coupling**2) if coupling else float("nan"),
        setup=st.name,
        beam=st.beam,
        energy=float(energy),
        model=model,
        mass=float(mass),
        coupling=float(coupling),
        coupling_convention=coupling_convention(model, st.beam),
        threshold=float(threshold),
        method=method,
        method_used=method_used,
        effective_target=st.effective_material(),
        notes=tuple(notes),
    )


#: reference coupling at which per-coupling² yields are evaluated (Γ_ee ≪ Γ_χχ there)
COUPLING_REF = 1e-4


def yield_per_coupling2(setup, energy: float, model: str, masses, threshold: float, method: str = "etl",
                        inelastic: bool = True, include_annihilation: bool | None = None) -> np.ndarray:  # fmt: skip
    """N_X/(N_beam · coupling²) for an array of masses (for limit scans: N_sig = this × coupling² × N_beam)."""
    masses = np.atleast_1d(np.asarray(masses, float))
    out = np.empty_like(masses)
    for i, m in enumerate(masses):
        r = signal_yield(setup, energy, model, float(m), COUPLING_REF, threshold, method, inelastic,
                         include_annihilation)  # fmt: skip
        out[i] = r.signal_per_particle / COUPLING_REF**2
    return out


def coupling_for_events(n_events: float, n_particles: float, setup, energy, model, mass, threshold,
                        method="etl", efficiency: float = 1.0, **kw) -> float:  # fmt: skip
    """Coupling giving ``n_events`` signal events for ``n_particles`` on target (∝ 1/√yield)."""
    y = yield_per_coupling2(setup, energy, model, [mass], threshold, method, **kw)[0]
    return float(np.sqrt(n_events / (n_particles * efficiency * y)))


__all__ = [
    "SETUPS",
    "Setup",
    "YieldResult",
    "get_setup",
    "signal_yield",
    "yield_per_coupling2",
    "annihilation_yield",
    "coupling_for_events",
    "SHOWER_E_MIN",
    "ANNIHILATION_E_MIN",
]
