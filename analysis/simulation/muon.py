"""NA64μ (160 GeV muons from the CERN M2 line on the ECAL active target): detector model,
background processes with rates per muon on target (MOT), signal, and the per-process
event loop. Columnar; one call per process and spill/block, never per event.

The electron setup's machinery is reused, not copied: seeding, spill plans and biasing
(``common``), the truth record, calorimeter energy flow, cell sharing, noise, digitisation
and times (``detector``: ``deposits``, ``readout``, ``finish``), the tracker-branch builder
(``detector.tracker_branches``), the spill loop and writer (``generate.simulate``, through
the :data:`BACKEND` below). What is specific to the muon setup lives here:

* the M2 beam (160 GeV, momentum spread, spot) and the upstream magnet spectrometer MS1;
* the outgoing magnet spectrometer MS2 (``mu_p_out``, ``mu_chi2_out``, ``n_tracks_out``,
  ``mu_theta_out``), multiple scattering, and the HCAL behind MS2 hit at the position the
  muon's deflection gives;
* the trigger: a charged track deflected by MS2 into the off-axis trigger counters, i.e.
  p_out below ≈100 GeV;
* the processes (``mc_process`` 20–24, ``analysis.codes.Process``) and the signal.

Detector layout along the beam (z = 0 at the ECAL face, mm): MS1 stations and magnet, the
ECAL (active target, 6×6 Pb/Sc as in NA64e, 40 X₀), three VETO planes, the VHCAL with a
central hole the beam muon passes through, MS2, the HCAL (4 modules of 3×3 cells), the
trigger counters. Tags as in ``detector.py``: **[pub]**, **[PDG]**, **[derived]**,
**[check]** (remembered, not re-verified), **no source** (chosen to be plausible, reason
given). Documentation with the process table: docs/na64mu.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import betaincinv, erfc, erfinv

from ..codes import Process
from . import detector as det
from .common import cell_fractions, cell_index, inverse_cdf_table, mip_energy, tail_quantiles
from .electron import Batch, Context, ProcessSpec

# ----------------------------------------------------------------------------------------
# beam
# ----------------------------------------------------------------------------------------

#: Nominal M2 muon momentum, GeV [pub: arXiv:2401.01708, arXiv:2409.10128].
BEAM_ENERGY = 160.0
#: PDG id of the beam muon written to runinfo.beam_pdg. The NA64μ abstracts do not state the
#: charge; the M2 line usually delivers μ⁺ to COMPASS/AMBER [check], which would be −13.
#: 13 (μ⁻) is used until a source settles it; nothing here depends on the sign except the
#: side to which MS2 bends (always +x here).
BEAM_PDG = 13
#: Relative rms momentum spread of the M2 muon beam (no source: a few % momentum bite for
#: the 160 GeV muon beam [check]; 3 % chosen).
BEAM_SPREAD = 0.03
#: Beam spot at the ECAL face, rms mm (no source: muon beams are broader than the H4
#: electron beam; 8 mm keeps ≈99 % of the beam on the 3×3 central ECAL cells).
BEAM_SPOT = 8.0
#: Beam divergence, rms rad (no source).
BEAM_DIVERGENCE = 1e-4
#: Muons per SPS spill (no source: NA64μ ran at a few 1e6–1e7 μ per spill [check]).
SPILL_INTENSITY = 1e7
#: Run periods of the muon setup → VHCAL installed. 2022 is the published run
#: (1.98e10 MOT [pub: arXiv:2409.10128]); that setup had a VHCAL-like hadron veto with a
#: central hole behind the ECAL [check: not stated in the stored abstracts].
PERIODS = {"2022": True}
FIRST_RUN = {"2022": 6001}  # run numbers are labels only

# ----------------------------------------------------------------------------------------
# MS1: upstream spectrometer (4 tracker stations, one bending magnet)
# ----------------------------------------------------------------------------------------

#: Station positions, mm from the ECAL face; two before and two after the magnet (no
#: source: NA64μ-like layout, the last station close to the target).
MS1_Z = np.array([-30000.0, -26000.0, -12000.0, -2000.0])
#: Magnet centre and bending power (no source: a 5 T·m dipole; only the hit pattern uses it).
MS1_MAGNET_Z = -21000.0
MS1_BDL = 5.0
#: End of the magnet: decays in flight are generated from here to the ECAL face (mm).
DECAY_Z_START = -20000.0
#: Momentum resolution of MS1 [check: NA64μ quotes a few % for both spectrometers; 3.8 %
#: remembered from arXiv:2401.01708, not re-verified].
MS1_RESOLUTION = 0.038
#: Non-Gaussian tail of MS1 (no source, as detector.P_TAIL_*: mis-associated hits).
MS1_TAIL_FRACTION = 1e-3
MS1_TAIL_RESOLUTION = 0.15

# ----------------------------------------------------------------------------------------
# MS2: downstream spectrometer; HCAL behind it; trigger counters
# ----------------------------------------------------------------------------------------

#: Momentum resolution of MS2 [check: 4.4 % remembered from arXiv:2401.01708].
MS2_RESOLUTION = 0.044
#: Non-Gaussian tail of MS2: fraction of outgoing tracks with a mis-associated hit, their
#: resolution and χ² inflation (no source: chosen so that the tail, not the core, makes the
#: momentum mis-reconstruction background, at the O(0.1)-event level for 2e10 MOT that a
#: near-background-free search needs).
MS2_TAIL_FRACTION = 1e-3
MS2_TAIL_RESOLUTION = 0.15
MS2_TAIL_CHI2 = 5.0
#: Degrees of freedom of the outgoing track fit (no source: 4 stations, 2 views).
MS2_NDF = 4
#: Resolution of the measured scattering angle per projection, mrad (no source: 0.1 mm
#: hits over a few metres of lever arm, plus the incoming-track direction).
THETA_RESOLUTION = 0.1
#: Bending power of MS2 and distance from it to the HCAL face (no source: chosen so that
#: p_out ≈ 50 GeV muons hit the neighbouring HCAL column and p_out ≲ 25 GeV miss the HCAL).
MS2_BDL = 4.2
HCAL_ARM = 12000.0
#: Physics trigger (bit 0): a charged track deflected by MS2 into the off-axis trigger
#: counters, efficiency ½ erfc((p − P_MAX)/(√2 EDGE)) above P_MIN [pub: NA64μ triggers on
#: the scattered muon with reduced momentum, arXiv:2401.01708; the 100 GeV edge, its 5 GeV
#: width and the 10 GeV lower acceptance are no source, chosen so that the whole signal
#: region p_out < 80 GeV is fully efficient].
TRIGGER_P_MAX = 100.0
TRIGGER_EDGE = 5.0
TRIGGER_P_MIN = 10.0
#: Accidental physics triggers: an in-time halo muon crossing the trigger counters while an
#: ordinary beam muon traverses the set-up (no source: 1e-4 per MOT, halo-muon rates of the
#: order of the beam at M2 [check] × a ~10 ns coincidence and the counter area).
ACCIDENTAL_TRIGGER = 1e-4

# ----------------------------------------------------------------------------------------
# material, scattering, energy loss
# ----------------------------------------------------------------------------------------

#: Muon mass, charged pion and kaon masses and lifetimes, BR(K → μν), BR(π → μν) [PDG].
M_MU = 0.1056584
M_PI = 0.1395704
M_K = 0.493677
CTAU_PI = 7.8045  # m
CTAU_K = 3.712  # m
BR_K_MUNU = 0.6356
BR_PI_MUNU = 0.99988
#: Electron mass, classical electron radius (cm), α [PDG].
M_E = 0.000510999
R_E = 2.8179403e-13
ALPHA = 1.0 / 137.035999
#: Lead in the ECAL: 1.5 mm Pb per 3 mm period (detector.py), so half of the 40 X₀ × 1.10 cm
#: depth is lead: 22 cm [derived]; density 11.35 g/cm³, A = 207.2, Z = 82 [PDG].
PB_LENGTH_CM = 0.5 * det.ECAL_X0 * det.ECAL_X0_CM
PB_DENSITY, PB_A, PB_Z = 11.35, 207.2, 82
N_AVOGADRO = 6.02214076e23
PB_ATOMS_PER_CM2 = PB_DENSITY * N_AVOGADRO / PB_A * PB_LENGTH_CM
#: Highland multiple-scattering angle for the ECAL (x/X0 = 40) [PDG]:
#: θ0 = 13.6 MeV/p √(x/X0) (1 + 0.038 ln(x/X0)); split in two halves (before and after an
#: emission point) so that θ0² = H² (x/2X0)(1/p_in² + 1/p_out²).
HIGHLAND = 0.0136 * (1.0 + 0.038 * math.log(det.ECAL_X0))


def highland_theta0(p_in, p_out) -> np.ndarray:
    """Projected rms multiple-scattering angle (rad) of a muon crossing the ECAL, half at
    p_in and half at p_out [PDG Highland formula, x/X0 = 40]."""
    p_in = np.asarray(p_in, dtype=np.float64)
    p_out = np.maximum(np.asarray(p_out, dtype=np.float64), 0.5)
    return HIGHLAND * np.sqrt(0.5 * det.ECAL_X0 * (1.0 / p_in ** 2 + 1.0 / p_out ** 2))


def kkp_brems_dsdv(v, energy: float, Z: float = PB_Z, A: float = PB_A) -> np.ndarray:
    """Muon bremsstrahlung on a nucleus, dσ/dv in cm² (v = ν/E), Kelner–Kokoulin–Petrukhin
    as given by Groom, Mokhov & Striganov, At. Data Nucl. Data Tables 78 (2001) 183 (the
    form Geant4's G4MuBremsstrahlungModel uses):

        dσ/dv = α (2 Z r_e m_e/m_μ)² (1/v) (4/3 (1 − v) + v²) Φ(δ),
        Φ = ln[B Z^-1/3 (m_μ/m_e) / (1 + δ √e B Z^-1/3 / m_e)] − Δ_n,
        Δ_n = ln[D_n / (1 + δ (D_n √e − 2)/m_μ)],  D_n = 1.54 A^0.27,  B = 183,
        δ = m_μ² v / (2 E (1 − v)).

    Bremsstrahlung on atomic electrons (≈1/Z of this) is neglected."""
    v = np.asarray(v, dtype=np.float64)
    delta = M_MU ** 2 * v / (2.0 * energy * (1.0 - v))
    bz = 183.0 * Z ** (-1.0 / 3.0)
    dn = 1.54 * A ** 0.27
    sqe = math.sqrt(math.e)
    phi = (np.log(bz * (M_MU / M_E) / (1.0 + delta * sqe * bz / M_E))
           - np.log(dn / (1.0 + delta * (dn * sqe - 2.0) / M_MU)))
    pref = ALPHA * (2.0 * Z * R_E * M_E / M_MU) ** 2
    return np.maximum(pref * (4.0 / 3.0 * (1.0 - v) + v * v) * phi / v, 0.0)


#: Smallest energy loss generated for the target-interaction process: ν > 0.25 E (40 GeV).
#: The trigger needs p_out ≲ 100 GeV, i.e. ν ≳ 60 GeV; 40 GeV covers its edge.
NU_MIN_FRACTION = 0.25
#: Largest v of muon bremsstrahlung, v_max = 1 − (3/4)√e (m_μ/E) Z^(1/3) (Groom et al.).
V_MAX = 1.0 - 0.75 * math.sqrt(math.e) * (M_MU / BEAM_ENERGY) * PB_Z ** (1.0 / 3.0)
_V_GRID = np.geomspace(NU_MIN_FRACTION, V_MAX, 2001)
_BREMS_PDF = kkp_brems_dsdv(_V_GRID, BEAM_ENERGY)
_BREMS_TABLE = inverse_cdf_table(_V_GRID, _BREMS_PDF)
#: Muon bremsstrahlung with v > 0.25 in the ECAL lead, per MOT [derived: ∫ dσ/dv over
#: [0.25, v_max] × 22 cm × n_Pb] ≈ 1.7e-3.
RATE_BREMS = float(np.sum(0.5 * (_BREMS_PDF[1:] + _BREMS_PDF[:-1]) * np.diff(_V_GRID))
                   * PB_ATOMS_PER_CM2)
#: Direct e⁺e⁻ pair production with v > 0.25, relative to bremsstrahlung (no source
#: verified: the pair spectrum falls much faster than 1/v above v ≈ 0.1 although its total
#: energy loss is larger; 30 % chosen [check: Groom et al. 2001, Fig. of v dσ/dv]).
PAIR_OVER_BREMS = 0.3
#: Photonuclear interaction with v > 0.25, relative to bremsstrahlung [derived, rough:
#: (α/π) σ_γA ln(…)/v with σ_γA = 0.114 mb A^0.91 [PDG, check] gives ≈1e-4 per MOT in the
#: ECAL lead, ≈5 % of bremsstrahlung].
PHOTONUCLEAR_OVER_BREMS = 0.05
#: Photonuclear events in which a leading neutral hadron (n, K⁰_L) takes 85–100 % of ν and
#: escapes every calorimeter (no source: chosen so that this irreducible tail gives
#: O(0.01) events per 2e10 MOT in the signal region, below the other backgrounds).
ESCAPE_PROBABILITY = 1e-7
ESCAPE_LEADING = (0.85, 1.0)

# ----------------------------------------------------------------------------------------
# hadrons in the muon beam
# ----------------------------------------------------------------------------------------

#: Residual hadrons (π, K, p) in the last ≈20 m before the target per beam muon (no
#: source: the M2 muon beam is cleaned by ≈10 m of beryllium absorber; 2e-8 chosen so that
#: decays in flight stay at the O(0.01)-event level for 2e10 MOT).
HADRON_FRACTION = 2e-8
#: K and π shares of those hadrons (no source: as electron.KAON_FRACTION, π : K ≈ 0.88 : 0.08).
KAON_SHARE = 0.08
PION_SHARE = 0.88
#: Decay probabilities over DECAY_Z_START → ECAL face at 160 GeV [derived: L/(γcτ)].
_DECAY_L_M = -DECAY_Z_START / 1000.0
P_DECAY_K = _DECAY_L_M / (BEAM_ENERGY / M_K * CTAU_K)
P_DECAY_PI = _DECAY_L_M / (BEAM_ENERGY / M_PI * CTAU_PI)
_W_K = KAON_SHARE * P_DECAY_K * BR_K_MUNU
_W_PI = PION_SHARE * P_DECAY_PI * BR_PI_MUNU
#: Fraction of hadron decays in flight that are kaons.
KAON_DECAY_FRACTION = _W_K / (_W_K + _W_PI)
#: Leading charged fraction z of a hadron interaction ~ Beta(1.5, 3), mean 1/3 (no source:
#: leading-particle effect).
LEAD_Z_BETA = (1.5, 3.0)
#: Mean transverse momentum of hadronic secondaries, GeV (no source: ⟨p_T⟩ ≈ 0.35 GeV).
HADRON_PT = 0.35
#: Probability that the leading charged pion decays to a muon between the ECAL and the HCAL,
#: so the HCAL sees a MIP instead of a shower ("punch-through") [derived: ≈20 m /
#: (γcτ = 2.8 km at 50 GeV) × π share ≈ 6e-3; true punch-through of 30 λ is negligible].
PUNCH_PROBABILITY = 6e-3
#: Charged secondaries of a hadron interaction crossing the VETO and reaching MS2, mean
#: numbers (no source; VETO as electron.py's 1 + Poisson(2)).
HADRON_VETO_MEAN = 2.0
HADRON_EXTRA_TRACKS = 1.0
#: Fraction of hadron/photonuclear interactions sending large-angle hadrons into the VHCAL,
#: and the fraction of the hadronic energy they carry there (no source).
VHCAL_HIT_PROBABILITY = 0.5
VHCAL_ENERGY_FRACTION = (0.05, 0.3)

# ----------------------------------------------------------------------------------------
# muon-specific truth (alongside detector.Truth)
# ----------------------------------------------------------------------------------------

_KIN_DEFAULTS = {
    "p_out": np.nan,  # true momentum of the leading charged particle entering MS2 (GeV)
    "theta_x": 0.0, "theta_y": 0.0,  # its true angle to the incoming track (rad, projections)
    "n_out": 0,  # charged tracks reaching MS2
    "out_muon": False,  # the leading charged particle is a muon (MIP in the HCAL)
    "hadron_e": 0.0,  # energy of a charged hadron showering in the HCAL behind MS2 (GeV)
    "chi2_in_add": 0.0,  # extra χ²/ndf of the incoming track (decay kink)
    "ms2_u": np.nan,  # forced MS2 reconstruction quantile (momentum-tail process)
    "accidental": False,  # physics trigger fired by a halo muon
}


class Kin(det.ColumnRecord):
    """Per-event muon-setup quantities the calorimeter truth (:class:`detector.Truth`) does
    not hold: the outgoing charged particle, trigger and tracking modifiers."""

    __slots__ = ()
    SCALARS = _KIN_DEFAULTS

    @property
    def theta(self) -> np.ndarray:
        """True polar angle to the incoming track, rad."""
        return np.hypot(self.theta_x, self.theta_y)


def beam_muons(rng: np.random.Generator, n: int, kind: int = det.KIND_HADRON) -> det.Truth:
    """Beam particles of the M2 line: 160 GeV with BEAM_SPREAD, spot, divergence.

    ``kind`` KIND_HADRON only means "no synchrotron radiation" (a muon radiates (m_e/m_μ)⁴ ≈
    5e-10 of an electron's SR [derived]); the knock-on quantile ``srd_u`` stays 0, so the
    SRD (not part of NA64μ) reads pedestal noise, which NTUPLE.md needs as finite values."""
    p = BEAM_ENERGY * (1.0 + BEAM_SPREAD * rng.standard_normal(n))
    return det.Truth(n, p=p, kind=kind,
                     x=BEAM_SPOT * rng.standard_normal(n), y=BEAM_SPOT * rng.standard_normal(n),
                     tx=BEAM_DIVERGENCE * rng.standard_normal(n),
                     ty=BEAM_DIVERGENCE * rng.standard_normal(n))


def _through_going(a: det.Truth) -> None:
    """The muon crosses the whole ECAL and the VETO planes as a MIP."""
    a["mip_pre"] = 1.0
    a["mip_main"] = 1.0
    a["veto_mip"] = 1.0


def _scatter(rng, n, p_in, p_out, kick=None):
    """Projected angles (rad) of the outgoing muon: multiple scattering in the ECAL plus an
    optional polar kick with random azimuth."""
    th0 = highland_theta0(p_in, p_out)
    tx = th0 * rng.standard_normal(n)
    ty = th0 * rng.standard_normal(n)
    if kick is not None:
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        tx = tx + kick * np.cos(phi)
        ty = ty + kick * np.sin(phi)
    return tx, ty


def _muon_out(rng, a: det.Truth, p_out, kick=None, **extra) -> Kin:
    n = a.n
    tx, ty = _scatter(rng, n, a.p, p_out, kick)
    return Kin(n, p_out=p_out, theta_x=tx, theta_y=ty, n_out=1, out_muon=True, **extra)


# ----------------------------------------------------------------------------------------
# generators: (rng, n, u, ctx) -> (Truth, Kin)
# ----------------------------------------------------------------------------------------

def gen_ordinary(rng, n, u, ctx):
    a = beam_muons(rng, n)
    _through_going(a)
    return a, _muon_out(rng, a, a.p - det.ECAL_MUON_LOSS)


#: Probability that the halo muon which caused an accidental trigger and a mis-associated
#: outgoing track is itself reconstructed as a second MS2 track (no source).
HALO_TRACK_PROBABILITY = 0.7


def gen_momentum_tail(rng, n, u, ctx):
    """An ordinary beam muon recorded by an accidental trigger; its outgoing track is
    reconstructed from the quantile u["ms2"] (u → 1: the tail, reconstructed far below the
    true momentum). A mis-associated track usually comes with the halo muon's own track."""
    a = beam_muons(rng, n)
    _through_going(a)
    halo_track = rng.random(n) < HALO_TRACK_PROBABILITY
    k = _muon_out(rng, a, a.p - det.ECAL_MUON_LOSS, ms2_u=u["ms2"], accidental=True)
    tail = u["ms2"] > 1.0 - MS2_TAIL_FRACTION
    k["n_out"] = 1 + (tail & halo_track)
    return a, k


def gen_decay_in_flight(rng, n, u, ctx):
    """π/K → μν between the end of MS1's magnet and the ECAL face: MS1 measured the hadron;
    the muon has E_μ uniform in [r E_h, E_h], r = m_μ²/m_h² (two-body decay of a spin-0
    particle, cos θ* uniform [PDG kinematics]); the neutrino is invisible. u["z"] → 1 puts
    the decay close to the target (after the last station: no kink seen), u["soft"] → 1 makes
    the muon soft."""
    a = beam_muons(rng, n)
    kaon = rng.random(n) < KAON_DECAY_FRACTION
    m_h = np.where(kaon, M_K, M_PI)
    p_star = (m_h ** 2 - M_MU ** 2) / (2.0 * m_h)
    e_star = (m_h ** 2 + M_MU ** 2) / (2.0 * m_h)
    cos_star = 1.0 - 2.0 * u["soft"]
    gamma = np.sqrt(a.p ** 2 + m_h ** 2) / m_h
    beta_gamma = a.p / m_h
    e_mu = gamma * e_star + beta_gamma * p_star * cos_star
    p_mu = np.sqrt(np.maximum(e_mu ** 2 - M_MU ** 2, 0.0))
    sin_star = np.sqrt(np.maximum(1.0 - cos_star ** 2, 0.0))
    theta_d = p_star * sin_star / np.maximum(p_mu, 1e-6)  # rad, small-angle
    z_d = DECAY_Z_START * (1.0 - u["z"])  # mm, uniform (decay length ≫ 20 m)
    # kink seen by the MS1 stations downstream of the decay point: hits displaced by
    # θ·(z_k − z_d) against 0.1 mm resolution; the fit has 2·4 − 4 = 4 degrees of freedom
    after = np.clip(MS1_Z[None, :] - z_d[:, None], 0.0, None)
    kink = ((theta_d[:, None] * after / det.HIT_RESOLUTION) ** 2).sum(axis=1) / 4.0
    a["invisible"] = np.sqrt(a.p ** 2 + m_h ** 2) - e_mu
    _through_going(a)
    p_out = p_mu - det.ECAL_MUON_LOSS
    return a, _muon_out(rng, a, p_out, kick=theta_d, chi2_in_add=kink)


def _lead_z(u):
    return betaincinv(LEAD_Z_BETA[0], LEAD_Z_BETA[1], np.clip(u, 0.0, 1.0 - 1e-12))


def gen_hadron_punch(rng, n, u, ctx):
    """A beam hadron interacting in the ECAL (depth exponential in λ, truncated to the
    ECAL): a leading charged hadron with the fraction z ~ Beta(1.5, 3) of the energy
    (u["z"] → 1: large z) goes through MS2 into the HCAL, where it showers — unless it
    decays to a muon on the way (u["punch"] → 1, probability PUNCH_PROBABILITY), when the
    HCAL sees a MIP; the rest (1 − z) showers in the ECAL from the interaction point."""
    a = beam_muons(rng, n)
    span = 1.0 - math.exp(-det.ECAL_LAMBDA)
    t0 = -np.log1p(-rng.random(n) * span)
    z = _lead_z(u["z"])
    e = a.p
    a["had_e"] = (1.0 - z) * e
    a["had_t0"] = t0
    a["had_fem"] = rng.beta(*det.HAD_FEM_BETA, n)
    a["had_track"] = True
    a["veto_mip"] = 1.0 + rng.poisson(HADRON_VETO_MEAN, n)
    hit = rng.random(n) < VHCAL_HIT_PROBABILITY
    a["vhcal_e"] = hit * (1.0 - z) * e * rng.uniform(*VHCAL_ENERGY_FRACTION, n)
    a["vhcal_cell"] = rng.integers(0, det.VHCAL_CELLS, n)
    punch = u["punch"] > 1.0 - PUNCH_PROBABILITY
    p_lead = z * e
    r_pi = (M_MU / M_PI) ** 2
    p_mu = p_lead * rng.uniform(r_pi, 1.0, n)
    p_out = np.where(punch, p_mu, p_lead)
    kick = rng.exponential(HADRON_PT, n) / np.maximum(p_out, 1e-3)
    k = Kin(n, p_out=p_out, n_out=1 + rng.poisson(HADRON_EXTRA_TRACKS, n), out_muon=punch,
            hadron_e=np.where(punch, 0.0, p_lead))
    tx, ty = _scatter(rng, n, a.p, p_out, kick)
    k["theta_x"], k["theta_y"] = tx, ty
    return a, k


def gen_target_interaction(rng, n, u, ctx):
    """The beam muon loses ν = v E (v > 0.25, muon-bremsstrahlung spectrum, KKP) at a depth
    uniform in the ECAL: bremsstrahlung or e⁺e⁻ pair → an EM shower of ν; photonuclear
    (PHOTONUCLEAR_OVER_BREMS of the rate) → a hadron shower of ν from that depth, charged
    hadrons into the VETO/VHCAL/MS2; with probability ESCAPE_PROBABILITY a photonuclear
    event sends 85–100 % of ν into a leading neutral hadron that escapes. One quantile
    u["escape"] picks the kind, u → 1 being photonuclear and, at its very end, escape.
    The muon continues with p − ν."""
    a = beam_muons(rng, n)
    v = np.interp(rng.random(n), *_BREMS_TABLE)
    nu = v * a.p
    depth = rng.uniform(0.0, det.ECAL_X0, n)  # X0
    # one quantile decides the kind, dangerous end last: EM | photonuclear | escape
    f_pn = PHOTONUCLEAR_OVER_BREMS / (1.0 + PAIR_OVER_BREMS + PHOTONUCLEAR_OVER_BREMS)
    pn = u["escape"] > 1.0 - f_pn
    escape = u["escape"] > 1.0 - f_pn * ESCAPE_PROBABILITY
    lead = np.where(escape, rng.uniform(*ESCAPE_LEADING, n), 0.0)
    a["em_e"] = np.where(pn, 0.0, nu)
    a["em_t0"] = depth + det.shower_start(rng, n)
    a["had_e"] = np.where(pn, (1.0 - lead) * nu, 0.0)
    a["had_t0"] = depth / det.X0_PER_LAMBDA
    a["had_fem"] = rng.beta(*det.HAD_FEM_BETA, n)
    _through_going(a)
    charged = pn & ~escape
    a["veto_mip"] = 1.0 + charged * rng.poisson(HADRON_VETO_MEAN, n) + escape * rng.poisson(
        0.5, n)
    hit = charged & (rng.random(n) < VHCAL_HIT_PROBABILITY)
    a["vhcal_e"] = hit * nu * rng.uniform(*VHCAL_ENERGY_FRACTION, n)
    a["vhcal_cell"] = rng.integers(0, det.VHCAL_CELLS, n)
    k = _muon_out(rng, a, a.p - nu - det.ECAL_MUON_LOSS)
    k["n_out"] = 1 + charged * rng.poisson(HADRON_EXTRA_TRACKS / 2.0, n)
    return a, k


# ----------------------------------------------------------------------------------------
# signal
# ----------------------------------------------------------------------------------------

def emission_kick(rng, x, mass: float, energy: float = BEAM_ENERGY) -> np.ndarray:
    """Polar angle (rad) of the recoil muon after μN → μN X at x = E_X/E.

    The WW amplitude's leading term a₂/U², U = x E² (θ_X² + θ_c²) with
    θ_c² = m²(1−x)/(x²E²) + m_μ²/E² (analysis.physics.cross_sections, DMG4), gives
    dN/dθ_X² ∝ 1/(θ_X² + θ_c²)², sampled analytically (θ_X ≤ 0.3 rad, DMG4's θ_max); the
    transverse momentum balances: θ_μ = x θ_X / (1 − x) (the flux and the nucleus recoil
    are neglected)."""
    x = np.clip(np.asarray(x, dtype=np.float64), 1e-9, 1.0 - 1e-9)
    tc2 = mass ** 2 * (1.0 - x) / (x * x * energy ** 2) + (M_MU / energy) ** 2
    tmax2 = 0.3 ** 2
    umax = tmax2 / (tmax2 + tc2)
    w = rng.random(len(x)) * umax
    theta_x = np.sqrt(tc2 * w / (1.0 - w))
    return x * theta_x / (1.0 - x)


def signal_generator(model, mass: float, method: str = "etl", min_energy: float = 0.0):
    """Signal events of ``model`` (mass in GeV) for the muon setup: E_X from
    ``analysis.physics.signal_spectrum.sample_invisible_energy(model, "muon", 160, mass, n,
    rng, method, min_energy)`` (thin-target WW spectrum for muons; only E_X ≥ min_energy,
    a generation cut), scaled to each event's momentum;
    the muon crosses the ECAL, VETO and HCAL as a MIP with p_out = p − E_X − 0.3 GeV and
    the emission kick of :func:`emission_kick` plus multiple scattering; calorimeters
    otherwise quiet."""
    from .signal import model_name

    name = model_name(model)
    if not mass > 0:
        raise ValueError(f"signal mass must be > 0 GeV, got {mass}")

    def generate(rng, n, u, ctx):
        from ..physics import signal_spectrum  # lazy, as signal.py

        a = beam_muons(rng, n)
        e_x = np.asarray(signal_spectrum.sample_invisible_energy(
            name, "muon", BEAM_ENERGY, float(mass), n, rng, method=method,
            min_energy=min_energy), dtype=np.float64)
        if e_x.shape != (n,):
            raise ValueError(f"sample_invisible_energy returned shape {e_x.shape}, "
                             f"expected ({n},)")
        x = np.clip(e_x / BEAM_ENERGY, 0.0, 1.0)
        a["invisible"] = x * a.p
        _through_going(a)
        kick = emission_kick(rng, x, float(mass))
        return a, _muon_out(rng, a, a.p * (1.0 - x) - det.ECAL_MUON_LOSS, kick)

    return generate


# ----------------------------------------------------------------------------------------
# process table
# ----------------------------------------------------------------------------------------

RATE_TARGET = RATE_BREMS * (1.0 + PAIR_OVER_BREMS + PHOTONUCLEAR_OVER_BREMS)
RATE_DECAY = HADRON_FRACTION * (_W_K + _W_PI)
RATE_HADRON = HADRON_FRACTION * (1.0 - math.exp(-det.ECAL_LAMBDA))

_SPECS = [
    ProcessSpec(
        Process.MU_MOMENTUM_TAIL, "momentum-tail", ACCIDENTAL_TRIGGER,
        "no source: accidental physics triggers (an in-time halo muon in the trigger "
        "counters) of ordinary beam muons, 1e-4 per MOT; the MS2 tail (1e-3, σ = 15 %, "
        "χ² × 5) makes the background",
        gen_momentum_tail, ("ms2",),
        "p_out < 80 GeV (most); single outgoing track with good χ² (the tail)",
        "Ordinary 160 GeV muon (MIPs everywhere) recorded through an accidental trigger; "
        "MS2 reconstructs p_out with the core resolution or, in the 1e-3 tail, with 15 % "
        "resolution, χ² × 5 and usually the halo muon's track as a second track.",
        aliases=("mis-reconstruction", "mu-momentum-tail")),
    ProcessSpec(
        Process.MU_KAON_DECAY, "decay-in-flight", RATE_DECAY,
        "derived: hadron fraction 2e-8 (no source) × [K 0.08 × P(decay in 20 m, γcτ = "
        "1.2 km) × BR(K→μν) 63.6 % + π 0.88 × P(γcτ = 8.9 km) × BR(π→μν)] [PDG]",
        gen_decay_in_flight, ("z", "soft"),
        "incoming-track χ² (kink seen by the MS1 stations after the decay); pions: "
        "p_out < 80 GeV (E_μ ≥ 0.57 E_π)",
        "π/K → μν between MS1's magnet and the ECAL: MS1 measures the hadron, the muon is "
        "softer (kaons: E_μ down to 0.046 E_K); the neutrino is invisible (mc_invisible_e). "
        "Decays after the last MS1 station are irreducible.",
        aliases=("kaon-decay", "mu-kaon-decay")),
    ProcessSpec(
        Process.MU_HADRON_PUNCH, "hadron-punch", RATE_HADRON,
        "derived: hadron fraction 2e-8 (no source) × P(interaction in the 1.53 λ ECAL) 0.78",
        gen_hadron_punch, ("z", "punch"),
        "ECAL MIP compatibility (hadron shower), HCAL (the leading hadron showers), VETO",
        "Beam hadron interacting in the ECAL: (1 − z) E showers there, the leading charged "
        "hadron (z E) is measured by MS2 and showers in the HCAL, or decays to a muon "
        "(punch-through, 6e-3). Hadrons not interacting in the ECAL leave p_out ≈ 160 GeV "
        "(no trigger) and are not generated.",
        aliases=("hadron", "punch-through", "mu-hadron-punch")),
    ProcessSpec(
        Process.MU_NUCLEAR, "target-interaction", RATE_TARGET,
        "derived: muon bremsstrahlung in the ECAL lead with ν > 0.25 E (KKP, Groom et al. "
        "2001) = %.2e, + e⁺e⁻ pairs 30 %% [check] + photonuclear 5 %% [derived, rough]"
        % RATE_BREMS,
        gen_target_interaction, ("escape",),
        "ECAL MIP compatibility (E_ECAL ≈ ν); HCAL/VETO for photonuclear hadrons; "
        "leading-neutral escape (1e-7 of photonuclear) is irreducible",
        "Muon energy loss ν > 40 GeV in the active target by bremsstrahlung, pair "
        "production (EM shower) or photonuclear interaction (hadron shower); p_out = p − ν.",
        aliases=("muon-nuclear", "mu-nuclear", "radiative")),
]
_RATE_ORDINARY = 1.0 - sum(s.rate for s in _SPECS)
_SPECS.append(ProcessSpec(
    Process.MU_ORDINARY, "ordinary", _RATE_ORDINARY,
    "1 − Σ(other rates): ordinary beam muons",
    gen_ordinary, (), "(not a background: p_out ≈ 160 GeV never fires the physics trigger)",
    "Beam muon crossing everything as a MIP, p_out = p − 0.3 GeV. Only the calibration-"
    "triggered subset (bit 1, prescale 1e-4) is generated.",
    calib_only=True, aliases=("mu-ordinary",)))

#: The muon-setup processes, by mc_process code.
PROCESSES: dict[Process, ProcessSpec] = {s.code: s for s in _SPECS}


def process_spec(name) -> ProcessSpec:
    """Look up a muon-setup process by CLI name ("decay-in-flight"), alias, enum name
    ("MU_KAON_DECAY") or code (21)."""
    if isinstance(name, ProcessSpec):
        return name
    if isinstance(name, (int, np.integer)) or (isinstance(name, str) and name.isdigit()):
        for s in _SPECS:
            if int(s.code) == int(name):
                return s
    else:
        key = str(name).strip().lower().replace("_", "-")
        for s in _SPECS:
            if key in (s.name, s.code.name.lower().replace("_", "-"), *s.aliases):
                return s
    raise ValueError(f"unknown muon-setup process {name!r}; choose one of "
                     f"{', '.join(s.name for s in _SPECS)}")


# ----------------------------------------------------------------------------------------
# detector pieces specific to the muon setup
# ----------------------------------------------------------------------------------------

def trigger_efficiency(p_out) -> np.ndarray:
    """Physics-trigger efficiency for an outgoing charged track of true momentum p_out."""
    p = np.asarray(p_out, dtype=np.float64)
    ok = np.isfinite(p) & (p > TRIGGER_P_MIN)
    with np.errstate(invalid="ignore"):
        eff = 0.5 * erfc((p - TRIGGER_P_MAX) / (math.sqrt(2.0) * TRIGGER_EDGE))
    return np.where(ok, eff, 0.0)


def hcal_offset(p) -> np.ndarray:
    """Extra deflection of momentum p at the HCAL face relative to the nominal 160 GeV
    trajectory (which hits the centre of cell [1][1]), mm [PDG: θ = 0.3 ∫B dl / p]."""
    p = np.maximum(np.asarray(p, dtype=np.float64), 1e-3)
    return HCAL_ARM * 0.3 * MS2_BDL * (1.0 / p - 1.0 / BEAM_ENERGY)


def _hcal_behind_ms2(truth: det.Truth, kin: Kin, rng) -> np.ndarray:
    """(n, 4, 3, 3) noise-free HCAL signals of the particle MS2 measured: a muon's MIP per
    module it has the energy to cross (1.4 GeV lost per module) in the cell its deflection
    points to, or a charged hadron's shower (gamma profile from the HCAL face, lateral
    profile, e/h and resolution of detector.py) centred there."""
    n = truth.n
    x_h = truth.x + np.nan_to_num(hcal_offset(kin.p_out)) + HCAL_ARM * kin.theta_x
    y_h = truth.y + HCAL_ARM * kin.theta_y
    half = 1.5 * det.HCAL_CELL
    inside = (np.abs(x_h) < half) & (np.abs(y_h) < half) & np.isfinite(kin.p_out)
    out = np.zeros((n, det.HCAL_MODULES, det.HCAL_N, det.HCAL_N))
    # muon MIPs
    modules = np.arange(det.HCAL_MODULES)
    reach = np.nan_to_num(kin.p_out) / det.HCAL_MUON_LOSS
    path = np.clip(reach[:, None] - modules[None, :], 0.0, 1.0) * (inside & kin.out_muon)[:, None]
    e_mip = mip_energy(rng, path, det.HCAL_MIP, det.HCAL_MIP_WIDTH)
    ix = cell_index(x_h, det.HCAL_N, det.HCAL_CELL, det.HCAL_BEAM_CELL)
    iy = cell_index(y_h, det.HCAL_N, det.HCAL_CELL, det.HCAL_BEAM_CELL)
    rows = np.arange(n)[:, None]
    out[rows, modules[None, :], ix[:, None], iy[:, None]] += e_mip
    # charged-hadron shower (the lateral profile may spill over the matrix edge)
    e_h = np.where(np.isfinite(kin.p_out), kin.hadron_e, 0.0)
    if np.any(e_h > 0):
        t0 = det.ECAL_LAMBDA + rng.exponential(1.0, n)
        fem = rng.beta(*det.HAD_FEM_BETA, n)
        seg = det.hadron_fractions(e_h, t0)[:, 2:]  # H0..H3 of the non-EM part
        em_mod = np.clip(np.floor((t0 - det.ECAL_LAMBDA) / det.HCAL_MODULE_LAMBDA), 0,
                         det.HCAL_MODULES - 1).astype(np.int64)
        vis = det.HCAL_SCALE * ((1.0 - fem)[:, None] * e_h[:, None] * seg
                                + det.HCAL_E_OVER_H * (fem * e_h)[:, None]
                                * np.eye(det.HCAL_MODULES)[em_mod])
        tot = vis.sum(axis=1)
        s = np.sqrt(det.HCAL_STOCHASTIC ** 2 / np.maximum(tot, 1e-3) + det.HCAL_CONSTANT ** 2)
        vis *= np.maximum(1.0 + s * rng.standard_normal(n), 0.0)[:, None]
        fx = cell_fractions(x_h, det.HCAL_N, det.HCAL_CELL, det.HCAL_BEAM_CELL,
                            det.HCAL_LATERAL)
        fy = cell_fractions(y_h, det.HCAL_N, det.HCAL_CELL, det.HCAL_BEAM_CELL,
                            det.HCAL_LATERAL)
        out += vis[:, :, None, None] * (fx[:, :, None] * fy[:, None, :])[:, None]
    return out


def ms1_track(truth: det.Truth, kin: Kin, rng) -> det.Track:
    """Hits of the incoming particle in the four MS1 stations (bent before the magnet),
    reconstructed momentum (core + tail), χ²/ndf (+ a decay kink) and the extrapolation to
    the ECAL face. A track needs ≥3 hits (as detector.track, with the MS1 constants)."""
    n = truth.n
    z = MS1_Z[None, :]
    upstream = (MS1_Z < MS1_MAGNET_Z)[None, :]
    bend = (0.3 * MS1_BDL * (1.0 / truth.p - 1.0 / BEAM_ENERGY))[:, None] * (
        MS1_MAGNET_Z - z) * upstream
    hx = truth.x[:, None] + truth.tx[:, None] * z + bend
    hy = truth.y[:, None] + truth.ty[:, None] * z
    hx = hx + det.HIT_RESOLUTION * rng.standard_normal((n, 4))
    hy = hy + det.HIT_RESOLUTION * rng.standard_normal((n, 4))
    ok = rng.random((n, 4)) < det.HIT_EFFICIENCY
    has = ok.sum(axis=1) >= 3
    tail = rng.random(n) < MS1_TAIL_FRACTION
    sigma = np.where(tail, MS1_TAIL_RESOLUTION, MS1_RESOLUTION)
    p = truth.p * np.maximum(1.0 + sigma * rng.standard_normal(n), 0.05)
    ndf = 2 * ok.sum(axis=1) - 4
    chi2 = (rng.chisquare(np.maximum(ndf, 1)) / np.maximum(ndf, 1)
            * np.where(tail, MS2_TAIL_CHI2, 1.0) + kin.chi2_in_add)
    bx = truth.x + det.TRACK_EXTRAPOLATION * rng.standard_normal(n)
    by = truth.y + det.TRACK_EXTRAPOLATION * rng.standard_normal(n)
    nan = np.nan
    return det.Track(hx, hy, ok, has, np.where(has, p, nan), np.where(has, chi2, nan),
                     np.where(has, bx, nan), np.where(has, by, nan))


def ms2_branches(kin: Kin, rng) -> dict[str, np.ndarray]:
    """NTUPLE.md muon branches from the outgoing charged particle: momentum (core
    MS2_RESOLUTION, tail MS2_TAIL_FRACTION with MS2_TAIL_RESOLUTION; a forced quantile
    ``kin.ms2_u`` drives both for the momentum-tail process), χ²/ndf ~ χ²₄/4 (× 5 in the
    tail), number of tracks, measured scattering angle (mrad). NaN without a track."""
    n = kin.n
    has = (kin.n_out > 0) & np.isfinite(kin.p_out)
    z_core = rng.standard_normal(n)
    tail = rng.random(n) < MS2_TAIL_FRACTION
    forced = np.isfinite(kin.ms2_u)
    uu = np.where(forced, kin.ms2_u, 0.5)
    f_tail = uu > 1.0 - MS2_TAIL_FRACTION
    v = np.clip((uu - (1.0 - MS2_TAIL_FRACTION)) / MS2_TAIL_FRACTION, 1e-15, 1.0 - 1e-15)
    z_tail = -math.sqrt(2.0) * erfinv(2.0 * v - 1.0)  # v → 1: far below the true momentum
    tail = np.where(forced, f_tail, tail)
    delta = np.where(forced & f_tail, MS2_TAIL_RESOLUTION * z_tail,
                     np.where(tail, MS2_TAIL_RESOLUTION, MS2_RESOLUTION) * z_core)
    p = np.nan_to_num(kin.p_out) * np.maximum(1.0 + delta, 0.02)
    chi2 = rng.chisquare(MS2_NDF, n) / MS2_NDF * np.where(tail, MS2_TAIL_CHI2, 1.0)
    tx = kin.theta_x * 1e3 + THETA_RESOLUTION * rng.standard_normal(n)
    ty = kin.theta_y * 1e3 + THETA_RESOLUTION * rng.standard_normal(n)
    nan = np.nan
    return {
        "mu_p_out": np.where(has, p, nan),
        "mu_chi2_out": np.where(has, chi2, nan),
        "n_tracks_out": kin.n_out.astype(np.int16),
        "mu_theta_out": np.where(has, np.hypot(tx, ty), nan),
    }


# ----------------------------------------------------------------------------------------
# event loop of one process in one spill/block
# ----------------------------------------------------------------------------------------

def run_generator(generate: Callable, tails, code: int, rng: np.random.Generator, n: int,
                  ctx: Context, *, bias=None, record: str = "triggered",
                  calib_all: bool = False) -> Batch:
    """Generate n events, apply the trigger, read out the recorded ones (the muon-setup
    counterpart of ``electron.run_generator``; same arguments and result)."""
    u = {}
    w = np.ones(n)
    for name in tails:
        u[name], wt = tail_quantiles(rng, n, bias)
        w = w * wt
    a, kin = generate(rng, n, u, ctx)
    dep = det.deposits(a, rng)
    phys = (rng.random(n) < trigger_efficiency(kin.p_out)) | kin.accidental
    calib = np.ones(n, dtype=bool) if calib_all else rng.random(n) < det.CALIB_PRESCALE
    keep = np.ones(n, dtype=bool) if record == "all" else (phys | calib)
    idx = np.flatnonzero(keep)
    m = idx.size

    a_r = a.subset(idx)
    k_r = kin.subset(idx)
    ro = det.readout(a_r, dep.subset(idx), rng, ctx.has_vhcal)
    ro.hcal = ro.hcal + _hcal_behind_ms2(a_r, k_r, rng)
    fin = det.finish(ro, rng)
    trk = ms1_track(a_r, k_r, rng)
    ev = det.event_branches(fin, phys[idx], calib[idx], code, a_r.invisible,
                            rng.uniform(0.0, SPILL_LENGTH, m))
    ev.update(det.tracker_branches(trk, None))
    ev.update(ms2_branches(k_r, rng))
    return Batch(ev, n, m, w[idx], float(w.sum()))


#: SPS spill length, s (as electron.SPILL_LENGTH).
SPILL_LENGTH = 4.8


def run_process(spec: ProcessSpec, rng: np.random.Generator, n: int, ctx: Context, *,
                bias=None, record: str = "triggered") -> Batch:
    return run_generator(spec.generate, spec.tails, spec.code, rng, n, ctx, bias=bias,
                         record=record, calib_all=spec.calib_only)
