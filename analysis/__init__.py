"""NA64-style missing-energy dark-sector analysis framework.

Data flow (see docs/architecture.md): ntuples → datasets → processor → execution →
results → background → stats → limits and plots.
"""

__version__ = "0.1.0"
