"""Simulated signal efficiency of a selection, used by projections without --efficiency."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from analysis.cli import main
from analysis.efficiency import default_selection, simulated_efficiency, with_threshold
from analysis.selection import load_selection


def test_default_selection_is_the_one_with_the_nearest_threshold():
    assert default_selection("electron", 40).endswith("na64e_2023_vhcal.yaml")
    assert default_selection("electron", 48).endswith("na64e_2016_2022.yaml")
    with pytest.raises(ValueError, match="no built-in selection"):
        default_selection("positron", 40)


def test_threshold_override_changes_only_the_missing_energy_cut():
    sel = load_selection("selections/na64e_2023_vhcal.yaml")
    new = with_threshold(sel, 33.0)
    a, b = sel.to_dict(), new.to_dict()
    diffs = [(x["name"], x["params"], y["params"]) for x, y in zip(a["cuts"], b["cuts"])
             if x != y]
    assert [d[0] for d in diffs] == ["emiss"]
    assert diffs[0][2]["threshold"] == 33.0


def test_efficiency_is_a_fraction_and_the_projection_uses_it():
    eff = simulated_efficiency(None, "electron", [0.01, 0.1], threshold=40.0, n_events=800)
    vals = eff(np.array([0.01, 0.1]))
    # relative to the A' produced with E_X > 40 GeV: the pre-selection (trigger, SRD, ...)
    # keeps most electrons, so the efficiency is high but below one
    assert np.all((vals > 0.5) & (vals <= 1.0))
    runner = CliRunner()
    outs = []
    for n in ("1e12", "1e13"):
        r = runner.invoke(main, ["project", "--setup", "electron", "--energy", "100",
                                 "--n-on-target", n, "--threshold", "40", "--background", "0",
                                 "--masses", "0.01", "--json"])
        assert r.exit_code == 0, r.output
        outs.append(json.loads(r.output))
    assert outs[0]["coupling"] == "epsilon"
    # zero background: ε ∝ 1/√exposure (efficiency simulated with the same seed both times)
    ratio = outs[0]["points"][0]["expected"] / outs[1]["points"][0]["expected"]
    assert ratio == pytest.approx(np.sqrt(10.0), rel=1e-6)
