"""pyhf workspaces for counting, multi-bin and multi-period/multi-beam searches.

Input is a list of :class:`Channel` (one per run period / beam / detector configuration);
each channel becomes one pyhf channel with two samples, ``signal`` and ``background``
(HistFactory, Cranmer et al. CERN-OPEN-2012-016; pyhf, Heinrich et al. JOSS 6 (2021) 2823).

Modifiers and the priors they stand for:

* ``mu`` (``normfactor``) — parameter of interest, scales every channel's signal.
* Background uncertainty: ``shapesys`` named ``bkg_<channel>``, one γ per bin, uncorrelated
  between bins and channels, Poisson-constrained with ``τ = (b/σ_b)^2`` (Barlow & Beeston,
  Comput. Phys. Commun. 77 (1993) 219).  As a prior this is ``Gamma(mean b, sd σ_b)``, the
  same prior the exact counting construction (:mod:`.counting`) and the toys use.
  A constrained *absolute* uncertainty therefore enters as ``σ_b`` in events.
* Signal-yield systematics: ``normsys`` with ``hi = 1 + δ``, ``lo = 1/(1 + δ)``, a
  Gaussian-constrained θ; with ``code1`` (exponential) interpolation, which
  :func:`model_and_data` selects, the yield factor is exactly ``(1 + δ)^θ``, i.e. a
  log-normal prior of median 1 and ``σ_ln = ln(1 + δ)``.  Names:

  - ``pot_<channel>``: particles-on-target counting (lumi-like, one per channel unless
    ``pot_name`` makes channels share a beam counter);
  - ``xsec`` (``xsec_name``): production cross section (WW vs exact-tree-level and
    form-factor choices, ~10 %, arXiv:2409.12748); channels that share the same name are
    fully correlated (same θ), channels with different beams/targets can use different
    names;
  - ``eff_<channel>``: signal efficiency (``efficiency_name`` to correlate);
  - any further ``systematics={name: δ}``; equal names in different channels are one
    parameter (fully correlated).

pyhf's own ``lumi`` modifier is not used for POT: it is a Gaussian on the yield factor (can
go negative) and is configured through the measurement; ``normsys`` keeps all signal-yield
priors log-normal and per-channel names easy to correlate.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pyhf

__all__ = [
    "Channel",
    "build_workspace",
    "counting_workspace",
    "model_and_data",
    "MODIFIER_SETTINGS",
    "workspace_from_json",
    "rough_mu_limit",
]

#: normsys with exponential interpolation: exactly log-normal for hi = 1/lo.
MODIFIER_SETTINGS = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code4p"}}


def _arr(x, n: int | None = None, name: str = "") -> np.ndarray:
    a = np.atleast_1d(np.asarray(x, dtype=float))
    if n is not None and a.size == 1 and n > 1:
        a = np.full(n, float(a[0]))
    if n is not None and a.size != n:
        raise ValueError(f"{name}: expected {n} bins, got {a.size}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name}: values must be finite and >= 0")
    return a


@dataclass
class Channel:
    """One run period / beam / detector configuration of a search.

    ``signal`` is the expected signal per bin for ``mu = 1`` *before* ``exposure`` and
    ``efficiency`` are applied: the yield entering the fit is
    ``signal * exposure * efficiency`` (so ``signal`` may be "events per 1e10 EOT per unit
    ε²" with ``exposure`` in units of 1e10 EOT, or simply the yield with the defaults 1).
    ``background`` and ``background_unc`` (absolute, events, per bin, uncorrelated between
    bins) and ``observed`` counts are per bin.  Relative signal-yield uncertainties:
    ``pot_unc``, ``xsec_unc``, ``efficiency_unc`` and ``systematics`` (see module doc for
    the modifier names and correlations).
    """

    name: str
    signal: Sequence[float] | float
    background: Sequence[float] | float
    background_unc: Sequence[float] | float = 0.0
    observed: Sequence[int] | int | None = None
    exposure: float = 1.0
    efficiency: float = 1.0
    pot_unc: float = 0.0
    xsec_unc: float = 0.0
    efficiency_unc: float = 0.0
    systematics: Mapping[str, float] = field(default_factory=dict)
    pot_name: str | None = None
    xsec_name: str = "xsec"
    efficiency_name: str | None = None

    def __post_init__(self) -> None:
        self.signal = _arr(self.signal, name=f"{self.name}.signal")
        n = self.signal.size
        self.background = _arr(self.background, n, f"{self.name}.background")
        self.background_unc = _arr(self.background_unc, n, f"{self.name}.background_unc")
        if self.observed is None:
            raise ValueError(f"{self.name}: observed counts are required")
        obs = _arr(self.observed, n, f"{self.name}.observed")
        if np.any(obs != np.round(obs)):
            raise ValueError(f"{self.name}: observed counts must be integers")
        self.observed = obs.astype(int)
        for k in ("exposure", "efficiency", "pot_unc", "xsec_unc", "efficiency_unc"):
            v = float(getattr(self, k))
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{self.name}.{k} must be finite and >= 0")
            setattr(self, k, v)
        for k, v in self.systematics.items():
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{self.name}.systematics[{k}] must be finite and >= 0")

    @property
    def nbins(self) -> int:
        return int(self.signal.size)

    @property
    def signal_yield(self) -> np.ndarray:
        """Expected signal per bin at ``mu = 1``: ``signal * exposure * efficiency``."""
        return self.signal * self.exposure * self.efficiency

    def signal_systematics(self) -> dict[str, float]:
        """Relative signal-yield uncertainties by modifier name (zeros dropped)."""
        out: dict[str, float] = {}
        named = (
            (self.pot_name or f"pot_{self.name}", self.pot_unc),
            (self.xsec_name, self.xsec_unc),
            (self.efficiency_name or f"eff_{self.name}", self.efficiency_unc),
            *self.systematics.items(),
        )
        for k, v in named:
            if v > 0:
                if k in out:
                    raise ValueError(f"{self.name}: systematic {k!r} given twice")
                out[k] = float(v)
        return out

    def signal_log_unc(self) -> float:
        """Total σ_ln of the signal yield: sqrt(Σ ln(1+δ)²) (independent log-normals)."""
        return math.sqrt(sum(math.log1p(d) ** 2 for d in self.signal_systematics().values()))

    def with_signal(self, signal) -> "Channel":
        """Copy with another signal template (e.g. for another mass)."""
        c = copy.copy(self)
        c.signal = _arr(signal, self.nbins, f"{self.name}.signal")
        return c


def _channel_spec(ch: Channel, poi: str) -> tuple[dict, dict]:
    sig_mods: list[dict] = [{"name": poi, "type": "normfactor", "data": None}]
    for k, d in ch.signal_systematics().items():
        sig_mods.append({"name": k, "type": "normsys", "data": {"hi": 1.0 + d, "lo": 1.0 / (1.0 + d)}})
    bkg_mods: list[dict] = []
    unc = np.where(ch.background > 0, ch.background_unc, 0.0)
    if np.any(unc > 0):
        bkg_mods.append({"name": f"bkg_{ch.name}", "type": "shapesys", "data": unc.tolist()})
    spec = {
        "name": ch.name,
        "samples": [
            {"name": "signal", "data": ch.signal_yield.tolist(), "modifiers": sig_mods},
            {"name": "background", "data": ch.background.tolist(), "modifiers": bkg_mods},
        ],
    }
    return spec, {"name": ch.name, "data": ch.observed.tolist()}


def build_workspace(
    channels: Sequence[Channel] | Channel,
    *,
    poi_name: str = "mu",
    poi_bounds: tuple[float, float] | None = None,
    measurement: str = "NA64",
) -> pyhf.Workspace:
    """A validated :class:`pyhf.Workspace` (a JSON-serialisable dict) for ``channels``.

    ``poi_bounds`` defaults to ``[0, max(10, 100 × rough limit)]`` where the rough limit is
    ``(n_obs + 3 sqrt(b + σ_b² + 1) + 3) / s`` on the totals of the channels.
    """
    if isinstance(channels, Channel):
        channels = [channels]
    if not channels:
        raise ValueError("no channels")
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise ValueError(f"channel names must be unique: {names}")
    chans, obs = zip(*(_channel_spec(c, poi_name) for c in channels))
    if poi_bounds is None:
        poi_bounds = (0.0, max(10.0, 100.0 * rough_mu_limit(channels)))
    spec = {
        "version": "1.0.0",
        "channels": list(chans),
        "observations": list(obs),
        "measurements": [
            {
                "name": measurement,
                "config": {
                    "poi": poi_name,
                    "parameters": [{"name": poi_name, "bounds": [[float(poi_bounds[0]), float(poi_bounds[1])]]}],
                },
            }
        ],
    }
    return pyhf.Workspace(spec)


def rough_mu_limit(channels: Sequence[Channel]) -> float:
    """Order-of-magnitude μ limit used for POI bounds and scan brackets (not a result)."""
    s = sum(float(c.signal_yield.sum()) for c in channels)
    n = sum(float(c.observed.sum()) for c in channels)
    v = sum(float(c.background.sum() + (c.background_unc**2).sum()) for c in channels)
    if s <= 0:
        raise ValueError("total signal yield is zero: no limit can be set")
    return (n + 3.0 * math.sqrt(v + 1.0) + 3.0) / s


def counting_workspace(
    n_obs: int,
    background: float,
    background_unc: float = 0.0,
    *,
    signal: float = 1.0,
    signal_rel_unc: float = 0.0,
    name: str = "counting",
) -> pyhf.Workspace:
    """Single-bin counting workspace; with ``signal = 1`` the POI is the signal count."""
    ch = Channel(
        name, [signal], [background], [background_unc], [n_obs],
        systematics={"signal_unc": signal_rel_unc} if signal_rel_unc > 0 else {},
    )
    return build_workspace([ch])


def model_and_data(
    workspace: pyhf.Workspace | Mapping, *, batch_size: int | None = None
) -> tuple[pyhf.pdf.Model, np.ndarray]:
    """``(model, data)`` with ``normsys`` interpolation ``code1`` (exact log-normal).

    ``data`` contains the observations followed by the auxiliary data.
    """
    ws = workspace if isinstance(workspace, pyhf.Workspace) else pyhf.Workspace(dict(workspace))
    model = ws.model(modifier_settings=copy.deepcopy(MODIFIER_SETTINGS), batch_size=batch_size)
    return model, np.asarray(ws.data(model), dtype=float)


def workspace_from_json(text: str) -> pyhf.Workspace:
    """Inverse of ``json.dumps(workspace)``; validates against pyhf's schema."""
    return pyhf.Workspace(json.loads(text))
