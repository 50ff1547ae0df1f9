"""Scaling laws of ridge after recursive retraining (Dohmatob, Feng & Kempe 2024, arXiv 2402.07712, §5).

Power-law spectrum s_j = j^{−β} (β > 1) and source condition w₀_j² ∝ j^{−δ}, δ = 2βr − β + 1,
0 < r < 1.  In the continuum limit (d → ∞, sums → integrals) the deterministic equivalents of
model_collapse.ridge scale as
    bias(κ) = κ² Σ s w²/(s+κ)² ≍ κ^{2r},   df₂(κ) = Σ s²/(s+κ)² ≍ κ^{−1/β}
(change of variables j = κ^{−1/β} u, proved below), and with df₁, df₂ ≪ T, d the test error is
    E(κ) ≈ B κ^{2r} + ε C κ^{−1/β},
    ε = [σ² + n σ0² d/(T0 − d − 1)]/T + n σ0²/(T0 − d − 1)            (derived here)
(the effective noise σ² + n σ0² (T + d − 2df₁)/(T0 − d − 1) of the ridge equivalent, over T).
Minimizing: κ* = (εC/(2rβB))^{β/(2βr+1)}, so λ* ≈ κ* grows with n like ε^{β/(2βr+1)} and
E* ∝ ε^{2βr/(2βr+1)}.  The two parts of ε cross at
    T_c = d + σ² (T0 − d − 1)/(n σ0²):
below T_c the error falls at the fast rate T^{−2βr/(2βr+1)}; beyond it ε → n σ0²/(T0 − d − 1) > 0
and the error plateaus.  (The catalogue's ε = σ²/T + nσ0²/(T0 − d) and T_c = σ²(T0 − d)/(nσ0²) are
the T ≫ d form of these.)  Checked quantities: the two exponents and the plateau ratio
E*(300 T_c)/E*(30 T_c), which tends to 1.
"""
from __future__ import annotations

import sympy as sp

from theory.proof import Obligation, exact, positive, zero

_k, _u, _j, _eps, _B, _C = sp.symbols("kappa u j epsilon B C", positive=True)


def source_exponent(beta, r) -> sp.Expr:
    """δ with w₀_j² ∝ j^{−δ} giving bias ≍ κ^{2r} under s_j = j^{−β}."""
    return 2 * exact(beta) * exact(r) - exact(beta) + 1


def scaling_formulas(beta, r) -> dict[str, sp.Expr]:
    b, r = exact(beta), exact(r)
    return {"ridge_exponent": b / (2 * b * r + 1), "error_exponent": 2 * b * r / (2 * b * r + 1),
            "plateau_ratio": sp.Integer(1)}


def effective_noise(T, d, T0, sigma, sigma0, n) -> sp.Expr:
    s2, s02 = exact(sigma) ** 2, exact(sigma0) ** 2
    return (s2 + n * s02 * sp.sympify(d) / (T0 - d - 1)) / T + n * s02 / (T0 - d - 1)


def crossover(d, T0, sigma, sigma0, n) -> sp.Expr:
    """T_c = d + σ² (T0 − d − 1)/(n σ0²)."""
    return sp.sympify(d) + exact(sigma) ** 2 * (T0 - d - 1) / (n * exact(sigma0) ** 2)


def prove_scaling(f, beta, r) -> list[Obligation]:
    b, rr = exact(beta), exact(r)
    delta = source_exponent(b, rr)
    # Continuum sums: j = κ^{-1/β} u, dj = κ^{-1/β} du.
    jac = _k ** (-1 / b)
    sub = {_j: jac * _u}
    bias_density = _j ** (-b - delta) * _k**2 / (_j ** (-b) + _k) ** 2
    bias_scaled = sp.powsimp(sp.expand_power_base(bias_density.subs(sub) * jac, force=True), force=True)
    df2_density = _j ** (-2 * b) / (_j ** (-b) + _k) ** 2
    df2_scaled = sp.powsimp(sp.expand_power_base(df2_density.subs(sub) * jac, force=True), force=True)
    bias_u = _u ** (-b - delta) / (_u ** (-b) + 1) ** 2
    df2_u = _u ** (-2 * b) / (_u ** (-b) + 1) ** 2
    # The optimum of B κ^{2r} + ε C κ^{-1/β}.
    E = _B * _k ** (2 * rr) + _eps * _C * _k ** (-1 / b)
    k_star = (_eps * _C / (2 * rr * b * _B)) ** (b / (2 * b * rr + 1))
    dE = sp.diff(E, _k)
    d2E = sp.diff(E, _k, 2)
    log_slope = lambda g: sp.simplify(_eps * sp.diff(g, _eps) / g)  # noqa: E731
    Tt, dd, TT0, s, s0, n = sp.symbols("T d T0 sigma sigma0 n", positive=True)
    eps_T = effective_noise(Tt, dd, TT0, s, s0, n)
    Tc = crossover(dd, TT0, s, s0, n)
    fast, slow = eps_T - n * s0**2 / (TT0 - dd - 1), n * s0**2 / (TT0 - dd - 1)
    return [
        positive("beta > 1 (summable spectrum, df2 finite)", b - 1),
        positive("0 < r < 1: the bias integral converges at u -> 0 (exponent beta - delta + 1 > 0)", b - delta + 1),
        positive("... and at u -> oo (exponent beta + delta - 1 > 0)", b + delta - 1),
        zero("bias: j = kappa^{-1/beta} u turns the summand into kappa^{2r} u^{-beta-delta}/(u^{-beta}+1)^2",
             sp.simplify(bias_scaled - _k ** (2 * rr) * bias_u)),
        zero("df2: the same substitution gives kappa^{-1/beta} u^{-2beta}/(u^{-beta}+1)^2",
             sp.simplify(df2_scaled - _k ** (-1 / b) * df2_u)),
        zero("kappa* is stationary for B kappa^{2r} + eps C kappa^{-1/beta}", sp.simplify(dE.subs(_k, k_star))),
        positive("... and a minimum (second derivative > 0)", sp.simplify(d2E.subs(_k, k_star))),
        zero("d log kappa*/d log eps = beta/(2 beta r + 1)", log_slope(k_star) - f["ridge_exponent"]),
        zero("d log E*/d log eps = 2 beta r/(2 beta r + 1)", log_slope(sp.simplify(E.subs(_k, k_star)))
             - f["error_exponent"]),
        zero("effective noise: (sigma^2 + n sigma0^2 (T + d)/(T0-d-1))/T splits into the two parts",
             sp.simplify(eps_T - (s**2 + n * s0**2 * (Tt + dd) / (TT0 - dd - 1)) / Tt)),
        zero("the two parts are equal at T_c = d + sigma^2 (T0-d-1)/(n sigma0^2)", sp.simplify(fast.subs(Tt, Tc) - slow)),
        zero("plateau: eps -> n sigma0^2/(T0-d-1) > 0 as T -> oo, so E*(300 T_c)/E*(30 T_c) -> 1",
             sp.limit(eps_T, Tt, sp.oo) - slow + f["plateau_ratio"] - 1),
    ]
