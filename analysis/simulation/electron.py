"""NA64e (100 GeV e⁻) processes: rates per electron on target (EOT), generators, and the
per-process event loop (columnar; one call per process and spill/block).

Each process is a :class:`ProcessSpec`: its ``mc_process`` code (analysis.codes.Process), a
rate per EOT with its source, how it is generated, which cut of the analysis is meant to
remove it, and a generator that returns what happened (:class:`detector.Truth`) for n events.
The detector response and the trigger are common (``detector.py``). The numbers are
collected, with the recorded fractions, in docs/simulation.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from ..codes import Process
from . import detector as det
from .common import inverse_cdf_table, tail_quantiles

# ----------------------------------------------------------------------------------------
# shared kinematics
# ----------------------------------------------------------------------------------------

#: Beam composition. Hadron contamination of the 100 GeV H4 electron beam: 0.3–1 % [pub:
#: PHYSICS.md §1; measured by NA64, arXiv:2305.19411]; 0.5 % chosen inside that range.
HADRON_FRACTION = 5e-3
#: K⁻ fraction of the negative hadrons at 100 GeV (no source: typical SPS secondary beam
#: π⁻ : K⁻ : p̄ ≈ 0.88 : 0.08 : 0.04).
KAON_FRACTION = 0.08
#: SPS spill: nominal electrons per spill [pub: a few 1e6 e⁻ per spill] and spill length
#: (4.8 s flat top, typical SPS slow extraction [check]).
SPILL_INTENSITY = 5e6
SPILL_LENGTH = 4.8
#: Muon mass, charged-kaon mass and lifetime, π0 mass, Ke3 branching fraction [PDG].
M_MU = 0.1056584
M_K = 0.493677
CTAU_K = 3.712  # m
M_PI0 = 0.1349768
BR_KE3 = 0.0507
#: Decay volume seen by the ECAL: from the magnet exit to the ECAL face, m (no source: the
#: NA64-like layout of detector.py, magnets ending ≈28 m upstream of the ECAL).
DECAY_LENGTH = 28.0
#: Fraction of Ke3 decays in that volume whose e⁻ + π⁰ reach the ECAL (no source).
DECAY_ACCEPTANCE = 0.7


def _brems_y_table(lo: float, hi: float):
    """Bremsstrahlung energy-fraction spectrum dN/dy ∝ (4/3 - 4/3 y + y²)/y (complete
    screening, PDG eq. for dσ/dk), tabulated for inverse-CDF sampling on [lo, hi]."""
    y = np.geomspace(lo, hi, 4001)
    return inverse_cdf_table(y, (4.0 / 3.0 - 4.0 / 3.0 * y + y * y) / y)


def brems_fraction_cdf(y, lo, hi):
    """Analytic CDF of the spectrum above: F(y) ∝ 4/3 ln y - 4/3 y + y²/2."""
    def prim(v):
        return 4.0 / 3.0 * np.log(v) - 4.0 / 3.0 * v + 0.5 * v * v
    return (prim(np.asarray(y)) - prim(lo)) / (prim(hi) - prim(lo))


def inverse_square(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Inverse CDF of dN/dk ∝ 1/k² on [lo, hi] (approximation-B photon track length)."""
    return 1.0 / (1.0 / lo - u * (1.0 / lo - 1.0 / hi))


def _hadron_fem(rng, n):
    return rng.beta(*det.HAD_FEM_BETA, n)


def _interaction_depth_photon(rng, n):
    """Depth (X0) of a hard photon's interaction: emitted in the first X0 (uniform), then
    converting/interacting after an exponential path of mean 9/7 X0 (pair-production mean
    free path, PDG). Clipped inside the ECAL."""
    return np.minimum(rng.uniform(0.0, 1.0, n) + rng.exponential(9.0 / 7.0, n), det.ECAL_X0 - 1)


@dataclass(frozen=True)
class Context:
    """What a generator may depend on besides its random numbers."""

    has_vhcal: bool
    period: str


# ----------------------------------------------------------------------------------------
# generators: (rng, n, u, ctx) -> (in-time Truth, optional pile-up Truth)
# ----------------------------------------------------------------------------------------

def gen_em_shower(rng, n, u, ctx):
    a = det.beam_particles(rng, n)
    a["em_e"] = a.p
    a["em_t0"] = det.shower_start(rng, n)
    return a, None


LOW_TAIL_Y = (0.05, 0.9)
_LOW_TAIL_TABLE = _brems_y_table(*LOW_TAIL_Y)


def gen_low_energy_tail(rng, n, u, ctx):
    a = det.beam_particles(rng, n)
    y = np.interp(u["y"], *_LOW_TAIL_TABLE)
    a["p"] = a.p * (1.0 - y)
    a["em_e"] = a.p
    a["em_t0"] = det.shower_start(rng, n)
    return a, None


def _hadron(rng, n, u):
    a = det.beam_particles(rng, n, kind=det.KIND_HADRON)
    a["had_e"] = a.p
    a["had_t0"] = rng.exponential(1.0, n)
    a["had_fem"] = _hadron_fem(rng, n)
    a["had_track"] = True
    a["srd_u"] = u["srd"]
    interacted_in_ecal = a.had_t0 < det.ECAL_LAMBDA
    a["veto_mip"] = 1.0 + interacted_in_ecal * rng.poisson(2.0, n)
    return a


def gen_hadron_beam(rng, n, u, ctx):
    return _hadron(rng, n, u), None


EN_Y_MIN = 0.2


def _electronuclear(rng, n, u):
    a = det.beam_particles(rng, n)
    nu = inverse_square(u["nu"], EN_Y_MIN * a.p, a.p)
    a["em_e"] = a.p - nu
    a["em_t0"] = det.shower_start(rng, n)
    a["had_t0"] = _interaction_depth_photon(rng, n) / det.X0_PER_LAMBDA
    a["had_fem"] = _hadron_fem(rng, n)
    return a, nu


def gen_electronuclear_hcal(rng, n, u, ctx):
    a, nu = _electronuclear(rng, n, u)
    a["had_e"] = nu
    a["veto_mip"] = 1.0 + rng.poisson(2.0, n)
    return a, None


ESCAPE_LEADING = (0.85, 1.0)


def gen_electronuclear_escape(rng, n, u, ctx):
    a, nu = _electronuclear(rng, n, u)
    lead = rng.uniform(*ESCAPE_LEADING, n)
    a["had_e"] = (1.0 - lead) * nu
    a["veto_mip"] = rng.poisson(0.5, n).astype(float)
    return a, None


UPSTREAM_NU_MIN = 20.0
UPSTREAM_NU_SLOPE = 4.0
UPSTREAM_HCAL_PROB = 0.3
UPSTREAM_HCAL_FRACTION = (0.02, 0.2)
#: Fraction of upstream large-angle hadron systems entering the VHCAL acceptance and their
#: deposited fraction (no source: chosen so that the VHCAL veto at ~1 GeV rejects this
#: background by >10×, the published result [pub: arXiv:2503.11275]).
VHCAL_ACCEPTANCE = 0.95
VHCAL_DEPOSIT = (0.3, 0.9)
UPSTREAM_VETO_PROB = 0.2


def gen_upstream_hadrons(rng, n, u, ctx):
    a = det.beam_particles(rng, n)
    hi = 0.95 * a.p - UPSTREAM_NU_MIN
    span = 1.0 - np.exp(-hi / UPSTREAM_NU_SLOPE)
    nu = UPSTREAM_NU_MIN - UPSTREAM_NU_SLOPE * np.log1p(-u["nu"] * span)
    a["em_e"] = a.p - nu
    a["em_t0"] = det.shower_start(rng, n)
    side = rng.random(n) < UPSTREAM_HCAL_PROB
    a["hcal_side"] = side * nu * rng.uniform(*UPSTREAM_HCAL_FRACTION, n)
    a["hcal_side_cell"] = rng.integers(0, 8, n)
    caught = rng.random(n) < VHCAL_ACCEPTANCE  # drawn in both periods: same events
    a["vhcal_e"] = caught * nu * rng.uniform(*VHCAL_DEPOSIT, n)
    a["vhcal_cell"] = rng.integers(0, det.VHCAL_CELLS, n)
    a["veto_mip"] = (rng.random(n) < UPSTREAM_VETO_PROB) * (1.0 + rng.poisson(1.0, n))
    return a, None


DIMUON_K_MIN = 10.0


def bethe_heitler_z(rng, k):
    """Energy share z of μ⁺ in γ → μ⁺μ⁻: dσ/dz ∝ 1 - 4/3 z(1-z) on [m/k, 1 - m/k]
    (Bethe–Heitler, complete-screening-free high-energy limit; PDG pair-production formula
    with y → z). Vectorised rejection sampling (loop over batches, not events)."""
    n = len(k)
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        d = M_MU / k[todo]
        z = d + (1.0 - 2.0 * d) * rng.random(todo.size)
        ok = rng.random(todo.size) < 1.0 - 4.0 / 3.0 * z * (1.0 - z)
        out[todo[ok]] = z[ok]
        todo = todo[~ok]
    return out


@functools.lru_cache(maxsize=1)
def _dimuon_qed():
    """QED thick-target dimuon rate (pairs with energy > DIMUON_K_MIN per EOT) and the
    pair-energy quantile function, from analysis.physics.dimuon (two-step γ → μμ in the
    shower + direct trident + annihilation; Burkhardt–Kelner–Kokoulin CERN-SL-2002-016,
    Tsai RMP 46 (1974) 815). The simulation uses the same numbers that the normalisation
    cross-check compares with, so the check tests the chain, not two different inputs."""
    from ..physics.dimuon import dimuon_pair_energy_ppf, dimuon_rate_per_eot

    rate = dimuon_rate_per_eot(det.BEAM_ENERGY, DIMUON_K_MIN)
    return rate, functools.partial(dimuon_pair_energy_ppf, det.BEAM_ENERGY,
                                   min_pair_energy=DIMUON_K_MIN)


def gen_dimuon(rng, n, u, ctx):
    a = det.beam_particles(rng, n)
    # pair energy from the QED spectrum at the nominal energy, scaled to this electron's
    k = _dimuon_qed()[1](u["k"]) * a.p / det.BEAM_ENERGY
    z = bethe_heitler_z(rng, k)
    a["em_e"] = a.p - k
    a["em_t0"] = det.shower_start(rng, n)
    tc = _interaction_depth_photon(rng, n)
    a["mip_pre"] = 2.0 * np.clip(det.ECAL_PS_X0 - tc, 0.0, None) / det.ECAL_PS_X0
    a["mip_main"] = 2.0 * np.clip(det.ECAL_X0 - np.maximum(tc, det.ECAL_PS_X0), 0.0, None) / (
        det.ECAL_X0 - det.ECAL_PS_X0)
    reach = np.stack([z * k, (1.0 - z) * k], axis=1) - det.ECAL_MUON_LOSS  # (n, 2)
    modules = np.arange(det.HCAL_MODULES)
    path = np.clip(reach[:, :, None] / det.HCAL_MUON_LOSS - modules[None, None, :], 0.0, 1.0)
    a["hcal_mip"] = path.sum(axis=1)
    a["veto_mip"] = 2.0
    return a, None


def _ke3_fractions(rng, n):
    """Lab energy fractions (x_e, x_ν) of K⁻ → e⁻ ν̄ π⁰ decays of an ultra-relativistic kaon.

    Rest frame: uniform Dalitz density (phase space; the V−A matrix element and form
    factors are neglected: no source beyond PDG masses), massless e and ν; isotropic
    orientation of the decay plane. Lab fraction x = E*(1 + cos θ*)/M_K (β → 1).
    """
    emax = (M_K ** 2 - M_PI0 ** 2) / (2.0 * M_K)
    ee = np.empty(n)
    en = np.empty(n)
    cos_en = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        e1 = emax * rng.random(m)
        e2 = emax * rng.random(m)
        epi = M_K - e1 - e2
        ppi2 = epi ** 2 - M_PI0 ** 2
        c = (ppi2 - e1 ** 2 - e2 ** 2) / np.maximum(2.0 * e1 * e2, 1e-300)
        ok = (ppi2 > 0) & (np.abs(c) <= 1.0)
        ee[todo[ok]], en[todo[ok]], cos_en[todo[ok]] = e1[ok], e2[ok], c[ok]
        todo = todo[~ok]
    cos_e = rng.uniform(-1.0, 1.0, n)
    sin_e = np.sqrt(1.0 - cos_e ** 2)
    psi = rng.uniform(0.0, 2.0 * np.pi, n)
    cos_n = cos_e * cos_en + sin_e * np.sqrt(1.0 - cos_en ** 2) * np.cos(psi)
    return ee * (1.0 + cos_e) / M_K, en * (1.0 + cos_n) / M_K


def gen_decay_in_flight(rng, n, u, ctx):
    a = det.beam_particles(rng, n, kind=det.KIND_HADRON)
    x_e, x_nu = _ke3_fractions(rng, n)
    a["em_e"] = a.p * (1.0 - x_nu)  # e⁻ and the π⁰ photons shower in the ECAL
    a["em_t0"] = det.shower_start(rng, n)
    a["invisible"] = a.p * x_nu
    a["srd_u"] = u["srd"]
    return a, None


def gen_pileup(rng, n, u, ctx):
    a = _hadron(rng, n, u)
    b = det.beam_particles(rng, n)
    b["em_e"] = b.p
    b["em_t0"] = det.shower_start(rng, n)
    b["t"] = rng.uniform(-det.PILEUP_WINDOW, det.PILEUP_WINDOW, n)
    return a, b


# ----------------------------------------------------------------------------------------
# the process table
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProcessSpec:
    """One generated process. ``rate`` is per EOT for the phase space the generator covers.

    ``calib_only``: the physics-trigger acceptance is zero (full-energy electrons,
    E_ECAL ≈ 100 GeV, ≳14 σ above the 80 GeV trigger threshold), so only the calibration-
    triggered subset (rate × CALIB_PRESCALE) is generated. ``tails``: names of the
    quantiles the generator reads from ``u``; biasing acts on them (u → 1 is the dangerous
    end, e.g. large missing energy, an SRD knock-on hit).
    """

    code: Process
    name: str
    rate: float
    source: str
    generate: Callable
    tails: tuple[str, ...]
    removed_by: str
    doc: str
    calib_only: bool = False
    aliases: tuple[str, ...] = field(default_factory=tuple)


_RATE_EN = 7e-4
_RATE_DIMUON = _dimuon_qed()[0]  # ≈4.7e-5 per EOT for E_μμ > 10 GeV (QED, see above)
_RATE_PILEUP = HADRON_FRACTION * 2 * det.PILEUP_WINDOW * 1e-9 * SPILL_INTENSITY / SPILL_LENGTH
_RATE_DIF = (HADRON_FRACTION * KAON_FRACTION
             * (1.0 - math.exp(-DECAY_LENGTH / (det.BEAM_ENERGY / M_K * CTAU_K)))
             * BR_KE3 * DECAY_ACCEPTANCE)
_RATE_LOW_TAIL = 1e-3
_RATE_ESCAPE = 1e-12
_RATE_UPSTREAM = 1e-9

_SPECS = [
    ProcessSpec(
        Process.LOW_ENERGY_TAIL, "low-energy-tail", _RATE_LOW_TAIL,
        "no source: chosen (a 1e-3 tail of electrons that lost 5–90 % of their energy by "
        "bremsstrahlung upstream of the spectrometer, photons collimated away)",
        gen_low_energy_tail, ("y",), "beam momentum window (e.g. 100 ± 3 GeV)",
        "Beam electron with E = E0 (1 - y), y from the bremsstrahlung spectrum on [0.05, 0.9]; "
        "the spectrometer measures the degraded momentum; full shower at that energy."),
    ProcessSpec(
        Process.HADRON_BEAM, "hadron-beam", HADRON_FRACTION,
        "0.3–1 % hadron contamination [pub: PHYSICS.md §1, arXiv:2305.19411]; 0.5 % chosen",
        gen_hadron_beam, ("srd",), "SRD tag (no synchrotron radiation), preshower, HCAL",
        "Beam π⁻/K⁻/p̄ at 100 GeV: MIP until its first interaction (exponential in λ from "
        "the ECAL face), then a hadron shower (π0 fraction Beta(2,4)) shared between ECAL "
        "(h/e = 0.75) and HCAL; SRD only noise plus a rare knock-on tail."),
    ProcessSpec(
        Process.ELECTRONUCLEAR_HCAL, "electronuclear-hcal", _RATE_EN,
        "derived: photonuclear interaction of bremsstrahlung photons with k > 0.2 E0 in Pb: "
        "track length 0.572 E0 (1/k_min − 1/E0) X0 (Rossi approximation B) × σ_γA N_A X0/A "
        "(σ_γp ≈ 0.114 mb × A^0.91 [PDG, check]) = 6.2e-4, +10 % electronuclear",
        gen_electronuclear_hcal, ("nu",), "HCAL veto (E_HCAL < 1 GeV), VETO",
        "Electron shower E0 − ν plus a hadron shower of energy ν (dN/dν ∝ 1/ν², ν > 0.2 E0) "
        "starting where the photon interacts (≈1–4 X0 deep); hadrons reach the HCAL."),
    ProcessSpec(
        Process.ELECTRONUCLEAR_ESCAPE, "electronuclear-escape", _RATE_ESCAPE,
        "no source: chosen so that leading neutral hadrons (n, K0L) carrying 85–100 % of ν "
        "and escaping the HCAL give O(0.1) events per 1e12 EOT in the signal box, the order "
        "of the NA64 estimates for this background [check: arXiv:1710.00971]",
        gen_electronuclear_escape, ("nu",), "HCAL veto (residual hadrons), irreducible tail",
        "As electronuclear-hcal but a leading neutral hadron takes 85–100 % of ν and leaves "
        "undetected; only the remainder showers."),
    ProcessSpec(
        Process.UPSTREAM_HADRONS, "upstream-hadrons", _RATE_UPSTREAM,
        "no source: chosen (ν > 20 GeV falling as exp(−ν/4 GeV)) so that, without VHCAL, "
        "≈0.3 events per 1e12 EOT fall in the E_ECAL < 50 GeV box and ≈1.6 per 4.4e11 EOT "
        "in the 2023 E_ECAL < 60 GeV box, which the VHCAL (>10× rejection [pub: "
        "arXiv:2503.11275]) reduces to ≈0.1",
        gen_upstream_hadrons, ("nu",), "VHCAL veto (2023); HCAL (30 %) and VETO (20 %) partly",
        "Electro-production upstream of the ECAL: hadrons of energy ν leave at large angle; "
        "the electron showers with E0 − ν; 95 % of the hadron systems hit the VHCAL (2023), "
        "30 % put 2–20 % of ν in an outer HCAL0 cell, 20 % fire the VETO."),
    ProcessSpec(
        Process.DIMUON, "dimuon", _RATE_DIMUON,
        "derived: (7/9) · 0.572 · (E0/10 GeV − 1) · σ(γ→μμ)/σ(γ→ee), ratio ≈ 1e-5 on Pb at "
        "10–100 GeV [check: asymptotic (m_e/m_μ)² = 2.3e-5 reduced by threshold/nuclear size]",
        gen_dimuon, ("k",), "HCAL veto (two MIPs in each module), VETO",
        "e⁻N → e⁻Nγ, γ → μ⁺μ⁻ (k > 10 GeV, dN/dk ∝ 1/k², Bethe–Heitler energy sharing): "
        "ECAL gets E0 − k plus two MIPs, each muon crosses the VETO and the HCAL modules it "
        "has the energy for (1.4 GeV lost per module): two MIPs per module."),
    ProcessSpec(
        Process.DECAY_IN_FLIGHT, "decay-in-flight", _RATE_DIF,
        "derived: hadron fraction 5e-3 × K⁻/h⁻ 0.08 × P(decay in 28 m) (γcτ = 752 m, PDG) × "
        "BR(K⁻ → e⁻ν̄π⁰) 5.07 % [PDG] × acceptance 0.7 (no source)",
        gen_decay_in_flight, ("srd",), "SRD tag (the kaon radiates no SR in the magnets)",
        "Beam K⁻ decaying between the magnets and the ECAL: e⁻ and π⁰ photons shower "
        "(E_ECAL = E_K − E_ν), the ν̄ is invisible (mc_invisible_e); track momentum is the "
        "kaon's; SRD sees only noise/knock-on. Decays upstream of the magnets give lower-"
        "momentum electrons that belong to the low-energy tail."),
    ProcessSpec(
        Process.PILEUP, "pileup", _RATE_PILEUP,
        "derived: hadron fraction 5e-3 × second beam electron within ±50 ns at the mean "
        "beam rate 5e6/4.8 s (P = 0.10)",
        gen_pileup, ("srd",), "single track (2 tracks, 2 hits per station), SRD/ECAL timing",
        "An in-time beam hadron (as hadron-beam) plus a 100 GeV electron at Δt uniform in "
        "±50 ns: both leave tracker hits; each channel reports the pulse nearest the "
        "trigger time (pulses within 10 ns merge), so the SRD shows the electron's SR at Δt."),
]
_RATE_EM = 1.0 - sum(s.rate for s in _SPECS)
_SPECS.insert(0, ProcessSpec(
    Process.EM_SHOWER, "em-shower", _RATE_EM,
    "1 − Σ(other rates): ordinary beam electrons",
    gen_em_shower, (), "(not a background: E_ECAL ≈ E0; calibration sample)",
    "Full-energy electron shower. Physics-trigger acceptance is zero, so only the "
    "calibration-triggered subset (bit 1, prescale 1e-4) is generated and recorded.",
    calib_only=True))

#: The electron-setup processes, by mc_process code.
PROCESSES: dict[Process, ProcessSpec] = {s.code: s for s in _SPECS}


def process_spec(name) -> ProcessSpec:
    """Look up a process by CLI name ("dimuon"), enum name ("DIMUON") or code (7)."""
    if isinstance(name, ProcessSpec):
        return name
    if isinstance(name, (int, np.integer)) or (isinstance(name, str) and name.isdigit()):
        code = int(name)
        for s in _SPECS:
            if int(s.code) == code:
                return s
    else:
        key = str(name).strip().lower().replace("_", "-")
        for s in _SPECS:
            if key in (s.name, s.code.name.lower().replace("_", "-")):
                return s
    raise ValueError(f"unknown electron-setup process {name!r}; choose one of "
                     f"{', '.join(s.name for s in _SPECS)}")


# ----------------------------------------------------------------------------------------
# event loop of one process in one spill/block
# ----------------------------------------------------------------------------------------

def _masked_add(a: det.Deposits, b: det.Deposits, mask: np.ndarray) -> det.Deposits:
    out = {}
    for f in a.__dataclass_fields__:
        va, vb = getattr(a, f), getattr(b, f)
        m = mask.reshape((-1,) + (1,) * (va.ndim - 1))
        out[f] = np.where(m, va + vb, va)
    return det.Deposits(**out)


@dataclass
class Batch:
    """Recorded events of one process in one spill/block, plus bookkeeping."""

    events: dict
    n_generated: int
    n_recorded: int
    tail_weights: np.ndarray  # importance weights of the recorded events (1 if unbiased)
    weight_sum_generated: float  # Σ importance weights over all generated events


def run_generator(generate: Callable, tails, code: int, rng: np.random.Generator, n: int,
                  ctx: Context, *, bias=None, record: str = "triggered",
                  calib_all: bool = False) -> Batch:
    """Generate n events with ``generate``, apply the trigger, read out recorded events.

    ``record``: "triggered" keeps events with a trigger bit set, "all" keeps every
    generated event (signal samples, acceptance studies). ``calib_all``: every event is
    calibration-triggered (the calib_only processes).
    """
    u = {}
    w = np.ones(n)
    for name in tails:
        u[name], wt = tail_quantiles(rng, n, bias)
        w = w * wt
    a, b = generate(rng, n, u, ctx)
    dep_a = det.deposits(a, rng)
    if b is not None:
        dep_b = det.deposits(b, rng)
        dt = b.t - a.t
        dep_trig = _masked_add(dep_a, dep_b, np.abs(dt) < det.MERGE_WINDOW)
    else:
        dep_trig = dep_a
    phys = det.physics_trigger(dep_trig)
    calib = np.ones(n, dtype=bool) if calib_all else rng.random(n) < det.CALIB_PRESCALE
    keep = np.ones(n, dtype=bool) if record == "all" else (phys | calib)
    idx = np.flatnonzero(keep)
    m = idx.size

    a_r = a.subset(idx)
    ro_a = det.readout(a_r, dep_a.subset(idx), rng, ctx.has_vhcal)
    trk_a = det.track(a_r, rng)
    if b is not None:
        b_r = b.subset(idx)
        ro_b = det.readout(b_r, dep_b.subset(idx), rng, ctx.has_vhcal)
        trk_b = det.track(b_r, rng)
        comb, owner, other = det.combine_pileup(ro_a, ro_b, b_r.t - a_r.t)
        fin = det.finish(comb, rng, owner, other)
        invisible = a_r.invisible + b_r.invisible
    else:
        trk_b = None
        fin = det.finish(ro_a, rng)
        invisible = a_r.invisible
    ev = det.event_branches(fin, phys[idx], calib[idx], code, invisible,
                            rng.uniform(0.0, SPILL_LENGTH, m))
    ev.update(det.tracker_branches(trk_a, trk_b))
    return Batch(ev, n, m, w[idx], float(w.sum()))


def run_process(spec: ProcessSpec, rng: np.random.Generator, n: int, ctx: Context, *,
                bias=None, record: str = "triggered") -> Batch:
    return run_generator(spec.generate, spec.tails, spec.code, rng, n, ctx, bias=bias,
                         record=record, calib_all=spec.calib_only)


def concat_events(parts: list[dict]) -> dict:
    """Concatenate event dicts (numpy arrays and awkward jagged hit lists)."""
    parts = [p for p in parts if p]
    if not parts:
        return {}
    out = {}
    for k in parts[0]:
        vals = [p[k] for p in parts]
        if isinstance(vals[0], ak.Array):
            out[k] = ak.concatenate(vals) if len(vals) > 1 else vals[0]
        else:
            out[k] = np.concatenate(vals) if len(vals) > 1 else vals[0]
    return out


def take_events(events: dict, index: np.ndarray) -> dict:
    return {k: v[index] for k, v in events.items()}
