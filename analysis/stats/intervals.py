"""Upper limits with expected bands, and the ``auto`` method choice.

``upper_limit`` — single-bin counting, limit on the signal *count* (events).
``upper_limit_workspace`` — multi-bin / multi-channel models, limit on the signal strength μ.

Methods (CLs of Read, J. Phys. G 28 (2002) 2693, everywhere):

* ``exact``: event-count CLs with Cousins-Highland priors (:mod:`.counting`).  Single bin only.
* ``toys``: hybrid toys, LEP ``-2 ln Q`` (or q̃_μ) statistic, importance-sampled (:mod:`.toys`).
* ``asymptotic``: pyhf q̃_μ with asymptotic formulae (Cowan et al. arXiv:1007.1727)
  (:mod:`.asymptotic`).
* ``pyhf-toys``: pyhf's profiled toy calculator, NumPy-2.4 safe, grid scan (slow cross-check).

``auto``:

* single-bin counting (``upper_limit``, or a workspace of one bin in total) → ``exact``
  (valid for any counts);
* otherwise ``asymptotic`` only if every bin that carries signal has nominal background
  ``b_i >= 10`` *and* observed ``n_i >= 10`` events (``asymptotic_min_count``; at these
  counts the asymptotic limits agree with the exact ones to a few per cent), else ``toys``.

The result always names the method used; ``auto`` never returns the asymptotic 1.64 for
zero observed events at low background.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pyhf

from .asymptotic import asymptotic_upper_limit, numpy_minuit
from .counting import background_distribution, exact_limit_for_count, exact_upper_limit
from .results import METHODS, LimitResult
from .toys import (
    DEFAULT_NTOYS,
    DEFAULT_SEED,
    ensemble_from_channels,
    ensemble_from_model,
    pyhf_toys_upper_limit,
    toy_upper_limit,
)
from .workspaces import Channel, build_workspace, model_and_data, rough_mu_limit

__all__ = ["upper_limit", "upper_limit_workspace", "choose_method", "ASYMPTOTIC_MIN_COUNT"]

#: minimum nominal background and observed count per signal bin for ``auto`` → asymptotic
ASYMPTOTIC_MIN_COUNT = 10.0

_ASYM_NOTE = ("asymptotic q~_mu CLs via pyhf toms748_scan (Cowan et al. arXiv:1007.1727), numpy "
              "backend + minuit; profiled nuisances")


def choose_method(
    signal, background, observed, *, single_bin_exact: bool = True,
    min_count: float = ASYMPTOTIC_MIN_COUNT,
) -> str:
    """``exact`` / ``asymptotic`` / ``toys`` following the rules in the module docstring."""
    s = np.asarray(signal, float).ravel()
    b = np.asarray(background, float).ravel()
    n = np.asarray(observed, float).ravel()
    if s.size == 1 and single_bin_exact:
        return "exact"
    m = s > 0
    if np.any(m) and b[m].min() >= min_count and n[m].min() >= min_count:
        return "asymptotic"
    return "toys"


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _res(obs, exp, method, cl, notes, unit, details=None) -> LimitResult:
    return LimitResult(
        upper_limit=float(obs), expected=float(exp[2]),
        band=[float(exp[0]), float(exp[1]), float(exp[3]), float(exp[4])],
        method=method, cl=cl, notes=notes, unit=unit, details=details or {},
    )


def upper_limit(
    n_obs: int,
    background: float,
    background_unc: float = 0.0,
    cl: float = 0.9,
    method: str = "auto",
    *,
    signal_rel_unc: float = 0.0,
    ntoys: int | None = None,
    seed: int = DEFAULT_SEED,
    test_stat: str = "lep",
) -> LimitResult:
    """CLs upper limit on the signal count of a single-bin counting experiment.

    ``background_unc`` is absolute (events; Gamma prior), ``signal_rel_unc`` relative
    (log-normal prior, σ_ln = ln(1 + δ)).  ``method="auto"`` → ``exact``.  ``ntoys``
    defaults to 20000 for ``toys`` and 500 per scan point for ``pyhf-toys``.
    """
    _check_method(method)
    if not 0 < cl < 1:
        raise ValueError("cl must be in (0, 1)")
    if int(n_obs) != n_obs or n_obs < 0:
        raise ValueError("n_obs must be a non-negative integer")
    n_obs = int(n_obs)
    s_log = math.log1p(signal_rel_unc)
    if method in ("auto", "exact"):
        r = exact_upper_limit(n_obs, background, background_unc, cl, s_log)
        if method == "auto":
            r.notes = "auto -> exact (single-bin counting); " + r.notes
        return r
    ch = Channel(
        "counting", [1.0], [background], [background_unc], [n_obs],
        systematics={"signal_unc": signal_rel_unc} if signal_rel_unc > 0 else {},
    )
    kw = {"pyhf_ntoys": ntoys} if (method == "pyhf-toys" and ntoys) else {"ntoys": ntoys or DEFAULT_NTOYS}
    r = upper_limit_workspace([ch], cl=cl, method=method, seed=seed, test_stat=test_stat, **kw)
    r.unit = "events"
    return r


def _normalise_input(spec, data):
    """→ (channels or None, model or None, data or None)."""
    if isinstance(spec, Channel):
        return [spec], None, None
    if isinstance(spec, Sequence) and spec and all(isinstance(c, Channel) for c in spec):
        return list(spec), None, None
    if isinstance(spec, pyhf.pdf.Model):
        if data is None:
            raise ValueError("data are required with a pyhf.Model")
        d = np.asarray(data, float)
        if d.size == spec.config.nmaindata:
            d = np.concatenate([d, np.asarray(spec.config.auxdata, float)])
        return None, spec, d
    if isinstance(spec, Mapping):
        model, d = model_and_data(spec)
        if data is not None:
            d2 = np.asarray(data, float)
            d = np.concatenate([d2, d[model.config.nmaindata:]]) if d2.size == model.config.nmaindata else d2
        return None, model, d
    raise TypeError("expected Channel(s), a pyhf.Workspace/spec dict or a pyhf.Model")


def _nominal(model) -> tuple[np.ndarray, np.ndarray]:
    init = np.asarray(model.config.suggested_init(), float)
    i = model.config.poi_index
    p0, p1 = init.copy(), init.copy()
    p0[i], p1[i] = 0.0, 1.0
    with numpy_minuit():
        b = np.asarray(model.expected_actualdata(p0), float)
        s = np.asarray(model.expected_actualdata(p1), float) - b
    return s, b


def _toy_guesses(s, b, n, channels, cl) -> list[float]:
    """First guesses of the median expected and observed μ limits: the exact single-bin
    limits for the summed counts (signal-weighted bins only), divided by the summed signal."""
    m = s > 0
    S, B, N = float(s[m].sum()), float(b[m].sum()), int(n[m].sum())
    sb = 0.0
    if channels is not None:
        sb = math.sqrt(sum(float((c.background_unc[c.signal_yield > 0] ** 2).sum()) for c in channels))
    n_med = int(background_distribution(B, sb).ppf(0.5))
    return [exact_limit_for_count(k, B, sb, 0.0, cl) / S for k in (n_med, N)]


def upper_limit_workspace(
    spec,
    data=None,
    cl: float = 0.9,
    method: str = "auto",
    *,
    ntoys: int = DEFAULT_NTOYS,
    seed: int = DEFAULT_SEED,
    test_stat: str = "lep",
    asymptotic_min_count: float = ASYMPTOTIC_MIN_COUNT,
    scan=None,
    pyhf_ntoys: int = 500,
) -> LimitResult:
    """CLs upper limit on the signal strength μ, with expected median and band.

    ``spec``: a :class:`Channel`, a list of them, a :class:`pyhf.Workspace` (or spec dict;
    ``data`` then optional) or a :class:`pyhf.Model` with ``data`` (observations, with or
    without auxdata).  ``method``: ``auto`` | ``exact`` (one bin in total only) | ``toys`` |
    ``asymptotic`` | ``pyhf-toys`` (``scan``: μ grid, default 10 points around a rough
    limit; ``pyhf_ntoys`` per point).  ``unit`` of the result is ``"mu"``.
    """
    _check_method(method)
    if not 0 < cl < 1:
        raise ValueError("cl must be in (0, 1)")
    channels, model, d = _normalise_input(spec, data)
    if channels is not None:
        s = np.concatenate([c.signal_yield for c in channels])
        b = np.concatenate([c.background for c in channels])
        n = np.concatenate([c.observed for c in channels]).astype(float)
        mu_guess = rough_mu_limit(channels)
    else:
        s, b = _nominal(model)
        n = d[: model.config.nmaindata]
        if s.sum() <= 0:
            raise ValueError("total signal yield is zero")
        mu_guess = (n.sum() + 3.0 * math.sqrt(b.sum() + 1.0) + 3.0) / s.sum()
    used = method
    prefix = ""
    if method == "auto":
        used = choose_method(s, b, n, single_bin_exact=channels is not None, min_count=asymptotic_min_count)
        prefix = f"auto -> {used} (min signal-bin background {b[s > 0].min():.3g}, observed {n[s > 0].min():.0f}); "

    if used == "exact":
        if channels is None or s.size != 1:
            raise ValueError("method='exact' needs a single-bin Channel model")
        ch = channels[0]
        s0 = float(ch.signal_yield[0])
        if s0 <= 0:
            raise ValueError("signal yield is zero")
        r = exact_upper_limit(int(ch.observed[0]), float(ch.background[0]), float(ch.background_unc[0]),
                              cl, ch.signal_log_unc())
        r = r.scaled(1.0 / s0, unit="mu")
        r.notes = prefix + r.notes + f"; mu = N_sig / {s0:.6g}"
        return r

    if used == "toys":
        if channels is not None:
            ens = ensemble_from_channels(channels, ntoys, seed)
        else:
            ens = ensemble_from_model(model, d, ntoys, seed)
        obs, exp, info = toy_upper_limit(ens, n, cl, test_stat=test_stat, seed=seed + 1,
                                         mu_guess=_toy_guesses(s, b, n, channels, cl))
        notes = (prefix + f"hybrid toys (Cousins-Highland priors: {ens.description}), "
                 f"{test_stat} statistic, {ens.ntoys} importance-sampled toys, "
                 f"ESS(b) {info['ess_b']:.0f}, ESS(s+b at limit) {info['ess_sb_at_limit']:.0f}")
        if min(info["ess_b"], info["ess_sb_at_limit"]) < 1000:
            notes += "; WARNING low effective sample size: increase ntoys"
        return _res(obs, exp, "toys", cl, notes, "mu", info)

    if model is None:
        model, d = model_and_data(build_workspace(channels))
    if used == "asymptotic":
        obs, exp = asymptotic_upper_limit(model, d, cl, mu_guess=mu_guess)
        notes = prefix + _ASYM_NOTE
        m = s > 0
        if b[m].min() < asymptotic_min_count or n[m].min() < asymptotic_min_count:
            notes += ("; WARNING counts below %g in a signal bin: asymptotic formulae are not "
                      "valid here (use exact/toys)" % asymptotic_min_count)
        return _res(obs, exp, "asymptotic", cl, notes, "mu")

    # pyhf-toys
    grid = np.asarray(scan, float) if scan is not None else mu_guess * np.linspace(0.1, 1.5, 10)
    obs, exp = pyhf_toys_upper_limit(model, d, grid, cl, ntoys=pyhf_ntoys, seed=seed)
    notes = (prefix + f"pyhf ToyCalculator (profiled q~_mu), {pyhf_ntoys} toys per point, "
             f"grid of {len(grid)} points, linear interpolation; expected band from "
             "np.percentile(method='linear')")
    return _res(obs, exp, "pyhf-toys", cl, notes, "mu")

