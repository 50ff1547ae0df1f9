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


def accumulate_chains(M: int, n: int, n_limit: int, sigma: float, trials: int, rng: np.random.Generator,
                      chunk: int = 20000) -> dict[str, MonteCarlo]:
    """Accumulate all samples (pool of kM at generation k), numpy, from exact sufficient statistics.

    Each generation adds a block of M samples from N(m, v), (m, v) the pool's mean and variance, drawn
    as its mean b ~ N(m, v/M) and sum of squares W ~ v χ²_{M−1} (independent, Cochran); the pool merges
    by S ← S + W + N M/(N+M)(b − m)².  Two chains: v = S/N (MLE) and v = S/(N−1) (unbiased).
    Returns the MLE v at n ("var_accumulate") and at n_limit ("var_accumulate_limit"; the caller bounds
    the truncation) and the unbiased v at n ("var_accumulate_unbiased").
    """
    if M < 2:
        raise ValueError(f"M={M}: a sample variance needs at least 2 samples")
    if n < 1 or n_limit < n:
        raise ValueError(f"n={n}, n_limit={n_limit}: need 1 <= n <= n_limit")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    s2 = float(sigma) ** 2
    out = {k: [] for k in ("var_accumulate", "var_accumulate_unbiased", "var_accumulate_limit")}
    for start in range(0, trials, chunk):
        t = min(chunk, trials - start)
        m, S = np.zeros((2, t)), np.zeros((2, t))          # row 0: MLE chain, row 1: unbiased chain
        for k in range(1, n_limit + 1):
            N = (k - 1) * M
            rows = 1 if k > n else 2                        # the unbiased chain stops at n
            if N == 0:
                v = np.full((rows, t), s2)
            else:
                v = S[:rows] / np.array([[N], [N - 1]])[:rows]
            b = m[:rows] + np.sqrt(v / M) * rng.standard_normal((rows, t))
            W = v * rng.chisquare(M - 1, (rows, t))
            S[:rows] = S[:rows] + W + N * M / (N + M) * (b - m[:rows]) ** 2
            m[:rows] = (N * m[:rows] + M * b) / (N + M)
            if k == n:
                out["var_accumulate"].append(S[0] / (k * M))
                out["var_accumulate_unbiased"].append(S[1] / (k * M - 1))
        out["var_accumulate_limit"].append(S[0] / (n_limit * M))
    return {k: _summary(np.concatenate(v)) for k, v in out.items()}
