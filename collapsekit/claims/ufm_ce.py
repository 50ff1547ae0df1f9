"""Balanced cross-entropy UFM: the global optimum and the landscape (THEORY.md §3).

Objective, for every claim here (Zhu et al. 2021, Eq. (3); the 1/N and the λ/2 are theirs)::

    f(W, H, b) = (1/N) Σ_{k,i} CE(W h_{k,i} + b, k) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import ufm as nu
from simulations import ufm as su
from theory import ufm_ce as th

OBJECTIVE = (r"f(W,H,b)=\tfrac1N\sum_{k,i}\mathrm{CE}(Wh_{k,i}+b,k)+\tfrac{\lambda_W}2\|W\|_F^2"
             r"+\tfrac{\lambda_H}2\|H\|_F^2+\tfrac{\lambda_b}2\|b\|^2,\ N=nK,\ \eta=\sqrt{n\lambda_W\lambda_H}")
ZHU = Source("Zhu, Ding, Zhou, Li, You, Sulam & Qu", "A geometric analysis of neural collapse with unconstrained features",
             2021, "Theorem 3.1 (global minimizers) and Theorem 3.2 (benign landscape, d > K); constants re-derived "
                   "from the 1-D reduction", arxiv="2105.02375")


def ufm_params(K_max: int = 64, lam: float = 5e-3) -> tuple[Param, ...]:
    return (Param("K", int, 4, "number of classes", minimum=2, maximum=K_max),
            Param("n", int, 3, "samples per class", minimum=1, maximum=10_000),
            Param("d", int, lambda p: p["K"], "feature dimension, d >= K-1", minimum=1),
            Param("lambda_W", float, lam, "weight decay on W (> 0)", minimum=0.0),
            Param("lambda_H", float, lam, "weight decay on H (> 0)", minimum=0.0),
            Param("lambda_b", float, lam, "weight decay on b (>= 0; 0 leaves b free)", minimum=0.0))


def measure(problem: nu.Problem, W: np.ndarray, H: np.ndarray, b: np.ndarray, nonzero: bool) -> dict:
    """Every quantity the closed forms fix, measured entry by entry on (W, H, b)."""
    K, labels = problem.K, problem.labels
    Z = W @ H
    true = Z[labels, np.arange(problem.N)]
    rivals = np.delete(Z.T.reshape(-1), labels + K * np.arange(problem.N))   # z_kj, j != k
    margins = np.repeat(true, K - 1) - rivals
    out = {"w_norm_sq": np.sum(W * W, axis=1), "h_norm_sq": np.sum(H * H, axis=0), "margin": margins,
           "b_spread": float(np.ptp(b))}
    if nonzero:
        Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
        C = Wn @ Wn.T
        out.update(w_cos=C[~np.eye(K, dtype=bool)], feature_mean_norm=float(np.linalg.norm(H.mean(axis=1))),
                   within_class=nu.within_class_spread(problem, H))
    return out


class _BalancedCE(Claim):
    params = ufm_params()
    hypotheses = ("K >= 2", "d >= K - 1", "lambda_W, lambda_H > 0", "lambda_b >= 0", "balanced classes")
    zero_scale = 1.0

    def validate(self, p):
        if p["d"] < p["K"] - 1:
            raise ParameterError("d", f"d={p['d']} < K-1={p['K'] - 1}: the simplex ETF does not fit")
        for name in ("lambda_W", "lambda_H"):
            if p[name] <= 0:
                raise ParameterError(name, f"{name}={p[name]}: must be > 0 (with no weight decay the infimum "
                                           f"is not attained; see ufm.ce.max_margin)")

    def problem(self, p) -> nu.Problem:
        return nu.Problem.make("ce", p["K"], p["d"], p["n"], p["lambda_W"], p["lambda_H"], p["lambda_b"])

    def engine(self, p, ctx, S: int) -> su.UFM:
        return su.UFM("ce", p["K"], p["d"], p["n"], lambda_W=p["lambda_W"], lambda_H=p["lambda_H"],
                      lambda_b=p["lambda_b"], S=S, device=ctx.device)

    def symbolic_params(self, p):
        return th.symbolic_params(th.nonzero_branch(p))


def _wrong_log_argument(p, f):
    if not th.nonzero_branch(p):
        return f
    K, n, lW, lH, eta = th.params(p)
    margin = sp.log(1 / eta - K)
    w2 = (K - 1) / K * sp.sqrt(n * lH / lW) * margin
    return {**f, "margin": margin, "w_norm_sq": w2, "h_norm_sq": lW / (n * lH) * w2,
            "loss": -sp.log(1 - (K - 1) * eta) + (K - 1) * eta * margin}


def _wrong_ratio(p, f):
    if not th.nonzero_branch(p):
        return f
    K, n, lW, lH, _ = th.params(p)
    return {**f, "h_norm_sq": n * lW / lH * f["w_norm_sq"]}


def _wrong_zero_value(p, f):
    return f if th.nonzero_branch(p) else {**f, "loss": sp.log(sp.sympify(p["K"]) - 1)}


@register
class CEBalanced(_BalancedCE):
    id = "ufm.ce.balanced"
    title = "Cross-entropy UFM: the global minimizer is a self-dual simplex ETF with closed-form norms, or zero"
    summary = "CE UFM with weight decay: self-dual simplex ETF, closed-form norms, margin and f*, b = 0; W = H = 0 and f* = log K when Kη ≥ 1"
    summary_source = "Zhu et al. 2021"
    statement = (OBJECTIVE + r".\ \text{If }K\eta<1:\ WW^\top=\|w\|^2\tfrac{K}{K-1}(I-\tfrac1KJ),\ "
                 r"h_{k,i}=\sqrt{\tfrac{\lambda_W}{n\lambda_H}}\,w_k,\ b=0,\ "
                 r"\|w\|^2=\tfrac{K-1}{K}\sqrt{\tfrac{n\lambda_H}{\lambda_W}}\log(\tfrac1\eta-(K-1)),\ "
                 r"z_{kk}-z_{kj}=\log(\tfrac1\eta-(K-1)),\ "
                 r"f^*=-\log(1-(K-1)\eta)+(K-1)\eta\log(\tfrac1\eta-(K-1)).\ "
                 r"\text{If }K\eta\ge1:\ W=H=0,\ f^*=\log K.")
    source = ZHU
    tolerances = {
        "numeric": Tolerance(1e-6, "L-BFGS stops at gradient norm 1e-9; the optimum's weakest transverse "
                                   "curvature is ~min(lambda) = 5e-3 at the defaults, so parameters are "
                                   "accurate to ~1e-9/5e-3 = 2e-7 (observed <= 5e-8)"),
        "simulation": Tolerance(1e-7, "GD + L-BFGS stop at gradient norm 1e-11; error ~ 1e-11/min(lambda) "
                                      "= 2e-9 at the defaults, observed <= 1e-9; margin for smaller lambdas"),
    }
    negative_controls = (
        NegativeControl("log argument 1/eta - K instead of 1/eta - (K-1)", _wrong_log_argument),
        NegativeControl("feature/classifier ratio n*lambda_W/lambda_H instead of lambda_W/(n*lambda_H)", _wrong_ratio),
        NegativeControl("value at the collapsed point log(K-1) instead of log K", _wrong_zero_value),
    )
    control_points = {"value at the collapsed point log(K-1) instead of log K": {"lambda_W": 0.2, "lambda_H": 0.2}}

    def formulas(self, p):
        return th.balanced_formulas(p)

    def prove(self, p, formulas):
        return th.prove_balanced(p, formulas)

    def numeric(self, p, ctx):
        prob = self.problem(p)
        r = nu.lbfgs_multistart(prob, ctx.rng("numeric"), starts=ctx.by_profile(3, 8), gtol=1e-9)
        values = {"loss": r.values, **measure(prob, r.W, r.H, r.b, th.nonzero_branch(p))}
        return Observation(values, r.info, converged=r.converged,
                           message=f"scipy L-BFGS, {r.info['starts']} starts, grad norm {r.info['grad_norm']:.1e}")

    def simulate(self, p, ctx):
        return self.simulate_batch([p], ctx)[0]

    sweep_quantities = ("w_norm_sq", "h_norm_sq", "margin", "loss")

    def batch_key(self, p):
        return (p["K"], p["d"], p["n"])

    def simulate_batch(self, points, ctx):
        """All points (same K, d, n) and their random starts in one engine run, each start with
        its own λ_W, λ_H, λ_b; the observation of a point uses only its own starts."""
        starts = ctx.by_profile(4, 16)
        K, d, n = self.batch_key(points[0])
        lam = {name: np.repeat([float(q[name]) for q in points], starts) for name in ("lambda_W", "lambda_H", "lambda_b")}
        u = su.UFM("ce", K, d, n, S=len(points) * starts, device=ctx.device, **lam)
        r = su.minimize(u, u.init(ctx.seed_for("simulation")), gtol=1e-11)
        W, H, b = (t.cpu().numpy() for t in u.unpack(r.x))
        out = []
        for i, q in enumerate(points):
            own = slice(i * starts, (i + 1) * starts)
            s = own.start + int(np.argmin(r.f[own]))
            values = {"loss": r.f[own], **measure(self.problem(q), W[s], H[s], b[s], th.nonzero_branch(q))}
            values["w_norm_sq"] = np.sum(W[own] * W[own], axis=2).ravel()       # every row of every start
            converged = bool(np.all(r.converged[own]))
            grad = float(np.max(r.grad_norm[own]))
            out.append(Observation(values, {"starts": starts, "gd_steps": r.gd_steps, "lbfgs_steps": r.lbfgs_steps,
                                            "grad_norm_max": grad,
                                            "batched_with": len(points)}, converged=converged,
                                   message=f"{starts} starts in one batched engine run of {len(points) * starts} "
                                           f"problems; max gradient norm {grad:.1e}"
                                           + ("" if converged else "; NOT converged")))
        return out


def _fd_hessian(problem: nu.Problem, v: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the analytic gradient; symmetrized.  Error O(h²)·|f'''|."""
    P = v.size
    Hm = np.empty((P, P))
    for i in range(P):
        e = np.zeros(P)
        e[i] = h
        Hm[:, i] = (problem.value_and_grad(v + e)[1] - problem.value_and_grad(v - e)[1]) / (2 * h)
    return (Hm + Hm.T) / 2


def _wrong_coupling(p, f):
    K, n, lW, lH, _ = th.params(p)
    return {**f, "origin_min_eig": (lW + lH) / 2 - sp.sqrt(((lW - lH) / 2) ** 2 + 1 / (n * K))}


def _spurious_saddle_value(p, f):
    return {**f, "loss": sp.log(sp.sympify(p["K"]))} if th.nonzero_branch(p) else f


@register
class CELandscape(_BalancedCE):
    id = "ufm.ce.landscape"
    title = "Cross-entropy UFM: every random start reaches f*, and the origin is a strict saddle when K*eta < 1"
    summary = "every random start reaches f*; the origin is a strict saddle iff Kη < 1, with its smallest curvature in closed form"
    summary_source = "Zhu et al. 2021"
    statement = (OBJECTIVE + r".\ \text{Many random starts all reach } f^* \text{ (no spurious local minima in "
                 r"practice); at } W=H=0,b=0:\ \lambda_{\min}(\nabla^2_{W,H}f)=\tfrac{\lambda_W+\lambda_H}2-"
                 r"\sqrt{(\tfrac{\lambda_W-\lambda_H}2)^2+\tfrac1{nK^2}}<0 \iff K\eta<1.")
    source = ZHU
    hypotheses = _BalancedCE.hypotheses + ("the 'no spurious minima' part is Zhu et al.'s theorem for d > K "
                                           "(Gu & Shen 2024, arXiv 2407.10702, for d = K); checked from random starts",)
    tolerances = {
        "numeric": Tolerance(1e-6, "f* from L-BFGS at gradient norm 1e-9 (value error ~g^2/lambda ~ 1e-16); the "
                                   "origin's Hessian by central differences with h = 1e-5 of the analytic "
                                   "gradient: O(h^2) ~ 1e-10 truncation plus 1e-16/h ~ 1e-11 rounding"),
        "simulation": Tolerance(1e-8, "f* from GD + L-BFGS at gradient norm 1e-11; the origin's Hessian by "
                                      "autograd (exact up to float64 rounding, ~1e-15)"),
    }
    negative_controls = (
        NegativeControl("coupling 1/(nK) instead of 1/(nK^2) in the origin's curvature", _wrong_coupling),
        NegativeControl("a spurious minimum: some starts stuck at the saddle value log K", _spurious_saddle_value),
    )

    def formulas(self, p):
        return {**th.balanced_formulas(p), "origin_min_eig": th.origin_min_eig(p)}

    def prove(self, p, formulas):
        return th.prove_landscape(p, formulas)

    def numeric(self, p, ctx):
        prob = self.problem(p)
        r = nu.lbfgs_multistart(prob, ctx.rng("numeric"), starts=ctx.by_profile(8, 32), gtol=1e-9)
        wh = prob.size - prob.K                                  # the (W, H) block; b's block is PSD
        eig = float(np.linalg.eigvalsh(_fd_hessian(prob, np.zeros(prob.size))[:wh, :wh])[0])
        return Observation({"loss": r.values, "origin_min_eig": eig}, {**r.info, "origin_min_eig": eig},
                           converged=r.converged,
                           message=f"scipy L-BFGS from {r.info['starts']} random starts (all compared), "
                                   f"finite-difference Hessian at 0")

    def simulate(self, p, ctx):
        u = self.engine(p, ctx, ctx.by_profile(16, 64))
        r = su.minimize(u, u.init(ctx.seed_for("simulation")), gtol=1e-11)
        zero = u.pack(*(0 * t for t in u.unpack(u.init(0))))[:1].expand(u.S, -1)
        wh = u.P - u.K
        eig = float(np.linalg.eigvalsh(u.hessian(zero, 0)[:wh, :wh])[0])
        return Observation({"loss": r.f, "origin_min_eig": eig}, {**r.summary(), "origin_min_eig": eig},
                           converged=r.all_converged,
                           message=r.describe() + "; autograd Hessian at 0")
