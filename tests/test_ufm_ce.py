"""Cross-entropy UFM claims: both sides of the threshold, the controls that apply there, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from theory import ufm_ce as th

ZERO_SIDE = {"lambda_W": 0.2, "lambda_H": 0.2}          # K*eta = 4*sqrt(3)*0.2 = 1.39 >= 1


@pytest.mark.parametrize("claim_id", ["ufm.ce.balanced", "ufm.ce.landscape"])
def test_zero_side_of_the_threshold_passes(claim_id):
    r = run_claim(registry.get(claim_id), ZERO_SIDE, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    assert r.predicted["loss"] == pytest.approx(math.log(4), rel=1e-15)
    assert r.predicted["w_norm_sq"] == 0.0
    assert abs(r.observed["simulation.loss"] - math.log(4)) < 1e-12


def test_zero_side_controls_that_apply_are_rejected():
    r = run_claim(registry.get("ufm.ce.balanced"), ZERO_SIDE, device="cpu")
    nc = r.checks["negative_control"]
    names = [c["name"] for c in nc.detail["controls"]]
    assert names == ["value at the collapsed point log(K-1) instead of log K"]
    assert len(nc.detail["not_applicable"]) == 2 and nc.status == "pass"


def test_values_match_the_paper_constants_at_a_hand_checked_point():
    """K=2, n=1, lambda = 1/4: eta = 1/4, margin log 3, ||w||^2 = (1/2) log 3, f* = -log(3/4) + log(3)/4."""
    f = th.balanced_formulas({"K": 2, "n": 1, "lambda_W": 0.25, "lambda_H": 0.25})
    assert float(f["margin"]) == pytest.approx(math.log(3), rel=1e-15)
    assert float(f["w_norm_sq"]) == pytest.approx(0.5 * math.log(3), rel=1e-15)
    assert float(f["loss"]) == pytest.approx(-math.log(0.75) + math.log(3) / 4, rel=1e-15)


def test_value_is_continuous_at_the_threshold():
    """K*eta = 1 - 1e-9 (n lambda_W lambda_H = 0.04 (1 - 1e-9)^2): f* is within O(1e-9) of log K."""
    below = th.balanced_formulas({"K": 5, "n": 4, "lambda_W": 0.1, "lambda_H": 0.1 * (1 - 1e-9) ** 2})
    assert float(below["loss"]) == pytest.approx(math.log(5), abs=1e-6)


def test_origin_is_a_strict_saddle_below_the_threshold_only():
    below = float(th.origin_min_eig({"K": 4, "n": 3, "lambda_W": 5e-3, "lambda_H": 5e-3}))
    above = float(th.origin_min_eig({"K": 4, "n": 3, "lambda_W": 0.2, "lambda_H": 0.2}))
    assert below < 0 < above


@pytest.mark.parametrize("lam,claimed_nonzero", [(5e-3, False), (0.2, True)])
def test_the_landscape_sign_obligation_refutes_the_wrong_branch(lam, claimed_nonzero):
    """The origin's curvature obligation decides the sign of det = λ_Wλ_H − σ²/N² itself: told the wrong side
    of Kη = 1 (the branch flag forced), the strict-saddle or the PSD obligation is refuted."""
    p = {"K": 4, "n": 3, "lambda_W": lam, "lambda_H": lam, "_nonzero": claimed_nonzero}
    f = {**th.balanced_formulas(p), "origin_min_eig": th.origin_min_eig(p)}
    obs = th.prove_landscape(p, f)
    (o,) = [o for o in obs if o.name.startswith("K eta")]
    assert o.proved is False


@pytest.mark.parametrize("overrides,param", [
    ({"lambda_W": 0.0}, "lambda_W"), ({"lambda_H": -1.0}, "lambda_H"), ({"lambda_b": -0.1}, "lambda_b"),
    ({"K": 5, "d": 3}, "d"), ({"K": 1}, "K"), ({"n": 0}, "n"), ({"lambda_W": "nan"}, "lambda_W"),
])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        registry.get("ufm.ce.balanced").resolve(overrides)
    assert err.value.name == param


def test_perturbed_proof_is_refuted_for_symbolic_parameters():
    """The general (symbolic K, eta) proof rejects a wrong log argument, not only the concrete one."""
    claim = registry.get("ufm.ce.balanced")
    ps = claim.symbolic_params(claim.resolve({}))
    good = th.prove_balanced(ps, th.balanced_formulas(ps))
    assert all(o.proved is True for o in good)
    bad = claim.negative_controls[0].perturb(ps, th.balanced_formulas(ps))
    assert not all(o.proved is True for o in th.prove_balanced(ps, bad))


def test_symbolic_parametrization_covers_each_side_of_the_threshold():
    """The general proofs cover a whole side of Kη = 1 only if, with η = √(nλ_Wλ_H) recomputed
    from the symbolic parameters, Kη runs monotonically over all of (0, 1) on the nonzero branch
    (s > 0: limits 1 at s → 0 and 0 at s → ∞) and over all of [1, ∞) on the zero branch
    (s >= 0: value 1 at s = 0, limit ∞)."""
    for nonzero, at_zero, at_infinity, slope_sign in ((True, 1, 0, -1), (False, 1, sp.oo, 1)):
        ps = th.symbolic_params(nonzero)
        K, _, _, _, eta = th.params(ps)
        (s,) = (eta * K).free_symbols - K.free_symbols
        k_eta = sp.simplify(K * eta)
        assert sp.limit(k_eta, s, 0, "+") == at_zero and sp.limit(k_eta, s, sp.oo) == at_infinity, (nonzero, k_eta)
        assert (slope_sign * sp.diff(k_eta, s)).is_positive, (nonzero, k_eta)
        assert th.nonzero_branch(ps) is nonzero


def test_threshold_is_decided_exactly_on_both_sides():
    """K = 4, n = 1, λ_W = 1/4: Kη = 1 at λ_H = 1/4 exactly (the zero branch, f* = log K), and the
    nearest decimals on either side fall on their own side."""
    p = {"K": 4, "n": 1, "lambda_W": 0.25}
    assert not th.nonzero_branch({**p, "lambda_H": 0.25})
    assert th.balanced_formulas({**p, "lambda_H": 0.25})["loss"] == sp.log(4)
    assert th.nonzero_branch({**p, "lambda_H": 0.2499999})
    assert not th.nonzero_branch({**p, "lambda_H": 0.2500001})


def test_landscape_random_starts_all_reach_f_star():
    r = run_claim(registry.get("ufm.ce.landscape"), {}, device="cpu", kinds=("simulation",))
    assert r.checks["simulation"].status == "pass"
    assert r.checks["simulation"].detail["info"]["configs"] == 16
