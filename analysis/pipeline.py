"""A full analysis from one validated config: samples → run → background → limits → summary.

`run_analysis` chains the workflow modules (datasets, execution, results, background,
limits, exclusion), one after the other, and writes everything under one results directory:

    OUT/analysis.json          the config as run + resolved datasets (what later steps read)
    OUT/run/                   cutflow.json/md, histograms.root/json, provenance.json
    OUT/normalisation/         the dimuon control selection (when configured)
    OUT/background.json, .md   data-driven and simulated estimates, closure on simulation
    OUT/efficiency.csv         signal efficiency per simulated mass
    OUT/limits/                limits.json/csv/yaml, y tables, plots
    OUT/summary.md             exposure, cut flow, background, observed, limits, method
    OUT/unblinding.json        written by `unblind` only

The signal box of data and pseudo-data stays blind until `unblind(OUT)` is run: before
that the limits are expected limits only.
"""

from __future__ import annotations

import csv
import datetime as _dt
import fnmatch
import json
import math
from pathlib import Path
from typing import Literal

import numpy as np
import uproot
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .background import (Plane, SignalBox, abcd, closure, simulation_estimate,
                         tail_extrapolation)
from .cuts import VARIABLES
from .datasets import fileset, load_manifest, verify
from .execution import run
from .limits import Efficiency, SignalModel, SignalSystematics, scan, write_limits
from .results import load_results, write_results
from .selection import load_selection

DEFAULT_CONFIG = Path("analyses/na64e_2023.yaml")


# --- configuration ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataDrivenSpec(_Model):
    axis: Literal["hcal", "ecal"] = "hcal"
    sideband: tuple[float, float] = (1.0, 10.0)
    shape: Literal["exponential", "power"] = "exponential"


class BackgroundSpec(_Model):
    histogram: str = Field(description="2D (E_ECAL, E_HCAL) histogram of the selection")
    stage: str = Field(description="its stage: the last cut before the signal box")
    use: Literal["simulation", "data-driven"] = "simulation"
    data_driven: DataDrivenSpec = DataDrivenSpec()
    simulation_syst: float = Field(0.3, ge=0, description="relative syst of simulated rates")
    closure_on: list[str] = Field(default_factory=list,
                                  description="simulated datasets (patterns) for the closure")


class LimitSpec(_Model):
    cl: float = Field(0.9, gt=0, lt=1)
    method: Literal["auto", "exact", "asymptotic", "toys"] = "auto"
    n_masses: int = Field(30, ge=2)
    pot_unc: float = Field(0.02, ge=0)
    xsec_unc: float = Field(0.10, ge=0)
    efficiency_unc: float = Field(0.05, ge=0)


class NormalisationSpec(_Model):
    selection: str
    simulation: list[str]


class AnalysisConfig(_Model):
    name: str
    setup: Literal["electron", "positron", "muon", "hadron"]
    selection: str
    manifest: str = "data/samples/builtin/manifest.yaml"
    recipe: str | None = "data/samples/builtin.yaml"
    data: list[str]
    backgrounds: list[str] = Field(default_factory=list)
    signals: list[str]
    signal_min_energy: float = Field(
        30.0, ge=0, description="E_X (GeV) above which signal efficiency and yield are counted; "
        "below the missing-energy threshold by many ECAL resolutions, at or above the "
        "simulation's generation cut")
    model: str
    background: BackgroundSpec
    limits: LimitSpec = LimitSpec()
    normalisation: NormalisationSpec | None = None


class ConfigError(ValueError):
    pass


def load_config(path: str | Path) -> AnalysisConfig:
    """Read an analysis config (YAML, safe loader) and validate it; errors name file and key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such analysis config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return AnalysisConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
                 for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


# --- helpers ----------------------------------------------------------------------------------


def _resolve(patterns: list[str], names: list[str], what: str) -> list[str]:
    out = []
    for p in patterns:
        hits = sorted(n for n in names if fnmatch.fnmatchcase(n, p))
        if not hits:
            raise ConfigError(f"{what}: pattern {p!r} matches no dataset of the manifest")
        out += [h for h in hits if h not in out]
    return out


def _ensure_manifest(cfg: AnalysisConfig, progress: bool):
    path = Path(cfg.manifest)
    if not path.exists() or cfg.recipe:
        if cfg.recipe:
            from .simulation.samples import make_samples

            make_samples(cfg.recipe)
        elif not path.exists():
            raise ConfigError(f"{path}: manifest not found and no recipe to generate it")
    return load_manifest(path)


def _mc_mass(path: str) -> float:
    with uproot.open(path) as f:
        return float(f["runinfo"]["mc_mass"].array(library="np")[0])


def _write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, default=float) + "\n")


# --- steps ------------------------------------------------------------------------------------


def process(cfg: AnalysisConfig, out: Path, *, executor: str = "futures",
            workers: int | None = None, chunksize: int | None = None,
            progress: bool = True) -> dict:
    """Run the selection over data, background simulation and signal in one pass."""
    manifest = _ensure_manifest(cfg, progress)
    names = sorted(manifest.datasets)
    resolved = {
        "data": _resolve(cfg.data, names, "data"),
        "backgrounds": _resolve(cfg.backgrounds, names, "backgrounds"),
        "signals": _resolve(cfg.signals, names, "signals"),
    }
    if cfg.normalisation:
        resolved["normalisation"] = _resolve(cfg.normalisation.simulation, names,
                                             "normalisation.simulation")
    every = sorted({n for v in resolved.values() for n in v})
    verify(manifest, every)
    kw = {"executor": executor, "workers": workers, "progress": progress}
    if chunksize:
        kw["chunksize"] = chunksize
    sel = load_selection(cfg.selection)
    main = [n for k in ("data", "backgrounds", "signals") for n in resolved[k]]
    result = run(sel, fileset(manifest, main), **kw)
    write_results(result, out / "run")
    if cfg.normalisation:
        norm = run(load_selection(cfg.normalisation.selection),
                   fileset(manifest, resolved["data"] + resolved["normalisation"]), **kw)
        write_results(norm, out / "normalisation")
    masses = {n: _mc_mass(str(manifest.resolve(manifest.datasets[n].files[0])))
              for n in resolved["signals"]}
    state = {"config": cfg.model_dump(mode="json"), "datasets": resolved,
             "signal_masses": masses, "framework_version": __version__}
    _write_json(state, out / "analysis.json")
    return state


def _state(out: Path) -> tuple[AnalysisConfig, dict]:
    path = out / "analysis.json"
    if not path.exists():
        raise ConfigError(f"{out}: no analysis.json — run `na64 analysis --out {out}` first")
    state = json.loads(path.read_text())
    return AnalysisConfig.model_validate(state["config"]), state


def _plane(hists: dict, dataset: str, spec: BackgroundSpec) -> Plane:
    h = hists[dataset][spec.histogram]
    stage = h[{"stage": spec.stage}]
    h2 = stage[{"process": sum}] if "process" in stage.axes.name else stage
    return Plane.from_hist(h2)


def _plane_variables(selection_path: str, histogram: str | None) -> tuple[str, str]:
    """The (x, y) variables of the background plane: the 2D histogram ``histogram`` of the
    selection — (E_ECAL, E_HCAL) for the missing-energy setups, (p_out, E_ECAL) for the muon
    setup — or (ecal_energy, hcal_energy) when not given."""
    if histogram is not None:
        for h in load_selection(selection_path).histograms:
            if h.name == histogram and h.y is not None:
                return h.x.variable, h.y.variable
    return "ecal_energy", "hcal_energy"


def _box(selection_path: str, histogram: str | None = None) -> SignalBox:
    """The box as upper bounds on the plane's x and y variables (``SignalBox.ecal_max`` is
    the x bound, ``hcal_max`` the y bound). The missing-energy (or missing-momentum)
    threshold is E_beam − x bound for E_ECAL and for p_out alike."""
    sel = load_selection(selection_path)
    region = sel.box_region()
    xv, yv = _plane_variables(selection_path, histogram)
    ecal_hi = region.get(xv, (None, None))[1]
    hcal_hi = region.get(yv, (None, None))[1]
    if ecal_hi is None or hcal_hi is None:
        raise ConfigError(f"{selection_path}: the signal box must bound {xv} and {yv} for the "
                          f"({xv}, {yv}) background estimate; got {region}")
    return SignalBox(float(ecal_hi), float(hcal_hi))


def estimate_background(out: Path) -> dict:
    """Data-driven (sideband tail) and simulated estimates in the box, and the closure test.

    The data-driven estimate needs events in the sideband; with none (small exposures) it is
    reported as 0 with the uncertainty of the closure shape normalised to 1.15 sideband
    events (the 68% CL upper limit on a zero count)."""
    cfg, state = _state(out)
    res = load_results(out / "run")
    cut = res["cutflow"]["datasets"]
    hists = res["histograms"]
    spec = cfg.background
    box = _box(cfg.selection, spec.histogram)
    data = state["datasets"]["data"]
    n_data = sum(cut[d]["n_on_target"] for d in data)
    bkgs = state["datasets"]["backgrounds"]

    planes_mc = {b: _plane(hists, b, spec) for b in bkgs}
    n_mc = {b: cut[b]["n_on_target"] for b in bkgs}
    sim = simulation_estimate(planes_mc, n_mc, n_data, box, xsec_syst=spec.simulation_syst)
    # simulated events in the box per process (truth), for the closure comparison
    mc_sum = None
    for b in bkgs:
        p = planes_mc[b].scaled(n_data / n_mc[b])
        mc_sum = p if mc_sum is None else mc_sum + p

    dd = spec.data_driven
    xv, yv = _plane_variables(cfg.selection, spec.histogram)
    out_doc: dict = {"box": {"ecal_max": box.ecal_max, "hcal_max": box.hcal_max,
                             "x": xv, "y": yv},
                     "plane": {"histogram": spec.histogram, "stage": spec.stage},
                     "n_on_target_data": n_data, "simulation": sim.to_dict()}
    data_plane = None
    for d in data:
        p = _plane(hists, d, spec)
        data_plane = p if data_plane is None else data_plane + p
    sb_events = _sideband_count(data_plane, box, dd)
    clos = None
    if mc_sum is not None and _sideband_count(mc_sum, box, dd) > 0:
        clos = closure(mc_sum, box, f"tail-{dd.axis}", sideband=tuple(dd.sideband),
                       shape=dd.shape)
        out_doc["closure"] = clos.to_dict()
    # ABCD variant, where the regions sharing the box boundaries are populated; its closure
    # on simulation says whether E_ECAL and E_HCAL factorise for these backgrounds
    out_doc["abcd"] = {}
    for label, plane in (("data", data_plane), ("closure_on_simulation", mc_sum)):
        if plane is None:
            continue
        try:
            if label == "data":
                out_doc["abcd"][label] = abcd(plane, box).to_dict()
            else:
                out_doc["abcd"][label] = closure(plane, box, "abcd").to_dict()
        except ValueError as exc:
            out_doc["abcd"][label] = {"not_applicable": str(exc)}
    if sb_events > 0:
        est = tail_extrapolation(data_plane, box, axis=dd.axis, sideband=tuple(dd.sideband),
                                 shape=dd.shape)
        out_doc["data_driven"] = est.to_dict()
    else:
        unc = None
        if clos is not None and clos.estimate.details["sideband_events"] > 0:
            unc = 1.15 * clos.estimate.value / clos.estimate.details["sideband_events"]
        out_doc["data_driven"] = {
            "method": f"tail-extrapolation-{dd.axis}", "value": 0.0,
            "stat": unc, "syst": 0.0, "total_unc": unc,
            "how": "no data event in the sideband: estimate 0; uncertainty = the simulated "
                   "box/sideband ratio times 1.15 events (68% CL upper limit on zero)"}
    chosen = out_doc["simulation"] if spec.use == "simulation" else out_doc["data_driven"]
    out_doc["used"] = {"method": spec.use, "value": float(chosen["value"]),
                       "uncertainty": float(chosen["total_unc"] or 0.0)}
    _write_json(out_doc, out / "background.json")
    (out / "background.md").write_text(_background_md(out_doc))
    return out_doc


def _sideband_count(plane: Plane, box: SignalBox, dd: DataDrivenSpec) -> float:
    if dd.axis == "hcal":
        return plane.region((plane.ecal_edges[0], box.ecal_max), tuple(dd.sideband))[0]
    return plane.region(tuple(dd.sideband), (plane.hcal_edges[0], box.hcal_max))[0]


_NAMES = {"ecal_energy": "E_ECAL", "hcal_energy": "E_HCAL", "mu_p_out": "p_out"}


def _background_md(doc: dict) -> str:
    def row(name, d):
        unc = d.get("total_unc")
        unc_s = "—" if unc is None else f"{unc:.3g}"
        return f"| {name} | {d['value']:.3g} | {unc_s} | {d['how']} |"

    lines = ["# Background in the signal box", "",
             f"Box: {_NAMES.get(doc['box'].get('x'), 'E_ECAL')} < {doc['box']['ecal_max']:g} "
             f"GeV, {_NAMES.get(doc['box'].get('y'), 'E_HCAL')} < "
             f"{doc['box']['hcal_max']:g} GeV; exposure {doc['n_on_target_data']:.4g} "
             "particles on target.", "",
             "| estimate | events | uncertainty | how |", "|---|---:|---:|---|",
             row("simulation (per process, scaled to the exposure)", doc["simulation"]),
             row("data-driven (sideband tail extrapolation)", doc["data_driven"])]
    if "closure" in doc:
        c = doc["closure"]
        lines += ["", f"Closure on simulation: estimate {c['estimate']['value']:.3g} ± "
                  f"{c['estimate']['total_unc']:.3g} vs truth {c['truth']:.3g} ± "
                  f"{c['truth_unc']:.3g}; pull {c['pull']:.2f} "
                  f"({'passes' if c['passes_2sigma'] else 'FAILS'} the 2σ criterion)."]
    for label, d in doc.get("abcd", {}).items():
        if "not_applicable" in d:
            lines.append(f"\nABCD ({label}): not applicable — {d['not_applicable']}")
        elif "pull" in d:
            lines.append(f"\nABCD closure on simulation: estimate {d['estimate']['value']:.3g} ± "
                         f"{d['estimate']['total_unc']:.3g} vs truth {d['truth']:.3g}; pull "
                         f"{d['pull']:.2f} (E_ECAL and E_HCAL "
                         f"{'factorise' if d['passes_2sigma'] else 'do NOT factorise'} here).")
        else:
            lines.append(f"\nABCD ({label}): {d['value']:.3g} ± {d['total_unc']:.3g} events.")
    lines += ["", f"Used for the limits: **{doc['used']['method']}**, "
              f"{doc['used']['value']:.3g} ± {doc['used']['uncertainty']:.3g} events."]
    return "\n".join(lines) + "\n"


def signal_efficiency(out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Selected / produced signal with E_X ≥ `signal_min_energy`, per simulated mass.

    The denominator counts generated events by their truth E_X (`mc_invisible_e`), so the
    efficiency includes the missing-energy acceptance above `signal_min_energy` and is paired
    with the yield above the same energy (SignalModel.generation_threshold). Conditioning on
    E_X keeps the efficiency smooth in mass where the total production is dominated by soft
    A′ or by resonant annihilation far below threshold (interpolation between masses would
    otherwise mix very different spectra)."""
    cfg, state = _state(out)
    cut = load_results(out / "run")["cutflow"]["datasets"]
    prov = json.loads((out / "run" / "provenance.json").read_text())
    e_min = cfg.signal_min_energy
    rows = []
    for name in state["datasets"]["signals"]:
        files = [i["path"] for i in prov["inputs"] if i.get("dataset") == name]
        e_x = np.concatenate([uproot.open(p)["events"]["mc_invisible_e"].array(library="np")
                              for p in files])
        # NA64h (setup hadron): E_X is the meson energy, always ≈ E_beam; no generation cut
        if cfg.setup != "hadron":
            _check_generation_cut(name, e_x, e_min, cfg, state["signal_masses"][name])
        produced = int(np.count_nonzero(e_x >= e_min))
        selected = cut[name]["cuts"][-1]["weighted"]
        rows.append((state["signal_masses"][name], selected / produced if produced else 0.0,
                     produced, int(cut[name]["cuts"][-1]["events"])))
    rows.sort()
    with open(out / "efficiency.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mass_GeV", "efficiency", "produced_above_min_energy", "selected"])
        w.writerows(rows)
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def _check_generation_cut(name: str, e_x: np.ndarray, e_min: float, cfg, mass: float) -> None:
    """Refuse a signal sample generated with a cut above `signal_min_energy`.

    The generation cut is not stored in the file; if it were ≤ e_min, each event would fall
    in [e_min, min(E_X)) with the model probability p, so seeing none of N events has
    probability (1 − p)^N. Below 1e-3 the sample was evidently cut higher and the
    denominator of the efficiency would be incomplete."""
    lo = float(e_x.min())
    if lo <= e_min:
        return
    from .physics.signal_spectrum import invisible_energy_cdf

    beam = load_selection(cfg.selection).beam_energy
    f = [float(invisible_energy_cdf(cfg.model, cfg.setup, beam, mass, e)) for e in (e_min, lo)]
    p = (f[1] - f[0]) / max(1.0 - f[0], 1e-300)
    if e_x.size * math.log1p(-min(p, 1 - 1e-12)) < math.log(1e-3):
        raise ConfigError(f"{name}: no generated E_X between signal_min_energy = {e_min:g} GeV "
                          f"and {lo:.3g} GeV where the model expects {e_x.size * p:.1f} of "
                          f"{e_x.size} events: the sample was generated with a higher cut; lower "
                          "the cut or regenerate the sample")


def observed_count(out: Path) -> int | None:
    """Events in the box of the data, or None while the analysis is blind."""
    path = out / "unblinding.json"
    if not path.exists():
        return None
    return int(json.loads(path.read_text())["n_observed"])


def set_limits(out: Path, *, allow_partial: bool = False) -> dict:
    """Coupling limits versus mass into OUT/limits, with plots."""
    cfg, state = _state(out)
    _check_exposure(out / "run", allow_partial)
    bkg_path = out / "background.json"
    bkg = json.loads(bkg_path.read_text()) if bkg_path.exists() else estimate_background(out)
    masses_sim, eff = signal_efficiency(out)
    cut = load_results(out / "run")["cutflow"]["datasets"]
    n_data = sum(cut[d]["n_on_target"] for d in state["datasets"]["data"])
    sel = load_selection(cfg.selection)
    threshold = sel.beam_energy - _box(cfg.selection, cfg.background.histogram).ecal_max
    lim = cfg.limits
    model = SignalModel(model=cfg.model, setup=cfg.setup, energy=sel.beam_energy,
                        threshold=threshold, generation_threshold=cfg.signal_min_energy)
    # unique: a single simulated mass (NA64h: the meson) gives one point, not n_masses copies
    masses = np.unique(np.geomspace(masses_sim.min(), masses_sim.max(), lim.n_masses))
    table = scan(model, masses, n_on_target=n_data,
                 efficiency=Efficiency.table(masses_sim, eff, source="signal simulation"),
                 background=bkg["used"]["value"], background_unc=bkg["used"]["uncertainty"],
                 observed=observed_count(out),
                 systematics=SignalSystematics(pot=lim.pot_unc, xsec=lim.xsec_unc,
                                               efficiency=lim.efficiency_unc),
                 cl=lim.cl, method=lim.method, efficiency_includes_threshold=True)
    paths = write_limits(table, out / "limits")
    from .exclusion import plot_limits

    band = None
    if cfg.setup == "muon" and cfg.model == "zprime":  # the (g−2)_μ region (docs/na64mu.md)
        from .simulation.muon_limits import gm2_band

        band = gm2_band()
    plot_limits(paths["limits.json"] if "limits.json" in paths else out / "limits/limits.json",
                out / "limits" / "plots", band=band)
    return json.loads((out / "limits" / "limits.json").read_text())


def _check_exposure(run_dir: Path, allow_partial: bool) -> None:
    """Refuse results whose processed exposure does not reconcile with the inputs."""
    try:
        from .results import check_exposure
    except ImportError:  # older result layout: nothing recorded, nothing to check
        return
    check_exposure(run_dir, allow_partial=allow_partial)


def normalisation_check(out: Path) -> dict | None:
    """Dimuons selected in the data vs the expectation from the QED-normalised simulation.

    expected = N_EOT(data) × Σw(selected, simulation) / N_EOT(simulation): the simulation's
    dimuon rate is the QED thick-target rate of analysis.physics.dimuon, so the ratio tests
    exposure, efficiencies and cross section together (arXiv:1610.02988)."""
    cfg, state = _state(out)
    if not cfg.normalisation or not (out / "normalisation" / "cutflow.json").exists():
        return None
    cut = json.loads((out / "normalisation" / "cutflow.json").read_text())["datasets"]
    data = state["datasets"]["data"]
    n_data = sum(cut[d]["n_on_target"] for d in data)
    n_obs = sum(cut[d]["cuts"][-1]["events"] for d in data)
    exp = var = 0.0
    for s in state["datasets"]["normalisation"]:
        scale = n_data / cut[s]["n_on_target"]
        sel_w = cut[s]["cuts"][-1]["weighted"]
        exp += sel_w * scale
        n_sel = max(cut[s]["cuts"][-1]["events"], 1)
        var += (sel_w * scale) ** 2 / n_sel  # relative MC stat ~ 1/sqrt(N) (unbiased sample)
    from .physics.dimuon import dimuon_rate_per_eot

    ratio = n_obs / exp if exp > 0 else math.nan
    ratio_unc = ratio * math.sqrt(1.0 / max(n_obs, 1) + var / exp**2) if exp > 0 else math.nan
    doc = {"observed": n_obs, "expected": exp, "expected_mc_stat": math.sqrt(var),
           "ratio": ratio, "ratio_unc": ratio_unc, "n_on_target": n_data,
           "qed_rate_per_eot_above_40GeV": dimuon_rate_per_eot(100.0, 40.0),
           "how": "expected = N_EOT × Σw_selected/N_EOT of the dimuon simulation, whose rate "
                  "and pair spectrum are the QED thick-target ones (analysis.physics.dimuon)"}
    _write_json(doc, out / "normalisation.json")
    return doc


# --- blinding ---------------------------------------------------------------------------------


def unblind(out: Path, *, progress: bool = False) -> dict:
    """Open the box of the data: count and list the candidate events; record that it happened.

    Reads the data files listed in OUT/run/provenance.json (refusing any whose checksum
    changed since the run), applies every cut of the selection, and writes
    OUT/unblinding.json with the count, the candidates (run, spill, event and their
    energies) and the time."""
    from .processors.base import read_runinfo

    cfg, state = _state(out)
    sel = load_selection(cfg.selection)
    prov = json.loads((out / "run" / "provenance.json").read_text())
    data = set(state["datasets"]["data"])
    files = [i for i in prov["inputs"] if i.get("dataset") in data]
    if not files:
        raise ConfigError(f"{out}/run/provenance.json lists no input of the data datasets {sorted(data)}")
    from .results import file_checksum

    branches = sorted(sel.branches) if hasattr(sel, "branches") else None
    candidates = []
    flow: dict[str, int] = {}
    for inp in files:
        path = inp["path"]
        if "xxh3_64" in inp and file_checksum(path) != inp["xxh3_64"]:
            raise ConfigError(f"{path}: changed since the run (checksum differs); re-run the "
                              "analysis before unblinding")
        info = read_runinfo(path)
        ctx = sel.context(runinfo_beam_energy=info.beam_energy, has_vhcal=info.has_vhcal,
                          is_mc=info.is_mc, setup=info.setup)
        with uproot.open(path) as f:
            tree = f["events"]
            for chunk in tree.iterate(branches, library="ak", step_size="100 MB"):
                arrays = _columns(chunk)
                masks = sel.evaluate(arrays, ctx)
                alive = np.ones(len(arrays["run"]), dtype=bool)
                for label in sel.labels:  # the cumulative cut flow, box cuts included
                    alive &= masks[label]
                    flow[label] = flow.get(label, 0) + int(alive.sum())
                keep = alive
                if not keep.any():
                    continue
                idx = np.flatnonzero(keep)
                ecal = VARIABLES["ecal_energy"](arrays, ctx)[idx]
                hcal = VARIABLES["hcal_energy"](arrays, ctx)[idx]
                for j, k in enumerate(idx):
                    candidates.append({"file": Path(path).name, "run": int(arrays["run"][k]),
                                       "spill": int(arrays["spill"][k]),
                                       "event": int(arrays["event"][k]),
                                       "ecal_energy": float(ecal[j]),
                                       "hcal_energy": float(hcal[j])})
    doc = {"n_observed": len(candidates), "candidates": candidates, "cutflow": flow,
           "unblinded_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
           "selection": sel.name, "datasets": sorted(data)}
    _write_json(doc, out / "unblinding.json")
    return doc


def _columns(chunk) -> dict:
    """An uproot awkward chunk as {branch: numpy array}; jagged branches stay awkward."""
    import awkward as ak

    out = {}
    for name in chunk.fields:
        try:
            out[name] = ak.to_numpy(chunk[name])
        except ValueError:
            out[name] = chunk[name]
    return out


# --- summary and the whole chain ---------------------------------------------------------------


def write_summary(out: Path) -> Path:
    cfg, state = _state(out)
    cut = load_results(out / "run")["cutflow"]["datasets"]
    data = state["datasets"]["data"]
    n_data = sum(cut[d]["n_on_target"] for d in data)
    bkg = json.loads((out / "background.json").read_text())
    lim = json.loads((out / "limits" / "limits.json").read_text())
    norm_path = out / "normalisation.json"
    unbl = out / "unblinding.json"
    n_obs = observed_count(out)
    lines = [f"# {cfg.name}: summary", "",
             f"Selection `{cfg.selection}`, model `{cfg.model}`, data {', '.join(data)} "
             "(pseudo-data from the built-in simulation, standing in for data)"
             if any("pseudo" in d for d in data) else f"Selection `{cfg.selection}`", "",
             f"* Exposure: **{n_data:.4g}** particles on target.",
             f"* Background in the box ({bkg['used']['method']}): "
             f"**{bkg['used']['value']:.3g} ± {bkg['used']['uncertainty']:.3g}** events.",
             "* Observed: " + (f"**{n_obs}** events (box opened {json.loads(unbl.read_text())['unblinded_at']})"
                               if n_obs is not None else "blind (run `na64 unblind` to open the box)"),
             ]
    if norm_path.exists():
        n = json.loads(norm_path.read_text())
        lines.append(f"* Normalisation cross-check (e⁻N → e⁻Nμ⁺μ⁻): observed {n['observed']}, "
                     f"expected {n['expected']:.1f} ± {n['expected_mc_stat']:.1f} (MC stat); "
                     f"ratio {n['ratio']:.3f} ± {n['ratio_unc']:.3f}.")
    lines += ["", "## Cut flow (data)", "", "| cut | events |", "|---|---:|"]
    opened = json.loads(unbl.read_text()).get("cutflow", {}) if unbl.exists() else {}
    for row in _summed_cutflow(cut, data):
        ev = row["events"]
        if ev is None and row["name"] in opened:
            ev = f"{opened[row['name']]} (unblinded)"
        lines.append(f"| `{row['name']}` | {'blinded' if ev is None else ev} |")
    lines += ["", f"## {lim['cl']:.0%} CL limits on {lim['coupling']} "
              f"(method: {', '.join(sorted(set(p.get('method', '') for p in lim['points'])))})",
              "", "| mass (GeV) | observed | expected | −1σ | +1σ |", "|---:|---:|---:|---:|---:|"]
    pts = lim["points"]
    for p in pts[:: max(1, len(pts) // 8)]:
        o = p.get("observed")
        b = p["band"]
        lines.append(f"| {p['mass']:.4g} | {'—' if o is None else f'{o:.3g}'} | "
                     f"{_fmt(p['expected'])} | {_fmt(b[1])} | {_fmt(b[2])} |")
    lines += ["", "Files: `run/cutflow.md`, `run/plots/`, `background.md`, `efficiency.csv`, "
              "`limits/limits.{json,csv,yaml}`, `limits/plots/`.", ""]
    path = out / "summary.md"
    path.write_text("\n".join(lines))
    return path


def _summed_cutflow(cut: dict, data: list[str]) -> list[dict]:
    """The data cut flow summed over the data datasets (None stays None: blinded)."""
    rows = [dict(r) for r in cut[data[0]]["cuts"]]
    for d in data[1:]:
        for r, o in zip(rows, cut[d]["cuts"]):
            r["events"] = None if r["events"] is None or o["events"] is None \
                else r["events"] + o["events"]
    return rows


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.3g}"


def run_analysis(config: str | Path = DEFAULT_CONFIG, out: str | Path = "results/na64e", *,
                 executor: str = "futures", workers: int | None = None,
                 chunksize: int | None = None, progress: bool = True) -> Path:
    """The whole chain for one config; returns the path of summary.md."""
    cfg = load_config(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stale = out / "unblinding.json"
    if stale.exists():  # a new run re-blinds: the box must be opened again on purpose
        stale.unlink()
    process(cfg, out, executor=executor, workers=workers, chunksize=chunksize,
            progress=progress)
    normalisation_check(out)
    estimate_background(out)
    set_limits(out)
    from .plotting import plot_results

    # cut flow, N−1 and plane plots of the data and of one background sample per process
    # (every dataset is available with `na64 plot OUT/run`)
    state = json.loads((out / "analysis.json").read_text())
    plot_results(out / "run", state["datasets"]["data"] + state["datasets"]["backgrounds"])
    return write_summary(out)
