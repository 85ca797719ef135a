"""Reliability of `na64 run`: checkpoints and resumed runs, bad inputs, skipped files and
exposure, killed workers, bad spills, provenance re-runs, fuzzed files.

Real ROOT files (the crafted sample of analysis.processors.crafted, 110 events per file),
real dask LocalClusters with worker processes; no mocks.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest
import uproot
import yaml
from click.testing import CliRunner

from analysis.cli import main
from analysis.execution import BadInputError, load_bad_spills, run
from analysis.processors import MissingEnergyProcessor
from analysis.processors.crafted import CRAFTED_SELECTION, crafted_events, write_crafted
from analysis.results import (
    ExposureError,
    check_exposure,
    cutflow_document,
    histograms_document,
    write_results,
)
from analysis.rootio import default_runinfo, write_ntuple
from analysis.schema import event_branches
from analysis.selection import Selection

SEL = Selection.from_dict(CRAFTED_SELECTION)
CUTFLOW = [110, 109, 107, 104, 100, 95, 89, 82, 74, 65, 55, 44, 32, 19, 5]


def write_with_spills(path, *, run=1, n_spills=5, n_on_target=1.0e9):
    """The crafted events spread over `n_spills` spills, with a `spills` tree."""
    ev, why = crafted_events(5, is_mc=True)
    n = len(why)
    ev["run"][:] = run
    ev["spill"][:] = np.arange(n) % n_spills
    info = default_runinfo(1, n, n_on_target, run=run, has_vhcal=True, is_mc=True, mc_seed=7)
    pot = np.full(n_spills, n_on_target / n_spills)
    spills = {"run": np.full(n_spills, run), "spill": np.arange(n_spills), "n_on_target": pot}
    return str(write_ntuple(path, ev, info, event_branches(1, True), spills=spills))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel")
    a = str(write_crafted(d / "a.root", n_on_target=1.5e9))
    b = str(write_crafted(d / "b.root", run=2, n_on_target=0.5e9, compression="zlib"))
    c = str(write_crafted(d / "c.root", run=3, n_on_target=1.0e9))
    sel = d / "crafted.yaml"
    sel.write_text(yaml.safe_dump(CRAFTED_SELECTION, sort_keys=False))
    return {"dir": d, "a": a, "b": b, "c": c, "sel": str(sel)}


@pytest.fixture(scope="module")
def reference(files):
    res = run(SEL, {"sim": [files["a"], files["b"]]}, executor="iterative", chunksize=10_000,
              progress=False)
    return docs(res)


def docs(res):
    """The result as written to disk (cutflow.json and histograms.json content)."""
    return (json.dumps(cutflow_document(res), sort_keys=True),
            json.dumps(histograms_document(res), sort_keys=True))


def invoke(args):
    res = CliRunner().invoke(main, args)
    # never a traceback: either success or click's own exit
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res


# ----------------------------------------------------------------------------------------
# checkpoints / resumed runs
# ----------------------------------------------------------------------------------------


class FailOnce(MissingEnergyProcessor):
    """Raises on every chunk starting at or after entry `after` of file `victim` while
    the file `flag` exists: the 'interrupted' first attempt."""

    def __init__(self, selection, victim, after, flag):
        super().__init__(selection)
        self.victim, self.after, self.flag = victim, after, flag

    def process(self, events):
        m = events.metadata
        if os.path.exists(self.flag) and str(m["filename"]) == self.victim \
                and m["entrystart"] >= self.after:
            raise RuntimeError("interrupted")
        return super().process(events)


def test_interrupted_then_resumed_is_identical(files, reference, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ck = tmp_path / "ck"
    flag = tmp_path / "flag"
    flag.write_text("x")
    fs = {"sim": [files["a"], files["b"]]}
    proc = FailOnce(SEL, files["b"], 50, str(flag))
    with pytest.raises(BadInputError, match=r"b\.root \(dataset sim\): processing failed: "
                                            r"entries 50-60: RuntimeError: interrupted"):
        run(SEL, fs, executor="futures", workers=2, chunksize=10, progress=False,
            checkpoint=ck, processor_instance=proc)
    # 11 chunks per file; b's chunks from entry 50 failed and were not stored
    stored = sorted(p.name for p in ck.rglob("*.json") if p.name != "CHECKPOINT.json")
    assert len(stored) == 11 + 5
    flag.unlink()
    got = run(SEL, fs, executor="dask", workers=2, chunksize=10, progress=False,
              checkpoint=ck, processor_instance=proc)
    assert got.chunks == {"total": 22, "from_checkpoint": 16, "processed": 6, "failed": 0}
    assert docs(got) == reference
    # and a third time: nothing left to do
    again = run(SEL, fs, executor="iterative", chunksize=10, progress=False, checkpoint=ck,
                processor_instance=proc)
    assert again.chunks["processed"] == 0 and docs(again) == reference


def test_maxchunks_then_full_run(files, reference, tmp_path):
    ck = tmp_path / "ck"
    fs = {"sim": [files["a"], files["b"]]}
    part = run(SEL, fs, executor="iterative", chunksize=7, maxchunks=5, progress=False,
               checkpoint=ck)
    assert part.chunks["processed"] == 5 and part.shortfall
    full = run(SEL, fs, executor="futures", workers=2, chunksize=7, progress=False,
               checkpoint=ck)
    assert full.chunks == {"total": 32, "from_checkpoint": 5, "processed": 27, "failed": 0}
    assert docs(full) == reference


def test_checkpoint_is_json_and_refuses_foreign_directory(files, tmp_path):
    ck = tmp_path / "ck"
    run(SEL, {"sim": [files["a"]]}, executor="iterative", chunksize=50, progress=False,
        checkpoint=ck)
    chunk = next(p for p in ck.rglob("*.json") if p.name != "CHECKPOINT.json")
    assert json.loads(chunk.read_text())["entrystop"] in (55, 110)  # coffea splits evenly
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        run(SEL, {"sim": [files["a"]]}, executor="iterative", progress=False,
            checkpoint=foreign)
    # a damaged chunk file is processed again, not trusted
    chunk.write_text("{garbage")
    got = run(SEL, {"sim": [files["a"]]}, executor="iterative", chunksize=50, progress=False,
              checkpoint=ck)
    assert got.chunks["processed"] == 1 and got["sim"]["cutflow"]["events"].tolist() == CUTFLOW


def test_cli_resume_default_checkpoint(files, tmp_path):
    out = tmp_path / "out"
    args = ["run", files["sel"], "--files", files["a"], "--out", str(out), "--executor",
            "iterative", "--chunksize", "20", "--no-progress"]
    r1 = invoke(args)
    assert r1.exit_code == 0 and "6 processed" in r1.output
    first = (out / "cutflow.json").read_text()
    assert (out / ".checkpoint" / "CHECKPOINT.json").is_file()
    r2 = invoke(args)
    assert r2.exit_code == 0 and "6 from the checkpoint, 0 processed" in r2.output
    assert (out / "cutflow.json").read_text() == first


# ----------------------------------------------------------------------------------------
# clusters: identical results, killed worker
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2])
def test_local_cluster_workers_identical(files, reference, n):
    got = run(SEL, {"sim": [files["a"], files["b"]]}, cluster=f"local:{n}", chunksize=9,
              progress=False)
    assert got.settings["executor"] == "dask" and got.settings["cluster"] == f"local:{n}"
    assert docs(got) == reference


class Slow(MissingEnergyProcessor):
    def process(self, events):
        time.sleep(0.05)
        return super().process(events)


def test_killed_worker_gives_exact_result(files, reference, tmp_path):
    import cloudpickle
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ck = tmp_path / "ck"
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)

        def killer():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if sum(1 for p in ck.rglob("*.json")) >= 4:  # marker + 3 chunks
                    pid = sorted(pids.values())[0]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.01)

        t = threading.Thread(target=killer)
        t.start()
        got = run(SEL, {"sim": [files["a"], files["b"]]}, executor="dask",
                  scheduler=cluster.scheduler_address, chunksize=3, progress=False,
                  checkpoint=ck, processor_instance=Slow(SEL))
        t.join()
    assert killed, "the worker was not killed during the run"
    assert got.chunks["total"] == 74 and got.chunks["failed"] == 0
    assert docs(got) == reference


# ----------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------


def make_bad(kind, good, d):
    p = d / f"{kind}.root"
    raw = open(good, "rb").read()
    if kind == "corrupt":  # the basket of `trigger` (read only while processing) zeroed
        with uproot.open(good) as f:
            seek = int(f["events"]["trigger"].member("fBasketSeek")[0])
        b = bytearray(raw)
        b[seek + 40: seek + 140] = bytes(100)
        p.write_bytes(bytes(b))
    elif kind == "truncated":
        p.write_bytes(raw[: len(raw) // 2])
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "notroot":
        p.write_text("run,spill\n1,2\n")
    elif kind == "missing_branch":
        ev, why = crafted_events(5, is_mc=True)
        br = tuple(b for b in event_branches(1, True) if b.name != "ecal_t")
        info = default_runinfo(1, len(why), 1e9, run=1, has_vhcal=True, is_mc=True, mc_seed=7)
        write_ntuple(p, {k: v for k, v in ev.items() if k != "ecal_t"}, info, br)
    elif kind == "nan":
        ev, why = crafted_events(5, is_mc=True)
        ev["ecal_main"][3, 0, 0] = np.nan
        info = default_runinfo(1, len(why), 1e9, run=1, has_vhcal=True, is_mc=True, mc_seed=7)
        write_ntuple(p, ev, info, event_branches(1, True))
    return str(p)


BAD_MESSAGES = {
    "corrupt": r"corrupt\.root \(dataset sim\): (cannot read the file|does not follow "
               r"NTUPLE\.md|processing failed)",
    "truncated": r"truncated\.root \(dataset sim\): cannot read the file: file is truncated",
    "empty": r"empty\.root \(dataset sim\): cannot read the file: file is empty",
    "notroot": r"notroot\.root \(dataset sim\): cannot read the file: not a ROOT file",
    "missing_branch": r"missing_branch\.root \(dataset sim\): does not follow NTUPLE\.md: "
                      r"events\.ecal_t",
    "nan": r"nan\.root \(dataset sim\): does not follow NTUPLE\.md: events\.ecal_main: .*NaN",
}


@pytest.mark.parametrize("kind", sorted(BAD_MESSAGES))
def test_bad_input_named_and_skipped(files, tmp_path, kind):
    bad = make_bad(kind, files["a"], tmp_path)
    out = tmp_path / "out"
    base = ["run", files["sel"], "--files", files["a"], bad, files["b"], "--name", "sim",
            "--out", str(out), "--executor", "iterative", "--chunksize", "40", "--no-progress"]
    r = invoke(base)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    import re

    assert re.search(BAD_MESSAGES[kind], r.output), r.output
    assert "--skip-bad-files" in r.output
    assert not (out / "cutflow.json").exists()  # nothing written as a result

    r = invoke(base + ["--skip-bad-files"])
    assert r.exit_code == 0, r.output
    assert "SKIPPED" in r.output
    cf = json.loads((out / "cutflow.json").read_text())
    assert [s["path"] for s in cf["skipped_files"]] == [bad]
    assert re.search(BAD_MESSAGES[kind].split(": ", 1)[1], cf["skipped_files"][0]["reason"])
    # particles on target: exactly the sum over the good files
    assert cf["n_on_target"] == 1.5e9 + 0.5e9
    assert cf["datasets"]["sim"]["cuts"][0]["events"] == 220
    assert cf["exposure"]["processed"] == 2.0e9 and cf["exposure"]["reconciled"] is False
    with pytest.raises(ExposureError, match=rf"skipped {re.escape(bad)}"):
        check_exposure(out)
    assert check_exposure(out, allow_partial=True)["processed"] == 2.0e9


def test_failing_chunk_drops_its_whole_file(files, tmp_path):
    """A file whose 3rd chunk raises: none of its chunks (events or POT) are used."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    flag = tmp_path / "flag"
    flag.write_text("x")
    proc = FailOnce(SEL, files["b"], 60, str(flag))
    fs = {"sim": [files["a"], files["b"], files["c"]]}
    res = run(SEL, fs, executor="futures", workers=2, chunksize=30, progress=False,
              skip_bad_files=True, processor_instance=proc)
    assert [b.path for b in res.skipped] == [files["b"]]
    assert "RuntimeError: interrupted" in res.skipped[0].reason
    assert res["sim"]["n_on_target"] == 1.5e9 + 1.0e9
    assert res["sim"]["cutflow"]["events"].tolist() == [2 * c for c in CUTFLOW]
    assert res.exposure == {"requested": 3.0e9, "processed": 2.5e9, "reconciled": False}
    ok = run(SEL, {"sim": [files["a"], files["b"], files["c"]]}, executor="iterative",
             progress=False)
    assert ok.exposure["reconciled"] is True and not ok.skipped


def test_checksum_mismatch_refused_before_processing(files, tmp_path):
    from analysis.datasets import catalogue_into

    import shutil

    a = tmp_path / "a.root"
    shutil.copy(files["a"], a)
    manifest = tmp_path / "manifest.yaml"
    catalogue_into(manifest, [a], "ds", setup="electron", period="test", kind="simulation",
                   process="crafted")
    raw = bytearray(a.read_bytes())
    raw[-10] ^= 0xFF  # same size, different bytes
    a.write_bytes(bytes(raw))
    out = tmp_path / "out"
    r = invoke(["run", files["sel"], "--dataset", "ds", "--manifest", str(manifest), "--out",
                str(out), "--executor", "iterative", "--no-progress"])
    assert r.exit_code == 1 and "checksum is xxh64:" in r.output and "a.root" in r.output
    assert not out.exists()


@pytest.mark.parametrize("seed", range(20))
def test_fuzzed_bytes_never_traceback(files, tmp_path, seed):
    clean = tmp_path / "clean"
    invoke(["run", files["sel"], "--files", files["a"], "--name", "f", "--out", str(clean),
            "--executor", "iterative", "--no-progress", "--no-checkpoint"])
    rng = np.random.default_rng(seed)
    raw = bytearray(open(files["a"], "rb").read())
    for pos in rng.integers(0, len(raw), size=int(rng.integers(1, 20))):
        raw[pos] = int(rng.integers(0, 256))
    p = tmp_path / "fuzz.root"
    p.write_bytes(bytes(raw))
    out = tmp_path / "out"
    r = invoke(["run", files["sel"], "--files", str(p), "--name", "f", "--out", str(out),
                "--executor", "iterative", "--no-progress", "--no-checkpoint"])
    assert r.exit_code in (0, 1), r.output
    assert "Traceback" not in r.output
    if r.exit_code == 1:
        assert "fuzz.root" in r.output
    else:
        got = json.loads((out / "cutflow.json").read_text())
        ref = json.loads((clean / "cutflow.json").read_text())
        assert got == ref, "corruption changed the result without being reported"


# ----------------------------------------------------------------------------------------
# bad spills
# ----------------------------------------------------------------------------------------


def test_bad_spills(tmp_path, files):
    f1 = write_with_spills(tmp_path / "s1.root", run=10)
    f2 = write_with_spills(tmp_path / "s2.root", run=11)
    csvf = tmp_path / "bad.csv"
    csvf.write_text("run,spill\n10,1\n10,3\n# comment\n99,0\n")
    yml = tmp_path / "bad.yaml"
    yml.write_text(yaml.safe_dump([[10, 1], {"run": 10, "spill": 3}, [99, 0]]))
    assert load_bad_spills(csvf) == load_bad_spills(yml) == [(10, 1), (10, 3), (99, 0)]
    res = run(SEL, {"s": [f1, f2]}, executor="iterative", chunksize=25, progress=False,
              bad_spills=csvf)
    ev, why = crafted_events(5, is_mc=True)
    spill = np.arange(len(why)) % 5
    keep = ~np.isin(spill, [1, 3])
    d = res["s"]
    assert d["bad_spills"]["events"] == int(np.count_nonzero(~keep))
    assert d["entries"] == 2 * 110
    assert d["n_on_target"] == pytest.approx(1.0e9 * 3 / 5 + 1.0e9, rel=1e-15)
    # the cut flow starts after the spill filter: the kept events of file 1 + all of file 2
    passed = np.array(why) == "pass"
    assert d["cutflow"]["events"][0] == int(keep.sum()) + 110
    assert d["cutflow"]["events"][-1] == int((passed & keep).sum()) + 5
    doc = cutflow_document(res)
    cuts = doc["datasets"]["s"]["cuts"]
    assert [c["name"] for c in cuts[:3]] == ["all", "good_spills", "trigger"]
    assert cuts[0]["events"] == 220 and cuts[1]["events"] == int(keep.sum()) + 110
    assert doc["datasets"]["s"]["bad_spills"]["n_on_target_removed"] == pytest.approx(4e8)
    # identical however chunked, and via the CLI with the YAML list
    out = tmp_path / "out"
    r = invoke(["run", files["sel"], "--files", f1, f2, "--name", "s", "--out", str(out),
                "--executor", "futures", "--workers", "2", "--chunksize", "7",
                "--bad-spills", str(yml), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "cutflow.json").read_text()) == json.loads(json.dumps(doc))
    # a file without a spills tree holding a listed run is refused
    r = invoke(["run", files["sel"], "--files", files["a"], "--out", str(tmp_path / "o2"),
                "--executor", "iterative", "--no-progress", "--bad-spills", str(tmp_path /
                                                                                "b1.csv")])
    assert r.exit_code != 0
    (tmp_path / "b1.csv").write_text("1,4\n")
    r = invoke(["run", files["sel"], "--files", files["a"], "--out", str(tmp_path / "o2"),
                "--executor", "iterative", "--no-progress", "--bad-spills",
                str(tmp_path / "b1.csv")])
    assert r.exit_code == 1 and "a.root (dataset a): bad spills are listed for run(s) [1] " \
        "but the file has no `spills` tree" in r.output
    (tmp_path / "b2.csv").write_text("1;4\n")
    r = invoke(["run", files["sel"], "--files", files["a"], "--out", str(tmp_path / "o2"),
                "--executor", "iterative", "--no-progress", "--bad-spills",
                str(tmp_path / "b2.csv")])
    assert r.exit_code == 1 and "b2.csv:1: expected two columns" in r.output


# ----------------------------------------------------------------------------------------
# provenance re-runs
# ----------------------------------------------------------------------------------------


def test_rerun_from_provenance(files, tmp_path):
    f1 = write_with_spills(tmp_path / "s1.root", run=10)
    bad = make_bad("truncated", files["a"], tmp_path)
    (tmp_path / "bad.csv").write_text("10,2\n")
    out = tmp_path / "out"
    r = invoke(["run", files["sel"], "--files", f1, files["b"], bad, "--name", "mix",
                "--out", str(out), "--executor", "futures", "--workers", "2", "--chunksize",
                "30", "--bad-spills", str(tmp_path / "bad.csv"), "--skip-bad-files",
                "--no-progress"])
    assert r.exit_code == 0, r.output
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["selection"]["text"] == open(files["sel"]).read()
    assert prov["bad_spills"] == [[10, 2]]
    assert prov["datasets"]["mix"]["files"] == [f1, files["b"], bad]
    assert prov["execution"]["chunksize"] == 30 and prov["execution"]["skip_bad_files"]
    assert {"coffea", "dask", "distributed"} <= set(prov["versions"])
    assert "--bad-spills" in prov["command_line"]
    os.remove(tmp_path / "bad.csv")  # the record alone is enough
    r = invoke(["rerun", str(out / "provenance.json"), "--out", str(tmp_path / "again"),
                "--executor", "iterative", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again" / "cutflow.json").read_text() == \
        (out / "cutflow.json").read_text()
    assert (tmp_path / "again" / "histograms.json").read_text() == \
        (out / "histograms.json").read_text()
    # a changed input is refused
    raw = bytearray(open(files["b"], "rb").read())
    changed = tmp_path / "b_copy.root"
    changed.write_bytes(bytes(raw))
    prov["inputs"][1]["path"] = str(changed)
    prov["datasets"]["mix"]["files"][1] = str(changed)
    raw[-5] ^= 0xFF
    changed.write_bytes(bytes(raw))
    (tmp_path / "p2.json").write_text(json.dumps(prov))
    r = invoke(["rerun", str(tmp_path / "p2.json"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "b_copy.root: checksum is now" in r.output
    assert not (tmp_path / "x").exists()


def test_write_results_records_exposure(files, tmp_path):
    res = run(SEL, {"sim": [files["a"]]}, executor="iterative", progress=False)
    write_results(res, tmp_path)
    cf = json.loads((tmp_path / "cutflow.json").read_text())
    assert cf["skipped_files"] == []
    assert cf["exposure"] == {"requested": 1.5e9, "processed": 1.5e9, "reconciled": True}
    assert check_exposure(tmp_path)["reconciled"] is True
    with uproot.open(files["a"]) as f:
        assert "spills" not in f
