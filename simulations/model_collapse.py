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


def overparam_chain(d: int, T0: int, sigma0: float, n: int, w0_norm_sq: float, trials: int, seed: int,
                    device: str = "auto", chunk: int = 4096) -> dict:
    """Batched minimum-norm refits ŵ = Xᵀ(XXᵀ)⁻¹y (Cholesky of each T0×T0 Gram): means and
    standard errors of ‖ŵ_n − w₀‖² and ‖P_n⋯P_1 w₀‖²."""
    if not T0 < d:
        raise ValueError(f"T0={T0}: the overparametrized chain needs T0 < d={d}")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    w0 = torch.randn(d, generator=gen, dtype=torch.float64)
    w0 = (w0 * (w0_norm_sq ** 0.5) / w0.norm()).to(dev)
    errs, kept = [], []
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        w, q = w0.expand(m, d).clone(), w0.expand(m, d).clone()
        for _ in range(n):
            X = torch.randn(m, T0, d, generator=gen, dtype=torch.float64).to(dev)
            eps = (sigma0 * torch.randn(m, T0, generator=gen, dtype=torch.float64)).to(dev)
            L = torch.linalg.cholesky(X @ X.transpose(1, 2))              # XXᵀ, T0×T0, invertible a.s.
            Xt = X.transpose(1, 2)                                         # minimum norm: Xᵀ(XXᵀ)⁻¹y
            w = (Xt @ torch.cholesky_solve(X @ w.unsqueeze(-1) + eps.unsqueeze(-1), L)).squeeze(-1)
            q = (Xt @ torch.cholesky_solve(X @ q.unsqueeze(-1), L)).squeeze(-1)
        errs.append(((w - w0) ** 2).sum(-1).cpu())
        kept.append((q ** 2).sum(-1).cpu())
    e, k = torch.cat(errs), torch.cat(kept)
    se = lambda v: float(v.std() / np.sqrt(v.numel()))  # noqa: E731
    return {"error": (float(e.mean()), se(e)), "signal_kept": (float(k.mean()), se(k)),
            "trials": int(e.numel()), "device": str(dev)}
