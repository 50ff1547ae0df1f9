"""model_collapse.gaussian: the Monte-Carlo checks, their negative controls, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import collapsekit.claims.model_collapse_gaussian  # noqa: F401  (registers the claim)
from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from numerics import model_collapse_gaussian as nm
from simulations import model_collapse_gaussian as sm
from theory import model_collapse_gaussian as th

CLAIM = registry.get("model_collapse.gaussian")


@pytest.mark.parametrize("overrides", [{"M": 30, "n": 4, "sigma": 2.0}, {"M": 40, "n": 8, "sigma": 0.5}])
def test_set_moves_the_parameters_and_the_checks_still_pass(overrides):
    r = run_claim(CLAIM, overrides, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    assert r.predicted["var_unbiased"] == pytest.approx(overrides["sigma"] ** 2, rel=1e-12)
    assert r.predicted["mean_sq_drift"] == pytest.approx(overrides["n"] * overrides["sigma"] ** 2 / overrides["M"])
    assert r.observed["simulation.std_stderr"] > 0


def test_each_negative_control_falls_outside_the_confidence_interval():
    r = run_claim(CLAIM, {}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    controls = r.checks["negative_control"].detail["controls"]
    assert len(controls) == len(CLAIM.negative_controls)
    for control in controls:
        assert all(control["rejected_by"].values()), control
        for kind in ("numeric", "simulation"):
            assert control["errors"][kind] > 7.0, (control["name"], kind, control["errors"][kind])


def test_c_M_is_below_one_and_tends_to_one():
    assert float(th.c_M(2)) == pytest.approx(np.sqrt(2 / np.pi), rel=1e-12)
    values = [float(th.c_M(M)) for M in (2, 5, 20, 1000)]
    assert all(v < 1 for v in values) and values == sorted(values)


def test_numpy_and_torch_chains_agree_with_each_other():
    a = nm.gaussian_chains(15, 5, 1.0, 20000, np.random.default_rng(1))
    b = sm.gaussian_chains(15, 5, 1.0, 20000, seed=2, device="cpu")
    for k in ("mean_sq_drift", "std", "log_var_drift", "var_mle"):
        assert abs(a[k].mean - b[k][0]) < 4.5 * np.hypot(a[k].stderr, b[k][1]), k


def test_torch_chain_is_deterministic():
    assert sm.gaussian_chains(5, 3, 1.0, 50, seed=3, device="cpu") == sm.gaussian_chains(5, 3, 1.0, 50, seed=3, device="cpu")


@pytest.mark.parametrize("overrides,param", [({"M": 1}, "M"), ({"sigma": 0.0}, "sigma"), ({"sigma": -1.0}, "sigma"),
                                             ({"n": -1}, "n"), ({"M": 2.5}, "M"), ({"d": 3}, "d")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_bad_input_to_the_chains():
    with pytest.raises(ValueError, match="M="):
        nm.gaussian_chains(1, 2, 1.0, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="trials"):
        sm.gaussian_chains(5, 2, 1.0, 1, seed=0, device="cpu")
