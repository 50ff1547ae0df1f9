"""Monte-Carlo of recursive OLS retraining in numpy (the numeric route, independent of torch).

Each trial runs the whole chain: ŵ_0 = w₀; generation k fits OLS (normal equations, ``numpy.linalg.solve``)
on T0 fresh rows x ~ N(0, Σ) labelled xᵀŵ_{k−1} + N(0, σ0²); the downstream model fits T
fresh rows labelled by ŵ_n + N(0, σ²).  The test error ‖ŵ − w₀‖²_Σ is exact per trial.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numerics import closed_form


@closed_form
def power_spectrum(d: int, alpha: float) -> np.ndarray:
    """Σ = diag(j^{−α}), j = 1..d."""
    if d < 1:
        raise ValueError(f"d={d}: need d >= 1")
    return np.arange(1, d + 1, dtype=np.float64) ** (-float(alpha))


@dataclass
class MonteCarlo:
    mean: float
    stderr: float
    trials: int


def _summary(errors: np.ndarray) -> MonteCarlo:
    return MonteCarlo(float(errors.mean()), float(errors.std(ddof=1) / np.sqrt(errors.size)), int(errors.size))


def ols_chain(d: int, T: int, T0: int, sigma: float, sigma0: float, n: int, spectrum: np.ndarray,
              trials: int, rng: np.random.Generator, chunk: int = 2000) -> MonteCarlo:
    if T < d + 2 or (n > 0 and T0 < d + 2):
        raise ValueError(f"T={T}, T0={T0}: OLS needs at least d + 2 = {d + 2} rows (finite expected error)")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    root = np.sqrt(spectrum)
    w0 = rng.standard_normal(d)
    errors = []
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        w = np.tile(w0, (m, 1))
        for rows, noise in [(T0, sigma0)] * n + [(T, sigma)]:
            X = rng.standard_normal((m, rows, d)) * root
            y = np.einsum("mrd,md->mr", X, w) + noise * rng.standard_normal((m, rows))
            Xt = X.transpose(0, 2, 1)
            w = np.linalg.solve(Xt @ X, (Xt @ y[..., None]))[..., 0]     # the normal equations
        errors.append(np.sum(spectrum * (w - w0) ** 2, axis=1))
    return _summary(np.concatenate(errors))


def overparam_chain(d: int, T0: int, sigma0: float, n: int, w0_norm_sq: float, trials: int,
                    rng: np.random.Generator, chunk: int = 2000) -> tuple[MonteCarlo, MonteCarlo]:
    """Minimum-norm refits on T0 < d isotropic rows: (‖ŵ_n − w₀‖², ‖P_n⋯P_1 w₀‖²) over trials.

    The noise-free chain q_k = P_k q_{k−1} runs on the same designs."""
    if not T0 < d:
        raise ValueError(f"T0={T0}: the overparametrized chain needs T0 < d={d}")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    w0 = rng.standard_normal(d)
    w0 *= np.sqrt(w0_norm_sq) / np.linalg.norm(w0)
    errs, kept = [], []
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        w, q = np.tile(w0, (m, 1)), np.tile(w0, (m, 1))
        for _ in range(n):
            X = rng.standard_normal((m, T0, d))
            y = np.einsum("mrd,md->mr", X, w) + sigma0 * rng.standard_normal((m, T0))
            gram = X @ X.transpose(0, 2, 1)
            w = np.einsum("mrd,mr->md", X, np.linalg.solve(gram, y[..., None])[..., 0])   # Xᵀ(XXᵀ)⁻¹y
            q = np.einsum("mrd,mr->md", X, np.linalg.solve(gram, np.einsum("mrd,md->mr", X, q)[..., None])[..., 0])
        errs.append(np.sum((w - w0) ** 2, axis=1))
        kept.append(np.sum(q ** 2, axis=1))
    return _summary(np.concatenate(errs)), _summary(np.concatenate(kept))
