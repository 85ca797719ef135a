"""Run a selection over a fileset with coffea's Runner: iterative, futures or dask.

    from analysis.execution import run
    result = run("selections/na64e_2016_2022.yaml", {"sample": ["a.root", "b.root"]},
                 executor="futures", workers=4, chunksize=100_000)
    result.output["sample"]["cutflow"]["events"]

The executor is a setting, nothing else changes: ``iterative`` (one process, for
debugging), ``futures`` (local process pool, default), ``dask`` (a ``distributed``
LocalCluster started for the run and closed after it, or an existing scheduler given by
address). Before processing, every input file is opened once to learn its entries and
particles on target; afterwards the processed entries and particles on target are
reconciled file by file against them and any shortfall — a file coffea skipped, a chunk
lost — raises :class:`IncompleteProcessingError` (coffea's ``skipbadfiles`` can drop a
file silently, STACK.md).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uproot
from coffea import processor as cp
from coffea.nanoevents import BaseSchema

from .processors import SelectionProcessor, processor_for
from .selection import Selection, load_selection

EXECUTORS = ("iterative", "futures", "dask")
DEFAULT_CHUNKSIZE = 100_000
TREENAME = "events"


class IncompleteProcessingError(RuntimeError):
    """Fewer entries or particles on target were processed than the inputs hold."""

    def __init__(self, problems: list[str], partial: Any = None):
        self.problems = problems
        self.partial = partial
        super().__init__("processing incomplete:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class InputFile:
    """One input file as found before processing."""

    dataset: str
    path: str
    size: int
    entries: int  # entries of the `events` tree
    n_on_target: float  # sum of runinfo.n_on_target
    is_mc: bool


@dataclass
class RunResult:
    """The accumulated processor output (``output``, by dataset) and what produced it."""

    output: dict[str, dict]
    selection: Selection
    inputs: list[InputFile]
    settings: dict[str, Any]
    shortfall: list[str] = field(default_factory=list)
    metadata: dict[str, dict] = field(default_factory=dict)  # fileset metadata by dataset

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


def inspect_inputs(fileset: Mapping[str, Sequence[str]]) -> list[InputFile]:
    """Open every file once: entries of ``events``, runinfo sums. Unreadable file → error."""
    inputs = []
    for ds, files in fileset.items():
        for path in files:
            try:
                with uproot.open(path) as f:
                    entries = int(f[TREENAME].num_entries)
                    r = f["runinfo"].arrays(["n_on_target", "n_events", "is_mc"], library="np")
            except Exception as exc:
                raise OSError(f"{path} (dataset {ds}): cannot read the file: "
                              f"{type(exc).__name__}: {exc}") from exc
            n_events = int(r["n_events"].sum())
            if n_events != entries:
                raise ValueError(f"{path} (dataset {ds}): runinfo.n_events sums to {n_events} "
                                 f"but `events` has {entries} entries (NTUPLE.md)")
            size = os.path.getsize(path) if os.path.exists(path) else -1
            inputs.append(InputFile(ds, path, size, entries,
                                    float(r["n_on_target"].sum()), bool(r["is_mc"].all())))
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


def _executor(kind: str, workers: int, progress: bool, stack: ExitStack,
              scheduler: str | None) -> tuple[cp.ExecutorBase, cp.ExecutorBase]:
    if kind == "iterative":
        ex = cp.IterativeExecutor(status=progress)
        return ex, ex
    if kind == "futures":
        # metadata of local files is cheap: read it in this process, not in a new pool
        return (cp.FuturesExecutor(workers=workers, status=progress),
                cp.IterativeExecutor(status=progress, desc="Preprocessing"))
    if kind == "dask":
        from distributed import Client, LocalCluster

        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        ex = cp.DaskExecutor(client=client, status=progress)
        return ex, ex
    raise ValueError(f"unknown executor {kind!r}: use one of {', '.join(EXECUTORS)}")


def run(
    selection: Selection | str | Path,
    fileset: Mapping[str, Any],
    *,
    executor: Literal["iterative", "futures", "dask"] = "futures",
    workers: int | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
    scheduler: str | None = None,
    maxchunks: int | None = None,
    schema: str | type = "auto",
    progress: bool = True,
    skipbadfiles: bool = False,
    allow_incomplete: bool = False,
    processor_instance: SelectionProcessor | None = None,
) -> RunResult:
    """Process ``fileset`` ({dataset: files}) with ``selection`` and return the merged output.

    ``workers`` defaults to all local cores (futures, dask LocalCluster); ``scheduler`` is
    the address of a running dask scheduler (then no cluster is started). ``maxchunks``
    processes only the first chunks of each dataset (debugging; the result is partial and
    its shortfall is recorded instead of raised). ``skipbadfiles`` lets coffea skip
    unreadable files; what is skipped still counts as a shortfall, which raises
    :class:`IncompleteProcessingError` unless ``allow_incomplete``.
    """
    if isinstance(selection, (str, Path)):
        selection = load_selection(selection)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if not isinstance(chunksize, int) or chunksize < 1:
        raise ValueError(f"chunksize must be a positive integer, got {chunksize!r}")
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    files = normalize_fileset(fileset)
    inputs = inspect_inputs(files)
    proc = processor_instance or processor_for(selection)
    schema_cls = schema_class(schema)
    coffea_fileset = {ds: {"files": {p: TREENAME for p in paths}} for ds, paths in files.items()}

    with ExitStack() as stack:
        if not progress:  # coffea draws some bars whatever `status` says
            from coffea.util import coffea_console

            stack.callback(setattr, coffea_console, "quiet", coffea_console.quiet)
            coffea_console.quiet = True
        ex, pre = _executor(executor, workers, progress, stack, scheduler)
        runner = cp.Runner(
            executor=ex, pre_executor=pre, chunksize=chunksize, maxchunks=maxchunks,
            skipbadfiles=skipbadfiles, schema=schema_cls, metadata_cache={},
            savemetrics=False,
        )
        output = runner(coffea_fileset, processor_instance=proc, treename=TREENAME)
    output = dict(output or {})

    shortfall = reconcile(output, inputs)
    settings = {
        "executor": executor, "workers": workers if executor != "iterative" else 1,
        "chunksize": chunksize, "scheduler": scheduler, "maxchunks": maxchunks,
        "schema": schema_cls.__name__, "skipbadfiles": skipbadfiles,
        "processor": type(proc).__name__,
    }
    metadata = {ds: dict(e.get("metadata") or {}) for ds, e in fileset.items()
                if isinstance(e, Mapping)}
    result = RunResult(output, selection, inputs, settings, shortfall, metadata)
    if shortfall and maxchunks is None and not allow_incomplete:
        raise IncompleteProcessingError(shortfall, partial=result)
    return result


__all__ = ["EXECUTORS", "IncompleteProcessingError", "InputFile", "RunResult", "inspect_inputs",
           "normalize_fileset", "reconcile", "run", "schema_class"]
