"""Physical constants used by the physics modules (natural units, GeV).

Sources: CODATA 2018 / PDG 2024 "Physical constants" and "Leptons" summary tables
(R. L. Workman et al. (PDG), PTEP 2022 083C01 and 2024 update).
"""

from __future__ import annotations

import math

#: fine-structure constant α (CODATA 2018)
ALPHA = 1.0 / 137.035999084
#: elementary charge in natural (Heaviside–Lorentz) units, e = √(4πα) ≈ 0.30282.
#: DMG4 convention for couplings quoted as g: ε_eff = g / e (PHYSICS.md §3).
E_CHARGE = math.sqrt(4.0 * math.pi * ALPHA)
#: electron mass (GeV), PDG
M_E = 0.51099895000e-3
#: muon mass (GeV), PDG
M_MU = 0.1056583755
#: tau mass (GeV), PDG
M_TAU = 1.77686
#: proton mass (GeV), PDG
M_P = 0.93827208816
#: proton magnetic moment in nuclear magnetons, PDG (Tsai/BEST inelastic form factor)
MU_P = 2.792847344
#: (ħc)² = 0.3893793721 GeV² mb  ->  1 GeV⁻² = 3.893793721e8 pb (PDG)
GEV2_TO_PB = 0.3893793721e9
#: 1 pb = 1e-36 cm²
PB_TO_CM2 = 1.0e-36
#: Avogadro constant (mol⁻¹), exact SI value
N_A = 6.02214076e23


def lepton_mass(beam: str) -> float:
    """Mass (GeV) of the beam lepton: 'electron'/'positron' -> m_e, 'muon' -> m_μ."""
    beam = beam.lower()
    if beam in ("electron", "positron", "e", "e-", "e+"):
        return M_E
    if beam in ("muon", "mu", "mu-", "mu+"):
        return M_MU
    raise ValueError(f"unknown beam {beam!r}: expected electron, positron or muon")
