"""Charge-exchange meson production for NA64h (PHYSICS.md §1, §2, §3) against hand computations."""

import math

import numpy as np
import pytest

from analysis.physics import mesons as M

NA = 6.02214076e23
MP, MPI = 0.93827208816, 0.13957039  # PDG proton and charged-pion masses (GeV)
# PHYSICS.md §2 parameters (pi0, eta, eta', omega, f2)
PAR = {
    "pi0": (430.0, 1.04, 12.7, 1.57, 2.55, -0.23),
    "eta": (36.0, 1.26, 6.0, 1.6, 4.6, -0.5),
    "eta-prime": (1.37, 1.35, 6.84, 1.7, 3.7, 0.0),
    "omega": (2.0, 0.94, 6.5, 1.23, 5.5, 0.0),
    "f2": (60.0, 0.94, 8.0, 2.6, 4.6, -2.0),
}


def hand_sigma_proton(meson, p):
    """PHYSICS.md §2 formula, Z = A = 1, written out with math only."""
    a, ap, c0, c1, g0, g1 = PAR[meson]
    s = MP**2 + MPI**2 + 2 * MP * math.sqrt(p**2 + MPI**2)
    x = s / 10.0
    return a * x ** (-ap) * max(1 + g0 + g1 * math.log(x), 0.0) / (c0 + c1 * math.log(x))


def test_parameter_table_matches_physics_md():
    for m, (a, ap, c0, c1, g0, g1) in PAR.items():
        row = M.G4_CHARGE_EXCHANGE_PARAMETERS[m]
        assert (row.norm, row.slope, row.c0, row.c1, row.g0, row.g1) == (a, ap, c0, c1, g0, g1)
    assert M.G4_BETA_PRIME == 0.041
    assert "G4ChargeExchangeXS" in M.G4_SOURCE


def test_eta_and_eta_prime_on_proton_at_50_gev():
    # PHYSICS.md §2 [derived]: sigma(eta) ~ 0.99 ub, sigma(eta') ~ 0.029 ub at 50 GeV on a proton
    s_eta = M.charge_exchange_xs("eta", 50.0, 1, 1)
    s_etap = M.charge_exchange_xs("eta-prime", 50.0, 1, 1)
    assert s_eta == pytest.approx(0.99, rel=0.02)
    assert s_etap == pytest.approx(0.029, rel=0.02)
    # the formula by hand: s = 94.727 GeV^2, x = 9.4727, ln x = 2.2484
    assert s_eta == pytest.approx(hand_sigma_proton("eta", 50.0), rel=1e-12)
    assert s_etap == pytest.approx(hand_sigma_proton("eta-prime", 50.0), rel=1e-12)
    x = 9.4727
    assert s_eta == pytest.approx(36 * x**-1.26 * (5.6 - 0.5 * math.log(x)) / (6 + 1.6 * math.log(x)), rel=1e-4)
    for m in PAR:  # all five mesons, several momenta
        for p in (10.0, 50.0, 150.0):
            assert M.charge_exchange_xs(m, p, 1, 1) == pytest.approx(hand_sigma_proton(m, p), rel=1e-12)


def test_vectorised_in_momentum_and_aliases():
    p = np.array([10.0, 20.0, 50.0, 100.0, 200.0])
    arr = M.charge_exchange_xs("eta", p, 82, 207.2)
    assert isinstance(arr, np.ndarray) and arr.shape == p.shape
    np.testing.assert_allclose(arr, [M.charge_exchange_xs("eta", float(q), 82, 207.2) for q in p], rtol=1e-14)
    assert np.all(np.diff(arr) < 0)  # Regge fall-off
    assert isinstance(M.charge_exchange_xs("eta", 50.0, 1, 1), float)
    for alias in ("η′", "eta'", "eta_prime", "etap"):
        assert M.canonical_meson(alias) == "eta-prime"
    # s for pi- p: at rest s = (m_p + m_pi)^2 (Geant4 returns 0 at and below this threshold)
    assert M.mandelstam_s(0.0) == pytest.approx((MP + MPI) ** 2, rel=1e-12)


def test_a_dependence_for_lead_by_hand():
    Z, A = 82, 207.2
    hand = Z ** (2 / 3) * A ** (-0.041 * math.log(A))
    assert hand == pytest.approx(18.868 * 0.31155, rel=1e-3)
    assert M.nuclear_factor(Z, A) == pytest.approx(hand, rel=1e-12)
    for m in PAR:
        ratio = M.charge_exchange_xs(m, 50.0, Z, A) / M.charge_exchange_xs(m, 50.0, 1, 1)
        assert ratio == pytest.approx(hand, rel=1e-12)
    # Geant4 uses the rounded A = 207: 0.04 % effect
    assert M.nuclear_factor(82, 207) / hand - 1 == pytest.approx(0.0, abs=5e-4)
    assert M.nuclear_factor(1, 1) == 1.0


def test_uniform_thick_target_matches_analytic_form():
    # pure Pb, L = 30 cm: N = n sigma lambda (1 - exp(-L/lambda))
    L = 30.0
    n = 11.35 * NA / 207.2
    sig = hand_sigma_proton("eta", 50.0) * 82 ** (2 / 3) * 207.2 ** (-0.041 * math.log(207.2)) * 1e-30
    lam = 199.6 / 11.35
    hand = n * sig * lam * (1 - math.exp(-L / lam))
    y = M.meson_yield_per_pot("eta", 50.0, target="Pb", thickness_cm=L)
    assert y.value == pytest.approx(hand, rel=1e-10)
    assert y.interacting_fraction == pytest.approx(1 - math.exp(-L / lam), rel=1e-12)
    assert y.depth_lambda == pytest.approx(L / lam, rel=1e-12)
    # thin target: n sigma L
    thin = M.meson_yield_per_pot("eta", 50.0, target="Pb", thickness_cm=0.01)
    assert thin.value == pytest.approx(n * sig * 0.01, rel=1e-3)
    # infinitely thick: n sigma lambda
    thick = M.meson_yield_per_pot("eta", 50.0, target="Pb", thickness_cm=50 * lam)
    assert thick.value == pytest.approx(n * sig * lam, rel=1e-12)


def test_layered_ecal_against_brute_force_integral():
    tgt = M.HADRON_TARGETS["ECAL"]
    # geometry by hand: 40 X0 of 1.5 mm Pb (X0 0.5612 cm) + 1.5 mm Sc (X0 41.31 cm)
    n_per = 40 / (0.15 / 0.5612 + 0.15 / 41.31)
    assert tgt.depth_cm == pytest.approx(0.30 * n_per, rel=1e-3)
    lam_pb, lam_sc = 199.6 / 11.35, 81.7 / 1.06
    assert tgt.depth_lambda() == pytest.approx(0.15 * n_per * (1 / lam_pb + 1 / lam_sc), rel=1e-3)
    assert 1.5 < tgt.depth_lambda() < 1.6  # "~40 X0 ~ 1.5-2 lambda_I"

    y = M.meson_yield_per_pot("eta", 50.0)
    # brute force: S(z), lambda(z) on a fine grid, trapezoid in z
    s_pb = 11.35 * NA / 207.2 * M.charge_exchange_xs("eta", 50.0, 82, 207.2) * 1e-30
    s_sc = 1.06 * NA * (0.922582 / 12.0107 * M.charge_exchange_xs("eta", 50.0, 6, 12.0107)
                        + 0.077418 / 1.00794 * M.charge_exchange_xs("eta", 50.0, 1, 1.00794)) * 1e-30  # fmt: skip
    z = np.linspace(0.0, tgt.depth_cm, 400_001)
    in_pb = np.mod(z, 0.30) < 0.15
    S = np.where(in_pb, s_pb, s_sc)
    inv_lam = np.where(in_pb, 1 / lam_pb, 1 / lam_sc)
    tau = np.concatenate(([0.0], np.cumsum(0.5 * (inv_lam[1:] + inv_lam[:-1]) * np.diff(z))))
    brute = np.trapezoid(S * np.exp(-tau), z)
    assert y.value == pytest.approx(brute, rel=2e-3)  # grid edges at layer boundaries
    # homogenised mixture: analytic S_bar lambda_bar (1 - exp(-L/lambda_bar))
    lam_bar = 1 / (0.5 / lam_pb + 0.5 / lam_sc)
    hom = 0.5 * (s_pb + s_sc) * lam_bar * (1 - math.exp(-tgt.depth_cm / lam_bar))
    assert M.meson_yield_per_pot("eta", 50.0, homogeneous=True).value == pytest.approx(hom, rel=1e-10)
    assert y.value == pytest.approx(hom, rel=2e-3)


def test_max_depth_and_lambda_scale():
    full = M.meson_yield_per_pot("eta")
    vals = [M.meson_yield_per_pot("eta", max_depth=d).value for d in (1.0, 4.43, 20.0, 44.0, 1e3)]
    assert np.all(np.diff(vals) > 0)
    assert vals[-1] == pytest.approx(full.value, rel=1e-12)  # max_depth beyond the ECAL
    assert M.meson_yield_per_pot("eta", max_depth=0.3).value == pytest.approx(
        (11.35 * NA / 207.2 * M.charge_exchange_xs("eta", 50.0, 82, 207.2) * 1e-30 * 17.586
         * (1 - math.exp(-0.15 / 17.586)))
        + math.exp(-0.15 / 17.586) * M.meson_yield_per_pot("eta", target="Sc", thickness_cm=0.15).value,
        rel=1e-3,
    )  # fmt: skip
    longer = M.meson_yield_per_pot("eta", lambda_scale=1.2)
    assert longer.value > full.value
    assert longer.interacting_fraction < full.interacting_fraction


def test_yield_linear_in_br_and_limit():
    br = np.array([1e-6, 1e-5, 1e-4, 1e-3])
    sig = M.invisible_signal_per_pot("eta", br, efficiency=0.5)
    y = M.meson_yield_per_pot("eta").value
    np.testing.assert_allclose(sig.value, y * br * 0.5, rtol=1e-14)
    np.testing.assert_allclose(sig.value / br, sig.value[0] / br[0], rtol=1e-14)
    one = M.invisible_signal_per_pot("eta", 1e-4, efficiency=1.0)
    assert one.value == pytest.approx(2 * M.invisible_signal_per_pot("eta", 0.5e-4).value, rel=1e-14)
    lim = M.invisible_br_upper_limit("eta", 2.9e9, efficiency=0.5)
    assert M.N_UP_ZERO_OBSERVED_90CL == pytest.approx(2.302585, rel=1e-6)
    assert lim.value * 2.9e9 * y * 0.5 == pytest.approx(2.302585, rel=1e-6)
    assert M.invisible_br_upper_limit("eta", 2.9e9, efficiency=1.0).value == pytest.approx(lim.value / 2)


def test_user_models_override_geant4():
    tm = M.TableModel({"eta-prime": 0.5}, fallback="geant4", source="test numbers")
    assert M.charge_exchange_xs("eta-prime", 50.0, 1, 1, model=tm) == 0.5
    f_pb = 82 ** (2 / 3) * 207.2 ** (-0.041 * math.log(207.2))
    assert M.charge_exchange_xs("eta-prime", 50.0, 82, 207.2, model=tm) == pytest.approx(0.5 * f_pb)
    assert M.charge_exchange_xs("eta", 50.0, 1, 1, model=tm) == M.charge_exchange_xs("eta", 50.0, 1, 1)
    g4 = M.meson_yield_per_pot("eta-prime").value
    user = M.meson_yield_per_pot("eta-prime", model=tm).value
    assert user / g4 == pytest.approx(0.5 / hand_sigma_proton("eta-prime", 50.0), rel=1e-9)
    # energy table, log-log interpolation; no extrapolation
    tab = M.TableModel({"eta": ([20.0, 100.0], [2.0, 0.5])}, a_dependence="none")
    assert tab.sigma("eta", 50.0, 82, 207.2) == pytest.approx(2.0 * (50 / 20) ** (math.log(0.25) / math.log(5)))
    with pytest.raises(ValueError, match="outside the table"):
        tab.sigma("eta", 150.0, 1, 1)
    with pytest.raises(ValueError, match="no value for 'pi0'"):
        tab.sigma("pi0", 50.0, 1, 1)
    # ratio model: sigma(eta') = r sigma(eta)
    sm = M.ScaledModel("geant4", ratios={"eta-prime": ("eta", 0.52)}, name="r", source="test")
    assert sm.sigma("eta-prime", 50.0, 82, 207.2) == pytest.approx(0.52 * M.charge_exchange_xs("eta", 50.0, 82, 207.2))
    sf = M.ScaledModel("geant4", factors={"eta": 2.0})
    assert sf.sigma("eta", 50.0, 6, 12.0) == pytest.approx(2 * M.charge_exchange_xs("eta", 50.0, 6, 12.0))
    # registry
    M.register_model("test-user-table", tm)
    try:
        assert M.charge_exchange_xs("eta-prime", 50.0, 1, 1, model="test-user-table") == 0.5
        with pytest.raises(ValueError, match="already registered"):
            M.register_model("test-user-table", tm)
    finally:
        M.CROSS_SECTION_MODELS.pop("test-user-table")
    implied = M.CROSS_SECTION_MODELS["na64h-implied"]
    r = implied.sigma("eta-prime", 50.0, 1, 1) / implied.sigma("eta", 50.0, 1, 1)
    assert r == pytest.approx(1.1 / 2.1, rel=1e-12)


def test_eta_prime_caveat_everywhere():
    cav = M.ETA_PRIME_CAVEAT
    assert "2312.01703" in cav and "0.029" in cav
    assert "2312.01703" in M.charge_exchange_xs.__doc__
    tm = M.TableModel({"eta-prime": 0.5})
    for model in ("geant4", "na64h-implied", tm, M.ScaledModel(factors={"eta-prime": 10.0})):
        assert cav in M.meson_yield_per_pot("eta-prime", model=model).notes
        assert cav in M.invisible_signal_per_pot("eta-prime", 1e-4, model=model).notes
        assert cav in M.invisible_br_upper_limit("eta-prime", 2.9e9, model=model).notes
    assert cav not in M.meson_yield_per_pot("eta").notes
    for row in M.na64h_comparison():
        assert (cav in row["notes"]) == (row["meson"] == "eta-prime")


def test_na64h_numbers():
    rows = {r["meson"]: r for r in M.na64h_comparison(efficiency=1.0)}
    # geant4: eta'/eta yield ratio = proton cross-section ratio (same A dependence)
    ratio = rows["eta-prime"]["yield_per_pot"] / rows["eta"]["yield_per_pot"]
    assert ratio == pytest.approx(hand_sigma_proton("eta-prime", 50.0) / hand_sigma_proton("eta", 50.0), rel=1e-9)
    assert ratio == pytest.approx(0.029 / 0.99, rel=0.03)
    assert rows["eta"]["implied_yield_x_eff"] == pytest.approx(2.302585 / (2.9e9 * 1.1e-4), rel=1e-6)
    assert rows["eta"]["br_limit"] == pytest.approx(2.302585 / (2.9e9 * rows["eta"]["yield_per_pot"]), rel=1e-6)
    # order of magnitude: a few 1e-6 eta per pi- in the ECAL
    assert 1e-6 < rows["eta"]["yield_per_pot"] < 1e-5


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown meson 'rho'"):
        M.charge_exchange_xs("rho", 50.0, 1, 1)
    with pytest.raises(ValueError, match="unknown meson"):
        M.meson_yield_per_pot("kaon")
    with pytest.raises(ValueError, match="unknown material 'Unobtainium'"):
        M.meson_yield_per_pot("eta", target="Unobtainium", thickness_cm=1.0)
    with pytest.raises(ValueError, match="unknown material"):
        M.interaction_length_cm("Xx")
    with pytest.raises(ValueError, match="give thickness_cm"):
        M.meson_yield_per_pot("eta", target="Pb")
    with pytest.raises(ValueError, match="unknown cross-section model"):
        M.charge_exchange_xs("eta", 50.0, 1, 1, model="pythia")
    with pytest.raises(ValueError, match="efficiency"):
        M.invisible_signal_per_pot("eta", 1e-4, efficiency=1.5)
    with pytest.raises(ValueError, match="A >= Z"):
        M.nuclear_factor(82, 50)
