"""The non-convex imbalanced CE UFM trained by the engine, for comparison with Hong & Ling's convex form.

Objective (the engine's, simulations/ufm.py), every sample its own feature h_i:
    f = (1/N) Σ_i CE(W h_i + b, y_i) + (λ_W/2)‖W‖² + (λ_H/2)‖H‖² + (λ_b/2)‖b‖².
Armijo gradient descent then batched L-BFGS from ``starts`` Gaussian starts (one seed); the
result holds, per start, W (K×d), the per-sample H (d×N), b and the class means H̄ (d×K).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.device import cpu_threads
from simulations.ufm import UFM, minimize


@dataclass
class Trained:
    W: np.ndarray          # S×K×d
    H: np.ndarray          # S×d×N
    b: np.ndarray          # S×K
    Hbar: np.ndarray       # S×d×K class means
    f: np.ndarray          # S final objectives
    grad_norm: np.ndarray  # S
    converged: np.ndarray  # S booleans
    info: dict


def train(counts, d: int, lambda_W: float, lambda_H: float, lambda_b: float, starts: int, seed: int,
          device: str = "auto", gtol: float = 1e-11, init_scale: float = 1.0) -> Trained:
    """Minimize the UFM from ``starts`` random starts (batched) to gradient norm ``gtol``."""
    counts = [int(c) for c in counts]
    K = len(counts)
    u = UFM("ce", K, d, counts, lambda_W=lambda_W, lambda_H=lambda_H, lambda_b=lambda_b, bias=True,
            S=starts, device=device)
    with cpu_threads(u.device):
        r = minimize(u, u.init(seed, scale=init_scale), gtol=gtol)
        W, H, b = (a.detach().cpu().numpy().copy() for a in u.unpack(r.x))
    labels = np.repeat(np.arange(K), counts)
    Hbar = np.stack([H[:, :, labels == k].mean(axis=2) for k in range(K)], axis=2)
    info = {**r.summary(), "starts": starts, "seed": seed, "init_scale": init_scale,
            "values": r.f.tolist(), "grad_norms": r.grad_norm.tolist()}
    return Trained(W, H, b, Hbar, r.f, r.grad_norm, r.converged, info)


def within_class(H: np.ndarray, Hbar: np.ndarray, counts, floor: float = 1e-3) -> float:
    """‖H − H̄⊗1ᵀ‖_F / max(‖H‖_F, floor·√N): relative within-class spread (absolute, over the
    floor, where all features vanish)."""
    labels = np.repeat(np.arange(len(counts)), counts)
    return float(np.linalg.norm(H - Hbar[:, labels]) / max(np.linalg.norm(H), floor * np.sqrt(len(labels))))
