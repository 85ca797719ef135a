"""Named, vectorised cut primitives and histogram variables.

Two registries, filled by decorators at import time:

* ``CUTS``: name → :class:`CutDef`. A cut is a function ``fn(events, **params)`` returning a
  boolean numpy array (True = the event passes, i.e. is kept). Its parameters are declared
  by a pydantic model (``extra="forbid"``, strict types) so a selection file that names the
  cut is validated before anything runs. Every cut's docstring says what it rejects and why.
* ``VARIABLES``: name → :class:`VariableDef`. A variable is ``fn(events, ctx)`` returning a
  float64 array of shape ``(n,)`` (one value per event) or ``(n, k)`` (one per module/cell;
  a 1D histogram of it is filled with all k values of each event).

Column access goes through :func:`column` only — the one place that knows whether the events
come from coffea's ``BaseSchema`` (flat NTUPLE.md branch names, ``events.ecal_main``), from
``analysis.schema.NA64Schema`` (records, ``events.ECAL.main``) or from a plain dict of arrays
(unit tests). Nothing here loops over events.

NaN conventions (NTUPLE.md: a missing measurement is NaN): every comparison with NaN is
False, so a cut that *requires* a measured quantity (momentum, χ², a time, a VHCAL reading)
rejects an event where it is missing. :func:`time_window` makes the choice explicit with its
required ``allow_missing`` parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import kernels
from .schema import EVENTS_COMMON, EVENTS_MC, EVENTS_MUON

# ----------------------------------------------------------------------------------------
# Accessor layer: the only code that knows the event layout
# ----------------------------------------------------------------------------------------

_TABLE = {b.name: b for b in EVENTS_COMMON + EVENTS_MUON + EVENTS_MC}

#: ECAL cell on the nominal beam axis (NTUPLE.md): ``[ix][iy]``.
ECAL_CENTER = (3, 3)


class MissingBranchError(KeyError):
    """The events lack a branch a cut or variable needs."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def column(events: Any, name: str) -> np.ndarray | ak.Array:
    """The NTUPLE.md branch ``name`` of ``events`` as a numpy array (jagged hit fields: awkward).

    Works for ``BaseSchema`` events (``events[name]``), ``NA64Schema`` events
    (``events[group][field]`` from the branch table in :mod:`analysis.schema`) and for a
    mapping of arrays (tests). Fixed-size branches come back with their shape, e.g.
    ``(n, 6, 6)`` for ``ecal_main``.
    """
    branch = _TABLE.get(name)
    if isinstance(events, EventColumns):
        return events[name]
    if isinstance(events, Mapping):
        if name not in events:
            raise MissingBranchError(f"events have no branch {name!r}")
        arr = events[name]
    else:
        fields = events.fields
        if name in fields:
            arr = events[name]
        elif branch is not None and branch.group is not None and branch.group in fields \
                and branch.field in events[branch.group].fields:
            arr = events[branch.group][branch.field]
        else:
            raise MissingBranchError(f"events have no branch {name!r}")
    if branch is not None and branch.jagged:
        return arr if isinstance(arr, ak.Array) else ak.Array(arr)
    if isinstance(arr, np.ndarray):
        return arr
    if isinstance(arr, ak.Array):
        return ak.to_numpy(arr, allow_missing=False)
    return np.asarray(arr)


def n_events(events: Any) -> int:
    """Number of events (entries) in ``events``."""
    if isinstance(events, EventColumns):
        return len(events.events)
    if isinstance(events, Mapping):
        return len(next(iter(events.values())))
    return len(events)


class EventColumns(Mapping):
    """Read-through cache over one chunk of events: each branch is converted to numpy once
    and derived quantities (ECAL sum, HCAL module sums, hits per station) are computed once,
    however many cuts and variables use them. The processor hands this to the cuts."""

    def __init__(self, events: Any):
        self.events = events
        self._columns: dict[str, Any] = {}
        self._derived: dict[Any, Any] = {}

    def __getitem__(self, name: str):
        if name not in self._columns:
            self._columns[name] = column(self.events, name)
        return self._columns[name]

    def __contains__(self, name) -> bool:
        if name in self._columns:
            return True
        try:
            self[name]
        except MissingBranchError:
            return False
        return True

    def __iter__(self):
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def derived(self, key: Any, fn: Callable[[], Any]) -> Any:
        if key not in self._derived:
            self._derived[key] = fn()
        return self._derived[key]


def memo(events: Any, key: Any, fn: Callable[[], Any]) -> Any:
    """``fn()``, cached per chunk when ``events`` is an :class:`EventColumns`."""
    if isinstance(events, EventColumns):
        return events.derived(key, fn)
    return fn()


# ----------------------------------------------------------------------------------------
# Context: what a cut or variable may need besides the events
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Per-file facts handed to variables and used to resolve cut parameters.

    ``beam_energy`` is the selection's nominal beam energy (GeV); ``runinfo_beam_energy``
    the file's ``runinfo.beam_energy`` (None when unknown, e.g. in unit tests).
    """

    beam_energy: float
    runinfo_beam_energy: float | None = None
    has_vhcal: bool = True
    is_mc: bool = False
    setup: int = 1


# ----------------------------------------------------------------------------------------
# Cut registry
# ----------------------------------------------------------------------------------------


class CutParams(BaseModel):
    """Base of every cut's parameter model: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoParams(CutParams):
    pass


#: A beam energy parameter: a number (GeV), "selection" (the selection's ``beam_energy``) or
#: "runinfo" (the file's ``runinfo.beam_energy``).
BeamEnergy = float | Literal["selection", "runinfo"]


@dataclass(frozen=True)
class CutDef:
    """One registered cut.

    ``requires`` names detector components the cut needs (``"vhcal"``): a selection for a
    period without them may not use it. ``rdf`` turns resolved parameters into a ROOT
    RDataFrame ``Filter`` expression (benchmarks only). ``box`` gives the region the cut
    defines in terms of variables, ``{variable: (low, high)}``, used to draw the signal box.
    """

    name: str
    func: Callable[..., np.ndarray]
    params: type[CutParams]
    doc: str
    requires: frozenset[str] = frozenset()
    rdf: Callable[[dict[str, Any]], str] | None = None
    box: Callable[[dict[str, Any]], dict[str, tuple[float | None, float | None]]] | None = None

    @property
    def summary(self) -> str:
        """First paragraph of the docstring (what the cut rejects)."""
        return " ".join(self.doc.strip().split("\n\n")[0].split())

    def validate(self, params: Mapping[str, Any]) -> CutParams:
        return self.params.model_validate(dict(params))

    def resolve(self, params: CutParams, ctx: Context) -> dict[str, Any]:
        """Keyword arguments for ``func``: the validated parameters, with symbolic beam
        energies replaced by numbers from ``ctx``."""
        kwargs = params.model_dump()
        if "beam_energy" in kwargs:
            value = kwargs["beam_energy"]
            if value == "selection":
                kwargs["beam_energy"] = float(ctx.beam_energy)
            elif value == "runinfo":
                if ctx.runinfo_beam_energy is None:
                    raise ValueError(f"cut {self.name}: beam_energy 'runinfo' but the file's "
                                     "runinfo.beam_energy is unknown")
                kwargs["beam_energy"] = float(ctx.runinfo_beam_energy)
        return kwargs

    def apply(self, events: Any, params: Mapping[str, Any] | None = None,
              ctx: Context | None = None) -> np.ndarray:
        """Validate ``params``, resolve them with ``ctx`` and apply the cut (notebooks, tests).

        Without ``ctx`` a symbolic beam energy ("selection"/"runinfo") is an error.
        """
        model = self.validate(params or {})
        if ctx is None:
            ctx = Context(beam_energy=float("nan"))
        kwargs = self.resolve(model, ctx)
        if isinstance(kwargs.get("beam_energy"), float) and np.isnan(kwargs["beam_energy"]):
            raise ValueError(f"cut {self.name}: give beam_energy as a number or pass a Context")
        return self.func(events, **kwargs)


CUTS: dict[str, CutDef] = {}


def cut(name: str, params: type[CutParams] = NoParams, *, requires: tuple[str, ...] = (),
        rdf: Callable | None = None, box: Callable | None = None):
    """Register ``fn(events, **params) -> bool array`` as the cut ``name``."""

    def deco(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in CUTS:
            raise ValueError(f"cut {name!r} registered twice")
        if not fn.__doc__:
            raise ValueError(f"cut {name!r} needs a docstring saying what it rejects and why")
        CUTS[name] = CutDef(name, fn, params, fn.__doc__, frozenset(requires), rdf, box)
        return fn

    return deco


def get_cut(name: str) -> CutDef:
    try:
        return CUTS[name]
    except KeyError:
        raise KeyError(f"unknown cut {name!r}; known cuts: {', '.join(sorted(CUTS))}") from None


# ----------------------------------------------------------------------------------------
# Shared parameter pieces
# ----------------------------------------------------------------------------------------

class TimeWindow(CutParams):
    """|t − mean| ≤ n_sigma · sigma (ns)."""

    mean: float
    sigma: float = Field(gt=0)
    n_sigma: float = Field(gt=0)


def _all_rows(x: np.ndarray) -> np.ndarray:
    """``np.all(x, axis=1)`` for a boolean (n, k) array with few columns: k column ANDs
    (numpy's row-by-row reduction over a short axis costs ~10× more); same result."""
    x = np.asarray(x, dtype=bool)
    if x.ndim != 2 or x.shape[1] == 0 or x.shape[1] > 16:
        return np.all(x, axis=1)
    out = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        out &= x[:, j]
    return out


def _rdf_sum(expr: str) -> str:
    """C++ sum of an RVec in double (``Sum`` of an RVec<float> adds in float and flips events
    at thresholds against the float64 numpy sums)."""
    if expr.isidentifier():
        return f"std::accumulate({expr}.begin(), {expr}.end(), 0.)"
    return f"[](const ROOT::RVecF &v) {{ return std::accumulate(v.begin(), v.end(), 0.); }}{expr}"


def _rdf_ecal() -> str:
    """E_ECAL in C++ as the processor computes it: each section in cell order, then added."""
    return f"({_rdf_sum('ecal_pre')} + {_rdf_sum('ecal_main')})"


def _rdf_hcal_module(m: int) -> str:
    """HCAL module m (entries 9m..9m+8 of the flattened float[4][3][3]) in cell order."""
    return "(0. + " + " + ".join(f"hcal_e[{9 * m + i}]" for i in range(9)) + ")"


def _rdf_hcal_total(modules=(0, 1, 2, 3)) -> str:
    """E_HCAL in C++ as the processor computes it: module sums, then their sum in order."""
    return "(0. + " + " + ".join(_rdf_hcal_module(m) for m in modules) + ")"


def _in_window(t: np.ndarray, mean: float, sigma: float, n_sigma: float) -> np.ndarray:
    return np.abs(np.asarray(t, dtype=np.float64) - mean) <= n_sigma * sigma


def _check_indices(values: list[int], size: int, what: str) -> list[int]:
    if not values:
        raise ValueError(f"at least one {what} is needed")
    bad = [v for v in values if not 0 <= v < size]
    if bad:
        raise ValueError(f"{what} {bad} out of range 0..{size - 1}")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} listed twice: {values}")
    return values


# ----------------------------------------------------------------------------------------
# Cuts
# ----------------------------------------------------------------------------------------


class TriggerParams(CutParams):
    bit: int = Field(default=0, ge=0, le=30)


@cut("physics_trigger", TriggerParams,
     rdf=lambda p: f"((trigger >> {p['bit']}) & 1) == 1")
def physics_trigger(events, *, bit: int = 0) -> np.ndarray:
    """Rejects events without the physics (missing-energy) trigger bit, i.e. random and
    calibration triggers, which are not part of the search sample (NTUPLE.md: bit 0)."""
    trig = column(events, "trigger").astype(np.int64)
    return ((trig >> bit) & 1) == 1


class WindowParams(CutParams):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


@cut("beam_momentum_window", WindowParams,
     rdf=lambda p: f"beam_p > {p['low']!r} && beam_p < {p['high']!r}")
def beam_momentum_window(events, *, low: float, high: float) -> np.ndarray:
    """Rejects events whose incoming momentum (upstream spectrometer, GeV) is outside
    (low, high) or unmeasured (NaN): the low-energy tail of the beam, which would fake
    missing energy, and badly reconstructed tracks. NA64 requires 100 ± 3 GeV for the
    100 GeV e⁻ beam [arXiv:1710.00971, check]."""
    p = column(events, "beam_p")
    return (p > low) & (p < high)


class SingleTrackParams(CutParams):
    max_chi2: float = Field(gt=0)
    n_tracks: int = Field(default=1, ge=1)
    stations: list[int] = Field(default_factory=lambda: [0, 1, 2, 3])
    min_hits_per_station: int = Field(default=1, ge=0)
    max_hits_per_station: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _check(self):
        if self.min_hits_per_station > self.max_hits_per_station:
            raise ValueError("min_hits_per_station exceeds max_hits_per_station")
        if len(set(self.stations)) != len(self.stations) or not self.stations:
            raise ValueError(f"stations must be a non-empty list without repeats: {self.stations}")
        return self


def _hits_per_station(events, stations: list[int]) -> np.ndarray:
    """(n, len(stations)) hit counts, columnar (one bincount per station)."""
    return memo(events, ("hits_per_station", tuple(stations)),
                lambda: _count_hits(events, stations))


def _count_hits(events, stations: list[int]) -> np.ndarray:
    st = column(events, "hit_station")
    layout = ak.to_layout(st)
    if isinstance(layout, ak.contents.ListArray | ak.contents.RegularArray):
        layout = layout.to_ListOffsetArray64(True)
    n = len(st)
    flat = ak.to_numpy(ak.flatten(st, axis=1))
    if len(set(stations)) != len(stations) or not isinstance(
            layout, ak.contents.ListOffsetArray) or flat.dtype.kind not in "iu" \
            or (len(flat) and (flat.min() < -128 or flat.max() > 127)):
        # general case (a station listed twice: one count per listing; other layouts)
        counts = ak.to_numpy(ak.num(st, axis=1)).astype(np.int64)
        owner = np.repeat(np.arange(n, dtype=np.int64), counts)
        flat = flat.astype(np.int64)
        out = np.zeros((n, len(stations)), dtype=np.int64)
        for j, s in enumerate(stations):
            out[:, j] = np.bincount(owner[flat == s], minlength=n)
        return out
    offsets = np.asarray(layout.offsets, dtype=np.int64)
    offsets = offsets - offsets[0]
    columns = np.full(256, -1, dtype=np.int64)  # station + 128 -> output column
    for j, s in enumerate(stations):
        if -128 <= s <= 127:
            columns[s + 128] = j
    return kernels.hits_per_station(offsets, flat.astype(np.int8, copy=False), columns,
                                    len(stations))


def _single_track_rdf(p):
    parts = [f"n_tracks_in == {p['n_tracks']}", f"beam_chi2 < {p['max_chi2']!r}"]
    for s in p["stations"]:
        cnt = f"Sum(hit_station == {s})"
        parts.append(f"{cnt} >= {p['min_hits_per_station']} && "
                     f"{cnt} <= {p['max_hits_per_station']}")
    return " && ".join(parts)


@cut("single_track", SingleTrackParams, rdf=_single_track_rdf)
def single_track(events, *, max_chi2: float, n_tracks: int = 1, stations=(0, 1, 2, 3),
                 min_hits_per_station: int = 1, max_hits_per_station: int = 1) -> np.ndarray:
    """Rejects events without exactly ``n_tracks`` upstream track(s) of χ²/ndf below
    ``max_chi2`` (NaN fails) and with a hit count outside [min, max] in any listed tracker
    station: two beam particles in one window (pile-up), interactions upstream of the ECAL
    and mis-reconstructed momenta. NA64 requires a single track with one hit per upstream
    station [arXiv:1710.00971]."""
    ntr = column(events, "n_tracks_in")
    chi2 = column(events, "beam_chi2")
    ok = (ntr == n_tracks) & (chi2 < max_chi2)
    hits = _hits_per_station(events, list(stations))
    ok &= _all_rows((hits >= min_hits_per_station) & (hits <= max_hits_per_station))
    return ok


class SrdParams(CutParams):
    e_min: float = Field(ge=0)
    e_max: float = Field(gt=0)
    modules: list[int] = Field(default_factory=lambda: [0, 1, 2])
    time: TimeWindow | None = None

    @model_validator(mode="after")
    def _check(self):
        if not self.e_min < self.e_max:
            raise ValueError(f"e_min ({self.e_min}) must be below e_max ({self.e_max})")
        _check_indices(self.modules, 3, "SRD module")
        return self


def _srd_rdf(p):
    parts = [f"srd_e[{m}] > {p['e_min']!r} && srd_e[{m}] < {p['e_max']!r}"
             for m in p["modules"]]
    if p["time"]:
        t = p["time"]
        parts.append(f"abs(srd_t - {t['mean']!r}) <= {t['n_sigma'] * t['sigma']!r}")
    return " && ".join(parts)


@cut("srd_tag", SrdParams, rdf=_srd_rdf)
def srd_tag(events, *, e_min: float, e_max: float, modules=(0, 1, 2), time=None) -> np.ndarray:
    """Rejects events in which any listed synchrotron-radiation-detector module saw an
    energy outside (e_min, e_max) MeV, or (with ``time``) whose SRD time is outside the
    window: hadrons and muons in the beam radiate (m_e/m)⁴ less synchrotron light than
    electrons, so the SRD tag suppresses the beam's hadron contamination, and too much
    energy means pile-up [arXiv:1710.00971; NA64 SRD, NIM A 866 (2017) 196, check]."""
    e = column(events, "srd_e")[:, list(modules)]
    ok = _all_rows((e > e_min) & (e < e_max))
    if time is not None:
        ok &= _in_window(column(events, "srd_t"), time["mean"], time["sigma"], time["n_sigma"])
    return ok


class EcalShowerParams(CutParams):
    max_in_center: bool = True
    min_center_fraction: float | None = Field(default=None, ge=0, le=1)
    max_outer_fraction: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self):
        if not self.max_in_center and self.min_center_fraction is None \
                and self.max_outer_fraction is None:
            raise ValueError("ecal_shower needs at least one of max_in_center, "
                             "min_center_fraction, max_outer_fraction")
        return self


def _ecal_cells(events) -> np.ndarray:
    """(n, 6, 6): preshower + main energy per cell (the branches' float32)."""
    return memo(events, "ecal_cells",
                lambda: column(events, "ecal_pre") + column(events, "ecal_main"))


def _ecal_summary(events) -> dict[str, np.ndarray]:
    """Both ECAL sections in one compiled pass (:func:`analysis.kernels.ecal_summary`):
    ``ecal_pre``/``ecal_main`` float64 sums in cell order, ``argmax`` of the per-cell
    preshower + main energy (float32, numpy's argmax) and ``center``, that sum in [3][3]."""
    def calc():
        pre, main = column(events, "ecal_pre"), column(events, "ecal_main")
        n = pre.shape[0]
        m = int(np.prod(pre.shape[1:]))
        ic = ECAL_CENTER[0] * pre.shape[2] + ECAL_CENTER[1]
        dtype = np.result_type(pre, main)
        if dtype.kind != "f":
            dtype = np.dtype(np.float64)
        pre = np.ascontiguousarray(pre.reshape(n, m), dtype=dtype)
        main = np.ascontiguousarray(main.reshape(n, m), dtype=dtype)
        s_pre, s_main, arg, center = kernels.ecal_summary(pre, main, ic)
        return {"ecal_pre": s_pre, "ecal_main": s_main, "argmax": arg, "center": center,
                "ic": ic}
    return memo(events, "ecal_summary", calc)


def _max_in_center(events) -> np.ndarray:
    """``argmax`` of the per-cell ECAL energy (preshower + main, summed in the branches'
    float32) is the centre cell [3][3] (the (n, 6, 6) sum is never materialised)."""
    s = _ecal_summary(events)
    return s["argmax"] == s["ic"]


def _row_sums(a: np.ndarray) -> np.ndarray:
    """Per-row float64 sum of the trailing axes, in cell order (:func:`kernels.row_sums`,
    the order of RDataFrame's ``std::accumulate``)."""
    a = np.asarray(a)
    flat = a.reshape(a.shape[0], int(np.prod(a.shape[1:])))
    if flat.dtype.kind not in "fiu":
        flat = flat.astype(np.float64)
    return kernels.row_sums(np.ascontiguousarray(flat))


def _row_max(a: np.ndarray) -> np.ndarray:
    """``np.max(a, axis=1)`` of a 2-D array in one compiled pass (short rows are slow in
    numpy's reduction)."""
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[1] == 0 or a.dtype.kind not in "fiu":
        return np.max(a, axis=1)
    return kernels.row_max(np.ascontiguousarray(a))


def _has(events, name: str) -> bool:
    try:
        column(events, name)
    except MissingBranchError:
        return False
    return True


def _section_sum(events, name: str) -> np.ndarray:
    """Per-event sum of a fixed-size calorimeter branch, accumulated in float64 in cell
    order (the ECAL sections both at once, :func:`_ecal_summary`)."""
    if name in ("ecal_pre", "ecal_main") and _has(events, "ecal_pre") \
            and _has(events, "ecal_main"):
        return _ecal_summary(events)[name]
    return memo(events, ("sum", name), lambda: _row_sums(column(events, name)))


def _ecal_shower_rdf(p):
    # RDataFrame flattens float[6][6] to 36 values, index ix*6+iy
    c = ECAL_CENTER[0] * 6 + ECAL_CENTER[1]
    cells = "(ecal_pre + ecal_main)"
    total = _rdf_sum(cells)
    parts = []
    if p["max_in_center"]:
        parts.append(f"ArgMax{cells} == {c}")
    if p["min_center_fraction"] is not None:
        parts.append(f"{cells}[{c}] >= {p['min_center_fraction']!r} * {total}")
    if p["max_outer_fraction"] is not None:
        inner = " + ".join(f"{cells}[{ix * 6 + iy}]" for ix in range(2, 5) for iy in range(2, 5))
        parts.append(f"{total} - ({inner}) <= {p['max_outer_fraction']!r} * {total}")
    return " && ".join(parts)


@cut("ecal_shower", EcalShowerParams, rdf=_ecal_shower_rdf)
def ecal_shower(events, *, max_in_center: bool = True, min_center_fraction=None,
                max_outer_fraction=None) -> np.ndarray:
    """Rejects events whose ECAL shower (preshower + main, per cell) is not an
    electromagnetic shower on the beam axis: the most energetic cell is not the centre
    cell [3][3], the centre cell holds less than ``min_center_fraction`` of the ECAL
    energy, or more than ``max_outer_fraction`` lies outside the 3×3 block around it.
    Removes off-axis or mis-tracked particles, two showers (pile-up) and broad hadronic
    showers; NA64 requires a lateral/longitudinal shape consistent with the signal
    shower [arXiv:1710.00971]. An empty ECAL fails."""
    total = _ecal_energy(events)
    ok = total > 0
    if max_in_center:
        ok &= _max_in_center(events)
    if min_center_fraction is None and max_outer_fraction is None:
        return ok
    cells = _ecal_cells(events)
    n = cells.shape[0]
    flat = cells.reshape(n, -1)
    ic = ECAL_CENTER[0] * cells.shape[2] + ECAL_CENTER[1]
    center = flat[:, ic].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if min_center_fraction is not None:
            ok &= center >= min_center_fraction * total
        if max_outer_fraction is not None:
            inner = _row_sums(cells[:, 2:5, 2:5])
            ok &= (total - inner) <= max_outer_fraction * total
    return ok


class PreshowerParams(CutParams):
    e_min: float = Field(ge=0)


@cut("ecal_preshower_min", PreshowerParams,
     rdf=lambda p: f"{_rdf_sum('ecal_pre')} > {p['e_min']!r}")
def ecal_preshower_min(events, *, e_min: float) -> np.ndarray:
    """Rejects events with a preshower energy at or below ``e_min`` GeV: an electron starts
    its shower in the first radiation lengths (the preshower) while beam hadrons and muons
    mostly cross it as MIPs; NA64 requires E_PS above a threshold [arXiv:1710.00971]."""
    return _section_sum(events, "ecal_pre") > e_min


class MissingEnergyParams(CutParams):
    threshold: float = Field(gt=0)
    beam_energy: BeamEnergy = "selection"


def _ecal_energy(events) -> np.ndarray:
    return memo(events, "ecal_energy",
                lambda: _section_sum(events, "ecal_pre") + _section_sum(events, "ecal_main"))


@cut("missing_energy", MissingEnergyParams,
     rdf=lambda p: f"{p['beam_energy']!r} - ({_rdf_sum('ecal_pre')} + "
                   f"{_rdf_sum('ecal_main')}) > {p['threshold']!r}",
     box=lambda p: {"ecal_energy": (None, p["beam_energy"] - p["threshold"]),
                    "missing_energy": (p["threshold"], None)})
def missing_energy(events, *, threshold: float, beam_energy: float) -> np.ndarray:
    """Rejects events with E_miss = E_beam − E_ECAL ≤ ``threshold`` GeV (E_ECAL = preshower
    + main): ordinary showers that contain the beam energy. This is the signal-box cut:
    E_miss > 50 GeV (E_ECAL < 50 GeV) for 2016–2022 [arXiv:1906.00176] and > 40 GeV
    (E_ECAL < 60 GeV) in 2023 with the VHCAL [arXiv:2503.11275]. ``beam_energy`` is a
    number, ``selection`` (default) or ``runinfo``."""
    return beam_energy - _ecal_energy(events) > threshold


class VetoParams(CutParams):
    e_max: float = Field(gt=0)
    planes: list[int] = Field(default_factory=lambda: [0, 1, 2])

    @model_validator(mode="after")
    def _check(self):
        _check_indices(self.planes, 3, "VETO plane")
        return self


@cut("veto_quiet", VetoParams,
     rdf=lambda p: " && ".join(f"veto_e[{i}] < {p['e_max']!r}" for i in p["planes"]))
def veto_quiet(events, *, e_max: float, planes=(0, 1, 2)) -> np.ndarray:
    """Rejects events with a listed VETO plane at or above ``e_max`` MeV: charged
    secondaries (hadrons from electro-nuclear interactions, muon pairs) leaving the ECAL
    towards the HCAL. NA64 requires no VETO activity (below ~0.5 MIP) [arXiv:1710.00971,
    check]."""
    return _all_rows(column(events, "veto_e")[:, list(planes)] < e_max)


class HcalParams(CutParams):
    total_max: float = Field(gt=0)
    module_max: float | None = Field(default=None, gt=0)
    modules: list[int] = Field(default_factory=lambda: [0, 1, 2, 3])

    @model_validator(mode="after")
    def _check(self):
        _check_indices(self.modules, 4, "HCAL module")
        return self


def _hcal_modules(events) -> np.ndarray:
    def calc():
        e = column(events, "hcal_e")
        return _row_sums(e.reshape(e.shape[0] * e.shape[1], int(np.prod(e.shape[2:])))
                         ).reshape(e.shape[:2])
    return memo(events, "hcal_modules", calc)


def _hcal_rdf(p):
    # RDataFrame flattens float[4][3][3]: module m is entries 9m..9m+8
    # sums in double, like the numpy version (a float32 sum flips events at the threshold)
    mods = [_rdf_hcal_module(m) for m in p["modules"]]
    parts = [f"{_rdf_hcal_total(p['modules'])} < {p['total_max']!r}"]
    if p["module_max"] is not None:
        parts += [f"({m}) < {p['module_max']!r}" for m in mods]
    return " && ".join(parts)


@cut("hcal_veto", HcalParams, rdf=_hcal_rdf,
     box=lambda p: {"hcal_energy": (None, p["total_max"])})
def hcal_veto(events, *, total_max: float, module_max=None, modules=(0, 1, 2, 3)) -> np.ndarray:
    """Rejects events with HCAL energy (sum over the listed modules) at or above
    ``total_max`` GeV, or any listed module at or above ``module_max``: electro- and
    photo-nuclear interactions in the ECAL whose hadrons reach the HCAL, and e⁻N → e⁻Nμ⁺μ⁻.
    Together with the missing-energy cut it defines the signal box in the (E_ECAL, E_HCAL)
    plane; NA64 uses E_HCAL < 1 GeV [arXiv:1906.00176, check]."""
    mod = _hcal_modules(events)[:, list(modules)]
    ok = _row_sums(mod) < total_max
    if module_max is not None:
        ok &= _all_rows(mod < module_max)
    return ok


class HcalWindowParams(CutParams):
    e_min: float = Field(ge=0)
    e_max: float = Field(gt=0)
    modules: list[int] = Field(default_factory=lambda: [0, 1, 2, 3])

    @model_validator(mode="after")
    def _check(self):
        _check_indices(self.modules, 4, "HCAL module")
        if self.e_max <= self.e_min:
            raise ValueError(f"e_max ({self.e_max}) must be above e_min ({self.e_min})")
        return self


def _hcal_window_rdf(p):
    mods = [_rdf_hcal_module(m) for m in p["modules"]]
    return " && ".join(f"{m} >= {p['e_min']!r} && {m} < {p['e_max']!r}" for m in mods)


@cut("hcal_module_window", HcalWindowParams, rdf=_hcal_window_rdf)
def hcal_module_window(events, *, e_min: float, e_max: float,
                       modules=(0, 1, 2, 3)) -> np.ndarray:
    """Rejects events in which any listed HCAL module is outside e_min ≤ E < e_max GeV:
    showering hadrons (too much energy in the first modules), electrons and empty HCALs
    (too little), keeping a minimum-ionising pattern through the whole HCAL. Used to select
    e⁻N → e⁻Nμ⁺μ⁻ (two MIPs per module) for the normalisation cross-check, and single
    muons (one MIP per module) in the muon setup."""
    mod = _hcal_modules(events)[:, list(modules)]
    return _all_rows((mod >= e_min) & (mod < e_max))


class VhcalParams(CutParams):
    cell_max: float = Field(gt=0)
    total_max: float = Field(gt=0)


@cut("vhcal_veto", VhcalParams, requires=("vhcal",),
     rdf=lambda p: f"Max(vhcal_e) < {p['cell_max']!r} && "
                   f"{_rdf_sum('vhcal_e')} < {p['total_max']!r}")
def vhcal_veto(events, *, cell_max: float, total_max: float) -> np.ndarray:
    """Rejects events with any VHCAL cell at or above ``cell_max`` GeV or a VHCAL sum at or
    above ``total_max``: interactions upstream of the ECAL producing large-angle hadrons
    that miss the ECAL/HCAL (the VHCAL cut the 2023 run introduced; it reduced this
    background by more than 10× [arXiv:2503.11275]). A NaN reading (VHCAL not read out)
    fails; a selection for a period without a VHCAL may not use this cut, and a file whose
    ``runinfo.has_vhcal`` is false is an error when it is used."""
    e = _f64(events, "vhcal_e")
    with np.errstate(invalid="ignore"):
        return _all_rows(e < cell_max) & (_row_sums(e) < total_max)


_TIME_BRANCH = {"srd": "srd_t", "ecal": "ecal_t", "hcal": "hcal_t"}


class TimeWindowParams(CutParams):
    detector: Literal["srd", "ecal", "hcal"]
    mean: float
    sigma: float = Field(gt=0)
    n_sigma: float = Field(gt=0)
    allow_missing: bool


def _time_rdf(p):
    b = _TIME_BRANCH[p["detector"]]
    expr = f"abs({b} - {p['mean']!r}) <= {p['n_sigma'] * p['sigma']!r}"
    return f"(std::isnan({b}) || {expr})" if p["allow_missing"] else expr


@cut("time_window", TimeWindowParams, rdf=_time_rdf)
def time_window(events, *, detector: str, mean: float, sigma: float, n_sigma: float,
                allow_missing: bool) -> np.ndarray:
    """Rejects events whose SRD/ECAL/HCAL0 time lies outside mean ± n_sigma·sigma (ns):
    out-of-time pile-up particles. NA64 uses ±N·σ windows around the expected time
    [PHYSICS.md §1]. A missing time (NaN, e.g. an empty HCAL) passes only when
    ``allow_missing`` is true — the parameter is required so the choice is explicit."""
    t = _f64(events, _TIME_BRANCH[detector])
    ok = _in_window(t, mean, sigma, n_sigma)
    if allow_missing:
        ok |= np.isnan(t)
    return ok


class PileupParams(CutParams):
    max_hits_per_station: int | None = Field(default=None, ge=1)
    stations: list[int] = Field(default_factory=lambda: [0, 1, 2, 3])
    max_srd_ecal_dt: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self):
        if self.max_hits_per_station is None and self.max_srd_ecal_dt is None:
            raise ValueError("pileup_rejection needs max_hits_per_station and/or max_srd_ecal_dt")
        return self


def _pileup_rdf(p):
    parts = []
    if p["max_hits_per_station"] is not None:
        parts += [f"Sum(hit_station == {s}) <= {p['max_hits_per_station']}"
                  for s in p["stations"]]
    if p["max_srd_ecal_dt"] is not None:
        parts.append(f"abs(srd_t - ecal_t) <= {p['max_srd_ecal_dt']!r}")
    return " && ".join(parts)


@cut("pileup_rejection", PileupParams, rdf=_pileup_rdf)
def pileup_rejection(events, *, max_hits_per_station=None, stations=(0, 1, 2, 3),
                     max_srd_ecal_dt=None) -> np.ndarray:
    """Rejects pile-up — two beam particles in one readout window, e.g. a hadron followed
    by an electron [PHYSICS.md §1]: more than ``max_hits_per_station`` tracker hits in a
    listed station, or an SRD time further than ``max_srd_ecal_dt`` ns from the ECAL time
    (the particle that radiated is not the one that showered; NaN fails)."""
    ok = np.ones(n_events(events), dtype=bool)
    if max_hits_per_station is not None:
        ok &= _all_rows(_hits_per_station(events, list(stations)) <= max_hits_per_station)
    if max_srd_ecal_dt is not None:
        dt = _f64(events, "srd_t") - _f64(events, "ecal_t")
        ok &= np.abs(dt) <= max_srd_ecal_dt
    return ok


class BeamSpotParams(CutParams):
    r_max: float = Field(gt=0)


@cut("beam_spot", BeamSpotParams,
     rdf=lambda p: f"beam_x*beam_x + beam_y*beam_y < {p['r_max'] ** 2!r}")
def beam_spot(events, *, r_max: float) -> np.ndarray:
    """Rejects events whose incoming track hits the ECAL face further than ``r_max`` mm
    from the centre of cell [3][3] (or is not measured): off-axis particles whose showers
    leak laterally out of the ECAL and fake missing energy."""
    x = _f64(events, "beam_x")
    y = _f64(events, "beam_y")
    return x * x + y * y < r_max * r_max


# ----------------------------------------------------------------------------------------
# Variable registry
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableDef:
    """A histogrammable quantity: ``func(events, ctx)`` → float64 ``(n,)`` or ``(n, k)``."""

    name: str
    func: Callable[[Any, Context], np.ndarray]
    label: str
    unit: str = ""
    multiplicity: int = 1
    requires: frozenset[str] = field(default_factory=frozenset)

    @property
    def axis_label(self) -> str:
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    def __call__(self, events: Any, ctx: Context) -> np.ndarray:
        return np.asarray(self.func(events, ctx), dtype=np.float64)


VARIABLES: dict[str, VariableDef] = {}


def variable(name: str, label: str, unit: str = "", *, multiplicity: int = 1,
             requires: tuple[str, ...] = ()):
    """Register ``fn(events, ctx)`` as the variable ``name``."""

    def deco(fn):
        if name in VARIABLES:
            raise ValueError(f"variable {name!r} registered twice")
        VARIABLES[name] = VariableDef(name, fn, label, unit, multiplicity, frozenset(requires))
        return fn

    return deco


def get_variable(name: str) -> VariableDef:
    try:
        return VARIABLES[name]
    except KeyError:
        raise KeyError(f"unknown variable {name!r}; known variables: "
                       f"{', '.join(sorted(VARIABLES))}") from None


def _f64(events, name):
    return memo(events, ("f64", name), lambda: column(events, name).astype(np.float64))


variable("ecal_energy", "E_ECAL", "GeV")(lambda ev, ctx: _ecal_energy(ev))
variable("ecal_pre_energy", "E_PS", "GeV")(lambda ev, ctx: _section_sum(ev, "ecal_pre"))
variable("ecal_main_energy", "E_ECAL main", "GeV")(lambda ev, ctx: _section_sum(ev, "ecal_main"))
variable("missing_energy", "E_miss = E_beam − E_ECAL", "GeV")(
    lambda ev, ctx: ctx.beam_energy - _ecal_energy(ev))


@variable("ecal_center_fraction", "E[3][3] / E_ECAL")
def _ecal_center_fraction(ev, ctx):
    center = _ecal_summary(ev)["center"]  # the same float32 sum as _ecal_cells
    with np.errstate(invalid="ignore", divide="ignore"):
        return center / _ecal_energy(ev)


variable("hcal_energy", "E_HCAL", "GeV")(lambda ev, ctx: _row_sums(_hcal_modules(ev)))
variable("hcal_module_energy", "E_HCAL module", "GeV", multiplicity=4)(
    lambda ev, ctx: _hcal_modules(ev))
for _m in range(4):
    variable(f"hcal{_m}_energy", f"E_HCAL{_m}", "GeV")(
        lambda ev, ctx, _m=_m: _hcal_modules(ev)[:, _m])
variable("srd_energy", "E_SRD module", "MeV", multiplicity=3)(lambda ev, ctx: _f64(ev, "srd_e"))
variable("srd_total_energy", "E_SRD sum", "MeV")(
    lambda ev, ctx: _row_sums(_f64(ev, "srd_e")))
for _m in range(3):
    variable(f"srd{_m}_energy", f"E_SRD{_m}", "MeV")(
        lambda ev, ctx, _m=_m: _f64(ev, "srd_e")[:, _m])
variable("veto_energy", "E_VETO plane", "MeV", multiplicity=3)(
    lambda ev, ctx: _f64(ev, "veto_e"))
variable("veto_max_energy", "max E_VETO", "MeV")(lambda ev, ctx: _row_max(_f64(ev, "veto_e")))
variable("vhcal_energy", "E_VHCAL", "GeV", requires=("vhcal",))(
    lambda ev, ctx: _row_sums(_f64(ev, "vhcal_e")))
variable("vhcal_cell_energy", "E_VHCAL cell", "GeV", multiplicity=4, requires=("vhcal",))(
    lambda ev, ctx: _f64(ev, "vhcal_e"))
variable("vhcal_max_energy", "max E_VHCAL cell", "GeV", requires=("vhcal",))(
    lambda ev, ctx: _row_max(_f64(ev, "vhcal_e")))
variable("beam_p", "p_beam", "GeV")(lambda ev, ctx: _f64(ev, "beam_p"))
variable("beam_chi2", "χ²/ndf")(lambda ev, ctx: _f64(ev, "beam_chi2"))
variable("beam_x", "x at ECAL", "mm")(lambda ev, ctx: _f64(ev, "beam_x"))
variable("beam_y", "y at ECAL", "mm")(lambda ev, ctx: _f64(ev, "beam_y"))
variable("n_tracks_in", "upstream tracks")(lambda ev, ctx: _f64(ev, "n_tracks_in"))
variable("n_hits", "tracker hits")(
    lambda ev, ctx: ak.to_numpy(ak.num(column(ev, "hit_station"), axis=1)).astype(np.float64))
variable("max_hits_per_station", "max hits in a station")(
    lambda ev, ctx: _row_max(_hits_per_station(ev, [0, 1, 2, 3])).astype(np.float64))
variable("srd_time", "t_SRD", "ns")(lambda ev, ctx: _f64(ev, "srd_t"))
variable("ecal_time", "t_ECAL", "ns")(lambda ev, ctx: _f64(ev, "ecal_t"))
variable("hcal_time", "t_HCAL0", "ns")(lambda ev, ctx: _f64(ev, "hcal_t"))
variable("srd_ecal_dt", "t_SRD − t_ECAL", "ns")(
    lambda ev, ctx: _f64(ev, "srd_t") - _f64(ev, "ecal_t"))
variable("mc_invisible_energy", "E_invisible (MC)", "GeV")(
    lambda ev, ctx: _f64(ev, "mc_invisible_e"))


__all__ = [
    "CUTS", "VARIABLES", "Context", "CutDef", "CutParams", "EventColumns", "VariableDef",
    "MissingBranchError", "column", "cut", "memo", "variable", "get_cut", "get_variable",
    "n_events", "ECAL_CENTER",
]


# --- hadron setup ---------------------------------------------------------------------------
# NA64h (50 GeV π⁻, PHYSICS.md §1, arXiv:2406.01990): the signal is the disappearance of the
# whole beam energy from ECAL + HCAL; the beam is identified as a hadron by the absence of
# synchrotron radiation and of an EM shower at the ECAL face. Thresholds and the processes
# each cut is meant for: docs/na64h.md, analysis/simulation/hadron.py.


class SrdVetoParams(CutParams):
    e_max: float = Field(gt=0)
    modules: list[int] = Field(default_factory=lambda: [0, 1, 2])

    @model_validator(mode="after")
    def _check(self):
        _check_indices(self.modules, 3, "SRD module")
        return self


@cut("srd_veto", SrdVetoParams,
     rdf=lambda p: " && ".join(f"srd_e[{m}] < {p['e_max']!r}" for m in p["modules"]))
def srd_veto(events, *, e_max: float, modules=(0, 1, 2)) -> np.ndarray:
    """Rejects events with a listed SRD module at or above ``e_max`` MeV: beam electrons,
    which emit synchrotron radiation in the bending magnets, in a hadron beam (the inverse
    of ``srd_tag``; π⁻, K⁻ and μ⁻ radiate (m_e/m)⁴ ≲ 1e-9 as much and leave only noise)."""
    return _all_rows(column(events, "srd_e")[:, list(modules)] < e_max)


class PreshowerMaxParams(CutParams):
    e_max: float = Field(gt=0)


@cut("ecal_preshower_max", PreshowerMaxParams,
     rdf=lambda p: f"{_rdf_sum('ecal_pre')} < {p['e_max']!r}")
def ecal_preshower_max(events, *, e_max: float) -> np.ndarray:
    """Rejects events with a preshower energy at or above ``e_max`` GeV: an EM shower that
    starts at the ECAL face (a beam electron, or the e⁻ and π⁰ photons of a K⁻ → e⁻ν̄π⁰
    decay in flight), whereas a beam hadron crosses the preshower as a MIP (≈0.05 GeV) and
    an invisible meson decay adds only the recoil of the charge exchange."""
    return _section_sum(events, "ecal_pre") < e_max


class TotalEnergyParams(CutParams):
    fraction: float = Field(gt=0, lt=1)
    beam_energy: BeamEnergy = "selection"


def _total_energy(events) -> np.ndarray:
    return memo(events, "total_energy",
                lambda: _ecal_energy(events) + _row_sums(_hcal_modules(events)))


@cut("total_energy_max", TotalEnergyParams,
     rdf=lambda p: (f"{_rdf_ecal()} + {_rdf_hcal_total()} < "
                    f"{p['fraction'] * p['beam_energy']!r}"),
     box=lambda p: {"total_energy": (None, p["fraction"] * p["beam_energy"]),
                    "ecal_energy": (None, p["fraction"] * p["beam_energy"])})
def total_energy_max(events, *, fraction: float, beam_energy: float) -> np.ndarray:
    """Rejects events with E_ECAL + E_HCAL at or above ``fraction`` × E_beam: every beam
    particle whose energy is seen in the calorimeters (showers, visible meson decays,
    muons). This is the signal-box cut of the hadron setup, "the complete disappearance of
    the beam energy" [arXiv:2406.01990]; its box bounds E_ECAL by the same value, so the
    rectangular (E_ECAL, E_HCAL) box of the background estimate contains the true one."""
    return _total_energy(events) < fraction * beam_energy


variable("total_energy", "E_ECAL + E_HCAL", "GeV")(lambda ev, ctx: _total_energy(ev))
variable("total_energy_fraction", "(E_ECAL + E_HCAL) / E_beam")(
    lambda ev, ctx: _total_energy(ev) / ctx.beam_energy)
# --- end of hadron setup --------------------------------------------------------------------


# --- muon setup -----------------------------------------------------------------------------
# NA64μ (160 GeV μ, M2 line, PHYSICS.md §1, arXiv:2401.01708, arXiv:2409.10128): the signal is
# a single scattered muon with p_out < 80 GeV and no activity beyond its own minimum-ionising
# signals. The processes each cut is meant for and the thresholds: docs/na64mu.md,
# analysis/simulation/muon.py. (The upstream momentum window, single incoming track, VETO,
# VHCAL and HCAL cuts are the shared ones above, with muon thresholds.)


class OutgoingTrackParams(CutParams):
    max_chi2: float = Field(gt=0)
    n_tracks: int = Field(default=1, ge=1)


@cut("outgoing_track", OutgoingTrackParams,
     rdf=lambda p: f"n_tracks_out == {p['n_tracks']} && mu_chi2_out < {p['max_chi2']!r}")
def outgoing_track(events, *, max_chi2: float, n_tracks: int = 1) -> np.ndarray:
    """Rejects events without exactly ``n_tracks`` track(s) in the downstream (MS2)
    spectrometer, or whose χ²/ndf is not below ``max_chi2`` (NaN fails): mis-reconstructed
    outgoing momenta (a hit of another particle — typically the halo muon that fired the
    trigger, which often leaves its own second track — pulls the fit: the non-Gaussian p_out
    tail) and hadron interactions with several charged secondaries. NA64μ requires a single
    well-reconstructed outgoing muon [arXiv:2401.01708]."""
    ntr = column(events, "n_tracks_out")
    chi2 = column(events, "mu_chi2_out")
    return (ntr == n_tracks) & (chi2 < max_chi2)


class EcalMipParams(CutParams):
    e_min: float = Field(ge=0)
    e_max: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if not self.e_min < self.e_max:
            raise ValueError(f"e_min ({self.e_min}) must be below e_max ({self.e_max})")
        return self


@cut("ecal_mip", EcalMipParams,
     rdf=lambda p: (f"{_rdf_ecal()} > {p['e_min']!r} && "
                    f"{_rdf_ecal()} < {p['e_max']!r}"),
     box=lambda p: {"ecal_energy": (None, p["e_max"])})
def ecal_mip(events, *, e_min: float, e_max: float) -> np.ndarray:
    """Rejects events whose ECAL energy (preshower + main) is not that of a minimum-ionising
    muon crossing the active target, e_min < E_ECAL < e_max GeV (≈0.46 GeV MPV on the EM
    scale): muon energy losses in the target by bremsstrahlung, e⁺e⁻ pair production or
    photonuclear interactions (the energy the muon lost is seen there), and interacting beam
    hadrons. In a muon missing-momentum search the active target must see only the MIP
    [arXiv:2401.01708]. One of the signal-box cuts of the muon setup."""
    e = _ecal_energy(events)
    return (e > e_min) & (e < e_max)


class OutgoingMomentumParams(CutParams):
    p_max: float = Field(gt=0)


@cut("outgoing_momentum_max", OutgoingMomentumParams,
     rdf=lambda p: f"mu_p_out < {p['p_max']!r}",
     box=lambda p: {"mu_p_out": (None, p["p_max"])})
def outgoing_momentum_max(events, *, p_max: float) -> np.ndarray:
    """Rejects events whose outgoing muon momentum (MS2, GeV) is not below ``p_max`` or not
    measured (NaN): ordinary muons (p_out ≈ 160 GeV) recorded by accidental triggers, π → μν
    decays in flight (E_μ ≥ 0.57 E_π) and everything that kept more than half of the beam
    momentum. This is the missing-momentum signal-box cut: p_out < 80 GeV, i.e. E_X > 80 GeV
    [pub: arXiv:2401.01708]."""
    return column(events, "mu_p_out") < p_max


variable("mu_p_out", "p_out", "GeV")(lambda ev, ctx: _f64(ev, "mu_p_out"))
variable("missing_momentum", "p_beam − p_out", "GeV")(
    lambda ev, ctx: ctx.beam_energy - _f64(ev, "mu_p_out"))
variable("mu_chi2_out", "χ²/ndf (outgoing)")(lambda ev, ctx: _f64(ev, "mu_chi2_out"))
variable("n_tracks_out", "downstream tracks")(lambda ev, ctx: _f64(ev, "n_tracks_out"))
variable("mu_theta_out", "θ_out", "mrad")(lambda ev, ctx: _f64(ev, "mu_theta_out"))
# --- end of muon setup ----------------------------------------------------------------------
