r"""Certified convex relaxations of the two cross-entropy layer-peeled problems.

Both problems are nonconvex in (W, H) but depend on them only through a Gram
matrix, so each becomes a convex program over a PSD matrix X, solved with cvxpy
(Clarabel, an interior-point method; SCS for large X, see THEORY.md §10).  The
relaxation drops rank X <= d; it is exact when the solution's rank is <= d.

Neither result is taken on the solver's word.  Each certificate brackets the
optimum of the *original* problem in a rigorous interval [lower, upper]:

* ``upper`` — the objective at a feasible point of rank <= d (so that it factors
  as a Gram in R^d) built from the solver's X: for the max-margin SDP, X projected
  onto the PSD cone, truncated to its top d eigenvalues and rescaled to margin 1;
  for the layer-peeled SDP, the rank-d factor of X polished by L-BFGS and Newton
  steps on the two budget spheres (the interior-point solution of this exp-cone
  program is accurate to ~1e-6 only, along the loss's flat directions);
* ``lower`` — the value of a dual-feasible point: the solver's multipliers
  repaired to feasibility (max-margin), or the Fenchel dual point of the polished
  logits (layer-peeled); weak duality, derived in the functions' docstrings.

Nothing here evaluates a closed form from ``theory``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.special import logsumexp, softmax
from numerics import closed_form

#: Above this size of X, Clarabel is slow and memory-hungry (THEORY.md §10): use SCS.
CLARABEL_MAX = 60
#: Interior-point tolerances, tightest first; the next is tried when Clarabel reports the
#: previous one as only inaccurately solved.
CLARABEL_TOLERANCES = tuple({"tol_gap_abs": t, "tol_gap_rel": t, "tol_feas": t, "tol_ktratio": min(1e-6, 100 * t),
                             "max_iter": 300} for t in (1e-12, 1e-11, 1e-10, 1e-9))
SCS_SETTINGS = {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000}


@dataclass
class GramCertificate:
    """A relaxation's solution with its certified interval and multipliers."""

    status: str
    solver: str
    upper: float                 # objective at a feasible rank-<=d point (original problem)
    lower: float                 # a rigorous lower bound (weak duality)
    gram: np.ndarray             # the optimal Gram (max-margin: the solver's X made PSD; layer-peeled: polished)
    primal_residual: float       # PSD violation and constraint violation of the solver's own X
    multipliers: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.upper - self.lower


def _solve(prob, X, solver: str | None) -> tuple[str, list[str]]:
    """Solve with Clarabel (tight, then slightly looser if reported inaccurate) or SCS;
    returns the solver and the statuses of the attempts."""
    solver = solver or ("CLARABEL" if X.shape[0] <= CLARABEL_MAX else "SCS")
    settings = CLARABEL_TOLERANCES if solver == "CLARABEL" else (SCS_SETTINGS,)
    attempts = []
    for options in settings:
        with warnings.catch_warnings():      # an inaccurate status is reported, not warned about
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=solver, **options)
        attempts.append(prob.status)
        if prob.status == "optimal":
            break
    return solver, attempts


@closed_form
def _psd_parts(Xv: np.ndarray, d: int):
    """Symmetrize; PSD projection; its best rank-<=d truncation; the PSD violation."""
    Xs = (Xv + Xv.T) / 2
    w, V = np.linalg.eigh(Xs)
    psd = (V * np.clip(w, 0, None)) @ V.T
    keep = np.argsort(w)[::-1][:d]
    top = (V[:, keep] * np.clip(w[keep], 0, None)) @ V[:, keep].T
    return psd, top, float(max(0.0, -w[0]))


def numerical_rank_psd(X: np.ndarray, rtol: float) -> int:
    w = np.linalg.eigvalsh((X + X.T) / 2)
    return int(np.sum(w > rtol * max(w[-1], 0.0)))


# --------------------------------------------------------------------------- layer-peeled
@closed_form
def layer_peeled_objective(Z: np.ndarray) -> float:
    """(1/K) Σ_k CE(z_k, k) for logits Z (Z[j, k] = w_jᵀ h̄_k)."""
    K = Z.shape[0]
    return float(np.mean(logsumexp(Z, axis=0) - np.diag(Z))) if K else np.nan


@closed_form
def layer_peeled_lower_bound(Z: np.ndarray, E_W: float, E_H: float) -> float:
    r"""Weak duality: for any column-stochastic P and every feasible (W, H),

    loss >= (1/K) Σ_k Ent(p_k) − ‖P − I‖_op √(E_W E_H)

    (Fenchel–Young for log-sum-exp, then |⟨A, W H̄⟩| <= ‖A‖_op ‖W‖_F ‖H̄‖_F, which
    also holds for the cross block of any PSD Gram).  P = softmax of the columns of Z.
    """
    K = Z.shape[0]
    P = softmax(Z, axis=0)
    ent = -np.sum(np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)) / K
    return float(ent - np.linalg.norm(P - np.eye(K), 2) * np.sqrt(E_W * E_H))


def layer_peeled_sdp(K: int, E_W: float, E_H: float, d: int | None = None,
                     solver: str | None = None) -> GramCertificate:
    r"""Solve the convex relaxation of the balanced CE layer-peeled model.

    With class-mean features (NC1 may be assumed: CE is convex in h and the feature
    budget is a mean of squares), X = Gram of [h̄_1 … h̄_K, w_1 … w_K] ∈ S^{2K}:

    .. math:: \min_{X \succeq 0} \tfrac1K \sum_k \Big(\log\sum_j e^{X_{w_j h_k}} - X_{w_k h_k}\Big)
              \ \text{s.t.}\ \operatorname{tr} X_{HH} \le K E_H,\ \operatorname{tr} X_{WW} \le K E_W.

    The objective is convex (log-sum-exp of linear functions of X).  The solution's
    rank-<=d factor is then polished (:func:`polish_layer_peeled`); ``gram``,
    ``upper``, ``lower`` and ``multipliers`` (of (1/K)Σ‖w_k‖² <= E_W and
    (1/K)Σ‖h̄_k‖² <= E_H) are those of the polished point, the solver's own duals are
    ``info['sdp_multipliers']``.  ``d`` (default 2K) is the feature dimension.
    """
    import cvxpy as cp  # heavy optional import, only where it is used

    if K < 2:
        raise ValueError(f"K={K}: need K >= 2")
    if not (E_W > 0 and E_H > 0):
        raise ValueError(f"E_W={E_W}, E_H={E_H}: budgets must be positive")
    d = 2 * K if d is None else d
    X = cp.Variable((2 * K, 2 * K), PSD=True)
    Z = X[K:, :K]                                               # Z[j, k] = w_jᵀ h̄_k
    objective = sum(cp.log_sum_exp(Z[:, k]) - Z[k, k] for k in range(K)) / K
    budget_H = cp.trace(X[:K, :K]) <= K * E_H
    budget_W = cp.trace(X[K:, K:]) <= K * E_W
    prob = cp.Problem(cp.Minimize(objective), [budget_H, budget_W])
    solver, attempts = _solve(prob, X, solver)
    if X.value is None:
        return GramCertificate(prob.status, solver, np.nan, np.nan, np.full((2 * K, 2 * K), np.nan), np.inf,
                               info={"attempts": attempts})
    _, top, psd_violation = _psd_parts(X.value, d)
    Xs = (X.value + X.value.T) / 2
    budget_violation = max(np.trace(Xs[:K, :K]) - K * E_H, np.trace(Xs[K:, K:]) - K * E_W, 0.0)
    sdp_multipliers = {"mult_H": K * float(budget_H.dual_value), "mult_W": K * float(budget_W.dual_value)}
    # Polish: the rank-<=d factor of X, refined on the two budget spheres.
    w, V = np.linalg.eigh(top)
    keep = np.argsort(w)[::-1][:min(d, K)]                        # the optimum has rank K − 1
    F = V[:, keep] * np.sqrt(np.clip(w[keep], 0, None))          # X_top = F Fᵀ, rows h̄_1..h̄_K, w_1..w_K
    pol = polish_layer_peeled(F[:K], F[K:], E_W, E_H)
    gram = np.concatenate([pol.H, pol.W]) @ np.concatenate([pol.H, pol.W]).T
    upper = layer_peeled_objective(pol.W @ pol.H.T)                # feasible, realizable in R^d
    lower = layer_peeled_lower_bound(pol.W @ pol.H.T, E_W, E_H)   # valid for every feasible point
    return GramCertificate(prob.status, solver, upper, lower, gram, float(max(psd_violation, budget_violation)),
                           pol.multipliers, {"solver_value": float(prob.value), "sdp_multipliers": sdp_multipliers,
                                             "sdp_rank": numerical_rank_psd(Xs, 1e-6),
                                             "solve_time": prob.solver_stats.solve_time,
                                             "iterations": prob.solver_stats.num_iters, "attempts": attempts,
                                             **pol.info})


@dataclass
class Polished:
    H: np.ndarray                # K×r class-mean features (rows)
    W: np.ndarray                # K×r classifiers (rows)
    multipliers: dict
    info: dict


@closed_form
def _layer_peeled_grad(W: np.ndarray, H: np.ndarray):
    """f = (1/K)Σ_k CE(W h_k, k) and its gradients (rows w_j, h_k; Z = W Hᵀ)."""
    K = W.shape[0]
    Z = W @ H.T
    G = (softmax(Z, axis=0) - np.eye(K)) / K
    return layer_peeled_objective(Z), G @ H, G.T @ W


def polish_layer_peeled(H0: np.ndarray, W0: np.ndarray, E_W: float, E_H: float, gtol: float = 1e-13) -> Polished:
    """Refine (H̄, W) on the budget spheres (1/K)‖W‖² = E_W, (1/K)‖H̄‖² = E_H: L-BFGS on
    log f in the sphere parametrization W = √(K E_W) U/‖U‖, H̄ = √(K E_H) V/‖V‖, then
    Newton steps (a line search stalls at the rounding floor of f; Newton does not).

    Then checked as a KKT point of the *ball* problem: the multipliers of the two
    budgets, −K⟨∇_W f, W⟩/(2‖W‖²) and −K⟨∇_H f, H̄⟩/(2‖H̄‖²), must be positive and
    the Lagrangian gradient ``kkt_residual`` small."""
    K, r = W0.shape
    a, b = np.sqrt(K * E_W), np.sqrt(K * E_H)

    def unpack(z):
        U, Vv = z[:K * r].reshape(K, r), z[K * r:].reshape(K, r)
        return U, Vv, np.linalg.norm(U), np.linalg.norm(Vv)

    def fun(z):
        U, Vv, nu, nv = unpack(z)
        W, H = a * U / nu, b * Vv / nv
        f, gW, gH = _layer_peeled_grad(W, H)
        uW, uH = W / a, H / b
        gU = a / nu * (gW - uW * np.sum(gW * uW))
        gV = b / nv * (gH - uH * np.sum(gH * uH))
        # log f: same minimizers, gradients relative to the (possibly small) loss
        return np.log(f), np.concatenate([gU.ravel(), gV.ravel()]) / f

    z0 = np.concatenate([W0.ravel(), H0.ravel()])
    res = optimize.minimize(fun, z0, jac=True, method="L-BFGS-B",
                            options={"maxiter": 5000, "gtol": gtol, "ftol": 0.0, "maxcor": 30})
    # Newton steps (central-difference Hessian of the gradient, pseudo-inverse across the
    # flat directions: radial scalings and rotations): L-BFGS's line search stops at the
    # rounding floor of f, Newton only needs the gradient.
    z, g = res.x, fun(res.x)[1]
    newton = 0
    for _ in range(4):
        if np.linalg.norm(g) <= 1e-14:
            break
        h = 1e-6 * max(1.0, float(np.max(np.abs(z))))
        Hess = np.empty((z.size, z.size))
        for j in range(z.size):
            e = np.zeros(z.size)
            e[j] = h
            Hess[:, j] = (fun(z + e)[1] - fun(z - e)[1]) / (2 * h)
        step = -np.linalg.pinv((Hess + Hess.T) / 2, rcond=1e-9, hermitian=True) @ g
        g_new = fun(z + step)[1]
        if not np.linalg.norm(g_new) < np.linalg.norm(g):
            break
        z, g, newton = z + step, g_new, newton + 1
    res.x = z
    U, Vv, nu, nv = unpack(res.x)
    W, H = a * U / nu, b * Vv / nv
    _, gW, gH = _layer_peeled_grad(W, H)
    mW = -K * np.sum(gW * W) / (2 * np.sum(W * W))
    mH = -K * np.sum(gH * H) / (2 * np.sum(H * H))
    kkt = float(np.sqrt(np.sum((gW + 2 * mW / K * W) ** 2) + np.sum((gH + 2 * mH / K * H) ** 2)))
    return Polished(H, W, {"mult_H": float(mH), "mult_W": float(mW)},
                    {"polish_iterations": int(res.nit), "newton_steps": newton,
                     "polish_grad_norm": float(np.linalg.norm(fun(res.x)[1])),
                     "kkt_residual": kkt, "polish_message": str(res.message)})


@closed_form
def measure_layer_peeled(X: np.ndarray, K: int, rank_rtol: float = 1e-6) -> dict[str, np.ndarray | float]:
    """Quantities of a Gram X of [h̄_1 … h̄_K, w_1 … w_K], all read off X."""
    HH, WW, Z = X[:K, :K], X[K:, K:], X[K:, :K]
    wn = np.diag(WW)
    off = ~np.eye(K, dtype=bool)
    return {
        "w_norm_sq": wn,
        "h_norm_sq": np.diag(HH),
        "w_cos": (WW / np.sqrt(np.outer(wn, wn)))[off],
        "h_w_ratio": np.diag(Z) / wn,
        "margin": (np.diag(Z)[None, :] - Z)[off],
        "gram_rank": float(numerical_rank_psd(X, rank_rtol)),
    }


# --------------------------------------------------------------------------- max-margin
def _margin_index(K: int, n: int):
    """(class of i, other class j, sample i) for every margin constraint, samples class by class."""
    labels = np.repeat(np.arange(K), n)
    rows_y, rows_j, cols = [], [], []
    for i, y in enumerate(labels):
        for j in range(K):
            if j != y:
                rows_y.append(y), rows_j.append(j), cols.append(i)
    return np.array(rows_y), np.array(rows_j), np.array(cols)


@closed_form
def max_margin_lower_bound(lam: np.ndarray, K: int, n: int) -> float:
    r"""Weak duality for min ½(‖W‖² + ‖H‖²) s.t. (w_{y_i} − w_j)ᵀh_i >= 1.

    For λ >= 0 and Λ = Σ λ_{ij}(e_{y_i} − e_j)e_iᵀ (K×N), every feasible (W, H) has
    Σλ <= ⟨Λ, WH⟩ <= ‖Λ‖_op ‖WH‖_* <= ‖Λ‖_op · ½(‖W‖² + ‖H‖²); so Σλ/‖Λ‖_op is a
    lower bound for any λ (the solver's multipliers, clipped at 0).
    """
    lam = np.clip(np.asarray(lam, dtype=float).ravel(), 0.0, None)
    ry, rj, cols = _margin_index(K, n)
    Lam = np.zeros((K, K * n))
    np.add.at(Lam, (ry, cols), lam)
    np.add.at(Lam, (rj, cols), -lam)
    norm = np.linalg.norm(Lam, 2)
    return float(lam.sum() / norm) if norm > 0 else -np.inf


def max_margin_sdp(K: int, n: int, d: int | None = None, solver: str | None = None) -> GramCertificate:
    r"""Solve the SDP form of the min-norm separation problem (balanced, no bias).

    X = Gram of [w_1 … w_K, h_1 … h_N] ∈ S^{K+N}, samples ordered class by class:

    .. math:: \min_{X \succeq 0} \tfrac12 \operatorname{tr} X
              \ \text{s.t.}\ X_{w_{y_i} h_i} - X_{w_j h_i} \ge 1\quad (i \le N,\ j \ne y_i).

    ``multipliers['lambda']`` holds the solver's duals of the N(K−1) margin constraints.
    ``d`` (default K + N: no truncation) is the feature dimension.
    """
    import cvxpy as cp  # heavy optional import, only where it is used

    if K < 2 or n < 1:
        raise ValueError(f"K={K}, n={n}: need K >= 2 and n >= 1")
    N = K * n
    d = K + N if d is None else d
    X = cp.Variable((K + N, K + N), PSD=True)
    ry, rj, cols = _margin_index(K, n)
    margins = X[ry, K + cols] - X[rj, K + cols]
    cons = margins >= 1
    prob = cp.Problem(cp.Minimize(cp.trace(X) / 2), [cons])
    solver, attempts = _solve(prob, X, solver)
    if X.value is None:
        return GramCertificate(prob.status, solver, np.nan, np.nan, np.full((K + N, K + N), np.nan), np.inf,
                               info={"attempts": attempts})
    Xs = (X.value + X.value.T) / 2
    psd, top, psd_violation = _psd_parts(X.value, d)
    raw = Xs[ry, K + cols] - Xs[rj, K + cols]
    m_top = float(np.min(top[ry, K + cols] - top[rj, K + cols]))
    upper = float(np.trace(top) / 2 / m_top) if m_top > 0 else np.inf   # rescaled to min margin 1
    lam = np.asarray(cons.dual_value, dtype=float).ravel()
    lower = max_margin_lower_bound(lam, K, n)
    residual = float(max(psd_violation, np.max(1 - raw), 0.0))
    return GramCertificate(prob.status, solver, upper, lower, psd, residual, {"lambda": lam},
                           {"solver_value": float(prob.value), "solve_time": prob.solver_stats.solve_time,
                            "iterations": prob.solver_stats.num_iters, "attempts": attempts})


@closed_form
def measure_max_margin(X: np.ndarray, K: int, n: int, rank_rtol: float = 1e-6) -> dict[str, np.ndarray | float]:
    """Quantities of a Gram X of [w_1 … w_K, h_1 … h_N], all read off X."""
    N = K * n
    labels = np.repeat(np.arange(K), n)
    WW, HH, Z = X[:K, :K], X[K:, K:], X[:K, K:]
    wn = np.diag(WW)
    off = ~np.eye(K, dtype=bool)
    ry, rj, cols = _margin_index(K, n)
    return {
        "w_norm_sq": wn,
        "h_norm_sq": np.diag(HH),
        "w_cos": (WW / np.sqrt(np.outer(wn, wn)))[off],
        "h_w_ratio": Z[labels, np.arange(N)] / wn[labels],
        "margin": Z[ry, cols] - Z[rj, cols],
        "gram_rank": float(numerical_rank_psd(X, rank_rtol)),
    }
