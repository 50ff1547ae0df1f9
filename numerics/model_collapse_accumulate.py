"""Monte-Carlo of replace / accumulate / replace-with-growing-data on one fixed design, in numpy.

Each trial draws X ∈ R^{T×d} (rows N(0, I)) once and w* ~ N(0, I), then runs the three chains
for n iterations with labels y = X ŵ_{i−1} + N(0, σ² I_T) (fresh noise per chain):

* replace:    OLS on (X, y_i) (``numpy.linalg.solve`` on the normal equations);
* accumulate: OLS on all blocks so far — Gram i·XᵀX, right-hand side Σ_k Xᵀ y_k (the normal
  equations of the stacked data, accumulated block by block);
* growing:    OLS on i copies of X with independent noise: Gram i·XᵀX, right-hand side
  i·XᵀX ŵ_{i−1} + Xᵀ Σ_k E_{i,k}, where the sum of the i noise blocks is drawn as one
  N(0, iσ² I_T) vector (equal in distribution; saves drawing i·T numbers per trial).

The test error ‖ŵ_n − w*‖² (isotropic test rows) is exact per trial.
"""
from __future__ import annotations

import numpy as np

from numerics.model_collapse import MonteCarlo, _summary


def accumulate_chains(d: int, T: int, sigma: float, n: int, trials: int, rng: np.random.Generator,
                      chunk: int = 4000) -> dict[str, MonteCarlo]:
    if T < d + 2:
        raise ValueError(f"T={T}: OLS needs at least d + 2 = {d + 2} rows (finite expected error)")
    if n < 1:
        raise ValueError(f"n={n}: need at least one iteration")
    if trials < 2:
        raise ValueError(f"trials={trials}: need at least 2 for a standard error")
    out = {"replace": [], "accumulate": [], "growing": []}
    for start in range(0, trials, chunk):
        m = min(chunk, trials - start)
        X = rng.standard_normal((m, T, d))
        Xt = X.transpose(0, 2, 1)
        G = Xt @ X
        w_star = rng.standard_normal((m, d))

        def labels(w, scale=1.0):
            return np.einsum("mtd,md->mt", X, w) + scale * sigma * rng.standard_normal((m, T))

        def solve(gram, rhs):
            return np.linalg.solve(gram, rhs[..., None])[..., 0]

        w_rep, w_acc, w_gro = w_star.copy(), w_star.copy(), w_star.copy()
        rhs_acc = np.zeros((m, d))
        for i in range(1, n + 1):
            w_rep = solve(G, np.einsum("mdt,mt->md", Xt, labels(w_rep)))
            rhs_acc += np.einsum("mdt,mt->md", Xt, labels(w_acc))
            w_acc = solve(i * G, rhs_acc)
            noise_sum = np.sqrt(i) * sigma * rng.standard_normal((m, T))         # Σ_k E_{i,k}
            rhs_gro = i * np.einsum("mde,me->md", G, w_gro) + np.einsum("mdt,mt->md", Xt, noise_sum)
            w_gro = solve(i * G, rhs_gro)
        for name, w in (("replace", w_rep), ("accumulate", w_acc), ("growing", w_gro)):
            out[name].append(np.sum((w - w_star) ** 2, axis=1))
    return {k: _summary(np.concatenate(v)) for k, v in out.items()}
