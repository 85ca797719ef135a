"""NTUPLE.md (reconstructed ntuple format, version 1) as code.

The branch table below *is* the contract: every other module (simulation writer,
validator, coffea schema, processors) reads it from here. Source: ../shared/design/NTUPLE.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from coffea.nanoevents.schemas.base import BaseSchema, zip_forms

from .codes import SCHEMA_VERSION, Model, Setup


@dataclass(frozen=True)
class Branch:
    """One branch of the contract.

    `shape` is the fixed per-entry shape (() for scalars); `jagged` marks the tracker-hit
    fields counted by `n_hits`. `group` is the record the coffea schema puts it in and
    `field` its name there. `nan_allowed` marks floats where NaN means "not measured".
    """

    name: str
    dtype: str
    shape: tuple[int, ...] = ()
    meaning: str = ""
    group: str | None = None
    field: str | None = None
    jagged: bool = False
    nan_allowed: bool = False
    unit: str = ""


RUNINFO: tuple[Branch, ...] = (
    Branch("run", "int32", meaning="run number"),
    Branch("setup", "int32", meaning="1 electron, 2 positron, 3 muon, 4 hadron"),
    Branch("beam_pdg", "int32", meaning="PDG id of the beam particle (11, -11, -13/13, -211)"),
    Branch("beam_energy", "float32", meaning="nominal beam energy", unit="GeV"),
    Branch("n_on_target", "float64",
           meaning="particles on target (EOT/POT/MOT) in this run segment, before the trigger; "
                   "0 for signal samples"),
    Branch("n_events", "int64", meaning="entries of `events` in this segment"),
    Branch("has_vhcal", "bool", meaning="VHCAL installed (vhcal_e is NaN when false)"),
    Branch("is_mc", "bool", meaning="simulated sample"),
    Branch("mc_seed", "int64", meaning="generator seed (-1 for data)"),
    Branch("mc_model", "int32", meaning="signal model code (analysis.codes.Model)"),
    Branch("mc_mass", "float32", meaning="signal mass, NaN when mc_model is 0", unit="GeV",
           nan_allowed=True),
    Branch("schema_version", "int32", meaning="format version, 1 (codes.SCHEMA_VERSION)"),
)

SPILLS: tuple[Branch, ...] = (
    Branch("run", "int32", meaning="run number"),
    Branch("spill", "int32", meaning="spill number"),
    Branch("n_on_target", "float64", meaning="particles on target in this spill"),
)

EVENTS_COMMON: tuple[Branch, ...] = (
    Branch("run", "int32", meaning="run number"),
    Branch("spill", "int32", meaning="spill number"),
    Branch("event", "int64", meaning="event number, unique within a run"),
    Branch("trigger", "int32", meaning="bit 0 physics (missing-energy), bit 1 random/calibration"),
    Branch("beam_p", "float32", meaning="incoming momentum (NaN if no track)", unit="GeV",
           group="Beam", field="p", nan_allowed=True),
    Branch("beam_chi2", "float32", meaning="chi2/ndf of the incoming track (NaN if no track)",
           group="Beam", field="chi2", nan_allowed=True),
    Branch("n_tracks_in", "int16", meaning="number of upstream tracks", group="Beam",
           field="n_tracks"),
    Branch("beam_x", "float32", meaning="incoming track at the ECAL face, x (NaN if no track)",
           unit="mm", group="Beam", field="x", nan_allowed=True),
    Branch("beam_y", "float32", meaning="incoming track at the ECAL face, y (NaN if no track)",
           unit="mm", group="Beam", field="y", nan_allowed=True),
    Branch("srd_e", "float32", (3,), "SRD module energies", group="SRD", field="e", unit="MeV"),
    Branch("srd_t", "float32", meaning="SRD hit time (NaN if no hit)", group="SRD", field="t",
           unit="ns", nan_allowed=True),
    Branch("ecal_pre", "float32", (6, 6), "ECAL preshower cells [ix][iy]", group="ECAL",
           field="pre", unit="GeV"),
    Branch("ecal_main", "float32", (6, 6), "ECAL main cells [ix][iy]", group="ECAL",
           field="main", unit="GeV"),
    Branch("ecal_t", "float32", meaning="ECAL time of the largest cell (NaN if none)",
           group="ECAL", field="t", unit="ns", nan_allowed=True),
    Branch("veto_e", "float32", (3,), "VETO counter planes", group="VETO", field="e", unit="MeV"),
    Branch("hcal_e", "float32", (4, 3, 3), "HCAL cells [module][ix][iy]", group="HCAL",
           field="e", unit="GeV"),
    Branch("hcal_t", "float32", meaning="HCAL0 time (NaN if no deposit)", group="HCAL",
           field="t", unit="ns", nan_allowed=True),
    Branch("vhcal_e", "float32", (4,), "VHCAL cells (NaN when has_vhcal is false)", group="VHCAL",
           field="e", unit="GeV", nan_allowed=True),
    # The counter stays top-level in the coffea schema: a jagged `Hits` record cannot hold a
    # per-event scalar, and `ak.num(events.Hits)` gives the same number.
    Branch("n_hits", "int32", meaning="upstream tracker hits"),
    Branch("hit_station", "int8", meaning="tracker station of each hit", group="Hits",
           field="station", jagged=True),
    Branch("hit_x", "float32", meaning="hit x", unit="mm", group="Hits", field="x", jagged=True),
    Branch("hit_y", "float32", meaning="hit y", unit="mm", group="Hits", field="y", jagged=True),
)

EVENTS_MUON: tuple[Branch, ...] = (
    Branch("mu_p_out", "float32", meaning="outgoing muon momentum (NaN if none)", unit="GeV",
           group="Muon", field="p_out", nan_allowed=True),
    Branch("mu_chi2_out", "float32", meaning="chi2/ndf outgoing track", group="Muon",
           field="chi2_out", nan_allowed=True),
    Branch("n_tracks_out", "int16", meaning="downstream tracks", group="Muon",
           field="n_tracks_out"),
    Branch("mu_theta_out", "float32", meaning="scattering angle", unit="mrad", group="Muon",
           field="theta_out", nan_allowed=True),
)

EVENTS_MC: tuple[Branch, ...] = (
    Branch("mc_process", "int32", meaning="generated process (analysis.codes.Process)",
           group="MC", field="process"),
    Branch("mc_weight", "float32", meaning="event weight (1 unless biased generation)",
           group="MC", field="weight"),
    Branch("mc_invisible_e", "float32", meaning="energy carried away by invisible particles",
           unit="GeV", group="MC", field="invisible_e"),
    Branch("mc_mass", "float32", meaning="dark-sector particle mass (NaN for backgrounds)",
           unit="GeV", group="MC", field="mass", nan_allowed=True),
)

HIT_COUNTER = "n_hits"


def event_branches(setup: int, is_mc: bool) -> tuple[Branch, ...]:
    """The `events` branches a file of this setup (runinfo.setup) and kind must have."""
    branches = EVENTS_COMMON
    if setup == 3:
        branches = branches + EVENTS_MUON
    if is_mc:
        branches = branches + EVENTS_MC
    return branches


def numpy_dtype(branch: Branch) -> np.dtype:
    return np.dtype(branch.dtype)


def tree_types(branches: tuple[Branch, ...]) -> dict[str, object]:
    """Branch types for `uproot` `mktree`: fixed shapes as numpy subarray dtypes.

    Jagged hit fields are declared by the writer (`analysis.rootio`) as awkward types.
    """
    types: dict[str, object] = {}
    for b in branches:
        if b.jagged or b.name == HIT_COUNTER:
            continue
        types[b.name] = np.dtype((b.dtype, b.shape)) if b.shape else np.dtype(b.dtype)
    return types


def type_string(branch: Branch) -> str:
    """How the docs and error messages spell a branch type: `float32[4][3][3]`, `int8[n_hits]`."""
    if branch.jagged:
        return f"{branch.dtype}[{HIT_COUNTER}]"
    return branch.dtype + "".join(f"[{n}]" for n in branch.shape)


# ----------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------

#: Trees every file must have, and the optional one (NTUPLE.md, first bullet).
REQUIRED_TREES = ("events", "runinfo")
OPTIONAL_TREES = ("spills",)

#: Events per chunk of the NaN scan is bounded by bytes, so big files stay in bounded memory.
DEFAULT_STEP_SIZE = "64 MB"

_ROOT_KBEGIN = 100  # TFile::kBEGIN: the first record always starts at byte 100
_REL_TOL = 1e-9  # particles-on-target sums are float64; only rounding may differ


@dataclass(frozen=True)
class Problem:
    """One way a file breaks NTUPLE.md.

    `code` is a short stable tag (`branch-missing`, `wrong-type`, `nan`, ...) for programs;
    `message` says what is wrong and what to do, for people.
    """

    file: str
    tree: str | None
    branch: str | None
    message: str
    code: str = "invalid"

    @property
    def where(self) -> str:
        if self.tree and self.branch:
            return f"{self.tree}.{self.branch}"
        return self.tree or self.branch or "(file)"

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "tree": self.tree, "branch": self.branch,
                "code": self.code, "message": self.message}


@dataclass
class ValidationReport:
    """Every problem found in one file (empty when the file follows NTUPLE.md)."""

    file: str
    problems: list[Problem] = dataclass_field(default_factory=list)
    entries: int | None = None  # entries of `events`, when the tree could be read

    @property
    def ok(self) -> bool:
        return not self.problems

    def __iter__(self):
        return iter(self.problems)

    def add(self, tree: str | None, branch: str | None, code: str, message: str) -> None:
        self.problems.append(Problem(self.file, tree, branch, message, code))

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "ok": self.ok, "entries": self.entries,
                "problems": [p.to_dict() for p in self.problems]}


def validate_files(paths, *, step_size: str | int = DEFAULT_STEP_SIZE) -> list[ValidationReport]:
    """`validate_file` for each path, in the given order."""
    return [validate_file(p, step_size=step_size) for p in paths]


def validate_file(path, *, step_size: str | int = DEFAULT_STEP_SIZE) -> ValidationReport:
    """Check one ROOT file against NTUPLE.md and report every problem, not only the first.

    Structure (trees, branch types and shapes, the `n_hits` counter) is checked from the
    metadata; values (schema_version, entry and particles-on-target bookkeeping, NaN where
    NTUPLE.md allows none, `vhcal_e` without VHCAL) are read in chunks of `step_size`.
    """
    report = ValidationReport(str(path))
    path = Path(path)
    if not _check_container(path, report):
        return report
    try:
        rootfile = uproot.open(path)
    except Exception as exc:  # uproot raises many types for damaged files
        report.add(None, None, "unreadable",
                   f"uproot cannot open the file ({type(exc).__name__}: {exc}); "
                   "re-copy or regenerate it")
        return report
    with rootfile:
        runinfo = _check_runinfo(rootfile, report)
        _check_events(rootfile, report, runinfo, step_size)
        _check_spills(rootfile, report, runinfo)
    return report


def _check_container(path: Path, report: ValidationReport) -> bool:
    """File exists, is ROOT (magic `root`) and is as long as its header's fEND says.

    uproot opens a truncated file happily and only fails when it reads a missing basket,
    so the length is checked here from the header (ROOT TFile format: fVersion, fBEGIN,
    fEND, with a 64-bit fEND when fVersion >= 1000000).
    """
    if not path.exists():
        report.add(None, None, "file-missing",
                   "file does not exist; check the path or regenerate the sample")
        return False
    if not path.is_file():
        report.add(None, None, "file-unreadable", "is not a regular file (a directory?)")
        return False
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(24)
    except OSError as exc:
        report.add(None, None, "file-unreadable", f"cannot read the file ({exc}); fix permissions")
        return False
    if size == 0:
        report.add(None, None, "not-root",
                   "file is empty (0 bytes), not a ROOT file; regenerate it")
        return False
    if header[:4] != b"root":
        report.add(None, None, "not-root",
                   f"not a ROOT file (starts with {header[:4]!r}, expected b'root'); "
                   "NTUPLE.md ntuples are ROOT files with TTrees")
        return False
    if len(header) < 16:
        report.add(None, None, "truncated",
                   f"file is truncated: only {size} bytes, the ROOT header alone is longer; "
                   "re-copy or regenerate it")
        return False
    version = int.from_bytes(header[4:8], "big")
    f_begin = int.from_bytes(header[8:12], "big")
    if version >= 1_000_000 and len(header) >= 20:
        f_end = int.from_bytes(header[12:20], "big")
    else:
        f_end = int.from_bytes(header[12:16], "big")
    if f_begin != _ROOT_KBEGIN or f_end < f_begin:
        report.add(None, None, "not-root",
                   f"not a ROOT file (starts with b'root' but the header is not a TFile "
                   f"header: fBEGIN={f_begin}); NTUPLE.md ntuples are ROOT files with TTrees")
        return False
    if size < f_end:
        report.add(None, None, "truncated",
                   f"file is truncated: its ROOT header says {f_end} bytes, found {size}; "
                   "the copy or the writing job did not finish: re-copy or regenerate it")
        return False
    return True


def _get_tree(rootfile, name: str, report: ValidationReport, required: bool):
    """The TTree `name`, or None after reporting why it cannot be used."""
    try:
        keys = set(rootfile.keys(cycle=False))
    except Exception as exc:
        report.add(name, None, "unreadable", f"cannot list the file's keys ({exc}); re-copy it")
        return None
    if name not in keys:
        if required:
            report.add(name, None, "tree-missing",
                       f"missing TTree '{name}'; NTUPLE.md requires the trees "
                       f"{', '.join(REQUIRED_TREES)}: write it with the ntuple writer")
        return None
    classname = rootfile.classname_of(name)
    if not classname.startswith("TTree"):
        report.add(name, None, "not-ttree",
                   f"'{name}' is a {classname}, not a TTree; NTUPLE.md requires TTrees "
                   "(uproot >= 5.7 writes an RNTuple for file[name] = {...}: use mktree + extend)")
        return None
    try:
        return rootfile[name]
    except Exception as exc:
        report.add(name, None, "unreadable",
                   f"cannot read TTree '{name}' ({type(exc).__name__}: {exc}); re-copy the file")
        return None


def _type_problems(tbranch, b: Branch) -> list[tuple[str, str]]:
    """(code, message) for a branch whose ROOT type is not the NTUPLE.md one.

    Compares uproot's interpretation (big-endian on disk, so byte order is ignored) with
    the table: base dtype, fixed shape, and for hit fields the `n_hits` counter.
    """
    want = type_string(b)
    typename = getattr(tbranch, "typename", "?")
    try:
        interp = tbranch.interpretation
    except Exception as exc:
        return [("wrong-type", f"uproot cannot interpret it ({exc}); NTUPLE.md requires {want}")]
    if b.jagged:
        if not isinstance(interp, uproot.AsJagged):
            return [("wrong-shape",
                     f"is {typename}, but NTUPLE.md requires a variable-length {want} "
                     f"counted by {HIT_COUNTER}")]
        out = []
        content = interp.content
        if not isinstance(content, uproot.AsDtype) or content.from_dtype.shape != ():
            return [("wrong-type", f"is {typename}, NTUPLE.md requires {want}")]
        if content.from_dtype.newbyteorder("=") != np.dtype(b.dtype):
            out.append(("wrong-type",
                        f"has element type {content.from_dtype.newbyteorder('=')} "
                        f"({typename}), NTUPLE.md requires {want}; fix the writer"))
        counter = getattr(tbranch, "count_branch", None)
        if counter is None or counter.name != HIT_COUNTER:
            found = "no counter branch" if counter is None else f"counter '{counter.name}'"
            out.append(("wrong-counter",
                        f"is {typename} with {found}; NTUPLE.md requires a C array counted "
                        f"by '{HIT_COUNTER}' ({want}), not std::vector or another counter"))
        return out
    if isinstance(interp, uproot.AsJagged):
        return [("wrong-shape",
                 f"is variable-length ({typename}), NTUPLE.md requires fixed-size {want}")]
    if not isinstance(interp, uproot.AsDtype):
        return [("wrong-type",
                 f"is {typename} (not a plain numeric branch); NTUPLE.md requires {want}; "
                 "no std::vector or custom classes")]
    dt = interp.from_dtype
    base, shape = (dt.base, dt.shape) if dt.subdtype is not None else (dt, ())
    out = []
    if base.newbyteorder("=") != np.dtype(b.dtype):
        out.append(("wrong-type",
                    f"has type {base.newbyteorder('=')} ({typename}), NTUPLE.md requires "
                    f"{want}; fix the writer"))
    if tuple(shape) != tuple(b.shape):
        have = "scalar" if not shape else "".join(f"[{n}]" for n in shape)
        need = "scalar" if not b.shape else "".join(f"[{n}]" for n in b.shape)
        out.append(("wrong-shape",
                    f"has shape {have} ({typename}), NTUPLE.md requires {need} ({want})"))
    return out


def _check_branches(tree, treename: str, branches, report: ValidationReport,
                    why: str = "") -> set[str]:
    """Report missing and mistyped branches; return the names that are usable as specified."""
    names = set(tree.keys())
    good: set[str] = set()
    for b in branches:
        if b.name not in names:
            report.add(treename, b.name, "branch-missing",
                       f"missing branch '{b.name}' ({type_string(b)}){why}; NTUPLE.md requires "
                       "it: add it to the writer")
            continue
        problems = _type_problems(tree[b.name], b)
        for code, msg in problems:
            report.add(treename, b.name, code, msg)
        if not problems:
            good.add(b.name)
    return good


class _RunInfo:
    """What the event checks need from `runinfo` (arrays only for usable branches)."""

    def __init__(self, values: dict[str, np.ndarray]):
        self.values = values

    def get(self, name: str):
        return self.values.get(name)

    @property
    def needs_muon(self) -> bool | None:
        setup = self.get("setup")
        return None if setup is None else bool(np.any(setup == int(Setup.MUON)))

    @property
    def is_mc(self) -> bool | None:
        is_mc = self.get("is_mc")
        return None if is_mc is None else bool(np.any(is_mc))

    def per_run(self, name: str) -> dict[int, float] | None:
        """Sum of a runinfo branch per run number (segments of one run add up)."""
        runs, vals = self.get("run"), self.get(name)
        if runs is None or vals is None:
            return None
        out: dict[int, float] = {}
        for r, v in zip(runs.tolist(), vals.tolist()):
            out[int(r)] = out.get(int(r), 0) + v
        return out


def _read_arrays(tree, treename: str, names, report: ValidationReport) -> dict[str, np.ndarray]:
    """Small trees (runinfo, spills) are read whole; a damaged branch is reported, not raised."""
    out = {}
    for name in sorted(names):
        try:
            out[name] = tree[name].array(library="np")
        except Exception as exc:
            report.add(treename, name, "read-error",
                       f"cannot read the branch ({type(exc).__name__}: {exc}); the file is "
                       "damaged: re-copy or regenerate it")
    return out


def _check_runinfo(rootfile, report: ValidationReport) -> _RunInfo | None:
    """`runinfo` (NTUPLE.md § runinfo): types, non-empty, schema_version, codes, NaN."""
    tree = _get_tree(rootfile, "runinfo", report, required=True)
    if tree is None:
        return None
    good = _check_branches(tree, "runinfo", RUNINFO, report)
    if tree.num_entries == 0:
        report.add("runinfo", None, "runinfo-empty",
                   "runinfo has no entries; NTUPLE.md requires one entry per run segment "
                   "(run, setup, n_on_target, n_events, ...): fix the writer")
        return None
    v = _read_arrays(tree, "runinfo", good, report)
    if "schema_version" in v:
        for ver in sorted(set(v["schema_version"].tolist()) - {SCHEMA_VERSION}):
            report.add("runinfo", "schema_version", "schema-version",
                       f"schema_version is {ver}, this framework reads NTUPLE.md version "
                       f"{SCHEMA_VERSION}; convert the file or write it with version "
                       f"{SCHEMA_VERSION}")
    if "setup" in v:
        known = {int(s) for s in Setup}
        for bad in sorted(set(v["setup"].tolist()) - known):
            report.add("runinfo", "setup", "bad-code",
                       f"setup is {bad}; NTUPLE.md knows 1 electron, 2 positron, 3 muon, "
                       "4 hadron")
    if "mc_model" in v:
        known = {int(m) for m in Model}
        for bad in sorted(set(v["mc_model"].tolist()) - known):
            report.add("runinfo", "mc_model", "bad-code",
                       f"mc_model is {bad}, not a code of analysis.codes.Model "
                       f"({sorted(known)}); see docs/ntuple.md")
    for b in RUNINFO:
        if b.name in v and b.dtype.startswith("float") and not b.nan_allowed:
            n = int(np.count_nonzero(np.isnan(v[b.name])))
            if n:
                report.add("runinfo", b.name, "nan",
                           f"{n} of {len(v[b.name])} entries are NaN; NTUPLE.md allows NaN "
                           "only for missing measurements, not here: fix the writer")
    for name in ("n_on_target", "n_events"):
        if name in v and np.any(v[name] < 0):
            report.add("runinfo", name, "negative",
                       f"{name} is negative in {int(np.count_nonzero(v[name] < 0))} "
                       "entries; it counts particles/events and must be >= 0")
    if "mc_model" in v and "mc_mass" in v:
        nan = np.isnan(v["mc_mass"])
        bad_bkg = int(np.count_nonzero((v["mc_model"] == 0) & ~nan))
        bad_sig = int(np.count_nonzero((v["mc_model"] != 0) & nan))
        if bad_bkg:
            report.add("runinfo", "mc_mass", "mc-mass",
                       f"{bad_bkg} entries have mc_model 0 but a mc_mass; NTUPLE.md: mc_mass "
                       "is NaN when mc_model is 0")
        if bad_sig:
            report.add("runinfo", "mc_mass", "mc-mass",
                       f"{bad_sig} signal entries (mc_model != 0) have mc_mass NaN; write "
                       "the signal mass in GeV")
    return _RunInfo(v)


def _is_float(b: Branch) -> bool:
    return b.dtype.startswith("float")


def _check_events(rootfile, report: ValidationReport, runinfo: _RunInfo | None,
                  step_size) -> None:
    """`events` (NTUPLE.md § events): branches per setup/kind, entry bookkeeping, values."""
    tree = _get_tree(rootfile, "events", report, required=True)
    if tree is None:
        return
    report.entries = int(tree.num_entries)
    names = set(tree.keys())
    good = _check_branches(tree, "events", EVENTS_COMMON, report)
    needs_muon = runinfo.needs_muon if runinfo else None
    is_mc = runinfo.is_mc if runinfo else None
    for extra, needed, why in (
        (EVENTS_MUON, needs_muon, " required because runinfo.setup is 3 (muon)"),
        (EVENTS_MC, is_mc, " required because runinfo.is_mc is true (simulated sample)"),
    ):
        if needed:
            good |= _check_branches(tree, "events", extra, report, why)
        else:  # optional here: check only the ones present
            present = tuple(b for b in extra if b.name in names)
            good |= _check_branches(tree, "events", present, report)

    if runinfo is not None and runinfo.get("n_events") is not None:
        expected = int(runinfo.get("n_events").sum())
        if expected != tree.num_entries:
            report.add("runinfo", "n_events", "n-events-mismatch",
                       f"the sum of runinfo.n_events is {expected} but the events tree has "
                       f"{tree.num_entries} entries; fix n_events in the writer, or the file "
                       "is incomplete: regenerate it")
            check_per_run = False
        else:
            check_per_run = True
    else:
        check_per_run = False
    _scan_events(tree, report, runinfo, good, step_size, check_per_run)


def _scan_events(tree, report: ValidationReport, runinfo: _RunInfo | None, good: set[str],
                 step_size, check_per_run: bool) -> None:
    """Read values chunk by chunk (bounded memory): NaN where NTUPLE.md allows none,
    `vhcal_e` NaN when `has_vhcal` is false, every event's run described by `runinfo`."""
    table = {b.name: b for b in EVENTS_COMMON + EVENTS_MUON + EVENTS_MC}
    nan_cols = sorted(n for n in good if _is_float(table[n]) and not table[n].nan_allowed)
    run_info_runs = runinfo.get("run") if runinfo else None
    no_vhcal_runs: set[int] = set()
    if runinfo and runinfo.get("has_vhcal") is not None and run_info_runs is not None:
        no_vhcal_runs = {int(r) for r, h in zip(run_info_runs, runinfo.get("has_vhcal"))
                         if not h}
    need_run = "run" in good and run_info_runs is not None
    cols = list(nan_cols)
    if need_run:
        cols.append("run")
    check_vhcal = bool(no_vhcal_runs) and need_run and "vhcal_e" in good
    if check_vhcal:
        cols.append("vhcal_e")
    if not cols or tree.num_entries == 0:
        return

    nan_count = dict.fromkeys(nan_cols, 0)
    nan_first: dict[str, int] = {}
    vh_count, vh_first = 0, None
    run_counts: dict[int, int] = {}
    no_vhcal = np.asarray(sorted(no_vhcal_runs), dtype=np.int64)
    try:
        for chunk, report_ in tree.iterate(cols, step_size=step_size, library="ak",
                                           report=True):
            start = report_.tree_entry_start
            for name in nan_cols:
                bad = _entries_with_nan(chunk[name])
                n = int(np.count_nonzero(bad))
                if n:
                    nan_count[name] += n
                    nan_first.setdefault(name, start + int(np.argmax(bad)))
            if need_run:
                runs = ak.to_numpy(chunk["run"]).astype(np.int64)
                u, c = np.unique(runs, return_counts=True)
                for r, k in zip(u.tolist(), c.tolist()):
                    run_counts[r] = run_counts.get(r, 0) + k
                if check_vhcal:
                    sel = np.isin(runs, no_vhcal)
                    measured = ~_entries_all_nan(chunk["vhcal_e"]) & sel
                    n = int(np.count_nonzero(measured))
                    if n:
                        vh_count += n
                        if vh_first is None:
                            vh_first = start + int(np.argmax(measured))
    except Exception as exc:
        _locate_read_errors(tree, cols, step_size, report, exc)

    for name in nan_cols:
        if nan_count[name]:
            report.add("events", name, "nan",
                       f"{nan_count[name]} of {tree.num_entries} entries contain NaN (first "
                       f"at entry {nan_first[name]}); NTUPLE.md allows NaN only for a missing "
                       f"measurement, which {name} never is: fix the producer")
    if vh_count:
        report.add("events", "vhcal_e", "vhcal-not-nan",
                   f"{vh_count} entries of runs without VHCAL (runinfo.has_vhcal false) have "
                   f"non-NaN vhcal_e (first at entry {vh_first}); NTUPLE.md: vhcal_e is NaN "
                   "when has_vhcal is false")
    if need_run and run_counts:
        described = {int(r) for r in run_info_runs.tolist()}
        unknown = sorted(set(run_counts) - described)
        if unknown:
            shown = ", ".join(map(str, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            report.add("events", "run", "unknown-run",
                       f"events of run(s) {shown} have no runinfo entry; NTUPLE.md: every "
                       "event's run needs a runinfo segment (add it, or fix events.run)")
        elif check_per_run:
            expected = runinfo.per_run("n_events") or {}
            for r in sorted(expected):
                if int(expected[r]) != run_counts.get(r, 0):
                    report.add("runinfo", "n_events", "run-events-mismatch",
                               f"run {r}: runinfo.n_events is {int(expected[r])} but the "
                               f"events tree has {run_counts.get(r, 0)} entries with run == "
                               f"{r}; fix n_events per run segment in the writer")


def _entries_with_nan(arr) -> np.ndarray:
    """Per-entry: does any value (of a fixed-size or jagged array) is NaN."""
    bad = np.isnan(arr)
    while bad.ndim > 1:
        bad = ak.any(bad, axis=-1)
    return ak.to_numpy(bad).astype(bool)


def _entries_all_nan(arr) -> np.ndarray:
    nan = np.isnan(arr)
    while nan.ndim > 1:
        nan = ak.all(nan, axis=-1)
    return ak.to_numpy(nan).astype(bool)


def _locate_read_errors(tree, cols, step_size, report: ValidationReport, exc) -> None:
    """A chunked read failed: find which branches are damaged and report each."""
    found = False
    for name in cols:
        try:
            for _ in tree.iterate([name], step_size=step_size, library="np"):
                pass
        except Exception as err:
            found = True
            report.add("events", name, "read-error",
                       f"cannot read the branch ({type(err).__name__}: {err}); the file is "
                       "damaged: re-copy or regenerate it")
    if not found:
        report.add("events", None, "read-error",
                   f"reading the events tree failed ({type(exc).__name__}: {exc}); re-copy "
                   "or regenerate the file")


def _check_spills(rootfile, report: ValidationReport, runinfo: _RunInfo | None) -> None:
    """Optional `spills` tree (NTUPLE.md first bullet): per-run sums of n_on_target equal
    runinfo.n_on_target; (run, spill) pairs unique so bad-spill exclusion is well defined."""
    tree = _get_tree(rootfile, "spills", report, required=False)
    if tree is None:
        return
    good = _check_branches(tree, "spills", SPILLS, report)
    v = _read_arrays(tree, "spills", good, report)
    if "n_on_target" in v:
        n = int(np.count_nonzero(np.isnan(v["n_on_target"])))
        if n:
            report.add("spills", "n_on_target", "nan",
                       f"{n} spills have NaN n_on_target; NTUPLE.md requires a count")
        elif np.any(v["n_on_target"] < 0):
            report.add("spills", "n_on_target", "negative",
                       "negative n_on_target in spills; it counts particles and must be >= 0")
    if "run" in v and "spill" in v:
        pairs = np.stack([v["run"].astype(np.int64), v["spill"].astype(np.int64)], axis=1)
        u, c = np.unique(pairs, axis=0, return_counts=True)
        dup = [tuple(map(int, p)) for p, k in zip(u, c) if k > 1]
        if dup:
            report.add("spills", "spill", "spills-duplicate",
                       f"(run, spill) pairs appear more than once: {dup[:10]}; each spill "
                       "must have one entry")
    if "run" in v and "n_on_target" in v and runinfo is not None:
        expected = runinfo.per_run("n_on_target")
        if expected is None:
            return
        have: dict[int, float] = {}
        for r, x in zip(v["run"].tolist(), v["n_on_target"].tolist()):
            have[int(r)] = have.get(int(r), 0.0) + x
        for r in sorted(set(expected) | set(have)):
            s, t = have.get(r, 0.0), expected.get(r, 0.0)
            if not math.isclose(s, t, rel_tol=_REL_TOL, abs_tol=1e-6):
                report.add("spills", "n_on_target", "spills-mismatch",
                           f"run {r}: the sum of spills.n_on_target is {s:.17g} but "
                           f"runinfo.n_on_target is {t:.17g}; NTUPLE.md requires them equal: "
                           "fix the writer or drop the inconsistent spills tree")


# ----------------------------------------------------------------------------------------
# coffea schema
# ----------------------------------------------------------------------------------------

#: Order of the records the schema builds (table group names).
GROUPS = ("Beam", "SRD", "ECAL", "VETO", "HCAL", "VHCAL", "Hits", "Muon", "MC")


class NA64Schema(BaseSchema):
    """coffea schema for NTUPLE.md `events`: branches grouped into records by the table.

    `events.ECAL.pre/main/t`, `events.HCAL.e/t`, `events.SRD`, `events.VETO`, `events.VHCAL`,
    `events.Beam`, `events.Hits` (jagged `station`, `x`, `y`), `events.Muon` and `events.MC`
    when those branches exist; `run`, `spill`, `event`, `trigger`, `n_hits` and any branch
    not in the table stay top-level. Built with `zip_forms` on the uproot base form, so in
    virtual mode a branch is read only when touched.
    """

    __dask_capable__ = True

    def __init__(self, base_form, *args, **kwargs):
        super().__init__(base_form)
        fields, contents = self._build(base_form["fields"], base_form["contents"])
        self._form["fields"] = fields
        self._form["contents"] = contents

    @staticmethod
    def _build(fields, contents):
        table = {b.name: b for b in EVENTS_COMMON + EVENTS_MUON + EVENTS_MC}
        branch_forms = dict(zip(fields, contents))
        top: dict[str, dict] = {}
        grouped: dict[str, dict[str, dict]] = {}
        for name, form in branch_forms.items():
            b = table.get(name)
            if b is None or b.group is None:
                top[name] = form
            else:
                grouped.setdefault(b.group, {})[b.field] = form
        for group in GROUPS:
            if group not in grouped:
                continue
            members = grouped.pop(group)
            if group == "Hits":
                classes = {f["class"] for f in members.values()}
                if not all(c.startswith("ListOffsetArray") for c in classes):
                    raise ValueError(
                        f"NA64Schema: hit branches {sorted('hit_' + k for k in members)} are "
                        f"not variable-length arrays counted by n_hits (forms {sorted(classes)}); "
                        "run `na64 validate` on the file (NTUPLE.md)")
            top[group] = zip_forms(members, group)
        for group, members in grouped.items():  # a group added to the table later
            top[group] = zip_forms(members, group)
        return list(top), list(top.values())

    @classmethod
    def behavior(cls):
        from coffea.nanoevents.methods import base

        return base.behavior


# ----------------------------------------------------------------------------------------
# Documentation
# ----------------------------------------------------------------------------------------

def markdown_table(branches: tuple[Branch, ...], *, with_group: bool = True) -> str:
    """The branch table as Markdown, as docs/ntuple.md shows it (a test keeps them equal)."""
    head = "| branch | type | unit | NaN allowed | meaning |"
    rule = "|---|---|---|---|---|"
    if with_group:
        head += " coffea field |"
        rule += "---|"
    lines = [head, rule]
    for b in branches:
        nan = "yes" if b.nan_allowed else ("—" if not _is_float(b) else "no")
        row = f"| `{b.name}` | {type_string(b)} | {b.unit or ''} | {nan} | {b.meaning} |"
        if with_group:
            where = f"`{b.group}.{b.field}`" if b.group else f"`{b.name}`"
            row += f" {where} |"
        lines.append(row)
    return "\n".join(lines)


def markdown_tables() -> str:
    """All tables of docs/ntuple.md, between its `BEGIN/END generated tables` markers."""
    parts = [
        "### `runinfo`", "", markdown_table(RUNINFO, with_group=False), "",
        "### `spills` (optional)", "", markdown_table(SPILLS, with_group=False), "",
        "### `events` — all setups", "", markdown_table(EVENTS_COMMON), "",
        "### `events` — muon setup only (`setup` = 3)", "", markdown_table(EVENTS_MUON), "",
        "### `events` — simulated samples only (`is_mc`)", "", markdown_table(EVENTS_MC),
    ]
    return "\n".join(parts)


#: What each framework code means, for the docs (the codes themselves live in analysis.codes).
_CODE_MEANINGS = {
    "Setup.ELECTRON": "NA64e, electron beam", "Setup.POSITRON": "NA64e, positron beam",
    "Setup.MUON": "NA64μ, muon beam", "Setup.HADRON": "NA64h, hadron (π⁻) beam",
    "Model.NONE": "data and background simulation",
    "Model.DARK_PHOTON": "vector A′ → invisible, coupling εe",
    "Model.SCALAR": "lepton-specific scalar, coupling g",
    "Model.PSEUDOSCALAR": "pseudoscalar", "Model.AXIAL": "axial vector",
    "Model.ZPRIME": "L_μ − L_τ Z′, coupling g_Z′",
    "Model.ETA": "η → invisible (hadron beam), Br",
    "Model.ETA_PRIME": "η′ → invisible (hadron beam), Br",
    "Process.SIGNAL": "dark-sector production (model in runinfo.mc_model)",
    "Process.EM_SHOWER": "ordinary beam electron, full-energy shower",
    "Process.LOW_ENERGY_TAIL": "beam electron from the low-energy tail of the beam",
    "Process.HADRON_BEAM": "hadron contamination of the beam (π⁻, K⁻, p̄)",
    "Process.ELECTRONUCLEAR_HCAL": "electro/photo-nuclear in ECAL, hadrons seen in HCAL",
    "Process.ELECTRONUCLEAR_ESCAPE": "electro/photo-nuclear in ECAL, leading neutral hadrons "
                                     "escape HCAL",
    "Process.UPSTREAM_HADRONS": "interaction upstream of ECAL producing large-angle hadrons",
    "Process.DIMUON": "e⁻N → e⁻N μ⁺μ⁻ in the ECAL",
    "Process.DECAY_IN_FLIGHT": "beam hadron decaying in flight upstream (e.g. K → eν)",
    "Process.PILEUP": "two beam particles in one readout window",
    "Process.MU_MOMENTUM_TAIL": "muon setup: mis-reconstructed outgoing momentum",
    "Process.MU_KAON_DECAY": "muon setup: K/π decays in flight upstream",
    "Process.MU_HADRON_PUNCH": "muon setup: hadron contamination / punch-through",
    "Process.MU_NUCLEAR": "muon setup: muon-nuclear interaction with energy in calorimeters",
    "Process.MU_ORDINARY": "muon setup: ordinary scattered muon",
    "Process.H_HADRON_SHOWER": "hadron setup: hadronic shower",
    "Process.H_CHARGE_EXCHANGE_VISIBLE": "hadron setup: charge exchange with visible decay",
    "Process.H_BEAM_ELECTRON": "hadron setup: electron in the beam",
    "Process.H_BEAM_MUON": "hadron setup: muon in the beam",
    "Process.H_BEAM_KAON": "hadron setup: kaon in the beam",
    "Process.H_LEAKAGE": "hadron setup: energy leaking out of the calorimeters",
}


def markdown_codes() -> str:
    """Tables of the framework codes (analysis.codes) as docs/ntuple.md shows them."""
    from .codes import MODEL_NAMES, SETUP_NAMES, Process

    def table(title, enum, names=None):
        cli = {int(v): k for k, v in (names or {}).items()}
        lines = [title, "", "| code | name | CLI name | meaning |", "|---|---|---|---|"]
        for m in enum:
            meaning = _CODE_MEANINGS.get(f"{enum.__name__}.{m.name}", "")
            name = f"`{cli[int(m)]}`" if int(m) in cli else ""
            lines.append(f"| {int(m)} | `{m.name}` | {name} | {meaning} |")
        return "\n".join(lines)

    return "\n\n".join([
        table("### `runinfo.setup` (fixed by NTUPLE.md; `analysis.codes.Setup`)", Setup,
              SETUP_NAMES),
        table("### `runinfo.mc_model` (`analysis.codes.Model`)", Model, MODEL_NAMES),
        table("### `events.mc_process` (`analysis.codes.Process`)", Process),
    ])


__all__ = [
    "Branch",
    "RUNINFO",
    "SPILLS",
    "EVENTS_COMMON",
    "EVENTS_MUON",
    "EVENTS_MC",
    "HIT_COUNTER",
    "SCHEMA_VERSION",
    "REQUIRED_TREES",
    "OPTIONAL_TREES",
    "GROUPS",
    "event_branches",
    "tree_types",
    "type_string",
    "Problem",
    "ValidationReport",
    "validate_file",
    "validate_files",
    "NA64Schema",
    "markdown_table",
    "markdown_tables",
    "markdown_codes",
]
