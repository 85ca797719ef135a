"""Fast, seeded, columnar simulation of NA64-style setups → NTUPLE.md ntuples.

Implemented: the electron setup (NA64e, 100 GeV e⁻), periods ``2016-2022`` (no VHCAL) and
``2023`` (VHCAL). Public API::

    from analysis.simulation import simulate
    simulate("electron", "2023", n_on_target=1e8, seed=1, out="pseudo.root")        # pseudo-data
    simulate("electron", "2023", process="dimuon", n_events=20000, n_on_target=1e12,
             bias=1e-4, seed=2, out="dimuon.root")                                 # biased bkg
    simulate("electron", "2023", signal="dark-photon", mass=0.01, n_events=5000,
             seed=3, out="ap_10mev.root")                                          # signal

Modules: ``common`` (seeding, spill plans, biasing), ``detector`` (geometry, responses,
trigger, with sources), ``electron`` (processes and their rates), ``signal`` (signal events
from ``analysis.physics.signal_spectrum``), ``generate`` (``simulate``), ``samples``
(the built-in sample recipe, ``na64 samples``). Documentation: docs/simulation.md.

The muon setup (NA64μ, 160 GeV μ, period ``2022``) runs through the same ``simulate`` and
spill loop with its own detector pieces, processes and signal in ``muon`` (efficiency and
(g−2)_μ helpers in ``muon_limits``)::

    simulate("muon", "2022", n_on_target=1e9, seed=1, out="mu.root")
    simulate("muon", "2022", signal="zprime", mass=0.01, n_events=20000, out="zp.root")

Documentation: docs/na64mu.md. (The hadron setup: ``hadron``, docs/na64h.md.)
"""

from .electron import PROCESSES, ProcessSpec, process_spec
from .generate import PERIODS, SimulationResult, simulate

__all__ = ["PERIODS", "PROCESSES", "ProcessSpec", "SimulationResult", "process_spec",
           "simulate"]
