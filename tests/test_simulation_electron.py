"""Electron-setup fast simulation: determinism, file structure, physics sanity.

Physics expectations are computed here, by hand, from the documented constants and
formulas (resolution formula, bremsstrahlung and 1/k² spectra, synchrotron mean photon
energy 8/(15√3) ε_c, Poisson counts from rates), never copied from a run.
"""

from __future__ import annotations

import math

import awkward as ak

import numpy as np
import pytest
import uproot

from analysis.physics.dimuon import (dimuon_pair_energy_cdf, dimuon_pair_energy_pdf,
                                     dimuon_rate_per_eot)
from analysis.codes import Model, Process
from analysis.schema import RUNINFO, SPILLS, event_branches, validate_file
from analysis.simulation import PROCESSES, process_spec, simulate
from analysis.simulation import detector as det
from analysis.simulation import electron as el
from helpers import assert_same_events, join_events, ecal_energy, hcal_energy, poisson_ok

BRANCHES = event_branches(1, True)


# ----------------------------------------------------------------------------------------
# fixtures (module scope: generated once)
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pseudo():
    return simulate("electron", "2023", n_on_target=1e7, seed=11)


@pytest.fixture(scope="module")
def em_showers():
    return simulate("electron", "2023", process="em-shower", n_events=20000, seed=12).events


# ----------------------------------------------------------------------------------------
# determinism and seeding
# ----------------------------------------------------------------------------------------

def test_same_seed_same_events(pseudo):
    again = simulate("electron", "2023", n_on_target=1e7, seed=11)
    assert_same_events(pseudo.events, again.events)


def test_chunking_does_not_change_events(pseudo):
    one_by_one = simulate("electron", "2023", n_on_target=1e7, seed=11, chunk_spills=1)
    assert_same_events(pseudo.events, one_by_one.events)


def test_spill_ranges_concatenate_to_the_full_sample():
    full = simulate("electron", "2016-2022", n_on_target=1.5e7, seed=5, spills_per_run=2)
    parts = [simulate("electron", "2016-2022", n_on_target=1.5e7, seed=5, spills_per_run=2,
                      spill_range=r).events for r in ((0, 1), (1, 3))]
    assert_same_events(full.events, join_events(parts))
    assert len(full.spills["run"]) == 3


def test_different_seed_different_events(pseudo):
    other = simulate("electron", "2023", n_on_target=1e7, seed=12)
    n = min(len(other.events["trigger"]), len(pseudo.events["trigger"]))
    assert not np.array_equal(ecal_energy(other.events)[:n], ecal_energy(pseudo.events)[:n])


def test_event_numbers_unique_within_run(pseudo):
    ev = pseudo.events
    key = ev["run"].astype(np.int64) * 10**12 + ev["event"]
    assert np.unique(key).size == key.size
    assert np.all(ev["event"] // 1_000_000 == ev["spill"])


def test_biased_and_signal_samples_are_reproducible(monkeypatch):
    _fixed_signal_spectrum(monkeypatch, 60.0)
    a = simulate("electron", "2023", process="dimuon", n_events=3000, bias=1e-2, seed=3,
                 block_size=1000).events
    b = simulate("electron", "2023", process="dimuon", n_events=3000, bias=1e-2, seed=3,
                 block_size=1000, chunk_spills=2).events
    assert_same_events(a, b)
    s1 = simulate("electron", "2023", signal="dark-photon", mass=0.01, n_events=500, seed=4)
    s2 = simulate("electron", "2023", signal="dark-photon", mass=0.01, n_events=500, seed=4)
    assert_same_events(s1.events, s2.events)


# ----------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------

def _check_file(path, in_memory: dict | None = None):
    report = validate_file(path)
    assert report.ok, [str(p) for p in report.problems]
    with uproot.open(path) as f:
        assert {"events", "runinfo", "spills"} <= {k.split(";")[0] for k in f.keys()}
        events = f["events"]
        assert events.classname == "TTree"
        for b in BRANCHES:
            assert b.name in events, b.name
        arrays = events.arrays([b.name for b in BRANCHES], library="ak")
        for b in BRANCHES:
            if b.jagged:
                assert str(ak.type(arrays[b.name]).content.content) == b.dtype
                continue
            np_arr = ak.to_numpy(arrays[b.name])
            assert np_arr.dtype == np.dtype(b.dtype), b.name
            assert np_arr.shape[1:] == b.shape, b.name
        assert np.array_equal(ak.to_numpy(ak.num(arrays["hit_station"])),
                              ak.to_numpy(arrays["n_hits"]))
        runinfo = f["runinfo"].arrays(library="np")
        spills = f["spills"].arrays(library="np")
        for b in RUNINFO:
            assert runinfo[b.name].dtype == np.dtype(b.dtype), b.name
        for b in SPILLS:
            assert spills[b.name].dtype == np.dtype(b.dtype), b.name
        for r, eot in zip(runinfo["run"], runinfo["n_on_target"]):
            assert math.fsum(spills["n_on_target"][spills["run"] == r].tolist()) == eot
        assert int(runinfo["n_events"].sum()) == events.num_entries
        if in_memory is not None:
            for b in BRANCHES:
                got = arrays[b.name]
                if b.jagged:
                    assert ak.to_list(got) == ak.to_list(in_memory[b.name])
                else:
                    np.testing.assert_array_equal(ak.to_numpy(got), in_memory[b.name])
    return runinfo, spills


def test_pseudo_data_file(tmp_path, pseudo):
    res = simulate("electron", "2023", n_on_target=1e7, seed=11, out=tmp_path / "pd.root",
                   compression="zlib")
    runinfo, spills = _check_file(res.path, pseudo.events)
    assert runinfo["n_on_target"].sum() == 1e7
    assert np.all(runinfo["has_vhcal"]) and np.all(runinfo["is_mc"])
    assert np.all(runinfo["mc_model"] == 0) and np.all(np.isnan(runinfo["mc_mass"]))
    assert np.all(runinfo["mc_seed"] == 11) and np.all(runinfo["setup"] == 1)
    assert np.all(runinfo["beam_pdg"] == 11) and np.all(runinfo["beam_energy"] == 100)
    assert len(spills["run"]) == 2  # 1e7 EOT at 5e6 per spill


def test_biased_and_signal_files(tmp_path, monkeypatch):
    _fixed_signal_spectrum(monkeypatch, 60.0)
    res = simulate("electron", "2016-2022", process="upstream-hadrons", n_events=2000,
                   n_on_target=1e12, bias=1e-3, seed=2, out=tmp_path / "up.root",
                   block_size=700)
    runinfo, spills = _check_file(res.path)
    assert runinfo["n_on_target"].sum() == 1e12 and not runinfo["has_vhcal"].any()
    assert len(spills["run"]) == 3
    with uproot.open(res.path) as f:
        assert np.all(np.isnan(f["events"]["vhcal_e"].array(library="np")))
    sig = simulate("electron", "2023", signal="dark-photon", mass=0.05, n_events=300, seed=3,
                   out=tmp_path / "sig.root")
    runinfo, spills = _check_file(sig.path)
    assert runinfo["n_on_target"].sum() == 0 and runinfo["n_events"].sum() == 300
    assert runinfo["mc_model"][0] == int(Model.DARK_PHOTON)
    assert runinfo["mc_mass"][0] == np.float32(0.05)


# ----------------------------------------------------------------------------------------
# physics: calorimetry
# ----------------------------------------------------------------------------------------

def test_ecal_peak_and_resolution_of_full_energy_electrons(em_showers):
    ev = em_showers
    assert np.all(ev["mc_process"] == int(Process.EM_SHOWER))
    assert np.all(ev["trigger"] == 2)  # calibration trigger only
    e = ecal_energy(ev)
    e0 = 100.0
    # σ² = E0²(a²/E0 + c²) ⊕ beam spread, evaluated by hand; noise (72 cells) negligible
    sigma = e0 * math.sqrt(0.10 ** 2 / e0 + 0.01 ** 2 + 0.008 ** 2)
    assert det.ECAL_STOCHASTIC == 0.10 and det.ECAL_CONSTANT == 0.01
    assert det.BEAM_SPREAD == 0.008
    core = e[np.abs(e - np.median(e)) < 5 * sigma]
    assert core.size > 0.999 * e.size
    assert abs(core.mean() - e0) < 0.3  # ≲0.3 % lateral leakage + zero suppression
    assert core.std() == pytest.approx(sigma, rel=0.05)
    # lateral sharing: ~80 % of a centred shower in cell [3][3]
    frac = ev["ecal_main"][:, 3, 3] / ev["ecal_main"].sum(axis=(1, 2))
    assert 0.70 < np.median(frac) < 0.85
    assert np.all(np.argmax(ev["ecal_main"].reshape(-1, 36), axis=1)[frac > 0.5] == 3 * 6 + 3)
    # preshower: an electron shower starts there (PDG profile: a few % of 100 GeV)
    ps = ev["ecal_pre"].sum(axis=(1, 2))
    assert np.quantile(ps, 0.01) > det.TRIGGER_PS_MIN
    # nothing behind 40 X0: HCAL and VETO see only noise
    assert np.mean(hcal_energy(ev) > 1.0) < 0.001  # 36 cells × 30 MeV noise: σ = 0.18 GeV
    assert np.mean(ev["veto_e"].max(axis=1) > 1.0) < 0.001


def test_ecal_resolution_formula_at_several_energies():
    rng = np.random.default_rng(7)
    for energy in (10.0, 30.0, 60.0):
        n = 20000
        truth = det.Truth(n, p=energy, em_e=energy, em_t0=det.shower_start(rng, n))
        dep = det.deposits(truth, rng)
        e = dep.ecal
        expected = energy * math.sqrt(0.10 ** 2 / energy + 0.01 ** 2)
        assert e.std() == pytest.approx(expected, rel=0.05)
        assert e.mean() == pytest.approx(energy, rel=0.002)


def test_hadron_srd_suppression():
    # biased into the knock-on tail so the ~1e-6 probability is measured with weights
    res = simulate("electron", "2023", process="hadron-beam", n_events=40000, bias=1e-8,
                   seed=21, record="all")
    ev = res.events
    w = ev["mc_weight"].astype(np.float64)
    # 2 MeV threshold: ≈7 σ above the 0.3 MeV noise, so only knock-ons count
    all_three = (ev["srd_e"] > 2.0).all(axis=1)
    measured = w[all_three].sum() / w.sum()
    # expected by hand: P(knock-on) · P(next)² · P(Exp(5 MeV) > 2 MeV)³
    p_e = math.exp(-2.0 / 5.0)
    expected = 1e-3 * 0.07 ** 2 * p_e ** 3
    assert det.SRD_KNOCKON_PROB == 1e-3 and det.SRD_KNOCKON_NEXT == 0.07
    assert measured == pytest.approx(expected, rel=0.25)
    # synchrotron radiation itself is absent: without knock-on, only noise
    any_signal = (ev["srd_e"] > 2.0).any(axis=1)
    assert w[any_signal].sum() / w.sum() == pytest.approx(1e-3 * p_e, rel=0.15)


def test_srd_spectrum_of_electrons(em_showers):
    srd = em_showers["srd_e"]
    # mean SR energy per module = N_γ · <ε> with <ε> = 8/(15√3) ε_c, ε_c = 0.665 keV E² B
    e_c = 0.665e-3 * 100.0 ** 2 * 1.7  # MeV
    expected = 10.0 * 8.0 / (15.0 * math.sqrt(3.0)) * e_c
    assert det.SRD_PHOTONS == 10.0 and det.MAGNET_B == 1.7
    assert srd.mean(axis=0) == pytest.approx([expected] * 3, rel=0.04)
    assert np.mean((srd > 1.0).all(axis=1)) > 0.95
    # suppression of hadron SR by (m_e/m_π)^4: nothing in the table that could radiate
    assert (0.000511 / 0.1396) ** 4 < 1e-9


def test_vhcal_catches_upstream_hadrons():
    kw = dict(process="upstream-hadrons", n_events=20000, seed=31, record="all",
              first_run=1)
    ev23 = simulate("electron", "2023", **kw).events
    ev16 = simulate("electron", "2016-2022", **kw).events
    vh = ev23["vhcal_e"].sum(axis=1)
    caught = vh > 1.0
    # the hadron system is ≥ 20 GeV and deposits ≥ 30 % of it: every accepted event is
    # above 1 GeV; the accepted fraction is VHCAL_ACCEPTANCE = 0.95
    p = el.VHCAL_ACCEPTANCE
    assert p == 0.95
    sd = math.sqrt(p * (1 - p) / vh.size)
    assert abs(caught.mean() - p) < 4 * sd
    assert np.all(np.isnan(ev16["vhcal_e"]))
    # same generated events in both periods apart from the VHCAL
    np.testing.assert_array_equal(ecal_energy(ev23), ecal_energy(ev16))
    # >10× background rejection in the 2023 box (E_ECAL < 60, E_HCAL < 1, quiet VETO)
    box = (ecal_energy(ev23) < 60) & (hcal_energy(ev23) < 1) & (ev23["veto_e"].max(axis=1) < 1)
    assert box.sum() > 50
    assert (box & ~caught).sum() < box.sum() / 10


def _mean_mip_module_energy(module: int, kmin=10.0, kmax=100.0) -> float:
    """Expected mean HCAL module energy of dimuon events by numerical integration of the
    documented spectra: dN/dk the QED thick-target pair spectrum of analysis.physics.dimuon,
    dN/dz ∝ 1 - 4/3 z(1-z), muon loses 0.3 GeV in the
    ECAL and 1.4 GeV per module; each traversal gives a Moyal MIP of MPV 2.0 GeV, width
    0.1/√c (mean factor 1 + 0.1·1.2704/√max(c,1)) for c traversals."""
    m_mu = 0.1056584
    ks = np.geomspace(kmin, kmax, 400)
    wk = dimuon_pair_energy_pdf(100.0, ks, min_pair_energy=kmin)
    total, norm = 0.0, 0.0
    for k, w in zip(ks, wk):
        d = m_mu / k
        z = np.linspace(d, 1 - d, 801)
        wz = 1.0 - 4.0 / 3.0 * z * (1 - z)
        c = sum(np.clip((e - 0.3) / 1.4 - module, 0.0, 1.0) for e in (z * k, (1 - z) * k))
        energy = c * 2.0 * (1.0 + 0.1 * (math.log(2) + 0.5772157) / np.sqrt(np.maximum(c, 1.0)))
        total += w * np.trapezoid(wz * energy, z) * k  # geomspace: dk = k dlnk
        norm += w * np.trapezoid(wz, z) * k
    return total / norm


def test_dimuon_two_mips_in_every_hcal_module():
    ev = simulate("electron", "2023", process="dimuon", n_events=20000, seed=41,
                  record="all").events
    assert det.HCAL_MIP == 2.0 and det.HCAL_MUON_LOSS == 1.4 and det.ECAL_MUON_LOSS == 0.3
    modules = ev["hcal_e"].sum(axis=(2, 3))
    for m in range(4):
        assert modules[:, m].mean() == pytest.approx(_mean_mip_module_energy(m), rel=0.04)
    # hard photons (E_ECAL < 40 GeV: k > 60 GeV): two MIPs in each of the four modules
    hard = ecal_energy(ev) < 40
    med = np.median(modules[hard], axis=0)
    assert np.all((med > 1.6 * 2.0) & (med < 2.4 * 2.0)), med
    assert np.median(ev["veto_e"][hard], axis=0) == pytest.approx([2 * 3.0] * 3, rel=0.15)
    # dimuons are not signal-like: E_HCAL ≫ 1 GeV
    assert np.mean(hcal_energy(ev) < 1.0) < 0.01


# ----------------------------------------------------------------------------------------
# physics: rates, trigger, weights
# ----------------------------------------------------------------------------------------

def _brems_sf(y, lo=0.05, hi=0.9):
    """Survival function of dN/dy ∝ (4/3 - 4/3 y + y²)/y on [lo, hi], by hand."""
    def prim(v):
        return 4 / 3 * math.log(v) - 4 / 3 * v + v * v / 2
    return (prim(hi) - prim(y)) / (prim(hi) - prim(lo))


def test_recorded_counts_are_poisson_consistent(pseudo):
    eot = 1e7
    assert pseudo.n_on_target == eot
    counts = np.bincount(pseudo.events["mc_process"], minlength=10)
    rates = {s.code: s.rate for s in PROCESSES.values()}
    assert sum(rates.values()) == pytest.approx(1.0)
    # full-energy electrons: calibration trigger only (prescale 1e-4)
    assert poisson_ok(counts[Process.EM_SHOWER], rates[Process.EM_SHOWER] * eot * 1e-4)
    # low-energy tail: recorded when E0(1-y) < 80 GeV, i.e. y > 0.2 (brems spectrum)
    assert rates[Process.LOW_ENERGY_TAIL] == 1e-3
    exp_tail = 1e-3 * eot * _brems_sf(0.2)
    assert poisson_ok(counts[Process.LOW_ENERGY_TAIL], exp_tail)
    # dimuons: E0 - k + 2 MIP (2 × 0.46 GeV) < 80 → k > 20.9 GeV of the QED pair spectrum
    # above 10 GeV, at the QED rate (analysis.physics.dimuon)
    kcut = 20.0 + 2 * 11.5e-3 * 40
    acc = 1.0 - dimuon_pair_energy_cdf(100.0, kcut, min_pair_energy=10.0)
    qed = dimuon_rate_per_eot(100.0, 10.0)
    assert rates[Process.DIMUON] == pytest.approx(qed, rel=1e-9)
    assert poisson_ok(counts[Process.DIMUON], qed * eot * acc)
    # generated numbers: Poisson(rate × EOT) for every process
    for s in PROCESSES.values():
        mean = s.rate * eot * (1e-4 if s.calib_only else 1.0)
        assert poisson_ok(pseudo.per_process[s.name]["generated"], mean), s.name
    # the signal box is empty in pseudo-data of this size (≪ 1 expected)
    ev = pseudo.events
    box = ((ev["trigger"] & 1 == 1) & (ecal_energy(ev) < 60) & (hcal_energy(ev) < 1)
           & (np.abs(ev["beam_p"] - 100) < 3) & (ev["srd_e"] > 1).all(axis=1)
           & (ev["n_tracks_in"] == 1) & (ev["veto_e"].max(axis=1) < 1)
           & (np.nan_to_num(ev["vhcal_e"]).sum(axis=1) < 1))
    assert box.sum() == 0


def test_physics_trigger_bits(pseudo):
    ev = pseudo.events
    e = ecal_energy(ev)
    ps = ev["ecal_pre"].sum(axis=(1, 2))
    phys = (ev["trigger"] & 1) == 1
    # bit 0 events: preshower fired and ECAL below 80 GeV (trigger-level sums; offline
    # cell sums differ by noise and by hadronic energy outside the 6×6 matrix)
    assert np.all(e[phys] < 80.5) and np.all(ps[phys] > 0.2)
    assert np.mean(ps[phys] > 0.3) > 0.98
    # every written event has a trigger bit
    assert np.all(ev["trigger"] > 0)


def test_biased_weights_sum_to_rate_times_exposure():
    exposure = 1e10
    rate = process_spec("low-energy-tail").rate
    res = simulate("electron", "2023", process="low-energy-tail", n_events=20000,
                   n_on_target=exposure, bias=1e-3, seed=51, record="all")
    w = res.events["mc_weight"].astype(np.float64)
    assert res.runinfo["n_on_target"].sum() == exposure
    # importance-sampling estimate of rate × E, with its statistical error
    assert abs(w.sum() - rate * exposure) < 4 * math.sqrt(w.size) * w.std()
    # the tail is oversampled yet correctly weighted: P(y > 0.6) from the spectrum
    y = 1 - ecal_energy(res.events) / 100.0
    tail = y > 0.6
    assert tail.mean() > 2 * _brems_sf(0.6)
    frac = w[tail].sum() / w.sum()
    assert frac == pytest.approx(_brems_sf(0.6), rel=0.1)
    # triggered only: Σw = rate × E × acceptance (y > 0.2)
    trig = simulate("electron", "2023", process="low-energy-tail", n_events=20000,
                    n_on_target=exposure, bias=1e-3, seed=51)
    wt = trig.events["mc_weight"].astype(np.float64)
    assert abs(wt.sum() - rate * exposure * _brems_sf(0.2)) < 4 * math.sqrt((wt ** 2).sum())
    # unbiased: every weight is rate × E / n
    flat = simulate("electron", "2023", process="dimuon", n_events=1000,
                    n_on_target=1e9, seed=52, record="all").events["mc_weight"]
    np.testing.assert_allclose(flat, dimuon_rate_per_eot(100.0, 10.0) * 1e9 / 1000, rtol=1e-6)


def test_pileup_topology():
    ev = simulate("electron", "2023", process="pileup", n_events=20000, seed=61).events
    assert ev["trigger"].size > 0
    assert np.mean(ev["n_tracks_in"] == 2) > 0.95
    assert np.mean(ev["n_hits"] > 4) > 0.95
    # the SR tag belongs to the out-of-time electron: |Δt| > 10 ns for triggered events
    dt = ev["srd_t"] - ev["ecal_t"]
    assert np.mean(np.abs(dt) < 3.0) < 0.02
    assert np.mean((ev["srd_e"] > 1).all(axis=1)) > 0.9


def test_decay_in_flight_has_invisible_neutrino_and_no_sr():
    ev = simulate("electron", "2023", process="decay-in-flight", n_events=5000, seed=71,
                  record="all").events
    e = ecal_energy(ev)
    inv = ev["mc_invisible_e"]
    # E_ECAL + E_ν ≈ E_K within the ECAL resolution
    assert np.median(np.abs(e + inv - 100.0)) < 3.0
    # ν lab fraction is below (M_K² - m_π0²)/M_K² ≈ 0.925 (massless ν, β → 1)
    assert inv.max() / 100.0 < (1 - (0.1349768 / 0.493677) ** 2) * 1.03
    assert np.mean((ev["srd_e"] > 1).all(axis=1)) < 1e-3
    assert np.mean(ev["beam_p"] > 90) > 0.99  # the kaon's momentum (1e-3 non-Gaussian tail)


# ----------------------------------------------------------------------------------------
# signal
# ----------------------------------------------------------------------------------------

def _fixed_signal_spectrum(monkeypatch, e_x: float):
    import analysis.physics.signal_spectrum as ss

    def fake(model, setup, beam_energy, mass, size, rng, method="etl", min_energy=0.0):
        assert model == "dark-photon" and setup == "electron" and beam_energy == 100.0
        assert e_x >= min_energy
        return np.full(size, e_x)

    monkeypatch.setattr(ss, "sample_invisible_energy", fake)


@pytest.mark.parametrize("period", ["2023", "2016-2022"])
def test_signal_detector_side(monkeypatch, period):
    _fixed_signal_spectrum(monkeypatch, 60.0)
    res = simulate("electron", period, signal="dark-photon", mass=0.02, n_events=5000,
                   seed=81)
    ev = res.events
    assert res.n_events == 5000 and res.n_on_target == 0
    assert np.all(ev["mc_process"] == int(Process.SIGNAL))
    assert np.all(ev["mc_mass"] == np.float32(0.02))
    e = ecal_energy(ev)
    inv = ev["mc_invisible_e"]
    # E_X scales with the event's E0: E_ECAL + E_X = E0, E_ECAL resolution at 40 GeV
    assert inv.mean() == pytest.approx(60.0, rel=0.002)
    sigma = math.sqrt((0.10 ** 2 / 40 + 0.01 ** 2) * 40 ** 2 + (0.008 * 40) ** 2)
    assert (e.mean(), e.std()) == (pytest.approx(40.0, abs=0.2),
                                   pytest.approx(sigma, rel=0.07))
    # E_ECAL ≈ 40 < 80 and the preshower fired (late shower starts: ~0.2 % inefficiency)
    assert np.mean(ev["trigger"] & 1) > 0.99
    assert np.mean(hcal_energy(ev) < 0.5) > 0.99
    assert np.mean(ev["veto_e"].max(axis=1) < 1.0) > 0.99
    assert np.mean(ev["n_tracks_in"] == 1) > 0.99
    if period == "2023":
        assert np.mean(ev["vhcal_e"].sum(axis=1) < 0.2) > 0.99
    else:
        assert np.all(np.isnan(ev["vhcal_e"]))


def test_signal_requires_the_hook(monkeypatch):
    import analysis.physics.signal_spectrum as ss

    def stub(*args, **kwargs):
        raise NotImplementedError("signal spectrum: implementation in progress")

    monkeypatch.setattr(ss, "sample_invisible_energy", stub)
    with pytest.raises(NotImplementedError):
        simulate("electron", "2023", signal="dark-photon", mass=0.01, n_events=10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="period"):
        simulate("electron", "2024", n_on_target=1e6)
    with pytest.raises(NotImplementedError):  # (the muon setup: tests/test_simulation_muon.py)
        simulate("positron", "2023", n_on_target=1e6)
    with pytest.raises(ValueError, match="unknown electron-setup process"):
        simulate("electron", "2023", process="nope", n_events=10)
    with pytest.raises(ValueError):
        simulate("electron", "2023", n_on_target=1e6, bias=1e-3)
    with pytest.raises(ValueError, match="n_on_target = 0"):
        simulate("electron", "2023", signal="dark-photon", mass=0.01, n_events=10,
                 n_on_target=5)
