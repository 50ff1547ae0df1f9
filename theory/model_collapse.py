"""Model collapse of linear regression under recursive retraining (Dohmatob, Feng & Kempe 2024).

Setting (THEORY.md §9).  Rows x ~ N(0, Σ) in R^d; test error E(w) = ‖w − w₀‖²_Σ.
Generation k = 1..n fits OLS on T0 fresh rows labelled by the previous model plus noise
N(0, σ0²); the downstream model fits OLS on T fresh rows labelled by ŵ_n plus N(0, σ²).
Then ŵ − w₀ = Σ_k δ_k + δ with independent, zero-mean δ's, E‖δ_k‖²_Σ = σ0² E tr(Σ(XᵀX)⁻¹),
and the inverse-Wishart lemma gives E tr(Σ(XᵀX)⁻¹) = d/(T0 − d − 1) for every Σ:

    E_test(n) = σ² d/(T − d − 1) + n σ0² d/(T0 − d − 1).

The lemma, as proved here: with X = ZΣ^{1/2}, tr(Σ(XᵀX)⁻¹) = tr((ZᵀZ)⁻¹) (Σ drops out);
each diagonal entry of (ZᵀZ)⁻¹ is 1/S with S ~ χ²_{T−d+1} (the Schur complement of a
Wishart(I, T) matrix; Muirhead 1982, Thm 3.2.10 — cited), and sympy integrates the χ²
density to get E[1/χ²_ν] = 1/(ν − 2), finite iff ν > 2, i.e. T ≥ d + 2.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.proof import Obligation, exact, positive, zero

x_ = sp.Symbol("x", positive=True)
nu_ = sp.Symbol("nu", positive=True)


@lru_cache(maxsize=1)
def inverse_chi2_mean() -> sp.Expr:
    """E[1/S], S ~ χ²_ν, by integrating the density (convergent for ν > 2)."""
    density = x_ ** (nu_ / 2 - 1) * sp.exp(-x_ / 2) / (2 ** (nu_ / 2) * sp.gamma(nu_ / 2))
    return sp.simplify(sp.integrate(density / x_, (x_, 0, sp.oo), conds="none"))


def trace_inverse_wishart(d, T) -> sp.Expr:
    """E tr((ZᵀZ)⁻¹) for Z ∈ R^{T×d} with iid N(0, 1) entries: d · E[1/χ²_{T−d+1}]."""
    return d * inverse_chi2_mean().subs(nu_, T - d + 1)


def ols_formulas(d, T, T0, sigma, sigma0, n) -> dict[str, sp.Expr]:
    d, T, T0, n = (sp.sympify(v) for v in (d, T, T0, n))
    s2, s02 = exact(sigma) ** 2, exact(sigma0) ** 2
    clean = s2 * d / (T - d - 1)
    return {"test_error": clean + n * s02 * d / (T0 - d - 1), "clean_error": clean}


def prove_ols(f, d, T, T0, sigma, sigma0, n) -> list[Obligation]:
    d, T, T0, n = (sp.sympify(v) for v in (d, T, T0, n))
    s2, s02 = exact(sigma) ** 2, exact(sigma0) ** 2
    # Σ drops out: tr(Σ (Σ^{1/2} ZᵀZ Σ^{1/2})⁻¹) = tr((ZᵀZ)⁻¹); checked on a generic 2×2 instance.
    a, b, c = sp.symbols("a b c", positive=True)
    g11, g12, g22 = sp.symbols("g11 g12 g22", real=True)
    R = sp.Matrix([[a, b], [0, c]])                      # Σ^{1/2} = Rᵀ-factor: Σ = RᵀR
    G = sp.Matrix([[g11, g12], [g12, g22]])              # ZᵀZ: any symmetric 2×2 (a rational identity where det G ≠ 0)
    sigma_drops = (R.T * R * (R.T * G * R).inv()).trace() - G.inv().trace()
    per_generation = s02 * trace_inverse_wishart(d, T0)
    downstream = s2 * trace_inverse_wishart(d, T)
    return [
        zero("E[1/chi2_nu] = 1/(nu - 2) (density integrated by sympy)", inverse_chi2_mean() - 1 / (nu_ - 2)),
        positive("T0 >= d + 2: the integral converges (nu - 2 = T0 - d - 1 > 0)", T0 - d - 1),
        positive("T >= d + 2: the integral converges (nu - 2 = T - d - 1 > 0)", T - d - 1),
        zero("Sigma drops out of tr(Sigma (X^T X)^{-1}) (generic 2x2 instance)", sp.simplify(sigma_drops)),
        zero("n = 0: the downstream OLS error sigma^2 E tr((Z^T Z)^{-1})", f["clean_error"] - downstream),
        zero("independent zero-mean generations add: clean + n * sigma0^2 E tr((Z0^T Z0)^{-1})",
             f["test_error"] - downstream - n * per_generation),
    ]


# --------------------------------------------------------------------------- model_collapse.overparam
def overparam_formulas(d, T0, sigma0, n, w0_norm_sq) -> dict[str, sp.Expr]:
    """T0 < d, minimum-norm fits, Σ = I: E‖ŵ_n − w₀‖² with ψ = T0/d."""
    d, T0, n = (sp.sympify(v) for v in (d, T0, n))
    psi, s02, w2 = T0 / d, exact(sigma0) ** 2, exact(w0_norm_sq)
    noise = s02 * T0 / (d - T0 - 1)
    return {"error": w2 * (1 - psi**n) + noise * (1 - psi**n) / (1 - psi),
            "signal_kept": w2 * psi**n}


def prove_overparam(f, d, T0, sigma0, n, w0_norm_sq) -> list[Obligation]:
    """ŵ_k = P_k ŵ_{k−1} + X_k⁺ε_k, P_k the projector onto the row space of X_k (a uniformly random
    T0-dimensional subspace, independent across k).  By rotation invariance E P = c I, and
    tr P = T0 gives c = ψ; hence E‖P v‖² = vᵀ(E P)v = ψ‖v‖² and E[P_n⋯P_1] = ψⁿ I.  The noise
    X⁺ε has E‖X⁺ε‖² = σ0² E tr((XXᵀ)⁻¹), XXᵀ ~ Wishart_{T0}(I, d): T0 · E[1/χ²_{d−T0+1}]."""
    d, T0, n = (sp.sympify(v) for v in (d, T0, n))
    s02, w2 = exact(sigma0) ** 2, exact(w0_norm_sq)
    c = sp.Symbol("c", positive=True)
    psi = sp.solve(sp.Eq(c * d, T0), c)[0]                 # tr(E P) = c d = T0
    k = sp.Symbol("k", integer=True, positive=True)
    noise_one = s02 * trace_inverse_wishart(T0, d)         # E‖X⁺ε‖², d and T swapped: XXᵀ is T0×T0
    signal = w2 - 2 * w2 * psi**n + w2 * psi**n            # ‖w0‖² − 2 w0ᵀE[Q]w0 + E‖Q w0‖²
    noise = noise_one * sp.summation(psi ** (n - k), (k, 1, n))
    return [
        positive("d >= T0 + 2: the noise term is finite (nu - 2 = d - T0 - 1 > 0)", d - T0 - 1),
        zero("E P = (T0/d) I from tr P = T0 and rotation invariance", psi - T0 / d),
        zero("E[1/chi2_nu] = 1/(nu - 2) (density integrated by sympy)", inverse_chi2_mean() - 1 / (nu_ - 2)),
        zero("signal kept: E||P_n...P_1 w0||^2 = psi^n ||w0||^2", f["signal_kept"] - w2 * psi**n),
        zero("error = signal loss + noise of generation k shrunk by psi^(n-k), summed",
             sp.simplify(f["error"] - signal - noise)),
    ]
