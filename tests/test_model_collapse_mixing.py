"""model_collapse.mixing: the golden-ratio weight, its negative controls, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import collapsekit.claims.model_collapse_mixing  # noqa: F401  (registers the claim)
from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from numerics import model_collapse_mixing as nm
from simulations import model_collapse_mixing as sm
from theory import model_collapse_mixing as th

CLAIM = registry.get("model_collapse.mixing")


@pytest.mark.parametrize("overrides", [{"w": 0.7, "sigma": 2.0, "N": 10, "t": 3}, {"w": 0.3, "N": 1, "t": 50}])
def test_set_moves_the_parameters_and_the_checks_still_pass(overrides):
    r = run_claim(CLAIM, overrides, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    assert r.observed["simulation.error_stderr"] > 0


def test_each_negative_control_falls_outside_the_confidence_interval():
    r = run_claim(CLAIM, {}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    controls = r.checks["negative_control"].detail["controls"]
    assert len(controls) == len(CLAIM.negative_controls)
    for control in controls:
        assert all(control["rejected_by"].values()), control
        assert control["errors"]["simulation"] > 7.0, (control["name"], control["errors"])


def test_the_numerical_minimizer_is_the_golden_weight_and_error():
    w, e, ok = nm.optimal_weight(1.0)
    golden = (math.sqrt(5) - 1) / 2
    assert ok and w == pytest.approx(golden, rel=1e-7) and e == pytest.approx(golden, rel=1e-9)


def _verdicts(weight):
    """prove_mixing's verdicts, by obligation name, when the claimed optimal weight is ``weight``."""
    v = sp.Rational(1, 4)                                             # sigma = 1, N = 4
    f = {**th.mixing_formulas(0.5, 1.0, 4, 30), "optimal_weight": weight, "optimal_error": th.stationary(weight, v)}
    return {o.name: o.proved for o in th.prove_mixing(f, 0.5, 1.0, 4, 30)}


def test_the_bounds_on_w_star_reject_the_weights_outside_zero_one():
    """Stationarity alone does not pin w*: V'(w) vanishes at both roots of w^2 + w - 1, 1/phi and -phi.
    The bound w* > 0 rejects -phi; the bound w* < 1 rejects phi (phi mistaken for 1/phi)."""
    phi = (1 + sp.sqrt(5)) / 2
    other_root = _verdicts(-phi)
    assert other_root["w* is stationary: dV/dw(w*) = 0"] is True
    assert other_root["w* > 0"] is False
    mixed_up = _verdicts(phi)
    assert mixed_up["w* > 0"] is True and mixed_up["w* < 1"] is False
    assert _verdicts(sp.Integer(1))["w* < 1"] is False                # the boundary itself is excluded


def test_monte_carlo_matches_the_propagated_variance_at_a_short_horizon():
    mean, se, _, _ = sm.mixing_chain(0.4, 1.0, 3, 2, 40000, seed=5, device="cpu")
    assert abs(mean - nm.error_variance(0.4, 1.0 / 3, 2)) < 4.5 * se


@pytest.mark.parametrize("overrides,param", [({"w": 0.0}, "w"), ({"w": 1.5}, "w"), ({"sigma": 0.0}, "sigma"),
                                             ({"N": 0}, "N"), ({"t": 0}, "t"), ({"M": 3}, "M")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_bad_input_to_the_chain():
    with pytest.raises(ValueError, match="w="):
        sm.mixing_chain(0.0, 1.0, 2, 3, 10, seed=0, device="cpu")
    assert np.isfinite(nm.error_variance(1.0, 1.0, 1))
