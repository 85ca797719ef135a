"""Two-body decay widths of the light mediators (PHYSICS.md §2, DMG4 conventions).

All widths in GeV, masses in GeV. ``coupling`` is the dimensionless parameter the limits
are quoted in (PHYSICS.md §3): for the dark photon it is the kinetic mixing ε (coupling εe
to leptons); for the Lμ−Lτ Z′ and the scalar/pseudoscalar/axial mediators it is the gauge
or Yukawa coupling g itself, converted with ε_eff = g/e (DMG4: g = εe).  Every width is
∝ coupling² (α ε_eff² = g²/4π).
"""

from __future__ import annotations

import numpy as np

from .constants import ALPHA, E_CHARGE, M_E, M_MU, M_TAU

#: models whose coupling argument is g (not ε); ε_eff = g/e
G_COUPLING_MODELS = frozenset({"scalar", "pseudoscalar", "axial", "zprime"})


def epsilon_eff(model: str, coupling):
    """Effective ε multiplying e: ε itself for the dark photon, g/e otherwise (DMG4 g = εe)."""
    return np.asarray(coupling, dtype=float) / (E_CHARGE if model in G_COUPLING_MODELS else 1.0)


def _beta2(mass, m_f):
    mass = np.asarray(mass, dtype=float)
    return np.clip(1.0 - 4.0 * m_f**2 / mass**2, 0.0, None)


def width_vector_ll(mass, eps, m_l=M_E):
    """Γ(V → ℓ⁺ℓ⁻) = (1/3) α ε² m (1 + 2m_ℓ²/m²) √(1 − 4m_ℓ²/m²).

    Source: DMG4 ``DarkPhotons::Width`` (PHYSICS.md §2); zero below threshold.
    """
    mass = np.asarray(mass, dtype=float)
    b2 = _beta2(mass, m_l)
    return (1.0 / 3.0) * ALPHA * np.square(eps) * mass * (1.0 + 2.0 * m_l**2 / mass**2) * np.sqrt(b2)


def width_dark_photon_ee(mass, eps):
    """Γ(A′ → e⁺e⁻) for kinetic mixing ε (DMG4 ``DarkPhotons::Width``)."""
    return width_vector_ll(mass, eps, M_E)


def width_scalar_ee(mass, g):
    """Γ(S → e⁺e⁻) = (1/2) α ε² m (1 − 4m_e²/m²)^{3/2}, ε = g/e, i.e. g² m β³/(8π).

    Source: DMG4 ``DarkScalars::Width`` (PHYSICS.md §2).
    """
    eps = epsilon_eff("scalar", g)
    b2 = _beta2(mass, M_E)
    return 0.5 * ALPHA * eps**2 * np.asarray(mass, float) * b2**1.5


def width_pseudoscalar_ee(mass, g):
    """Γ(P → e⁺e⁻) = (1/2) α ε² m √(1 − 4m_e²/m²), ε = g/e (DMG4 ``DarkPseudoScalars::Width``)."""
    eps = epsilon_eff("pseudoscalar", g)
    return 0.5 * ALPHA * eps**2 * np.asarray(mass, float) * np.sqrt(_beta2(mass, M_E))


def width_axial_ee(mass, g):
    """Γ(A → e⁺e⁻) = (1/3) α ε² m (1 − 4m_e²/m²)^{3/2}, ε = g/e (DMG4 ``DarkAxials::Width``)."""
    eps = epsilon_eff("axial", g)
    return (1.0 / 3.0) * ALPHA * eps**2 * np.asarray(mass, float) * _beta2(mass, M_E) ** 1.5


def width_zprime_nunu(mass, g):
    """Γ(Z′ → ν_μν̄_μ + ν_τν̄_τ) = α ε² m / 3 = g² m/(12π), ε = g/e (DMG4 ``DarkZ::Width``).

    One helicity per neutrino flavour, both flavours summed.
    """
    eps = epsilon_eff("zprime", g)
    return ALPHA * eps**2 * np.asarray(mass, float) / 3.0


def width_zprime_mumu(mass, g):
    """Γ(Z′ → μ⁺μ⁻) = (α ε²m/3)(1 + 2m_μ²/m²)√(1 − 4m_μ²/m²), zero below 2m_μ (DMG4 ``DarkZ::Width``)."""
    return width_vector_ll(mass, epsilon_eff("zprime", g), M_MU)


def width_zprime_total(mass, g):
    """Total visible+invisible Z′(Lμ−Lτ) width below 2m_τ: νν̄ (both flavours) + μμ (DMG4)."""
    mass = np.asarray(mass, dtype=float)
    if np.any(mass >= 2 * M_TAU):
        raise ValueError("Z' width above 2 m_tau not implemented (as in DMG4)")
    return width_zprime_nunu(mass, g) + width_zprime_mumu(mass, g)


def width_vector_chichi(mass, alpha_d, m_chi):
    """Γ(A′ → χχ̄), Dirac fermion χ: (α_D/3) m (1 + 2m_χ²/m²)√(1 − 4m_χ²/m²).

    Source: DMG4 ``DarkPhotonsAnnihilation::Width`` (fermionic branch); used for the
    Breit–Wigner of resonant e⁺e⁻ → A′ → χχ̄.
    """
    mass = np.asarray(mass, dtype=float)
    b2 = _beta2(mass, m_chi)
    return alpha_d / 3.0 * mass * (1.0 + 2.0 * m_chi**2 / mass**2) * np.sqrt(b2)


def width_ee(model: str, mass, coupling):
    """Γ(X → e⁺e⁻) for ``model`` with its quoted coupling (PHYSICS.md §3 convention)."""
    if model == "dark-photon":
        return width_dark_photon_ee(mass, coupling)
    if model == "scalar":
        return width_scalar_ee(mass, coupling)
    if model == "pseudoscalar":
        return width_pseudoscalar_ee(mass, coupling)
    if model == "axial":
        return width_axial_ee(mass, coupling)
    raise ValueError(f"no e+e- width for model {model!r}")


__all__ = [
    "G_COUPLING_MODELS",
    "epsilon_eff",
    "width_vector_ll",
    "width_dark_photon_ee",
    "width_scalar_ee",
    "width_pseudoscalar_ee",
    "width_axial_ee",
    "width_zprime_nunu",
    "width_zprime_mumu",
    "width_zprime_total",
    "width_vector_chichi",
    "width_ee",
]
