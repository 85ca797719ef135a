"""Exact single-bin CLs (Read 2002) against independent scipy computations written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.optimize import brentq

from analysis.stats import LimitResult, cls_exact, upper_limit

ALPHA = 0.1


def ref_cls(s, n, b):
    """Read's CLs with the count as statistic, straight from the Poisson CDF."""
    return stats.poisson.cdf(n, s + b) / stats.poisson.cdf(n, b)


def ref_limit(n, b, cl=0.9, cls=None):
    cls = cls or (lambda s: ref_cls(s, n, b))
    return brentq(lambda s: cls(s) - (1 - cl), 1e-9, 500.0, xtol=1e-12)


def ref_cls_gamma_prior(s, n, b, sb):
    """Cousins-Highland average over a Gamma(mean b, sd sb) prior by direct quadrature."""
    k = (b / sb) ** 2
    prior = stats.gamma(k, scale=b / k)
    lo, hi = prior.ppf(1e-12), prior.ppf(1 - 1e-12)
    num = integrate.quad(lambda x: stats.poisson.cdf(n, s + x) * prior.pdf(x), lo, hi, epsabs=1e-13, limit=200)[0]
    den = integrate.quad(lambda x: stats.poisson.cdf(n, x) * prior.pdf(x), lo, hi, epsabs=1e-13, limit=200)[0]
    return num / den


def ref_cls_lognormal_signal(s, n, b, sig_ln):
    num = integrate.quad(
        lambda z: stats.norm.pdf(z) * stats.poisson.cdf(n, s * math.exp(sig_ln * z) + b), -12, 12, limit=200
    )[0]
    return num / stats.poisson.cdf(n, b)


@pytest.mark.parametrize("b", [0.0, 0.01, 0.43, 1.0, 5.0, 30.0])
@pytest.mark.parametrize("b_unc_frac", [0.0, 0.4])
def test_zero_observed_gives_minus_ln_alpha(b, b_unc_frac):
    r = upper_limit(0, b, b_unc_frac * b, cl=0.9, method="exact")
    assert r.upper_limit == pytest.approx(-math.log(0.1), rel=1e-9)
    assert r.upper_limit == pytest.approx(2.302585, abs=1e-6)
    a = upper_limit(0, b, b_unc_frac * b, cl=0.9)  # auto
    assert a.method == "exact"
    assert a.upper_limit == pytest.approx(2.302585, abs=1e-6)
    assert abs(a.upper_limit - 1.64) > 0.5


@pytest.mark.parametrize("cl", [0.9, 0.95])
def test_zero_observed_other_cl(cl):
    assert upper_limit(0, 2.0, cl=cl).upper_limit == pytest.approx(-math.log(1 - cl), rel=1e-9)


@pytest.mark.parametrize("n,b", [(1, 0.5), (2, 0.43), (3, 3.0), (5, 1.2), (10, 4.0), (20, 25.0), (0, 12.0)])
def test_matches_independent_poisson_cls(n, b):
    r = upper_limit(n, b, method="exact")
    assert r.upper_limit == pytest.approx(ref_limit(n, b), rel=1e-7)
    assert float(cls_exact(r.upper_limit, n, b)) == pytest.approx(ALPHA, rel=1e-7)


@pytest.mark.parametrize("n,b,sb", [(0, 0.5, 0.3), (2, 1.0, 0.5), (4, 3.0, 1.0), (7, 5.0, 2.5)])
def test_background_prior_matches_quadrature(n, b, sb):
    got = upper_limit(n, b, sb, method="exact").upper_limit
    want = ref_limit(n, b, cls=lambda s: ref_cls_gamma_prior(s, n, b, sb))
    assert got == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("n,b,d", [(0, 0.5, 0.1), (3, 2.0, 0.2)])
def test_signal_prior_matches_quadrature(n, b, d):
    got = upper_limit(n, b, signal_rel_unc=d, method="exact").upper_limit
    want = ref_limit(n, b, cls=lambda s: ref_cls_lognormal_signal(s, n, b, math.log1p(d)))
    assert got == pytest.approx(want, rel=1e-5)
    assert got > upper_limit(n, b, method="exact").upper_limit


def _median_count(b):
    n, c = 0, stats.poisson.pmf(0, b)
    while c < 0.5:
        n += 1
        c += stats.poisson.pmf(n, b)
    return n


@pytest.mark.parametrize("b", [0.1, 0.43, 1.0, 3.0, 7.5, 20.0])
def test_expected_band_ordered_and_median(b):
    r = upper_limit(1, b, method="exact")
    lo2, lo1, hi1, hi2 = r.band
    assert lo2 <= lo1 <= r.expected <= hi1 <= hi2
    assert lo2 < hi2
    assert r.expected == pytest.approx(ref_limit(_median_count(b), b), rel=1e-7)
    # -2 sigma quantile: smallest n with CDF >= Phi(-2)
    p2 = stats.norm.cdf(-2)
    n2 = next(k for k in range(200) if stats.poisson.cdf(k, b) >= p2)
    assert lo2 == pytest.approx(ref_limit(n2, b), rel=1e-7)


def test_low_background_band_degenerates_to_zero_count_limit():
    r = upper_limit(0, 0.4)
    # P(n=0 | 0.4) = 0.67 > 0.5: -2s, -1s and median are all the n = 0 limit
    assert r.band[0] == r.band[1] == r.expected == pytest.approx(2.302585, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 15),
    b=st.floats(0.05, 12.0),
    f1=st.floats(0.0, 1.5),
    f2=st.floats(0.0, 1.5),
)
def test_background_uncertainty_widens_limit(n, b, f1, f2):
    lo, hi = sorted((f1, f2))
    l_lo = upper_limit(n, b, lo * b, method="exact").upper_limit
    l_hi = upper_limit(n, b, hi * b, method="exact").upper_limit
    assert l_hi >= l_lo * (1 - 1e-6)  # numerical precision of the NB CDF


def test_result_serialises():
    r = upper_limit(2, 1.0, 0.3)
    assert isinstance(r, LimitResult)
    d = r.to_dict()
    assert set(d) == {"upper_limit", "expected", "band", "method", "cl", "notes", "unit"}
    assert len(d["band"]) == 4 and d["method"] == "exact" and "Gamma" in d["notes"]


@pytest.mark.parametrize("bad", [dict(n_obs=-1, background=1.0), dict(n_obs=1.5, background=1.0),
                                 dict(n_obs=1, background=-1.0), dict(n_obs=1, background=1.0, method="magic")])
def test_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        upper_limit(**bad)


def test_vectorised_cls_equals_scalar():
    s = np.array([0.5, 1.0, 3.0])
    v = cls_exact(s, 2, 1.0, 0.3)
    assert np.allclose(v, [float(cls_exact(x, 2, 1.0, 0.3)) for x in s])
