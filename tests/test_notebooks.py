"""The study notebooks (notebooks/*.ipynb, docs/notebooks.md).

* committed notebooks carry no outputs (execution_count null, no widget state): outputs are
  regenerated, never reviewed in diffs;
* every notebook runs top to bottom on the built-in sample (made first if missing, as
  `make notebooks` does through `make samples`). The physics checks are the assertions
  inside the notebooks (monotonic background and efficiency versus the thresholds, cross-checks
  against the cut flow, published reductions); a failing one fails the test with the cell's
  traceback.

Executed with nbclient (what nbmake uses), so `pytest -n 2 tests` runs them too.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
STUDIES = ["missing_energy_threshold.ipynb", "vhcal_veto.ipynb", "srd_tagging.ipynb"]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
RECIPE = ROOT / "data/samples/builtin.yaml"
TIMEOUT = 600  # seconds per cell; each notebook takes well under a minute on 2 cores


def test_the_studies_are_there():
    assert set(STUDIES) <= {p.name for p in NOTEBOOKS}
    readme = (NOTEBOOK_DIR / "README.md").read_text()
    for name in STUDIES:
        assert name in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name}: cell {i} has outputs; strip them"
        assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"
    assert "widgets" not in nb.metadata, f"{path.name}: stored widget state; strip it"


@pytest.fixture(scope="module")
def builtin_sample():
    """The built-in sample, made if missing or stale (idempotent; quick when up to date).

    Under pytest-xdist every worker may get here: a file lock makes one generate while the
    others wait, then find it up to date."""
    from analysis.simulation.samples import load_recipe, make_samples

    out = load_recipe(RECIPE).output
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".make_samples.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            report = make_samples(RECIPE)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert report.manifest.exists()
    return report


@pytest.mark.parametrize("name", STUDIES)
def test_notebook_runs(name, builtin_sample):
    path = NOTEBOOK_DIR / name
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    try:
        client.execute(env={**os.environ, "MPLBACKEND": "Agg"})
    except CellExecutionError as exc:  # the failing cell and its traceback
        pytest.fail(f"{name}: {exc}", pytrace=False)
    # it wrote its figures
    figures = list((ROOT / "results/notebooks" / path.stem).glob("*.png"))
    assert figures, f"{name}: no figure in results/notebooks/{path.stem}/"
