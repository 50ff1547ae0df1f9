"""Monte-Carlo of recursive Gaussian fitting in numpy: every chain draws M samples per generation
from the previous fit and refits (mean; unbiased and, in a parallel chain, MLE variance)."""
from __future__ import annotations

import numpy as np

from numerics.model_collapse import MonteCarlo, _summary


def gaussian_chains(M: int, n: int, sigma: float, trials: int, rng: np.random.Generator,
                    chunk: int = 20000) -> dict[str, MonteCarlo]:
    """Means and standard errors of (μ_n − μ)², σ_n², σ_n, log σ_n² − log σ² (unbiased fits) and
    σ_n² of an independent chain of MLE fits (μ = 0)."""
    if M < 2:
        raise ValueError(f"M={M}: a sample variance needs at least 2 samples")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    out = {k: [] for k in ("mean_sq_drift", "var_unbiased", "std", "log_var_drift", "var_mle")}
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        mu, sd = np.zeros(m), np.full(m, float(sigma))
        mu_mle, sd_mle = np.zeros(m), np.full(m, float(sigma))
        for _ in range(n):
            x = mu[:, None] + sd[:, None] * rng.standard_normal((m, M))
            mu, sd = x.mean(1), x.std(1, ddof=1)
            y = mu_mle[:, None] + sd_mle[:, None] * rng.standard_normal((m, M))
            mu_mle, sd_mle = y.mean(1), y.std(1, ddof=0)
        out["mean_sq_drift"].append(mu ** 2)
        out["var_unbiased"].append(sd ** 2)
        out["std"].append(sd)
        out["log_var_drift"].append(np.log(sd ** 2) - np.log(float(sigma) ** 2))
        out["var_mle"].append(sd_mle ** 2)
    return {k: _summary(np.concatenate(v)) for k, v in out.items()}
