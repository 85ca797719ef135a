"""analysis.exclusion: exclusion / thermal-target plots and the CSV inputs they read."""

from __future__ import annotations

import csv
import json
from importlib import resources

import numpy as np
import pytest
from click.testing import CliRunner

from analysis.cli import main
from analysis.exclusion import (
    RELIC_TARGETS,
    plot_exclusion,
    plot_limits,
    plot_thermal_targets,
    read_band,
    read_curve,
    read_relic_targets,
)
from analysis.limits import SignalModel, SignalSystematics, scan, write_limits


@pytest.fixture(scope="module")
def dp_table():
    return scan(SignalModel("dark-photon", "electron", 100.0, 50.0), [0.001, 0.01, 0.1, 0.3],
                n_on_target=1e11, efficiency=0.5, background=(0.5, 0.2), observed=1)


def _written(paths):
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    for p in paths:
        assert p.is_file() and p.stat().st_size > 1000, p
    png = [p for p in paths if p.suffix == ".png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in png)
    assert all(p.read_bytes()[:5] == b"%PDF-" for p in paths if p.suffix == ".pdf")


def test_relic_targets_read_correctly():
    got = read_relic_targets()
    assert set(got) == set(RELIC_TARGETS) == {"scalar", "majorana", "pseudodirac"}
    base = resources.files("analysis") / "data"
    for key, c in got.items():
        with (base / f"relic-target-{key}.csv").open() as f:
            lines = f.read().splitlines()
        assert lines[0] == "m_chi_GeV,y"
        m0, y0 = (float(v) for v in lines[1].split(","))
        assert c.mass[0] == m0 and c.value[0] == y0
        assert len(c.mass) == len(lines) - 1 and np.all(np.diff(c.mass) > 0)
        assert np.all(c.value > 0)


def test_user_curve_and_band_csv(tmp_path):
    f = tmp_path / "BaBar_2017.csv"
    f.write_text("# BaBar monophoton\nmass,value\n0.1,2e-4\n0.01,1e-4\n")
    c = read_curve(f)
    assert c.label == "BaBar 2017" and c.mass.tolist() == [0.01, 0.1] and c.value.tolist() == [1e-4, 2e-4]
    b = tmp_path / "g-2_mu.csv"
    b.write_text("mass,low,high\n0.01,3e-4,6e-4\n0.1,5e-4,1e-3\n")
    band = read_band(b)
    assert band.label == "g-2 mu" and band.low.tolist() == [3e-4, 5e-4] and band.high[1] == 1e-3
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="mass"):
        read_curve(tmp_path / "bad.csv")


def test_plot_exclusion_and_thermal_targets(dp_table, tmp_path):
    curve = tmp_path / "other.csv"
    curve.write_text("mass,value\n0.001,1e-5\n0.3,1e-3\n")
    _written(plot_exclusion(dp_table, tmp_path / "eps", extra_curves=[curve]))
    _written(plot_thermal_targets(dp_table, tmp_path / "y.png"))  # suffix replaced by png+pdf
    assert (tmp_path / "y.pdf").is_file()
    # from the written JSON, with a (m_chi, y) curve
    write_limits(dp_table, tmp_path / "lim")
    d = json.loads((tmp_path / "lim" / "limits.json").read_text())
    _written(plot_thermal_targets({y["alpha_d"]: y for y in d["y"]}, tmp_path / "y2",
                                  extra_curves=[(np.array([1e-3, 0.1]), np.array([1e-13, 1e-9]), "mine")]))


def test_plot_blinded_g_with_band_and_br(tmp_path):
    zp = scan(SignalModel("zprime", "muon", production_per_pot=lambda m: 1e-2 / (1 + m / 0.1) ** 2),
              [0.005, 0.05, 0.5], n_on_target=1e11, efficiency=0.3, background=0.1, observed=None)
    band = tmp_path / "g-2.csv"
    band.write_text("mass,low,high\n0.005,3e-4,6e-4\n0.5,5e-4,1e-3\n")
    _written(plot_exclusion(zp, tmp_path / "g", band=band))
    br = scan(SignalModel("eta", "hadron", production_per_pot=4e-6), n_on_target=3e9, efficiency=0.2,
              background=0.3, observed=0, systematics=SignalSystematics.none())
    paths = plot_limits(br, tmp_path / "br")
    _written(paths)
    assert [p.name for p in paths] == ["exclusion_Br.png", "exclusion_Br.pdf"]  # no y for Br


def test_plot_limits_cli(dp_table, tmp_path):
    write_limits(dp_table, tmp_path)
    curve = tmp_path / "NA64_2023.csv"
    curve.write_text("mass,value\n0.001,1e-5\n0.3,1e-3\n")
    ycurve = tmp_path / "y_other.csv"
    ycurve.write_text("mass,value\n0.001,1e-13\n0.1,1e-9\n")
    res = CliRunner().invoke(main, ["plot-limits", str(tmp_path / "limits.json"), "--out",
                                    str(tmp_path / "plots"), "--curve", str(curve), "--y-curve", str(ycurve)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["exclusion_epsilon.pdf", "exclusion_epsilon.png", "thermal_targets_y.pdf",
                     "thermal_targets_y.png"]
    _written(list((tmp_path / "plots").iterdir()))
    # relic-target CSV first row read by the test itself equals what the plot module uses
    with (resources.files("analysis") / "data" / "relic-target-scalar.csv").open() as f:
        first = next(csv.DictReader(f))
    assert read_relic_targets()["scalar"].value[0] == float(first["y"])
