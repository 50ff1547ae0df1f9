"""Exact gradient-flow dynamics of the unconstrained-features model (THEORY.md §8).

Every claim here is about the engine's objective (a mean over the N samples; the ½ of the MSE
is inside ℓ, the ½ of each penalty in front of it)::

    f(W, H, b) = (1/N) Σ_i ℓ(W h_i + b, y_i) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² (+ (λ_b/2)‖b‖²),

ℓ = cross-entropy or ½‖z − e_y‖² (so the MSE data term is (1/(2N))‖WH + b1ᵀ − Y‖_F²), under the
gradient flow ẋ = −∇f(x).  Each prediction is a closed form at J sample times t_j = jT/J; the
trajectories are compared at every t_j, not only at the end.

* numeric: scipy ``solve_ivp`` (DOP853, rtol 1e-12, atol 1e-14) on the numpy gradient of
  :mod:`numerics.ufm` — an independent integrator on independent code;
* simulation: the torch engine's adaptive Dormand–Prince :func:`simulations.ufm.flow`
  (rtol 1e-10, atol 1e-12), batched over random starts.

Global error of the engine's flow: each accepted step keeps the embedded (4th-order) local error
estimate below atol + rtol·|x| and advances the 5th-order solution, whose local error is far
smaller; for these contracting or mildly expanding flows the error of a quantity at time t is
bounded by (number of steps) × rtol × (growth factor), ~ 300 × 1e-10 = 3e-8 at the defaults.
The measured error is ≤ 1e-9 (tests/test_dyn.py measures it against rtol).
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy.integrate import solve_ivp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics.ufm import Problem
from simulations import ufm as engine
from simulations.device import cpu_threads
from theory import dynamics as th

#: sample times per trajectory (t_j = jT/J, j = 1..J)
J_SAMPLES = 6
J_LOGISTIC = 8
#: integrator settings of the numeric (scipy) check
IVP_RTOL, IVP_ATOL = 1e-12, 1e-14
#: relative numerical rank threshold for E(∞): its frozen singular values are O(1), the others
#: decay like the residual (below 1e-12 relative once the flow has converged)
RANK_RTOL = 1e-6
#: the unregularized limit run stops when the gradient norm is below this
LIMIT_GTOL = 1e-9

_ENGINE_TOL = Tolerance(1e-7, "engine Dormand-Prince at rtol 1e-10: global error <= steps x rtol "
                              "(~300 x 1e-10 = 3e-8 on these horizons) in the state, and the quantities are "
                              "O(1) ratios of it; measured <= 1e-9")
_IVP_TOL = Tolerance(1e-8, "scipy DOP853 at rtol 1e-12, atol 1e-14 (8th order): global error ~1e-11 "
                           "relative on these horizons, quantities are O(1) ratios; measured <= 1e-10")


# ----------------------------------------------------------------------------- shared pieces
def _lambda(name: str, doc: str, default=0.05) -> Param:
    return Param(name, float, default, doc, minimum=0.0)


def _equal_lambdas(p) -> None:
    if p["lambda_H"] != p["lambda_W"]:
        raise ParameterError("lambda_H", f"lambda_H={p['lambda_H']} differs from lambda_W={p['lambda_W']}: "
                                         "the closed-form law needs lambda_W = lambda_H")


def _T(default) -> Param:
    return Param("T", float, default, "time horizon; the law is compared at t_j = jT/J, j = 1..J", minimum=1e-6)


def _float_times(p, J: int) -> np.ndarray:
    return np.array([float(t) for t in th.sample_times(p["T"], J)])


def _ivp(problem: Problem, v0: np.ndarray, times: np.ndarray):
    """The gradient flow of ``problem`` by scipy DOP853, recorded at 0 and ``times``.

    Integrated segment by segment so that every recorded state is a step end point: DOP853's
    dense output (what ``t_eval`` would use) is less accurate than its steps (~1e-8 here)."""
    Y = problem.Y
    rhs = lambda _t, v: -problem.value_and_grad(v, Y)[1]  # noqa: E731
    states, t0, v, nfev, ok, status = [np.asarray(v0, dtype=np.float64)], 0.0, v0, 0, True, ""
    for t in times:
        sol = solve_ivp(rhs, (t0, float(t)), v, method="DOP853", rtol=IVP_RTOL, atol=IVP_ATOL)
        ok, status, nfev = ok and bool(sol.success), sol.message, nfev + int(sol.nfev)
        v, t0 = sol.y[:, -1], float(t)
        states.append(v)
    info = {"integrator": "scipy DOP853", "rtol": IVP_RTOL, "atol": IVP_ATOL, "rhs_evaluations": nfev,
            "status": status}
    return np.stack(states), ok, info


def _flow(u: engine.UFM, x0: torch.Tensor, times) -> engine.Trajectory:
    with cpu_threads(u.device, enabled=u.S * u.P <= 100_000):     # tiny problems: one thread
        return engine.flow(u, x0, times)


def _engine(u: engine.UFM, x0: torch.Tensor, times: np.ndarray):
    tr = _flow(u, x0, np.r_[0.0, times])
    info = {"integrator": tr.info["method"], "rtol": tr.info["rtol"], "atol": tr.info["atol"],
            "steps": tr.steps, "rejected": tr.info["rejected"], "device": str(u.device), "configs": u.S}
    return tr, info


def _cos(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B)))


def _merge(parts: list[dict]) -> dict:
    """Concatenate the arrays observed for each quantity in several runs."""
    out: dict = {}
    for part in parts:
        for k, v in part.items():
            out.setdefault(k, []).append(np.atleast_1d(np.asarray(v, dtype=np.float64)))
    return {k: np.concatenate(v) for k, v in out.items()}


def _first_change(p, f, candidates):
    """The first perturbation (a function of the formulas) that changes some formula."""
    for make in candidates:
        bad = make(p, f)
        if any(sp.simplify(bad[k] - f[k]) != 0 for k in bad):
            return bad
    return bad


def _engine_message(info: dict) -> str:
    return (f"{info['steps']} Dormand-Prince steps ({info['rejected']} rejected), rtol {info['rtol']:.0e}, "
            f"{info['configs']} configs on {info['device']}")


# ----------------------------------------------------------------------------- dyn.balance
def _balance_values(Ws, Hs, times) -> dict:
    """decay and alignment of D = WᵀW − HHᵀ along one trajectory (Ws: T×K×d, Hs: T×d×N)."""
    D = np.einsum("tkd,tke->tde", Ws, Ws) - np.einsum("tdi,tei->tde", Hs, Hs)
    D0 = D[0]
    out = {th.at("decay", t): np.linalg.norm(D[j + 1]) / np.linalg.norm(D0) for j, t in enumerate(times)}
    out["alignment"] = np.array([_cos(D[j + 1], D0) for j in range(len(times))])
    return out


def _balance_rate_control(factor):
    """Rate factor·λ instead of 2λ; at λ = 0 (D conserved) a wrong decay at rate 1/T instead."""
    def perturb(p, f):
        if p["lambda_W"] != 0:
            return {**f, **th.balance_formulas(p["lambda_W"], p["T"], J_SAMPLES, rate_factor=factor)}
        return {**f, **th.balance_formulas(1 / (2 * th.exact(p["T"])), p["T"], J_SAMPLES)}
    return perturb


@register
class Balance(Claim):
    id = "dyn.balance"
    title = "Balance law: WᵀW − HHᵀ decays exactly as e^{−2λt} under gradient flow, for any loss"
    summary = "WᵀW − HHᵀ decays as e^{−2λt} under gradient flow, for any loss of WH"
    summary_source = "derived"
    statement = (r"f=\tfrac1N\sum_i\ell(Wh_i+b,y_i)+\tfrac{\lambda_W}2\|W\|_F^2+\tfrac{\lambda_H}2\|H\|_F^2"
                 r"(+\tfrac{\lambda_b}2\|b\|^2),\ \dot x=-\nabla f:\ "
                 r"\tfrac{d}{dt}(W^\top W-HH^\top)=-2\lambda_W W^\top W+2\lambda_H HH^\top;\ "
                 r"\lambda_W=\lambda_H=\lambda\Rightarrow W^\top W-HH^\top=e^{-2\lambda t}(W^\top W-HH^\top)|_{t=0}"
                 r"\ (\text{conserved at }\lambda=0)")
    source = Source("Du, Hu & Lee", "Algorithmic regularization in learning deep homogeneous models: layers are "
                    "automatically balanced (NeurIPS)", 2018,
                    "gradient flow keeps the differences of squared layer norms invariant (abstract); the matrix "
                    "form for linear layers, W₂ᵀW₂ − W₁W₁ᵀ invariant, is recalled; the weight-decay law "
                    "−2λD is derived here (THEORY.md §8 [derived], confirmed)", arxiv="1806.00900",
                    note="any loss of WH + b1ᵀ: the data term enters only through G = ∂/∂Z, which cancels")
    params = (Param("K", int, 4, "number of classes", minimum=2, maximum=200),
              Param("n", int, 3, "samples per class", minimum=1),
              Param("d", int, lambda p: p["K"] + 1, "feature dimension", minimum=1),
              _lambda("lambda_W", "weight decay on W (the law needs lambda_H = lambda_W)"),
              Param("lambda_H", float, lambda p: p["lambda_W"], "weight decay on H (default: lambda_W)", minimum=0.0),
              _lambda("lambda_b", "weight decay on the bias of the cross-entropy run (the law does not involve b)", 0.0),
              _T(10.0))
    hypotheses = ("lambda_W = lambda_H", "any loss of Z = WH + b1ᵀ (checked: CE with a trained bias, "
                                         "MSE ℓ = ½‖z − e_y‖² without)")
    tolerances = {"numeric": _IVP_TOL, "simulation": _ENGINE_TOL}
    negative_controls = (
        NegativeControl("rate λ (the decay of W alone) instead of 2λ; at λ = 0 a decay at rate 1/T instead of "
                        "conservation", _balance_rate_control(1)),
        NegativeControl("rate 4λ (that of ‖D‖²) instead of 2λ; at λ = 0 a decay at rate 1/T",
                        _balance_rate_control(4)),
    )

    def validate(self, p):
        _equal_lambdas(p)

    def formulas(self, p):
        return th.balance_formulas(p["lambda_W"], p["T"], J_SAMPLES)

    def prove(self, p, formulas):
        return th.prove_balance(formulas, p["lambda_W"], p["T"], J_SAMPLES)

    def symbolic_params(self, p):
        """λ symbolic (λ > 0): the law and every sample for all λ at these sample times."""
        return {**p, "lambda_W": th.lam_gen, "lambda_H": th.lam_gen}

    def _problems(self, p):
        return (("ce", True), ("mse", False))

    def numeric(self, p, ctx):
        rng, times = ctx.rng("numeric"), _float_times(p, J_SAMPLES)
        parts, ok, infos = [], True, []
        for loss, bias in self._problems(p):
            prob = Problem.make(loss, p["K"], p["d"], p["n"], p["lambda_W"], p["lambda_H"], p["lambda_b"], bias=bias)
            v0 = rng.standard_normal(prob.size) / math.sqrt(p["d"])
            if bias:
                v0[-p["K"]:] = 0.0
            X, success, info = _ivp(prob, v0, times)
            Ws = np.stack([prob.unpack(x)[0] for x in X])
            Hs = np.stack([prob.unpack(x)[1] for x in X])
            parts.append(_balance_values(Ws, Hs, times))
            ok &= success
            infos.append({"loss": loss, "bias": bias, **info})
        return Observation(_merge(parts), {"runs": infos}, converged=ok,
                           message="scipy DOP853 on the numpy gradient: CE with trained bias, MSE without")

    def simulate(self, p, ctx):
        times = _float_times(p, J_SAMPLES)
        parts, infos = [], []
        for i, (loss, bias) in enumerate(self._problems(p)):
            u = engine.UFM(loss, p["K"], p["d"], p["n"], lambda_W=p["lambda_W"], lambda_H=p["lambda_H"],
                           lambda_b=p["lambda_b"], bias=bias, S=2, device=ctx.device)
            tr, info = _engine(u, u.init(ctx.seed_for("simulation") + i), times)
            for s in range(u.S):
                Ws = tr.x[:, s, :u.sizes[0]].reshape(-1, u.K, u.d)
                Hs = tr.x[:, s, u.sizes[0]:u.sizes[0] + u.sizes[1]].reshape(-1, u.d, u.N)
                parts.append(_balance_values(Ws, Hs, times))
            infos.append({"loss": loss, "bias": bias, **info})
        msg = "; ".join(f"{i['loss']}: " + _engine_message(i) for i in infos)
        return Observation(_merge(parts), {"runs": infos}, message=msg)


# ----------------------------------------------------------------------------- dyn.within_class
def _within_projector(K: int, n: int) -> np.ndarray:
    """C = I − P: removes the class means (samples class by class)."""
    N = K * n
    Y = np.kron(np.eye(K), np.ones((1, n)))
    return np.eye(N) - Y.T @ Y / n


def structured_start(K: int, d: int, n: int, rng: np.random.Generator):
    """A start on the invariant set of ``dyn.within_class``: W blind to U (dim d − K), class means
    outside U, within-class rows of E_U orthogonal (in R^N) to those of E_seen.

    Returns W (K×d), H (d×N) and an orthonormal basis U (d × (d−K))."""
    N = K * n
    Qd, _ = np.linalg.qr(rng.standard_normal((d, d)))
    V, U = Qd[:, :K], Qd[:, K:]
    B, _ = np.linalg.qr(_within_projector(K, n) @ rng.standard_normal((N, N - K)))   # within-class basis
    m2 = max(1, (N - K) // 2)
    B2, B1 = B[:, :m2], B[:, m2:]
    Y = np.kron(np.eye(K), np.ones((1, n)))
    s = 1 / math.sqrt(d)
    W = s * rng.standard_normal((K, K)) @ V.T
    H = (V @ (s * rng.standard_normal((K, K))) @ Y + V @ (s * rng.standard_normal((K, B1.shape[1]))) @ B1.T
         + U @ (s * rng.standard_normal((d - K, m2))) @ B2.T)
    return W, H, U


def _within_values(Ws, Hs, C, U, times) -> dict:
    """Invisible-block quantities along a structured trajectory."""
    EU = np.einsum("du,tdi->tui", U, Hs @ C)
    out = {th.at("invisible", t): np.linalg.norm(EU[j + 1]) / np.linalg.norm(EU[0]) for j, t in enumerate(times)}
    out["invisible_cos"] = np.array([_cos(EU[j + 1], EU[0]) for j in range(len(times))])
    out["W_on_U"] = np.array([np.linalg.norm(Ws[j] @ U) / np.linalg.norm(Ws[j]) for j in range(len(Ws))])
    return out


def _row_leak(Hs, C) -> np.ndarray:
    """‖E(t)(I − Π₀)‖/‖E(t)‖, Π₀ the projector onto the row space of E(0) in R^N."""
    E = Hs @ C
    _, s, Vt = np.linalg.svd(E[0], full_matrices=False)
    R = Vt[s > 1e-12 * s[0]]
    Pi = R.T @ R
    return np.array([np.linalg.norm(E[j] - E[j] @ Pi) / np.linalg.norm(E[j]) for j in range(1, len(E))])


def _limit_values(W, H, C) -> dict:
    E = H @ C
    s = np.linalg.svd(E, compute_uv=False)
    return {"limit_rank": float(np.sum(s > RANK_RTOL * s[0])),
            "limit_WE": np.linalg.norm(W @ E) / (np.linalg.norm(W) * np.linalg.norm(E)),
            "limit_singular_values": s}


@register
class WithinClass(Claim):
    id = "dyn.within_class"
    title = "Within-class dynamics (MSE): Ė = −((1/N)WᵀW + λ_H I)E; directions W never sees decay at e^{−λ_H t}"
    summary = "within-class deviations obey a linear ODE; unseen directions never move when λ_H = 0"
    summary_source = "derived"
    statement = (r"f=\tfrac1{2N}\|WH+b1^\top-Y\|_F^2+\tfrac{\lambda_W}2\|W\|_F^2+\tfrac{\lambda_H}2\|H\|_F^2:\ "
                 r"E=H(I-P)\ (\text{within-class deviations}),\ \dot E=-(\tfrac1N W^\top W+\lambda_H I)E,\ "
                 r"\text{so }E(t)=\Phi(t)E(0)\ (\text{row space in }\mathbb R^N\text{ fixed}).\ "
                 r"\text{If }WU=0,\ U^\top\bar H=0,\ E_{U^\perp}E_U^\top=0\text{ at }t=0:\ WU\equiv0,\ "
                 r"U^\top E(t)=e^{-\lambda_H t}U^\top E(0).\ \lambda=0,\ \text{generic start},\ d>K:\ "
                 r"E(\infty)\ne0,\ W E(\infty)=0,\ \operatorname{rank}E(\infty)=\min(d,N)-K")
    source = Source("Mixon, Parshall & Pi", "Neural collapse with unconstrained features", 2020,
                    "the MSE UFM gradient flow, whose collapse they prove inside an invariant subspace S; the "
                    "within-class law, the invariant set and the limit rank are derived here (THEORY.md §8 [derived])",
                    arxiv="2011.11619",
                    note="THEORY.md's 'with λ_H = 0 the part of E orthogonal to the row space of W never moves' "
                         "holds only on the invariant set above: from a generic start the row space of W rotates "
                         "and that part moves (tests/test_dyn.py measures it)")
    params = (Param("K", int, 3, "number of classes", minimum=2, maximum=50),
              Param("n", int, 4, "samples per class (>= 2: within-class variation)", minimum=2),
              Param("d", int, lambda p: p["K"] + 2, "feature dimension (> K: directions W can miss)", minimum=1),
              _lambda("lambda_W", "weight decay on W"),
              _lambda("lambda_H", "weight decay on H: the rate of the invisible block"),
              _lambda("lambda_b", "weight decay on the trained bias (the law does not involve b)", 0.0),
              _T(20.0))
    hypotheses = ("MSE loss (the law is linear in E only for MSE)", "d > K", "n >= 2",
                  "the limit part runs unregularized (lambda_W = lambda_H = 0), bias-free, from a generic start")
    tolerances = {"numeric": _IVP_TOL, "simulation": _ENGINE_TOL}
    negative_controls = (
        NegativeControl("the invisible block is not frozen: decays at λ_H + 1/N (as if W saw it)",
                        lambda p, f: {**f, **th.within_class_formulas(p["lambda_H"], p["K"], p["n"], p["d"], p["T"],
                                                                      J_SAMPLES, rate=th.exact(p["lambda_H"])
                                                                      + sp.Rational(1, p["K"] * p["n"]))}),
        NegativeControl("rate 2λ_H (that of ‖E_U‖²); at λ_H = 0 a slow decay at rate 1/(2T)",
                        lambda p, f: {**f, **th.within_class_formulas(
                            p["lambda_H"], p["K"], p["n"], p["d"], p["T"], J_SAMPLES,
                            rate=2 * th.exact(p["lambda_H"]) if p["lambda_H"] else 1 / (2 * th.exact(p["T"])))}),
        NegativeControl("full NC1 in the unregularized limit (rank E(∞) = 0)",
                        lambda p, f: {**f, "limit_rank": sp.Integer(0)}),
    )

    def validate(self, p):
        if p["d"] <= p["K"]:
            raise ParameterError("d", f"d={p['d']} <= K={p['K']}: W (K×d) then sees every direction; "
                                      "the claim needs d > K")

    def formulas(self, p):
        return th.within_class_formulas(p["lambda_H"], p["K"], p["n"], p["d"], p["T"], J_SAMPLES)

    def prove(self, p, formulas):
        return th.prove_within_class(formulas, p["lambda_H"], p["K"], p["n"], p["d"], p["T"], J_SAMPLES)

    def symbolic_params(self, p):
        """λ_H symbolic (> 0): the invisible block's law for every λ_H at these sample times."""
        return {**p, "lambda_H": th.lam_gen}

    # -- numeric: scipy
    def numeric(self, p, ctx):
        K, n, d = p["K"], p["n"], p["d"]
        rng, times = ctx.rng("numeric"), _float_times(p, J_SAMPLES)
        C = _within_projector(K, n)
        prob = Problem.make("mse", K, d, n, p["lambda_W"], p["lambda_H"], p["lambda_b"], bias=True)
        W0, H0, U = structured_start(K, d, n, rng)
        X, ok1, info1 = _ivp(prob, prob.pack(W0, H0, np.zeros(K)), times)
        Ws = np.stack([prob.unpack(x)[0] for x in X])
        Hs = np.stack([prob.unpack(x)[1] for x in X])
        values = _within_values(Ws, Hs, C, U, times)
        v0 = rng.standard_normal(prob.size) / math.sqrt(d)
        v0[-K:] = 0.0
        X, ok2, _ = _ivp(prob, v0, times)
        values["row_leak"] = _row_leak(np.stack([prob.unpack(x)[1] for x in X]), C)
        # unregularized limit from a generic start: integrate until the gradient vanishes
        free = Problem.make("mse", K, d, n, 0.0, 0.0, bias=False)
        v = rng.standard_normal(free.size) / math.sqrt(d)
        horizon, elapsed, gnorm, ok3 = 100.0, 0.0, np.inf, True
        while gnorm > LIMIT_GTOL and elapsed < 12800:
            X, success, _ = _ivp(free, v, np.array([horizon]))
            v, elapsed, ok3 = X[-1], elapsed + horizon, ok3 and success
            gnorm = float(np.linalg.norm(free.value_and_grad(v)[1]))
            horizon *= 2
        Wl, Hl, _ = free.unpack(v)
        lim = _limit_values(Wl, Hl, C)
        values.update(limit_rank=lim["limit_rank"], limit_WE=lim["limit_WE"])
        converged = ok1 and ok2 and ok3 and gnorm <= LIMIT_GTOL
        info = {**info1, "limit_time": elapsed, "limit_grad_norm": gnorm,
                "limit_singular_values": lim["limit_singular_values"]}
        return Observation(values, info, converged=converged,
                           message=f"scipy DOP853; unregularized limit at t = {elapsed:g}, grad norm {gnorm:.1e}")

    # -- simulation: the engine
    def simulate(self, p, ctx):
        K, n, d = p["K"], p["n"], p["d"]
        rng, times = ctx.rng("simulation"), _float_times(p, J_SAMPLES)
        C = _within_projector(K, n)
        u = engine.UFM("mse", K, d, n, lambda_W=p["lambda_W"], lambda_H=p["lambda_H"], lambda_b=p["lambda_b"],
                       bias=True, S=2, device=ctx.device)
        W0, H0, U = structured_start(K, d, n, rng)
        generic = u.init(ctx.seed_for("simulation"))
        x0 = u.pack(u.tensor(W0[None]), u.tensor(H0[None]))
        x0 = torch.cat([x0, generic[1:].to(x0.device)], dim=0)
        tr, info = _engine(u, x0, times)
        a, c = u.sizes[0], u.sizes[1]
        Ws = tr.x[:, :, :a].reshape(len(tr.times), 2, K, d)
        Hs = tr.x[:, :, a:a + c].reshape(len(tr.times), 2, d, u.N)
        values = _within_values(Ws[:, 0], Hs[:, 0], C, U, times)
        values["row_leak"] = _row_leak(Hs[:, 1], C)
        # unregularized limit, bias-free, two generic starts
        free = engine.UFM("mse", K, d, n, bias=False, S=2, device=ctx.device)
        x = free.init(ctx.seed_for("simulation") + 1)
        horizon, elapsed, steps, gnorm = 100.0, 0.0, 0, np.inf
        while gnorm > LIMIT_GTOL and elapsed < 12800:
            trl = _flow(free, x, [horizon])
            x, elapsed, steps = free.tensor(trl.x[-1]), elapsed + horizon, steps + trl.steps
            gnorm = float(trl.grad_norm[-1].max())
            horizon *= 2
        Wl, Hl, _ = free.unpack(x)
        lims = [_limit_values(Wl[s].cpu().numpy(), Hl[s].cpu().numpy(), C) for s in range(free.S)]
        values["limit_rank"] = np.array([m["limit_rank"] for m in lims])
        values["limit_WE"] = np.array([m["limit_WE"] for m in lims])
        info.update(limit_time=elapsed, limit_steps=steps, limit_grad_norm=gnorm,
                    limit_singular_values=[m["limit_singular_values"] for m in lims])
        return Observation(values, info, converged=gnorm <= LIMIT_GTOL,
                           message=_engine_message(info) + f"; unregularized limit at t = {elapsed:g} "
                                                           f"({steps} steps), grad norm {gnorm:.1e}")


# ----------------------------------------------------------------------------- dyn.logistic
def _default_T(p) -> float:
    """Twice the logistic's midpoint time (or 5 e-folds when p does not grow past 2 p0)."""
    w, u, v = th.logistic_constants(p["K"], p["n"], p["lambda_W"])
    c, pi, p0 = float(w) / math.sqrt(p["n"]), float(u) + float(v) * math.sqrt(p["n"]), p["p0"]
    if not p0 > 0:
        return 1.0                  # validate() rejects p0 <= 0, naming it
    if pi > 2 * p0:
        return round(2 * math.log(pi / p0 - 1) / (c * pi), 6)
    return round(5 / max(abs(c * pi), c * p0), 6)


def aligned_start(K: int, d: int, n: int, p0: float, rng: np.random.Generator):
    """W = aQᵀ, H = bQY with Q (d×K) orthonormal, a² = n b², ab = p0."""
    Q, _ = np.linalg.qr(rng.standard_normal((d, K)))
    b = math.sqrt(p0 / math.sqrt(n))
    a = math.sqrt(n) * b
    Y = np.kron(np.eye(K), np.ones((1, n)))
    return a * Q.T, b * Q @ Y


def _logistic_values(W, H, f, n: int, t) -> dict:
    """p = w_k·h̄_k (every k), and the ratios ‖w_k‖²/p, ‖h_{k,i}‖²/p, (f − ½(1 − p)²)/p."""
    K = W.shape[0]
    Hbar = H.reshape(H.shape[0], K, n).mean(axis=2)
    p = np.diag(W @ Hbar)
    pm = float(np.mean(p))
    return {th.at("p", t): p, "w_norm_sq_per_p": np.sum(W * W, axis=1) / pm,
            "h_norm_sq_per_p": np.sum(H * H, axis=0) / pm, "loss_excess_per_p": (f - 0.5 * (1 - pm) ** 2) / pm}


def _logistic_control_pinf(p, f):
    K, n, lv = th.exact(p["K"]), th.exact(p["n"]), th.exact(p["lambda_W"])
    args = (p["K"], p["n"], p["lambda_W"], p["p0"], p["T"], J_LOGISTIC)
    return _first_change(p, f, [
        lambda p, f: {**f, **th.logistic_formulas(*args, p_inf=(1 - K * n * lv, 0))},     # η read as nλ
        lambda p, f: {**f, **th.logistic_formulas(*args, p_inf=(1, -2 * K * lv))},         # λ for λ/2
        lambda p, f: {**f, **th.logistic_formulas(*args, p_inf=((K - 1) / K, 0))},         # the bias case's target
    ])


@register
class Logistic(Claim):
    id = "dyn.logistic"
    title = "Collapsed aligned balanced start (bias-free MSE): p = ab follows an exact logistic law"
    summary = "the aligned collapsed MSE flow is logistic, with closed-form rate and limit"
    summary_source = "derived"
    statement = (r"f=\tfrac1{2N}\|WH-Y\|_F^2+\tfrac\lambda2\|W\|_F^2+\tfrac\lambda2\|H\|_F^2,\ "
                 r"W=aQ^\top,\ H=bQY\ (Q^\top Q=I_K),\ a^2=nb^2:\ \text{invariant, and }p=ab:\ "
                 r"\dot p=\tfrac{2}{K\sqrt n}\,p\,(p_\infty-p),\ p_\infty=1-K\sqrt n\lambda,\ "
                 r"p(t)=\dfrac{p_\infty}{1+(p_\infty/p_0-1)e^{-rt}},\ r=\tfrac{2p_\infty}{K\sqrt n};\ "
                 r"\|w_k\|^2=\sqrt n\,p,\ \|h_{k,i}\|^2=p/\sqrt n,\ f=\tfrac12(1-p)^2+K\sqrt n\lambda p")
    source = Source("Saxe, McClelland & Ganguli", "Exact solutions to the nonlinear dynamics of learning in deep "
                    "linear neural networks (ICLR 2014)", 2013,
                    "the sigmoidal mode dynamics τu̇ = 2u(s − u) of a balanced aligned two-layer linear net "
                    "(recalled; abstract reachable); the UFM form with weight decay, its constants for this "
                    "objective and the fixed point are derived here (THEORY.md §8 [derived], confirmed)",
                    arxiv="1312.6120",
                    note="p_∞ = 1 − Kη, η = √(nλ_Wλ_H), is the ufm.mse.nobias optimum (Tirer & Bruna 2022, "
                         "arXiv 2202.08087)")
    params = (Param("K", int, 4, "number of classes", minimum=2, maximum=200),
              Param("n", int, 3, "samples per class", minimum=1),
              Param("d", int, lambda p: p["K"] + 1, "feature dimension (>= K)", minimum=1),
              _lambda("lambda_W", "weight decay λ on W (the law needs lambda_H = lambda_W)", 0.005),
              Param("lambda_H", float, lambda p: p["lambda_W"], "weight decay on H (default: lambda_W)", minimum=0.0),
              Param("p0", float, 0.01, "initial p = ab > 0 (small: the sigmoid starts near the saddle at 0)",
                    minimum=0.0),
              _T(_default_T))
    hypotheses = ("bias-free MSE", "lambda_W = lambda_H", "d >= K",
                  "start W = aQᵀ, H = bQY with a² = n b², ab = p0 > 0")
    tolerances = {"numeric": _IVP_TOL, "simulation": _ENGINE_TOL}
    negative_controls = (
        NegativeControl("rate p_∞/(K√n) instead of 2p_∞/(K√n) (prefactor halved)",
                        lambda p, f: {**f, **th.logistic_formulas(p["K"], p["n"], p["lambda_W"], p["p0"], p["T"],
                                                                  J_LOGISTIC, c_factor=1)}),
        NegativeControl("p_∞ = 1 − Knλ (η read as nλ; else 1 − 2K√nλ, else (K−1)/K)", _logistic_control_pinf),
    )

    def validate(self, p):
        _equal_lambdas(p)
        if p["d"] < p["K"]:
            raise ParameterError("d", f"d={p['d']} < K={p['K']}: the aligned start needs K orthonormal columns in R^d")
        if not p["p0"] > 0:
            raise ParameterError("p0", f"p0={p['p0']} must be > 0 (a = √n b > 0 with ab = p0)")

    def formulas(self, p):
        return th.logistic_formulas(p["K"], p["n"], p["lambda_W"], p["p0"], p["T"], J_LOGISTIC)

    def prove(self, p, formulas):
        return th.prove_logistic(formulas, p["K"], p["n"], p["lambda_W"], p["p0"], p["T"], J_LOGISTIC)

    def symbolic_params(self, p):
        """K, n, λ, p₀ symbolic (positive reals): the constants and every sample in general."""
        return {**p, "K": th.K_gen, "n": th.n_gen, "lambda_W": th.lam_gen, "lambda_H": th.lam_gen, "p0": th.p0_gen}

    def numeric(self, p, ctx):
        K, n, d = p["K"], p["n"], p["d"]
        times = _float_times(p, J_LOGISTIC)
        prob = Problem.make("mse", K, d, n, p["lambda_W"], p["lambda_H"], bias=False)
        W0, H0 = aligned_start(K, d, n, p["p0"], ctx.rng("numeric"))
        X, ok, info = _ivp(prob, prob.pack(W0, H0), times)
        parts = []
        for j, t in enumerate(times):
            W, H, _ = prob.unpack(X[j + 1])
            parts.append(_logistic_values(W, H, prob.value_and_grad(X[j + 1])[0], n, t))
        return Observation(_merge(parts), info, converged=ok, message="scipy DOP853 on the numpy gradient")

    def simulate(self, p, ctx):
        K, n, d = p["K"], p["n"], p["d"]
        times = _float_times(p, J_LOGISTIC)
        u = engine.UFM("mse", K, d, n, lambda_W=p["lambda_W"], lambda_H=p["lambda_H"], bias=False, S=2,
                       device=ctx.device)
        rng = ctx.rng("simulation")
        starts = [aligned_start(K, d, n, p["p0"], rng) for _ in range(u.S)]
        x0 = u.pack(u.tensor(np.stack([s[0] for s in starts])), u.tensor(np.stack([s[1] for s in starts])))
        tr, info = _engine(u, x0, times)
        a, c = u.sizes[0], u.sizes[1]
        parts = []
        for j, t in enumerate(times):
            for s in range(u.S):
                x = tr.x[j + 1, s]
                parts.append(_logistic_values(x[:a].reshape(K, d), x[a:a + c].reshape(d, u.N), tr.f[j + 1, s], n, t))
        return Observation(_merge(parts), info, message=_engine_message(info))
