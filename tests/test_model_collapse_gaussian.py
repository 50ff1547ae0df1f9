"""model_collapse.gaussian: the Monte-Carlo checks, their negative controls, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

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


# --------------------------------------------------------------------------- model_collapse.gaussian_accumulate
ACC = registry.get("model_collapse.gaussian_accumulate")


def test_accumulate_passes_and_each_negative_control_falls_outside_the_confidence_interval():
    r = run_claim(ACC, {}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    controls = r.checks["negative_control"].detail["controls"]
    assert len(controls) == len(ACC.negative_controls)
    for control in controls:
        assert all(control["rejected_by"].values()), control
        for kind in ("numeric", "simulation"):
            assert control["errors"][kind] > 7.0, (control["name"], kind, control["errors"][kind])
    for kind in ("numeric", "simulation"):
        assert r.checks[kind].detail["info"]["limit_truncation_in_stderr"] < 0.25


def test_accumulate_set_moves_the_parameters():
    r = run_claim(ACC, {"M": 6, "n": 4, "sigma": 2.0, "n_limit": 300}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    assert r.predicted["var_accumulate"] == pytest.approx(4 * np.prod([1 - 1 / (6 * k * k) for k in range(1, 5)]))
    assert r.predicted["var_accumulate_limit"] == pytest.approx(4 * np.sqrt(6) * np.sin(np.pi / np.sqrt(6)) / np.pi)


def test_accumulate_formulas_the_catalogue_holds_for_the_MLE_fit_only():
    f = {k: float(v) for k, v in th.accumulate_formulas(10, 10, 1).items()}
    assert f["var_accumulate"] == pytest.approx(np.prod([1 - 1 / (10 * k * k) for k in range(1, 11)]), rel=1e-14)
    assert f["var_accumulate_unbiased"] == pytest.approx(np.prod([1 - 1 / (k * (10 * k - 1)) for k in range(2, 11)]))
    assert f["var_accumulate_unbiased"] > f["var_accumulate"] > f["var_accumulate_limit"] > 0
    # partial products approach the Euler limit from above
    partial = np.cumprod([1 - 1 / (10 * k * k) for k in range(1, 100001)])
    assert partial[-1] == pytest.approx(f["var_accumulate_limit"], rel=2e-6) and partial[-1] > f["var_accumulate_limit"]


@pytest.mark.parametrize("claim", [ACC, CLAIM], ids=["accumulate", "replace"])
def test_symbolic_parameters_are_proved_and_every_control_refuted(claim):
    """Each workflow's proof with its symbolic parameters (M = a + 2 and n symbolic; σ symbolic too for the
    replace workflow, where σ² enters every formula, so σ = 1 at the defaults could not tell σ² from σ⁻²);
    each negative control is refuted there too."""
    ps = claim.symbolic_params(claim.resolve({}))
    f = claim.formulas(ps)
    assert all(o.proved is True for o in claim.prove(ps, f))
    for control in claim.negative_controls:
        assert not all(o.proved is True for o in claim.prove(ps, control.perturb(ps, dict(f)))), control.name


def test_accumulate_no_collapse_needs_M_gt_1():
    """The symbolic limit is positive only for M > 1 (x = 1/√M < 1): with M any positive integer symbol
    (M = 1 allowed) the no-collapse obligation is not proved; with M = a + 2 it is."""
    M = sp.Symbol("M", positive=True, integer=True)
    n = sp.Symbol("n", nonnegative=True, integer=True)
    obs = th.prove_accumulate(th.accumulate_formulas(M, n, 1), M, n, 1)
    (o,) = [o for o in obs if o.name.startswith("no collapse")]
    assert o.proved is not True
    ps = ACC.symbolic_params(ACC.resolve({}))
    (o2,) = [o for o in ACC.prove(ps, ACC.formulas(ps)) if o.name.startswith("no collapse")]
    assert o2.proved is True


def test_accumulate_default_n_limit_follows_M():
    assert ACC.resolve({})["n_limit"] == 200
    assert ACC.resolve({"M": 2})["n_limit"] == 447 and ACC.resolve({"M": 400, "n": 50})["n_limit"] == 50


def test_accumulate_too_few_limit_generations_is_reported_as_not_converged():
    r = run_claim(ACC, {"n_limit": 10}, device="cpu", kinds=("numeric",))
    assert r.checks["numeric"].status == "fail" and "n_limit" in r.checks["numeric"].message


def test_accumulate_numpy_and_torch_chains_agree():
    a = nm.accumulate_chains(5, 4, 20, 1.0, 20000, np.random.default_rng(1))
    b = sm.accumulate_chains(5, 4, 20, 1.0, 20000, seed=2, device="cpu")
    for k in ("var_accumulate", "var_accumulate_unbiased", "var_accumulate_limit"):
        assert abs(a[k].mean - b[k][0]) < 4.5 * np.hypot(a[k].stderr, b[k][1]), k
    assert sm.accumulate_chains(3, 2, 3, 1.0, 30, seed=5, device="cpu") == \
        sm.accumulate_chains(3, 2, 3, 1.0, 30, seed=5, device="cpu")


@pytest.mark.parametrize("overrides,param", [({"n_limit": 5}, "n_limit"), ({"sigma": 0.0}, "sigma"),
                                             ({"M": 1}, "M"), ({"n": 0}, "n")])
def test_accumulate_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        ACC.resolve(overrides)
    assert err.value.name == param


def test_accumulate_bad_input_to_the_chains():
    with pytest.raises(ValueError, match="n_limit"):
        nm.accumulate_chains(5, 4, 3, 1.0, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="M="):
        sm.accumulate_chains(1, 2, 3, 1.0, 10, seed=0, device="cpu")
    with pytest.raises(ValueError, match="trials"):
        sm.accumulate_chains(4, 2, 3, 1.0, 1, seed=0, device="cpu")
