"""One-vs-rest distances by quadratic programming, Riesz-energy optima by L-BFGS, and the known
codes built numerically (no closed form from ``theory`` is evaluated here).

ρ_k = dist(x_k, conv{x_j : j ≠ k}) = min over α in the simplex of ‖x_k − X_{−k}α‖: SLSQP on the
simplex, then an exact polish on the active set (the KKT system of the equality-constrained
least squares), kept only if it stays feasible and is no worse.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

from numerics.etf import Optimum, _sphere_objective, multistart, random_orthonormal, simplex_etf
from numerics import closed_form


def hull_distance(x: np.ndarray, S: np.ndarray) -> tuple[float, np.ndarray]:
    """(dist(x, conv of S's columns), the weights α of the nearest point)."""
    m = S.shape[1]
    Q = S.T @ S
    c = S.T @ x
    fun = lambda a: float(x @ x - 2 * c @ a + a @ Q @ a)          # noqa: E731
    jac = lambda a: 2 * (Q @ a - c)                                 # noqa: E731
    r = optimize.minimize(fun, np.full(m, 1.0 / m), jac=jac, method="SLSQP", bounds=[(0, None)] * m,
                          constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1, "jac": lambda a: np.ones(m)}],
                          options={"ftol": 1e-16, "maxiter": 1000})
    a = np.clip(r.x, 0, None)
    a /= a.sum()
    act = a > 1e-9
    n = int(act.sum())
    A = np.zeros((n + 1, n + 1))
    A[:n, :n], A[:n, n], A[n, :n] = 2 * Q[np.ix_(act, act)], 1, 1
    sol, *_ = np.linalg.lstsq(A, np.append(2 * c[act], 1), rcond=None)
    b = np.zeros(m)
    b[act] = sol[:n]
    if b.min() >= 0 and abs(b.sum() - 1) < 1e-12 and fun(b) <= fun(a) + 1e-15:
        a = b
    return float(np.linalg.norm(x - S @ a)), a


@closed_form
def one_vs_rest(X: np.ndarray) -> np.ndarray:
    """ρ_k for every column x_k of X (d×K)."""
    return np.array([hull_distance(X[:, k], np.delete(X, k, axis=1))[0] for k in range(X.shape[1])])


@closed_form
def riesz_energy(X: np.ndarray) -> float:
    """Σ_{i<j} ‖x_i − x_j‖⁻¹."""
    K = X.shape[1]
    iu = np.triu_indices(K, 1)
    D = np.linalg.norm(X[:, iu[0]] - X[:, iu[1]], axis=0)
    return float(np.sum(1.0 / D))


@closed_form
def _riesz_of_gram(G: np.ndarray):
    K = G.shape[0]
    iu = np.triu_indices(K, 1)
    D2 = np.maximum(2 - 2 * G[iu], 1e-300)
    dG = np.zeros_like(G)
    dG[iu] = D2 ** -1.5                                             # d/dG_ij of (2 − 2G_ij)^{−1/2}
    return float(np.sum(D2 ** -0.5)), dG


def min_riesz_energy(K: int, d: int, rng: np.random.Generator, starts: int = 4) -> Optimum:
    """Minimize the Riesz 1-energy of K unit vectors in R^d by multistart L-BFGS (float64)."""
    return multistart(_sphere_objective(_riesz_of_gram), d, K, rng, starts, gtol=1e-11)


@closed_form
def known_code(kind: str, K: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """The simplex ETF (numerics.etf), the regular polygon from its angles, or ±e_i, Haar-rotated."""
    if kind == "simplex":
        return simplex_etf(K, d, rng)
    if kind == "polygon":
        t = 2 * np.pi * np.arange(K) / K + rng.uniform(0, 2 * np.pi)
        return np.vstack([np.cos(t), np.sin(t)])
    if kind == "cross":
        R = random_orthonormal(d, d, rng)
        return np.hstack([np.column_stack([R[:, i], -R[:, i]]) for i in range(d)])
    raise ValueError(f"no known code of kind {kind!r}")


def min_riesz_circle(K: int, rng: np.random.Generator, starts: int = 3) -> Optimum:
    """d = 2: minimize E(θ) = Σ_{i<j} 1/(2|sin((θ_i − θ_j)/2)|) over angles (θ_0 = 0 fixed) by
    trust-region Newton with the exact Hessian, multistart; returns unit columns (cos θ, sin θ)."""
    iu = np.triu_indices(K, 1)

    def parts(t):
        th = np.concatenate([[0.0], t])
        u = (th[iu[0]] - th[iu[1]]) / 2
        s, c = np.sin(u), np.cos(u)
        sg = np.sign(s)
        f = 1 / (2 * np.abs(s))
        f1 = -sg * c / (4 * s * s)                      # d f / d(θ_i − θ_j)
        f2 = (1 + c * c) / (8 * np.abs(s) ** 3)         # d² f / d(θ_i − θ_j)²
        return th, f, f1, f2

    def fun(t):
        return float(np.sum(parts(t)[1]))

    def jac(t):
        _, _, f1, _ = parts(t)
        g = np.zeros(K)
        np.add.at(g, iu[0], f1)
        np.add.at(g, iu[1], -f1)
        return g[1:]

    def hess(t):
        _, _, _, f2 = parts(t)
        H = np.zeros((K, K))
        H[iu] = -f2
        H = H + H.T
        H[np.diag_indices(K)] = -H.sum(1)
        return H[1:, 1:]

    best, values = None, []
    for _ in range(starts):
        t0 = np.sort(rng.uniform(0, 2 * np.pi, K - 1))
        r = optimize.minimize(fun, t0, jac=jac, hess=hess, method="trust-exact", options={"gtol": 1e-12, "maxiter": 2000})
        values.append(float(r.fun))
        if best is None or r.fun < best.fun:
            best = r
    th = np.concatenate([[0.0], best.x])
    X = np.vstack([np.cos(th), np.sin(th)])
    return Optimum(X, float(best.fun), {"starts": starts, "values": values, "iterations": int(best.nit),
                                        "grad_norm": float(np.linalg.norm(jac(best.x))), "message": str(best.message),
                                        "method": "trust-exact on the angles"})
