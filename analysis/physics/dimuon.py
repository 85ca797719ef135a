"""QED dimuon normalisation: e⁻N → e⁻N μ⁺μ⁻ in the NA64 ECAL (issue 5, item 7).

The rate of muon pairs per electron on target (EOT) in a thick active target is the
standard NA64 cross-check of the simulation/normalisation (PHYSICS.md §1: "e⁻ → e⁻ μ⁺μ⁻ in
the ECAL (a standard benchmark sample)").  Three QED contributions are computed:

1. **two-step** (dominant): bremsstrahlung photons of the shower convert into μ⁺μ⁻ in the
   nuclear field, γN → μ⁺μ⁻N (Bethe–Heitler)::

       N_μμ/N_e = ∫ dk T_γ(E₀, k) κ(k),   κ(k) = X₀ Σ_i (w_i N_A / A_i) σ_γ→μμ(k; Z_i, A_i)

   T_γ is the differential photon track length (in X₀ per GeV) and κ the number of μμ
   conversions per radiation length of the (mixed) material.  The pair energy is the photon
   energy (the nucleus takes momentum, no energy).
2. **direct** (trident) electroproduction eN → eNμ⁺μ⁻ through a virtual photon, estimated
   with the equivalent-photon (Weizsäcker–Williams) spectrum of the shower e± convoluted
   with the same σ_γ→μμ (Budnev et al., Phys. Rept. 15 (1975) 181; Frixione et al.,
   Phys. Lett. B 319 (1993) 339).  It is ≈ 1–1.5 % of the two-step rate in the ECAL (see
   docs/physics.md "Dimuon normalisation"); it scales linearly with a thin target's
   thickness while the two-step process scales quadratically (T²/2), so it dominates
   below T ≈ 0.03 X₀.
3. **annihilation** of shower positrons on atomic electrons, e⁺e⁻ → μ⁺μ⁻ (threshold
   E₊ = 2m_μ²/m_e − m_e ≈ 43.7 GeV); σ = (4πα²/3s) β(3 − β²)/2 per electron; ≤ 1 % of
   the two-step rate (largest, 0.9 %, for E_μμ > 40–50 GeV).

Cross section γN → μ⁺μ⁻N: Burkhardt, Kelner, Kokoulin, "Monte Carlo generator for muon pair
production", CERN-SL-2002-016 (AP) / CLIC Note 511 (2002) [BKK02], implemented in Geant4's
``G4GammaConversionToMuons`` and described in the Geant4 Physics Reference Manual ("Gamma
conversion into μ⁺μ⁻ pair").  Re-expressed here:

    dσ/dx₊ = 4αZ² r_μ² (1 − (4/3) x₊x₋) ln W,
    W = W_∞ [1 + (D_n√e − 2) δ/m_μ] / [1 + B Z^(−1/3) √e δ/m_e],
    W_∞ = B Z^(−1/3) m_μ / (D_n m_e),  δ = m_μ² / (2k x₊x₋),
    B = 183, D_n = 1.54 A^0.27 (hydrogen: B = 202.4, D_n = 1.49),

(Thomas–Fermi screening and the finite nuclear size; the (1 − 4x₊x₋/3) factor is the
unscreened Bethe–Heitler weight x₊² + x₋² + 2x₊x₋/3), and the total cross section
parametrisation

    σ(k) = (28/9) αZ² r_μ² ln(1 + W_M C_f E_g),
    E_g = (1 − 4m_μ/k)^t (W_sat^s + k^s)^(1/s),  s = −0.88,  t = 1.479 + 0.00799 D_n,
    W_M = 1/(4 D_n √e m_μ),  W_sat = W_∞/W_M,
    C_f = 1 + 0.04 ln(1 + E_c/k),  E_c = (−18 + 4347/(B Z^(−1/3))) GeV.

Note on E_c: Geant4 codes ``Ecor = -18. + 4347./(B*Zthird)`` without a unit while its photon
energy is in MeV, i.e. effectively E_c in MeV.  Integrating the BKK differential formula
numerically (``method="integral"``) reproduces the parametrisation to ≤ 1 % (Pb, C, Fe;
1 GeV–1 PeV) only with E_c in GeV (with MeV it is 15 % low at 1 GeV, 5 % at 10 GeV, 1 % at
100 GeV), so GeV is used here (tests/test_physics_dimuon.py checks this).  Asymptotically
σ → (28/9) αZ² r_μ² ln W_∞ (complete screening + nuclear size), the analogue of the
(28/9) αZ² r_e² [ln(183 Z^(−1/3)) − 1/42] of e⁺e⁻ pair production.

Threshold: the physical threshold is 2m_μ(1 + m_μ/M_A) ≈ 2m_μ.  The BKK parametrisation
vanishes at k = 4m_μ (its factor (1 − 4m_μ/k)^t), and the BKK differential formula has W < 1
(ln W clipped at 0) below ≈ 4m_μ as well, so both forms are zero for k ≲ 4m_μ and ~1e-3 of
σ_∞ at 0.5 GeV.  The true Bethe–Heitler cross section between 2m_μ and 4m_μ is ≲ 1e-3 σ_∞
(nuclear form factor at q ~ m_μ); this affects only the threshold-less total rate (≈ 1 %),
not rates above ≳ 1 GeV.  Neglected: incoherent (quasi-elastic) production on
nucleons, O(1/Z) ≈ 1 % for Pb; pair production on atomic electrons γe → eμμ (threshold
43.9 GeV, small below several hundred GeV [Geant4 PRM]).

Photon track length: the electromagnetic cascade in Rossi–Greisen approximation A
(complete-screening bremsstrahlung φ(v) = (1/v)(4/3 − 4v/3 + v²) and pair production
ψ(u) = 1 − (4/3)u(1 − u) per X₀, no ionisation loss, no Compton; B. Rossi, *High-Energy
Particles* (1952); Tsai, Rev. Mod. Phys. 46 (1974) 815, Eqs. (3.83), (3.84) without the small
1/(18 ln(183Z^(−1/3))) terms) is solved **depth-resolved** for a target of finite thickness
T (in X₀): the longitudinal cascade equations are discretised on a uniform grid in
y = ln(E₀/E) (spacing h = 0.02; each jump is shared between the two neighbouring nodes so
that particle number *and* energy are conserved exactly, which keeps the E₀/E² growth of the
low-energy track length exact) and integrated over depth exactly, ∫₀^T e^{Mt} dt, with a
matrix exponential (T = ∞: −M⁻¹).  Approximation A is exact in the scaling variable E/E₀, so
one table per thickness serves all beam energies.  It reproduces the low-energy asymptote
T_γ → 0.5707 X₀E₀/k² (0.5729 with Tsai's b-terms; Rossi: 0.572) and agrees with the
Mellin-space solution of analysis.physics.tracklength (T = ∞) to 1e-4 for k < 0.75 E₀ and
≤ 1 % as k → E₀.  The b-terms (φ += b(1−v)/v, ψ −= b u(1−u), b ≈ 0.032 for Pb, see
``tsai_b_prime``) are included by default in the rates; they change them by −1 % … +0.3 %.
Ionisation loss (approximation B) matters only near the critical energy (≈ 7–10 MeV here),
far below the μμ threshold; LPM suppression of the bremsstrahlung in Pb sets in for photons
below E²/E_LPM ≈ 2 GeV only.  Thick-target approximation: a 40 X₀ ECAL differs from T = ∞
by < 1e-8 relative for pair energies above 1 GeV; 10 X₀ already gives 99.9 % (E_μμ > 40 GeV).

Units: GeV, cm, g/cm²; cross sections in **cm²** per atom; track lengths in X₀ (per GeV for
differential ones); rates are numbers of μ⁺μ⁻ pairs per EOT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import expm_multiply

from .constants import ALPHA, M_E, M_MU, N_A

# ------------------------------------------------------------------------------------------
# constants
# ------------------------------------------------------------------------------------------
#: classical electron radius r_e (cm), CODATA 2018
R_E_CM = 2.8179403262e-13
#: classical muon radius r_μ = r_e m_e/m_μ (cm) (Geant4: Rc = elm_coupling/Mmuon)
R_MU_CM = R_E_CM * M_E / M_MU
#: ħc (GeV cm), PDG, for GeV⁻² → cm²: 1 GeV⁻² = (ħc)² = 3.8938e-28 cm²
HBARC_GEV_CM = 1.973269804e-14
#: 1 mb in cm²
MB_CM2 = 1.0e-27
SQRT_E = math.sqrt(math.e)
#: photon pair-conversion probability per X₀ in approximation A (∫ψ du)
SIGMA_PAIR_A = 7.0 / 9.0
#: BKK02 saturation exponent s and threshold-exponent coefficients t = T0 + T1·D_n
_BKK_S = -0.88
_BKK_T0, _BKK_T1 = 1.479, 0.00799

PROCESSES = ("two-step", "direct", "annihilation")


# ------------------------------------------------------------------------------------------
# γ N → μ⁺ μ⁻ N  (Burkhardt–Kelner–Kokoulin 2002)
# ------------------------------------------------------------------------------------------
def _bkk_params(Z, A, B=None, Dn=None):
    Z = np.asarray(Z, float)
    A = np.asarray(A, float)
    hydrogen = np.isclose(Z, 1.0)
    if B is None:
        B = np.where(hydrogen, 202.4, 183.0)
    if Dn is None:
        Dn = np.where(hydrogen, 1.49, 1.54 * A**0.27)
    z13 = Z ** (-1.0 / 3.0)
    w_inf = B * z13 * M_MU / (Dn * M_E)
    return B, Dn, z13, w_inf


def w_infinity(Z, A):
    """W_∞ = B Z^(−1/3) m_μ/(D_n m_e) of BKK02 (complete-screening argument of the log)."""
    return _bkk_params(Z, A)[3]


def sigma_gamma_mumu_asymptotic(Z, A):
    """High-energy limit σ_∞ = (28/9) αZ² r_μ² ln W_∞ (cm²) of the BKK02 cross section."""
    Z = np.asarray(Z, float)
    return 28.0 / 9.0 * ALPHA * Z**2 * R_MU_CM**2 * np.log(w_infinity(Z, A))


def dsigma_dx_gamma_mumu(k, x, Z, A, B=None, Dn=None):
    """BKK02 differential cross section dσ/dx₊ (cm²) for γ(k) N → μ⁺(x₊k) μ⁻((1−x₊)k) N.

    Zero outside x₊ ∈ [m_μ/k, 1 − m_μ/k] and where W < 1 (very near threshold).
    Vectorised (broadcast over k, x, Z, A).  ``B``/``Dn`` override the screening and nuclear
    constants (B → ∞, D_n = 1 gives the unscreened point-nucleus Bethe–Heitler limit,
    ln W → ln(m_μ/δ) − 1/2; used in the tests).
    """
    k = np.asarray(k, float)
    x = np.asarray(x, float)
    B, Dn, z13, w_inf = _bkk_params(Z, A, B, Dn)
    xm = 1.0 - x
    ok = (k > 2.0 * M_MU) & (x * k >= M_MU) & (xm * k >= M_MU)
    xx = np.where(ok, x * xm, 0.25)
    kk = np.where(ok, k, 1.0)
    delta = M_MU**2 / (2.0 * kk * xx)
    W = w_inf * (1.0 + (Dn * SQRT_E - 2.0) * delta / M_MU) / (1.0 + B * z13 * SQRT_E * delta / M_E)
    logw = np.log(np.maximum(W, 1.0))
    Zf = np.asarray(Z, float)
    out = 4.0 * ALPHA * Zf**2 * R_MU_CM**2 * (1.0 - 4.0 / 3.0 * xx) * logw
    return np.where(ok, out, 0.0)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)


def _sigma_integral(k, Z, A, B=None, Dn=None):
    """∫ dσ/dx₊ dx₊ over [m_μ/k, 1 − m_μ/k] (symmetric: 2 × the lower half), Gauss–Legendre
    in ln x₊ on the lower half (the integrand varies on the scale of x₊ ~ m_μ/k)."""
    k = np.atleast_1d(np.asarray(k, float))
    out = np.zeros_like(k)
    ok = k > 2.0 * M_MU
    if not np.any(ok):
        return out
    kk = k[ok][:, None]
    lo = np.log(M_MU / kk)
    hi = np.log(0.5)
    # two panels in ln x: [ln(m/k), ln(min(0.5, 30 m/k))], [.., ln 0.5]
    mid = np.minimum(np.log(30.0 * M_MU / kk), hi)
    total = np.zeros(kk.shape[0])
    for a, b in ((lo, mid), (mid, hi)):
        u = 0.5 * (b - a) * _GL_X[None, :] + 0.5 * (b + a)
        x = np.exp(u)
        f = dsigma_dx_gamma_mumu(kk, x, Z, A, B, Dn) * x
        total += 0.5 * (b - a)[:, 0] * (f * _GL_W[None, :]).sum(axis=1)
    out[ok] = 2.0 * total
    return out


def sigma_gamma_mumu(k_GeV, Z, A, method: str = "bkk", B=None, Dn=None):
    """Total Bethe–Heitler cross section σ(γN → μ⁺μ⁻N) per atom, in **cm²**.

    ``method="bkk"`` (default): the analytic BKK02 / Geant4 ``G4GammaConversionToMuons``
    parametrisation (E_c in GeV, see module docstring), zero for k ≤ 4m_μ.
    ``method="integral"``: numerical integral of the BKK02 dσ/dx₊ with the exact kinematic
    limits (zero for k ≤ 2m_μ).  Vectorised over k (Z, A scalars or broadcastable).
    Multiply by 1e27 for mb.  ``B``/``Dn`` (integral method only) override the BKK constants.
    """
    if method == "integral":
        k = np.asarray(k_GeV, float)
        if np.ndim(Z) or np.ndim(A):
            raise ValueError("method='integral' takes scalar Z and A")
        return _sigma_integral(k.ravel(), float(Z), float(A), B, Dn).reshape(k.shape)
    if method != "bkk":
        raise ValueError("method must be 'bkk' or 'integral'")
    if B is not None or Dn is not None:
        raise ValueError("B/Dn overrides need method='integral'")
    k = np.asarray(k_GeV, float)
    Z = np.asarray(Z, float)
    B, Dn, z13, w_inf = _bkk_params(Z, A)
    w_m = 1.0 / (4.0 * Dn * SQRT_E * M_MU)
    w_sat = w_inf / w_m
    t = _BKK_T0 + _BKK_T1 * Dn
    e_c = -18.0 + 4347.0 / (B * z13)  # GeV
    ok = k > 4.0 * M_MU
    kk = np.where(ok, k, 1.0)
    c_f = 1.0 + 0.04 * np.log1p(e_c / kk)
    e_g = (1.0 - 4.0 * M_MU / kk) ** t * (w_sat**_BKK_S + kk**_BKK_S) ** (1.0 / _BKK_S)
    sig = 28.0 / 9.0 * ALPHA * Z**2 * R_MU_CM**2 * np.log1p(w_m * c_f * e_g)
    return np.where(ok, sig, 0.0)


def sigma_ee_to_mumu(e_positron):
    """σ(e⁺e⁻ → μ⁺μ⁻) (cm²) for a positron of energy E₊ (GeV) on an electron at rest:
    (4πα²/3s) β (3 − β²)/2, s = 2m_e(E₊ + m_e) (lowest order QED)."""
    e = np.asarray(e_positron, float)
    s = 2.0 * M_E * (e + M_E)
    b2 = np.clip(1.0 - 4.0 * M_MU**2 / s, 0.0, None)
    beta = np.sqrt(b2)
    sig = 4.0 * math.pi * ALPHA**2 / (3.0 * s) * beta * (3.0 - b2) / 2.0 * HBARC_GEV_CM**2
    return np.where(b2 > 0, sig, 0.0)


# ------------------------------------------------------------------------------------------
# targets
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DimuonTarget:
    """A (possibly mixed) target: ``components`` = ((Z, A [g/mol], mass fraction), ...),
    ``x0_gcm2`` its radiation length, ``thickness_x0`` its default thickness (X₀)."""

    name: str
    components: tuple
    x0_gcm2: float
    thickness_x0: float
    note: str = ""

    def atoms_per_gram(self):
        return [(Z, A, w * N_A / A) for Z, A, w in self.components]

    def electrons_per_gram(self) -> float:
        return sum(Z * w * N_A / A for Z, A, w in self.components)


def _mixture_x0(parts):
    """1/X₀ = Σ w_i/X₀_i (mass fractions), PDG 'Passage of particles through matter' §34.4.2."""
    return 1.0 / sum(w / x0 for w, x0 in parts)


# PDG Atomic and Nuclear Properties: Pb ρ = 11.35 g/cm³, X₀ = 6.37 g/cm²; polystyrene
# scintillator ρ = 1.060 g/cm³, X₀ = 43.79 g/cm², C 92.26 %, H 7.74 % by mass.
_PB = (82.0, 207.2)
_SC = ((6.0, 12.0107, 0.922582), (1.0, 1.00794, 0.077418))
_PB_LAYER_CM, _SC_LAYER_CM = 0.15, 0.15  # NA64 ECAL shashlik: 1.5 mm Pb / 1.5 mm Sc [check]
_m_pb, _m_sc = 11.35 * _PB_LAYER_CM, 1.060 * _SC_LAYER_CM
_w_pb = _m_pb / (_m_pb + _m_sc)
_ECAL_COMPONENTS = ((82.0, 207.2, _w_pb),) + tuple((Z, A, (1.0 - _w_pb) * f) for Z, A, f in _SC)
_ECAL_X0 = _mixture_x0(((_w_pb, 6.37), (1.0 - _w_pb, 43.79)))

TARGETS: dict[str, DimuonTarget] = {
    "ECAL": DimuonTarget(
        "ECAL",
        _ECAL_COMPONENTS,
        _ECAL_X0,
        40.0,
        "NA64 Pb/Sc shashlik ECAL (preshower + main, ≈ 40 X₀, PHYSICS.md §1), treated as a "
        "homogeneous mixture of 1.5 mm Pb + 1.5 mm Sc layers (0.27 X₀ per layer)",
    ),
    "Pb": DimuonTarget("Pb", ((82.0, 207.2, 1.0),), 6.37, 40.0, "pure lead"),
    "W": DimuonTarget("W", ((74.0, 183.84, 1.0),), 6.76, 40.0, "pure tungsten"),
    "Fe": DimuonTarget("Fe", ((26.0, 55.845, 1.0),), 13.84, 40.0, "pure iron"),
    "Cu": DimuonTarget("Cu", ((29.0, 63.546, 1.0),), 12.86, 40.0, "pure copper"),
}


def get_target(target) -> DimuonTarget:
    if isinstance(target, DimuonTarget):
        return target
    for key, tgt in TARGETS.items():
        if key.lower() == str(target).lower():
            return tgt
    raise KeyError(f"unknown target {target!r}; known: {sorted(TARGETS)}")


def mumu_conversions_per_x0(k, target="ECAL"):
    """κ(k) = X₀ Σ_i n_i σ_γ→μμ(k; Z_i, A_i): μμ conversions per radiation length of a photon
    of energy k (GeV) in ``target`` (dimensionless)."""
    tgt = get_target(target)
    k = np.asarray(k, float)
    out = np.zeros_like(k)
    for Z, A, n in tgt.atoms_per_gram():
        out = out + n * sigma_gamma_mumu(k, Z, A)
    return tgt.x0_gcm2 * out


# ------------------------------------------------------------------------------------------
# depth-resolved approximation-A cascade on a grid in y = ln(E0/E)
# ------------------------------------------------------------------------------------------
_GLH_X, _GLH_W = np.polynomial.legendre.leggauss(12)


def _split(s, h):
    """Fraction of a particle at offset (m + s)h given to node m + 1 (the rest to node m) such
    that both the number and the energy Σ e^{−y} are conserved: (1 − e^{−sh})/(1 − e^{−h})."""
    return -np.expm1(-s * h) / -math.expm1(-h)


def _hat_moments(g, h, n):
    """K(m) = ∫ g(z) Λ_m(z) dz for m = 0..n−1 over z ≥ 0, where Λ_m is the energy-conserving
    deposition weight of node m (rising: split(s) on [(m−1)h, mh]; falling: 1 − split(s) on
    [mh, (m+1)h]).  g must be regular on (0, ∞); Gauss–Legendre on each half-cell."""
    m = np.arange(n, dtype=float)
    out = np.zeros(n)
    s = 0.5 * (_GLH_X + 1.0)  # in (0, 1)
    w = 0.5 * _GLH_W
    fs = _split(s, h)
    for shift, weight in ((-1.0, fs), (0.0, 1.0 - fs)):
        z = (m[:, None] + shift + s[None, :]) * h
        valid = z > 0
        gz = np.where(valid, g(np.where(valid, z, 1.0)), 0.0)
        out += h * (gz * weight[None, :] * w[None, :]).sum(axis=1)
    return out


def _cascade_matrix(h: float, n: int, b: float = 0.0):
    """Generator M (2n × 2n; first n rows e±, last n photons) of d/dt [π; γ] = M [π; γ] on the
    y-grid, per X₀.  Kernels (Tsai 1974 Eqs. (3.83)–(3.84), complete screening):
    φ(v) = [4/3 − 4v/3 + v² + b(1 − v)]/v, ψ(u) = 1 − (4/3 + b) u(1 − u), σ_pair = 7/9 − b/6;
    b = 0 is Rossi's approximation A without the small b-terms (``tsai_b_prime``)."""

    def rho(w):  # electron energy shift w = −ln(1−v): rate density φ(v)(1 − v)
        v = -np.expm1(-w)
        return (4.0 / 3.0 - 4.0 / 3.0 * v + v * v + b * (1.0 - v)) / v * (1.0 - v)

    k_e = _hat_moments(rho, h, n)
    # diagonal: −[∫₀^h ρ(w) split(w/h) dw + ∫_h^∞ ρ dw]  (split(s) ≈ s: integrable)
    s = 0.5 * (_GLH_X + 1.0)
    w_in = (0.5 * _GLH_W * rho(s * h) * _split(s, h)).sum() * h
    v_h = -math.expm1(-h)
    lg = math.log(1.0 / v_h)
    tail = (4.0 / 3.0 * lg - 4.0 / 3.0 * (1.0 - v_h) + 0.5 * (1.0 - v_h**2)
            + b * (lg - (1.0 - v_h)))  # fmt: skip
    d_e = -(w_in + tail)
    # photon emitted at offset z = −ln v: rate φ(v) v
    k_g = _hat_moments(
        lambda z: 4.0 / 3.0 - 4.0 / 3.0 * np.exp(-z) + np.exp(-2.0 * z) + b * (1.0 - np.exp(-z)), h, n
    )
    # e± from a photon at offset z = −ln u: rate 2ψ(u)u (electron + positron)
    def pair(z):
        u = np.exp(-z)
        return 2.0 * (1.0 - (4.0 / 3.0 + b) * u * (1.0 - u)) * u

    k_p = _hat_moments(pair, h, n)
    sigma_pair = SIGMA_PAIR_A - b / 6.0

    idx = np.arange(n)
    off = idx[:, None] - idx[None, :]  # row − column = m
    low = off >= 0
    mee = np.where(off >= 1, k_e[np.clip(off, 0, n - 1)], 0.0)
    mee[idx, idx] = d_e
    mge = np.where(low, k_g[np.clip(off, 0, n - 1)], 0.0)
    meg = np.where(low, k_p[np.clip(off, 0, n - 1)], 0.0)
    mgg = -sigma_pair * np.eye(n)
    return np.block([[mee, meg], [mge, mgg]])


def _grid(h: float, y_max: float):
    n = int(math.ceil(y_max / h)) + 1
    return n, np.arange(n) * h


@lru_cache(maxsize=32)
def _shower_table(thickness_x0: float, h: float, y_max: float, b: float = 0.0):
    """Node track lengths (X₀) of e± and photons, and of positrons, for a unit primary electron.

    Returns (y nodes, L_e, L_γ, L_e+).  L are node masses (track length within ±h of the node,
    hat-weighted).  Positrons: for T = ∞ from the integrated equations; for finite T from the
    same matrix exponential with a separate positron block.
    """
    n, y = _grid(h, y_max)
    M = _cascade_matrix(h, n, b)
    v0 = np.zeros(2 * n)
    v0[0] = 1.0
    if math.isinf(thickness_x0):
        # −M L = v0 (M is block lower triangular in y; a dense LU solve is fast enough)
        L = np.linalg.solve(-M, v0)
        l_e, l_g = L[:n], L[n:]
        # positrons: M_ee L₊ + ½ M_eγ L_γ = 0
        l_pos = np.linalg.solve(-M[:n, :n], 0.5 * M[:n, n:] @ l_g)
        return y, l_e, l_g, l_pos
    # finite thickness: augmented generator G = [[M, v0], [0, 0]] → (e^{GT})[:, −1] contains
    # ∫₀^T e^{Mt} v0 dt; positrons via a third block driven by ½ × pair production.
    aug = np.zeros((3 * n + 1, 3 * n + 1))
    aug[: 2 * n, : 2 * n] = M
    aug[2 * n : 3 * n, 2 * n : 3 * n] = M[:n, :n]
    aug[2 * n : 3 * n, n : 2 * n] = 0.5 * M[:n, n:]
    aug[: 2 * n, -1] = v0
    last = np.zeros(3 * n + 1)
    last[-1] = 1.0
    L = expm_multiply(sparse.csr_matrix(aug * thickness_x0), last)
    return y, L[:n], L[n : 2 * n], L[2 * n : 3 * n]


def _node_density(y, mass, h):
    """Continuous density per unit y from node masses: each interior node's deposition weight
    integrates to h; the boundary node y = 0 has only its falling half,
    ∫₀^h (1 − split(s)) dy = h − (h − (1 − e^{−h}))/(1 − e^{−h})."""
    d = np.asarray(mass, float) / h
    width0 = h - (h + math.expm1(-h)) / -math.expm1(-h)
    d[0] = mass[0] / width0
    return d


DEFAULT_H = 0.02
_Y_MAX_MIN = 8.0


def _y_max_for(beam_energy: float, e_min: float = 2.0 * M_MU) -> float:
    """Grid extent in y = ln(E₀/E) reaching e_min, rounded up to an even number (cache reuse)."""
    need = math.log(max(beam_energy / e_min, 1.0)) + 0.2
    return max(_Y_MAX_MIN, 2.0 * math.ceil(need / 2.0))


def _thickness_key(thickness_x0) -> float:
    t = float(thickness_x0)
    if not (t > 0):
        raise ValueError("thickness (X0) must be > 0")
    return math.inf if math.isinf(t) else round(t, 9)


def _tsai_radiation_logs(Z: float):
    """Tsai 1974 Table B.2 (Z ≤ 4) / Eqs. (3.66)–(3.67): (L_rad, L'_rad, f(Z))."""
    table = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}
    iz = int(round(Z))
    if iz in table:
        l_rad, l_prime = table[iz]
    else:
        l_rad = math.log(184.15 * Z ** (-1.0 / 3.0))
        l_prime = math.log(1194.0 * Z ** (-2.0 / 3.0))
    a2 = (ALPHA * Z) ** 2
    f = a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
    return l_rad, l_prime, f


def tsai_b_prime(target="ECAL") -> float:
    """Coefficient b of Tsai's small complete-screening terms in X₀ units,
    b = (1/9) Σ n_i (Z_i² + Z_i) / Σ n_i [Z_i²(L_rad − f) + Z_i L′_rad]  (≈ 0.033 for Pb)."""
    num = den = 0.0
    for Z, A, n in get_target(target).atoms_per_gram():
        l_rad, l_prime, f = _tsai_radiation_logs(Z)
        num += n * (Z * Z + Z)
        den += n * (Z * Z * (l_rad - f) + Z * l_prime)
    return num / (9.0 * den)


def shower_track_lengths(thickness_x0=math.inf, h: float = DEFAULT_H, y_max: float = _Y_MAX_MIN,
                         b: float = 0.0):  # fmt: skip
    """Depth-integrated track lengths for one primary electron, per unit y = ln(E₀/E), in X₀.

    Returns a dict: ``y`` (grid nodes), ``electron_mass`` (all e± incl. the primary, node
    masses), ``photons`` and ``positrons`` (densities per unit y, linear between nodes).
    Target of ``thickness_x0`` radiation lengths (``math.inf``: semi-infinite); ``b``: Tsai's
    b-term coefficient (0: approximation A as in Rossi/analysis.physics.tracklength).
    """
    y, l_e, l_g, l_p = _shower_table(_thickness_key(thickness_x0), float(h), float(y_max), float(b))
    return {
        "y": y,
        "electron_mass": l_e,
        "photons": _node_density(y, l_g, h),
        "positrons": _node_density(y, l_p, h),
    }


def _interp_density(y_nodes, dens, yq):
    return np.interp(yq, y_nodes, dens, right=0.0)


def photon_track_length(E0, k, X0_thickness=math.inf, b: float = 0.0, h: float = DEFAULT_H):
    """Differential photon track length T_γ(E₀, k) in **X₀ per GeV** in a target of
    ``X0_thickness`` radiation lengths, for one primary electron of energy E₀ (approximation
    A; ``b = tsai_b_prime(target)`` adds Tsai's b-terms).  Multiply by X₀ (g/cm²) for g/cm²
    per GeV.  Vectorised over k; zero outside 0 < k < E₀ and below E₀ e^{−y_max}."""
    k = np.asarray(k, float)
    tab = shower_track_lengths(X0_thickness, h, _y_max_for(E0), b)
    out = np.zeros_like(k)
    ok = (k > 0) & (k < E0)
    out[ok] = _interp_density(tab["y"], tab["photons"], np.log(E0 / k[ok])) / k[ok]
    return out


def positron_track_length(E0, E, X0_thickness=math.inf, b: float = 0.0, h: float = DEFAULT_H):
    """Differential positron track length (X₀ per GeV) in the shower of an electron E₀."""
    E = np.asarray(E, float)
    tab = shower_track_lengths(X0_thickness, h, _y_max_for(E0), b)
    out = np.zeros_like(E)
    ok = (E > 0) & (E < E0)
    out[ok] = _interp_density(tab["y"], tab["positrons"], np.log(E0 / E[ok])) / E[ok]
    return out


# ------------------------------------------------------------------------------------------
# equivalent photons of an electron (direct/trident estimate)
# ------------------------------------------------------------------------------------------
#: default Q²_max of the equivalent-photon flux: the μμ subprocess is cut off for virtualities
#: above ≈ M²_μμ ≳ (2m_μ)²; varied ×1/4 … ×4 for the uncertainty of the direct term.
Q2MAX_DEFAULT = (2.0 * M_MU) ** 2


def epa_photon_flux(E, k, q2max=Q2MAX_DEFAULT):
    """Equivalent-photon number dN/dk (per GeV) of an electron of energy E (Budnev et al.,
    Phys. Rept. 15 (1975) 181; Frixione, Mangano, Nason, Ridolfi, PLB 319 (1993) 339, Eq. (4)):

        dN/dy = (α/2π) [ (1 + (1−y)²)/y · ln(Q²max/Q²min) + 2m_e² y (1/Q²max − 1/Q²min) ],
        Q²min = m_e² y²/(1 − y),  y = k/E,  clipped at 0.
    """
    E = np.asarray(E, float)
    k = np.asarray(k, float)
    ok = (k > 0) & (k < E)
    y = np.where(ok, k / np.where(E > 0, E, 1.0), 0.5)
    q2min = M_E**2 * y**2 / (1.0 - y)
    f = ALPHA / (2.0 * math.pi) * ((1.0 + (1.0 - y) ** 2) / y * np.log(q2max / q2min)
                                   + 2.0 * M_E**2 * y * (1.0 / q2max - 1.0 / q2min))  # fmt: skip
    f = np.where(ok & (q2max > q2min), np.maximum(f, 0.0), 0.0)
    return f / np.where(E > 0, E, 1.0)


# ------------------------------------------------------------------------------------------
# pair-energy spectra and rates
# ------------------------------------------------------------------------------------------
N_PAIR_GRID = 3001


def _pair_threshold(process: str) -> float:
    if process == "annihilation":
        return 2.0 * M_MU**2 / M_E - M_E  # positron energy threshold (≈ 43.7 GeV)
    return 4.0 * M_MU  # BKK threshold (module docstring)


@lru_cache(maxsize=64)
def _spectrum_table(beam_energy: float, target_name: str, thickness: float, process: str,
                    h: float, q2max: float, b_terms: bool):  # fmt: skip
    """(E grid, dN_μμ/dE per EOT per GeV) from the threshold to E₀."""
    tgt = get_target(target_name)
    e0 = float(beam_energy)
    e_lo = _pair_threshold(process) * (1.0 + 1e-9)
    if e_lo >= e0:
        e = np.array([e0 * (1 - 1e-9), e0])
        return e, np.zeros_like(e)
    # grid uniform in y = ln(E0/E), refined geometrically towards E0 (y → 0)
    y_c = math.log(e0 / e_lo)
    y = np.linspace(0.0, y_c, N_PAIR_GRID)
    y = np.unique(np.concatenate([y, np.geomspace(1e-7, min(0.05, y_c), 200)]))
    y = y[y <= y_c]
    e = np.sort(e0 * np.exp(-y))
    b = tsai_b_prime(tgt) if b_terms else 0.0
    tab = shower_track_lengths(thickness, h, _y_max_for(e0, e_lo), b)
    yy = np.log(e0 / e)
    if process == "two-step":
        dens = _interp_density(tab["y"], tab["photons"], yy) / e * mumu_conversions_per_x0(e, tgt)
    elif process == "annihilation":
        n_e = tgt.electrons_per_gram() * tgt.x0_gcm2
        dens = _interp_density(tab["y"], tab["positrons"], yy) / e * n_e * sigma_ee_to_mumu(e)
    elif process == "direct":
        e_nodes = e0 * np.exp(-tab["y"])
        m_nodes = tab["electron_mass"]
        keep = (e_nodes > e_lo) & (m_nodes > 0)
        flux = epa_photon_flux(e_nodes[keep][None, :], e[:, None], q2max)  # (n_E, n_nodes)
        dens = (flux * m_nodes[keep][None, :]).sum(axis=1) * mumu_conversions_per_x0(e, tgt)
    else:
        raise ValueError(f"process must be one of {PROCESSES}")
    dens = np.where(e < e0, dens, 0.0)
    return e, dens


def _processes(process) -> tuple:
    if process in (None, "total", "all"):
        return PROCESSES
    if isinstance(process, str):
        process = (process,)
    for p in process:
        if p not in PROCESSES:
            raise ValueError(f"process must be 'total' or in {PROCESSES}, got {p!r}")
    return tuple(process)


def _spectrum(beam_energy, target, thickness_x0, process, h, q2max, b_terms):
    tgt = get_target(target)
    t = _thickness_key(tgt.thickness_x0 if thickness_x0 is None else thickness_x0)
    parts = [_spectrum_table(float(beam_energy), tgt.name, t, p, float(h), float(q2max), bool(b_terms))
             for p in _processes(process)]  # fmt: skip
    grid = np.unique(np.concatenate([e for e, _ in parts]))
    dens = np.zeros_like(grid)
    for e, d in parts:  # each is zero below its own threshold
        dens += np.interp(grid, e, d, left=0.0, right=0.0)
    return grid, dens


def _table_above(beam_energy, min_pair_energy, target, thickness_x0, process, h, q2max, b_terms):
    """(E, density, cumulative) from max(min_pair_energy, threshold) to E₀, or None if empty."""
    e, d = _spectrum(beam_energy, target, thickness_x0, process, h, q2max, b_terms)
    lo = e[0] if min_pair_energy is None else max(float(min_pair_energy), e[0])
    if lo >= e[-1]:
        return None
    sel = e > lo
    ee = np.concatenate([[lo], e[sel]])
    dd = np.concatenate([[np.interp(lo, e, d)], d[sel]])
    c = np.concatenate([[0.0], np.cumsum(0.5 * (dd[1:] + dd[:-1]) * np.diff(ee))])
    return ee, dd, c


def dimuon_rate_per_eot(beam_energy: float = 100.0, min_pair_energy: float | None = None,
                        target="ECAL", thickness_x0: float | None = None, process="total",
                        h: float = DEFAULT_H, q2max: float = Q2MAX_DEFAULT,
                        b_terms: bool = True) -> float:  # fmt: skip
    """Expected number of μ⁺μ⁻ pairs with pair energy above ``min_pair_energy`` (GeV) per
    electron on target (Born-level QED).

    ``target``: "ECAL" (NA64 Pb/Sc shashlik, 40 X₀), "Pb", "W", "Fe", "Cu" or a DimuonTarget;
    ``thickness_x0`` overrides its thickness (``math.inf``: semi-infinite).  ``process``:
    "total" (two-step + direct + annihilation), one of "two-step", "direct", "annihilation",
    or a tuple of them.  ``min_pair_energy=None``: from threshold.  ``b_terms``: include
    Tsai's small complete-screening terms in the shower (default; False = approximation A).
    ``q2max``: Q²_max (GeV²) of the equivalent-photon flux of the direct term.
    """
    tab = _table_above(beam_energy, min_pair_energy, target, thickness_x0, process, h, q2max, b_terms)
    return 0.0 if tab is None else float(tab[2][-1])


def dimuon_rate_breakdown(beam_energy: float = 100.0, min_pair_energy: float | None = None,
                          target="ECAL", thickness_x0: float | None = None, **kw) -> dict:  # fmt: skip
    """Rates per EOT of each process and their sum ("total") above ``min_pair_energy``."""
    out = {p: dimuon_rate_per_eot(beam_energy, min_pair_energy, target, thickness_x0, p, **kw)
           for p in PROCESSES}  # fmt: skip
    out["total"] = sum(out[p] for p in PROCESSES)
    return out


def _norm_table(beam_energy, min_pair_energy, target, thickness_x0, process, h, q2max, b_terms):
    tab = _table_above(beam_energy, min_pair_energy, target, thickness_x0, process, h, q2max, b_terms)
    if tab is None or tab[2][-1] <= 0:
        raise ValueError("no dimuon pairs above min_pair_energy (at/above beam energy or threshold)")
    return tab


def dimuon_pair_energy_pdf(beam_energy, e_pair, min_pair_energy=None, target="ECAL",
                           thickness_x0=None, process="total", h=DEFAULT_H,
                           q2max=Q2MAX_DEFAULT, b_terms=True):  # fmt: skip
    """Normalised probability density (1/GeV) of the μ⁺μ⁻ pair energy for E_pair above
    ``min_pair_energy`` (None: threshold), zero elsewhere.  Vectorised over ``e_pair``."""
    ee, dd, c = _norm_table(beam_energy, min_pair_energy, target, thickness_x0, process, h, q2max, b_terms)
    x = np.asarray(e_pair, float)
    return np.where((x >= ee[0]) & (x <= ee[-1]), np.interp(x, ee, dd) / c[-1], 0.0)


def dimuon_pair_energy_cdf(beam_energy, e_pair, min_pair_energy=None, target="ECAL",
                           thickness_x0=None, process="total", h=DEFAULT_H,
                           q2max=Q2MAX_DEFAULT, b_terms=True):  # fmt: skip
    """Cumulative distribution of the pair energy (same arguments as the pdf)."""
    ee, dd, c = _norm_table(beam_energy, min_pair_energy, target, thickness_x0, process, h, q2max, b_terms)
    x = np.clip(np.asarray(e_pair, float), ee[0], ee[-1])
    i = np.clip(np.searchsorted(ee, x, side="right") - 1, 0, len(ee) - 2)
    dx = x - ee[i]
    slope = (dd[i + 1] - dd[i]) / (ee[i + 1] - ee[i])
    return (c[i] + dd[i] * dx + 0.5 * slope * dx * dx) / c[-1]


def sample_dimuon_pair_energy(beam_energy, min_pair_energy, size, rng, target="ECAL",
                              thickness_x0=None, process="total", h=DEFAULT_H,
                              q2max=Q2MAX_DEFAULT, b_terms=True):  # fmt: skip
    """Draw ``size`` μ⁺μ⁻ pair energies (GeV) above ``min_pair_energy`` (None: threshold)
    from the thick-target spectrum: exact inverse CDF of the piecewise-linear tabulated
    density (``rng``: numpy.random.Generator)."""
    return dimuon_pair_energy_ppf(beam_energy, rng.random(size), min_pair_energy, target,
                                  thickness_x0, process, h, q2max, b_terms)


def dimuon_pair_energy_ppf(beam_energy, q, min_pair_energy=None, target="ECAL",
                           thickness_x0=None, process="total", h=DEFAULT_H,
                           q2max=Q2MAX_DEFAULT, b_terms=True):  # fmt: skip
    """Pair energy (GeV) at cumulative probability ``q`` ∈ [0, 1] (inverse of
    :func:`dimuon_pair_energy_cdf`): lets a simulation place its own (biased) quantiles."""
    ee, dd, c = _norm_table(beam_energy, min_pair_energy, target, thickness_x0, process, h, q2max, b_terms)
    u = np.asarray(q, dtype=float) * c[-1]
    i = np.clip(np.searchsorted(c, u, side="right") - 1, 0, len(ee) - 2)
    r = u - c[i]
    a = 0.5 * (dd[i + 1] - dd[i]) / (ee[i + 1] - ee[i])
    b = dd[i]
    # root dx ≥ 0 of a dx² + b dx = r, in the cancellation-free form 2r/(b + √(b² + 4ar))
    denom = b + np.sqrt(np.maximum(b * b + 4.0 * a * r, 0.0))
    dx = np.where(denom > 0, 2.0 * r / np.where(denom > 0, denom, 1.0), 0.0)
    return np.clip(ee[i] + dx, ee[0], ee[-1])


__all__ = [
    "R_MU_CM",
    "MB_CM2",
    "PROCESSES",
    "TARGETS",
    "DimuonTarget",
    "get_target",
    "w_infinity",
    "sigma_gamma_mumu",
    "sigma_gamma_mumu_asymptotic",
    "dsigma_dx_gamma_mumu",
    "sigma_ee_to_mumu",
    "mumu_conversions_per_x0",
    "tsai_b_prime",
    "shower_track_lengths",
    "photon_track_length",
    "positron_track_length",
    "epa_photon_flux",
    "dimuon_rate_per_eot",
    "dimuon_rate_breakdown",
    "dimuon_pair_energy_pdf",
    "dimuon_pair_energy_ppf",
    "dimuon_pair_energy_cdf",
    "sample_dimuon_pair_energy",
]
