"""Physics inputs: constants, form factors, decay widths, production cross sections
(WW / IWW / ETL), shower track lengths, signal yields and the signal-spectrum hook used by
the simulation.  Formulas and their sources: docs/physics.md and each function's docstring.
"""
