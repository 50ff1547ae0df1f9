"""numerics.etf's closed forms, each against an independent computation: the SDP's dual bound by
hand (2×2 eigenproblems) and against the known optimum, the sphere objectives' gradients by
central finite differences, the soft maximum against scipy's logsumexp, the frame measurements on
a frame whose geometry is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from numerics import etf as num

from finite_difference import central_gradient

#: central differences with step 1e-6 on O(1) functions: truncation ~1e-12, rounding ~1e-10
FD_STEP, FD_TOL = 1e-6, 1e-7


# --------------------------------------------------------------------------- the dual bound
# K = 3: pairs (0,1), (0,2), (1,2).  y = c·e_(0,1) puts y/2 = 1/2 (after normalization) at (0,1):
# Z = [[ν0, 1/2, 0], [1/2, ν1, 0], [0, 0, ν2]].
@pytest.mark.parametrize("y,nu,expected", [
    # ν = 0: eigenvalues ±1/2, 0; shift 1/2; bound −3·(1/2)
    ((2.0, 0.0, 0.0), (0.0, 0.0, 0.0), -1.5),
    # a sum below 1 is normalized up, a negative multiplier clipped to 0: the same y = e_(0,1)
    ((0.5, -1.0, 0.0), (0.0, 0.0, 0.0), -1.5),
    # ν = 1/4: eigenvalues 1/4 ± 1/2 and 1/4; shift 1/4; bound −(3/4 + 3·1/4)
    ((2.0, 0.0, 0.0), (0.25, 0.25, 0.25), -1.5),
    # ν = (1/2, 1/2, 0): Z ⪰ 0 already (eigenvalues 0, 0, 1), no repair; bound −Σν
    ((1.0, 0.0, 0.0), (0.5, 0.5, 0.0), -1.0),
])
def test_dual_lower_bound_by_hand(y, nu, expected):
    got = num._dual_lower_bound(np.array(y), np.array(nu), 3)
    assert got == pytest.approx(expected, abs=1e-14)


def test_dual_lower_bound_needs_a_positive_multiplier():
    assert num._dual_lower_bound(np.zeros(3), np.zeros(3), 3) == -np.inf
    assert num._dual_lower_bound(np.array([-1.0, -2.0, 0.0]), np.zeros(3), 3) == -np.inf


@pytest.mark.parametrize("K", [2, 3, 5, 8])
def test_dual_lower_bound_is_valid_and_tight(K):
    """Weak duality: every (y >= 0, ν) bounds the max-min optimum −1/(K−1) (the simplex ETF's cosine)
    from below; the symmetric dual y_ij = 1/C(K,2), ν = 1/(K(K−1)) (Z = J/(K(K−1)) ⪰ 0) attains it."""
    rng = np.random.default_rng(K)
    m = K * (K - 1) // 2
    optimum = -1.0 / (K - 1)
    for _ in range(20):
        y, nu = rng.exponential(size=m), rng.standard_normal(K)
        assert num._dual_lower_bound(y, nu, K) <= optimum + 1e-12
    tight = num._dual_lower_bound(np.full(m, 1.0 / m), np.full(K, 1.0 / (K * (K - 1))), K)
    assert tight == pytest.approx(optimum, abs=1e-14)


# --------------------------------------------------------------------------- sphere objectives
def _cosines(X):
    U = X / np.linalg.norm(X, axis=0)
    return U.T @ U


@pytest.mark.parametrize("objective", ["frame_potential", "soft_max_cosine"])
def test_sphere_objective_value_and_gradient(objective):
    """At columns of norms far from 1, the value is f(cosine Gram) and the gradient in X matches
    central differences (the chain rule through the normalization is exercised)."""
    d, K = 3, 5
    rng = np.random.default_rng(1)
    X = rng.standard_normal((d, K)) * rng.uniform(0.3, 3.0, K)
    if objective == "frame_potential":
        fun = num._sphere_objective(num._frame_potential)
        expected = float(np.sum(_cosines(X) ** 2))
    else:
        tau = 0.3
        fun = num._sphere_objective(num._soft_max_cosine(tau))
        expected = tau * logsumexp(_cosines(X)[np.triu_indices(K, 1)] / tau)
    f, g = fun(X.ravel(), d, K)
    assert f == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(g, central_gradient(lambda x: fun(x, d, K)[0], X.ravel(), FD_STEP), rtol=0, atol=FD_TOL)


def test_frame_potential_gram_derivative():
    """d/dG Σ G_ij² = 2G, by finite differences on a nonsymmetric G."""
    G = np.random.default_rng(2).standard_normal((3, 3))
    value, dG = num._frame_potential(G)
    assert value == pytest.approx(float(np.sum(G**2)), rel=1e-15)
    np.testing.assert_allclose(dG, central_gradient(lambda M: num._frame_potential(M)[0], G, FD_STEP),
                               rtol=0, atol=FD_TOL)


@pytest.mark.parametrize("tau", [0.02, 0.5])
def test_soft_max_cosine_is_a_smooth_upper_bound(tau):
    """τ·logsumexp over the pairs i < j (scipy), between max G_ij and max G_ij + τ log(pairs), with
    the softmax weights as its derivative (finite differences, upper triangle only)."""
    K = 4
    rng = np.random.default_rng(3)
    G = _cosines(rng.standard_normal((3, K)))
    iu = np.triu_indices(K, 1)
    value, dG = num._soft_max_cosine(tau)(G)
    assert value == pytest.approx(tau * logsumexp(G[iu] / tau), rel=1e-14)
    assert G[iu].max() <= value <= G[iu].max() + tau * math.log(len(iu[0])) + 1e-15
    assert np.all(np.tril(dG) == 0) and dG.sum() == pytest.approx(1.0, rel=1e-14)
    for i, j in zip(*iu):
        E = np.zeros((K, K))
        E[i, j] = FD_STEP * tau
        fd = (num._soft_max_cosine(tau)(G + E)[0] - num._soft_max_cosine(tau)(G - E)[0]) / (2 * FD_STEP * tau)
        assert dG[i, j] == pytest.approx(fd, abs=FD_TOL)


# --------------------------------------------------------------------------- measurements
def test_measure_frame_of_a_known_frame():
    """Three columns: e_1, 2e_2 and (e_1 + e_2)/√2 in R^3 (scaled and unscaled norms, one zero row)."""
    s = 1 / math.sqrt(2)
    X = np.array([[1.0, 0.0, s], [0.0, 2.0, s], [0.0, 0.0, 0.0]])
    m = num.measure_frame(X)
    np.testing.assert_allclose(m["norm"], [1.0, 2.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(np.sort(m["cos"]), np.sort([0.0, 0.0, s, s, s, s]), atol=1e-15)
    assert m["colsum_norm"] == pytest.approx(math.hypot(1 + s, 2 + s), rel=1e-15)
    assert m["rank"] == 2.0
    # XXᵀ restricted to the plane: [[3/2, 1/2], [1/2, 9/2]]; its eigenvalues, largest first
    np.testing.assert_allclose(m["frame_eig"], [3 + math.sqrt(10) / 2, 3 - math.sqrt(10) / 2], rtol=1e-14)
    assert m["fro2"] == pytest.approx(6.0, rel=1e-15)
    # Σ G_ij² by hand: diagonal 1 + 16 + 1, off-diagonal 2·(0 + 1/2 + 2)
    assert m["frame_potential"] == pytest.approx(23.0, rel=1e-14)


def test_offdiag_and_unit_columns():
    G = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(num.offdiag(G), [1.0, 2.0, 3.0, 5.0, 6.0, 7.0])
    U = num.unit_columns(np.array([[3.0, 0.0], [4.0, -2.0]]))
    np.testing.assert_allclose(U, [[0.6, 0.0], [0.8, -1.0]], rtol=1e-15)
