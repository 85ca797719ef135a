"""Plots of a ``na64 run`` output directory (matplotlib Agg via ``Figure``, mplhep style).

``plot_results(DIR)`` reads ``cutflow.json``, ``histograms.json`` and ``provenance.json``
(no pickles) and writes into ``DIR/plots/``:

* ``<dataset>_cutflow.png`` — weighted events after each cut (log scale), per process for
  simulation, with the signal-box cuts shaded;
* ``<dataset>_nm1_<histogram>_<cut>.png`` — N−1 distributions: all cuts but one, stacked by
  ``mc_process`` for simulation, with the box boundary of that cut when it is a box cut;
* ``<dataset>_<histogram>_<stage>.png`` for 2D histograms — e.g. the (E_ECAL, E_HCAL) plane
  with the signal box drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hist
import matplotlib

matplotlib.use("Agg")  # noqa: E402  (before anything imports pyplot)
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .results import load_results, process_name  # noqa: E402
from .selection import NM1_PREFIX  # noqa: E402

LABEL = "NA64-style analysis"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def _figure(width: float = 8.0, height: float = 6.0):
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def _label(ax, is_mc: bool) -> None:
    ax.set_title(f"{LABEL} — {'simulation' if is_mc else 'data'}", loc="left", fontsize=11)


def plot_cutflow(dataset: Mapping[str, Any], box: list[str], ax) -> None:
    """Weighted events after each cut, total and per process (simulation)."""
    names = [c["name"] for c in dataset["cuts"]]
    x = np.arange(len(names))

    def values(rows):
        return np.array([np.nan if r["weighted"] is None else r["weighted"] for r in rows])

    ax.step(x, values(dataset["cuts"]), where="mid", color="black", lw=2, label="total")
    for pname, p in dataset.get("by_process", {}).items():
        ax.step(x, values(p["cuts"]), where="mid", lw=1.2, label=pname)
    for i, n in enumerate(names):
        if n in box:
            ax.axvspan(i - 0.5, i + 0.5, color="tab:red", alpha=0.08, lw=0)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=9)
    ax.set_ylabel("weighted events after cut")
    ax.legend(fontsize=8, ncols=2)


def _stack(ax, h1: hist.Hist, is_mc: bool, log: bool = True) -> None:
    """Draw a (process, x) histogram: stacked by process for simulation, points for data."""
    cats = [int(c) for c in h1.axes["process"]]
    if not cats or not np.any(h1.values() != 0):
        ax.text(0.5, 0.5, "no entries", transform=ax.transAxes, ha="center")
        return
    if is_mc:
        parts = [h1[{"process": hist.loc(c)}] for c in cats]
        order = np.argsort([p.sum().value for p in parts])
        mplhep.histplot([parts[i] for i in order], ax=ax, stack=True, histtype="fill",
                        label=[process_name(cats[i]) for i in order], flow="none")
    else:
        mplhep.histplot(h1[{"process": sum}], ax=ax, histtype="errorbar", color="black",
                        label="data", flow="none")
    positive = h1.values()[h1.values() > 0]
    if log and positive.size:
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5 * max(positive.min(), 1e-6))
    ax.legend(fontsize=8)


def _box_lines(ax, variable: str, box_region: Mapping[str, Any]) -> None:
    lo, hi = box_region.get(variable, (None, None))
    for v in (lo, hi):
        if v is not None:
            ax.axvline(v, color="tab:red", ls="--", lw=1.5)


def plot_plane(ax, h2: hist.Hist, box_region: Mapping[str, Any]) -> None:
    """A 2D histogram (x, y) with the signal box as a red rectangle where both axes have a
    box range (e.g. E_ECAL < 50 GeV and E_HCAL < 1 GeV)."""
    xa, ya = h2.axes[0], h2.axes[1]
    values = h2.values()
    positive = values[values > 0]
    norm = None
    if positive.size:
        from matplotlib.colors import LogNorm

        norm = LogNorm(vmin=positive.min(), vmax=positive.max())
    mesh = ax.pcolormesh(xa.edges, ya.edges, np.where(values > 0, values, np.nan).T,
                         norm=norm, cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label="weighted events")
    ax.set_xlabel(xa.label)
    ax.set_ylabel(ya.label)
    if not positive.size:
        ax.text(0.5, 0.5, "no entries", transform=ax.transAxes, ha="center")
    xr = box_region.get(xa.name)
    yr = box_region.get(ya.name)
    if xr and yr:
        x0 = xr[0] if xr[0] is not None else xa.edges[0]
        x1 = xr[1] if xr[1] is not None else xa.edges[-1]
        y0 = yr[0] if yr[0] is not None else ya.edges[0]
        y1 = yr[1] if yr[1] is not None else ya.edges[-1]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="tab:red", lw=2,
                               label="signal box"))
        ax.legend(loc="upper right", fontsize=9)


def _stage_title(stage: str) -> str:
    if stage == "all":
        return "before any cut"
    if stage.startswith(NM1_PREFIX):
        return f"all cuts but {stage[len(NM1_PREFIX):]}"
    return f"after {stage}"


def plot_results(out_dir: str | Path, datasets: list[str] | None = None) -> list[Path]:
    """Write every plot of a results directory (or of `datasets` only) into
    ``out_dir/plots``; return the paths."""
    out = Path(out_dir)
    res = load_results(out)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    box = res["cutflow"].get("box", [])
    box_region = res["provenance"].get("selection", {}).get("box_region", {})
    written: list[Path] = []

    def save(fig, name: str) -> None:
        path = plots / f"{_safe(name)}.png"
        fig.savefig(path, dpi=100)
        written.append(path)

    with matplotlib.style.context(mplhep.style.ROOT):
        for ds, d in sorted(res["cutflow"]["datasets"].items()):
            if datasets is not None and ds not in datasets:
                continue
            is_mc = d["kind"] not in ("data",) and bool(d.get("by_process"))
            fig, ax = _figure(9, 6)
            plot_cutflow(d, box, ax)
            _label(ax, is_mc)
            save(fig, f"{ds}_cutflow")
            for hname, h in sorted(res["histograms"].get(ds, {}).items()):
                stages = list(h.axes["stage"])
                if h.ndim == 3:  # stage, process, x
                    for stage in stages:
                        if not stage.startswith(NM1_PREFIX):
                            continue
                        cutname = stage[len(NM1_PREFIX):]
                        fig, ax = _figure()
                        _stack(ax, h[{"stage": stage}], is_mc)
                        _box_lines(ax, h.axes[2].name, box_region)
                        ax.set_xlabel(h.axes[2].label)
                        ax.set_ylabel("weighted events")
                        _label(ax, is_mc)
                        ax.set_title(f"all cuts but {cutname}", loc="right", fontsize=11)
                        save(fig, f"{ds}_nm1_{hname}_{cutname}")
                elif h.ndim == 4:  # stage, process, x, y
                    for stage in stages:
                        fig, ax = _figure()
                        plot_plane(ax, h[{"stage": stage, "process": sum}], box_region)
                        _label(ax, is_mc)
                        ax.set_title(_stage_title(stage), loc="right", fontsize=11)
                        save(fig, f"{ds}_{hname}_{stage}")
    return written


__all__ = ["plot_cutflow", "plot_plane", "plot_results"]
