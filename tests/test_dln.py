"""dln.mse.imbalanced: closed forms per class, the collapse threshold on both sides, depth >= 2
(the jump to zero and bad basins reported), controls, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from theory import dln as th

CLAIM = registry.get("dln.mse.imbalanced")


def _p(counts, M, lw, lh):
    return {k: float(v) for k, v in th.dln_formulas(counts, M, lw, lh).items()}


def test_set_moves_class_sizes_and_depth():
    for overrides in ({"n": "200,100,50,50", "lambda_W": 0.001, "lambda_H": 0.02},
                      {"M": 2, "lambda_W": 0.03, "lambda_H": 0.03}):
        r = run_claim(CLAIM, overrides, device="cpu")
        assert r.status == "pass", {k: v.message for k, v in r.checks.items()}


def test_collapse_threshold_on_both_sides_for_one_layer():
    # N = 15, N^2 lambda_W lambda_H = 1.125: the class with 1 sample collapses, the class with 2 does not
    f = _p((8, 4, 2, 1), 1, 0.1, 0.05)
    assert f["p_4"] == 0 and f["w_sq_4"] == 0 and f["p_3"] > 0.2
    # exactly at the threshold n_3 = N^2 lambda_W lambda_H = 2: p_3 = 0
    lam = sp.sqrt(sp.Rational(2, 225))
    assert th.dln_formulas((8, 4, 2, 1), 1, lam, lam)["p_3"] == 0
    # larger classes: longer w_k, and p_k = 1 - N sqrt(lambda_W lambda_H / n_k)
    assert f["w_sq_1"] > f["w_sq_2"] > f["w_sq_3"]
    assert f["p_1"] == pytest.approx(1 - 15 * (0.005 / 8) ** 0.5, rel=1e-14)


def test_depth_two_jumps_discontinuously_to_zero():
    below = [_p((8, 4, 2, 1), 2, lam, lam)["p_3"] for lam in (0.03, 0.035)]
    above = _p((8, 4, 2, 1), 2, 0.06, 0.06)["p_3"]
    assert min(below) > 0.5 and above == 0        # no continuous path to 0: a jump


def test_a_simulation_in_a_bad_basin_is_reported_and_fails():
    r = run_claim(CLAIM, {"M": 3, "lambda_W": 0.02, "lambda_H": 0.03, "starts": 4}, device="cpu",
                  kinds=("symbolic", "simulation"))
    sim = r.checks["simulation"]
    if sim.status == "fail":
        assert "basin above the global optimum" in sim.message
    else:                                           # a start found the global basin: values must match
        assert sim.max_rel_err <= 1e-6


def test_negative_controls_rejected_by_every_check():
    r = run_claim(CLAIM, {}, device="cpu")
    nc = r.checks["negative_control"]
    assert nc.status == "pass" and len(nc.detail["controls"]) == 3
    for control in nc.detail["controls"]:
        assert all(control["rejected_by"].values()), control


@pytest.mark.parametrize("overrides,param", [({"n": "5"}, "n"), ({"n": "4,0,2"}, "n"), ({"d": 3}, "d"),
                                             ({"lambda_W": 0.0}, "lambda_W"), ({"lambda_H": -1.0}, "lambda_H"),
                                             ({"M": 0}, "M"), ({"n": "a,b"}, "n")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


@pytest.mark.heavy
def test_norms_figure_matches_theory_and_is_deterministic():
    from figures import dln_norms as fig

    a, b = fig.compute(fig.FIGURE.seed, "cpu"), fig.compute(fig.FIGURE.seed, "cpu")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    for i, (M, lw, lh) in enumerate(fig.CASES):
        f = th.dln_formulas(fig.COUNTS, M, lw, lh)
        w = np.array([float(f[f"w_sq_{k + 1}"]) for k in range(len(fig.COUNTS))])
        assert abs(a[f"loss_gap/{i}"]) < 1e-9 and np.allclose(a[f"sim_w/{i}"], w, atol=1e-6)


BALANCED = registry.get("dln.mse.balanced")


@pytest.mark.parametrize("overrides", [{"bias": 0}, {"M": 2, "K": 3}, {"K": 2, "n": 7}])
def test_balanced_passes_with_and_without_bias_and_in_depth(overrides):
    r = run_claim(BALANCED, overrides, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}


def test_balanced_bias_gives_the_simplex_etf_and_its_controls_are_rejected():
    f = th.dln_balanced_formulas(4, 5, 1, 0.03, 0.03, True)
    assert f["cos_h"] == sp.Rational(-1, 3) and f["b"] == sp.Rational(1, 4)
    assert th.dln_balanced_formulas(4, 5, 1, 0.03, 0.03, False)["cos_h"] == 0
    r = run_claim(BALANCED, {}, device="cpu")
    nc = r.checks["negative_control"]
    assert nc.status == "pass" and len(nc.detail["controls"]) == 3
    assert all(all(c["rejected_by"].values()) for c in nc.detail["controls"])


@pytest.mark.parametrize("overrides,param", [({"K": 1}, "K"), ({"d": 3}, "d"), ({"bias": 2}, "bias"),
                                             ({"lambda_H": 0.0}, "lambda_H")])
def test_balanced_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        BALANCED.resolve(overrides)
    assert err.value.name == param


CE = registry.get("dln.ce.balanced")


@pytest.mark.parametrize("overrides", [{}, {"M": 2}, {"K": 2, "n": 5}, {"lambda_W": 0.2, "lambda_H": 0.2, "M": 1}])
def test_ce_balanced_passes(overrides):
    r = run_claim(CE, overrides, device="cpu", kinds=("symbolic", "numeric", "simulation"))
    assert all(r.checks[k].status == "pass" for k in ("symbolic", "numeric", "simulation")), \
        {k: v.message for k, v in r.checks.items()}


def test_ce_margin_closed_form_for_one_layer():
    f = th.dln_ce_formulas(3, 3, 1, 0.01, 0.01)
    eta = (3 * 0.01 * 0.01) ** 0.5
    assert float(f["margin"]) == pytest.approx(np.log(1 / eta - 2), rel=1e-14)
    assert th.dln_ce_formulas(3, 3, 1, 0.2, 0.2)["margin"] == 0       # K eta >= 1: zero


def test_ce_deep_etf_is_not_always_the_global_optimum():
    """A finding, kept as a test: at K=4, M=2, lambda=0.05 both optimizers reach a lower value than
    the symmetric ETF (antipodal class pairs, one mode off), so the check fails and says why."""
    r = run_claim(CE, {"K": 4, "M": 2, "lambda_W": 0.05, "lambda_H": 0.05}, device="cpu",
                  kinds=("symbolic", "numeric"))
    assert r.checks["numeric"].status == "fail"
    assert "LOWER value than predicted" in r.checks["numeric"].message
    assert r.observed["numeric.loss"] < r.predicted["loss"] - 1e-3


@pytest.mark.heavy
def test_layers_figure_every_layer_shares_the_predicted_values():
    from figures import dln_layers as fig

    a = fig.compute(fig.FIGURE.seed, "cpu")
    assert all(np.array_equal(a[k], v) for k, v in fig.compute(fig.FIGURE.seed, "cpu").items())
    for M in fig.DEPTHS:
        if abs(a[f"gap/{M}"]) < 1e-9:               # a run at the optimum: every layer matches
            assert np.allclose(a[f"sim/{M}"], a[f"theory/{M}"][None, :], atol=1e-6)
        else:                                       # a bad basin is drawn as such, never above the optimum
            assert a[f"gap/{M}"] > 0
