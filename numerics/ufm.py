"""Unconstrained-features models in numpy/scipy: the objective, its gradient, and a
multistart L-BFGS minimizer on the full (W, H, b).

This is the *numeric* route, independent of the torch engine in
:mod:`simulations.ufm` (different code, different optimizer).  The objective is the
one every UFM claim states::

    f(W, H, b) = (1/N) Σ_i ℓ(W h_i + b, y_i) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²

ℓ = cross-entropy (``"ce"``) or ½‖z − e_y‖² (``"mse"``); samples ordered class by
class, ``counts`` = n or (n_1, …, n_K).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize as scipy_minimize
from scipy.sparse.linalg import LinearOperator, minres
from scipy.special import logsumexp, softmax
from numerics import closed_form


@dataclass(frozen=True)
class Problem:
    loss: str
    K: int
    d: int
    counts: tuple[int, ...]
    lambda_W: float
    lambda_H: float
    lambda_b: float = 0.0
    bias: bool = True

    @staticmethod
    def make(loss: str, K: int, d: int, counts, lambda_W: float, lambda_H: float, lambda_b: float = 0.0,
             bias: bool = True) -> "Problem":
        if loss not in ("ce", "mse"):
            raise ValueError(f"loss={loss!r}: expected 'ce' or 'mse'")
        if K < 2:
            raise ValueError(f"K={K}: need K >= 2 classes")
        if d < 1:
            raise ValueError(f"d={d}: need d >= 1")
        counts = tuple([int(counts)] * K) if np.ndim(counts) == 0 else tuple(int(c) for c in counts)
        if len(counts) != K or min(counts) < 1:
            raise ValueError(f"counts={counts}: need K={K} class counts, each >= 1 (an empty class is not allowed)")
        for name, lam in (("lambda_W", lambda_W), ("lambda_H", lambda_H), ("lambda_b", lambda_b)):
            if not (np.isfinite(lam) and lam >= 0):
                raise ValueError(f"{name}={lam}: regularization must be finite and >= 0")
        return Problem(loss, K, d, counts, float(lambda_W), float(lambda_H), float(lambda_b), bias)

    @property
    def N(self) -> int:
        return sum(self.counts)

    @property
    def labels(self) -> np.ndarray:
        return np.repeat(np.arange(self.K), self.counts)

    @property
    def Y(self) -> np.ndarray:
        Y = np.zeros((self.K, self.N))
        Y[self.labels, np.arange(self.N)] = 1.0
        return Y

    @property
    def size(self) -> int:
        return self.K * self.d + self.d * self.N + (self.K if self.bias else 0)

    def unpack(self, v: np.ndarray):
        K, d, N = self.K, self.d, self.N
        W = v[:K * d].reshape(K, d)
        H = v[K * d:K * d + d * N].reshape(d, N)
        b = v[K * d + d * N:] if self.bias else np.zeros(K)
        return W, H, b

    def pack(self, W, H, b=None) -> np.ndarray:
        parts = [np.ravel(W), np.ravel(H)] + ([np.ravel(b if b is not None else np.zeros(self.K))] if self.bias else [])
        return np.concatenate(parts)

    @closed_form
    def value_and_grad(self, v: np.ndarray, Y: np.ndarray | None = None):
        Y = self.Y if Y is None else Y
        W, H, b = self.unpack(v)
        Z = W @ H + b[:, None]
        if self.loss == "ce":
            data = float(np.sum(logsumexp(Z, axis=0) - np.sum(Z * Y, axis=0))) / self.N
            G = (softmax(Z, axis=0) - Y) / self.N
        else:
            R = Z - Y
            data = 0.5 * float(np.sum(R * R)) / self.N
            G = R / self.N
        f = data + 0.5 * (self.lambda_W * np.sum(W * W) + self.lambda_H * np.sum(H * H))
        gW = G @ H.T + self.lambda_W * W
        gH = W.T @ G + self.lambda_H * H
        gb = None
        if self.bias:
            f += 0.5 * self.lambda_b * float(b @ b)
            gb = G.sum(axis=1) + self.lambda_b * b
        return f, self.pack(gW, gH, gb)


@dataclass
class MultiStart:
    """Best of several L-BFGS runs; ``values`` holds every start's final objective."""

    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    f: float
    values: np.ndarray
    grad_norms: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return bool(np.all(self.grad_norms <= self.info["gtol"]))


def lbfgs_multistart(problem: Problem, rng: np.random.Generator, starts: int = 3, *, scale: float = 1.0,
                     gtol: float = 1e-9, maxiter: int = 20000) -> MultiStart:
    """scipy L-BFGS-B on the full (W, H, b) from Gaussian starts; reports every start.

    ``ftol`` is 0 so that it stops on the projected gradient (``gtol``, max-norm) or
    the iteration budget; the Euclidean gradient norm is recomputed and reported."""
    if starts < 1:
        raise ValueError(f"starts={starts}: need at least one")
    Y = problem.Y
    fun = lambda v: problem.value_and_grad(v, Y)  # noqa: E731
    best, values, gnorms, iters = None, [], [], []
    for _ in range(starts):
        v0 = rng.standard_normal(problem.size) * scale / np.sqrt(problem.d)
        if problem.bias:
            v0[-problem.K:] = 0.0
        res = scipy_minimize(fun, v0, jac=True, method="L-BFGS-B",
                             options={"maxiter": maxiter, "maxfun": 4 * maxiter, "ftol": 0.0,
                                      "gtol": gtol / (10 * np.sqrt(problem.size)), "maxcor": 30})
        v, nit = res.x, int(res.nit)
        if np.linalg.norm(fun(v)[1]) > gtol:
            v, newton = newton_polish(fun, v, gtol)
            nit += newton
        f, g = fun(v)
        res.x = v
        values.append(f)
        gnorms.append(float(np.linalg.norm(g)))
        iters.append(nit)
        if best is None or f < best[0]:
            best = (f, res.x)
    W, H, b = problem.unpack(best[1])
    return MultiStart(W, H, b, best[0], np.array(values), np.array(gnorms),
                      {"method": "scipy L-BFGS-B", "starts": starts, "iterations": iters, "gtol": gtol,
                       "grad_norm": float(max(gnorms))})


def newton_polish(fun, v: np.ndarray, gtol: float, max_iter: int = 30) -> tuple[np.ndarray, int]:
    """Newton steps on the gradient, for the last digits L-BFGS cannot reach.

    Near a minimum f − f* ~ ‖g‖²/μ falls below the rounding of f, and a line search on
    f stalls.  Here each step solves ∇²f p = −g by MINRES (Hessian-vector products by
    central differences of the gradient; MINRES tolerates the zero curvature along the
    optimum's symmetry orbit) and is accepted when it lowers ‖g‖ (halving up to 20 times).
    """
    g = fun(v)[1]
    gn = np.linalg.norm(g)
    it = 0
    for it in range(1, max_iter + 1):
        if gn <= gtol:
            return v, it - 1
        h = 1e-6 * (1.0 + np.linalg.norm(v)) / np.sqrt(v.size)
        hess = LinearOperator((v.size, v.size), dtype=np.float64,
                              matvec=lambda q: (fun(v + h * q)[1] - fun(v - h * q)[1]) / (2 * h))
        p = minres(hess, -g, rtol=1e-10, maxiter=10 * v.size)[0]
        t = 1.0
        for _ in range(20):
            g_new = fun(v + t * p)[1]
            if np.linalg.norm(g_new) < gn:
                v, g, gn = v + t * p, g_new, np.linalg.norm(g_new)
                break
            t /= 2
        else:
            return v, it
    return v, it


@closed_form
def class_means(problem: Problem, H: np.ndarray) -> np.ndarray:
    """d×K matrix of class means of the columns of H."""
    out = np.zeros((problem.d, problem.K))
    start = 0
    for k, c in enumerate(problem.counts):
        out[:, k] = H[:, start:start + c].mean(axis=1)
        start += c
    return out


@closed_form
def within_class_spread(problem: Problem, H: np.ndarray) -> float:
    """max_k,i ‖h_{k,i} − h̄_k‖ (0 under NC1)."""
    M = class_means(problem, H)
    return float(np.max(np.linalg.norm(H - M[:, problem.labels], axis=0)))
