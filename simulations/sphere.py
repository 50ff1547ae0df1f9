"""Riemannian gradient descent for K points on the unit sphere S^{d−1}, in torch.

Several random starts run as one batched tensor program (shape S×d×K), on CUDA
when present.  Each step moves along the negative Riemannian gradient (the
Euclidean gradient with its radial part removed) and retracts by normalizing the
columns; the step size is chosen per start by Armijo backtracking, so every
start monotonically decreases its energy.  Convergence means the Riemannian
gradient norm fell below ``gtol``; a run that stops on ``max_steps`` says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from simulations.device import resolve_device

Energy = Callable[[torch.Tensor], torch.Tensor]   # Gram (S×K×K) → energy per start (S,)


def exp_energy(tau: float = 1.0) -> Energy:
    """(1/(K(K−1))) Σ_{i≠j} exp((⟨x_i, x_j⟩ − 1)/τ): a smooth surrogate of max_{i≠j}⟨x_i, x_j⟩.

    By Jensen and ‖Σx‖² >= 0 its minimizer over K <= d+1 points is exactly the simplex
    ETF for every τ > 0; the regular polygon (d = 2) and the cross-polytope (K = 2d)
    are its minimizers too (universal optimality, Cohn & Kumar 2007).
    """
    if not tau > 0:
        raise ValueError(f"tau={tau} must be positive")

    def energy(G: torch.Tensor) -> torch.Tensor:
        K = G.shape[-1]
        off = ~torch.eye(K, dtype=torch.bool, device=G.device)
        return torch.exp((G[:, off] - 1) / tau).sum(-1) / (K * (K - 1))   # shifted: no overflow

    return energy


def frame_potential(G: torch.Tensor) -> torch.Tensor:
    """Σ_{i,j}⟨x_i, x_j⟩² (Benedetto & Fickus 2003)."""
    return (G * G).sum((-2, -1))


@dataclass
class FlowResult:
    X: np.ndarray            # S×d×K final points (unit columns), float64
    energy: np.ndarray       # S final energies
    grad_norm: np.ndarray    # S final Riemannian gradient norms
    steps: int
    converged: bool          # every start reached grad_norm <= gtol
    device: str
    gtol: float

    @property
    def best(self) -> int:
        return int(np.argmin(self.energy))

    def summary(self) -> dict:
        return {"steps": self.steps, "grad_norm": float(self.grad_norm.max()), "gtol": self.gtol,
                "converged": self.converged, "device": self.device, "starts": int(self.X.shape[0]),
                "energies": [float(e) for e in self.energy]}


def sphere_descent(energy: Energy, K: int, d: int, *, starts: int = 4, seed: int = 0,
                   device: str = "auto", dtype: torch.dtype = torch.float64,
                   gtol: float = 1e-12, max_steps: int = 20000, step: float = 1.0) -> FlowResult:
    """Minimize ``energy(XᵀX)`` over X ∈ (S^{d−1})^K from ``starts`` Gaussian starts."""
    if K < 2:
        raise ValueError(f"K={K}: need K >= 2")
    if d < 1:
        raise ValueError(f"d={d}: need d >= 1")
    if starts < 1:
        raise ValueError(f"starts={starts}: need at least one start")
    if not (gtol > 0 and max_steps > 0):
        raise ValueError(f"gtol={gtol} and max_steps={max_steps} must be positive")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    X = torch.randn(starts, d, K, generator=gen, dtype=dtype).to(dev)
    X = X / X.norm(dim=1, keepdim=True)
    eta = torch.full((starts, 1, 1), float(step), dtype=dtype, device=dev)

    def value_and_rgrad(X: torch.Tensor):
        X = X.detach().requires_grad_(True)
        E = energy(X.transpose(1, 2) @ X)
        (g,) = torch.autograd.grad(E.sum(), X)
        rg = g - X * (X * g).sum(1, keepdim=True)           # tangent projection
        return E.detach(), rg.detach()

    E, rg = value_and_rgrad(X)
    gnorm = rg.flatten(1).norm(dim=1)
    stalled = torch.zeros(starts, dtype=torch.bool, device=dev)
    eps = torch.finfo(dtype).eps
    steps = 0
    while steps < max_steps:
        active = (gnorm > gtol) & ~stalled
        if not bool(active.any()):
            break
        # Near the optimum the decrease η‖g‖² falls below the rounding noise of E and an
        # energy test can no longer tell good steps from bad: there, a step is accepted
        # when it shrinks the gradient norm instead (and the step size stops growing).
        floor = eta.view(-1) * gnorm**2 < 100 * eps * E.abs()
        accepted = torch.zeros(starts, dtype=torch.bool, device=dev)
        armijo = torch.zeros(starts, dtype=torch.bool, device=dev)
        Xa, Ea, rga = X, E, rg
        for _ in range(40):                                  # backtracking, per start
            Xn = X - eta * rg
            Xn = Xn / Xn.norm(dim=1, keepdim=True)
            En, rgn = value_and_rgrad(Xn)
            gn = rgn.flatten(1).norm(dim=1)
            ok_armijo = En <= E - 1e-4 * eta.view(-1) * gnorm**2
            ok = torch.where(floor, gn < gnorm, ok_armijo) & ~accepted
            take = ok.view(-1, 1, 1)
            Xa, rga = torch.where(take, Xn, Xa), torch.where(take, rgn, rga)
            Ea = torch.where(ok, En, Ea)
            armijo = armijo | (ok & ~floor)
            accepted = accepted | ok
            if bool(accepted[active].all()):
                break
            eta = torch.where((~accepted).view(-1, 1, 1), eta / 2, eta)
        move = accepted & active
        stalled = stalled | (active & ~accepted)
        X = torch.where(move.view(-1, 1, 1), Xa, X)
        rg = torch.where(move.view(-1, 1, 1), rga, rg)
        E = torch.where(move, Ea, E)
        gnorm = rg.flatten(1).norm(dim=1)
        eta = torch.where((move & armijo).view(-1, 1, 1), eta * 1.5, eta)
        steps += 1
    return FlowResult(X.detach().cpu().numpy(), E.cpu().numpy(), gnorm.cpu().numpy(), steps,
                      bool((gnorm <= gtol).all()), str(dev), gtol)
