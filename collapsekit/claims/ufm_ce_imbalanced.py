"""Imbalanced CE UFM with bias: Hong & Ling's convex reformulation, NC1, minority collapse (THEORY.md §5).

``ufm.ce.imbalanced`` — no closed form for the optimal value or the geometry: ``loss`` is reported,
not predicted.  Predicted exactly: NC1 and the agreement of the non-convex UFM with the certified
convex optimum (0), and per group g of equal-size classes the threshold μ* = √n_g/N, the contrast
multiplier γ_g = min(μ, √n_g/N) and, above the threshold, coinciding classifiers and class means.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import ufm_ce_imbalanced as nu
from simulations import ufm_ce_imbalanced as su
from theory import ufm_ce_imbalanced as th
from theory.proof import exact

#: largest N = Σ n_k (the engine keeps one feature per sample)
MAX_N = 4000
#: validate() refuses |μ − √n_g/N| < NEAR·√n_g/N: at the threshold the optimum is degenerate
NEAR = 1e-2


def _mu(p):
    return sp.sqrt(exact(p["lambda_W"]) * exact(p["lambda_H"]))


def _etf(p, f):
    """Equal-size minority classes stay at simplex-ETF vertices: ‖v_i − v_j‖ = √(2K/(K−1))·‖v‖."""
    K = len(p["n"])
    d = sp.sqrt(sp.Rational(2 * K, K - 1))
    return {**f, **{k: d for k in f if k.startswith(("spread_w_", "spread_h_"))}}


def _no_collapse(p, f):
    """No minority collapse at finite imbalance: every group's contrast multiplier stays μ."""
    mu = _mu(p)
    return {**f, **{k: mu for k in f if k.startswith("contrast_dual_")}}


def _convention(p, f):
    """The paper's nuclear weight 2√(λ_Wλ_H) used with the engine's ½-normalized regularizers."""
    mu2 = 2 * _mu(p)
    out = dict(f)
    for g in th.groups_of(p["n"]):
        t, kg = th.threshold(p["n"], g), th.key(g)
        out[f"contrast_dual_{kg}"] = sp.Min(mu2, t)
        if sp.simplify(mu2 - t).is_nonnegative:
            out[f"spread_w_{kg}"] = out[f"spread_h_{kg}"] = sp.Integer(0)
    return out


@register
class UFMCEImbalanced(Claim):
    id = "ufm.ce.imbalanced"
    title = ("Imbalanced CE UFM with bias: equivalent to a nuclear-norm-regularized convex program in Z = WH̄; "
             "NC1; means not an ETF; equal-size classes coincide (minority collapse) iff n_g <= N²λ_Wλ_H")
    summary = ("imbalanced CE UFM = convex min (1/N)Σ n_k CE(z_k + b) + √(λ_Wλ_H)‖Z diag(√n)‖_* + (λ_b/2)‖b‖² "
               "(certified cvxpy vs engine); NC1; equal-size classes coincide iff n_g <= N²λ_Wλ_H")
    summary_source = "Hong & Ling 2023"
    statement = (r"\min_{W,H,b}\tfrac1N\sum_i\mathrm{CE}(Wh_i+b,y_i)+\tfrac{\lambda_W}2\|W\|_F^2+\tfrac{\lambda_H}2"
                 r"\|H\|_F^2+\tfrac{\lambda_b}2\|b\|^2=\min_{Z,b}\tfrac1N\sum_k n_k\mathrm{CE}(z_k+b,k)+\mu\|ZD\|_*+"
                 r"\tfrac{\lambda_b}2\|b\|^2,\ \mu=\sqrt{\lambda_W\lambda_H},\ D=\mathrm{diag}(\sqrt{n_k});\ h_i=\bar h_{y_i};"
                 r"\ \text{classes of equal size }n_g\text{ coincide iff }\sqrt{n_g}/N\le\mu;\ "
                 r"\gamma_g=\min(\mu,\sqrt{n_g}/N)")
    source = Source("Hong & Ling",
                    "Neural collapse for unconstrained feature model under cross-entropy loss with imbalanced data",
                    2023,
                    "convex reformulation and NC1 (abstract and TL;DR confirmed; the convex program's exact form "
                    "confirmed in the authors' code, WanliHongC/Neural-Collapse ana_utils.solve_cvx: "
                    "Σ_k n_k CE(z_k + b)/N + l‖Z diag(√n)‖_* + l_b‖b‖², training loss CE + λ'_W‖W‖² + "
                    "λ'_H‖H‖² + λ'_b‖b‖² without ½, l = 2√(λ'_Wλ'_H)); the two-cluster minority-collapse "
                    "threshold: the theorem text was not reachable; derived here as n_B <= N²l² (engine: "
                    "n_B <= N²λ_Wλ_H) for any group of equal-size classes, consistent with the authors' "
                    "experiment grids (minority_l_main: n_A = 500, n_B = 100, K_A = 5, l ∈ [0.0027, 0.0075] "
                    "around √100/3000 = 0.00333; minority_n_main: l = 0.005, n_B = 100, n_A ∈ [100, 1400] "
                    "around n_A = 300)", arxiv="2309.09725",
                    note="objective in the engine's normalization (½ on every regularizer); the paper/code "
                         "convention (no ½) maps by λ' = λ/2")
    params = (
        Param("n", tuple, (8, 8, 2, 1, 1), f"samples per class, e.g. --set n=200,100,50,50 (N <= {MAX_N})",
              minimum=1, maximum=MAX_N),
        Param("d", int, lambda p: len(p["n"]), "feature dimension, d >= K-1", minimum=1, maximum=64),
        Param("lambda_W", float, 0.04, "classifier decay (λ_W/2)‖W‖²", minimum=1e-5, maximum=10.0),
        Param("lambda_H", float, 0.09, "feature decay (λ_H/2)‖H‖²", minimum=1e-5, maximum=10.0),
        Param("lambda_b", float, 0.01, "bias decay (λ_b/2)‖b‖²", minimum=1e-5, maximum=10.0),
        Param("starts", int, 3, "random starts of the engine (quick profile; full: 8)", minimum=1, maximum=32),
    )
    test_K = ()
    hypotheses = ("bias, λ_W, λ_H, λ_b > 0", "d >= K - 1 (the convex optimum has rank <= K - 1)",
                  f"2 <= K <= 10, N <= {MAX_N}", "at least two classes of equal size (a group g)",
                  f"no group of equal-size classes within {NEAR:.0%} of its threshold μ = √n_g/N",
                  "no closed form for the optimal value: `loss` is observed only")
    tolerances = {
        "numeric": Tolerance(1e-6, "set by the threshold bisection (relative width 1e-7): within ~1e-7 of a group's "
                                   "threshold the factored problem is flat in the contrast direction and the polished "
                                   "multiplier errs by ~1e-7 (observed threshold errors <= 1.3e-7 at n = (8,8,2,1,1), "
                                   "(12,12,12,1,1,1), (30,10,10,3,3)); everything else: Clarabel (tolerances 1e-12) "
                                   "then Newton, certified interval width <= 1e-12, gradients <= 1e-13, feature "
                                   "problems by Newton to 1e-15 (observed errors <= 1e-14)"),
        "simulation": Tolerance(1e-6, "engine GD + L-BFGS to gradient norm 1e-11; Z, b and the contrast multiplier "
                                      "err by gradient/curvature (smallest curvature ~ μ − √n_g/N = 0.01 at the "
                                      "defaults): observed <= 1e-10; loss to rounding"),
    }
    negative_controls = (
        NegativeControl("simplex ETF: equal-size minority classes keep distinct ETF vertices", _etf),
        NegativeControl("no minority collapse: every group's contrast multiplier stays μ", _no_collapse),
        NegativeControl("nuclear weight 2√(λ_Wλ_H) (the no-½ convention) with ½-normalized decays", _convention),
    )
    zero_scale = 1.0

    def validate(self, p):
        counts = p["n"]
        K, N = len(counts), sum(counts)
        if K < 2 or K > 10:
            raise ParameterError("n", f"{counts}: need 2 <= K <= 10 classes")
        if N > MAX_N:
            raise ParameterError("n", f"{counts}: N = {N} > {MAX_N}")
        if p["d"] < K - 1:
            raise ParameterError("d", f"d={p['d']} < K-1={K - 1}")
        if not th.groups_of(counts):
            raise ParameterError("n", f"{counts}: no two classes share a size; the minority-collapse statement "
                                      "(and every negative control) concerns a group of equal-size classes")
        mu = float(np.sqrt(p["lambda_W"] * p["lambda_H"]))
        for g in th.groups_of(counts):
            t = float(th.threshold(counts, g))
            if abs(mu - t) < NEAR * t:
                raise ParameterError("lambda_W", f"√(λ_Wλ_H) = {mu:.6g} is within {NEAR:.0%} of the threshold "
                                                 f"√n_g/N = {t:.6g} of classes {th.key(g)}: degenerate optimum")

    def formulas(self, p):
        return th.formulas(p["n"], exact(p["lambda_W"]), exact(p["lambda_H"]))

    def prove(self, p, formulas):
        return th.prove(formulas, p["n"], exact(p["lambda_W"]), exact(p["lambda_H"]))

    @staticmethod
    def _structure(Z, b, W, Hbar, counts) -> dict:
        out = {}
        for g in nu.groups_of(counts):
            kg = th.key(g)
            out[f"contrast_dual_{kg}"] = nu.contrast_dual(Z, b, counts, g)[0]
            out[f"spread_w_{kg}"] = nu.spread(W, g)
            out[f"spread_h_{kg}"] = nu.spread(Hbar.T, g)
        return out

    def numeric(self, p, ctx):
        counts, lw, lh, lb = p["n"], p["lambda_W"], p["lambda_H"], p["lambda_b"]
        mu = float(np.sqrt(lw * lh))
        opt = nu.optimum(counts, lw, lh, lb, p["d"])
        cert = opt.certificate
        f_full, grad = nu.full_objective(opt.W, opt.Hbar, opt.b, counts, lw, lh, lb)
        scale = max(1.0, abs(cert.lower))
        feats, feat_grad = nu.feature_optima(opt.W, opt.b, counts, lh, ctx.rng("numeric"), starts=2)
        hscale = max(float(np.max(np.linalg.norm(opt.Hbar, axis=0))), 1e-3)
        values = {"loss": f_full, "loss_gap": (f_full - cert.lower) / scale, "stationarity": grad,
                  "h_within": float(np.max(np.linalg.norm(feats - feats.mean(axis=1, keepdims=True), axis=2))) / hscale,
                  "mean_gap": float(np.max(np.linalg.norm(feats - opt.Hbar.T[:, None, :], axis=2))) / hscale,
                  **self._structure(opt.Z, opt.b, opt.W, opt.Hbar, counts)}
        thresholds = {}
        for g in nu.groups_of(counts):
            t = nu.collapse_threshold(counts, g, lb, mu)
            thresholds[th.key(g)] = t
            if t["bracketed"]:
                values[f"threshold_{th.key(g)}"] = np.array([t["lo"], t["hi"]])
        raw = opt.solver
        ok = (raw.status == "optimal" and cert.gap <= 1e-9 * scale
              and opt.polish_grad <= 1e-10 and feat_grad <= 1e-10
              and all(t["bracketed"] and set(t["statuses"]) <= {"optimal", "optimal_inaccurate"}
                      for t in thresholds.values()))
        info = {"solver": raw.info, "polished_certificate": cert.info, "rank": opt.rank,
                "newton_steps": opt.polish_steps, "newton_gradient": opt.polish_grad,
                "feature_problem_gradient": feat_grad, "thresholds": thresholds, "mu": mu}
        return Observation(values, info, converged=ok,
                           message=f"cvxpy/Clarabel {raw.status} (certified gap {raw.gap:.1e}), Newton-polished "
                                   f"({opt.polish_steps} steps, gradient {opt.polish_grad:.1e}): certified "
                                   f"[{cert.lower:.12g}, {cert.upper:.12g}] (gap {cert.gap:.1e}), rank {opt.rank}; "
                                   f"thresholds by bisection: "
                                   + ", ".join(f"{k}: [{v['lo']:.8g}, {v['hi']:.8g}] ({v['solves']} solves)"
                                               for k, v in thresholds.items() if v["bracketed"])
                                   + ("" if ok else "; NOT certified"))

    def simulate(self, p, ctx):
        counts, lw, lh, lb = p["n"], p["lambda_W"], p["lambda_H"], p["lambda_b"]
        starts = p["starts"] if ctx.profile == "quick" else max(p["starts"], 8)
        r = su.train(counts, p["d"], lw, lh, lb, starts, ctx.seed_for("simulation"), ctx.device)
        opt = nu.optimum(counts, lw, lh, lb, p["d"])
        ref = np.concatenate([opt.Z.ravel(), opt.b])
        per = []
        for s in range(starts):
            Z = r.W[s] @ r.Hbar[s]
            v = {"loss": r.f[s], "loss_gap": (r.f[s] - opt.certificate.upper) / max(1.0, abs(opt.certificate.upper)),
                 "z_gap": float(np.linalg.norm(np.concatenate([Z.ravel(), r.b[s]]) - ref) / max(1.0, np.linalg.norm(ref))),
                 "h_within": su.within_class(r.H[s], r.Hbar[s], counts),
                 **self._structure(Z, r.b[s], r.W[s], r.Hbar[s], counts)}
            per.append(v)
        values = {k: np.array([v[k] for v in per]) for k in per[0]}
        ok = bool(r.converged.all())
        return Observation(values, r.info, converged=ok,
                           message=f"engine, {starts} starts: {r.info['gd_steps']} GD + {r.info['lbfgs_steps']} "
                                   f"L-BFGS steps, max gradient {r.grad_norm.max():.1e}; max z_gap "
                                   f"{values['z_gap'].max():.1e} vs the certified convex optimum"
                                   + ("" if ok else f"; NOT converged ({int((~r.converged).sum())} starts)"))
