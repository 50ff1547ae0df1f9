"""Mixup features against a fixed simplex-ETF classifier (THEORY.md §7).

Objective, per mixed example (classes c, c', weight λ; Fisher, Meng & Papyan 2024's UFM with
the classifier fixed to a simplex ETF, one feature per mixed example)::

    f(h) = CE(W h, λe_c + (1−λ)e_c') + (β/2)‖h‖²,   W = s·Mᵀ,  M the simplex ETF,

CE(z, y) = −Σ_k y_k log softmax(z)_k (mixup CE is linear in the label, so this is
λ·CE(Wh, c) + (1−λ)·CE(Wh, c')).  The simulation trains all mixed examples jointly by
gradient descent on Σ_i f(h_i), which separates over the examples.
"""
from __future__ import annotations

import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import mixup as num
from simulations import mixup as sim
from theory import mixup as th
from theory.proof import exact

#: A run counts as converged when every example's gradient norm is below these.
NUMERIC_GTOL = 1e-12
SIM_GTOL = 1e-12


def _convex_combination(p, f):
    """The MSE intuition the paper rules out: h(λ) = λ·h_cc + (1−λ)·h_c'c'."""
    lam, u = exact(p["lam"]), f["same_coef"]
    a, b = lam * u, (1 - lam) * u
    return {**f, "a": a, "b": b, "gap": th.gap_of(p["K"], p["s"], a, b)}


def _other_classes_outside(p, f):
    """Forget Σ_k m_k = 0: keep the other classes' term −(s/β)q·Σ_{k∉{c,c'}} m_k outside the span
    (its norm is (s/β)q‖m_c + m_c'‖ = (s/β)q√(2(K−2)/(K−1)))."""
    K, s, beta = p["K"], exact(p["s"]), exact(p["beta"])
    _, z = th.point(K, s, f["a"], f["b"])
    q = sp.exp(z[2]) / sum(sp.exp(v) for v in z)
    return {**f, "out_of_span": (s / beta * q * sp.sqrt(sp.Rational(2 * (K - 2), K - 1))).evalf(30)}


@register
class MixupFixedETF(Claim):
    id = "mixup.fixed_etf"
    title = "Mixup features against a fixed simplex-ETF classifier: in span{w_c, w_c'}, on the boundary at λ = ½"
    summary = ("optimal mixed feature a·w_c + b·w_c' (other logits equal), z_c = z_c' at λ = ½, same-class mixes ∝ w_c, "
               "gap increasing in λ; (a, b) certified")
    summary_source = "Fisher, Meng & Papyan 2024"
    statement = (r"\min_h \mathrm{CE}(Wh,\lambda e_c+(1-\lambda)e_{c'})+\tfrac\beta2\|h\|^2,\ W=sM^\top:\ "
                 r"h^*=a\,w_c+b\,w_{c'},\ z_k\ \text{equal for}\ k\notin\{c,c'\},\ "
                 r"z=\kappa(y-\mathrm{softmax}(z)),\ \kappa=\tfrac{s^2K}{\beta(K-1)};\ "
                 r"\lambda=\tfrac12\Rightarrow z_c=z_{c'};\ c=c'\Rightarrow h^*=u\,w_c;\ "
                 r"\tfrac{d(z_c-z_{c'})}{d\lambda}=\kappa v^\top(I+\kappa J_p)^{-1}v>0")
    source = Source("Fisher, Meng & Papyan", "Pushing boundaries: mixup's influence on neural collapse (ICLR)", 2024,
                    "Section 3 (UFM for mixup with a simplex-ETF classifier); the abstract's statements "
                    "(same-class mixes align with the classifier, different-class mixes lie along the decision "
                    "boundary) are confirmed; the reduction, the certificate and the λ-slope are derived here",
                    arxiv="2402.06171",
                    note="the paper's theorem text was not reachable here: no closed form for (a, b) is used; "
                         "they solve a transcendental system, certified to 1e-30")
    params = (Param("K", int, 4, "number of classes (K >= 3: for K = 2, w_1 = −w_0)", minimum=3, maximum=32),
              Param("d", int, lambda p: p["K"], "feature dimension, d >= K−1", minimum=2),
              Param("s", float, 1.0, "classifier scale: W = s·Mᵀ (> 0)", minimum=0.0),
              Param("beta", float, 0.25, "feature weight decay β (> 0)", minimum=0.0),
              Param("lam", float, 0.3, "mixing weight λ of class c, 0 < λ < 1", minimum=0.0, maximum=1.0))
    hypotheses = ("K >= 3", "d >= K − 1", "s > 0, beta > 0", "0 < lam < 1", "classifier fixed to a simplex ETF")
    test_K = (3, 5)
    zero_scale = 1.0
    tolerances = {
        "numeric": Tolerance(1e-8, "trust-region Newton (exact Hessian) to gradient norm <= 1e-12 per example, "
                                   "so h is within 1e-12/β (β-strong convexity); the λ-slope is a Richardson "
                                   "extrapolated central difference (δ = 1e-3, truncation O(δ⁴)), whose rounding "
                                   "error ~1e-12/δ dominates: observed <= 1e-9"),
        "simulation": Tolerance(1e-7, "gradient descent with step 1/L to gradient norm <= 1e-12 per example: h within "
                                      "1e-12/β = 4e-12 at the defaults; the λ-slope divides gap differences by "
                                      "δ = 1e-3, so ~1e-8 relative (observed <= 1e-9)"),
    }
    negative_controls = (
        NegativeControl("decision boundary at λ = 1/3 (gap_third = 0)", lambda p, f: {**f, "gap_third": sp.Integer(0)}),
        NegativeControl("mixed feature = convex combination λ·h_cc + (1−λ)·h_c'c' (the MSE intuition)",
                        _convex_combination),
        NegativeControl("same-class feature shrinks with λ: λ·u instead of u",
                        lambda p, f: {**f, "same_coef": exact(p["lam"]) * f["same_coef"]}),
        NegativeControl("a component outside span{w_c, w_c'} (Σ_k m_k = 0 forgotten)", _other_classes_outside),
        NegativeControl("logit gap decreasing in λ (slope sign flipped)",
                        lambda p, f: {**f, "gap_slope": -f["gap_slope"]}),
    )

    def validate(self, p):
        if p["d"] < p["K"] - 1:
            raise ParameterError("d", f"d={p['d']} < K−1={p['K'] - 1}: the simplex ETF does not fit")
        for name in ("s", "beta"):
            if not p[name] > 0:
                raise ParameterError(name, f"{name}={p[name]:g} must be > 0")
        if not 0 < p["lam"] < 1:
            raise ParameterError("lam", f"lam={p['lam']:g} must lie strictly between 0 and 1 "
                                        "(λ = 0 or 1 is an unmixed example: the same-class case)")

    def _args(self, p):
        return p["K"], exact(p["s"]), exact(p["beta"]), exact(p["lam"])

    def formulas(self, p):
        return th.mixup_formulas(*self._args(p))

    def prove(self, p, formulas):
        return th.prove_mixup(formulas, *self._args(p))

    def numeric(self, p, ctx):
        W, H, ts, info = num.optimal_features(p["K"], p["d"], p["s"], p["beta"], p["lam"], ctx.rng("numeric"))
        values = num.measure(W, H, ts, p["lam"])
        ok = info["grad_norm"] <= NUMERIC_GTOL
        return Observation(values, info, converged=ok,
                           message=f"{info['examples']} examples, trust-exact, max grad norm {info['grad_norm']:.1e} "
                                   f"(converged below {NUMERIC_GTOL:.0e})")

    def simulate(self, p, ctx):
        ts = num.tasks(p["K"], p["lam"])
        r = sim.train(num.targets(p["K"], ts), p["d"], p["s"], p["beta"], seed=ctx.seed_for("simulation"),
                      device=ctx.device, gtol=SIM_GTOL)
        values = num.measure(r.W, r.H, ts, p["lam"])
        info = {"examples": len(ts), "steps": r.steps, "grad_norm": r.grad_norm, "device": r.device, "loss": r.loss,
                "converged_below": SIM_GTOL}
        return Observation(values, info, converged=r.converged,
                           message=f"{len(ts)} mixed examples, {r.steps} GD steps on {r.device}, max grad norm "
                                   f"{r.grad_norm:.1e} (converged below {SIM_GTOL:.0e})")
