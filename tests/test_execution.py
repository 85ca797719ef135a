"""Executors and chunk sizes give identical results; `na64 run` writes the documented files.

Inputs: two crafted simulation files (110 events each, 1.5e9 and 0.5e9 on target) in one
dataset and one crafted data file (2e9) in another — see tests/test_processor.py for the
hand-computed cut flow of one crafted file.
"""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest
import uproot
import yaml
from click.testing import CliRunner

from analysis.cli import main
from analysis.execution import (
    IncompleteProcessingError,
    inspect_inputs,
    normalize_fileset,
    reconcile,
    run,
)
from analysis.processors import MissingEnergyProcessor
from analysis.processors.crafted import CRAFTED_SELECTION, write_crafted
from analysis.results import hist_from_dict, sort_categories
from analysis.selection import Selection

CUTFLOW = [110, 109, 107, 104, 100, 95, 89, 82, 74, 65, 55, 44, 32, 19, 5]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    mc1 = str(write_crafted(d / "mc1.root", n_on_target=1.5e9))
    mc2 = str(write_crafted(d / "mc2.root", run=2, n_on_target=0.5e9, compression="zlib"))
    data = str(write_crafted(d / "data.root", is_mc=False, n_on_target=2.0e9))
    sel_path = d / "crafted.yaml"
    sel_path.write_text(yaml.safe_dump(CRAFTED_SELECTION, sort_keys=False))
    return {"fileset": {"sim": [mc1, mc2], "data": [data]}, "selection": sel_path,
            "mc1": mc1, "mc2": mc2, "data": data}


@pytest.fixture(scope="module")
def reference(inputs):
    return run(inputs["selection"], inputs["fileset"], executor="iterative",
               chunksize=10_000, progress=False)


def assert_same(a, b):
    assert sorted(a.output) == sorted(b.output)
    for ds in a.output:
        x, y = a[ds], b[ds]
        for key in ("cutflow", "nminusone"):
            np.testing.assert_array_equal(x[key]["events"], y[key]["events"])
            np.testing.assert_allclose(x[key]["weighted"], y[key]["weighted"], rtol=1e-12)
        assert sorted(x["by_process"]) == sorted(y["by_process"])
        for p in x["by_process"]:
            np.testing.assert_array_equal(x["by_process"][p]["events"],
                                          y["by_process"][p]["events"])
        assert x["n_on_target"] == y["n_on_target"] and x["entries"] == y["entries"]
        assert x["files"] == y["files"]
        assert sorted(x["histograms"]) == sorted(y["histograms"])
        for name in x["histograms"]:
            hx, hy = sort_categories(x["histograms"][name]), sort_categories(y["histograms"][name])
            assert hx.axes == hy.axes
            np.testing.assert_allclose(hx.view(flow=True)["value"], hy.view(flow=True)["value"],
                                       rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(hx.view(flow=True)["variance"],
                                       hy.view(flow=True)["variance"], rtol=1e-12, atol=1e-12)


def test_reference_numbers(reference):
    sim, data = reference["sim"], reference["data"]
    assert sim["cutflow"]["events"].tolist() == [2 * c for c in CUTFLOW]
    assert data["cutflow"]["events"].tolist() == CUTFLOW
    assert sim["n_on_target"] == 2.0e9 and data["n_on_target"] == 2.0e9
    assert sim["entries"] == 220 and data["entries"] == 110
    assert reference.settings["executor"] == "iterative"
    assert [(i.dataset, i.entries, i.n_on_target) for i in reference.inputs] == [
        ("sim", 110, 1.5e9), ("sim", 110, 0.5e9), ("data", 110, 2.0e9)]


@pytest.mark.parametrize("chunksize", [7, 100])
def test_iterative_chunksizes(inputs, reference, chunksize):
    assert_same(run(inputs["selection"], inputs["fileset"], executor="iterative",
                    chunksize=chunksize, progress=False), reference)


def test_futures_two_workers(inputs, reference):
    got = run(inputs["selection"], inputs["fileset"], executor="futures", workers=2,
              chunksize=7, progress=False)
    assert got.settings["workers"] == 2
    assert_same(got, reference)


def test_dask_own_local_cluster(inputs, reference):
    got = run(inputs["selection"], inputs["fileset"], executor="dask", workers=2,
              chunksize=7, progress=False)
    assert got.settings["executor"] == "dask" and got.settings["scheduler"] is None
    assert_same(got, reference)


def test_dask_existing_scheduler(inputs, reference):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        for chunksize in (100, 10_000):
            got = run(inputs["selection"], inputs["fileset"], executor="dask",
                      scheduler=cluster.scheduler_address, chunksize=chunksize, progress=False)
            assert got.settings["scheduler"] == cluster.scheduler_address
            assert_same(got, reference)
        # the cluster we passed in is still alive after the runs
        info = cluster.scheduler_info
        assert len((info() if callable(info) else info)["workers"]) == 2


# ----------------------------------------------------------------------------------------
# bookkeeping
# ----------------------------------------------------------------------------------------


class LossyProcessor(MissingEnergyProcessor):
    """Pretends the second half of every chunk was lost (as a skipped file would be)."""

    def process(self, events):
        out = super().process(events)
        for d in out.values():
            for f in d["files"].values():
                f["entries"] = f["entries"] // 2
        return out


def test_shortfall_raises(inputs):
    sel = Selection.from_dict(CRAFTED_SELECTION)
    with pytest.raises(IncompleteProcessingError, match=r"mc1\.root \(dataset sim\): 55 of 110 "
                                                        r"entries processed"):
        run(sel, {"sim": [inputs["mc1"]]}, executor="iterative", progress=False,
            processor_instance=LossyProcessor(sel))
    got = run(sel, {"sim": [inputs["mc1"]]}, executor="iterative", progress=False,
              processor_instance=LossyProcessor(sel), allow_incomplete=True)
    assert len(got.shortfall) == 1
    # maxchunks: partial on purpose, recorded instead of raised
    got = run(sel, {"sim": [inputs["mc1"]]}, executor="iterative", progress=False,
              chunksize=10, maxchunks=2)
    assert got["sim"]["entries"] == 20 and "20 of 110" in got.shortfall[0]


def test_reconcile_lists_every_problem(inputs):
    found = inspect_inputs(normalize_fileset(inputs["fileset"]))
    output = {"sim": {"files": {inputs["mc1"]: {"entries": 110, "n_on_target": 3.0e9}}},
              "other": {"files": {"x.root": {"entries": 1, "n_on_target": 0.0}}}}
    problems = reconcile(output, found)
    assert any("mc1.root (dataset sim): n_on_target counted 3e+09, runinfo has 1.5e+09" in p
               for p in problems)
    assert any("mc2.root (dataset sim): not processed at all" in p for p in problems)
    assert any("data.root (dataset data): not processed at all" in p for p in problems)
    assert any("x.root (dataset other): processed but not in the fileset" in p
               for p in problems)


def test_unreadable_input_is_named(tmp_path, inputs):
    bad = tmp_path / "truncated.root"
    bad.write_bytes(open(inputs["mc1"], "rb").read()[:3000])
    with pytest.raises(OSError, match=r"truncated\.root \(dataset x\): cannot read"):
        run(Selection.from_dict(CRAFTED_SELECTION), {"x": [str(bad)]}, executor="iterative",
            progress=False)
    with pytest.raises(ValueError, match="unknown executor"):
        run(Selection.from_dict(CRAFTED_SELECTION), {"x": [inputs["mc1"]]}, executor="spark")


# ----------------------------------------------------------------------------------------
# the command line and the result files
# ----------------------------------------------------------------------------------------


def test_na64_run_writes_the_documented_files(tmp_path, inputs):
    out = tmp_path / "out"
    args = ["run", str(inputs["selection"]), "--files", inputs["mc1"], inputs["mc2"],
            "--out", str(out), "--executor", "iterative", "--chunksize", "7", "--no-progress"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "mc1: 220 entries, 10 pass all cuts" in res.output  # name = first file's stem
    for name in ("cutflow.json", "cutflow.md", "histograms.root", "histograms.json",
                 "provenance.json"):
        assert (out / name).is_file(), name

    cf = json.loads((out / "cutflow.json").read_text())
    assert cf["selection"] == "crafted" and cf["n_on_target"] == 2.0e9
    ds = cf["datasets"]["mc1"]
    assert set(ds) >= {"n_on_target", "kind", "cuts", "by_process", "nminusone"}
    assert ds["kind"] == "simulation" and ds["n_on_target"] == 2.0e9
    assert [c["name"] for c in ds["cuts"]] == ["all"] + [c["name"] for c in
                                                         CRAFTED_SELECTION["cuts"]]
    assert [c["events"] for c in ds["cuts"]] == [2 * c for c in CUTFLOW]
    assert ds["cuts"][-1]["weighted"] == 5.0
    assert ds["nminusone"]["emiss"] == {"events": 36, "weighted": 2 * 22.0}
    assert ds["by_process"]["signal"]["code"] == 0
    assert [c["events"] for c in ds["by_process"]["signal"]["cuts"]] == [10] * 15

    md = (out / "cutflow.md").read_text()
    assert "| 14 | `hcal` (box) | hcal_veto | 10 | 5 |" in md

    prov = json.loads((out / "provenance.json").read_text())
    assert prov["selection"]["sha256"] == hashlib.sha256(
        inputs["selection"].read_bytes()).hexdigest()
    assert prov["selection"]["name"] == "crafted"
    assert [i["entries"] for i in prov["inputs"]] == [110, 110]
    assert all(len(i["xxh3_64"]) == 16 and i["size"] > 0 for i in prov["inputs"])
    assert prov["execution"]["executor"] == "iterative" and prov["execution"]["chunksize"] == 7
    assert {"python", "coffea", "awkward", "uproot", "hist", "numpy"} <= set(prov["versions"])
    assert prov["command_line"][:3] == ["na64", "run", str(inputs["selection"])]
    assert "--files" in prov["command_line"] and inputs["mc2"] in prov["command_line"]
    assert prov["created"].endswith("+00:00") and prov["shortfall"] == []

    with uproot.open(out / "histograms.root") as f:
        h = f["mc1/ecal_energy/nm1_emiss"]
        assert h.classname == "TH1D"
        assert h.values()[21] == pytest.approx(2 * 2.5) and h.values()[80] == pytest.approx(39.0)
        assert f["mc1/ecal_hcal/all"].classname == "TH2D"
        assert f["mc1/ecal_energy/all__signal"].values().sum() == pytest.approx(5.0)

    hj = json.loads((out / "histograms.json").read_text())
    h = hist_from_dict(hj["datasets"]["mc1"]["ecal_energy"])
    assert list(h.axes["stage"]) == ["all", "vhcal", "nm1_emiss"]
    assert list(h.axes["process"]) == sorted(h.axes["process"])
    assert h[{"stage": "all", "process": sum}].values().sum() == pytest.approx(320.0)


def test_cutflow_json_identical_across_executors_and_chunking(tmp_path, inputs):
    texts = []
    for i, extra in enumerate((["--executor", "iterative", "--chunksize", "10000"],
                               ["--executor", "futures", "--workers", "2", "--chunksize", "7"])):
        out = tmp_path / f"o{i}"
        res = CliRunner().invoke(main, ["run", str(inputs["selection"]), "--files",
                                        inputs["mc1"], inputs["data"], "--name", "mixed",
                                        "--out", str(out), "--no-progress"] + extra)
        assert res.exit_code == 0, res.output
        texts.append((out / "cutflow.json").read_text())
    assert texts[0] == texts[1]
    # one dataset of a simulation and a data file: processed, reported as "mixed"
    assert json.loads(texts[0])["datasets"]["mixed"]["kind"] == "mixed"


def test_cli_usage_errors(tmp_path, inputs):
    r = CliRunner().invoke(main, ["run", str(inputs["selection"]), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "either --dataset NAME or --files" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**CRAFTED_SELECTION, "colour": "red"}))
    r = CliRunner().invoke(main, ["run", str(bad), "--files", inputs["mc1"], "--out",
                                  str(tmp_path / "o"), "--executor", "iterative"])
    assert r.exit_code == 1 and "bad.yaml: colour: unknown key" in r.output


def test_na64_run_dataset_from_manifest_and_plot(tmp_path, inputs):
    datasets = pytest.importorskip("analysis.datasets")
    if not hasattr(datasets, "catalogue_into"):
        pytest.skip("analysis.datasets has no catalogue_into")
    manifest = tmp_path / "manifest.yaml"
    datasets.catalogue_into(manifest, [inputs["mc1"], inputs["mc2"]], "crafted_sim",
                            setup="electron", period="test", kind="simulation",
                            process="crafted")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(inputs["selection"]), "--dataset", "crafted_sim",
                                  "--manifest", str(manifest), "--out", str(out),
                                  "--executor", "iterative", "--no-progress"])
    assert r.exit_code == 0, r.output
    cf = json.loads((out / "cutflow.json").read_text())
    assert cf["datasets"]["crafted_sim"]["n_on_target"] == 2.0e9
    assert cf["datasets"]["crafted_sim"]["kind"] == "simulation"
    r = CliRunner().invoke(main, ["plot", str(out)])
    assert r.exit_code == 0, r.output
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "crafted_sim_cutflow.png" in pngs
    assert "crafted_sim_nm1_ecal_energy_emiss.png" in pngs
    assert "crafted_sim_ecal_hcal_all.png" in pngs
    assert all((out / "plots" / p).stat().st_size > 1000 for p in pngs)
