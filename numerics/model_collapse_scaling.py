"""Scaling of the optimal ridge after recursive retraining, the numeric route: the deterministic
equivalents of model_collapse.ridge evaluated in numpy and minimized over λ with scipy.

E(λ) = κ² Σ s w²/(s+κ)² / (1 − df₂/T) + [σ² + nσ0²(T + d − 2df₁)/(T0 − d − 1)] df₂/(T − df₂),
κ − λ = κ df₁(κ)/T.  The sums are over the finite spectrum (no continuum approximation).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from numerics import closed_form


def kappa(s: np.ndarray, T: float, lam: float) -> float:
    """The positive root of κ − λ = κ df₁(κ)/T (bisection: one root, see theory.model_collapse_ridge)."""
    lo, hi = lam, lam + float(s.sum()) + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid - lam - mid * np.sum(s / (s + mid)) / T < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@closed_form
def de_test_error(s: np.ndarray, w2: np.ndarray, T: float, T0: int, sigma: float, sigma0: float, n: int,
                  lam: float) -> float:
    d = s.size
    k = kappa(s, T, lam)
    df1, df2 = np.sum(s / (s + k)), np.sum((s / (s + k)) ** 2)
    bias = k**2 * np.sum(s * w2 / (s + k) ** 2) / (1 - df2 / T)
    noise = sigma**2 + n * sigma0**2 * (T + d - 2 * df1) / (T0 - d - 1)
    return float(bias + noise * df2 / (T - df2))


def optimal_ridge(s, w2, T, T0, sigma, sigma0, n, log_bounds=(-16.0, 2.0)) -> tuple[float, float]:
    """(λ*, E*) by bounded scalar minimization over log λ."""
    r = minimize_scalar(lambda u: de_test_error(s, w2, T, T0, sigma, sigma0, n, float(np.exp(u))),
                        bounds=log_bounds, method="bounded", options={"xatol": 1e-9})
    if not (log_bounds[0] + 1e-3 < r.x < log_bounds[1] - 1e-3):
        raise ValueError(f"the optimal ridge exp({r.x:.3g}) sits on the search bound {log_bounds}")
    return float(np.exp(r.x)), float(r.fun)


def fit_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])
