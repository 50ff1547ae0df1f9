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

from finite_difference import central_gradient

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
    assert q["gram_rank"] == K - 1                       # the default rank tolerance


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
    assert num.measure_max_margin(cert.gram, K, n)["gram_rank"] == K - 1      # the default rank tolerance
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


# --------------------------------------------------------------------------- closed forms, by brute force
def _softmax_columns(Z: np.ndarray) -> np.ndarray:
    """Column softmax one entry at a time (math.exp; an entry below the float range is 0)."""
    K = Z.shape[0]
    P = np.empty_like(Z)
    for k in range(K):
        top = max(Z[:, k])
        e = [math.exp(Z[j, k] - top) for j in range(K)]
        P[:, k] = [x / sum(e) for x in e]
    return P


def _brute_layer_peeled_loss(Z: np.ndarray) -> float:
    """(1/K) Σ_k (log Σ_j e^{Z[j,k]} − Z[k,k]), column by column."""
    K = Z.shape[0]
    out = 0.0
    for k in range(K):
        top = max(Z[:, k])
        out += top + math.log(sum(math.exp(Z[j, k] - top) for j in range(K))) - Z[k, k]
    return out / K


def _spectral_norm(A: np.ndarray) -> float:
    return math.sqrt(max(np.linalg.eigvalsh(A.T @ A)))


def test_psd_parts_of_a_known_spectrum():
    """Eigenvalues 3, 1, −2, 1/2 in a random orthonormal basis, plus an antisymmetric part that
    the symmetrization must remove: the PSD part drops −2, the rank-2 part keeps 3 and 1."""
    rng = np.random.default_rng(3)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    lam = np.array([3.0, 1.0, -2.0, 0.5])
    A = rng.standard_normal((4, 4))
    X = (Q * lam) @ Q.T + (A - A.T)
    psd, top, violation = num._psd_parts(X, 2)
    assert np.allclose(psd, (Q * np.clip(lam, 0, None)) @ Q.T, atol=1e-12)
    assert np.allclose(top, (Q * np.array([3.0, 1.0, 0.0, 0.0])) @ Q.T, atol=1e-12)
    assert violation == pytest.approx(2.0, rel=1e-12)
    assert num._psd_parts(psd, 3)[2] < 1e-12                  # a PSD matrix violates nothing


def test_layer_peeled_objective_and_gradient_by_brute_force():
    """Objective column by column on non-symmetric logits (at the optimum Z is symmetric, which would
    hide a row/column mix-up); gradients by central differences of that brute-force loss."""
    rng = np.random.default_rng(5)
    K, r = 3, 2
    W, H = rng.standard_normal((K, r)), rng.standard_normal((K, r))
    Z = W @ H.T
    assert num.layer_peeled_objective(Z) == pytest.approx(_brute_layer_peeled_loss(Z), rel=1e-14)
    f, gW, gH = num._layer_peeled_grad(W, H)
    assert f == pytest.approx(_brute_layer_peeled_loss(Z), rel=1e-14)
    for g, fd, which in ((gW, central_gradient(lambda V: _brute_layer_peeled_loss(V @ H.T), W), "W"),
                         (gH, central_gradient(lambda V: _brute_layer_peeled_loss(W @ V.T), H), "H")):
        assert np.max(np.abs(g - fd)) < 1e-8, (which, np.max(np.abs(g - fd)))


def test_layer_peeled_lower_bound_by_brute_force():
    """(1/K) Σ_k Ent(p_k) − ‖P − I‖_op √(E_W E_H), with 0·log 0 = 0: on random logits, and on
    logits whose softmax underflows to exact 0s (P = I: entropy 0, bound 0)."""
    rng = np.random.default_rng(6)
    K, E_W, E_H = 3, 0.5, 2.0
    Z = rng.standard_normal((K, K)) * 2
    Z[1:, 0] = -1000.0                                   # column 0: softmax exactly e_0
    for logits in (Z, 1000.0 * np.eye(K)):
        P = _softmax_columns(logits)
        ent = -sum(p * math.log(p) for p in P.ravel() if p > 0) / K
        ref = ent - _spectral_norm(P - np.eye(K)) * math.sqrt(E_W * E_H)
        assert num.layer_peeled_lower_bound(logits, E_W, E_H) == pytest.approx(ref, rel=1e-12, abs=1e-15)
    assert num.layer_peeled_lower_bound(1000.0 * np.eye(K), E_W, E_H) == 0.0


def test_max_margin_lower_bound_by_brute_force():
    """Σ λ₊ / ‖Λ(λ₊)‖_op with Λ built constraint by constraint; negative multipliers are clipped
    to 0; the bound does not change when λ is scaled (also below ‖Λ‖_op = 1); λ = 0 bounds nothing."""
    rng = np.random.default_rng(8)
    K, n = 3, 2
    lam = rng.uniform(-0.5, 1.0, size=K * n * (K - 1))
    plus = np.clip(lam, 0, None)
    Lam, c = np.zeros((K, K * n)), 0
    for i in range(K * n):                               # samples class by class
        for j in range(K):
            if j != i // n:
                Lam[i // n, i] += plus[c]
                Lam[j, i] -= plus[c]
                c += 1
    ref = plus.sum() / _spectral_norm(Lam)
    assert num.max_margin_lower_bound(lam, K, n) == pytest.approx(ref, rel=1e-12)
    assert _spectral_norm(Lam * 1e-3) < 1
    assert num.max_margin_lower_bound(lam * 1e-3, K, n) == pytest.approx(ref, rel=1e-12)
    assert num.max_margin_lower_bound(np.zeros(K * n * (K - 1)), K, n) == -np.inf


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


@pytest.mark.parametrize("claim_id", [LP, MM])
def test_dimension_obligation_at_its_boundary(claim_id):
    """The proofs' own d >= K − 1 obligation (validate() never lets a smaller d through): proved at
    the smallest fitting d = K − 1, refuted at d = K − 2."""
    claim = registry.get(claim_id)
    p = claim.resolve({"K": 4, "n": 1})
    formulas = claim.formulas(p)
    for d, fits in ((3, True), (2, False)):
        (ob,) = [o for o in claim.prove({**p, "d": d}, formulas) if o.name == "rank K − 1 fits in d dimensions"]
        assert ob.proved is fits, ob.describe()


@pytest.mark.parametrize("K,n,explicit", [(2, 30, True), (2, 31, False), (61, 1, False)])
def test_max_margin_proof_steps(K, n, explicit):
    """Weak duality (the dual value) is always part of the proof; the explicit K×N dual matrix is
    built up to N = EXPLICIT_N_MAX = 60 and not beyond (N = 62 with n > 1, and N = 61); every
    identity proved shows an expression that is 0."""
    obligations = th.prove_max_margin(th.max_margin_formulas(K, n), K, n)
    names = [o.name for o in obligations]
    assert all(o.proved is True for o in obligations), [o.describe() for o in obligations if not o.ok]
    assert sum(name.startswith("dual value N(K−1)λ = value") for name in names) == 1
    assert ("Λ = λK(I − J/K)Y (explicit)" in names) is explicit
    for o in obligations:
        if o.relation == "== 0" and not o.expr.free_symbols:
            assert abs(sp.N(o.expr, 30)) < 1e-25, o.describe()


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
