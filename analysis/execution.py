"""Run a selection over a fileset with coffea's Runner: iterative, futures or dask.

    from analysis.execution import run
    result = run("selections/na64e_2016_2022.yaml", {"sample": ["a.root", "b.root"]},
                 executor="futures", workers=4, chunksize=100_000)
    result.output["sample"]["cutflow"]["events"]

The executor is a setting, nothing else changes: ``iterative`` (one process, for
debugging), ``futures`` (local process pool, default), ``dask`` (a ``distributed``
LocalCluster started for the run, ``cluster="local:N"``, a dask-jobqueue SLURM/HTCondor
cluster, ``cluster="slurm"`` + ``cluster_config``, or an existing scheduler given by
address; see :mod:`analysis.clusters`).

Reliability (docs/scaling.md):

* every input is validated up front (``analysis.schema.validate_file``: container, trees,
  branch types, bookkeeping, NaN where NTUPLE.md forbids it); a bad file is named with the
  reason;
* every chunk runs inside a guard: an exception is recorded against its file instead of
  killing the run; a file with a failing chunk is bad as a whole;
* by default any bad file stops the run with :class:`BadInputError` (nothing is merged);
  ``skip_bad_files=True`` leaves bad files out *entirely* (events and particles on target)
  and records them in ``RunResult.skipped`` and ``RunResult.exposure``;
* ``checkpoint=DIR`` stores every finished chunk as JSON (:mod:`analysis.checkpoint`); a run
  restarted with the same inputs and configuration processes only the missing chunks;
* chunk outputs are merged on the client in a fixed order (dataset, file, first entry), so
  the result does not depend on the executor, the number of workers or a resumed run;
* afterwards the processed entries and particles on target are reconciled file by file
  against the inputs and any shortfall raises :class:`IncompleteProcessingError`;
* ``bad_spills={(run, spill)}`` removes those spills' events before any cut and their
  particles on target (from the file's ``spills`` tree).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import uproot
import yaml
from coffea import processor as cp
from coffea.nanoevents import BaseSchema

from .checkpoint import ChunkStore, config_hash, decode, encode
from .processors import SelectionProcessor, processor_for
from .processors.histsums import to_hists
from .selection import Selection, load_selection

EXECUTORS = ("iterative", "futures", "dask")
READERS = ("columns", "nanoevents")
DEFAULT_CHUNKSIZE = 100_000
TREENAME = "events"
_UNREADABLE = {"file-missing", "file-unreadable", "not-root", "truncated", "unreadable",
               "read-error", "tree-missing", "not-ttree"}


class IncompleteProcessingError(RuntimeError):
    """Fewer entries or particles on target were processed than the inputs hold."""

    def __init__(self, problems: list[str], partial: Any = None):
        self.problems = problems
        self.partial = partial
        super().__init__("processing incomplete:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class BadFile:
    """An input that cannot be used, and why."""

    dataset: str
    path: str
    reason: str
    stage: str  # "validation" (before processing) or "processing" (a chunk raised)
    n_on_target: float | None = None  # what it would have contributed, if readable
    entries: int | None = None

    def __str__(self) -> str:
        return f"{self.path} (dataset {self.dataset}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "path": self.path, "reason": self.reason,
                "stage": self.stage, "n_on_target": self.n_on_target, "entries": self.entries}


class BadInputError(OSError):
    """One or more inputs are unusable; ``bad`` lists them (file, dataset, reason)."""

    def __init__(self, bad: Sequence[BadFile], *, hint: bool = True):
        self.bad = list(bad)
        lines = [str(b) for b in self.bad]
        msg = f"{len(lines)} bad input file(s):\n  " + "\n  ".join(lines)
        if hint:
            msg += ("\nfix or remove them, or run with --skip-bad-files (skip_bad_files=True) "
                    "to process the others: the skipped files' particles on target are then "
                    "left out of the normalisation and recorded in the result")
        super().__init__(msg)


@dataclass(frozen=True)
class InputFile:
    """One input file as found before processing."""

    dataset: str
    path: str
    size: int
    entries: int  # entries of the `events` tree
    n_on_target: float  # sum of runinfo.n_on_target (without bad spills, when given)
    is_mc: bool
    checksum: str = ""  # xxh3_64 of the bytes (hex)
    n_on_target_all: float | None = None  # before removing bad spills
    has_spills: bool = False


@dataclass
class RunResult:
    """The accumulated processor output (``output``, by dataset) and what produced it."""

    output: dict[str, dict]
    selection: Selection
    inputs: list[InputFile]
    settings: dict[str, Any]
    shortfall: list[str] = field(default_factory=list)
    metadata: dict[str, dict] = field(default_factory=dict)  # fileset metadata by dataset
    skipped: list[BadFile] = field(default_factory=list)
    exposure: dict[str, Any] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)  # total, from_checkpoint, processed
    bad_spills: list[tuple[int, int]] = field(default_factory=list)
    requested: dict[str, list[str]] = field(default_factory=dict)  # {dataset: files} asked for

    def __getitem__(self, dataset: str) -> dict:
        return self.output[dataset]

    @property
    def datasets(self) -> list[str]:
        return sorted(self.output)


def schema_class(schema: str | type = "auto") -> type:
    """``"auto"``: ``analysis.schema.NA64Schema`` when it exists, else coffea ``BaseSchema``;
    ``"na64"``, ``"base"`` or a schema class. Cuts read columns through
    ``analysis.cuts.column``, which understands both layouts."""
    if not isinstance(schema, str):
        return schema
    if schema in ("auto", "na64"):
        from . import schema as na64schema

        cls = getattr(na64schema, "NA64Schema", None)
        if cls is not None:
            return cls
        if schema == "na64":
            raise ValueError("analysis.schema has no NA64Schema yet; use schema='base'")
        return BaseSchema
    if schema == "base":
        return BaseSchema
    raise ValueError(f"unknown schema {schema!r}: use 'auto', 'na64' or 'base'")


def normalize_fileset(fileset: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{dataset: [path, ...]}`` from the coffea fileset forms (list of files,
    ``{"files": [...]}`` or ``{"files": {path: treename}}``)."""
    out: dict[str, list[str]] = {}
    if not isinstance(fileset, Mapping) or not fileset:
        raise ValueError("fileset must be a non-empty mapping {dataset: [files]}")
    for ds, entry in fileset.items():
        files = entry.get("files") if isinstance(entry, Mapping) else entry
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        if isinstance(files, Mapping):
            files = list(files)
        if not files:
            raise ValueError(f"dataset {ds!r} has no files")
        out[str(ds)] = [str(f) for f in files]
    return out


# ----------------------------------------------------------------------------------------
# bad spills
# ----------------------------------------------------------------------------------------


def load_bad_spills(path: str | Path) -> list[tuple[int, int]]:
    """A bad-spill list: CSV (``run,spill`` per line, optional header, ``#`` comments) or
    YAML (a list of ``[run, spill]`` or ``{run: R, spill: S}``; or ``{bad_spills: [...]}``).
    Returns the sorted unique pairs; a malformed line is an error naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the bad-spill list ({exc})") from None
    pairs: set[tuple[int, int]] = set()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from None
        if isinstance(data, dict) and set(data) == {"bad_spills"}:
            data = data["bad_spills"]
        if data is None:
            data = []
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of [run, spill] or {{run, spill}} entries")
        for i, item in enumerate(data):
            if isinstance(item, dict) and set(item) == {"run", "spill"}:
                r, s = item["run"], item["spill"]
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                r, s = item
            else:
                raise ValueError(f"{path}: entry {i}: {item!r} is not [run, spill] or "
                                 "{run: R, spill: S}")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (r, s)):
                raise ValueError(f"{path}: entry {i}: run and spill must be integers, "
                                 f"got {item!r}")
            pairs.add((int(r), int(s)))
        return sorted(pairs)
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if lineno == 1 and cells[:2] == ["run", "spill"]:
            continue
        if len(cells) != 2:
            raise ValueError(f"{path}:{lineno}: expected two columns run,spill, got {row!r}")
        try:
            pairs.add((int(cells[0]), int(cells[1])))
        except ValueError:
            raise ValueError(f"{path}:{lineno}: run and spill must be integers, got "
                             f"{row!r}") from None
    return sorted(pairs)


def _spill_key(run, spill) -> np.ndarray:
    return (np.asarray(run, dtype=np.int64) << 32) | (np.asarray(spill, dtype=np.int64)
                                                      & 0xFFFFFFFF)


# ----------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------


def _xxh3(path: str) -> str:
    from .results import file_checksum

    return file_checksum(path)


def survey_inputs(fileset: Mapping[str, Sequence[str]], *, validate: bool = True,
                  bad_spills: Iterable[tuple[int, int]] | None = None,
                  checksums: bool = True) -> tuple[list[InputFile], list[BadFile]]:
    """Open and check every file once; return (usable inputs, bad files with reasons).

    ``validate`` runs ``analysis.schema.validate_file`` (NTUPLE.md structure, bookkeeping
    and NaN checks). With ``bad_spills``, a file holding one of their runs must have a
    ``spills`` tree (else it is refused: its particles on target could not be corrected).
    """
    from .schema import validate_file

    bad_runs = {r for r, _ in (bad_spills or ())}
    inputs: list[InputFile] = []
    bad: list[BadFile] = []
    for ds, files in fileset.items():
        for path in files:
            if validate:
                report = validate_file(path)
                if not report.ok:
                    unreadable = any(p.code in _UNREADABLE for p in report.problems)
                    what = "cannot read the file" if unreadable else "does not follow NTUPLE.md"
                    reasons = "; ".join(f"{p.where}: {p.message}" if p.where != "(file)"
                                        else p.message for p in report.problems)
                    bad.append(BadFile(ds, path, f"{what}: {reasons}", "validation",
                                       *_maybe_pot(path)))
                    continue
            try:
                with uproot.open(path) as f:
                    entries = int(f[TREENAME].num_entries)
                    r = f["runinfo"].arrays(["run", "n_on_target", "n_events", "is_mc"],
                                            library="np")
                    spills = None
                    if "spills" in f:
                        spills = f["spills"].arrays(["run", "spill", "n_on_target"],
                                                    library="np")
            except Exception as exc:
                bad.append(BadFile(ds, path, f"cannot read the file: {type(exc).__name__}: "
                                   f"{exc}", "validation"))
                continue
            n_events = int(r["n_events"].sum())
            n_on_target = math.fsum(r["n_on_target"].tolist())
            if n_events != entries:
                bad.append(BadFile(ds, path, f"runinfo.n_events sums to {n_events} but "
                                   f"`events` has {entries} entries (NTUPLE.md)", "validation",
                                   n_on_target, entries))
                continue
            pot = n_on_target
            if bad_runs & {int(x) for x in r["run"].tolist()}:
                if spills is None:
                    runs = sorted(bad_runs & {int(x) for x in r["run"].tolist()})
                    raise ValueError(
                        f"{path} (dataset {ds}): bad spills are listed for run(s) {runs} but "
                        "the file has no `spills` tree, so their particles on target cannot "
                        "be removed; write the optional spills tree (NTUPLE.md) or drop "
                        "these runs from the bad-spill list")
                keys = _spill_key(spills["run"], spills["spill"])
                drop = np.isin(keys, _spill_key(*zip(*bad_spills)))
                pot = math.fsum(spills["n_on_target"][~drop].tolist())
                total = math.fsum(spills["n_on_target"].tolist())
                if not math.isclose(total, n_on_target, rel_tol=1e-9, abs_tol=1e-6):
                    bad.append(BadFile(ds, path, f"spills.n_on_target sums to {total:.17g} "
                                       f"but runinfo.n_on_target to {n_on_target:.17g} "
                                       "(NTUPLE.md requires them equal)", "validation",
                                       n_on_target, entries))
                    continue
            size = os.path.getsize(path) if os.path.exists(path) else -1
            inputs.append(InputFile(ds, path, size, entries, pot, bool(r["is_mc"].all()),
                                    _xxh3(path) if checksums else "", n_on_target,
                                    spills is not None))
    return inputs, bad


def _maybe_pot(path: str) -> tuple[float | None, int | None]:
    """Particles on target and entries of a bad file, if its runinfo can still be read."""
    try:
        with uproot.open(path) as f:
            r = f["runinfo"].arrays(["n_on_target", "n_events"], library="np")
        return math.fsum(r["n_on_target"].tolist()), int(r["n_events"].sum())
    except Exception:
        return None, None


def inspect_inputs(fileset: Mapping[str, Sequence[str]], *, validate: bool = False
                   ) -> list[InputFile]:
    """Open every file once: entries of ``events``, runinfo sums. A bad file raises
    :class:`BadInputError` (an ``OSError``) naming every bad file and the reason."""
    inputs, bad = survey_inputs(fileset, validate=validate, checksums=False)
    if bad:
        raise BadInputError(bad)
    return inputs


def reconcile(output: Mapping[str, Any], inputs: Sequence[InputFile]) -> list[str]:
    """Every file's processed entries and particles on target against the inputs."""
    problems = []
    for inp in inputs:
        got = output.get(inp.dataset, {}).get("files", {}).get(inp.path)
        if got is None:
            problems.append(f"{inp.path} (dataset {inp.dataset}): not processed at all "
                            f"({inp.entries} entries, {inp.n_on_target:g} on target lost)")
            continue
        if got["entries"] != inp.entries:
            problems.append(f"{inp.path} (dataset {inp.dataset}): {got['entries']} of "
                            f"{inp.entries} entries processed")
        if not math.isclose(got["n_on_target"], inp.n_on_target, rel_tol=1e-12, abs_tol=0.0):
            problems.append(f"{inp.path} (dataset {inp.dataset}): n_on_target counted "
                            f"{got['n_on_target']:g}, runinfo has {inp.n_on_target:g}")
    known = {(i.dataset, i.path) for i in inputs}
    for ds, d in output.items():
        for path in d.get("files", {}):
            if (ds, path) not in known:
                problems.append(f"{path} (dataset {ds}): processed but not in the fileset")
    return problems


# ----------------------------------------------------------------------------------------
# chunks: guarded work function, checkpointing wrapper
# ----------------------------------------------------------------------------------------


def chunk_id(dataset: str, filename: str, start: int, stop: int) -> str:
    return json.dumps([str(dataset), str(filename), int(start), int(stop)])


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while exc.__cause__ is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__
    return exc


def _failed(item, exc: BaseException) -> dict:
    """A chunk's exception as the record ``{"failed": {chunk_id: reason}}``."""
    cause = _root_cause(exc)
    cid = chunk_id(item.dataset, item.filename, item.entrystart, item.entrystop)
    return {"out": {"failed": {cid: f"{type(cause).__name__}: {cause}"}}, "processed": set()}


class _GuardedRunner(cp.Runner):
    """A Runner (coffea NanoEvents, ``reader="nanoevents"``) whose work function turns any
    exception of a chunk into a record ``{"failed": {chunk_id: reason}}`` instead of
    failing the whole run."""

    @staticmethod
    def _work_function(format, xrootdtimeout, schema, use_dataframes, savemetrics, item,
                       processor_instance, *args, **kwargs):
        # Memory (docs/performance.md): uproot.open's default array cache ("100 MB" per
        # file) holds every branch read in the chunk, and the ReadOnlyFile that owns it sits
        # in reference cycles (file <-> directory <-> tree), so it outlived the chunk until
        # a full garbage collection: peak RSS grew with the number of chunks. A cache for
        # this chunk only (jagged branches are read twice, offsets and content, so a cache
        # still pays), emptied when the chunk is done, keeps memory bounded by the chunk.
        cache: dict = {}
        opts = dict(kwargs.get("uproot_options") or {})
        opts.setdefault("array_cache", cache)
        kwargs["uproot_options"] = opts
        try:
            return cp.Runner._work_function(format, xrootdtimeout, schema, use_dataframes,
                                            savemetrics, item, processor_instance, *args,
                                            **kwargs)
        except Exception as exc:  # noqa: BLE001 - recorded against the file, never lost
            return _failed(item[0] if processor_instance == "heavy" else item, exc)
        finally:
            cache.clear()


@functools.lru_cache(maxsize=4)
def _unpickle_processor(blob: bytes):
    """The processor coffea ships compressed and pickled, unpickled once per process (the
    blob is our own processor, made by ``run()`` in this session)."""
    import cloudpickle
    import lz4.frame

    return cloudpickle.loads(lz4.frame.decompress(blob))


class _ColumnsRunner(_GuardedRunner):
    """The default work function (``reader="columns"``): the chunk is an
    :class:`analysis.chunkio.ChunkEvents` (branches read on first use, basket by basket, into
    this thread's reused buffers; the file stays open for the thread's next chunks) instead
    of coffea NanoEvents — same columns, same values, without the per-chunk file opening
    and NanoEvents set-up (docs/performance.md)."""

    @staticmethod
    def _work_function(format, xrootdtimeout, schema, use_dataframes, savemetrics, item,
                       processor_instance, *args, **kwargs):
        from .chunkio import ChunkEvents, chunk_buffers, open_tree, release_pages, tune_allocator

        tune_allocator()
        if processor_instance == "heavy":
            item, processor_instance = item
        try:
            if isinstance(processor_instance, bytes):
                processor_instance = _unpickle_processor(processor_instance)
            metadata = {"dataset": item.dataset, "filename": item.filename,
                        "treename": item.treename, "entrystart": item.entrystart,
                        "entrystop": item.entrystop,
                        "fileuuid": str(uuid.UUID(bytes=item.fileuuid)) if item.fileuuid else ""}
            metadata.update(item.usermeta or {})
            tree = open_tree(item.filename, item.treename)
            try:
                events = ChunkEvents(tree, item.entrystart, item.entrystop, metadata,
                                     buffers=chunk_buffers())
                return {"out": processor_instance.process(events), "processed": {item}}
            finally:
                release_pages(tree)
        except Exception as exc:  # noqa: BLE001 - recorded against the file, never lost
            return _failed(item, exc)


class _OrderedFold:
    """Chunk outputs merged as they arrive, in the fixed merge order (memory bounded by the
    chunk, not by the number of chunks; docs/performance.md).

    Every chunk knows its position in its dataset's merge order (dataset, file, first
    entry). ``acc`` is the left fold ``((c0 + c1) + c2) + ...`` of positions ``0..next-1``
    — exactly what ``coffea.processor.accumulate`` makes of the ordered list — and chunks
    that arrive early wait in ``pending``. Folds are combined by coffea's accumulator
    (``+``, also inside dask's tree reduction): only the fold holding position 0 has an
    ``acc``, so adding two folds never reassociates the sums. Outputs pass through coffea's
    deep copies as they are (treated as immutable)."""

    __slots__ = ("datasets",)

    def __init__(self, dataset: str | None = None, position: int | None = None,
                 value: Any = None):
        # dataset -> [next position, number folded, acc, {position: output}]
        self.datasets: dict[str, list] = {}
        if dataset is not None:
            self.datasets[dataset] = [0, 0, None, {position: value}]
            self._advance(dataset)

    def _advance(self, ds: str) -> None:
        st = self.datasets[ds]
        pending = st[3]
        while st[0] in pending:
            value = pending.pop(st[0])
            if st[1] == 0:
                st[2] = value
            elif st[1] == 1:  # as cp.accumulate: a new object first, then in place
                st[2] = cp.accumulator.add(st[2], value)
            else:
                st[2] = cp.accumulator.iadd(st[2], value)
            st[0] += 1
            st[1] += 1

    def __iadd__(self, other: "_OrderedFold") -> "_OrderedFold":
        for ds, theirs in other.datasets.items():
            mine = self.datasets.get(ds)
            if mine is None:
                self.datasets[ds] = theirs
                continue
            if theirs[1] > mine[1]:  # keep the fold that holds position 0
                mine, theirs = theirs, mine
                self.datasets[ds] = mine
            mine[3].update(theirs[3])
            self._advance(ds)
        return self

    __add__ = __iadd__  # the chunk folds are private to the accumulation

    def __deepcopy__(self, memo):
        return self

    def finish(self, ds: str, positions: Sequence[int]) -> tuple[Any, bool]:
        """The fold of ``positions`` (sorted) of ``ds``, and whether it is exact: False when
        a chunk outside ``positions`` (of a file found bad later) was already folded."""
        st = self.datasets.get(ds)
        if st is None:
            return None, True
        wanted = set(positions)
        if any(p not in wanted for p in range(st[0])):
            return None, False
        acc, n, pending = st[2], st[1], st[3]
        for p in positions:
            if p < st[0] or p not in pending:
                continue  # folded already, or never arrived (reconcile reports it)
            value = pending.pop(p)
            acc = value if n == 0 else (cp.accumulator.add(acc, value) if n == 1
                                        else cp.accumulator.iadd(acc, value))
            n += 1
        del self.datasets[ds]
        return acc, True


class ChunkTask(cp.ProcessorABC):
    """Wraps a :class:`SelectionProcessor`: drops bad spills, fixes the bookkeeping, and
    stores each chunk's output (JSON) in the checkpoint, or returns it in an
    :class:`_OrderedFold` (merged as it arrives)."""

    def __init__(self, inner: SelectionProcessor, store: ChunkStore | None,
                 checksums: Mapping[tuple[str, str], str], bad_spills: Sequence[tuple[int, int]] = (),
                 n_on_target: Mapping[str, float] | None = None):
        self.inner = inner
        self.store = store
        self.checksums = dict(checksums)
        self.bad_keys = _spill_key(*zip(*bad_spills)) if bad_spills else None
        self.n_on_target = dict(n_on_target or {})
        self.positions: dict[str, int] = {}  # chunk id -> position in its dataset's merge

    def process(self, events):
        from .cuts import column
        from .processors.base import read_runinfo

        meta = events.metadata
        ds, fn = meta["dataset"], str(meta["filename"])
        start, stop = int(meta["entrystart"]), int(meta["entrystop"])
        removed = None
        if self.bad_keys is not None:
            keys = _spill_key(column(events, "run"), column(events, "spill"))
            drop = np.isin(keys, self.bad_keys)
            if drop.any():
                info = read_runinfo(fn, str(meta.get("fileuuid", "")))
                w = self.inner.weights(events, info)
                removed = {"events": int(np.count_nonzero(drop)),
                           "weighted": float(np.sum(w[drop], dtype=np.float64))}
                events = events[~drop]
            else:
                removed = {"events": 0, "weighted": 0.0}
        out = self.inner.process(events)
        d = out[ds]
        if removed is not None:  # entries read, bad spills included
            d["entries"] += removed["events"]
            d["files"][fn]["entries"] += removed["events"]
            pot = self.n_on_target[fn] if start == 0 else 0.0
            d["n_on_target"] = pot
            d["files"][fn]["n_on_target"] = pot
            d["bad_spills"] = removed
        cid = chunk_id(ds, fn, start, stop)
        if self.store is not None:
            self.store.save(self.checksums[(ds, fn)], start, stop, ds, encode(d))
            return {"chunks": {cid: "stored"}}
        return {"merged": _OrderedFold(ds, self.positions[cid], d)}

    def postprocess(self, accumulator):
        return accumulator


# ----------------------------------------------------------------------------------------
# executors
# ----------------------------------------------------------------------------------------


def _executor(kind: str, workers: int, progress: bool, stack: ExitStack,
              scheduler: str | None, cluster: str | None = None,
              cluster_config: str | Path | None = None) -> tuple[cp.ExecutorBase, dict]:
    if kind == "iterative":
        return cp.IterativeExecutor(status=progress), {}
    if kind == "futures":
        return cp.FuturesExecutor(workers=workers, status=progress), {}
    if kind == "dask":
        from .clusters import open_client

        client, info = open_client(stack, scheduler=scheduler, cluster=cluster,
                                   cluster_config=cluster_config, workers=workers)
        return cp.DaskExecutor(client=client, status=progress, retries=3), info
    raise ValueError(f"unknown executor {kind!r}: use one of {', '.join(EXECUTORS)}")


def _default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1)


def run(
    selection: Selection | str | Path,
    fileset: Mapping[str, Any],
    *,
    executor: Literal["iterative", "futures", "dask"] = "futures",
    workers: int | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
    scheduler: str | None = None,
    cluster: str | None = None,
    cluster_config: str | Path | None = None,
    maxchunks: int | None = None,
    schema: str | type = "auto",
    reader: Literal["columns", "nanoevents"] = "columns",
    progress: bool = True,
    skip_bad_files: bool = False,
    skipbadfiles: bool = False,
    allow_incomplete: bool = False,
    processor_instance: SelectionProcessor | None = None,
    checkpoint: str | Path | None = None,
    bad_spills: str | Path | Iterable[tuple[int, int]] | None = None,
    validate: bool = True,
) -> RunResult:
    """Process ``fileset`` ({dataset: files}) with ``selection`` and return the merged output.

    ``workers`` defaults to all local cores (futures, dask LocalCluster); ``scheduler`` is
    the address of a running dask scheduler, ``cluster`` ``"local:N"``, ``"slurm"`` or
    ``"htcondor"`` (the latter two with ``cluster_config``, see :mod:`analysis.clusters`);
    either implies ``executor="dask"``. ``maxchunks`` processes only the first chunks of
    each dataset (debugging; the shortfall is recorded instead of raised).

    Bad inputs (see the module docstring) raise :class:`BadInputError` unless
    ``skip_bad_files`` (alias ``skipbadfiles``), which leaves them out entirely and records
    them. ``checkpoint`` is a directory for finished chunks (resumable runs).
    ``bad_spills`` is a file (CSV/YAML, :func:`load_bad_spills`) or (run, spill) pairs.
    ``reader``: ``"columns"`` (default) reads each chunk's branches with
    :mod:`analysis.chunkio`; ``"nanoevents"`` builds coffea NanoEvents with ``schema``
    (same results, slower; docs/performance.md).
    """
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}: use one of {', '.join(READERS)}")
    if isinstance(selection, (str, Path)):
        selection = load_selection(selection)
    if cluster or scheduler:
        if executor not in ("dask", "futures"):
            raise ValueError(f"--scheduler/--cluster need the dask executor, not {executor!r}")
        executor = "dask"
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if not isinstance(chunksize, int) or chunksize < 1:
        raise ValueError(f"chunksize must be a positive integer, got {chunksize!r}")
    if workers is None:
        workers = _default_workers()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    skip = bool(skip_bad_files or skipbadfiles)
    spills: list[tuple[int, int]] = []
    spills_source = None
    if bad_spills is not None:
        if isinstance(bad_spills, (str, Path)):
            spills_source = str(bad_spills)
            spills = load_bad_spills(bad_spills)
        else:
            spills = sorted({(int(r), int(s)) for r, s in bad_spills})
    files = normalize_fileset(fileset)
    proc = processor_instance or processor_for(selection)
    schema_cls = schema_class(schema)

    # checksums key the checkpoint; without one, provenance computes them when it is written
    inputs, bad = survey_inputs(files, validate=validate, bad_spills=spills,
                                checksums=checkpoint is not None)
    if bad and not skip:
        raise BadInputError(bad)

    store = None
    if checkpoint is not None:
        store = ChunkStore(checkpoint, config_hash({
            "selection": selection.to_dict(),
            "processor": f"{type(proc).__module__}.{type(proc).__qualname__}",
            "schema": f"{schema_cls.__module__}.{schema_cls.__qualname__}",
            "bad_spills": spills, "treename": TREENAME,
        }))
        store.prepare()
    # checkpoint key of a file: its content checksum and its dataset's metadata (which can
    # change the output, e.g. blinding)
    fs_meta = {str(ds): dict(e.get("metadata") or {}) for ds, e in fileset.items()
               if isinstance(e, Mapping) and e.get("metadata")}
    md_hash = {ds: config_hash({"metadata": m})[:12] for ds, m in fs_meta.items()}
    checksums = {(i.dataset, i.path): f"{i.checksum}.{md_hash.get(i.dataset, 'none')}"
                 for i in inputs}
    task = ChunkTask(proc, store, checksums, spills, {i.path: i.n_on_target for i in inputs})

    with ExitStack() as stack:
        if not progress:  # coffea draws some bars whatever `status` says
            from coffea.util import coffea_console

            stack.callback(setattr, coffea_console, "quiet", coffea_console.quiet)
            coffea_console.quiet = True
        # chunking: file metadata of each file, read here one file at a time (a failure
        # names its file)
        pre = cp.Runner(executor=cp.IterativeExecutor(status=False), chunksize=chunksize,
                        schema=schema_cls, metadata_cache={}, savemetrics=False)
        items_by_file: dict[tuple[str, str], list] = {}
        good_inputs = []
        for inp in inputs:
            try:
                entry: dict[str, Any] = {"files": {inp.path: TREENAME}}
                if inp.dataset in fs_meta:
                    entry["metadata"] = fs_meta[inp.dataset]
                items = list(pre.preprocess({inp.dataset: entry}, treename=TREENAME))
            except Exception as exc:  # noqa: BLE001
                cause = _root_cause(exc)
                bad.append(BadFile(inp.dataset, inp.path, f"cannot read the file: "
                                   f"{type(cause).__name__}: {cause}", "validation",
                                   inp.n_on_target, inp.entries))
                continue
            items_by_file[(inp.dataset, inp.path)] = sorted(items, key=lambda i: i.entrystart)
            good_inputs.append(inp)
        if bad and not skip:
            raise BadInputError(bad)
        inputs_ok = good_inputs
        # maxchunks: the first chunks of each dataset, in file order
        selected = []
        budget: dict[str, int] = {}
        for inp in inputs_ok:
            for it in items_by_file[(inp.dataset, inp.path)]:
                if maxchunks is not None and budget.get(inp.dataset, 0) >= maxchunks:
                    break
                budget[inp.dataset] = budget.get(inp.dataset, 0) + 1
                selected.append(it)
        # merge order: dataset, file, first entry; chunks are processed in that order too,
        # so the iterative executor folds every output as soon as it is made
        def merge_key(it):
            return (str(it.dataset), str(it.filename), int(it.entrystart))

        selected.sort(key=merge_key)
        positions: dict[str, int] = {}
        n_ds: dict[str, int] = {}
        for it in selected:
            positions[chunk_id(it.dataset, it.filename, it.entrystart, it.entrystop)] = \
                n_ds.get(it.dataset, 0)
            n_ds[it.dataset] = n_ds.get(it.dataset, 0) + 1
        task.positions = positions
        done, todo = {}, []
        for it in selected:
            cid = chunk_id(it.dataset, it.filename, it.entrystart, it.entrystop)
            if store is not None and store.load(checksums[(it.dataset, it.filename)],
                                                it.entrystart,
                                                it.entrystop) is not None:
                done[cid] = "stored"
            else:
                todo.append(it)
        out: dict[str, Any] = {"chunks": dict(done), "failed": {}}
        info: dict[str, Any] = {}
        fold = _OrderedFold()
        runner = None
        if todo:
            ex, info = _executor(executor, workers, progress, stack, scheduler, cluster,
                                 cluster_config)
            runner_cls = _ColumnsRunner if reader == "columns" else _GuardedRunner
            # the iterative executor runs in this process: no need to pickle the processor
            runner = runner_cls(executor=ex, chunksize=chunksize, schema=schema_cls,
                                metadata_cache={}, savemetrics=False,
                                processor_compression=None if executor == "iterative" else 1)
            got = runner(todo, processor_instance=task, treename=TREENAME) or {}
            out["chunks"].update(got.get("chunks", {}))
            out["failed"].update(got.get("failed", {}))
            fold = got.get("merged") or fold

        # which files failed while processing
        failed_by_file: dict[tuple[str, str], list[str]] = {}
        for (ds, fn, start, stop), reason in sorted((tuple(json.loads(c)), r)
                                                    for c, r in out["failed"].items()):
            failed_by_file.setdefault((ds, fn), []).append(f"entries {start}-{stop}: {reason}")
        for inp in inputs_ok:
            reasons = failed_by_file.get((inp.dataset, inp.path))
            if reasons:
                more = (f" (and {len(reasons) - 1} more failing chunk(s))" if len(reasons) > 1
                        else "")
                bad.append(BadFile(inp.dataset, inp.path,
                                   f"processing failed: {reasons[0]}{more}",
                                   "processing", inp.n_on_target, inp.entries))
        if bad and not skip:
            raise BadInputError(bad)
        bad_paths = {(b.dataset, b.path) for b in bad}
        used = [i for i in inputs_ok if (i.dataset, i.path) not in bad_paths]

        # merge in a fixed order: dataset, file, first entry
        shortfall = []
        output: dict[str, Any] = {}
        wanted: dict[str, list] = {}
        for inp in sorted(used, key=lambda i: (i.dataset, i.path)):
            wanted.setdefault(inp.dataset, []).extend(items_by_file[(inp.dataset, inp.path)])
        for ds, items in sorted(wanted.items()):
            items = [it for it in items
                     if chunk_id(it.dataset, it.filename, it.entrystart, it.entrystop)
                     in positions]  # maxchunks
            if store is None:  # outputs folded while they arrived
                acc, exact = fold.finish(ds, [positions[chunk_id(it.dataset, it.filename,
                                                                 it.entrystart, it.entrystop)]
                                              for it in items])
                if not exact:
                    # a file found bad after some of its chunks were folded (skip_bad_files):
                    # process the dataset's good chunks again rather than keep every output
                    again = runner(items, processor_instance=task, treename=TREENAME) or {}
                    if again.get("failed"):
                        raise RuntimeError(f"dataset {ds}: chunks failed on the second pass: "
                                           f"{again['failed']}")
                    acc, exact = (again.get("merged") or _OrderedFold()).finish(
                        ds, sorted(positions[chunk_id(it.dataset, it.filename, it.entrystart,
                                                      it.entrystop)] for it in items))
                if acc is not None:
                    output[ds] = to_hists(acc)
                continue
            acc, n = None, 0  # from the checkpoint, one chunk at a time
            for it in items:
                cid = chunk_id(it.dataset, it.filename, it.entrystart, it.entrystop)
                if cid not in out["chunks"]:
                    continue  # lost: reconcile reports it
                payload = store.load(checksums[(it.dataset, it.filename)], it.entrystart,
                                     it.entrystop)
                if payload is None:
                    shortfall.append(
                        f"{it.filename} (dataset {ds}): chunk {it.entrystart}-"
                        f"{it.entrystop} was stored by a worker in {store.dir} but is not "
                        "readable here; workers and this process need a shared filesystem "
                        "for --checkpoint (or run with --no-checkpoint)")
                    continue
                value = decode(payload)
                acc = value if n == 0 else (cp.accumulator.add(acc, value) if n == 1
                                            else cp.accumulator.iadd(acc, value))
                n += 1
            if acc is not None:
                output[ds] = to_hists(acc)
    if not output:
        raise BadInputError(bad, hint=False) if bad else ValueError("nothing was processed")

    shortfall += reconcile(output, used)
    settings = {
        "executor": executor, "workers": workers if executor != "iterative" else 1,
        "chunksize": chunksize, "scheduler": scheduler, "maxchunks": maxchunks,
        "schema": schema_cls.__name__, "reader": reader, "skipbadfiles": skip,
        "skip_bad_files": skip,
        "processor": type(proc).__name__, "cluster": cluster,
        "cluster_config": str(cluster_config) if cluster_config else None,
        "checkpoint": str(store.root) if store else None, "validate": validate,
        "bad_spills_file": spills_source,
    }
    if info.get("cluster_settings"):
        settings["cluster_settings"] = info["cluster_settings"]
    metadata = {ds: dict(e.get("metadata") or {}) for ds, e in fileset.items()
                if isinstance(e, Mapping)}
    requested = [i.n_on_target for i in inputs] + [b.n_on_target for b in bad
                                                   if b.stage == "validation"
                                                   and (b.dataset, b.path) not in
                                                   {(i.dataset, i.path) for i in inputs}]
    req_known = all(x is not None for x in requested)
    processed = math.fsum(float(d["n_on_target"]) for d in output.values())
    req_total = math.fsum(requested) if req_known else None
    exposure = {
        "requested": req_total,
        "processed": processed,
        "reconciled": bool(req_known and not bad and not shortfall
                           and math.isclose(processed, req_total, rel_tol=1e-12,
                                            abs_tol=0.0)),
    }
    stats = {"total": len(selected), "from_checkpoint": len(done),
             "processed": len(todo), "failed": len(out["failed"])}
    result = RunResult(output, selection, inputs, settings, shortfall, metadata,
                       sorted(bad, key=lambda b: (b.dataset, b.path)), exposure, stats, spills,
                       files)
    if shortfall and maxchunks is None and not allow_incomplete:
        raise IncompleteProcessingError(shortfall, partial=result)
    return result


__all__ = ["BadFile", "BadInputError", "ChunkTask", "EXECUTORS", "IncompleteProcessingError",
           "InputFile", "RunResult", "chunk_id", "inspect_inputs", "load_bad_spills",
           "normalize_fileset", "reconcile", "run", "schema_class", "survey_inputs"]
