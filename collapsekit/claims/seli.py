"""SELI: the vanishing-regularization limit of bias-free CE on imbalanced classes (THEORY.md §5)."""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import seli as ns
from simulations import seli as ss
from theory import seli as th

#: largest N = Σ n_k: the nuclear-norm SDP has a (K+N)×(K+N) block; Clarabel is accurate to ~60×60
MAX_N = 48


def _etf(p, f):
    """Every classifier and class-mean cosine −1/(K−1) (the balanced simplex ETF)."""
    K = len(p["n"])
    out = dict(f)
    for name in f:
        if name.startswith(("w_cos_", "h_cos_")):
            out[name] = sp.Rational(-1, K - 1)
    return out


def _minority_collapse(p, f):
    """The classifiers of the two smallest classes parallel (cosine 1: minority collapse)."""
    a, b = sorted(sorted(range(len(p["n"])), key=lambda k: (p["n"][k], k))[:2])
    return {**f, f"w_cos_{a + 1}_{b + 1}": sp.Integer(1)}


def _unscaled(p, f):
    """Ẑ = Y instead of (I − J/K)Y: WWᵀ = diag(√n), class-mean Gram diag(1/√n)."""
    n = [sp.Integer(c) for c in p["n"]]
    return {**f, **th.formulas_from(sp.diag(*[sp.sqrt(c) for c in n]), sp.diag(*[1 / sp.sqrt(c) for c in n]))}


@register
class SELI(Claim):
    id = "ufm.ce.seli"
    title = ("Bias-free UF-SVM (the vanishing-regularization / gradient-descent limit of CE) on imbalanced "
             "classes: logits Ẑ = (I − J/K)Y and the SELI geometry WWᵀ = UΛUᵀ, HᵀH = VΛVᵀ")
    summary = ("imbalanced bias-free CE as λ → 0 (UF-SVM): WH = (I − J/K)Y, WWᵀ = (ẐẐᵀ)^{1/2}, class means with "
               "Gram (ẐẐᵀ)^{+1/2}; ETF only when balanced, no minority collapse; certified by a dual certificate")
    summary_source = "Thrampoulidis et al. 2022"
    statement = (r"\min_{W,H}\ \tfrac12(\|W\|_F^2+\|H\|_F^2)\ \text{s.t.}\ (w_{y_i}-w_c)^\top h_i\ge1\ "
                 r"\forall i,\,c\ne y_i:\ WH=\hat Z:=(I-\tfrac1K J)Y=U\Lambda V^\top,\ WW^\top=U\Lambda U^\top,\ "
                 r"H^\top H=V\Lambda V^\top,\ \text{value}\ \|\hat Z\|_*=\operatorname{tr}(P\,\mathrm{diag}(n)P)^{1/2}")
    source = Source("Thrampoulidis, Kini, Vakilian & Behnia",
                    "Imbalance trouble: revisiting neural-collapse geometry (NeurIPS)", 2022,
                    "the SELI theorem for the UF-SVM (abstract confirmed: with CE and vanishing regularization the "
                    "embeddings and classifiers interpolate a simplex-encoded label matrix and their geometries are "
                    "its SVD factors; the theorem text not reachable here, the matrix form recalled); the "
                    "nuclear-norm reduction, dual certificate (off-diagonal (ẐẐᵀ)^{+1/2} < 0) and uniqueness "
                    "argument derived here", arxiv="2208.05512",
                    note="objective ½(‖W‖² + ‖H‖²) with margins ≥ 1, no bias, as in the paper's UF-SVM")
    params = (
        Param("n", tuple, (5, 5, 1, 1), f"samples per class, e.g. --set n=5,5,1,1 (N = Σ n_k <= {MAX_N})",
              minimum=1, maximum=MAX_N),
        Param("d", int, lambda p: len(p["n"]), "feature dimension, d >= K-1", minimum=1, maximum=64),
        Param("starts", int, 4, "random starts of the augmented-Lagrangian simulation", minimum=1, maximum=32),
    )
    test_K = ()
    hypotheses = ("no bias, vanishing regularization (the UF-SVM; the direction of unregularized GD on CE)",
                  "d >= K - 1", f"checked range: K <= 12, N <= {MAX_N} (SDP size)",
                  "exact proof for at most two distinct class sizes; otherwise the certificate's signs and "
                  "identities are decided at 60 digits")
    tolerances = {
        "numeric": Tolerance(1e-6, "Clarabel interior point on the nuclear-norm SDP, certified interval of width "
                                   "<= 1e-7 and margins within 1e-8 of feasible; Gram entries from the SVD of Z* "
                                   "(smallest nonzero singular value >= 1 here); observed errors <= 5e-9"),
        "simulation": Tolerance(1e-6, "augmented Lagrangian (L-BFGS) to violation <= 1e-6, then Newton on the "
                                      "active KKT system to violation <= 1e-13 and Lagrangian gradient <= 1e-12; "
                                      "observed errors <= 1e-14 at n = (5,5,1,1), (3,3,3), (4,2,1); without the "
                                      "polish (gradient floor ~1e-7) they were ~1e-7"),
    }
    negative_controls = (
        NegativeControl("simplex ETF cosines −1/(K−1) for imbalanced classes", _etf),
        NegativeControl("minority collapse: the two smallest classes' classifier cosine 1", _minority_collapse),
        NegativeControl("Ẑ = Y instead of (I − J/K)Y", _unscaled),
    )
    zero_scale = 1.0

    def validate(self, p):
        K, N = len(p["n"]), sum(p["n"])
        if K < 2 or K > 12:
            raise ParameterError("n", f"{p['n']}: need 2 <= K <= 12 classes")
        if N > MAX_N:
            raise ParameterError("n", f"{p['n']}: N = {N} > {MAX_N} (the nuclear-norm SDP's size)")
        if p["d"] < K - 1:
            raise ParameterError("d", f"d={p['d']} < K-1={K - 1}: Ẑ has rank K-1")

    def formulas(self, p):
        return th.seli_formulas(p["n"])

    def prove(self, p, formulas):
        return th.prove_seli(formulas, p["n"])

    def numeric(self, p, ctx):
        cert = ns.nuclear_svm(p["n"])
        W, H = ns.factor(cert.Z)
        values = ns.measure(W, H, ns.labels_of(p["n"]))
        values["value"] = np.array([cert.lower, cert.upper])
        ok = (cert.status == "optimal" and cert.gap <= 1e-7 and cert.primal_residual <= 1e-8
              and cert.info["dual_operator_norm"] <= 1 + 1e-6)
        info = {**cert.info, "primal_residual": cert.primal_residual, "rank": int(W.shape[1])}
        return Observation(values, info, converged=ok,
                           message=f"cvxpy/{cert.info['solver']} {cert.status}: certified interval "
                                   f"[{cert.lower:.12g}, {cert.upper:.12g}] (gap {cert.gap:.1e}), margins in "
                                   f"[{cert.info['min_margin']:.10f}, {cert.info['max_margin']:.10f}], "
                                   f"‖A*μ‖_op = {cert.info['dual_operator_norm']:.2e}, rank {W.shape[1]}"
                                   + ("" if ok else "; NOT certified"))

    def simulate(self, p, ctx):
        r = ss.solve(p["n"], p["d"], p["starts"], ctx.seed_for("simulation"), ctx.device)
        b = r.best
        values = ns.measure(r.W[b], r.H[b], ns.labels_of(p["n"]))
        values["value"] = r.f[r.converged] if r.converged.any() else r.f
        info = {"starts": p["starts"], "values": r.f.tolist(), "violation": r.violation.tolist(),
                "kkt_gradient": r.kkt.tolist(), "slackness": r.slack.tolist(), "rounds": r.rounds,
                "lbfgs_iterations": r.lbfgs_iters, "kkt_gradient_before_newton": r.kkt_al.tolist(),
                "newton_steps": r.newton_steps.tolist(), "converged": r.converged.tolist()}
        ok = bool(r.converged.all())
        return Observation(values, info, converged=ok,
                           message=f"augmented Lagrangian on (W, H), {p['starts']} random starts: {r.rounds} rounds, "
                                   f"{r.lbfgs_iters} L-BFGS iterations (Lagrangian gradient {r.kkt_al.max():.1e}), then "
                                   f"{r.newton_steps.max()} Newton-KKT steps; largest violation {r.violation.max():.1e}, "
                                   f"Lagrangian gradient {r.kkt.max():.1e}, slackness {r.slack.max():.1e}; "
                                   f"values {', '.join(f'{v:.10g}' for v in r.f)}"
                                   + ("" if ok else f"; NOT converged ({int((~r.converged).sum())} starts)"))
