"""The built-in sample: a committed recipe (data/samples/builtin.yaml) → ROOT files and a
dataset manifest (data/samples/builtin/manifest.yaml), `na64 samples`.

Recipe format (YAML, validated; unknown keys are errors)::

    version: 1
    output: builtin                 # folder for the files, relative to the recipe
    manifest: builtin/manifest.yaml # manifest to write, relative to the recipe
    defaults: {setup: electron, compression: lz4}   # merged into every dataset
    datasets:
      <name>:
        kind: pseudo-data | simulation | signal
        period: "2023" | "2016-2022"
        seed: <int>
        n_on_target: <EOT>          # pseudo-data: exposure; simulation: EOT-equivalent
        process: <name>             # simulation (biased single process)
        n_events: <int>             # simulation, signal
        bias: <q_min>               # simulation, optional
        model: dark-photon          # signal
        mass: <GeV>                 # signal

Idempotent: each file gets a stamp ``<name>.stamp.yaml`` with its generation parameters,
the simulation version and a hash of the code it depends on (analysis/simulation, plus
analysis/physics for signal); a dataset whose file and stamp match is skipped (unless
``force``), and its manifest entry is reused. Signal datasets whose spectrum hook is not
available yet are reported, not fatal.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

#: Bump when the simulation's output for given parameters changes: stamps then mismatch
#: and `na64 samples` regenerates.
SIMULATION_VERSION = 1

DEFAULT_RECIPE = Path("data/samples/builtin.yaml")
KINDS = ("pseudo-data", "simulation", "signal")
_COMMON = {"kind", "period", "seed", "setup", "compression"}
_ALLOWED = {
    "pseudo-data": _COMMON | {"n_on_target", "spill_intensity", "spills_per_run"},
    "simulation": _COMMON | {"process", "n_events", "n_on_target", "bias"},
    "signal": _COMMON | {"model", "mass", "n_events", "min_invisible_energy"},
}
_REQUIRED = {
    "pseudo-data": {"n_on_target"},
    "simulation": {"process", "n_events"},
    "signal": {"model", "mass", "n_events"},
}


class RecipeError(ValueError):
    pass


@dataclass
class Recipe:
    path: Path
    output: Path
    manifest: Path
    datasets: dict[str, dict]


def load_recipe(path: str | Path = DEFAULT_RECIPE) -> Recipe:
    """Read and check a recipe; every problem names the file and the dataset."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe not found") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "datasets" not in data:
        raise RecipeError(f"{path}: needs a top-level mapping with 'datasets'")
    extra = set(data) - {"version", "output", "manifest", "defaults", "datasets"}
    if extra:
        raise RecipeError(f"{path}: unknown top-level key(s) {sorted(extra)}")
    if data.get("version", 1) != 1:
        raise RecipeError(f"{path}: recipe version {data.get('version')} is not supported (1)")
    defaults = dict(data.get("defaults") or {})
    problems = []
    datasets: dict[str, dict] = {}
    for name, params in (data["datasets"] or {}).items():
        if not isinstance(params, dict):
            problems.append(f"{path}: dataset {name!r}: needs a mapping of parameters")
            continue
        p = {**defaults, **params}
        kind = p.get("kind")
        if kind not in KINDS:
            problems.append(f"{path}: dataset {name!r}: kind must be one of {KINDS}, got "
                            f"{kind!r}")
            continue
        unknown = set(p) - _ALLOWED[kind]
        missing = _REQUIRED[kind] - set(p)
        if unknown:
            problems.append(f"{path}: dataset {name!r}: unknown key(s) {sorted(unknown)} for "
                            f"kind {kind!r} (allowed: {sorted(_ALLOWED[kind])})")
        if missing:
            problems.append(f"{path}: dataset {name!r}: missing key(s) {sorted(missing)}")
        p["period"] = str(p.get("period", "2023"))
        datasets[str(name)] = p
    if problems:
        raise RecipeError("\n".join(problems))
    base = path.parent
    return Recipe(path=path, output=base / str(data.get("output", "builtin")),
                  manifest=base / str(data.get("manifest", "builtin/manifest.yaml")),
                  datasets=datasets)


#: Modules of the simulation package that only one setup uses: other setups' stamps do not
#: depend on them (editing muon.py does not make the electron datasets stale).
SETUP_ONLY_MODULES = {"muon": ("muon",), "hadron": ("hadron",)}


def _code_fingerprint(kind: str, setup: str = "electron") -> str:
    """Hash of the code a dataset depends on: the simulation package (without other setups'
    own modules), plus the physics package for signal (its E_X spectrum). Editing either
    makes the stamps stale."""
    here = Path(__file__).resolve().parent
    other = tuple(m for s, mods in SETUP_ONLY_MODULES.items() if s != setup for m in mods)
    files = sorted(f for f in here.glob("*.py") if not f.stem.startswith(other))
    if kind == "signal":
        files += sorted((here.parent / "physics").glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _stamp(params: dict) -> dict:
    text = json.dumps(params, sort_keys=True, default=str)
    code = _code_fingerprint(params["kind"], str(params.get("setup", "electron")))
    key = hashlib.sha256(f"{SIMULATION_VERSION}:{code}:{text}".encode()).hexdigest()[:16]
    return {"simulation_version": SIMULATION_VERSION, "code": code, "parameters": params,
            "key": key}


def _simulate_kwargs(p: dict) -> dict:
    kw = {"setup": p.get("setup", "electron"), "period": p["period"],
          "seed": int(p.get("seed", 1)), "compression": p.get("compression", "lz4")}
    if p["kind"] == "pseudo-data":
        kw["n_on_target"] = float(p["n_on_target"])
        for k in ("spill_intensity", "spills_per_run"):
            if k in p:
                kw[k] = p[k]
    elif p["kind"] == "simulation":
        kw.update(process=p["process"], n_events=int(p["n_events"]))
        if p.get("n_on_target"):
            kw["n_on_target"] = float(p["n_on_target"])
        if p.get("bias") is not None:
            kw["bias"] = float(p["bias"])
    else:
        kw.update(signal=p["model"], mass=float(p["mass"]), n_events=int(p["n_events"]))
        if p.get("min_invisible_energy"):
            kw["min_invisible_energy"] = float(p["min_invisible_energy"])
    return kw


def _manifest_process(p: dict) -> str:
    if p["kind"] == "pseudo-data":
        return "all"
    if p["kind"] == "simulation":
        return str(p["process"])
    return str(p["model"])


@dataclass
class SamplesReport:
    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    manifest: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def make_samples(recipe: str | Path = DEFAULT_RECIPE, *, force: bool = False,
                 only: list[str] | None = None, progress=None) -> SamplesReport:
    """Generate the datasets of ``recipe`` that are missing or stale, then write the
    manifest (analysis.datasets) listing every dataset that exists.

    ``progress(name, i, n)`` is called before each dataset. Datasets that cannot be made
    (e.g. the signal spectrum hook raises NotImplementedError) are listed in
    ``report.failed`` with the reason; the others are still made.
    """
    from ..datasets import Manifest, ManifestError, catalogue, load_manifest, write_manifest
    from .generate import simulate

    rec = load_recipe(recipe)
    names = list(rec.datasets)
    if only:
        unknown = [n for n in only if n not in rec.datasets]
        if unknown:
            raise RecipeError(f"{rec.path}: no dataset(s) {unknown}")
        names = [n for n in names if n in only]
    rec.output.mkdir(parents=True, exist_ok=True)
    old: dict = {}
    if rec.manifest.exists():
        try:
            old = dict(load_manifest(rec.manifest).datasets)
        except ManifestError:
            old = {}
    report = SamplesReport(manifest=rec.manifest)
    entries: dict = {}
    for i, name in enumerate(rec.datasets):
        p = rec.datasets[name]
        out = rec.output / f"{name}.root"
        stamp_path = rec.output / f"{name}.stamp.yaml"
        stamp = _stamp(p)
        current = (out.exists() and stamp_path.exists()
                   and (yaml.safe_load(stamp_path.read_text()) or {}).get("key") == stamp["key"])
        if name in names and (force or not current):
            if progress is not None:
                progress(name, i, len(rec.datasets))
            t0 = time.perf_counter()
            stamp_path.unlink(missing_ok=True)
            try:
                simulate(out=out, **_simulate_kwargs(p))
            except NotImplementedError as exc:
                out.unlink(missing_ok=True)
                report.failed[name] = f"not generated: {exc} (NotImplementedError)"
                continue
            except Exception as exc:  # report and go on with the other datasets
                out.unlink(missing_ok=True)
                report.failed[name] = f"{type(exc).__name__}: {exc}"
                continue
            stamp_path.write_text(yaml.safe_dump(stamp, sort_keys=True))
            report.generated.append(name)
            report.seconds[name] = time.perf_counter() - t0
        elif current:
            report.skipped.append(name)
        else:
            continue  # not selected and not present
        prev = old.get(name)
        if (prev is not None and name not in report.generated and len(prev.files) == 1
                and Path(prev.files[0].path).name == out.name
                and prev.files[0].size == out.stat().st_size):
            f = prev.files[0]
            entries[name] = prev.model_copy(update={"files": [f.model_copy(
                update={"path": str(out.resolve())})]})
            continue
        try:
            entries[name] = catalogue(
                [out], name, setup=p.get("setup", "electron"), period=p["period"],
                kind=p["kind"], process=_manifest_process(p), origin="generated",
                generated_by="na64 samples")
        except ManifestError as exc:
            report.failed[name] = f"catalogue failed: {exc}"
    manifest = Manifest(datasets=entries)
    write_manifest(manifest, rec.manifest)
    return report
