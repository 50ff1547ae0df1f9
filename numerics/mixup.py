"""Optimal mixup features against a fixed simplex-ETF classifier, by scipy over all of R^d.

Per mixed example f(h) = CE(W h, y) + (β/2)‖h‖², W = s·Mᵀ (M a numerically built simplex
ETF, Haar-rotated into R^d), y = λe_c + (1−λ)e_c'.  Each example is minimized on its own by
a trust-region Newton method with the exact gradient and Hessian, from a Gaussian start,
with no use of the two-variable reduction; the results are then measured (``measure``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from numerics.etf import simplex_etf
from numerics import closed_form

#: Finite-difference step of the λ-slope (Richardson: two central differences, δ and δ/2).
SLOPE_DELTA = 1e-3


@dataclass(frozen=True)
class Task:
    c: int
    c2: int
    lam: float
    tag: str          # "lam", "half", "third", "same", "slope±1", "slope±2", "grid"


def tasks(K: int, lam: float, grid=()) -> list[Task]:
    """All ordered class pairs at λ, ½, ⅓ and λ ± δ, λ ± δ/2; same-class mixes; optional grid."""
    d1 = min(SLOPE_DELTA, lam / 2, (1 - lam) / 2)
    out = []
    for c in range(K):
        out.append(Task(c, c, lam, "same"))
        for c2 in range(K):
            if c2 == c:
                continue
            out += [Task(c, c2, lam, "lam"), Task(c, c2, 0.5, "half"), Task(c, c2, 1 / 3, "third"),
                    Task(c, c2, lam + d1, "slope+1"), Task(c, c2, lam - d1, "slope-1"),
                    Task(c, c2, lam + d1 / 2, "slope+2"), Task(c, c2, lam - d1 / 2, "slope-2")]
            out += [Task(c, c2, float(g), "grid") for g in grid]
    return out


@closed_form
def targets(K: int, ts: list[Task]) -> np.ndarray:
    Y = np.zeros((len(ts), K))
    for i, t in enumerate(ts):
        Y[i, t.c] += t.lam
        Y[i, t.c2] += 1 - t.lam
    return Y


@closed_form
def slope_delta(lam: float) -> float:
    return min(SLOPE_DELTA, lam / 2, (1 - lam) / 2)


@closed_form
def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _solve_one(W: np.ndarray, y: np.ndarray, beta: float, h0: np.ndarray):
    def fun(h):
        z = W @ h
        m = z.max()
        return m + np.log(np.exp(z - m).sum()) - y @ z + beta / 2 * h @ h

    def jac(h):
        return W.T @ (_softmax(W @ h) - y) + beta * h

    def hess(h):
        p = _softmax(W @ h)
        return W.T @ (np.diag(p) - np.outer(p, p)) @ W + beta * np.eye(len(h))

    r = optimize.minimize(fun, h0, jac=jac, hess=hess, method="trust-exact", options={"gtol": 1e-14, "maxiter": 500})
    h, g = r.x, jac(r.x)
    for _ in range(5):          # Newton polish: trust-exact may stop on its radius near 1e-8
        hn = h - np.linalg.solve(hess(h), g)
        gn = jac(hn)
        if not np.linalg.norm(gn) < np.linalg.norm(g):
            break
        h, g = hn, gn
    return h, float(np.linalg.norm(g)), int(r.nit)


@closed_form
def measure(W: np.ndarray, H: np.ndarray, ts: list[Task], lam: float) -> dict[str, np.ndarray]:
    """The claim's quantities from features H (N×d), one row per task (same order)."""
    Z = H @ W.T
    rows = {}
    for i, t in enumerate(ts):
        rows.setdefault(t.tag, []).append(i)

    def coef(i, t):
        B = W[[t.c, t.c2]].T if t.c != t.c2 else W[[t.c]].T
        x, *_ = np.linalg.lstsq(B, H[i], rcond=None)
        return x, float(np.linalg.norm(H[i] - B @ x))

    def gap(i, t):
        return Z[i, t.c] - Z[i, t.c2]

    out: dict[str, list] = {k: [] for k in ("a", "b", "gap", "others_spread", "out_of_span", "half_coef", "gap_half",
                                            "a_third", "b_third", "gap_third", "same_coef", "same_perp")}
    for i in rows["lam"]:
        t = ts[i]
        (a, b), r = coef(i, t)
        others = np.delete(Z[i], [t.c, t.c2])
        out["a"].append(a), out["b"].append(b), out["gap"].append(gap(i, t)), out["out_of_span"].append(r)
        out["others_spread"].append(others.max() - others.min() if others.size else 0.0)
    for i in rows["half"]:
        (a, b), r = coef(i, ts[i])
        out["half_coef"] += [a, b]
        out["gap_half"].append(gap(i, ts[i]))
        out["out_of_span"].append(r)
    for i in rows["third"]:
        (a, b), r = coef(i, ts[i])
        out["a_third"].append(a), out["b_third"].append(b), out["gap_third"].append(gap(i, ts[i]))
    for i in rows["same"]:
        (u,), r = coef(i, ts[i])
        out["same_coef"].append(u), out["same_perp"].append(r)
    g = {k: np.array([gap(i, ts[i]) for i in rows[k]]) for k in ("slope+1", "slope-1", "slope+2", "slope-2")}
    d1 = slope_delta(lam)
    D1 = (g["slope+1"] - g["slope-1"]) / (2 * d1)
    D2 = (g["slope+2"] - g["slope-2"]) / d1
    res = {k: np.array(v, dtype=float) for k, v in out.items()}
    res["gap_slope"] = (4 * D2 - D1) / 3            # Richardson: O(δ⁴)
    return res


@closed_form
def etf_classifier(K: int, d: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """W = s·Mᵀ (K×d), M a simplex ETF built numerically (numerics.etf) and rotated at random."""
    return s * simplex_etf(K, d, rng).T


def optimal_features(K: int, d: int, s: float, beta: float, lam: float, rng: np.random.Generator, grid=()):
    """Minimize every task's f(h) over R^d; returns (W, H, tasks, info)."""
    W = etf_classifier(K, d, s, rng)
    ts = tasks(K, lam, grid)
    Y = targets(K, ts)
    H = np.zeros((len(ts), d))
    gnorms, its = [], []
    for i in range(len(ts)):
        H[i], g, it = _solve_one(W, Y[i], beta, rng.standard_normal(d))
        gnorms.append(g), its.append(it)
    info = {"examples": len(ts), "grad_norm": float(max(gnorms)), "max_iterations": int(max(its)),
            "method": "scipy trust-exact (exact Hessian) + Newton polish, one problem per example over all of R^d"}
    return W, H, ts, info
