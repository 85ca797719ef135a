"""Statistics: CLs upper limits for missing-energy searches (layout follows pyhf.infer).

* :mod:`.workspaces` — :class:`Channel` input and pyhf workspaces (counting, multi-bin,
  multi-period/beam combinations with correlated signal-yield systematics).
* :mod:`.counting` — exact single-bin CLs (Read 2002) with Cousins-Highland priors.
* :mod:`.test_statistics` — vectorised LEP ``-2 ln Q`` and q̃_μ.
* :mod:`.toys` — vectorised hybrid toys; NumPy-2.4-safe wrapper of pyhf's ToyCalculator.
* :mod:`.asymptotic` — pyhf asymptotic limits with the 0.7.6 pitfalls handled.
* :mod:`.intervals` — :func:`upper_limit`, :func:`upper_limit_workspace`, ``auto`` choice.
* :mod:`.scan` — coupling limits vs mass (rescaling or one fit per mass).

See docs/statistics.md.
"""

from .counting import cls_exact, exact_upper_limit
from .intervals import ASYMPTOTIC_MIN_COUNT, choose_method, upper_limit, upper_limit_workspace
from .results import BAND_QUANTILES, LimitResult
from .scan import ScanResult, coupling_from_count_limit, rescale_limit, scan_combined, scan_rescaled
from .workspaces import Channel, build_workspace, counting_workspace, model_and_data

__all__ = [
    "ASYMPTOTIC_MIN_COUNT",
    "BAND_QUANTILES",
    "Channel",
    "LimitResult",
    "ScanResult",
    "build_workspace",
    "choose_method",
    "cls_exact",
    "counting_workspace",
    "coupling_from_count_limit",
    "exact_upper_limit",
    "model_and_data",
    "rescale_limit",
    "scan_combined",
    "scan_rescaled",
    "upper_limit",
    "upper_limit_workspace",
]
