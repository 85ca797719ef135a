"""``simulate(...)``: the public entry point of the electron-setup fast simulation.

Three kinds of sample:

* **pseudo-data** (no ``process``/``signal``): ``n_on_target`` EOT in spills; every process
  at its rate per EOT (Poisson per spill), only triggered events recorded, weights 1.
  ``is_mc`` is true (NTUPLE.md) but manifests label it ``pseudo-data``: it stands in for data.
* **biased background** (``process=NAME``): ``n_events`` generated of one process,
  representing an EOT-equivalent exposure E = ``n_on_target`` (default: the natural
  exposure ``n_events / rate``); ``runinfo.n_on_target = E``; weights
  ``rate · E / n_events × importance weight``, so Σ mc_weight over generated events has
  expectation rate · E, and over the written (triggered) events rate · E · acceptance.
  ``bias=q_min`` oversamples the process's tail (see ``common.tail_quantiles``).
* **signal** (``signal=MODEL, mass=M``): ``n_events`` signal events, ``runinfo.n_on_target
  = 0``, mc_model/mc_mass set; *all* generated events are written (trigger bits set as
  evaluated), so efficiencies have their denominator: require trigger bit 0 in the analysis.

Seeding: per (seed, run, spill, process) (``common.rng_for``); chunking over spills
(``chunk_spills``) changes nothing in the output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..codes import Model, Process, Setup
from ..rootio import DEFAULT_COMPRESSION, default_runinfo, write_ntuple
from ..schema import event_branches
from . import detector as det
from .common import EVENT_STRIDE, SpillPlan, plan_blocks, plan_exposure, rng_for
from .electron import (
    PROCESSES,
    SPILL_INTENSITY,
    Context,
    concat_events,
    process_spec,
    run_generator,
    run_process,
    take_events,
)
from .signal import model_code, signal_generator

PERIODS = {"2016-2022": False, "2023": True}  # period → VHCAL installed
FIRST_RUN = {"2016-2022": 3001, "2023": 9001}  # run numbers are labels only
DEFAULT_BLOCK = 20000
DEFAULT_SPILLS_PER_RUN = 10
DEFAULT_CHUNK_SPILLS = 10


@dataclass
class SimulationResult:
    """What was generated. ``events`` is filled only when no output file was requested."""

    kind: str
    period: str
    path: Path | None
    n_events: int
    n_on_target: float
    runinfo: dict
    spills: dict
    per_process: dict = field(default_factory=dict)  # name → generated/recorded/weights
    events: dict | None = None


@dataclass(frozen=True)
class _Backend:
    """The setup-specific pieces ``simulate`` needs: periods, process table, per-process
    event loop, signal, beam. Electron (NA64e): this module's imports; muon (NA64μ):
    ``muon.py``. The spill loop, seeding, biasing and writer below are shared."""

    setup: Setup
    periods: dict
    first_run: dict
    processes: dict
    process_spec: Callable
    run_process: Callable
    run_generator: Callable
    signal_generator: Callable
    beam_energy: float
    spill_intensity: float
    beam_pdg: int | None = None  # None: rootio.default_runinfo's value for the setup
    signal_mass: Callable | None = None  # model -> default mass (NA64h: the meson's)


def _backend(setup) -> _Backend:
    key = str(setup).lower()
    if key in ("electron", "1"):
        return _Backend(Setup.ELECTRON, PERIODS, FIRST_RUN, PROCESSES, process_spec,
                        run_process, run_generator, signal_generator, det.BEAM_ENERGY,
                        SPILL_INTENSITY)
    if key in ("muon", "3"):  # NA64μ, 160 GeV μ: analysis/simulation/muon.py
        from . import muon

        return _Backend(Setup.MUON, muon.PERIODS, muon.FIRST_RUN, muon.PROCESSES,
                        muon.process_spec, muon.run_process, muon.run_generator,
                        muon.signal_generator, muon.BEAM_ENERGY, muon.SPILL_INTENSITY,
                        muon.BEAM_PDG)
    if key in ("hadron", "4"):  # NA64h, 50 GeV π⁻: analysis/simulation/hadron.py
        from . import hadron

        return _Backend(Setup.HADRON, hadron.PERIODS, hadron.FIRST_RUN, hadron.processes(),
                        hadron.process_spec, hadron.run_process, hadron.run_generator,
                        hadron.signal_generator, hadron.BEAM_ENERGY, hadron.SPILL_INTENSITY,
                        hadron.BEAM_PDG, hadron.signal_mass)
    raise NotImplementedError(f"simulation of setup {setup!r} is not implemented; only "
                              "'electron' (NA64e, 100 GeV e⁻), 'muon' (NA64μ, 160 GeV μ) "
                              "and 'hadron' (NA64h)")


def _check_period(setup: str, period: str) -> bool:
    periods = _backend(setup).periods
    period = str(period)
    if period not in periods:
        raise ValueError(f"unknown period {period!r} for setup {setup!r}; choose one of "
                         f"{', '.join(periods)}")
    return periods[period]


def _tally(per: dict, name: str, gen: int, rec: int, wsum: float):
    t = per.setdefault(name, {"generated": 0, "recorded": 0, "weight_sum": 0.0})
    t["generated"] += gen
    t["recorded"] += rec
    t["weight_sum"] += wsum


def simulate(
    setup: str = "electron",
    period: str = "2023",
    *,
    n_on_target: float | None = None,
    n_events: int | None = None,
    seed: int = 1,
    out: str | Path | None = None,
    process: str | int | None = None,
    signal: str | None = None,
    mass: float | None = None,
    bias: float | None = None,
    chunk_spills: int = DEFAULT_CHUNK_SPILLS,
    compression: str | None = DEFAULT_COMPRESSION,
    record: str | None = None,
    spill_intensity: float | None = None,
    spills_per_run: int = DEFAULT_SPILLS_PER_RUN,
    first_run: int | None = None,
    block_size: int = DEFAULT_BLOCK,
    method: str = "etl",
    min_invisible_energy: float = 0.0,
    spill_range: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate an NA64e sample; write it to ``out`` (NTUPLE.md TTrees) or return it.

    Exactly one of: pseudo-data (``n_on_target``), one biased process (``process``,
    ``n_events``, optional ``n_on_target`` = EOT-equivalent exposure and ``bias``), signal
    (``signal``, ``mass`` in GeV, ``n_events``). See the module docstring.
    ``record``: "triggered" (default for pseudo-data/background) or "all" (default for
    signal). ``spill_range=(i, j)`` generates only spills i..j-1 of the sample's plan (a
    part of the sample for a parallel job; its runinfo counts only those spills' EOT).
    ``progress(done, total)`` is called after each chunk of spills.
    ``min_invisible_energy`` (signal only): generate only E_X ≥ this (GeV); efficiencies are
    then relative to the produced signal above it (analysis.pipeline reads it back from the
    truth ``mc_invisible_e``).
    """
    b = _backend(setup)  # setup-specific pieces (electron or muon)
    has_vhcal = _check_period(setup, period)
    period = str(period)
    ctx = Context(has_vhcal=has_vhcal, period=period)
    if first_run is None:
        first_run = b.first_run[period]
    if spill_intensity is None:
        spill_intensity = b.spill_intensity
    if chunk_spills < 1:
        raise ValueError("chunk_spills must be >= 1")
    if process is not None and signal is not None:
        raise ValueError("give either process= (background) or signal=, not both")

    mc_model, mc_mass = int(Model.NONE), float("nan")
    if signal is not None:
        kind = "signal"
        if not n_events:
            raise ValueError("a signal sample needs n_events")
        if mass is None and b.signal_mass is not None:
            mass = b.signal_mass(signal)
        if mass is None:
            raise ValueError("a signal sample needs mass (GeV)")
        if n_on_target:
            raise ValueError("signal samples have n_on_target = 0 (NTUPLE.md): do not give it")
        mc_model, mc_mass = int(model_code(signal)), float(mass)
        generator = b.signal_generator(signal, mass, method, min_invisible_energy)
        plan = plan_blocks(n_events, block_size, exposure=0.0, first_run=first_run)
        record = record or "all"
        spec = None
    elif process is not None:
        kind = "background"
        spec = b.process_spec(process)
        if not n_events:
            raise ValueError("a single-process sample needs n_events")
        eff_rate = spec.rate * (det.CALIB_PRESCALE if spec.calib_only else 1.0)
        exposure = float(n_on_target) if n_on_target else n_events / eff_rate
        plan = plan_blocks(n_events, block_size, exposure=exposure, first_run=first_run)
        base_weight = eff_rate * float(plan.n_on_target.sum()) / n_events
        record = record or "triggered"
    else:
        kind = "pseudo-data"
        if not n_on_target:
            raise ValueError("pseudo-data needs n_on_target (EOT)")
        if n_events:
            raise ValueError("pseudo-data is defined by n_on_target; n_events applies to "
                             "process= or signal= samples")
        if bias is not None:
            raise ValueError("pseudo-data is unbiased; bias applies to process= samples")
        plan = plan_exposure(n_on_target, seed, spill_intensity=spill_intensity,
                             spills_per_run=spills_per_run, first_run=first_run)
        record = record or "triggered"
        spec = None
    if record not in ("triggered", "all"):
        raise ValueError(f"record must be 'triggered' or 'all', got {record!r}")

    if spill_range is not None:
        i, j = (int(v) for v in spill_range)
        if not 0 <= i < j <= len(plan):
            raise ValueError(f"spill_range {spill_range} outside the plan's 0..{len(plan)}")
        plan = plan.slice(i, j)
    per_run_eot = plan.per_run()
    run_events = dict.fromkeys(per_run_eot, 0)
    per_process: dict = {}
    runinfo: dict = {}

    def _spill_events(i: int) -> dict:
        run, spill = int(plan.run[i]), int(plan.spill[i])
        parts = []
        if kind == "pseudo-data":
            eot = float(plan.n_on_target[i])
            for s in b.processes.values():
                rng = rng_for(seed, run, spill, int(s.code))
                mean = s.rate * eot * (det.CALIB_PRESCALE if s.calib_only else 1.0)
                batch = b.run_process(s, rng, int(rng.poisson(mean)), ctx, record=record)
                batch.events["mc_weight"] = np.ones(batch.n_recorded)
                _tally(per_process, s.name, batch.n_generated, batch.n_recorded,
                       float(batch.n_recorded))
                parts.append(batch.events)
            ev = concat_events(parts)
            ev = take_events(ev, np.argsort(ev["_t_spill"], kind="stable"))
        elif kind == "background":
            rng = rng_for(seed, run, spill, int(spec.code))
            batch = b.run_process(spec, rng, int(plan.n_generate[i]), ctx, bias=bias,
                                record=record)
            batch.events["mc_weight"] = base_weight * batch.tail_weights
            _tally(per_process, spec.name, batch.n_generated, batch.n_recorded,
                   float(batch.events["mc_weight"].sum()))
            ev = batch.events
        else:
            rng = rng_for(seed, run, spill, int(Process.SIGNAL))
            batch = b.run_generator(generator, (), int(Process.SIGNAL), rng,
                                  int(plan.n_generate[i]), ctx, record=record)
            batch.events["mc_weight"] = np.ones(batch.n_recorded)
            batch.events["mc_mass"] = np.full(batch.n_recorded, mc_mass)
            _tally(per_process, "signal", batch.n_generated, batch.n_recorded,
                   float(batch.n_recorded))
            ev = batch.events
        m = len(ev["trigger"])
        if m >= EVENT_STRIDE:
            raise RuntimeError(f"{m} events in one spill: more than EVENT_STRIDE; use "
                               "smaller spills/blocks")
        ev.pop("_t_spill")
        ev["run"] = np.full(m, run, dtype=np.int32)
        ev["spill"] = np.full(m, spill, dtype=np.int32)
        ev["event"] = spill * EVENT_STRIDE + np.arange(m, dtype=np.int64)
        run_events[run] += m
        return ev

    def _chunks() -> Iterator[dict]:
        total = len(plan)
        for start in range(0, total, chunk_spills):
            stop = min(start + chunk_spills, total)
            ev = concat_events([_spill_events(i) for i in range(start, stop)])
            if progress is not None:
                progress(stop, total)
            if ev and len(ev["trigger"]):
                yield ev
        # runs the moment the writer has consumed the last chunk: runinfo is complete now
        entries = [default_runinfo(int(b.setup), run_events[r], per_run_eot[r], run=r,
                                   beam_energy=b.beam_energy, has_vhcal=has_vhcal,
                                   is_mc=True, mc_seed=seed, mc_model=mc_model,
                                   mc_mass=mc_mass)
                   for r in sorted(per_run_eot)]
        for k in entries[0]:
            runinfo[k] = np.concatenate([e[k] for e in entries])
        if b.beam_pdg is not None:
            runinfo["beam_pdg"][:] = b.beam_pdg

    branches = event_branches(int(b.setup), True)
    spills = plan.spills_tree()
    if out is not None:
        path = write_ntuple(out, _chunks(), runinfo, branches, spills=spills,
                            compression=compression)
        events = None
    else:
        path = None
        events = concat_events(list(_chunks()))
        events = _as_schema(events, branches) if events else _empty_events(branches)
    return SimulationResult(kind=kind, period=period, path=path,
                            n_events=int(sum(run_events.values())),
                            n_on_target=float(sum(per_run_eot.values())), runinfo=runinfo,
                            spills=spills, per_process=per_process, events=events)


def _as_schema(events: dict, branches) -> dict:
    """In-memory events with the dtypes a file would have (schema.py)."""
    import awkward as ak

    out = {}
    for b in branches:
        v = events[b.name]
        out[b.name] = (ak.values_astype(v, b.dtype) if isinstance(v, ak.Array)
                       else np.asarray(v, dtype=b.dtype))
    return out


def _empty_events(branches) -> dict:
    import awkward as ak

    out = {}
    for b in branches:
        if b.jagged:
            out[b.name] = ak.Array(np.zeros((0, 0), dtype=b.dtype))
        else:
            out[b.name] = np.zeros((0,) + b.shape, dtype=b.dtype)
    return out


def plan_for(period: str, *, n_on_target: float, seed: int,
             spill_intensity: float = SPILL_INTENSITY,
             spills_per_run: int = DEFAULT_SPILLS_PER_RUN,
             first_run: int | None = None) -> SpillPlan:
    """The spill plan a pseudo-data ``simulate`` call would use (for chunk bookkeeping)."""
    return plan_exposure(n_on_target, seed, spill_intensity=spill_intensity,
                         spills_per_run=spills_per_run,
                         first_run=FIRST_RUN[str(period)] if first_run is None else first_run)
