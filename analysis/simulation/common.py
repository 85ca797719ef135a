"""Shared machinery of the fast simulation: seeding, run/spill plans, biasing, random shapes.

Seeding (ARCHITECTURE.md "Reproducible"): every random number of a spill comes from one
generator per (seed, run, spill, stream), ``numpy.random.SeedSequence([seed, run, spill,
stream])`` where ``stream`` is the ``mc_process`` code of the process being generated
(``STREAM_SPILLS`` for the spill-intensity draw). A chunk of spills therefore produces exactly
the events a single pass produces for those spills, in any grouping or order.

Nothing here loops over events: loops run over spills, processes or fixed small tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Stream number of the spill-intensity draw (not an mc_process code).
STREAM_SPILLS = 1000
#: Events of one spill are numbered ``spill * EVENT_STRIDE + k`` (k = order in the spill),
#: which keeps event numbers unique within a run without knowing earlier spills' counts.
EVENT_STRIDE = 1_000_000


def rng_for(seed: int, run: int, spill: int, stream: int) -> np.random.Generator:
    """The generator of one (run, spill, stream): independent of how spills are chunked."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(run), int(spill),
                                                         int(stream)]))


# ----------------------------------------------------------------------------------------
# run / spill plans
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpillPlan:
    """All spills of a sample, known before generation (so chunks can be cut anywhere).

    ``n_on_target`` is particles on target per spill (integral float64 values, so sums are
    exact); ``n_generate`` is the number of events to generate per spill for fixed-size
    samples (biased single-process and signal samples; -1 for exposure-driven samples).
    """

    run: np.ndarray
    spill: np.ndarray
    n_on_target: np.ndarray
    n_generate: np.ndarray

    def __len__(self) -> int:
        return len(self.run)

    @property
    def runs(self) -> np.ndarray:
        return np.unique(self.run)

    def per_run(self) -> dict[int, float]:
        """Particles on target per run: exact sums of the spill values."""
        out: dict[int, float] = {}
        for r in self.runs.tolist():
            out[int(r)] = math.fsum(self.n_on_target[self.run == r].tolist())
        return out

    def slice(self, start: int, stop: int) -> SpillPlan:
        s = slice(start, stop)
        return SpillPlan(self.run[s], self.spill[s], self.n_on_target[s], self.n_generate[s])

    def spills_tree(self) -> dict[str, np.ndarray]:
        return {"run": self.run.astype(np.int32), "spill": self.spill.astype(np.int32),
                "n_on_target": self.n_on_target.astype(np.float64)}


def _split_integer(total: int, weights: np.ndarray) -> np.ndarray:
    """Split the integer `total` into len(weights) integers proportional to weights."""
    weights = np.asarray(weights, dtype=np.float64)
    raw = total * weights / weights.sum()
    base = np.floor(raw).astype(np.int64)
    rest = int(total - base.sum())
    if rest:
        order = np.argsort(-(raw - base), kind="stable")
        base[order[:rest]] += 1
    return base


def plan_exposure(n_on_target: float, seed: int, *, spill_intensity: float,
                  spills_per_run: int, first_run: int) -> SpillPlan:
    """Spills for a sample defined by its exposure (pseudo-data).

    ``round(n_on_target / spill_intensity)`` spills (at least one), numbered 1..K within
    runs of ``spills_per_run`` spills. Spill intensities vary by ±40 % (uniform; no source:
    chosen to look like SPS extraction-to-extraction variation) and are scaled to sum to the
    requested exposure exactly (integers).
    """
    total = int(round(float(n_on_target)))
    if total <= 0:
        raise ValueError(f"n_on_target must be > 0, got {n_on_target}")
    if spill_intensity <= 0 or spills_per_run < 1:
        raise ValueError("spill_intensity must be > 0 and spills_per_run >= 1")
    n_spills = max(1, int(round(total / float(spill_intensity))))
    k = np.arange(n_spills)
    run = first_run + k // spills_per_run
    spill = 1 + k % spills_per_run
    rng = rng_for(seed, first_run, 0, STREAM_SPILLS)
    w = rng.uniform(0.6, 1.4, n_spills)
    eot = _split_integer(total, w).astype(np.float64)
    return SpillPlan(run.astype(np.int64), spill.astype(np.int64), eot,
                     np.full(n_spills, -1, dtype=np.int64))


def plan_blocks(n_events: int, block_size: int, *, exposure: float, first_run: int) -> SpillPlan:
    """Spills ("blocks") for fixed-size samples: ``n_events`` generated in blocks of
    ``block_size``, one run; ``exposure`` (EOT-equivalent, 0 for signal) is split over the
    blocks in proportion to their sizes."""
    n_events = int(n_events)
    if n_events <= 0:
        raise ValueError(f"n_events must be > 0, got {n_events}")
    n_blocks = -(-n_events // block_size)
    sizes = np.full(n_blocks, block_size, dtype=np.int64)
    sizes[-1] = n_events - block_size * (n_blocks - 1)
    total = int(round(float(exposure)))
    eot = (_split_integer(total, sizes).astype(np.float64) if total > 0
           else np.zeros(n_blocks))
    return SpillPlan(np.full(n_blocks, first_run, dtype=np.int64),
                     np.arange(1, n_blocks + 1, dtype=np.int64), eot, sizes)


# ----------------------------------------------------------------------------------------
# biasing
# ----------------------------------------------------------------------------------------

#: Fraction of events drawn from the log-uniform tail component when biasing.
BIAS_MIX = 0.5


def tail_quantiles(rng: np.random.Generator, n: int, bias: float | None):
    """Quantiles ``u`` in [0, 1) of a process's "dangerous" variable (u → 1 is the tail that
    can fake a signal) and their importance weights.

    Unbiased (``bias`` None or >= 1): u uniform, weights 1. Biased with ``bias = q_min``
    (0 < q_min < 1): the tail distance ``q = 1 - u`` is drawn from the defensive mixture
    g(q) = (1 - a) + a / (q ln(1/q_min)) on [q_min, 1] (a = BIAS_MIX): half of the events
    log-uniform down to quantile q_min, half uniform. The weight 1/g is bounded by
    1/(1 - a) = 2, so no event dominates, and E[w] = 1 exactly (importance sampling).
    """
    if bias is None or bias >= 1.0:
        return rng.random(n), np.ones(n)
    if not 0.0 < bias < 1.0:
        raise ValueError(f"bias must be in (0, 1) (the smallest tail quantile), got {bias}")
    span = -math.log(bias)
    use_tail = rng.random(n) < BIAS_MIX
    q_uniform = 1.0 - rng.random(n)  # (0, 1]
    q_log = np.exp(-span * rng.random(n))  # [q_min, 1]
    q = np.where(use_tail, q_log, q_uniform)
    g = (1.0 - BIAS_MIX) + BIAS_MIX * (q >= bias) / (q * span)
    return 1.0 - q, 1.0 / g


# ----------------------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------------------

def moyal(rng: np.random.Generator, size) -> np.ndarray:
    """Moyal (Landau-like) variates, mode 0: X = -ln(Z^2), Z standard normal.

    Moyal, Phil. Mag. 46 (1955) 263: e^-X is chi^2 with one degree of freedom. Mean of X
    is ln 2 + Euler's gamma = 1.2704, median -ln(0.4549) = 0.7875.
    """
    z = rng.standard_normal(size)
    return -np.log(np.maximum(z * z, 1e-300))


def mip_energy(rng: np.random.Generator, count: np.ndarray, mpv: float, width: float
               ) -> np.ndarray:
    """Energy of ``count`` minimum-ionising traversals (count may be fractional: partial
    paths): count · mpv · (1 + width · X / sqrt(max(count, 1))), X Moyal, clipped at 0."""
    count = np.asarray(count, dtype=np.float64)
    x = moyal(rng, count.shape)
    e = count * mpv * (1.0 + width * x / np.sqrt(np.maximum(count, 1.0)))
    return np.where(count > 0, np.maximum(e, 0.0), 0.0)


def laplace_mixture_cdf(d: np.ndarray, components) -> np.ndarray:
    """CDF at ``d`` of a mixture of centred Laplace distributions ``[(weight, scale), ...]``."""
    out = np.zeros_like(d, dtype=np.float64)
    for w, b in components:
        out += w * np.where(d < 0, 0.5 * np.exp(np.minimum(d, 0) / b),
                            1.0 - 0.5 * np.exp(-np.maximum(d, 0) / b))
    return out


def cell_fractions(pos: np.ndarray, n_cells: int, cell: float, beam_cell: int,
                   components) -> np.ndarray:
    """Fraction of a separable lateral profile centred at ``pos`` (mm, from the centre of
    cell ``beam_cell``) in each of ``n_cells`` cells of width ``cell``: shape (n, n_cells)."""
    edges = (np.arange(n_cells + 1) - beam_cell - 0.5) * cell
    cdf = laplace_mixture_cdf(edges[None, :] - pos[:, None], components)
    return np.diff(cdf, axis=1)


def cell_index(pos: np.ndarray, n_cells: int, cell: float, beam_cell: int) -> np.ndarray:
    """Index of the cell containing ``pos`` (clipped to the matrix)."""
    return np.clip(np.floor(pos / cell + beam_cell + 0.5), 0, n_cells - 1).astype(np.int64)


def one_hot(index: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(index), n))
    out[np.arange(len(index)), index] = 1.0
    return out


def inverse_cdf_table(x: np.ndarray, pdf: np.ndarray):
    """(cdf, x) for ``np.interp(u, cdf, x)`` sampling of a tabulated density (trapezoid)."""
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    return cdf, x
