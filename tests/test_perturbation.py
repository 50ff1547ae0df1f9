"""Perturbation-analysis claims (pert.*): what the generic claim tests do not cover.

Each claim is run once at its defaults; negative controls and the rate check's tolerance are
then judged against those observations with the runner's own comparison (no re-run).
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

import collapsekit.claims.perturbation  # noqa: F401  (registers the claims)
from collapsekit import registry
from collapsekit.claim import ParameterError, evaluate
from collapsekit.runner import compare, prove_all, run_claim
from numerics import perturbation as nm
from simulations import perturbation as sm
from theory import perturbation as th

from finite_difference import central_gradient

IDS = ["pert.contraction", "pert.near_collapse", "pert.central_path", "pert.regularization"]
_cache: dict = {}


def observed(claim_id):
    """(claim, params, formulas, {kind: Observation}) at the defaults, computed once."""
    if claim_id not in _cache:
        claim = registry.get(claim_id)
        p = claim.resolve({})
        from collapsekit.claim import Context
        obs = {"numeric": claim.numeric(p, Context(claim_id, device="cpu")),
               "simulation": claim.simulate(p, Context(claim_id, device="cpu"))}
        _cache[claim_id] = (claim, p, claim.formulas(p), obs)
    return _cache[claim_id]


def errors(claim, obs, formulas):
    pred = evaluate(formulas)
    return {k: compare(o.values, pred, claim.zero_scale)[0] for k, o in obs.items()}


@pytest.mark.parametrize("claim_id", IDS)
def test_defaults_pass_and_every_control_is_rejected_by_every_check(claim_id):
    claim, p, formulas, obs = observed(claim_id)
    for kind, o in obs.items():
        assert o.converged, (kind, o.message)
    errs = errors(claim, obs, formulas)
    assert all(errs[k] <= claim.tolerances[k].value for k in errs), errs
    assert all(o.proved is True for o in prove_all(claim, p, formulas))
    for control in claim.negative_controls:
        bad = control.perturb(p, dict(formulas))
        errs = errors(claim, obs, bad)
        for kind in ("numeric", "simulation"):
            assert errs[kind] > claim.tolerances[kind].value, (control.name, kind, errs[kind])
        obligations = prove_all(claim, p, formulas, control.perturb)
        assert not all(o.proved is True for o in obligations), control.name


@pytest.mark.parametrize("relative, rejected", [(1e-3, True), (-1e-3, True), (1e-4, False), (-1e-4, False)])
def test_rate_check_fails_when_the_slope_is_off_by_more_than_its_tolerance(relative, rejected):
    claim, p, formulas, obs = observed("pert.near_collapse")
    assert claim.tolerances["numeric"].value == 5e-4
    for key in ("h_error_exponent", "w_error_exponent", "within_error_exponent"):
        bad = {**formulas, key: formulas[key] * (1 + sp.Rational(relative))}
        errs = errors(claim, obs, bad)
        for kind in ("numeric", "simulation"):
            assert (errs[kind] > claim.tolerances[kind].value) is rejected, (key, kind, errs[kind])


def test_fitted_exponents_are_close_to_the_theory():
    _, _, _, obs = observed("pert.near_collapse")
    v = obs["numeric"].values
    assert abs(v["h_error_exponent"] - 2) < 1e-5 and abs(v["within_error_exponent"] - 3) < 1e-5
    # a plain slope fit carries the O(eps^2) bias the correction term removes
    info = obs["numeric"].info
    eps = np.array(info["eps"])
    plain = nm.fit_slope(eps, np.array(info["h_error"]))
    assert 1e-5 < abs(plain - 2) < 1e-3


def test_contraction_is_exact_on_the_instance():
    K, n, d, g = 4, 3, 5, 0.5
    W, H0 = nm.contraction_instance(K, n, d)
    H, info = nm.contraction_lbfgs(W, H0, g, K, n)
    S = g * np.linalg.inv(W.T @ W + g * np.eye(d))
    np.testing.assert_allclose(nm.sigma_w(H, K, n), S @ nm.sigma_w(H0, K, n) @ S, atol=1e-10)
    assert np.trace(nm.sigma_w(H, K, n)) < np.trace(nm.sigma_w(H0, K, n))
    ev = np.linalg.eigvalsh(S)
    assert np.all(ev > 0) and np.all(ev <= 1 + 1e-14) and abs(ev.max() - 1) < 1e-12   # d > K: ker W ≠ 0


def test_unconverged_descent_is_reported():
    W, H0 = nm.contraction_instance(4, 3, 5)
    _, d = sm.contraction_descent(W, H0, 0.5, 4, 3, max_steps=3, device="cpu")
    assert not d.converged and d.steps == 3


def test_joint_gradient_matches_autograd():
    K, n, d, g, lw = 3, 2, 4, 0.7, 0.05
    rng = np.random.default_rng(0)
    W = torch.tensor(rng.standard_normal((1, K, d)), requires_grad=True)
    H = torch.tensor(rng.standard_normal((1, d, K * n)), requires_grad=True)
    H0 = torch.tensor(rng.standard_normal((1, d, K * n)))
    Y = sm.labels(K, n)
    N = K * n
    f = (((W @ H - Y) ** 2).sum() + g * ((H - H0) ** 2).sum()) / (2 * N) + lw / 2 * (W ** 2).sum()
    gW, gH = torch.autograd.grad(f, (W, H))
    mW, mH = sm.joint_grad(W.detach(), H.detach(), H0, Y, g, lw)
    assert torch.allclose(gW, mW, atol=1e-13) and torch.allclose(gH, mH, atol=1e-13)


def test_aligned_reduction_matches_the_full_minimizer():
    """At ε = 0 the full joint minimizer from the central-path point is W = a[I_K, 0], H̄ = bU."""
    K, n, d, c, lw, g = 4, 3, 5, 1.0, 0.05, 0.5
    H0 = nm.aligned_instance(K, n, d, c, 0.0)
    J = nm.Joint(K, n, d, g, lw, H0)
    x, info = J.solve(nm.central_start(H0, K, n, lw))
    W, H = J.split(x)
    q, a, b = (float(v) for v in th.aligned_factor(K, sp.Rational(1, 20), sp.Rational(1, 2), 1))
    U = np.zeros((d, K))
    U[:K, :K] = np.eye(K)
    np.testing.assert_allclose(W, a * U.T, atol=1e-10)
    np.testing.assert_allclose(H, b * np.kron(U, np.ones((1, n))), atol=1e-10)
    assert 0 < q < 1 and b > c


def test_central_path_trace_never_increases():
    claim, _, _, obs = observed("pert.central_path")
    info = obs["numeric"].info
    assert info["tr_sigma_w_T"] < obs["numeric"].values["tr_sigma_w_0"]
    assert obs["numeric"].values["tr_increase"] == 0.0 and obs["simulation"].values["tr_increase"] == 0.0


@pytest.mark.parametrize("claim_id,overrides,param", [
    ("pert.near_collapse", {"eps": 0.05}, "eps"),
    ("pert.near_collapse", {"lambda_W": 1e-3}, "lambda_W"),
    ("pert.regularization", {"K": 4, "d": 3}, "d"),
    ("pert.contraction", {"gamma": 0.0}, "gamma"),
    ("pert.contraction", {"n": 1}, "n"),
    ("pert.central_path", {"lambda_W": -1}, "lambda_W"),
])
def test_bad_parameters_name_the_parameter(claim_id, overrides, param):
    with pytest.raises(ParameterError) as err:
        registry.get(claim_id).resolve(overrides)
    assert err.value.name == param


def test_set_moves_the_parameters():
    r = run_claim(registry.get("pert.contraction"), {"gamma": 2.0, "K": 3, "d": 2}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}
    assert r.predicted["tr_ratio"] < 1


def _kernel_projector(W):
    """An independent reference: scipy's orthonormal kernel basis B, projector BBᵀ."""
    from scipy.linalg import null_space
    B = null_space(W)
    return B @ B.T


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_null_projector_is_the_kernel_projector_at_any_scale(scale):
    """ker(cW) = ker W: the rank cut is relative to the largest singular value, so scaling W changes nothing."""
    W, _ = nm.contraction_instance(4, 3, 5)                # 4 x 5: a one-dimensional kernel
    P = nm.null_projector(scale * W)
    np.testing.assert_allclose(P, _kernel_projector(W), atol=1e-12)
    np.testing.assert_allclose(W @ P, 0.0, atol=1e-12)
    assert np.trace(P) == pytest.approx(1.0, abs=1e-12)


def test_null_projector_counts_tiny_singular_values_as_zero_and_handles_empty_maps():
    rng = np.random.default_rng(1)
    U, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    V, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    W = U @ np.diag([1.0, 1e-3, 1e-12]) @ V.T             # 1e-12 < 1e-10 (relative): numerically rank 2
    np.testing.assert_allclose(nm.null_projector(W), np.outer(V[:, 2], V[:, 2]), atol=1e-9)
    np.testing.assert_allclose(nm.null_projector(np.zeros((0, 3))), np.eye(3))   # no rows: everything is kernel
    np.testing.assert_allclose(nm.null_projector(np.zeros((2, 3))), np.eye(3))


def test_joint_objective_and_gradient_match_autograd():
    """numerics' Joint.fg (value and hand-written gradient) against torch autograd of L(W, H)."""
    K, n, d, g, lw = 3, 2, 4, 0.7, 0.05
    rng = np.random.default_rng(2)
    H0 = rng.standard_normal((d, K * n))
    x = rng.standard_normal(K * d + d * K * n)
    J = nm.Joint(K, n, d, g, lw, H0)
    f, grad = J.fg(x)
    W, H = (torch.tensor(a, requires_grad=True) for a in J.split(x))
    Y, N = torch.tensor(nm.labels(K, n)), K * n
    L = (((W @ H - Y) ** 2).sum() + g * ((H - torch.tensor(H0)) ** 2).sum()) / (2 * N) + lw / 2 * (W ** 2).sum()
    gW, gH = torch.autograd.grad(L, (W, H))
    assert f == pytest.approx(L.item(), rel=1e-14)
    np.testing.assert_allclose(grad, np.concatenate([gW.numpy().ravel(), gH.numpy().ravel()]), rtol=1e-12, atol=1e-14)


def test_zero_matrix_needs_every_entry_to_vanish():
    """Entries that cancel in a sum (1, −1), or whose cubes cancel, still refute; all zeros prove."""
    from theory import perturbation as thp

    x = sp.Symbol("x", positive=True)
    for M in (sp.Matrix([[1, -1]]), sp.Matrix([[x, -x], [0, 0]]), sp.Matrix([[0, 1]])):
        assert thp._zero_matrix("m", M).proved is False, M
    assert thp._zero_matrix("m", sp.Matrix([[x - x, (x**2 - 1) / (x + 1) - x + 1]])).proved is True


def test_monotonicity_obligations_compare_the_grid_neighbours():
    """'leading grows with λ_W / γ' compares leading_{i+1} (resp. leading_{i+3}) with leading_i: with
    leading_0 raised above both neighbours, exactly those two comparisons are refuted (a sum of the
    two values, positive either way, would not notice)."""
    claim = registry.get("pert.regularization")
    p = claim.resolve({})
    f = claim.formulas(p)
    bad = {**f, "leading_0": 10 * (abs(f["leading_1"]) + abs(f["leading_3"]))}
    refuted = {o.name for o in claim.prove(p, bad) if o.proved is not True}
    assert "leading grows with λ_W: leading_1 − leading_0 > 0" in refuted
    assert "leading grows with γ: leading_3 − leading_0 > 0" in refuted


def test_central_path_rhs_is_minus_the_gradient_of_g():
    """Ḣ = −∇g(H) with g(H) = min_W (1/2N)‖WH − Y‖² + (λ_W/2)‖W‖², against central differences of g
    (W*(H) in closed form at each evaluation).  The claim's checks only watch Tr Σ_W, which a wrong
    class-mean part of the flow (e.g. WH + Y for WH − Y) leaves unchanged at t = 0; this pins the whole field."""
    K, n, d, lam = 3, 2, 4, 0.05
    N, Y = K * n, nm.labels(K, n)

    def g(H):
        W = np.linalg.solve(H @ H.T + N * lam * np.eye(d), H @ Y.T).T
        return 0.5 / N * np.sum((W @ H - Y) ** 2) + 0.5 * lam * np.sum(W**2)

    H = np.random.default_rng(3).standard_normal((d, N))
    field = nm.central_path_rhs(K, n, d, lam)(0.0, H.ravel()).reshape(d, N)
    np.testing.assert_allclose(field, -central_gradient(g, H), atol=1e-8)   # central differences: O(h²) ~ 1e-12, rounding ~1e-10


def test_implicit_derivatives_match_finite_differences_of_the_solved_root():
    """dq/dλ_W and dq/dγ of the general proof (implicit differentiation of the quintic) against central
    differences of q(λ_W, γ) computed from the instance's own root (aligned_factor), at K = 3, λ_W = 1/20,
    γ = 1/2, c = 1, in 40-digit arithmetic with h = 1e-12 (truncation ~h² ~ 1e-24)."""
    K, lw, g, c = 3, sp.Rational(1, 20), sp.Rational(1, 2), 1
    _, cs, ls, Ks, gs, bs = th.REG_SYMBOLS
    F, _, dq_dl, dq_dg = th.implicit_derivatives()
    _, _, b = th.aligned_factor(K, lw, g, c)
    at = {cs: c, ls: lw, Ks: K, gs: g, bs: b}
    assert abs(sp.N(F.subs(at), 40)) < 1e-35                       # b is the quintic's root there
    h = sp.Rational(1, 10**12)

    def q(lw_, g_):
        return sp.N(th.aligned_factor(K, lw_, g_, c)[0], 40)

    fd_l = (q(lw + h, g) - q(lw - h, g)) / (2 * h)
    fd_g = (q(lw, g + h) - q(lw, g - h)) / (2 * h)
    assert abs(sp.N(dq_dl.subs(at), 40) - fd_l) < 1e-15 * abs(fd_l) and fd_l > 0
    assert abs(sp.N(dq_dg.subs(at), 40) - fd_g) < 1e-15 * abs(fd_g) and fd_g > 0


def test_near_collapse_with_one_sample_per_class_is_refuted_not_crashed():
    """n = 1 leaves no within-class direction (E = 0): the within part does not depend on ε, and the proof
    says so with a refuted obligation instead of reading an order off the zero polynomial."""
    obs = th.prove_near_collapse(th.near_collapse_formulas(), 3, 1, 4, sp.Rational(1, 2), sp.Rational(1, 20))
    (o,) = [o for o in obs if o.name == "the within part depends on ε"]
    assert o.proved is False


def test_the_grid_monotonicity_rests_on_the_general_proof(monkeypatch):
    """increasing_in_* = 1 is proved only through the general dq/dλ_W, dq/dγ > 0: with that proof
    undecided, both obligations are refuted."""
    from theory.proof import Obligation

    claim = registry.get("pert.regularization")
    p = claim.resolve({})
    f = claim.formulas(p)
    monkeypatch.setattr(th, "prove_regularization_general", lambda: (Obligation("general", sp.Integer(0), "== 0", None),))
    verdict = {o.name.split(" (")[0]: o.proved for o in claim.prove(p, f) if o.name.startswith("increasing_in")}
    assert verdict == {"increasing_in_lambda_W = 1": False, "increasing_in_gamma = 1": False}, verdict
