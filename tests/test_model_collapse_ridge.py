"""model_collapse.ridge: the deterministic equivalents, the exact decomposition at small sizes,
the negative controls, the finite-size allowance, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit import registry
from collapsekit.claim import ParameterError, Tolerance
from collapsekit.runner import compare, run_claim
from numerics import model_collapse as nm
from numerics import model_collapse_ridge as nr
from simulations import model_collapse_ridge as sr
from theory import model_collapse_ridge as th

CLAIM = registry.get("model_collapse.ridge")


@pytest.fixture(scope="module")
def default_run():
    return run_claim(CLAIM, {}, device="cpu")


def test_passes_at_the_defaults_with_the_contract_stderrs(default_run):
    assert default_run.status == "pass", {k: v.message for k, v in default_run.checks.items()}
    for name in ("test_error", "clean_error", "rho"):
        assert default_run.observed[f"simulation.{name}_stderr"] > 0


def test_each_negative_control_falls_outside_the_confidence_interval(default_run):
    nc = default_run.checks["negative_control"]
    assert nc.status == "pass"
    assert len(nc.detail["controls"]) == 4
    for control in nc.detail["controls"]:
        for kind in ("numeric", "simulation"):
            assert control["errors"][kind] > 4.5, (control["name"], kind, control["errors"][kind])


def test_set_moves_the_parameters_and_the_checks_still_pass():
    r = run_claim(CLAIM, {"n": 7, "sigma0": 0.3, "delta": 2.0, "alpha": 1.2}, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}


def test_the_decomposition_is_exact_at_a_size_where_the_equivalents_are_not():
    """d=6: the deterministic equivalent of rho is off by percents, but the whole simulated chain
    still matches clean + n sigma0^2 E g(X)/(T0-d-1) computed by the numeric route (z-score of
    two independent Monte-Carlo means); 'T0-d' for 'T0-d-1' is rejected."""
    d, T, T0, n, lam, s0 = 6, 9, 10, 3, 0.2, 0.6
    spec, w0 = nm.power_spectrum(d, 1.0), nr.power_weights(d, 1.0, 1.0)
    g = nr.conditional_errors(spec, w0, T, lam, 1.0, 40000, np.random.default_rng(5))["g"]
    sim = sr.ridge_chain(spec, w0, T, T0, 1.0, s0, n, lam, 40000, seed=6, device="cpu")
    mean, se = sim["rho"]
    for denom, should_match in ((T0 - d - 1, True), (T0 - d, False)):
        rho = g / denom
        z = abs(mean - rho.mean()) / np.hypot(se, rho.std(ddof=1) / np.sqrt(rho.size))
        assert (z < 4.5) == should_match, (denom, z)
    de = float(th.ridge_formulas(d, T, T0, 1.0, s0, n, lam, 1.0, 1.0, 1.0)["rho"])
    assert abs(de / (g.mean() / (T0 - d - 1)) - 1) > 0.02     # the equivalent alone would not do here


def test_kappa_solves_the_fixed_point_and_lambda_zero_gives_ols():
    s = th.spectrum(10, 1.0)
    k = th.solve_kappa(s, 7, 0.05)
    assert k > 0.05 and abs(float(th.fixed_point_residual(s, 7, sp.Rational(1, 20), k))) < 1e-45
    # lambda = 0 (T > d): kappa = 0 exactly, df1 = df2 = d, and rho is exactly the OLS slope d/(T0-d-1)
    assert th.solve_kappa(s, 40, 0) == 0 and th.solve_kappa(s, 40, 0.0) == 0
    f = th.ridge_formulas(10, 40, 30, 1.0, 0.5, 2, 0.0, 1.0, 1.0, 1.0)
    assert f["rho"] == sp.Rational(10, 19)


@pytest.mark.parametrize("d,T,lam", [(10, 7, 0.05), (10, 7, 1.0), (6, 30, 0.001), (6, 30, 3.0)])
def test_solve_kappa_meets_its_stated_precision(d, T, lam):
    """Within 1e-50 relative of the root, on both sides of d = T and for small and large lambda (lambda = 1
    included): one exact Newton correction f(k)/f'(k), with f'(k) = 1 - df2/T, is below 1e-50 k."""
    s = th.spectrum(d, 1.5)
    k = th.solve_kappa(s, T, lam)
    slope = 1 - th.dfs(s, k)[1] / T
    assert k > sp.Rational(repr(lam)) and slope > 0
    assert abs(th.fixed_point_residual(s, T, sp.Rational(repr(lam)), k) / slope) < k * sp.Rational(1, 10**50)


def test_spectrum_and_signal_are_the_stated_power_laws():
    """Sigma = diag(j^-alpha) and w0_j^2 proportional to j^-delta with ||w0||^2 = w0_norm_sq, d entries each;
    exact where the powers are rational, within 1e-14 of numpy's powers where they are not."""
    j = np.arange(1, 10.0)
    assert th.spectrum(9, 2) == [sp.Rational(1, int(x) ** 2) for x in j]
    s, w2 = th.spectrum(9, 1.5), th.signal(9, 0.5, 3.0)
    assert len(s) == len(w2) == 9 and sum(w2) == 3
    np.testing.assert_allclose([float(v) for v in s], j**-1.5, rtol=1e-14)
    np.testing.assert_allclose([float(v / w2[0]) for v in w2], j**-0.5, rtol=1e-14)


def test_the_asymptotic_allowance_only_forgives_its_stated_size():
    obs, se = {"x": 1.004}, {"x": 0.001}
    assert compare(obs, {"x": 1.0}, 1.0, se)[0] == pytest.approx(4.0)
    assert compare(obs, {"x": 1.0}, 1.0, se, asymptotic=0.003)[0] == pytest.approx(1.0)
    assert compare(obs, {"x": 1.0}, 1.0, se, asymptotic=0.01)[0] == 0.0
    with pytest.raises(ValueError):
        Tolerance(1e-6, "relative tolerances take no allowance", asymptotic=0.01)


def _explicit_errors(spec, w0, X, lam, sigma):
    """One design's clean error and g(X) from explicit matrices (R by a linear solve, no eigendecomposition):
    lam^2 w0' R S R w0 + sigma^2 tr(R S_hat R S)/T and tr[(I - lam R) S (I - lam R) S^-1]."""
    T, d = X.shape
    S, Sh, eye = np.diag(spec), X.T @ X / T, np.eye(len(spec))
    R = np.linalg.solve(Sh + lam * eye, eye)
    shrink = eye - lam * R
    clean = lam**2 * w0 @ R @ S @ R @ w0 + sigma**2 * np.trace(R @ Sh @ R @ S) / T
    return clean, np.trace(shrink @ S @ shrink @ np.linalg.inv(S))


@pytest.mark.parametrize("d,T,lam", [(5, 4, 0.3), (4, 9, 0.0)])
def test_conditional_errors_match_explicit_matrices(d, T, lam):
    """Design by design, on the same draws (three designs in chunks of two, the last one partial), against
    _explicit_errors; a rank-deficient design (T < d) and ridgeless OLS, where g(X) = d exactly."""
    spec, w0, sigma = nm.power_spectrum(d, 1.3), nr.power_weights(d, 0.7, 1.5), 0.7
    r = nr.conditional_errors(spec, w0, T, lam, sigma, 3, np.random.default_rng(11), chunk=2)
    X = np.random.default_rng(11).standard_normal((3, T, d)) * np.sqrt(spec)
    want = np.array([_explicit_errors(spec, w0, x, lam, sigma) for x in X])
    assert r["clean"].shape == r["g"].shape == (3,)
    np.testing.assert_allclose(r["clean"], want[:, 0], rtol=1e-10)
    np.testing.assert_allclose(r["g"], want[:, 1], rtol=1e-10)
    if lam == 0:
        np.testing.assert_allclose(r["g"], d, rtol=1e-12)


def test_power_weights_square_to_the_theory_signal():
    """w0_j^2 = c j^-delta / sum_k k^-delta, against the exact rationals of theory.model_collapse_ridge.signal."""
    w0 = nr.power_weights(7, 1.5, 2.0)
    assert w0.shape == (7,) and np.all(w0 > 0)
    np.testing.assert_allclose(w0**2, [float(v) for v in th.signal(7, 1.5, 2.0)], rtol=1e-13)


def test_simulated_chain_is_deterministic():
    spec, w0 = nm.power_spectrum(4, 1.0), nr.power_weights(4, 1.0, 1.0)
    a = sr.ridge_chain(spec, w0, 6, 8, 1.0, 0.5, 2, 0.1, 50, seed=3, device="cpu")
    assert a == sr.ridge_chain(spec, w0, 6, 8, 1.0, 0.5, 2, 0.1, 50, seed=3, device="cpu")


@pytest.mark.parametrize("overrides,param", [({"T0": 51}, "T0"), ({"lam": -0.1}, "lam"),
                                             ({"lam": 0.0, "T": 51}, "lam"), ({"d": 0}, "d"), ({"n": -1}, "n")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_bad_input_to_the_routes_is_a_value_error():
    spec, w0 = nm.power_spectrum(4, 1.0), nr.power_weights(4, 1.0, 1.0)
    with pytest.raises(ValueError, match="lam"):
        nr.conditional_errors(spec, w0, 6, -1.0, 1.0, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="trials"):
        nr.conditional_errors(spec, w0, 6, 0.1, 1.0, 1, np.random.default_rng(0))
    assert nr.conditional_errors(spec, w0, 6, 0.1, 1.0, 2, np.random.default_rng(0))["g"].shape == (2,)
    with pytest.raises(ValueError, match="T0"):
        sr.ridge_chain(spec, w0, 6, 5, 1.0, 0.5, 2, 0.1, 10, seed=0, device="cpu")


@pytest.mark.heavy
def test_de_error_shrinks_with_size():
    """The equivalent of rho at d=25 (T=30, T0=40) vs d=50 (the defaults): measured -0.42% and
    -0.19% (standard errors 0.02%); the error must shrink when every size doubles."""
    errs = []
    for d, T, T0, m in ((25, 30, 40, 30000), (50, 60, 80, 16000)):
        g = nr.conditional_errors(nm.power_spectrum(d, 1.0), nr.power_weights(d, 1.0, 1.0), T, 0.1, 1.0, m,
                                  np.random.default_rng(7))["g"] / (T0 - d - 1)
        de = float(th.ridge_formulas(d, T, T0, 1.0, 0.5, 4, 0.1, 1.0, 1.0, 1.0)["rho"])
        errs.append((abs(g.mean() / de - 1), g.std(ddof=1) / np.sqrt(m) / de))
    (e1, s1), (e2, s2) = errs
    assert e1 - e2 > 4.5 * np.hypot(s1, s2), errs


def test_kappa_seed_is_the_float_root():
    """The bisection that seeds the 60-digit Newton polish is itself the root to float precision
    (brentq on the same f), so the 8 Newton steps start inside their quadratic region."""
    from scipy.optimize import brentq

    s, _, _ = th.instance(20, 30, 0.1, 1.5, 0.5, 1.0)
    sf = [float(v) for v in s]
    for T, lam in ((30, 0.1), (10, 1e-3), (200, 2.0)):
        f = lambda k: k - lam - k * sum(v / (v + k) for v in sf) / T  # noqa: E731
        want = brentq(f, lam, lam + sum(sf) + 1.0, xtol=1e-300, rtol=1e-15)
        assert th.kappa_seed(s, T, lam) == pytest.approx(want, rel=1e-13)
    # d = 1, s = (1,), T = 1: κ² = λ(1 + κ), root (λ + √(λ² + 4λ))/2 > λ = λ + Σs − 1; [λ, λ + Σs + 1] holds it
    for lam in (0.1, 1e-3):
        assert th.kappa_seed([sp.Integer(1)], 1, lam) == pytest.approx((lam + np.sqrt(lam**2 + 4 * lam)) / 2, rel=1e-13)


@pytest.mark.parametrize("shift,certified", [(sp.Rational(1, 10**35), False), (sp.Rational(3, 2 * 10**40), False),
                                             (sp.Rational(1, 2 * 10**40), True)])
def test_kappa_certificate_is_as_tight_as_it_says(monkeypatch, shift, certified):
    """The bracket f(κ ± 1e-40κ) certifies κ to 1e-40 relative, no more and no less: a κ off by 1e-35 or
    1.5e-40 is refuted, one off by 0.5e-40 is still certified (κ itself is accurate to 1e-50)."""
    p = CLAIM.resolve({})
    f = CLAIM.formulas(p)
    assert all(o.proved is True for o in CLAIM.prove(p, f))
    real = th.instance

    def shifted(*args):
        s, w2, pc = real(*args)
        return s, w2, {**pc, "kappa": pc["kappa"] * (1 + shift)}

    monkeypatch.setattr(th, "instance", shifted)
    bracket = [o.proved for o in CLAIM.prove(p, f) if o.name.startswith("kappa bracketed")]
    assert len(bracket) == 2 and all(bracket) is certified, bracket


@pytest.mark.parametrize("T0,finite", [(11, False), (12, True)])
def test_the_inverse_wishart_hypothesis_is_T0_ge_d_plus_2(T0, finite):
    """E (ZᵀZ)⁻¹ is finite only for T0 >= d + 2: the hypothesis is refuted at T0 = d + 1 and proved at d + 2."""
    args = (10, 20, T0, 1, sp.Rational(1, 2), 2, sp.Rational(1, 10), 1, 1, 1)
    obs = th.prove_ridge(th.ridge_formulas(*args), *args)
    (o,) = [o for o in obs if o.name.startswith("T0 >= d + 2")]
    assert o.proved is finite


def test_the_clean_error_obligation_carries_sigma_squared():
    """At σ ≠ 1 the clean-error identity is proved for σ²·df₂/(T − df₂), and refuted for a formula with σ
    in place of σ² (at the default σ = 1 the two coincide)."""
    args = (6, 12, 20, sp.Rational(1, 2), sp.Rational(1, 2), 2, sp.Rational(1, 10), 1, 1, 1)
    f = th.ridge_formulas(*args)
    name = "clean error = "
    assert all(o.proved for o in th.prove_ridge(f, *args) if o.name.startswith(name))
    _, _, pc = th.instance(6, 12, sp.Rational(1, 10), 1, 1, 1)
    wrong = {**f, "clean_error": pc["bias"] + sp.Rational(1, 2) * pc["df2"] / (12 - pc["df2"])}
    assert not any(o.proved for o in th.prove_ridge(wrong, *args) if o.name.startswith(name))


def test_the_variance_hypothesis_df2_lt_T_can_fail(monkeypatch):
    """1 − df₂/T > 0 holds at every true fixed point (df₂ < df₁ = T(1 − λ/κ)); fed a κ whose df₂ is 1.5T
    (a wrong root), the obligation is refuted."""
    p = CLAIM.resolve({})
    f = CLAIM.formulas(p)
    real = th.instance

    def wrong_df2(*args):
        s, w2, pc = real(*args)
        return s, w2, {**pc, "df2": sp.Rational(3, 2) * p["T"]}

    monkeypatch.setattr(th, "instance", wrong_df2)
    (o,) = [o for o in CLAIM.prove(p, f) if o.name.startswith("1 - df2/T > 0")]
    assert o.proved is False
