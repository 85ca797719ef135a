"""Signal events for the electron setup: e⁻N → e⁻N X, X → invisible, in the ECAL.

The dark particle's energy E_X comes from the physics hook
``analysis.physics.signal_spectrum.sample_invisible_energy(model, setup, beam_energy, mass,
size, rng, method)`` (imported at call time, so a test can replace it). Everything else is
the detector: a beam electron (momentum core, spot, track, synchrotron radiation) whose
shower deposits E0 − E_X, smeared with the ECAL resolution; HCAL, VETO and VHCAL see only
noise. E_X is drawn for the nominal beam energy and scaled to each event's E0.
"""

from __future__ import annotations

import numpy as np

from ..codes import MODEL_NAMES, Model
from . import detector as det


def model_code(model) -> Model:
    """``"dark-photon"`` / ``"DARK_PHOTON"`` / 1 → Model.DARK_PHOTON."""
    if isinstance(model, Model):
        return model
    if isinstance(model, (int, np.integer)):
        return Model(int(model))
    key = str(model).strip().lower().replace("_", "-")
    if key in MODEL_NAMES:
        return MODEL_NAMES[key]
    raise ValueError(f"unknown signal model {model!r}; choose one of {', '.join(MODEL_NAMES)}")


def model_name(model) -> str:
    code = model_code(model)
    return next(k for k, v in MODEL_NAMES.items() if v == code)


def signal_generator(model, mass: float, method: str = "etl", min_energy: float = 0.0):
    """A generator (rng, n, u, ctx) -> (Truth, None) for signal events of ``model`` with
    dark-particle mass ``mass`` (GeV); E_X ≥ ``min_energy`` (GeV, generation cut)."""
    name = model_name(model)
    if not mass > 0:
        raise ValueError(f"signal mass must be > 0 GeV, got {mass}")

    def generate(rng, n, u, ctx):
        from ..physics import signal_spectrum  # lazy: written by another module

        a = det.beam_particles(rng, n)
        e_x = np.asarray(signal_spectrum.sample_invisible_energy(
            name, "electron", det.BEAM_ENERGY, float(mass), n, rng, method=method,
            min_energy=min_energy),
            dtype=np.float64)
        if e_x.shape != (n,):
            raise ValueError(f"sample_invisible_energy returned shape {e_x.shape}, "
                             f"expected ({n},)")
        x = np.clip(e_x / det.BEAM_ENERGY, 0.0, 1.0)
        e_x = x * a.p
        a["em_e"] = a.p - e_x
        a["em_t0"] = det.shower_start(rng, n)
        a["invisible"] = e_x
        return a, None

    return generate
