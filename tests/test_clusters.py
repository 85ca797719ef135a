"""Cluster configuration: validated YAML, dask-jobqueue job scripts (no batch system
needed), `--cluster local:N`, and the pinned dask-jobqueue with the pinned distributed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from analysis.cli import main
from analysis.clusters import (
    ClusterConfigError,
    load_cluster_config,
    make_jobqueue_cluster,
    parse_cluster,
)
from analysis.processors.crafted import CRAFTED_SELECTION, write_crafted

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytest.importorskip("dask_jobqueue")


def test_examples_are_valid():
    s = load_cluster_config(EXAMPLES / "cluster-slurm.yaml")
    h = load_cluster_config(EXAMPLES / "cluster-htcondor.yaml")
    assert s.kind == "slurm" and s.adapt.maximum_jobs == 20
    assert h.kind == "htcondor" and h.disk == "10GB"


def test_unknown_and_wrong_keys_name_file_and_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"kind": "slurm", "cores": 4, "memory": "8GB",
                                 "walltime": "01:00:00", "colour": "red"}))
    with pytest.raises(ClusterConfigError, match=r"c\.yaml: colour: unknown key"):
        load_cluster_config(p)
    p.write_text(yaml.safe_dump({"kind": "htcondor", "cores": 2, "memory": "8GB"}))
    with pytest.raises(ClusterConfigError, match=r"c\.yaml: .*htcondor needs 'disk'"):
        load_cluster_config(p)
    p.write_text(yaml.safe_dump({"kind": "slurm", "cores": 0, "memory": "lots"}))
    with pytest.raises(ClusterConfigError, match=r"c\.yaml: cores: .*\n.*c\.yaml: memory"):
        load_cluster_config(p)
    with pytest.raises(ClusterConfigError, match="use local:N, slurm or htcondor"):
        parse_cluster("kubernetes")
    assert parse_cluster("local:3") == ("local", 3)


def test_slurm_job_script_and_adaptive_cluster():
    cfg = load_cluster_config(EXAMPLES / "cluster-slurm.yaml")
    with make_jobqueue_cluster(cfg) as cluster:
        script = cluster.job_script()
        assert "#SBATCH --cpus-per-task=4" in script
        assert "#SBATCH --mem=15G" in script  # dask-jobqueue: 16GB as GiB, rounded down
        assert "#SBATCH -t 04:00:00" in script
        assert "#SBATCH -p long" in script and "#SBATCH -A na64" in script
        assert "source /shared/na64/main/.venv/bin/activate" in script
        assert script.index("activate") < script.index("distributed.cli.dask_worker")
        assert "/shared/na64/main/.venv/bin/python -m distributed.cli.dask_worker" in script
        assert "--nworkers 4" in script and "--nthreads 1" in script
        # adaptive scaling with minimum 0 submits nothing: start and close without sbatch
        adaptive = cluster.adapt(minimum_jobs=0, maximum_jobs=cfg.adapt.maximum_jobs)
        assert adaptive is not None
        assert cluster.scheduler_address.startswith("tcp://")


def test_htcondor_job_script():
    cfg = load_cluster_config(EXAMPLES / "cluster-htcondor.yaml")
    with make_jobqueue_cluster(cfg) as cluster:
        script = cluster.job_script()
        assert "RequestCpus = MY.DaskWorkerCores" in script
        assert "DaskWorkerCores = 2" in script
        assert "RequestDisk" in script and "RequestMemory" in script
        assert "source /cvmfs/na64/envs/analysis/bin/activate" in script
        assert '+JobFlavour = "workday"' in script


def test_cli_cluster_local_and_errors(tmp_path):
    f = str(write_crafted(tmp_path / "a.root"))
    sel = tmp_path / "s.yaml"
    sel.write_text(yaml.safe_dump(CRAFTED_SELECTION, sort_keys=False))
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(sel), "--files", f, "--out", str(out),
                                  "--cluster", "local:2", "--chunksize", "20", "--no-progress"])
    assert r.exit_code == 0, r.output
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["execution"]["executor"] == "dask" and prov["execution"]["cluster"] == "local:2"
    r = CliRunner().invoke(main, ["run", str(sel), "--files", f, "--out", str(tmp_path / "o"),
                                  "--cluster", "slurm", "--no-progress"])
    assert r.exit_code == 1 and "--cluster slurm needs --cluster-config" in r.output
    bad = tmp_path / "c.yaml"
    bad.write_text("kind: slurm\ncores: 2\nmemory: 4GB\nqueue_name: x\n")
    r = CliRunner().invoke(main, ["run", str(sel), "--files", f, "--out", str(tmp_path / "o"),
                                  "--cluster", "slurm", "--cluster-config", str(bad),
                                  "--no-progress"])
    assert r.exit_code == 1 and "c.yaml: queue_name: unknown key" in r.output
