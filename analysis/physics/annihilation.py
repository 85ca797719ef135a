"""Resonant positron annihilation on atomic electrons, e⁺e⁻ → A′ → χχ̄ (PHYSICS.md §2–3).

Sources: arXiv:1802.03794 (Marsicano et al.), arXiv:1807.05884, arXiv:2108.04195 (secondary
positrons of the e⁻ shower); DMG4 ``DarkPhotonsAnnihilation.cc``/``DarkMatterAnnihilation.cc``
(Celentano) for the Breit–Wigner form:

    s = 2 m_e E₊ + 2 m_e²       (E₊ = positron total energy, target electron at rest)
    σ(s) = 4π α ε² α_D (q/√s)(s − 4q²/3) / ((s − m²)² + m²Γ²),  q = (√s/2)√(1 − 4m_χ²/s)

per target electron (Dirac χ), Γ = Γ(A′→e⁺e⁻) + Γ(A′→χχ̄).  At s = m² this is
σ_peak = (12π/m²) Br(ee) Br(χχ̄), and in the narrow-width limit

    σ(E₊) = (2π² α ε²/m_e) Br(A′→χχ̄) δ(E₊ − E_R),   E_R = (m² − 2m_e²)/(2m_e) ≈ m²/(2m_e).

Only the dark photon (coupling ε) is implemented.  Cross sections in pb per target electron.
"""

from __future__ import annotations

import numpy as np

from .constants import ALPHA, GEV2_TO_PB, M_E
from .widths import width_vector_chichi

#: benchmark dark coupling and m_χ/m_A′ (PHYSICS.md §3; DMG4 default m_χ = m/3)
ALPHA_D_DEFAULT = 0.5
MCHI_RATIO_DEFAULT = 1.0 / 3.0


def resonance_energy(mass):
    """E_R = (m² − 2m_e²)/(2m_e): positron total energy at which √s = m (GeV)."""
    mass = np.asarray(mass, float)
    return (mass**2 - 2.0 * M_E**2) / (2.0 * M_E)


def mandelstam_s(e_pos):
    """s = 2m_eE₊ + 2m_e² for a positron of total energy E₊ on an electron at rest (GeV²)."""
    return 2.0 * M_E * np.asarray(e_pos, float) + 2.0 * M_E**2


def widths(mass, eps, alpha_d=ALPHA_D_DEFAULT, mchi_ratio=MCHI_RATIO_DEFAULT):
    """(Γ_ee, Γ_χχ, Γ_tot) in GeV; Γ_ee = αε²m/3 as in DMG4 ``Width`` (m_e/m terms dropped)."""
    g_ee = ALPHA * eps**2 * mass / 3.0
    g_chi = float(width_vector_chichi(mass, alpha_d, mchi_ratio * mass))
    return g_ee, g_chi, g_ee + g_chi


def branching_invisible(mass, eps, alpha_d=ALPHA_D_DEFAULT, mchi_ratio=MCHI_RATIO_DEFAULT):
    """Br(A′ → χχ̄)."""
    g_ee, g_chi, g = widths(mass, eps, alpha_d, mchi_ratio)
    return g_chi / g


def sigma_bw_pb(e_pos, mass, eps, alpha_d=ALPHA_D_DEFAULT, mchi_ratio=MCHI_RATIO_DEFAULT):
    """Breit–Wigner σ(e⁺e⁻ → A′ → χχ̄) per target electron (pb), DMG4 fermionic-χ form."""
    s = mandelstam_s(e_pos)
    mchi = mchi_ratio * mass
    _, _, gam = widths(mass, eps, alpha_d, mchi_ratio)
    ok = s > 4.0 * mchi**2
    q = 0.5 * np.sqrt(s) * np.sqrt(np.clip(1.0 - 4.0 * mchi**2 / s, 0.0, None))
    num = 4.0 * np.pi * ALPHA * eps**2 * alpha_d * q / np.sqrt(s) * (s - 4.0 / 3.0 * q**2)
    den = (s - mass**2) ** 2 + mass**2 * gam**2
    return np.where(ok, num / den, 0.0) * GEV2_TO_PB


def sigma_peak_pb(mass, eps, alpha_d=ALPHA_D_DEFAULT, mchi_ratio=MCHI_RATIO_DEFAULT):
    """σ at s = m²: (12π/m²) Br(ee) Br(χχ̄) (pb per electron)."""
    g_ee, g_chi, g = widths(mass, eps, alpha_d, mchi_ratio)
    return 12.0 * np.pi / mass**2 * (g_ee / g) * (g_chi / g) * GEV2_TO_PB


def narrow_width_strength_pb_gev(mass, eps, br_invisible=1.0):
    """∫ dE₊ σ(E₊) in the narrow-width limit: (2π² α ε²/m_e) Br (pb·GeV per electron)."""
    return 2.0 * np.pi**2 * ALPHA * eps**2 / M_E * br_invisible * GEV2_TO_PB


def width_in_energy(mass, eps, alpha_d=ALPHA_D_DEFAULT, mchi_ratio=MCHI_RATIO_DEFAULT):
    """FWHM of the resonance in positron energy, ΔE₊ = mΓ/m_e (GeV)."""
    _, _, g = widths(mass, eps, alpha_d, mchi_ratio)
    return mass * g / M_E


__all__ = [
    "ALPHA_D_DEFAULT",
    "MCHI_RATIO_DEFAULT",
    "resonance_energy",
    "mandelstam_s",
    "widths",
    "branching_invisible",
    "sigma_bw_pb",
    "sigma_peak_pb",
    "narrow_width_strength_pb_gev",
    "width_in_energy",
]
