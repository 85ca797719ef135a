"""Dataset manifests, filesets and particles-on-target accounting (analysis.datasets).

Files are crafted with known entries, n_on_target and spills; every expectation is what was
written into them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.cli import main
from analysis.datasets import (
    DatasetEntry,
    Manifest,
    ManifestError,
    catalogue,
    catalogue_into,
    checksum,
    fileset,
    load_manifest,
    n_on_target,
    n_on_target_excluding,
    verify,
    write_manifest,
)
from analysis.rootio import default_events, default_runinfo, write_ntuple
from analysis.schema import event_branches


def make_file(path: Path, n: int, pot: float, *, run: int = 1, setup: int = 1,
              is_mc: bool = True, spills: list[float] | None = None,
              spill_pot_override: list[float] | None = None) -> Path:
    """A valid ntuple with `n` events and `pot` particles on target; with `spills`, one spill
    per value (spill numbers 1..k), whose n_on_target must sum to `pot`."""
    br = event_branches(setup, is_mc)
    ev = default_events(n, br, run=run)
    if spills is not None:
        ev["spill"][:] = np.arange(n) % len(spills) + 1
    ri = default_runinfo(setup, n, pot, run=run, is_mc=is_mc, mc_seed=run if is_mc else -1)
    sp = None
    if spills is not None:
        sp = {"run": [run] * len(spills), "spill": list(range(1, len(spills) + 1)),
              "n_on_target": spill_pot_override or spills}
    return write_ntuple(path, ev, ri, br, spills=sp)


@pytest.fixture
def three_files(tmp_path):
    """Three files of one simulated dataset: (paths, entries, particles on target)."""
    folder = tmp_path / "samples" / "builtin"
    specs = [(12, 1.5e9, 101), (7, 2.25e9, 102), (20, 4.0e8, 103)]
    paths = [make_file(folder / f"bkg_{r}.root", n, pot, run=r) for n, pot, r in specs]
    return paths, [s[0] for s in specs], [s[1] for s in specs]


def _bkg(paths, **kw):
    args = dict(name="bkg", setup="electron", period="2023", kind="simulation",
                process="background", origin="generated", generated_by="na64 samples")
    args.update(kw)
    return catalogue(paths, **args)


# --------------------------------------------------------------------------- round trip

def test_round_trip_write_load_fileset(tmp_path, three_files):
    paths, entries, pots = three_files
    manifest = Manifest(datasets={"bkg": _bkg(paths)})
    mpath = tmp_path / "samples" / "m.yaml"
    write_manifest(manifest, mpath)
    text = mpath.read_text()
    assert str(tmp_path) not in text  # paths are stored relative to the manifest
    loaded = load_manifest(mpath)
    ds = loaded.datasets["bkg"]
    assert sorted(f.path for f in ds.files) == sorted(f"builtin/{p.name}" for p in paths)
    assert [f.entries for f in sorted(ds.files, key=lambda f: f.path)] == entries
    assert ds.n_on_target == math.fsum(pots)
    for f in ds.files:
        assert f.checksum == checksum(loaded.resolve(f))
        assert f.size == loaded.resolve(f).stat().st_size

    fs = fileset(loaded, ["bkg"])
    assert set(fs) == {"bkg"}
    assert fs["bkg"]["files"] == {str(p.resolve()): "events" for p in paths}
    meta = fs["bkg"]["metadata"]
    assert meta["n_on_target"] == math.fsum(pots) and meta["entries"] == sum(entries)
    assert (meta["setup"], meta["period"], meta["kind"]) == ("electron", "2023", "simulation")

    # Deterministic: writing what was loaded reproduces the file byte for byte.
    write_manifest(loaded, tmp_path / "samples" / "again.yaml")
    assert (tmp_path / "samples" / "again.yaml").read_text() == text
    verify(loaded)  # nothing changed: no error


def test_fileset_runs_in_coffea(tmp_path, three_files):
    from coffea import processor

    from analysis.schema import NA64Schema

    paths, entries, _ = three_files
    manifest = Manifest(datasets={"bkg": _bkg(paths)})
    mpath = write_manifest(manifest, tmp_path / "samples" / "m.yaml")

    class Count(processor.ProcessorABC):
        def process(self, events):
            return {events.metadata["dataset"]: len(events)}

        def postprocess(self, acc):
            return acc

    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=NA64Schema)
    out = runner(fileset(load_manifest(mpath)), processor_instance=Count(), treename="events")
    assert out == {"bkg": sum(entries)}


# ------------------------------------------------------------------- particles on target

def test_n_on_target_sums_what_was_written(tmp_path, three_files):
    paths, _, pots = three_files
    sig = make_file(tmp_path / "other.root", 5, 3.0e7, run=7)
    manifest = Manifest(datasets={"bkg": _bkg(paths), "other": _bkg([sig], name="other")})
    assert n_on_target(manifest, "bkg") == math.fsum(pots)
    assert n_on_target(manifest, "bkg", read_files=False) == math.fsum(pots)
    assert n_on_target(manifest, "other") == 3.0e7
    with pytest.raises(ManifestError, match="no dataset named 'nope'"):
        n_on_target(manifest, "nope")


def test_spills_are_used_and_cross_checked(tmp_path):
    spills = [1.0e6, 2.0e6, 3.0e6, 4.0e6, 5.0e6]
    path = make_file(tmp_path / "s.root", 10, math.fsum(spills), spills=spills)
    entry = _bkg([path])
    assert entry.files[0].n_on_target == math.fsum(spills)
    bad = make_file(tmp_path / "bad_spills.root", 10, 15.0e6, spills=spills,
                    spill_pot_override=[1.0e6, 2.0e6, 3.0e6, 4.0e6, 4.0e6])
    with pytest.raises(ManifestError) as err:
        _bkg([bad], validate=False)  # the spills cross-check itself, not the validator
    assert str(bad) in str(err.value) and "spills.n_on_target" in str(err.value)


def test_bad_spill_exclusion(tmp_path):
    spills = [1.0e6, 2.0e6, 3.0e6, 4.0e6, 5.0e6]
    path = make_file(tmp_path / "s.root", 10, math.fsum(spills), spills=spills)
    # spills 2 and 4 of run 1 are bad; (9, 9) is not in this file and is ignored
    kept = n_on_target_excluding(path, {(1, 2), (1, 4), (9, 9)})
    assert kept == 1.0e6 + 3.0e6 + 5.0e6
    assert n_on_target_excluding(path, set()) == math.fsum(spills)
    manifest = Manifest(datasets={"bkg": _bkg([path])})
    assert n_on_target(manifest, "bkg", bad_spills={(1, 5)}) == 10.0e6

    no_spills = make_file(tmp_path / "nospills.root", 10, 1.0e6)
    with pytest.raises(ManifestError) as err:
        n_on_target_excluding(no_spills, {(1, 1)})
    assert str(no_spills) in str(err.value) and "spills" in str(err.value)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Six files with integer-valued particles on target (sums are exact in float64)."""
    folder = tmp_path_factory.mktemp("pool")
    pots = [3.0e9, 1.7e10, 5.0e8, 1.0, 0.0, 2.5e11]
    files = [make_file(folder / f"f{i}.root", 3 + i, pot, run=i + 1) for i, pot in
             enumerate(pots)]
    entries = [_bkg([f], validate=False).files[0] for f in files]
    return entries, pots


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split=st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_n_on_target_is_additive_over_any_split(pool, split):
    """However the files are grouped into datasets, the per-dataset sums add up to the
    total written, and each equals the sum of its own files' written values."""
    entries, pots = pool
    groups: dict[str, list[int]] = {}
    for i, g in enumerate(split):
        groups.setdefault(f"d{g}", []).append(i)
    datasets = {
        name: DatasetEntry(setup="electron", period="2023", kind="simulation",
                           process="background", files=[entries[i] for i in idx])
        for name, idx in groups.items()
    }
    manifest = Manifest(datasets=datasets)
    per = {name: n_on_target(manifest, name) for name in groups}
    for name, idx in groups.items():
        assert per[name] == sum(pots[i] for i in idx)
    assert sum(per.values()) == sum(pots)


# -------------------------------------------------------------- refusing changed files

def _catalogued(tmp_path, three_files):
    paths, _, _ = three_files
    mpath = write_manifest(Manifest(datasets={"bkg": _bkg(paths)}),
                           tmp_path / "samples" / "m.yaml")
    return load_manifest(mpath), paths


def test_truncated_file_is_refused(tmp_path, three_files):
    manifest, paths = _catalogued(tmp_path, three_files)
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 2])
    with pytest.raises(ManifestError) as err:
        verify(manifest)
    msg = str(err.value)
    assert str(paths[1].resolve()) in msg and "truncated" in msg
    assert str(paths[0].resolve()) not in msg  # the intact files are not blamed


def test_changed_file_same_size_is_refused(tmp_path, three_files):
    manifest, paths = _catalogued(tmp_path, three_files)
    data = bytearray(paths[2].read_bytes())
    data[len(data) // 2] ^= 0xFF
    paths[2].write_bytes(bytes(data))
    with pytest.raises(ManifestError) as err:
        verify(manifest, ["bkg"])
    assert str(paths[2].resolve()) in str(err.value) and "checksum" in str(err.value)
    verify(manifest, checksums=False)  # size alone cannot see this change


def test_missing_file_is_refused(tmp_path, three_files):
    manifest, paths = _catalogued(tmp_path, three_files)
    paths[0].unlink()
    with pytest.raises(ManifestError) as err:
        verify(manifest)
    assert str(paths[0].resolve()) in str(err.value) and "missing" in str(err.value)
    assert "na64 samples" in str(err.value)  # says how to make it again


def test_entries_or_pot_disagreeing_with_runinfo_are_refused(tmp_path, three_files):
    paths, _, pots = three_files
    mpath = write_manifest(Manifest(datasets={"bkg": _bkg(paths)}),
                           tmp_path / "samples" / "m.yaml")
    data = yaml.safe_load(mpath.read_text())
    data["datasets"]["bkg"]["files"][0]["entries"] += 1
    data["datasets"]["bkg"]["files"][1]["n_on_target"] *= 2
    mpath.write_text(yaml.safe_dump(data, sort_keys=False))
    manifest = load_manifest(mpath)
    with pytest.raises(ManifestError) as err:
        verify(manifest)
    msg = str(err.value)
    assert "entries: " in msg and "runinfo.n_on_target" in msg
    with pytest.raises(ManifestError, match="re-catalogue"):
        n_on_target(manifest, "bkg")


# --------------------------------------------------------------------- manifest errors

GOOD_YAML = """\
datasets:
  bkg:
    setup: electron
    period: 2023
    kind: simulation
    process: background
    files:
    - path: a.root
      entries: 10
      n_on_target: 1000.0
      size: 100
      checksum: xxh64:0123456789abcdef
"""


def _load_text(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path, load_manifest(path)


def test_good_yaml_loads_and_period_is_text(tmp_path):
    _, manifest = _load_text(tmp_path, GOOD_YAML)
    ds = manifest.datasets["bkg"]
    assert ds.period == "2023" and ds.origin == "committed"
    assert ds.files[0].treename == "events"
    assert manifest.resolve(ds.files[0]) == (tmp_path / "a.root").resolve()


@pytest.mark.parametrize("text,key,line", [
    (GOOD_YAML.replace("    process: background\n",
                       "    process: background\n    colour: red\n"), "colour", 7),
    (GOOD_YAML.replace("      size: 100\n", "      size: 100\n      md5: abc\n"), "md5", 12),
    (GOOD_YAML + "version: 2\n", "version", 13),
])
def test_unknown_key_is_an_error_naming_it(tmp_path, text, key, line):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    msg = str(err.value)
    assert f"{path}:{line}:" in msg and f"unknown key '{key}'" in msg


@pytest.mark.parametrize("old,new,expected", [
    ("checksum: xxh64:0123456789abcdef", "checksum: md5:0123", "datasets.bkg.files[0].checksum"),
    ("    setup: electron\n", "    setup: proton\n", "datasets.bkg.setup"),
    ("    setup: electron\n", "", "datasets.bkg.setup: required key is missing"),
    ("      entries: 10\n", "      entries: -1\n", "datasets.bkg.files[0].entries"),
    ("    process: background\n", "    process: background\n    origin: generated\n",
     "generated_by"),
    ("  bkg:\n", "  bkg:\n    setup: muon\n", "duplicate key"),
])
def test_bad_values_name_the_key_path(tmp_path, old, new, expected):
    path = tmp_path / "m.yaml"
    path.write_text(GOOD_YAML.replace(old, new))
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_missing_or_empty_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "none.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ManifestError, match="empty"):
        load_manifest(tmp_path / "empty.yaml")
    (tmp_path / "bad.yaml").write_text("datasets: [\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(tmp_path / "bad.yaml")


# ------------------------------------------------------------------------ cataloguing

def test_catalogue_refuses_wrong_setup_kind_and_invalid_files(tmp_path):
    data_file = make_file(tmp_path / "data.root", 5, 1.0e6, is_mc=False)
    with pytest.raises(ManifestError) as err:
        _bkg([data_file], setup="muon")
    msg = str(err.value)
    assert str(data_file) in msg and "runinfo.setup" in msg and "runinfo.is_mc" in msg

    broken = tmp_path / "broken.root"
    broken.write_bytes(data_file.read_bytes()[:500])
    with pytest.raises(ManifestError) as err:
        _bkg([broken], kind="data")
    assert str(broken) in str(err.value) and "truncated" in str(err.value)


def test_cli_catalogue_adds_and_replaces(tmp_path, three_files):
    paths, entries, pots = three_files
    mpath = tmp_path / "samples" / "x.yaml"
    runner = CliRunner()
    base = ["catalogue", "--setup", "electron", "--period", "2023", "--kind", "simulation",
            "--process", "background", "--manifest", str(mpath)]
    r1 = runner.invoke(main, base + ["--name", "a", str(paths[0]), str(paths[1])])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(main, base + ["--name", "b", str(paths[2])])
    assert r2.exit_code == 0, r2.output
    m = load_manifest(mpath)
    assert set(m.datasets) == {"a", "b"}
    assert n_on_target(m, "a") == pots[0] + pots[1]
    assert m.datasets["a"].entries == entries[0] + entries[1]
    r3 = runner.invoke(main, base + ["--name", "a", str(paths[2])])  # replace
    assert r3.exit_code == 0, r3.output
    m = load_manifest(mpath)
    assert [f.path for f in m.datasets["a"].files] == [f"builtin/{paths[2].name}"]
    assert set(m.datasets) == {"a", "b"}

    r4 = runner.invoke(main, base[:2] + ["muon"] + base[3:] + ["--name", "c", str(paths[0])])
    assert r4.exit_code == 1 and str(paths[0]) in r4.output and "runinfo.setup" in r4.output
    assert set(load_manifest(mpath).datasets) == {"a", "b"}  # manifest untouched on error


def test_catalogue_into_creates_manifest(tmp_path, three_files):
    paths, _, _ = three_files
    mpath = tmp_path / "new" / "m.yaml"
    catalogue_into(mpath, paths[:1], "one", setup="electron", period="2024",
                   kind="pseudo-data", process="background")
    m = load_manifest(mpath)
    assert m.datasets["one"].kind == "pseudo-data"
    verify(m)
