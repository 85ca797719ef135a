"""analysis.limits: count limits → coupling limits vs mass, y tables, outputs, projection CLI.

References are computed here: the zero-count CLs limit −ln(1 − CL) (CLs = e^(−s)), Poisson
CLs by brentq, yields from analysis.physics directly, y = ε² α_D / 3⁴ by hand.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from scipy import stats
from scipy.optimize import brentq

from analysis.cli import main
from analysis.limits import (
    Efficiency,
    LimitTable,
    Period,
    SignalModel,
    SignalSystematics,
    efficiency_from_selection,
    project,
    read_limits,
    scan,
    set_efficiency_provider,
    thermal_y,
    write_limits,
)
from analysis.physics.yields import signal_yield, yield_per_coupling2
from analysis.selection import SelectionError

N_UP0 = -math.log(0.1)  # 90% CL CLs limit for 0 observed, any background
NOSYS = SignalSystematics.none()
DP = SignalModel("dark-photon", "electron", 100.0, 50.0)


def hand_eps(n_up, n_pot, eff, yields):
    """ε from N_up = N_pot · eff · Y · ε² (eq. 1 of analysis/limits.py)."""
    return np.sqrt(n_up / (n_pot * eff * np.asarray(yields)))


# ------------------------------------------------------------------------------------------
# scalings
# ------------------------------------------------------------------------------------------
def test_epsilon_scales_as_inverse_sqrt_exposure_at_zero_background():
    masses = [0.002, 0.02]
    y = yield_per_coupling2("electron", 100.0, "dark-photon", masses, 50.0)
    out = {}
    for n in (1e11, 4e11):
        t = scan(DP, masses, n_on_target=n, efficiency=0.6, background=0.0, observed=0,
                 systematics=NOSYS, method="exact")
        ref = hand_eps(N_UP0, n, 0.6, y)
        np.testing.assert_allclose(t.observed, ref, rtol=1e-9)
        np.testing.assert_allclose(t.expected, ref, rtol=1e-9)
        # b = 0: every background-only quantile is n = 0 -> the band collapses on the median
        np.testing.assert_allclose(t.band, np.repeat(ref[:, None], 4, axis=1), rtol=1e-9)
        assert t.method == "exact" and t.coupling == "epsilon" and t.power == 2
        out[n] = t.expected
    np.testing.assert_allclose(out[1e11] / out[4e11], 2.0, rtol=1e-12)


def test_br_scales_as_inverse_exposure():
    from analysis.physics.mesons import meson_yield_per_pot

    eta = SignalModel("eta", "hadron")
    y = meson_yield_per_pot("eta", 50.0).value
    res = {}
    for n in (3e9, 6e9):
        t = scan(eta, n_on_target=n, efficiency=0.25, background=0.0, observed=0, systematics=NOSYS)
        assert t.coupling == "Br" and t.power == 1
        assert t.masses.tolist() == [pytest.approx(0.547862)]
        assert t.observed[0] == pytest.approx(N_UP0 / (n * 0.25 * y), rel=1e-9)
        res[n] = t.expected[0]
    assert res[3e9] / res[6e9] == pytest.approx(2.0, rel=1e-12)
    assert not t.y_tables  # y only for the dark photon


def test_g_for_zprime_muon_and_external_yield():
    # external production yield: N_up = N eff Y g^2 by hand
    m = SignalModel("zprime", "muon", production_per_pot=lambda ms: 1e-2 * np.ones_like(ms))
    assert m.coupling == "g" and m.energy == 160.0 and m.threshold == 80.0
    t = scan(m, [0.01, 0.1], n_on_target=1e10, efficiency=0.5, observed=0, systematics=NOSYS)
    np.testing.assert_allclose(t.observed, np.sqrt(N_UP0 / (1e10 * 0.5 * 1e-2)), rtol=1e-9)
    with pytest.raises(ValueError, match="quoted in 'g'"):
        SignalModel("zprime", "muon", coupling="epsilon")
    with pytest.raises(ValueError, match="not available for the hadron"):
        SignalModel("dark-photon", "hadron")


def test_signal_systematics_enter_the_count_limit():
    """0 observed, log-normal signal factor f: CLs = E[e^(−s f)] = 0.1 (quadrature by hand)."""
    sy = SignalSystematics(pot=0.05, xsec=0.10, efficiency=0.08)
    s_ln = math.sqrt(math.log(1.05) ** 2 + math.log(1.10) ** 2 + math.log(1.08) ** 2)
    z, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    n_up = brentq(lambda s: float(np.sum(w * np.exp(-s * np.exp(s_ln * z)))) - 0.1, 0.5, 10)
    t = scan(SignalModel("zprime", "muon", production_per_pot=1e-3), [0.05], n_on_target=1e9,
             efficiency=1.0, background=0.2, observed=0, systematics=sy)
    assert t.observed[0] == pytest.approx(math.sqrt(n_up / 1e6), rel=1e-5)


# ------------------------------------------------------------------------------------------
# thresholds and efficiency
# ------------------------------------------------------------------------------------------
def test_efficiency_including_threshold_uses_total_yield():
    """eff from simulation includes the E_miss acceptance -> Y above the generation cut (0)."""
    masses = [0.01]
    y_total = yield_per_coupling2("electron", 100.0, "dark-photon", masses, 0.0)
    y_thr = yield_per_coupling2("electron", 100.0, "dark-photon", masses, 50.0)
    acc = y_thr / y_total  # acceptance of E_X > 50 GeV
    assert 0.0 < acc[0] < 0.5  # most A' from the shower are soft
    a = scan(DP, masses, n_on_target=1e11, efficiency=0.7, observed=0, systematics=NOSYS)
    b = scan(DP, masses, n_on_target=1e11, efficiency=0.7 * acc[0], observed=0, systematics=NOSYS,
             efficiency_includes_threshold=True)
    np.testing.assert_allclose(b.observed, hand_eps(N_UP0, 1e11, 0.7 * acc, y_total), rtol=1e-9)
    np.testing.assert_allclose(a.observed, b.observed, rtol=1e-9)  # acceptance counted once


def test_efficiency_interpolation():
    e = Efficiency.table([0.001, 0.01, 0.1], [0.2, 0.5, 0.7])
    np.testing.assert_allclose(e([0.001, 0.01, 0.1]), [0.2, 0.5, 0.7], rtol=0, atol=0)
    # linear in ln m: the geometric mid-point gets the arithmetic mean
    assert e(math.sqrt(0.001 * 0.01))[0] == pytest.approx(0.35, rel=1e-12)
    m = 0.03
    f = (math.log(m) - math.log(0.01)) / (math.log(0.1) - math.log(0.01))
    assert e(m)[0] == pytest.approx(0.5 + f * 0.2, rel=1e-12)
    with pytest.raises(ValueError, match="outside the simulated range"):
        e([0.2])
    with pytest.raises(ValueError, match="outside the simulated range"):
        e([0.0005])
    flat = Efficiency.table([0.001, 0.01, 0.1], [0.2, 0.5, 0.7], allow_extrapolation=True)
    np.testing.assert_allclose(flat([0.0005, 0.2]), [0.2, 0.7])
    with pytest.raises(ValueError, match="outside the simulated range"):
        scan(DP, [0.5], n_on_target=1e10, efficiency=e, observed=0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Efficiency.table([0.01, 0.1], [0.5, 1.2])


def test_scan_masses_default_to_the_simulated_masses():
    e = Efficiency.table([0.002, 0.02], [0.4, 0.5])
    t = scan(DP, n_on_target=1e10, efficiency=e, observed=0, systematics=NOSYS)
    assert t.masses.tolist() == [0.002, 0.02]
    y = yield_per_coupling2("electron", 100.0, "dark-photon", [0.002, 0.02], 50.0)
    np.testing.assert_allclose(t.observed, hand_eps(N_UP0, 1e10, np.array([0.4, 0.5]), y), rtol=1e-9)


# ------------------------------------------------------------------------------------------
# y
# ------------------------------------------------------------------------------------------
def test_y_from_epsilon_by_hand():
    masses = [0.01, 0.25]  # 250 MeV: resonant annihilation, yield depends on alpha_D
    t = scan(DP, masses, n_on_target=1e11, efficiency=0.5, observed=0, systematics=NOSYS)
    eps = t.observed
    for a in (0.1, 0.5):
        yt = t.y_tables[a]
        np.testing.assert_allclose(yt["m_chi"], np.array(masses) / 3.0, rtol=1e-12)
        # 10 MeV: no annihilation, y = eps^2 alpha_D (1/3)^4 from the epsilon table
        assert yt["observed"][0] == pytest.approx(eps[0] ** 2 * a / 81.0, rel=1e-12)
        assert thermal_y(eps[0], a) == pytest.approx(eps[0] ** 2 * a / 81.0, rel=1e-12)
        # 250 MeV: epsilon for this alpha_D from the yield with that alpha_D (m_chi = m/3)
        y_a = signal_yield("electron", 100.0, "dark-photon", 0.25, 1e-4, 50.0, alpha_d=a).signal_per_particle / 1e-8
        eps_a = math.sqrt(N_UP0 / (1e11 * 0.5 * y_a))
        assert yt["observed"][1] == pytest.approx(eps_a**2 * a / 81.0, rel=1e-9)
        np.testing.assert_allclose(yt["band"], yt["expected"][:, None] * np.ones(4), rtol=1e-12)
    assert t.observed[1] == pytest.approx(  # the epsilon table itself uses alpha_D = 0.5
        math.sqrt(t.y_tables[0.5]["observed"][1] * 81 / 0.5), rel=1e-12)


# ------------------------------------------------------------------------------------------
# combination of periods
# ------------------------------------------------------------------------------------------
def test_combination_of_periods():
    masses = [0.005, 0.05]
    y50 = yield_per_coupling2("electron", 100.0, "dark-photon", masses, 50.0)
    y40 = yield_per_coupling2("electron", 100.0, "dark-photon", masses, 40.0)
    p1 = Period("2016-2022", 2e10, 0.5, (0.4, 0.15), observed=0, threshold=50.0)
    p2 = Period("2023", 1e10, 0.6, (0.3, 0.1), observed=0, threshold=40.0)
    kw = dict(systematics=SignalSystematics(xsec=0.0), thermal_alphas=())
    t1 = scan(DP, masses, periods=[p1], **kw)
    t2 = scan(DP, masses, periods=[p2], **kw)
    t12 = scan(DP, masses, periods=[p1, p2], **kw)
    assert t1.method == t2.method == "exact"
    assert t12.method == "toys"
    assert np.all(t12.observed < t1.observed) and np.all(t12.observed < t2.observed)
    assert np.all(t12.expected < t1.expected) and np.all(t12.expected < t2.expected)
    # zero counts everywhere: CLs = exp(-(s1 + s2)) -> eps^2 (S1 + S2) = -ln 0.1 (any background)
    s_tot = 2e10 * 0.5 * y50 + 1e10 * 0.6 * y40
    np.testing.assert_allclose(t12.observed, np.sqrt(N_UP0 / s_tot), rtol=0.03)
    assert t12.exposure == 3e10 and t12.observed_count == 0
    assert t12.background["value"] == pytest.approx(0.7)
    assert t12.background["uncertainty"] == pytest.approx(math.hypot(0.15, 0.1))
    # a period with zero exposure changes nothing
    p0 = Period("empty", 0.0, 0.6, (0.3, 0.1), observed=1, threshold=40.0)
    t10 = scan(DP, masses, periods=[p1, p0], **kw)
    np.testing.assert_array_equal(t10.observed, t1.observed)
    np.testing.assert_array_equal(t10.expected, t1.expected)
    np.testing.assert_array_equal(t10.band, t1.band)
    assert any("dropped" in n for n in t10.notes)


def test_period_rules():
    p1 = Period("a", 1e10, 0.5, 0.1, observed=0)
    p2 = Period("b", 1e10, 0.5, 0.1, observed=None)
    with pytest.raises(ValueError, match="every period or for none"):
        scan(DP, [0.01], periods=[p1, p2])
    with pytest.raises(ValueError, match="single-bin"):
        scan(DP, [0.01], periods=[p1, Period("c", 1e10, 0.5, 0.1, observed=0)], method="exact")
    with pytest.raises(ValueError, match="not both"):
        scan(DP, [0.01], periods=[p1], n_on_target=1e10)


def test_blinded_gives_expected_only():
    t = scan(DP, [0.01], n_on_target=1e11, efficiency=0.5, background=(0.5, 0.1), observed=None)
    assert t.blinded and t.observed is None and t.observed_count is None
    assert t.count_limit["upper_limit"] is None
    assert t.to_dict()["points"][0]["observed"] is None
    assert t.y_tables[0.1]["observed"] is None


def test_background_estimate_object():
    from analysis.background import Estimate

    est = Estimate("tail", 0.43, 0.10, 0.12, "test")
    t = scan(DP, [0.01], n_on_target=1e11, efficiency=0.5, background=est, observed=0)
    assert t.background == {"value": 0.43, "uncertainty": pytest.approx(math.hypot(0.10, 0.12))}


# ------------------------------------------------------------------------------------------
# outputs
# ------------------------------------------------------------------------------------------
def _num(s):
    return None if s == "" else float(s)


@pytest.mark.parametrize("observed", [1, None])
def test_write_limits_round_trip(tmp_path, observed):
    t = scan(DP, [0.003, 0.03, 0.3], n_on_target=5e10, efficiency=0.5, background=(0.6, 0.2),
             observed=observed)
    paths = write_limits(t, tmp_path)
    # JSON
    d = json.loads((tmp_path / "limits.json").read_text())
    assert d["model"] == "dark-photon" and d["coupling"] == "epsilon" and d["cl"] == 0.9
    assert d["exposure"] == 5e10 and d["background"] == {"value": 0.6, "uncertainty": 0.2}
    assert d["observed"] == observed and d["method"] == "exact"
    for i, p in enumerate(d["points"]):
        assert p["mass"] == t.masses[i] and p["expected"] == t.expected[i]
        assert p["band"] == t.band[i].tolist()
        assert p["observed"] == (None if observed is None else t.observed[i])
    ys = {y["alpha_d"]: y for y in d["y"]}
    assert set(ys) == {0.1, 0.5}
    for a, y in ys.items():
        assert [p["m_chi"] for p in y["points"]] == pytest.approx(t.masses / 3.0, rel=1e-15)
        assert [p["expected"] for p in y["points"]] == t.y_tables[a]["expected"].tolist()
    # CSV
    with open(paths["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["mass", "observed", "expected", "minus2", "minus1", "plus1", "plus2", "method"]
    for i, r in enumerate(rows):
        assert float(r["mass"]) == t.masses[i] and float(r["expected"]) == t.expected[i]
        assert [float(r[k]) for k in ("minus2", "minus1", "plus1", "plus2")] == t.band[i].tolist()
        assert _num(r["observed"]) == (None if observed is None else t.observed[i])
        assert r["method"] == "exact"
    for a in (0.1, 0.5):
        with open(tmp_path / f"limits_y_alphaD{a:g}.csv", newline="") as f:
            yrows = list(csv.DictReader(f))
        assert [float(r["m_chi"]) for r in yrows] == t.y_tables[a]["m_chi"].tolist()
        assert [float(r["plus2"]) for r in yrows] == t.y_tables[a]["band"][:, 3].tolist()
    # HEPData YAML
    h = yaml.safe_load((tmp_path / "limits.yaml").read_text())
    assert [v["value"] for v in h["independent_variables"][0]["values"]] == t.masses.tolist()
    assert h["independent_variables"][0]["header"]["units"] == "GeV"
    deps = h["dependent_variables"]
    assert len(deps) == (1 if observed is None else 2)
    exp = deps[-1]
    quals = {q["name"]: q["value"] for q in exp["qualifiers"]}
    assert quals["CL"] == 0.9 and quals["coupling"].startswith("epsilon")
    for i, v in enumerate(exp["values"]):
        e1, e2 = v["errors"]
        assert v["value"] == t.expected[i]
        band = [v["value"] + e2["asymmetric"]["minus"], v["value"] + e1["asymmetric"]["minus"],
                v["value"] + e1["asymmetric"]["plus"], v["value"] + e2["asymmetric"]["plus"]]
        np.testing.assert_allclose(band, t.band[i], rtol=1e-12)
    if observed is not None:
        assert [v["value"] for v in deps[0]["values"]] == t.observed.tolist()
    yh = yaml.safe_load((tmp_path / "limits_y_alphaD0.1.yaml").read_text())
    assert {q["name"]: q["value"] for q in yh["dependent_variables"][-1]["qualifiers"]}["alpha_D"] == 0.1
    sub = list(yaml.safe_load_all((tmp_path / "submission.yaml").read_text()))
    assert [s.get("data_file") for s in sub[1:]] == ["limits.yaml", "limits_y_alphaD0.1.yaml",
                                                      "limits_y_alphaD0.5.yaml"]
    # read back into a LimitTable
    r = read_limits(tmp_path)
    assert isinstance(r, LimitTable) and r.blinded == (observed is None)
    np.testing.assert_array_equal(r.expected, t.expected)
    np.testing.assert_array_equal(r.band, t.band)
    np.testing.assert_array_equal(r.y_tables[0.5]["band"], t.y_tables[0.5]["band"])
    if observed is not None:
        np.testing.assert_array_equal(r.observed, t.observed)


def test_infinite_limits_are_null_on_disk(tmp_path):
    """No signal at a mass (efficiency 0): limit inf -> null in JSON, empty in CSV, '-' in YAML."""
    e = Efficiency.table([0.002, 0.02], [0.5, 0.0])
    t = scan(DP, [0.002, 0.02], n_on_target=1e10, efficiency=e, observed=0, thermal_alphas=())
    assert np.isinf(t.observed[1]) and np.isfinite(t.observed[0])
    write_limits(t, tmp_path)
    d = json.loads((tmp_path / "limits.json").read_text())
    assert d["points"][1]["observed"] is None and d["points"][1]["expected"] is None
    rows = list(csv.DictReader(open(tmp_path / "limits.csv", newline="")))
    assert rows[1]["expected"] == ""
    h = yaml.safe_load((tmp_path / "limits.yaml").read_text())
    assert h["dependent_variables"][-1]["values"][1] == {"value": "-"}


# ------------------------------------------------------------------------------------------
# projection
# ------------------------------------------------------------------------------------------
def _cls_poisson(s, n, b):
    return stats.poisson.cdf(n, s + b) / stats.poisson.cdf(n, b)


def run_project(*args):
    res = CliRunner().invoke(main, ["project", *args])
    assert res.exit_code == 0, res.output
    return res.output


def test_project_cli_json():
    base = ["--setup", "electron", "--energy", "100", "--threshold", "40", "--background", "0.5",
            "--efficiency", "0.5", "--masses", "0.001,0.01,0.1", "--xsec-unc", "0", "--json"]
    d13 = json.loads(run_project("--n-on-target", "1e13", *base))
    d12 = json.loads(run_project("--n-on-target", "1e12", *base))
    assert {"model", "coupling", "points", "method"} <= set(d13)
    assert d13["model"] == "dark-photon" and d13["coupling"] == "epsilon" and d13["method"] == "exact"
    assert [p["mass"] for p in d13["points"]] == [0.001, 0.01, 0.1]
    for p in d13["points"]:
        assert set(p) == {"mass", "expected", "band"} and len(p["band"]) == 4
        assert p["band"][0] <= p["band"][1] <= p["expected"] <= p["band"][2] <= p["band"][3]
    e13 = np.array([p["expected"] for p in d13["points"]])
    e12 = np.array([p["expected"] for p in d12["points"]])
    assert np.all(e13 < e12)
    np.testing.assert_allclose(e12 / e13, math.sqrt(10.0), rtol=1e-9)  # b fixed: 1/sqrt(N)
    # by hand: Poisson(0.5) median count 0 -> N_up = ln 10; +1 sigma quantile n = 1
    y = yield_per_coupling2("electron", 100.0, "dark-photon", [0.001, 0.01, 0.1], 40.0)
    np.testing.assert_allclose(e13, hand_eps(N_UP0, 1e13, 0.5, y), rtol=1e-9)
    assert int(stats.poisson.ppf(stats.norm.cdf(1), 0.5)) == 1
    n_up1 = brentq(lambda s: _cls_poisson(s, 1, 0.5) - 0.1, 0.1, 20)
    np.testing.assert_allclose([p["band"][2] for p in d13["points"]], hand_eps(n_up1, 1e13, 0.5, y),
                               rtol=1e-6)


def test_project_function_and_selection_path(tmp_path):
    d = project("muon", None, 1e11, None, 0.1, model="zprime", efficiency=0.3, masses=[0.01])
    assert d["coupling"] == "g" and d["energy"] == 160.0 and d["threshold"] == 80.0
    assert "y" in d and d["y"] == []
    sel = tmp_path / "selection.yaml"
    sel.write_text("name: test\n")
    # the electron path simulates signal through the selection: a broken selection file is
    # reported with its name and key
    with pytest.raises(SelectionError, match="selection.yaml: setup: required key missing"):
        efficiency_from_selection(sel, "electron", [0.01])
    res = CliRunner().invoke(main, ["project", "--setup", "electron", "--n-on-target", "1e12",
                                    "--background", "0.5", "--selection", str(sel), "--json"])
    assert res.exit_code != 0 and "required key missing" in res.output
    with pytest.raises(NotImplementedError, match="pass --efficiency"):
        efficiency_from_selection(sel, "positron", [0.01])
    # a registered provider (what the selection/simulation side will supply) is used
    set_efficiency_provider(lambda selection, setup, masses: Efficiency.constant(0.3))
    try:
        d_sel = project("muon", None, 1e11, None, 0.1, model="zprime", masses=[0.01], selection=sel)
    finally:
        set_efficiency_provider(None)
    assert d_sel["points"] == d["points"]
    # efficiency table from a CSV, and --out writes the limit files
    f = tmp_path / "eff.csv"
    f.write_text("mass,efficiency\n0.001,0.4\n0.01,0.5\n")
    out = run_project("--setup", "electron", "--n-on-target", "1e12", "--background", "0.5",
                      "--efficiency", str(f), "--masses", "0.001,0.01", "--json", "--out", str(tmp_path / "o"))
    assert json.loads(out)["efficiency_values"] == [0.4, 0.5]
    assert json.loads((tmp_path / "o" / "limits.json").read_text())["kind"] == "projection"


def test_project_hadron_br():
    d = json.loads(run_project("--setup", "hadron", "--n-on-target", "2.9e9", "--background", "0",
                               "--efficiency", "0.2", "--xsec-unc", "0", "--json"))
    from analysis.physics.mesons import meson_yield_per_pot

    y = meson_yield_per_pot("eta", 50.0).value
    assert d["model"] == "eta" and d["coupling"] == "Br"
    assert d["points"][0]["expected"] == pytest.approx(N_UP0 / (2.9e9 * 0.2 * y), rel=1e-9)


def test_limits_cli_config(tmp_path):
    (tmp_path / "eff.csv").write_text("mass,efficiency\n0.002,0.5\n0.02,0.6\n")
    cfg = {"model": "dark-photon", "setup": "electron", "energy": 100, "threshold": 50,
           "systematics": {"xsec": 0.0},
           "periods": [{"name": "p", "n_on_target": 1e10, "efficiency": "eff.csv",
                        "background": 0.0, "observed": 0}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(main, ["limits", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    t = read_limits(tmp_path / "out" / "limits.json")
    y = yield_per_coupling2("electron", 100.0, "dark-photon", [0.002, 0.02], 50.0)
    np.testing.assert_allclose(t.observed, hand_eps(N_UP0, 1e10, np.array([0.5, 0.6]), y), rtol=1e-9)
    cfg["periods"][0]["typo"] = 1
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(main, ["limits", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "out")])
    assert res.exit_code != 0 and "typo" in res.output
