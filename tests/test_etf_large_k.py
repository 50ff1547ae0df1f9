"""etf.large_K: the energies against brute force for several powers, the proof in every regime beyond
the defaults, the nearest-point certificate refuting a wrong point, the Riesz term's derivative; every
negative control rejected in each regime, no-closed-form reporting, the QP."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import ParameterError
from collapsekit.claims import etf_large_k as cm
from collapsekit.runner import _differs, run_claim
from numerics import etf_large_k as num
from theory import etf_large_k as th
from theory.proof import all_proved

CLAIM = cm.LargeKCodes()


class _Perturbed:
    def __init__(self, claim, control):
        self._claim, self._control = claim, control

    def __getattr__(self, name):
        return getattr(self._claim, name)

    def formulas(self, p):
        return self._control.perturb(p, self._claim.formulas(p))


@pytest.mark.parametrize("K,d", [(2, 2), (3, 2), (5, 4), (4, 2), (5, 2), (7, 2), (8, 2), (6, 3), (8, 4)])
def test_energy_formula_is_the_witness_energy_for_every_power(K, d):
    """Σ_{i<j} ‖x_i − x_j‖^{−s} summed over the witness's pairs to 40 digits (brute force), for the
    Riesz exponent s = 1 of the claim and s = 2, 3 (s = 2 is the negative control's energy)."""
    X = th.witness(K, d).evalf(40)
    for s in (1, 2, 3):
        brute = sum(sp.sqrt(sum((X[r, i] - X[r, j]) ** 2 for r in range(d))) ** -s
                    for i, j in itertools.combinations(range(K), 2))
        assert abs(brute - sp.N(th.energy_formula(K, d, power=s), 40)) < 1e-30, (K, d, s)


@pytest.mark.parametrize("K,d", [(2, 2), (3, 2), (5, 4), (6, 2), (8, 2), (8, 4)])
def test_proof_holds_beyond_the_default_points(K, d):
    """Every regime at sizes the claim's default runs do not reach (hexagon, octagon; the
    4-cube's cross-polytope; the smallest simplices), and refutes ρ and E off by 1/1000 there."""
    f = th.formulas(K, d)
    assert all_proved(th.prove(f, K, d))
    for name in ("rho", "energy"):
        assert not all_proved(th.prove({**f, name: f[name] + sp.Rational(1, 1000)}, K, d)), name


def test_projection_certificate_rejects_a_point_that_is_not_the_nearest(monkeypatch):
    """Hexagon, x_j at angle πj/3.  The nearest point of conv{x_1, …, x_4} to x_0 is y = ¾x_1 + ¼x_4
    = x_1/2 (x_4 = −x_1), at distance √3/2; it passes every projection test but the last vertex's:
    (x_0 − y)·(x_5 − y) = 3/4 > 0, since the true nearest point (x_1 + x_5)/2 is closer.  The
    certificate, given ρ = √3/2 and these weights, must refute; with the true weights it proves."""
    K, d = 6, 2
    f = {**th.formulas(K, d), "rho": sp.sqrt(3) / 2}
    monkeypatch.setattr(th, "_nearest_weights", lambda K, d: [sp.Rational(3, 4), 0, 0, sp.Rational(1, 4), 0])
    failed = [o.name for o in th.prove(f, K, d) if not o.ok]
    assert failed == ["projection: (x_0 − y)·(x_j − y) <= 0 for every other vertex"], failed


def test_riesz_energy_of_a_gram_and_its_derivative():
    """The optimizers' Riesz term: from the Gram of unit columns, Σ_{i<j} (2 − 2G_ij)^{−1/2} is the
    energy summed pair by pair from the points (two of them 0.1 apart, where the distance is < 1),
    and its derivative in each G_ij (i < j) matches central differences."""
    d, K = 3, 5
    rng = np.random.default_rng(4)
    X = rng.standard_normal((d, K))
    X[:, 1] = X[:, 0] / np.linalg.norm(X[:, 0]) + 0.1 * np.array([0.0, 0.6, 0.8])
    U = X / np.linalg.norm(X, axis=0)
    brute = sum(1 / np.linalg.norm(U[:, i] - U[:, j]) for i, j in itertools.combinations(range(K), 2))
    G = U.T @ U
    value, dG = num._riesz_of_gram(G)
    assert value == pytest.approx(brute, rel=1e-13) and num.riesz_energy(U) == pytest.approx(brute, rel=1e-13)
    assert np.all(np.tril(dG) == 0)
    step = 1e-7
    for i, j in itertools.combinations(range(K), 2):
        E = np.zeros((K, K))
        E[i, j] = step
        fd = (num._riesz_of_gram(G + E)[0] - num._riesz_of_gram(G - E)[0]) / (2 * step)
        assert dG[i, j] == pytest.approx(fd, rel=1e-6), (i, j)


@pytest.mark.parametrize("overrides", [{}, {"K": 4}, {"K": 5, "d": 2}])
def test_passes(overrides):
    r = run_claim(CLAIM, overrides, device="cpu")
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}


@pytest.mark.parametrize("overrides", [{}, {"K": 4}, {"K": 7, "d": 2}])
def test_every_applicable_negative_control_is_rejected(overrides):
    p = CLAIM.resolve(overrides)
    f = CLAIM.formulas(p)
    applicable = [c for c in CLAIM.negative_controls
                  if any(_differs(v, f.get(k)) for k, v in c.perturb(p, dict(f)).items())]
    assert applicable
    for control in applicable:
        bad = run_claim(_Perturbed(CLAIM, control), overrides, device="cpu", kinds=("symbolic", "numeric", "simulation"))
        for kind in ("symbolic", "numeric", "simulation"):
            assert bad.checks[kind].status == "fail", (overrides, control.name, kind, bad.checks[kind].message)


def test_no_closed_form_is_reported_not_passed():
    r = run_claim(CLAIM, {"K": 5, "d": 3}, device="cpu")
    assert r.status == "partial" and all(c.status == "skip" for c in r.checks.values())
    assert "no closed form" in r.checks["simulation"].message
    # the triangular bipyramid: Riesz energy 6.4746914947 (Thomson problem, N = 5)
    assert abs(r.observed["simulation.energy"] - 6.474691495) < 1e-8


def test_closed_forms_agree_where_regimes_meet():
    """K = 3 in the plane is both a simplex and a triangle; K = 4 in the plane both a square and ±e_i."""
    assert sp.simplify(th.rho_formula(3, 2, "polygon") - th.rho_formula(3, 2, "simplex")) == 0
    assert sp.simplify(th.energy_formula(3, 2, reg="polygon") - th.energy_formula(3, 2, reg="simplex")) == 0
    assert sp.simplify(th.rho_formula(4, 2, "polygon") - th.rho_formula(4, 2, "cross")) == 0
    assert sp.simplify(th.energy_formula(4, 2, reg="polygon") - th.energy_formula(4, 2, reg="cross")) == 0


def test_hull_distance_qp():
    rng = np.random.default_rng(0)
    S = np.eye(3)                                   # the standard triangle; its nearest point to 0 is 1/3
    dist, a = num.hull_distance(np.zeros(3), S)
    assert dist == pytest.approx(1 / np.sqrt(3), abs=1e-14) and a == pytest.approx(np.full(3, 1 / 3), abs=1e-12)
    X = num.known_code("polygon", 6, 2, rng)
    assert num.one_vs_rest(X) == pytest.approx(np.full(6, 0.5), abs=1e-13)


@pytest.mark.parametrize("overrides,param", [({"K": 1}, "K"), ({"d": 1}, "d"), ({"K": "x"}, "K")])
def test_bad_parameters_name_the_parameter(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_orbit_size_of_the_symmetry_group():
    """The cyclic shift reaches all K vertices, the identity only vertex 0, a pair swap 2; a matrix that
    is not a permutation matrix reaches none (0), so the transitivity obligation K − orbit is refuted."""
    from theory import etf_large_k as thk

    K = 5
    shift = sp.Matrix(K, K, lambda i, j: 1 if j == (i + 1) % K else 0)
    swap = sp.eye(K)
    swap[0, 0], swap[0, 1], swap[1, 0], swap[1, 1] = 0, 1, 1, 0
    assert thk._orbit_size([shift]) == K and thk._orbit_size([sp.eye(K)]) == 1 and thk._orbit_size([swap]) == 2
    assert thk._orbit_size([2 * sp.eye(K)]) == 0 and thk._orbit_size([shift, sp.ones(K, K)]) == 0
