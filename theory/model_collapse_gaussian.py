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
