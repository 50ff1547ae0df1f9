"""The symbolic layer: the αI+βJ algebra, and proofs that refute wrong formulas."""
import numpy as np
import pytest
import sympy as sp

from theory import etf as th
from theory.algebra import IJ, centering, identity, ones
from theory.proof import all_proved, positive, zero


@pytest.mark.parametrize("K", [2, 3, 7])
def test_algebra_matches_explicit_matrices(K):
    rng = np.random.default_rng(K)
    a, b, c, e = (sp.Rational(int(x), 7) for x in rng.integers(-20, 20, 4))
    A, B = IJ(a, b, sp.Integer(K)), IJ(c, e, sp.Integer(K))
    assert (A @ B).to_matrix() == A.to_matrix() * B.to_matrix()
    assert (A + B).to_matrix() == A.to_matrix() + B.to_matrix()
    assert A.trace == A.to_matrix().trace()
    assert A.frobenius_sq() == sum(x**2 for x in A.to_matrix())
    eig = A.to_matrix().eigenvals()
    assert {sp.nsimplify(k): v for k, v in eig.items()} == {sp.nsimplify(k): v for k, v in A.eigenvalues().items()} \
        or (a + K * b == a and eig == {a: K})


def test_centering_is_a_projector_for_symbolic_K():
    C = centering(th.K_SYMBOLIC)
    assert sp.simplify((C @ C - C).alpha) == 0 and sp.simplify((C @ C - C).beta) == 0
    assert sp.simplify((ones(th.K_SYMBOLIC) @ ones(th.K_SYMBOLIC)).beta - th.K_SYMBOLIC) == 0
    assert (identity(5) @ ones(5)).beta == 1


def test_simplex_proofs_hold_for_symbolic_K_and_refute_wrong_constants():
    K = th.K_SYMBOLIC
    f = th.simplex_formulas(K)
    assert all_proved(th.prove_simplex(f, K))
    for name, wrong in [("cos", -1 / K), ("frame_eig", (K - 1) / K), ("frame_potential", K),
                        ("rank", K), ("fro2", K - 1), ("norm", sp.Integer(2))]:
        assert not all_proved(th.prove_simplex({**f, name: wrong}, K)), name


@pytest.mark.parametrize("K", [2, 3, 6, 12])
def test_explicit_helmert_construction(K):
    f = th.simplex_formulas(K)
    assert all_proved(th.prove_simplex_explicit(f, K))
    assert not all_proved(th.prove_simplex_explicit({**f, "cos": sp.Rational(-1, K)}, K))


def test_max_min_and_orthogonal_frame_proofs():
    K = th.K_SYMBOLIC
    assert all_proved(th.prove_max_min(th.max_min_formulas(K), K))
    assert not all_proved(th.prove_max_min({**th.max_min_formulas(K), "max_cos": -1 / K}, K))
    # d too small for the rank-(K-1) Gram: the attainment obligation fails
    assert not all_proved(th.prove_max_min(th.max_min_formulas(5), 5, d=3))
    assert all_proved(th.prove_orthogonal_frame(th.orthogonal_frame_formulas(K), K))
    for k in (2, 4, 6):
        f = th.orthogonal_frame_formulas(k)
        assert all_proved(th.prove_orthogonal_frame(f, k, d=k))
        assert not all_proved(th.prove_orthogonal_frame({**f, "frame_potential_min": sp.Rational(k * k, k - 1)}, k))


@pytest.mark.parametrize("K,d,regime", [(3, 2, "simplex"), (4, 2, "polygon"), (9, 2, "polygon"),
                                        (5, 3, "rankin"), (8, 4, "rankin"), (7, 3, "open")])
def test_spherical_code_regimes(K, d, regime):
    assert th.spherical_code_regime(K, d) == regime
    f = th.spherical_code_formulas(K, d)
    if regime == "open":
        assert f is None
        return
    assert all_proved(th.prove_spherical_code(f, K, d))
    assert not all_proved(th.prove_spherical_code({"max_cos": f["max_cos"] + sp.Rational(1, 1000)}, K, d))


def test_obligations_are_three_valued():
    x = sp.Symbol("x", real=True)
    assert zero("z", sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1).proved is True
    assert zero("z", sp.Integer(1)).proved is False
    assert positive("p", x).proved is None          # undecided is not proved
    assert not all_proved([])


def test_symbolic_K_covers_exactly_the_integers_from_2():
    """K = m + 1 with m a positive integer: K − 1 is m itself, so K runs over 2, 3, 4, … and the
    symbolic proofs cover every K >= 2 (K = 2 included), and nothing below it."""
    K, m = th.K_SYMBOLIC, th.m_sym
    assert m.is_integer and m.is_positive
    assert sp.expand(K - 1 - m) == 0
    assert K.subs(m, 1) == 2 and (K - 2).is_nonnegative is True


@pytest.mark.parametrize("K", [3, 5])
def test_max_min_dimension_boundary(K):
    """The rank-(K−1) Gram fits in d = K − 1 (the smallest valid d), not in d = K − 2."""
    f = th.max_min_formulas(K)
    assert all_proved(th.prove_max_min(f, K, d=K - 1))
    assert not all_proved(th.prove_max_min(f, K, d=K - 2))


@pytest.mark.parametrize("K", [2, 4, 7])
def test_orthogonal_frame_dimension_boundary(K):
    """K orthonormal vectors fit in d = K (the smallest valid d), not in d = K − 1."""
    f = th.orthogonal_frame_formulas(K)
    assert all_proved(th.prove_orthogonal_frame(f, K, d=K))
    assert not all_proved(th.prove_orthogonal_frame(f, K, d=K - 1))


@pytest.mark.parametrize("K,d", [(2, 2), (3, 2), (4, 3), (4, 6), (4, 2), (5, 2), (6, 2), (9, 2),
                                 (5, 3), (6, 3), (8, 4)])
def test_spherical_code_witness_attains_the_closed_form(K, d):
    """Every regime's witness (not only the cross-polytope's, which the proof uses): K exact unit
    columns in R^d whose largest pairwise cosine, evaluated to 40 digits from the coordinates,
    is the closed form."""
    X = th.spherical_code_witness(K, d)
    assert X.shape == (d, K)
    G = X.T * X
    assert all(sp.simplify(G[i, i] - 1) == 0 for i in range(K))
    largest = max(sp.N(G[i, j], 40) for i in range(K) for j in range(K) if i != j)
    assert abs(largest - sp.N(th.spherical_code_formulas(K, d)["max_cos"], 40)) < 1e-30
