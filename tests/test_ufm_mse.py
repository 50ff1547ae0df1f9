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


# ------------------------------------------------------------------ strong collapse
def test_strong_collapse_stays_in_the_invariant_subspace():
    r = result("ufm.mse.strong_collapse")
    info = r.checks["simulation"].detail["info"]
    assert info["distance_from_S"] < 1e-9
    assert r.observed["simulation.loss"] < 1e-20


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
