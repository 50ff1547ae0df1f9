"""Independent optima for the perturbation-analysis claims (scipy; THEORY.md §6).

Objective (N = Kn, Y = I_K ⊗ 1_nᵀ): L(W, H) = (1/(2N))‖WH − Y‖² + (λ_W/2)‖W‖² + (γ/(2N))‖H − H_0‖².
Nothing here evaluates a closed form: minimizers come from L-BFGS (polished by Newton steps on
the exactly assembled Hessian), trajectories from scipy's DOP853 integrator.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

from theory import perturbation as th
from numerics import closed_form


# --------------------------------------------------------------------------- instances and measures


def labels(K: int, n: int) -> np.ndarray:
    return np.kron(np.eye(K), np.ones((1, n)))


@closed_form
def within_projector(K: int, n: int) -> np.ndarray:
    return np.eye(K * n) - np.kron(np.eye(K), np.ones((n, n)) / n)


def matrix(rows: int, cols: int, salt: int) -> np.ndarray:
    """The theory's exact rational instance, as floats."""
    return np.array(th.int_matrix(rows, cols, salt), dtype=np.float64) / 4.0


def contraction_instance(K: int, n: int, d: int):
    return matrix(K, d, th.SALT_W), matrix(d, K * n, th.SALT_H0)


def near_collapse_instance(K: int, n: int, d: int):
    return matrix(d, K, th.SALT_MEANS), matrix(d, K * n, th.SALT_E) @ within_projector(K, n)


@closed_form
def sigma_w(H: np.ndarray, K: int, n: int) -> np.ndarray:
    """Σ_W(H) = E Eᵀ/N, E = HP."""
    E = H @ within_projector(K, n)
    return E @ E.T / (K * n)


@closed_form
def null_projector(W: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    _, s, Vt = np.linalg.svd(W)
    rank = int(np.sum(s > rtol * s[0])) if s.size else 0
    V0 = Vt[rank:].T
    return V0 @ V0.T


@closed_form
def measure_contraction(W, H0, H, K, n) -> dict[str, float]:
    s_star, s0 = sigma_w(H, K, n), sigma_w(H0, K, n)
    P = within_projector(K, n)
    return {"tr_sigma_w": float(np.trace(s_star)), "sigma_w_fro_sq": float(np.sum(s_star ** 2)),
            "tr_ratio": float(np.trace(s_star) / np.trace(s0)),
            "null_shift": float(np.linalg.norm(null_projector(W) @ (H - H0) @ P))}


# --------------------------------------------------------------------------- 1. fixed W


def contraction_lbfgs(W, H0, gamma, K, n, gtol=1e-14):
    """argmin_H (1/(2N))‖WH − Y‖² + (γ/(2N))‖H − H_0‖² by L-BFGS from H = 0, then Newton steps with the
    Hessian (WᵀW + γI)/N (in floats) while they lower the gradient: L-BFGS-B can stop at the rounding floor
    of f with max |∇f| ~ 3e-10 (scipy 1.17 at K = 3), above the 1e-10 the check asks for."""
    N, d = K * n, W.shape[1]
    Y = labels(K, n)

    def fg(x):
        H = x.reshape(d, N)
        R, D = W @ H - Y, H - H0
        f = (np.sum(R ** 2) + gamma * np.sum(D ** 2)) / (2 * N)
        return f, ((W.T @ R + gamma * D) / N).ravel()

    r = minimize(fg, np.zeros(d * N), jac=True, method="L-BFGS-B",
                 options={"maxiter": 50000, "gtol": gtol, "ftol": 0.0, "maxcor": 30})
    x, g = r.x, float(np.max(np.abs(fg(r.x)[1])))
    hess = (W.T @ W + gamma * np.eye(d)) / N              # ∇²f acts on each column of H
    newton = 0
    for _ in range(3):
        trial = x - np.linalg.solve(hess, fg(x)[1].reshape(d, N)).ravel()
        g_trial = float(np.max(np.abs(fg(trial)[1])))
        if not g_trial < g:
            break
        x, g, newton = trial, g_trial, newton + 1
    return x.reshape(d, N), {"iterations": int(r.nit), "newton_steps": newton, "grad_max": g,
                             "scipy_message": str(r.message)}


# --------------------------------------------------------------------------- 2. joint (W, H)


class Joint:
    """The joint objective in x = (vec W, vec H), its gradient and Hessian."""

    def __init__(self, K, n, d, gamma, lambda_W, H0):
        self.K, self.n, self.d, self.N = K, n, d, K * n
        self.gamma, self.lw, self.H0, self.Y = gamma, lambda_W, H0, labels(K, n)

    def split(self, x):
        k = self.K * self.d
        return x[:k].reshape(self.K, self.d), x[k:].reshape(self.d, self.N)

    @closed_form
    def fg(self, x):
        W, H = self.split(x)
        R, D = W @ H - self.Y, H - self.H0
        f = (np.sum(R ** 2) + self.gamma * np.sum(D ** 2)) / (2 * self.N) + self.lw / 2 * np.sum(W ** 2)
        gW = R @ H.T / self.N + self.lw * W
        gH = (W.T @ R + self.gamma * D) / self.N
        return f, np.concatenate([gW.ravel(), gH.ravel()])

    def hessian(self, x):
        """Assembled column by column from the exact Hessian-vector product."""
        W, H = self.split(x)
        R = W @ H - self.Y
        cols = []
        for v in np.eye(x.size):
            dW, dH = self.split(v)
            dR = dW @ H + W @ dH
            gW = (dR @ H.T + R @ dH.T) / self.N + self.lw * dW
            gH = (dW.T @ R + W.T @ dR + self.gamma * dH) / self.N
            cols.append(np.concatenate([gW.ravel(), gH.ravel()]))
        Hm = np.array(cols).T
        return (Hm + Hm.T) / 2

    def solve(self, x0, newton_steps=2):
        r = minimize(self.fg, x0, jac=True, method="L-BFGS-B",
                     options={"maxiter": 50000, "gtol": 1e-12, "ftol": 0.0, "maxcor": 30})
        x = r.x
        for _ in range(newton_steps):
            x = x - np.linalg.solve(self.hessian(x), self.fg(x)[1])
        grad = float(np.max(np.abs(self.fg(x)[1])))
        return x, {"lbfgs_iterations": int(r.nit), "grad_max": grad,
                   "min_hessian_eig": float(np.linalg.eigvalsh(self.hessian(x))[0])}


def central_start(Hcol, K, n, lambda_W):
    """x = (W*(H), H) with W*(H) = YHᵀ(HHᵀ + Nλ_W I)⁻¹ solved by least squares (the central path)."""
    N, d = K * n, Hcol.shape[0]
    A = np.vstack([Hcol.T, np.sqrt(N * lambda_W) * np.eye(d)])
    B = np.vstack([labels(K, n).T, np.zeros((d, K))])
    W = np.linalg.lstsq(A, B, rcond=None)[0].T
    return np.concatenate([W.ravel(), Hcol.ravel()])


def fit_slope(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def fit_exponent(eps, err) -> float:
    """p in log err = log C + p log ε + β ε² (least squares): the errors here are Cε^p(1 + βε² + O(ε⁴))
    (the reduced objective is even in ε), so the ε² term absorbs the leading finite-ε bias of the slope."""
    eps = np.asarray(eps, dtype=np.float64)
    A = np.column_stack([np.ones_like(eps), np.log(eps), eps ** 2 / np.max(eps) ** 2])
    return float(np.linalg.lstsq(A, np.log(err), rcond=None)[0][1])


@closed_form
def expansion_errors(K, n, W0, H0star, Hs, Ws, eps, E, gamma):
    """Errors of (W_0, H̄_0*⊗1ᵀ + εS(W_0)E) against the minimizers (Ws[i], Hs[i]) at eps[i]."""
    d = W0.shape[1]
    S0 = gamma * np.linalg.inv(W0.T @ W0 + gamma * np.eye(d))
    P = within_projector(K, n)
    h, w, e = [], [], []
    for ep, W, H in zip(eps, Ws, Hs):
        first = ep * S0 @ E
        h.append(np.linalg.norm(H - H0star - first))
        w.append(np.linalg.norm(W - W0))
        e.append(np.linalg.norm(H @ P - first))
    return {"h_error": np.array(h), "w_error": np.array(w), "within_error": np.array(e)}


def near_collapse_sweep(K, n, d, gamma, lambda_W, eps):
    """Minimize at ε = 0 from the central-path point at H̄_0⊗1ᵀ, then at each ε from that minimizer."""
    Hbar0, E = near_collapse_instance(K, n, d)
    M0 = np.kron(Hbar0, np.ones((1, n)))
    base = Joint(K, n, d, gamma, lambda_W, M0)
    x0, info0 = base.solve(central_start(M0, K, n, lambda_W))
    W0, H0star = base.split(x0)
    Ws, Hs, infos = [], [], []
    for ep in eps:
        J = Joint(K, n, d, gamma, lambda_W, M0 + ep * E)
        x, info = J.solve(x0)
        W, H = J.split(x)
        Ws.append(W)
        Hs.append(H)
        infos.append(info)
    errs = expansion_errors(K, n, W0, H0star, Hs, Ws, eps, E, gamma)
    info = {"eps": list(map(float, eps)), "grad_max": max(i["grad_max"] for i in infos + [info0]),
            "min_hessian_eig": min(i["min_hessian_eig"] for i in infos + [info0]),
            "within_at_eps0": float(np.linalg.norm(H0star @ within_projector(K, n))),
            **{k: v.tolist() for k, v in errs.items()}}
    return errs, info


# --------------------------------------------------------------------------- 3. central-path flow


@closed_form
def central_path_rhs(K, n, d, lambda_W):
    N, Y = K * n, labels(K, n)

    def rhs(t, x):
        H = x.reshape(d, N)
        W = np.linalg.solve(H @ H.T + N * lambda_W * np.eye(d), H @ Y.T).T
        return (-(W.T @ (W @ H - Y)) / N).ravel()

    return rhs


FD5 = np.array([-25.0, 48.0, -36.0, 16.0, -3.0]) / 12.0   # f'(0) from f(0), f(h), ..., f(4h)


def central_path_flow(K, n, d, lambda_W, T, h, points):
    """DOP853 (rtol 1e-13) from H_0: Tr Σ_W at 0..4h (initial rate by a 5-point difference) and on a grid."""
    _, H0 = contraction_instance(K, n, d)
    times = np.concatenate([h * np.arange(5), np.linspace(5 * h, T, points)])
    sol = solve_ivp(central_path_rhs(K, n, d, lambda_W), (0.0, T), H0.ravel(), method="DOP853",
                    t_eval=times, rtol=1e-13, atol=1e-14)
    tr = np.array([np.trace(sigma_w(x.reshape(d, K * n), K, n)) for x in sol.y.T])
    rate = float(FD5 @ tr[:5] / h)
    return {"tr_sigma_w_0": float(tr[0]), "initial_rate": rate,
            "tr_increase": float(max(np.max(np.diff(tr)), 0.0))}, {
        "solver": "DOP853", "success": bool(sol.success), "evaluations": int(sol.nfev), "T": T,
        "tr_sigma_w_T": float(tr[-1]), "times": times.tolist(), "tr_sigma_w": tr.tolist()}


# --------------------------------------------------------------------------- 4. regularization grid


def aligned_instance(K, n, d, c, eps):
    """H_0 = cU ⊗ 1ᵀ + εE with U = [I_K; 0] and the near-collapse instance's E."""
    U = np.zeros((d, K))
    U[:K, :K] = np.eye(K)
    _, E = near_collapse_instance(K, n, d)
    return np.kron(c * U, np.ones((1, n))) + eps * E


def regularization_grid(lambda_W, gamma):
    return [(lambda_W * f, gamma * h) for h in (0.25, 1.0, 4.0) for f in (0.25, 1.0, 4.0)]


def increasing_fractions(leading) -> dict[str, float]:
    """Fractions of the grid's steps (λ_W: within rows; γ: across rows) along which ``leading`` grows."""
    L = np.asarray(leading).reshape(3, 3)          # rows: γ, columns: λ_W
    return {"increasing_in_lambda_W": float(np.mean(np.diff(L, axis=1) > 0)),
            "increasing_in_gamma": float(np.mean(np.diff(L, axis=0) > 0))}


def regularization_sweep(K, n, d, lambda_W, gamma, c, eps):
    """ε⁻² Tr Σ_W(H*) at each grid point (joint minimizer from the central-path point at H_0)."""
    H0 = aligned_instance(K, n, d, c, eps)
    leading, infos = [], []
    for lw, g in regularization_grid(lambda_W, gamma):
        J = Joint(K, n, d, g, lw, H0)
        x, info = J.solve(central_start(H0, K, n, lw))
        leading.append(float(np.trace(sigma_w(J.split(x)[1], K, n))) / eps ** 2)
        infos.append(info)
    return np.array(leading), {"eps": eps, "grad_max": max(i["grad_max"] for i in infos),
                               "min_hessian_eig": min(i["min_hessian_eig"] for i in infos),
                               "leading": leading}
