"""Write ntuples in the NTUPLE.md layout (TTrees, not RNTuples).

uproot ≥ 5.7 writes an RNTuple for `file[name] = {...}`; TTrees need `mktree` + `extend`
(STACK.md). Tracker hits are written as one jagged record `hit` so that `hit_station`,
`hit_x`, `hit_y` share the single counter branch `n_hits`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from .schema import RUNINFO, SPILLS, Branch, tree_types

HIT_FIELDS = ("station", "x", "y")
HIT_DTYPES = {"station": "int8", "x": "float32", "y": "float32"}

#: Codec of the files the simulation writes. LZ4 decompresses several times faster than
#: ZLIB for a small size cost (measured in benchmarks/, figures in README.md).
DEFAULT_COMPRESSION = "lz4"


def _compression(name: str | None):
    if name is None or name == "none":
        return None
    name = name.lower()
    level = None
    if ":" in name:
        name, lvl = name.split(":", 1)
        level = int(lvl)
    table = {"lz4": uproot.LZ4, "zlib": uproot.ZLIB, "lzma": uproot.LZMA, "zstd": uproot.ZSTD}
    if name not in table:
        raise ValueError(f"unknown compression {name!r}: use one of {sorted(table)} or 'none'")
    cls = table[name]
    return cls(level) if level is not None else cls(1 if name == "lz4" else 4)


def _event_types(branches: Iterable[Branch]) -> dict[str, object]:
    branches = tuple(branches)
    types = tree_types(branches)
    if any(b.jagged for b in branches):
        types["hit"] = ak.types.ListType(
            ak.types.RecordType(
                [ak.types.NumpyType(HIT_DTYPES[f]) for f in HIT_FIELDS], list(HIT_FIELDS)
            )
        )
    return types


def _event_chunk(events: Mapping[str, object], branches: tuple[Branch, ...]) -> dict:
    out: dict[str, object] = {}
    for b in branches:
        if b.jagged or b.name == "n_hits":
            continue
        out[b.name] = np.asarray(events[b.name], dtype=b.dtype)
    if any(b.jagged for b in branches):
        out["hit"] = ak.zip(
            {
                f: ak.values_astype(ak.from_regular(ak.Array(events[f"hit_{f}"]), axis=1),
                                    HIT_DTYPES[f])
                for f in HIT_FIELDS
            }
        )
    return out


def write_ntuple(
    path: str | Path,
    events: Mapping[str, object] | Iterable[Mapping[str, object]],
    runinfo: Mapping[str, object],
    branches: tuple[Branch, ...],
    spills: Mapping[str, object] | None = None,
    compression: str | None = DEFAULT_COMPRESSION,
) -> Path:
    """Write `events` (a dict of arrays, or an iterable of such chunks) and `runinfo`.

    `branches` is the list of event branches to write (see `schema.event_branches`);
    hit fields come in as `hit_station`, `hit_x`, `hit_y` (jagged, awkward or lists).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = [events] if isinstance(events, Mapping) else events
    with uproot.recreate(path, compression=_compression(compression)) as f:
        tree = f.mktree(
            "events",
            _event_types(branches),
            counter_name=lambda name: "n_hits",
            field_name=lambda outer, inner: f"{outer}_{inner}",
            title="NA64 reconstructed events (NTUPLE.md v1)",
        )
        for chunk in chunks:
            tree.extend(_event_chunk(chunk, branches))
        rinfo = f.mktree("runinfo", tree_types(RUNINFO), title="run segments")
        rinfo.extend({b.name: np.atleast_1d(np.asarray(runinfo[b.name], dtype=b.dtype))
                      for b in RUNINFO})
        if spills is not None:
            st = f.mktree("spills", tree_types(SPILLS), title="spills")
            st.extend({b.name: np.asarray(spills[b.name], dtype=b.dtype) for b in SPILLS})
    return path


def default_runinfo(
    setup: int = 1,
    n_events: int = 0,
    n_on_target: float = 0.0,
    *,
    run: int = 1,
    beam_energy: float = 100.0,
    has_vhcal: bool = True,
    is_mc: bool = False,
    mc_seed: int = -1,
    mc_model: int = 0,
    mc_mass: float = float("nan"),
) -> dict[str, np.ndarray]:
    """One `runinfo` entry with every NTUPLE.md branch set (for writers and crafted tests)."""
    pdg = {1: 11, 2: -11, 3: -13, 4: -211}[setup]
    values = dict(
        run=run, setup=setup, beam_pdg=pdg, beam_energy=beam_energy, n_on_target=n_on_target,
        n_events=n_events, has_vhcal=has_vhcal, is_mc=is_mc, mc_seed=mc_seed,
        mc_model=mc_model, mc_mass=mc_mass, schema_version=1,
    )
    return {b.name: np.asarray([values[b.name]], dtype=b.dtype) for b in RUNINFO}


def default_events(
    n: int, branches: tuple[Branch, ...], *, run: int = 1, has_vhcal: bool = True
) -> dict[str, object]:
    """`n` events with every branch present and *empty detectors*: zero energies, t = 0,
    one hit per station 0..3 on the beam axis, no beam track measurement (NaN).

    Starting point for crafted test files; callers overwrite the fields they need.
    """
    ev: dict[str, object] = {}
    for b in branches:
        if b.jagged or b.name == "n_hits":
            continue
        ev[b.name] = np.zeros((n,) + b.shape, dtype=b.dtype)
    ev["run"][:] = run
    ev["event"][:] = np.arange(n)
    ev["trigger"][:] = 1
    for name in ("beam_p", "beam_chi2", "beam_x", "beam_y"):
        ev[name][:] = np.nan
    if "n_tracks_in" in ev:
        ev["n_tracks_in"][:] = 1
    if not has_vhcal:
        ev["vhcal_e"][:] = np.nan
    if "mc_weight" in ev:
        ev["mc_weight"][:] = 1.0
        ev["mc_mass"][:] = np.nan
    if "mu_p_out" in ev:
        ev["mu_p_out"][:] = np.nan
        ev["mu_chi2_out"][:] = np.nan
        ev["mu_theta_out"][:] = np.nan
    stations = np.tile(np.arange(4, dtype=np.int8), (n, 1))
    ev["n_hits"] = np.full(n, 4, dtype=np.int32)
    ev["hit_station"] = ak.Array(stations)
    ev["hit_x"] = ak.Array(np.zeros((n, 4), dtype=np.float32))
    ev["hit_y"] = ak.Array(np.zeros((n, 4), dtype=np.float32))
    return ev
