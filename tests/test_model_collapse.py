"""model_collapse.ols: the Monte-Carlo checks, their negative controls, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from collapsekit import registry
from collapsekit.claim import Observation, ParameterError
from collapsekit.runner import run_claim
from numerics import model_collapse as nm
from simulations import model_collapse as sm

CLAIM = registry.get("model_collapse.ols")


@pytest.mark.parametrize("overrides", [{"d": 5, "T": 12, "T0": 9, "n": 3, "alpha": 0.0},
                                       {"d": 8, "T": 30, "T0": 20, "n": 0, "sigma0": 2.0, "alpha": 2.0}])
def test_set_moves_the_parameters_and_the_checks_still_pass(overrides):
    r = run_claim(CLAIM, overrides, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    assert r.observed["simulation.test_error_stderr"] > 0          # the contract's stderr


def test_each_negative_control_falls_outside_the_confidence_interval():
    r = run_claim(CLAIM, {}, device="cpu")
    nc = r.checks["negative_control"]
    assert nc.status == "pass"
    for control in nc.detail["controls"]:
        for kind in ("numeric", "simulation"):
            assert control["errors"][kind] > 4.5, (control["name"], kind, control["errors"][kind])


def test_numpy_and_torch_chains_agree_with_each_other():
    spec = nm.power_spectrum(6, 1.0)
    a = nm.ols_chain(6, 15, 12, 1.0, 0.5, 4, spec, 4000, np.random.default_rng(1))
    b = sm.ols_chain(6, 15, 12, 1.0, 0.5, 4, spec, 4000, seed=2, device="cpu")
    assert abs(a.mean - b[0]) < 4.5 * np.hypot(a.stderr, b[1])


def test_torch_chain_is_deterministic():
    spec = nm.power_spectrum(4, 1.0)
    assert sm.ols_chain(4, 10, 8, 1.0, 0.5, 2, spec, 100, seed=3, device="cpu") == \
        sm.ols_chain(4, 10, 8, 1.0, 0.5, 2, spec, 100, seed=3, device="cpu")


def test_a_monte_carlo_check_without_stderr_cannot_pass():
    class NoStderr(type(CLAIM)):
        def numeric(self, p, ctx):
            return Observation({"test_error": 3.892130857648099, "clean_error": 0.5128205128205128})

    r = run_claim(NoStderr(), {}, device="cpu", kinds=("numeric",))
    assert r.checks["numeric"].status == "fail"


@pytest.mark.parametrize("overrides,param", [({"T": 21}, "T"), ({"T0": 10}, "T0"), ({"sigma": -1.0}, "sigma"),
                                             ({"d": 0}, "d"), ({"n": -1}, "n"), ({"K": 3}, "K")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_power_spectrum_values_and_its_dimension_guard():
    """Σ = diag(j^-α): d = 1 (the smallest valid dimension) is the single eigenvalue 1; d = 0 is refused."""
    assert nm.power_spectrum(1, 2.0).tolist() == [1.0]
    np.testing.assert_allclose(nm.power_spectrum(3, 2.0), [1.0, 1 / 4, 1 / 9], rtol=1e-15)
    np.testing.assert_array_equal(nm.power_spectrum(4, 0.0), np.ones(4))      # α = 0: isotropic
    with pytest.raises(ValueError, match="d=0"):
        nm.power_spectrum(0, 1.0)


def test_bad_input_to_the_chains():
    spec = nm.power_spectrum(5, 1.0)
    with pytest.raises(ValueError, match="T="):
        nm.ols_chain(5, 6, 10, 1.0, 1.0, 1, spec, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="trials"):
        sm.ols_chain(5, 10, 10, 1.0, 1.0, 1, spec, 1, seed=0, device="cpu")


OVER = registry.get("model_collapse.overparam")


def test_overparam_collapses_even_without_noise():
    r = run_claim(OVER, {"sigma0": 0.0, "n": 8}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    assert r.predicted["error"] == pytest.approx(1 - 0.5**8)


def test_overparam_controls_fall_outside_the_interval():
    r = run_claim(OVER, {}, device="cpu")
    for control in r.checks["negative_control"].detail["controls"]:
        assert min(control["errors"].values()) > 4.5, control


@pytest.mark.parametrize("overrides,param", [({"T0": 39}, "T0"), ({"d": 2}, "d"), ({"sigma0": -0.1}, "sigma0")])
def test_overparam_bad_parameters(overrides, param):
    with pytest.raises(ParameterError) as err:
        OVER.resolve(overrides)
    assert err.value.name == param


def test_ols_proof_states_the_convergence_boundary_exactly():
    """E tr((ZᵀZ)⁻¹) is finite only for T0 >= d + 2 (ν − 2 = T0 − d − 1 > 0): at T0 = d + 2 the
    hypothesis is proved, at T0 = d + 1 (ν = 2, the mean diverges) it is refuted, for T0 and T alike."""
    from theory import model_collapse as th

    def hypothesis(T, T0, which):
        obs = th.prove_ols({"clean_error": 0, "test_error": 0}, 3, T, T0, 1, 1, 2)
        return next(o for o in obs if o.name.startswith(f"{which} >= d + 2")).proved

    assert hypothesis(5, 5, "T0") is True and hypothesis(5, 4, "T0") is False
    assert hypothesis(5, 5, "T") is True and hypothesis(4, 5, "T") is False


def test_overparam_proof_states_the_noise_boundary_exactly():
    """E‖X⁺ε‖² is finite only for d >= T0 + 2 (XXᵀ is T0×T0, ν − 2 = d − T0 − 1): proved at d = T0 + 2,
    refuted at d = T0 + 1."""
    from theory import model_collapse as th

    def hypothesis(d, T0):
        obs = th.prove_overparam({"signal_kept": 0, "error": 0}, d, T0, 1, 2, 1)
        return next(o for o in obs if o.name.startswith("d >= T0 + 2")).proved

    assert hypothesis(7, 5) is True and hypothesis(6, 5) is False
