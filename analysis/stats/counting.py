"""Exact CLs construction for a single-bin counting experiment.

Method
------
Modified frequentist CLs (A. L. Read, "Presentation of search results: the CLs technique",
J. Phys. G 28 (2002) 2693; T. Junk, NIM A 434 (1999) 435) with the observed event count
``n`` as test statistic (for one bin the likelihood ratio -2 ln Q is a monotone function of
``n``, so this *is* the LEP statistic)::

    CLs(s) = P(n <= n_obs | s + b) / P(n <= n_obs | b)

and the upper limit at confidence level ``cl`` is the ``s`` with ``CLs(s) = 1 - cl``
(found with :func:`scipy.optimize.brentq`).  With ``n_obs = 0`` this gives
``CLs = exp(-s)`` whatever ``b``: ``s_up = -ln(1 - cl)`` (2.303 at 90% CL).

Systematic uncertainties (Cousins & Highland, NIM A 320 (1992) 331): the probabilities are
averaged over priors for the nuisance parameters ("hybrid" Bayesian-frequentist):

* background: ``b' ~ Gamma`` with mean ``b`` and standard deviation ``σ_b`` (shape
  ``k = (b/σ_b)^2``).  The Poisson-Gamma marginal of the background count is then exactly
  negative binomial, ``NB(k, p = k / (k + b))``, so no numerical integration is needed.  The
  gamma prior is positive (no truncation needed) and is the posterior of a Poisson
  auxiliary measurement with ``τ = (b/σ_b)^2`` under the 1/γ prior, i.e. the same
  constraint that pyhf's ``shapesys`` modifier encodes (Barlow & Beeston 1993; pyhf docs),
  so the exact, toy and workspace paths share one description.
* signal yield (optional): multiplicative factor ``f ~ LogNormal(median 1, σ_ln)``,
  ``σ_ln = ln(1 + δ)`` for a relative uncertainty ``δ`` (several independent sources add in
  quadrature in ``σ_ln``).  This is pyhf's ``normsys`` with ``hi = 1 + δ``,
  ``lo = 1/(1 + δ)`` and exponential interpolation (``code1``).  The average over ``f`` uses
  Gauss-Hermite quadrature (64 nodes).

Expected limits (Read 2002; Cowan et al. arXiv:1007.1727 §5 for the band convention): the
count under background only follows the prior-predictive (marginal) distribution above.
The expected limit at quantile ``p`` is the observed limit for ``n_p``, the smallest ``n``
with ``P(n' <= n | b) >= p`` (``scipy.stats.*.ppf``).  Quantiles: ``p = Φ(-2), Φ(-1), 0.5,
Φ(1), Φ(2)`` for ``-2σ, -1σ, median, +1σ, +2σ``.  Because ``n`` is discrete the band is a
step function of ``b`` and neighbouring quantiles may coincide (for ``b = 0.4`` all of
``-2σ … median`` equal the ``n = 0`` limit, 2.303).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy import stats
from scipy.optimize import brentq

from .results import BAND_QUANTILES, LimitResult

__all__ = [
    "background_distribution",
    "cls_exact",
    "exact_upper_limit",
    "exact_limit_for_count",
    "prior_description",
]

_N_GH = 64


@lru_cache(maxsize=1)
def _gh_nodes() -> tuple[np.ndarray, np.ndarray]:
    x, w = hermgauss(_N_GH)
    return math.sqrt(2.0) * x, w / math.sqrt(math.pi)


def _check(n_obs: int, b: float, b_unc: float, s_log_unc: float) -> None:
    if int(n_obs) != n_obs or n_obs < 0:
        raise ValueError(f"n_obs must be a non-negative integer, got {n_obs!r}")
    for name, v in (("background", b), ("background_unc", b_unc), ("signal uncertainty", s_log_unc)):
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v!r}")


def background_distribution(b: float, b_unc: float = 0.0):
    """Marginal (prior-predictive) distribution of the background count.

    ``Poisson(b)`` for ``b_unc = 0``; otherwise the Poisson-Gamma mixture with a Gamma prior
    of mean ``b`` and standard deviation ``b_unc``, which is the negative binomial
    ``NB(k = (b/b_unc)^2, p = k/(k + b))`` (mean ``b``, variance ``b + b_unc^2``).
    Returns a frozen :mod:`scipy.stats` distribution.
    """
    if b <= 0 or b_unc**2 <= 1e-7 * b:  # variance excess < 1e-7: Poisson (NB CDF loses precision)
        return stats.poisson(b)
    k = (b / b_unc) ** 2
    return stats.nbinom(k, k / (k + b))


def _signal_pmf(j: np.ndarray, s: np.ndarray, s_log_unc: float) -> np.ndarray:
    """E_f[Pois(j; s f)], f ~ LogNormal(0, s_log_unc); shape (len(s), len(j))."""
    s = np.asarray(s, float)[:, None]
    if s_log_unc <= 0:
        return stats.poisson.pmf(j[None, :], s)
    z, w = _gh_nodes()
    lam = s[:, :, None] * np.exp(s_log_unc * z)[None, None, :]  # (ns, 1, nodes)
    return np.einsum("sjk,k->sj", stats.poisson.pmf(j[None, :, None], lam), w)


def cls_exact(
    s, n_obs: int, b: float, b_unc: float = 0.0, s_log_unc: float = 0.0
) -> np.ndarray:
    """Exact CLs (Read 2002) for signal ``s`` (scalar or array) in a single-bin count.

    ``CLs = P(n <= n_obs | s+b) / P(n <= n_obs | b)`` with the background averaged over a
    Gamma prior (mean ``b``, sd ``b_unc``) and the signal over a log-normal prior of width
    ``s_log_unc`` in ln(yield) (Cousins & Highland 1992).  ``n = n_s + n_b``, so
    ``P(n <= N | s+b) = Σ_j P_s(j) F_b(N - j)`` with ``F_b`` the negative-binomial CDF.
    """
    _check(n_obs, b, b_unc, s_log_unc)
    scalar = np.ndim(s) == 0
    s_arr = np.atleast_1d(np.asarray(s, float))
    bd = background_distribution(b, b_unc)
    j = np.arange(int(n_obs) + 1)
    fb = bd.cdf(int(n_obs) - j)  # F_b(N - j)
    clb = bd.cdf(int(n_obs))
    clsb = _signal_pmf(j, s_arr, s_log_unc) @ fb
    out = clsb / clb
    return out[0] if scalar else out


def exact_limit_for_count(
    n_obs: int, b: float, b_unc: float = 0.0, s_log_unc: float = 0.0, cl: float = 0.9
) -> float:
    """Upper limit on the signal count for one observed count (brentq on CLs(s) = 1 - cl)."""
    if not 0 < cl < 1:
        raise ValueError("cl must be in (0, 1)")
    alpha = 1.0 - cl
    if s_log_unc == 0 and n_obs == 0:
        return -math.log(alpha)  # CLs = exp(-s) exactly
    f = lambda s: float(cls_exact(s, n_obs, b, b_unc, s_log_unc)) - alpha  # noqa: E731
    hi = max(5.0, 2.0 * (n_obs + 3.0 * math.sqrt(n_obs + 1.0)))
    while f(hi) > 0:
        hi *= 2.0
        if hi > 1e12:
            raise RuntimeError("CLs does not fall below 1 - cl; signal prior too wide?")
    return brentq(f, 0.0, hi, xtol=1e-10, rtol=1e-10)


def prior_description(b_unc: float, s_log_unc: float) -> str:
    parts = []
    if b_unc > 0:
        parts.append("background ~ Gamma(mean b, sd background_unc) [Cousins-Highland; "
                     "marginal count negative binomial]")
    else:
        parts.append("background known exactly")
    if s_log_unc > 0:
        parts.append(f"signal yield ~ LogNormal(median 1, sigma_ln={s_log_unc:.4g})")
    return "; ".join(parts)


def exact_upper_limit(
    n_obs: int,
    b: float,
    b_unc: float = 0.0,
    cl: float = 0.9,
    s_log_unc: float = 0.0,
) -> LimitResult:
    """Exact CLs upper limit on the signal count with expected median and band.

    See the module docstring for the construction (Read 2002 CLs with the event count;
    Cousins & Highland 1992 priors; discrete quantile convention for the band).
    """
    _check(n_obs, b, b_unc, s_log_unc)
    bd = background_distribution(b, b_unc)
    n_q = [int(bd.ppf(p)) for p in BAND_QUANTILES]
    cache: dict[int, float] = {}
    for n in {int(n_obs), *n_q}:
        cache[n] = exact_limit_for_count(n, b, b_unc, s_log_unc, cl)
    exp = [cache[n] for n in n_q]
    notes = (
        "exact CLs (Read 2002) with the event count as test statistic; "
        + prior_description(b_unc, s_log_unc)
        + "; expected = limits at background-only count quantiles n_p = ppf(p) "
        f"(n for -2s..+2s: {n_q})"
    )
    if b_unc > 0 and b <= 0:
        notes += "; background_unc ignored because background = 0"
    return LimitResult(
        upper_limit=cache[int(n_obs)],
        expected=exp[2],
        band=[exp[0], exp[1], exp[3], exp[4]],
        method="exact",
        cl=cl,
        notes=notes,
        unit="events",
        details={"band_counts": n_q, "prior": prior_description(b_unc, s_log_unc)},
    )
