"""mixup.fixed_etf: every negative control rejected, the structure, bad parameters."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import ParameterError
from collapsekit.claims import mixup as cm
from collapsekit.runner import run_claim
from numerics import mixup as num
from theory import mixup as th
from theory.proof import all_proved

CLAIM = cm.MixupFixedETF()
_cache: dict = {}


def result(**overrides):
    key = tuple(sorted(overrides.items()))
    if key not in _cache:
        _cache[key] = run_claim(CLAIM, overrides, device="cpu")
    return _cache[key]


class _Perturbed:
    def __init__(self, claim, control):
        self._claim, self._control = claim, control

    def __getattr__(self, name):
        return getattr(self._claim, name)

    def formulas(self, p):
        return self._control.perturb(p, self._claim.formulas(p))


# ------------------------------------------------------------------ theory.mixup's certificates
def _shifted(p, f, delta):
    """The formulas with a moved by delta along w_c (and the gap moved with it)."""
    a = f["a"] + delta
    return {**f, "a": a, "gap": th.gap_of(p["K"], p["s"], a, f["b"])}


def test_certificate_proves_exactly_its_stated_precision():
    """s = 3, β = 90 (s²/β = 1/10): along w_c the curvature of f is within 4 % of β (the CE term
    is small), so ‖∇f‖ ≈ 1.03·β·‖h − h*‖.  A point 0.9e-30 from the optimum (a moved by 0.3e-30,
    ‖w_c‖ = s = 3) is certified, one 1.5e-30 away is not (β-strong convexity: its gradient exceeds
    β·1e-30, so no correct certificate of ‖h − h*‖ <= 1e-30 accepts it): the threshold is 1e-30,
    neither looser nor tighter.  s ∉ {1, 2}, so a wrong power of s in ‖∇f‖² = s²rᵀGr shows."""
    p = CLAIM.resolve({"s": 3.0, "beta": 90.0})
    f = CLAIM.formulas(p)
    assert all_proved(CLAIM.prove(p, _shifted(p, f, sp.Rational(3, 10**31))))
    failed = [o.name for o in CLAIM.prove(p, _shifted(p, f, sp.Rational(5, 10**31))) if not o.ok]
    assert len(failed) == 1 and failed[0].startswith("λ = 3/10, h = a·w_c + b·w_c'"), failed


def test_gap_slope_is_pinned_to_its_stated_precision():
    """The obligation recomputes κvᵀ(I + κJ_p)⁻¹v at the certified optimum and states gap_slope to
    1e-20: an error of 0.5e-20 is within it, one of 1.5e-20 is refuted."""
    p = CLAIM.resolve({})
    f = CLAIM.formulas(p)
    assert all_proved(CLAIM.prove(p, {**f, "gap_slope": f["gap_slope"] + sp.Rational(5, 10**21)}))
    assert not all_proved(CLAIM.prove(p, {**f, "gap_slope": f["gap_slope"] + sp.Rational(15, 10**21)}))


# ------------------------------------------------------------------ numerics.mixup's measurement
def _synthetic(K: int, lam: float, gap):
    """Features against W = I_K whose logit gap z_c − z_c' at each task's weight μ is gap(μ):
    h = gap(μ)·e_c for a mixed task, h = e_c for a same-class one."""
    ts = num.tasks(K, lam)
    H = np.zeros((len(ts), K))
    for i, t in enumerate(ts):
        H[i, t.c] = gap(t.lam) if t.c != t.c2 else 1.0
    return np.eye(K), H, ts


@pytest.mark.parametrize("lam", [1e-3, 0.3, 0.999], ids=["delta=lam/2", "delta=SLOPE_DELTA", "delta=(1-lam)/2"])
def test_measured_slope_is_the_derivative(lam):
    """gap(μ) = μ³: the Richardson combination of the central differences at δ and δ/2 is exact for
    a cubic, so gap_slope must be 3λ², also near λ = 0 and 1 where the stencil shrinks to stay in (0, 1)."""
    W, H, ts = _synthetic(4, lam, lambda m: m**3)
    assert all(0 < t.lam < 1 for t in ts)
    got = num.measure(W, H, ts, lam)["gap_slope"]
    np.testing.assert_allclose(got, 3 * lam**2, rtol=1e-6, atol=0)


def test_measure_with_no_other_class():
    """K = 2: no logit outside {c, c'}; their spread is 0, as in theory.mixup (max − min over none)."""
    W, H, ts = _synthetic(2, 0.3, lambda m: m)
    r = num.measure(W, H, ts, 0.3)
    assert r["others_spread"].shape == (2,) and np.all(r["others_spread"] == 0.0)
    np.testing.assert_allclose(r["gap"], 0.3, rtol=1e-15)


def test_softmax_is_stable_for_large_logits():
    """Logits of ±1000: exp overflows unless the largest logit is subtracted first."""
    e = math.exp(-1.0)
    got = num._softmax(np.array([1000.0, 999.0, -1000.0]))
    np.testing.assert_allclose(got, [1 / (1 + e), e / (1 + e), 0.0], rtol=1e-15, atol=1e-300)


# ------------------------------------------------------------------ theory.mixup's float start
@pytest.mark.parametrize("K,s,beta,lam", [(4, 1.0, 0.25, 0.3), (8, 4.0, 0.01, 0.2), (3, 4.0, 0.01, 0.1),
                                         (4, 0.1, 0.25, 0.3)], ids=["defaults", "stiff", "stiff-coupled", "flat"])
def test_float_start_is_the_optimum(K, s, beta, lam):
    """The damped float Newton that seeds the 60-digit polish minimizes the same reduced objective
    F(a, b): it lands on the polished root (which solves the stationarity equations to 1e-40), for a
    mixed and a same-class example.  Tolerance: F is μ-strongly convex in (a, b) with μ =
    βs²(K−2)/(K−1) (the ‖h‖² term alone; βs² for the same-class line), and the iteration stops at
    |∂F| < 1e-9, so it is within 2·1e-9/μ (rounding and the O(h²) difference error are far below).
    Stiff points: κ = s²K/(β(K−1)) ≈ 1800 and 2400, a full Newton step from 0 overshoots, the
    backtracking is needed; at K = 3 a and b are strongly coupled, so a step that is not H⁻¹g
    stalls.  Flat point: curvature ~1e-3, a step that is not g/H gets nowhere in 200 iterations."""
    ex = {"s": sp.nsimplify(s), "beta": sp.nsimplify(beta)}
    for kind, mix, same in [("mixed", lam, False), ("same", 1, True)]:
        start = th._float_newton(K, s, beta, mix, same)
        a, b = th.solve(K, ex["s"], ex["beta"], sp.nsimplify(mix), kind)
        residual = th.equations(K, ex["s"], ex["beta"], sp.nsimplify(mix), a, b, same)
        assert max(abs(sp.N(r, 60)) for r in residual) < 1e-40
        want = [float(a)] if same else [float(a), float(b)]
        mu = beta * s**2 * (1.0 if same else (K - 2) / (K - 1))
        np.testing.assert_allclose(start, want, rtol=0, atol=2e-9 / mu)


def test_passes_at_defaults():
    r = result()
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}


@pytest.mark.parametrize("control", CLAIM.negative_controls, ids=[c.name for c in CLAIM.negative_controls])
def test_each_negative_control_is_rejected_by_every_check(control):
    bad = run_claim(_Perturbed(CLAIM, control), device="cpu", kinds=("symbolic", "numeric", "simulation"))
    for kind in ("symbolic", "numeric", "simulation"):
        assert bad.checks[kind].status == "fail", (control.name, kind, bad.checks[kind].message)


@pytest.mark.parametrize("overrides", [{"K": 3, "lam": 0.7}, {"K": 6, "d": 8, "s": 2.0, "beta": 0.5, "lam": 0.5}])
def test_passes_elsewhere(overrides):
    r = result(**overrides)
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}


def test_structure_of_the_solution():
    """a > b iff λ > ½; swapping λ ↔ 1 − λ swaps (a, b); the gap vanishes only at ½ on a grid."""
    K, s, beta = 4, sp.Integer(1), sp.Rational(1, 4)
    a, b = th.solve(K, s, beta, sp.Rational(7, 10))
    a2, b2 = th.solve(K, s, beta, sp.Rational(3, 10))
    assert abs(a - b2) < 1e-40 and abs(b - a2) < 1e-40 and a > b
    gaps = [float(th.gap_of(K, s, *th.solve(K, s, beta, sp.Rational(i, 10)))) for i in range(1, 10)]
    assert np.all(np.diff(gaps) > 0) and abs(gaps[4]) < 1e-40


def test_certificate_rejects_a_tiny_error():
    p = CLAIM.resolve({})
    f = CLAIM.formulas(p)
    assert all_proved(CLAIM.prove(p, f))
    bad = {**f, "a": f["a"] + sp.Rational(1, 10**12)}
    assert not all_proved(CLAIM.prove(p, bad))


def test_other_logits_equal_and_in_span_numerically():
    r = result()
    assert abs(r.observed["numeric.others_spread"]) < 1e-12 and abs(r.observed["numeric.out_of_span"]) < 1e-12
    assert abs(r.observed["simulation.gap_half"]) < 1e-10


@pytest.mark.parametrize("overrides,param", [
    ({"K": 2}, "K"), ({"K": 5, "d": 3}, "d"), ({"beta": 0.0}, "beta"), ({"s": 0.0}, "s"),
    ({"lam": 0.0}, "lam"), ({"lam": 1.0}, "lam"), ({"lam": 1.5}, "lam"),
])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_proof_needs_a_third_class():
    """The other classes' stationarity is part of the proof: K = 2 has none and is refused, naming K."""
    p = CLAIM.resolve({})
    with pytest.raises(ValueError, match="K=2"):
        th.prove_mixup(CLAIM.formulas(p), 2, p["s"], p["beta"], 0.3)


@pytest.mark.parametrize("same", [False, True])
def test_gradient_norm_is_that_of_the_full_objective(same):
    """gradient_norm_sq(a, b) = ‖∇f(h)‖² at h = a·w_0 + b·w_1 (w_k = s·m_k; b = 0 for the same-class
    example), away from the optimum, against
    ∇f = sM(p − y) + βh built from an explicit simplex ETF M (unit columns, K×K) in floats.  The
    certificates only ever see ‖∇f‖ ~ 1e-50, where a wrong scale (s·2 for s², say) cannot show."""
    K, s, beta, lam = 5, sp.Rational(3, 2), sp.Rational(1, 4), sp.Rational(1, 3)
    M = np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)
    for a, b in [(sp.Rational(2, 3), sp.Rational(-1, 5)), (sp.Rational(-3, 2), sp.Rational(7, 4))]:
        b = 0 if same else b
        h = float(s) * (float(a) * M[:, 0] + float(b) * M[:, 1])
        z = float(s) * M.T @ h
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        y = np.eye(K)[0] if same else float(lam) * np.eye(K)[0] + (1 - float(lam)) * np.eye(K)[1]
        grad = float(s) * M @ (p - y) + float(beta) * h
        got = float(th.gradient_norm_sq(K, s, beta, lam, a, b, same))
        assert got == pytest.approx(float(grad @ grad), rel=1e-12) and got > 1e-2
