"""NA64e detector geometry and parametric responses (columnar; GeV, mm, ns; SRD/VETO in MeV).

Every constant says where it comes from. Tags: **[pub]** stated in an NA64 paper (arXiv
number given), **[PDG]** Review of Particle Physics material tables / formulas, **[derived]**
computed here from those, **[check]** remembered from the literature and not re-verified,
**no source** chosen to be plausible (reason given). The geometry follows NTUPLE.md: ECAL
cells ``[ix][iy]`` with the beam on the centre of cell [3][3], HCAL ``[module][ix][iy]`` with
the beam on cell [1][1].

The simulation of one beam particle goes in two stages so that the expensive part is done
only for recorded events:

1. ``deposits`` — true energy flow into ECAL preshower / main section and the HCAL modules,
   smeared with the calorimeter resolutions: what the hardware trigger sums see;
2. ``readout`` — lateral sharing into cells, SRD, VETO, VHCAL, times and tracker hits, for
   the recorded subset; then ``finish`` adds electronic noise (no zero suppression).

A :class:`Truth` holds, per event, what a process generator decided happened (energies,
depths, multiplicities). Generators live in ``electron.py`` and ``signal.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import awkward as ak
import numpy as np
from scipy.special import gammainc, kv

from .common import cell_fractions, cell_index, mip_energy, one_hot

# ----------------------------------------------------------------------------------------
# beam and upstream spectrometer
# ----------------------------------------------------------------------------------------

#: Nominal H4 beam energy, GeV [pub] (NA64e, PHYSICS.md §1).
BEAM_ENERGY = 100.0
#: Relative rms of the beam momentum core. H4 momentum bite ≲1 % after collimation
#: [check]; 0.8 % chosen.
BEAM_SPREAD = 0.008
#: Beam spot at the ECAL face, rms mm (no source: a few mm, typical H4 focus).
BEAM_SPOT = 4.0
#: Beam divergence, rms rad (no source: ~0.05 mrad keeps the spot over ~40 m of lever arm).
BEAM_DIVERGENCE = 5e-5
#: Momentum resolution of the magnetic spectrometer, δp/p ≈ 1 % [check: NA64, arXiv:1710.00971].
P_RESOLUTION = 0.01
#: Fraction of tracks with a wrong hit association and 10× worse momentum resolution
#: (no source: chosen so that the momentum cut has finite, non-Gaussian rejection).
P_TAIL_FRACTION = 1e-3
P_TAIL_RESOLUTION = 0.10
#: Upstream tracker stations (Micromegas-like), z of each station relative to the ECAL face,
#: mm. Two upstream and two downstream of the bending magnets (no source: NA64-like layout).
TRACKER_Z = np.array([-40000.0, -35000.0, -20000.0, -5000.0])
#: z of the centre of the bending magnets, mm (no source, see TRACKER_Z).
MAGNET_Z = -30000.0
#: Bending power of the two MBPL dipoles, T·m [check: ≈7 T·m in NA64 papers].
MAGNET_BDL = 7.0
#: Field of the dipoles, T [check: ≈1.7 T].
MAGNET_B = 1.7
#: Hit resolution, mm (no source: ~0.1 mm typical of Micromegas).
HIT_RESOLUTION = 0.1
#: Hit efficiency per station (no source: Micromegas are typically 97–99 % efficient).
HIT_EFFICIENCY = 0.99
#: Extrapolation error of the track to the ECAL face, mm (no source: 0.1 mm hits with a
#: 15 m lever arm give ≈0.15 mm; 0.5 mm allows for multiple scattering).
TRACK_EXTRAPOLATION = 0.5

# ----------------------------------------------------------------------------------------
# ECAL: 6x6 Pb/Sc shashlik, preshower 4 X0 + main 36 X0
# ----------------------------------------------------------------------------------------

ECAL_N = 6
#: Cell pitch, mm [pub: 38.2 × 38.2 mm² modules, arXiv:1710.00971].
ECAL_CELL = 38.2
ECAL_BEAM_CELL = 3
#: Depths in radiation lengths [pub: ≈40 X0 with the first 4 X0 as preshower, arXiv:1710.00971].
ECAL_X0 = 40.0
ECAL_PS_X0 = 4.0
#: X0 and λ_I of the 1.5 mm Pb / 1.5 mm Sc mixture, cm [derived from PDG: Pb X0 0.56 cm,
#: λ_I 17.6 cm; polystyrene X0 41.3 cm, λ_I 77 cm; equal thicknesses].
ECAL_X0_CM = 1.10
ECAL_LAMBDA_CM = 28.7
X0_PER_LAMBDA = ECAL_LAMBDA_CM / ECAL_X0_CM
#: ECAL and preshower depth in interaction lengths [derived]: 1.53 λ and 0.153 λ.
ECAL_LAMBDA = ECAL_X0 * ECAL_X0_CM / ECAL_LAMBDA_CM
ECAL_PS_LAMBDA = ECAL_PS_X0 * ECAL_X0_CM / ECAL_LAMBDA_CM
#: EM resolution σ/E = a/√E ⊕ c: a ≈ 10 % [check: NA64 quotes ≈10 %/√E, arXiv:1610.02988,
#: arXiv:1710.00971]; c = 1 % no source (typical shashlik constant term, cf. 1.96 % in
#: arXiv:0709.4514).
ECAL_STOCHASTIC = 0.10
ECAL_CONSTANT = 0.01
#: Longitudinal EM profile dE/dt ∝ (bt)^(a-1) e^(-bt), b = 0.5, t_max = (a-1)/b =
#: ln(E/Ec) - 0.5 for electrons [PDG, "Passage of particles through matter", EM cascades].
EM_PROFILE_B = 0.5
#: Critical energy of the mixture, GeV [derived: Pb 7.4 MeV, Sc 93 MeV (PDG), weighted by X0
#: fractions ≈ 9 MeV].
ECAL_EC = 0.009
#: Molière radius of the mixture, mm [derived: PDG R_M(Pb) 18.2 g/cm², polystyrene 10 g/cm²,
#: mass-weighted and divided by the mean density 6.2 g/cm³ → 2.8 cm]. Used to set the
#: lateral profile below.
ECAL_MOLIERE = 28.0
#: Separable lateral EM profile: mixture of Laplace distributions (weight, scale mm) per axis:
#: core 0.18 R_M and halo 0.65 R_M (no source: chosen so a centred shower puts ≈80 % in the
#: central 38.2 mm cell and ≈99.9 % in the 6×6 matrix, consistent with ~90 % within R_M).
ECAL_EM_LATERAL = ((0.75, 5.0), (0.25, 18.0))
#: Lateral profile of the hadronic (non-EM) part in the ECAL (no source: broader, λ-scale).
ECAL_HAD_LATERAL = ((0.5, 12.0), (0.5, 40.0))
#: Visible fraction of non-EM hadronic energy on the electron scale, h/e (no source:
#: non-compensating Pb/Sc sampling, 0.6–0.9 typical (Wigmans, "Calorimetry")).
ECAL_H_OVER_E = 0.75
#: Resolution of the non-EM hadronic part in the ECAL, σ/E = 50 %/√E (no source).
ECAL_HAD_STOCHASTIC = 0.50
#: Most probable MIP signal on the electron scale, GeV per X0 [derived: PDG dE/dx(Pb) 12.7
#: MeV/cm, dE/dx(Sc) 2.0 MeV/cm and e/mip ≈ 0.7 for Pb/plastic sampling [check, Wigmans]:
#: ≈11.5 MeV per X0 → 46 MeV in the preshower, 0.41 GeV in the main section].
ECAL_MIP_PER_X0 = 0.0115
ECAL_MIP_PS = ECAL_MIP_PER_X0 * ECAL_PS_X0
ECAL_MIP_MAIN = ECAL_MIP_PER_X0 * (ECAL_X0 - ECAL_PS_X0)
#: Relative Moyal width of MIP signals in the ECAL (no source: thick sampling calorimeter).
ECAL_MIP_WIDTH = 0.10
#: Noise per cell, GeV (no source: ~10 MeV-scale pedestal widths after calibration).
ECAL_NOISE_PS = 0.005
ECAL_NOISE_MAIN = 0.010
#: Cells are written pedestal-subtracted with their Gaussian noise (both signs, no zero
#: suppression, as an MSADC amplitude fit gives). A channel counts as "hit" (for pulse
#: times and pile-up ownership) above SIGNAL_SIGMAS × its noise.
SIGNAL_SIGMAS = 3.0
#: Digitisation: amplitudes are written in steps of the ADC least count (no source: chosen
#: well below the noise — 1 MeV for ECAL cells, 10 MeV for HCAL/VHCAL cells, 0.1 MeV for
#: SRD/VETO; it also makes the files ≈35 % smaller).
ADC_LSB = {"pre": 1e-3, "main": 1e-3, "hcal": 1e-2, "vhcal": 1e-2, "srd": 0.1, "veto": 0.1}

# ----------------------------------------------------------------------------------------
# HCAL: 4 modules of 3x3 Fe/Sc cells
# ----------------------------------------------------------------------------------------

HCAL_MODULES = 4
HCAL_N = 3
HCAL_BEAM_CELL = 1
#: Cell pitch, mm [check: ≈194 mm, NA64 HCAL modules of 3×3 cells ≈ 60 cm wide].
HCAL_CELL = 194.0
#: Depth of one module in interaction lengths [derived: 48 × (25 mm Fe + 4 mm Sc) [check]
#: with PDG λ_I(Fe) = 16.8 cm, λ_I(Sc) = 77 cm → 7.4 λ; four modules ≈ 30 λ as in
#: PHYSICS.md §1].
HCAL_MODULE_LAMBDA = 7.4
#: Hadron resolution σ/E = 65 %/√E ⊕ 5 % (no NA64 number verified here: typical of Fe/Sc with
#: 25 mm plates, Fabjan & Gianotti, Rev. Mod. Phys. 75 (2003) 1243).
HCAL_STOCHASTIC = 0.65
HCAL_CONSTANT = 0.05
#: e/h of the Fe/Sc HCAL (no source: 1.2–1.4 typical for Fe/Sc, Wigmans). The HCAL is
#: calibrated on the hadron scale: visible = HCAL_SCALE · (e/h · E_em + E_non-em), with the
#: scale set so that a hadron with the mean first-interaction π0 fraction reads its energy.
HCAL_E_OVER_H = 1.3
#: π0 (EM) fraction of the first hadronic interaction ~ Beta(2, 4), mean 1/3 (no source:
#: ≈1/3 of the secondaries of a hadronic interaction are π0, Wigmans).
HAD_FEM_BETA = (2.0, 4.0)
HCAL_SCALE = 1.0 / (HCAL_E_OVER_H * HAD_FEM_BETA[0] / sum(HAD_FEM_BETA)
                    + 1.0 - HAD_FEM_BETA[0] / sum(HAD_FEM_BETA))
#: Most probable MIP signal of one module on the hadron scale, GeV [derived: 120 cm Fe ×
#: 11.4 MeV/cm (PDG) = 1.4 GeV deposited; mip/h = (e/h)/(e/mip) ≈ 1.3/0.9 → ≈2.0 GeV].
HCAL_MIP = 2.0
HCAL_MIP_WIDTH = 0.10
#: Energy a muon actually loses crossing one module, GeV [derived: PDG dE/dx(Fe) × 120 cm].
HCAL_MUON_LOSS = 1.4
#: Energy a muon loses crossing the ECAL, GeV [derived: 22.5 cm Pb × 12.7 MeV/cm].
ECAL_MUON_LOSS = 0.3
#: Lateral hadronic profile per axis, (weight, scale mm) (no source: ≈70 % of a centred
#: shower in the 194 mm central cell).
HCAL_LATERAL = ((0.7, 30.0), (0.3, 120.0))
HCAL_NOISE = 0.03

# ----------------------------------------------------------------------------------------
# VETO, VHCAL, SRD
# ----------------------------------------------------------------------------------------

VETO_PLANES = 3
#: Most probable MIP signal per plane, MeV [derived: ~1.5 cm plastic × 2 MeV/cm (PDG); the
#: thickness is no source].
VETO_MIP = 3.0
VETO_MIP_WIDTH = 0.15
VETO_NOISE = 0.1

VHCAL_CELLS = 4
#: VHCAL (Cu/Sc, installed 2023 [pub: arXiv:2503.11275]) resolution σ/E = 80 %/√E
#: (no source: small prototype with lateral leakage).
VHCAL_STOCHASTIC = 0.80
#: Fraction of a caught hadron system's deposit in the hit cell (rest shared) (no source).
VHCAL_HIT_SHARE = 0.85
VHCAL_NOISE = 0.02

SRD_MODULES = 3
#: Critical energy of the synchrotron radiation, GeV: ε_c = 0.665 keV · E²[GeV] · B[T]
#: [PDG, "Accelerator physics of colliders"/synchrotron radiation] → 11.3 MeV at 100 GeV.
def sr_critical_energy(p_gev):
    return 0.665e-6 * np.asarray(p_gev) ** 2 * MAGNET_B


#: Mean number of SR photons reaching one SRD module from a 100 GeV electron (no source:
#: the full bend radiates ≈150 MeV in ≈43 photons [derived: 88.5 keV E⁴/ρ per turn]; the
#: modules see part of the fan; 7 photons → ≈24 MeV per module, "tens of MeV" as in NA64).
SRD_PHOTONS = 10.0
#: SRD module resolution: σ = 2 %·√(E/GeV) GeV (no source; photon statistics dominate).
SRD_STOCHASTIC = 0.02
#: Hadrons: SR suppressed by (m_e/m_π)^4 ≈ 2e-10 [derived]: only noise and knock-on tails.
#: Probability that a beam hadron's knock-on electrons/secondaries hit SRD module 0, and the
#: conditional probability to reach each further module (no source: chosen so that a hadron
#: fakes signals in all three modules with probability 1e-3 · 0.07² ≈ 5e-6, the order of the
#: ≲1e-5 hadron suppression reported for the NA64 SRD [check: Depero et al., NIM A 866 (2017)
#: 196, arXiv:1703.05993]).
SRD_KNOCKON_PROB = 1e-3
SRD_KNOCKON_NEXT = 0.07
#: Mean knock-on deposit per module, MeV (no source).
SRD_KNOCKON_MEAN = 5.0
SRD_NOISE = 0.3

# ----------------------------------------------------------------------------------------
# timing and pile-up
# ----------------------------------------------------------------------------------------

#: Time resolutions, ns (no source: 1–2 ns typical of MSADC pulse fits; PHYSICS.md §1 uses
#: ±1/2/3 σ windows).
SIGMA_T_SRD = 1.0
SIGMA_T_ECAL = 1.5
SIGMA_T_HCAL = 2.0
#: Pulses closer than this merge into one (their energies add), ns (no source: ~one MSADC
#: rise time).
MERGE_WINDOW = 10.0
#: Half-width of the readout window in which a second beam particle counts as pile-up, ns
#: (no source).
PILEUP_WINDOW = 50.0

# ----------------------------------------------------------------------------------------
# trigger
# ----------------------------------------------------------------------------------------

#: Physics trigger (bit 0): preshower above threshold (an electron started showering) AND
#: total ECAL energy below 80 GeV (≥20 GeV missing), the NA64 missing-energy trigger
#: [pub: "E_ECAL ≲ 80 GeV" trigger, arXiv:1710.00971; preshower threshold ≈0.3 GeV check].
#: 80 GeV is ≈14 σ below the 100 GeV peak, so ordinary electrons never fire it, while the
#: signal regions (E_ECAL < 50 or 60 GeV) and the (E_ECAL, E_HCAL) sidebands up to 80 GeV
#: are recorded.
TRIGGER_PS_MIN = 0.3
TRIGGER_ECAL_MAX = 80.0
#: Random/calibration trigger (bit 1): one beam particle in CALIB_PRESCALE, whatever it did
#: (no source: prescaled beam trigger for calibration; 1e-4 gives ~1e4 per 1e8 EOT).
CALIB_PRESCALE = 1e-4

TRIGGER_PHYSICS = 1
TRIGGER_CALIB = 2


# ----------------------------------------------------------------------------------------
# truth record
# ----------------------------------------------------------------------------------------

KIND_ELECTRON = 0
KIND_HADRON = 1

_SCALAR_FIELDS = {
    "p": BEAM_ENERGY, "kind": KIND_ELECTRON, "x": 0.0, "y": 0.0, "tx": 0.0, "ty": 0.0,
    "t": 0.0, "em_e": 0.0, "em_t0": 0.0, "had_e": 0.0, "had_t0": 0.0, "had_fem": 0.0,
    "had_track": False, "mip_pre": 0.0, "mip_main": 0.0, "hcal_side": 0.0,
    "hcal_side_cell": 0, "veto_mip": 0.0, "vhcal_e": 0.0, "vhcal_cell": 0, "srd_u": 0.0,
    "invisible": 0.0,
}
_VECTOR_FIELDS = {"hcal_mip": HCAL_MODULES}


class ColumnRecord:
    """Named per-event numpy columns with typed defaults: ``SCALARS`` name → default (its
    Python type sets the dtype), ``VECTORS`` name → width. Base of :class:`Truth` and of the
    muon setup's ``Kin``; unknown names are errors so a typo cannot create a silent column."""

    __slots__ = ("n", "_d")
    SCALARS: dict = {}
    VECTORS: dict = {}

    def __init__(self, n: int, **fields):
        self.n = int(n)
        self._d: dict[str, np.ndarray] = {}
        for name, default in self.SCALARS.items():
            dtype = (bool if isinstance(default, bool) else
                     np.int64 if isinstance(default, int) else np.float64)
            self._d[name] = np.full(self.n, default, dtype=dtype)
        for name, k in self.VECTORS.items():
            self._d[name] = np.zeros((self.n, k))
        for name, value in fields.items():
            self[name] = value

    def __getattr__(self, name):
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name):
        return self._d[name]

    def __setitem__(self, name, value):
        if name not in self._d:
            raise KeyError(f"{type(self).__name__} has no field {name!r}")
        arr = np.asarray(value)
        self._d[name] = np.broadcast_to(arr, self._d[name].shape).astype(
            self._d[name].dtype, copy=True)

    def subset(self, index):
        out = type(self)(0)
        out.n = int(np.count_nonzero(index)) if np.asarray(index).dtype == bool else len(index)
        out._d = {k: v[index] for k, v in self._d.items()}
        return out


class Truth(ColumnRecord):
    """What happened to one beam particle, per event (arrays of length ``n``).

    p         momentum through the spectrometer and magnets (GeV); sets SR and beam_p
    kind      KIND_ELECTRON (radiates SR) or KIND_HADRON (SR suppressed; knock-on tail)
    x, y      impact on the ECAL face (mm from the centre of cell [3][3]); tx, ty slopes
    t         arrival time relative to the trigger (ns)
    em_e      EM energy showering in the ECAL from depth em_t0 (X0)
    had_e     energy of a hadronic interaction at depth had_t0 (λ, from the ECAL face;
              ECAL 0–1.53 λ, then HCAL modules of 7.4 λ), π0 fraction had_fem;
              had_track: the hadron itself traversed the detector up to had_t0 (MIP path)
    mip_pre, mip_main   extra MIP traversals of the ECAL sections (e.g. muons)
    hcal_mip (n, 4)     MIP traversals per HCAL module (fractions for partial paths)
    hcal_side           hadron-scale energy deposited in the non-central HCAL0 cell
                        hcal_side_cell (0..7) by particles outside the ECAL acceptance
    veto_mip            charged particles crossing each VETO plane
    vhcal_e, vhcal_cell true energy of hadrons entering the VHCAL (if installed), hit cell
    srd_u               hadrons: knock-on quantile (u > 1 - SRD_KNOCKON_PROB → SRD hit)
    invisible           energy of invisible particles (neutrinos, dark-sector): mc_invisible_e
    """

    __slots__ = ()
    SCALARS = _SCALAR_FIELDS
    VECTORS = _VECTOR_FIELDS


def beam_particles(rng: np.random.Generator, n: int, kind: int = KIND_ELECTRON,
                   energy: float = BEAM_ENERGY) -> Truth:
    """Beam particles with the H4 momentum core, spot and divergence."""
    p = energy * (1.0 + BEAM_SPREAD * rng.standard_normal(n))
    x = BEAM_SPOT * rng.standard_normal(n)
    y = BEAM_SPOT * rng.standard_normal(n)
    tx = BEAM_DIVERGENCE * rng.standard_normal(n)
    ty = BEAM_DIVERGENCE * rng.standard_normal(n)
    return Truth(n, p=p, kind=kind, x=x, y=y, tx=tx, ty=ty)


def shower_start(rng: np.random.Generator, n: int) -> np.ndarray:
    """Depth (X0) where an electron's shower effectively starts: exponential, mean 0.25 X0
    (no source: fluctuation of the first hard bremsstrahlung; with the PDG profile it
    keeps the preshower signal of 100 GeV electrons above ~1 GeV in 99 % of showers)."""
    return rng.exponential(0.25, n)


# ----------------------------------------------------------------------------------------
# stage 1: energy flow (trigger level)
# ----------------------------------------------------------------------------------------

_HCAL_EDGES = ECAL_LAMBDA + HCAL_MODULE_LAMBDA * np.arange(HCAL_MODULES + 1)
#: Segment boundaries in λ: [PS | main | HCAL0 | HCAL1 | HCAL2 | HCAL3].
SEGMENT_EDGES = np.concatenate([[0.0, ECAL_PS_LAMBDA], _HCAL_EDGES])


def em_fractions(e: np.ndarray, t0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractions of an EM shower of energy e (GeV) starting at depth t0 (X0) contained in
    the preshower and in the main section (PDG gamma profile; the rest leaks out)."""
    e = np.maximum(np.asarray(e, dtype=np.float64), 1e-3)
    a = np.maximum(1.0 + EM_PROFILE_B * (np.log(e / ECAL_EC) - 0.5), 1.0)
    f_ps = gammainc(a, EM_PROFILE_B * np.clip(ECAL_PS_X0 - t0, 0.0, None))
    f_all = gammainc(a, EM_PROFILE_B * np.clip(ECAL_X0 - t0, 0.0, None))
    return f_ps, f_all - f_ps


def hadron_fractions(e: np.ndarray, t0: np.ndarray) -> np.ndarray:
    """Fractions of the non-EM part of a hadron shower of energy e starting at t0 (λ) in the
    six segments [PS, main, H0..H3]; shape (n, 6); the remainder leaks out of HCAL3.

    Gamma profile in λ with shower maximum t_max = 0.2 ln(E/GeV) + 0.7 and attenuation
    λ_att = (E/GeV)^0.13 λ (Fabjan & Gianotti, Rev. Mod. Phys. 75 (2003) 1243; PDG).
    """
    e = np.maximum(np.asarray(e, dtype=np.float64), 1.0)
    tmax = 0.2 * np.log(e) + 0.7
    theta = e ** 0.13
    k = 1.0 + tmax / theta
    depth = np.clip(SEGMENT_EDGES[None, :] - t0[:, None], 0.0, None) / theta[:, None]
    return np.diff(gammainc(k[:, None], depth), axis=1)


@dataclass
class Deposits:
    """Stage-1 result for n particles: visible energies after resolution smearing."""

    ps_em: np.ndarray
    main_em: np.ndarray
    ps_had: np.ndarray
    main_had: np.ndarray
    ps_mip: np.ndarray
    main_mip: np.ndarray
    hcal_had: np.ndarray  # (n, 4), hadron scale, smeared
    hcal_mip: np.ndarray  # (n, 4)
    hcal_side: np.ndarray

    @property
    def preshower(self) -> np.ndarray:
        return self.ps_em + self.ps_had + self.ps_mip

    @property
    def ecal(self) -> np.ndarray:
        return self.preshower + self.main_em + self.main_had + self.main_mip

    def subset(self, index) -> Deposits:
        return Deposits(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def __add__(self, other: Deposits) -> Deposits:
        return Deposits(*(getattr(self, f) + getattr(other, f)
                          for f in self.__dataclass_fields__))


def deposits(truth: Truth, rng: np.random.Generator) -> Deposits:
    """Stage 1: energy flow of each particle into the calorimeters, smeared."""
    n = truth.n
    # EM showers of the particle itself
    f_ps, f_main = em_fractions(truth.em_e, truth.em_t0)
    ps_em = truth.em_e * f_ps
    main_em = truth.em_e * f_main
    hcal_em = np.zeros((n, HCAL_MODULES))
    hcal_em[:, 0] += truth.em_e * (1.0 - f_ps - f_main)  # longitudinal leak (tiny)
    # hadronic interaction: π0 part as an EM shower from the interaction point
    had = truth.had_e > 0
    t0 = truth.had_t0
    e_pi0 = truth.had_e * truth.had_fem
    in_ecal = had & (t0 < ECAL_LAMBDA)
    hf_ps, hf_main = em_fractions(e_pi0, t0 * X0_PER_LAMBDA)
    ps_em += np.where(in_ecal, e_pi0 * hf_ps, 0.0)
    main_em += np.where(in_ecal, e_pi0 * hf_main, 0.0)
    module = np.floor((t0 - ECAL_LAMBDA) / HCAL_MODULE_LAMBDA).astype(np.int64)
    in_hcal = had & ~in_ecal & (module < HCAL_MODULES)
    leak_em = np.where(in_ecal, e_pi0 * (1.0 - hf_ps - hf_main), 0.0)
    hcal_em[:, 0] += leak_em
    hcal_em += np.where(in_hcal[:, None], e_pi0[:, None], 0.0) * one_hot(
        np.clip(module, 0, HCAL_MODULES - 1), HCAL_MODULES)
    # non-EM part with the hadronic profile
    e_non = np.where(had, truth.had_e - e_pi0, 0.0)
    seg = hadron_fractions(truth.had_e, t0) * e_non[:, None]
    ps_had_true = seg[:, 0]
    main_had_true = seg[:, 1]
    hcal_non = seg[:, 2:]
    # hadron track before its interaction: MIP path lengths per segment
    track = truth.had_track & had
    lengths = np.clip(np.minimum(t0[:, None], SEGMENT_EDGES[None, 1:]) - SEGMENT_EDGES[None, :-1],
                      0.0, None) / np.diff(SEGMENT_EDGES)[None, :]
    lengths = np.where(track[:, None], lengths, 0.0)
    mip_pre = truth.mip_pre + lengths[:, 0]
    mip_main = truth.mip_main + lengths[:, 1]
    hcal_mip = truth.hcal_mip + lengths[:, 2:]

    # resolutions
    em_tot = ps_em + main_em
    s_em = np.sqrt(ECAL_STOCHASTIC ** 2 / np.maximum(em_tot, 1e-3) + ECAL_CONSTANT ** 2)
    f_em = np.maximum(1.0 + s_em * rng.standard_normal(n), 0.0)
    had_vis = ECAL_H_OVER_E * (ps_had_true + main_had_true)
    s_had = ECAL_HAD_STOCHASTIC / np.sqrt(np.maximum(had_vis, 1e-3))
    f_had = np.maximum(1.0 + s_had * rng.standard_normal(n), 0.0)
    hcal_vis = HCAL_SCALE * (HCAL_E_OVER_H * hcal_em + hcal_non)
    h_tot = hcal_vis.sum(axis=1)
    s_h = np.sqrt(HCAL_STOCHASTIC ** 2 / np.maximum(h_tot, 1e-3) + HCAL_CONSTANT ** 2)
    f_h = np.maximum(1.0 + s_h * rng.standard_normal(n), 0.0)
    side = truth.hcal_side
    s_side = HCAL_STOCHASTIC / np.sqrt(np.maximum(side, 1e-3))
    side = np.maximum(side * (1.0 + s_side * rng.standard_normal(n)), 0.0)
    return Deposits(
        ps_em=ps_em * f_em, main_em=main_em * f_em,
        ps_had=ECAL_H_OVER_E * ps_had_true * f_had, main_had=ECAL_H_OVER_E * main_had_true * f_had,
        ps_mip=mip_energy(rng, mip_pre, ECAL_MIP_PS, ECAL_MIP_WIDTH),
        main_mip=mip_energy(rng, mip_main, ECAL_MIP_MAIN, ECAL_MIP_WIDTH),
        hcal_had=hcal_vis * f_h[:, None],
        hcal_mip=mip_energy(rng, hcal_mip, HCAL_MIP, HCAL_MIP_WIDTH),
        hcal_side=side,
    )


def physics_trigger(dep: Deposits) -> np.ndarray:
    """Bit 0: preshower > TRIGGER_PS_MIN and ECAL (preshower + main) < TRIGGER_ECAL_MAX, on
    the trigger-level (smeared, noise-free) sums."""
    return (dep.preshower > TRIGGER_PS_MIN) & (dep.ecal < TRIGGER_ECAL_MAX)


# ----------------------------------------------------------------------------------------
# stage 2: readout of recorded events
# ----------------------------------------------------------------------------------------

def _sr_table():
    """Inverse-CDF table of the synchrotron photon-number spectrum in x = ε/ε_c:
    dN/dx ∝ G(x) = ∫_x^∞ K_{5/3}(t) dt (Jackson, Classical Electrodynamics §14.6).

    G is integrated on a log grid from x = 1e-7 to 60; below 1e-7, G ≈ c x^(-2/3) and its
    integral 3c x^(1/3) is added analytically (0.4 % of the photons, negligible energy).
    """
    s = np.linspace(math.log(1e-7), math.log(60.0), 40001)
    t = np.exp(s)
    f = kv(5.0 / 3.0, t) * t  # integrand of G in ds = dt/t
    g = np.concatenate([np.cumsum((0.5 * (f[1:] + f[:-1]) * np.diff(s))[::-1])[::-1], [0.0]])
    c = g[0] * t[0] ** (2.0 / 3.0)
    head = 3.0 * c * t[0] ** (1.0 / 3.0)
    body = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(t))])
    cdf = np.concatenate([[0.0], (head + body) / (head + body[-1])])
    return cdf, np.concatenate([[0.0], t])


SR_CDF, SR_X = _sr_table()


def sample_sr_x(rng: np.random.Generator, n: int) -> np.ndarray:
    """Photon energies of synchrotron radiation in units of the critical energy."""
    return np.interp(rng.random(n), SR_CDF, SR_X)


@dataclass
class Readout:
    """Noise-free channel signals of n particles plus each detector's pulse time."""

    srd: np.ndarray  # (n, 3) MeV
    pre: np.ndarray  # (n, 6, 6) GeV
    main: np.ndarray  # (n, 6, 6)
    veto: np.ndarray  # (n, 3) MeV
    hcal: np.ndarray  # (n, 4, 3, 3)
    vhcal: np.ndarray  # (n, 4)
    t_srd: np.ndarray
    t_ecal: np.ndarray
    t_hcal: np.ndarray


def _srd_signal(truth: Truth, rng: np.random.Generator) -> np.ndarray:
    n = truth.n
    electron = truth.kind == KIND_ELECTRON
    counts = rng.poisson(SRD_PHOTONS, (n, SRD_MODULES)) * electron[:, None]
    flat = counts.ravel()
    idx = np.repeat(np.arange(flat.size), flat)
    eps = sample_sr_x(rng, idx.size) * np.repeat(
        np.repeat(sr_critical_energy(truth.p), SRD_MODULES), flat)
    sr = np.bincount(idx, weights=eps, minlength=flat.size).reshape(n, SRD_MODULES) * 1e3
    sr = np.maximum(sr + SRD_STOCHASTIC * np.sqrt(sr * 1e-3) * 1e3
                    * rng.standard_normal(sr.shape), 0.0)
    # hadrons: knock-on tail
    ko0 = (~electron) & (truth.srd_u > 1.0 - SRD_KNOCKON_PROB)
    v = (truth.srd_u - (1.0 - SRD_KNOCKON_PROB)) / SRD_KNOCKON_PROB
    hit = np.stack([ko0, ko0 & (v > 1.0 - SRD_KNOCKON_NEXT),
                    ko0 & (v > 1.0 - SRD_KNOCKON_NEXT ** 2)], axis=1)
    ko = rng.exponential(SRD_KNOCKON_MEAN, (n, SRD_MODULES)) * hit
    return sr + ko


def readout(truth: Truth, dep: Deposits, rng: np.random.Generator, has_vhcal: bool
            ) -> Readout:
    """Stage 2: cells, SRD, VETO, VHCAL and times of n particles (no noise yet)."""
    n = truth.n
    x, y = truth.x, truth.y
    em_x = cell_fractions(x, ECAL_N, ECAL_CELL, ECAL_BEAM_CELL, ECAL_EM_LATERAL)
    em_y = cell_fractions(y, ECAL_N, ECAL_CELL, ECAL_BEAM_CELL, ECAL_EM_LATERAL)
    had_x = cell_fractions(x, ECAL_N, ECAL_CELL, ECAL_BEAM_CELL, ECAL_HAD_LATERAL)
    had_y = cell_fractions(y, ECAL_N, ECAL_CELL, ECAL_BEAM_CELL, ECAL_HAD_LATERAL)
    em_share = em_x[:, :, None] * em_y[:, None, :]
    had_share = had_x[:, :, None] * had_y[:, None, :]
    mip_share = (one_hot(cell_index(x, ECAL_N, ECAL_CELL, ECAL_BEAM_CELL), ECAL_N)[:, :, None]
                 * one_hot(cell_index(y, ECAL_N, ECAL_CELL, ECAL_BEAM_CELL), ECAL_N)[:, None, :])
    pre = (dep.ps_em[:, None, None] * em_share + dep.ps_had[:, None, None] * had_share
           + dep.ps_mip[:, None, None] * mip_share)
    main = (dep.main_em[:, None, None] * em_share + dep.main_had[:, None, None] * had_share
            + dep.main_mip[:, None, None] * mip_share)

    h_x = cell_fractions(x, HCAL_N, HCAL_CELL, HCAL_BEAM_CELL, HCAL_LATERAL)
    h_y = cell_fractions(y, HCAL_N, HCAL_CELL, HCAL_BEAM_CELL, HCAL_LATERAL)
    h_share = h_x[:, :, None] * h_y[:, None, :]
    h_mip = (one_hot(cell_index(x, HCAL_N, HCAL_CELL, HCAL_BEAM_CELL), HCAL_N)[:, :, None]
             * one_hot(cell_index(y, HCAL_N, HCAL_CELL, HCAL_BEAM_CELL), HCAL_N)[:, None, :])
    hcal = (dep.hcal_had[:, :, None, None] * h_share[:, None]
            + dep.hcal_mip[:, :, None, None] * h_mip[:, None])
    side_cells = np.array([0, 1, 2, 3, 5, 6, 7, 8])  # flat 3x3 indices around the centre
    side = np.zeros((n, HCAL_N * HCAL_N))
    side[np.arange(n), side_cells[truth.hcal_side_cell % 8]] = dep.hcal_side
    hcal[:, 0] += side.reshape(n, HCAL_N, HCAL_N)

    veto = mip_energy(rng, np.repeat(truth.veto_mip[:, None], VETO_PLANES, axis=1), VETO_MIP,
                      VETO_MIP_WIDTH)
    # drawn in both periods so that, for one seed, events differ only by the VHCAL
    e = truth.vhcal_e
    s = VHCAL_STOCHASTIC / np.sqrt(np.maximum(e, 1e-3))
    e = np.maximum(e * (1.0 + s * rng.standard_normal(n)), 0.0)
    share = np.full((n, VHCAL_CELLS), (1.0 - VHCAL_HIT_SHARE) / (VHCAL_CELLS - 1))
    share[np.arange(n), truth.vhcal_cell % VHCAL_CELLS] = VHCAL_HIT_SHARE
    vhcal = e[:, None] * share if has_vhcal else np.full((n, VHCAL_CELLS), np.nan)
    srd = _srd_signal(truth, rng)
    t = truth.t
    return Readout(srd=srd, pre=pre, main=main, veto=veto, hcal=hcal, vhcal=vhcal,
                   t_srd=t + SIGMA_T_SRD * rng.standard_normal(n),
                   t_ecal=t + SIGMA_T_ECAL * rng.standard_normal(n),
                   t_hcal=t + SIGMA_T_HCAL * rng.standard_normal(n))


# thresholds of "a pulse is there" per detector (3 σ of the noise)
_NOISE = {"srd": SRD_NOISE, "pre": ECAL_NOISE_PS, "main": ECAL_NOISE_MAIN, "veto": VETO_NOISE,
          "hcal": HCAL_NOISE, "vhcal": VHCAL_NOISE}
_THRESHOLDS = {k: SIGNAL_SIGMAS * v for k, v in _NOISE.items()}
_CHANNELS = ("srd", "pre", "main", "veto", "hcal", "vhcal")


def combine_pileup(a: Readout, b: Readout, dt: np.ndarray):
    """Channel by channel, the pulse nearest the trigger time is reported: the in-time
    particle's (a) if it left a signal above threshold there, else the out-of-time one's
    (b). Pulses closer than MERGE_WINDOW merge (energies add). Returns the combined
    readout and, per channel, whether b owns it."""
    merged = (np.abs(dt) < MERGE_WINDOW)
    out = {}
    owner = {}
    for ch in _CHANNELS:
        va, vb = getattr(a, ch), getattr(b, ch)
        m = merged.reshape((-1,) + (1,) * (va.ndim - 1))
        take_b = ~m & ~(va > _THRESHOLDS[ch]) & (vb > _THRESHOLDS[ch])
        out[ch] = np.where(m, va + vb, np.where(take_b, vb, va))
        owner[ch] = take_b | (m & (vb > va))
    res = Readout(**out, t_srd=a.t_srd, t_ecal=a.t_ecal, t_hcal=a.t_hcal)
    return res, owner, b


def finish(r: Readout, rng: np.random.Generator, owner=None, other: Readout | None = None
           ) -> dict[str, np.ndarray]:
    """Add electronic noise, digitise (ADC_LSB), and set each detector's time from the
    particle owning its largest channel (NaN when no channel is above 3 σ_noise)."""
    n = r.srd.shape[0]
    out = {}
    for ch in _CHANNELS:
        v = getattr(r, ch)
        noisy = v + _NOISE[ch] * rng.standard_normal(v.shape)  # NaN (no VHCAL) stays NaN
        out[ch] = np.round(noisy / ADC_LSB[ch]) * ADC_LSB[ch]
    rows = np.arange(n)

    def _time(values, own, t_attr, thr):
        width = int(np.prod(values.shape[1:]))
        flat = values.reshape(n, width)
        k = np.argmax(flat, axis=1) if n else np.zeros(0, dtype=np.int64)
        has = flat[rows, k] > thr
        t = getattr(r, t_attr)
        if own is not None:
            t = np.where(own.reshape(n, width)[rows, k], getattr(other, t_attr), t)
        return np.where(has, t, np.nan)

    own = owner or {}
    out["t_srd"] = _time(out["srd"], own.get("srd"), "t_srd", _THRESHOLDS["srd"])
    out["t_ecal"] = _time(out["main"], own.get("main"), "t_ecal", _THRESHOLDS["main"])
    hcal_own = own.get("hcal")
    out["t_hcal"] = _time(out["hcal"][:, 0], None if hcal_own is None else hcal_own[:, 0],
                          "t_hcal", _THRESHOLDS["hcal"])
    return out


# ----------------------------------------------------------------------------------------
# tracker
# ----------------------------------------------------------------------------------------

def bend_offset(p: np.ndarray) -> np.ndarray:
    """Extra deflection (rad) of momentum p relative to the nominal one in the magnets:
    0.3 ∫B dl (1/p - 1/p0) [PDG: p[GeV] = 0.3 B[T] ρ[m]]."""
    return 0.3 * MAGNET_BDL * (1.0 / np.asarray(p) - 1.0 / BEAM_ENERGY)


@dataclass
class Track:
    hit_x: np.ndarray  # (n, 4)
    hit_y: np.ndarray
    hit_ok: np.ndarray  # (n, 4) bool
    has_track: np.ndarray
    p: np.ndarray
    chi2: np.ndarray
    x: np.ndarray
    y: np.ndarray


def track(truth: Truth, rng: np.random.Generator) -> Track:
    """Hits of the particle in the four stations (straight after the magnets, bent before),
    reconstructed momentum and extrapolation to the ECAL face. A track needs ≥3 hits."""
    n = truth.n
    z = TRACKER_Z[None, :]
    upstream = (TRACKER_Z < MAGNET_Z)[None, :]
    bend = bend_offset(truth.p)[:, None] * (MAGNET_Z - z) * upstream
    hx = truth.x[:, None] + truth.tx[:, None] * z + bend
    hy = truth.y[:, None] + truth.ty[:, None] * z
    hx = hx + HIT_RESOLUTION * rng.standard_normal((n, 4))
    hy = hy + HIT_RESOLUTION * rng.standard_normal((n, 4))
    ok = rng.random((n, 4)) < HIT_EFFICIENCY
    has = ok.sum(axis=1) >= 3
    tail = rng.random(n) < P_TAIL_FRACTION
    sigma = np.where(tail, P_TAIL_RESOLUTION, P_RESOLUTION)
    p = truth.p * (1.0 + sigma * rng.standard_normal(n))
    ndf = 2 * ok.sum(axis=1) - 4
    chi2 = rng.chisquare(np.maximum(ndf, 1)) / np.maximum(ndf, 1) * np.where(tail, 5.0, 1.0)
    bx = truth.x + TRACK_EXTRAPOLATION * rng.standard_normal(n)
    by = truth.y + TRACK_EXTRAPOLATION * rng.standard_normal(n)
    nan = np.nan
    return Track(hx, hy, ok, has, np.where(has, p, nan), np.where(has, chi2, nan),
                 np.where(has, bx, nan), np.where(has, by, nan))


def event_branches(fin: dict, phys: np.ndarray, calib: np.ndarray, code: int,
                   invisible: np.ndarray, t_spill: np.ndarray) -> dict:
    """Trigger, calorimeter, SRD, VETO and MC branches of recorded events from the output of
    :func:`finish` (shared by the event loops of every setup; `t_spill` orders the events
    within their spill and is dropped before writing)."""
    m = len(invisible)
    return {
        "trigger": (phys * TRIGGER_PHYSICS + calib * TRIGGER_CALIB).astype(np.int32),
        "srd_e": fin["srd"], "srd_t": fin["t_srd"],
        "ecal_pre": fin["pre"], "ecal_main": fin["main"], "ecal_t": fin["t_ecal"],
        "veto_e": fin["veto"], "hcal_e": fin["hcal"], "hcal_t": fin["t_hcal"],
        "vhcal_e": fin["vhcal"],
        "mc_process": np.full(m, int(code), dtype=np.int32),
        "mc_invisible_e": invisible,
        "mc_mass": np.full(m, np.nan),
        "_t_spill": t_spill,
    }


def tracker_branches(a: Track, b: Track | None) -> dict[str, object]:
    """NTUPLE.md tracker branches from one or two (pile-up) tracks; hits ordered by station.
    The beam track is the in-time particle's if reconstructed, else the other one's."""
    n = a.hit_x.shape[0]
    station = np.tile(np.arange(4, dtype=np.int8), (n, 1))
    if b is None:
        hx, hy, ok, st = a.hit_x, a.hit_y, a.hit_ok, station
        n_tracks = a.has_track.astype(np.int16)
        best = a
        use_b = np.zeros(n, dtype=bool)
    else:
        # interleave: station 0 of a, station 0 of b, station 1 of a, ...
        hx = np.stack([a.hit_x, b.hit_x], axis=2).reshape(n, 8)
        hy = np.stack([a.hit_y, b.hit_y], axis=2).reshape(n, 8)
        ok = np.stack([a.hit_ok, b.hit_ok], axis=2).reshape(n, 8)
        st = np.repeat(station, 2, axis=1)
        n_tracks = (a.has_track.astype(np.int16) + b.has_track.astype(np.int16))
        use_b = ~a.has_track & b.has_track
        best = a
    counts = ok.sum(axis=1)
    out = {
        "n_hits": counts.astype(np.int32),
        "hit_station": ak.unflatten(st[ok].astype(np.int8), counts),
        "hit_x": ak.unflatten(hx[ok].astype(np.float32), counts),
        "hit_y": ak.unflatten(hy[ok].astype(np.float32), counts),
        "n_tracks_in": n_tracks,
    }
    for name, attr in (("beam_p", "p"), ("beam_chi2", "chi2"), ("beam_x", "x"),
                       ("beam_y", "y")):
        va = getattr(best, attr)
        out[name] = np.where(use_b, getattr(b, attr), va) if b is not None else va
    return out
