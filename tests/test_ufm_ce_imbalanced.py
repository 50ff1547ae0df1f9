"""ufm.ce.imbalanced: the convex form and its certificate, the minority-collapse threshold on both
sides, NC1, parameters, and every negative control rejected by every check."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import Context, ParameterError
from collapsekit.claims import ufm_ce_imbalanced as claim_mod
from collapsekit.runner import run_claim
from numerics import ufm_ce_imbalanced as nu
from simulations import ufm_ce_imbalanced as su
from theory import ufm_ce_imbalanced as th
from theory.proof import exact

from finite_difference import central_gradient

CLAIM = claim_mod.UFMCEImbalanced()
_default: dict = {}


def default_run():
    if "r" not in _default:
        _default["r"] = run_claim(CLAIM, {}, device="cpu")
    return _default["r"]


def test_threshold_and_regimes():
    counts = (8, 8, 2, 1, 1)
    assert th.groups_of(counts) == [(3, 4), (0, 1)]
    assert th.threshold(counts, (3, 4)) == sp.Rational(1, 20)
    assert th.threshold(counts, (0, 1)) == sp.sqrt(2) / 10
    f = th.formulas(counts, exact(0.04), exact(0.09))          # μ = 3/50: minorities collapse, majorities do not
    assert f["contrast_dual_4_5"] == sp.Rational(1, 20) and f["contrast_dual_1_2"] == sp.Rational(3, 50)
    assert "spread_w_4_5" in f and "spread_w_1_2" not in f
    g = th.formulas(counts, exact(0.02), exact(0.02))          # μ = 1/50 < 1/20: nothing collapses
    assert not any(k.startswith("spread_") for k in g) and g["contrast_dual_4_5"] == sp.Rational(1, 50)


def test_proof_refutes_the_wrong_regime_for_either_group():
    """At the defaults μ = 3/50 lies between the thresholds 1/20 (classes 4, 5) and √2/10 (classes 1, 2):
    declaring the majority pair collapsed, the minority pair spread, or the minority pair's classifiers
    but not its means collapsed is refuted by the sign and completeness obligations."""
    counts, lw, lh = (8, 8, 2, 1, 1), exact(0.04), exact(0.09)
    f = th.formulas(counts, lw, lh)
    assert all(o.ok for o in th.prove(f, counts, lw, lh))
    t_major = th.threshold(counts, (0, 1))
    major_collapsed = {**f, "spread_w_1_2": sp.Integer(0), "spread_h_1_2": sp.Integer(0), "contrast_dual_1_2": t_major}
    minor_spread = {k: v for k, v in f.items() if not k.startswith("spread_") or not k.endswith("4_5")}
    minor_spread["contrast_dual_4_5"] = sp.sqrt(lw * lh)
    half_collapsed = {k: v for k, v in f.items() if k != "spread_h_4_5"}
    for bad in (major_collapsed, minor_spread, half_collapsed):
        assert not all(o.ok for o in th.prove(bad, counts, lw, lh)), sorted(bad)


def test_proof_holds_and_each_control_is_refuted_symbolically():
    p = CLAIM.resolve({})
    f = CLAIM.formulas(p)
    assert all(o.proved is True for o in CLAIM.prove(p, f))
    for nc in CLAIM.negative_controls:
        bad = nc.perturb(p, dict(f))
        assert any(o.proved is not True for o in CLAIM.prove(p, bad)), nc.name


def test_every_negative_control_rejected_by_every_check():
    r = default_run()
    assert r.status == "pass", {k: c.message for k, c in r.checks.items()}
    controls = r.checks["negative_control"].detail["controls"]
    assert len(controls) == len(CLAIM.negative_controls)
    for c in controls:
        assert c["rejected_by"] == {"symbolic": True, "numeric": True, "simulation": True}, c


def test_solver_status_and_certificate_in_json():
    info = default_run().checks["numeric"].to_json()["info"]
    assert info["solver"]["status"] in ("optimal", "optimal_inaccurate")
    assert info["polished_certificate"]["gap"] < 1e-10
    assert info["thresholds"]["4_5"]["bracketed"]


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_contrast_multiplier_both_sides(factor):
    """γ_g = min(μ, √n_g/N) on either side of the threshold, and the classes coincide only above it."""
    counts, lb = (6, 6, 1, 1), 0.01
    t = 1 / 14
    mu = factor * t
    opt = nu.optimum(counts, mu, mu, lb, 4)
    assert opt.certificate.gap < 1e-9
    gam = nu.contrast_dual(opt.Z, opt.b, counts, (2, 3))[0]
    assert gam == pytest.approx(min(mu, t), rel=1e-8)
    spread = nu.spread(opt.W, (2, 3))
    assert (spread < 1e-8) if factor > 1 else (spread > 1e-2)


def test_softmax_columns_is_shift_stable():
    """Logits ~1500 overflow exp(); the column softmax must equal scipy's."""
    from scipy.special import softmax

    Z = np.array([[1500.0, 1000.0], [1499.0, 1001.0], [0.0, 1002.0]])
    assert np.allclose(nu.softmax_columns(Z), softmax(Z, axis=0), rtol=1e-14, atol=0)


def test_ce_gradient_and_contrast_multiplier_against_finite_differences():
    """ce_part's gradient and contrast_dual's (γ, residual) against −∂L/∂X by central differences of
    the loss value (X = Z D); at Z = 0, b = 0 (uniform softmax, every group symmetric) γ = √n_g/N and the
    residual is 0."""
    counts, g = (5, 2, 2, 2), (1, 2, 3)                 # |g| = 3: for |g| = 2, P_g B P_g is always a multiple of P_g
    sq = np.sqrt(np.asarray(counts, dtype=float))
    rng = np.random.default_rng(4)
    Z, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    L, G = nu.ce_part(Z, b, counts)
    G_fd = central_gradient(lambda Y: nu.ce_part(Y, b, counts)[0], Z)
    assert np.max(np.abs(G - G_fd)) < 1e-8
    Gamma = -central_gradient(lambda X: nu.ce_part(X / sq[None, :], b, counts)[0], Z * sq[None, :])
    P = nu.contrast_projector(4, g)
    assert np.allclose(P @ P, P, atol=1e-15) and np.trace(P) == pytest.approx(len(g) - 1)
    B = P @ Gamma @ P
    gam_fd = np.trace(B) / (len(g) - 1)
    gam, res = nu.contrast_dual(Z, b, counts, g)
    assert gam == pytest.approx(gam_fd, abs=1e-8) and res == pytest.approx(np.linalg.norm(B - gam_fd * P), abs=1e-8)
    assert res > 1e-3                                    # a generic point is not symmetric in g
    gam0, res0 = nu.contrast_dual(np.zeros((4, 4)), np.zeros(4), counts, g)
    assert gam0 == pytest.approx(np.sqrt(2) / 11, rel=1e-14) and res0 < 1e-15


def test_factor_is_balanced_before_polishing():
    """factor(): W H̄ = Z and (λ_W/2)‖W‖² = (λ_H/2)Σ_k n_k‖h̄_k‖² = (μ/2)‖Z D‖_*, with no Newton polish;
    singular values below 1e-7·max(1, σ_1) are dropped (a rank-2 Z of tiny scale keeps its rank)."""
    counts, lw, lh = (5, 2, 1, 1), 0.02, 0.08
    sq = np.sqrt(np.asarray(counts, dtype=float))
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((4, 2)) @ rng.standard_normal((2, 4))
    W, Hbar, r = nu.factor(Z, counts, lw, lh, 3)
    nuc = np.linalg.svd(Z * sq[None, :], compute_uv=False).sum()
    assert r == 2 and W.shape == (4, 3) and Hbar.shape == (3, 4)
    assert np.allclose(W @ Hbar, Z, atol=1e-12)
    assert 0.5 * lw * np.sum(W * W) == pytest.approx(0.5 * np.sqrt(lw * lh) * nuc, rel=1e-12)
    assert 0.5 * lh * np.sum(counts * np.sum(Hbar * Hbar, axis=0)) == pytest.approx(0.5 * np.sqrt(lw * lh) * nuc,
                                                                                     rel=1e-12)
    assert nu.factor(1e-5 * Z, counts, lw, lh, 3)[2] == 2 and nu.factor(1e-9 * Z, counts, lw, lh, 3)[2] == 0
    # the floor max(1, σ_1) at σ_1 < 1: singular values (0.5, 1.5e-7) keep rank 2 (1.5e-7 > 1e-7·1)
    U, _, Vt = np.linalg.svd(Z * sq[None, :])
    tiny = (U[:, :2] * [0.5, 1.5e-7]) @ Vt[:2] / sq[None, :]
    assert nu.factor(tiny, counts, lw, lh, 3)[2] == 2
    with pytest.raises(ValueError, match="d="):
        nu.factor(Z, counts, lw, lh, 1)


def test_spread_relative_and_over_the_floor():
    """‖v_i − v_j‖ over the largest row norm, or over the floor 1e-3 when every row is smaller."""
    assert nu.spread(np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]]), (0, 1)) == pytest.approx(5 / 4, rel=1e-15)
    assert nu.spread(np.array([[1e-4, 0.0], [-1e-4, 0.0], [0.0, 0.0]]), (0, 1)) == pytest.approx(0.2, rel=1e-12)
    assert nu.spread(np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 2.0]]), (0, 1, 2)) == pytest.approx(np.sqrt(2), rel=1e-15)


def test_spread_is_the_largest_pairwise_distance_in_a_group_of_any_size():
    """Against brute force over every pair, in groups of 4 and 5 whose widest pair is (first, third)."""
    rng = np.random.default_rng(8)
    for size in (4, 5):
        V = 0.01 * rng.standard_normal((size + 1, 3))
        V[0], V[2] = [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]           # the widest pair: classes 0 and 2
        g = tuple(range(size))
        want = max(np.linalg.norm(V[i] - V[j]) for i in g for j in g) / np.max(np.linalg.norm(V, axis=1))
        assert nu.spread(V, g) == pytest.approx(want, rel=1e-15) and want == pytest.approx(2.0, rel=1e-3)


def test_ce_part_is_stable_where_row_and_column_maxima_differ():
    """The log-sum-exp of each column is shifted by that column's own maximum: at logits of order 10³ whose
    row maxima are far from the column maxima, L and G stay finite and equal scipy's logsumexp."""
    from scipy.special import logsumexp, softmax

    Z, b, counts = np.array([[0.0, 900.0, 5.0], [0.0, 0.0, -800.0], [1.0, -700.0, 0.0]]), np.zeros(3), (3, 2, 1)
    L, G = nu.ce_part(Z, b, counts)
    n = np.array(counts, dtype=float)
    want_L = float(np.sum(n * (logsumexp(Z, axis=0) - np.diag(Z))) / n.sum())
    want_G = (softmax(Z, axis=0) - np.eye(3)) * (n / n.sum())[None, :]
    assert L == pytest.approx(want_L, rel=1e-14)
    np.testing.assert_allclose(G, want_G, rtol=0, atol=1e-15)


def test_certificate_outside_the_ball_and_its_reported_residuals():
    """Where ‖∇_X L‖_op > μ the bound pays (μ − ‖∇_X L‖_op)·log K/μ (‖X*‖_* <= F(0, 0)/μ = log K/μ), and it
    stays below the optimum; the JSON's residuals are ‖∇_X L‖_op/μ and ‖∇_b L + λ_b b‖."""
    counts, mu, lb = (5, 2, 1, 1), 0.05, 0.02
    sq = np.sqrt(np.asarray(counts, dtype=float))
    Z, b = np.zeros((4, 4)), np.array([0.3, -0.1, 0.0, 0.2])
    L, G = nu.ce_part(Z, b, counts)
    op, gb = np.linalg.norm(G / sq[None, :], 2), G.sum(axis=1)
    assert op > 1.5 * mu
    c = nu.certify(Z, b, counts, mu, lb)
    want = L - gb @ b - gb @ gb / (2 * lb) + (mu - op) * np.log(4) / mu
    assert c.lower == pytest.approx(want, rel=1e-13) and c.lower <= nu.solve(counts, mu, lb).upper
    assert c.info["grad_op_norm_over_mu"] == pytest.approx(op / mu, rel=1e-14)
    assert c.info["bias_stationarity"] == pytest.approx(np.linalg.norm(gb + lb * b), rel=1e-14)


def test_class_mean_objective_matches_the_full_objective_and_its_gradient():
    """_mean_objective (used by the Newton polish): the same value as full_objective, and a gradient
    equal to central differences of that value."""
    counts, lw, lh, lb = (5, 2, 1, 1), 0.02, 0.08, 0.01
    K, d = 4, 3
    rng = np.random.default_rng(6)
    x = rng.standard_normal(2 * K * d + K)
    args = (counts, K, d, lw, lh, lb)
    f, g = nu._mean_objective(x, *args)
    W, Hbar, b = x[:K * d].reshape(K, d), x[K * d:2 * K * d].reshape(d, K), x[2 * K * d:]
    assert f == pytest.approx(nu.full_objective(W, Hbar, b, counts, lw, lh, lb)[0], rel=1e-14)
    g_fd = central_gradient(lambda y: nu._mean_objective(y, *args)[0], x)
    assert np.max(np.abs(g - g_fd)) < 1e-8


def test_full_objective_gradient_norm_against_finite_differences():
    """full_objective's gradient norm: over W, b and every sample's own feature (n_k copies of h̄_k)."""
    counts, lw, lh, lb = (3, 2, 1), 0.05, 0.1, 0.02
    rng = np.random.default_rng(7)
    W, Hbar, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 3)), rng.standard_normal(3)
    labels = np.repeat(np.arange(3), counts)
    N = len(labels)

    def per_sample(W_, H_, b_):                        # the UFM objective with one feature per sample
        A = W_ @ H_ + b_[:, None]
        lse = np.log(np.exp(A - A.max(axis=0)).sum(axis=0)) + A.max(axis=0)
        return (np.sum(lse - A[labels, np.arange(N)]) / N + 0.5 * lw * np.sum(W_ * W_)
                + 0.5 * lh * np.sum(H_ * H_) + 0.5 * lb * b_ @ b_)

    H = Hbar[:, labels]
    gW = central_gradient(lambda V: per_sample(V, H, b), W)
    gH = central_gradient(lambda V: per_sample(W, V, b), H)
    gb = central_gradient(lambda v: per_sample(W, H, v), b)
    f, gn = nu.full_objective(W, Hbar, b, counts, lw, lh, lb)
    assert f == pytest.approx(per_sample(W, H, b), rel=1e-14)
    assert gn == pytest.approx(np.sqrt(np.sum(gW**2) + np.sum(gH**2) + np.sum(gb**2)), rel=1e-7)


def test_certificate_where_the_gradient_is_inside_the_ball():
    """At Z = 0, b = 0 with μ = 1 (‖∇_X L‖_op < μ) the bound is L − ‖∇_b L‖²/(2λ_b), below the optimum."""
    counts, mu, lb = (5, 2, 1, 1), 1.0, 0.02
    c = nu.certify(np.zeros((4, 4)), np.zeros(4), counts, mu, lb)
    assert c.info["grad_op_norm_over_mu"] < 1
    L, G = nu.ce_part(np.zeros((4, 4)), np.zeros(4), counts)
    assert c.lower == pytest.approx(L - np.sum(G.sum(axis=1) ** 2) / (2 * lb), rel=1e-14)
    assert c.lower <= nu.solve(counts, mu, lb).upper + 1e-12


def test_certificate_is_a_lower_bound_everywhere():
    counts, mu, lb = (5, 2, 1, 1), 0.05, 0.02
    opt = nu.optimum(counts, mu, mu, lb, 4)
    rng = np.random.default_rng(1)
    for _ in range(10):
        Z = opt.Z + 0.3 * rng.standard_normal(opt.Z.shape)
        b = opt.b + 0.3 * rng.standard_normal(4)
        c = nu.certify(Z, b, counts, mu, lb)
        assert c.lower <= opt.certificate.upper + 1e-12 <= c.upper + 1e-12


def test_authors_convention_same_program():
    """The authors' objective Σ n_k CE/N + l‖ZD‖_* + l_b‖b‖² with l = 2√(λ'_Wλ'_H), λ' = λ/2, l_b = λ_b/2."""
    counts, lw, lh, lb = (4, 2, 1), 0.03, 0.12, 0.02
    rng = np.random.default_rng(2)
    Z, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    ours = nu.objective(Z, b, counts, np.sqrt(lw * lh), lb)
    l = 2 * np.sqrt((lw / 2) * (lh / 2))
    X = Z * np.sqrt(counts)
    theirs = nu.ce_part(Z, b, counts)[0] + l * np.linalg.svd(X, compute_uv=False).sum() + (lb / 2) * b @ b
    assert ours == pytest.approx(theirs, rel=1e-14)


def test_balanced_factorization_attains_the_convex_value():
    counts, lw, lh, lb = (5, 3, 1, 1), 0.02, 0.08, 0.01
    opt = nu.optimum(counts, lw, lh, lb, 4)
    f, g = nu.full_objective(opt.W, opt.Hbar, opt.b, counts, lw, lh, lb)
    assert f == pytest.approx(opt.certificate.upper, rel=1e-13) and g < 1e-10


def test_features_of_a_class_share_one_optimum():
    counts, lw, lh, lb = (5, 3, 1, 1), 0.02, 0.08, 0.01
    opt = nu.optimum(counts, lw, lh, lb, 4)
    feats, grad = nu.feature_optima(opt.W, opt.b, counts, lh, np.random.default_rng(3), starts=3)
    assert grad < 1e-12
    assert np.max(np.abs(feats - opt.Hbar.T[:, None, :])) < 1e-10


def test_engine_from_random_starts_reaches_the_convex_optimum():
    counts, lw, lh, lb = (5, 3, 1, 1), 0.02, 0.08, 0.01
    r = su.train(counts, 4, lw, lh, lb, starts=2, seed=7, device="cpu")
    opt = nu.optimum(counts, lw, lh, lb, 4)
    assert r.converged.all()
    for s in range(2):
        assert r.f[s] == pytest.approx(opt.certificate.upper, rel=1e-12)
        assert np.allclose(r.W[s] @ r.Hbar[s], opt.Z, atol=1e-8)
        assert su.within_class(r.H[s], r.Hbar[s], counts) < 1e-9


def test_unconverged_engine_is_reported():
    r = su.train((3, 1, 1), 3, 0.05, 0.05, 0.01, starts=1, seed=0, device="cpu", gtol=1e-30)
    assert not r.converged.any() and r.info["grad_norm"] > 0


@pytest.mark.parametrize("overrides,param", [
    ({"n": "5"}, "n"), ({"n": "4,3,2", "d": 1}, "d"), ({"n": "0,3"}, "n"),
    ({"n": "8,8,2,1,1", "lambda_W": 0.0025, "lambda_H": 1.0}, "lambda_W"),   # μ = 0.05 = √1/20: at the threshold
    ({"lambda_b": 0.0}, "lambda_b"), ({"n": "3000,1000,100"}, "n"), ({"n": "3,2,1"}, "n"),
])
def test_bad_parameters(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_seeded_simulation_is_deterministic():
    p = CLAIM.resolve({"n": "3,1,1"})
    a = CLAIM.simulate(p, Context(CLAIM.id, seed=5, device="cpu"))
    b = CLAIM.simulate(p, Context(CLAIM.id, seed=5, device="cpu"))
    assert np.array_equal(a.values["loss"], b.values["loss"])


def test_inaccurate_solver_status_fails(monkeypatch):
    cp = pytest.importorskip("cvxpy")
    solve = cp.Problem.solve

    def inaccurate(self, *args, **kw):
        value = solve(self, *args, **kw)
        self._status = "optimal_inaccurate"
        return value

    for cache in (nu._solved, nu._optimum, nu._program):
        cache.cache_clear()
    monkeypatch.setattr(cp.Problem, "solve", inaccurate)
    try:
        r = run_claim(CLAIM, {"n": "3,1,1"}, device="cpu", kinds=("numeric",))
    finally:
        for cache in (nu._solved, nu._optimum, nu._program):
            cache.cache_clear()
    check = r.checks["numeric"]
    assert check.status == "fail" and "did not converge" in check.message
    assert "optimal_inaccurate" in str(check.detail["info"])


def test_factor_rank_tolerance_scales_with_the_largest_singular_value():
    """Above scale 1 the tolerance is rank_tol·σ_1: with σ = (1e3, 5e-5) (counts 1, so X = Z) the second
    value is below 1e-7·1e3 = 1e-4 and dropped (rank 1); below scale 1 the floor 1e-7 applies, so
    σ = (0.5, 5e-5) keeps both."""
    counts = (1, 1, 1, 1)
    assert nu.factor(np.diag([1e3, 5e-5, 0.0, 0.0]), counts, 0.1, 0.1, 4)[2] == 1
    assert nu.factor(np.diag([0.5, 5e-5, 0.0, 0.0]), counts, 0.1, 0.1, 4)[2] == 2
