"""Selection files: the shipped ones load; bad ones fail with file, key path and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.cuts import CUTS
from analysis.processors.crafted import CRAFTED_SELECTION
from analysis.selection import Selection, SelectionError, load_selection

ROOT = Path(__file__).resolve().parents[1]
SELECTIONS = ROOT / "selections"

GOOD = """\
name: test_sel
setup: electron
period: "2016-2022"
beam_energy: 100.0
vhcal: false
blinding: true
cuts:
  - name: trigger
    cut: physics_trigger
    params: {bit: 0}
  - name: momentum
    cut: beam_momentum_window
    params:
      low: 97.0
      high: 103.0
  - name: srd
    cut: srd_tag
    params: {e_min: 1.0, e_max: 100.0}
  - name: emiss
    cut: missing_energy
    params: {threshold: 50.0}
  - name: hcal
    cut: hcal_veto
    params: {total_max: 1.0}
signal_box: [emiss, hcal]
histograms:
  - name: ecal
    x: {variable: ecal_energy, bins: 10, start: 0.0, stop: 100.0}
    stages: [all, srd]
    nminusone: [emiss]
"""


def write(tmp_path, text, name="x.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def fails(tmp_path, text):
    with pytest.raises(SelectionError) as info:
        load_selection(write(tmp_path, text))
    return str(info.value), info.value


# ----------------------------------------------------------------------------------------
# the shipped selections
# ----------------------------------------------------------------------------------------


def test_shipped_2016_2022():
    s = load_selection(SELECTIONS / "na64e_2016_2022.yaml")
    assert s.name == "na64e_2016_2022" and s.setup == 1 and s.beam_energy == 100.0
    assert not s.config.vhcal and "vhcal" not in s.requires
    assert "vhcal_veto" not in {c.cut for c in s.cuts}
    assert s.box == ["emiss", "hcal"] and s.preselection == s.labels[:-2]
    emiss = next(c for c in s.cuts if c.label == "emiss")
    assert emiss.cut == "missing_energy" and emiss.params.threshold == 50.0
    # E_miss > 50 GeV is E_ECAL < 50 GeV
    assert s.box_region()["ecal_energy"] == (None, 50.0)
    assert s.blinding


def test_shipped_2023_vhcal():
    s = load_selection(SELECTIONS / "na64e_2023_vhcal.yaml")
    assert s.config.vhcal and "vhcal" in s.requires
    assert "vhcal_veto" in {c.cut for c in s.cuts}
    assert s.box_region()["ecal_energy"] == (None, 60.0)  # E_miss > 40 GeV
    assert s.box_region()["hcal_energy"] == (None, 1.0)
    assert len(s.rdf_filters()) == len(s.cuts)


def test_good_file_and_defaults(tmp_path):
    s = load_selection(write(tmp_path, GOOD))
    assert s.labels == ["trigger", "momentum", "srd", "emiss", "hcal"]
    assert s.source.endswith("x.yaml") and len(s.sha256) == 64
    d = s.to_dict()
    assert d["cuts"][2]["params"]["modules"] == [0, 1, 2]  # defaults filled in
    assert d["cuts"][3]["params"]["beam_energy"] == "selection"
    assert s.histograms[0].stage_names == ["all", "srd", "nm1_emiss"]


# ----------------------------------------------------------------------------------------
# bad files: each error names the file, the key path and the line
# ----------------------------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path):
    msg, err = fails(tmp_path, GOOD.replace("blinding: true", "blinding: true\ncolour: red"))
    assert "x.yaml: colour: unknown key (not allowed here) (line 7)" in msg
    assert err.problems == [("colour", "unknown key (not allowed here)", 7)]


def test_unknown_cut_name(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("cut: srd_tag", "cut: srd_tagg"))
    assert "x.yaml: cuts[2].cut: unknown cut 'srd_tagg' (did you mean 'srd_tag'?)" in msg
    assert "(line 17)" in msg


def test_missing_parameter(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("      high: 103.0\n", ""))
    assert "x.yaml: cuts[1].params.high: required key missing (line 13)" in msg


def test_extra_parameter(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("high: 103.0", "high: 103.0\n      mid: 100.0"))
    assert "x.yaml: cuts[1].params.mid: unknown key (not allowed here) (line 16)" in msg


def test_bad_value_type(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("high: 103.0", "high: lots"))
    assert "x.yaml: cuts[1].params.high: Input should be a valid number (got 'lots') " \
           "(line 15)" in msg
    msg, _ = fails(tmp_path, GOOD.replace("beam_energy: 100.0", "beam_energy: '100'"))
    assert "x.yaml: beam_energy: Input should be a valid number" in msg


def test_bad_values(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("threshold: 50.0", "threshold: -5.0"))
    assert "cuts[3].params.threshold: Input should be greater than 0 (got -5.0)" in msg
    msg, _ = fails(tmp_path, GOOD.replace("low: 97.0", "low: 110.0"))
    assert "cuts[1].params: low (110.0) must be below high (103.0) (line 13)" in msg
    msg, _ = fails(tmp_path, GOOD.replace("setup: electron", "setup: proton"))
    assert "setup: Input should be 'electron', 'positron', 'muon' or 'hadron'" in msg
    msg, _ = fails(tmp_path, GOOD.replace("bins: 10", "bins: 0"))
    assert "histograms[0].x.bins: Input should be greater than or equal to 1" in msg


def test_vhcal_cut_in_a_period_without_vhcal(tmp_path):
    text = GOOD.replace("  - name: emiss\n", "  - name: vhcal\n    cut: vhcal_veto\n"
                        "    params: {cell_max: 1.0, total_max: 1.0}\n  - name: emiss\n")
    msg, _ = fails(tmp_path, text)
    assert ("x.yaml: cuts[3].cut: cut 'vhcal_veto' (vhcal) needs the VHCAL, but this "
            "selection declares vhcal: false (period 2016-2022 had no VHCAL)") in msg
    assert "(line 20)" in msg
    # the same file for a VHCAL period loads
    assert load_selection(write(tmp_path, text.replace("vhcal: false", "vhcal: true"),
                                "ok.yaml")).requires == {"vhcal"}
    # a VHCAL variable in a histogram is refused too
    msg, _ = fails(tmp_path, GOOD.replace("variable: ecal_energy", "variable: vhcal_energy"))
    assert "histograms[0].x.variable: variable 'vhcal_energy' needs the VHCAL" in msg


def test_signal_box_must_be_the_last_cuts(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("signal_box: [emiss, hcal]", "signal_box: [srd]"))
    assert "signal_box: the signal-box cuts must be the last cuts" in msg
    msg, _ = fails(tmp_path, GOOD.replace("signal_box: [emiss, hcal]",
                                          "signal_box: [emiss, hcall]"))
    assert "signal_box[1]: 'hcall' is not a cut label" in msg


def test_histogram_references(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("stages: [all, srd]", "stages: [all, sdr]"))
    assert "histograms[0].stages[1]: 'sdr' is not all or a cut label" in msg
    msg, _ = fails(tmp_path, GOOD.replace("nminusone: [emiss]", "nminusone: [all]"))
    assert "histograms[0].nminusone[0]: 'all' is not a cut label" in msg
    msg, _ = fails(tmp_path, GOOD.replace("variable: ecal_energy", "variable: ecal_enrgy"))
    assert "histograms[0].x.variable: unknown variable 'ecal_enrgy' (did you mean " \
           "'ecal_energy'?)" in msg
    two_d = GOOD.replace("    stages: [all, srd]",
                         "    y: {variable: srd_energy, bins: 5, start: 0.0, stop: 5.0}\n"
                         "    stages: [all, srd]")
    msg, _ = fails(tmp_path, two_d)
    assert "histograms[0].y.variable: variable 'srd_energy' has 3 values per event" in msg
    msg, _ = fails(tmp_path, GOOD.replace("bins: 10, start: 0.0, stop: 100.0",
                                          "edges: [0.0, 5.0, 5.0]"))
    assert "histograms[0].x: edges must be at least two strictly increasing numbers" in msg


def test_duplicates(tmp_path):
    msg, _ = fails(tmp_path, GOOD.replace("- name: srd", "- name: momentum"))
    assert "cuts[2].name: cut label 'momentum' used twice (line 16)" in msg
    msg, _ = fails(tmp_path, GOOD.replace("period: \"2016-2022\"",
                                          "period: \"2016-2022\"\nperiod: \"2023\""))
    assert "x.yaml: period: key given twice" in msg


def test_not_yaml_not_a_mapping_and_no_code(tmp_path):
    msg, _ = fails(tmp_path, "name: [unclosed\n")
    assert "x.yaml: (top level): not valid YAML" in msg and "(line 2)" in msg
    msg, _ = fails(tmp_path, "- just\n- a list\n")
    assert "(top level): expected a mapping" in msg
    # a Python tag is not constructed (yaml.safe_load), it is an error
    msg, _ = fails(tmp_path, GOOD.replace("name: test_sel",
                                          "name: !!python/object/apply:os.system ['true']"))
    assert "not valid YAML" in msg


def test_many_problems_reported_together(tmp_path):
    text = GOOD.replace("blinding: true", "blinding: maybe").replace("high: 103.0", "high: x")
    _, err = fails(tmp_path, text)
    paths = [p for p, _, _ in err.problems]
    assert "blinding" in paths and "cuts[1].params.high" in paths


# ----------------------------------------------------------------------------------------
# runtime behaviour
# ----------------------------------------------------------------------------------------


def test_packed_selection_uses_uint64_beyond_32_cuts():
    def config(n):
        return {"name": "many", "setup": "electron", "period": "x", "beam_energy": 100.0,
                "vhcal": False,
                "cuts": [{"name": f"t{i}", "cut": "physics_trigger", "params": {"bit": i % 2}}
                         for i in range(n)],
                "signal_box": [f"t{n - 1}"]}

    assert Selection.from_dict(config(32)).packed_dtype == "uint32"
    s = Selection.from_dict(config(34))
    assert s.packed_dtype == "uint64"
    ev = {"trigger": np.array([1, 3, 2, 0], np.int32)}  # both bits only for event 1
    packed = s.packed(ev)
    assert packed.maxitems == 64 and len(packed.names) == 34
    assert packed.all().tolist() == [False, True, False, False]
    assert packed.all("t0").tolist() == [True, True, False, False]
    with pytest.raises(SelectionError, match="cuts: List should have at most 64 items"):
        Selection.from_dict(config(65))


def test_yaml_round_trip_of_crafted_selection(tmp_path):
    p = write(tmp_path, yaml.safe_dump(CRAFTED_SELECTION, sort_keys=False), "crafted.yaml")
    s = load_selection(p)
    assert s.labels == [c["name"] for c in CRAFTED_SELECTION["cuts"]]
    assert {c.cut for c in s.cuts} <= set(CUTS)


def test_example_in_docs_is_valid():
    doc = (ROOT / "docs" / "analysis.md")
    if not doc.exists():
        pytest.skip("docs/analysis.md not written yet")
    text = doc.read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    Selection.from_dict(yaml.safe_load(textwrap.dedent(block)), source="docs/analysis.md")
