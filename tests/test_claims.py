"""Every claim, every check: they pass, and they can fail.

One parametrized test per (claim, check kind).  The negative-control tests show
that each check is able to reject a wrong formula: the perturbed formulas are
installed as the claim's *own* closed forms and the checks must then fail.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from collapsekit import registry
from collapsekit.claim import CHECK_KINDS, Claim, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.runner import _differs, compare, run_claim

CLAIMS = registry.all_claims()
IDS = [c.id for c in CLAIMS]
_cache: dict = {}


def result(claim_id: str, **overrides):
    key = (claim_id, tuple(sorted(overrides.items())))
    if key not in _cache:
        _cache[key] = run_claim(registry.get(claim_id), overrides, device="cpu")
    return _cache[key]


@pytest.mark.parametrize("kind", CHECK_KINDS)
@pytest.mark.parametrize("claim_id", IDS)
def test_check_passes_at_defaults(claim_id, kind):
    check = result(claim_id).checks[kind]
    assert check.status == "pass", f"{claim_id}::{kind}: {check.message}"


@pytest.mark.parametrize("claim_id", IDS)
def test_claim_is_complete(claim_id):
    c = registry.get(claim_id)
    assert c.id.count(".") >= 1 and c.title and c.statement and c.source.cite()
    assert c.negative_controls, "a claim needs at least one negative control"
    for kind in ("numeric", "simulation"):
        tol = c.tolerances[kind]
        assert len(tol.why) > 20, f"{kind} tolerance must be justified"
        if tol.kind == "zscore":       # a Monte-Carlo check: a number of standard errors
            assert 2 <= tol.value <= 6, f"{kind}: {tol.value} standard errors"
            assert tol.asymptotic <= 0.1, f"{kind}: finite-size allowance {tol.asymptotic}"
        elif tol.kind == "rate":       # a limit statement at finite size: the measured deviation, stated
            why = tol.why.lower()
            assert 0 < tol.value <= 0.1 and ("measured" in why or "deviat" in why), tol.why
        else:
            assert 0 < tol.value < 1e-3, f"{kind} tolerance {tol.value} is not a tight relative error"
    for method in ("formulas", "prove", "numeric", "simulate"):
        assert getattr(type(c), method) is not getattr(Claim, method), f"{method} not implemented"


class _Perturbed:
    """The claim with one negative control's formulas installed as its own."""

    def __init__(self, claim, control):
        self._claim, self._control = claim, control

    def __getattr__(self, name):
        return getattr(self._claim, name)

    def formulas(self, p):
        return self._control.perturb(p, self._claim.formulas(p))


@pytest.mark.parametrize("claim_id", IDS)
def test_every_negative_control_makes_every_check_fail(claim_id):
    claim = registry.get(claim_id)
    p = claim.resolve({})
    formulas = claim.formulas(p)
    applicable = [c for c in claim.negative_controls
                  if any(_differs(v, formulas.get(k)) for k, v in c.perturb(p, dict(formulas)).items())]
    assert applicable, "no negative control changes a formula at the defaults"
    for control in applicable:      # the others apply on another side of a threshold (claim tests)
        bad = run_claim(_Perturbed(claim, control), device="cpu",
                        kinds=("symbolic", "numeric", "simulation"))
        for kind in ("symbolic", "numeric", "simulation"):
            assert bad.checks[kind].status == "fail", (
                f"{claim_id}: '{control.name}' was not rejected by {kind}: {bad.checks[kind].message}")


@pytest.mark.parametrize("claim_id,K", [(c.id, K) for c in CLAIMS for K in c.test_K])
def test_K_range(claim_id, K):
    r = result(claim_id, K=K)
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}


@pytest.mark.heavy
@pytest.mark.parametrize("K", list(range(2, 51)))
def test_K_sweep_all_etf_claims(K):
    for claim in registry.select(["etf.*"]):
        r = run_claim(claim, {"K": K}, device="cpu")
        assert r.status == "pass", (claim.id, K, {k: v.message for k, v in r.checks.items() if v.status != "pass"})


def test_no_closed_form_is_never_a_pass():
    """K > 2d (d >= 3): no closed form; the optimizers' values are reported, not passed."""
    r = run_claim(registry.get("etf.spherical_code"), {"K": 7, "d": 3}, device="cpu")
    assert r.status == "partial"
    assert all(c.status == "skip" for c in r.checks.values())
    assert "no closed form" in r.checks["numeric"].message
    assert 0.2 < r.observed["numeric.max_cos"] < 0.22     # Tammes, N = 7: cos(77.87°) = 0.2101


@pytest.mark.parametrize("claim_id,overrides,param", [
    ("etf.simplex", {"K": 1}, "K"), ("etf.simplex", {"K": 6, "d": 3}, "d"),
    ("etf.orthogonal_frame", {"K": 6, "d": 5}, "d"), ("etf.max_min_angle", {"K": "abc"}, "K"),
    ("etf.max_min_angle", {"K": 2.5}, "K"), ("etf.simplex", {"L": 3}, "L"), ("etf.spherical_code", {"d": 1}, "d"),
])
def test_bad_parameters_name_the_parameter(claim_id, overrides, param):
    with pytest.raises(ParameterError) as err:
        registry.get(claim_id).resolve(overrides)
    assert err.value.name == param and f"parameter {param}" in str(err.value)


class _FakeClaim(Claim):
    """Right values, but the simulation did not converge: the check must fail."""

    id, title, statement = "test.fake", "fake", "x = 1"
    source = Source("nobody", "nothing", 2000, "nowhere")
    params = (Param("x", float, 1.0, "a number"),)
    tolerances = {"numeric": Tolerance(1e-9, "exact arithmetic in the test"),
                  "simulation": Tolerance(1e-9, "exact arithmetic in the test")}

    def formulas(self, p):
        import sympy as sp
        return {"x": sp.Float(p["x"])}

    def prove(self, p, f):
        from theory.proof import zero
        return [zero("x - 1", f["x"] - 1)]

    def numeric(self, p, ctx):
        return Observation({"x": 1.0})

    def simulate(self, p, ctx):
        return Observation({"x": 1.0}, {"steps": 5, "grad_norm": 1e-3}, converged=False, message="5 steps, grad 1e-3")


def test_unconverged_simulation_fails_even_with_right_values():
    r = run_claim(_FakeClaim())
    assert r.checks["numeric"].status == "pass"
    assert r.checks["simulation"].status == "fail" and "did not converge" in r.checks["simulation"].message
    assert r.checks["negative_control"].status == "fail"     # the fake declares none


def test_compare_relative_and_absolute():
    err, errors, worst = compare({"a": [1.0, 1.1], "z": 1e-3, "extra": 5}, {"a": 1.0, "z": 0.0}, zero_scale=1.0)
    assert errors["a"] == pytest.approx(0.1) and worst["a"] == 1.1
    assert errors["z"] == pytest.approx(1e-3) and err == pytest.approx(0.1)
    assert compare({"a": float("nan")}, {"a": 1.0}, 1.0)[0] == np.inf
    assert compare({}, {"a": 1.0}, 1.0)[0] == np.inf         # nothing compared: cannot pass


def test_compare_zscores():
    err, errors, _ = compare({"m": [1.0, 1.3], "s": 2.0}, {"m": 1.0, "s": 2.0}, 1.0, stderr={"m": [0.1, 0.1]})
    assert errors["m"] == pytest.approx(3.0) and errors["s"] == np.inf    # no stderr: cannot pass
    assert compare({"m": 1.0}, {"m": 1.0}, 1.0, stderr={"m": 0.0})[0] == np.inf


def test_seeds_are_deterministic_and_distinct():
    a = run_claim(registry.get("etf.simplex"), {"K": 5}, seed=3).observed
    b = run_claim(registry.get("etf.simplex"), {"K": 5}, seed=3).observed
    assert a == b
    from collapsekit.claim import Context
    ctx = Context("etf.simplex", seed=3)
    assert ctx.seed_for("numeric") != ctx.seed_for("simulation")


# ---------------------------------------------------------------------------- negative-control audit
def test_audit_every_claim_declares_negative_controls_and_points_for_idle_ones():
    """The registry, enumerated: every claim has a negative control; every control either changes a
    formula at the defaults or names (``control_points``) parameters where it does."""
    problems = []
    for claim in CLAIMS:
        if not claim.negative_controls:
            problems.append(f"{claim.id}: no negative control")
        names = {nc.name for nc in claim.negative_controls}
        problems += [f"{claim.id}: control point for unknown control {n!r}" for n in claim.control_points
                     if n not in names]
        p = claim.resolve({})
        formulas = claim.formulas(p)
        if formulas is None:
            problems.append(f"{claim.id}: no closed form at the defaults, so no control can apply there")
            continue
        for nc in claim.negative_controls:
            changes = any(_differs(v, formulas.get(k)) for k, v in nc.perturb(p, dict(formulas)).items())
            if not changes and nc.name not in claim.control_points:
                problems.append(f"{claim.id}: {nc.name!r} changes nothing at the defaults and names no point")
    assert not problems, "\n".join(problems)


AUDIT = [(c.id, nc.name, c.control_points.get(nc.name, {})) for c in CLAIMS for nc in c.negative_controls]


@pytest.mark.parametrize("claim_id,control,point", AUDIT, ids=[f"{c}:{i}" for c, i in
                                                               zip([a[0] for a in AUDIT], range(len(AUDIT)))])
def test_audit_every_negative_control_is_rejected_by_a_check(claim_id, control, point):
    """Each declared control, at the defaults or at its point: it changes a formula and at least one
    passing check rejects it (the default-parameter run of the claim, cached, or one run at the point)."""
    r = result(claim_id, **point)
    detail = r.checks["negative_control"].detail
    entry = next((c for c in detail.get("controls", []) if c["name"] == control), None)
    assert entry is not None, (f"{claim_id}: {control!r} not applied at {point or 'the defaults'} "
                               f"({r.checks['negative_control'].message})")
    assert any(entry["rejected_by"].values()), f"{claim_id}: {control!r} rejected by no check: {entry}"
    passing = [k for k in ("symbolic", "numeric", "simulation") if r.checks[k].status == "pass"]
    assert set(entry["rejected_by"]) == set(passing) and passing, (claim_id, passing, entry["rejected_by"])


def test_a_claim_part_of_a_catalogue_entry_is_selected_with_it():
    """THEORY.md's `ufm.ce.layer_peeled` entry includes minority collapse, carried as its own claim."""
    ids = {c.id for c in registry.all_claims()}
    for c in registry.all_claims():
        assert not c.part_of or (c.part_of in ids and c.part_of != c.id), c.id
    assert [c.id for c in registry.select(["ufm.ce.layer_peeled"])] == ["ufm.ce.layer_peeled",
                                                                       "ufm.ce.minority_collapse"]
    assert "ufm.ce.layer_peeled" not in [c.id for c in registry.select(["ufm.ce.minority_collapse"])]
