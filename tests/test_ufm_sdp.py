"""ufm.ce.layer_peeled and ufm.ce.max_margin: certificates, bounds, parameters, negative
controls, and the simulation pieces they rest on.

The generic suite (tests/test_claims.py) already runs every check at defaults, for
K in test_K, and every negative control through every check; these tests check what
is specific: that each certificate is what it says, that its bounds are valid for
arbitrary feasible points, that bad parameters are named, and that the perturbations
cannot slip through.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

from collapsekit import registry
from collapsekit.claim import Context, ParameterError, evaluate
from collapsekit.runner import compare, prove_all
from numerics import ufm_sdp as num
from simulations import layer_peeled as sim
from simulations.ufm import UFM
from theory import layer_peeled as th

LP, MM = "ufm.ce.layer_peeled", "ufm.ce.max_margin"


def _lp_closed_form(K, E_W, E_H):
    return evaluate(th.layer_peeled_formulas(K, sp.Rational(repr(E_W)), sp.Rational(repr(E_H))))


# --------------------------------------------------------------------------- certificates
@pytest.mark.parametrize("K,E_W,E_H", [(2, 1.0, 2.0), (4, 0.5, 3.0)])
def test_layer_peeled_certificate(K, E_W, E_H):
    cert = num.layer_peeled_sdp(K, E_W, E_H, d=K)
    assert cert.status == "optimal" and cert.solver == "CLARABEL"
    assert cert.primal_residual < 1e-8
    assert -1e-13 <= cert.gap < 1e-12, cert.gap
    assert cert.info["kkt_residual"] < 1e-12 and min(cert.multipliers.values()) > 0
    for name, value in cert.multipliers.items():        # the solver's own duals agree with the polish
        assert cert.info["sdp_multipliers"][name] == pytest.approx(value, rel=1e-4)
    assert num.numerical_rank_psd(cert.gram, 1e-6) == K - 1 <= K
    pred = _lp_closed_form(K, E_W, E_H)
    assert cert.lower - 1e-13 <= pred["loss"] <= cert.upper + 1e-13
    q = num.measure_layer_peeled(cert.gram, K)
    assert np.allclose(q["w_cos"], -1 / (K - 1), rtol=1e-9)
    assert np.allclose(q["h_w_ratio"], math.sqrt(E_H / E_W), rtol=1e-9)


def test_layer_peeled_scs_agrees():
    cert = num.layer_peeled_sdp(4, 1.0, 2.0, d=4, solver="SCS")
    assert cert.solver == "SCS" and cert.status == "optimal" and cert.gap < 1e-12
    assert cert.lower - 1e-13 <= _lp_closed_form(4, 1.0, 2.0)["loss"] <= cert.upper + 1e-13


@pytest.mark.parametrize("K,n,solver", [(2, 1, None), (4, 3, None), (3, 5, "SCS")])
def test_max_margin_certificate(K, n, solver):
    cert = num.max_margin_sdp(K, n, d=K, solver=solver)
    assert cert.status == "optimal"
    assert cert.primal_residual < 1e-9
    assert -1e-13 <= cert.gap < 1e-9, cert.gap
    assert cert.lower <= math.sqrt(n) * (K - 1) * (1 + 1e-13) and math.sqrt(n) * (K - 1) <= cert.upper * (1 + 1e-13)
    assert num.numerical_rank_psd(cert.gram, 1e-6) == K - 1
    lam = cert.multipliers["lambda"]
    assert lam.size == K * n * (K - 1)
    assert np.allclose(lam, lam.mean(), rtol=1e-6)      # every constraint carries the same multiplier


def test_layer_peeled_lower_bound_holds_for_every_feasible_point():
    """LB(P) is a bound for *any* column-stochastic P and every feasible point."""
    rng = np.random.default_rng(1)
    K, E_W, E_H = 4, 1.0, 2.0
    for _ in range(50):
        d = int(rng.integers(1, 2 * K))
        W, H = rng.standard_normal((K, d)), rng.standard_normal((K, d))
        W *= math.sqrt(K * E_W) / np.linalg.norm(W) * rng.uniform(0.1, 1.0)
        H *= math.sqrt(K * E_H) / np.linalg.norm(H) * rng.uniform(0.1, 1.0)
        f = num.layer_peeled_objective(W @ H.T)
        assert num.layer_peeled_lower_bound(rng.standard_normal((K, K)) * 3, E_W, E_H) <= f + 1e-12
    # and it is tight at the optimum only
    pred = _lp_closed_form(K, E_W, E_H)["loss"]
    assert num.layer_peeled_lower_bound(rng.standard_normal((K, K)), E_W, E_H) < pred - 1e-3


def test_max_margin_lower_bound_holds_for_every_feasible_point():
    rng = np.random.default_rng(2)
    K, n = 3, 2
    N = K * n
    labels = np.repeat(np.arange(K), n)
    ry, rj, cols = num._margin_index(K, n)
    for _ in range(50):
        W = rng.standard_normal((K, 4))
        H = W[labels].T + 0.3 * rng.standard_normal((4, N))      # usually separating
        margins = (W @ H)[ry, cols] - (W @ H)[rj, cols]
        if margins.min() <= 0:
            continue
        W, H = W / math.sqrt(margins.min()), H / math.sqrt(margins.min())   # feasible: min margin 1
        lam = rng.uniform(0, 1, size=ry.size)
        assert num.max_margin_lower_bound(lam, K, n) <= 0.5 * (np.sum(W * W) + np.sum(H * H)) + 1e-12


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("claim_id,overrides,param", [
    (LP, {"K": 1}, "K"), (LP, {"K": 5, "d": 3}, "d"), (LP, {"E_W": 0.0}, "E_W"), (LP, {"E_H": -1.0}, "E_H"),
    (LP, {"E_W": 20.0, "E_H": 20.0}, "E_H"), (LP, {"n": 0}, "n"), (LP, {"E_W": "abc"}, "E_W"),
    (LP, {"lambda_W": 0.1}, "lambda_W"), (LP, {"K": 13}, "K"),
    (MM, {"K": 1}, "K"), (MM, {"K": 4, "d": 2}, "d"), (MM, {"n": 0}, "n"), (MM, {"K": 20, "n": 30}, "n"),
    (MM, {"n": 2.5}, "n"), (MM, {"E_W": 1.0}, "E_W"),
])
def test_bad_parameters_name_the_parameter(claim_id, overrides, param):
    with pytest.raises(ParameterError) as err:
        registry.get(claim_id).resolve(overrides)
    assert err.value.name == param and f"parameter {param}" in str(err.value)


# --------------------------------------------------------------------------- negative controls
@pytest.mark.parametrize("claim_id,overrides", [
    (LP, {}), (LP, {"E_W": 1.0, "E_H": 1.0}),          # E_W E_H = 1 and E_H = E_W: the fallbacks
    (MM, {}), (MM, {"n": 1}),                           # n = 1: h = w coincides with w/√n
])
def test_every_control_is_refuted_by_the_proofs(claim_id, overrides):
    claim = registry.get(claim_id)
    p = claim.resolve(overrides)
    formulas = claim.formulas(p)
    assert all(o.proved is True for o in prove_all(claim, p, formulas))
    for nc in claim.negative_controls:
        bad = nc.perturb(p, dict(formulas))
        assert any(sp.simplify(bad[k] - formulas[k]) != 0 for k in formulas), nc.name
        refuted = [o for o in prove_all(claim, p, formulas, nc.perturb) if o.proved is not True]
        assert refuted, f"{nc.name} was not refuted"
        assert all(o.proved is False for o in refuted), [o.describe() for o in refuted]   # refuted, not undecided


def test_controls_are_rejected_by_the_observations():
    """The numeric and simulated observations (one run each) reject every perturbed prediction."""
    for claim_id in (LP, MM):
        claim = registry.get(claim_id)
        p = claim.resolve({})
        ctx = Context(claim_id)
        formulas = claim.formulas(p)
        observations = [claim.numeric(p, ctx), claim.simulate(p, ctx)]
        for obs, kind in zip(observations, ("numeric", "simulation")):
            assert obs.converged, obs.message
            tol = claim.tolerances[kind].value
            assert compare(obs.values, evaluate(formulas), claim.zero_scale)[0] <= tol
            for nc in claim.negative_controls:
                err = compare(obs.values, evaluate(nc.perturb(p, dict(formulas))), claim.zero_scale)[0]
                assert err > 100 * tol, (claim_id, kind, nc.name, err)


def test_counterexample_refutes_only_false_identities():
    E_W, E_H = th.E_W_sym, th.E_H_sym
    assert th._zero("true", sp.log(E_W * E_H) - sp.log(E_W) - sp.log(E_H)).proved is True
    assert th._zero("false where the symbols differ", E_W - E_H).proved is False
    assert th._zero("false", sp.sqrt(E_W * E_H) - E_W * E_H).proved is False


# --------------------------------------------------------------------------- simulations
def test_stable_log_loss_matches_the_engine_and_survives_large_margins():
    u = UFM("ce", 3, 4, 2, bias=False, S=2, device="cpu")
    x = u.init(0)
    log_f, g, total, M = sim._log_loss_and_grad(u, x)
    f, grad = u.value_and_grad(x)
    assert torch.allclose(log_f.exp(), f, rtol=1e-12)
    assert torch.allclose(g * f.view(-1, 1), grad, rtol=1e-10, atol=1e-15)
    # at an ETF scaled to margin ~200 the plain loss underflows to 0; log f stays exact
    K, n, d = 3, 2, 3
    u = UFM("ce", K, d, n, bias=False, S=1, device="cpu")
    Wm = np.eye(K) - 1 / K
    Hm = np.repeat(Wm, n, axis=0).T
    s = math.sqrt(200.0 / 1.0)                       # margin of (W, H) scaled by s is s²·1
    x = u.pack(u.tensor(s * Wm[None]), u.tensor(s * Hm[None]))
    log_f, g, total, M = sim._log_loss_and_grad(u, x)
    assert float(u.objective(x)) == 0.0
    assert float(M.flatten(1).amin()) == pytest.approx(200.0, rel=1e-12)
    assert float(log_f) == pytest.approx(math.log((K - 1) * math.exp(-200.0)), rel=1e-12)
    assert torch.isfinite(g).all() and float(g.norm()) > 0


def test_margin_flow_orbit():
    mf = sim.margin_flow(3, 3, 2, [1e-4, 1.0], seed=4, device="cpu", target_margin=32.0)
    assert mf.info["reached_target"] and (mf.min_margin[-1] >= 32).all()
    sep = np.nonzero((mf.min_margin > 0).all(axis=1))[0][0]
    assert (np.diff(mf.smoothed_margin[sep:], axis=0) >= -1e-8 * np.abs(mf.smoothed_margin[sep + 1:])).all()
    assert (np.diff(mf.log_t[1:], axis=0) > 0).all()          # the original time runs forward
    # ‖θ‖²/(2 min margin) bounds the min-norm value from above at every separated snapshot
    value = math.sqrt(2) * 2
    assert (mf.norm_value[sep:] >= value * (1 - 1e-12)).all()
    assert mf.kkt_residual[-1].max() < mf.kkt_residual[sep:].max()


def test_budget_descent_agrees_with_the_sdp_multipliers():
    r = sim.budget_descent(3, 4, 2, 0.5, 3.0, starts=3, seed=2, device="cpu")
    assert r.converged, r.info
    assert min(r.info["both_budgets_active_at_pg_step"]) > 0
    cert = num.layer_peeled_sdp(3, 0.5, 3.0, d=4)
    assert np.allclose(r.mult_W, cert.multipliers["mult_W"], rtol=1e-7)
    assert np.allclose(r.mult_H, cert.multipliers["mult_H"], rtol=1e-7)
    assert np.allclose(r.loss, cert.upper, rtol=1e-12)


def test_max_margin_simulation_skips_beyond_its_range(monkeypatch):
    claim = registry.get(MM)
    p = claim.resolve({"K": claim.sim_max_K + 1, "n": 1, "d": claim.sim_max_K})
    monkeypatch.setattr(type(claim), "target_margin", staticmethod(lambda K: 8.0))   # a short trace suffices
    obs = claim.simulate(p, Context(MM))
    assert obs.skip and f"K = {p['K']}" in obs.skip and "value" in obs.values
