"""Hong & Ling's convex form of the imbalanced CE UFM, solved and certified with cvxpy (Clarabel).

Engine normalization (simulations/ufm.py), class sizes n_k, N = Σ n_k, D = diag(√n_k):
    f(W, H, b) = (1/N) Σ_i CE(W h_i + b, y_i) + (λ_W/2)‖W‖² + (λ_H/2)‖H‖² + (λ_b/2)‖b‖².
Its minimum equals that of the convex program in Z = W H̄ (K×K, column k the logits of class k)
    F(Z, b) = (1/N) Σ_k n_k CE(z_k + b, k) + μ ‖Z D‖_* + (λ_b/2)‖b‖²,   μ = √(λ_W λ_H),
(the authors' code: the same with l‖ZD‖_* + l_b‖b‖², their training loss having no ½:
l = 2√(λ'_W λ'_H), l_b = λ'_b).  Writing X = Z D and L the CE part, any (X, b) certifies
    F* >= L − ⟨∇_X L, X⟩ − ⟨∇_b L, b⟩ − ‖∇_b L‖²/(2λ_b) + min(0, μ − ‖∇_X L‖_op)·log(K)/μ
(convexity of L; ‖X*‖_* <= F(0, 0)/μ = log K/μ), and F(Z, b) itself is an upper bound.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numerics import closed_form


def groups_of(counts) -> list[tuple[int, ...]]:
    """Classes sharing a size, as index tuples (only groups of two or more classes)."""
    by: dict[int, list[int]] = {}
    for k, c in enumerate(counts):
        by.setdefault(int(c), []).append(k)
    return [tuple(v) for _, v in sorted(by.items()) if len(v) >= 2]


@closed_form
def softmax_columns(Z: np.ndarray) -> np.ndarray:
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


@closed_form
def ce_part(Z: np.ndarray, b: np.ndarray, counts) -> tuple[float, np.ndarray]:
    """L = (1/N) Σ_k n_k CE(z_k + b, k) and its gradient G = ∂L/∂Z (columns (n_k/N)(p_k − e_k))."""
    n = np.asarray(counts, dtype=np.float64)
    N, K = n.sum(), len(n)
    A = Z + b[:, None]
    m = A.max(axis=0)
    lse = m + np.log(np.exp(A - m).sum(axis=0))
    L = float(np.sum(n * (lse - np.diag(A))) / N)
    G = (softmax_columns(A) - np.eye(K)) * (n / N)[None, :]
    return L, G


@closed_form
def objective(Z: np.ndarray, b: np.ndarray, counts, mu: float, lambda_b: float) -> float:
    """F(Z, b) = L + μ‖Z D‖_* + (λ_b/2)‖b‖²."""
    X = Z * np.sqrt(np.asarray(counts, dtype=np.float64))[None, :]
    return ce_part(Z, b, counts)[0] + mu * float(np.linalg.svd(X, compute_uv=False).sum()) + 0.5 * lambda_b * float(b @ b)


@closed_form
def contrast_projector(K: int, group) -> np.ndarray:
    """Orthogonal projector onto vectors supported on ``group`` with zero sum there."""
    P = np.zeros((K, K))
    g = list(group)
    P[np.ix_(g, g)] = np.eye(len(g)) - 1.0 / len(g)
    return P


@closed_form
def contrast_dual(Z: np.ndarray, b: np.ndarray, counts, group) -> tuple[float, float]:
    """(γ, residual): the scalar of −P_g ∇_X L P_g = γ P_g (its trace over |g| − 1), and
    ‖P_g ∇_X L P_g + γ P_g‖_F (0 at a point invariant under permutations of g)."""
    K = len(counts)
    _, G = ce_part(Z, b, counts)
    Gamma = -G / np.sqrt(np.asarray(counts, dtype=np.float64))[None, :]
    P = contrast_projector(K, group)
    B = P @ Gamma @ P
    gam = float(np.trace(B) / (len(group) - 1))
    return gam, float(np.linalg.norm(B - gam * P))


@closed_form
def factor(Z: np.ndarray, counts, lambda_W: float, lambda_H: float, d: int, rank_tol: float = 1e-7):
    """The balanced factorization of X = Z D = U S Vᵀ: W = c U S^{1/2}, H̄ D = c⁻¹ S^{1/2} Vᵀ with
    c = (λ_H/λ_W)^{1/4}, so (λ_W/2)‖W‖² + (λ_H/2)Σ n_k‖h̄_k‖² = μ‖ZD‖_*.  W is K×d, H̄ is d×K
    (zero-padded; rank r <= d required).  Singular values below rank_tol·max(1, s_1) are dropped."""
    sq = np.sqrt(np.asarray(counts, dtype=np.float64))
    U, s, Vt = np.linalg.svd(Z * sq[None, :])
    r = int(np.sum(s > rank_tol * max(1.0, s[0])))
    if r > d:
        raise ValueError(f"d={d}: the convex optimum has rank {r} > d")
    c = (lambda_H / lambda_W) ** 0.25
    W, Hbar = np.zeros((len(counts), d)), np.zeros((d, len(counts)))
    root = np.sqrt(s[:r])
    W[:, :r] = c * U[:, :r] * root
    Hbar[:r] = (root[:, None] * Vt[:r]) / c / sq[None, :]
    return W, Hbar, r


@closed_form
def spread(V: np.ndarray, group, floor: float = 1e-3) -> float:
    """max over pairs in ``group`` of ‖v_i − v_j‖ / max(max_k ‖v_k‖, floor) (rows v_k): relative,
    or absolute over the floor where every row vanishes (the all-collapsed optimum Z = 0)."""
    scale = max(float(np.max(np.linalg.norm(V, axis=1))), floor)
    g = list(group)
    return max(float(np.linalg.norm(V[i] - V[j])) for a, i in enumerate(g) for j in g[a + 1:]) / scale


#: Clarabel tolerances: the defaults (1e-8) leave ‖∇_X L‖_op/μ − 1 ~ 2e-5 and a certified gap ~ 2e-5;
#: these give gaps <= 1e-10 in 30-45 interior-point iterations (measured at n = (8,8,1,1)).
SOLVER_OPTIONS = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10,
                  "max_iter": 400}
RETRY_OPTIONS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "max_iter": 400}


@dataclass
class ConvexSolution:
    Z: np.ndarray
    b: np.ndarray
    status: str
    lower: float
    upper: float
    info: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.upper - self.lower


class ConvexProgram:
    """The convex program for fixed class sizes and λ_b, with μ a cvxpy Parameter (re-solved cheaply)."""

    def __init__(self, counts, lambda_b: float, solver: str = "CLARABEL"):
        import cvxpy as cp  # heavy optional import, only where it is used

        self.counts = tuple(int(c) for c in counts)
        self.lambda_b, self.solver = float(lambda_b), solver
        K = len(self.counts)
        n = np.asarray(self.counts, dtype=np.float64)
        N = n.sum()
        self.Z, self.b = cp.Variable((K, K)), cp.Variable(K)
        self.mu = cp.Parameter(nonneg=True)
        A = self.Z + cp.reshape(self.b, (K, 1), order="F") @ np.ones((1, K))
        ce = cp.sum(cp.multiply(n / N, cp.log_sum_exp(A, axis=0) - cp.diag(A)))
        reg = self.mu * cp.normNuc(self.Z @ np.diag(np.sqrt(n))) + 0.5 * self.lambda_b * cp.sum_squares(self.b)
        self.problem = cp.Problem(cp.Minimize(ce + reg))

    def solve(self, mu: float) -> ConvexSolution:
        import warnings

        self.mu.value = float(mu)
        with warnings.catch_warnings():       # "optimal_inaccurate" is reported in the status, and certified
            warnings.simplefilter("ignore", UserWarning)
            self.problem.solve(solver=self.solver, **SOLVER_OPTIONS)
            retried = self.problem.status != "optimal"
            if retried:                       # Clarabel's floor: 1e-12 can stall where 1e-10 converges
                self.problem.solve(solver=self.solver, **RETRY_OPTIONS)
        Z, b = np.asarray(self.Z.value, dtype=np.float64), np.asarray(self.b.value, dtype=np.float64)
        return certify(Z, b, self.counts, mu, self.lambda_b, self.problem.status,
                       {"solver": self.solver, "solver_value": float(self.problem.value),
                        "iterations": self.problem.solver_stats.num_iters, "retried_at_1e-10": retried,
                        "solve_time_s": float(self.problem.solver_stats.solve_time or 0.0)})


@closed_form
def certify(Z, b, counts, mu, lambda_b, status="given", info=None) -> ConvexSolution:
    """The certified interval [lower, upper] ∋ F* of a candidate (Z, b) (module docstring)."""
    K = len(counts)
    sq = np.sqrt(np.asarray(counts, dtype=np.float64))
    L, G = ce_part(Z, b, counts)
    GX = G / sq[None, :]
    gb = G.sum(axis=1)
    X = Z * sq[None, :]
    op = float(np.linalg.norm(GX, 2))
    upper = objective(Z, b, counts, mu, lambda_b)
    lower = (L - float(np.sum(GX * X)) - float(gb @ b) - float(gb @ gb) / (2 * lambda_b)
             + min(0.0, mu - op) * np.log(K) / mu)
    info = {**(info or {}), "status": status, "certified_interval": [lower, upper], "gap": upper - lower,
            "grad_op_norm_over_mu": op / mu, "bias_stationarity": float(np.linalg.norm(gb + lambda_b * b))}
    return ConvexSolution(Z, b, status, float(lower), float(upper), info)


@lru_cache(maxsize=16)
def _program(counts: tuple, lambda_b: float) -> ConvexProgram:
    return ConvexProgram(counts, lambda_b)


@lru_cache(maxsize=32)
def _solved(counts: tuple, mu: float, lambda_b: float) -> ConvexSolution:
    return _program(counts, lambda_b).solve(mu)


def solve(counts, mu: float, lambda_b: float) -> ConvexSolution:
    """The certified convex optimum (cached: the numeric and simulation checks share it)."""
    s = _solved(tuple(int(c) for c in counts), float(mu), float(lambda_b))
    return ConvexSolution(s.Z.copy(), s.b.copy(), s.status, s.lower, s.upper, dict(s.info))


@closed_form
def full_objective(W, Hbar, b, counts, lambda_W, lambda_H, lambda_b) -> tuple[float, float]:
    """The UFM objective at features h_i = h̄_{y_i} and the norm of its full gradient
    (W, every h_i, b)."""
    n = np.asarray(counts, dtype=np.float64)
    Z = W @ Hbar
    L, G = ce_part(Z, b, counts)
    f = L + 0.5 * lambda_W * float(np.sum(W * W)) + 0.5 * lambda_H * float(np.sum(n * np.sum(Hbar * Hbar, axis=0))) \
        + 0.5 * lambda_b * float(b @ b)
    gW = G @ Hbar.T + lambda_W * W
    gh = W.T @ (G / n[None, :]) + lambda_H * Hbar          # per-sample gradient, the same for a class
    gb = G.sum(axis=1) + lambda_b * b
    gn = np.sqrt(np.sum(gW**2) + float(np.sum(n * np.sum(gh**2, axis=0))) + float(gb @ gb))
    return f, float(gn)


def feature_optima(W, b, counts, lambda_H, rng: np.random.Generator, starts: int = 2, steps: int = 100):
    """For fixed (W, b), every sample's own feature problem min_h (1/N)CE(Wh + b, y) + (λ_H/2)‖h‖²
    (λ_H-strongly convex) solved by damped Newton (exact Hessian (1/N)Wᵀ(diag p − ppᵀ)W + λ_H I,
    Armijo backtracking) from ``starts`` Gaussian starts per class; returns (K×starts×d solutions,
    the largest final gradient norm)."""
    N = float(sum(counts))
    K, d = W.shape
    out, worst = np.zeros((K, starts, d)), 0.0

    def parts(h, k):
        z = W @ h + b
        m = z.max()
        e = np.exp(z - m)
        p = e / e.sum()
        val = (m + np.log(e.sum()) - z[k]) / N + 0.5 * lambda_H * h @ h
        g = W.T @ (p - np.eye(K)[k]) / N + lambda_H * h
        return val, g, p

    for k in range(K):
        for s in range(starts):
            h = rng.standard_normal(d)
            val, g, p = parts(h, k)
            for _ in range(steps):
                if np.linalg.norm(g) <= 1e-15:
                    break
                Hm = W.T @ (np.diag(p) - np.outer(p, p)) @ W / N + lambda_H * np.eye(d)
                step = -np.linalg.solve(Hm, g)
                t = 1.0
                while t > 1e-12:
                    v2, g2, p2 = parts(h + t * step, k)
                    if v2 <= val + 1e-4 * t * (g @ step) or np.linalg.norm(g2) < np.linalg.norm(g):
                        break
                    t /= 2
                h, val, g, p = h + t * step, v2, g2, p2
            out[k, s] = h
            worst = max(worst, float(np.linalg.norm(g)))
    return out, worst


#: Newton steps per bisection solve: near the threshold the factored problem is quartic-flat in the
#: contrast direction (Newton gains 2/3 per step there); measured threshold errors: 5 steps <= 5.9e-7,
#: 30 steps <= 1.3e-7 at n = (8,8,2,1,1), (12,12,12,1,1,1), (30,10,10,3,3); others stop at gradient 1e-14
POLISH_STEPS = 30


def collapse_threshold(counts, group, lambda_b: float, mu0: float, rel_width: float = 1e-7,
                       rel_gap: float = 1e-9, max_solves: int = 60) -> dict:
    """μ at which the classes of ``group`` start to coincide, by bisection on the convex program.
    collapsed(μ) ⇔ the contrast multiplier γ_g of the Newton-polished solution is below μ(1 − rel_gap):
    the nuclear norm's subgradient block on the contrast space is then strictly inside the unit ball,
    which forces ZD to vanish there (complementarity; a spread test is blunter: near the threshold the
    factored problem is flat in that direction and the spread stalls at ~1e-7).  Bracket by
    halving/doubling from μ0."""
    prog = _program(tuple(int(c) for c in counts), float(lambda_b))
    sq = np.sqrt(np.asarray(counts, dtype=np.float64))
    P = contrast_projector(len(counts), group)
    solves = 0

    def collapsed(mu):
        nonlocal solves
        solves += 1
        s = prog.solve(mu)
        W, Hbar, _ = factor(s.Z, counts, mu, mu, len(counts))       # any split of μ² gives the same Z
        W, Hbar, b, _, _ = polish(W, Hbar, s.b, counts, mu, mu, lambda_b, steps=POLISH_STEPS)
        gam = contrast_dual(W @ Hbar, b, counts, group)[0]
        spreads.append((mu, float(np.linalg.norm(P @ ((W @ Hbar) * sq[None, :])))))
        return bool(gam < mu * (1 - rel_gap)), s.status

    spreads: list = []
    statuses = set()
    c0, st = collapsed(mu0)
    statuses.add(st)
    lo, hi = (None, mu0) if c0 else (mu0, None)
    while (lo is None or hi is None) and solves < 20:
        if lo is None:
            m = hi / 2
            c, st = collapsed(m)
            lo, hi = (lo, m) if c else (m, hi)
        else:
            m = lo * 2
            c, st = collapsed(m)
            lo, hi = (lo, m) if c else (m, hi)
        statuses.add(st)
    if lo is None or hi is None:
        return {"bracketed": False, "lo": lo, "hi": hi, "solves": solves, "statuses": sorted(statuses)}
    while hi - lo > rel_width * hi and solves < max_solves:
        m = 0.5 * (lo + hi)
        c, st = collapsed(m)
        statuses.add(st)
        lo, hi = (lo, m) if c else (m, hi)
    return {"bracketed": True, "lo": lo, "hi": hi, "solves": solves, "statuses": sorted(statuses),
            "width": hi - lo, "contrast_norm_at_lo": dict(spreads)[lo], "contrast_norm_at_hi": dict(spreads)[hi]}


@closed_form
def _mean_objective(x, counts, K, d, lambda_W, lambda_H, lambda_b):
    """The class-mean UFM (features collapsed) and its gradient, flat x = (W, H̄, b)."""
    n = np.asarray(counts, dtype=np.float64)
    W, Hbar, b = x[:K * d].reshape(K, d), x[K * d:2 * K * d].reshape(d, K), x[2 * K * d:]
    L, G = ce_part(W @ Hbar, b, counts)
    f = L + 0.5 * lambda_W * np.sum(W * W) + 0.5 * lambda_H * np.sum(n * np.sum(Hbar * Hbar, axis=0)) \
        + 0.5 * lambda_b * b @ b
    g = np.concatenate([(G @ Hbar.T + lambda_W * W).ravel(), (W.T @ G + lambda_H * Hbar * n[None, :]).ravel(),
                        G.sum(axis=1) + lambda_b * b])
    return float(f), g


def _mean_gradients(X, counts, K, d, lambda_W, lambda_H, lambda_b):
    """The class-mean UFM's gradient at every row of X (B×P), batched (for the Hessian)."""
    n = np.asarray(counts, dtype=np.float64)
    B = X.shape[0]
    W, Hbar, b = X[:, :K * d].reshape(B, K, d), X[:, K * d:2 * K * d].reshape(B, d, K), X[:, 2 * K * d:]
    A = W @ Hbar + b[:, :, None]
    E = np.exp(A - A.max(axis=1, keepdims=True))
    G = (E / E.sum(axis=1, keepdims=True) - np.eye(K)[None]) * (n / n.sum())[None, None, :]
    gW = G @ Hbar.transpose(0, 2, 1) + lambda_W * W
    gH = W.transpose(0, 2, 1) @ G + lambda_H * Hbar * n[None, None, :]
    gb = G.sum(axis=2) + lambda_b * b
    return np.concatenate([gW.reshape(B, -1), gH.reshape(B, -1), gb], axis=1)


def polish(W, Hbar, b, counts, lambda_W, lambda_H, lambda_b, steps: int = 8, gtol: float = 1e-14):
    """Newton steps on the class-mean UFM from the factored convex solution (Hessian by central
    differences of the exact gradient, step by least squares: the Hessian is singular along the
    rotations W → WQ, H̄ → QᵀH̄), backtracking on the gradient norm.  Removes the interior-point
    solver's last digits of error (its floor is ~1e-6..1e-8 on some instances).  Returns W, H̄, b,
    the final gradient norm and the number of Newton steps taken."""
    K, d = W.shape
    args = (counts, K, d, lambda_W, lambda_H, lambda_b)
    x = np.concatenate([W.ravel(), Hbar.ravel(), b])
    g = _mean_objective(x, *args)[1]
    taken = 0
    for _ in range(steps):
        gn = float(np.linalg.norm(g))
        if gn <= gtol:
            break
        eps = 1e-6 * max(1.0, float(np.abs(x).max()))
        E = eps * np.eye(x.size)
        Hm = (_mean_gradients(x[None, :] + E, *args) - _mean_gradients(x[None, :] - E, *args)).T / (2 * eps)
        step = np.linalg.lstsq(0.5 * (Hm + Hm.T), -g, rcond=1e-12)[0]
        t = 1.0
        while t > 1e-4:
            g_new = _mean_objective(x + t * step, *args)[1]
            if np.linalg.norm(g_new) < gn:
                break
            t /= 2
        else:
            break
        x, g, taken = x + t * step, g_new, taken + 1
    return (x[:K * d].reshape(K, d), x[K * d:2 * K * d].reshape(d, K), x[2 * K * d:],
            float(np.linalg.norm(g)), taken)


@dataclass
class Optimum:
    """The certified convex optimum, polished, and its balanced factorization."""
    Z: np.ndarray
    b: np.ndarray
    W: np.ndarray
    Hbar: np.ndarray
    rank: int
    certificate: ConvexSolution      # of the polished (Z, b)
    solver: ConvexSolution           # of the interior-point solution itself
    polish_steps: int
    polish_grad: float


@lru_cache(maxsize=16)
def _optimum(counts: tuple, lambda_W: float, lambda_H: float, lambda_b: float, d: int) -> Optimum:
    mu = float(np.sqrt(lambda_W * lambda_H))
    s = _solved(counts, mu, lambda_b)
    W, Hbar, r = factor(s.Z, counts, lambda_W, lambda_H, d)
    W, Hbar, b, gn, steps = polish(W, Hbar, s.b, counts, lambda_W, lambda_H, lambda_b)
    Z = W @ Hbar
    cert = certify(Z, b, counts, mu, lambda_b, s.status, {k: v for k, v in s.info.items()
                                                           if k in ("solver", "iterations", "solve_time_s")})
    return Optimum(Z, b, W, Hbar, r, cert, s, steps, gn)


def optimum(counts, lambda_W: float, lambda_H: float, lambda_b: float, d: int) -> Optimum:
    """Solve (cached), factor (rank r <= d), polish and certify."""
    return _optimum(tuple(int(c) for c in counts), float(lambda_W), float(lambda_H), float(lambda_b), int(d))
