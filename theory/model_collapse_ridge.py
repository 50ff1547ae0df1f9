"""Ridge regression downstream of recursive OLS retraining (Dohmatob, Feng & Kempe 2024, arXiv 2402.07712).

Setting (THEORY.md §9).  Rows x ~ N(0, Σ), Σ = diag(s_1..s_d); generations k = 1..n refit OLS
on T0 ≥ d + 2 fresh rows labelled by the previous model plus N(0, σ0²), ŵ_0 = w₀, so
ŵ_n = w₀ + δ with E δ = 0 and E δδᵀ = n σ0² Σ⁻¹/(T0 − d − 1) (inverse-Wishart mean).
The downstream model is ridge on T fresh rows X labelled by ŵ_n plus N(0, σ²):

    ŵ = argmin (1/T)‖Xw − y‖² + λ‖w‖² = R Σ̂ ŵ_n + R Xᵀε/T,   Σ̂ = XᵀX/T,  R = (Σ̂ + λI)⁻¹.

Since R Σ̂ = I − λR:  ŵ − w₀ = −λR w₀ + (I − λR) δ + R Xᵀε/T, three independent terms with
zero-mean cross products, hence the exact finite-sample decomposition

    E_test(n) = E_test(0) + n σ0² ρ,   ρ = E_X tr[(I − λR) Σ (I − λR) Σ⁻¹] / (T0 − d − 1),

E_test(0) = E‖λR w₀‖²_Σ + σ² E tr(R Σ̂ R Σ)/T the clean ridge error (ρ → d/(T0 − d − 1), the OLS
slope, as λ → 0).

Deterministic equivalents (proportional regime; Bach 2023, arXiv 2303.01372, Prop. 1 and 2 —
cited, not proved here): κ > 0 solves κ − λ = κ df₁(κ)/T, df_m = tr Σ^m (Σ + κI)^{−m};
λR ≍ κ(Σ + κ)⁻¹ and λ²R A R ≍ κ²(Σ+κ)⁻¹A(Σ+κ)⁻¹ + κ² tr(AΣ(Σ+κ)⁻²)/(T − df₂) · Σ(Σ+κ)⁻².
Then  bias ≍ κ² w₀ᵀΣ(Σ+κ)⁻²w₀ / (1 − df₂/T),  variance ≍ σ² df₂/(T − df₂), and, derived here
(expand tr[(I − λR)Σ(I − λR)Σ⁻¹] = d − 2 tr λR + tr λRΣλRΣ⁻¹ and apply both equivalents):

    ρ (T0 − d − 1) ≍ d − 2(d − df₁) + tr κ²(Σ+κ)⁻² + κ² tr(Σ+κ)⁻² · df₂/(T − df₂)
                   = df₂ (T + d − 2 df₁) / (T − df₂).

The naive plug-in ρ ≈ df₂/(T0 − d − 1) misses the factor (T + d − 2df₁)/(T − df₂) ≥ 1 (a factor
d/T when d ≫ T).  κ is certified here: f(κ) = κ − λ − κ df₁(κ)/T has f(0) = −λ < 0, and f = 0
⟺ 1 − λ/κ = df₁(κ)/T (left side increasing, right side decreasing: one root), bracketed
exactly by rationals 10⁻⁴⁰ apart.  Σ and w₀ are exact rationals (j^{−α} rounded to 60 digits
where α is not an integer), so every identity below is decided in exact arithmetic.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.model_collapse import inverse_chi2_mean, nu_
from theory.proof import Obligation, exact, positive, zero

_s = sp.Symbol("s", positive=True)
_kap = sp.Symbol("kappa", positive=True)
_DIGITS = 60


def _power(j: int, a: sp.Expr) -> sp.Expr:
    v = sp.Integer(j) ** (-a)
    return v if v.is_Rational else sp.Rational(str(sp.N(v, _DIGITS)))


def spectrum(d: int, alpha) -> list[sp.Rational]:
    """Σ = diag(j^{−α}), j = 1..d, as exact rationals."""
    a = exact(alpha)
    return [_power(j, a) for j in range(1, d + 1)]


def signal(d: int, delta, w0_norm_sq) -> list[sp.Rational]:
    """w₀_j² ∝ j^{−δ}, scaled so that ‖w₀‖² = w0_norm_sq (exact rationals)."""
    raw = [_power(j, exact(delta)) for j in range(1, d + 1)]
    total = sum(raw)
    return [exact(w0_norm_sq) * r / total for r in raw]


def dfs(s, kappa) -> tuple[sp.Expr, sp.Expr]:
    """(df₁, df₂) = (Σ s/(s+κ), Σ s²/(s+κ)²)."""
    r = [si / (si + kappa) for si in s]
    return sum(r), sum(x * x for x in r)


def fixed_point_residual(s, T, lam, kappa) -> sp.Expr:
    return kappa - lam - kappa * dfs(s, kappa)[0] / T


def kappa_seed(s, T, lam) -> float:
    """κ in float64 by bisection of f(k) = k − λ − k·df₁(k)/T on [λ, λ + Σs + 1] (f(λ) < 0 < f(λ + Σs + 1),
    f increasing for T > df₂): the start of the 60-digit Newton polish in ``solve_kappa``."""
    sf, lf = [float(v) for v in s], float(lam)

    def f(k):
        return k - lf - k * sum(v / (v + k) for v in sf) / T

    lo, hi = lf, lf + sum(sf) + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return 0.5 * (lo + hi)


def solve_kappa(s, T, lam) -> sp.Rational:
    """The positive root of κ − λ = κ df₁(κ)/T, as a rational within 10⁻⁵⁰ relative (bisection in
    Python floats, then Newton in 60-digit arithmetic); κ = 0 when λ = 0 (needs d < T)."""
    lam = exact(lam)
    if lam == 0:
        return sp.Integer(0)
    k = sp.Float(kappa_seed(s, T, lam), _DIGITS)
    sF, lF = [sp.Float(v, _DIGITS) for v in s], sp.Float(lam, _DIGITS)
    for _ in range(8):
        df1 = sum(v / (v + k) for v in sF)
        df2 = sum((v / (v + k)) ** 2 for v in sF)
        k = k - (k - lF - k * df1 / T) / (1 - df2 / T)
    return sp.Rational(str(k))


def de_pieces(s, w2, T, lam) -> dict[str, sp.Expr]:
    kappa = solve_kappa(s, T, lam)
    df1, df2 = dfs(s, kappa)
    return {"kappa": kappa, "df1": df1, "df2": df2,
            "bias": kappa**2 * sum(si * wi / (si + kappa) ** 2 for si, wi in zip(s, w2)) / (1 - df2 / T)}


@lru_cache(maxsize=16)
def instance(d, T, lam, alpha, delta, w0_norm_sq):
    """(Σ spectrum, w₀², deterministic-equivalent pieces κ, df₁, df₂, bias), cached."""
    s, w2 = spectrum(d, alpha), signal(d, delta, w0_norm_sq)
    return s, w2, de_pieces(s, w2, T, lam)


def ridge_formulas(d, T, T0, sigma, sigma0, n, lam, alpha, delta, w0_norm_sq) -> dict[str, sp.Expr]:
    """Deterministic equivalents of the clean error, ρ and E_test(n) = clean + n σ0² ρ."""
    _, _, pc = instance(d, T, lam, alpha, delta, w0_norm_sq)
    df1, df2 = pc["df1"], pc["df2"]
    clean = pc["bias"] + exact(sigma) ** 2 * df2 / (T - df2)
    rho = df2 * (T + d - 2 * df1) / ((T - df2) * (T0 - d - 1))
    return {"clean_error": clean, "rho": rho, "test_error": clean + sp.Integer(n) * exact(sigma0) ** 2 * rho}


def prove_ridge(f, d, T, T0, sigma, sigma0, n, lam, alpha, delta, w0_norm_sq) -> list[Obligation]:
    s, _, pc = instance(d, T, lam, alpha, delta, w0_norm_sq)
    kappa, df1, df2 = pc["kappa"], pc["df1"], pc["df2"]
    lam_e, s02 = exact(lam), exact(sigma0) ** 2
    # I − λR = RΣ̂, on a generic 2×2 positive-definite Σ̂.
    p, q, r, L = sp.symbols("p q r lambda", positive=True)
    S = sp.Matrix([[p, q], [q, r]])
    Rm = (S + L * sp.eye(2)).inv()
    shrink = (sp.eye(2) - L * Rm - Rm * S).applyfunc(sp.simplify)
    # The quadratic equivalent, term by term, then summed at κ.
    term = 1 - 2 * _kap / (_s + _kap) + _kap**2 / (_s + _kap) ** 2 - _s**2 / (_s + _kap) ** 2
    resolvent_sq = _kap**2 / (_s + _kap) ** 2 - (1 - 2 * _s / (_s + _kap) + _s**2 / (_s + _kap) ** 2)
    tr_k2 = sum(kappa**2 / (si + kappa) ** 2 for si in s)
    raw_rho = (d - 2 * (d - df1) + tr_k2 + tr_k2 * df2 / (T - df2)) / (T0 - d - 1)
    # λ → 0 (T > d): κ = 0, df₁ = df₂ = d and the closed form gives the OLS slope d/(T0 − d − 1).
    dd, TT, TT0 = sp.symbols("d T T0", positive=True)
    ols_limit = dd * (TT + dd - 2 * dd) / ((TT - dd) * (TT0 - dd - 1)) - dd / (TT0 - dd - 1)
    obligations = [
        *[zero(f"ridge shrinkage: I - lambda R = R Sigma_hat (generic 2x2), entry {a}{b}", shrink[a, b])
          for a in range(2) for b in range(2)],
        zero("E[1/chi2_nu] = 1/(nu - 2): E (Z^T Z)^{-1} = I/(T0 - d - 1), so E dd^T = n sigma0^2 Sigma^{-1}/(T0-d-1)",
             inverse_chi2_mean() - 1 / (nu_ - 2)),
        positive("T0 >= d + 2 (finite inverse-Wishart mean)", sp.Integer(T0) - d - 1),
        zero("termwise: 1 - 2k/(s+k) + k^2/(s+k)^2 = s^2/(s+k)^2 (symbolic s, k)", sp.simplify(term)),
        zero("termwise: k^2/(s+k)^2 = 1 - 2s/(s+k) + s^2/(s+k)^2, so k^2 tr(Sigma+k)^-2 = d - 2df1 + df2",
             sp.simplify(resolvent_sq)),
        zero("lambda -> 0: the closed form gives the OLS slope d/(T0-d-1) (symbolic d, T, T0)",
             sp.simplify(ols_limit)),
        zero("rho = quadratic deterministic equivalent of tr[(I-lR)S(I-lR)S^-1]/(T0-d-1), evaluated exactly at kappa",
             f["rho"] - raw_rho),
        zero("clean error = kappa^2 w0'S(S+k)^-2 w0/(1-df2/T) + sigma^2 df2/(T-df2) at kappa",
             f["clean_error"] - pc["bias"] - exact(sigma) ** 2 * df2 / (T - df2)),
        zero("decomposition: E_test(n) = clean + n sigma0^2 rho", f["test_error"] - f["clean_error"] - n * s02 * f["rho"]),
        positive("1 - df2/T > 0 at kappa: the variance equivalent is finite and f'(kappa) > 0", 1 - df2 / T),
    ]
    if lam_e > 0:
        h = kappa * sp.Rational(1, 10**40)
        obligations += [
            positive("kappa bracketed: f(kappa + h) > 0, h = 1e-40 kappa", fixed_point_residual(s, T, lam_e, kappa + h)),
            positive("kappa bracketed: f(kappa - h) < 0", -fixed_point_residual(s, T, lam_e, kappa - h)),
        ]
    return obligations
