"""Minority collapse in the imbalanced CE layer-peeled model (Fang, He, Long & Su 2021; THEORY.md §3).

``ufm.ce.minority_collapse`` — K_A majority classes of n_A samples, K_B minority classes of
n_B = n_A/R samples.  At R = 1 the optimum is the simplex ETF; beyond a threshold R* the
minority classifiers (and minority class means) coincide exactly.  Numeric: Fang et al.'s
SDP relaxation (Clarabel), factored, polished and certified; simulation: projected gradient
on the non-convex model from random starts (torch).  R* has no closed form here: it is
located numerically three ways (tests/test_minority_collapse.py): SDP bisection, bisection
on projected gradient, and the root of the collapse certificate ω_B = 2√(μ_Wμ_H)/K along
the collapsed optima; at defaults R* ∈ [7.567, 7.635] (bisection), 7.61801 (root).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import minority_collapse as num
from simulations import minority_collapse as sim
from theory import minority_collapse as th
from theory.proof import exact

#: validate() asks R >= R_FACTOR·R*: near R* the separation ~ √(R* − R) makes descent slow.
R_FACTOR = 1.5


@lru_cache(maxsize=64)
def threshold(K_A: int, K_B: int, E_W: float, E_H: float) -> dict:
    """R* by SDP bisection (cosine tolerance 1e-6, relative width 1e-2), cached."""
    return num.collapse_threshold_sdp(K_A, K_B, E_W, E_H, rel_width=1e-2)


def _no_collapse(p, f):
    """Minority cosines stay at the ETF value −1/(K−1) (no minority collapse)."""
    K = sp.Integer(p["K_A"] + p["K_B"])
    if "w_cos" in f:                       # R = 1: they are the ETF value already
        return f
    return {**f, "minority_cos": -1 / (K - 1), "minority_h_cos": -1 / (K - 1)}


def _features_spread(p, f):
    """Minority classifiers collapse but minority class means stay orthogonal (cosine 0)."""
    if "w_cos" in f:
        return f
    return {**f, "minority_h_cos": sp.Integer(0)}


def _etf_cos_wrong(p, f):
    """At R = 1: ETF cosine −1/K instead of −1/(K−1)."""
    if "w_cos" not in f:
        return f
    c = -1 / sp.Integer(p["K_A"] + p["K_B"])
    return {**f, "w_cos": c, "minority_cos": c, "minority_h_cos": c}


@register
class MinorityCollapse(Claim):
    id = "ufm.ce.minority_collapse"
    title = ("Imbalanced CE layer-peeled model: ETF at R = 1; beyond a threshold imbalance ratio R* the "
             "minority classifiers coincide (minority collapse)")
    summary = "imbalanced norm-constrained CE: minority classifiers coincide beyond R* (SDP vs projected GD)"
    summary_source = "Fang et al. 2021"
    part_of = "ufm.ce.layer_peeled"      # THEORY.md §3: the layer-peeled entry's imbalanced half
    statement = (r"\min_{W,H}\ \tfrac1N\sum_{k}\sum_{i\le n_k}\mathrm{CE}(Wh_{k,i},k)\ \text{s.t.}\ "
                 r"\tfrac1K\sum_k\|w_k\|^2\le E_W,\ \tfrac1K\sum_k\tfrac1{n_k}\sum_i\|h_{k,i}\|^2\le E_H,\ "
                 r"n_k=n_A\ (k\le K_A),\ n_k=n_A/R\ (k>K_A):\ R=1:\ \text{simplex ETF};\ R\ge R^*:\ "
                 r"w_k=w_{k'},\ \bar h_k=\bar h_{k'}\ \text{for minority }k,k'")
    source = Source("Fang, He, Long & Su",
                    "Exploring deep neural networks via Layer-Peeled Model: minority collapse in imbalanced training "
                    "(PNAS 118)", 2021,
                    "imbalanced layer-peeled model and its SDP relaxation; minority collapse: the minority "
                    "classifiers' difference → 0 as R → ∞ (abstract; theorem text not reachable here). Exact "
                    "collapse at a finite R* and its certificate ω_B <= 2√(μ_Wμ_H)/K derived here; R* located "
                    "numerically (no closed form used). SDP as in the authors' code (HornHehhf/LPM, "
                    "optimization.py: majority CE weight 1, minority 1/R, tr X_HH <= K E_H, tr X_WW <= K E_W)", arxiv="2101.12699",
                    note="objective as the paper's: (1/N)Σ CE, per-class-mean feature budget; with class means the "
                         "weights are ω_k = n_k/N: R/(K_A R + K_B) majority, 1/(K_A R + K_B) minority (the "
                         "authors' SDP objective times R/(K_A R + K_B): same minimizers)")
    params = (
        Param("K_A", int, 2, "number of majority classes", minimum=1, maximum=6),
        Param("K_B", int, 2, "number of minority classes", minimum=2, maximum=6),
        Param("R", float, 1000.0, "imbalance ratio n_A/n_B (1, or >= 1.5 R*)", minimum=1.0, maximum=1e6),
        Param("d", int, lambda p: p["K_A"] + p["K_B"], "feature dimension, d >= K-1", minimum=1),
        Param("E_W", float, 1.0, "classifier budget (1/K)Σ‖w_k‖² <= E_W", minimum=1e-2, maximum=10.0),
        Param("E_H", float, 2.0, "feature budget (1/K)Σ_k (1/n_k)Σ_i‖h_{k,i}‖² <= E_H", minimum=1e-2, maximum=10.0),
    )
    test_K = ()
    hypotheses = ("no bias", "d >= K - 1", "R = 1 or R >= 1.5 R* (R* from SDP bisection; between, no closed form)",
                  "logit scale K/(K-1)·√(E_W E_H) <= 6 (as ufm.ce.layer_peeled)")
    tolerances = {
        "numeric": Tolerance(1e-7, "Clarabel SDP (gap 1e-12), rank-d factor polished by L-BFGS on the budget "
                                   "spheres (KKT residual <= 1e-8); certified [dual bound, rank-d value] width "
                                   "<= 1e-7 of the loss; observed errors <= 5e-10 (R = 1: norms, multipliers) and <= 1e-13 "
                                   "(collapsed cosines, R >= 1.5 R*)"),
        "simulation": Tolerance(1e-6, "projected gradient then L-BFGS on log f (gradient 1e-13, KKT residual/f "
                                      "<= 1e-7); Gram entries err to first order in the residual over the "
                                      "curvature: observed <= 3e-9 at R = 1 and <= 3e-13 at R = 20, 1000, 1e4"),
    }
    negative_controls = (
        NegativeControl("no minority collapse: minority cosines stay at the ETF value −1/(K−1)", _no_collapse),
        NegativeControl("minority features do not collapse (cosine 0)", _features_spread),
        NegativeControl("ETF cosine −1/K instead of −1/(K−1) at R = 1", _etf_cos_wrong),
    )
    control_points = {"ETF cosine −1/K instead of −1/(K−1) at R = 1": {"R": 1.0}}

    def validate(self, p):
        K = p["K_A"] + p["K_B"]
        if p["d"] < K - 1:
            raise ParameterError("d", f"d={p['d']} < K-1 = {K - 1}")
        if K / (K - 1) * np.sqrt(p["E_W"] * p["E_H"]) > 6:
            raise ParameterError("E_H", "logit scale K/(K-1)·√(E_W E_H) > 6: outside the checked range")
        if p["R"] != 1:
            t = threshold(p["K_A"], p["K_B"], p["E_W"], p["E_H"])
            if not t["bracketed"]:
                raise ParameterError("R", f"no collapse threshold found in [1, 1e4] (SDP bisection: {t})")
            if p["R"] < R_FACTOR * t["hi"]:
                raise ParameterError("R", f"R={p['R']} is below {R_FACTOR}·R* = {R_FACTOR * t['hi']:.4g} "
                                          f"(R* in [{t['lo']:.4g}, {t['hi']:.4g}] by SDP bisection): the optimum "
                                          "there has no closed form; use R = 1 or R >= 1.5 R*")

    def formulas(self, p):
        return th.formulas(p["K_A"], p["K_B"], exact(p["R"]), exact(p["E_W"]), exact(p["E_H"]))

    def prove(self, p, formulas):
        return th.prove(formulas, p["K_A"], p["K_B"], exact(p["R"]), exact(p["E_W"]), exact(p["E_H"]), p.get("d"))

    @staticmethod
    def _values(W, H, K_A, mult_W, mult_H, loss):
        """Observed quantities of one configuration (rows w_k, h̄_k)."""
        K = W.shape[0]
        wn, hn = np.sum(W * W, axis=1), np.sum(H * H, axis=1)
        C = (W @ W.T) / np.sqrt(np.outer(wn, wn))
        iu = np.triu_indices(K, 1)
        return {"loss": loss, "minority_cos": num.minority_cosines(W, K_A), "minority_h_cos": num.minority_cosines(H, K_A),
                "w_cos": C[iu], "w_norm_sq": wn, "h_norm_sq": hn, "h_w_ratio": np.sum(H * W, axis=1) / wn,
                "mult_W": mult_W, "mult_H": mult_H}

    def numeric(self, p, ctx):
        K_A, K_B, R = p["K_A"], p["K_B"], p["R"]
        s = num.solve_sdp(K_A, K_B, R, p["E_W"], p["E_H"], d=p["d"])
        K = K_A + K_B
        omega_B = 1.0 / (K_A * R + K_B)
        ratio = omega_B / (2 * np.sqrt(s.mult_W * s.mult_H) / K)       # < 1: collapse certified (R > R*)
        values = self._values(s.W, s.H, K_A, s.mult_W, s.mult_H, np.array([s.lower, s.upper]))
        tol = self.tolerances["numeric"].value
        ok = (s.status == "optimal" and s.gap <= tol * abs(s.upper) and s.info["kkt_residual"] <= 1e-7
              and s.info["primal_residual"] <= 1e-8 and (R == 1 or ratio < 1))
        info = {**s.info, "certified_interval": [s.lower, s.upper], "omega_B_over_opnorm_Gamma": float(ratio)}
        return Observation(values, info, converged=ok,
                           message=f"Clarabel {s.status}; certified [{s.lower:.12g}, {s.upper:.12g}] (gap {s.gap:.1e}); "
                                   f"KKT residual {s.info['kkt_residual']:.1e}; ω_B/(2√(μ_Wμ_H)/K) = {ratio:.4g}")

    def simulate(self, p, ctx):
        K_A, K_B, R = p["K_A"], p["K_B"], p["R"]
        r = sim.projected_gradient(K_A, K_B, R, p["E_W"], p["E_H"], p["d"], starts=ctx.by_profile(4, 12),
                                   seed=ctx.seed_for("simulation"))
        per = [self._values(W, H, K_A, mW, mH, f) for W, H, mW, mH, f in zip(r.W, r.H, r.mult_W, r.mult_H, r.loss)]
        values = {k: np.concatenate([np.ravel(v[k]) for v in per]) for k in per[0]}
        return Observation(values, r.info, converged=r.converged,
                           message=f"{r.info['starts']} starts: {r.info['pg_steps']} projected-gradient steps + "
                                   f"L-BFGS {r.info['lbfgs_iterations']}; KKT residual/f {r.info['kkt_residual']:.1e}")
