"""Gradient descent and flow for the perturbation-analysis claims (torch, float64; THEORY.md §6).

Objective (N = Kn, Y = I_K ⊗ 1_nᵀ): L(W, H) = (1/(2N))‖WH − Y‖² + (λ_W/2)‖W‖² + (γ/(2N))‖H − H_0‖².
The UFM engine (simulations/ufm.py) penalizes λ_H‖H‖², not ‖H − H_0‖², so these small routines
take its place.  Gradients are written out (checked against autograd in tests).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


def _t(a, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64, device=device)


def labels(K: int, n: int, device=None) -> torch.Tensor:
    return torch.kron(torch.eye(K, dtype=torch.float64, device=device),
                      torch.ones(1, n, dtype=torch.float64, device=device))


@dataclass
class Descent:
    steps: int
    grad_max: float
    gtol: float

    @property
    def converged(self) -> bool:
        return self.grad_max <= self.gtol

    def summary(self) -> dict:
        return {"steps": self.steps, "grad_max": self.grad_max, "gtol": self.gtol}


# --------------------------------------------------------------------------- 1. fixed W


def contraction_descent(W, H0, gamma, K, n, gtol=1e-13, max_steps=200000, device="auto"):
    """Gradient descent on H ↦ (1/(2N))‖WH − Y‖² + (γ/(2N))‖H − H_0‖² from H = 0, with the step
    2/(λ_max + λ_min) of its Hessian (WᵀW + γI)/N (the forward-Euler flow at the fastest stable rate)."""
    dev = resolve_device(device)
    with cpu_threads(dev):
        W, H0 = _t(W, dev), _t(H0, dev)
        N, d = K * n, W.shape[1]
        Y = labels(K, n, dev)
        ev = torch.linalg.eigvalsh(W.T @ W)
        lr = 2 * N / (float(ev[-1]) + float(ev[0]) + 2 * gamma)
        H = torch.zeros(d, N, dtype=torch.float64, device=dev)
        g = float("inf")
        for step in range(1, max_steps + 1):
            grad = (W.T @ (W @ H - Y) + gamma * (H - H0)) / N
            g = float(grad.abs().max())
            if g <= gtol:
                break
            H = H - lr * grad
        return H.cpu().numpy(), Descent(step, g, gtol)


# --------------------------------------------------------------------------- 2. joint (W, H), batched


def joint_grad(W, H, H0, Y, gamma, lambda_W):
    """Batched (S, K, d), (S, d, N): the gradients of L in W and H."""
    N = H.shape[-1]
    R = W @ H - Y
    return R @ H.transpose(-1, -2) / N + lambda_W * W, (W.transpose(-1, -2) @ R + gamma * (H - H0)) / N


def joint_descent(W, H, H0, K, n, gamma, lambda_W, lr, gtol=1e-15, max_steps=100000, momentum=0.9,
                  device="auto"):
    """Heavy-ball gradient descent x ← x − lr·∇L(x) + momentum·(x − x_prev) on each of S problems
    (batched); stops when every gradient is <= gtol.  ``gamma``, ``lambda_W``: scalars or length-S arrays."""
    dev = resolve_device(device)
    with cpu_threads(dev):
        W, H, H0 = _t(W, dev).clone(), _t(H, dev).clone(), _t(H0, dev)
        if np.ndim(gamma):
            gamma = _t(gamma, dev).reshape(-1, 1, 1)
        if np.ndim(lambda_W):
            lambda_W = _t(lambda_W, dev).reshape(-1, 1, 1)
        Y = labels(K, n, dev)
        g = float("inf")
        vW, vH = torch.zeros_like(W), torch.zeros_like(H)
        for step in range(1, max_steps + 1):
            gW, gH = joint_grad(W, H, H0, Y, gamma, lambda_W)
            if step % 50 == 1 or step == max_steps:
                g = max(float(gW.abs().max()), float(gH.abs().max()))
                if g <= gtol:
                    break
            vW = momentum * vW - lr * gW
            vH = momentum * vH - lr * gH
            W += vW
            H += vH
        return W.cpu().numpy(), H.cpu().numpy(), Descent(step, g, gtol)


def stable_step(W, H, gamma, lambda_W) -> float:
    """1/L with L a bound on the Hessian's norm near (W, H): ‖H‖²/N + λ_W + (‖W‖² + γ)/N + 2‖W‖‖H‖/N."""
    N = H.shape[-1]
    sH, sW = np.linalg.norm(H, 2), np.linalg.norm(W, 2)
    return 1.0 / (sH ** 2 / N + lambda_W + (sW ** 2 + gamma) / N + 2 * sW * sH / N + 1.0 / N)


def near_collapse_descent(M0, E, eps, W_start, K, n, gamma, lambda_W, device="auto"):
    """GD at ε = 0 from (W_start, M0), then GD at every ε (batched) from that minimizer."""
    lr = 0.9 * stable_step(W_start, M0, gamma, lambda_W)
    W0, H0s, d0 = joint_descent(W_start[None], M0[None], M0[None], K, n, gamma, lambda_W, lr, device=device)
    H0 = np.stack([M0 + e * E for e in eps])
    S = len(eps)
    Ws, Hs, d1 = joint_descent(np.repeat(W0, S, 0), np.repeat(H0s, S, 0), H0, K, n, gamma, lambda_W, lr,
                               device=device)
    return W0[0], H0s[0], Ws, Hs, d0, d1, lr


# --------------------------------------------------------------------------- 3. central-path flow


def central_path_flow(H0, K, n, lambda_W, h, fine_steps, T, coarse, device="auto"):
    """RK4 on Ḣ = −(1/N)W*(H)ᵀ(W*(H)H − Y), W*(H) = YHᵀ(HHᵀ + Nλ_W I)⁻¹ (solved each stage):
    ``fine_steps`` steps of h, then equal steps of at most ``coarse`` up to T.  Returns times and Tr Σ_W(t)."""
    dev = resolve_device(device)
    with cpu_threads(dev):
        H = _t(H0, dev)
        d, N = H.shape
        Y = labels(K, n, dev)
        I = torch.eye(d, dtype=torch.float64, device=dev)
        P = torch.eye(N, dtype=torch.float64, device=dev) - torch.kron(
            torch.eye(K, dtype=torch.float64, device=dev), torch.full((n, n), 1.0 / n, dtype=torch.float64, device=dev))

        def f(H):
            W = torch.linalg.solve(H @ H.T + N * lambda_W * I, H @ Y.T).T
            return -(W.T @ (W @ H - Y)) / N

        def tr(H):
            E = H @ P
            return float((E * E).sum()) / N

        t, times, trs = 0.0, [0.0], [tr(H)]
        m = max(1, int(np.ceil((T - fine_steps * h) / coarse - 1e-9)))
        steps = [h] * fine_steps + [(T - fine_steps * h) / m] * m
        for dt in steps:
            k1 = f(H)
            k2 = f(H + dt / 2 * k1)
            k3 = f(H + dt / 2 * k2)
            k4 = f(H + dt * k3)
            H = H + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            t += dt
            times.append(t)
            trs.append(tr(H))
        return np.array(times), np.array(trs)
