"""Background estimates for the signal box in the (E_ECAL, E_HCAL) plane.

Three estimates, each returned with a statistical and a systematic uncertainty and a
sentence saying how they were obtained:

* `tail_extrapolation` — data-driven: the distribution along one axis of the plane is fitted
  in a sideband next to the box and the fit is integrated over the box. This is the NA64
  method: the (E_ECAL, E_HCAL) tails are extrapolated from a sideband (E_HCAL < 1.5 GeV)
  into the signal box (PHYSICS.md §1; arXiv:2503.11275, arXiv:2307.02404).
* `abcd` — data-driven: N_D = N_A N_B / N_C from the three regions that share the box's
  boundaries; valid only where E_ECAL and E_HCAL factorise outside the box, so its closure on
  simulation is what tells whether it can be used.
* `simulation_estimate` — per-process sum of weights in the box of the biased simulation,
  scaled to the exposure (particles on target) of the data.

`closure` runs a data-driven method on simulation and compares with the simulation truth.
Input planes are plain arrays so the module does not depend on how histograms were filled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from iminuit import Minuit


@dataclass(frozen=True)
class SignalBox:
    """The signal region: E_ECAL < ecal_max (i.e. E_miss > E_beam − ecal_max), E_HCAL < hcal_max."""

    ecal_max: float
    hcal_max: float


@dataclass
class Plane:
    """A 2D histogram in (E_ECAL, E_HCAL): summed weights, summed squared weights, edges (GeV)."""

    values: np.ndarray
    variances: np.ndarray
    ecal_edges: np.ndarray
    hcal_edges: np.ndarray

    @classmethod
    def from_hist(cls, h) -> "Plane":
        """From a 2D `hist.Hist` whose first axis is E_ECAL and second E_HCAL.

        Under- and overflow are folded into the first and last bins: an empty calorimeter
        reads noise of both signs, so an event with E_HCAL slightly below 0 belongs to the
        box (E_HCAL < 1 GeV), and nothing filled may silently disappear from the estimate."""
        values = _fold(np.asarray(h.values(flow=True), dtype=float), h)
        variances = h.variances(flow=True)
        variances = values.copy() if variances is None \
            else _fold(np.asarray(variances, dtype=float), h)
        return cls(values, variances, np.asarray(h.axes[0].edges), np.asarray(h.axes[1].edges))

    def __add__(self, other: "Plane") -> "Plane":
        self._check_compatible(other)
        return Plane(self.values + other.values, self.variances + other.variances,
                     self.ecal_edges, self.hcal_edges)

    def scaled(self, factor: float) -> "Plane":
        return Plane(self.values * factor, self.variances * factor**2, self.ecal_edges,
                     self.hcal_edges)

    def _check_compatible(self, other: "Plane") -> None:
        if not (np.array_equal(self.ecal_edges, other.ecal_edges)
                and np.array_equal(self.hcal_edges, other.hcal_edges)):
            raise ValueError("planes with different binning cannot be combined")

    def region(self, ecal: tuple[float, float], hcal: tuple[float, float]) -> tuple[float, float]:
        """Sum of weights and of squared weights in ecal[0] ≤ E_ECAL < ecal[1], same for HCAL.

        Region edges must fall on bin edges, otherwise the count would silently include part
        of a bin.
        """
        ix = _edge_slice(self.ecal_edges, *ecal, "E_ECAL")
        iy = _edge_slice(self.hcal_edges, *hcal, "E_HCAL")
        return float(self.values[ix, iy].sum()), float(self.variances[ix, iy].sum())


def _fold(a: np.ndarray, h) -> np.ndarray:
    """Add the flow bins (present or not, per axis) into the first/last regular bins."""
    for axis, ax in enumerate(h.axes):
        under = bool(getattr(ax.traits, "underflow", False))
        over = bool(getattr(ax.traits, "overflow", False))
        a = np.moveaxis(a, axis, 0)
        if under:
            a = a.copy()
            a[1] += a[0]
            a = a[1:]
        if over:
            a = a.copy()
            a[-2] += a[-1]
            a = a[:-1]
        a = np.moveaxis(a, 0, axis)
    return a


def _edge_slice(edges: np.ndarray, lo: float, hi: float, what: str) -> slice:
    lo = max(lo, edges[0])
    hi = min(hi, edges[-1])
    i0 = int(np.searchsorted(edges, lo))
    i1 = int(np.searchsorted(edges, hi))
    if not (np.isclose(edges[min(i0, len(edges) - 1)], lo)
            and np.isclose(edges[min(i1, len(edges) - 1)], hi)):
        raise ValueError(f"{what} region [{lo}, {hi}) does not fall on bin edges {edges.tolist()}")
    return slice(i0, i1)


@dataclass
class Estimate:
    """A background expectation in the signal box with its uncertainties (events)."""

    method: str
    value: float
    stat: float
    syst: float
    how: str
    details: dict = field(default_factory=dict)

    @property
    def total_unc(self) -> float:
        return float(np.hypot(self.stat, self.syst))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total_unc"] = self.total_unc
        return d


# --- tail extrapolation ---------------------------------------------------------------------

_SHAPES = ("exponential", "power")


def _shape(x: np.ndarray, slope: float, shape: str, x0: float) -> np.ndarray:
    """Unnormalised tail shapes: exp(slope·(x − x0)) or ((x + 1 GeV)/(x0 + 1 GeV))^slope."""
    if shape == "exponential":
        return np.exp(slope * (x - x0))
    return ((x + 1.0) / (x0 + 1.0)) ** slope


def _bin_integrals(edges: np.ndarray, slope: float, shape: str, x0: float) -> np.ndarray:
    """∫ shape dx over each bin (Simpson rule on 8 sub-intervals: exact enough for smooth tails)."""
    sub = np.linspace(0.0, 1.0, 9)
    lo, hi = edges[:-1], edges[1:]
    xs = lo[:, None] + (hi - lo)[:, None] * sub[None, :]
    ys = _shape(xs, slope, shape, x0)
    w = np.array([1, 4, 2, 4, 2, 4, 2, 4, 1]) / 24.0
    return (ys * w[None, :]).sum(axis=1) * (hi - lo)


def _fit_tail(edges, sumw, sumw2, shape, x0):
    """Binned likelihood fit of N·shape(x) to weighted counts.

    Weighted bins enter through the scaled-Poisson approximation (effective counts
    n_eff = sumw²/sumw2, scale sumw2/sumw; Bohm & Zech, NIM A 748 (2014) 1), so that a
    biased simulation and unweighted data are fitted by the same code.
    """
    scale = np.where(sumw > 0, sumw2 / np.where(sumw > 0, sumw, 1), 1.0)
    # empty bins: use the mean scale so that they still pull the fit down
    mean_scale = float(sumw2.sum() / sumw.sum()) if sumw.sum() > 0 else 1.0
    scale = np.where(sumw > 0, scale, mean_scale)
    n_eff = sumw / scale

    def nll(log_norm, slope):
        mu = np.exp(log_norm) * _bin_integrals(edges, slope, shape, x0) / scale
        mu = np.maximum(mu, 1e-300)
        return float(np.sum(mu - n_eff * np.log(mu)))

    total = max(sumw.sum(), 1e-12)
    width = edges[-1] - edges[0]
    m = Minuit(nll, log_norm=np.log(total / width), slope=-0.1 if shape == "exponential" else -2.0)
    m.errordef = Minuit.LIKELIHOOD
    m.migrad()
    m.hesse()
    if not m.valid:
        raise RuntimeError(f"tail fit ({shape}) did not converge: {m.fmin}")
    return np.array(m.values), np.array(m.covariance)


def tail_extrapolation(
    plane: Plane,
    box: SignalBox,
    *,
    axis: str = "hcal",
    sideband: tuple[float, float] | None = None,
    shape: str = "exponential",
    n_samples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Fit the tail along `axis` in a sideband next to the box, integrate the fit over the box.

    axis="hcal": events with E_ECAL < ecal_max (the missing-energy region); the E_HCAL
    distribution in `sideband` (default [hcal_max, hcal_max + 9 GeV)) is extrapolated down
    into [0, hcal_max). axis="ecal": events with E_HCAL < hcal_max (quiet HCAL, the NA64
    sideband E_HCAL < 1.5 GeV); the E_ECAL distribution in `sideband` (default
    [ecal_max, ecal_max + 20 GeV)) is extrapolated into [0, ecal_max).

    Statistical uncertainty: the fit covariance propagated by sampling the parameters.
    Systematic: the largest shift when the other shape (exponential ↔ power law) is used or
    the sideband is narrowed by a third from its far end.
    """
    if shape not in _SHAPES:
        raise ValueError(f"unknown tail shape {shape!r}: use one of {_SHAPES}")
    if axis not in ("hcal", "ecal"):
        raise ValueError("axis must be 'hcal' or 'ecal'")
    if sideband is None:
        sideband = ((box.hcal_max, box.hcal_max + 9.0) if axis == "hcal"
                    else (box.ecal_max, box.ecal_max + 20.0))

    def central(sb, shp, with_stat):
        if axis == "hcal":
            ix = _edge_slice(plane.ecal_edges, plane.ecal_edges[0], box.ecal_max, "E_ECAL")
            edges = plane.hcal_edges
            sumw = plane.values[ix, :].sum(axis=0)
            sumw2 = plane.variances[ix, :].sum(axis=0)
            box_range = (edges[0], box.hcal_max)
        else:
            iy = _edge_slice(plane.hcal_edges, plane.hcal_edges[0], box.hcal_max, "E_HCAL")
            edges = plane.ecal_edges
            sumw = plane.values[:, iy].sum(axis=1)
            sumw2 = plane.variances[:, iy].sum(axis=1)
            box_range = (edges[0], box.ecal_max)
        sl = _edge_slice(edges, *sb, axis.upper())
        sb_edges = edges[sl.start: sl.stop + 1]
        if sumw[sl].sum() <= 0:
            return 0.0, 0.0, float(sumw[sl].sum())
        x0 = sb[0]
        params, cov = _fit_tail(sb_edges, sumw[sl], sumw2[sl], shp, x0)
        box_edges = np.array(box_range, dtype=float)

        def integral(p):
            return float(np.exp(p[0]) * _bin_integrals(box_edges, p[1], shp, x0)[0])

        value = integral(params)
        stat = 0.0
        if with_stat:
            rng = np.random.default_rng(seed)
            draws = rng.multivariate_normal(params, cov, size=n_samples, check_valid="ignore")
            vals = np.array([integral(p) for p in draws])
            vals = vals[np.isfinite(vals)]
            stat = float(np.std(vals)) if vals.size else float("inf")
        return value, stat, float(sumw[sl].sum())

    value, stat, n_sideband = central(sideband, shape, True)
    other = "power" if shape == "exponential" else "exponential"
    narrow = (sideband[0], sideband[0] + (sideband[1] - sideband[0]) * 2.0 / 3.0)
    alternatives = {}
    for label, sb, shp in (("other_shape", sideband, other), ("narrow_sideband", narrow, shape)):
        try:
            alternatives[label] = central(_snap(plane, axis, sb), shp, False)[0]
        except (RuntimeError, ValueError) as exc:  # an alternative that cannot be fitted
            alternatives[label] = f"not evaluated: {exc}"
    shifts = [abs(v - value) for v in alternatives.values() if isinstance(v, float)]
    syst = max(shifts) if shifts else 0.0
    return Estimate(
        method=f"tail-extrapolation-{axis}",
        value=value,
        stat=stat,
        syst=syst,
        how=(f"{shape} fit of the E_{axis.upper()} distribution in the sideband "
             f"[{sideband[0]:g}, {sideband[1]:g}) GeV "
             + ("for E_ECAL < %g GeV" % box.ecal_max if axis == "hcal"
                else "for E_HCAL < %g GeV" % box.hcal_max)
             + ", integrated over the box; stat from the fit covariance, syst = largest shift "
               "from the other tail shape or a sideband narrowed by a third"),
        details={"sideband": list(sideband), "shape": shape, "sideband_events": n_sideband,
                 "alternatives": alternatives},
    )


def _snap(plane: Plane, axis: str, sb: tuple[float, float]) -> tuple[float, float]:
    """Move a sideband's far edge to the nearest bin edge."""
    edges = plane.hcal_edges if axis == "hcal" else plane.ecal_edges
    hi = edges[np.argmin(np.abs(edges - sb[1]))]
    return sb[0], float(hi)


# --- ABCD -----------------------------------------------------------------------------------


def abcd(plane: Plane, box: SignalBox, *, ecal_hi: float | None = None,
         hcal_hi: float | None = None) -> Estimate:
    """N_D = N_A·N_B/N_C with D the box, A = (E_ECAL < ecal_max, E_HCAL ≥ hcal_max),
    B = (E_ECAL ≥ ecal_max, E_HCAL < hcal_max), C = (E_ECAL ≥ ecal_max, E_HCAL ≥ hcal_max).

    Upper edges (`ecal_hi`, `hcal_hi`) restrict A, B, C to where the two variables are
    expected to factorise (default: the whole plane). Stat: Gaussian propagation of the
    regions' sum-of-squared-weights errors. Syst: none is assigned by the method itself;
    the closure test on simulation measures the factorisation violation.
    """
    e_hi = plane.ecal_edges[-1] if ecal_hi is None else ecal_hi
    h_hi = plane.hcal_edges[-1] if hcal_hi is None else hcal_hi
    e0, h0 = plane.ecal_edges[0], plane.hcal_edges[0]
    a, va = plane.region((e0, box.ecal_max), (box.hcal_max, h_hi))
    b, vb = plane.region((box.ecal_max, e_hi), (h0, box.hcal_max))
    c, vc = plane.region((box.ecal_max, e_hi), (box.hcal_max, h_hi))
    if c <= 0:
        raise ValueError("ABCD: region C (E_ECAL ≥ box, E_HCAL ≥ box) is empty; "
                         "the method cannot be used with this binning or sample")
    value = a * b / c
    rel2 = sum(v / x**2 for x, v in ((a, va), (b, vb), (c, vc)) if x > 0)
    stat = value * np.sqrt(rel2)
    return Estimate("abcd", float(value), float(stat), 0.0,
                    "N_A·N_B/N_C from the regions sharing the box boundaries; stat by Gaussian "
                    "propagation; no syst of its own (see closure)",
                    {"A": a, "B": b, "C": c})


# --- simulation -----------------------------------------------------------------------------


def simulation_estimate(
    planes: dict[str, Plane],
    n_on_target_mc: dict[str, float],
    n_on_target_data: float,
    box: SignalBox,
    *,
    max_weight: dict[str, float] | None = None,
    xsec_syst: float = 0.0,
) -> Estimate:
    """Sum over processes of the simulated weight in the box scaled by N_data/N_mc(process).

    A process with no simulated event in the box contributes 0 with a statistical
    uncertainty of 1.15 × its largest event weight (the 68% CL Poisson upper limit on a zero
    count, Feldman & Cousins, PRD 57 (1998) 3873, table), when `max_weight` is given.
    `xsec_syst` is a relative systematic on every simulated rate.
    """
    per_process = {}
    value = var = 0.0
    for name, plane in planes.items():
        if n_on_target_mc.get(name, 0.0) <= 0:
            raise ValueError(f"simulation sample {name!r} has no particles on target: "
                             "cannot normalise it to the data exposure")
        scale = n_on_target_data / n_on_target_mc[name]
        s, v = plane.region((plane.ecal_edges[0], box.ecal_max),
                            (plane.hcal_edges[0], box.hcal_max))
        s, v = s * scale, v * scale**2
        if s == 0 and max_weight and name in max_weight:
            v = (1.15 * max_weight[name] * scale) ** 2
        per_process[name] = {"value": s, "stat": float(np.sqrt(v)), "scale": scale}
        value += s
        var += v
    return Estimate("simulation", value, float(np.sqrt(var)), value * xsec_syst,
                    "sum of biased-simulation weights in the box per process, scaled to the "
                    f"data exposure; stat from the weights; syst {xsec_syst:.0%} of the rate",
                    {"processes": per_process})


@dataclass
class Closure:
    estimate: Estimate
    truth: float
    truth_unc: float

    @property
    def pull(self) -> float:
        unc = np.hypot(self.estimate.total_unc, self.truth_unc)
        return float((self.estimate.value - self.truth) / unc) if unc > 0 else float("inf")

    def to_dict(self) -> dict:
        return {"estimate": self.estimate.to_dict(), "truth": self.truth,
                "truth_unc": self.truth_unc, "pull": self.pull,
                "passes_2sigma": bool(abs(self.pull) <= 2.0)}


def closure(plane_mc: Plane, box: SignalBox, method: str = "tail-hcal", **kwargs) -> Closure:
    """Run a data-driven method on a simulated plane and compare with its truth in the box."""
    if method == "tail-hcal":
        est = tail_extrapolation(plane_mc, box, axis="hcal", **kwargs)
    elif method == "tail-ecal":
        est = tail_extrapolation(plane_mc, box, axis="ecal", **kwargs)
    elif method == "abcd":
        est = abcd(plane_mc, box, **kwargs)
    else:
        raise ValueError(f"unknown background method {method!r}: tail-hcal, tail-ecal or abcd")
    t, tv = plane_mc.region((plane_mc.ecal_edges[0], box.ecal_max),
                            (plane_mc.hcal_edges[0], box.hcal_max))
    return Closure(est, t, float(np.sqrt(tv)))
