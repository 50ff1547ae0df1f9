"""Ridge downstream of recursive OLS retraining, the whole chain simulated in torch (batched, float64).

Each trial: n OLS generations (T0 fresh rows each, Cholesky of the normal equations), then ridge
on T fresh rows, (XᵀX/T + λI) w = Xᵀy/T.  The clean twin (n = 0) reuses the same downstream design
and noise, so the per-trial difference isolates the inherited noise: ρ̂ = (E_n − E_0)/(n σ0²).
Nothing of the theory is used: no inverse-Wishart mean, no decomposition.
"""
from __future__ import annotations

import numpy as np
import torch

from simulations.device import resolve_device


def ridge_chain(spectrum: np.ndarray, w0: np.ndarray, T: int, T0: int, sigma: float, sigma0: float, n: int,
                lam: float, trials: int, seed: int, device: str = "auto", chunk: int = 1024) -> dict:
    """Means and standard errors of the test error after n generations, of the clean error and of ρ̂."""
    d = int(np.size(spectrum))
    if n > 0 and T0 < d + 2:
        raise ValueError(f"T0={T0}: each OLS generation needs at least d + 2 = {d + 2} rows")
    if lam < 0:
        raise ValueError(f"lam={lam}: the ridge penalty must be >= 0")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    s = torch.as_tensor(np.asarray(spectrum, dtype=np.float64))
    root, sd = s.sqrt(), s.to(dev)
    w_true = torch.as_tensor(np.asarray(w0, dtype=np.float64)).to(dev)
    eye = torch.eye(d, dtype=torch.float64, device=dev)
    full, clean = [], []
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        w = w_true.expand(m, d).clone()
        for _ in range(n):
            X = (torch.randn(m, T0, d, generator=gen, dtype=torch.float64) * root).to(dev)
            eps = (sigma0 * torch.randn(m, T0, 1, generator=gen, dtype=torch.float64)).to(dev)
            y = X @ w.unsqueeze(-1) + eps
            Xt = X.transpose(1, 2)
            w = torch.cholesky_solve(Xt @ y, torch.linalg.cholesky(Xt @ X)).squeeze(-1)
        X = (torch.randn(m, T, d, generator=gen, dtype=torch.float64) * root).to(dev)
        eps = (sigma * torch.randn(m, T, 1, generator=gen, dtype=torch.float64)).to(dev)
        Xt = X.transpose(1, 2)
        L = torch.linalg.cholesky(Xt @ X / T + lam * eye)
        for labels, out in ((w, full), (w_true.expand(m, d), clean)):
            fit = torch.cholesky_solve(Xt @ (X @ labels.unsqueeze(-1) + eps) / T, L).squeeze(-1)
            out.append((((fit - w_true) ** 2) * sd).sum(-1).cpu())
    e_n, e_0 = torch.cat(full), torch.cat(clean)
    se = lambda v: float(v.std() / np.sqrt(v.numel()))  # noqa: E731
    out = {"test_error": (float(e_n.mean()), se(e_n)), "clean_error": (float(e_0.mean()), se(e_0)),
           "trials": int(e_n.numel()), "device": str(dev)}
    if n > 0:
        r = (e_n - e_0) / (n * sigma0**2)
        out["rho"] = (float(r.mean()), se(r))
    return out
