"""Mixing a fresh real estimator with one refit on the previous model's samples (THEORY.md §9).

Model (stated precisely).  Estimate a Gaussian mean θ, known variance σ², N samples per estimator,
v = σ²/N.  θ_0 = θ.  Step t: θ_real,t = mean of N fresh real samples (θ + ε_t, Var ε_t = v);
θ_syn,t = mean of N samples from N(θ_{t−1}, σ²) (θ_{t−1} + η_t, Var η_t = v); all noises independent;
θ_t = w θ_real,t + (1 − w) θ_syn,t.  The error e_t = θ_t − θ obeys e_t = w ε_t + (1−w)(e_{t−1} + η_t), so
V_t = E e_t² = w² v + (1−w)² (V_{t−1} + v), V_0 = 0, and for 0 < w ≤ 1 it tends to the stationary

    V(w) = v (w² + (1−w)²) / (1 − (1−w)²),   minimized at w* = 1/φ = (√5 − 1)/2,  V(w*) = v/φ ≈ 0.618 v;

V_t = V(w)(1 − (1−w)^{2t}) exactly.  (w² + w − 1 = 0 is the stationarity condition of V.)  The optimum
is that of the stationary error; at a finite horizon t the minimizer of V_t differs (by O((1−w)^{2t})).
"""
from __future__ import annotations

import sympy as sp

from theory.proof import Obligation, exact, positive, zero

_w = sp.Symbol("w", positive=True)


def stationary(w, v) -> sp.Expr:
    return v * (w**2 + (1 - w) ** 2) / (1 - (1 - w) ** 2)


def mixing_formulas(w, sigma, N, t) -> dict[str, sp.Expr]:
    w, N, t = exact(w), sp.sympify(N), sp.sympify(t)
    v = exact(sigma) ** 2 / N
    w_star = (sp.sqrt(5) - 1) / 2
    return {"error": stationary(w, v) * (1 - (1 - w) ** (2 * t)),
            "optimal_weight": w_star,
            "optimal_error": stationary(w_star, v)}


def prove_mixing(f, w, sigma, N, t) -> list[Obligation]:
    w, N, t = exact(w), sp.sympify(N), sp.sympify(t)
    v = exact(sigma) ** 2 / N
    V, Vp = sp.symbols("V V_prev")
    k = sp.Symbol("k", integer=True, nonnegative=True)
    step = lambda prev, ww: ww**2 * v + (1 - ww) ** 2 * (prev + v)        # noqa: E731  one step of E e_t²
    fixed = sp.solve(sp.Eq(V, step(V, _w)), V)[0]                         # the stationary variance
    a = (1 - _w) ** 2
    transient = fixed * (1 - a**k)                                        # claimed V_k, checked by induction
    ws = f["optimal_weight"]
    dV = sp.diff(fixed, _w)
    return [
        zero("stationary variance solves V = w^2 v + (1-w)^2 (V + v)", sp.simplify(fixed - stationary(_w, v))),
        zero("V_t = V(w)(1 - (1-w)^(2t)): V_0 = 0", sp.simplify(transient.subs(k, 0))),
        zero("... and the step maps V_k to V_{k+1}", sp.simplify(step(transient, _w) - transient.subs(k, k + 1))),
        zero("error at w after t steps", f["error"] - transient.subs({_w: w, k: t})),
        zero("w* is stationary: dV/dw(w*) = 0", sp.simplify(dV.subs(_w, ws))),
        positive("w* is a minimum: d2V/dw2(w*) > 0", sp.simplify(sp.diff(fixed, _w, 2).subs(_w, ws))),
        zero("w* = 1/phi, the root of w^2 + w - 1 in (0, 1)", sp.simplify(ws - 1 / sp.GoldenRatio.rewrite(sp.sqrt))),
        positive("w* > 0", ws),
        positive("w* < 1", 1 - ws),
        zero("optimal stationary error V(w*) = min of V", sp.simplify(f["optimal_error"] - fixed.subs(_w, ws))),
        zero("... = v w* = v/phi", sp.simplify(fixed.subs(_w, ws) - v * ws)),
    ]
