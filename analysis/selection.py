"""Selections: ``selections/*.yaml`` → a validated :class:`Selection`.

A selection file names cut primitives from :mod:`analysis.cuts` (nothing in it is ever
evaluated as code), orders them, sets their parameters, says which trailing cuts form the
signal box, which histograms to fill after which cuts, and whether data are blinded. The
format is documented in ``docs/analysis.md``; a minimal file::

    name: na64e_2016_2022
    setup: electron            # electron | positron | muon | hadron (runinfo.setup)
    period: "2016-2022"
    beam_energy: 100.0         # GeV, nominal
    vhcal: false               # was the VHCAL installed in this period?
    blinding: true
    cuts:
      - {name: trigger, cut: physics_trigger, params: {bit: 0}}
      - {name: emiss, cut: missing_energy, params: {threshold: 50.0}}
    signal_box: [emiss]
    histograms:
      - name: ecal
        x: {variable: ecal_energy, bins: 120, start: 0.0, stop: 120.0}
        stages: [all, trigger]
        nminusone: [emiss]

Loading is strict: unknown keys, unknown cut or variable names, missing or extra cut
parameters, values of the wrong type or out of range, duplicate labels or YAML keys, a
VHCAL cut or variable in a ``vhcal: false`` period, and signal-box cuts that are not the
last cuts all raise :class:`SelectionError`, whose message names the file, the key path
(``cuts[3].params.high``) and the line.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, \
    model_validator

from .codes import SETUP_NAMES
from .cuts import CUTS, VARIABLES, Context, CutDef, CutParams

Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]

#: Stage name meaning "before any cut".
STAGE_ALL = "all"
#: Prefix of the stage holding events that pass every cut except the named one.
NM1_PREFIX = "nm1_"
#: PackedSelection holds at most 64 cuts (uint64).
MAX_CUTS = 64


class SelectionError(ValueError):
    """A selection file is invalid. ``problems`` lists (key path, message, line or None)."""

    def __init__(self, source: str, problems: list[tuple[str, str, int | None]]):
        self.source = source
        self.problems = problems
        lines = []
        for path, msg, line in problems:
            where = f" (line {line})" if line else ""
            lines.append(f"{source}: {path or '(top level)'}: {msg}{where}")
        super().__init__("\n".join(lines))


# ----------------------------------------------------------------------------------------
# The file format (pydantic, extra="forbid")
# ----------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AxisSpec(_Model):
    """One histogram axis: a registered variable and either regular or explicit binning."""

    variable: str
    bins: int | None = Field(default=None, ge=1, le=100_000)
    start: float | None = None
    stop: float | None = None
    edges: list[float] | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _binning(self):
        regular = (self.bins, self.start, self.stop)
        if self.edges is not None:
            if any(v is not None for v in regular):
                raise ValueError("give either edges or bins/start/stop, not both")
            e = self.edges
            if len(e) < 2 or any(b <= a for a, b in zip(e, e[1:])):
                raise ValueError("edges must be at least two strictly increasing numbers")
        else:
            if any(v is None for v in regular):
                raise ValueError("binning needs bins, start and stop (or edges)")
            if not self.start < self.stop:
                raise ValueError(f"start ({self.start}) must be below stop ({self.stop})")
        return self


class HistogramSpec(_Model):
    """A histogram: ``x`` (and ``y`` for 2D), filled at each stage in ``stages`` (``all``
    = before any cut, a cut label = after that cut and all before it) and, for each label
    in ``nminusone``, with every cut except that one (stage ``nm1_<label>``)."""

    name: Label
    x: AxisSpec
    y: AxisSpec | None = None
    stages: list[str] = Field(default_factory=lambda: [STAGE_ALL])
    nminusone: list[str] = Field(default_factory=list)

    @property
    def stage_names(self) -> list[str]:
        return list(self.stages) + [NM1_PREFIX + c for c in self.nminusone]

    @property
    def axes(self) -> list[AxisSpec]:
        return [self.x] if self.y is None else [self.x, self.y]


class CutSpec(_Model):
    """One step of the cut flow: ``name`` (label), ``cut`` (registry name), ``params``."""

    name: Label
    cut: str
    params: dict[str, Any] = Field(default_factory=dict)


class SelectionConfig(_Model):
    name: Label
    description: str = ""
    setup: Literal["electron", "positron", "muon", "hadron"]
    period: str
    beam_energy: float = Field(gt=0)
    vhcal: bool
    blinding: bool = True
    cuts: list[CutSpec] = Field(min_length=1, max_length=MAX_CUTS)
    signal_box: list[str] = Field(min_length=1)
    histograms: list[HistogramSpec] = Field(default_factory=list)


# ----------------------------------------------------------------------------------------
# Runtime object
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledCut:
    """A cut of the selection with validated parameters (pickles by registry name)."""

    label: str
    cut: str
    params: CutParams

    @property
    def definition(self) -> CutDef:
        return CUTS[self.cut]

    def evaluate(self, events: Any, ctx: Context) -> np.ndarray:
        d = self.definition
        mask = np.asarray(d.func(events, **d.resolve(self.params, ctx)), dtype=bool)
        if mask.ndim != 1:
            raise ValueError(f"cut {self.label} ({self.cut}) returned shape {mask.shape}")
        return mask


class Selection:
    """A validated selection. Build with :func:`load_selection` or :meth:`from_dict`."""

    def __init__(self, config: SelectionConfig, *, source: str = "<dict>",
                 text: str | bytes | None = None):
        self.config = config
        self.source = source
        #: sha256 of the file's bytes (of the validated configuration when built in memory)
        raw = text if text is not None else config.model_dump_json()
        self.sha256 = hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode()).hexdigest()
        self.cuts = [CompiledCut(c.name, c.cut, CUTS[c.cut].validate(c.params))
                     for c in config.cuts]

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>", text: str | bytes | None = None,
                  lines: Mapping[tuple, int] | None = None) -> Selection:
        problems = _validate(data, lines or {})
        if problems:
            raise SelectionError(source, problems)
        return cls(SelectionConfig.model_validate(data), source=source, text=text)

    # -- properties ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def beam_energy(self) -> float:
        return self.config.beam_energy

    @property
    def blinding(self) -> bool:
        return self.config.blinding

    @property
    def setup(self) -> int:
        return int(SETUP_NAMES[self.config.setup])

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.cuts]

    @property
    def box(self) -> list[str]:
        """Labels of the signal-box cuts (always the last cuts, in selection order)."""
        return [c for c in self.labels if c in set(self.config.signal_box)]

    @property
    def preselection(self) -> list[str]:
        """All cuts but the signal box (background estimation, blinding)."""
        return [c for c in self.labels if c not in set(self.config.signal_box)]

    @property
    def histograms(self) -> list[HistogramSpec]:
        return list(self.config.histograms)

    @property
    def requires(self) -> frozenset[str]:
        """Detector components the selection's cuts and variables need (``vhcal``)."""
        req: set[str] = set()
        for c in self.cuts:
            req |= c.definition.requires
        for h in self.config.histograms:
            for ax in h.axes:
                req |= VARIABLES[ax.variable].requires
        return frozenset(req)

    @property
    def packed_dtype(self) -> str:
        return "uint32" if len(self.cuts) <= 32 else "uint64"

    # -- evaluation ------------------------------------------------------------------------

    def context(self, **runinfo: Any) -> Context:
        """A :class:`Context` with this selection's beam energy and the given file facts."""
        return Context(beam_energy=self.beam_energy, **runinfo)

    def evaluate(self, events: Any, ctx: Context | None = None) -> dict[str, np.ndarray]:
        """Boolean mask of each cut, by label, in selection order."""
        ctx = ctx or self.context()
        return {c.label: c.evaluate(events, ctx) for c in self.cuts}

    def packed(self, events: Any, ctx: Context | None = None):
        """A coffea ``PackedSelection`` with one entry per cut (uint64 beyond 32 cuts)."""
        from coffea.analysis_tools import PackedSelection

        sel = PackedSelection(dtype=self.packed_dtype)
        for label, mask in self.evaluate(events, ctx).items():
            sel.add(label, mask)
        return sel

    def box_region(self, ctx: Context | None = None) -> dict[str, tuple[float | None,
                                                                         float | None]]:
        """The signal box as variable ranges, e.g. ``{"ecal_energy": (None, 50.0),
        "hcal_energy": (None, 1.0)}`` (for drawing; upper bounds exclusive)."""
        ctx = ctx or self.context()
        region: dict[str, tuple[float | None, float | None]] = {}
        for c in self.cuts:
            if c.label in self.config.signal_box and c.definition.box is not None:
                region.update(c.definition.box(c.definition.resolve(c.params, ctx)))
        return region

    def rdf_filters(self, ctx: Context | None = None) -> list[tuple[str, str]]:
        """(label, C++ expression) per cut for ROOT RDataFrame (benchmark peer only)."""
        ctx = ctx or self.context()
        out = []
        for c in self.cuts:
            d = c.definition
            if d.rdf is None:
                raise NotImplementedError(f"cut {d.name} has no RDataFrame expression")
            out.append((c.label, d.rdf(d.resolve(c.params, ctx))))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The selection as plain data (JSON-safe), parameters with defaults filled in."""
        d = self.config.model_dump(mode="json")
        for spec, c in zip(d["cuts"], self.cuts):
            spec["params"] = c.params.model_dump(mode="json")
        return d

    def __repr__(self) -> str:
        return f"Selection({self.name!r}, {len(self.cuts)} cuts, box={self.box}, " \
               f"source={self.source!r})"


# ----------------------------------------------------------------------------------------
# Loading and validation
# ----------------------------------------------------------------------------------------


def load_selection(path: str | Path) -> Selection:
    """Read and validate a selection YAML file (``yaml.safe_load`` only)."""
    path = Path(path)
    source = _display(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SelectionError(source, [("", f"cannot read the file: {exc}", None)]) from None
    try:
        data = yaml.safe_load(text)
        lines, dups = _line_map(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SelectionError(source, [("", f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                       mark.line + 1 if mark else None)]) from None
    if dups:
        raise SelectionError(source, [(_fmt(p), "key given twice", lines.get(p))
                                      for p in dups])
    return Selection.from_dict(data, source=source, text=raw, lines=lines)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _line_map(text: str) -> tuple[dict[tuple, int], list[tuple]]:
    """Key path → 1-based line, from the YAML node tree (yaml.compose, SafeLoader);
    also the paths of keys that appear twice in one mapping."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[tuple, int] = {}
    dups: list[tuple] = []
    if root is None:
        return lines, dups

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for knode, vnode in node.value:
                key = knode.value
                p = path + (key,)
                if key in seen:
                    dups.append(p)
                seen.add(key)
                lines.setdefault(p, knode.start_mark.line + 1)
                walk(vnode, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                walk(item, path + (i,))

    lines[()] = root.start_mark.line + 1
    walk(root, ())
    return lines, dups


_TAG = re.compile(r"^(int|float|str|bool|none|list\[.*\]|dict\[.*\]|literal\[.*\]|"
                  r"function-.*|.*\[.*\])$")


def _fmt(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _line(lines: Mapping[tuple, int], path: tuple) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _pydantic_problems(err: ValidationError, prefix: tuple, lines) -> list:
    merged: dict[tuple, list[str]] = {}
    for e in err.errors(include_url=False):
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and _TAG.match(x)
                                                 and x not in ("params",)))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        elif e["type"] == "missing":
            msg = "required key missing"
        if "input" in e and e["type"] not in ("missing", "extra_forbidden") \
                and not isinstance(e["input"], dict | list):
            msg += f" (got {e['input']!r})"
        merged.setdefault(prefix + loc, [])
        if msg not in merged[prefix + loc]:
            merged[prefix + loc].append(msg)
    return [(_fmt(p), "; or ".join(m), _line(lines, p)) for p, m in merged.items()]


def _validate(data: Any, lines: Mapping[tuple, int]) -> list[tuple[str, str, int | None]]:
    if not isinstance(data, dict):
        return [("", f"expected a mapping of selection keys, got {type(data).__name__}",
                 _line(lines, ()))]
    problems: list[tuple[str, str, int | None]] = []
    # 1. structure
    try:
        config = SelectionConfig.model_validate(data)
    except ValidationError as err:
        config = None
        problems += [p for p in _pydantic_problems(err, (), lines)
                     if not re.match(r"cuts\[\d+\]\.params\.", p[0])]
    # 2. cut names and parameters (also when the structure has other problems)
    cuts = data.get("cuts")
    if isinstance(cuts, list):
        for i, spec in enumerate(cuts):
            if not isinstance(spec, dict) or not isinstance(spec.get("cut"), str):
                continue
            name = spec["cut"]
            if name not in CUTS:
                close = difflib.get_close_matches(name, list(CUTS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append((f"cuts[{i}].cut", f"unknown cut {name!r}{hint}; known cuts: "
                                 f"{', '.join(sorted(CUTS))}", _line(lines, ("cuts", i, "cut"))))
                continue
            params = spec.get("params", {})
            if params is None:
                params = {}
            if not isinstance(params, dict):
                continue  # reported by step 1
            try:
                CUTS[name].validate(params)
            except ValidationError as err:
                problems += _pydantic_problems(err, ("cuts", i, "params"), lines)
    if problems or config is None:
        return problems
    # 3. meaning
    return _semantics(config, lines)


def _semantics(cfg: SelectionConfig, lines) -> list[tuple[str, str, int | None]]:
    problems = []

    def add(path: tuple, msg: str):
        problems.append((_fmt(path), msg, _line(lines, path)))

    labels = [c.name for c in cfg.cuts]
    seen: set[str] = set()
    for i, c in enumerate(cfg.cuts):
        if c.name in seen:
            add(("cuts", i, "name"), f"cut label {c.name!r} used twice")
        seen.add(c.name)
        if c.name == STAGE_ALL:
            add(("cuts", i, "name"), f"{STAGE_ALL!r} is reserved for 'no cut'")
        req = CUTS[c.cut].requires
        if "vhcal" in req and not cfg.vhcal:
            add(("cuts", i, "cut"),
                f"cut {c.cut!r} ({c.name}) needs the VHCAL, but this selection declares "
                f"vhcal: false (period {cfg.period} had no VHCAL); remove the cut or use a "
                "selection for a VHCAL period")
    box = cfg.signal_box
    for j, b in enumerate(box):
        if b not in labels:
            add(("signal_box", j), f"{b!r} is not a cut label; labels: {', '.join(labels)}")
        elif b in box[:j]:
            add(("signal_box", j), f"{b!r} listed twice")
    if not problems and set(box) != set(labels[len(labels) - len(set(box)):]):
        add(("signal_box",), "the signal-box cuts must be the last cuts of `cuts` (so that "
            f"'all cuts but the box' is a prefix of the cut flow); last cuts are "
            f"{labels[len(labels) - len(set(box)):]}")
    hnames: set[str] = set()
    for i, h in enumerate(cfg.histograms):
        if h.name in hnames:
            add(("histograms", i, "name"), f"histogram name {h.name!r} used twice")
        hnames.add(h.name)
        for axname, ax in (("x", h.x), ("y", h.y)):
            if ax is None:
                continue
            v = VARIABLES.get(ax.variable)
            if v is None:
                close = difflib.get_close_matches(ax.variable, list(VARIABLES), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                add(("histograms", i, axname, "variable"),
                    f"unknown variable {ax.variable!r}{hint}; known variables: "
                    f"{', '.join(sorted(VARIABLES))}")
                continue
            if "vhcal" in v.requires and not cfg.vhcal:
                add(("histograms", i, axname, "variable"),
                    f"variable {ax.variable!r} needs the VHCAL, but this selection declares "
                    "vhcal: false")
            if h.y is not None and v.multiplicity != 1:
                add(("histograms", i, axname, "variable"),
                    f"variable {ax.variable!r} has {v.multiplicity} values per event; a 2D "
                    "histogram needs one value per event on each axis")
        if h.y is not None and h.y.variable == h.x.variable:
            add(("histograms", i, "y", "variable"), "x and y use the same variable")
        for key, allowed in (("stages", [STAGE_ALL] + labels), ("nminusone", labels)):
            vals = getattr(h, key)
            for j, s in enumerate(vals):
                if s not in allowed:
                    add(("histograms", i, key, j),
                        f"{s!r} is not {'all or ' if key == 'stages' else ''}a cut label; "
                        f"labels: {', '.join(labels)}")
                elif s in vals[:j]:
                    add(("histograms", i, key, j), f"{s!r} listed twice")
        if not h.stage_names:
            add(("histograms", i, "stages"), "no stage to fill")
    return problems


__all__ = [
    "AxisSpec", "CompiledCut", "CutSpec", "HistogramSpec", "NM1_PREFIX", "STAGE_ALL",
    "Selection", "SelectionConfig", "SelectionError", "load_selection",
]
