"""etf.large_K: every negative control rejected in each regime, no-closed-form reporting, the QP."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import ParameterError
from collapsekit.claims import etf_large_k as cm
from collapsekit.runner import _differs, run_claim
from numerics import etf_large_k as num
from theory import etf_large_k as th

CLAIM = cm.LargeKCodes()


class _Perturbed:
    def __init__(self, claim, control):
        self._claim, self._control = claim, control

    def __getattr__(self, name):
        return getattr(self._claim, name)

    def formulas(self, p):
        return self._control.perturb(p, self._claim.formulas(p))


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
