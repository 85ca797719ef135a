"""analysis.studies: in-memory selection variants, parameter scans, counts for many thresholds
from one histogram. Expectations come from the inputs (the crafted sample's known cut flow,
direct numpy sums of the filled values), not from earlier outputs."""

from __future__ import annotations

import hist
import numpy as np
import pytest

from analysis import studies
from analysis.processors.crafted import CRAFTED_SELECTION, write_crafted
from analysis.selection import Selection, SelectionError, load_selection

SEL_2023 = "selections/na64e_2023_vhcal.yaml"


def _params(sel: Selection, label: str) -> dict:
    return next(c for c in sel.to_dict()["cuts"] if c["name"] == label)["params"]


# --- modified_selection ----------------------------------------------------------------------


def test_params_are_merged_and_the_original_is_untouched():
    base = load_selection(SEL_2023)
    before = base.to_dict()
    sel = studies.modified_selection(base, params={"emiss": {"threshold": 35.0},
                                                   "srd": {"modules": [0]}})
    assert _params(sel, "emiss")["threshold"] == 35.0
    assert _params(sel, "emiss")["beam_energy"] == "selection"  # other parameters kept
    assert _params(sel, "srd") == {**_params(base, "srd"), "modules": [0]}
    assert sel.box_region()["ecal_energy"] == (None, 65.0)
    assert base.to_dict() == before
    assert sel.sha256 != base.sha256


def test_dropping_a_cut_moves_its_histogram_stages():
    base = load_selection(SEL_2023)
    sel = studies.modified_selection(base, drop=["vhcal"])
    assert "vhcal" not in sel.labels and len(sel.labels) == len(base.labels) - 1
    assert sel.box == ["emiss", "hcal"]
    hists = {h.name: h for h in sel.histograms}
    # "after vhcal" becomes "after hcal_time" (the cut before it): the same events now
    assert hists["ecal_hcal"].stages == ["all", "hcal_time"]
    # the N-1 stage of the dropped cut goes; a histogram with stages left stays
    assert hists["vhcal_energy"].stages == ["all"] and hists["vhcal_energy"].nminusone == []
    assert hists["ecal_energy"].nminusone == ["emiss"]


def test_dropping_a_box_cut_and_replacing_histograms():
    base = load_selection(SEL_2023)
    h = {"name": "e", "x": {"variable": "ecal_energy", "bins": 10, "start": 0.0, "stop": 100.0},
         "stages": [], "nminusone": ["emiss"]}
    sel = studies.modified_selection(base, drop=["hcal"], histograms=[h], name="study")
    assert sel.box == ["emiss"] and sel.name == "study"
    assert [x.name for x in sel.histograms] == ["e"]
    sel2 = studies.modified_selection(base, add_histograms=[h])
    assert [x.name for x in sel2.histograms][-1] == "e"
    assert len(sel2.histograms) == len(base.histograms) + 1


def test_invalid_changes_are_refused():
    base = load_selection(SEL_2023)
    with pytest.raises(KeyError, match="nope"):
        studies.modified_selection(base, params={"nope": {"x": 1}})
    with pytest.raises(KeyError, match="nope"):
        studies.modified_selection(base, drop=["nope"])
    with pytest.raises(SelectionError, match="threshold"):
        studies.modified_selection(base, params={"emiss": {"threshold": -5.0}})
    with pytest.raises(SelectionError, match="e_min"):
        studies.modified_selection(base, params={"srd": {"e_min": 200.0}})
    with pytest.raises(SelectionError):  # no box left
        studies.modified_selection(base, drop=["emiss", "hcal"])


# --- scan_parameter and cut_counts on the crafted sample ---------------------------------------


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    path = write_crafted(tmp_path_factory.mktemp("studies") / "crafted.root", n_pass=5)
    return Selection.from_dict(CRAFTED_SELECTION), {"crafted": [str(path)]}


def test_scan_parameter_known_cut_flow(crafted):
    sel, files = crafted
    # the 12 events failing only the VHCAL cut have 3 GeV in one cell (and the sum)
    pts = studies.scan_parameter(sel, "vhcal", [{"cell_max": 1.0, "total_max": 1.0},
                                                {"cell_max": 5.0, "total_max": 5.0}, None],
                                 files, histograms=[], executor="iterative", progress=False)
    assert [p.value for p in pts][2] is None and "vhcal" not in pts[2].selection.labels
    final = [studies.cut_counts(p.result, "crafted") for p in pts]
    assert [f["total"]["events"] for f in final] == [5, 17, 17]
    assert final[0]["total"]["weighted"] == pytest.approx(2.5)
    assert final[1]["total"]["weighted"] == pytest.approx(2.5 + 12 * 1.5)
    assert final[1]["upstream_hadrons"] == {"events": 12, "weighted": pytest.approx(18.0)}
    assert final[0]["signal"]["events"] == 5
    # an intermediate cut and "all": the crafted sample has 5 + 1 + ... + 14 = 110 events
    c = studies.cut_counts(pts[0].result, "crafted", "all")
    assert c["total"]["events"] == 110
    c = studies.cut_counts(pts[0].result, "crafted", "veto")
    assert c["total"]["events"] == 5 + sum(range(11, 15))
    with pytest.raises(KeyError):
        studies.cut_counts(pts[0].result, "crafted", "nope")


def test_scan_parameter_single_parameter(crafted):
    sel, files = crafted
    # passing events have E_miss = 79 GeV, the 13 events failing emiss have 20 GeV
    pts = studies.scan_parameter(sel, "emiss", [50.0, 10.0], files, param="threshold",
                                 histograms=[], executor="iterative", progress=False)
    assert [studies.cut_counts(p.result, "crafted")["total"]["events"] for p in pts] == [5, 18]


# --- counts from histograms ------------------------------------------------------------------


def _filled_1d(rng):
    x = rng.normal(50.0, 30.0, 5000)  # under- and overflow of [0, 100)
    w = rng.exponential(1.0, x.size)
    h = hist.Hist(hist.axis.Regular(200, 0.0, 100.0, name="x"), storage=hist.storage.Weight())
    h.fill(x=x, weight=w)
    return h, x, w


def test_count_below_and_above_match_direct_sums():
    rng = np.random.default_rng(1)
    h, x, w = _filled_1d(rng)
    cuts = [0.0, 12.5, 40.0, 60.0, 99.5, 100.0]
    below = studies.count_below(h, cuts)
    above = studies.count_above(h, cuts)
    for i, c in enumerate(cuts):
        assert below.values[i] == pytest.approx(w[x < c].sum(), rel=1e-12)
        assert below.variances[i] == pytest.approx((w[x < c] ** 2).sum(), rel=1e-12)
        assert above.values[i] == pytest.approx(w[x >= c].sum(), rel=1e-12)
    assert np.allclose(below.values + above.values, w.sum(), rtol=1e-12)
    assert np.allclose(below.errors, np.sqrt(below.variances))
    # nested by construction: exactly monotonic, no tolerance
    fine = np.arange(0.0, 100.0 + 1e-9, 0.5)
    assert np.all(np.diff(studies.count_below(h, fine).values) >= 0)
    assert np.all(np.diff(studies.count_above(h, fine).values) <= 0)


def test_count_below_2d_is_the_and_of_both_axes():
    rng = np.random.default_rng(2)
    a, b = rng.exponential(2.0, 4000) - 0.5, rng.exponential(3.0, 4000) - 0.5
    w = rng.uniform(0.1, 2.0, a.size)
    edges = [-1.0, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0]
    h = hist.Hist(hist.axis.Variable(edges, name="a"), hist.axis.Variable(edges, name="b"),
                  storage=hist.storage.Weight())
    h.fill(a=a, b=b, weight=w)
    cuts = [0.5, 1.0, 2.0, 5.0, 10.0]
    c = studies.count_below(h, cuts)
    for i, cut in enumerate(cuts):
        assert c.values[i] == pytest.approx(w[(a < cut) & (b < cut)].sum(), rel=1e-12)
    assert np.all(np.diff(c.values) >= 0)


def test_counts_refuse_cuts_off_the_bin_edges():
    h, _, _ = _filled_1d(np.random.default_rng(3))
    with pytest.raises(ValueError, match="bin edge"):
        studies.count_below(h, [12.3])
    with pytest.raises(ValueError, match="bin edge"):
        studies.count_above(h, [150.0])
    no_flow = hist.Hist(hist.axis.Regular(10, 0.0, 1.0, underflow=False), storage=hist.storage.Weight())
    with pytest.raises(ValueError, match="under- and overflow"):
        studies.count_below(no_flow, [0.5])


def test_counts_arithmetic():
    c = studies.Counts(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    d = (c + c).scaled(0.5)
    assert np.allclose(d.values, [1.0, 2.0]) and np.allclose(d.variances, [0.5, 2.0])


def test_split_processes():
    h = hist.Hist(hist.axis.StrCategory(["all", "x"], name="stage"),
                  hist.axis.IntCategory([], growth=True, name="process"),
                  hist.axis.Regular(4, 0.0, 4.0, name="v"), storage=hist.storage.Weight())
    h.fill(stage="x", process=[6, 6, 8], v=[0.5, 1.5, 2.5], weight=[1.0, 2.0, 4.0])
    parts = studies.split_processes(h, "x")
    assert set(parts) == {"upstream_hadrons", "decay_in_flight"}
    assert parts["upstream_hadrons"].sum().value == 3.0
    assert parts["decay_in_flight"].sum().value == 4.0


# --- signal denominators and run options -------------------------------------------------------


def test_produced_above(tmp_path):
    from analysis.datasets import catalogue, load_manifest, write_manifest, Manifest
    from analysis.simulation import simulate

    out = tmp_path / "sig.root"
    res = simulate("electron", "2023", signal="dark-photon", mass=0.01, n_events=400, seed=5,
                   out=out, min_invisible_energy=25.0)
    assert res.n_events == 400
    entry = catalogue([out], "sig", setup="electron", period="2023", kind="signal",
                      process="signal", origin="generated", generated_by="test")
    write_manifest(Manifest(datasets={"sig": entry}), tmp_path / "manifest.yaml")
    man = load_manifest(tmp_path / "manifest.yaml")
    import uproot

    e_x = uproot.open(out)["events"]["mc_invisible_e"].array(library="np")
    # E_X is generated above 25 GeV for the nominal 100 GeV and scaled to each event's beam
    # energy, so a few events sit just below 25 GeV: count what is in the file
    assert studies.produced_above(man, "sig", 26.0) == int(np.count_nonzero(e_x >= 26.0)) > 300
    assert studies.produced_above(man, "sig", 60.0) == int(np.count_nonzero(e_x >= 60.0))
    with pytest.raises(ValueError, match="incomplete"):
        studies.produced_above(man, "sig", 10.0)


def test_run_options():
    assert studies.run_options({}) == {"executor": "iterative", "progress": False}
    assert studies.run_options({"NA64_SCHEDULER": "tcp://127.0.0.1:8786"}) == {
        "executor": "dask", "scheduler": "tcp://127.0.0.1:8786", "progress": False}
    assert studies.run_options({"NA64_EXECUTOR": "futures", "NA64_WORKERS": "2"}) == {
        "executor": "futures", "progress": False, "workers": 2}
    assert studies.nm1_stage("emiss") == "nm1_emiss"


def test_clear_notebook_outputs(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    nb = new_notebook(cells=[new_code_cell("1 + 1", execution_count=3,
                                           outputs=[new_output("execute_result", {"text/plain": "2"},
                                                               execution_count=3)])])
    nb.metadata["widgets"] = {"state": {}}
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    assert studies.clear_notebook_outputs(path) == [str(path)]
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert "widgets" not in nb.metadata and nb.cells[0].source == "1 + 1"
    assert studies.clear_notebook_outputs(path) == []  # nothing left to clear
