"""ufm.ce.minority_collapse: SDP vs projected gradient across R, the threshold R* two ways,
monotonicity of the minority cosine, and the negative controls on R*."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import Context, ParameterError
from collapsekit.claims.minority_collapse import MinorityCollapse, threshold
from numerics import minority_collapse as num
from simulations import minority_collapse as sim
from theory import minority_collapse as th

K_A, K_B, E_W, E_H = 2, 2, 1.0, 2.0


@pytest.mark.parametrize("k_a,k_b", [(2, 2), (1, 2)])
def test_balanced_branch_symbolic(k_a, k_b):
    """R = 1 (the mutation runs' defaults have R = 1000): both minority cosines are the simplex-ETF
    cosine −1/(K−1), the balanced proof holds, and a minority cosine other than the ETF's is refuted."""
    one, etf = sp.Integer(1), sp.Rational(-1, k_a + k_b - 1)
    f = th.formulas(k_a, k_b, one, one, 2 * one)
    assert f["minority_cos"] == etf and f["minority_h_cos"] == etf and f["w_cos"] == etf
    assert all(o.ok for o in th.prove(f, k_a, k_b, one, one, 2 * one))
    for name in ("minority_cos", "minority_h_cos"):
        assert not all(o.ok for o in th.prove({**f, name: sp.Integer(1)}, k_a, k_b, one, one, 2 * one)), name


def test_class_weights_are_sample_fractions():
    """ω_k = n_k/N from explicit sample counts: n_B = 3, n_A = R n_B = 12 (R = 4)."""
    for k_a, k_b in ((2, 2), (1, 3), (3, 1)):
        n = np.array([12.0] * k_a + [3.0] * k_b)
        assert np.allclose(num.class_weights(k_a, k_b, 4.0), n / n.sum(), rtol=1e-15, atol=0)
    assert np.allclose(num.class_weights(2, 2, 1.0), 0.25, rtol=1e-15, atol=0)


def test_lower_bound_tight_at_the_etf_and_valid_elsewhere():
    """The weak-duality bound at R = 1: equal to the loss at the simplex ETF with both budgets active
    (the optimum: loss log(1 + (K−1)e^{−m}), margin m = K/(K−1)·√(E_W E_H)), below that optimum at
    random feasible points, and exactly 0 where the softmax underflows to the identity (0·log 0 = 0)."""
    K = K_A + K_B
    omega = num.class_weights(K_A, K_B, 1.0)
    M = np.eye(K) - 1.0 / K                                   # simplex ETF directions, ‖m_k‖² = (K−1)/K
    W = np.sqrt(E_W * K / (K - 1)) * M
    H = np.sqrt(E_H * K / (K - 1)) * M
    best = np.log1p((K - 1) * np.exp(-K / (K - 1) * np.sqrt(E_W * E_H)))
    assert num.objective(W @ H.T, omega) == pytest.approx(best, rel=1e-14)
    assert num.lower_bound(W @ H.T, omega, E_W, E_H) == pytest.approx(best, rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        U, V = rng.standard_normal((K, K)), rng.standard_normal((K, K))
        Z = np.sqrt(K * E_W) * U / np.linalg.norm(U) @ (np.sqrt(K * E_H) * V / np.linalg.norm(V)).T
        assert num.lower_bound(Z, omega, E_W, E_H) <= best + 1e-12 <= num.objective(Z, omega) + 1e-12
    assert num.lower_bound(1000.0 * np.eye(K), omega, E_W, E_H) == 0.0


def _pg_cos(R, seed=0):
    r = sim.projected_gradient(K_A, K_B, R, E_W, E_H, K_A + K_B, starts=3, seed=seed)
    assert r.converged, r.info
    return r, np.concatenate([num.minority_cosines(W, K_A) for W in r.W])


@pytest.mark.parametrize("R", [1.0, 3.0, 10.0, 100.0, 1000.0])
def test_sdp_and_projected_gradient_agree(R):
    s = num.solve_sdp(K_A, K_B, R, E_W, E_H, d=K_A + K_B)
    assert s.status == "optimal" and s.gap <= 1e-7 * s.upper, s.info
    r, cos = _pg_cos(R)
    assert np.max(np.abs(r.loss - s.upper)) <= 1e-7 * s.upper        # the same optimal value
    assert np.max(np.abs(cos - s.minority_cos[0])) <= 1e-6            # the same minority cosine
    assert s.info["dual_bound"] <= np.min(r.loss) + 1e-12            # no start beats the certified bound


def test_minority_cosine_nondecreasing_and_reaches_one():
    Rs = [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 100.0]
    cos = [float(np.min(num.solve_sdp(K_A, K_B, R, E_W, E_H).minority_cos)) for R in Rs]
    assert cos[0] == pytest.approx(-1 / 3, abs=1e-8)
    assert all(b >= a - 1e-9 for a, b in zip(cos, cos[1:])), cos
    assert cos[-1] >= 1 - 1e-9


def test_threshold_sdp_bisection_matches_projected_gradient():
    t = threshold(K_A, K_B, E_W, E_H)
    assert t["bracketed"] and t["hi"] / t["lo"] - 1 <= 1e-2
    lo, hi = t["lo"], t["hi"]
    # projected gradient on the same bracket, widened by the bisection width plus a margin
    # for the cosine tolerance 1e-6 (deficit ~ linear in R* − R): 2%.
    _, below = _pg_cos(lo / 1.02, seed=3)
    _, above = _pg_cos(hi * 1.02, seed=4)
    assert np.min(below) < 1 - 1e-6 and np.min(above) >= 1 - 1e-6
    # its own bisection (3 starts each) lands in the same bracket ± 2%
    a, b = lo / 1.02, hi * 1.02
    while b / a - 1 > 0.01:
        m = np.sqrt(a * b)
        a, b = (a, m) if np.min(_pg_cos(m, seed=5)[1]) >= 1 - 1e-6 else (m, b)
    assert np.sqrt(a * b) == pytest.approx(t["R_star"], rel=0.02)


def test_collapse_certificate_root_lies_in_the_bisection_bracket():
    """Third way: R* as the root of ω_B/(2√(μ_Wμ_H)/K) = 1 along the collapsed optima (Brent);
    the collapsed optimum is the SDP optimum above R* and strictly worse below."""
    t = threshold(K_A, K_B, E_W, E_H)
    c = num.collapse_threshold_certificate(K_A, K_B, E_W, E_H)
    assert c["bracketed"] and t["lo"] <= c["R_star"] <= t["hi"], (c, t)
    for R, above in ((0.9 * t["lo"], False), (1.1 * t["hi"], True)):
        col = num.collapsed_optimum(K_A, K_B, R, E_W, E_H)
        s = num.solve_sdp(K_A, K_B, R, E_W, E_H)
        assert (col["ratio"] < 1) == above
        if above:
            assert col["loss"] == pytest.approx(s.upper, rel=1e-8)
        else:
            assert col["loss"] > s.upper * (1 + 1e-6)


@pytest.mark.parametrize("factor", [0.5])
def test_threshold_off_by_factor_two_rejected(factor):
    """Claiming collapse at R*/2: numeric and simulation both see non-collinear minority classifiers."""
    c = MinorityCollapse()
    t = threshold(K_A, K_B, E_W, E_H)
    p = c.resolve({})
    p = {**p, "R": factor * t["lo"]}                    # bypass validate: below the threshold
    ctx = Context(c.id)
    assert np.min(c.numeric(p, ctx).values["minority_cos"]) < 1 - 1e-3
    assert np.min(c.simulate(p, ctx).values["minority_cos"]) < 1 - 1e-3
    p2 = {**p, "R": 2 * t["hi"]}
    assert np.min(c.numeric(p2, ctx).values["minority_cos"]) >= 1 - 1e-7


def test_validate():
    c = MinorityCollapse()
    with pytest.raises(ParameterError, match="R"):
        c.resolve({"R": 2.0})
    with pytest.raises(ParameterError, match="d"):
        c.resolve({"d": 2})
    assert c.resolve({"R": 1})["R"] == 1


def test_claim_at_R1_is_the_etf_and_its_control_is_rejected():
    from collapsekit.runner import run_claim

    res = run_claim(MinorityCollapse(), {"R": 1})
    assert all(c.status == "pass" for c in res.checks.values()), {k: c.message for k, c in res.checks.items()}
    assert res.predicted["minority_cos"] == pytest.approx(-1 / 3)
