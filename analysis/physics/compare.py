"""WW vs IWW vs ETL comparison of total cross sections (in the style of arXiv:2409.12748).

Electrons: 100 GeV on Pb; muons: 160 GeV on Pb; all E_X (min_fraction = 0), elastic +
inelastic form factor.  Cross sections are quoted at ε_eff = 1e-4 (ε for the dark photon,
g = 1e-4·e for the g-coupled models; for the Z′ off muons g/e = 1e-4).  For muons no ETL
input exists: the 'etl' column is the documented fallback (WW).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .constants import E_CHARGE
from .cross_sections import cross_section

CASES = (
    ("electron", 100.0, "dark-photon"),
    ("electron", 100.0, "scalar"),
    ("muon", 160.0, "zprime"),
    ("muon", 160.0, "scalar"),
)
EPS_EFF = 1e-4


def xsec_comparison_table(masses=None, cases=CASES, target="Pb") -> list[dict]:
    """Rows of σ_WW, σ_IWW, σ_ETL (pb) per (beam, energy, model, mass)."""
    if masses is None:
        masses = np.geomspace(1e-3, 1.0, 19)
    rows = []
    for beam, energy, model in cases:
        coupling = EPS_EFF if model == "dark-photon" else EPS_EFF * E_CHARGE
        for m in masses:
            res = {meth: cross_section(model, beam, energy, target, float(m), coupling, meth) for meth in ("ww", "iww", "etl")}
            rows.append({
                "beam": beam, "energy_GeV": energy, "target": target, "model": model,
                "mass_GeV": float(m), "epsilon_eff": EPS_EFF,
                "sigma_ww_pb": res["ww"].cross_section_pb,
                "sigma_iww_pb": res["iww"].cross_section_pb,
                "sigma_etl_pb": res["etl"].cross_section_pb,
                "etl_method_used": res["etl"].method_used,
            })  # fmt: skip
    return rows


def write_xsec_comparison(out_dir, masses=None) -> dict:
    """Write ``xsec_compare.csv`` and ``xsec_compare.png``/``.pdf`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = xsec_comparison_table(masses)
    csv_path = out / "xsec_compare.csv"
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:  # optional styling
        import mplhep

        plt.style.use(mplhep.style.ROOT)
    except Exception:  # pragma: no cover - style is cosmetic
        pass
    fig, axes = plt.subplots(2, 2, figsize=(13, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    for col, beam in enumerate(("electron", "muon")):
        ax, rax = axes[0, col], axes[1, col]
        for model, ls in zip(sorted({r["model"] for r in rows if r["beam"] == beam}), ("-", "--")):
            sel = [r for r in rows if r["beam"] == beam and r["model"] == model]
            m = np.array([r["mass_GeV"] for r in sel]) * 1e3
            ww = np.array([r["sigma_ww_pb"] for r in sel])
            iww = np.array([r["sigma_iww_pb"] for r in sel])
            etl = np.array([r["sigma_etl_pb"] for r in sel])
            ax.plot(m, ww, ls, color="C0", label=f"{model} WW")
            ax.plot(m, iww, ls, color="C1", label=f"{model} IWW")
            if beam == "electron":
                ax.plot(m, etl, ls, color="C2", label=f"{model} ETL (DMG4 K)")
                rax.plot(m, ww / etl - 1, ls, color="C0", label=f"{model} WW/ETL-1")
                rax.plot(m, iww / etl - 1, ls, color="C1", label=f"{model} IWW/ETL-1")
            else:
                rax.plot(m, iww / ww - 1, ls, color="C1", label=f"{model} IWW/WW-1")
        energy = 100 if beam == "electron" else 160
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel(r"$\sigma$ [pb], $\epsilon_\mathrm{eff}=10^{-4}$")
        ax.set_title(f"{beam}, {energy} GeV, Pb")
        ax.legend(fontsize=10)
        rax.axhline(0, color="k", lw=0.8)
        rax.set_xlabel(r"$m_X$ [MeV]")
        rax.set_ylabel("relative diff.")
        rax.legend(fontsize=9)
    fig.tight_layout()
    png = out / "xsec_compare.png"
    pdf = out / "xsec_compare.pdf"
    fig.savefig(png, dpi=120)
    fig.savefig(pdf)
    plt.close(fig)
    return {"csv": csv_path, "png": png, "pdf": pdf}


__all__ = ["xsec_comparison_table", "write_xsec_comparison"]
