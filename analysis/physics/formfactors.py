"""Atomic + nuclear form factors, the effective photon flux χ and the materials table.

Formulas (PHYSICS.md §2):

* Elastic (Tsai, Rev. Mod. Phys. 46 (1974) 815; Bjorken, Essig, Schuster, Toro
  arXiv:0906.0580 Eq. (A18); DMG4 ``DarkPhotons.cc``)::

      G2_el(t) = Z² [t/(t_a + t)]² [t_d/(t_d + t)]²,
      t_a = 1/a²,  a = 111 Z^(−1/3)/m_e,   t_d = 0.164 A^(−2/3) GeV².

* Inelastic atomic term (Tsai 1974; BEST arXiv:0906.0580 Eq. (A19))::

      G2_inel(t) = Z [a′²t/(1 + a′²t)]² [(1 + t(μ_p² − 1)/(4m_p²)) / (1 + t/Λ²)⁴]²,
      a′ = 773 Z^(−2/3)/m_e,  μ_p = 2.79,  Λ² = 0.71 GeV².

* Photon flux χ(t_min, t_max) = ∫ dt (t − t_min)/t² G2(t)  (WW/IWW; BEST Eq. (A17)).

The elastic χ is evaluated in closed form (partial fractions, the same function DMG4 codes
as ``fluxAnalytical``), the inelastic term by Gauss–Legendre quadrature in ln t; both are
vectorised over t_min (and t_max).  Units: GeV², χ dimensionless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .constants import M_E, M_P, MU_P

#: Λ² of the proton dipole form factor in the inelastic term (GeV²), Tsai/BEST
LAMBDA2_PROTON = 0.71


# ------------------------------------------------------------------------------------------
# form-factor scales
# ------------------------------------------------------------------------------------------
def t_atomic(Z):
    """Atomic screening scale t_a = 1/a², a = 111 Z^(−1/3)/m_e (GeV²); Tsai 1974, BEST (A18)."""
    a = 111.0 * np.power(np.asarray(Z, float), -1.0 / 3.0) / M_E
    return 1.0 / a**2


def t_nuclear(A):
    """Nuclear-size scale t_d = 0.164 A^(−2/3) GeV²; Tsai 1974, BEST (A18)."""
    return 0.164 * np.power(np.asarray(A, float), -2.0 / 3.0)


def t_atomic_inelastic(Z):
    """Inelastic screening scale 1/a′², a′ = 773 Z^(−2/3)/m_e (GeV²); Tsai 1974, BEST (A19)."""
    ap = 773.0 * np.power(np.asarray(Z, float), -2.0 / 3.0) / M_E
    return 1.0 / ap**2


def g2_elastic(t, Z, A):
    """Elastic atomic+nuclear form factor G2_el(t) (Tsai 1974; BEST arXiv:0906.0580 (A18))."""
    t = np.asarray(t, float)
    ta, td = t_atomic(Z), t_nuclear(A)
    return Z**2 * (t / (ta + t)) ** 2 * (td / (td + t)) ** 2


def g2_inelastic(t, Z):
    """Inelastic atomic form factor G2_inel(t) (Tsai 1974; BEST arXiv:0906.0580 (A19))."""
    t = np.asarray(t, float)
    tap = t_atomic_inelastic(Z)
    screening = (t / (tap + t)) ** 2
    proton = (1.0 + t * (MU_P**2 - 1.0) / (4.0 * M_P**2)) / (1.0 + t / LAMBDA2_PROTON) ** 4
    return Z * screening * proton**2


def g2_total(t, Z, A, inelastic=True):
    """G2 = G2_el + G2_inel (inelastic term optional)."""
    out = g2_elastic(t, Z, A)
    if inelastic:
        out = out + g2_inelastic(t, Z)
    return out


# ------------------------------------------------------------------------------------------
# photon flux χ
# ------------------------------------------------------------------------------------------
def _chi_el_antiderivative(t, t0, a, d):
    """∫ dt (t − t0) / ((t + a)²(t + d)²), partial fractions (D = d − a)."""
    D = d - a
    L = np.log((t + a) / (t + d))
    return (
        L / D**2
        + 1.0 / (D * (t + d))
        + (a + t0) * (2.0 * L / D**3 + (1.0 / (t + a) + 1.0 / (t + d)) / D**2)
    )


def chi_elastic(t_min, t_max, Z, A):
    """Elastic χ in closed form (same function as DMG4 ``fluxAnalytical``), vectorised.

    χ_el = Z² t_d² ∫_{t_min}^{t_max} dt (t − t_min)/((t_a + t)²(t_d + t)²).
    Returns 0 where t_min ≥ t_max.
    """
    t_min = np.asarray(t_min, float)
    t_max = np.asarray(t_max, float)
    a, d = float(t_atomic(Z)), float(t_nuclear(A))
    tmx = np.maximum(t_max, t_min)
    val = _chi_el_antiderivative(tmx, t_min, a, d) - _chi_el_antiderivative(t_min, t_min, a, d)
    # where the closed form cancels badly (t_max very close to t_min) fall back to the
    # leading expansion χ ≈ G2(t_min)/t_min² (Δt)²/2
    dt = tmx - t_min
    small = dt < 1e-6 * np.maximum(t_min, a)
    if np.any(small):
        approx = g2_elastic(t_min, Z, A) / Z**2 / np.maximum(t_min, 1e-300) ** 2 * dt**2 / 2.0
        val = np.where(small, approx, val)
    return np.clip(Z**2 * d**2 * val, 0.0, None)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)


def _chi_numeric(t_min, t_max, g2, n_panels=40):
    """Gauss–Legendre in u = ln t of (t − t_min)/t · G2(t); vectorised over t_min/t_max."""
    t_min, t_max = np.broadcast_arrays(np.asarray(t_min, float), np.asarray(t_max, float))
    shape = t_min.shape
    lo = np.log(t_min.ravel())
    hi = np.log(np.maximum(t_max.ravel(), t_min.ravel()))
    edges = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n_panels + 1)[None, :]
    half = 0.5 * (edges[:, 1:] - edges[:, :-1])
    mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
    u = mid[:, :, None] + half[:, :, None] * _GL_X[None, None, :]
    t = np.exp(u)
    f = (t - t_min.ravel()[:, None, None]) / t * g2(t)
    res = np.sum(f * _GL_W[None, None, :] * half[:, :, None], axis=(1, 2))
    return np.clip(res, 0.0, None).reshape(shape)


def chi_inelastic(t_min, t_max, Z):
    """Inelastic contribution to χ, numerical quadrature in ln t (vectorised)."""
    return _chi_numeric(t_min, t_max, lambda t: g2_inelastic(t, Z))


def chi_numeric(t_min, t_max, Z, A, inelastic=True):
    """χ by direct quadrature (reference implementation used to check the closed form)."""
    return _chi_numeric(t_min, t_max, lambda t: g2_total(t, Z, A, inelastic))


def chi(t_min, t_max, Z, A, inelastic=True):
    """Effective photon flux χ(t_min, t_max) (BEST arXiv:0906.0580 (A17)), vectorised.

    Elastic part in closed form; the inelastic atomic term (≈ +1–3 % for Pb,
    PHYSICS.md §2) by quadrature, interpolated in ln t_min for large input arrays.
    """
    t_min = np.asarray(t_min, float)
    out = chi_elastic(t_min, t_max, Z, A)
    if inelastic:
        t_max_arr = np.asarray(t_max, float)
        if t_min.size > 256 and t_max_arr.size == 1:
            out = out + _chi_inelastic_interp(t_min, float(t_max_arr), float(Z))
        else:
            out = out + chi_inelastic(t_min, t_max, Z)
    return out


@lru_cache(maxsize=256)
def _chi_inel_table(t_max, Z):
    lt = np.linspace(np.log(t_max) - 60.0, np.log(t_max), 601)
    return lt, chi_inelastic(np.exp(lt), t_max, Z)


def _chi_inelastic_interp(t_min, t_max, Z):
    lt, tab = _chi_inel_table(t_max, Z)
    x = np.log(np.clip(t_min, np.exp(lt[0]), t_max))
    res = np.interp(x, lt, tab)
    return np.where(t_min >= t_max, 0.0, res)


# ------------------------------------------------------------------------------------------
# materials
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Material:
    """A target material.

    ``Z``/``A`` are those of the (dominant) element used for the form factors;
    compounds list their ``elements`` as (Z, A, mass fraction).  ``x0_gcm2`` is the
    radiation length in g/cm², ``density`` in g/cm³.
    """

    name: str
    Z: float
    A: float
    density: float
    x0_gcm2: float
    elements: tuple = field(default=())
    source: str = "PDG, Atomic and Nuclear Properties of Materials (pdg.lbl.gov/AtomicNuclearProperties)"

    @property
    def x0_cm(self) -> float:
        """Radiation length in cm."""
        return self.x0_gcm2 / self.density

    @property
    def components(self) -> tuple:
        """(Z, A, mass fraction) of each element (a pure element is its own component)."""
        return self.elements if self.elements else ((self.Z, self.A, 1.0),)


#: PDG values (Z, A [g/mol], ρ [g/cm³], X0 [g/cm²]) from pdg.lbl.gov/AtomicNuclearProperties.
MATERIALS: dict[str, Material] = {
    "Pb": Material("Pb", 82, 207.2, 11.35, 6.37),
    "W": Material("W", 74, 183.84, 19.30, 6.76),
    "Cu": Material("Cu", 29, 63.546, 8.96, 12.86),
    "Fe": Material("Fe", 26, 55.845, 7.874, 13.84),
    "Si": Material("Si", 14, 28.0855, 2.329, 21.82),
    "Al": Material("Al", 13, 26.9815385, 2.699, 24.01),
    "C": Material("C", 6, 12.0107, 2.210, 42.70),
    # polystyrene scintillator (C8H8)n; Z/A of carbon used when a single Z is needed
    "Sc": Material(
        "Sc",
        6,
        12.0107,
        1.060,
        43.79,
        elements=((6, 12.0107, 0.922582), (1, 1.00794, 0.077418)),
    ),
}
MATERIALS["polystyrene"] = MATERIALS["Sc"]


def get_material(name: str) -> Material:
    """Look up a material by name (case-insensitive for element symbols)."""
    for key, mat in MATERIALS.items():
        if key.lower() == name.lower():
            return mat
    raise KeyError(f"unknown material {name!r}; known: {sorted(MATERIALS)}")


__all__ = [
    "LAMBDA2_PROTON",
    "t_atomic",
    "t_nuclear",
    "t_atomic_inelastic",
    "g2_elastic",
    "g2_inelastic",
    "g2_total",
    "chi_elastic",
    "chi_inelastic",
    "chi_numeric",
    "chi",
    "Material",
    "MATERIALS",
    "get_material",
]
