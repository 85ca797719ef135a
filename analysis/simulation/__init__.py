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
"""

from .electron import PROCESSES, ProcessSpec, process_spec
from .generate import PERIODS, SimulationResult, simulate

__all__ = ["PERIODS", "PROCESSES", "ProcessSpec", "SimulationResult", "process_spec",
           "simulate"]
