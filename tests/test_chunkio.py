"""The chunk reader (analysis.chunkio) returns exactly what uproot reads, and run()'s default
reader gives the same results as coffea NanoEvents.

Files: a simulated NA64e sample and a simulated NA64μ sample, rewritten in baskets of
uneven sizes (so that entry ranges start and stop inside baskets) with LZ4, ZLIB and no
compression.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from analysis.chunkio import ChunkEvents, chunk_buffers, close_files, open_tree, read_branch
from analysis.execution import run
from analysis.processors.crafted import CRAFTED_SELECTION, write_crafted
from analysis.rootio import write_ntuple
from analysis.schema import event_branches
from analysis.simulation.generate import simulate

from test_execution import assert_same

PIECES = [1, 499, 700, 1, 333, 900]  # entries per basket; the rest in a last basket


def _rewrite(src, dst, setup: int, compression):
    """``src``'s trees again, the events in baskets of PIECES entries."""
    with uproot.open(src) as f:
        ev = f["events"].arrays(library="ak")
        info = {k: v for k, v in f["runinfo"].arrays(library="np").items()}
        is_mc = "mc_weight" in f["events"]
    cols = {k: (ev[k] if k.startswith("hit_") else ak.to_numpy(ev[k])) for k in ev.fields}
    edges = np.cumsum([0, *PIECES])
    edges = [e for e in edges if e < len(ev)] + [len(ev)]
    chunks = [{k: v[a:b] for k, v in cols.items()} for a, b in zip(edges[:-1], edges[1:])]
    return write_ntuple(dst, chunks, info, event_branches(setup, is_mc), compression=compression)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("chunkio")
    simulate("electron", "2023", n_on_target=2e6, seed=3, out=d / "el.root")
    simulate("muon", "2022", n_on_target=1.5e6, seed=3, out=d / "mu.root")
    out = {}
    for comp in ("lz4", "zlib", None):
        out[f"el-{comp}"] = str(_rewrite(d / "el.root", d / f"el-{comp}.root", 1, comp))
    out["mu-lz4"] = str(_rewrite(d / "mu.root", d / "mu-lz4.root", 2, "lz4"))
    yield out
    close_files()


def _same(got, ref) -> bool:
    if isinstance(got, np.ndarray):
        ref = ak.to_numpy(ref)
        return got.dtype == ref.dtype.newbyteorder("=") and got.shape == ref.shape \
            and np.array_equal(got, ref, equal_nan=got.dtype.kind == "f")
    return ak.to_list(got) == ak.to_list(ref) and str(ak.type(got)) == str(ak.type(ref))


@pytest.mark.parametrize("name", ["el-lz4", "el-zlib", "el-None", "mu-lz4"])
def test_every_branch_every_range_as_uproot(files, name):
    tree = open_tree(files[name])
    n = tree.num_entries
    assert tree["ecal_main"].num_baskets >= 4  # ranges below start/stop inside baskets
    ranges = [(0, n), (0, 1), (1, 500), (499, 1201), (700, min(n, 2434)), (n - 1, n), (5, 5)]
    buffers = chunk_buffers()
    for start, stop in ranges:
        for key in tree.keys(recursive=False):
            ref = tree[key].array(entry_start=start, entry_stop=stop, library="ak")
            assert _same(read_branch(tree[key], start, stop), ref), (key, start, stop)
            assert _same(read_branch(tree[key], start, stop, buffers), ref), (key, start, stop)


def test_chunk_events_columns_mask_and_errors(files):
    path = files["el-lz4"]
    tree = open_tree(path)
    ev = ChunkEvents(tree, 100, 1300, {"dataset": "x"})
    assert len(ev) == 1200 and ev.metadata == {"dataset": "x"}
    assert "ecal_main" in ev and "no_such_branch" not in ev
    assert ev["ecal_main"].shape == (1200, 6, 6) and ev["ecal_main"] is ev["ecal_main"]
    with pytest.raises(KeyError, match=r"el-lz4\.root.*no branch 'no_such_branch'"):
        ev["no_such_branch"]
    keep = ev["spill"] % 2 == 0
    sub = ev[keep]  # a branch read before and one read after the mask
    assert len(sub) == int(keep.sum())
    ref = tree.arrays(["spill", "beam_p", "hit_station"], entry_start=100, entry_stop=1300)
    np.testing.assert_array_equal(sub["spill"], ak.to_numpy(ref["spill"])[keep])
    np.testing.assert_array_equal(sub["beam_p"], ak.to_numpy(ref["beam_p"])[keep])
    assert ak.to_list(sub["hit_station"]) == ak.to_list(ref["hit_station"][keep])
    again = sub[np.arange(len(sub)) < 3]  # masks compose
    np.testing.assert_array_equal(again["beam_p"], ak.to_numpy(ref["beam_p"])[keep][:3])
    with pytest.raises(TypeError):
        ev[np.ones(3, dtype=bool)]


def test_rewritten_file_is_reopened(tmp_path):
    path = tmp_path / "f.root"
    write_crafted(path, n_on_target=1e9)
    first = open_tree(str(path))["beam_p"].array(library="np").copy()
    write_crafted(path, n_on_target=1e9, run=2)  # same name, new content
    tree = open_tree(str(path))
    assert np.array_equal(read_branch(tree["beam_p"], 0, len(first)), first, equal_nan=True)
    assert set(read_branch(tree["run"], 0, len(first)).tolist()) == {2}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    d = tmp_path_factory.mktemp("crafted")
    sel = d / "crafted.yaml"
    sel.write_text(yaml.safe_dump(CRAFTED_SELECTION, sort_keys=False))
    return sel, {"sim": [str(write_crafted(d / "mc.root", n_on_target=1e9))],
                 "data": [str(write_crafted(d / "data.root", is_mc=False, n_on_target=1e9))]}


@pytest.mark.parametrize("chunksize", [7, 1000])
def test_run_readers_agree(crafted, chunksize):
    sel, fileset = crafted
    kw = dict(executor="iterative", chunksize=chunksize, progress=False)
    cols = run(sel, fileset, reader="columns", **kw)
    nano = run(sel, fileset, reader="nanoevents", **kw)
    assert cols.settings["reader"] == "columns" and nano.settings["reader"] == "nanoevents"
    assert_same(cols, nano)
    for ds in cols.output:  # bit for bit, not only within tolerance
        for name, h in cols[ds]["histograms"].items():
            assert h == nano[ds]["histograms"][name]


def test_run_readers_agree_on_simulation(files):
    sel = "selections/na64e_2023_vhcal.yaml"
    fileset = {"el": [files["el-lz4"], files["el-zlib"]]}
    kw = dict(executor="iterative", chunksize=600, progress=False, validate=False)
    cols, nano = run(sel, fileset, reader="columns", **kw), run(sel, fileset,
                                                                  reader="nanoevents", **kw)
    assert_same(cols, nano)
    d, e = cols["el"], nano["el"]
    assert d["cutflow"]["weighted"].tolist() == e["cutflow"]["weighted"].tolist()
    for name, h in d["histograms"].items():
        assert h == e["histograms"][name]


def test_unknown_reader(crafted):
    sel, fileset = crafted
    with pytest.raises(ValueError, match="unknown reader 'root'"):
        run(sel, fileset, reader="root", progress=False)
