"""`na64 upper-limit`."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from scipy import stats
from scipy.optimize import brentq

from analysis.cli import main


def run(*args):
    res = CliRunner().invoke(main, ["upper-limit", *args])
    assert res.exit_code == 0, res.output
    return res.output


def test_json_zero_observed():
    d = json.loads(run("--n-obs", "0", "--background", "0.43", "--background-unc", "0.16", "--json"))
    assert set(d) >= {"upper_limit", "expected", "band", "method", "cl", "notes"}
    assert d["upper_limit"] == pytest.approx(-math.log(0.1))
    assert d["method"] == "exact" and d["cl"] == 0.9 and len(d["band"]) == 4


def test_json_matches_direct_poisson_cls():
    d = json.loads(run("--n-obs", "4", "--background", "2.5", "--cl", "0.95", "--method", "exact", "--json"))
    want = brentq(lambda s: stats.poisson.cdf(4, s + 2.5) / stats.poisson.cdf(4, 2.5) - 0.05, 0, 100)
    assert d["upper_limit"] == pytest.approx(want, rel=1e-7)


def test_text_output_and_method_named():
    out = run("--n-obs", "1", "--background", "0.5", "--method", "toys", "--ntoys", "5000")
    assert "[toys]" in out and "expected" in out


def test_bad_method_rejected():
    res = CliRunner().invoke(main, ["upper-limit", "--n-obs", "1", "--background", "1", "--method", "x"])
    assert res.exit_code != 0
