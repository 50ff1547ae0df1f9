"""Independent numerical constructions and optima for the ETF-family claims.

Nothing here evaluates a closed form from ``theory``: the point of these routines
is to find the answer another way (an eigendecomposition, a certified SDP, a
quasi-Newton optimum, an SQP optimum) so that the claims can be compared with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from numerics import closed_form


# --------------------------------------------------------------------------- helpers
def random_orthonormal(d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A d×k matrix with orthonormal columns, Haar-distributed (QR with sign fix)."""
    if k > d:
        raise ValueError(f"d={d} is too small for {k} orthonormal columns")
    q, r = np.linalg.qr(rng.standard_normal((d, k)))
    return q * np.sign(np.diag(r))


@closed_form
def unit_columns(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=0, keepdims=True)


@closed_form
def offdiag(G: np.ndarray) -> np.ndarray:
    return G[~np.eye(G.shape[0], dtype=bool)]


def numerical_rank(X: np.ndarray, rtol: float | None = None) -> int:
    """Singular values above ``rtol``·σ_max (default: max(shape)·eps, LAPACK's)."""
    s = np.linalg.svd(X, compute_uv=False)
    rtol = max(X.shape) * np.finfo(float).eps if rtol is None else rtol
    return int(np.sum(s > rtol * s[0]))


@closed_form
def measure_frame(X: np.ndarray, rank_rtol: float | None = None) -> dict[str, np.ndarray | float]:
    """Geometric quantities of the frame whose columns are X (d×K), all measured.

    ``frame_eig`` holds the nonzero eigenvalues of XXᵀ (as many as the numerical
    rank), so a tight frame shows them all equal.  An optimizer's output is only
    accurate to its convergence tolerance: pass ``rank_rtol`` accordingly.
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=0)
    U = X / norms
    G = X.T @ X
    rank = numerical_rank(X, rank_rtol)
    eig = np.linalg.eigvalsh(X @ X.T)[::-1][:rank]
    return {
        "norm": norms,
        "cos": offdiag(U.T @ U),
        "colsum_norm": float(np.linalg.norm(X.sum(axis=1))),
        "rank": float(rank),
        "frame_eig": eig,
        "fro2": float(np.sum(X * X)),
        "frame_potential": float(np.sum(G * G)),
    }


# --------------------------------------------------------------------------- simplex ETF
def simplex_etf(K: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A simplex ETF built without its closed form, randomly rotated into R^d.

    The eigenvectors of the centring matrix I − J/K with eigenvalue 1 span 1^⊥;
    their K coordinates give K points of a regular simplex in R^{K−1}, whose
    columns are then normalized numerically and rotated by a Haar orthonormal
    d×(K−1) matrix.
    """
    if K < 2:
        raise ValueError(f"K={K}: a simplex ETF needs K >= 2")
    if d < K - 1:
        raise ValueError(f"d={d} is too small for a simplex ETF with K={K} (needs d >= K-1)")
    w, V = np.linalg.eigh(np.eye(K) - np.full((K, K), 1.0 / K))
    P = V[:, w > 0.5].T                              # (K−1)×K, PPᵀ = I, P1 = 0
    return random_orthonormal(d, K - 1, rng) @ unit_columns(P)


# --------------------------------------------------------------------------- max-min SDP
@dataclass
class SDPCertificate:
    """Solution of min t s.t. G ⪰ 0, diag G = 1, G_ij <= t with a checked certificate.

    ``upper`` is max_{i≠j} G_ij of the solver's G projected onto the feasible set
    (PSD part, rescaled to unit diagonal): a feasible point.  ``lower`` is the
    value of a dual-feasible point repaired from the solver's multipliers: a
    rigorous lower bound.  The optimum lies in [lower, upper].
    """

    status: str
    solver: str
    upper: float
    lower: float
    gram: np.ndarray
    primal_residual: float
    info: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.upper - self.lower


@closed_form
def _dual_lower_bound(y: np.ndarray, nu: np.ndarray, K: int) -> float:
    """Weak duality for the max-min SDP.

    For y >= 0 with Σ y = 1 and Z = Ỹ + diag(ν) ⪰ 0 (Ỹ_ij = Ỹ_ji = y_ij/2), every
    feasible (G, t) has t >= −Σ ν.  Any ν is repaired to feasibility by adding
    the most negative eigenvalue of Z to all its entries.
    """
    y = np.clip(y, 0.0, None)
    if y.sum() <= 0:
        return -np.inf
    y = y / y.sum()
    Yt = np.zeros((K, K))
    iu = np.triu_indices(K, 1)
    Yt[iu] = y / 2
    Yt = Yt + Yt.T
    shift = max(0.0, -np.linalg.eigvalsh(Yt + np.diag(nu))[0])
    return float(-(nu + shift).sum())


def max_min_angle_sdp(K: int, solver: str | None = None) -> SDPCertificate:
    r"""Solve the relaxation :math:`\min t` s.t. :math:`G \succeq 0`, :math:`G_{ii}=1`,
    :math:`G_{ij} \le t` (i < j) and certify its value.

    Clarabel (interior point, accurate) for K <= 60, SCS beyond (see THEORY.md §10).
    """
    import cvxpy as cp  # heavy optional import, only where it is used

    if K < 2:
        raise ValueError(f"K={K}: need K >= 2")
    solver = solver or ("CLARABEL" if K <= 60 else "SCS")
    G = cp.Variable((K, K), PSD=True)
    t = cp.Variable()
    iu = np.triu_indices(K, 1)
    diag = cp.diag(G) == 1
    offd = G[iu] <= t
    prob = cp.Problem(cp.Minimize(t), [diag, offd])
    kwargs = {"eps": 1e-9} if solver == "SCS" else {}
    prob.solve(solver=solver, **kwargs)
    if G.value is None:
        return SDPCertificate(prob.status, solver, np.nan, np.nan, np.full((K, K), np.nan), np.inf)
    Gv = (G.value + G.value.T) / 2
    w, V = np.linalg.eigh(Gv)
    primal_residual = float(max(-w[0], 0.0, np.max(np.abs(np.diag(Gv) - 1))))
    Gp = (V * np.clip(w, 0, None)) @ V.T                  # nearest PSD matrix
    s = 1 / np.sqrt(np.diag(Gp))
    Gp = Gp * np.outer(s, s)                              # unit diagonal, still PSD
    upper = float(offdiag(Gp).max())
    y = np.asarray(offd.dual_value, dtype=float).ravel()
    nu = np.asarray(diag.dual_value, dtype=float).ravel()
    # cvxpy's sign convention for equality multipliers is not part of the contract;
    # both signs give valid bounds after repair, take the better one.
    lower = max(_dual_lower_bound(y, nu, K), _dual_lower_bound(y, -nu, K))
    return SDPCertificate(prob.status, solver, upper, lower, Gp, primal_residual,
                          {"solver_value": float(prob.value), "solve_time": prob.solver_stats.solve_time})


# --------------------------------------------------------------------------- frame potential
@closed_form
def _sphere_objective(fun_of_gram):
    """Wrap f(G) with G = UᵀU, U = unit columns of X; return value and gradient in X."""

    def value_and_grad(x: np.ndarray, d: int, K: int):
        X = x.reshape(d, K)
        n = np.linalg.norm(X, axis=0)
        U = X / n
        f, dG = fun_of_gram(U.T @ U)
        dU = U @ (dG + dG.T)                               # ∂f/∂U
        dX = (dU - U * np.sum(U * dU, axis=0)) / n         # through the normalization
        return f, dX.ravel()

    return value_and_grad


@closed_form
def _frame_potential(G: np.ndarray):
    return float(np.sum(G * G)), 2 * G


@dataclass
class Optimum:
    X: np.ndarray
    value: float
    info: dict


def multistart(value_and_grad, d: int, K: int, rng: np.random.Generator, starts: int,
               gtol: float = 1e-13) -> Optimum:
    """Best of ``starts`` L-BFGS runs from Gaussian starts (float64)."""
    best = None
    runs = []
    for _ in range(starts):
        x0 = rng.standard_normal(d * K)
        res = optimize.minimize(value_and_grad, x0, args=(d, K), jac=True, method="L-BFGS-B",
                                options={"maxiter": 20000, "gtol": gtol, "ftol": 0.0})
        runs.append(float(res.fun))
        if best is None or res.fun < best.fun:
            best = res
    X = unit_columns(best.x.reshape(d, K))
    gnorm = float(np.linalg.norm(value_and_grad(best.x, d, K)[1]))
    return Optimum(X, float(best.fun), {"starts": starts, "values": runs, "iterations": int(best.nit),
                                        "grad_norm": gnorm, "message": str(best.message)})


def min_frame_potential(K: int, d: int, rng: np.random.Generator, starts: int = 3) -> Optimum:
    """Minimize Σ_{i,j}⟨x_i,x_j⟩² over unit x_1..x_K ∈ R^d by multistart L-BFGS."""
    return multistart(_sphere_objective(_frame_potential), d, K, rng, starts)


# --------------------------------------------------------------------------- spherical codes
@closed_form
def _soft_max_cosine(tau: float):
    """τ·log Σ_{i<j} exp(G_ij/τ), a smooth upper bound of max_{i<j} G_ij (within τ·log K²)."""

    def f(G: np.ndarray):
        K = G.shape[0]
        iu = np.triu_indices(K, 1)
        z = G[iu] / tau
        zmax = z.max()
        w = np.exp(z - zmax)
        dG = np.zeros_like(G)
        dG[iu] = w / w.sum()
        return float(tau * (zmax + np.log(w.sum()))), dG

    return f


def best_spherical_code(K: int, d: int, rng: np.random.Generator, starts: int = 8,
                        tau: float = 0.02) -> Optimum:
    """Maximize the minimum angle of K unit vectors in R^d by SQP (SLSQP), multistart.

    Variables (X, t); minimize t subject to ⟨x_i,x_j⟩ <= t (i < j) and ‖x_i‖² = 1,
    each start first smoothed by L-BFGS on a soft maximum of the cosines.  A
    nonconvex program: the best of several starts is reported with all values.
    """
    iu = np.triu_indices(K, 1)

    def cons_ineq(z):
        X = z[:-1].reshape(d, K)
        return z[-1] - (X.T @ X)[iu]

    rows = np.arange(len(iu[0]))
    cols_i = np.arange(d)[None, :] * K + iu[0][:, None]     # positions of x_i in the flat X
    cols_j = np.arange(d)[None, :] * K + iu[1][:, None]

    def cons_ineq_jac(z):
        X = z[:-1].reshape(d, K)
        J = np.zeros((len(rows), d * K + 1))
        J[rows[:, None], cols_i] = -X[:, iu[1]].T             # ∂(t − ⟨x_i,x_j⟩)/∂x_i = −x_j
        J[rows[:, None], cols_j] = -X[:, iu[0]].T
        J[:, -1] = 1
        return J

    def cons_eq(z):
        X = z[:-1].reshape(d, K)
        return np.sum(X * X, axis=0) - 1

    own = np.arange(d)[None, :] * K + np.arange(K)[:, None]

    def cons_eq_jac(z):
        X = z[:-1].reshape(d, K)
        J = np.zeros((K, d * K + 1))
        J[np.arange(K)[:, None], own] = 2 * X.T
        return J

    objective_grad = np.zeros(d * K + 1)
    objective_grad[-1] = 1
    smooth = _sphere_objective(_soft_max_cosine(tau))
    best, values = None, []
    for _ in range(starts):
        # Stage 1: a smooth surrogate (soft maximum of the cosines) by L-BFGS brings a
        # Gaussian start near a local optimum cheaply; stage 2: SQP on the exact program.
        x0 = rng.standard_normal(d * K)
        pre = optimize.minimize(smooth, x0, args=(d, K), jac=True, method="L-BFGS-B",
                                options={"maxiter": 3000, "gtol": 1e-10})
        X0 = unit_columns(pre.x.reshape(d, K))
        z0 = np.append(X0.ravel(), offdiag(X0.T @ X0).max())
        res = optimize.minimize(lambda z: z[-1], z0, jac=lambda z: objective_grad, method="SLSQP",
                                constraints=[{"type": "ineq", "fun": cons_ineq, "jac": cons_ineq_jac},
                                             {"type": "eq", "fun": cons_eq, "jac": cons_eq_jac}],
                                options={"maxiter": 500, "ftol": 1e-15})
        X = unit_columns(res.x[:-1].reshape(d, K))
        value = float(offdiag(X.T @ X).max())              # re-measured on exactly unit vectors
        values.append(value)
        if best is None or value < best[1]:
            best = (X, value, res)
    X, value, res = best
    return Optimum(X, value, {"starts": starts, "values": values, "iterations": int(res.nit),
                              "message": str(res.message)})
