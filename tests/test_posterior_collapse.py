"""posterior_collapse.*: both sides of the collapse threshold, the controls, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from numerics import posterior_collapse as nm
from simulations import posterior_collapse as sm
from theory import posterior_collapse as th

VAE = registry.get("posterior_collapse.linear_vae")


@pytest.mark.parametrize("overrides,active", [
    ({"beta": 6.0}, 1),                         # threshold 2.4: only lambda_1 = 4 survives
    ({"beta": 1.0}, 4),                         # threshold 0.4: all q = 4 latents active (tight ELBO)
    ({"sigma2": 0.2, "beta": 2.0}, 4),          # the same threshold moved by sigma^2 instead of beta
])
def test_both_sides_of_the_threshold(overrides, active):
    r = run_claim(VAE, overrides, device="cpu")
    for kind in ("symbolic", "numeric", "simulation"):
        assert r.checks[kind].status == "pass", (kind, r.checks[kind].message)
    assert r.observed["numeric.active"] == active == r.observed["simulation.active"]


def test_defaults_have_a_latent_between_sigma2_and_beta_sigma2():
    # lambda_4 = 0.5 lies in (sigma^2, beta sigma^2] = (0.4, 0.8]: every control changes a prediction
    r = run_claim(VAE, {}, device="cpu")
    assert r.status == "pass"
    assert r.observed["numeric.active"] == 3
    for control in r.checks["negative_control"].detail["controls"]:
        assert all(control["rejected_by"].values()), control


def test_beta_one_elbo_is_the_ppca_log_likelihood():
    lams = th.spectrum(6, 4, 0.5)
    f = th.vae_formulas(lams, 4, 0.4, 1)
    assert abs(float(f["elbo"] - th.ppca_loglik(lams, 4, 0.4))) < 1e-25
    f2 = th.vae_formulas(lams, 4, 0.4, 2)
    assert float(f2["elbo"]) < float(th.ppca_loglik(lams, 4, 0.4))     # beta > 1: strictly below


def test_a_wrong_threshold_is_refuted_by_the_proof():
    lams = th.spectrum(6, 4, 0.5)
    bad = th.vae_formulas(lams, 4, 0.4, 2, threshold=th.exact(0.4))
    assert not all(o.ok for o in th.prove_vae(bad, lams, 4, 0.4, 2))
    assert all(o.ok for o in th.generic_obligations())


def test_numeric_gradient_is_exact():
    from scipy.optimize import check_grad
    rng = np.random.default_rng(0)
    S = np.cov(rng.standard_normal((5, 30)))
    x = rng.standard_normal(2 * 5 * 3 + 3)
    err = check_grad(lambda y: nm.neg_elbo(y, S, 3, 0.3, 1.5)[0], lambda y: nm.neg_elbo(y, S, 3, 0.3, 1.5)[1], x)
    assert err < 1e-4 * np.linalg.norm(nm.neg_elbo(x, S, 3, 0.3, 1.5)[1])


def test_sgd_finds_the_same_active_latents_roughly():
    spec = nm.geometric_spectrum(6, 4.0, 0.5)
    r = sm.train_sgd(spec, 4, 0.4, 6.0, seed=0, device="cpu")
    assert np.sum(r["w_norm_sq"] > 0.1 * 2.4) == 1
    assert abs(r["w_norm_sq"][0] - 1.6) < 0.1          # Monte-Carlo SGD: a loose sanity bound only


@pytest.mark.parametrize("overrides,param", [({"q": 7}, "q"), ({"d": 0}, "d"), ({"sigma2": -1.0}, "sigma2"),
                                             ({"beta": 0.0}, "beta"), ({"rho": 1.5}, "rho"),
                                             ({"beta": 2.5}, "beta"), ({"K": 3}, "K")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        VAE.resolve(overrides)
    assert err.value.name == param


CVAE = registry.get("posterior_collapse.cvae")


@pytest.mark.parametrize("overrides,active", [({"beta": 6.0}, 1), ({"beta": 1.0, "corr": 0.0}, 4),
                                              ({"eta2": 0.2, "dx": 2}, 4)])
def test_cvae_both_sides_of_the_threshold(overrides, active):
    r = run_claim(CVAE, overrides, device="cpu")
    for kind in ("symbolic", "numeric", "simulation"):
        assert r.checks[kind].status == "pass", (kind, r.checks[kind].message)
    assert r.observed["numeric.active"] == active == r.observed["simulation.active"]


def test_cvae_uses_the_schur_complement_not_the_output_variances():
    S, theta = th.cvae_covariance(3, 4, 1.5, 4, 0.5)
    assert th.schur(S, 3) == __import__("sympy").diag(*theta)
    assert all(S[3 + i, 3 + i] > theta[i] for i in range(4))      # correlation inflates Var(y_j)
    r = run_claim(CVAE, {}, device="cpu")
    assert r.status == "pass"
    names = [c["name"] for c in r.checks["negative_control"].detail["controls"]]
    assert any("correlation ignored" in n for n in names)


@pytest.mark.parametrize("overrides,param", [({"q": 5}, "q"), ({"eta2": 0.0}, "eta2"), ({"beta": 2.5}, "beta"),
                                             ({"corr": -1.0}, "corr"), ({"dx": 0}, "dx")])
def test_cvae_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CVAE.resolve(overrides)
    assert err.value.name == param


# ------------------------------------------------------------------------------ posterior_collapse.beta
BETA = registry.get("posterior_collapse.beta")


def test_beta_defaults_pass_and_each_negative_control_is_rejected_by_every_check():
    r = run_claim(BETA, {}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    controls = r.checks["negative_control"].detail["controls"]
    assert len(controls) == len(BETA.negative_controls)
    for control in controls:
        assert set(control["rejected_by"]) == {"symbolic", "numeric", "simulation"}, control
        assert all(control["rejected_by"].values()), control
        for kind in ("numeric", "simulation"):
            assert control["errors"][kind] > 100 * BETA.tolerances[kind].value, (control["name"], kind)
    # theta_4^2 = 0.5 lies between beta eta^2 sigma_e^2 = 0.4 and beta eta^2 = 0.8: active with the fixed
    # variance, collapsed with the learnable one
    for kind in ("numeric", "simulation"):
        assert r.observed[f"{kind}.fixed_active"] == 4 and r.observed[f"{kind}.learn_active"] == 3


@pytest.mark.parametrize("overrides,fixed_active,learn_active", [
    ({"sigma_e2": 2.0}, 2, 3),            # fixed threshold 1.6: only theta^2 = 4, 2 survive
    ({"sigma_e2": 0.1}, 5, 3),            # fixed threshold 0.08: every latent active
    ({"beta": 6.0, "sigma_e2": 0.3}, 3, 1),   # thresholds 0.72 (fixed) and 2.4 (learnable)
])
def test_beta_both_sides_of_the_fixed_variance_threshold(overrides, fixed_active, learn_active):
    r = run_claim(BETA, overrides, device="cpu", kinds=("symbolic", "numeric", "negative_control"))
    for kind in ("symbolic", "numeric", "negative_control"):
        assert r.checks[kind].status == "pass", (kind, r.checks[kind].message)
    assert r.observed["numeric.fixed_active"] == fixed_active == r.predicted["fixed_active"]
    assert r.observed["numeric.learn_active"] == learn_active == r.predicted["learn_active"]


def test_beta_sqrt_beta_not_beta_decides_the_threshold():
    lams = th.spectrum(6, 4, 0.5)
    good = th.beta_formulas(lams, 5, 0.4, 2, 0.5)
    bad = th.beta_formulas(lams, 5, 0.4, 2, 0.5, root_beta=th.exact(2))
    assert good["fixed_active"] == 4 and bad["fixed_active"] == 3        # theta_4^2 = 0.5 in (0.4, 0.8]
    assert all(o.ok for o in th.fixed_generic_obligations())
    assert not all(o.ok for o in th.prove_beta(bad, lams, 5, 0.4, 2, 0.5))
    # the closed form: omega^2 = t sqrt(beta) eta theta / sigma_e, t = 1 - sqrt(beta) eta sigma_e / theta
    theta, rb, eta, se = 2.0, np.sqrt(2), np.sqrt(0.4), np.sqrt(0.5)
    t = 1 - rb * eta * se / theta
    assert float(good["fixed_dec_sv_sq_1"]) == pytest.approx(t * rb * eta * theta / se, rel=1e-14)
    assert float(good["fixed_enc_sv_sq_1"]) == pytest.approx(t * se / (rb * eta * theta), rel=1e-14)


def test_beta_fixed_variance_gradient_is_exact_and_optimum_matches():
    from scipy.optimize import check_grad
    rng = np.random.default_rng(0)
    S = np.cov(rng.standard_normal((5, 30)))
    x = rng.standard_normal(2 * 5 * 3)
    fn = lambda y: nm.fixed_neg_elbo(y, S, 3, 0.3, 1.5, 0.7)      # noqa: E731
    assert check_grad(lambda y: fn(y)[0], lambda y: fn(y)[1], x) < 1e-4 * np.linalg.norm(fn(x)[1])


def test_beta_sgd_observation_is_reported():
    r = run_claim(BETA, {}, device="cpu", kinds=("simulation",))
    sgd = r.checks["simulation"].detail["info"]["sgd_observed_fixed_variance"]
    assert sgd["active"] == 4 and len(sgd["dec_sv_sq"]) == 5


@pytest.mark.parametrize("overrides,param", [({"q": 7}, "q"), ({"sigma_e2": 0.625}, "sigma_e2"),
                                             ({"beta": 2.5}, "beta"), ({"sigma_e2": 0.0}, "sigma_e2"),
                                             ({"eta2": -1.0}, "eta2"), ({"sigma2": 0.4}, "sigma2")])
def test_beta_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        BETA.resolve(overrides)
    assert err.value.name == param


def test_geometric_spectrum_guard_at_its_boundaries():
    """d >= 1, lam1 > 0 and 0 < rho <= 1 are accepted up to their edges (d = 1, lam1 = 0.5, rho = 1) and refused
    just past them (d = 0, lam1 = 0, rho = 0 or 1.5)."""
    np.testing.assert_allclose(nm.geometric_spectrum(1, 0.5, 1.0), [0.5], rtol=0)
    np.testing.assert_allclose(nm.geometric_spectrum(3, 0.5, 0.5), [0.5, 0.25, 0.125], rtol=0)
    for d, lam1, rho in ((0, 1.0, 0.5), (2, 0.0, 0.5), (2, 1.0, 0.0), (2, 1.0, 1.5)):
        with pytest.raises(ValueError, match="need d >= 1"):
            nm.geometric_spectrum(d, lam1, rho)
