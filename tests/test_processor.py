"""The missing-energy processor on a hand-crafted file: every event fails exactly one cut.

The crafted sample (analysis/processors/crafted.py): 5 events pass every cut (mc_weight 0.5,
mc_process 0) and, for the i-th of the 14 cuts, i events fail that cut only (mc_weight 1.5)
— 110 events. Expected numbers below are worked out by hand from that recipe.
"""

from __future__ import annotations

import contextlib
import copy

import hist
import numpy as np
import pytest
from coffea import processor
from coffea.nanoevents import BaseSchema

from analysis.codes import Process
from analysis.execution import RunResult, schema_class
from analysis.processors import (MissingEnergyProcessor, MissingMomentumProcessor,
                                 ProcessingError, processor_for)
from analysis.processors.crafted import CRAFTED_SELECTION, crafted_events, write_crafted
from analysis.results import cutflow_document
from analysis.rootio import default_events, default_runinfo, write_ntuple
from analysis.schema import EVENTS_COMMON, event_branches
from analysis.selection import Selection

LABELS = [c["name"] for c in CRAFTED_SELECTION["cuts"]]
# after cut i (0 = all): 110 - (1 + 2 + ... + i)
CUTFLOW = [110, 109, 107, 104, 100, 95, 89, 82, 74, 65, 55, 44, 32, 19, 5]
# 5 x 0.5 + 1.5 x (events failing a later cut)
CUTFLOW_W = [160.0, 158.5, 155.5, 151.0, 145.0, 137.5, 128.5, 118.0, 106.0, 92.5, 77.5, 61.0,
             43.0, 23.5, 2.5]
NM1 = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]          # 5 + i
NM1_W = [4.0, 5.5, 7.0, 8.5, 10.0, 11.5, 13.0, 14.5, 16.0, 17.5, 19.0, 20.5, 22.0, 23.5]


@contextlib.contextmanager
def refused(match):
    """pytest.raises for a ProcessingError, which coffea re-raises wrapped (the message and
    the original error stay in the exception chain)."""
    with pytest.raises(Exception, match=match) as info:
        yield info
    chain, e = [], info.value
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    assert any(isinstance(c, ProcessingError) for c in chain), chain


def selection(**changes) -> Selection:
    cfg = copy.deepcopy(CRAFTED_SELECTION)
    cfg.update(changes)
    return Selection.from_dict(cfg)


def process(files, sel, *, chunksize=10_000, schema="auto", dataset="crafted"):
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False, retries=0),
                              schema=schema_class(schema), chunksize=chunksize,
                              metadata_cache={})
    return runner({dataset: files}, processor_instance=MissingEnergyProcessor(sel),
                  treename="events")[dataset]


@pytest.fixture(scope="module")
def mc_file(tmp_path_factory):
    return str(write_crafted(tmp_path_factory.mktemp("mc") / "crafted.root"))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return str(write_crafted(tmp_path_factory.mktemp("data") / "data.root", is_mc=False,
                             n_on_target=2.0e9))


def test_each_crafted_event_fails_exactly_one_cut():
    ev, why = crafted_events()
    masks = selection().evaluate(ev)
    failed = np.array([[not m[i] for m in masks.values()] for i in range(len(why))])
    assert failed.sum(axis=1).tolist() == [0 if w == "pass" else 1 for w in why]
    for i, w in enumerate(why):
        if w != "pass":
            assert LABELS[int(np.argmax(failed[i]))] == w


@pytest.mark.parametrize("schema", ["base", "na64"])
def test_cutflow_nminusone_and_weights(mc_file, schema):
    if schema == "na64" and schema_class("auto") is BaseSchema:
        pytest.skip("analysis.schema has no NA64Schema")
    out = process([mc_file], selection(), schema=schema)
    assert out["cutflow"]["events"].tolist() == CUTFLOW
    assert out["cutflow"]["events"].dtype == np.int64
    np.testing.assert_allclose(out["cutflow"]["weighted"], CUTFLOW_W, rtol=0, atol=1e-9)
    assert out["nminusone"]["events"].tolist() == NM1
    np.testing.assert_allclose(out["nminusone"]["weighted"], NM1_W, rtol=0, atol=1e-9)
    assert out["entries"] == 110 and out["n_on_target"] == 1.5e9
    assert out["kind"] == {"mc": 1}


def test_cutflow_by_process(mc_file):
    bp = process([mc_file], selection())["by_process"]
    assert sorted(bp) == sorted({0, 1, 2, 3, 4, 6, 7, 9})
    assert bp[Process.SIGNAL]["events"].tolist() == [5] * 15
    # em_shower: 1 fails the trigger, 13 fail the missing-energy cut
    assert bp[Process.EM_SHOWER]["events"].tolist() == [14] + [13] * 12 + [0, 0]
    assert bp[Process.ELECTRONUCLEAR_HCAL]["events"].tolist() == [14] * 14 + [0]
    assert bp[Process.DIMUON]["events"].tolist() == [10] * 10 + [0] * 5
    assert bp[Process.LOW_ENERGY_TAIL]["events"].tolist() == [2, 2] + [0] * 13
    np.testing.assert_allclose(bp[Process.DIMUON]["weighted"], [15.0] * 10 + [0.0] * 5)
    total = sum(p["events"] for p in bp.values())
    assert total.tolist() == CUTFLOW


def test_histograms(mc_file):
    h = process([mc_file], selection())["histograms"]
    e = h["ecal_energy"]
    assert [a.name for a in e.axes] == ["stage", "process", "ecal_energy"]
    assert list(e.axes["stage"]) == ["all", "vhcal", "nm1_emiss"]
    allv = e[{"stage": "all", "process": sum}]  # weighted sums (storage Weight)
    # E_ECAL: 20.2 GeV for the 8 preshower failures, 80 GeV for the 13 emiss failures,
    # 21 GeV for the other 89 events (5 passing at 0.5, 84 failing at 1.5)
    assert allv.values()[20] == pytest.approx(8 * 1.5)
    assert allv.values()[80] == pytest.approx(13 * 1.5)
    assert allv.values()[21] == pytest.approx(5 * 0.5 + 84 * 1.5)
    assert allv.values().sum() == pytest.approx(160.0)
    assert allv.variances()[21] == pytest.approx(5 * 0.25 + 84 * 2.25)
    w = e[{"stage": "all"}]  # weighted sums per process
    assert w[{"process": hist.loc(0)}].values()[21] == pytest.approx(2.5)
    nm1 = e[{"stage": "nm1_emiss", "process": sum}]
    assert nm1.values()[21] == pytest.approx(2.5) and nm1.values()[80] == pytest.approx(19.5)
    assert nm1.variances()[80] == pytest.approx(13 * 1.5**2)
    assert nm1.values().sum() == pytest.approx(22.0)
    # after the vhcal cut: 5 passing + 13 emiss + 14 hcal failures, all at 21 or 80 GeV
    assert e[{"stage": "vhcal", "process": sum}].values()[80] == pytest.approx(19.5)
    # 2D: the 14 HCAL failures (E_HCAL 5 GeV) sit in y bin [1, 10), x bin [20, 30)
    p = h["ecal_hcal"][{"stage": "all", "process": sum}]
    assert p.values()[2, 1] == pytest.approx(14 * 1.5)
    assert p.values()[:, 1].sum() == pytest.approx(14 * 1.5)
    # srd_energy has three entries per event: 4 srd failures have 0.1 MeV in module 2
    s = h["srd_energy"][{"stage": "all", "process": sum}]
    assert s.values()[0] == pytest.approx(4 * 1.5) and s.values()[2] == pytest.approx(
        160.0 * 3 - 4 * 1.5)


def test_n_on_target_not_double_counted_over_chunks(tmp_path, mc_file):
    second = str(write_crafted(tmp_path / "second.root", run=2, n_on_target=0.5e9))
    for chunksize in (7, 50, 110, 10_000):
        out = process([mc_file, second], selection(), chunksize=chunksize)
        assert out["n_on_target"] == 2.0e9, chunksize
        assert out["entries"] == 220
        assert out["files"] == {mc_file: {"entries": 110, "n_on_target": 1.5e9},
                                second: {"entries": 110, "n_on_target": 0.5e9}}
        assert out["cutflow"]["events"].tolist() == [2 * c for c in CUTFLOW]
    assert process([mc_file], selection(), chunksize=7)["kind"] == {"mc": 16}  # 16 chunks


def test_data_weights_are_one_and_process_is_minus_one(data_file):
    out = process([data_file], selection())
    assert out["cutflow"]["events"].tolist() == CUTFLOW
    np.testing.assert_array_equal(out["cutflow"]["weighted"], np.array(CUTFLOW, float))
    assert out["by_process"] == {} and out["kind"] == {"data": 1}
    assert list(out["histograms"]["ecal_energy"].axes["process"]) == [-1]
    assert out["n_on_target"] == 2.0e9


def test_blinding_hides_the_signal_box_in_data(data_file, mc_file):
    sel = selection(blinding=True)
    out = process([data_file], sel)
    # cut flow up to the box is unchanged; box entries are withheld
    assert out["cutflow"]["events"].tolist() == CUTFLOW[:13] + [0, 0]
    # inside the box = passing emiss and hcal: all but the 13 + 14 events failing them
    e = out["histograms"]["ecal_energy"][{"stage": "all", "process": sum}]
    assert e.values().sum() == 27
    # N-1 of a pre-box cut lies in the box (0); of a box cut, its sideband
    assert out["nminusone"]["events"].tolist() == [0] * 12 + [13, 14]
    doc = cutflow_document(RunResult({"d": out}, sel, [], {}))["datasets"]["d"]
    assert doc["blinded"] and doc["kind"] == "data"
    assert doc["cuts"][12]["events"] == 32 and doc["cuts"][13]["events"] is None
    assert doc["nminusone"]["trigger"]["events"] is None
    assert doc["nminusone"]["emiss"]["events"] == 13
    # simulation is never blinded
    assert process([mc_file], sel)["cutflow"]["events"].tolist() == CUTFLOW


def test_file_without_vhcal_and_a_vhcal_selection_is_an_error(tmp_path):
    f = str(write_crafted(tmp_path / "novhcal.root", has_vhcal=False))
    with refused(r"novhcal\.root: runinfo\.has_vhcal is false but selection crafted .* "
                 r"uses the VHCAL \(cuts \['vhcal'\]\)"):
        process([f], selection())
    cfg = copy.deepcopy(CRAFTED_SELECTION)
    cfg["vhcal"] = False
    cfg["cuts"] = [c for c in cfg["cuts"] if c["cut"] != "vhcal_veto"]
    cfg["histograms"][0]["stages"] = ["all", "hcal_time"]
    out = process([f], Selection.from_dict(cfg))
    # without the vhcal cut its 12 failing events pass everything
    assert out["cutflow"]["events"][-1] == 5 + 12


def test_wrong_setup_beam_energy_and_missing_branch(tmp_path):
    n = 3
    ev = default_events(n, event_branches(1, False))
    muon = tmp_path / "muon.root"
    write_ntuple(muon, default_events(n, event_branches(3, False)),
                 default_runinfo(3, n, 1.0), event_branches(3, False))
    with refused(r"muon\.root: runinfo\.setup is 3"):
        process([str(muon)], selection())
    e70 = tmp_path / "e70.root"
    write_ntuple(e70, ev, default_runinfo(1, n, 1.0, beam_energy=70.0), event_branches(1, False))
    with refused(r"e70\.root: runinfo\.beam_energy is 70 GeV but selection crafted"):
        process([str(e70)], selection())
    # is_mc in runinfo but no mc_weight branch
    bad = tmp_path / "nomc.root"
    write_ntuple(bad, ev, default_runinfo(1, n, 1.0, is_mc=True), EVENTS_COMMON)
    with refused(r"nomc\.root: MissingBranchError: events have no branch 'mc_weight'"):
        process([str(bad)], selection())


def test_more_than_32_cuts(mc_file):
    cfg = copy.deepcopy(CRAFTED_SELECTION)
    extra = [{"name": f"trig{i}", "cut": "physics_trigger", "params": {}} for i in range(20)]
    cfg["cuts"] = extra + cfg["cuts"]
    sel = Selection.from_dict(cfg)
    assert sel.packed_dtype == "uint64"
    out = process([mc_file], sel)
    # 20 copies + the original trigger cut: the one trigger failure goes at the first copy
    assert out["cutflow"]["events"].tolist() == [110] + [109] * 21 + CUTFLOW[2:]
    # dropping one trigger copy leaves 20 others that still reject the trigger failure
    assert out["nminusone"]["events"].tolist() == [5] * 21 + NM1[1:]


def test_processor_choice():
    assert isinstance(processor_for(selection()), MissingEnergyProcessor)
    cfg = copy.deepcopy(CRAFTED_SELECTION)
    cfg.update(setup="muon", vhcal=True)  # the muon processor: tests/test_na64mu.py
    assert isinstance(processor_for(Selection.from_dict(cfg)), MissingMomentumProcessor)
