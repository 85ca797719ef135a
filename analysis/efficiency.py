"""Simulated signal efficiency of a selection, for projections (`na64 project` without
`--efficiency`).

For each mass of a small grid the signal simulation generates events with E_X above a
generation cut a few ECAL resolutions below the threshold, the selection (with its
missing-energy threshold overridden when asked) is applied with the real processor, and the
efficiency is the selected fraction of the events produced with E_X above the threshold. It
therefore pairs with the production yield above the threshold
(`efficiency_includes_threshold=False` in analysis.limits), and it is smooth in mass, so it
interpolates safely. Events produced just below the threshold that the ECAL resolution
pushes into the box are counted in the numerator: that migration is real.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import uproot

from .limits import Efficiency
from .selection import Selection, load_selection

#: built-in selections by setup, with their missing-energy thresholds (GeV)
BUILTIN_SELECTIONS = {
    "electron": {"selections/na64e_2023_vhcal.yaml": 40.0,
                 "selections/na64e_2016_2022.yaml": 50.0},
}
#: masses (GeV) simulated for the efficiency table of the electron setup
ELECTRON_MASS_GRID = (0.001, 0.01, 0.1, 0.3, 1.0)
#: ECAL resolution margin below the threshold for the generation cut (GeV)
GENERATION_MARGIN = 6.0


def default_selection(setup: str, threshold: float | None) -> str:
    """The built-in selection of `setup` whose threshold is nearest to `threshold`."""
    if setup not in BUILTIN_SELECTIONS:
        raise ValueError(f"no built-in selection for setup {setup!r}: pass --selection or "
                         "--efficiency")
    table = BUILTIN_SELECTIONS[setup]
    if threshold is None:
        return next(iter(table))
    return min(table, key=lambda k: abs(table[k] - threshold))


def with_threshold(selection: Selection, threshold: float | None) -> Selection:
    """A copy of `selection` with every `missing_energy` cut at `threshold` (GeV)."""
    if threshold is None:
        return selection
    data = selection.to_dict()
    found = False
    for c in data["cuts"]:
        if c["cut"] == "missing_energy":
            c["params"]["threshold"] = float(threshold)
            found = True
    if not found:
        raise ValueError(f"selection {selection.name} has no missing_energy cut to set the "
                         f"threshold {threshold} GeV on")
    return Selection.from_dict(data, source=f"{selection.source} (threshold {threshold:g} GeV)")


def _threshold(selection: Selection) -> float:
    for c in selection.to_dict()["cuts"]:
        if c["cut"] == "missing_energy":
            return float(c["params"]["threshold"])
    raise ValueError(f"selection {selection.name} has no missing_energy cut")


def simulated_efficiency(selection, setup: str, masses=None, *, threshold: float | None = None,
                         model: str = "dark-photon", n_events: int = 3000, seed: int = 7,
                         workdir: str | Path | None = None) -> Efficiency:
    """Efficiency table (mass → selected / produced with E_X > threshold) from fresh signal
    simulation of `setup` (electron only so far); `masses` only bounds the grid."""
    from .execution import run
    from .simulation import simulate

    if setup != "electron":
        raise NotImplementedError(f"simulated efficiencies for setup {setup!r} are not "
                                  "available here: pass --efficiency")
    path = selection or default_selection(setup, threshold)
    sel = load_selection(path) if not isinstance(selection, Selection) else selection
    sel = with_threshold(sel, threshold)
    thr = _threshold(sel)
    grid = list(ELECTRON_MASS_GRID)
    if masses is not None:
        m = np.atleast_1d(np.asarray(masses, dtype=float))
        grid = sorted({g for g in grid if m.min() / 10 <= g <= m.max() * 10}
                      | {float(m.min()), float(m.max())})
    effs = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        files = {}
        for i, mass in enumerate(grid):
            f = Path(tmp) / f"signal-{i}.root"
            simulate(setup, sel.config.period, signal=model, mass=mass, n_events=n_events,
                     seed=seed + i, out=f, min_invisible_energy=max(thr - GENERATION_MARGIN, 0.0))
            files[f"m{i}"] = [str(f)]
        res = run(sel, files, executor="iterative", progress=False)
        for i in range(len(grid)):
            e_x = uproot.open(files[f"m{i}"][0])["events"]["mc_invisible_e"].array(library="np")
            produced = int(np.count_nonzero(e_x > thr))
            selected = float(res[f"m{i}"]["cutflow"]["weighted"][-1])
            effs.append(selected / produced if produced else 0.0)
    return Efficiency.table(grid, effs, source=f"signal simulation with {sel.source}, "
                            f"E_X > {thr:g} GeV, {n_events} events per mass")
