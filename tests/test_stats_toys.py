"""Vectorised hybrid toys against the exact construction and analytic combinations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.stats import Channel, build_workspace, model_and_data, upper_limit, upper_limit_workspace
from analysis.stats.counting import exact_limit_for_count
from analysis.stats.test_statistics import lep_statistic, qtilde_statistic
from analysis.stats.toys import HybridToyCalculator, ensemble_from_channels, ensemble_from_model

LN10 = -math.log(0.1)  # 2.302585...

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jsonschema RefResolver in pyhf


@pytest.mark.parametrize(
    "n,b,sb,ds",
    [(0, 0.5, 0.2, 0.0), (3, 3.0, 1.0, 0.0), (2, 0.4, 0.1, 0.1), (10, 4.0, 1.0, 0.0), (30, 25.0, 5.0, 0.1)],
)
def test_toys_agree_with_exact(n, b, sb, ds):
    ex = upper_limit(n, b, sb, method="exact", signal_rel_unc=ds)
    ty = upper_limit(n, b, sb, method="toys", signal_rel_unc=ds, ntoys=20000, seed=7)
    assert ty.method == "toys"
    # 20000 importance-sampled toys: a few per cent on the limit (CLs error ~1-2 %)
    assert ty.upper_limit == pytest.approx(ex.upper_limit, rel=0.03)
    # expected limits are limits at a discrete count quantile n_p; when P(n <= n_p) is within
    # toy precision of the quantile level, toys may land on n_p +- 1: accept that range.
    for t, n_p in zip(ty.expected_set, ex.details["band_counts"]):
        lo = exact_limit_for_count(max(n_p - 1, 0), b, sb, math.log1p(ds))
        hi = exact_limit_for_count(n_p + 1, b, sb, math.log1p(ds))
        assert lo * 0.97 <= t <= hi * 1.03
    assert ty.expected == pytest.approx(ex.expected, rel=0.1)


def test_toy_cls_matches_exact_cls_at_fixed_mu():
    ch = Channel("c", [1.0], [2.0], [0.0], [1])
    calc = HybridToyCalculator(ensemble_from_channels([ch], 20000, 3), [1], mu_ref=3.0, seed=4)
    for mu in (1.0, 3.0, 5.0):
        obs, exp = calc.cls(mu)
        want = stats.poisson.cdf(1, mu + 2.0) / stats.poisson.cdf(1, 2.0)
        assert obs == pytest.approx(want, rel=0.03)
        assert exp == sorted(exp)


def test_two_zero_count_periods_combine_analytically():
    # all n = 0: (0, 0) is the most background-like outcome, CLs = exp(-mu * sum s) exactly
    a = Channel("p2016", [2.0], [0.5], [0.2], [0])
    b = Channel("p2022", [1.0], [0.3], [0.1], [0])
    ra = upper_limit_workspace([a], method="toys")
    rb = upper_limit_workspace([b], method="toys")
    rab = upper_limit_workspace([a, b], method="toys")
    assert rab.method == "toys" and rab.unit == "mu"
    assert rab.upper_limit == pytest.approx(LN10 / 3.0, rel=0.01)
    assert rab.upper_limit < min(ra.upper_limit, rb.upper_limit)
    # a period with zero exposure adds nothing
    b0 = Channel("p2022", [1.0], [0.3], [0.1], [0], exposure=0.0)
    assert upper_limit_workspace([a, b0], method="toys").upper_limit == pytest.approx(LN10 / 2.0, rel=0.01)
    # identical periods == one period with doubled exposure
    a2 = Channel("p2016b", [2.0], [0.5], [0.2], [0])
    ad = Channel("p2016", [2.0], [1.0], [0.2 * math.sqrt(2)], [0], exposure=2.0)
    r2 = upper_limit_workspace([a, a2], method="toys").upper_limit
    assert r2 == pytest.approx(upper_limit_workspace([ad], method="exact").upper_limit, rel=0.01)


def test_multibin_low_count_auto_uses_toys_and_combination_is_tighter():
    e_bins = Channel("ecal", [0.5, 1.0, 2.0], [0.2, 0.1, 0.05], [0.1, 0.05, 0.03], [1, 0, 0],
                     pot_unc=0.05, xsec_unc=0.1)
    mu = Channel("other", [1.0, 1.5], [0.4, 0.3], [0.2, 0.1], [0, 1], pot_unc=0.05, xsec_unc=0.1)
    r1 = upper_limit_workspace([e_bins])
    r2 = upper_limit_workspace([mu])
    r12 = upper_limit_workspace([e_bins, mu])
    assert r12.method == "toys" and "auto -> toys" in r12.notes
    assert r12.upper_limit < min(r1.upper_limit, r2.upper_limit)
    assert r12.band[0] <= r12.band[1] <= r12.expected <= r12.band[2] <= r12.band[3]


def test_pyhf_model_ensemble_matches_channel_ensemble():
    a = Channel("p1", [1.0, 2.0], [0.3, 0.2], [0.1, 0.05], [0, 1], exposure=2, pot_unc=0.05, xsec_unc=0.1)
    b = Channel("p2", [1.0], [0.3], [0.1], [0], pot_unc=0.05, xsec_unc=0.1, efficiency_unc=0.2)
    model, data = model_and_data(build_workspace([a, b]))
    em = ensemble_from_model(model, data, 40000, 1)
    ec = ensemble_from_channels([a, b], 40000, 2)
    # pyhf orders channels by name: p1 (2 bins), p2 (1 bin) == our order here
    assert np.allclose(em.nominal_signal, ec.nominal_signal)
    assert np.allclose(em.nominal_background, ec.nominal_background)
    sd_s = np.sqrt(np.expm1(math.log1p(0.05) ** 2 + math.log1p(0.1) ** 2))  # rough scale
    assert np.allclose(em.signal.mean(0), ec.signal.mean(0), rtol=4 * sd_s / math.sqrt(40000) * 3)
    assert np.allclose(em.signal.std(0), ec.signal.std(0), rtol=0.03)
    assert np.allclose(em.background.std(0), [0.1, 0.05, 0.1], rtol=0.03)
    # signal correlation between channels through the shared "xsec" only
    c = np.corrcoef(em.signal[:, 0], em.signal[:, 2])[0, 1]
    r_xs, r_a, r_b = math.log1p(0.1) ** 2, math.log1p(0.05) ** 2, math.log1p(0.05) ** 2 + math.log1p(0.2) ** 2
    want = math.expm1(r_xs) / math.sqrt(math.expm1(r_xs + r_a) * math.expm1(r_xs + r_b))
    assert c == pytest.approx(want, abs=0.02)
    ws_lim = upper_limit_workspace(model, data, method="toys").upper_limit
    ch_lim = upper_limit_workspace([a, b], method="toys").upper_limit
    assert ws_lim == pytest.approx(ch_lim, rel=0.02)


def test_statistics_single_bin_are_monotone_in_count():
    n = np.arange(0, 12)[:, None]
    t = lep_statistic(2.0, [1.5], [0.7], n)
    assert np.all(np.diff(t) < 0)
    q = qtilde_statistic(2.0, [1.5], [0.7], n)
    # q~ decreases until n reaches mu*s + b, then it is 0
    assert np.all(np.diff(q) <= 1e-12) and q[-1] == 0.0
    # analytic q~ for n = 0: mu_hat clipped to 0 -> 2 (mu s) (no log term)
    assert q[0] == pytest.approx(2 * 2.0 * 1.5)


def test_qtilde_toys_single_bin_equal_lep():
    a = upper_limit(2, 1.0, 0.3, method="toys", test_stat="lep")
    b = upper_limit(2, 1.0, 0.3, method="toys", test_stat="qtilde")
    assert a.upper_limit == pytest.approx(b.upper_limit, rel=1e-6)
