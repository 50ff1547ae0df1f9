"""Numerical honesty: a check that could not do its job never reports ``pass``.

Three ways a check can fail to do its job, each shown on a real claim with the one thing that
goes wrong forced (a step budget, a solver status, a sample count), and on a minimal claim:

- a simulation that ran out of steps reports ``fail`` (not converged), whatever its values;
- a convex program whose solver returned an inaccurate status reports ``fail``;
- a Monte-Carlo check whose interval is too wide to reject a negative control reports
  ``inconclusive``; the claim is then ``inconclusive`` and the CLI exits 1.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit import registry
from collapsekit.claim import Claim, NegativeControl, Observation, Param, Source, Tolerance
from collapsekit.cli import format_table
from collapsekit.runner import run_claim


# ------------------------------------------------------------------ out of steps
def test_simulation_out_of_steps_fails(monkeypatch):
    import collapsekit.claims.ufm_mse as mod
    import simulations.ufm as engine

    def starved(ufm, x0, **kw):          # a budget of 3 gradient steps and no L-BFGS polish
        return engine.minimize(ufm, x0, **{**kw, "gd_steps": 3, "lbfgs_steps": 0})

    monkeypatch.setattr(mod, "minimize", starved)
    monkeypatch.setattr(mod, "SIM_RESTARTS", 0)
    claim = registry.get("ufm.mse.nobias")
    r = run_claim(claim, {}, device="cpu", kinds=("simulation",))
    check = r.checks["simulation"]
    assert check.status == "fail" and "did not converge" in check.message, check.message
    assert "max grad norm" in check.message            # it says how far from stationary it stopped
    assert r.status == "fail" and not r.ok


# ------------------------------------------------------------------ solver status
def test_inaccurate_solver_status_fails(monkeypatch):
    cp = pytest.importorskip("cvxpy")
    solve = cp.Problem.solve

    def inaccurate(self, *args, **kw):   # the solve happens; the solver then reports it inaccurate
        value = solve(self, *args, **kw)
        self._status = "optimal_inaccurate"
        return value

    monkeypatch.setattr(cp.Problem, "solve", inaccurate)
    r = run_claim(registry.get("ufm.ce.layer_peeled"), {}, device="cpu", kinds=("numeric",))
    check = r.checks["numeric"]
    assert check.status == "fail", check.message
    assert "did not converge" in check.message
    assert "optimal_inaccurate" in str(check.detail["info"])     # the JSON says which status it got
    assert not r.ok


# ------------------------------------------------------------------ Monte-Carlo resolution
class _Coin(Claim):
    """P(heads) = 1/2, measured by a Monte-Carlo mean with a given standard error."""

    id, title, statement = "test.coin", "a fair coin", "P(heads) = 1/2"
    source = Source("nobody", "nothing", 2000, "nowhere")
    params = (Param("se", float, 1e-3, "the Monte-Carlo standard error", minimum=0.0),)
    tolerances = {"numeric": Tolerance(4.5, "Monte-Carlo: 4.5 standard errors (test)", "zscore"),
                  "simulation": Tolerance(4.5, "Monte-Carlo: 4.5 standard errors (test)", "zscore")}
    negative_controls = (NegativeControl("P = 0.51", lambda p, f: {**f, "p": sp.Rational(51, 100)}),)

    def formulas(self, p):
        return {"p": sp.Rational(1, 2)}

    def prove(self, p, f):
        from theory.proof import zero
        return [zero("p - 1/2", f["p"] - sp.Rational(1, 2))]

    def numeric(self, p, ctx):
        return Observation({"p": 0.5 + 0.5 * p["se"]}, stderr={"p": p["se"]})

    def simulate(self, p, ctx):
        return Observation({"p": 0.5 - 0.3 * p["se"]}, stderr={"p": p["se"]})


def test_wide_interval_is_inconclusive_not_pass():
    sharp = run_claim(_Coin(), {"se": 1e-3})
    assert sharp.status == "pass" and sharp.ok
    wide = run_claim(_Coin(), {"se": 0.01})          # 0.51 is 1 standard error away: no power
    assert wide.checks["numeric"].status == "pass" and wide.checks["simulation"].status == "pass"
    nc = wide.checks["negative_control"]
    assert nc.status == "inconclusive" and "too wide" in nc.message and "P = 0.51" in nc.message, nc.message
    assert wide.status == "inconclusive" and not wide.ok
    assert "INCONCLUSIVE" in format_table([wide]) and "1 inconclusive" in format_table([wide])


def test_a_non_monte_carlo_check_that_cannot_reject_is_a_failure():
    class Loose(_Coin):
        tolerances = {**_Coin.tolerances, "numeric": Tolerance(0.05, "a relative tolerance too loose for 2%")}

    r = run_claim(Loose(), {"se": 1e-3})
    nc = r.checks["negative_control"]
    assert nc.status == "fail" and "NOT rejected" in nc.message
    assert r.status == "fail"


def test_real_monte_carlo_claim_with_too_few_chains_is_inconclusive(monkeypatch):
    import collapsekit.claims.model_collapse_gaussian as mod

    claim = registry.get("model_collapse.gaussian")
    full = run_claim(claim, {}, device="cpu")
    assert full.status == "pass"
    monkeypatch.setattr(mod, "QUICK", 40)            # 40 chains instead of 60000: se ~ 40x larger
    thin = run_claim(claim, {}, device="cpu")
    assert thin.checks["numeric"].status in ("pass", "fail")
    assert thin.status in ("inconclusive", "fail") and not thin.ok, thin.checks["negative_control"].message
    if thin.checks["numeric"].status == "pass" and thin.checks["simulation"].status == "pass":
        assert thin.checks["negative_control"].status == "inconclusive"
    se = thin.checks["numeric"].detail["stderr"]
    se_full = full.checks["numeric"].detail["stderr"]
    k = next(k for k, v in se.items() if np.ndim(v) == 0)
    assert se[k] > 10 * se_full[k]                   # it really was the interval that widened
