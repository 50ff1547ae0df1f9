"""Batched torch Monte-Carlo of recursive Gaussian fitting: all chains in one tensor program
(trials × M per generation), float64, seeded CPU generator, on CUDA when present."""
from __future__ import annotations

import numpy as np
import torch

from simulations.device import resolve_device


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
