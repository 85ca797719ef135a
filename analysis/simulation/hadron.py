"""NA64h (50 GeV π⁻ on the ECAL + HCAL) fast simulation: beam, processes, signal, trigger.

The hadron setup of PHYSICS.md §1 (NA64h row; arXiv:2406.01990, 2.9e9 π⁻ on target in one
day of data taking): a 50 GeV π⁻ beam hits the ECAL, which is the active target; π⁻ N → M⁰ X
charge exchange with M⁰ = η, η′ → invisible leaves (almost) nothing in ECAL + HCAL — "the
complete disappearance of the beam energy" [pub]. The run period is labelled ``"2023"``:
the abstract does not give the year; the NA64h data were taken in 2023 [check]. The VHCAL is
not part of the setup here (``has_vhcal`` false, ``vhcal_e`` NaN) [check].

This module reuses the electron-setup machinery: ``common`` (seeding per (seed, run, spill,
process), spill plans, tail biasing), ``detector`` (Truth record, energy flow into ECAL/HCAL
with the hadronic and EM profiles, e/h and h/e, resolutions, readout, noise, tracker) and
``electron.ProcessSpec``/``Batch``/``concat_events``. What is specific to NA64h lives here:
the 50 GeV beam and its e⁻/μ⁻/K⁻ contamination, an energy-dependent π⁰ fraction of hadron
showers, the processes 40–45 of :class:`analysis.codes.Process`, the charge-exchange signal
and the NA64h trigger (total ECAL + HCAL energy below half the beam energy).
``generate.simulate("hadron", ...)`` runs them through the shared spill loop, seeding,
biasing and writer (its setup backend: ``processes()``, ``process_spec``, ``run_process``,
``run_generator``, ``signal_generator``, ``signal_mass``).

Units: GeV, mm, ns (SRD/VETO MeV). Rates are **per π⁻ on target** (POT = π⁻ reaching the
last tracker station; the e⁻, μ⁻, K⁻ and p̄ of the beam come on top of it). Tags as in
detector.py: [pub], [PDG], [derived], [check], "no source" (with a reason). Documentation:
docs/na64h.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from ..codes import Model, Process
from . import detector as det
from .common import tail_quantiles
from .electron import M_K, M_MU, M_PI0, BR_KE3, CTAU_K, SPILL_LENGTH, Batch, Context, ProcessSpec

# ----------------------------------------------------------------------------------------
# beam
# ----------------------------------------------------------------------------------------

#: Nominal π⁻ beam energy, GeV [pub: arXiv:2406.01990], PDG id of the beam (NTUPLE.md).
BEAM_ENERGY = 50.0
BEAM_PDG = -211
#: Periods: label → VHCAL installed. NA64h data: 2023 [check]; VHCAL not used [check].
PERIODS = {"2023": False}
#: First run number per period (labels only; distinct from the electron setup's 3001/9001).
FIRST_RUN = {"2023": 12001}
#: π⁻ per spill [derived: 2.9e9 POT in one day [pub] / ≈3000 SPS spills per day (one 4.8 s
#: spill per ≈30 s supercycle [check]) ≈ 1e6].
SPILL_INTENSITY = 1.0e6
#: Beam composition per π⁻ (no source: chosen for a 50 GeV negative H4 secondary beam;
#: typical h⁻ ratios π⁻ : K⁻ : p̄ ≈ 0.95 : 0.035 : 0.01 [check: Atherton et al., CERN 80-07];
#: e⁻ and μ⁻ inside the beam spot with a matched track are a few per mille to per cent).
F_ELECTRON = 0.02
F_MUON_BEAM = 1.0e-3
F_KAON = 0.03
F_PBAR = 0.01
#: Decay path seen by the calorimeters: from the last tracker station (z = −5 m,
#: detector.TRACKER_Z) to the ECAL face, m. Decays further upstream give kinked tracks
#: (momentum/χ² cuts) and are not generated.
DECAY_PATH = -float(det.TRACKER_Z[-1]) / 1000.0
#: Charged-pion mass (GeV) and cτ (m), K⁻ → μ⁻ν̄ branching fraction [PDG].
M_PI = 0.13957039
CTAU_PI = 7.8045
BR_K_MUNU = 0.6356
#: Decay probabilities in DECAY_PATH at 50 GeV [derived: 1 − exp(−L m/(p cτ))].
P_DECAY_PI = -math.expm1(-DECAY_PATH * M_PI / (BEAM_ENERGY * CTAU_PI))
P_DECAY_K = -math.expm1(-DECAY_PATH * M_K / (BEAM_ENERGY * CTAU_K))
#: Meson masses, GeV [PDG 2024].
MESON_MASSES = {"pi0": M_PI0, "eta": 0.547862, "eta-prime": 0.95778, "omega": 0.78266}
#: Nucleon mass used for the recoil kinetic energy, GeV [PDG].
M_N = 0.93957

# ----------------------------------------------------------------------------------------
# hadron-shower response specific to NA64h
# ----------------------------------------------------------------------------------------

#: Mean EM (π⁰) fraction of a pion shower, f_em(E) = 1 − (E/E0)^(m−1), E0 = 1 GeV, m = 0.83
#: [PDG review "Calorimetry", hadronic showers; Groom, NIM A 572 (2007) 633]: 0.49 at 50 GeV.
GROOM_E0 = 1.0
GROOM_M = 0.83
#: Event-to-event spread of the π⁰ fraction: Beta with concentration κ (no source: κ = 6
#: gives an rms of ≈0.19 at 50 GeV, the large non-Gaussian fluctuations of non-compensating
#: calorimeters, Wigmans "Calorimetry"). With ECAL h/e = 0.75 and HCAL e/h = 1.3
#: (detector.py) this is the non-compensation of the setup.
FEM_CONCENTRATION = 6.0


def em_fraction_mean(e) -> np.ndarray:
    """Groom's mean π⁰ fraction of a hadron shower of energy e (GeV), clipped to [0, 0.95]."""
    e = np.maximum(np.asarray(e, dtype=np.float64), GROOM_E0)
    return np.clip(1.0 - (e / GROOM_E0) ** (GROOM_M - 1.0), 0.0, 0.95)


def pi0_fraction(rng: np.random.Generator, e) -> np.ndarray:
    """Per-event π⁰ fraction ~ Beta(κμ, κ(1−μ)), μ = em_fraction_mean(e)."""
    mu = np.clip(em_fraction_mean(e), 0.01, 0.95)
    return rng.beta(FEM_CONCENTRATION * mu, FEM_CONCENTRATION * (1.0 - mu))


def _truncated_depth(rng: np.random.Generator, n: int, depth: float) -> np.ndarray:
    """Interaction depth (λ) ~ Exp(1) truncated to [0, depth): the beam is absorbed with the
    interaction length λ_I, as in analysis.physics.mesons.meson_yield_per_pot."""
    return -np.log1p(-rng.random(n) * -math.expm1(-depth))


# ----------------------------------------------------------------------------------------
# trigger and tracking
# ----------------------------------------------------------------------------------------

#: Physics trigger (bit 0): trigger-level ECAL + HCAL sum below half the beam energy (no
#: source: NA64h triggered on a large energy deficit in the calorimeters [pub: signature
#: "complete disappearance of the beam energy", arXiv:2406.01990]; the threshold is
#: [check]; half the beam energy keeps the signal region and a 5–25 GeV sideband for the
#: background extrapolation while ordinary showers (≈50 GeV) never fire it).
TRIGGER_TOTAL_FRACTION = 0.5
TRIGGER_TOTAL_MAX = TRIGGER_TOTAL_FRACTION * BEAM_ENERGY


def total_energy(dep: det.Deposits) -> np.ndarray:
    """Trigger-level ECAL + HCAL sum (smeared, noise-free), GeV."""
    return (dep.ecal + dep.hcal_had.sum(axis=1) + dep.hcal_mip.sum(axis=1) + dep.hcal_side)


def physics_trigger(dep: det.Deposits) -> np.ndarray:
    """Bit 0 of the hadron setup: E_ECAL + E_HCAL < TRIGGER_TOTAL_MAX (trigger sums)."""
    return total_energy(dep) < TRIGGER_TOTAL_MAX


def track(truth: det.Truth, rng: np.random.Generator) -> det.Track:
    """detector.track for a beam line tuned to 50 GeV: the magnets are scaled with the beam
    energy (same nominal bend), which is what detector.track computes for momenta scaled by
    E_nominal(detector) / E_nominal(hadron). Resolution is relative, so rescaling back is
    exact."""
    scale = det.BEAM_ENERGY / BEAM_ENERGY
    scaled = truth.subset(np.arange(truth.n))
    scaled["p"] = truth.p * scale
    trk = det.track(scaled, rng)
    trk.p = trk.p / scale
    return trk


# ----------------------------------------------------------------------------------------
# charge exchange: meson mix, visible decays, recoil system
# ----------------------------------------------------------------------------------------

#: Mesons of the visible charge-exchange process (f2 is left out: its yield per POT is not
#: used by the analysis and its decays are hadronic like ω).
CEX_MESONS = ("pi0", "eta", "eta-prime", "omega")
#: Visible decays: probability that the decay is all-EM (γ's and π⁰'s only) and the EM share
#: of the energy otherwise [PDG 2024 branching fractions: π⁰ → γγ 98.8 % (+ Dalitz);
#: η → γγ 39.4 % + 3π⁰ 32.6 % all-EM, π⁺π⁻π⁰ 22.9 % / π⁺π⁻γ 4.2 % mixed (≈⅓ EM);
#: η′ → π⁰π⁰η 22.4 % + γγ 2.2 % all-EM, π⁺π⁻η 42.5 % (≈0.45 EM), ρ⁰γ 29.5 % (≈0.3 EM);
#: ω → π⁺π⁻π⁰ 89.2 % (⅓ EM), π⁰γ 8.3 % all-EM; energy shares derived from equal sharing
#: among the decay products]. The charged pions of mixed decays shower hadronically.
DECAY_ALL_EM = {"pi0": 1.0, "eta": 0.72, "eta-prime": 0.246, "omega": 0.083}
DECAY_MIXED_EM = {"pi0": 1.0, "eta": 0.33, "eta-prime": 0.40, "omega": 0.33}
#: Recoil system X of π⁻ N → M⁰ X (no source: chosen to be plausible; NA64h quotes no
#: numbers in the abstract): a fraction SIGNAL_INELASTIC of the charge exchanges excite the
#: baryon or add pions, with E_X ~ Exp(1 GeV) capped at 10 GeV; the others are quasi-
#: exclusive, the nucleon recoiling with T = |t|/(2 m_N), |t| ~ Exp(slope 8 GeV⁻², the
#: forward peak of charge exchange on a nucleon in a heavy nucleus) plus a nuclear
#: excitation ~ Exp(20 MeV). The recoil showers at the interaction point (hadronic, ECAL
#: h/e = 0.75): "a few GeV or less in the ECAL", most often < 0.5 GeV.
RECOIL_INELASTIC = 0.3
RECOIL_INELASTIC_MEAN = 1.0
RECOIL_INELASTIC_MAX = 10.0
RECOIL_T_SLOPE = 8.0
RECOIL_EXCITATION = 0.02


def recoil_energy(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Energy of the recoil system (GeV) and whether it is inelastic (bool)."""
    inel = rng.random(n) < RECOIL_INELASTIC
    span = -math.expm1(-RECOIL_INELASTIC_MAX / RECOIL_INELASTIC_MEAN)
    e_inel = -RECOIL_INELASTIC_MEAN * np.log1p(-rng.random(n) * span)
    t = rng.exponential(1.0 / RECOIL_T_SLOPE, n)
    e_excl = t / (2.0 * M_N) + rng.exponential(RECOIL_EXCITATION, n)
    return np.where(inel, e_inel, e_excl), inel


@lru_cache(maxsize=None)
def charge_exchange_yields(model: str = "geant4") -> dict[str, float]:
    """Mesons per POT in the ECAL, analysis.physics.mesons.meson_yield_per_pot (50 GeV)."""
    from ..physics.mesons import meson_yield_per_pot

    return {m: float(meson_yield_per_pot(m, BEAM_ENERGY, model=model).value)
            for m in CEX_MESONS}


def _charge_exchange_truth(rng, n, ctx, *, t0=None, recoil=None):
    """Beam π⁻ with a charge exchange at depth t0 (λ) inside the ECAL: the Truth without
    the meson's own deposits, the meson energy and the recoil energy."""
    a = det.beam_particles(rng, n, kind=det.KIND_HADRON, energy=BEAM_ENERGY)
    if t0 is None:
        t0 = _truncated_depth(rng, n, det.ECAL_LAMBDA)
    e_rec, inel = recoil if recoil is not None else recoil_energy(rng, n)
    e_rec = np.minimum(e_rec, 0.5 * a.p)
    a["had_t0"] = t0
    a["had_track"] = True
    a["srd_u"] = rng.random(n)
    return a, a.p - e_rec, e_rec, inel


# ----------------------------------------------------------------------------------------
# K⁻ → e⁻ ν̄ π⁰: lab neutrino-fraction distribution (for biased sampling of its endpoint)
# ----------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def ke3_neutrino_table(n_grid: int = 200001):
    """(cdf, x) of the lab energy fraction x_ν of K⁻ → e⁻ν̄π⁰ for an ultra-relativistic K⁻,
    with the assumptions of ``electron._ke3_fractions`` (uniform Dalitz density, massless
    e and ν, isotropic; PDG masses).

    Rest-frame ν spectrum: at fixed E_ν the allowed E_e range of the Dalitz plot has length
    g(E_ν) = (M² − m² − 2M E_ν)/(2M − 4E_ν) − max(0, E_max − E_ν), E_max = (M² − m²)/(2M)
    [derived: |p_π| ≤ E_e + E_ν and |p_π| ≥ |E_e − E_ν| with E_π = M − E_e − E_ν]. Boost:
    x = E*(1 + cos θ*)/M, cos θ* uniform, so P(X ≤ x) = ∫ g(E) min(1, xM/(2E)) dE / ∫ g.
    The table is dense near the endpoint x_max = 2E_max/M = 0.923 so the biased tail is
    resolved down to quantiles of 1e-9.
    """
    M, m = M_K, M_PI0
    e_max = (M * M - m * m) / (2.0 * M)
    e = np.linspace(0.0, e_max, n_grid)
    g = np.maximum((M * M - m * m - 2.0 * M * e) / (2.0 * M - 4.0 * e)
                   - np.maximum(0.0, e_max - e), 0.0)
    de = np.diff(e)
    big_g = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * de)])
    ge = np.where(e > 0, g / np.maximum(e, 1e-300), 0.0)
    big_h = np.concatenate([[0.0], np.cumsum(0.5 * (ge[1:] + ge[:-1]) * de)])
    x_max = 2.0 * e_max / M
    x = np.unique(np.concatenate([np.linspace(0.0, x_max, 4001),
                                  x_max * (1.0 - np.geomspace(0.5, 1e-7, 4001))]))
    ex = np.minimum(0.5 * x * M, e_max)
    cdf = np.interp(ex, e, big_g) + ex * (big_h[-1] - np.interp(ex, e, big_h))
    cdf = np.maximum.accumulate(cdf / cdf[-1])
    return cdf, x


def sample_ke3_neutrino_fraction(u: np.ndarray) -> np.ndarray:
    """x_ν at quantiles u (u → 1: the endpoint, the most invisible energy)."""
    cdf, x = ke3_neutrino_table()
    return np.interp(u, cdf, x)


# ----------------------------------------------------------------------------------------
# generators: (rng, n, u, ctx) -> (Truth, None), as in electron.py
# ----------------------------------------------------------------------------------------

def gen_hadron_shower(rng, n, u, ctx):
    a = det.beam_particles(rng, n, kind=det.KIND_HADRON, energy=BEAM_ENERGY)
    a["had_e"] = a.p
    a["had_t0"] = rng.exponential(1.0, n)
    a["had_fem"] = pi0_fraction(rng, a.p)
    a["had_track"] = True
    a["srd_u"] = rng.random(n)
    a["veto_mip"] = 1.0 + (a.had_t0 < det.ECAL_LAMBDA) * rng.poisson(2.0, n)
    return a, None


def gen_charge_exchange_visible(rng, n, u, ctx):
    ylds = charge_exchange_yields()
    p = np.array([ylds[m] for m in CEX_MESONS])
    which = np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right")
    which = np.minimum(which, len(CEX_MESONS) - 1)
    all_em = np.array([DECAY_ALL_EM[m] for m in CEX_MESONS])[which]
    mixed_em = np.array([DECAY_MIXED_EM[m] for m in CEX_MESONS])[which]
    f_em = np.where(rng.random(n) < all_em, 1.0, mixed_em)
    a, e_m, e_rec, _ = _charge_exchange_truth(rng, n, ctx)
    # photons convert after ≈9/7 X0 (PDG pair-production mean free path)
    a["em_e"] = f_em * e_m
    a["em_t0"] = np.minimum(a.had_t0 * det.X0_PER_LAMBDA + rng.exponential(9.0 / 7.0, n),
                            det.ECAL_X0 - 1.0)
    had = (1.0 - f_em) * e_m + e_rec
    a["had_e"] = had
    a["had_fem"] = pi0_fraction(rng, had)
    a["veto_mip"] = (f_em < 1.0) * rng.poisson(1.0, n)
    return a, None


def gen_beam_electron(rng, n, u, ctx):
    a = det.beam_particles(rng, n, kind=det.KIND_ELECTRON, energy=BEAM_ENERGY)
    a["em_e"] = a.p
    a["em_t0"] = det.shower_start(rng, n)
    return a, None


#: Rates of the muon components per POT [derived from the constants above].
RATE_MU_BEAM = F_MUON_BEAM
RATE_MU_PI_DECAY = P_DECAY_PI
RATE_MU_K_DECAY = F_KAON * P_DECAY_K * BR_K_MUNU
#: Two-body decay P → μν: the lab muon fraction is uniform on [r, 1], r = (m_μ/m_P)² [PDG
#: kinematics, ultra-relativistic parent].
R_PI = (M_MU / M_PI) ** 2
R_K = (M_MU / M_K) ** 2


def _muon_components(u: np.ndarray):
    """Map the tail quantile u to (component, x_μ): [beam μ | π → μν | K → μν] in order of
    danger; inside a decay component x_μ decreases from 1 to r as u grows."""
    rates = np.array([RATE_MU_BEAM, RATE_MU_PI_DECAY, RATE_MU_K_DECAY])
    edges = np.concatenate([[0.0], np.cumsum(rates) / rates.sum()])
    comp = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, 2)
    w = (u - edges[comp]) / (edges[comp + 1] - edges[comp])
    r = np.array([1.0, R_PI, R_K])[comp]
    return comp, 1.0 - w * (1.0 - r)


def muon_hcal_paths(e_mu: np.ndarray) -> np.ndarray:
    """Fraction of each HCAL module a muon of energy e_mu crosses before stopping (n, 4):
    it loses detector.ECAL_MUON_LOSS in the ECAL and HCAL_MUON_LOSS per module."""
    reach = (e_mu - det.ECAL_MUON_LOSS) / det.HCAL_MUON_LOSS
    return np.clip(reach[:, None] - np.arange(det.HCAL_MODULES)[None, :], 0.0, 1.0)


def gen_beam_muon(rng, n, u, ctx):
    a = det.beam_particles(rng, n, kind=det.KIND_HADRON, energy=BEAM_ENERGY)
    comp, x_mu = _muon_components(u["mu"])
    e_mu = x_mu * a.p
    a["mip_pre"] = 1.0
    a["mip_main"] = 1.0
    a["hcal_mip"] = muon_hcal_paths(e_mu)
    a["veto_mip"] = 1.0
    a["invisible"] = a.p - e_mu  # the neutrino of a decay in flight
    a["srd_u"] = rng.random(n)
    return a, None


def gen_beam_kaon(rng, n, u, ctx):
    a = det.beam_particles(rng, n, kind=det.KIND_HADRON, energy=BEAM_ENERGY)
    x_nu = sample_ke3_neutrino_fraction(u["nu"])
    a["em_e"] = a.p * (1.0 - x_nu)  # e⁻ and the π⁰ photons shower from the ECAL face
    a["em_t0"] = det.shower_start(rng, n)
    a["invisible"] = a.p * x_nu
    a["srd_u"] = rng.random(n)
    return a, None


#: Leakage: π⁻ interactions in the ECAL in which more than half of the energy leaves the
#: calorimeters undetected (leading neutrons/K⁰_L at large angle, albedo, lateral escape of
#: the leading hadron). Visible fraction v on [0, LEAK_V_MAX] with dN/dv ∝ exp(v/b),
#: b = LEAK_SLOPE (no source: chosen so that the tail into the signal box, E_ECAL + E_HCAL
#: < 5 GeV, is O(0.1) event for 2.9e9 POT with the NA64h selection — NA64h observed 0
#: events [pub: arXiv:2406.01990] — while a 5–25 GeV sideband exists for the background
#: extrapolation). The escaping particles hit the VETO (charged secondaries leaving the
#: ECAL: Poisson(1) MIPs) and with probability LEAK_SIDE_PROB put 0–10 % of the escaping
#: energy into an outer HCAL0 cell.
LEAK_V_MAX = 0.5
LEAK_SLOPE = 0.045
LEAK_SIDE_PROB = 0.3
LEAK_SIDE_FRACTION = (0.0, 0.1)
LEAK_VETO_MEAN = 1.0


def leakage_visible_fraction(u: np.ndarray) -> np.ndarray:
    """Inverse CDF of dN/dv ∝ exp(v/b) on [0, v_max] read from the dangerous end: u → 1 ⇒
    v → 0."""
    w = 1.0 - np.asarray(u)
    return LEAK_SLOPE * np.log1p(w * np.expm1(LEAK_V_MAX / LEAK_SLOPE))


def gen_leakage(rng, n, u, ctx):
    a = det.beam_particles(rng, n, kind=det.KIND_HADRON, energy=BEAM_ENERGY)
    v = leakage_visible_fraction(u["vis"])
    a["had_t0"] = _truncated_depth(rng, n, det.ECAL_LAMBDA)
    a["had_e"] = v * a.p
    a["had_fem"] = pi0_fraction(rng, v * a.p)
    a["had_track"] = True
    esc = (1.0 - v) * a.p
    side = rng.random(n) < LEAK_SIDE_PROB
    a["hcal_side"] = side * esc * rng.uniform(*LEAK_SIDE_FRACTION, n)
    a["hcal_side_cell"] = rng.integers(0, 8, n)
    a["veto_mip"] = rng.poisson(LEAK_VETO_MEAN, n).astype(float)
    a["srd_u"] = rng.random(n)
    return a, None


# ----------------------------------------------------------------------------------------
# signal: π⁻ N → M⁰ X, M⁰ → invisible
# ----------------------------------------------------------------------------------------

SIGNAL_MESONS = {Model.ETA: "eta", Model.ETA_PRIME: "eta-prime"}


def signal_meson(model) -> str:
    """'eta' / 'eta-prime' for a hadron-setup signal model (name, enum or code)."""
    from .signal import model_code

    code = model_code(model)
    if code not in SIGNAL_MESONS:
        raise ValueError(f"signal model {model!r} is not a hadron-setup model; choose eta or "
                         "eta-prime (Br(M0 -> invisible), arXiv:2406.01990)")
    return SIGNAL_MESONS[code]


def hadron_signal_generator(model):
    """Generator (rng, n, u, ctx) -> (Truth, None) of π⁻ N → M⁰ X, M⁰ → invisible.

    The π⁻ leaves a MIP track down to the interaction depth t0 ~ Exp(λ) truncated to the
    ECAL (the target of meson_yield_per_pot); the meson carries E_beam − E_X and is
    invisible (mc_invisible_e); the recoil system X (recoil_energy) showers at t0. The η/η′
    mass changes t_min by < 1e-3 GeV² and is otherwise irrelevant at 50 GeV.
    """
    signal_meson(model)

    def generate(rng, n, u, ctx):
        a, e_m, e_rec, inel = _charge_exchange_truth(rng, n, ctx)
        a["had_e"] = e_rec
        a["had_fem"] = np.where(inel, pi0_fraction(rng, e_rec), 0.0)
        a["invisible"] = e_m
        return a, None

    return generate


# ----------------------------------------------------------------------------------------
# the process table
# ----------------------------------------------------------------------------------------

RATE_LEAKAGE = 1.0e-6
RATE_ELECTRON = F_ELECTRON
RATE_MUON = RATE_MU_BEAM + RATE_MU_PI_DECAY + RATE_MU_K_DECAY
RATE_KAON = F_KAON * P_DECAY_K * BR_KE3


def rates() -> dict[Process, float]:
    """Rates per POT of the processes 40–45 (the charge-exchange one from the meson yields)."""
    cex = sum(charge_exchange_yields().values())
    shower = ((1.0 - cex - RATE_LEAKAGE - P_DECAY_PI)
              + F_KAON * (1.0 - P_DECAY_K * (BR_K_MUNU + BR_KE3)) + F_PBAR)
    return {Process.H_HADRON_SHOWER: shower, Process.H_CHARGE_EXCHANGE_VISIBLE: cex,
            Process.H_BEAM_ELECTRON: RATE_ELECTRON, Process.H_BEAM_MUON: RATE_MUON,
            Process.H_BEAM_KAON: RATE_KAON, Process.H_LEAKAGE: RATE_LEAKAGE}


def _specs() -> list[ProcessSpec]:
    r = rates()
    return [
        ProcessSpec(
            Process.H_HADRON_SHOWER, "hadron-shower", r[Process.H_HADRON_SHOWER],
            "1 − Σ(other π⁻ processes) − P(π decay in 5 m) + K⁻ (3 %, minus decays) + p̄ (1 %) "
            "interacting like π⁻ (beam composition: no source, see F_KAON/F_PBAR)",
            gen_hadron_shower, (), "total energy (E_ECAL + E_HCAL ≈ 50 GeV); calibration sample",
            "Beam π⁻ (K⁻, p̄): MIP until the first interaction ~ Exp(λ_I) from the ECAL face, "
            "then a shower with π⁰ fraction ~ Beta around Groom's f_em(50 GeV) = 0.49 shared "
            "between ECAL (h/e 0.75) and HCAL (e/h 1.3), longitudinal leakage behind HCAL3. "
            "Physics-trigger acceptance < 1e-5, so only the calibration subset is generated.",
            calib_only=True),
        ProcessSpec(
            Process.H_CHARGE_EXCHANGE_VISIBLE, "charge-exchange-visible",
            r[Process.H_CHARGE_EXCHANGE_VISIBLE],
            "Σ meson_yield_per_pot(π⁰, η, η′, ω) in the ECAL, Geant4 G4ChargeExchangeXS "
            "(analysis.physics.mesons; PHYSICS.md §2)",
            gen_charge_exchange_visible, (), "total energy (the meson's decay is visible)",
            "π⁻N → M⁰X in the ECAL (M⁰ by yield: π⁰ 86 %, η 11 %, ω 1.9 %, η′ 0.3 %), visible "
            "decays: all-EM with the PDG probability, else ⅓–0.45 EM and the charged pions "
            "shower hadronically; recoil as in the signal. E_ECAL ≈ 50 GeV, E_HCAL small: "
            "the normalisation/control sample of the charge-exchange signature.",
            calib_only=True),
        ProcessSpec(
            Process.H_BEAM_ELECTRON, "beam-electron", r[Process.H_BEAM_ELECTRON],
            "no source: 2 % e⁻ in the 50 GeV negative beam (F_ELECTRON)",
            gen_beam_electron, (), "SRD veto (synchrotron radiation), total energy",
            "Beam e⁻ of 50 GeV: full EM shower in the ECAL, synchrotron radiation in the SRD "
            "(critical energy 2.8 MeV at 50 GeV with the nominal 1.7 T).",
            calib_only=True),
        ProcessSpec(
            Process.H_BEAM_MUON, "beam-muon", r[Process.H_BEAM_MUON],
            "beam μ⁻ 1e-3 (no source) + π⁻ → μ⁻ν̄ in the last 5 m (P = 1.8e-3, cτ 7.80 m "
            "[PDG]) + K⁻ → μ⁻ν̄ (3 % × P = 1.3e-2 (cτ 3.71 m) × 63.6 % [PDG])",
            gen_beam_muon, ("mu",), "HCAL veto (a MIP in every module it reaches), VETO",
            "Muon crossing the ECAL (MIPs) and the HCAL modules it has the energy for (0.3 GeV "
            "lost in the ECAL, 1.4 GeV per module); decay muons carry x_μ ~ U[r, 1] of the "
            "parent's energy (r = 0.573 for π, 0.046 for K), the ν is mc_invisible_e; soft "
            "K-decay muons (2.3–5 GeV) leave E_ECAL + E_HCAL ≈ 2–4 GeV. Track: the parent's.",
        ),
        ProcessSpec(
            Process.H_BEAM_KAON, "beam-kaon", r[Process.H_BEAM_KAON],
            "[derived] K⁻ 3 % (no source) × P(decay in the last 5 m) 1.32e-2 × BR(K⁻ → e⁻ν̄π⁰) "
            "5.07 % [PDG]",
            gen_beam_kaon, ("nu",), "ECAL preshower veto (EM shower from the ECAL face), "
            "total energy",
            "Beam K⁻ decaying to e⁻ν̄π⁰ after the last tracker station: the e⁻ and the π⁰ "
            "photons shower (E_ECAL = E_K(1 − x_ν), x_ν ≤ 0.923, phase-space Dalitz density as "
            "in the electron setup's decay-in-flight); no SR; the track is the kaon's. K⁻ "
            "interactions are part of hadron-shower, K⁻ → μ⁻ν̄ of beam-muon; Kμ3 (3.35 %) is "
            "not generated (its muon is caught like beam-muon's)."),
        ProcessSpec(
            Process.H_LEAKAGE, "leakage", r[Process.H_LEAKAGE],
            "no source: chosen (≥50 % of the energy escaping with dN/dv ∝ exp(v/0.045) for the "
            "visible fraction v) so that O(0.1) event enters the signal box for 2.9e9 POT, "
            "consistent with 0 events observed [pub: arXiv:2406.01990]",
            gen_leakage, ("vis",), "total energy (signal box), VETO, HCAL (outer cells); the "
            "residual tail is the irreducible background",
            "π⁻ interacting in the ECAL (truncated Exp(λ_I)) with only v·E visible as a shower "
            "at the interaction point; the rest escapes (30 %: 0–10 % of it in an outer HCAL0 "
            "cell); Poisson(1) charged particles through the VETO."),
    ]


@lru_cache(maxsize=None)
def _process_table() -> dict[Process, ProcessSpec]:
    return {s.code: s for s in _specs()}


def processes() -> dict[Process, ProcessSpec]:
    """The hadron-setup processes by mc_process code (built on first use: the charge-
    exchange rate needs analysis.physics.mesons)."""
    return dict(_process_table())


def process_spec(name) -> ProcessSpec:
    """A hadron-setup process by CLI name ("beam-muon"), enum name ("H_BEAM_MUON") or code."""
    table = _process_table()
    if isinstance(name, ProcessSpec):
        return name
    if isinstance(name, (int, np.integer)) or (isinstance(name, str) and name.isdigit()):
        for s in table.values():
            if int(s.code) == int(name):
                return s
    else:
        key = str(name).strip().lower().replace("_", "-")
        for s in table.values():
            if key in (s.name, s.code.name.lower().replace("_", "-"),
                       s.code.name.lower().replace("_", "-").removeprefix("h-")):
                return s
    raise ValueError(f"unknown hadron-setup process {name!r}; choose one of "
                     f"{', '.join(s.name for s in table.values())}")


# ----------------------------------------------------------------------------------------
# event loop of one process in one spill/block (as electron.run_generator, NA64h trigger)
# ----------------------------------------------------------------------------------------

def run_generator(generate: Callable, tails, code: int, rng: np.random.Generator, n: int,
                  ctx: Context, *, bias=None, record: str = "triggered",
                  calib_all: bool = False) -> Batch:
    """Generate n events, apply the NA64h trigger, read out the recorded ones."""
    u = {}
    w = np.ones(n)
    for name in tails:
        u[name], wt = tail_quantiles(rng, n, bias)
        w = w * wt
    a, _ = generate(rng, n, u, ctx)
    dep = det.deposits(a, rng)
    phys = physics_trigger(dep)
    calib = np.ones(n, dtype=bool) if calib_all else rng.random(n) < det.CALIB_PRESCALE
    keep = np.ones(n, dtype=bool) if record == "all" else (phys | calib)
    idx = np.flatnonzero(keep)
    m = idx.size
    a_r = a.subset(idx)
    ro = det.readout(a_r, dep.subset(idx), rng, ctx.has_vhcal)
    trk = track(a_r, rng)
    fin = det.finish(ro, rng)
    ev = det.event_branches(fin, phys[idx], calib[idx], code, a_r.invisible,
                            rng.uniform(0.0, SPILL_LENGTH, m))
    ev.update(det.tracker_branches(trk, None))
    return Batch(ev, n, m, w[idx], float(w.sum()))


def run_process(spec: ProcessSpec, rng, n: int, ctx: Context, *, bias=None,
                record: str = "triggered") -> Batch:
    return run_generator(spec.generate, spec.tails, spec.code, rng, n, ctx, bias=bias,
                         record=record, calib_all=spec.calib_only)


# ----------------------------------------------------------------------------------------
# hooks of generate.simulate (its setup backend): signal generator and default mass
# ----------------------------------------------------------------------------------------

def signal_mass(model) -> float:
    """Default ``mass`` of a hadron-setup signal: the meson mass (GeV, PDG 2024)."""
    return MESON_MASSES[signal_meson(model)]


def signal_generator(model, mass=None, method=None, min_energy: float = 0.0):
    """``generate.simulate``'s signal hook for ``setup="hadron"``: the π⁻N → M⁰X, M⁰ →
    invisible generator. ``mass`` must be the meson mass (or None); ``method`` (the
    electron cross-section method) does not apply; ``min_energy`` (a generation cut on E_X)
    must not exceed the smallest meson energy, E_beam/2 (the recoil cap), since there is
    no spectrum to cut: the meson carries the beam energy minus the recoil."""
    meson = signal_meson(model)
    m_meson = MESON_MASSES[meson]
    if mass is not None and not math.isclose(float(mass), m_meson, rel_tol=1e-3):
        raise ValueError(f"the {meson} signal has the meson mass {m_meson} GeV; got "
                         f"mass={mass} (omit it)")
    if min_energy and min_energy > 0.5 * BEAM_ENERGY:
        raise ValueError(f"min_invisible_energy {min_energy} GeV would cut into the meson "
                         "energy spectrum of the hadron setup; it does not apply here")
    return hadron_signal_generator(model)


__all__ = [
    "BEAM_ENERGY", "BEAM_PDG", "PERIODS", "FIRST_RUN", "SPILL_INTENSITY", "MESON_MASSES",
    "TRIGGER_TOTAL_MAX", "em_fraction_mean", "pi0_fraction", "physics_trigger",
    "total_energy", "track", "charge_exchange_yields", "recoil_energy",
    "ke3_neutrino_table", "sample_ke3_neutrino_fraction", "muon_hcal_paths",
    "leakage_visible_fraction", "hadron_signal_generator", "signal_meson", "rates",
    "processes", "process_spec", "run_generator", "run_process", "signal_generator",
    "signal_mass",
]
