"""ssl.directpred: both sides of the basin boundary p_minus and of the collapse threshold, the negative
controls, the field implementations against each other, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from numerics import ssl as nm
from simulations import ssl as sm
from theory import ssl as th

CLAIM = registry.get("ssl.directpred")
_cache: dict = {}


def result(**overrides):
    key = tuple(sorted(overrides.items()))
    if key not in _cache:
        _cache[key] = run_claim(CLAIM, overrides, device="cpu")
    return _cache[key]


def _pm(tau, s2, eta):
    r = np.sqrt(tau**2 - 4 * eta * (1 + s2))
    return (tau + r) / (2 * (1 + s2)), (tau - r) / (2 * (1 + s2))


@pytest.mark.parametrize("overrides", [{"eta": 0.3},                       # beyond the threshold 1/6: collapse
                                       {"eta": 0.0},                       # no weight decay: p -> tau/(1+sigma2)
                                       {"eta": 0.2, "tau": 1.5, "sigma2": 0.0, "alpha_p": 0.5, "d": 3}])
def test_set_moves_the_parameters_and_the_checks_still_pass(overrides):
    r = result(**overrides)
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}


def test_both_sides_of_the_threshold_change_the_prediction():
    below, above = CLAIM.formulas(CLAIM.resolve({"eta": 0.16})), CLAIM.formulas(CLAIM.resolve({"eta": 0.17}))
    assert "p_plus" in below and "limit_below" in below and "limit_collapsed" not in below
    assert "p_plus" not in above and float(above["limit_collapsed"]) == 0.0
    # the numeric mode field agrees: two positive fixed points just below 1/6, none just above
    assert len(nm.nonzero_fixed_points(1.0, 0.5, (1 - 1e-3) / 6, 2.0)) == 2
    assert nm.nonzero_fixed_points(1.0, 0.5, (1 + 1e-3) / 6, 2.0) == []
    r = result(eta=0.3)
    assert r.observed["simulation.limit_collapsed"] == pytest.approx(0.0, abs=1e-9)


def test_both_sides_of_the_basin_boundary_close_to_p_minus():
    tau, s2, eta, ap = 1.0, 0.5, 0.1, 2.0
    pp, pm = _pm(tau, s2, eta)
    p0 = np.array([pm * 1.02, pm * 0.98, pm * 1.02, pm * 0.98])
    lim = nm.mode_limits(p0, tau, s2, eta, ap, np.random.default_rng(0))
    assert lim.converged
    np.testing.assert_allclose(lim.modes, [pp, 0.0, pp, 0.0], rtol=1e-8, atol=1e-9)
    tl = sm.mode_limits(p0[None, :], [eta], tau, s2, ap, seed=1, device="cpu")
    assert tl.converged
    np.testing.assert_allclose(tl.modes[0].numpy(), [pp, 0.0, pp, 0.0], rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("overrides", [{}, {"eta": 0.3}])
def test_each_applicable_negative_control_is_rejected_by_all_three_checks(overrides):
    nc = result(**overrides).checks["negative_control"]
    assert nc.status == "pass", nc.message
    for control in nc.detail["controls"]:
        assert all(control["rejected_by"][k] for k in ("symbolic", "numeric", "simulation")), control
    names = {c["name"] for c in nc.detail["controls"]}
    assert any("1+" in n for n in names) and any("2 eta" in n for n in names)
    if overrides:          # beyond the threshold p_pm do not exist: that control has nothing to perturb
        assert any("wrong sign" in n for n in nc.detail["not_applicable"])


def test_the_three_field_implementations_agree():
    g = torch.Generator().manual_seed(0)
    Wp, W = torch.randn(2, 3, 3, generator=g, dtype=torch.float64), torch.randn(2, 3, 3, generator=g, dtype=torch.float64)
    a = sm.field(Wp, W, 0.9, 0.4, 0.07, 1.7)
    b = sm.autograd_field(Wp, W, 0.9, 0.4, 0.07, 1.7)
    c = nm.field(Wp[0].numpy(), W[0].numpy(), 0.9, 0.4, 0.07, 1.7)
    for x, y, z in zip(a, b, c):
        torch.testing.assert_close(x, y, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(x[0].numpy(), z, rtol=1e-13, atol=1e-13)


def test_newton_locates_the_saddle_node_and_p_minus():
    assert sm.newton_threshold(1.0, 0.5, 2.0) == pytest.approx(1 / 6, rel=1e-12)
    assert sm.newton_p_minus(1.0, 0.5, 0.1, 2.0) == pytest.approx(_pm(1.0, 0.5, 0.1)[1], rel=1e-12)


@pytest.mark.parametrize("overrides,param", [({"tau": 0.0}, "tau"), ({"alpha_p": 0.0}, "alpha_p"),
                                             ({"delta": 1.0}, "delta"), ({"delta": 0.0}, "delta"),
                                             ({"eta": -0.1}, "eta"), ({"sigma2": -1.0}, "sigma2"),
                                             ({"tau": 1.0, "sigma2": 1.0, "eta": 0.125}, "eta"),   # exactly critical
                                             ({"d": 1}, "d"), ({"K": 3}, "K"), ({"eta": "x"}, "eta")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_the_sympy_field_is_the_numpy_field():
    """theory.ssl differentiates J by sympy; numerics.ssl writes the gradient by hand: same field at a random
    rational point, and the same per-mode field on the balanced ansatz."""
    rng = np.random.default_rng(3)
    Wp_s, W_s = (sp.Matrix(2, 2, sp.symbols(f"{name}0:4", real=True)) for name in ("p", "w"))
    at = dict(zip([*Wp_s, *W_s], [sp.Rational(int(v), 7) for v in rng.integers(-9, 10, 8)]))
    tau, s2, eta, ap = sp.Rational(9, 10), sp.Rational(2, 5), sp.Rational(7, 100), sp.Rational(17, 10)
    want = nm.field(np.array(Wp_s.subs(at), dtype=float), np.array(W_s.subs(at), dtype=float), 0.9, 0.4, 0.07, 1.7)
    for got, ref in zip(th.matrix_field(Wp_s, W_s, tau, s2, eta, ap), want):
        np.testing.assert_allclose(np.array(got.subs(at), dtype=float), ref, rtol=1e-14, atol=1e-15)
    F = th.mode_field(tau, s2, eta, ap)
    for p in (0.05, 0.3, 0.8, 1.6):
        assert float(F.subs(th.P, sp.Rational(repr(p)))) == pytest.approx(nm.mode_field(p, 0.9, 0.4, 0.07, 1.7),
                                                                         rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("eta", [0.25, 1.0, 1.4])       # tau = 3, sigma2 = 0.5: threshold 1.5
def test_every_positive_eta_below_the_threshold_predicts_both_basins(eta):
    f = CLAIM.formulas(CLAIM.resolve({"tau": 3.0, "eta": eta}))
    assert f["limit_below"] == 0 and "limit_collapsed" not in f
    # the fixed points against the numeric mode field's roots (scipy brentq, no closed form)
    roots = nm.nonzero_fixed_points(3.0, 0.5, eta, 2.0)
    np.testing.assert_allclose(roots, [float(f["p_minus"]), float(f["p_plus"])], rtol=1e-10)
    assert "limit_below" not in CLAIM.formulas(CLAIM.resolve({"tau": 3.0, "eta": 0.0}))    # p_minus = 0: no basin below
