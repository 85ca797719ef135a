"""Vectorised test statistics for binned Poisson counts (nuisance parameters at nominal).

Both statistics are "larger = more background-like" for a test of signal strength μ, so
p-values are tail probabilities ``P(t >= t_obs)`` under each hypothesis.  They are
evaluated with the *nominal* yields; systematic uncertainties enter through the toy
ensemble (Cousins & Highland 1992 hybrid), as in the LEP Higgs searches.

* ``lep``: ``t = -2 ln Q = -2 ln L(μ)/L(0) = 2 Σ_i [μ s_i - n_i ln(1 + μ s_i / b_i)]``
  (Junk, NIM A 434 (1999) 435; Read, J. Phys. G 28 (2002) 2693).  For one bin it is a
  decreasing function of ``n``, i.e. equivalent to the event-count statistic.
* ``qtilde``: ``q̃_μ = -2 ln [L(μ) / max_{0 <= μ' <= μ} L(μ')]`` (Cowan, Cranmer, Gross &
  Vitells, arXiv:1007.1727, eq. 16, with the one-sided cut μ̂ <= μ folded into the bounded
  maximisation).  The Poisson log-likelihood is concave in μ', so the bounded maximum is
  found by vectorised bisection on the score.

Bins with zero background use ``b = 1e-9`` events inside the statistic only (keeps it
finite; a single event there is then very signal-like, as it should be).
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

__all__ = ["lep_statistic", "qtilde_statistic", "TEST_STATISTICS", "B_FLOOR"]

B_FLOOR = 1e-9


def _prep(s, b, n):
    s = np.asarray(s, float)
    b = np.maximum(np.asarray(b, float), B_FLOOR)
    n = np.atleast_2d(np.asarray(n, float))
    return s, b, n


def lep_statistic(mu: float, s, b, n) -> np.ndarray:
    """``-2 ln Q`` per row of ``n`` (shape (ntoys, nbins) or (nbins,)) → (ntoys,)."""
    s, b, n = _prep(s, b, n)
    return 2.0 * (mu * s.sum() - (n * np.log1p(mu * s / b)).sum(axis=-1))


def _loglik(mu, s, b, n):
    lam = b + mu * s
    return (xlogy(n, lam) - lam).sum(axis=-1)


def qtilde_statistic(mu: float, s, b, n, iterations: int = 48) -> np.ndarray:
    """``q̃_μ`` per row of ``n`` with μ̂ restricted to ``[0, μ]`` (arXiv:1007.1727 eq. 16)."""
    s, b, n = _prep(s, b, n)
    if mu <= 0:
        return np.zeros(n.shape[0])

    def score(m):  # d lnL / dμ' at μ' = m (vector m, one per toy)
        lam = b[None, :] + m[:, None] * s[None, :]
        return (s[None, :] * (n / lam - 1.0)).sum(axis=-1)

    lo = np.zeros(n.shape[0])
    hi = np.full(n.shape[0], float(mu))
    g_lo, g_hi = score(lo), score(hi)
    muhat = np.where(g_lo <= 0, 0.0, np.where(g_hi >= 0, mu, np.nan))
    todo = np.isnan(muhat)
    if np.any(todo):
        a, c, nn = lo[todo], hi[todo], n[todo]
        for _ in range(iterations):
            mid = 0.5 * (a + c)
            lam = b[None, :] + mid[:, None] * s[None, :]
            g = (s[None, :] * (nn / lam - 1.0)).sum(axis=-1)
            pos = g > 0
            a = np.where(pos, mid, a)
            c = np.where(pos, c, mid)
        muhat[todo] = 0.5 * (a + c)
    lam_mu = b[None, :] + mu * s[None, :]
    lam_hat = b[None, :] + muhat[:, None] * s[None, :]
    q = 2.0 * ((xlogy(n, lam_hat) - lam_hat).sum(-1) - (xlogy(n, lam_mu) - lam_mu).sum(-1))
    return np.maximum(q, 0.0)


TEST_STATISTICS = {"lep": lep_statistic, "qtilde": qtilde_statistic}
