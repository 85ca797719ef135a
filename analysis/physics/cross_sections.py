"""Bremsstrahlung-like production ℓN → ℓN X of light mediators (PHYSICS.md §2–3).

Models (``MODELS``) and the spin structure they use:

================  =======  =====================================================
model             spin     coupling argument (PHYSICS.md §3)
================  =======  =====================================================
``dark-photon``   vector   ε (kinetic mixing, couples as εe); σ ∝ ε²
``zprime``        vector   g_Z′ of Lμ−Lτ. Muon beam: ε_eff = g/e. Electron beam:
                           loop-induced kinetic mixing ε(m²) ≈ g/70 (see
                           :func:`zprime_kinetic_mixing`); σ ∝ g²
``scalar``        scalar   g (Yukawa to the beam lepton), ε_eff = g/e; σ ∝ g²
``pseudoscalar``  pseudo   g, ε_eff = g/e
``axial``         axial    g, ε_eff = g/e
================  =======  =====================================================

Methods (``METHODS``):

``ww``
    Weizsäcker–Williams, double differential in x = E_X/E₀ and the emission angle θ of X,
    with the photon flux χ evaluated at the θ-dependent
    t_min = ũ²/(4E₀²(1−x)²), ũ = −xE₀²θ² − m²(1−x)/x − m_ℓ²x, t_max = m² + m_ℓ², integrated
    over θ < θ_max = 0.3 (DMG4 ``DarkZ::CrossSectionDSDXDTheta`` and
    ``DarkMuPhilicScalars``; arXiv:1705.01633, arXiv:2409.12748)::

        dσ/(dx dθ) = 2 ε² α³ E₀² · N_s · sin θ · √(x² − m²/E₀²) · A_s(x, U) · χ(t_min, t_max),

    with U = −ũ and the spin amplitudes A_s = a₂/U² + (k₄ − k₃U)/U⁴ read off DMG4's
    ``CrossSectionDSDXDU`` (vector ``DarkPhotons.cc``, scalar ``DarkScalars.cc``,
    pseudoscalar ``DarkPseudoScalars.cc``, axial ``DarkAxials.cc``)::

        vector:        a₂ = 1 − x + x²/2,             M² = m² + 2m_ℓ²
        axial:         a₂ = 1 − x + x²/2 + m_ℓ²x²/m², M² = m² − 4m_ℓ²
        scalar:        a₂ = x²/2,                      M² = m² − 4m_ℓ²
        pseudoscalar:  a₂ = x²/2,                      M² = m²
        k₃ = (1−x) M² x,  k₄ = (1−x) M² (m²(1−x) + m_ℓ²x²)

    N_s = 4 (vector, axial), 2 (scalar, pseudoscalar): the normalisations of DMG4's
    ``DarkZ`` (Z′) and ``DarkMuPhilicScalars`` WW totals.  (DMG4's axial
    ``CrossSectionDSDXDU`` writes the longitudinal term as m_e²x²/(m²(1−x)), which is not
    dimensionally consistent; the form m_ℓ²x²/(m²U²) used here is the one that reproduces
    DMG4's closed-form axial dσ/dx and the Goldstone-equivalence limit.)

``iww``
    Improved WW: χ at t_min = m⁴/(4E₀²) (independent of x, θ), the θ integral done
    analytically.  Electron/positron beams, m > 1 MeV: total from the DMG4 closed form
    σ = (4/3 or 2/3) α³ ε² χ β ln(1/c²)/m², β = √(1 − m²/E₀²), c = max(m_e/m, m/E₀),
    t_max = m² (``DarkPhotons::TotalCrossSectionCalc``; arXiv:1604.08432), with the x shape
    of DMG4's ``CrossSectionDSDX`` (our A_s integrated over U, identical to DMG4's closed
    forms).  Muon beam (and m ≤ 1 MeV): the absolutely normalised
    dσ/dx = N_s ε² α³ χ √(x² − m²/E₀²)/x ∫_{U₀}^{U(θ_max)} A_s dU integrated numerically,
    t_max = m² + m_ℓ² (``DarkZ::TotalCrossSectionCalc_IWW``, arXiv:1705.01633 Eq. (30)).

``etl``
    Exact tree level via σ_ETL = σ_IWW/K(m, E₀) with DMG4's K tables (Pb, electrons,
    20–160 GeV, 1 MeV–1 GeV, vector to 3 GeV; :mod:`.kfactors`), the x shape taken from
    IWW (DMG4 convention), and DMG4's tabulated sub-MeV ETL totals below 1 MeV.  Where no
    ETL input exists the result falls back — to IWW for electron/positron beams, and to WW
    for muon beams, where IWW is 1.6–2.4× above WW (this module, Pb, 160 GeV) while WW is
    within O(1–10) % of ETL (arXiv:2409.12748) and is DMG4's default for muons — and says
    so in ``method_used`` and ``notes``.

Kinematic range (DMG4): m/E₀ < x < 1 − m⁴/(8E₀³A) − m_ℓ/E₀ (M_N ≈ A GeV), zero below
E₀ = m(1 + m_ℓ/A + 2m/A).

Units: energies and masses in GeV; cross sections returned in pb per atom.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from .constants import ALPHA, E_CHARGE, GEV2_TO_PB, M_E, M_MU, M_TAU, lepton_mass
from .formfactors import chi, get_material
from .kfactors import SUBMEV_X_MIN, k_factor, submev_etl_total

MODELS = ("dark-photon", "scalar", "pseudoscalar", "axial", "zprime")
METHODS = ("ww", "iww", "etl")
BEAMS = ("electron", "positron", "muon")

SPIN = {
    "dark-photon": "vector",
    "zprime": "vector",
    "scalar": "scalar",
    "pseudoscalar": "pseudoscalar",
    "axial": "axial",
}
#: N_s: normalisation of the WW amplitude (DMG4 DarkZ / DarkMuPhilicScalars prefactors)
AMP_NORM = {"vector": 4.0, "axial": 4.0, "scalar": 2.0, "pseudoscalar": 2.0}
#: prefactor of the DMG4 closed-form IWW total (4/3 vector & axial, 2/3 scalar & pseudoscalar)
IWW_TOTAL_PREFACTOR = {"vector": 4.0 / 3.0, "axial": 4.0 / 3.0, "scalar": 2.0 / 3.0, "pseudoscalar": 2.0 / 3.0}
#: below this mass the DMG4 closed-form IWW total is not used (leading-log formula breaks
#: down as m → m_e; DMG4 switches to tabulated ETL totals below 1 MeV)
M_CLOSED_FORM_MIN = 0.999e-3
#: default maximal emission angle of X for WW and muon IWW (DMG4 ``ThetaMax``)
THETA_MAX = 0.3


# ------------------------------------------------------------------------------------------
# couplings
# ------------------------------------------------------------------------------------------
def zprime_kinetic_mixing(g, mass):
    """Loop-induced kinetic mixing of the Lμ−Lτ Z′ with the photon at q² = m².

    ε(q²) = (e g / 2π²) ∫₀¹ dy y(1−y) ln|(m_τ² − y(1−y)q²)/(m_μ² − y(1−y)q²)|,
    which for q² → 0 is e g ln(m_τ²/m_μ²)/(12π²) ≈ g/69.3 (e.g. arXiv:2404.06982 and
    references therein).  The real part (absolute value in the log) is used above 2m_μ.
    """
    y, w = np.polynomial.legendre.leggauss(64)
    y = 0.5 * (y + 1.0)
    w = 0.5 * w
    q2 = float(mass) ** 2
    yy = y * (1 - y)
    integrand = yy * np.log(np.abs((M_TAU**2 - yy * q2) / (M_MU**2 - yy * q2)))
    return E_CHARGE * np.asarray(g, float) / (2.0 * np.pi**2) * np.sum(w * integrand)


def coupling_convention(model: str, beam: str) -> str:
    """Human-readable statement of what the ``coupling`` argument means (PHYSICS.md §3)."""
    if model == "dark-photon":
        return "epsilon: kinetic mixing, A' couples to leptons as epsilon*e; rates scale as epsilon^2"
    if model == "zprime":
        base = "g_Z': L_mu-L_tau gauge coupling (DMG4: g = eps*e, eps_eff = g/e = g/0.3028); rates scale as g^2"
        if beam == "muon":
            return base
        return base + "; electron beam via loop-induced kinetic mixing eps(m^2) ~ g/70"
    return f"g: {model} Yukawa coupling to the beam lepton (DMG4: g = eps*e, eps_eff = g/e = g/0.3028); rates scale as g^2"


def effective_epsilon(model: str, beam: str, mass: float, coupling):
    """ε_eff such that σ = ε_eff² σ(ε = 1): ε for the dark photon, g/e for the g models,
    ε_loop(g, m) for the Z′ off electrons."""
    coupling = np.asarray(coupling, float)
    if model == "dark-photon":
        return coupling
    if model == "zprime" and beam != "muon":
        return zprime_kinetic_mixing(coupling, mass)
    return coupling / E_CHARGE


def _check(model: str, beam: str, method: str | None = None) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    if beam not in BEAMS:
        raise ValueError(f"unknown beam {beam!r}; expected one of {BEAMS}")
    if method is not None and method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


# ------------------------------------------------------------------------------------------
# kinematics and amplitudes
# ------------------------------------------------------------------------------------------
def x_range(energy: float, mass: float, m_lepton: float, A: float) -> tuple[float, float]:
    """DMG4 kinematic range m/E₀ < x < 1 − m⁴/(8E₀³A) − m_ℓ/E₀ (M_N ≈ A GeV)."""
    return mass / energy, 1.0 - mass**4 / (8.0 * energy**3 * A) - m_lepton / energy


def energy_threshold(mass: float, m_lepton: float, A: float) -> float:
    """DMG4 ``EkinMin`` = m (1 + m_ℓ/M_N + 2m/M_N), M_N ≈ A GeV."""
    return mass * (1.0 + m_lepton / A + 2.0 * mass / A)


def _amp_coeffs(kind, x, m, ml):
    if kind == "vector":
        a2, M2 = 1.0 - x + 0.5 * x * x, m * m + 2 * ml * ml
    elif kind == "axial":
        a2, M2 = 1.0 - x + 0.5 * x * x + ml * ml * x * x / (m * m), m * m - 4 * ml * ml
    elif kind == "scalar":
        a2, M2 = 0.5 * x * x, m * m - 4 * ml * ml
    elif kind == "pseudoscalar":
        a2, M2 = 0.5 * x * x, m * m
    else:  # pragma: no cover - guarded by SPIN
        raise ValueError(kind)
    k3 = (1.0 - x) * M2 * x
    k4 = (1.0 - x) * M2 * (m * m * (1.0 - x) + ml * ml * x * x)
    return a2, k3, k4


def amplitude(kind: str, x, U, mass: float, m_lepton: float):
    """Spin amplitude A_s(x, U) = a₂/U² + (k₄ − k₃U)/U⁴ (see module docstring)."""
    a2, k3, k4 = _amp_coeffs(kind, np.asarray(x, float), mass, m_lepton)
    U = np.asarray(U, float)
    return a2 / U**2 + (k4 - k3 * U) / U**4


def _amp_antideriv(a2, k3, k4, U):
    return -a2 / U + k3 / (2.0 * U**2) - k4 / (3.0 * U**3)


def u_min(x, energy, mass, m_lepton):
    """U₀ = m²(1−x)/x + m_ℓ²x (= −ũ at θ = 0)."""
    return mass**2 * (1.0 - x) / x + m_lepton**2 * x


_GLX, _GLW = np.polynomial.legendre.leggauss(8)


def _gl_panels(lo, hi, n_panels):
    """Gauss–Legendre nodes/weights on n equal panels of [lo, hi] (lo, hi may be arrays)."""
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    e = np.linspace(0.0, 1.0, n_panels + 1)
    edges = lo[..., None] + (hi - lo)[..., None] * e
    h = 0.5 * (edges[..., 1:] - edges[..., :-1])
    mid = 0.5 * (edges[..., 1:] + edges[..., :-1])
    nodes = mid[..., :, None] + h[..., :, None] * _GLX
    weights = h[..., :, None] * _GLW
    shp = nodes.shape[:-2] + (-1,)
    return nodes.reshape(shp), weights.reshape(shp)


def _x_nodes(x_lo, x_hi, n_panels=48):
    """GL nodes in w = ln(1 − x) (resolves the x → 1 peak of electron spectra) plus a
    geometric segment at small x; returns (x, weight in x)."""
    x_mid = min(max(0.5, x_lo), x_hi)
    xs, ws = [], []
    if x_mid > x_lo:
        # u = ln x on [ln x_lo, ln x_mid]
        u, wu = _gl_panels(np.log(x_lo), np.log(x_mid), max(8, n_panels // 3))
        xs.append(np.exp(u))
        ws.append(wu * np.exp(u))
    if x_hi > x_mid:
        w, ww = _gl_panels(np.log1p(-x_hi), np.log1p(-x_mid), n_panels)
        x = -np.expm1(w)
        xs.append(x)
        ws.append(ww * (1.0 - x))
    return np.concatenate(xs), np.concatenate(ws)


def _x_dense(x_lo, x_hi, n=700):
    """Dense ascending x grid (geometric in x near x_lo, geometric in 1−x near x_hi)."""
    x_mid = min(max(0.5, x_lo), x_hi)
    parts = []
    if x_mid > x_lo:
        parts.append(np.geomspace(x_lo, x_mid, n // 3))
    if x_hi > x_mid:
        parts.append(1.0 - np.geomspace(1.0 - x_mid, 1.0 - x_hi, n - n // 3))
    x = np.unique(np.concatenate(parts))
    return x


# ------------------------------------------------------------------------------------------
# unit-coupling (ε = 1) building blocks, GeV⁻²
# ------------------------------------------------------------------------------------------
def dsigma_dx_iww_unit(kind, energy, mass, m_lepton, Z, A, x, inelastic=True, theta_max=None,
                       t_max=None):  # fmt: skip
    """Absolutely normalised IWW dσ/dx at ε = 1 (GeV⁻²).

    dσ/dx = N_s α³ χ √(x² − m²/E₀²)/x ∫_{U₀}^{U(θ_max)} A_s dU, χ(m⁴/(4E₀²), t_max).
    ``theta_max=None`` integrates to θ → ∞ (electron IWW, DMG4 ``CrossSectionDSDX``);
    ``t_max`` defaults to m² + m_ℓ² (DMG4 uses m² for electrons, m² + m_μ² for muons).
    """
    x = np.asarray(x, float)
    if t_max is None:
        t_max = mass**2 + m_lepton**2
    a2, k3, k4 = _amp_coeffs(kind, x, mass, m_lepton)
    U0 = u_min(x, energy, mass, m_lepton)
    if theta_max is None:
        I = -_amp_antideriv(a2, k3, k4, U0)
    else:
        U1 = U0 + energy**2 * x * theta_max**2
        I = _amp_antideriv(a2, k3, k4, U1) - _amp_antideriv(a2, k3, k4, U0)
    c = chi(mass**4 / (4.0 * energy**2), t_max, Z, A, inelastic)
    bx = np.sqrt(np.clip(x * x - mass**2 / energy**2, 0.0, None))
    return AMP_NORM[kind] * ALPHA**3 * c * bx / x * np.clip(I, 0.0, None)


def dsigma_dxdtheta_ww_unit(kind, energy, mass, m_lepton, Z, A, x, theta, inelastic=True):
    """WW double-differential dσ/(dx dθ) at ε = 1 (GeV⁻²), χ at the θ-dependent t_min."""
    x = np.asarray(x, float)
    theta = np.asarray(theta, float)
    U = u_min(x, energy, mass, m_lepton) + energy**2 * x * theta**2
    tmin = U**2 / (4.0 * energy**2 * (1.0 - x) ** 2)
    c = chi(tmin, mass**2 + m_lepton**2, Z, A, inelastic)
    bx = np.sqrt(np.clip(x * x - mass**2 / energy**2, 0.0, None))
    amp = amplitude(kind, x, U, mass, m_lepton)
    return 2.0 * ALPHA**3 * energy**2 * AMP_NORM[kind] * np.sin(theta) * bx * np.clip(amp, 0, None) * c


def dsigma_dx_ww_unit(kind, energy, mass, m_lepton, Z, A, x, inelastic=True, theta_max=THETA_MAX,
                      n_theta_panels=24):  # fmt: skip
    """WW dσ/dx at ε = 1 (GeV⁻²): θ integral of :func:`dsigma_dxdtheta_ww_unit` over θ < θ_max.

    Quadrature in ln θ from 10⁻⁴ θ_c (θ_c² = U₀/(E₀²x), below which the integrand ∝ θ is
    negligible) to θ_max.
    """
    x = np.atleast_1d(np.asarray(x, float))
    U0 = u_min(x, energy, mass, m_lepton)
    th_c = np.sqrt(U0 / (energy**2 * x))
    lo = np.log(np.minimum(1e-4 * th_c, 0.1 * theta_max))
    hi = np.full_like(lo, np.log(theta_max))
    v, wv = _gl_panels(lo, hi, n_theta_panels)
    th = np.exp(v)
    f = dsigma_dxdtheta_ww_unit(kind, energy, mass, m_lepton, Z, A, x[:, None], th, inelastic)
    return np.sum(f * wv * th, axis=-1)


def sigma_iww_closed_unit(kind, energy, mass, Z, A, inelastic=True):
    """DMG4 closed-form IWW total at ε = 1 (GeV⁻²), electron beam (PHYSICS.md §2):

    σ = P_s α³ χ β ln(1/c²)/m², P = 4/3 (vector, axial) or 2/3 (scalar, pseudoscalar),
    β = √(1 − m²/E₀²), c = max(m_e/m, m/E₀), χ(t_min = m⁴/(4E₀²), t_max = m²).
    Source: DMG4 ``DarkPhotons::TotalCrossSectionCalc``; arXiv:1604.08432.  Vectorised
    over ``energy``.
    """
    E = np.asarray(energy, float)
    c = chi(mass**4 / (4.0 * E**2), mass**2, Z, A, inelastic)
    beta = np.sqrt(np.clip(1.0 - mass**2 / E**2, 0.0, None))
    cut = np.maximum(M_E / mass, mass / E)
    val = IWW_TOTAL_PREFACTOR[kind] * ALPHA**3 * c * beta * np.log(1.0 / cut**2) / mass**2
    val = np.clip(val, 0.0, None)
    return float(val) if val.ndim == 0 else val


def _iww_shape_integral(kind, beam, energies, mass, Z, A, x_a, x_b, inelastic, theta_max, n_panels=24):
    """∫_{x_a}^{x_b} (absolute IWW dσ/dx) dx, vectorised over energies (GeV⁻², ε = 1)."""
    ml = lepton_mass(beam)
    E = np.asarray(energies, float)
    if beam == "muon":
        th, tmax = theta_max, mass**2 + ml**2
    else:
        th, tmax = None, mass**2
    x_a = np.asarray(x_a, float)
    x_b = np.asarray(x_b, float)
    x_m = np.clip(0.5, x_a, x_b)
    total = np.zeros_like(E)
    # segment 1: ln x on [x_a, x_m]
    u, wu = _gl_panels(np.log(x_a), np.log(x_m), max(8, n_panels // 3))
    x1 = np.exp(u)
    f1 = dsigma_dx_iww_unit(kind, E[:, None], mass, ml, Z, A, x1, inelastic, th, tmax)
    total = total + np.sum(f1 * wu * x1, axis=-1)
    # segment 2: ln(1-x) on [x_m, x_b]
    w, ww = _gl_panels(np.log1p(-x_b), np.log1p(-x_m), n_panels)
    x2 = -np.expm1(w)
    f2 = dsigma_dx_iww_unit(kind, E[:, None], mass, ml, Z, A, x2, inelastic, th, tmax)
    total = total + np.sum(f2 * ww * (1.0 - x2), axis=-1)
    return total


def sigma_above_vec(model, beam, method_used, energies, mass, Z, A, x_from, inelastic=True,
                    theta_max=THETA_MAX, clamp_k_energy=True):  # fmt: skip
    """σ(E, x > x_from) at ε_eff = 1 (GeV⁻²) on one nucleus, vectorised over ``energies``.

    For ``method_used`` 'iww' or 'etl' (WW is evaluated per energy through
    :func:`sigma_element_unit`).  ``clamp_k_energy``: outside 20–160 GeV use the K of the
    nearest tabulated energy, as DMG4 does (used for shower integrals, where E varies).
    Returns (sigma, k) with k = NaN where IWW was used.
    """
    kind = SPIN[model]
    ml = lepton_mass(beam)
    E = np.atleast_1d(np.asarray(energies, float))
    x_from = np.broadcast_to(np.asarray(x_from, float), E.shape)
    out = np.zeros_like(E)
    kk = np.full_like(E, np.nan)
    if method_used == "ww":
        for i, (e, xf) in enumerate(zip(E, x_from)):
            out[i] = sigma_element_unit(model, beam, "ww", float(e), mass, Z, A, float(xf), inelastic, theta_max)
        return out, kk
    x_lo = mass / E
    x_hi = 1.0 - mass**4 / (8.0 * E**3 * A) - ml / E
    ok = (x_hi > x_lo) & (E >= energy_threshold(mass, ml, A)) & (x_from < x_hi)
    if not np.any(ok):
        return out, kk
    Ev, xl, xh = E[ok], x_lo[ok], x_hi[ok]
    xa = np.clip(np.maximum(x_from[ok], xl), xl, xh)
    s_full = _iww_shape_integral(kind, beam, Ev, mass, Z, A, xl, xh, inelastic, theta_max)
    s_cut = _iww_shape_integral(kind, beam, Ev, mass, Z, A, xa, xh, inelastic, theta_max)
    frac = np.where(s_full > 0, s_cut / np.where(s_full > 0, s_full, 1.0), 0.0)
    if beam != "muon" and mass >= M_CLOSED_FORM_MIN:
        tot = sigma_iww_closed_unit(kind, Ev, mass, Z, A, inelastic)
    else:
        tot = s_full
    if method_used == "etl":
        Ek = np.clip(Ev, 20.0, 160.0) if clamp_k_energy else Ev
        k = np.atleast_1d(k_factor(kind, mass, Ek))
        if np.all(np.isfinite(k)):
            tot = tot / k
            kk[ok] = k
        elif mass < 1e-3 and np.isfinite(submev_etl_total(kind, mass)):
            s_tab = _iww_shape_integral(kind, beam, Ev, mass, Z, A, np.maximum(SUBMEV_X_MIN, xl), xh, inelastic, theta_max)
            tot = float(submev_etl_total(kind, mass)) * (Z / 82.0) ** 2 * s_full / np.where(s_tab > 0, s_tab, np.inf)
        else:  # pragma: no cover - resolve_method guards this
            raise ValueError("no ETL input for these energies/mass")
    out[ok] = tot * frac
    return out, kk


# ------------------------------------------------------------------------------------------
# spectra (cached): dσ/dx on a dense grid with the chosen total normalisation
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spectrum:
    """dσ/dx (GeV⁻², ε = 1) of one (model spin, beam, E₀, m, target, method) on a dense grid."""

    x: np.ndarray
    dsdx: np.ndarray
    cum_above: np.ndarray  # ∫_x^{x_hi} dσ/dx dx' (normalised so that cum_above[0] = total)
    total: float
    x_lo: float
    x_hi: float

    def above(self, x_min):
        """σ(x > x_min) at ε = 1 (GeV⁻²), vectorised."""
        x_min = np.asarray(x_min, float)
        res = np.interp(np.clip(x_min, self.x[0], self.x[-1]), self.x, self.cum_above)
        return np.where(x_min >= self.x_hi, 0.0, res)

    def pdf(self, x):
        """Normalised density in x."""
        x = np.asarray(x, float)
        return np.interp(x, self.x, self.dsdx, left=0.0, right=0.0) / self.total


def _trapz_cum_from_top(x, f):
    seg = 0.5 * (f[1:] + f[:-1]) * np.diff(x)
    cum = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
    return cum


def _key(v: float) -> float:
    return float(f"{v:.10g}")


@lru_cache(maxsize=4096)
def _spectrum_cached(kind, beam, shape_method, energy, mass, Z, A, inelastic, theta_max):
    ml = lepton_mass(beam)
    x_lo, x_hi = x_range(energy, mass, ml, A)
    if x_hi <= x_lo or energy < energy_threshold(mass, ml, A):
        z = np.array([0.0, 1.0])
        return Spectrum(z, np.zeros(2), np.zeros(2), 0.0, x_lo, max(x_hi, x_lo))
    xn, wn = _x_nodes(x_lo, x_hi)
    xd = _x_dense(x_lo, x_hi)
    if shape_method == "ww":
        f_n = dsigma_dx_ww_unit(kind, energy, mass, ml, Z, A, xn, inelastic, theta_max)
        f_d = dsigma_dx_ww_unit(kind, energy, mass, ml, Z, A, xd, inelastic, theta_max)
    else:  # absolutely normalised IWW; electrons: θ → ∞, t_max = m² (DMG4)
        if beam == "muon":
            th, tmax = theta_max, mass**2 + ml**2
        else:
            th, tmax = None, mass**2
        f_n = dsigma_dx_iww_unit(kind, energy, mass, ml, Z, A, xn, inelastic, th, tmax)
        f_d = dsigma_dx_iww_unit(kind, energy, mass, ml, Z, A, xd, inelastic, th, tmax)
    total = float(np.sum(f_n * wn))
    cum = _trapz_cum_from_top(xd, f_d)
    if cum[0] > 0:
        scale = total / cum[0]  # trapezoid → Gauss–Legendre normalisation (≲1e-3)
        cum = cum * scale
        f_d = f_d * scale
    return Spectrum(xd, f_d, cum, total, x_lo, x_hi)


def spectrum_unit(kind, beam, shape_method, energy, mass, Z, A, inelastic=True, theta_max=THETA_MAX):
    """Cached absolutely normalised spectrum (``shape_method`` 'ww' or 'iww'), ε = 1."""
    return _spectrum_cached(kind, beam, shape_method, _key(energy), _key(mass), float(Z), float(A),
                            bool(inelastic), float(theta_max))  # fmt: skip


# ------------------------------------------------------------------------------------------
# method resolution and totals
# ------------------------------------------------------------------------------------------
def resolve_method(model: str, beam: str, method: str, energy: float, mass: float, target: str = "Pb"):
    """Return (method_used, notes) for a requested method (fallback rules of the module doc)."""
    _check(model, beam, method)
    kind = SPIN[model]
    notes: list[str] = []
    if method != "etl":
        return method, notes
    if beam == "muon":
        notes.append(
            "no ETL input for muon beams (DMG4 K tables are for electrons): fell back to WW "
            "(DMG4 default for muons; WW-ETL differ by O(1-10)% for muons, arXiv:2409.12748; "
            "IWW would overestimate by 1.6-2.4x)"
        )
        return "ww", notes
    k = k_factor(kind, mass, energy)
    if np.isfinite(k):
        if target != "Pb":
            notes.append(f"DMG4 K table computed for Pb, applied to {target} (as DMG4 does)")
        if model == "zprime":
            notes.append("Z' off electrons treated as a dark photon with loop-induced mixing; vector K table used")
        return "etl", notes
    if mass < 1e-3 and np.isfinite(submev_etl_total(kind, mass)):
        notes.append(
            "m < 1 MeV: DMG4 tabulated ETL total (Pb, x > 0.01; scaled by (Z/82)^2 for other "
            "targets, approximate), IWW x-shape for the energy cut"
        )
        return "etl", notes
    notes.append(
        f"no ETL K-factor at m = {mass:g} GeV, E0 = {energy:g} GeV for {kind} "
        "(DMG4 tables: 20-160 GeV, 1 MeV-1 GeV, vector to 3 GeV): fell back to IWW"
    )
    return "iww", notes


def sigma_element_unit(model, beam, method_used, energy, mass, Z, A, min_fraction=0.0,
                       inelastic=True, theta_max=THETA_MAX):  # fmt: skip
    """σ(x > min_fraction) on one nucleus (Z, A) at ε_eff = 1, GeV⁻², for a resolved method."""
    kind = SPIN[model]
    ml = lepton_mass(beam)
    if energy < energy_threshold(mass, ml, A):
        return 0.0
    if method_used == "ww":
        sp = spectrum_unit(kind, beam, "ww", energy, mass, Z, A, inelastic, theta_max)
        return float(sp.above(min_fraction))
    sp = spectrum_unit(kind, beam, "iww", energy, mass, Z, A, inelastic, theta_max)
    if sp.total <= 0:
        return 0.0
    frac = float(sp.above(min_fraction)) / sp.total
    if beam == "muon":
        total_iww = sp.total
    elif mass >= M_CLOSED_FORM_MIN:
        total_iww = sigma_iww_closed_unit(kind, energy, mass, Z, A, inelastic)
    else:
        total_iww = sp.total
    if method_used == "iww":
        return total_iww * frac
    # etl
    k = k_factor(kind, mass, energy)
    if np.isfinite(k):
        return total_iww / k * frac
    tab = float(submev_etl_total(kind, mass))
    frac_tab = float(sp.above(SUBMEV_X_MIN)) / sp.total
    return tab * (Z / 82.0) ** 2 * frac / frac_tab if frac_tab > 0 else 0.0


@dataclass(frozen=True)
class CrossSectionResult:
    """Total production cross section σ(ℓN → ℓN X, E_X > min_fraction·E₀) per atom."""

    cross_section_pb: float
    method: str
    method_used: str
    model: str
    beam: str
    energy: float
    target: str
    mass: float
    coupling: float
    coupling_convention: str
    epsilon_eff: float
    min_fraction: float
    inelastic: bool
    k_factor: float | None = None
    notes: tuple = field(default=())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["units"] = {"cross_section_pb": "pb per atom", "energy": "GeV", "mass": "GeV"}
        return d


def cross_section(model: str, beam: str, energy: float, target: str, mass: float, coupling: float,
                  method: str = "etl", min_fraction: float = 0.0, inelastic: bool = True,
                  theta_max: float = THETA_MAX) -> CrossSectionResult:  # fmt: skip
    """σ(ℓN → ℓN X) with E_X > ``min_fraction``·E₀ on ``target`` (pb per atom).

    ``coupling``: ε for ``dark-photon``, g otherwise (PHYSICS.md §3; see
    :func:`coupling_convention`); σ ∝ coupling².  For compounds the cross section is the
    mass-fraction-weighted sum per average atom (Σ_i n_i σ_i / Σ_i n_i).
    """
    _check(model, beam, method)
    if energy <= 0 or mass <= 0:
        raise ValueError("energy and mass must be positive")
    mat = get_material(target)
    method_used, notes = resolve_method(model, beam, method, energy, mass, mat.name)
    eps = float(effective_epsilon(model, beam, mass, coupling))
    num = den = 0.0
    for Z, A, w in mat.components:
        s = sigma_element_unit(model, beam, method_used, energy, mass, Z, A, min_fraction, inelastic, theta_max)
        num += w / A * s
        den += w / A
    sigma_pb = num / den * eps**2 * GEV2_TO_PB
    k = None
    if method_used == "etl" and np.isfinite(k_factor(SPIN[model], mass, energy)):
        k = float(k_factor(SPIN[model], mass, energy))
    if inelastic and method_used == "etl":
        notes.append("K tables are elastic-only (DMG4); applied to sigma_IWW including the inelastic term")
    x_lo, x_hi = x_range(energy, mass, lepton_mass(beam), mat.A)
    if min_fraction >= x_hi:
        notes.append("min_fraction above the kinematic limit: cross section is zero")
    return CrossSectionResult(
        cross_section_pb=float(sigma_pb),
        method=method,
        method_used=method_used,
        model=model,
        beam=beam,
        energy=float(energy),
        target=mat.name,
        mass=float(mass),
        coupling=float(coupling),
        coupling_convention=coupling_convention(model, beam),
        epsilon_eff=eps,
        min_fraction=float(min_fraction),
        inelastic=bool(inelastic),
        k_factor=k,
        notes=tuple(notes),
    )


def dsigma_dx(model: str, beam: str, energy: float, target: str, mass: float, x, coupling: float = 1.0,
              method: str = "etl", inelastic: bool = True, theta_max: float = THETA_MAX):  # fmt: skip
    """dσ/dx (pb per atom per unit x) normalised so that ∫dx dσ/dx = σ of :func:`cross_section`.

    Shapes: WW from the θ-integrated double differential, IWW/ETL from the IWW shape
    (DMG4 samples the ETL x from the IWW dσ/dx).  Returns (values, method_used).
    """
    _check(model, beam, method)
    mat = get_material(target)
    method_used, _ = resolve_method(model, beam, method, energy, mass, mat.name)
    eps = float(effective_epsilon(model, beam, mass, coupling))
    x = np.asarray(x, float)
    out = np.zeros_like(x, dtype=float)
    den = sum(w / A for _, A, w in mat.components)
    for Z, A, w in mat.components:
        shape = "ww" if method_used == "ww" else "iww"
        sp = spectrum_unit(SPIN[model], beam, shape, energy, mass, Z, A, inelastic, theta_max)
        if sp.total <= 0:
            continue
        tot = sigma_element_unit(model, beam, method_used, energy, mass, Z, A, 0.0, inelastic, theta_max)
        out = out + (w / A) / den * tot * sp.pdf(x)
    return out * eps**2 * GEV2_TO_PB, method_used


__all__ = [
    "MODELS",
    "METHODS",
    "BEAMS",
    "SPIN",
    "THETA_MAX",
    "CrossSectionResult",
    "Spectrum",
    "amplitude",
    "coupling_convention",
    "cross_section",
    "dsigma_dx",
    "dsigma_dx_iww_unit",
    "dsigma_dx_ww_unit",
    "dsigma_dxdtheta_ww_unit",
    "effective_epsilon",
    "energy_threshold",
    "resolve_method",
    "sigma_element_unit",
    "sigma_iww_closed_unit",
    "sigma_above_vec",
    "spectrum_unit",
    "x_range",
    "zprime_kinetic_mixing",
]
