"""Batched torch Monte-Carlo of recursive Gaussian fitting: all chains in one tensor program
(trials × M per generation), float64, seeded CPU generator, on CUDA when present."""
from __future__ import annotations

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


def gaussian_chains(M: int, n: int, sigma: float, trials: int, seed: int, device: str = "auto") -> dict:
    """{quantity: (mean, stderr)} as in numerics.model_collapse_gaussian, plus "trials", "device"."""
    if M < 2:
        raise ValueError(f"M={M}: a sample variance needs at least 2 samples")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    f64 = torch.float64
    mu = torch.zeros(2, trials, 1, dtype=f64, device=dev)            # [unbiased chain, MLE chain]
    var = torch.full((2, trials, 1), float(sigma) ** 2, dtype=f64, device=dev)
    divisor = torch.tensor([M - 1.0, float(M)], dtype=f64, device=dev).view(2, 1, 1)
    for _ in range(n):
        x = mu + var.sqrt() * torch.randn(2, trials, M, generator=gen, dtype=f64).to(dev)
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).sum(-1, keepdim=True) / divisor
    mu, v, v_mle = mu[0, :, 0], var[0, :, 0], var[1, :, 0]
    samples = {"mean_sq_drift": mu ** 2, "var_unbiased": v, "std": v.sqrt(),
               "log_var_drift": v.log() - float(np.log(float(sigma) ** 2)), "var_mle": v_mle}
    out: dict = {k: (float(e.mean()), float(e.std() / np.sqrt(e.numel()))) for k, e in samples.items()}
    out["trials"], out["device"] = trials, str(dev)
    return out


def gaussian_paths(M: int, n: int, sigma: float, trials: int, seed: int, device: str = "auto") -> np.ndarray:
    """σ_k² (unbiased fits) of every chain at every generation k = 0..n: array (n+1, trials).

    Same recursion as ``gaussian_chains`` (unbiased chain only), float64, seeded CPU generator."""
    if M < 2:
        raise ValueError(f"M={M}: a sample variance needs at least 2 samples")
    if trials < 1:
        raise ValueError(f"trials={trials}: need at least one chain")
    dev = resolve_device(device)
    with cpu_threads(dev):          # one thread: per-generation tensors are small (see simulations.device)
        return _paths(M, n, float(sigma), trials, int(seed), dev)


def _paths(M, n, sigma, trials, seed, dev):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    f64 = torch.float64
    mu = torch.zeros(trials, 1, dtype=f64, device=dev)
    var = torch.full((trials, 1), sigma ** 2, dtype=f64, device=dev)
    out = torch.empty(n + 1, trials, dtype=f64, device=dev)
    out[0] = var[:, 0]
    for k in range(1, n + 1):
        x = mu + var.sqrt() * torch.randn(trials, M, generator=gen, dtype=f64).to(dev)
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).sum(-1, keepdim=True) / (M - 1)
        out[k] = var[:, 0]
    return out.cpu().numpy()



def accumulate_chains(M: int, n: int, n_limit: int, sigma: float, trials: int, seed: int,
                      device: str = "auto") -> dict:
    """Accumulate all samples, torch, from raw samples: generation k draws M samples per chain from
    N(mean, variance) of the whole pool so far (kM samples after it), tracking Σx and Σx² of the pool.

    An MLE chain (variance Σ(x − x̄)²/N) runs to n_limit, an unbiased chain (/(N − 1)) to n.  Returns
    {"var_accumulate", "var_accumulate_unbiased", "var_accumulate_limit": (mean, stderr)}, "trials", "device".
    """
    if M < 2:
        raise ValueError(f"M={M}: a sample variance needs at least 2 samples")
    if n < 1 or n_limit < n:
        raise ValueError(f"n={n}, n_limit={n_limit}: need 1 <= n <= n_limit")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with cpu_threads(dev):          # small per-generation tensors: one thread is faster
        mle = _pool_chain(M, n_limit, (n, n_limit), 0, float(sigma), trials, gen, dev)
        unb = _pool_chain(M, n, (n,), 1, float(sigma), trials, gen, dev)
    res = {"var_accumulate": mle[n], "var_accumulate_unbiased": unb[n], "var_accumulate_limit": mle[n_limit]}
    out: dict = {k: (float(e.mean()), float(e.std() / np.sqrt(e.numel()))) for k, e in res.items()}
    out["trials"], out["device"] = trials, str(dev)
    return out


def _pool_chain(M, steps, record, offset, sigma, trials, gen, dev):
    """Pool variances Σ(x − x̄)²/(N − offset) at the generations in ``record``."""
    f64 = torch.float64
    s1 = torch.zeros(trials, 1, dtype=f64, device=dev)            # Σx of the pool
    s2 = torch.zeros(trials, 1, dtype=f64, device=dev)            # Σx²
    mean = torch.zeros(trials, 1, dtype=f64, device=dev)
    sd = torch.full((trials, 1), sigma, dtype=f64, device=dev)
    out = {}
    for k in range(1, steps + 1):
        x = torch.randn(trials, M, generator=gen, dtype=f64).to(dev).mul_(sd).add_(mean)
        s1 += x.sum(-1, keepdim=True)
        s2 += (x * x).sum(-1, keepdim=True)
        N = k * M
        mean = s1 / N
        var = (s2 - N * mean * mean) / (N - offset)
        sd = var.sqrt()
        if k in record:
            out[k] = var[:, 0].clone()
    return out
