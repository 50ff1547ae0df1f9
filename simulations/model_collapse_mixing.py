"""Batched torch Monte-Carlo of the real/synthetic mixing chain: every step draws N real samples and N
samples from N(θ_{t−1}, σ²), averages each, and mixes with weight w (θ = 0 without loss of generality)."""
from __future__ import annotations

import numpy as np
import torch

from simulations.device import resolve_device


def mixing_chain(w: float, sigma: float, N: int, t: int, trials: int, seed: int,
                 device: str = "auto") -> tuple[float, float, int, str]:
    """(mean, stderr, trials, device) of (θ_t − θ)² over independent chains (θ_0 = θ = 0)."""
    if not 0 < w <= 1:
        raise ValueError(f"w={w}: the real-data weight must lie in (0, 1]")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    theta = torch.zeros(trials, dtype=torch.float64, device=dev)
    for _ in range(t):
        real = (sigma * torch.randn(trials, N, generator=gen, dtype=torch.float64)).to(dev).mean(1)
        syn = theta + (sigma * torch.randn(trials, N, generator=gen, dtype=torch.float64)).to(dev).mean(1)
        theta = w * real + (1 - w) * syn
    e = (theta ** 2).cpu()
    return float(e.mean()), float(e.std() / np.sqrt(e.numel())), trials, str(dev)
