"""From a limit on the signal count / strength to a limit on a coupling, per mass.

Signal yields scale as ``N_sig(m; c) = N_sig(m; c_ref) (c / c_ref)^p`` with ``p = 2`` for
production-only signals quoted in a coupling (ε of the dark photon, g of a Z′, c of a
spin-2 mediator: rates ∝ coupling², PHYSICS.md §3) and ``p = 1`` for a branching ratio
(invisible meson decays).  Hence

    c_up(m) = c_ref (N_up / N_sig(m; c_ref))^(1/p)

* single-bin analyses in which only the signal yield depends on the mass: the count limit
  ``N_up`` (and its band) is computed **once** and rescaled for all masses
  (:func:`scan_rescaled`, :func:`rescale_limit`) — exact, because the CLs limit on the
  count does not depend on the signal model when the signal shape is one bin;
* multi-bin / multi-period / multi-beam combinations: the relative weights of the bins
  change with the mass, so one limit is computed per mass point (:func:`scan_combined`).

Signal yields are inputs (expected counts at ``c_ref``, e.g. per unit ε² with
``c_ref = 1``); this module does not compute physics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .intervals import upper_limit, upper_limit_workspace
from .results import LimitResult, _clean
from .toys import DEFAULT_NTOYS, DEFAULT_SEED
from .workspaces import Channel

__all__ = ["ScanResult", "coupling_from_count_limit", "rescale_limit", "scan_rescaled", "scan_combined"]


def coupling_from_count_limit(n_up, n_sig_ref, coupling_ref: float = 1.0, power: float = 2.0) -> np.ndarray:
    """``c_up = c_ref (n_up / n_sig_ref)^(1/power)``, vectorised (inf where n_sig_ref <= 0)."""
    n_up = np.asarray(n_up, float)
    ref = np.asarray(n_sig_ref, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = coupling_ref * np.power(np.where(ref > 0, n_up / ref, np.inf), 1.0 / power)
    return np.where(ref > 0, out, np.inf)


@dataclass
class ScanResult:
    """Coupling limits vs mass: ``observed``, ``expected`` (nmass,), ``band`` (nmass, 4)
    ordered ``[-2σ, -1σ, +1σ, +2σ]``."""

    observed: np.ndarray
    expected: np.ndarray
    band: np.ndarray
    method: str | list[str]
    cl: float
    power: float
    coupling: str = "coupling"
    masses: np.ndarray | None = None
    notes: str = ""
    count_limit: LimitResult | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "coupling": self.coupling, "power": self.power, "cl": self.cl,
            "method": self.method, "masses": self.masses, "observed": self.observed,
            "expected": self.expected, "band": self.band, "notes": self.notes,
        }
        if self.count_limit is not None:
            d["count_limit"] = self.count_limit.to_dict()
        return _clean(d)


def rescale_limit(
    limit: LimitResult,
    n_sig_ref,
    *,
    coupling_ref: float = 1.0,
    power: float = 2.0,
    masses=None,
    coupling: str = "coupling",
) -> ScanResult:
    """Turn one count limit (with band) into coupling limits for every mass at once."""
    ref = np.asarray(n_sig_ref, float)
    exp = np.asarray(limit.expected_set, float)  # (5,)
    obs = coupling_from_count_limit(limit.upper_limit, ref, coupling_ref, power)
    allexp = coupling_from_count_limit(exp[None, :], ref[..., None], coupling_ref, power)
    return ScanResult(
        observed=obs, expected=allexp[..., 2], band=allexp[..., [0, 1, 3, 4]],
        method=limit.method, cl=limit.cl, power=power, coupling=coupling,
        masses=None if masses is None else np.asarray(masses, float),
        notes=f"count limit computed once and rescaled: {coupling} = {coupling_ref:g} * "
        f"(N_up / N_sig(m; {coupling_ref:g}))^(1/{power:g}); " + limit.notes,
        count_limit=limit,
    )


def scan_rescaled(
    n_obs: int,
    background: float,
    n_sig_ref,
    background_unc: float = 0.0,
    cl: float = 0.9,
    method: str = "auto",
    *,
    signal_rel_unc: float = 0.0,
    coupling_ref: float = 1.0,
    power: float = 2.0,
    masses=None,
    coupling: str = "coupling",
    **kw: Any,
) -> ScanResult:
    """Single-bin scan: one :func:`~.intervals.upper_limit` on the count, then rescaling."""
    lim = upper_limit(n_obs, background, background_unc, cl, method, signal_rel_unc=signal_rel_unc, **kw)
    return rescale_limit(lim, n_sig_ref, coupling_ref=coupling_ref, power=power, masses=masses, coupling=coupling)


def scan_combined(
    channels: Sequence[Channel],
    signal_ref: Sequence,
    *,
    cl: float = 0.9,
    method: str = "auto",
    coupling_ref: float = 1.0,
    power: float = 2.0,
    masses=None,
    coupling: str = "coupling",
    ntoys: int = DEFAULT_NTOYS,
    seed: int = DEFAULT_SEED,
    **kw: Any,
) -> ScanResult:
    """Combined multi-channel scan: one limit per mass point.

    ``channels`` give background, uncertainties, observations, exposure, efficiency and
    systematics; ``signal_ref[k]`` is channel ``k``'s ``signal`` (before exposure and
    efficiency) at ``coupling_ref`` for every mass, shape ``(nmass, nbins_k)`` or
    ``(nmass,)`` for one-bin channels.  Per mass the templates are normalised to one signal
    event in total (well-conditioned fits), the μ limit is computed with
    :func:`~.intervals.upper_limit_workspace` (same ``seed`` for every mass: common random
    numbers give smooth curves) and converted to the coupling.
    """
    if len(signal_ref) != len(channels):
        raise ValueError("one signal_ref array per channel")
    sig = [np.asarray(a, float).reshape(len(a), -1) for a in signal_ref]
    nm = {a.shape[0] for a in sig}
    if len(nm) != 1:
        raise ValueError("all signal_ref arrays need the same number of masses")
    nmass = nm.pop()
    obs = np.full(nmass, np.inf)
    exp = np.full((nmass, 5), np.inf)
    methods: list[str] = []
    for i in range(nmass):
        total = sum(float((a[i] * c.exposure * c.efficiency).sum()) for a, c in zip(sig, channels))
        if not total > 0:
            methods.append("none (zero signal)")
            continue
        chans = [c.with_signal(a[i] / total) for a, c in zip(sig, channels)]
        r = upper_limit_workspace(chans, cl=cl, method=method, ntoys=ntoys, seed=seed, **kw)
        methods.append(r.method)
        obs[i] = coupling_ref * (r.upper_limit / total) ** (1.0 / power)
        exp[i] = coupling_ref * (np.asarray(r.expected_set) / total) ** (1.0 / power)
    used = sorted({m for m in methods if not m.startswith("none")}) or ["none"]
    return ScanResult(
        observed=obs, expected=exp[:, 2], band=exp[:, [0, 1, 3, 4]],
        method=used[0] if len(used) == 1 else methods, cl=cl, power=power, coupling=coupling,
        masses=None if masses is None else np.asarray(masses, float),
        notes=f"one combined fit per mass ({len(channels)} channels); {coupling} = "
        f"{coupling_ref:g} * (mu_up)^(1/{power:g}) with mu = ({coupling}/{coupling_ref:g})^{power:g}",
        details={"methods": methods},
    )
