"""dask clusters for ``na64 run --executor dask``: a running scheduler, a LocalCluster of N
workers, or a dask-jobqueue SLURM/HTCondor cluster with adaptive scaling.

    na64 run SEL --dataset D --out O --executor dask --scheduler tcp://host:8786
    na64 run SEL --dataset D --out O --cluster local:4
    na64 run SEL --dataset D --out O --cluster slurm --cluster-config examples/cluster-slurm.yaml

A batch cluster is described by a YAML file validated with pydantic (unknown keys are errors
naming the file and the key; see ``examples/cluster-*.yaml`` and docs/scaling.md)::

    kind: slurm                 # slurm | htcondor
    cores: 4                    # cores per job (one worker process per core by default)
    memory: 16GB                # memory per job
    walltime: "04:00:00"        # slurm only
    queue: long                 # slurm partition
    account: na64               # slurm account
    disk: 10GB                  # htcondor only (required there)
    python: /shared/na64/.venv/bin/python
    job_script_prologue: ["source /shared/na64/.venv/bin/activate"]
    adapt: {minimum_jobs: 0, maximum_jobs: 20}

Workers must import ``analysis`` (the same virtualenv on a shared filesystem, or the package
pip-installed in the worker environment): ``python`` / ``job_script_prologue`` set that.
"""

from __future__ import annotations

import logging
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

KINDS = ("slurm", "htcondor")
_LOCAL_RE = re.compile(r"^local(?::(\d+))?$")


class ClusterConfigError(ValueError):
    """A cluster specification or configuration file is wrong; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Adapt(_Strict):
    minimum_jobs: int = Field(0, ge=0)
    maximum_jobs: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _order(self):
        if self.minimum_jobs > self.maximum_jobs:
            raise ValueError(f"minimum_jobs ({self.minimum_jobs}) > maximum_jobs "
                             f"({self.maximum_jobs})")
        return self


class ClusterConfig(_Strict):
    """One batch cluster (SLURM or HTCondor) for dask-jobqueue."""

    kind: Literal["slurm", "htcondor"]
    cores: int = Field(ge=1, description="cores per job")
    memory: str = Field(pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$", description="memory per job, e.g. 16GB")
    processes: int | None = Field(None, ge=1, description="worker processes per job "
                                  "(default: one per core, one thread each)")
    walltime: str | None = Field(None, pattern=r"^(\d+-)?\d{1,3}:\d{2}(:\d{2})?$")
    queue: str | None = None
    account: str | None = None
    disk: str | None = Field(None, pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    python: str | None = Field(None, description="python of the worker environment")
    job_script_prologue: list[str] = Field(default_factory=list)
    job_extra_directives: list[str] | dict[str, str] = Field(
        default_factory=list, description="slurm: list of '#SBATCH' options; htcondor: "
        "mapping of submit-description keys to values")
    worker_extra_args: list[str] = Field(default_factory=list)
    local_directory: str | None = None
    log_directory: str | None = None
    interface: str | None = None
    death_timeout: int | None = Field(None, ge=1)
    adapt: Adapt = Field(default_factory=Adapt)

    @model_validator(mode="after")
    def _per_kind(self):
        if self.kind == "htcondor":
            if self.disk is None:
                raise ValueError("htcondor needs 'disk' (e.g. disk: 10GB)")
            for key in ("walltime", "queue", "account"):
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' is a slurm setting; for htcondor put it in "
                                     "job_extra_directives")
        if self.kind == "htcondor" and isinstance(self.job_extra_directives, list) \
                and self.job_extra_directives:
            raise ValueError("htcondor job_extra_directives is a mapping (key: value)")
        if self.kind == "slurm" and isinstance(self.job_extra_directives, dict):
            raise ValueError("slurm job_extra_directives is a list of sbatch options")
        if self.kind == "slurm" and self.disk is not None:
            raise ValueError("'disk' is an htcondor setting; remove it for slurm")
        if self.processes is not None and self.processes > self.cores:
            raise ValueError(f"processes ({self.processes}) > cores ({self.cores})")
        return self

    def jobqueue_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "cores": self.cores, "memory": self.memory,
            "processes": self.processes or self.cores,
            "job_script_prologue": list(self.job_script_prologue),
            "job_extra_directives": (dict(self.job_extra_directives)
                                     if isinstance(self.job_extra_directives, dict)
                                     else list(self.job_extra_directives)),
            "worker_extra_args": list(self.worker_extra_args),
        }
        for key in ("python", "local_directory", "log_directory", "interface", "death_timeout"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        if self.kind == "slurm":
            for key in ("walltime", "queue", "account"):
                if getattr(self, key) is not None:
                    kw[key] = getattr(self, key)
        else:
            kw["disk"] = self.disk
        return kw


def load_cluster_config(path: str | Path) -> ClusterConfig:
    """Read and validate a cluster YAML; errors name the file and the key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClusterConfigError(f"{path}: cannot read the cluster configuration ({exc})") \
            from None
    except yaml.YAMLError as exc:
        raise ClusterConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ClusterConfigError(f"{path}: the cluster configuration must be a mapping "
                                 "(kind: slurm|htcondor, cores, memory, ...)")
    try:
        return ClusterConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                lines.append(f"{path}: {key}: unknown key; allowed: "
                             f"{', '.join(ClusterConfig.model_fields)}")
            elif err["type"] == "missing":
                lines.append(f"{path}: {key}: required key is missing")
            else:
                lines.append(f"{path}: {key}: {err['msg']}")
        raise ClusterConfigError("\n".join(lines)) from None


def make_jobqueue_cluster(config: ClusterConfig, **extra):
    """A dask-jobqueue SLURMCluster/HTCondorCluster (not yet scaled)."""
    try:
        from dask_jobqueue import HTCondorCluster, SLURMCluster
    except ImportError:
        raise ClusterConfigError("dask-jobqueue is not installed: pip install "
                                 "'na64-analysis[cluster]'") from None
    cls = SLURMCluster if config.kind == "slurm" else HTCondorCluster
    kw = config.jobqueue_kwargs()
    kw.setdefault("silence_logs", logging.ERROR)
    kw.setdefault("scheduler_options", {"dashboard_address": ":0"})
    kw.update(extra)
    return cls(**kw)


def parse_cluster(spec: str) -> tuple[str, int | None]:
    """``local[:N]`` → ("local", N); ``slurm`` / ``htcondor`` → (kind, None)."""
    m = _LOCAL_RE.match(spec.strip())
    if m:
        n = int(m.group(1)) if m.group(1) else None
        if n is not None and n < 1:
            raise ClusterConfigError(f"--cluster {spec}: need at least one worker")
        return "local", n
    if spec in KINDS:
        return spec, None
    raise ClusterConfigError(f"--cluster {spec!r}: use local:N, slurm or htcondor")


def open_client(stack: ExitStack, *, scheduler: str | None = None, cluster: str | None = None,
                cluster_config: str | Path | None = None, workers: int = 1):
    """Enter a ``distributed.Client`` on ``stack`` (closed with it); return (client, info)."""
    from distributed import Client, LocalCluster

    if scheduler and cluster:
        raise ClusterConfigError("give either --scheduler or --cluster, not both")
    info: dict[str, Any] = {"scheduler": scheduler, "cluster": cluster}
    if scheduler:
        try:
            client = stack.enter_context(Client(scheduler, timeout="30s"))
        except (OSError, TimeoutError) as exc:
            raise ClusterConfigError(f"cannot connect to the dask scheduler {scheduler} "
                                     f"({exc}); is it running?") from None
        return client, info
    kind, n = parse_cluster(cluster) if cluster else ("local", workers)
    if kind == "local":
        if cluster_config:
            raise ClusterConfigError("--cluster-config is for slurm/htcondor clusters")
        n = n or workers
        lc = stack.enter_context(LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.ERROR))
        info["workers"] = n
        return stack.enter_context(Client(lc)), info
    if not cluster_config:
        raise ClusterConfigError(f"--cluster {kind} needs --cluster-config FILE "
                                 f"(see examples/cluster-{kind}.yaml)")
    cfg = load_cluster_config(cluster_config)
    if cfg.kind != kind:
        raise ClusterConfigError(f"{cluster_config}: kind is {cfg.kind!r} but --cluster {kind}")
    jq = stack.enter_context(make_jobqueue_cluster(cfg))
    jq.adapt(minimum_jobs=cfg.adapt.minimum_jobs, maximum_jobs=cfg.adapt.maximum_jobs)
    info.update(cluster_config=str(cluster_config), cluster_settings=cfg.model_dump())
    return stack.enter_context(Client(jq)), info


__all__ = ["Adapt", "ClusterConfig", "ClusterConfigError", "KINDS", "load_cluster_config",
           "make_jobqueue_cluster", "open_client", "parse_cluster"]
