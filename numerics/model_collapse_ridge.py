"""Ridge downstream of recursive OLS, the numeric route: Monte-Carlo over the downstream design only.

For a drawn X (T rows, N(0, Σ)), everything else is integrated exactly: the clean error
‖λR w₀‖²_Σ + σ² tr(R Σ̂ R Σ)/T and g(X) = tr[(I − λR)Σ(I − λR)Σ⁻¹], with R = (Σ̂ + λI)⁻¹ from one
eigendecomposition of Σ̂ = XᵀX/T; ρ = mean g / (T0 − d − 1) uses the inverse-Wishart mean of the
generation chain (proved in theory.model_collapse).  Batched numpy, chunked.
"""
from __future__ import annotations

import numpy as np
from numerics import closed_form



@closed_form
def power_weights(d: int, delta: float, w0_norm_sq: float) -> np.ndarray:
    """w₀_j = √(c j^{−δ}), ‖w₀‖² = w0_norm_sq (positive entries)."""
    raw = np.arange(1, d + 1, dtype=np.float64) ** (-float(delta))
    return np.sqrt(w0_norm_sq * raw / raw.sum())


@closed_form
def conditional_errors(spectrum: np.ndarray, w0: np.ndarray, T: int, lam: float, sigma: float,
                       trials: int, rng: np.random.Generator, chunk: int = 200) -> dict[str, np.ndarray]:
    """Per drawn design X: the clean error and g(X) (exact given X), ``trials`` draws."""
    if lam < 0:
        raise ValueError(f"lam={lam}: the ridge penalty must be >= 0")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    d = spectrum.size
    root = np.sqrt(spectrum)
    clean, g = [], []
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        X = rng.standard_normal((m, T, d)) * root
        e, U = np.linalg.eigh(X.transpose(0, 2, 1) @ X / T)
        e = np.clip(e, 0.0, None)
        A = (U * (e / (e + lam))[:, None, :]) @ U.transpose(0, 2, 1)            # I − λR = Σ̂R
        g.append(((A * A) @ spectrum) @ (1.0 / spectrum))                        # Σ_ij A_ij² s_j / s_i
        Rw = np.einsum("mik,mk->mi", U, (w0 @ U) / (e + lam))                    # R w₀
        bias = lam**2 * (Rw**2) @ spectrum
        var = sigma**2 / T * ((U * U) @ (e / (e + lam) ** 2)[..., None])[..., 0] @ spectrum   # diag(RΣ̂R)·s
        clean.append(bias + var)
    return {"clean": np.concatenate(clean), "g": np.concatenate(g)}
