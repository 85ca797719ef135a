"""Result containers shared by the statistics modules.

Band convention (as in pyhf and in Cowan, Cranmer, Gross & Vitells, arXiv:1007.1727, §5):
``band = [-2σ, -1σ, +1σ, +2σ]`` are the expected limits at the background-only quantiles
``Φ(-2), Φ(-1), Φ(+1), Φ(+2)`` of the test statistic (or, for the exact counting
construction, of the event count), ``expected`` the one at the median.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy.stats import norm

#: Background-only quantiles for (-2σ, -1σ, median, +1σ, +2σ).
BAND_QUANTILES: tuple[float, ...] = tuple(float(norm.cdf(k)) for k in (-2, -1, 0, 1, 2))

METHODS = ("auto", "exact", "asymptotic", "toys", "pyhf-toys")


def _clean(x: Any) -> Any:
    """Plain-Python, JSON-safe copy (non-finite floats become None)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "tolist"):
        return _clean(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class LimitResult:
    """An upper limit with its expected median and ±1σ/±2σ band.

    ``unit`` is ``"events"`` for limits on the signal count (``upper_limit``) and ``"mu"``
    for limits on the signal strength of a workspace (``upper_limit_workspace``).
    ``method`` is the method actually used (never ``"auto"``).
    """

    upper_limit: float
    expected: float
    band: list[float]
    method: str
    cl: float
    notes: str = ""
    unit: str = "events"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_set(self) -> list[float]:
        """``[-2σ, -1σ, median, +1σ, +2σ]``."""
        b = self.band
        return [b[0], b[1], self.expected, b[2], b[3]]

    def scaled(self, factor: float, unit: str | None = None) -> "LimitResult":
        """Same result with all limits multiplied by ``factor`` (a positive constant)."""
        return LimitResult(
            upper_limit=self.upper_limit * factor,
            expected=self.expected * factor,
            band=[v * factor for v in self.band],
            method=self.method,
            cl=self.cl,
            notes=self.notes,
            unit=unit or self.unit,
            details=dict(self.details),
        )

    def to_dict(self, with_details: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_details:
            d.pop("details")
        return _clean(d)

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)
