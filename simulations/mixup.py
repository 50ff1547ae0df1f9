"""A UFM trained with mixup CE against a frozen simplex-ETF classifier, in torch.

Features H (N×d, one row per mixed example) minimize

    L(H) = Σ_i [CE(W h_i, y_i) + (β/2)‖h_i‖²],   W = s·Mᵀ frozen,

the sum (not the mean) so that every row sees the per-example objective of the claim.
Plain full-batch gradient descent with the fixed step 1/L, L = s²K/(2(K−1)) + β (an upper
bound on each row's Hessian: ‖W‖² = s²K/(K−1) and ‖diag p − ppᵀ‖ <= ½), from a Gaussian
start; it stops when every row's gradient norm is below ``gtol`` or after ``max_steps``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


def simplex_classifier(K: int, d: int, s: float, gen: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """W = s·Mᵀ: M = √(K/(K−1))·R·Bᵀ, B an orthonormal basis of 1^⊥ (QR), R random d×(K−1) orthonormal."""
    C = torch.eye(K, dtype=dtype) - torch.full((K, K), 1.0 / K, dtype=dtype)
    B, _ = torch.linalg.qr(C[:, : K - 1])                              # K×(K−1), columns span 1^⊥
    R, _ = torch.linalg.qr(torch.randn(d, K - 1, generator=gen, dtype=dtype))
    M = math.sqrt(K / (K - 1)) * R @ B.T
    return s * M.T


@dataclass
class Trained:
    W: np.ndarray          # K×d frozen classifier
    H: np.ndarray          # N×d features
    steps: int
    grad_norm: float       # max over rows
    converged: bool
    device: str
    loss: float


def train(Y: np.ndarray, d: int, s: float, beta: float, *, seed: int = 0, device: str = "auto",
          gtol: float = 1e-12, max_steps: int = 50000) -> Trained:
    """Gradient descent on H for targets Y (N×K, rows on the simplex), classifier frozen."""
    dev = resolve_device(device)
    N, K = Y.shape
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    W = simplex_classifier(K, d, s, gen).to(dev)
    H = torch.randn(N, d, generator=gen, dtype=torch.float64).to(dev)
    Yt = torch.as_tensor(Y, dtype=torch.float64, device=dev)
    step = 1.0 / (s * s * K / (2 * (K - 1)) + beta)
    steps = 0
    with cpu_threads(dev):
        while True:
            P = torch.softmax(H @ W.T, dim=1)
            G = (P - Yt) @ W + beta * H                                  # ∇ of each row's objective
            gmax = float(G.norm(dim=1).max())
            if gmax <= gtol or steps >= max_steps:
                break
            H = H - step * G
            steps += 1
        Z = H @ W.T
        loss = float((torch.logsumexp(Z, 1) - (Yt * Z).sum(1)).sum() + beta / 2 * (H * H).sum())
    return Trained(W.cpu().numpy(), H.cpu().numpy(), steps, gmax, gmax <= gtol, str(dev), loss)
