"""Linear non-contrastive SSL (DirectPred model) in numpy/scipy: the matrix flow, its fixed points.

Same model as theory/ssl.py, written independently in matrices:
    G = −(1+σ²) W_p W + τ W,   Ẇ_p = α_p G Wᵀ − η W_p,   Ẇ = W_pᵀ G − η W
(X = I, X′ = σ²I, target W_a = τW under stop-gradient).  The per-mode field is read off the
matrix field at W_p = p·I, W = (p/√α_p)·I; fixed points, the collapse threshold and the limits
come from scipy root finding and ``solve_ivp`` — never from the closed forms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, minimize_scalar
from numerics import closed_form


@closed_form
def field(Wp: np.ndarray, W: np.ndarray, tau: float, sigma2: float, eta: float, alpha_p: float):
    G = -(1.0 + sigma2) * Wp @ W + tau * W
    return alpha_p * G @ W.T - eta * Wp, Wp.T @ G - eta * W


@closed_form
def mode_field(p: float, tau: float, sigma2: float, eta: float, alpha_p: float, d: int = 2) -> float:
    """ṗ of one mode: the (0, 0) entry of Ẇ_p at W_p = p·I, W = (p/√α_p)·I."""
    I = np.eye(d)
    dWp, _ = field(p * I, (p / np.sqrt(alpha_p)) * I, tau, sigma2, eta, alpha_p)
    return float(dWp[0, 0])


def _search_max(tau, sigma2) -> float:
    return 4.0 * max(tau, 1e-12) / (1.0 + sigma2)      # every non-zero fixed point lies in (0, this)


def nonzero_fixed_points(tau, sigma2, eta, alpha_p, grid: int = 4001) -> list[float]:
    """Positive zeros of ṗ/p, bracketed on a grid and refined by brentq."""
    g = lambda p: mode_field(p, tau, sigma2, eta, alpha_p) / p
    ps = np.linspace(1e-9, _search_max(tau, sigma2), grid)
    vals = np.array([g(p) for p in ps])
    roots = [brentq(g, ps[i], ps[i + 1], xtol=1e-16, rtol=1e-15)
             for i in np.nonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)[0]]
    return sorted(roots)


def collapse_threshold(tau, sigma2, alpha_p) -> float:
    """Largest η for which ṗ/p still reaches 0 on p > 0: the root in η of max_p ṗ/p."""
    top = _search_max(tau, sigma2)

    def h(eta):
        r = minimize_scalar(lambda p: -mode_field(p, tau, sigma2, eta, alpha_p) / p, bounds=(1e-12, top),
                            method="bounded", options={"xatol": 1e-13})
        return -r.fun

    hi = 1.0
    while h(hi) > 0:
        hi *= 2.0
    return brentq(h, 0.0, hi, xtol=1e-16, rtol=1e-15)


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@dataclass
class Limit:
    modes: np.ndarray        # final mode values diag(Uᵀ W_p U), in the order of the starts
    t: float
    field_norm: float
    converged: bool


def mode_limits(p0: np.ndarray, tau, sigma2, eta, alpha_p, rng, t_max: float = 4000.0,
                ftol: float = 1e-12) -> Limit:
    """Full d×d matrix flow from the balanced aligned start W_p = U diag(p0) Uᵀ, W = U diag(p0/√α_p) Vᵀ
    (random U, V); integrated (DOP853) in chunks until |Ẇ_p|, |Ẇ| < ftol."""
    d = len(p0)
    U, V = random_orthogonal(d, rng), random_orthogonal(d, rng)
    Wp = U @ np.diag(p0) @ U.T
    W = U @ np.diag(p0 / np.sqrt(alpha_p)) @ V.T
    y = np.concatenate([Wp.ravel(), W.ravel()])

    def rhs(_, y):
        a, b = field(y[:d * d].reshape(d, d), y[d * d:].reshape(d, d), tau, sigma2, eta, alpha_p)
        return np.concatenate([a.ravel(), b.ravel()])

    t, chunk, fn = 0.0, 50.0, np.inf
    while t < t_max:
        sol = solve_ivp(rhs, (t, t + chunk), y, method="DOP853", rtol=1e-12, atol=1e-15)
        if not sol.success:
            raise RuntimeError(f"solve_ivp: {sol.message}")
        y, t = sol.y[:, -1], t + chunk
        fn = float(np.abs(rhs(t, y)).max())
        if fn < ftol:
            break
        chunk = min(2 * chunk, t_max - t) if t < t_max else chunk
    Wp = y[:d * d].reshape(d, d)
    return Limit(np.diag(U.T @ Wp @ U).copy(), t, fn, fn < ftol)


def balance_rates(d, tau, sigma2, eta, alpha_p, rng, times=(0.5, 1.0, 1.5, 2.0)) -> np.ndarray:
    """From a random (unbalanced, unaligned, non-symmetric) start, r(t) = −log(⟨C(t),C(0)⟩/⟨C(0),C(0)⟩)/t
    with C = W_pᵀW_p − α_p WWᵀ; the balance law says r(t) = 2η and C(t) ∥ C(0)."""
    Wp, W = rng.standard_normal((d, d)) / np.sqrt(d), rng.standard_normal((d, d)) / np.sqrt(d)
    y0 = np.concatenate([Wp.ravel(), W.ravel()])

    def rhs(_, y):
        a, b = field(y[:d * d].reshape(d, d), y[d * d:].reshape(d, d), tau, sigma2, eta, alpha_p)
        return np.concatenate([a.ravel(), b.ravel()])

    sol = solve_ivp(rhs, (0.0, times[-1]), y0, method="DOP853", t_eval=times, rtol=1e-13, atol=1e-15)
    if not sol.success:
        raise RuntimeError(f"solve_ivp: {sol.message}")
    C = lambda y: y[:d * d].reshape(d, d).T @ y[:d * d].reshape(d, d) - alpha_p * y[d * d:].reshape(d, d) @ y[d * d:].reshape(d, d).T
    C0 = C(y0)
    return np.array([-np.log(np.sum(C(sol.y[:, k]) * C0) / np.sum(C0 * C0)) / t for k, t in enumerate(times)])
