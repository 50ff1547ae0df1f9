"""Scaling of the optimal ridge after recursive retraining, the simulation route: random designs.

Each design's sample covariance Σ̂ = Σ^{1/2} (W/T) Σ^{1/2}, W ~ Wishart_d(T, I) drawn by the Bartlett
decomposition (so T can be 10⁵ at the cost of a d×d matrix), is diagonalized once in torch; the test
error given the design, for every λ on a grid, is then exact over the generation chain and the noise
(the decomposition of model_collapse.ridge, which that claim checks by simulating whole chains):
E(λ | X) = λ²‖Σ^{1/2}R w₀‖² + σ² tr(RΣ̂RΣ)/T + n σ0² tr[(I−λR)Σ(I−λR)Σ⁻¹]/(T0 − d − 1).
"""
from __future__ import annotations

import numpy as np
import torch

from simulations.device import flush_denormals, resolve_device


def bartlett(d: int, T: int, rng: np.random.Generator) -> np.ndarray:
    """A lower-triangular A with W = AAᵀ ~ Wishart_d(T, I) (T ≥ d)."""
    if T < d:
        raise ValueError(f"T={T}: the Bartlett draw needs T >= d={d} (a nonsingular Wishart)")
    A = np.tril(rng.standard_normal((d, d)), -1)
    A[np.diag_indices(d)] = np.sqrt(rng.chisquare(T - np.arange(d)))
    return A


class Design:
    """One drawn design, diagonalized: conditional error curves over a λ grid."""

    def __init__(self, s: np.ndarray, w0: np.ndarray, T: int, rng: np.random.Generator, device: str = "auto"):
        self.dev = resolve_device(device)
        d = s.size
        A = bartlett(d, T, rng)
        root = np.sqrt(s)
        cov = (root[:, None] * (A @ A.T) * root[None, :]) / T
        with flush_denormals():
            e, U = torch.linalg.eigh(torch.as_tensor(cov, device=self.dev))
        self.e, self.U, self.T = e.clamp_min(0.0), U, T
        st = torch.as_tensor(s, device=self.dev)
        Q = U.T @ (st[:, None] * U)                       # UᵀΣU
        P = U.T @ ((1.0 / st)[:, None] * U)               # UᵀΣ⁻¹U
        self.PQ, self.Qdiag, self.s = P * Q, torch.diagonal(Q), st
        self.c = U.T @ torch.as_tensor(np.asarray(w0, dtype=np.float64), device=self.dev)

    def curves(self, lams: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """(clean error, g) at each λ, given this design."""
        lam = torch.as_tensor(np.asarray(lams, dtype=np.float64), device=self.dev)[:, None]
        a = self.e / (self.e + lam)                                            # eigenvalues of I − λR
        g = ((a @ self.PQ) * a).sum(-1)
        Rw = (self.c / (self.e + lam)) @ self.U.T                              # (R w₀)ᵀ per λ
        bias = lam[:, 0] ** 2 * (Rw**2 * self.s).sum(-1)
        var = sigma**2 / self.T * ((self.e / (self.e + lam) ** 2) * self.Qdiag).sum(-1)
        return (bias + var).cpu().numpy(), g.cpu().numpy()


def grid_minimum(lams: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(λ*, E*) from a log-spaced grid, refined by a parabola through the three best points in log λ."""
    i = int(np.argmin(values))
    if i in (0, len(lams) - 1):
        raise ValueError(f"the optimal ridge {lams[i]:.3g} sits on the grid's end [{lams[0]:.3g}, {lams[-1]:.3g}]")
    x, y = np.log(lams[i - 1:i + 2]), values[i - 1:i + 2]
    a, b, c = np.polyfit(x, y, 2)
    xs = -b / (2 * a)
    return float(np.exp(xs)), float(c - b * b / (4 * a))
