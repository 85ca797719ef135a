"""Exclusion plots from limit tables (matplotlib Agg via ``Figure``, mplhep ROOT style).

* :func:`plot_exclusion` — coupling (ε, g_Z′, g, Br) versus mass, log–log: observed limit
  (solid, excluded side shaded), expected median (dashed), ±1σ (green) and ±2σ (yellow)
  expected bands; optional user curves (CSV ``mass,value``, label = file name) and an optional
  band (CSV ``mass,low,high``, e.g. the (g−2)_μ region for the Lμ−Lτ Z′).
* :func:`plot_thermal_targets` — y = ε² α_D (m_χ/m_A′)⁴ versus m_χ (m_A′ = 3 m_χ, PHYSICS.md
  §3), one panel per α_D, with the thermal relic targets (scalar, Majorana, pseudo-Dirac) of
  ``analysis/data/relic-target-*.csv`` (source: ESPP 2026 Physics Preparatory Group
  dark-matter comparison, repository ESPP2026-PPG/Quasi-elastic-DM; analysis/data/README.md).
* :func:`plot_limits` — both, from a ``limits.json`` written by :func:`analysis.limits.write_limits`.

Every figure is written as PNG and PDF.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # noqa: E402
import matplotlib.style  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "RELIC_SOURCE",
    "Band",
    "Curve",
    "plot_exclusion",
    "plot_limits",
    "plot_thermal_targets",
    "read_band",
    "read_curve",
    "read_relic_targets",
]

EXPERIMENT = "NA64-style"
RELIC_SOURCE = ("relic targets: ESPP 2026 PPG DM comparison (ESPP2026-PPG/Quasi-elastic-DM), "
                "m$_{A'}$ = 3 m$_\\chi$")
#: relic-target files and their labels
RELIC_TARGETS = {"scalar": "Scalar", "majorana": "Majorana", "pseudodirac": "Pseudo-Dirac"}
GREEN, YELLOW = "#00cc00", "#ffcc00"

_MASS_LABELS = {"dark-photon": r"$m_{A'}$ [GeV]", "zprime": r"$m_{Z'}$ [GeV]",
                "scalar": r"$m_{S}$ [GeV]", "pseudoscalar": r"$m_{a}$ [GeV]",
                "axial": r"$m_{V}$ [GeV]", "eta": r"$m_\eta$ [GeV]", "eta-prime": r"$m_{\eta'}$ [GeV]"}
_POT = {"electron": "EOT", "positron": "EOT", "muon": "MOT", "hadron": "POT"}


def _coupling_label(model: str, coupling: str) -> str:
    if coupling == "epsilon":
        return r"$\epsilon$"
    if coupling == "Br":
        meson = {"eta": r"\eta", "eta-prime": r"\eta'"}.get(model, "M")
        return rf"Br(${meson} \to$ invisible)"
    return {"zprime": r"$g_{Z'}$", "scalar": r"$g_S$"}.get(model, r"$g$")


@dataclass
class Curve:
    """A line in a plot: x (mass), y (coupling or y), legend label."""

    mass: np.ndarray
    value: np.ndarray
    label: str


@dataclass
class Band:
    """A shaded region between ``low`` and ``high`` versus mass (e.g. (g−2)_μ)."""

    mass: np.ndarray
    low: np.ndarray
    high: np.ndarray
    label: str


def _read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if line.strip() and not line.lstrip().startswith("#")))


def _label_from(path) -> str:
    return Path(path).stem.replace("_", " ")


def read_curve(path, label: str | None = None) -> Curve:
    """A user curve from a CSV with columns ``mass`` and ``value`` (label: the file name)."""
    rows = _read_rows(path)
    if not rows or not {"mass", "value"} <= set(rows[0]):
        raise ValueError(f"{path}: a curve CSV needs columns 'mass' and 'value'")
    m = np.array([float(r["mass"]) for r in rows])
    v = np.array([float(r["value"]) for r in rows])
    o = np.argsort(m)
    return Curve(m[o], v[o], label or _label_from(path))


def read_band(path, label: str | None = None) -> Band:
    """A band from a CSV with columns ``mass``, ``low``, ``high`` (label: the file name)."""
    rows = _read_rows(path)
    if not rows or not {"mass", "low", "high"} <= set(rows[0]):
        raise ValueError(f"{path}: a band CSV needs columns 'mass', 'low' and 'high'")
    m = np.array([float(r["mass"]) for r in rows])
    o = np.argsort(m)
    return Band(m[o], np.array([float(r["low"]) for r in rows])[o],
                np.array([float(r["high"]) for r in rows])[o], label or _label_from(path))


def read_relic_targets() -> dict[str, Curve]:
    """The packaged thermal relic targets y(m_χ) (columns ``m_chi_GeV``, ``y``)."""
    base = resources.files("analysis") / "data"
    out = {}
    for key, label in RELIC_TARGETS.items():
        with (base / f"relic-target-{key}.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        out[key] = Curve(np.array([float(r["m_chi_GeV"]) for r in rows]),
                         np.array([float(r["y"]) for r in rows]), f"{label} (relic target)")
    return out


# ------------------------------------------------------------------------------------------
def _as_dict(table) -> dict:
    if hasattr(table, "to_dict"):
        return table.to_dict()
    if isinstance(table, (str, Path)):
        p = Path(table)
        return json.loads((p / "limits.json" if p.is_dir() else p).read_text())
    return dict(table)


def _col(points: Sequence[Mapping], key: str) -> np.ndarray:
    return np.array([np.nan if p.get(key) is None else float(p[key]) for p in points], float)


def _band(points: Sequence[Mapping]) -> np.ndarray:
    b = np.array([[np.nan if v is None else float(v) for v in p["band"]] for p in points], float)
    return b.reshape(-1, 4)


def _finite(a):
    a = np.asarray(a, float)
    return np.where(np.isfinite(a), a, np.nan)


def _as_curve(c, default_label=None) -> Curve:
    if isinstance(c, Curve):
        return c
    if isinstance(c, (str, Path)):
        return read_curve(c, default_label)
    if isinstance(c, tuple) and len(c) == 3:
        return Curve(np.asarray(c[0], float), np.asarray(c[1], float), str(c[2]))
    raise TypeError(f"cannot use {c!r} as a curve (Curve, CSV path or (mass, value, label))")


def _save(fig, out) -> list[Path]:
    out = Path(out)
    if out.suffix.lower() in (".png", ".pdf"):
        out = out.with_suffix("")
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in (".png", ".pdf"):
        p = out.with_name(out.name + ext)
        fig.savefig(p, dpi=150)
        paths.append(p)
    return paths


def _draw_limits(ax, x, obs, exp, band, cl: float, excluded_top: float | None = None) -> None:
    """Bands, expected median and observed line (log–log), x sorted."""
    exp, band = _finite(exp), _finite(band)
    ok = np.isfinite(exp)
    if len(x) == 1:  # a single mass (e.g. Br of one meson): markers and bars
        ax.vlines(x, band[:, 0], band[:, 3], color=YELLOW, lw=14, label=r"expected $\pm 2\sigma$")
        ax.vlines(x, band[:, 1], band[:, 2], color=GREEN, lw=14, label=r"expected $\pm 1\sigma$")
        ax.plot(x, exp, ls="none", marker="_", ms=22, mew=2, color="black",
                label="expected (median)")
        if obs is not None:
            ax.plot(x, _finite(obs), ls="none", marker="o", color="black",
                    label=f"observed {100 * cl:g}% CL")
        return
    ax.fill_between(x, band[:, 0], band[:, 3], where=ok, color=YELLOW, lw=0,
                    label=r"expected $\pm 2\sigma$")
    ax.fill_between(x, band[:, 1], band[:, 2], where=ok, color=GREEN, lw=0,
                    label=r"expected $\pm 1\sigma$")
    ax.plot(x, exp, ls="--", color="black", lw=1.5, label="expected (median)")
    if obs is not None:
        o = _finite(obs)
        ax.plot(x, o, ls="-", color="black", lw=2.2, label=f"observed {100 * cl:g}% CL")
        if excluded_top is not None:
            ax.fill_between(x, o, excluded_top, where=np.isfinite(o), color="0.6", alpha=0.18, lw=0)


def _exp_label(ax, d: Mapping, text: str | None = None) -> None:
    kind = d.get("kind", "limit")
    llabel = text if text is not None else ("projection" if kind == "projection"
                                            else "expected (blinded)" if d.get("blinded") else "")
    exposure = d.get("exposure")
    unit = _POT.get(d.get("setup", ""), "particles on target")
    rl = f"{exposure:.3g} {unit}" if exposure else ""
    mplhep.label.exp_label(exp=EXPERIMENT, llabel=llabel, rlabel=rl, ax=ax, fontsize=14)


def _limits_of_y(ys: Sequence[float]) -> tuple[float, float]:
    v = np.concatenate([np.ravel(_finite(y)) for y in ys]) if ys else np.array([np.nan])
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return 1e-10, 1.0
    return float(v.min()) / 5.0, float(v.max()) * 20.0


def plot_exclusion(table, out, coupling_label: str | None = None, extra_curves=(), *,
                   band=None, text: str | None = None) -> list[Path]:
    """Exclusion plot coupling vs mass (log–log) for a :class:`analysis.limits.LimitTable`
    (or its ``limits.json`` dict/path).

    ``extra_curves``: :class:`Curve` s, CSV paths (``mass,value``; label = file name) or
    ``(mass, value, label)`` tuples; ``band``: a :class:`Band` or CSV path (``mass,low,high``),
    e.g. the (g−2)_μ region.  Writes ``out``.png and ``out``.pdf; returns the paths.
    """
    d = _as_dict(table)
    pts = sorted(d["points"], key=lambda p: p["mass"])
    x = _col(pts, "mass")
    obs = None if d.get("blinded") or all(p.get("observed") is None for p in pts) else _col(pts, "observed")
    exp, bnd = _col(pts, "expected"), _band(pts)
    curves = [_as_curve(c) for c in extra_curves]
    bands = [] if band is None else [band if isinstance(band, Band) else read_band(band)]
    lo, hi = _limits_of_y([exp, bnd] + ([] if obs is None else [obs]))
    with matplotlib.style.context(mplhep.style.ROOT):
        fig = Figure(figsize=(9, 7), layout="constrained")
        ax = fig.subplots()
        for b in bands:
            ax.fill_between(b.mass, b.low, b.high, color="tab:purple", alpha=0.3, lw=0, label=b.label)
        _draw_limits(ax, x, obs, exp, bnd, d["cl"], excluded_top=hi * 10)
        for i, c in enumerate(curves):
            ax.plot(c.mass, c.value, lw=1.8, color=f"C{i % 10}", label=c.label)
        ax.set_yscale("log")
        if len(x) > 1:
            ax.set_xscale("log")
            ax.set_xlim(x.min(), x.max())
        else:
            ax.set_xlim(x[0] * 0.8, x[0] * 1.2)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(_MASS_LABELS.get(d["model"], "mass [GeV]"))
        ylab = coupling_label or _coupling_label(d["model"], d["coupling"])
        short = len(ylab.replace("$", "").replace("\\", "")) <= 8
        ax.set_ylabel(ylab, rotation=0 if short else 90, labelpad=14 if short else None)
        thr = d.get("threshold")
        info = f"{d['model']}, {d.get('setup', '')} {d.get('energy', 0):g} GeV" + \
            (f", $E_{{miss}} > {thr:g}$ GeV" if thr is not None else "") + \
            f"\n{100 * d['cl']:g}% CL CLs, {d.get('method', '')}"
        ax.legend(loc="upper left", fontsize=12, title=info, title_fontsize=11, frameon=False)
        _exp_label(ax, d, text)
        return _save(fig, out)


def _y_tables(tables_by_alpha) -> dict[float, dict]:
    """α_D → {"m_chi", "observed", "expected", "band"} arrays from a LimitTable, a limits
    dict (with "y"), or a mapping α_D → table (arrays or a "points" list)."""
    if hasattr(tables_by_alpha, "y_tables"):
        return {a: dict(t) for a, t in tables_by_alpha.y_tables.items()}
    if isinstance(tables_by_alpha, (str, Path)):
        tables_by_alpha = _as_dict(tables_by_alpha)
    if isinstance(tables_by_alpha, Mapping) and "y" in tables_by_alpha and "points" in tables_by_alpha:
        tables_by_alpha = {t["alpha_d"]: t for t in tables_by_alpha["y"]}
    out = {}
    for a, t in tables_by_alpha.items():
        if "points" in t:
            pts = sorted(t["points"], key=lambda p: p["m_chi"])
            obs = None if all(p.get("observed") is None for p in pts) else _col(pts, "observed")
            out[float(a)] = {"m_chi": _col(pts, "m_chi"), "observed": obs,
                             "expected": _col(pts, "expected"), "band": _band(pts)}
        else:
            out[float(a)] = {k: (None if t.get(k) is None else np.asarray(t[k], float))
                             for k in ("m_chi", "observed", "expected", "band")}
    return out


def plot_thermal_targets(tables_by_alpha, out, extra_curves=(), *, relic_targets=None,
                         info: Mapping | None = None) -> list[Path]:
    """y = ε² α_D (m_χ/m_A′)⁴ vs m_χ, one panel per α_D, with the thermal relic targets.

    ``tables_by_alpha``: a LimitTable, a ``limits.json`` dict/path, or ``{α_D: table}`` with
    arrays ``m_chi``, ``observed`` (or None), ``expected``, ``band`` (or a ``points`` list).
    ``extra_curves``: curves in (m_χ, y) (CSV ``mass,value``).  ``relic_targets``: mapping
    name → :class:`Curve` (default: :func:`read_relic_targets`).  ``info``: the limits dict
    (cl, exposure, setup) for the labels.  Writes ``out``.png/.pdf.
    """
    d = info if info is not None else (_as_dict(tables_by_alpha)
                                       if hasattr(tables_by_alpha, "to_dict")
                                       or isinstance(tables_by_alpha, (str, Path))
                                       or (isinstance(tables_by_alpha, Mapping) and "y" in tables_by_alpha)
                                       else {})
    tabs = _y_tables(tables_by_alpha)
    if not tabs:
        raise ValueError("no y tables (only the dark photon has the thermal-target variable y)")
    relic = read_relic_targets() if relic_targets is None else relic_targets
    curves = [_as_curve(c) for c in extra_curves]
    cl = d.get("cl", 0.9)
    alphas = sorted(tabs)
    with matplotlib.style.context(mplhep.style.ROOT):
        fig = Figure(figsize=(8.5 * len(alphas), 7.5), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(alphas)))
        for ax, a in zip(axes, alphas):
            t = tabs[a]
            o = np.argsort(t["m_chi"])
            x = t["m_chi"][o]
            obs = None if t.get("observed") is None else np.asarray(t["observed"])[o]
            exp, bnd = np.asarray(t["expected"])[o], np.asarray(t["band"]).reshape(-1, 4)[o]
            lo, hi = _limits_of_y([exp, bnd] + ([] if obs is None else [obs]))
            styles = ("-", "--", ":", "-.")
            for i, c in enumerate(relic.values()):
                lo = min(lo, float(np.nanmin(c.value)) / 3)
                ax.plot(c.mass, c.value, color="tab:blue", ls=styles[i % 4], lw=1.8, label=c.label)
            _draw_limits(ax, x, obs, exp, bnd, cl, excluded_top=hi * 10)
            for i, c in enumerate(curves):
                ax.plot(c.mass, c.value, lw=1.8, color=f"C{(i + 1) % 10}", label=c.label)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(x.min(), x.max())
            ax.set_ylim(lo, hi)
            ax.set_xlabel(r"$m_\chi$ [GeV]")
            ax.set_ylabel(r"$y = \varepsilon^2 \alpha_D (m_\chi/m_{A'})^4$")
            ax.legend(loc="upper left", fontsize=11, frameon=False,
                      title=rf"$\alpha_D = {a:g}$, $m_{{A'}} = 3 m_\chi$, {100 * cl:g}% CL",
                      title_fontsize=12)
            ax.text(0.99, 0.01, RELIC_SOURCE, transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=8, color="0.3")
            _exp_label(ax, d)
        return _save(fig, out)


def plot_limits(limits, outdir, curves=(), *, y_curves=(), band=None) -> list[Path]:
    """All plots of a ``limits.json`` (path, dict or LimitTable) into ``outdir``:
    ``exclusion_<coupling>.png/.pdf`` and, for the dark photon, ``thermal_targets_y.png/.pdf``."""
    d = _as_dict(limits)
    out = Path(outdir)
    paths = plot_exclusion(d, out / f"exclusion_{d['coupling']}", extra_curves=curves, band=band)
    if d.get("y"):
        paths += plot_thermal_targets(d, out / "thermal_targets_y", extra_curves=y_curves, info=d)
    return paths
