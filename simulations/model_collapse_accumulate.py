"""Batched torch Monte-Carlo of replace / accumulate / replace-with-growing-data on one fixed design.

All trials run in one tensor program (trials × T × d), float64, on CUDA when present; the random
numbers come from a seeded CPU generator.  Each trial factors XᵀX = LLᵀ once (Cholesky); every
fit of the chain solves its normal equations with that factor:

* replace:    XᵀX ŵ_i = Xᵀ y_i;
* accumulate: i XᵀX ŵ_i = Σ_{k≤i} Xᵀ y_k   (the stacked blocks' normal equations);
* growing:    i XᵀX ŵ_i = Σ_{k≤i} Xᵀ y_{i,k} with i label blocks y_{i,k} = Xŵ_{i−1} + E_{i,k};
  Σ_k Xᵀ y_{i,k} = i XᵀX ŵ_{i−1} + Xᵀ Σ_k E_{i,k}, and Σ_k E_{i,k} is drawn as one N(0, iσ² I_T)
  vector (equal in distribution; drawing all i·T numbers made the quick profile ~10x slower).
"""
from __future__ import annotations

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


def accumulate_chains(d: int, T: int, sigma: float, n: int, trials: int, seed: int, device: str = "auto",
                      chunk: int = 4000) -> dict:
    """{"replace"|"accumulate"|"growing": (mean, stderr)} of ‖ŵ_n − w*‖², plus "trials", "device"."""
    if T < d + 2:
        raise ValueError(f"T={T}: OLS needs at least d + 2 = {d + 2} rows (finite expected error)")
    if n < 1:
        raise ValueError(f"n={n}: need at least one iteration")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    with cpu_threads(dev):          # batched small matrices: one thread is ~4x faster on the loaded 2-core CPU
        return _accumulate_chains(d, T, sigma, n, trials, seed, dev, chunk)


def _accumulate_chains(d, T, sigma, n, trials, seed, dev, chunk):
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    f64 = torch.float64
    errs = {"replace": [], "accumulate": [], "growing": []}
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        X = torch.randn(m, T, d, generator=gen, dtype=f64).to(dev)
        w_star = torch.randn(m, d, 1, generator=gen, dtype=f64).to(dev)
        Xt = X.transpose(1, 2)
        L = torch.linalg.cholesky(Xt @ X)

        def noise(blocks=1):                                          # Σ of `blocks` N(0, σ²I) draws
            return (blocks ** 0.5 * sigma) * torch.randn(m, T, 1, generator=gen, dtype=f64).to(dev)

        w_rep, w_acc, w_gro = w_star.clone(), w_star.clone(), w_star.clone()
        rhs_acc = torch.zeros(m, d, 1, dtype=f64, device=dev)
        for i in range(1, n + 1):
            w_rep = torch.cholesky_solve(Xt @ (X @ w_rep + noise()), L)
            rhs_acc = rhs_acc + Xt @ (X @ w_acc + noise())
            w_acc = torch.cholesky_solve(rhs_acc, L) / i
            w_gro = torch.cholesky_solve(Xt @ (i * (X @ w_gro) + noise(i)), L) / i
        for name, w in (("replace", w_rep), ("accumulate", w_acc), ("growing", w_gro)):
            errs[name].append(((w - w_star) ** 2).sum((1, 2)).cpu())
    out: dict = {}
    for name, parts in errs.items():
        e = torch.cat(parts)
        out[name] = (float(e.mean()), float(e.std() / np.sqrt(e.numel())))
    out["trials"], out["device"] = int(e.numel()), str(dev)
    return out


def accumulate_fresh_design(d: int, T: int, sigma: float, n: int, trials: int, seed: int, device: str = "auto",
                            chunk: int = 4000) -> dict:
    """Accumulate with a FRESH design each round (outside the fixed-design theorem; observed only).

    Round i draws X_i ∈ R^{T×d} with N(0, I) rows and labels y_i = X_i ŵ_{i−1} + N(0, σ² I_T); ŵ_i is
    OLS on all rounds so far: (Σ_{k≤i} X_kᵀX_k) ŵ_i = Σ_{k≤i} X_kᵀ y_k, ŵ_0 = w*.
    Returns {"mean", "stderr"} of ‖ŵ_n − w*‖², "trials", "device".
    """
    if T < d + 2:
        raise ValueError(f"T={T}: OLS needs at least d + 2 = {d + 2} rows (finite expected error)")
    if n < 1:
        raise ValueError(f"n={n}: need at least one iteration")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    with cpu_threads(dev):
        return _accumulate_fresh_design(d, T, sigma, n, trials, seed, dev, chunk)


def _accumulate_fresh_design(d, T, sigma, n, trials, seed, dev, chunk):
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    f64 = torch.float64
    parts = []
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        w_star = torch.randn(m, d, 1, generator=gen, dtype=f64).to(dev)
        w = w_star.clone()
        gram = torch.zeros(m, d, d, dtype=f64, device=dev)
        rhs = torch.zeros(m, d, 1, dtype=f64, device=dev)
        for _ in range(n):
            X = torch.randn(m, T, d, generator=gen, dtype=f64).to(dev)
            y = X @ w + sigma * torch.randn(m, T, 1, generator=gen, dtype=f64).to(dev)
            Xt = X.transpose(1, 2)
            gram = gram + Xt @ X
            rhs = rhs + Xt @ y
            w = torch.cholesky_solve(rhs, torch.linalg.cholesky(gram))
        parts.append(((w - w_star) ** 2).sum((1, 2)).cpu())
    e = torch.cat(parts)
    return {"mean": float(e.mean()), "stderr": float(e.std() / np.sqrt(e.numel())), "trials": int(e.numel()),
            "device": str(dev)}
