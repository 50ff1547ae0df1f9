"""Batched Monte-Carlo of recursive OLS retraining in torch: every trial of the chain in one
tensor program (trials × rows × d), float64, on CUDA when present."""
from __future__ import annotations

import numpy as np
import torch

from simulations.device import resolve_device


def ols_chain(d: int, T: int, T0: int, sigma: float, sigma0: float, n: int, spectrum: np.ndarray,
              trials: int, seed: int, device: str = "auto", chunk: int = 4096) -> tuple[float, float, int, str]:
    """(mean, standard error, trials, device) of ‖ŵ − w₀‖²_Σ over independent chains.

    Each generation solves the normal equations by a batched Cholesky factorization; the
    random numbers come from a seeded CPU generator, so every device sees the same draws."""
    if T < d + 2 or (n > 0 and T0 < d + 2):
        raise ValueError(f"T={T}, T0={T0}: OLS needs at least d + 2 = {d + 2} rows (finite expected error)")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    lam = torch.as_tensor(np.asarray(spectrum, dtype=np.float64))
    root = lam.sqrt()
    w0 = torch.randn(d, generator=gen, dtype=torch.float64)
    errors = []
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        w = w0.expand(m, d).clone().to(dev)
        for rows, noise in [(T0, sigma0)] * n + [(T, sigma)]:
            X = (torch.randn(m, rows, d, generator=gen, dtype=torch.float64) * root).to(dev)
            eps = (noise * torch.randn(m, rows, generator=gen, dtype=torch.float64)).to(dev)
            y = (X @ w.unsqueeze(-1)).squeeze(-1) + eps
            L = torch.linalg.cholesky(X.transpose(1, 2) @ X)
            w = torch.cholesky_solve((X.transpose(1, 2) @ y.unsqueeze(-1)), L).squeeze(-1)
        errors.append((((w - w0.to(dev)) ** 2) * lam.to(dev)).sum(-1).cpu())
    e = torch.cat(errors)
    return float(e.mean()), float(e.std() / np.sqrt(e.numel())), int(e.numel()), str(dev)
