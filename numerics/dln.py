"""Deep linear unconstrained features, the numeric route: scipy L-BFGS on the full model.

f = (1/(2N))‖W_M⋯W_1 H − Y‖² + (λ_W/2)Σ‖W_l‖² + (λ_H/2)‖H‖² with analytic gradients (numpy),
all widths d, from several random starts; the best run is reported with how many starts reached
it (depth ≥ 2 has rank-deficient local minima, so a start may stop in another basin).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from numerics import closed_form


@dataclass
class DeepLinear:
    counts: tuple[int, ...]
    d: int
    M: int
    lam_W: float
    lam_H: float
    bias: bool = False          # an unregularized last-layer bias b: logits W_M⋯W_1 H + b 1ᵀ
    loss: str = "mse"           # "mse": (1/(2N))‖Z − Y‖²;  "ce": (1/N) Σ_i CE(z_i, y_i)

    def __post_init__(self):
        K = len(self.counts)
        if K < 2:
            raise ValueError(f"counts={self.counts}: need K >= 2 classes")
        if min(self.counts) < 1:
            raise ValueError(f"counts={self.counts}: every class needs a sample")
        if self.d < K:
            raise ValueError(f"d={self.d}: the orthogonal frame needs d >= K={K}")
        if self.loss not in ("mse", "ce"):
            raise ValueError(f"loss={self.loss!r}: expected 'mse' or 'ce'")
        if self.M < 1:
            raise ValueError(f"M={self.M}: need at least one weight matrix")
        if self.lam_W <= 0 or self.lam_H <= 0:
            raise ValueError(f"lam_W={self.lam_W}, lam_H={self.lam_H}: need positive weight decay")
        self.labels = np.repeat(np.arange(K), self.counts)
        self.N = int(sum(self.counts))
        self.Y = np.eye(K)[:, self.labels]
        self.shapes = [(K if l == self.M - 1 else self.d, self.d) for l in range(self.M)] + [(self.d, self.N)]
        if self.bias:
            self.shapes.append((K, 1))

    def unpack(self, x):
        """(Ws, H), plus b when the model has a bias."""
        out, i = [], 0
        for r, c in self.shapes:
            out.append(x[i:i + r * c].reshape(r, c))
            i += r * c
        if self.bias:
            return out[:-2], out[-2], out[-1]
        return out[:-1], out[-1]

    def size(self) -> int:
        return sum(r * c for r, c in self.shapes)

    @closed_form
    def value_and_grad(self, x):
        Ws, H, *b = self.unpack(x)
        prefix = [H]                                   # prefix[l] = W_l ⋯ W_1 H
        for W in Ws:
            prefix.append(W @ prefix[-1])
        Z = prefix[-1] + (b[0] if b else 0.0)
        if self.loss == "ce":
            shifted = Z - Z.max(axis=0, keepdims=True)
            log_norm = np.log(np.exp(shifted).sum(axis=0))
            fit = float(np.mean(log_norm - shifted[self.labels, np.arange(self.N)]))
            R = (np.exp(shifted - log_norm) - self.Y) / self.N          # ∂fit/∂Z = (softmax − Y)/N
        else:
            R = (Z - self.Y) / self.N
            fit = 0.5 * self.N * np.sum(R * R)
        f = fit + 0.5 * self.lam_W * sum(np.sum(W * W) for W in Ws) \
            + 0.5 * self.lam_H * np.sum(H * H)
        grads, G = [None] * self.M, R                  # G = (W_M⋯W_{l+1})ᵀ R, built from the top
        for l in range(self.M - 1, -1, -1):
            grads[l] = G @ prefix[l].T + self.lam_W * Ws[l]
            G = Ws[l].T @ G
        gH = G + self.lam_H * H
        extra = [R.sum(1)] if b else []
        return f, np.concatenate([g.ravel() for g in grads] + [gH.ravel()] + extra)

    @closed_form
    def product_means(self, x):
        """(W_M⋯W_1 H̄) and H̄: class means of the product and of the features."""
        Ws, H = self.unpack(x)[:2]
        P = np.eye(Ws[0].shape[1])
        for W in Ws:
            P = W @ P
        Hbar = np.stack([H[:, self.labels == k].mean(1) for k in range(len(self.counts))], axis=1)
        return P @ Hbar, Hbar


def multistart(problem: DeepLinear, rng: np.random.Generator, starts: int = 6, gtol: float = 1e-12,
               scale: float = 0.5) -> dict:
    runs = []
    for _ in range(starts):
        x0 = scale * rng.standard_normal(problem.size())
        r = minimize(problem.value_and_grad, x0, jac=True, method="L-BFGS-B",
                     options={"maxiter": 50000, "maxfun": 100000, "gtol": gtol, "ftol": 1e-300, "maxcor": 30})
        runs.append((r.fun, r.x, float(np.abs(r.jac).max()), r.nit))
    best = min(runs, key=lambda q: q[0])
    return {"f": best[0], "x": best[1], "grad_max": best[2], "iterations": best[3],
            "values": [q[0] for q in runs], "grad_maxes": [q[2] for q in runs]}
