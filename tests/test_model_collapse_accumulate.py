"""model_collapse.accumulate: the Monte-Carlo checks, their negative controls, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import collapsekit.claims.model_collapse_accumulate  # noqa: F401  (registers the claim)
from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from numerics import model_collapse_accumulate as nm
from simulations import model_collapse_accumulate as sm
from theory import model_collapse_accumulate as th

CLAIM = registry.get("model_collapse.accumulate")


@pytest.mark.parametrize("overrides", [{"d": 4, "T": 9, "sigma": 0.5, "n": 5},
                                       {"d": 12, "T": 30, "sigma": 2.0, "n": 2}])
def test_set_moves_the_parameters_and_the_checks_still_pass(overrides):
    r = run_claim(CLAIM, overrides, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    assert r.params["d"] == overrides["d"] and r.params["n"] == overrides["n"]
    one = overrides["sigma"] ** 2 * overrides["d"] / (overrides["T"] - overrides["d"] - 1)
    assert r.predicted["test_error_replace"] == pytest.approx(overrides["n"] * one, rel=1e-12)
    for kind in ("numeric", "simulation"):
        for name in ("test_error_replace", "test_error_accumulate", "test_error_growing"):
            assert r.observed[f"{kind}.{name}_stderr"] > 0          # the contract's stderr


def test_each_negative_control_falls_outside_the_confidence_interval():
    r = run_claim(CLAIM, {}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    nc = r.checks["negative_control"]
    assert len(nc.detail["controls"]) == len(CLAIM.negative_controls)
    for control in nc.detail["controls"]:
        assert all(control["rejected_by"].values()), control
        for kind in ("numeric", "simulation"):
            assert control["errors"][kind] > 7.0, (control["name"], kind, control["errors"][kind])


def test_the_bound_and_the_reference_numbers():
    f = {k: float(v) for k, v in th.accumulate_formulas(10, 40, 1, 30).items()}
    assert f["test_error_replace"] == pytest.approx(300 / 29, rel=1e-12)
    assert f["test_error_accumulate"] < f["accumulate_bound"] == pytest.approx(10 / 29 * np.pi ** 2 / 6, rel=1e-12)


def test_numpy_and_torch_chains_agree_with_each_other():
    a = nm.accumulate_chains(5, 12, 1.0, 6, 3000, np.random.default_rng(1))
    b = sm.accumulate_chains(5, 12, 1.0, 6, 3000, seed=2, device="cpu")
    for k in ("replace", "accumulate", "growing"):
        assert abs(a[k].mean - b[k][0]) < 4.5 * np.hypot(a[k].stderr, b[k][1]), k


def test_torch_chain_is_deterministic():
    assert sm.accumulate_chains(4, 8, 1.0, 3, 50, seed=3, device="cpu") == \
        sm.accumulate_chains(4, 8, 1.0, 3, 50, seed=3, device="cpu")


def test_symbolic_n_is_proved_and_a_missing_square_is_refuted():
    ps = CLAIM.symbolic_params(CLAIM.resolve({}))
    f = CLAIM.formulas(ps)
    assert all(o.proved is True for o in CLAIM.prove(ps, f))
    bad = CLAIM.negative_controls[0].perturb(ps, dict(f))
    assert not all(o.proved is True for o in CLAIM.prove(ps, bad))
    assert isinstance(ps["n"], sp.Symbol)


@pytest.mark.parametrize("overrides,param", [({"T": 11}, "T"), ({"sigma": -1.0}, "sigma"), ({"d": 0}, "d"),
                                             ({"n": 0}, "n"), ({"n": 2.5}, "n"), ({"T0": 50}, "T0")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_bad_input_to_the_chains():
    with pytest.raises(ValueError, match="T="):
        nm.accumulate_chains(5, 6, 1.0, 2, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n="):
        sm.accumulate_chains(5, 10, 1.0, 0, 10, seed=0, device="cpu")
    with pytest.raises(ValueError, match="trials"):
        sm.accumulate_chains(5, 10, 1.0, 2, 1, seed=0, device="cpu")


def test_fresh_design_is_reported_as_observed_and_stays_below_the_bound():
    """A fresh design per round: reported (mean, stderr) as observed, never predicted, and bounded."""
    r = run_claim(CLAIM, {}, device="cpu", kinds=("simulation",))
    assert r.checks["simulation"].status == "pass", r.checks["simulation"].message
    name = "test_error_accumulate_fresh_design"
    assert name not in r.predicted                       # observed, not proved: it cannot fail the claim
    mean, se = r.observed[f"simulation.{name}"], r.observed[f"simulation.{name}_stderr"]
    fresh = r.checks["simulation"].detail["info"]["fresh_design"]
    assert fresh["status"].startswith("observed, not proved")
    assert se > 0 and fresh["mean"] == mean
    assert fresh["bound_pi2_over_6"] == pytest.approx(r.predicted["accumulate_bound"])
    assert mean + 4.5 * se < r.predicted["accumulate_bound"]          # bounded at the default sizes
    assert fresh["below_bound"] and fresh["below_bound_by_4.5_stderr"]


def test_fresh_design_chain_bad_input_and_determinism():
    assert sm.accumulate_fresh_design(3, 8, 1.0, 2, 40, seed=4, device="cpu") == \
        sm.accumulate_fresh_design(3, 8, 1.0, 2, 40, seed=4, device="cpu")
    with pytest.raises(ValueError, match="T="):
        sm.accumulate_fresh_design(5, 6, 1.0, 2, 10, seed=0, device="cpu")
    with pytest.raises(ValueError, match="trials"):
        sm.accumulate_fresh_design(5, 10, 1.0, 2, 1, seed=0, device="cpu")


def test_accumulate_proof_states_the_convergence_boundary_exactly():
    """E tr((XᵀX)⁻¹) is finite only for T >= d + 2 (ν − 2 = T − d − 1): proved at T = d + 2, refuted
    at T = d + 1."""
    def hypothesis(T):
        keys = ("test_error_replace", "test_error_accumulate", "test_error_growing", "accumulate_bound")
        obs = th.prove_accumulate(dict.fromkeys(keys, sp.Integer(0)), 3, T, 1, 2)
        return next(o for o in obs if o.name.startswith("T >= d + 2")).proved

    assert hypothesis(5) is True and hypothesis(4) is False
