r"""The imbalanced CE layer-peeled model (Fang, He, Long & Su 2021) as a certified SDP.

K_A majority classes of n_A samples, K_B minority classes of n_B = n_A/R samples,
N = K_A n_A + K_B n_B, no bias::

    min (1/N) Σ_k Σ_i CE(W h_{k,i}, k)   s.t. (1/K) Σ_k ‖w_k‖² <= E_W,
                                           (1/K) Σ_k (1/n_k) Σ_i ‖h_{k,i}‖² <= E_H.

CE is convex in h and the feature budget is a per-class mean of squares, so the
class means h̄_k may replace the features: the objective is Σ_k ω_k CE(W h̄_k, k)
with ω_k = n_k/N (majority R/(K_A R + K_B), minority 1/(K_A R + K_B)), the budget
(1/K) Σ_k ‖h̄_k‖² <= E_H.  Its relaxation over the Gram X of [h̄_1 … h̄_K, w_1 … w_K]
(Fang et al.'s SDP) is convex.  Certificate: for any column-stochastic P,

    loss >= Σ_k ω_k Ent(p_k) − K ‖(P − I) Ω‖_op √(E_W E_H)        (Ω = diag ω)

(Fenchel–Young for log-sum-exp, then |⟨Γ, W H̄ᵀ⟩| <= ‖Γ‖_op ‖W‖_F ‖H̄‖_F), evaluated
at the softmax of the polished logits: a rigorous lower bound.  The upper bound is
the objective at a feasible rank-<=d point.  Nothing here uses a closed form.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.special import logsumexp, softmax

from numerics.ufm_sdp import _solve, numerical_rank_psd
from numerics import closed_form


@closed_form
def class_weights(K_A: int, K_B: int, R: float) -> np.ndarray:
    """ω_k = n_k/N with n_B = n_A/R: majority R/(K_A R + K_B), minority 1/(K_A R + K_B)."""
    s = K_A * R + K_B
    return np.array([R / s] * K_A + [1.0 / s] * K_B)


@closed_form
def objective(Z: np.ndarray, omega: np.ndarray) -> float:
    """Σ_k ω_k CE(z_k, k) for logits Z[j, k] = w_jᵀ h̄_k."""
    return float(np.sum(omega * (logsumexp(Z, axis=0) - np.diag(Z))))


@closed_form
def lower_bound(Z: np.ndarray, omega: np.ndarray, E_W: float, E_H: float) -> float:
    """The weak-duality bound of the module docstring at P = softmax(Z) (columns)."""
    K = Z.shape[0]
    P = softmax(Z, axis=0)
    ent = -np.sum(omega * np.sum(np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0), axis=0))
    return float(ent - K * np.linalg.norm((P - np.eye(K)) * omega, 2) * np.sqrt(E_W * E_H))


@closed_form
def _grads(W: np.ndarray, H: np.ndarray, omega: np.ndarray):
    Z = W @ H.T
    G = (softmax(Z, axis=0) - np.eye(W.shape[0])) * omega          # ∂f/∂Z
    return objective(Z, omega), G @ H, G.T @ W


def polish(W0: np.ndarray, H0: np.ndarray, omega: np.ndarray, E_W: float, E_H: float, gtol: float = 1e-12):
    """L-BFGS on log f over the budget spheres (W = √(K E_W) U/‖U‖, H̄ = √(K E_H) V/‖V‖);
    returns W, H̄, the ball problem's multipliers and its KKT residual (Lagrangian
    f + μ_W((1/K)‖W‖² − E_W) + μ_H((1/K)‖H̄‖² − E_H))."""
    K, r = W0.shape
    a, b = np.sqrt(K * E_W), np.sqrt(K * E_H)

    def fun(z):
        U, V = z[:K * r].reshape(K, r), z[K * r:].reshape(K, r)
        nu, nv = np.linalg.norm(U), np.linalg.norm(V)
        W, H = a * U / nu, b * V / nv
        f, gW, gH = _grads(W, H, omega)
        uW, uH = W / a, H / b
        gU = a / nu * (gW - uW * np.sum(gW * uW))
        gV = b / nv * (gH - uH * np.sum(gH * uH))
        return np.log(f), np.concatenate([gU.ravel(), gV.ravel()]) / f

    res = optimize.minimize(fun, np.concatenate([W0.ravel(), H0.ravel()]), jac=True, method="L-BFGS-B",
                            options={"maxiter": 20000, "gtol": gtol, "ftol": 0.0, "maxcor": 30})
    U, V = res.x[:K * r].reshape(K, r), res.x[K * r:].reshape(K, r)
    W, H = a * U / np.linalg.norm(U), b * V / np.linalg.norm(V)
    f, gW, gH = _grads(W, H, omega)
    mW = -K * np.sum(gW * W) / (2 * np.sum(W * W))
    mH = -K * np.sum(gH * H) / (2 * np.sum(H * H))
    kkt = float(np.sqrt(np.sum((gW + 2 * mW / K * W) ** 2) + np.sum((gH + 2 * mH / K * H) ** 2)))
    return W, H, float(mW), float(mH), kkt, int(res.nit)


@closed_form
def minority_cosines(W: np.ndarray, K_A: int) -> np.ndarray:
    """Pairwise cosines of the minority classifiers w_{K_A+1}, …, w_K."""
    B = W[K_A:]
    n = np.linalg.norm(B, axis=1)
    C = (B @ B.T) / np.outer(n, n)
    return C[np.triu_indices(B.shape[0], 1)]


@dataclass
class Solution:
    status: str
    upper: float            # objective at a feasible rank-<=d point
    lower: float            # weak-duality lower bound
    W: np.ndarray           # K×r classifiers (polished)
    H: np.ndarray           # K×r class means (polished)
    minority_cos: np.ndarray
    mult_W: float
    mult_H: float
    info: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.upper - self.lower


def solve_sdp(K_A: int, K_B: int, R: float, E_W: float, E_H: float, d: int | None = None) -> Solution:
    """Fang et al.'s SDP relaxation, solved by Clarabel, factored to rank <= d, polished, certified."""
    import cvxpy as cp  # heavy optional import, only where it is used

    K = K_A + K_B
    d = 2 * K if d is None else d
    omega = class_weights(K_A, K_B, R)
    X = cp.Variable((2 * K, 2 * K), PSD=True)
    Z = X[K:, :K]
    obj = sum(omega[k] * (cp.log_sum_exp(Z[:, k]) - Z[k, k]) for k in range(K))
    cons = [cp.trace(X[:K, :K]) <= K * E_H, cp.trace(X[K:, K:]) <= K * E_W]
    prob = cp.Problem(cp.Minimize(obj), cons)
    solver, attempts = _solve(prob, X, "CLARABEL")
    if X.value is None:
        nan = np.full((K, d), np.nan)
        return Solution(prob.status, np.nan, np.nan, nan, nan, np.full(1, np.nan), np.nan, np.nan,
                        {"attempts": attempts})
    Xs = (X.value + X.value.T) / 2
    ev, V = np.linalg.eigh(Xs)
    keep = np.argsort(ev)[::-1][:d]
    F = V[:, keep] * np.sqrt(np.clip(ev[keep], 0, None))
    W, H, mW, mH, kkt, nit = polish(F[K:], F[:K], omega, E_W, E_H)
    Zp = W @ H.T
    upper, lower = objective(Zp, omega), lower_bound(Zp, omega, E_W, E_H)
    viol = max(float(-ev.min()), np.trace(Xs[:K, :K]) - K * E_H, np.trace(Xs[K:, K:]) - K * E_W, 0.0)
    info = {"status": prob.status, "solver": solver, "attempts": attempts, "solver_value": float(prob.value),
            "dual_bound": lower, "rank_d_value": upper, "gap": upper - lower, "primal_residual": float(viol),
            "sdp_rank": numerical_rank_psd(Xs, 1e-6), "sdp_dual_budget_H": float(cons[0].dual_value),
            "sdp_dual_budget_W": float(cons[1].dual_value), "polish_iterations": nit, "kkt_residual": kkt,
            "solver_minority_cos": minority_cosines(F[K:], K_A).tolist(),
            "solve_time": prob.solver_stats.solve_time}
    return Solution(prob.status, upper, lower, W, H, minority_cosines(W, K_A), mW, mH, info)


def collapse_threshold_sdp(K_A: int, K_B: int, E_W: float, E_H: float, *, lo: float = 1.0, hi: float = 1e4,
                           cos_tol: float = 1e-6, rel_width: float = 1e-3, d: int | None = None) -> dict:
    """Bisection (in log R) for R* = inf{R : every minority cosine >= 1 − cos_tol} on the SDP
    solutions; stops when hi/lo − 1 <= rel_width.  Assumes collapse is monotone in R."""
    def collapsed(R):
        return bool(np.min(solve_sdp(K_A, K_B, R, E_W, E_H, d).minority_cos) >= 1 - cos_tol)

    if collapsed(lo) or not collapsed(hi):
        return {"R_star": np.nan, "lo": lo, "hi": hi, "bracketed": False}
    steps = 0
    while hi / lo - 1 > rel_width:
        mid = np.sqrt(lo * hi)
        lo, hi = (lo, mid) if collapsed(mid) else (mid, hi)
        steps += 1
    return {"R_star": float(np.sqrt(lo * hi)), "lo": float(lo), "hi": float(hi), "bracketed": True, "steps": steps}


def collapsed_optimum(K_A: int, K_B: int, R: float, E_W: float, E_H: float, r: int | None = None,
                      seed: int = 0, gtol: float = 1e-12) -> dict:
    """The optimum restricted to minority-collapsed configurations (w_k = w_B, h̄_k = h̄_B for
    every minority k), by L-BFGS on log f over the budget spheres from a seeded start, and the
    collapse certificate ratio ω_B/(2√(μ_W μ_H)/K) at it: < 1 iff the slack of the SDP is
    positive definite on the minority differences, i.e. the collapsed point is the SDP optimum."""
    K = K_A + K_B
    r = K if r is None else r
    omega = class_weights(K_A, K_B, R)
    E = np.zeros((K, K_A + 1))
    E[np.arange(K_A), np.arange(K_A)] = 1.0
    E[K_A:, K_A] = 1.0
    a, b = np.sqrt(K * E_W), np.sqrt(K * E_H)
    m = (K_A + 1) * r

    def expand(z):
        MW, MH = E @ z[:m].reshape(K_A + 1, r), E @ z[m:].reshape(K_A + 1, r)
        return MW, MH, np.linalg.norm(MW), np.linalg.norm(MH)

    def fun(z):
        MW, MH, nw, nh = expand(z)
        W, H = a * MW / nw, b * MH / nh
        f, gW, gH = _grads(W, H, omega)
        uW, uH = W / a, H / b
        gMW = a / nw * (gW - uW * np.sum(gW * uW))
        gMH = b / nh * (gH - uH * np.sum(gH * uH))
        return np.log(f), np.concatenate([(E.T @ gMW).ravel(), (E.T @ gMH).ravel()]) / f

    z0 = np.random.default_rng(seed).standard_normal(2 * m)
    res = optimize.minimize(fun, z0, jac=True, method="L-BFGS-B",
                            options={"maxiter": 20000, "gtol": gtol, "ftol": 0.0, "maxcor": 30})
    MW, MH, nw, nh = expand(res.x)
    W, H = a * MW / nw, b * MH / nh
    f, gW, gH = _grads(W, H, omega)
    mW = -K * np.sum(gW * W) / (2 * np.sum(W * W))
    mH = -K * np.sum(gH * H) / (2 * np.sum(H * H))
    return {"loss": f, "W": W, "H": H, "mult_W": float(mW), "mult_H": float(mH),
            "ratio": float(omega[-1] / (2 * np.sqrt(mW * mH) / K)), "grad_norm": float(np.linalg.norm(res.jac)),
            "iterations": int(res.nit)}


def collapse_threshold_certificate(K_A: int, K_B: int, E_W: float, E_H: float, lo: float = 1.0,
                                   hi: float = 1e4, xtol: float = 1e-10) -> dict:
    """R* as the root of ratio(R) = 1 (Brent, in log R) along the collapsed optima."""
    def g(logR):
        return collapsed_optimum(K_A, K_B, float(np.exp(logR)), E_W, E_H)["ratio"] - 1

    if not (g(np.log(lo)) > 0 > g(np.log(hi))):
        return {"R_star": np.nan, "bracketed": False}
    root = optimize.brentq(g, np.log(lo), np.log(hi), xtol=xtol)
    return {"R_star": float(np.exp(root)), "bracketed": True}
