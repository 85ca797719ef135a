"""NTUPLE.md validation, the NA64Schema coffea schema and `na64 validate`.

Every file here is crafted with known content (analysis.rootio writers, or raw uproot
`mktree` for files the writer would refuse to produce); expectations come from what was
written, never from what the code printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

from analysis.cli import main
from analysis.rootio import default_events, default_runinfo, write_ntuple
from analysis.schema import (
    EVENTS_COMMON,
    RUNINFO,
    NA64Schema,
    event_branches,
    markdown_codes,
    markdown_tables,
    tree_types,
    validate_file,
    validate_files,
)

N = 10
ROOT = Path(__file__).resolve().parents[1]


def good_file(path: Path, *, n: int = N, setup: int = 1, is_mc: bool = False,
              has_vhcal: bool = True, n_on_target: float = 1000.0, spills=True,
              events=None, runinfo=None, branches=None) -> Path:
    """A file that follows NTUPLE.md; keyword overrides make it break in one known way."""
    br = branches or event_branches(setup, is_mc)
    ev = default_events(n, event_branches(setup, is_mc), has_vhcal=has_vhcal)
    ev.update(events or {})
    ri = default_runinfo(setup, n, n_on_target, has_vhcal=has_vhcal, is_mc=is_mc,
                         mc_seed=7 if is_mc else -1)
    for k, v in (runinfo or {}).items():
        ri[k] = np.asarray([v], dtype=ri[k].dtype)
    sp = None
    if spills:
        sp = {"run": [1, 1, 1], "spill": [1, 2, 3],
              "n_on_target": [n_on_target * 0.5, n_on_target * 0.25, n_on_target * 0.25]}
        if isinstance(spills, dict):
            sp.update(spills)
    return write_ntuple(path, ev, ri, br, spills=sp)


def raw_file(path: Path, *, n: int = N, types=None, values=None, trees=("events", "runinfo"),
             runinfo_entries: bool = True, hit_own_counter: bool = False,
             runinfo=None) -> Path:
    """Write with uproot directly, to make type/shape/tree defects the writer cannot."""
    br = event_branches(1, False)
    ev = default_events(n, br)
    t = tree_types(br)
    data = {k: ev[k] for k in t}
    for k, v in (types or {}).items():
        t[k] = v
        data[k] = np.asarray(values[k]) if values and k in values else \
            np.zeros((n,) + v.shape, dtype=v.base)
    hits = ak.zip({f: ak.values_astype(ak.from_regular(ev[f"hit_{f}"], axis=1), dt)
                   for f, dt in (("station", "int8"), ("x", "float32"), ("y", "float32"))})
    with uproot.recreate(path) as f:
        if "events" in trees:
            if hit_own_counter:  # hit_x as its own jagged branch: counter is not n_hits
                t["hit_x"] = ak.types.ListType(ak.types.NumpyType("float32"))
                data["hit_x"] = hits.x
                t["hit"] = ak.types.ListType(ak.types.RecordType(
                    [ak.types.NumpyType("int8"), ak.types.NumpyType("float32")],
                    ["station", "y"]))
                data["hit"] = ak.zip({"station": hits.station, "y": hits.y})
                counter = lambda name: "n_hits" if name == "hit" else "n_" + name  # noqa: E731
            else:
                t["hit"] = ak.types.ListType(ak.types.RecordType(
                    [ak.types.NumpyType("int8"), ak.types.NumpyType("float32"),
                     ak.types.NumpyType("float32")], ["station", "x", "y"]))
                data["hit"] = hits
                counter = lambda name: "n_hits"  # noqa: E731
            tree = f.mktree("events", t, counter_name=counter,
                            field_name=lambda outer, inner: f"{outer}_{inner}")
            tree.extend(data)
        if "runinfo" in trees:
            rtree = f.mktree("runinfo", tree_types(RUNINFO))
            if runinfo_entries:
                ri = default_runinfo(1, n, 1000.0)
                for k, v in (runinfo or {}).items():
                    ri[k][:] = v
                rtree.extend(ri)
    return path


def problems_of(path):
    report = validate_file(path)
    return report, [(p.code, p.tree, p.branch) for p in report.problems]


# ------------------------------------------------------------------------------ good files

@pytest.mark.parametrize("setup,is_mc,has_vhcal,spills", [
    (1, False, True, True), (2, True, False, False), (3, True, False, True),
    (4, False, True, False),
])
def test_good_files_pass(tmp_path, setup, is_mc, has_vhcal, spills):
    path = good_file(tmp_path / "good.root", setup=setup, is_mc=is_mc, has_vhcal=has_vhcal,
                     spills=spills)
    report = validate_file(path)
    assert report.ok, [str(p) for p in report.problems]
    assert report.entries == N
    assert report.to_dict()["ok"] is True


def test_nan_allowed_where_a_measurement_can_be_missing(tmp_path):
    """NTUPLE.md: a missing measurement is NaN (beam track, times, outgoing muon)."""
    ev = default_events(N, event_branches(3, True))
    for name in ("beam_p", "beam_chi2", "beam_x", "beam_y", "srd_t", "ecal_t", "hcal_t",
                 "mu_p_out", "mu_chi2_out", "mu_theta_out"):
        ev[name][::2] = np.nan
    path = good_file(tmp_path / "nan_ok.root", setup=3, is_mc=True, events=ev)
    assert validate_file(path).ok


def test_nan_flags_follow_ntuple_md():
    """Only branches NTUPLE.md describes as possibly unmeasured (or NaN for backgrounds /
    without VHCAL) may hold NaN; detector energies, hit positions and MC truth may not."""
    table = {b.name: b.nan_allowed for b in EVENTS_COMMON + RUNINFO}
    for name in ("ecal_pre", "ecal_main", "hcal_e", "srd_e", "veto_e", "hit_x", "hit_y",
                 "beam_energy", "n_on_target"):
        assert table[name] is False, name
    for name in ("beam_p", "beam_x", "beam_y", "vhcal_e", "mc_mass"):
        assert table[name] is True, name


# ------------------------------------------------------------------ one defect, one problem

def _nan_event7(name, shape_index):
    def make(tmp):
        ev = default_events(N, event_branches(1, False))
        if name.startswith("hit_"):
            arr = ak.to_numpy(ev[name]).copy()
            arr[7, 2] = np.nan
            ev[name] = ak.Array(arr)
        else:
            ev[name][(7,) + shape_index] = np.nan
        return good_file(tmp / "f.root", events=ev)
    return make


CASES = {
    "missing events tree": (lambda tmp: raw_file(tmp / "f.root", trees=("runinfo",)),
                            ("tree-missing", "events", None)),
    "missing runinfo tree": (lambda tmp: raw_file(tmp / "f.root", trees=("events",)),
                             ("tree-missing", "runinfo", None)),
    "missing branch": (lambda tmp: good_file(
        tmp / "f.root", branches=tuple(b for b in event_branches(1, False)
                                       if b.name != "hcal_t")),
        ("branch-missing", "events", "hcal_t")),
    "wrong dtype": (lambda tmp: raw_file(tmp / "f.root", types={"hcal_t": np.dtype("f8")}),
                    ("wrong-type", "events", "hcal_t")),
    "wrong shape": (lambda tmp: raw_file(
        tmp / "f.root", types={"hcal_e": np.dtype(("f4", (4, 3)))}),
        ("wrong-shape", "events", "hcal_e")),
    "jagged with its own counter": (lambda tmp: raw_file(tmp / "f.root", hit_own_counter=True),
                                    ("wrong-counter", "events", "hit_x")),
    "wrong schema_version": (lambda tmp: good_file(tmp / "f.root",
                                                   runinfo={"schema_version": 2}),
                             ("schema-version", "runinfo", "schema_version")),
    "empty runinfo": (lambda tmp: raw_file(tmp / "f.root", runinfo_entries=False),
                      ("runinfo-empty", "runinfo", None)),
    "n_events mismatch": (lambda tmp: good_file(tmp / "f.root", runinfo={"n_events": N + 1}),
                          ("n-events-mismatch", "runinfo", "n_events")),
    "NaN in ecal_main": (_nan_event7("ecal_main", (3, 3)), ("nan", "events", "ecal_main")),
    "NaN in hit_x": (_nan_event7("hit_x", ()), ("nan", "events", "hit_x")),
    "spills mismatch": (lambda tmp: good_file(tmp / "f.root",
                                              spills={"n_on_target": [500.0, 250.0, 200.0]}),
                        ("spills-mismatch", "spills", "n_on_target")),
    "vhcal measured without VHCAL": (lambda tmp: good_file(
        tmp / "f.root", has_vhcal=False,
        events={"vhcal_e": np.zeros((N, 4), np.float32)}),
        ("vhcal-not-nan", "events", "vhcal_e")),
    "muon branch missing": (lambda tmp: good_file(
        tmp / "f.root", setup=3, branches=tuple(b for b in event_branches(3, False)
                                                if b.name != "mu_p_out")),
        ("branch-missing", "events", "mu_p_out")),
    "MC branch missing": (lambda tmp: good_file(
        tmp / "f.root", is_mc=True, branches=tuple(b for b in event_branches(1, True)
                                                   if b.name != "mc_weight")),
        ("branch-missing", "events", "mc_weight")),
    "unknown run": (lambda tmp: good_file(tmp / "f.root",
                                          events={"run": np.full(N, 5, np.int32)}),
                    ("unknown-run", "events", "run")),
    "truncated file": (lambda tmp: _truncate(good_file(tmp / "f.root"), 0.6),
                       ("truncated", None, None)),
    "non-ROOT file": (lambda tmp: _text(tmp / "f.root", "run,event\n1,2\n"),
                      ("not-root", None, None)),
    "missing file": (lambda tmp: tmp / "f.root", ("file-missing", None, None)),
    "RNTuple instead of TTree": (lambda tmp: _rntuple(tmp / "f.root"),
                                 ("not-ttree", "events", None)),
}


def _truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _rntuple(path: Path) -> Path:
    with uproot.recreate(path) as f:
        f["events"] = {"run": np.ones(N, np.int32)}
        f.mktree("runinfo", tree_types(RUNINFO)).extend(default_runinfo(1, N, 1.0))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_defect_gives_its_own_problem(tmp_path, case):
    make, expected = CASES[case]
    path = make(tmp_path)
    report, found = problems_of(path)
    assert found == [expected], [str(p) for p in report.problems]
    problem = report.problems[0]
    text = str(problem)
    assert str(path) in text  # names the file
    if expected[2]:
        assert expected[2] in problem.message or expected[2] in text  # names the branch
    if expected[1] and not expected[2]:
        assert f"'{expected[1]}'" in problem.message or expected[1] in problem.message


def test_messages_are_distinct(tmp_path):
    messages = {}
    for case, (make, _) in CASES.items():
        folder = tmp_path / case.replace(" ", "_")
        folder.mkdir()
        report = validate_file(make(folder))
        messages[case] = report.problems[0].message
    assert len(set(messages.values())) == len(messages), messages


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    path = raw_file(tmp_path / "multi.root",
                    types={"hcal_t": np.dtype("f8"), "hcal_e": np.dtype(("f4", (4, 3)))},
                    runinfo={"schema_version": 3})
    _, found = problems_of(path)
    assert set(found) == {("wrong-type", "events", "hcal_t"),
                          ("wrong-shape", "events", "hcal_e"),
                          ("schema-version", "runinfo", "schema_version")}


def test_nan_scan_in_small_chunks_counts_and_locates(tmp_path):
    """The chunked scan (step_size entries) must find NaN across chunk boundaries."""
    ev = default_events(N, event_branches(1, False))
    ev["veto_e"][[2, 7, 8], 1] = np.nan
    path = good_file(tmp_path / "f.root", events=ev)
    report = validate_file(path, step_size=3)
    (problem,) = report.problems
    assert (problem.code, problem.branch) == ("nan", "veto_e")
    assert problem.message.startswith(f"3 of {N} entries contain NaN (first at entry 2)")


def test_validate_files_keeps_order(tmp_path):
    good = good_file(tmp_path / "a.root")
    reports = validate_files([tmp_path / "missing.root", good])
    assert [r.ok for r in reports] == [False, True]
    assert reports[0].file == str(tmp_path / "missing.root")


# ----------------------------------------------------------------------------------- CLI

def test_cli_validate_exit_codes_and_json(tmp_path):
    good = good_file(tmp_path / "good.root")
    bad = good_file(tmp_path / "bad.root", runinfo={"schema_version": 2})
    runner = CliRunner()
    ok = runner.invoke(main, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    assert str(good) in ok.output
    fail = runner.invoke(main, ["validate", str(good), str(bad)])
    assert fail.exit_code == 1
    assert str(bad) in fail.output and "schema_version" in fail.output
    js = runner.invoke(main, ["validate", "--json", str(good), str(bad)])
    assert js.exit_code == 1
    data = json.loads(js.output)
    assert [d["ok"] for d in data] == [True, False]
    assert data[1]["problems"][0]["branch"] == "schema_version"
    assert data[1]["problems"][0]["file"] == str(bad)
    missing = runner.invoke(main, ["validate", str(tmp_path / "nope.root")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


# ------------------------------------------------------------------------- coffea schema

def _crafted_events(n: int, seed: int, setup: int = 1, is_mc: bool = False):
    rng = np.random.default_rng(seed)
    ev = default_events(n, event_branches(setup, is_mc))
    ev["hcal_e"][:] = rng.uniform(0, 5, size=(n, 4, 3, 3)).astype(np.float32)
    ev["ecal_main"][:] = rng.uniform(0, 100, size=(n, 6, 6)).astype(np.float32)
    ev["srd_e"][:] = rng.uniform(0, 1, size=(n, 3)).astype(np.float32)
    counts = rng.integers(0, 6, size=n)
    ev["n_hits"] = counts.astype(np.int32)
    ev["hit_station"] = ak.unflatten(rng.integers(0, 4, counts.sum()).astype(np.int8), counts)
    ev["hit_x"] = ak.unflatten(rng.normal(0, 10, counts.sum()).astype(np.float32), counts)
    ev["hit_y"] = ak.unflatten(rng.normal(0, 10, counts.sum()).astype(np.float32), counts)
    ev["trigger"][:] = rng.integers(0, 4, n)
    if setup == 3:
        ev["mu_p_out"][:] = rng.uniform(50, 160, n).astype(np.float32)
    if is_mc:
        ev["mc_invisible_e"][:] = rng.uniform(0, 100, n).astype(np.float32)
    return ev


def _events(path):
    from coffea.nanoevents import NanoEventsFactory

    log: list = []
    events = NanoEventsFactory.from_root({str(path): "events"}, schemaclass=NA64Schema,
                                         mode="virtual", access_log=log).events()
    return events, log


def test_schema_groups_and_round_trips(tmp_path):
    ev = _crafted_events(25, seed=1)
    path = good_file(tmp_path / "e.root", n=25, events=ev)
    events, log = _events(path)
    assert {"run", "spill", "event", "trigger", "n_hits"} <= set(events.fields)
    assert {"ECAL", "HCAL", "SRD", "VETO", "VHCAL", "Beam", "Hits"} <= set(events.fields)
    assert "MC" not in events.fields and "Muon" not in events.fields  # electron data
    assert not {"hcal_e", "ecal_pre", "hit_x"} & set(events.fields)
    assert set(events.ECAL.fields) == {"pre", "main", "t"}
    assert set(events.Hits.fields) == {"station", "x", "y"}

    hcal = ak.to_numpy(ak.materialize(events.HCAL.e))  # regular: converts to a 4-D array
    assert hcal.shape == (25, 4, 3, 3)
    assert np.array_equal(hcal, ev["hcal_e"])
    assert {a.branch for a in log} == {"hcal_e"}  # only the touched branch was read

    assert np.array_equal(ak.to_numpy(ak.materialize(events.ECAL.main)), ev["ecal_main"])
    hits = ak.materialize(events.Hits)
    assert ak.to_list(ak.num(hits, axis=1)) == ev["n_hits"].tolist()
    assert ak.to_list(hits.x) == ak.to_list(ev["hit_x"])
    assert ak.to_list(hits.station) == ak.to_list(ev["hit_station"])
    assert ak.to_list(ak.materialize(events.trigger)) == ev["trigger"].tolist()


def test_schema_muon_and_mc_groups(tmp_path):
    ev = _crafted_events(8, seed=2, setup=3, is_mc=True)
    path = good_file(tmp_path / "mu.root", n=8, setup=3, is_mc=True, events=ev)
    events, _ = _events(path)
    assert set(events.Muon.fields) == {"p_out", "chi2_out", "n_tracks_out", "theta_out"}
    assert set(events.MC.fields) == {"process", "weight", "invisible_e", "mass"}
    assert np.array_equal(ak.to_numpy(ak.materialize(events.Muon.p_out)), ev["mu_p_out"])
    assert np.array_equal(ak.to_numpy(ak.materialize(events.MC.invisible_e)),
                          ev["mc_invisible_e"])


def _processor():
    """A minimal coffea processor: events, total HCAL energy and hits per dataset."""
    from coffea import processor

    class SumHCAL(processor.ProcessorABC):
        def process(self, events):
            hcal = ak.values_astype(events.HCAL.e, np.float64)
            return {events.metadata["dataset"]: {"n": len(events),
                                                  "hcal": float(ak.sum(hcal, axis=None)),
                                                  "hits": int(ak.sum(ak.num(events.Hits)))}}

        def postprocess(self, acc):
            return acc

    return SumHCAL()


def test_schema_with_runner(tmp_path):
    from coffea import processor

    ev1 = _crafted_events(30, seed=3)
    ev2 = _crafted_events(20, seed=4)
    f1 = good_file(tmp_path / "a.root", n=30, events=ev1)
    f2 = good_file(tmp_path / "b.root", n=20, events=ev2)
    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=NA64Schema,
                              chunksize=7)
    out = runner({"bkg": {"files": {str(f1): "events", str(f2): "events"}}},
                 processor_instance=_processor(), treename="events")
    assert out["bkg"]["n"] == 50
    assert out["bkg"]["hits"] == int(ev1["n_hits"].sum() + ev2["n_hits"].sum())
    expected = float(ev1["hcal_e"].astype(np.float64).sum()
                     + ev2["hcal_e"].astype(np.float64).sum())
    assert out["bkg"]["hcal"] == pytest.approx(expected, rel=1e-9)


# -------------------------------------------------------------------------------- docs

def test_docs_state_the_table_as_implemented():
    doc = (ROOT / "docs" / "ntuple.md").read_text()
    assert markdown_tables() in doc
    assert markdown_codes() in doc
