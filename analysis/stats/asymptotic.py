"""Asymptotic CLs limits through pyhf, with the pyhf 0.7.6 pitfalls handled.

Method: profile-likelihood test statistic q̃_μ and its asymptotic (Wald/Asimov)
distributions, Cowan, Cranmer, Gross & Vitells, Eur. Phys. J. C 71 (2011) 1554,
arXiv:1007.1727 (eq. 16 and §3.7), CLs of Read 2002, as implemented in
``pyhf.infer.hypotest``; limits by ``pyhf.infer.intervals.upper_limits.toms748_scan``
(Alefeld, Potra & Shi's TOMS 748 root finder).  Expected band: the Asimov ±Nσ CLs values
(arXiv:1007.1727 §4.3/eq. 89), as pyhf returns them.

Valid only when every bin that carries signal has a large expected count: with 0 observed
events the 90% CL limit is ≈1.64 events instead of the exact 2.30.

pyhf 0.7.6 pitfalls handled here:

* ``upper_limit(scan=None)`` ignores ``level`` → we call ``toms748_scan(level=1 - cl)``.
* CLs at μ = 0 is NaN → the lower bracket is kept strictly above 0.
* SciPy ≥ 1.16 SLSQP can return NaN → the ``minuit`` optimizer is used.
* The JAX backend breaks ``toms748_scan`` → the NumPy backend is forced.
  Both are set only inside :func:`numpy_minuit` and the caller's backend is restored.
* iminuit ≥ 2.32 returns no covariance when every parameter is fixed (e.g. the conditional
  fit of a model whose only parameter is μ) and pyhf 0.7.6 then crashes in
  ``hess_inv.correlation()`` (scikit-hep/pyhf#2637, fixed upstream by PR #2683 after
  0.7.6) → :class:`MinuitOptimizer` applies the same guard.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Iterator

import numpy as np
import pyhf
import scipy.optimize
from pyhf.infer.intervals.upper_limits import toms748_scan

__all__ = ["numpy_minuit", "asymptotic_upper_limit", "asymptotic_hypotest", "MinuitOptimizer"]


class MinuitOptimizer(pyhf.optimize.minuit_optimizer):
    """pyhf's Minuit optimizer, tolerating fits without free parameters.

    Guard of scikit-hep/pyhf#2637 / PR #2683: when iminuit (≥ 2.32) has no covariance
    because all parameters are fixed, return the fit result without covariance/correlation
    instead of raising ``AttributeError``.
    """

    def _minimize(self, minimizer, func, x0, do_grad=False, bounds=None, fixed_vals=None, options={}):
        try:
            return super()._minimize(
                minimizer, func, x0, do_grad=do_grad, bounds=bounds, fixed_vals=fixed_vals, options=options
            )
        except AttributeError:
            if not (minimizer.valid and minimizer.covariance is None):
                raise
        return scipy.optimize.OptimizeResult(
            x=minimizer.values, unc=minimizer.errors, corr=None, success=minimizer.valid,
            fun=minimizer.fval, hess_inv=None, message="Optimization terminated successfully.",
            nfev=minimizer.nfcn, njev=minimizer.ngrad, minuit=minimizer,
        )


@contextlib.contextmanager
def numpy_minuit() -> Iterator[None]:
    """Temporarily use pyhf's NumPy backend with :class:`MinuitOptimizer` (then restore)."""
    saved = pyhf.get_backend()
    pyhf.set_backend("numpy", MinuitOptimizer(verbose=0))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Hesse called with all parameters fixed")
            yield
    finally:
        pyhf.set_backend(*saved)


def _bounds(model, poi_max: float | None) -> list[tuple[float, float]]:
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    i = model.config.poi_index
    lo, hi = bounds[i]
    if poi_max is not None:
        hi = max(hi, poi_max)
    bounds[i] = (max(lo, 0.0), hi)
    return bounds


def asymptotic_hypotest(mu: float, model, data, poi_max: float | None = None):
    """pyhf asymptotic q̃_μ hypotest (CLs_obs, [CLs_exp -2σ..+2σ]) with minuit/numpy."""
    if mu <= 0:
        raise ValueError("CLs at mu = 0 is undefined (NaN in pyhf); test mu > 0")
    with numpy_minuit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        obs, exp = pyhf.infer.hypotest(
            float(mu), np.asarray(data, float), model, test_stat="qtilde",
            return_expected_set=True, par_bounds=_bounds(model, poi_max),
        )
    return float(obs), [float(e) for e in exp]


def asymptotic_upper_limit(
    model, data, cl: float = 0.9, mu_guess: float = 1.0, rtol: float = 1e-4
) -> tuple[float, list[float]]:
    """Observed and expected (−2σ…+2σ) asymptotic CLs limits on the POI.

    ``mu_guess`` only sets the initial bracket ``[mu_guess/20, 2 mu_guess]`` (toms748_scan
    halves/doubles it until it brackets every curve; the lower end stays > 0).
    """
    if not 0 < cl < 1:
        raise ValueError("cl must be in (0, 1)")
    lo, hi = mu_guess / 20.0, 2.0 * mu_guess
    poi_max = 1e3 * mu_guess
    with numpy_minuit(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        obs, exp = toms748_scan(
            np.asarray(data, float), model, lo, hi, level=1.0 - cl, rtol=rtol,
            test_stat="qtilde", par_bounds=_bounds(model, poi_max),
        )
    obs = float(obs)
    exp = [float(e) for e in exp]
    if not all(math.isfinite(v) for v in [obs, *exp]):
        raise RuntimeError(f"pyhf asymptotic scan returned non-finite limits: {obs}, {exp}")
    return obs, exp
