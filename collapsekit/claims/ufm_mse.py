"""Balanced MSE unconstrained-features claims (THEORY.md §4).

Every claim here uses the engine's objective (N = Kn, Y = I_K ⊗ 1_nᵀ)::

    L(W, H, b) = (1/(2N))‖WH + b1ᵀ − Y‖_F² + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²,

η = √(nλ_Wλ_H).  The regularized claims are stated for exactly this objective (the
MSE-UFM papers write the data term as 1/(2Kn) = 1/(2N)).  Rates of the unregularized
flow (strong collapse) are given in the time of the unnormalized loss
½‖WH + b1ᵀ − Y‖², which is the engine's time divided by N.  The central-path ω law
is stated for the engine's normalization, in which it has unit speed.

Numeric checks: scipy L-BFGS-B on (W, H, b) (numerics/ufm.py), cvxpy's nuclear-norm
program, numpy least squares.  Simulations: the torch engine (simulations/ufm.py),
``minimize`` for optima and ``flow`` (Dormand–Prince) for trajectories.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics.ufm import Problem, lbfgs_multistart
from simulations.ufm import UFM, flow, minimize
from theory import ufm_mse as th
from theory.etf import K_SYMBOLIC

#: Both optimizers aim at gradient norm 1e-11; past the float64 floor of a value-based line
#: search they accept steps that lower the gradient norm (scipy: a Newton polish; the engine:
#: its rounding-floor rule).  A run counts as converged below CONVERGED_GRAD.
TARGET_GTOL = 1e-11
CONVERGED_GRAD = 1e-10
#: The engine's L-BFGS may stall above the floor (a stale memory): restart it from where it stopped.
SIM_RESTARTS = 3
#: A Gram entry below this (relative to the largest) is "zero": no angle is measured.
TINY = 1e-12


def _positive(p, *names):
    for name in names:
        if not p[name] > 0:
            raise ParameterError(name, f"{name}={p[name]:g} must be > 0 (with {name} = 0 the infimum is not attained)")


def _lam(name: str, doc: str, default: float = 5e-3) -> Param:
    return Param(name, float, default, doc, minimum=0.0)


def _restrict(f: dict, bad: dict) -> dict:
    """A perturbation may only change the quantities the claim predicts."""
    return {k: bad.get(k, v) for k, v in f.items()}


# --------------------------------------------------------------------------- measuring a UFM point
def _class_means(H: np.ndarray, K: int, n: int) -> np.ndarray:
    return H.reshape(H.shape[0], K, n).mean(-1)


def _cosines(G: np.ndarray) -> np.ndarray:
    off = ~np.eye(G.shape[0], dtype=bool)
    dg = np.sqrt(np.diag(G))
    return (G / np.outer(dg, dg))[off]


def measure(W: np.ndarray, H: np.ndarray, b: np.ndarray | None, K: int, n: int) -> dict:
    """Rotation-invariant quantities of one UFM point (samples ordered class by class)."""
    off = ~np.eye(K, dtype=bool)
    Hb = _class_means(H, K, n)
    Z = W @ Hb
    GW, GH = W @ W.T, Hb.T @ Hb
    Hc = Hb - Hb.mean(1, keepdims=True)
    out = {
        "p": (np.diag(Z)[:, None] - Z)[off],
        "c": Z.sum(1),
        "w_norm_sq": np.diag(GW),
        "h_norm_sq": (H * H).sum(0),
        "w_gram_offdiag": GW[off],
        "h_gram_offdiag": GH[off],
        "mu_g_norm_sq": float(np.sum(H.mean(1) ** 2)),
        "nc1_spread": float(((H - np.repeat(Hb, n, axis=1)) ** 2).sum(0).max()),
    }
    if b is not None:
        out["b"] = b
    if np.diag(GH).min() > TINY * max(1.0, np.abs(GH).max()):
        out["cos"] = _cosines(GH)
        out["cos_centred"] = _cosines(Hc.T @ Hc)
    return out


def _merge(parts: list[dict]) -> dict:
    keys = set.intersection(*(set(p) for p in parts))
    return {k: np.concatenate([np.ravel(p[k]) for p in parts]) for k in keys}


# --------------------------------------------------------------------------- regularized claims
class _RegularizedMSE(Claim):
    """Global minimizers of the regularized MSE UFM (no bias, free bias, or penalized bias)."""

    bias: bool = True
    lambda_b_fixed: float | None = None     # None: lambda_b is a parameter
    min_d_offset: int = -1                  # d >= K + offset
    test_K = (2, 3, 8)
    zero_scale = 1.0                        # norms, Grams and logits are O(1) at the defaults

    tolerances = {
        "numeric": Tolerance(1e-5, "scipy L-BFGS-B + Newton polish to gradient norm <= 1e-10; the Hessian's "
                                   "smallest eigenvalue transverse to the optimal O(d) orbit is ~min(lambda) "
                                   "(3e-3 measured at the defaults), so for lambda >= 1e-4 parameters are within "
                                   "1e-6 and Gram entries within ~1e-5 relative; observed <= 1e-13"),
        "simulation": Tolerance(1e-5, "engine Armijo GD + batched L-BFGS (restarted) to gradient norm <= 1e-10: "
                                      "the same curvature argument; observed ~1e-9 at the defaults, 1.2e-6 at "
                                      "lambda = 2e-4"),
    }

    # ------------------------------------------------------------ parameters
    def _lb(self, p) -> float:
        return self.lambda_b_fixed if self.lambda_b_fixed is not None else p["lambda_b"]

    def validate(self, p):
        _positive(p, "lambda_W", "lambda_H")
        need = p["K"] + self.min_d_offset
        if self.lambda_b_fixed is None:
            _positive(p, "lambda_b")
            mu = p["lambda_b"] / (1 + p["lambda_b"])
            if 1 - p["K"] * math.sqrt(p["n"] * p["lambda_W"] * p["lambda_H"]) / mu > 0:
                need = p["K"]       # the c > 0 branch has rank K
        if p["d"] < need:
            raise ParameterError("d", f"d={p['d']} is below the rank of the optimum: need d >= {need} "
                                      f"for K={p['K']} here")

    def _args(self, p):
        return p["K"], p["n"], p["lambda_W"], p["lambda_H"], self._lb(p), self.bias

    # ------------------------------------------------------------ the claim
    def formulas(self, p):
        return th.mse_formulas(*self._args(p))

    def prove(self, p, formulas):
        return th.prove_mse(formulas, *self._args(p), d=p.get("d"))

    def symbolic_params(self, p):
        """Symbolic K = m+1, n, λ_H (and λ_b) in the concrete parameters' branch (λ_W sets Kη)."""
        P, c, _ = th.optimal_structure(*self._args(p))
        K, n = K_SYMBOLIC, sp.Symbol("n", positive=True)
        ell, u, v = sp.Symbol("ell", positive=True), sp.Symbol("u", positive=True), sp.Symbol("v", positive=True)
        lb = sp.Symbol("lambda_b", positive=True)
        lH = ell / n        # n and λ_H enter only through nλ_H = ℓ
        out = {"K": K, "n": n, "d": None, "lambda_H": lH}
        if th.is_zero(P):
            K_eta = 1 + u                       # collapse: Kη >= 1
        elif self.lambda_b_fixed is None and not th.is_zero(c):
            K_eta = lb / (1 + lb) / (1 + v)     # Kη < λ_b/(1+λ_b)
        else:
            K_eta = 1 / (1 + u)                 # 0 < 1 − Kη
            if self.lambda_b_fixed is None:
                lb = 1 / (u + v + u * v)        # λ_b/(1+λ_b) = Kη/(1+v) <= Kη
        out["lambda_W"] = th.lambda_W_for(K, n, lH, K_eta)
        if self.lambda_b_fixed is None:
            out["lambda_b"] = lb
        return out

    # ------------------------------------------------------------ checks
    def numeric(self, p, ctx):
        K, n, lW, lH, lb, bias = self._args(p)
        prob = Problem.make("mse", K, p["d"], n, lW, lH, lb, bias)
        ms = lbfgs_multistart(prob, ctx.rng("numeric"), starts=ctx.by_profile(2, 6), gtol=TARGET_GTOL)
        values = measure(ms.W, ms.H, ms.b if bias else None, K, n)
        values["loss"] = ms.values
        ok = bool(ms.grad_norms.max() <= CONVERGED_GRAD)
        return Observation(values, {**ms.info, "values": ms.values.tolist(), "converged_below": CONVERGED_GRAD},
                           converged=ok, message=f"L-BFGS-B, {ms.info['starts']} starts, grad norm "
                                                 f"{ms.info['grad_norm']:.1e} (converged below {CONVERGED_GRAD:.0e})")

    def simulate(self, p, ctx):
        K, n, lW, lH, lb, bias = self._args(p)
        S = ctx.by_profile(3, 8)
        u = UFM("mse", K, p["d"], n, lambda_W=lW, lambda_H=lH, lambda_b=lb, bias=bias, S=S, device=ctx.device)
        r = minimize(u, u.init(ctx.seed_for("simulation")), gtol=TARGET_GTOL, switch=1e-2)
        gd, lb_steps, restarts = r.gd_steps, r.lbfgs_steps, 0
        while r.grad_norm.max() > TARGET_GTOL and restarts < SIM_RESTARTS:
            r = minimize(u, r.x, gtol=TARGET_GTOL, switch=1e-2)
            gd, lb_steps, restarts = gd + r.gd_steps, lb_steps + r.lbfgs_steps, restarts + 1
        W, H, b = (t.detach().cpu().numpy() for t in u.unpack(r.x))
        values = _merge([measure(W[s], H[s], b[s] if bias else None, K, n) for s in range(S)])
        values["loss"] = r.f
        gmax = float(r.grad_norm.max())
        info = {**r.summary(), "gd_steps": gd, "lbfgs_steps": lb_steps, "restarts": restarts,
                "converged_below": CONVERGED_GRAD}
        return Observation(values, info, converged=gmax <= CONVERGED_GRAD,
                           message=f"{r.f.size} runs on {r.device}: {gd} GD + {lb_steps} L-BFGS steps, {restarts} "
                                   f"restart(s), max grad norm {gmax:.1e} (converged below {CONVERGED_GRAD:.0e})")


def _rebuild(p, f, bias: bool, P=None, c=None, beta=None):
    """The formulas from a (possibly wrong) structure (p, c, β), every derived quantity consistent."""
    args = (p["K"], p["n"], p["lambda_W"], p["lambda_H"], p.get("lambda_b", 0))
    P0, c0, b0 = th.optimal_structure(*args, bias)
    P = P0 if P is None else P
    c = (P if not bias else c0) if c is None else c
    beta = b0 if beta is None else beta
    return _restrict(f, th.structure_formulas(*args, bias, P, c, beta))


def _wrong_threshold(bias: bool) -> NegativeControl:
    def perturb(p, f):
        K, e = th.exact(p["K"]), th.eta(p["n"], p["lambda_W"], p["lambda_H"])
        P = th.pos_part(1 - e)
        if th.is_zero(P - f["p"]):      # both vanish (η >= 1): the unclamped 1 − Kη instead
            P = 1 - K * e
        return _rebuild(p, f, bias, P=P)
    return NegativeControl("threshold (1 − η)₊ instead of (1 − Kη)₊ "
                           "(or the unclamped 1 − Kη where both are 0)", perturb)


SOURCE_TB = Source("Tirer & Bruna", "Extended unconstrained features model for exploring deep neural collapse (ICML)",
                   2022, "Section 3, the MSE UFM without and with an unregularized bias (d >= K, d >= K−1)",
                   arxiv="2202.08087")


@register
class NoBias(_RegularizedMSE):
    id = "ufm.mse.nobias"
    title = "Bias-free regularized MSE UFM: the class means form an orthogonal frame, collapse to 0 iff Kη >= 1"
    summary = "MSE without bias: orthogonal frame, p = (1 − Kη)₊"
    summary_source = "Tirer & Bruna 2022"
    statement = (r"\min \tfrac{1}{2N}\|WH-Y\|_F^2+\tfrac{\lambda_W}{2}\|W\|_F^2+\tfrac{\lambda_H}{2}\|H\|_F^2\ "
                 r"(d\ge K):\ "
                 r"h_{k,i}=\bar h_k,\ W\bar H=pI_K,\ p=(1-K\eta)_+,\ \eta=\sqrt{n\lambda_W\lambda_H},\ "
                 r"\bar H^\top\bar H=\sqrt{\lambda_W/(n\lambda_H)}\,p\,I,\ WW^\top=\sqrt{n\lambda_H/\lambda_W}\,p\,I,\ "
                 r"L^*=\tfrac12(1-p)^2+K\eta p")
    source = SOURCE_TB
    bias = False
    lambda_b_fixed = 0.0
    min_d_offset = 0
    params = (Param("K", int, 4, "number of classes", minimum=2, maximum=64),
              Param("n", int, 3, "samples per class", minimum=1),
              Param("d", int, lambda p: p["K"], "feature dimension, d >= K", minimum=1),
              _lam("lambda_W", "weight decay on W (> 0)"), _lam("lambda_H", "weight decay on H (> 0)"))
    hypotheses = ("K >= 2", "d >= K", "lambda_W, lambda_H > 0", "no bias")
    negative_controls = (
        NegativeControl("simplex ETF (the free-bias answer) instead of the orthogonal frame",
                        lambda p, f: _restrict(f, {k: v for k, v in th.mse_formulas(
                            p["K"], p["n"], p["lambda_W"], p["lambda_H"], 0, True).items() if k != "b"})),
        NegativeControl("L* = (1 − p)² + Kηp (the ½ dropped)",
                        lambda p, f: {**f, "loss": (1 - f["p"]) ** 2 + th.exact(p["K"])
                                      * th.eta(p["n"], p["lambda_W"], p["lambda_H"]) * f["p"]}),
        _wrong_threshold(bias=False),
    )


@register
class FreeBias(_RegularizedMSE):
    id = "ufm.mse.bias"
    title = "Regularized MSE UFM with an unregularized bias: b = 1/K, centred simplex ETF, collapse iff Kη >= 1"
    summary = "MSE with a free bias: centred simplex ETF, b = 1/K"
    summary_source = "Tirer & Bruna 2022"
    statement = (r"\min \tfrac{1}{2N}\|WH+b1^\top-Y\|_F^2+\tfrac{\lambda_W}{2}\|W\|_F^2+\tfrac{\lambda_H}{2}\|H\|_F^2\ "
                 r"(d\ge K-1):\ b=\tfrac1K\mathbf 1,\ W\bar H=p(I-\tfrac1K J),\ p=(1-K\eta)_+,\ \mu_G=0,\ "
                 r"\|\bar h_k\|^2=\sqrt{\lambda_W/(n\lambda_H)}\,p\tfrac{K-1}{K},\ \cos=-\tfrac1{K-1},\ "
                 r"L^*=\tfrac{K-1}{2K}(1-p)^2+(K-1)\eta p")
    source = SOURCE_TB
    bias = True
    lambda_b_fixed = 0.0
    min_d_offset = -1
    params = NoBias.params[:2] + (Param("d", int, lambda p: p["K"], "feature dimension, d >= K−1", minimum=1),) \
        + NoBias.params[3:]
    hypotheses = ("K >= 2", "d >= K − 1", "lambda_W, lambda_H > 0", "bias not regularized")
    negative_controls = (
        NegativeControl("b = 0 (the bias vanishing like the classifier)", lambda p, f: {**f, "b": sp.Integer(0)}),
        NegativeControl("orthogonal frame (the bias-free answer) instead of the centred ETF",
                        lambda p, f: _restrict(f, th.mse_formulas(p["K"], p["n"], p["lambda_W"], p["lambda_H"],
                                                                   0, False))),
        _wrong_threshold(bias=True),
    )


def _swap_branch(p, f):
    """The other side of the λ_b switch: c = 0 ↔ c = 1 − Kη(1+λ_b)/λ_b (unclamped)."""
    K, lb = th.exact(p["K"]), th.exact(p["lambda_b"])
    e = th.eta(p["n"], p["lambda_W"], p["lambda_H"])
    if th.is_zero(f["c"]):
        return _rebuild(p, f, True, c=1 - K * e * (1 + lb) / lb, beta=e / lb)
    return _rebuild(p, f, True, c=sp.Integer(0), beta=1 / (K * (1 + lb)))


def _mu_dropped(p, f):
    K, lb = th.exact(p["K"]), th.exact(p["lambda_b"])
    mu = lb / (1 + lb)
    return {**f, "loss": f["loss"] + (1 - mu) * (1 - f["c"]) ** 2 / (2 * K)}


@register
class PenalizedBias(_RegularizedMSE):
    id = "ufm.mse.bias_regularized"
    title = "Regularized MSE UFM with a penalized bias: the λ_b switch from a simplex ETF towards an orthogonal frame"
    summary = "MSE with λ_b > 0: ETF below the λ_b switch, towards an OF above it"
    summary_source = "Zhou et al. 2022 setting"
    statement = (r"\min \tfrac{1}{2N}\|WH+b1^\top-Y\|_F^2+\tfrac{\lambda_W}{2}\|W\|^2+\tfrac{\lambda_H}{2}\|H\|^2"
                 r"+\tfrac{\lambda_b}{2}\|b\|^2:\ W\bar H=p(I-\tfrac JK)+\tfrac cK J,\ p=(1-K\eta)_+,\ "
                 r"c=\big(1-K\eta\tfrac{1+\lambda_b}{\lambda_b}\big)_+,\ b=\tfrac{1-c}{K(1+\lambda_b)}\mathbf 1\ "
                 r"(=\tfrac{\eta}{\lambda_b}\mathbf 1\text{ if }c>0),\ "
                 r"\cos\angle(\bar h_j,\bar h_k)=\tfrac{c-p}{p(K-1)+c},\ "
                 r"L^*=(K-1)\big[\tfrac{(1-p)^2}{2K}+\eta p\big]"
                 r"+\tfrac{\lambda_b}{1+\lambda_b}\tfrac{(1-c)^2}{2K}+\eta c")
    source = Source("Zhou, Li, Ding, You, Qu & Zhu",
                    "On the optimization landscape of neural collapse under MSE loss: global optimality with "
                    "unconstrained features (ICML)", 2022,
                    "the regularized-bias setting of their objective; the closed form here is derived (THEORY.md §4 "
                    "[derived]), re-proved symbolically and checked numerically", arxiv="2203.01238")
    bias = True
    lambda_b_fixed = None
    params = FreeBias.params + (Param("lambda_b", float, 0.1, "penalty on b (> 0); lambda_b/(1+lambda_b) <= K*eta "
                                      "gives the ETF branch c = 0", minimum=0.0),)
    hypotheses = ("K >= 2", "lambda_W, lambda_H, lambda_b > 0", "d >= K − 1 (c = 0) or d >= K (c > 0)")
    negative_controls = (
        NegativeControl("λ_b switch inverted (the other branch's c and b)", _swap_branch),
        NegativeControl("b not shrunk by λ_b: b = (1 − c)/K",
                        lambda p, f: {**f, "b": (1 - f["c"]) / th.exact(p["K"])}),
        NegativeControl("L* without the factor λ_b/(1+λ_b) on (1 − c)²/(2K)", _mu_dropped),
        _wrong_threshold(bias=True),
    )


# --------------------------------------------------------------------------- strong collapse (Mixon et al.)
def _nuclear_interpolator(K: int, n: int):
    """min_b ‖Y − b1ᵀ‖_* by cvxpy (Clarabel), then the balanced SVD factors W = UΣ^{1/2}, H = Σ^{1/2}Vᵀ.

    For fixed b, min{½(‖W‖² + ‖H‖²) : WH = Y − b1ᵀ} = ‖Y − b1ᵀ‖_* (rank <= d)."""
    import cvxpy as cp

    N = K * n
    Y = np.kron(np.eye(K), np.ones((1, n)))
    b = cp.Variable(K)
    prob = cp.Problem(cp.Minimize(cp.normNuc(Y - cp.reshape(b, (K, 1), order="F") @ np.ones((1, N)))))
    prob.solve(solver="CLARABEL")
    bv = np.asarray(b.value, dtype=np.float64)
    U, s, Vt = np.linalg.svd(Y - np.outer(bv, np.ones(N)), full_matrices=False)
    W, H = U * np.sqrt(s), np.sqrt(s)[:, None] * Vt
    return W, H, bv, {"status": prob.status, "value": float(prob.value), "solver": "CLARABEL",
                      "singular_values": s.tolist()}


def _origin_growth_rate(K: int, n: int, d: int, rng) -> float:
    """Largest eigenvalue of −∇²(½‖WH + b1ᵀ − Y‖²) at W = H = 0, b = 0 (numpy, Hessian–vector
    products by central differences of the gradient, scipy eigsh)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    prob = Problem.make("mse", K, d, n, 0.0, 0.0, 0.0, True)
    N, P = prob.N, prob.size
    x0 = np.zeros(P)
    h = 1e-4

    def hv(v):
        v = np.ravel(v)
        return -(prob.value_and_grad(x0 + h * v)[1] - prob.value_and_grad(x0 - h * v)[1]) * N / (2 * h)

    op = LinearOperator((P, P), matvec=hv, dtype=np.float64)
    vals = eigsh(op, k=1, which="LA", tol=1e-13, v0=rng.standard_normal(P), return_eigenvectors=False)
    return float(vals[0])


def _collapse_values(W, H, b, K, n) -> dict:
    off = ~np.eye(K, dtype=bool)
    G = W @ W.T
    Hb = _class_means(H, K, n)
    N = K * n
    Y = np.kron(np.eye(K), np.ones((1, n)))
    return {
        "loss": float(((W @ H + b[:, None] - Y) ** 2).sum() / (2 * N)),
        "w_norm_sq": np.diag(G), "w_gram_offdiag": G[off], "cos": _cosines(G),
        "h_norm_sq": (H * H).sum(0), "b": b,
        "w_fro_sq": float((W * W).sum()), "h_fro_sq": float((H * H).sum()),
        "nc1_spread": float(((H - np.repeat(Hb, n, axis=1)) ** 2).sum(0).max()),
        "nc3_residual": float(((H - np.repeat(W.T, n, axis=1) / math.sqrt(n)) ** 2).sum(0).max()),
    }


@register
class StrongCollapse(Claim):
    id = "ufm.mse.strong_collapse"
    title = "Unregularized MSE UFM with bias: gradient flow in the invariant subspace reaches strong neural collapse"
    summary = "unregularized MSE with bias: the minimum-norm interpolator WWᵀ = √n(I − J/K)"
    summary_source = "Mixon, Parshall & Pi 2020"
    statement = (r"\text{gradient flow of }\tfrac12\|WH+b1^\top-Y\|_F^2\text{ from }S=\{1^\top W=0,\ "
                 r"H=\tfrac1{\sqrt n}(W\otimes 1_n)^\top,\ b\in\operatorname{span}\mathbf 1\},\ "
                 r"\operatorname{rank}W(0)=K-1:\ WW^\top\to\sqrt n(I-\tfrac1KJ),\ b\to\tfrac1K\mathbf 1,\ "
                 r"\text{zero loss; the minimum-norm interpolator }\|W\|_F^2=\|H\|_F^2=\sqrt n(K-1);\ "
                 r"\text{near }0:\ \|W(t)\|\propto e^{\sqrt n\,t}")
    source = Source("Mixon, Parshall & Pi", "Neural collapse with unconstrained features", 2020,
                    "the gradient-flow theorem on the invariant subspace S (strong neural collapse); minimum norm "
                    "and the growth rate are derived here", arxiv="2011.11619")
    params = (Param("K", int, 4, "number of classes", minimum=2, maximum=64),
              Param("n", int, 3, "samples per class", minimum=1),
              Param("d", int, lambda p: p["K"], "feature dimension, d >= K−1", minimum=1))
    hypotheses = ("K >= 2", "d >= K − 1", "no regularization", "start in S with rank W(0) = K − 1")
    test_K = (2, 3, 8)
    zero_scale = 1.0
    tolerances = {
        "numeric": Tolerance(1e-7, "Clarabel interior point (status optimal, gap <~1e-8) for min_b ‖Y − b1ᵀ‖_*, "
                                   "b observed exact to 1e-15 (the symmetric optimum), then an exact SVD "
                                   "factorization; growth rate: central differences (h = 1e-4) of a cubic gradient, "
                                   "error <= h² = 1e-8 absolute on √n >= 1 (observed 2e-10), eigsh to 1e-13"),
        "simulation": Tolerance(1e-7, "Dormand–Prince (rtol 1e-10) in S: the Gram converges exponentially (rate "
                                      "2√n/N) and is within 1e-14 at the horizon; the early growth rate is biased "
                                      "by the cubic term, ~σ²/√n <= 1e-8 for σ <= e²·1e-5 (observed 2e-9)"),
    }
    negative_controls = (
        NegativeControl("WWᵀ = √n·K/(K−1)(I − J/K) (the unit-norm ETF's scaling)", lambda p, f: {
            **f, **{k: f[k] * th.exact(p["K"]) / (th.exact(p["K"]) - 1)
                    for k in ("w_norm_sq", "w_gram_offdiag", "h_norm_sq", "w_fro_sq", "h_fro_sq")}}),
        NegativeControl("b = 0", lambda p, f: {**f, "b": sp.Integer(0)}),
        NegativeControl("growth rate 2√n (the rate of ‖W‖², not ‖W‖)",
                        lambda p, f: {**f, "growth_rate": 2 * f["growth_rate"]}),
    )

    #: start: W(0) = (I − J/K)G·INIT_SCALE, G Gaussian; H(0) = (W(0) ⊗ 1ᵀ)ᵀ/√n; b(0) = 0
    INIT_SCALE = 1e-5

    def validate(self, p):
        if p["d"] < p["K"] - 1:
            raise ParameterError("d", f"d={p['d']} < K−1={p['K'] - 1}: the ETF needs rank K−1")

    def formulas(self, p):
        return th.strong_collapse_formulas(p["K"], p["n"])

    def prove(self, p, formulas):
        return th.prove_strong_collapse(formulas, p["K"], p["n"], p.get("d"))

    def symbolic_params(self, p):
        return {"K": K_SYMBOLIC, "n": sp.Symbol("n", positive=True), "d": None}

    def numeric(self, p, ctx):
        K, n = p["K"], p["n"]
        W, H, b, info = _nuclear_interpolator(K, n)
        values = _collapse_values(W, H, b, K, n)
        values["growth_rate"] = _origin_growth_rate(K, n, p["d"], ctx.rng("numeric"))
        ok = info["status"] == "optimal"
        return Observation(values, info, converged=ok,
                           message=f"min_b ‖Y − b1ᵀ‖_* by Clarabel ({info['status']}), "
                                   f"value {info['value']:.12g}")

    def simulate(self, p, ctx):
        K, n, d = p["K"], p["n"], p["d"]
        N, S, r = K * n, ctx.by_profile(2, 6), math.sqrt(n)
        u = UFM("mse", K, d, n, bias=True, S=S, device=ctx.device)
        gen = torch.Generator(device="cpu").manual_seed(ctx.seed_for("simulation"))
        G = torch.randn(S, K, d, generator=gen, dtype=torch.float64) * (self.INIT_SCALE / math.sqrt(d))
        W0 = G - G.mean(1, keepdim=True)                       # rows in 1^⊥
        H0 = torch.repeat_interleave(W0.transpose(1, 2), n, dim=2) / r
        x0 = u.pack(W0, H0, torch.zeros(S, K, dtype=torch.float64)).to(u.device)
        # engine time = N × (time of the unnormalized loss); growth phase then exponential convergence
        t_grow = 2.0 * N / r
        t_end = N / (2 * r) * (math.log(r / self.INIT_SCALE**2) + 40.0)
        tr = flow(u, x0, [0.0, t_grow, t_end / 2, t_end])
        X = [u.unpack(torch.as_tensor(x)) for x in tr.x]
        parts, rates, drift = [], [], 0.0
        for s in range(S):
            W, H, b = (t[s].numpy() for t in X[-1])
            parts.append(_collapse_values(W, H, b, K, n))
            sv0 = np.linalg.svd(X[0][0][s].numpy(), compute_uv=False)[:K - 1]
            sv1 = np.linalg.svd(X[1][0][s].numpy(), compute_uv=False)[:K - 1]
            rates.append(N * np.log(sv1 / sv0) / t_grow)
            for Wt, Ht, bt in X:
                Wn, Hn, bn = Wt[s].numpy(), Ht[s].numpy(), bt[s].numpy()
                drift = max(drift, np.abs(Hn - np.repeat(Wn.T, n, axis=1) / r).max(), np.abs(Wn.sum(0)).max(),
                            np.ptp(bn))
        values = _merge(parts)
        values["growth_rate"] = np.concatenate(rates)
        gmax = float(tr.grad_norm[-1].max())
        gram_change = float(np.abs(tr.x[-1] - tr.x[-2]).max())
        ok = gmax <= CONVERGED_GRAD and bool(np.isfinite(tr.x[-1]).all())
        info = {"steps": tr.steps, "grad_norm": gmax, "times": [0.0, t_grow, t_end / 2, t_end],
                "distance_from_S": float(drift), "last_half_change": gram_change, **tr.info,
                "start": f"W(0) = (I − J/K)G, G ~ N(0, {self.INIT_SCALE:g}²/d); "
                         f"H(0) = (W(0) ⊗ 1ᵀ)ᵀ/√n; b(0) = 0"}
        return Observation(values, info, converged=ok,
                           message=f"flow in S to t = {t_end:.0f} (engine time), {tr.steps} steps, grad norm "
                                   f"{gmax:.1e}, distance from S {drift:.1e}")


# --------------------------------------------------------------------------- central path (Han et al.)
def whitened_features(rng, K: int, n: int, d: int, omegas=None) -> np.ndarray:
    """d×N features with within-class covariance Σ_W = I exactly and, if given, whitened
    centred class means with singular values ``omegas`` (random orientations, random μ_G)."""
    N = K * n
    E = rng.standard_normal((d, N)).reshape(d, K, n)
    E = (E - E.mean(-1, keepdims=True)).reshape(d, N)
    ev, V = np.linalg.eigh(E @ E.T / N)
    E = (V / np.sqrt(ev)) @ V.T @ E
    if omegas is None:
        M = rng.standard_normal((d, K))
    else:
        Q = np.linalg.qr(rng.standard_normal((d, K - 1)))[0]
        B = rng.standard_normal((K, K - 1))
        Vc = np.linalg.qr(B - B.mean(0, keepdims=True))[0]          # orthonormal basis of 1^⊥
        M = (Q * np.asarray(omegas, dtype=np.float64)) @ Vc.T + rng.standard_normal((d, 1))
    return np.repeat(M, n, axis=1) + E


def ls_fit(H: np.ndarray, K: int, n: int):
    """Least squares (numpy lstsq) of Y on [H; 1ᵀ]: (L_LS, W_LS, b_LS) with L_LS = (1/(2N))‖residual‖²."""
    N = K * n
    Y = np.kron(np.eye(K), np.ones((1, n)))
    Ha = np.vstack([H, np.ones((1, N))])
    Wa = np.linalg.lstsq(Ha.T, Y.T, rcond=None)[0].T
    R = Wa @ Ha - Y
    return float((R**2).sum() / (2 * N)), Wa[:, :-1], Wa[:, -1], R


def whitened_snr(H: np.ndarray, K: int, n: int):
    """Singular values ω_j of Σ_W^{-1/2}M̃ (M̃ the centred class means) and the SVD factors."""
    d, N = H.shape
    Hb = _class_means(H, K, n)
    E = H - np.repeat(Hb, n, axis=1)
    ev, V = np.linalg.eigh(E @ E.T / N)
    A = (V / np.sqrt(ev)) @ V.T @ (Hb - Hb.mean(1, keepdims=True))
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    return s[:K - 1], U[:, :K - 1], Vt[:K - 1]


def _random_affine(rng, d: int):
    Q1, Q2 = (np.linalg.qr(rng.standard_normal((d, d)))[0] for _ in range(2))
    return (Q1 * rng.uniform(0.5, 2.0, d)) @ Q2, rng.standard_normal((d, 1))


def _mean_velocity(H: np.ndarray, K: int, n: int) -> np.ndarray:
    """−∂L_LS/∂μ_k (envelope theorem: ∂L_LS/∂H = W_LSᵀR/N), d×K."""
    _, Wl, _, R = ls_fit(H, K, n)
    g = Wl.T @ R / (K * n)
    return -g.reshape(H.shape[0], K, n).sum(-1)


def _law_rows(H: np.ndarray, K: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows [ω̇/ω, 2ωω̇, 4ω³ω̇] (= Φ'(ω)ω̇ coefficients of c1, c2, c3) at whitened features H."""
    om, U, Vt = whitened_snr(H, K, n)
    Md = _mean_velocity(H, K, n)
    Md = Md - Md.mean(1, keepdims=True)                       # Σ_W = I: whitened velocity
    wdot = np.einsum("dj,dk,jk->j", U, Md, Vt)                # ω̇_j = u_jᵀ Ṁ v_j
    return np.stack([wdot / om, 2 * om * wdot, 4 * om**3 * wdot], axis=1), np.ones(K - 1)


@register
class CentralPath(Claim):
    id = "ufm.mse.central_path"
    title = ("MSE = L_LS + L_⊥ with L_LS = ½Σ 1/(K + ω_j²), affine invariant; the ω law of the whitened means "
             "on the central path")
    summary = "L_LS in terms of the ω's, invariant under invertible affine maps of the features"
    summary_source = "Han, Papyan & Donoho 2022"
    statement = (r"\tfrac1{2N}\|WH+b1^\top-Y\|^2=L_{LS}(H)+L_\perp,\ "
                 r"L_{LS}=\tfrac12\sum_{j=1}^{K-1}\tfrac1{K+\omega_j^2},\ "
                 r"\omega_j=\sigma_j(\Sigma_W^{-1/2}\tilde M),\ L_{LS}(AH+c1^\top)=L_{LS}(H);\ "
                 r"\text{whitened means flowing down }L_{LS}:\ K^2\log\omega_j+K\omega_j^2+\tfrac14\omega_j^4=t+a_j")
    source = Source("Han, Papyan & Donoho", "Neural collapse under MSE loss: proximity to and dynamics on the central "
                    "path (ICLR)", 2022, "the MSE decomposition, the central path W = W_LS(H), the SNR matrix "
                    "Σ_W^{-1/2}M and the closed-form ω dynamics (form c1 log ω + c2 ω² + c3 ω⁴ = a + t); the "
                    "constants here are derived for our normalization and flow, not the paper's", arxiv="2106.02073")
    params = (Param("K", int, 4, "number of classes", minimum=2, maximum=32),
              Param("n", int, 3, "samples per class (>= 2 so that Σ_W can be invertible)", minimum=2),
              Param("d", int, lambda p: max(p["K"] - 1, min(p["K"] + 1, p["K"] * (p["n"] - 1))),
                    "feature dimension, K−1 <= d <= K(n−1) (default: K+1 where that fits)", minimum=1),
              Param("omega", float, 0.5, "every whitened SNR singular value of the test features", minimum=0.0))
    hypotheses = ("K >= 2", "K−1 <= d <= K(n−1) (Σ_W invertible)", "no regularization (least squares)")
    test_K = (2, 3, 8)
    zero_scale = 1.0
    tolerances = {
        "numeric": Tolerance(1e-8, "float64 lstsq and eigh/SVD on <= 100×100 matrices whose condition numbers are "
                                   "<= 1e3 (random affine maps with singular values in [0.5, 2]); observed <= 1e-12"),
        "simulation": Tolerance(1e-6, "Dormand–Prince at rtol 1e-10 over ~100 steps; the law's coefficients are a "
                                      "least-squares fit over the trajectory (observed ~1e-9 relative)"),
    }
    negative_controls = (
        NegativeControl("L_LS = ½Σ 1/(1 + ω_j²) (the class count dropped)", lambda p, f: {
            **f, **{k: (th.exact(p["K"]) - 1) / (2 * (1 + th.exact(p["omega"]) ** 2)) for k in ("loss_ls", "loss")}}),
        NegativeControl("L_LS = Σ 1/(K + ω_j²) (the ½ dropped)",
                        lambda p, f: {**f, **{k: 2 * f[k] for k in ("loss_ls", "loss")}}),
        NegativeControl("ω law with c3 = ½ (ω⁴/2)", lambda p, f: {**f, "law_c3": sp.Rational(1, 2)}),
    )

    def validate(self, p):
        K, n, d = p["K"], p["n"], p["d"]
        if d < K - 1:
            raise ParameterError("d", f"d={d} < K−1={K - 1}: the class means would not be in general position")
        if d > K * (n - 1):
            raise ParameterError("d", f"d={d} > K(n−1)={K * (n - 1)}: Σ_W has rank <= K(n−1) and is not "
                                      f"invertible")
        if not p["omega"] > 0:
            raise ParameterError("omega", f"omega={p['omega']:g} must be > 0")

    def formulas(self, p):
        return th.central_path_formulas(p["K"], p["omega"])

    def prove(self, p, formulas):
        return th.prove_central_path(formulas, p["K"], p["omega"])

    def symbolic_params(self, p):
        return {"K": K_SYMBOLIC, "n": None, "d": None, "omega": sp.Symbol("omega", positive=True)}

    def numeric(self, p, ctx):
        K, n, d, om = p["K"], p["n"], p["d"], p["omega"]
        rng = ctx.rng("numeric")
        prob = Problem.make("mse", K, d, n, 0.0, 0.0, 0.0, True)
        H = whitened_features(rng, K, n, d, [om] * (K - 1))
        A, c = _random_affine(rng, d)
        H2 = A @ H + c
        L1, Wl, bl, _ = ls_fit(H, K, n)
        L2, _, _, _ = ls_fit(H2, K, n)
        # decomposition at random (W, b) on generic features (Σ_W ≠ I, unequal ω_j)
        Hg = A @ whitened_features(rng, K, n, d) + c
        Lg, Wg, bg, _ = ls_fit(Hg, K, n)
        W, b = rng.standard_normal((K, d)), rng.standard_normal(K)
        mu = Hg.mean(1)
        Hc = Hg - mu[:, None]
        D = W - Wg
        perp = 0.5 * np.trace(D @ (Hc @ Hc.T / (K * n)) @ D.T) + 0.5 * np.sum((W @ mu + b - 1.0 / K) ** 2)
        om_g = whitened_snr(Hg, K, n)[0]
        rows = [_law_rows(whitened_features(rng, K, n, d), K, n) for _ in range(4)]
        coef = np.linalg.lstsq(np.vstack([r[0] for r in rows]), np.concatenate([r[1] for r in rows]), rcond=None)[0]
        mu_s = H.mean(1)
        values = {
            "perp": 0.5 * float(np.sum((Wl @ mu_s + bl - 1.0 / K) ** 2)),   # L_⊥ at (W_LS, b_LS): Δ = 0
            "loss_ls": np.array([L1, L2]),
            "loss": prob.value_and_grad(prob.pack(Wl, H, bl))[0],
            "affine_invariance": L2 - L1,
            "decomposition_residual": prob.value_and_grad(prob.pack(W, Hg, b))[0] - Lg - perp,
            "law_c1": coef[0], "law_c2": coef[1], "law_c3": coef[2],
        }
        info = {"generic_features": {"omega": om_g.tolist(), "L_LS_lstsq": Lg,
                                     "L_LS_omega_formula_minus_lstsq": float(0.5 * np.sum(1 / (K + om_g**2)) - Lg)},
                "law": "ω̇_j = u_jᵀṀv_j at 4 random whitened feature sets, c by least squares on Φ'(ω)ω̇ = 1"}
        return Observation(values, info, message="numpy lstsq, eigh and SVD")

    def simulate(self, p, ctx):
        K, n, d, om = p["K"], p["n"], p["d"], p["omega"]
        N = K * n
        rng = ctx.rng("simulation")
        H0 = np.stack([whitened_features(rng, K, n, d, [om] * (K - 1)), whitened_features(rng, K, n, d)])
        S = H0.shape[0]
        u = UFM("mse", K, d, n, bias=True, S=S, device=ctx.device)
        Ha1 = torch.ones(S, 1, N, dtype=torch.float64, device=u.device)

        def ls(H):
            Ha = torch.cat([H, Ha1], 1)
            Wa = torch.linalg.solve(Ha @ Ha.transpose(1, 2), Ha @ u.Y.T).transpose(1, 2)
            return Wa[:, :, :d], Wa[:, :, d], Wa @ Ha - u.Y

        def field(x):
            """Gradient flow of L_LS in the class means (Euclidean), within-class deviations frozen."""
            _, H, _ = u.unpack(x)
            Wl, _, R = ls(H)
            g = (Wl.transpose(1, 2) @ R / N).reshape(S, d, K, n).sum(-1)
            out = torch.zeros_like(x)
            out[:, K * d:K * d + d * N] = (-g).repeat_interleave(n, dim=2).reshape(S, -1)
            return out

        def on_path(H):
            H = H.to(u.device)
            Wl, bl, _ = ls(H)
            return u.objective(u.pack(Wl, H, bl)).cpu()

        zeros = torch.zeros(S, K, d, dtype=torch.float64)
        x0 = u.pack(zeros, torch.as_tensor(H0), torch.zeros(S, K, dtype=torch.float64)).to(u.device)
        times = np.linspace(0.0, 10.0 * K**2, 21)
        tr = flow(u, x0, times, field_fn=field)
        Hs = [u.unpack(torch.as_tensor(x))[1] for x in tr.x]          # on the CPU
        oms = np.array([[whitened_snr(H[s].numpy(), K, n)[0] for s in range(S)] for H in Hs])   # T×S×(K−1)
        lo = np.log(oms / oms[0])
        A = np.stack([lo, oms**2 - oms[0] ** 2, oms**4 - oms[0] ** 4], -1).reshape(-1, 3)
        rhs = np.broadcast_to(np.asarray(times)[:, None, None], oms.shape).reshape(-1)
        coef = np.linalg.lstsq(A, rhs, rcond=None)[0]
        Aff, c = _random_affine(rng, d)
        Hend = Hs[-1]
        Hmap = torch.as_tensor(Aff) @ Hend + torch.as_tensor(c)
        values = {
            "loss": float(on_path(Hs[0])[0]),
            "omega_spread": float(np.ptp(oms[:, 0, :], axis=-1).max()),
            "affine_invariance": (on_path(Hmap) - on_path(Hend)).numpy(),
            "law_c1": coef[0], "law_c2": coef[1], "law_c3": coef[2],
        }
        sw_drift = 0.0
        for H in Hs:
            for s in range(S):
                E = H[s].numpy() - np.repeat(_class_means(H[s].numpy(), K, n), n, axis=1)
                sw_drift = max(sw_drift, float(np.abs(E @ E.T / N - np.eye(d)).max()))
        info = {"steps": tr.steps, **tr.info, "omega_start": oms[0].tolist(), "omega_end": oms[-1].tolist(),
                "flow": "Ṁ = −∂L_LS/∂M (class means, Euclidean), within-class deviations frozen (Σ_W = I), "
                        "W = W_LS(H) and b = b_LS(H) eliminated; configs: equal ω and a random spectrum",
                "time_scale": "derived for this flow (unit speed); the paper's time scale is not checked",
                "sigma_w_drift": sw_drift}
        return Observation(values, info, message=f"central-path flow to t = {times[-1]:g}, {tr.steps} steps")
