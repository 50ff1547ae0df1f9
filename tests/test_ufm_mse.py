"""Balanced MSE UFM claims: both sides of every threshold, OF vs ETF, bad parameters.

The generic tests (tests/test_claims.py) run each claim at its defaults, over its
test_K and under every negative control; these cover what they cannot.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize as scipy_minimize

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.claims import ufm_mse as cm
from collapsekit.runner import run_claim
from theory import ufm_mse as th
from theory.proof import all_proved

_cache: dict = {}


def result(claim_id: str, **overrides):
    key = (claim_id, tuple(sorted(overrides.items())))
    if key not in _cache:
        _cache[key] = run_claim(registry.get(claim_id), overrides, device="cpu")
    return _cache[key]


def assert_pass(r):
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}


# ------------------------------------------------------------------ the collapse threshold Kη = 1
@pytest.mark.parametrize("claim_id", ["ufm.mse.nobias", "ufm.mse.bias", "ufm.mse.bias_regularized"])
def test_collapse_to_zero_when_K_eta_at_least_one(claim_id):
    # K = 4, n = 3, λ = 0.2: η = 0.346, Kη = 1.39 >= 1 but η < 1
    r = result(claim_id, lambda_W=0.2, lambda_H=0.2)
    assert_pass(r)
    assert r.predicted["p"] == 0 and r.predicted["w_norm_sq"] == 0 and r.predicted["h_norm_sq"] == 0
    for kind in ("numeric", "simulation"):
        assert abs(r.observed[f"{kind}.w_norm_sq"]) < 1e-8 and abs(r.observed[f"{kind}.h_norm_sq"]) < 1e-8
    assert "cos" not in r.predicted     # no angles between zero vectors
    # every negative control still changes a formula and is rejected
    assert r.checks["negative_control"].status == "pass"


@pytest.mark.parametrize("claim_id", ["ufm.mse.nobias", "ufm.mse.bias"])
def test_nonzero_solution_below_threshold(claim_id):
    r = result(claim_id)
    K, eta = 4, math.sqrt(3) * 5e-3
    assert r.predicted["p"] == pytest.approx(1 - K * eta, rel=1e-14)
    assert r.predicted["p"] > 0


def test_loss_is_continuous_at_the_threshold():
    """At Kη = 1 both branches give p = 0 and the same L*."""
    K, n = sp.Integer(4), sp.Integer(3)
    lam = 1 / (K * sp.sqrt(n))          # η = √n·λ = 1/K
    for bias in (False, True):
        f = th.mse_formulas(K, n, lam, lam, 0, bias)
        assert f["p"] == 0
        assert sp.simplify(f["loss"] - ((1 if not bias else (K - 1) / K) / 2)) == 0


# ------------------------------------------------------------------ orthogonal frame vs simplex ETF
def test_no_bias_gives_an_orthogonal_frame_and_bias_an_etf():
    of, etf = result("ufm.mse.nobias"), result("ufm.mse.bias")
    for kind in ("numeric", "simulation"):
        assert abs(of.observed[f"{kind}.cos"]) < 1e-6                      # OF: orthogonal means
        assert of.observed[f"{kind}.mu_g_norm_sq"] > 0.1                    # and not centred
        assert etf.observed[f"{kind}.cos"] == pytest.approx(-1 / 3, abs=1e-6)
        assert abs(etf.observed[f"{kind}.mu_g_norm_sq"]) < 1e-8
        assert etf.observed[f"{kind}.b"] == pytest.approx(0.25, abs=1e-7)
    # the centred OF is an ETF too
    assert of.observed["numeric.cos_centred"] == pytest.approx(-1 / 3, abs=1e-6)


def test_orthogonal_frame_with_extra_dimensions():
    """d > K: the optimum is unique only up to O(d); rotation-invariant quantities still match."""
    assert_pass(result("ufm.mse.nobias", d=7))


def test_etf_in_the_minimal_dimension():
    assert_pass(result("ufm.mse.bias", d=3))


# ------------------------------------------------------------------ the λ_b switch
def test_both_branches_of_the_lambda_b_switch():
    # K = 4, n = 3, λ = 5e-3: Kη = 0.0346; the switch λ_b/(1+λ_b) = Kη is at λ_b = 0.0359
    etf, toward_of = result("ufm.mse.bias_regularized", lambda_b=0.02), result("ufm.mse.bias_regularized")
    assert_pass(etf)
    assert_pass(toward_of)
    assert etf.predicted["c"] == 0 and toward_of.predicted["c"] > 0
    K, lb, eta = 4, 0.1, math.sqrt(3) * 5e-3
    assert toward_of.predicted["b"] == pytest.approx(eta / lb, rel=1e-13)
    assert etf.predicted["b"] == pytest.approx(1 / (K * 1.02), rel=1e-13)
    for kind in ("numeric", "simulation"):
        assert abs(etf.observed[f"{kind}.mu_g_norm_sq"]) < 1e-7
        assert toward_of.observed[f"{kind}.mu_g_norm_sq"] > 0.05
        assert etf.observed[f"{kind}.cos"] == pytest.approx(-1 / 3, abs=1e-6)
        assert toward_of.observed[f"{kind}.cos_centred"] == pytest.approx(-1 / 3, abs=1e-6)


def test_uncentred_cosine_tends_to_an_orthogonal_frame():
    cos = [float(th.mse_formulas(4, 3, 5e-3, 5e-3, lb, True)["cos"]) for lb in (0.01, 0.1, 1.0, 10.0, 1e3)]
    assert cos[0] == pytest.approx(-1 / 3) and all(a < b < 0 for a, b in zip(cos, cos[1:])) and cos[-1] > -1e-4


def test_c_positive_needs_d_at_least_K():
    with pytest.raises(ParameterError) as err:
        registry.get("ufm.mse.bias_regularized").resolve({"d": 3})
    assert err.value.name == "d"
    registry.get("ufm.mse.bias_regularized").resolve({"d": 3, "lambda_b": 0.02})   # c = 0: rank K−1 fits


@pytest.mark.parametrize("seed", range(6))
def test_scalar_problem_matches_the_closed_form(seed):
    """Independent check of the derived (c, β) branch: minimize F(c, β) numerically."""
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 9))
    eta, lb = 10 ** rng.uniform(-3, -0.5) / K, 10 ** rng.uniform(-3, 2)

    def F(x):
        c, beta = x
        return (1 - c - K * beta) ** 2 / (2 * K) + eta * abs(c) + lb * K * beta**2 / 2

    best = min((scipy_minimize(F, x0, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-16,
                                                                       "maxiter": 20000})
                for x0 in ([0.5, 0.1], [0.0, 0.0], [1.0, 0.0])), key=lambda r: r.fun)
    lam_H = 1.0
    lam_W = (K * eta) ** 2 / (K**2 * 1 * lam_H)
    P, c, beta = th.optimal_structure(K, 1, lam_W, lam_H, lb, True)
    assert float(c) == pytest.approx(best.x[0], abs=1e-6) and float(beta) == pytest.approx(best.x[1], abs=1e-6)


# ------------------------------------------------------------------ symbolic proofs
@pytest.mark.parametrize("claim_id", ["ufm.mse.nobias", "ufm.mse.bias", "ufm.mse.bias_regularized",
                                      "ufm.mse.strong_collapse", "ufm.mse.central_path"])
def test_symbolic_check_includes_a_general_proof(claim_id):
    names = [o["name"] for o in result(claim_id).checks["symbolic"].detail["obligations"]]
    assert any("[general:" in n for n in names)


@pytest.mark.parametrize("overrides", [{}, {"lambda_b": 0.02}, {"lambda_W": 0.2, "lambda_H": 0.2}])
def test_general_branch_matches_concrete_branch(overrides):
    c = registry.get("ufm.mse.bias_regularized")
    p = c.resolve(overrides)
    ps = c.symbolic_params(p)
    fs = c.formulas(ps)
    assert all_proved(c.prove(ps, fs))
    assert th.is_zero(fs["p"]) == th.is_zero(c.formulas(p)["p"])
    assert th.is_zero(fs["c"]) == th.is_zero(c.formulas(p)["c"])


def test_proof_refutes_a_wrong_bias():
    f = th.mse_formulas(4, 3, 5e-3, 5e-3, 0.1, True)
    assert all_proved(th.prove_mse(f, 4, 3, 5e-3, 5e-3, 0.1, True))
    assert not all_proved(th.prove_mse({**f, "b": f["b"] * (1 + sp.Rational(1, 1000))}, 4, 3, 5e-3, 5e-3, 0.1, True))


def _structure_proof(claim_id, overrides, P=None, c=None, beta=None):
    """The claim's obligations for the formulas of a (possibly wrong) structure (p, c, β), every
    derived quantity consistent with it, so that only the optimality conditions can object."""
    claim = registry.get(claim_id)
    p = claim.resolve(overrides)
    args = claim._args(p)
    P0, c0, beta0 = th.optimal_structure(*args)
    P = P0 if P is None else P
    c = (P if not claim.bias else c0) if c is None else c
    beta = beta0 if beta is None else beta
    return claim.prove(p, th.structure_formulas(*args[:5], claim.bias, P, c, beta))


@pytest.mark.parametrize("claim_id", ["ufm.mse.nobias", "ufm.mse.bias", "ufm.mse.bias_regularized"])
def test_proof_refutes_collapse_below_the_threshold(claim_id):
    """p = 0 where Kη < 1 (the defaults: Kη = 0.035): every identity holds for the collapsed point, and
    the subgradient condition at 0, φ'(0) = η − 1/K >= 0, is what refutes it."""
    assert all_proved(_structure_proof(claim_id, {}))
    refuted = [o.name for o in _structure_proof(claim_id, {}, P=sp.Integer(0)) if o.proved is not True]
    assert refuted and all("φ'(0)" in name for name in refuted), refuted


def test_proof_refutes_the_etf_branch_above_the_lambda_b_switch():
    """c = 0 with b = 1/(K(1 + λ_b)) at λ_b = 0.1 > the switch (0.0359): ∂F/∂β = 0 holds, and the
    subgradient condition η >= (1 − Kβ)/K = μ/K is what refutes it."""
    K, lb = 4, sp.Rational(1, 10)
    wrong = _structure_proof("ufm.mse.bias_regularized", {}, c=sp.Integer(0), beta=1 / (K * (1 + lb)))
    refuted = [o.name for o in wrong if o.proved is not True]
    assert refuted == ["c = 0: η − (1 − Kβ)/K >= 0 (subgradient)"]


# ------------------------------------------------------------------ the proof helpers
def test_pos_part_decides_the_sign_or_keeps_the_max():
    """(x)₊ from the assumptions where they decide it; otherwise Max(0, x), which is (x)₊ at every x."""
    u, x = sp.Symbol("u", positive=True), sp.Symbol("x", real=True)
    assert th.pos_part(u) == u and th.pos_part(-u) == 0 and th.pos_part(1 - (1 + u)) == 0
    assert th.pos_part(sp.Rational(1, 3)) == sp.Rational(1, 3) and th.pos_part(sp.Rational(-1, 3)) == 0
    undecided = th.pos_part(x)
    assert [undecided.subs(x, v) for v in (-2, 0, 3)] == [0, 0, 3]


def test_fast_zero_proves_identities_and_refutes_nonzero_values():
    x = sp.Symbol("x", positive=True)
    for identity in (0, (x**2 - 1) / (x - 1) - x - 1, sp.sqrt(x) ** 2 - x, sp.sqrt(8) - 2 * sp.sqrt(2)):
        assert th.fast_zero("identity", identity).proved is True, identity
    for nonzero in (1, -1, sp.Rational(1, 10**30), sp.sqrt(2) - 1, x, 1 / x):
        assert th.fast_zero("nonzero", nonzero).proved is False, nonzero


def test_is_zero_picks_branches_soundly():
    """The branch selector: exact zeros (also ones only ``simplify`` sees) and nonzeros (also 1)."""
    x = sp.Symbol("x", real=True)
    for z in (0, x - x, sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1, sp.cos(sp.pi / 5) - (1 + sp.sqrt(5)) / 4):
        assert th.is_zero(z) is True, z
    for nz in (1, sp.Rational(1, 2), sp.sin(x) + 2, sp.cos(sp.pi / 5) - sp.Rational(4, 5)):
        assert th.is_zero(nz) is False, nz


def test_inverse_of_alpha_I_plus_beta_J():
    """(αI + βJ)^{-1} against sympy's explicit inverse, and A·A^{-1} = I for symbolic α, β, K."""
    from theory.algebra import IJ

    A = IJ(sp.Integer(3), sp.Rational(-1, 2), sp.Integer(4))
    assert th.inverse(A).to_matrix() == A.to_matrix().inv()
    a, b, K = sp.symbols("alpha beta K", positive=True)
    P = IJ(a, b, K) @ th.inverse(IJ(a, b, K))
    assert sp.simplify(P.alpha - 1) == 0 and sp.simplify(P.beta) == 0


def test_defaults_are_the_free_unregularized_bias():
    """λ_b defaults to 0 (a free bias): b = 1/K, c = 0, μ_G = 0 (Tirer & Bruna)."""
    K, n, lam = 4, 3, sp.Rational(1, 200)
    P, c, beta = th.optimal_structure(K, n, lam, lam)
    assert (c, beta) == (0, sp.Rational(1, 4)) and P == 1 - K * th.eta(n, lam, lam)
    f = th.mse_formulas(K, n, lam, lam)
    assert f["b"] == sp.Rational(1, 4) and f["mu_g_norm_sq"] == 0 and f == th.mse_formulas(K, n, lam, lam, 0, True)
    assert all_proved(th.prove_mse(f, K, n, lam, lam))


# ------------------------------------------------------------------ strong collapse
def test_strong_collapse_stays_in_the_invariant_subspace():
    r = result("ufm.mse.strong_collapse")
    info = r.checks["simulation"].detail["info"]
    assert info["distance_from_S"] < 1e-9
    assert r.observed["simulation.loss"] < 1e-20


def test_strong_collapse_proof_needs_room_for_rank_K_minus_1():
    """WWᵀ = √n(I − J/K) has rank K−1: the proof goes through at d = K−1 (the smallest valid d) and
    is refuted at d = K−2 (a K×d matrix W of that rank does not exist there)."""
    K, n = 5, 3
    f = th.strong_collapse_formulas(K, n)
    w, wo = f["w_norm_sq"], f["w_gram_offdiag"]
    assert sp.Matrix((w - wo) * sp.eye(K) + wo * sp.ones(K, K)).rank() == K - 1
    assert all_proved(th.prove_strong_collapse(f, K, n, d=K - 1))
    assert not all_proved(th.prove_strong_collapse(f, K, n, d=K - 2))


@pytest.mark.parametrize("overrides", [{"n": 1}, {"K": 2, "d": 1}, {"n": 5, "d": 6}])
def test_strong_collapse_other_sizes(overrides):
    assert_pass(result("ufm.mse.strong_collapse", **overrides))


# ------------------------------------------------------------------ central path
def test_omega_identity_on_generic_features():
    """L_LS by lstsq = ½Σ 1/(K + ω_j²) for unstructured features, before and after an affine map."""
    rng = np.random.default_rng(7)
    for K, n, d in [(2, 4, 3), (3, 3, 4), (5, 4, 9)]:
        H = rng.standard_normal((d, K * n)) + np.repeat(rng.standard_normal((d, K)), n, axis=1)
        for X in (H, cm._random_affine(rng, d)[0] @ H + 3.0):
            L, *_ = cm.ls_fit(X, K, n)
            om = cm.whitened_snr(X, K, n)[0]
            assert L == pytest.approx(0.5 * np.sum(1 / (K + om**2)), rel=1e-10)


def test_central_path_at_large_snr_and_other_sizes():
    assert_pass(result("ufm.mse.central_path", omega=3.0))
    assert_pass(result("ufm.mse.central_path", K=2, n=2, d=1))


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("claim_id,overrides,param", [
    ("ufm.mse.nobias", {"d": 3}, "d"),                      # needs d >= K
    ("ufm.mse.nobias", {"lambda_W": 0}, "lambda_W"),
    ("ufm.mse.bias", {"lambda_H": -1}, "lambda_H"),
    ("ufm.mse.bias", {"d": 2}, "d"),                        # needs d >= K − 1
    ("ufm.mse.bias", {"K": 1}, "K"),
    ("ufm.mse.bias_regularized", {"lambda_b": 0}, "lambda_b"),
    ("ufm.mse.bias_regularized", {"lambda_b": "x"}, "lambda_b"),
    ("ufm.mse.strong_collapse", {"d": 2}, "d"),
    ("ufm.mse.strong_collapse", {"n": 0}, "n"),
    ("ufm.mse.central_path", {"d": 9}, "d"),                # Σ_W singular: d > K(n−1) = 8
    ("ufm.mse.central_path", {"n": 1}, "n"),
    ("ufm.mse.central_path", {"omega": 0}, "omega"),
    ("ufm.mse.central_path", {"lambda_W": 1e-3}, "lambda_W"),   # not a parameter of this claim
])
def test_bad_parameters_name_the_parameter(claim_id, overrides, param):
    with pytest.raises(ParameterError) as err:
        registry.get(claim_id).resolve(overrides)
    assert err.value.name == param and f"parameter {param}" in str(err.value)


@pytest.mark.parametrize("lambda_b,d,fits", [(sp.Rational(1, 10), 3, False), (sp.Rational(1, 10), 4, True),
                                             (0, 2, False), (0, 3, True)])
def test_the_rank_of_Z_is_checked_against_d_at_its_boundary(lambda_b, d, fits):
    """Z = p(I − J/K) + (c/K)J has rank (K − 1)·[p > 0] + [c > 0]: K = 4 with a regularized bias (c > 0, rank 4)
    and with an unregularized one (c = 0, rank 3); d one below the rank is refuted, d equal to it proved; the
    all-zero optimum (Kη >= 1) has rank 0 and fits in d = 0."""
    lw = sp.Rational(1, 100)
    obs = th.prove_mse(th.mse_formulas(4, 3, lw, lw, lambda_b, True), 4, 3, lw, lw, lambda_b, True, d)
    (o,) = [o for o in obs if o.name.startswith("rank Z")]
    assert o.proved is fits
    (z,) = [o for o in th.prove_mse(th.mse_formulas(4, 3, 1, 1, 0, True), 4, 3, 1, 1, 0, True, 0)
            if o.name.startswith("rank Z")]
    assert z.name == "rank Z = 0 fits in d = 0" and z.proved is True


@pytest.mark.parametrize("ratio,holds", [(sp.Rational(-1, 2), True), (sp.Rational(-3, 2), False),
                                         (sp.Rational(1, 2), True)])
def test_the_zero_c_subgradient_condition_is_two_sided(ratio, holds):
    """c = 0 is optimal iff |g|/K <= η, g = 1 − c − Kβ: the two obligations η ∓ g/K >= 0.  Fed a bias β with
    g/K = ratio·η, the lower one holds for g/K = −η/2 and is refuted for −3η/2; the upper one holds for +η/2."""
    K, n, lw = 4, 3, sp.Rational(1, 100)
    f = th.mse_formulas(K, n, lw, lw, 0, True)
    assert f["c"] == 0
    e = th.eta(n, lw, lw)
    f["b"] = (1 - K * ratio * e) / K                       # g = 1 − Kβ = K·ratio·η
    obs = {o.name: o.proved for o in th.prove_mse(f, K, n, lw, lw, 0, True)}
    name = "c = 0: η + (1 − Kβ)/K >= 0 (subgradient)" if ratio < 0 else "c = 0: η − (1 − Kβ)/K >= 0 (subgradient)"
    assert obs[name] is holds
