"""Differential track lengths of shower e⁻, e⁺ and photons in a thick target.

Method (documented parametrisation, PHYSICS.md §2 "T the differential track length of shower
e± (Tsai's approximation B or a parametrisation)"): the depth-integrated electromagnetic
cascade in Rossi–Greisen *approximation A* (complete screening, no ionisation loss,
Compton scattering neglected; B. Rossi, K. Greisen, Rev. Mod. Phys. 13 (1941) 240;
B. Rossi, *High-Energy Particles* (1952) §5) solved exactly in Mellin space and inverted
numerically (fixed-Talbot contour, J. Abate and P. Valkó, Int. J. Numer. Meth. Eng. 60
(2004) 979).

Kernels per radiation length (Tsai, Rev. Mod. Phys. 46 (1974) 815, complete screening with
the small 1/(18 ln(183 Z^-1/3)) terms dropped):

* bremsstrahlung, photon fraction v:  φ(v) = (1/v)(4/3 − 4v/3 + v²)   (∫ vφ dv = 1)
* pair production, electron fraction u: ψ(u) = 1 − (4/3)u(1 − u)       (∫ ψ du = 7/9)

With y = ln(E₀/E), P(y) dy = T(E) dE / X₀ and the Mellin moments p(s) = ∫ dy e^{−sy} P(y),
integrating the cascade equations over all depths gives (primary electron)::

    A(s) p(s) − B(s) g(s) = 1,      C(s) p(s) = D g(s)
    A(s) = ∫ φ(v)(1 − (1−v)^s) dv = (4/3)(ψ₀(s+1) + γ_E) − (4/3)s/(s+1) + 1/2 − 1/((s+1)(s+2))
    B(s) = 2∫ u^s ψ(u) du,  C(s) = ∫ v^s φ(v) dv,  D = 7/9

so p = D/Δ, g = C/Δ, Δ = AD − BC; positrons p₊ = BC/(2AΔ), electrons p₋ = 1/A + p₊
(the term 1/A is the primary itself; for a positron beam the roles swap).  Δ has a simple
zero at s = 1, which gives the low-energy asymptotics T ∝ X₀ E₀/E² with coefficients
0.4439 (all e±) and 0.5707 (photons) — Rossi's approximation-A values are 0.437 and 0.572
(they keep the small b-terms); the pole is subtracted analytically before inversion.

Validity: E ≫ E_c (7.4 MeV in Pb) — ionisation loss (approximation B) matters only near
E_c; the target is treated as thick (all depths integrated): the NA64 ECAL is ≈ 40 X₀, in
which a 100 GeV shower is contained to better than 1 %.  For comparison the module also
provides Tsai's single-electron formula I_e(E₀, E, t) = [ln(E₀/E)]^{bt−1}/(E₀Γ(bt)), b = 4/3
(Tsai 1974; BEST arXiv:0906.0580), whose depth integral has Mellin transform 1/(b ln(1+s))
instead of 1/A(s).

Units: ``differential_track_length`` returns T(E₀, E) in radiation lengths per GeV;
multiply by X₀ (g/cm² or cm) for a physical length.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import digamma, gammaln, polygamma

_EG = np.euler_gamma
SIGMA_PAIR = 7.0 / 9.0  # D: photon pair-conversion probability per X0 (complete screening)
TSAI_B = 4.0 / 3.0


def _A(s):
    return 4.0 / 3.0 * (digamma(s + 1.0) + _EG) - 4.0 / 3.0 * s / (s + 1.0) + 0.5 - 1.0 / ((s + 1.0) * (s + 2.0))


def _dA(s):
    return 4.0 / 3.0 * polygamma(1, s + 1.0) - 4.0 / 3.0 / (s + 1.0) ** 2 + (2.0 * s + 3.0) / ((s + 1.0) ** 2 * (s + 2.0) ** 2)


def _B(s):
    return 2.0 * (1.0 / (s + 1.0) - 4.0 / 3.0 / (s + 2.0) + 4.0 / 3.0 / (s + 3.0))


def _dB(s):
    return 2.0 * (-1.0 / (s + 1.0) ** 2 + 4.0 / 3.0 / (s + 2.0) ** 2 - 4.0 / 3.0 / (s + 3.0) ** 2)


def _C(s):
    return 4.0 / 3.0 / s - 4.0 / 3.0 / (s + 1.0) + 1.0 / (s + 2.0)


def _dC(s):
    return -4.0 / 3.0 / s**2 + 4.0 / 3.0 / (s + 1.0) ** 2 - 1.0 / (s + 2.0) ** 2


def _Delta(s):
    return _A(s) * SIGMA_PAIR - _B(s) * _C(s)


#: Δ′(1): slope of Δ = AD − BC at its zero s = 1
DELTA_PRIME_1 = float(SIGMA_PAIR * _dA(1.0) - _dB(1.0) * _C(1.0) - _B(1.0) * _dC(1.0))
#: low-energy asymptotic coefficients T ≈ c X₀ E₀/E² (approximation A, this kernel)
ASYMPTOTIC_COEFF = {
    "e": SIGMA_PAIR / DELTA_PRIME_1,  # all e± (0.4439; Rossi 0.437)
    "e+": _B(1.0) * _C(1.0) / (2.0 * _A(1.0) * DELTA_PRIME_1),
    "e-": _B(1.0) * _C(1.0) / (2.0 * _A(1.0) * DELTA_PRIME_1),
    "gamma": _C(1.0) / DELTA_PRIME_1,  # photons (0.5707; Rossi 0.572)
}
#: Rossi's approximation-A coefficients (Rossi 1952, with the b-terms), for comparison only
ROSSI_COEFF = {"e": 0.437, "gamma": 0.572}

SPECIES = ("e-", "e+", "e", "gamma")
PRIMARIES = ("electron", "positron")


def _transform(species: str, primary: str):
    """Laplace transform p(s) of the track-length density in y, and its residue at s = 1."""
    if species not in SPECIES:
        raise ValueError(f"species must be one of {SPECIES}")
    if primary not in PRIMARIES:
        raise ValueError(f"primary must be one of {PRIMARIES}")
    same = {"electron": "e-", "positron": "e+"}[primary]

    def sec(s):
        return _B(s) * _C(s) / (2.0 * _A(s) * _Delta(s))

    if species == "e":
        return (lambda s: SIGMA_PAIR / _Delta(s)), ASYMPTOTIC_COEFF["e"]
    if species == "gamma":
        return (lambda s: _C(s) / _Delta(s)), ASYMPTOTIC_COEFF["gamma"]
    if species == same:
        return (lambda s: 1.0 / _A(s) + sec(s)), ASYMPTOTIC_COEFF[species]
    return sec, ASYMPTOTIC_COEFF[species]


def talbot_inverse(F, t, M: int = 24):
    """Inverse Laplace transform f(t) of F(s) by the fixed-Talbot method (Abate–Valkó 2004).

    F must be analytic to the right of, and may be singular on, the negative real axis
    (including 0).  Vectorised over t > 0; ≈ 1e-11 accuracy for M = 24 in double precision.
    """
    t = np.atleast_1d(np.asarray(t, float))
    k = np.arange(1, M)
    th = k * np.pi / M
    cot = 1.0 / np.tan(th)
    sig = th + (th * cot - 1.0) * cot
    r = 2.0 * M / (5.0 * t)
    s = r[:, None] * th[None, :] * (cot[None, :] + 1j)
    terms = np.real(np.exp(t[:, None] * s) * F(s) * (1.0 + 1j * sig[None, :]))
    f0 = np.real(F(r.astype(complex)))
    return r / M * (0.5 * f0 * np.exp(r * t) + terms.sum(axis=1))


def _regular(F, R):
    def Freg(s):
        d = s - 1.0
        near = np.abs(d) < 1e-7
        d = np.where(near, 1e-7, d)
        s = np.where(near, 1.0 + 1e-7, s)
        return F(s) - R / d

    return Freg


def track_length_density_y(y, species: str = "e", primary: str = "electron"):
    """P(y) = (E/X₀) T(E₀, E): track length per unit y = ln(E₀/E), in X₀ (depth-integrated)."""
    y = np.atleast_1d(np.asarray(y, float))
    F, R = _transform(species, primary)
    return R * np.exp(y) + talbot_inverse(_regular(F, R), y)


def cumulative_track_length_y(y, species: str = "e", primary: str = "electron"):
    """𝒯(y) = ∫₀^y P(y′) dy′: track length (X₀) with E > E₀e^{−y} (inverse of p(s)/s)."""
    y = np.atleast_1d(np.asarray(y, float))
    F, R = _transform(species, primary)
    Freg = _regular(F, R)
    out = np.zeros_like(y)
    pos = y > 0
    if np.any(pos):
        yp = y[pos]
        out[pos] = R * np.expm1(yp) + talbot_inverse(lambda s: Freg(s) / s, yp)
    return out


def differential_track_length(E0: float, E, species: str = "e+", primary: str = "electron"):
    """T(E₀, E) in X₀ per GeV for ``species`` ∈ {e-, e+, e, gamma} in the shower of a
    ``primary`` electron/positron of energy E₀ (thick target, approximation A)."""
    E = np.atleast_1d(np.asarray(E, float))
    y = np.log(E0 / E)
    out = np.zeros_like(E)
    ok = (E > 0) & (E < E0)
    out[ok] = track_length_density_y(y[ok], species, primary) / E[ok]
    return out


@lru_cache(maxsize=64)
def cumulative_table(species: str, primary: str, y_max: float, n: int = 400):
    """Cached (y_edges, 𝒯(y_edges)) on a grid geometric near y = 0 (where P ∝ 1/(y ln²y))."""
    y = np.concatenate([[0.0], np.geomspace(1e-9, 1e-3, 24)[:-1], np.linspace(1e-3, 1.0, n // 4)[:-1],
                        np.linspace(1.0, max(y_max, 1.0 + 1e-9), n - n // 4)])  # fmt: skip
    y = np.unique(y[y <= max(y_max, 1e-9)])
    if y[-1] < y_max:
        y = np.append(y, y_max)
    return y, cumulative_track_length_y(y, species, primary)


def tsai_primary_density(E0: float, E, t):
    """Tsai's energy distribution of the primary electron after t X₀ (Tsai 1974; BEST
    arXiv:0906.0580): I_e = [ln(E₀/E)]^{bt−1}/(E₀ Γ(bt)), b = 4/3 (per GeV)."""
    E = np.asarray(E, float)
    y = np.log(E0 / E)
    bt = TSAI_B * np.asarray(t, float)
    return np.exp((bt - 1.0) * np.log(y) - gammaln(bt)) / E0


def tsai_primary_track_length_y(y):
    """Depth-integrated Tsai primary track length per unit y (X₀): inverse of 1/(b ln(1+s))."""
    return talbot_inverse(lambda s: 1.0 / (TSAI_B * np.log1p(s)), y)


__all__ = [
    "ASYMPTOTIC_COEFF",
    "ROSSI_COEFF",
    "SPECIES",
    "talbot_inverse",
    "track_length_density_y",
    "cumulative_track_length_y",
    "differential_track_length",
    "cumulative_table",
    "tsai_primary_density",
    "tsai_primary_track_length_y",
]
