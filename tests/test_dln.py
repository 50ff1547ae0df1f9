"""dln.mse.imbalanced: closed forms per class, the collapse threshold on both sides, depth >= 2
(the jump to zero and bad basins reported), controls, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.special import logsumexp

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.runner import run_claim
from numerics import dln as nd
from theory import dln as th
from theory.proof import all_proved

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
    assert nc.status == "pass" and len(nc.detail["controls"]) == len(CLAIM.negative_controls) == 4
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


# --------------------------------------------------------------------------- numerics.dln's objective
def _objective_by_hand(prob: nd.DeepLinear, x: np.ndarray) -> float:
    """f written out from its definition: the product W_M⋯W_1 H (+ b 1ᵀ), the fit (MSE or the mean
    cross-entropy by scipy's logsumexp), and the two weight-decay terms."""
    Ws, H, *b = prob.unpack(x)
    Z = H
    for W in Ws:
        Z = W @ Z
    if b:
        Z = Z + b[0]
    if prob.loss == "mse":
        fit = np.sum((Z - prob.Y) ** 2) / (2 * prob.N)
    else:
        fit = np.mean(logsumexp(Z, axis=0) - Z[prob.labels, np.arange(prob.N)])
    return fit + prob.lam_W / 2 * sum(np.sum(W**2) for W in Ws) + prob.lam_H / 2 * np.sum(H**2)


@pytest.mark.parametrize("loss,M,bias", [("mse", 1, False), ("mse", 3, True), ("ce", 1, False), ("ce", 2, True)])
def test_deep_linear_value_and_gradient(loss, M, bias):
    """value_and_grad at a random point: the value against the definition, the gradient against
    central differences (every layer, H and b), with unequal classes and width d > K."""
    prob = nd.DeepLinear((3, 2, 1), 4, M, 0.3, 0.2, bias=bias, loss=loss)
    x = np.random.default_rng(M).standard_normal(prob.size())
    f, g = prob.value_and_grad(x)
    assert f == pytest.approx(_objective_by_hand(prob, x), rel=1e-13)
    step, fd = 1e-6, np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step
        fd[i] = (prob.value_and_grad(x + e)[0] - prob.value_and_grad(x - e)[0]) / (2 * step)
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-7)


def test_deep_linear_product_means():
    """Class means of the features and of the product, against a direct average per class."""
    prob = nd.DeepLinear((2, 3), 3, 2, 0.1, 0.1, bias=True)
    x = np.random.default_rng(5).standard_normal(prob.size())
    Ws, H, _ = prob.unpack(x)
    PH, Hbar = prob.product_means(x)
    expected = np.column_stack([H[:, :2].mean(axis=1), H[:, 2:].mean(axis=1)])
    np.testing.assert_allclose(Hbar, expected, rtol=1e-14)
    np.testing.assert_allclose(PH, Ws[1] @ Ws[0] @ expected, rtol=1e-13)


def test_deep_linear_cross_entropy_at_large_logits():
    """Logits of order 10³ (exp overflows at 709): the cross-entropy is still the definition's value,
    and its gradient finite (softmax − Y)/N; the max-shift of the log-sum-exp is what makes this so."""
    prob = nd.DeepLinear((2, 2), 2, 1, 0.1, 0.1, loss="ce")
    x = 40.0 * np.random.default_rng(6).standard_normal(prob.size())
    Ws, H = prob.unpack(x)
    assert np.abs(Ws[0] @ H).max() > 1000
    f, g = prob.value_and_grad(x)
    assert f == pytest.approx(_objective_by_hand(prob, x), rel=1e-12)
    assert np.all(np.isfinite(g))


# --------------------------------------------------------------------------- the certificates
IMB = (8, 4, 2, 1)                                 # N = 15


@pytest.mark.parametrize("M,lam", [(1, (0.1, 0.05)), (2, (0.03, 0.03)), (2, (0.06, 0.06)), (5, (0.05, 0.05))])
def test_mse_certificate_in_every_branch(M, lam):
    """M = 1 (active and collapsed classes); M = 2 with a bracketed root, the jump (n = 1 at 0.03) and
    no root at all (n = 1, 2 at 0.06); M = 5 (degree-10 P, complex roots with positive real parts)."""
    f = th.dln_formulas(IMB, M, *lam)
    obligations = th.prove_dln(f, IMB, M, *lam)
    assert all_proved(obligations), [o.describe() for o in obligations if not o.ok]


def _patched(monkeypatch, name, change):
    """Replace th.<name> (class_optimum or ce_margin) by the real one with its answer changed."""
    real = getattr(th, name)
    monkeypatch.setattr(th, name, lambda *args: change(real(*args), *args))


def _jump_to_zero(opt, *args):
    return {**opt, "a": sp.Integer(0)}


def _root_taken(opt, *args):
    return {**opt, "a": opt["a_root"]}


def _no_root(opt, *args):
    return {**opt, "a": sp.Integer(0), "bracket": None}


def _bracket_off(opt, *args):
    lo, hi = opt["bracket"]
    return {**opt, "bracket": (lo * sp.Rational(101, 100), hi * sp.Rational(101, 100))}


def _candidate_off(opt, *args):
    a = (opt["a_root"] ** sp.Rational(1, opt["L"]) * sp.Rational(101, 100)) ** opt["L"]
    return {**opt, "a_root": a, "a": a if opt["a"] != 0 else opt["a"]}


def _candidate_below(opt, *args):
    a = (opt["a_root"] ** sp.Rational(1, opt["L"]) * sp.Rational(99, 100)) ** opt["L"]
    return {**opt, "a_root": a, "a": a if opt["a"] != 0 else opt["a"]}


def _collapsed_claimed_active(opt, n_k, N, M, lam_W, lam_H):
    return {**opt, "a": sp.sqrt(n_k) - N * opt["c"]}


@pytest.mark.parametrize("n_k,M,lam,change", [
    (2, 1, (0.1, 0.05), _jump_to_zero),            # active (n = 2 > N²λ_Wλ_H = 1.125) claimed collapsed
    (1, 1, (0.1, 0.05), _collapsed_claimed_active),
    (8, 2, (0.03, 0.03), _jump_to_zero),            # the interior minimum wins, a = 0 claimed
    (1, 2, (0.03, 0.03), _root_taken),              # the jump wins, the interior minimum claimed
    (1, 2, (0.03, 0.03), _no_root),                 # P has roots, "no root" claimed
    (8, 2, (0.03, 0.03), _bracket_off),             # a bracket 1 % off the root
    (8, 2, (0.03, 0.03), _candidate_off),           # a candidate above its bracket
    (8, 2, (0.03, 0.03), _candidate_below),         # a candidate below its bracket
])
def test_mse_certificate_refutes_a_wrong_optimum(monkeypatch, n_k, M, lam, change):
    """Negative controls of the certificate itself: class_optimum's answer changed, one branch at a time."""
    assert all_proved(th.certify_optimum("k", n_k, sum(IMB), M, *lam))
    _patched(monkeypatch, "class_optimum", change)
    assert not all_proved(th.certify_optimum("k", n_k, sum(IMB), M, *lam))


@pytest.mark.parametrize("M,lam", [(2, 0.15), (2, 0.2)])
def test_ce_certificate_jump_and_no_root(M, lam):
    """K = n = 3, M = 2: at λ = 0.15 f' has roots but t = 0 wins (the jump); at λ = 0.2 f' > 0 everywhere."""
    opt = th.ce_margin(3, 3, M, lam, lam)
    assert opt["t"] == 0 and (opt["bracket"] is not None) == (lam == 0.15)
    obligations = th.prove_dln_ce(th.dln_ce_formulas(3, 3, M, lam, lam), 3, 3, M, lam, lam)
    assert all_proved(obligations), [o.describe() for o in obligations if not o.ok]


def _t_zero(opt, *args):
    return {**opt, "t": sp.Integer(0)}


def _t_half(opt, *args):
    return {**opt, "t": sp.Rational(1, 2)}


def _t_root(opt, *args):
    return {**opt, "t": opt["root"]}


def _no_sign_change(opt, *args):
    return {**opt, "t": sp.Integer(0), "bracket": None}


@pytest.mark.parametrize("M,lam,change", [
    (1, 0.15, _t_zero),             # t* = log(1/η − 2) = 0.615 in (0, 1): "t* = 0" claimed
    (1, 0.2, _t_half),              # Kη >= 1, t* = 0: t = 1/2 claimed
    (2, 0.01, _t_zero),             # the interior minimum wins: the jump claimed
    (2, 0.15, _t_root),             # the jump wins: the interior minimum claimed
    (2, 0.15, _no_sign_change),     # f' has roots: "no sign change" claimed
])
def test_ce_certificate_refutes_a_wrong_margin(monkeypatch, M, lam, change):
    args = (3, 3, M, lam, lam)
    assert all_proved(th.prove_dln_ce(th.dln_ce_formulas(*args), *args))
    _patched(monkeypatch, "ce_margin", change)
    assert not all_proved(th.prove_dln_ce(th.dln_ce_formulas(*args), *args))


def _mp_root(fun, guess):
    import mpmath
    with mpmath.workdps(100):
        return mpmath.findroot(fun, mpmath.mpf(guess))


def test_brackets_hold_the_root_to_1e_40():
    """Each certified bracket (the MSE root of P, the CE root of f', the CE peak of h) has relative
    half-width <= 10⁻⁴⁰ and contains the root found independently: mpmath's Newton at 100 digits from a
    float64 root (numpy's polynomial roots; scipy's brentq)."""
    import mpmath
    from scipy.optimize import brentq

    def check(bracket, root):
        lo, hi = bracket
        assert (hi - lo) / (hi + lo) <= sp.Rational(1, 10**40)
        assert mpmath.mpf(lo.p) / lo.q < root < mpmath.mpf(hi.p) / hi.q

    # MSE, M = 2, n = 8: P(t) = t⁴ − √8 t + N c, c = (λ_H λ_W²)^(1/3) = 0.03 at λ_W = λ_H = 0.03
    opt = th.class_optimum(8, 15, 2, 0.03, 0.03)
    guess = max(r.real for r in np.roots([1, 0, 0, -8**0.5, 15 * 0.03]) if abs(r.imag) < 1e-9)
    with mpmath.workdps(100):
        Nc = 15 * mpmath.mpf(3) / 100
        check(opt["bracket"], _mp_root(lambda t: t**4 - mpmath.sqrt(8) * t + Nc, guess))
        # CE, K = n = 3, M = 2, λ = 0.01: f'(t) = −2e^{−t}/(1 + 2e^{−t}) + 2c·3^(1/3) t^(−1/3), c = 0.01
        A = mpmath.mpf(1) / 100 * mpmath.cbrt(3)
        df = lambda t: A * t ** (-mpmath.mpf(1) / 3) - mpmath.exp(-t) / (1 + 2 * mpmath.exp(-t))  # noqa: E731
        guess = brentq(lambda t: 0.01 * 3 ** (1 / 3) * t ** (-1 / 3) - np.exp(-t) / (1 + 2 * np.exp(-t)), 1.0, 20.0)
        check(th.ce_margin(3, 3, 2, 0.01, 0.01)["bracket"], _mp_root(df, guess))
        # the peak of h(s) = s^(1/3) e^{−s}/(1 + 2e^{−s}): 1/(3s) = 1/(1 + 2e^{−s})
        guess = brentq(lambda s: 1 / (3 * s) - 1 / (1 + 2 * np.exp(-s)), 1 / 3, 1.0)
        check(th._ce_peak_bracket(3, 3), _mp_root(lambda s: 1 / (3 * s) - 1 / (1 + 2 * mpmath.exp(-s)), guess))


def test_mse_certificate_at_a_double_root():
    """n = 4, N = 15, M = 2, λ = (0.1, 0.05) (the defaults' class 2 at depth 2): c = 2^(−1/3)/10, so
    P(t) = t⁴ − 2t + 1.5·2^(−1/3) has a double root at t_min = 2^(−1/3), P(t_min) = 0 exactly. g' >= 0
    and a = 0 is still the unique minimizer: proved with P(t_min) >= 0; a strict "> 0" would refute it."""
    t_min = sp.Integer(2) ** sp.Rational(-1, 3)
    c = th.class_optimum(4, 15, 2, 0.1, 0.05)["c"]
    assert sp.simplify(t_min**4 - 2 * t_min + 15 * c) == 0
    obligations = th.certify_optimum("k", 4, 15, 2, 0.1, 0.05)
    assert all_proved(obligations), [o.describe() for o in obligations if not o.ok]
    assert th.class_optimum(4, 15, 2, 0.1, 0.05)["a"] == 0


def test_unhalved_fit_control_is_rejected_where_every_class_collapses():
    """n = 200, 100, 50, 50 at M = 2 (λ defaults): N c = 31.7 exceeds every class's reach, all p_k = 0, so
    the per-class controls change nothing; the normalization control doubles the loss (1/2 → 1) and
    every check rejects it."""
    r = run_claim(CLAIM, {"n": "200,100,50,50", "M": 2})
    assert r.status == "pass", {k: v.message for k, v in r.checks.items()}
    f = CLAIM.formulas(CLAIM.resolve({"n": "200,100,50,50", "M": 2}))
    assert all(f[f"p_{k}"] == 0 for k in range(1, 5)) and f["loss"] == sp.Rational(1, 2)
    controls = r.checks["negative_control"].detail["controls"]
    assert [c["name"].split(" ")[0] for c in controls] == ["fit"]
    assert all(controls[0]["rejected_by"].values())
