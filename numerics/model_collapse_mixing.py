"""Mixing real and synthetic estimators: the exact error by covariance propagation and its numerical minimizer.

The error e_t = θ_t − θ is a linear state driven by the noise vector (ε_t, η_t) ~ N(0, v I₂):
e_t = (1−w) e_{t−1} + [w, 1−w]·(ε_t, η_t).  Its variance is propagated step by step
(P ← A P Aᵀ + B Bᵀ, exact for any t), and ``scipy.optimize.minimize_scalar`` finds the best w.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from numerics import closed_form


@closed_form
def error_variance(w: float, v: float, t: int) -> float:
    A = np.array([[1.0 - w]])
    B = np.sqrt(v) * np.array([[w, 1.0 - w]])
    P = np.zeros((1, 1))
    for _ in range(t):
        P = A @ P @ A.T + B @ B.T
    return float(P[0, 0])


def stationary_variance(w: float, v: float, rtol: float = 1e-16, max_steps: int = 100000) -> float:
    """The propagated variance iterated to its fixed point (for 0 < w <= 1)."""
    P = 0.0
    for _ in range(max_steps):
        new = error_variance_step(P, w, v)
        if abs(new - P) <= rtol * new:
            return new
        P = new
    raise RuntimeError(f"w={w}: the variance did not settle in {max_steps} steps")


@closed_form
def error_variance_step(P: float, w: float, v: float) -> float:
    A, B = np.array([[1.0 - w]]), np.sqrt(v) * np.array([[w, 1.0 - w]])
    return float((A * P @ A.T + B @ B.T)[0, 0])


def optimal_weight(v: float) -> tuple[float, float, bool]:
    """(w*, stationary error at w*, converged) minimizing the stationary error over w in [0.05, 1]."""
    r = minimize_scalar(lambda w: stationary_variance(w, v) / v, bounds=(0.05, 1.0), method="bounded",
                        options={"xatol": 1e-12, "maxiter": 500})
    return float(r.x), float(stationary_variance(r.x, v)), bool(r.success)
