"""Cross-entropy layer-peeled claims checked by certified SDP relaxations (THEORY.md §3).

``ufm.ce.layer_peeled`` — the norm-constrained model of Fang, He, Long & Su (2021);
``ufm.ce.max_margin`` — the max-margin limit of unregularized CE gradient flow,
Ji, Lu, Zhang, Deng & Su (2022).  Both are nonconvex in (W, H) but convex in a Gram
matrix: the numeric checks solve that SDP and certify its value; the simulations
run the torch UFM engine on the original (W, H).
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import ufm_sdp as num
from numerics.etf import numerical_rank, offdiag
from simulations import layer_peeled as sim
from theory import layer_peeled as th
from theory.etf import K_SYMBOLIC

#: Rank of an optimizer's output whose entries are accurate to ~1e-9: singular values
#: below 1e-6·σ_max are zero to that accuracy.
RANK_RTOL = 1e-6


def _exact(x):
    """A float parameter as the exact decimal it was written as (0.1 → 1/10), for the proofs;
    symbols (the general proof) pass through."""
    return x if isinstance(x, sp.Basic) else sp.Rational(repr(float(x)))


def _differs(a, b) -> bool:
    return sp.simplify(sp.sympify(a) - sp.sympify(b)) != 0


# --------------------------------------------------------------------------- layer-peeled
def _lp_wrong_margin(margin_of):
    """A negative control replacing the logit margin (and with it the loss)."""

    def perturb(p, f):
        K = sp.sympify(p["K"])
        m = margin_of(K, sp.sympify(p["E_W"]), sp.sympify(p["E_H"]))
        if not _differs(m, f["margin"]):           # the two coincide here: double the margin
            m = 2 * f["margin"]
        return {**f, "margin": m, "loss": sp.log(1 + (K - 1) * sp.exp(-m))}

    return perturb


def _lp_h_equals_w(p, f):
    """h_k = w_k (ratio 1, the E_H = E_W value) instead of √(E_H/E_W)·w_k (2·√(E_H/E_W) where they coincide)."""
    r = sp.Integer(1) if _differs(1, f["h_w_ratio"]) else 2 * f["h_w_ratio"]
    return {**f, "h_w_ratio": r, "h_norm_sq": r**2 * f["w_norm_sq"]}


@register
class LayerPeeled(Claim):
    id = "ufm.ce.layer_peeled"
    title = "CE layer-peeled model (balanced, norm budgets): the simplex ETF with h = √(E_H/E_W)·w is optimal"
    summary = "norm-constrained CE: ETF optimum and value, from a certified SDP relaxation"
    summary_source = "Fang et al. 2021"
    statement = (r"\min_{W,H}\ \tfrac1N\sum_{k,i}\mathrm{CE}(Wh_{k,i},k)\ \text{s.t.}\ "
                 r"\tfrac1K\sum_k\|w_k\|^2\le E_W,\ \tfrac1K\sum_k\tfrac1n\sum_i\|h_{k,i}\|^2\le E_H\ "
                 r"(\text{no bias},\ d\ge K-1):\ \text{optimum }"
                 r"\log\!\big(1+(K-1)e^{-\frac{K}{K-1}\sqrt{E_WE_H}}\big),\ W\ \text{a simplex ETF with }"
                 r"\|w_k\|^2=E_W,\ h_{k,i}=\sqrt{E_H/E_W}\,w_k,\ \text{both budgets active}")
    source = Source("Fang, He, Long & Su",
                    "Exploring deep neural networks via Layer-Peeled Model: minority collapse in imbalanced training "
                    "(PNAS 118)", 2021, "balanced-case theorem (the abstract: every solution forms a simplex ETF; "
                    "h_{k,i} = √(E_H/E_W) w_k as recalled, theorem text not reachable here, proved here); the SDP "
                    "relaxation is the authors' (HornHehhf/LPM, optimization.py); value, margin and multipliers "
                    "derived here", arxiv="2101.12699",
                    note="objective as in the paper: (1/N)Σ CE, budgets (1/K)Σ‖w_k‖² <= E_W and "
                         "(1/K)Σ_k (1/n_k)Σ_i ‖h_{k,i}‖² <= E_H (the authors' SDP: tr X_HH <= K E_H, tr X_WW <= K E_W)")
    params = (
        Param("K", int, 4, "number of classes", minimum=2, maximum=12),
        Param("n", int, 3, "samples per class (balanced)", minimum=1, maximum=200),
        Param("d", int, lambda p: p["K"], "feature dimension, d >= K-1", minimum=1),
        Param("E_W", float, 1.0, "classifier budget (1/K)Σ‖w_k‖² <= E_W", minimum=1e-3, maximum=100.0),
        Param("E_H", float, 2.0, "feature budget (1/N)Σ‖h_i‖² <= E_H", minimum=1e-3, maximum=100.0),
    )
    hypotheses = ("balanced classes, no bias", "d >= K - 1",
                  "checked range: K <= 12 and logit margin (K/(K-1))√(E_W E_H) <= 6 (the theorem holds for any "
                  "budgets; beyond, the loss ~ e^-margin is so flat that the descent stalls at the float64 "
                  "rounding floor before the stated tolerance)")
    #: largest logit margin the checks are run at (see the hypotheses)
    max_margin = 6.0
    tolerances = {
        "numeric": Tolerance(1e-8, "interior-point SDP (Clarabel, gap <= 1e-9) for the global solution, its "
                                   "rank-d factor polished by L-BFGS + Newton on the budget spheres (KKT residual "
                                   "~1e-16); certified interval [dual bound, feasible value] of width <= 1e-14; "
                                   "observed errors <= 4e-12 for K <= 8, margins up to 10"),
        "simulation": Tolerance(1e-6, "projected gradient, then L-BFGS on the budget spheres to a gradient of "
                                      "log f below 1e-8 (the float64 floor of line searches on log f is ~3e-8), "
                                      "checked as a KKT point of the ball problem to 1e-7; Gram entries err by "
                                      "~gradient/curvature: observed <= 5e-8 for K <= 12, margins <= 6"),
    }
    negative_controls = (
        NegativeControl("margin exponent K/(K-1) replaced by 1",
                        _lp_wrong_margin(lambda K, E_W, E_H: sp.sqrt(E_W * E_H))),
        NegativeControl("√(E_W E_H) replaced by E_W E_H",
                        _lp_wrong_margin(lambda K, E_W, E_H: K / (K - 1) * E_W * E_H)),
        NegativeControl("h_k = w_k instead of √(E_H/E_W) w_k", _lp_h_equals_w),
    )

    def validate(self, p):
        if p["d"] < p["K"] - 1:
            raise ParameterError("d", f"d={p['d']} is too small for a simplex ETF with K={p['K']} (needs d >= K-1)")
        margin = p["K"] / (p["K"] - 1) * math.sqrt(p["E_W"] * p["E_H"])
        if margin > self.max_margin:
            raise ParameterError("E_H", f"budgets E_W={p['E_W']}, E_H={p['E_H']} give a logit margin {margin:.1f} "
                                        f"> {self.max_margin:g} (the checked range: beyond, the loss is so flat that "
                                        f"descent stalls at the float64 floor); lower E_W or E_H")

    def formulas(self, p):
        return th.layer_peeled_formulas(p["K"], _exact(p["E_W"]), _exact(p["E_H"]))

    def prove(self, p, formulas):
        return th.prove_layer_peeled(formulas, p["K"], _exact(p["E_W"]), _exact(p["E_H"]), p.get("d"))

    def symbolic_params(self, p):
        return {"K": K_SYMBOLIC, "n": None, "d": None, "E_W": th.E_W_sym, "E_H": th.E_H_sym}

    def numeric(self, p, ctx):
        K = p["K"]
        cert = num.layer_peeled_sdp(K, p["E_W"], p["E_H"], d=p["d"])
        tol = self.tolerances["numeric"].value
        values = {"loss": np.array([cert.lower, cert.upper]), **num.measure_layer_peeled(cert.gram, K, RANK_RTOL),
                  **cert.multipliers}
        kkt_ok = cert.info["kkt_residual"] <= 1e-10 and min(cert.multipliers.values()) > 0
        ok = cert.status == "optimal" and cert.gap <= tol and cert.primal_residual <= tol and kkt_ok
        info = {"status": cert.status, "solver": cert.solver, "certified_interval": [cert.lower, cert.upper],
                "gap": cert.gap, "primal_residual": cert.primal_residual, **cert.info}
        return Observation(values, info, converged=ok,
                           message=f"{cert.solver} {cert.status} (SDP rank {cert.info['sdp_rank']}, d = {p['d']}), "
                                   f"primal residual {cert.primal_residual:.1e}; rank-d factor polished "
                                   f"({cert.info['newton_steps']} Newton steps, KKT residual "
                                   f"{cert.info['kkt_residual']:.1e}, multipliers > 0); certified gap {cert.gap:.1e}")

    def simulate(self, p, ctx):
        K, n, d = p["K"], p["n"], p["d"]
        r = sim.budget_descent(K, d, n, p["E_W"], p["E_H"], starts=ctx.by_profile(4, 12),
                               seed=ctx.seed_for("simulation"), device=ctx.device)
        labels = np.repeat(np.arange(K), n)
        W, H = r.W, r.H                                             # S×K×d, S×d×N
        wn = np.sum(W * W, axis=2)                                  # S×K
        Z = np.einsum("skd,sdi->ski", W, H)                         # S×K×N logits
        zy = Z[:, labels, np.arange(K * n)]                         # S×N
        wrong = np.ones((K, K * n), dtype=bool)
        wrong[labels, np.arange(K * n)] = False
        G = np.einsum("skd,sjd->skj", W, W)
        cos = np.stack([offdiag(g / np.sqrt(np.outer(w, w))) for g, w in zip(G, wn)])
        b = r.best
        values = {
            "loss": r.loss,
            "w_norm_sq": wn,
            "h_norm_sq": np.sum(H * H, axis=1),
            "w_cos": cos,
            "h_w_ratio": np.einsum("sdi,sid->si", H, W[:, labels, :]) / wn[:, labels],
            "margin": (zy[:, None, :] - Z)[:, wrong],
            "gram_rank": float(numerical_rank(np.concatenate([W[b], H[b].T]), RANK_RTOL)),
            "mult_W": r.mult_W,
            "mult_H": r.mult_H,
        }
        info = dict(r.info)
        active = info["both_budgets_active_at_pg_step"]
        when = f"after {max(active)}" if min(active) > 0 else f"not within {info['pg_steps']}"
        msg = (f"{info['starts']} starts: both budgets active {when} projected steps; {info['gd_steps']} GD + "
               f"{info['lbfgs_steps']} L-BFGS steps on the spheres ({info['lbfgs_restarts']} restarts), grad norm "
               f"of log f {info['grad_norm']:.1e} (gtol {info['gtol']:.0e}); ball-problem KKT residual / f "
               f"{info['kkt_residual']:.1e}, multipliers "
               + ("> 0" if min(r.mult_W.min(), r.mult_H.min()) > 0 else "NOT > 0"))
        return Observation(values, info, converged=r.converged, message=msg)


# --------------------------------------------------------------------------- max-margin
def _mm_value_K(p, f):
    """value √n·K instead of √n(K−1)."""
    return {**f, "value": sp.sqrt(sp.sympify(p["n"])) * p["K"]}


def _mm_h_equals_w(p, f):
    """h_i = w_{y_i} instead of w_{y_i}/√n (2w/√n where n = 1 makes them coincide)."""
    r = sp.Integer(1) if _differs(1, f["h_w_ratio"]) else 2 * f["h_w_ratio"]
    return {**f, "h_w_ratio": r, "h_norm_sq": r**2 * f["w_norm_sq"]}


def _mm_cos(p, f):
    """classifier cosine −1/K instead of −1/(K−1)."""
    return {**f, "w_cos": -1 / sp.sympify(p["K"])}


@register
class MaxMargin(Claim):
    id = "ufm.ce.max_margin"
    title = ("Unregularized CE gradient flow on the UFM converges in direction to a KKT point of the min-norm "
             "separation problem, whose optimum is the simplex ETF with h = w/√n")
    summary = "unregularized CE: direction → min-norm max-margin ETF, value √n(K−1)"
    summary_source = "Ji et al. 2022"
    statement = (r"\dot\theta=-\nabla_\theta\tfrac1N\sum_i\mathrm{CE}(Wh_i,y_i),\ \theta=(W,H),\ \text{no bias}:\ "
                 r"\theta(t)/\|\theta(t)\|\to\text{a KKT direction of}\ \min\tfrac12(\|W\|_F^2+\|H\|_F^2)\ "
                 r"\text{s.t.}\ (w_{y_i}-w_j)^\top h_i\ge1;\ \text{balanced optimum: } WW^\top=\sqrt n(I-\tfrac1K J),"
                 r"\ h_i=w_{y_i}/\sqrt n,\ \text{value}=\sqrt n(K-1)=\|(I-\tfrac1K J)Y\|_*")
    source = Source("Ji, Lu, Zhang, Deng & Su", "An unconstrained layer-peeled perspective on neural collapse (ICLR)",
                    2022, "main theorems: gradient flow converges in direction to a KKT point of the min-norm "
                          "separation problem, whose global minimizers exhibit neural collapse (stated in the "
                          "abstract; theorem text not reachable here); closed forms derived here",
                    arxiv="2110.02796",
                    note="the paper's loss is a sum over samples; our 1/N only rescales time, not the orbit")
    params = (
        Param("K", int, 4, "number of classes", minimum=2, maximum=20),
        Param("n", int, 3, "samples per class (balanced)", minimum=1, maximum=30),
        Param("d", int, lambda p: p["K"], "feature dimension, d >= K-1", minimum=1),
    )
    hypotheses = ("balanced classes, no bias, no regularization", "d >= K - 1",
                  "simulation: compared is the best (largest normalized margin) of 4 runs started at scale 1e-4, "
                  "for K <= 5; generic starts (scale 1) are traced and reported, not compared")
    tolerances = {
        "numeric": Tolerance(1e-7, "linear SDP solved by Clarabel to gap 1e-12; certified interval "
                                   "[Σλ/‖Λ‖_op, feasible rank-d value] (observed width <= 1e-13, Gram "
                                   "entries <= 1e-13)"),
        "simulation": Tolerance(1e-4, "the direction converges only as fast as the start's remnant shrinks "
                                      "against the growing norm: the conserved WᵀW − HHᵀ and components outside "
                                      "the growing subspace keep their start size σ, so Gram quantities err by "
                                      "~σ/√(margin); σ = 1e-4, min margin 64 (128 for K = 5): best-of-4 errors "
                                      "observed <= 3e-5 over 5 seeds (the value, second order, <= 1e-6)"),
    }
    negative_controls = (
        NegativeControl("value √n·K instead of √n(K−1)", _mm_value_K),
        NegativeControl("h_i = w_{y_i} instead of w_{y_i}/√n", _mm_h_equals_w),
        NegativeControl("classifier cosine −1/K instead of −1/(K−1)", _mm_cos),
    )
    #: The simulation's runs: ``small_runs`` from start scale ``small_scale`` (the best of them,
    #: the largest normalized margin, is compared), ``generic_runs`` from scale 1 (trend only).
    small_scale, small_runs, generic_runs = 1e-4, 4, 2
    #: Largest K the simulation compares: beyond, the small-start runs have not approached the
    #: ETF to 1e-4 before the loss underflows (min margin ~700); the trend is still reported.
    sim_max_K = 5
    #: levels of the min margin (~ log t) at which the trend is recorded
    checkpoints = (8.0, 16.0, 32.0, 64.0)

    @staticmethod
    def target_margin(K: int) -> float:
        """Min margin the flow is traced to (measured: best-of-4 errors <= 3e-5 at these)."""
        return 64.0 if K <= 4 else 128.0

    def validate(self, p):
        if p["d"] < p["K"] - 1:
            raise ParameterError("d", f"d={p['d']} is too small for a simplex ETF with K={p['K']} (needs d >= K-1)")
        if p["K"] * (p["n"] + 1) > 400:
            raise ParameterError("n", f"the SDP has size K(n+1) = {p['K'] * (p['n'] + 1)} > 400; lower n or K")

    def formulas(self, p):
        return th.max_margin_formulas(p["K"], p["n"])

    def prove(self, p, formulas):
        return th.prove_max_margin(formulas, p["K"], p["n"], p.get("d"))

    def symbolic_params(self, p):
        return {"K": K_SYMBOLIC, "n": th.n_sym, "d": None}

    def numeric(self, p, ctx):
        K, n = p["K"], p["n"]
        cert = num.max_margin_sdp(K, n, d=p["d"])
        tol = self.tolerances["numeric"].value
        values = {"value": np.array([cert.lower, cert.upper]), **num.measure_max_margin(cert.gram, K, n, RANK_RTOL)}
        ok = cert.status == "optimal" and cert.gap <= tol and cert.primal_residual <= tol
        info = {"status": cert.status, "solver": cert.solver, "certified_interval": [cert.lower, cert.upper],
                "gap": cert.gap, "primal_residual": cert.primal_residual, **cert.info}
        return Observation(values, info, converged=ok,
                           message=f"{cert.solver} {cert.status}, certified gap {cert.gap:.1e}, "
                                   f"primal residual {cert.primal_residual:.1e}, Gram rank "
                                   f"{int(values['gram_rank'])} (d = {p['d']})")

    def simulate(self, p, ctx):
        K, n, d = p["K"], p["n"], p["d"]
        scales = [self.small_scale] * self.small_runs + [1.0] * self.generic_runs
        small = list(range(self.small_runs))
        generic = list(range(self.small_runs, len(scales)))
        mf = sim.margin_flow(K, d, n, scales, seed=ctx.seed_for("simulation"), device=ctx.device,
                             target_margin=self.target_margin(K))
        value = mf.norm_value[-1]
        best = min(small, key=lambda i: value[i])
        values = _normalized_quantities(mf.x[-1], mf.min_margin[-1], [best], K, d, n)
        values["value"] = value[best]
        trend, ok, why = _trend(mf, self.checkpoints, best)
        info = {**mf.info, "compared_run": best, "small_runs": small, "generic_runs": generic, "trend": trend,
                "final_value_bound": value.tolist(), "final_kkt_residual": mf.kkt_residual[-1].tolist(),
                "final_log10_t": (mf.log_t[-1] / math.log(10)).tolist()}
        msg = (f"{mf.steps} Dormand-Prince steps on the reparametrized orbit to min margin "
               f"{mf.min_margin[-1].min():.1f} (log10 t ≈ {np.min(mf.log_t[-1]) / math.log(10):.1f}); compared: the "
               f"best of {len(small)} small starts (scale {self.small_scale:g}), KKT residual "
               f"{mf.kkt_residual[-1, best]:.1e}; value bounds ‖θ‖²/(2·min margin) of the other runs: "
               + ", ".join(f"{value[i]:.6g}" for i in range(len(scales)) if i != best)
               + " (generic starts, not compared: the value bound approaches like 1/log t, Gram quantities "
                 "like 1/√log t; see info.trend)"
               + ("" if ok else f"; NOT converged: {why}"))
        skip = None
        if K > self.sim_max_K:
            skip = (f"K = {K} > {self.sim_max_K}: the flow's direction converges too slowly to resolve the "
                    f"tolerance before the loss underflows; best value bound {value[best]:.8g} at min margin "
                    f"{mf.min_margin[-1, best]:.0f}, trend in the info")
        return Observation(values, info, converged=ok, message=msg, skip=skip)


def _normalized_quantities(x: np.ndarray, min_margin: np.ndarray, runs, K: int, d: int, n: int) -> dict:
    """The iterate rescaled to min margin 1 (a feasible point of the min-norm problem), measured."""
    labels = np.repeat(np.arange(K), n)
    N = K * n
    wrong = np.ones((K, N), dtype=bool)
    wrong[labels, np.arange(N)] = False
    out = {k: [] for k in ("w_norm_sq", "h_norm_sq", "w_cos", "h_w_ratio", "margin", "gram_rank")}
    for s in runs:
        W, H = sim.unpack_numpy(K, d, n, x[s])
        c = 1 / math.sqrt(min_margin[s])
        W, H = W * c, H * c
        wn = np.sum(W * W, axis=1)
        Z = W @ H
        out["w_norm_sq"].append(wn)
        out["h_norm_sq"].append(np.sum(H * H, axis=0))
        out["w_cos"].append(offdiag(W @ W.T / np.sqrt(np.outer(wn, wn))))
        out["h_w_ratio"].append(np.einsum("di,id->i", H, W[labels]) / wn[labels])
        out["margin"].append((Z[labels, np.arange(N)][None, :] - Z)[wrong])
        # remnants of the start are ~σ/√margin ≈ 1e-5 of the growing part: rank at 1e-3
        out["gram_rank"].append(float(numerical_rank(np.concatenate([W, H.T]), 1e-3)))
    return {k: np.concatenate([np.ravel(v) for v in vals]) for k, vals in out.items()}


def _trend(mf: sim.MarginFlow, levels, best: int) -> tuple[list[dict], bool, str]:
    """The orbit at the first snapshot where every min margin passed each level, and the
    convergence verdict: every run separated and reached the target; the smoothed
    normalized margin of every run nondecreasing once separated (Lyu & Li 2020, Thm 4.1);
    the compared run's KKT residual decreasing from the first to the last level and <= 1e-6."""
    rows = []
    for level in levels:
        idx = np.nonzero((mf.min_margin >= level).all(axis=1))[0]
        if idx.size == 0:
            continue
        i = int(idx[0])
        rows.append({"margin_level": level, "s": float(mf.s[i]), "log10_t": (mf.log_t[i] / math.log(10)).tolist(),
                     "value_bound": mf.norm_value[i].tolist(), "kkt_residual": mf.kkt_residual[i].tolist(),
                     "smoothed_margin": mf.smoothed_margin[i].tolist()})
    problems = []
    if not mf.info["reached_target"] or len(rows) < len(levels):
        problems.append(f"min margin {mf.min_margin[-1].min():.1f} < target {mf.info['target_margin']}")
    sep = np.nonzero((mf.min_margin > 0).all(axis=1))[0]
    if sep.size:
        gm = mf.smoothed_margin[sep[0]:]
        drop = np.diff(gm, axis=0) < -1e-8 * np.abs(gm[1:])
        if drop.any():
            problems.append(f"smoothed margin decreased at {int(drop.any(axis=1).sum())} snapshots")
    kkt = [row["kkt_residual"][best] for row in rows]
    if len(kkt) >= 2 and not kkt[-1] < kkt[0]:
        problems.append("the compared run's KKT residual did not decrease over the checkpoints")
    if mf.kkt_residual[-1, best] > 1e-6:
        problems.append(f"the compared run's KKT residual {mf.kkt_residual[-1, best]:.1e} > 1e-6")
    return rows, not problems, "; ".join(problems)
