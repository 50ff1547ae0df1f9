"""Mixing fresh real data with the previous model's synthetic data: the golden-ratio weight (THEORY.md §9)."""
from __future__ import annotations

import math

import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import model_collapse_mixing as nm
from simulations import model_collapse_mixing as sm
from theory import model_collapse_mixing as th
from theory.proof import exact

QUICK, FULL = 40000, 400000


def _half(p, f):
    w, N = sp.Rational(1, 2), sp.sympify(p["N"])
    v = exact(p["sigma"]) ** 2 / N
    return {**f, "optimal_weight": w, "optimal_error": th.stationary(w, v)}


def _no_feedback(p, f):
    w, N = exact(p["w"]), sp.sympify(p["N"])
    v = exact(p["sigma"]) ** 2 / N
    return {**f, "error": v * (w**2 + (1 - w) ** 2)}


@register
class MixingCollapse(Claim):
    id = "model_collapse.mixing"
    title = "Mixing fresh real and refit synthetic estimators: the optimal real-data weight is 1/phi"
    summary = "mixing fresh real and synthetic estimates: optimal real weight 1/φ"
    summary_source = "derived (He, Xu & Cheng 2025 report 1/φ)"
    statement = (r"\theta_t=w\,\theta^{\rm real}_t+(1-w)\,\theta^{\rm syn}_t:\ "
                 r"\mathbb E(\theta_t-\theta)^2=v\frac{w^2+(1-w)^2}{1-(1-w)^2}\big(1-(1-w)^{2t}\big),\ "
                 r"w^*=\frac{\sqrt5-1}{2}=\frac1\varphi,\ \text{stationary error }v/\varphi\approx0.618\,v,\ v=\sigma^2/N")
    source = Source("He, Xu & Cheng", "Recursive learning without collapse: a weighting-based stabilization "
                    "framework", 2025, "the Gaussian-mean case (abstract: optimal real-data weight = reciprocal "
                    "of the golden ratio); this model and its constants derived here", arxiv="2502.18049")
    params = (Param("w", float, 0.5, "weight of the fresh real estimator, 0 < w <= 1", minimum=0.0, maximum=1.0),
              Param("sigma", float, 1.0, "data standard deviation (known)", minimum=0.0),
              Param("N", int, 4, "samples per estimator (real and synthetic alike)", minimum=1, maximum=10000),
              Param("t", int, 30, "number of steps (theta_0 = theta)", minimum=1, maximum=10000))
    test_K = ()
    hypotheses = ("Gaussian mean estimation with known variance sigma^2, N samples per estimator",
                  "the synthetic estimator averages N samples from N(theta_{t-1}, sigma^2)",
                  "fresh independent real samples at every step; theta_0 = theta")
    tolerances = {
        "numeric": Tolerance(1e-7, "deterministic: covariance propagation in float64 (rounding ~1e-15) and a "
                                   "bounded Brent minimization with xatol 1e-12; the argmin of a smooth minimum is "
                                   "located to ~sqrt(eps) ~ 1e-8 relative"),
        "simulation": Tolerance(4.5, f"Monte-Carlo: |mean - prediction| <= 4.5 measured standard errors; {QUICK} "
                                     "chains per weight in the quick profile give a 0.7% standard error, so "
                                     "w* = 1/2 (an 8% larger error at the optimum) is ~11 standard errors away",
                                "zscore")}
    negative_controls = (
        NegativeControl("optimal weight 1/2 instead of 1/phi", _half),
        NegativeControl("no feedback: stationary error v(w^2 + (1-w)^2) (the 1/(1-(1-w)^2) factor dropped)",
                        _no_feedback),
    )

    def validate(self, p):
        if p["w"] <= 0:
            raise ParameterError("w", f"w={p['w']}: with no real data the error grows without bound")
        if p["sigma"] <= 0:
            raise ParameterError("sigma", f"sigma={p['sigma']}: need a positive standard deviation")

    def formulas(self, p):
        return th.mixing_formulas(p["w"], p["sigma"], p["N"], p["t"])

    def prove(self, p, formulas):
        return th.prove_mixing(formulas, p["w"], p["sigma"], p["N"], p["t"])

    def symbolic_params(self, p):
        return {**p, "w": sp.Symbol("w", positive=True), "sigma": sp.Symbol("sigma", positive=True),
                "N": sp.Symbol("N", positive=True, integer=True), "t": sp.Symbol("t", positive=True, integer=True)}

    def numeric(self, p, ctx):
        v = p["sigma"] ** 2 / p["N"]
        w_star, e_star, ok = nm.optimal_weight(v)
        return Observation({"error": nm.error_variance(p["w"], v, p["t"]), "optimal_weight": w_star,
                            "optimal_error": e_star}, {"method": "covariance propagation + bounded Brent"},
                           converged=ok, message=f"numerical argmin w = {w_star:.12f}")

    def simulate(self, p, ctx):
        m = ctx.by_profile(QUICK, FULL)
        seed = ctx.seed_for("simulation")
        w_claimed = (math.sqrt(5) - 1) / 2          # the claimed optimum, where the optimal error is measured
        e, se, trials, dev = sm.mixing_chain(p["w"], p["sigma"], p["N"], p["t"], m, seed, ctx.device)
        # the stationary error at 1/phi: 40 steps leave (1 - 1/phi)^80 ~ 1e-33 of the transient
        e2, se2, _, _ = sm.mixing_chain(w_claimed, p["sigma"], p["N"], 40, m, seed + 1, ctx.device)
        return Observation({"error": e, "optimal_error": e2}, {"trials": trials, "device": dev},
                           stderr={"error": se, "optimal_error": se2},
                           message=f"{trials} chains per weight (w and 1/phi), batched torch on {dev}")
