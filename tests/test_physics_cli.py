"""CLI of the physics section: na64 xsec / yield / xsec-compare."""

import csv
import json

import pytest
from click.testing import CliRunner

from analysis.cli import main


def test_xsec_json():
    r = CliRunner().invoke(main, ["xsec", "--model", "dark-photon", "--beam", "electron", "--energy", "150",
                                  "--target", "Pb", "--mass", "0.0167", "--coupling", "1e-4", "--method", "etl",
                                  "--no-inelastic", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    for key in ("cross_section_pb", "method", "method_used", "model", "coupling_convention", "notes", "min_fraction", "inelastic"):
        assert key in d
    assert d["cross_section_pb"] == pytest.approx(3643.0, rel=0.02)  # DMG4 reference value
    assert d["inelastic"] is False


def test_xsec_human_readable_and_fallback():
    r = CliRunner().invoke(main, ["xsec", "--model", "zprime", "--beam", "muon", "--energy", "160", "--mass", "0.1",
                                  "--coupling", "1e-3", "--min-fraction", "0.5"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "requested etl" in r.output and "g_Z'" in r.output


def test_yield_json():
    r = CliRunner().invoke(main, ["yield", "--setup", "electron", "--energy", "100", "--model", "dark-photon",
                                  "--mass", "0.01", "--coupling", "1e-4", "--threshold", "50", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["signal_per_particle"] > 0 and d["threshold"] == 50.0 and d["method_used"] == "etl"


def test_xsec_compare_writes_table_and_figure(tmp_path):
    r = CliRunner().invoke(main, ["xsec-compare", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "xsec_compare.csv")))
    assert {row["beam"] for row in rows} == {"electron", "muon"}
    assert (tmp_path / "xsec_compare.png").stat().st_size > 1000
    mu = [row for row in rows if row["beam"] == "muon"]
    assert all(row["etl_method_used"] == "ww" for row in mu)
