"""model_collapse.scaling: exponents, plateau, controls, the Bartlett designs, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from numerics import model_collapse_scaling as ns
from simulations import model_collapse_scaling as ss
from theory import model_collapse_ridge as thr
from theory import model_collapse_scaling as th

CLAIM = registry.get("model_collapse.scaling")


@pytest.fixture(scope="module")
def default_run():
    return run_claim(CLAIM, {}, device="cpu")


def test_passes_at_the_defaults(default_run):
    assert default_run.status == "pass", {k: v.message for k, v in default_run.checks.items()}


def test_each_negative_control_is_rejected_by_both_routes(default_run):
    nc = default_run.checks["negative_control"]
    assert nc.status == "pass" and len(nc.detail["controls"]) == 3
    for control in nc.detail["controls"]:
        assert control["errors"]["numeric"] > 0.08 * 2, control
        assert control["errors"]["simulation"] > 4.5, control


def test_the_fitted_exponents_approach_the_continuum_ones_as_d_grows():
    """Finite-window deviation of the error exponent: 4.8% at d=300 (T=300), smaller at d=1000 (T=1000)."""
    dev = []
    for d, T, T0 in ((300, 300, 450), (1000, 1000, 1300)):
        r = run_claim(CLAIM, {"d": d, "T": T, "T0": T0}, device="cpu", kinds=("numeric",))
        dev.append(abs(r.observed["numeric.error_exponent"] / r.predicted["error_exponent"] - 1))
    assert dev[1] < dev[0] < 0.08, dev


def test_de_test_error_is_the_ridge_equivalent_of_the_theory_layer():
    """The numpy E(lambda) against model_collapse.ridge's exact-rational test error (sympy, its own certified
    kappa) at a point where every term matters: sigma, sigma0 != 1, n > 1, T0 - d - 1 small, a non-integer
    spectrum and source.  And its lambda -> 0 limit, the OLS error sigma^2 d/(T-d) + n sigma0^2 d/(T0-d-1)."""
    d, T, T0, sigma, sigma0, n, alpha, delta, norm = 12, 20, 17, 0.7, 0.6, 3, 1.5, 0.5, 2.0
    s = np.array([float(v) for v in thr.spectrum(d, alpha)])
    w2 = np.array([float(v) for v in thr.signal(d, delta, norm)])
    for lam in (0.3, 2.0):
        want = float(thr.ridge_formulas(d, T, T0, sigma, sigma0, n, lam, alpha, delta, norm)["test_error"])
        assert ns.de_test_error(s, w2, T, T0, sigma, sigma0, n, lam) == pytest.approx(want, rel=1e-10), lam
    ols = sigma**2 * d / (T - d) + n * sigma0**2 * d / (T0 - d - 1)
    assert ns.de_test_error(s, w2, T, T0, sigma, sigma0, n, 1e-12) == pytest.approx(ols, rel=1e-8)


def test_crossover_splits_the_effective_noise_in_half():
    d, T0, s, s0, n = 300, 450, 0.1, 0.05, 4
    Tc = th.crossover(d, T0, s, s0, n)
    eps = th.effective_noise(Tc, d, T0, s, s0, n)
    assert float(eps) == pytest.approx(2 * n * s0**2 / (T0 - d - 1), rel=1e-12)


def test_bartlett_wishart_has_the_right_mean():
    rng = np.random.default_rng(0)
    W = np.array([(lambda A: A @ A.T)(ss.bartlett(4, 9, rng)) for _ in range(4000)])
    mean, se = W.mean(0), W.std(0, ddof=1) / np.sqrt(len(W))
    assert np.all(np.abs(mean - 9 * np.eye(4)) < 4.5 * se)
    with pytest.raises(ValueError, match="T=3"):
        ss.bartlett(4, 3, rng)


def test_design_curves_are_deterministic_and_the_grid_refuses_its_ends():
    s, w0 = np.arange(1, 21.0) ** -2, np.full(20, 0.2)
    a = ss.Design(s, w0, 30, np.random.default_rng(1), "cpu").curves(np.logspace(-3, 0, 7), 0.1)
    b = ss.Design(s, w0, 30, np.random.default_rng(1), "cpu").curves(np.logspace(-3, 0, 7), 0.1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="grid"):
        ss.grid_minimum(np.logspace(-3, 0, 5), np.arange(5.0))
    with pytest.raises(ValueError, match="bound"):
        ns.optimal_ridge(s, w0**2, 30, 40, 0.1, 0.05, 1, log_bounds=(-3.0, -2.5))


@pytest.mark.parametrize("overrides,param", [({"T0": 301}, "T0"), ({"T": 299}, "T"), ({"n_plateau": 128}, "n_plateau"),
                                             ({"r": 1.0}, "r"), ({"beta": 1.0}, "beta"), ({"sigma": -1.0}, "sigma")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


@pytest.mark.heavy
def test_ridge_figure_is_deterministic_and_the_optimum_moves_right():
    from figures import model_collapse_ridge as fig

    a, b = fig.compute(fig.FIGURE.seed, "cpu"), fig.compute(fig.FIGURE.seed, "cpu")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    stars = [a[f"lam_star/{n}"] for n in fig.NS]
    assert all(x < y for x, y in zip(stars, stars[1:])), stars
    # past T_c the synthetic error flattens: its last two points differ by < 5%, the clean ones by > 2x
    syn, clean = a["T_mc/synthetic"], a["T_mc/clean"]
    assert syn[-2] / syn[-1] < 1.05 and clean[-2] / clean[-1] > 2


@pytest.mark.parametrize("r,at_zero,at_infinity", [(sp.Rational(-1, 4), True, False), (sp.Integer(0), True, False),
                                                   (sp.Rational(1, 8), True, True), (sp.Rational(1, 2), True, True),
                                                   (sp.Integer(1), False, True), (sp.Rational(5, 4), False, True)])
def test_bias_integral_hypotheses_hold_exactly_for_0_lt_r_lt_1(r, at_zero, at_infinity):
    """With δ = 2βr − β + 1 the bias integrand's exponents are β − δ + 1 = 2β(1 − r) (u → 0) and
    β + δ − 1 = 2βr (u → ∞): each hypothesis is proved inside 0 < r < 1 and refuted on its own side,
    at the boundaries r = 0 and r = 1 included (exponent exactly 0), and at r = 1/8, where 2βr = 1/2
    is positive but below 1 (so "exponent − 1 > 0" would be refuted there)."""
    obs = th.prove_scaling(th.scaling_formulas(2, r), 2, r)
    verdict = {o.name.split(" (")[0]: o.proved for o in obs if "exponent beta" in o.name}
    assert list(verdict.values()) == [at_zero, at_infinity], verdict


@pytest.mark.parametrize("beta,summable", [(sp.Rational(1, 2), False), (sp.Integer(1), False),
                                           (sp.Rational(3, 2), True)])
def test_the_summable_spectrum_hypothesis_is_beta_gt_1(beta, summable):
    """s_j = j^(−β) has finite df₂ only for β > 1: the hypothesis is refuted at β = 1 itself and below."""
    r = sp.Rational(1, 2)
    obs = th.prove_scaling(th.scaling_formulas(beta, r), beta, r)
    (o,) = [o for o in obs if o.name.startswith("beta > 1")]
    assert o.proved is summable
