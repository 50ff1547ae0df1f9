"""Recursive fitting of a Gaussian to its own samples (model collapse in one dimension; THEORY.md §9).

Setting.  μ_0 = μ, σ_0 = σ.  Generation i = 1..n draws M samples from N(μ_{i−1}, σ²_{i−1}) and sets
μ_i = their mean and σ²_i = their unbiased variance S_i/(M−1) (MLE variant: S_i/M), where
S_i/σ²_{i−1} ~ χ²_{M−1} independently of the past (Cochran).  Hence, with ν = M − 1:

    E(μ_n − μ)² = Σ_{i=1}^n E σ²_{i−1}/M = n σ²/M,           E σ²_n = σ²  (a martingale),
    E σ_n = σ c_M^n,  c_M = E√(χ²_ν/ν) = √(2/(M−1)) Γ(M/2)/Γ((M−1)/2) < 1,
    E log σ²_n − log σ² = n [ψ((M−1)/2) + log(2/(M−1))] < 0,     MLE: E σ²_n = σ²(1 − 1/M)^n.

Every one-step moment comes from the χ² Mellin transform E[S^s] = 2^s Γ(ν/2 + s)/Γ(ν/2), which sympy
obtains by integrating the density with symbolic ν and s; E log S is its s-derivative at s = 0
(the transform is analytic for s > −ν/2).  Products and sums over generations follow from the
independence of the χ² factors (σ²_n = σ² Π_i χ²_{ν,i}/ν).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.proof import Obligation, exact, positive, zero

_x = sp.Symbol("x", positive=True)
_nu = sp.Symbol("nu", positive=True)
_s = sp.Symbol("s", positive=True)


@lru_cache(maxsize=1)
def chi2_mellin() -> sp.Expr:
    """E[S^s], S ~ χ²_ν, by integrating the density."""
    density = _x ** (_nu / 2 - 1) * sp.exp(-_x / 2) / (2 ** (_nu / 2) * sp.gamma(_nu / 2))
    return sp.simplify(sp.integrate(density * _x ** _s, (_x, 0, sp.oo), conds="none"))


def c_M(M) -> sp.Expr:
    M = sp.sympify(M)
    return sp.sqrt(2 / (M - 1)) * sp.gamma(M / 2) / sp.gamma((M - 1) / 2)


def gaussian_formulas(M, n, sigma) -> dict[str, sp.Expr]:
    M, n = sp.sympify(M), sp.sympify(n)
    s2 = exact(sigma) ** 2
    return {"mean_sq_drift": n * s2 / M,
            "var_unbiased": s2,
            "std": sp.sqrt(s2) * c_M(M) ** n,
            "log_var_drift": n * (sp.polygamma(0, (M - 1) / 2) + sp.log(2 / (M - 1))),
            "var_mle": s2 * (1 - 1 / M) ** n}


def prove_gaussian(f, M, n, sigma) -> list[Obligation]:
    M, n = sp.sympify(M), sp.sympify(n)
    s2 = exact(sigma) ** 2
    nu = M - 1
    mellin = chi2_mellin()
    mean_S = sp.gammasimp(mellin.subs(_s, 1)).subs(_nu, nu)            # E χ²_ν (= ν)
    mean_root = mellin.subs(_s, sp.Rational(1, 2)).subs(_nu, nu)       # E √χ²_ν
    mean_log = sp.diff(mellin, _s).subs(_s, 0).subs(_nu, nu)           # E log χ²_ν
    step_var = mean_S / nu                                             # E σ²_i / σ²_{i−1}
    step_std = mean_root / sp.sqrt(nu)                                 # E σ_i / σ_{i−1}
    step_log = mean_log - sp.log(nu)                                   # E log(σ²_i / σ²_{i−1})
    step_mle = mean_S / M
    return [
        zero("chi2 Mellin transform E[S^s] = 2^s Gamma(nu/2 + s)/Gamma(nu/2) (density integrated by sympy)",
             mellin - 2 ** _s * sp.gamma(_nu / 2 + _s) / sp.gamma(_nu / 2)),
        positive("M >= 2: the sample variance has nu = M - 1 > 0 degrees of freedom", nu),
        zero("unbiased variance: E sigma_i^2 = sigma_{i-1}^2, so E sigma_n^2 = sigma^2 (martingale)",
             f["var_unbiased"] - s2 * step_var ** n),
        zero("mean: E(mu_n - mu)^2 = sum_i E sigma_{i-1}^2 / M = n sigma^2 / M", f["mean_sq_drift"] - n * s2 * step_var / M),
        zero("E sigma_n = sigma (E sqrt(chi2_nu / nu))^n (independent factors)",
             f["std"] - sp.sqrt(s2) * step_std ** n),
        zero("E log sigma_n^2 - log sigma^2 = n (E log chi2_nu - log nu)", sp.expand_log(
             f["log_var_drift"] - n * step_log, force=True)),
        zero("MLE variance: E sigma_n^2 = sigma^2 ((M-1)/M)^n", f["var_mle"] - s2 * step_mle ** n),
    ]


# --------------------------------------------------------------------------- accumulating all samples
# Setting (Kazdan et al. 2024's "accumulate" workflow for Gaussian fitting; every constant derived here).
# Generation k = 1..n adds M samples to a pool: the real block (k = 1) from N(μ, σ²), then block k from
# the fit of generation k − 1.  Fit k is the pool's mean and MLE variance (divide by N_k = kM; the
# unbiased variant divides by N_k − 1).  A block of M samples from N(m, v) added to a pool (N, m, S = sum
# of squares) gives S' = S + W + N M/(N+M) (b − m)², b = block mean, W = block sum of squares, with
# E W = (M−1) v (χ²_{M−1}) and E (b − m)² = v/M.  Hence, with N = (k−1)M:
#     MLE:      E v_k / v_{k−1} = (N + M − 1 + N/(N+M))/(N+M) = 1 − 1/(M k²)       (k ≥ 1)
#     unbiased: E v_k / v_{k−1} = (N − 1 + M − 1 + N/(N+M))/(N+M−1) = 1 − 1/(k(kM−1))   (k ≥ 2; k = 1: 1)
# so E v_n = σ² Π_{k≤n} (1 − 1/(M k²)) → σ² Π_{k≥1}(1 − x²/k²) = σ² sin(πx)/(πx), x = 1/√M (Euler).
# The infinite product: Π_{k≤n}(1 − x²/k²) = Γ(n+1−x)Γ(n+1+x)/(Γ(1−x)Γ(1+x)Γ(n+1)²) (induction), the
# Γ-ratio tends to 1 (sympy's limit of its log) and Γ(1−x)Γ(1+x) = πx/sin(πx) (reflection).

_k = sp.Symbol("k", positive=True, integer=True)
_N = sp.Symbol("N", nonnegative=True)
_Mp = sp.Symbol("M", positive=True)
_xp = sp.Symbol("x", positive=True)
_np = sp.Symbol("n", nonnegative=True, integer=True)


def accumulate_formulas(M, n, sigma) -> dict[str, sp.Expr]:
    """E v_n for the MLE pool fit, the unbiased pool fit, and the MLE fit's n → ∞ limit."""
    M, n = sp.sympify(M), sp.sympify(n)
    s2 = exact(sigma) ** 2
    return {"var_accumulate": s2 * sp.Product(1 - 1 / (M * _k ** 2), (_k, 1, n)).doit(),
            "var_accumulate_unbiased": s2 * sp.Product(1 - 1 / (_k * (_k * M - 1)), (_k, 2, n)).doit(),
            "var_accumulate_limit": s2 * sp.sqrt(M) * sp.sin(sp.pi / sp.sqrt(M)) / sp.pi}


@lru_cache(maxsize=1)
def _pool_step_ratios() -> tuple[sp.Expr, sp.Expr, tuple[Obligation, ...]]:
    """E v_k / v_{k−1} for the MLE and unbiased pool fits, derived from the pooled sum of squares."""
    N, M = _N, _Mp
    m, b = sp.symbols("m b", real=True)
    m_new = (N * m + M * b) / (N + M)
    pooled = N * (m - m_new) ** 2 + M * (b - m_new) ** 2 - N * M / (N + M) * (b - m) ** 2
    mean_W = sp.gammasimp(chi2_mellin().subs(_s, 1)).subs(_nu, M - 1)     # E χ²_{M−1}
    mean_b = 1 / M                                                          # E (b − m)² / v
    increment = mean_W + N * M / (N + M) * mean_b                           # E (S' − S) / v
    mle = (N + increment) / (N + M)                                         # S = N v
    unb = (N - 1 + increment) / (N + M - 1)                                 # S = (N − 1) v
    k = _k                                                                  # generation k: N = (k−1)M
    step_mle, step_unb = sp.factor(mle.subs(N, (k - 1) * M)), sp.factor(unb.subs(N, (k - 1) * M))
    obligations = (
        zero("pooled sum of squares: S' = S + W + N M/(N+M) (b - m)^2 (between-block term)", pooled),
        zero("block sum of squares: E W = (M - 1) v (chi2 Mellin transform at s = 1)", mean_W - (M - 1)),
        zero("MLE pool: E v_k / v_{k-1} = 1 - 1/(M k^2) (k >= 1; k = 1 is the real block)",
             step_mle - (1 - 1 / (M * k ** 2))),
        zero("unbiased pool: E v_k / v_{k-1} = 1 - 1/(k (k M - 1)) (k >= 2)",
             step_unb - (1 - 1 / (k * (k * M - 1)))),
        zero("unbiased pool, k = 1: the real block's unbiased variance has mean sigma^2", mean_W / (M - 1) - 1))
    return step_mle, step_unb, obligations


@lru_cache(maxsize=1)
def _euler_product_lemmas() -> tuple[Obligation, ...]:
    """Π_{k≤n}(1 − x²/k²) in Γ form, its n → ∞ limit and the reflection formula (symbolic x, n)."""
    x, n = _xp, _np
    G = sp.gamma(n + 1 - x) * sp.gamma(n + 1 + x) / (sp.gamma(1 - x) * sp.gamma(1 + x) * sp.gamma(n + 1) ** 2)
    log_ratio = sp.loggamma(n + 1 - x) + sp.loggamma(n + 1 + x) - 2 * sp.loggamma(n + 1)
    return (zero("Euler product, induction base: the Gamma form is 1 at n = 0", G.subs(n, 0) - 1),
            zero("Euler product, induction step: G(n+1)/G(n) = 1 - x^2/(n+1)^2",
                 sp.gammasimp(G.subs(n, n + 1) / G) - (1 - x ** 2 / (n + 1) ** 2)),
            zero("lim_n log[Gamma(n+1-x) Gamma(n+1+x) / Gamma(n+1)^2] = 0 (sympy limit)",
                 sp.limit(log_ratio, n, sp.oo)),
            zero("reflection: Gamma(1-x) Gamma(1+x) = pi x / sin(pi x)",
                 sp.gammasimp(sp.gamma(1 - x) * sp.gamma(1 + x)) - sp.pi * x / sp.sin(sp.pi * x)))


def prove_accumulate(f, M, n, sigma) -> list[Obligation]:
    M, n = sp.sympify(M), sp.sympify(n)
    s2 = exact(sigma) ** 2
    step_mle, step_unb, lemmas = _pool_step_ratios()                      # generation k's factors
    k = _k
    obligations = list(lemmas)
    sm_ = step_mle.subs(_Mp, M)
    su_ = step_unb.subs(_Mp, M)
    if n.is_Integer:                                                        # multiply the derived factors
        obligations += [
            zero("E v_n (MLE pool) = sigma^2 prod_{k<=n} (derived factor)",
                 f["var_accumulate"] - s2 * sp.Mul(*[sm_.subs(k, i) for i in range(1, int(n) + 1)])),
            zero("E v_n (unbiased pool) = sigma^2 prod_{2<=k<=n} (derived factor)",
                 f["var_accumulate_unbiased"] - s2 * sp.Mul(*[su_.subs(k, i) for i in range(2, int(n) + 1)]))]
    else:                                                                   # induction on symbolic n
        for name, q, first in (("var_accumulate", sm_, 1), ("var_accumulate_unbiased", su_, 2)):
            g = f[name]
            obligations += [
                zero(f"{name}: induction base at n = {first - 1}", g.subs(n, first - 1) - s2),
                zero(f"{name}: induction step E v_(n+1) / E v_n = derived factor at k = n+1",
                     sp.simplify(sp.combsimp(g.subs(n, n + 1) / g) - q.subs(k, n + 1)))]
    x = 1 / sp.sqrt(M)
    base, step, lim, refl = _euler_product_lemmas()
    obligations += [base, step, lim, refl,
                    zero("the MLE factor is Euler's 1 - x^2/k^2 with x = 1/sqrt(M)", sm_ - (1 - x ** 2 / k ** 2)),
                    zero("limit: sigma^2 lim_n Gamma-form = sigma^2 / (Gamma(1-x) Gamma(1+x)), x = 1/sqrt(M)",
                         f["var_accumulate_limit"] - s2 / sp.gammasimp(sp.gamma(1 - x) * sp.gamma(1 + x))),
                    positive("no collapse: the limit is positive", f["var_accumulate_limit"])
                    if f["var_accumulate_limit"].is_number else
                    positive("no collapse: M > 1, so x = 1/sqrt(M) < 1 and sigma^2/(Gamma(1-x) Gamma(1+x)) > 0", M - 1)]
    return obligations
