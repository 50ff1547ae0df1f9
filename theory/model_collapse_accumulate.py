"""Replace vs accumulate in recursive OLS on one fixed design (Gerstgrasser et al. 2024, arXiv 2404.01413).

Setting.  One design X ∈ R^{T×d} (rows N(0, I), drawn once, T ≥ d + 2), P = (XᵀX)⁻¹Xᵀ, ŵ_0 = w*.
Iteration i draws labels y_i = X ŵ_{i−1} + E_i, E_i ~ N(0, σ² I_T) independent; test error
E‖ŵ_n − w*‖² (isotropic test rows), expectation over X and the noise.

* replace:    ŵ_i = P y_i = ŵ_{i−1} + P E_i, so ŵ_n = w* + P Σ_i E_i.
* accumulate: ŵ_n fits the n stacked blocks (X, y_1), …, (X, y_n): the normal equations
  n XᵀX ŵ_n = Xᵀ Σ_k y_k give ŵ_n = (1/n) Σ_k (ŵ_{k−1} + P E_k), and by induction
  ŵ_n = w* + P Σ_i E_i / i (the coefficient identity is proved below for symbolic n).
* replace with growing data: iteration i fits i copies of X with fresh noise each; the
  normal equations give ŵ_i = ŵ_{i−1} + (i XᵀX)⁻¹ Xᵀ Σ_k E_{i,k}, noise covariance σ²(XᵀX)⁻¹/i.

Independent zero-mean noise adds: E‖P Σ c_i E_i‖² = σ² Σ c_i² E tr((XᵀX)⁻¹) and the
inverse-Wishart lemma (theory.model_collapse) gives E tr((XᵀX)⁻¹) = d/(T − d − 1):

    replace  n σ²d/(T−d−1),   accumulate σ²d/(T−d−1) Σ_{i≤n} 1/i² < σ²d/(T−d−1) π²/6,
    growing  σ²d/(T−d−1) Σ_{i≤n} 1/i.
"""
from __future__ import annotations

import sympy as sp

from theory.model_collapse import inverse_chi2_mean, nu_, trace_inverse_wishart
from theory.proof import Obligation, exact, positive, zero

_i = sp.Symbol("i", integer=True, positive=True)
_j = sp.Symbol("j", integer=True, positive=True)
_k = sp.Symbol("k", integer=True, positive=True)


def accumulate_formulas(d, T, sigma, n) -> dict[str, sp.Expr]:
    d, T, n = (sp.sympify(v) for v in (d, T, n))
    one = exact(sigma) ** 2 * d / (T - d - 1)                 # one round's OLS error
    return {"test_error_replace": n * one,
            "test_error_accumulate": one * sp.harmonic(n, 2),
            "test_error_growing": one * sp.harmonic(n),
            "accumulate_bound": one * sp.pi ** 2 / 6}


def prove_accumulate(f, d, T, sigma, n) -> list[Obligation]:
    d, T, n = (sp.sympify(v) for v in (d, T, n))
    one = exact(sigma) ** 2 * trace_inverse_wishart(d, T)    # σ² E tr((XᵀX)⁻¹)
    # accumulate: the coefficient of E_j in ŵ_n = (1/n) Σ_{k≤n} (ŵ_{k−1} + P E_k), with the
    # induction hypothesis ŵ_{k−1} = w* + P Σ_{j<k} E_j/j: (1/n)(1 + Σ_{k=j+1}^n 1/j) = 1/j.
    m = sp.Symbol("m", integer=True, positive=True)
    coeff = (1 + sp.summation(1 / _j, (_k, _j + 1, m))) / m - 1 / _j
    # growing data: (i G)⁻¹ Gᵀ… i copies: (iG)⁻¹ (iG) (iG)⁻¹ = G⁻¹/i, on a general symmetric 2×2 Gram G
    # (entries free symbols: a rational identity wherever det G ≠ 0, so no particular matrix is assumed)
    g11, g12, g22 = sp.symbols("g11 g12 g22", real=True)
    G = sp.Matrix([[g11, g12], [g12, g22]])
    growing_cov = (_i * G).inv() * (_i * G) * (_i * G).inv() - G.inv() / _i
    tail = sp.pi ** 2 / 6 - sp.harmonic(n, 2).rewrite(sp.polygamma)   # = polygamma(1, n+1)
    return [
        zero("E[1/chi2_nu] = 1/(nu - 2) (density integrated by sympy)", inverse_chi2_mean() - 1 / (nu_ - 2)),
        positive("T >= d + 2: the integral converges (nu - 2 = T - d - 1 > 0)", T - d - 1),
        zero("accumulate: coefficient of E_j in the averaged normal equations is 1/j (symbolic n)",
             sp.simplify(coeff)),
        *[zero(f"growing data: noise covariance of the i-copy fit is (X^T X)^{{-1}}/i (general 2x2 Gram), "
               f"entry {a}{b}", sp.simplify(growing_cov[a, b])) for a in range(2) for b in range(2)],
        zero("replace: n independent noises, coefficient 1 each", f["test_error_replace"] - n * one),
        zero("accumulate: sum of sigma^2 E tr((X^T X)^{-1}) / i^2 over i <= n",
             f["test_error_accumulate"] - one * sp.summation(1 / _i**2, (_i, 1, n))),
        zero("growing data: sum of sigma^2 E tr((X^T X)^{-1}) / i over i <= n",
             f["test_error_growing"] - one * sp.summation(1 / _i, (_i, 1, n))),
        zero("Basel: sum_{i>=1} 1/i^2 = pi^2/6 (sympy summation)",
             f["accumulate_bound"] - one * sp.summation(1 / _i**2, (_i, 1, sp.oo))),
        zero("the tail pi^2/6 - sum_{i<=n} 1/i^2 equals polygamma(1, n+1)",
             sp.simplify(tail - sp.polygamma(1, n + 1))),
        positive("the tail pi^2/6 - sum_{i<=n} 1/i^2 = polygamma(1, n+1) is positive", sp.simplify(tail)),
        positive("accumulate stays below the bound",
                 (f["accumulate_bound"] - f["test_error_accumulate"]).rewrite(sp.polygamma)),
    ]
