"""The nuclear-norm form of the bias-free UF-SVM, solved and certified with cvxpy (Clarabel).

    min_Z ‖Z‖_*  s.t.  Z_{y_i,i} − Z_{c,i} ≥ 1  (all i, c ≠ y_i),   Z ∈ R^{K×N},
whose value equals min ½(‖W‖² + ‖H‖²) over the same margins on WH.  Dual: max Σ μ_ic s.t.
μ ≥ 0, ‖A*(μ)‖_op ≤ 1 with A*(μ) = Σ μ_ic (e_{y_i} − e_c) e_iᵀ.  Any μ ≥ 0 gives the lower
bound Σμ / max(1, ‖A*μ‖_op); any Z gives the upper bound ‖Z‖_* / min margin.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numerics import closed_form


def labels_of(counts) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


@closed_form
def margins(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """All margins Z_{y_i,i} − Z_{c,i}, c ≠ y_i (flattened)."""
    K, N = Z.shape
    wrong = np.ones((K, N), dtype=bool)
    wrong[labels, np.arange(N)] = False
    return (Z[labels, np.arange(N)][None, :] - Z)[wrong]


@dataclass
class NuclearCertificate:
    Z: np.ndarray
    mu: np.ndarray              # K×N dual multipliers (0 on the correct-class entries)
    status: str
    lower: float
    upper: float
    primal_residual: float      # max(0, 1 − min margin)
    info: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.upper - self.lower


def nuclear_svm(counts, solver: str = "CLARABEL") -> NuclearCertificate:
    """Solve min ‖Z‖_* s.t. margins ≥ 1 and certify it by the dual bound."""
    import cvxpy as cp  # heavy optional import, only where it is used

    counts = tuple(int(c) for c in counts)
    K, N = len(counts), sum(counts)
    y = labels_of(counts)
    Y = np.zeros((K, N))
    Y[y, np.arange(N)] = 1.0
    Z = cp.Variable((K, N))
    zy = cp.sum(cp.multiply(Y, Z), axis=0)
    cons = [np.ones((K, 1)) @ cp.reshape(zy, (1, N), order="C") - Z + Y >= 1]
    prob = cp.Problem(cp.Minimize(cp.normNuc(Z)), cons)
    prob.solve(solver=solver)
    Zv = np.asarray(Z.value)
    mu = np.maximum(np.asarray(cons[0].dual_value), 0.0) * (1 - Y)
    Astar = Y * mu.sum(axis=0, keepdims=True) - mu          # Σ μ_ic (e_{y_i} − e_c) e_iᵀ
    op = float(np.linalg.norm(Astar, 2))
    lower = float(mu.sum() / max(1.0, op))
    m = margins(Zv, y)
    upper = float(np.linalg.svd(Zv, compute_uv=False).sum() / m.min())
    info = {"solver": solver, "status": prob.status, "solver_value": float(prob.value),
            "dual_operator_norm": op, "min_margin": float(m.min()), "max_margin": float(m.max()),
            "certified_interval": [lower, upper], "gap": upper - lower,
            "solve_time_s": float(prob.solver_stats.solve_time or 0.0),
            "iterations": prob.solver_stats.num_iters}
    return NuclearCertificate(Zv, mu, prob.status, lower, upper, max(0.0, 1 - float(m.min())), info)


@closed_form
def factor(Z: np.ndarray, rank_rtol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """The balanced factorization W = UΛ^{1/2}, H = Λ^{1/2}Vᵀ of Z (K×r, r×N)."""
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    r = int(np.sum(s > rank_rtol * s[0]))
    root = np.sqrt(s[:r])
    return U[:, :r] * root, root[:, None] * Vt[:r]


@closed_form
def measure(W: np.ndarray, H: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray | float]:
    """w_sq_k, h_sq_k (every sample), wh_ratio_k, pairwise cosines of w and of every feature
    pair across classes, within-class spread Σ‖h_i − h̄_{y_i}‖²/Σ‖h_i‖², margins, value."""
    K = W.shape[0]
    Gw = W @ W.T
    Gh = H.T @ H
    hsq = np.diag(Gh)
    out: dict[str, np.ndarray | float] = {"value": 0.5 * float(np.sum(W * W) + np.sum(H * H)),
                                          "margin": margins(W @ H, labels)}
    means = np.stack([H[:, labels == k].mean(axis=1) for k in range(K)], axis=1)
    out["h_within"] = float(np.sum((H - means[:, labels]) ** 2) / np.sum(H * H))
    for k in range(K):
        out[f"w_sq_{k + 1}"] = float(Gw[k, k])
        out[f"h_sq_{k + 1}"] = hsq[labels == k]
        out[f"wh_ratio_{k + 1}"] = Gw[k, k] / hsq[labels == k]
    for a in range(K):
        for b in range(a + 1, K):
            out[f"w_cos_{a + 1}_{b + 1}"] = float(Gw[a, b] / np.sqrt(Gw[a, a] * Gw[b, b]))
            ia, ib = labels == a, labels == b
            out[f"h_cos_{a + 1}_{b + 1}"] = (Gh[np.ix_(ia, ib)] / np.sqrt(np.outer(hsq[ia], hsq[ib]))).ravel()
    return out
