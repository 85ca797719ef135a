"""Dataset manifests → coffea filesets, and particles-on-target (POT/EOT/MOT) accounting.

A manifest (YAML under data/samples/, format in docs/ntuple.md § Dataset manifests) names
each dataset's files with what was catalogued about them: entries and particles on target
(from the file's `runinfo`, NTUPLE.md), size and an xxh64 checksum. Every normalisation in
the framework goes through here, so a file that changed after cataloguing is refused rather
than silently mis-normalised (ARCHITECTURE.md: "every number is normalised by what was
actually processed").
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import uproot
import xxhash
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .checkpoint import atomic_write
from .codes import SETUP_NAMES, Model, Setup

SETUPS = ("electron", "positron", "muon", "hadron")
KINDS = ("data", "pseudo-data", "simulation", "signal")
ORIGINS = ("committed", "generated")
CHECKSUM_PREFIX = "xxh64:"
_CHECKSUM_RE = r"^xxh64:[0-9a-f]{16}$"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_HASH_BLOCK = 1 << 20  # checksum streamed in 1 MiB blocks: bounded memory for any file size
_REL_TOL = 1e-9  # float64 sums of particles on target differ only by rounding


class ManifestError(ValueError):
    """A manifest, or a file it lists, is not what it claims. `problems` has one line each."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FileEntry(_Strict):
    """One ROOT file of a dataset, as catalogued."""

    path: str = Field(min_length=1, description="relative to the manifest's folder")
    entries: int = Field(ge=0, description="entries of the tree (sum of runinfo.n_events)")
    n_on_target: float = Field(ge=0, allow_inf_nan=False,
                               description="sum of runinfo.n_on_target")
    size: int = Field(ge=0, description="bytes")
    checksum: str = Field(pattern=_CHECKSUM_RE, description="xxh64:<16 hex digits>")
    treename: str = "events"


class DatasetEntry(_Strict):
    """One dataset: what it is (setup, period, kind, process), where it comes from, its files."""

    setup: Literal["electron", "positron", "muon", "hadron"]
    period: str = Field(min_length=1)
    kind: Literal["data", "pseudo-data", "simulation", "signal"]
    process: str = Field(min_length=1)
    origin: Literal["committed", "generated"] = "committed"
    generated_by: str | None = None
    files: list[FileEntry] = Field(min_length=1)

    @field_validator("period", mode="before")
    @classmethod
    def _period_as_text(cls, value):
        """`period: 2023` in YAML is an int; a period is a label, so take its text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _check(self):
        if self.origin == "generated" and not self.generated_by:
            raise ValueError("origin 'generated' needs 'generated_by': the command that "
                             "makes the files (e.g. 'na64 samples')")
        seen: set[str] = set()
        for f in self.files:
            if f.path in seen:
                raise ValueError(f"file {f.path!r} is listed twice")
            seen.add(f.path)
        return self

    @property
    def entries(self) -> int:
        return sum(f.entries for f in self.files)

    @property
    def n_on_target(self) -> float:
        return math.fsum(f.n_on_target for f in self.files)


class Manifest(_Strict):
    """`datasets:` name → DatasetEntry. Relative file paths resolve against `base_dir`."""

    datasets: dict[str, DatasetEntry] = Field(default_factory=dict)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("datasets")
    @classmethod
    def _names(cls, value):
        for name in value:
            if not _NAME_RE.match(name):
                raise ValueError(f"dataset name {name!r}: use letters, digits and _ . + - "
                                 "(it becomes a command-line argument and a file key)")
        return value

    @property
    def source(self) -> Path | None:
        """The YAML file this manifest was loaded from (None if built in memory)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source is not None else Path.cwd()

    def resolve(self, file: FileEntry) -> Path:
        """Absolute path of a listed file (relative paths are relative to the manifest)."""
        p = Path(file.path)
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def select(self, datasets: str | Iterable[str] | None = None) -> dict[str, DatasetEntry]:
        """The named datasets (all when None); unknown names are a ManifestError."""
        if datasets is None:
            return dict(sorted(self.datasets.items()))
        names = [datasets] if isinstance(datasets, str) else list(datasets)
        unknown = [n for n in names if n not in self.datasets]
        if unknown:
            where = self._source or "manifest"
            raise ManifestError(f"{where}: no dataset named {', '.join(map(repr, unknown))}; "
                                f"it has {', '.join(sorted(self.datasets)) or 'none'}")
        return {n: self.datasets[n] for n in names}


# ----------------------------------------------------------------------------------------
# load / write
# ----------------------------------------------------------------------------------------

def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; every error names the file, the key path and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found; create it with `na64 catalogue`") \
            from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # nodes only: lines, duplicates
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") \
            from None
    if data is None:
        raise ManifestError(f"{path}: manifest is empty; it needs a top-level 'datasets:' "
                            "mapping (see docs/ntuple.md)")
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: the top level must be a mapping with key 'datasets', "
                            f"not a {type(data).__name__}")
    dups = _duplicate_keys(root, ())
    if dups:
        raise ManifestError([f"{path}:{line}: {_key_path(loc)}: duplicate key; YAML keeps only "
                             "the last one: remove or rename it" for loc, line in dups])
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError([_describe(path, root, err) for err in exc.errors()]) from None
    manifest._source = path.resolve()
    return manifest


def write_manifest(manifest: Manifest, path: str | Path) -> Path:
    """Write deterministically: datasets sorted by name, files by path, fixed key order,
    paths relative to the manifest's folder; atomic (temporary file + rename)."""
    path = Path(path)
    base = path.parent.resolve()
    out: dict[str, dict] = {}
    for name in sorted(manifest.datasets):
        ds = manifest.datasets[name]
        files = []
        for f in ds.files:
            rel = Path(os.path.relpath(manifest.resolve(f), base)).as_posix()
            files.append({"path": rel, "entries": f.entries, "n_on_target": float(f.n_on_target),
                          "size": f.size, "checksum": f.checksum, "treename": f.treename})
        files.sort(key=lambda d: d["path"])
        entry: dict[str, object] = {"setup": ds.setup, "period": ds.period, "kind": ds.kind,
                                    "process": ds.process, "origin": ds.origin}
        if ds.generated_by:
            entry["generated_by"] = ds.generated_by
        entry["files"] = files
        out[name] = entry
    text = ("# Dataset manifest: format in docs/ntuple.md (Dataset manifests).\n"
            "# Written by `na64 catalogue`; file entries are checked by analysis.datasets.verify.\n"
            + yaml.safe_dump({"datasets": out}, sort_keys=False, default_flow_style=False,
                             allow_unicode=True, width=100))
    atomic_write(path, text)
    return path


def _key_path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_ALLOWED = {1: Manifest, 3: DatasetEntry, 5: FileEntry}  # depth of a key → its model


def _describe(path: Path, root, err) -> str:
    """One pydantic error as `file:line: key.path: what is wrong`."""
    loc = tuple(err["loc"])
    line = _line_of(root, loc)
    where = f"{path}:{line}" if line else str(path)
    if err["type"] == "extra_forbidden":
        model = _ALLOWED.get(len(loc))
        allowed = f" (allowed: {', '.join(model.model_fields)})" if model else ""
        return f"{where}: {_key_path(loc)}: unknown key {loc[-1]!r}{allowed}; remove or fix it"
    msg = err["msg"]
    if err["type"] == "missing":
        return f"{where}: {_key_path(loc)}: required key is missing; add it"
    return f"{where}: {_key_path(loc)}: {msg}"


def _line_of(node, loc) -> int | None:
    """1-based line of the deepest YAML node along `loc` (a key itself for the last step)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node, loc) -> list[tuple[tuple, int]]:
    out = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for k, v in node.value:
            if k.value in seen:
                out.append((loc + (k.value,), k.start_mark.line + 1))
            seen.add(k.value)
            out += _duplicate_keys(v, loc + (k.value,))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out += _duplicate_keys(v, loc + (i,))
    return out


# ----------------------------------------------------------------------------------------
# reading what a file says about itself
# ----------------------------------------------------------------------------------------

def checksum(path: str | Path) -> str:
    """`xxh64:<hex>` of the file's bytes, streamed (bounded memory for any size)."""
    h = xxhash.xxh64()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return CHECKSUM_PREFIX + h.hexdigest()


class _Bookkeeping:
    """What a file's `runinfo` (and `spills`, if present) say about exposure, NTUPLE.md."""

    def __init__(self, path: Path, treename: str = "events"):
        self.path = path
        try:
            with uproot.open(path) as f:
                if "runinfo" not in f:
                    raise ManifestError(f"{path}: no 'runinfo' tree; NTUPLE.md requires it "
                                        "(run `na64 validate` on the file)")
                ri = f["runinfo"].arrays(["run", "setup", "n_on_target", "n_events", "is_mc",
                                          "mc_model"], library="np")
                self.tree_entries = int(f[treename].num_entries) if treename in f else None
                self.spills = None
                if "spills" in f:
                    self.spills = f["spills"].arrays(["run", "spill", "n_on_target"],
                                                     library="np")
        except ManifestError:
            raise
        except Exception as exc:
            raise ManifestError(f"{path}: cannot read runinfo/spills ({type(exc).__name__}: "
                                f"{exc}); run `na64 validate` on the file")
        self.runinfo = ri
        self.entries = int(ri["n_events"].sum())
        self.n_on_target = math.fsum(ri["n_on_target"].tolist())

    def spills_total(self) -> float | None:
        if self.spills is None:
            return None
        return math.fsum(self.spills["n_on_target"].tolist())

    def check_spills(self) -> None:
        """NTUPLE.md: spill sums equal runinfo.n_on_target (per run; the total here)."""
        total = self.spills_total()
        if total is not None and not math.isclose(total, self.n_on_target, rel_tol=_REL_TOL,
                                                  abs_tol=1e-6):
            raise ManifestError(f"{self.path}: spills.n_on_target sums to {total:.17g} but "
                                f"runinfo.n_on_target to {self.n_on_target:.17g}; NTUPLE.md "
                                "requires them equal: fix or re-make the file")


def _file_problem_for_kind(path: Path, book: _Bookkeeping, name: str, setup: str,
                           kind: str) -> list[str]:
    """A dataset's declared setup/kind must agree with every file's runinfo (NTUPLE.md)."""
    problems = []
    want = int(SETUP_NAMES[setup])
    have = sorted(set(book.runinfo["setup"].tolist()))
    if have != [want]:
        names = {int(s): s.name.lower() for s in Setup}
        problems.append(f"{path}: runinfo.setup is {have} "
                        f"({', '.join(names.get(s, '?') for s in have)}) but dataset {name!r} "
                        f"is declared {setup!r} ({want}); use --setup to match the file")
    is_mc = bool(np.all(book.runinfo["is_mc"]))
    any_mc = bool(np.any(book.runinfo["is_mc"]))
    models = set(book.runinfo["mc_model"].tolist())
    if kind == "data" and any_mc:
        problems.append(f"{path}: runinfo.is_mc is true but dataset {name!r} is declared kind "
                        "'data'; use --kind simulation, signal or pseudo-data")
    if kind in ("simulation", "signal") and not is_mc:
        problems.append(f"{path}: runinfo.is_mc is false but dataset {name!r} is declared kind "
                        f"{kind!r}; use --kind data or pseudo-data")
    if kind == "signal" and int(Model.NONE) in models:
        problems.append(f"{path}: runinfo.mc_model is 0 (no signal model) but dataset {name!r} "
                        "is declared kind 'signal'; use --kind simulation")
    if kind == "simulation" and models - {int(Model.NONE)}:
        problems.append(f"{path}: runinfo.mc_model is {sorted(models)} (a signal model) but "
                        f"dataset {name!r} is declared kind 'simulation'; use --kind signal")
    return problems


def catalogue(
    files: Iterable[str | Path],
    name: str,
    setup: str,
    period: str,
    kind: str,
    process: str,
    origin: str = "committed",
    generated_by: str | None = None,
    *,
    treename: str = "events",
    validate: bool = True,
) -> DatasetEntry:
    """Describe `files` as one dataset: entries and n_on_target from each file's runinfo
    (cross-checked with `spills` when present), size and streamed xxh64 checksum.

    With `validate`, every file must pass `schema.validate_file` (NTUPLE.md) first. The
    declared setup and kind must agree with runinfo. Paths are stored absolute;
    `write_manifest` makes them relative to the manifest's folder.
    """
    from .schema import validate_file

    files = [Path(f) for f in files]
    if not files:
        raise ManifestError(f"dataset {name!r}: no files given")
    problems: list[str] = []
    entries: list[FileEntry] = []
    for path in files:
        if not path.is_file():
            problems.append(f"{path}: file not found; check the path")
            continue
        if validate:
            report = validate_file(path)
            if not report.ok:
                problems += [str(p) for p in report.problems]
                continue
        try:
            book = _Bookkeeping(path, treename)
            book.check_spills()
        except ManifestError as exc:
            problems += exc.problems
            continue
        if book.tree_entries is not None and book.tree_entries != book.entries:
            problems.append(f"{path}: runinfo.n_events sums to {book.entries} but tree "
                            f"'{treename}' has {book.tree_entries} entries; the file is "
                            "inconsistent: run `na64 validate` on it")
            continue
        problems += _file_problem_for_kind(path, book, name, setup, kind)
        entries.append(FileEntry(path=str(path.resolve()), entries=book.entries,
                                 n_on_target=book.n_on_target, size=path.stat().st_size,
                                 checksum=checksum(path), treename=treename))
    if problems:
        raise ManifestError([f"cannot catalogue dataset {name!r}:"] + problems)
    try:
        return DatasetEntry(setup=setup, period=period, kind=kind, process=process,
                            origin=origin, generated_by=generated_by, files=entries)
    except ValidationError as exc:
        raise ManifestError([f"dataset {name!r}: {_key_path(e['loc'])}: {e['msg']}"
                             for e in exc.errors()]) from None


def catalogue_into(manifest_path: str | Path, files, name: str, **kwargs) -> DatasetEntry:
    """`na64 catalogue`: catalogue `files` and add (or replace) dataset `name` in the
    manifest at `manifest_path` (created if missing)."""
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path) if manifest_path.exists() else Manifest()
    if not _NAME_RE.match(name):
        raise ManifestError(f"dataset name {name!r}: use letters, digits and _ . + -")
    entry = catalogue(files, name, **kwargs)
    datasets = dict(manifest.datasets)
    datasets[name] = entry
    updated = Manifest(datasets=datasets)
    updated._source = manifest.source
    write_manifest(updated, manifest_path)
    return entry


# ----------------------------------------------------------------------------------------
# using a manifest
# ----------------------------------------------------------------------------------------

def verify(manifest: Manifest, datasets: str | Iterable[str] | None = None, *,
           checksums: bool = True) -> None:
    """Refuse (ManifestError listing every problem) if a listed file is missing, its size or
    checksum changed since cataloguing (edited, truncated, replaced), or its runinfo no
    longer gives the catalogued entries and particles on target."""
    problems: list[str] = []
    for name, ds in manifest.select(datasets).items():
        for f in ds.files:
            path = manifest.resolve(f)
            tag = f"{path} (dataset {name!r})"
            if not path.is_file():
                problems.append(f"{tag}: file is missing; restore it or re-run "
                                f"{ds.generated_by or '`na64 catalogue`'}")
                continue
            size = path.stat().st_size
            if size != f.size:
                problems.append(f"{tag}: size is {size} bytes but {f.size} were catalogued; "
                                "the file changed or is truncated: restore it, or re-catalogue "
                                "it if the change is intended")
                continue
            if checksums:
                digest = checksum(path)
                if digest != f.checksum:
                    problems.append(f"{tag}: checksum is {digest} but {f.checksum} was "
                                    "catalogued; the file changed: restore it, or re-catalogue "
                                    "it if the change is intended")
                    continue
            try:
                book = _Bookkeeping(path, f.treename)
            except ManifestError as exc:
                problems += exc.problems
                continue
            if book.entries != f.entries:
                problems.append(f"{tag}: runinfo.n_events sums to {book.entries} but the "
                                f"manifest says entries: {f.entries}; re-catalogue the file")
            if not math.isclose(book.n_on_target, f.n_on_target, rel_tol=_REL_TOL):
                problems.append(f"{tag}: runinfo.n_on_target sums to {book.n_on_target:.17g} "
                                f"but the manifest says {f.n_on_target:.17g}; re-catalogue")
    if problems:
        src = manifest.source or "manifest"
        raise ManifestError([f"{src}: {len(problems)} problem(s) with listed files:"]
                            + problems)


def fileset(manifest: Manifest, datasets: str | Iterable[str] | None = None) -> dict:
    """coffea fileset `{name: {"files": {abs_path: treename}, "metadata": {...}}}`.

    Metadata keys avoid coffea's reserved names ("dataset", "numentries", ...).
    """
    out = {}
    for name, ds in manifest.select(datasets).items():
        out[name] = {
            "files": {str(manifest.resolve(f)): f.treename for f in ds.files},
            "metadata": {
                "setup": ds.setup, "period": ds.period, "kind": ds.kind,
                "process": ds.process, "n_on_target": ds.n_on_target,
                "entries": ds.entries,
                "manifest": str(manifest.source) if manifest.source else None,
            },
        }
    return out


def n_on_target(manifest: Manifest, dataset: str, *, read_files: bool = True,
                bad_spills: set[tuple[int, int]] | None = None) -> float:
    """Particles on target of a dataset: the sum over its files of runinfo.n_on_target.

    With `read_files` (default) each file's runinfo is read and must agree with the
    manifest, and its `spills` sum when present (NTUPLE.md). `bad_spills` {(run, spill)}
    removes those spills' particles (needs the `spills` tree, see n_on_target_excluding).
    """
    ds = manifest.select(dataset)[dataset]
    if bad_spills:
        return math.fsum(n_on_target_excluding(manifest.resolve(f), bad_spills)
                         for f in ds.files)
    if not read_files:
        return ds.n_on_target
    total = []
    problems: list[str] = []
    for f in ds.files:
        path = manifest.resolve(f)
        try:
            book = _Bookkeeping(path, f.treename)
            book.check_spills()
        except ManifestError as exc:
            problems += exc.problems
            continue
        if not math.isclose(book.n_on_target, f.n_on_target, rel_tol=_REL_TOL):
            problems.append(f"{path} (dataset {dataset!r}): runinfo.n_on_target sums to "
                            f"{book.n_on_target:.17g} but the manifest says "
                            f"{f.n_on_target:.17g}; re-catalogue the file")
        total.append(book.n_on_target)
    if problems:
        raise ManifestError(problems)
    return math.fsum(total)


def n_on_target_excluding(path: str | Path, bad_spills: Iterable[tuple[int, int]]) -> float:
    """Particles on target of one file without the listed (run, spill) pairs.

    Uses the `spills` tree (NTUPLE.md: its per-run sums equal runinfo.n_on_target, checked
    here); pairs not in the file are ignored, so one global bad-spill list serves all files.
    """
    path = Path(path)
    book = _Bookkeeping(path)
    if book.spills is None:
        raise ManifestError(f"{path}: no 'spills' tree, so bad spills cannot be excluded; "
                            "write the optional spills tree (NTUPLE.md) or drop the bad-spill "
                            "list for this file")
    book.check_spills()
    bad = {(int(r), int(s)) for r, s in bad_spills}
    kept = [n for r, s, n in zip(book.spills["run"].tolist(), book.spills["spill"].tolist(),
                                 book.spills["n_on_target"].tolist())
            if (int(r), int(s)) not in bad]
    return math.fsum(kept)


__all__ = [
    "SETUPS",
    "KINDS",
    "ORIGINS",
    "ManifestError",
    "FileEntry",
    "DatasetEntry",
    "Manifest",
    "load_manifest",
    "write_manifest",
    "checksum",
    "catalogue",
    "catalogue_into",
    "verify",
    "fileset",
    "n_on_target",
    "n_on_target_excluding",
]
