"""pyhf workspaces, the asymptotic wrapper and the pyhf toy-calculator wrapper."""

from __future__ import annotations

import json
import math

import numpy as np
import pyhf
import pytest
from scipy import stats

from analysis.stats import (
    Channel,
    build_workspace,
    choose_method,
    counting_workspace,
    model_and_data,
    upper_limit,
    upper_limit_workspace,
)
from analysis.stats.asymptotic import asymptotic_hypotest, numpy_minuit
from analysis.stats.toys import pyhf_toy_hypotest
from analysis.stats.workspaces import workspace_from_json

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def two_periods(exposure_b=1.0):
    a = Channel("e2016_2022", [0.8, 1.6, 0.9], [0.2, 0.15, 0.1], [0.08, 0.06, 0.05], [0, 1, 0],
                exposure=9.37, efficiency=0.6, pot_unc=0.03, xsec_unc=0.1, efficiency_unc=0.05)
    b = Channel("e2023_vhcal", [0.8, 1.6, 0.9], [0.1, 0.1, 0.05], [0.05, 0.04, 0.03], [0, 0, 0],
                exposure=4.4 * exposure_b, efficiency=0.7, pot_unc=0.03, xsec_unc=0.1)
    return a, b


def test_workspace_json_round_trip_validates():
    ws = build_workspace(list(two_periods()))
    text = json.dumps(ws)
    spec = json.loads(text)
    pyhf.schema.validate(spec, "workspace.json")
    ws2 = workspace_from_json(text)
    assert ws2 == ws
    m1, d1 = model_and_data(ws)
    m2, d2 = model_and_data(ws2)
    assert m1.config.par_order == m2.config.par_order
    assert np.array_equal(d1, d2)
    init = m1.config.suggested_init()
    assert np.allclose(m1.expected_actualdata(init), m2.expected_actualdata(init))
    # correlated cross section: one shared parameter; POT and efficiency per period
    names = set(m1.config.par_order)
    assert {"mu", "xsec", "pot_e2016_2022", "pot_e2023_vhcal", "eff_e2016_2022",
            "bkg_e2016_2022", "bkg_e2023_vhcal"} == names
    # signal yield = signal * exposure * efficiency
    assert ws["channels"][0]["samples"][0]["data"] == pytest.approx([0.8 * 9.37 * 0.6, 1.6 * 9.37 * 0.6, 0.9 * 9.37 * 0.6])
    # shapesys constraint reproduces the absolute background uncertainty: tau = (b/sigma)^2
    assert m1.config.param_set("bkg_e2016_2022").factors == pytest.approx([(0.2 / 0.08) ** 2, (0.15 / 0.06) ** 2, 4.0])


def test_normsys_code1_is_lognormal():
    ch = Channel("c", [2.0], [1.0], observed=[1], xsec_unc=0.1)
    model, _ = model_and_data(build_workspace([ch]))
    p = np.asarray(model.config.suggested_init(), float)
    for theta in (-2.0, -0.5, 0.7, 1.5):
        p[model.config.par_slice("xsec")] = theta
        assert model.expected_actualdata(p)[0] == pytest.approx(1.0 + 2.0 * 1.1**theta)


def test_asymptotic_agrees_with_exact_at_large_counts():
    ex = upper_limit(100, 100.0, method="exact")
    asy = upper_limit(100, 100.0, method="asymptotic")
    assert asy.method == "asymptotic" and "WARNING" not in asy.notes
    assert asy.upper_limit == pytest.approx(ex.upper_limit, rel=0.06)
    assert asy.expected == pytest.approx(ex.expected, rel=0.06)
    assert asy.band[0] <= asy.band[1] <= asy.expected <= asy.band[2] <= asy.band[3]


def test_asymptotic_is_wrong_at_zero_count_and_auto_avoids_it():
    asy = upper_limit(0, 0.5, 0.1, method="asymptotic")
    assert asy.upper_limit == pytest.approx(1.64, abs=0.05)  # the known asymptotic failure
    assert "WARNING" in asy.notes
    auto = upper_limit(0, 0.5, 0.1)
    assert auto.method == "exact" and auto.upper_limit == pytest.approx(-math.log(0.1))


def test_all_fixed_parameter_model_does_not_crash():
    # model whose only parameter is mu: conditional fits have no free parameter (pyhf#2637)
    model, data = model_and_data(counting_workspace(40, 30.0))
    assert model.config.npars == 1
    obs, exp = asymptotic_hypotest(10.0, model, data)
    assert 0 < obs < 1 and len(exp) == 5


def test_backend_is_restored():
    saved = pyhf.get_backend()
    pyhf.set_backend("numpy", "scipy")
    try:
        before = pyhf.get_backend()
        with numpy_minuit():
            assert isinstance(pyhf.get_backend()[1], pyhf.optimize.minuit_optimizer)
        after = pyhf.get_backend()
        assert type(after[1]) is type(before[1]) and after[0].name == "numpy"
    finally:
        pyhf.set_backend(*saved)


def large_count_channel(name, s, b, n, exposure=1.0, unc=0.0):
    return Channel(name, [s], [b], [unc], [n], exposure=exposure)


def test_asymptotic_combination_tighter_and_zero_exposure_neutral():
    a = large_count_channel("run1", 10.0, 100.0, 104, unc=5.0)
    b = large_count_channel("run2", 6.0, 50.0, 47, unc=3.0)
    ra = upper_limit_workspace([a], method="asymptotic")
    rb = upper_limit_workspace([b], method="asymptotic")
    rab = upper_limit_workspace([a, b])  # auto: all counts >= 10 -> asymptotic
    assert rab.method == "asymptotic" and "auto -> asymptotic" in rab.notes
    assert rab.upper_limit < min(ra.upper_limit, rb.upper_limit)
    assert rab.expected < min(ra.expected, rb.expected)
    b0 = large_count_channel("run2", 6.0, 50.0, 47, exposure=0.0, unc=3.0)
    r0 = upper_limit_workspace([a, b0], method="asymptotic")
    assert r0.upper_limit == pytest.approx(ra.upper_limit, rel=2e-3)
    assert r0.expected == pytest.approx(ra.expected, rel=2e-3)


def test_identical_channels_equal_doubled_exposure():
    a1 = large_count_channel("a1", 10.0, 100.0, 100, unc=3.0)
    a2 = large_count_channel("a2", 10.0, 100.0, 100, unc=3.0)
    dbl = large_count_channel("a", 10.0, 200.0, 200, exposure=2.0, unc=3.0 * math.sqrt(2))
    r12 = upper_limit_workspace([a1, a2], method="asymptotic")
    rd = upper_limit_workspace([dbl], method="asymptotic")
    assert r12.upper_limit == pytest.approx(rd.upper_limit, rel=0.03)
    assert r12.expected == pytest.approx(rd.expected, rel=0.03)


def test_choose_method_rules():
    assert choose_method([1.0], [0.4], [0]) == "exact"
    assert choose_method([1.0, 2.0], [20.0, 30.0], [25, 28]) == "asymptotic"
    assert choose_method([1.0, 2.0], [20.0, 5.0], [25, 8]) == "toys"
    assert choose_method([1.0, 2.0], [20.0, 30.0], [25, 3]) == "toys"
    # a bin without signal does not matter
    assert choose_method([0.0, 2.0], [0.1, 30.0], [0, 28]) == "asymptotic"


def test_pyhf_toy_calculator_works_with_numpy_2_4():
    model, data = model_and_data(counting_workspace(1, 0.5))
    obs, exp = pyhf_toy_hypotest(3.0, model, data, ntoys=300, seed=11)
    want = stats.poisson.cdf(1, 3.5) / stats.poisson.cdf(1, 0.5)  # q~ ordering == count ordering here
    assert obs == pytest.approx(want, abs=0.07)
    assert len(exp) == 5 and exp == sorted(exp)
    # numpy's global RNG state is left untouched
    st = np.random.get_state()[1].copy()
    pyhf_toy_hypotest(3.0, model, data, ntoys=20, seed=1)
    assert np.array_equal(st, np.random.get_state()[1])


def test_workspace_input_types_agree():
    a, b = two_periods()
    ws = build_workspace([a, b])
    model, data = model_and_data(ws)
    r_ch = upper_limit_workspace([a, b], method="toys")
    r_ws = upper_limit_workspace(ws, method="toys")
    r_md = upper_limit_workspace(model, data[: model.config.nmaindata], method="toys")
    assert r_ws.upper_limit == pytest.approx(r_md.upper_limit, rel=1e-9)
    assert r_ws.upper_limit == pytest.approx(r_ch.upper_limit, rel=0.03)
    with pytest.raises(ValueError):
        upper_limit_workspace([a, b], method="exact")
