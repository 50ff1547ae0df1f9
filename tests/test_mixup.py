"""mixup.fixed_etf: every negative control rejected, the structure, bad parameters."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import ParameterError
from collapsekit.claims import mixup as cm
from collapsekit.runner import run_claim
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
