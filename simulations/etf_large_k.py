"""K > d+1 codes by Riemannian descent on spheres (simulations.sphere), in torch.

Two energies of Gram matrices:

* ``riesz``: Σ_{i<j} ‖x_i − x_j‖⁻¹ (hyperspherical Riesz 1-energy) of K points on S^{d−1};
* ``softmax_code(tau)``: Jiang et al.'s UFM with spherical constraints at temperature τ,
  Σ_k CE(Wᵀh_k/τ, k) = Σ_k [log Σ_j exp(⟨h_k, w_j⟩/τ) − ⟨h_k, w_k⟩/τ], on the 2K unit columns
  [w_1..w_K, h_1..h_K]; as τ → 0 its classifier maximizes min_k ρ_k (the softmax code).
"""
from __future__ import annotations

import torch

from simulations.device import cpu_threads, resolve_device
from simulations.sphere import FlowResult, sphere_descent


def riesz(G: torch.Tensor) -> torch.Tensor:
    K = G.shape[-1]
    iu = torch.triu_indices(K, K, 1, device=G.device)
    D2 = (2 - 2 * G[:, iu[0], iu[1]]).clamp_min(1e-300)
    return D2.pow(-0.5).sum(-1)


def softmax_code(tau: float):
    if not tau > 0:
        raise ValueError(f"tau={tau} must be positive")

    def energy(G: torch.Tensor) -> torch.Tensor:
        K = G.shape[-1] // 2
        Z = G[:, K:, :K] / tau                                   # Z[k, j] = ⟨h_k, w_j⟩/τ
        return (torch.logsumexp(Z, -1) - torch.diagonal(Z, dim1=-2, dim2=-1)).sum(-1)

    return energy


def riesz_gtol(K: int) -> float:
    """The energy and its gradient grow like K²: stop at a gradient norm of 1e-13·K² (>= 1e-12)."""
    return max(1e-12, 1e-13 * K * K)


def min_riesz(K: int, d: int, *, starts: int, seed: int, device: str = "auto") -> FlowResult:
    dev = resolve_device(device)
    with cpu_threads(dev):
        return sphere_descent(riesz, K, d, starts=starts, seed=seed, device=dev, max_steps=20000, gtol=riesz_gtol(K))


def train_softmax_code(K: int, d: int, tau: float, *, starts: int, seed: int, device: str = "auto") -> FlowResult:
    """Columns 0..K−1 of each result are the classifier W, columns K..2K−1 the features H."""
    dev = resolve_device(device)
    with cpu_threads(dev):
        return sphere_descent(softmax_code(tau), 2 * K, d, starts=starts, seed=seed, device=dev, max_steps=20000)
