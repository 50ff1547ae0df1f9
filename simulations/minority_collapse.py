"""Projected gradient descent on the imbalanced CE layer-peeled model (Fang et al. 2021), in torch.

Variables: classifiers W (K×d) and class-mean features H̄ (K×d) (the NC1 reduction: CE is
convex in h and the feature budget a per-class mean of squares), objective
Σ_k ω_k CE(W h̄_k, k) with ω_k = n_k/N, budgets (1/K)‖W‖_F² <= E_W, (1/K)‖H̄‖_F² <= E_H.
Non-convex in (W, H̄).  From Gaussian starts inside the balls: projected gradient with
Armijo backtracking (per start, batched), then torch L-BFGS on log f over the two
spheres for each start; each result is checked as a KKT point of the ball problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


def _weights(K_A: int, K_B: int, R: float) -> list[float]:
    s = K_A * R + K_B
    return [R / s] * K_A + [1.0 / s] * K_B


def _loss(W: torch.Tensor, H: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """Batched Σ_k ω_k CE(W h̄_k, k); W, H: S×K×d."""
    Z = W @ H.transpose(1, 2)                                   # Z[s, j, k] = w_jᵀ h̄_k
    ce = torch.logsumexp(Z, dim=1) - torch.diagonal(Z, dim1=1, dim2=2)
    return (ce * omega).sum(1)


def _project(W, H, rW, rH):
    sW = torch.clamp(rW / W.flatten(1).norm(dim=1), max=1.0).view(-1, 1, 1)
    sH = torch.clamp(rH / H.flatten(1).norm(dim=1), max=1.0).view(-1, 1, 1)
    return W * sW, H * sH


@dataclass
class PGResult:
    W: np.ndarray            # S×K×d
    H: np.ndarray            # S×K×d
    loss: np.ndarray         # S
    mult_W: np.ndarray
    mult_H: np.ndarray
    kkt_residual: np.ndarray  # S, ball-problem Lagrangian gradient norm over f
    converged: bool
    info: dict = field(default_factory=dict)

    @property
    def best(self) -> int:
        return int(np.argmin(self.loss))


def projected_gradient(K_A: int, K_B: int, R: float, E_W: float, E_H: float, d: int, *, starts: int = 4,
                       seed: int = 0, pg_steps: int = 50, kkt_tol: float = 1e-7) -> PGResult:
    """Minimize from ``starts`` Gaussian starts (a quarter of each budget radius)."""
    K = K_A + K_B
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64
    omega = torch.tensor(_weights(K_A, K_B, R), dtype=dt)
    rW, rH = (K * E_W) ** 0.5, (K * E_H) ** 0.5
    W = torch.randn(starts, K, d, generator=g, dtype=dt)
    H = torch.randn(starts, K, d, generator=g, dtype=dt)
    W = 0.25 * rW * W / W.flatten(1).norm(dim=1).view(-1, 1, 1)
    H = 0.25 * rH * H / H.flatten(1).norm(dim=1).view(-1, 1, 1)

    def fg(W, H):
        W, H = W.detach().requires_grad_(), H.detach().requires_grad_()
        f = _loss(W, H, omega)
        gW, gH = torch.autograd.grad(f.sum(), (W, H))
        return f.detach(), gW, gH

    f, gW, gH = fg(W, H)
    eta = torch.ones(starts, 1, 1, dtype=dt)
    for _ in range(pg_steps):                                     # projected gradient, Armijo
        eta = eta * 2
        for _ in range(60):
            Wn, Hn = _project(W - eta * gW, H - eta * gH, rW, rH)
            fn, gWn, gHn = fg(Wn, Hn)
            dsq = ((Wn - W) ** 2).sum((1, 2)) + ((Hn - H) ** 2).sum((1, 2))
            ok = fn <= f - 1e-4 * dsq / eta.view(-1)
            if bool(ok.all()):
                break
            eta = torch.where(ok.view(-1, 1, 1), eta, eta / 2)
        o = ok.view(-1, 1, 1)
        W, H, gW, gH, f = (torch.where(o, Wn, W), torch.where(o, Hn, H), torch.where(o, gWn, gW),
                           torch.where(o, gHn, gH), torch.where(ok, fn, f))
    # L-BFGS on log f over the spheres, per start: W = rW U/‖U‖, H = rH V/‖V‖.
    Ws, Hs, its = [], [], []
    for s in range(starts):
        U = W[s].clone().requires_grad_()
        V = H[s].clone().requires_grad_()
        opt = torch.optim.LBFGS([U, V], lr=1, max_iter=5000, tolerance_grad=1e-13, tolerance_change=0,
                                history_size=30, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            val = torch.log(_loss((rW * U / U.norm())[None], (rH * V / V.norm())[None], omega)[0])
            val.backward()
            return val

        opt.step(closure)
        its.append(int(opt.state[opt._params[0]]["n_iter"]))
        Ws.append((rW * U / U.norm()).detach())
        Hs.append((rH * V / V.norm()).detach())
    W, H = torch.stack(Ws), torch.stack(Hs)
    f, gW, gH = fg(W, H)
    mW = -K * (gW * W).sum((1, 2)) / (2 * (W * W).sum((1, 2)))
    mH = -K * (gH * H).sum((1, 2)) / (2 * (H * H).sum((1, 2)))
    res = torch.sqrt(((gW + (2 * mW / K).view(-1, 1, 1) * W) ** 2).sum((1, 2))
                     + ((gH + (2 * mH / K).view(-1, 1, 1) * H) ** 2).sum((1, 2))) / f
    mW, mH, res = mW.numpy(), mH.numpy(), res.numpy()
    ok = bool(np.all(res <= kkt_tol) and np.all(mW > 0) and np.all(mH > 0))
    info = {"starts": starts, "pg_steps": pg_steps, "lbfgs_iterations": its, "kkt_residual": float(res.max()),
            "kkt_tol": kkt_tol, "losses": f.numpy().tolist()}
    return PGResult(W.numpy(), H.numpy(), f.numpy(), mW, mH, res, ok, info)
