"""Simplex-ETF geometry claims (THEORY.md §1)."""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import etf as num
from simulations import sphere
from theory import etf as th

#: Numerical rank of an optimizer's output: its Gram is accurate to ~1e-8 (gradient
#: tolerance 1e-10), so singular values below 1e-6·σ_max are zero to that accuracy.
SIM_RANK_RTOL = 1e-6


def _K(maximum: int, default: int = 4) -> Param:
    return Param("K", int, default, "number of classes (vectors)", minimum=2, maximum=maximum)


def _flow_observation(result: sphere.FlowResult, values: dict) -> Observation:
    info = result.summary()
    msg = (f"{info['steps']} steps, grad norm {info['grad_norm']:.1e} (gtol {info['gtol']:.0e}), "
           f"{info['starts']} starts on {info['device']}")
    return Observation(values, info, converged=result.converged, message=msg)


class _SymbolicK(Claim):
    """Claims whose closed forms sympy proves for symbolic K (K = m + 1, m a positive integer)."""

    test_K = (2, 3, 50)

    def symbolic_params(self, p):
        return {"K": th.K_SYMBOLIC, "d": None}


class _SimplexDims(_SymbolicK):
    """Claims about the simplex ETF: they need d >= K - 1."""

    def validate(self, p):
        if p["d"] < p["K"] - 1:
            raise ParameterError("d", f"d={p['d']} is too small for a simplex ETF with K={p['K']} "
                                      f"(needs d >= K-1 = {p['K'] - 1}); for K > d+1 see etf.spherical_code")


@register
class SimplexETF(_SimplexDims):
    id = "etf.simplex"
    title = "Geometry of the K-class simplex equiangular tight frame"
    summary = "unit norms, cosines −1/(K−1), Σm_k = 0, rank K−1, tight frame K/(K−1), ‖M‖²_F = K, frame potential K²/(K−1)"
    summary_source = "Papyan, Han & Donoho 2020"
    statement = (r"M=\sqrt{\tfrac{K}{K-1}}\,P\,(I_K-\tfrac{1}{K}J),\ P^\top P=I:\ \|m_k\|=1,\ "
                 r"\cos\angle(m_i,m_j)=-\tfrac{1}{K-1},\ \textstyle\sum_k m_k=0,\ \operatorname{rank}M=K-1,\ "
                 r"MM^\top=\tfrac{K}{K-1}\Pi_{\operatorname{range}M},\ \|M\|_F^2=K,\ "
                 r"\textstyle\sum_{i,j}\langle m_i,m_j\rangle^2=\tfrac{K^2}{K-1}")
    source = Source("Papyan, Han & Donoho", "Prevalence of neural collapse during the terminal phase of deep learning training",
                    2020, "Definition 1 (simplex ETF); frame potential: Benedetto & Fickus 2003", arxiv="2008.08186")
    params = (_K(200), Param("d", int, lambda p: p["K"], "ambient dimension (any rotation), d >= K-1", minimum=1))
    hypotheses = ("K >= 2", "d >= K - 1")
    tolerances = {
        "numeric": Tolerance(1e-10, "float64 eigendecomposition and QR; sums of up to K^2 = 4e4 "
                                    "rounded terms: observed <= 1e-13, margin for larger K"),
        "simulation": Tolerance(1e-6, "descent stops at Riemannian gradient norm 1e-12; the "
                                      "energy's curvature transverse to the ETF orbit shrinks with K, "
                                      "so cosines are ~1e-8 relative at K = 50, 6e-8 at K = 100"),
    }
    negative_controls = (
        NegativeControl("cosine -1/K instead of -1/(K-1)", lambda p, f: {**f, "cos": -1 / sp.sympify(p["K"])}),
        NegativeControl("tight-frame constant (K-1)/K instead of K/(K-1)",
                        lambda p, f: {**f, "frame_eig": (sp.sympify(p["K"]) - 1) / p["K"]}),
        NegativeControl("frame potential K (an orthogonal frame's) instead of K^2/(K-1)",
                        lambda p, f: {**f, "frame_potential": sp.sympify(p["K"])}),
    )

    def formulas(self, p):
        return th.simplex_formulas(p["K"])

    def prove(self, p, formulas):
        K = p["K"]
        obligations = th.prove_simplex(formulas, K)
        if isinstance(K, int) and K <= th.EXPLICIT_K_MAX:
            obligations += th.prove_simplex_explicit(formulas, K)
        return obligations

    def numeric(self, p, ctx):
        X = num.simplex_etf(p["K"], p["d"], ctx.rng("numeric"))
        return Observation(num.measure_frame(X), {"construction": "eigenvectors of I - J/K, Haar rotation into R^d"})

    def simulate(self, p, ctx):
        r = sphere.sphere_descent(sphere.exp_energy(1.0), p["K"], p["d"], starts=ctx.by_profile(2, 8),
                                  seed=ctx.seed_for("simulation"), device=ctx.device)
        return _flow_observation(r, num.measure_frame(r.X[r.best], rank_rtol=SIM_RANK_RTOL))


@register
class MaxMinAngle(_SimplexDims):
    id = "etf.max_min_angle"
    title = "The simplex ETF uniquely maximizes the minimum pairwise angle of K unit vectors"
    summary = "min over unit x_i of max⟨x_i,x_j⟩ is −1/(K−1), attained only by the ETF (d ≥ K−1)"
    summary_source = "Papyan et al. 2020; the ‖Σx‖² ≥ 0 bound"
    statement = (r"\min_{\|x_i\|=1,\ x_i\in\mathbb{R}^d}\ \max_{i\neq j}\langle x_i,x_j\rangle=-\tfrac{1}{K-1}"
                 r"\quad(d\ge K-1),\ \text{attained only by the simplex ETF Gram } \tfrac{K}{K-1}(I-\tfrac1K J)")
    source = Source("Papyan, Han & Donoho", "Prevalence of neural collapse during the terminal phase of deep learning training",
                    2020, "Section 2 (max-margin property of the simplex ETF); Rankin (1955) for the bound",
                    arxiv="2008.08186")
    params = (_K(100), Param("d", int, lambda p: p["K"], "ambient dimension, d >= K-1", minimum=1))
    hypotheses = ("K >= 2", "d >= K - 1 (so that a rank-(K-1) Gram fits)")
    tolerances = {
        "numeric": Tolerance(1e-6, "interior-point SDP (Clarabel) solved to its default ~1e-8 gap; "
                                   "the certified interval [dual bound, projected primal] is checked "
                                   "(observed width <= 2e-9 for K <= 50)"),
        "simulation": Tolerance(1e-6, "descent to Riemannian gradient norm 1e-12 on an energy whose "
                                      "exact minimizer is the ETF; cosines ~1e-8 relative at K = 50"),
    }
    negative_controls = (
        NegativeControl("off by one: -1/K", lambda p, f: {**f, "max_cos": -1 / sp.sympify(p["K"]),
                                                          "gram_offdiag": -1 / sp.sympify(p["K"])}),
        NegativeControl("wrong exponent: -K/(K-1)^2",
                        lambda p, f: {**f, "max_cos": -sp.sympify(p["K"]) / (p["K"] - 1) ** 2}),
    )

    def formulas(self, p):
        return th.max_min_formulas(p["K"])

    def prove(self, p, formulas):
        return th.prove_max_min(formulas, p["K"], p["d"])

    def numeric(self, p, ctx):
        cert = num.max_min_angle_sdp(p["K"])
        tol = self.tolerances["numeric"].value
        G = cert.gram
        values = {"max_cos": np.array([cert.lower, cert.upper]), "gram_diag": np.diag(G),
                  "gram_offdiag": num.offdiag(G), "gram_rank": float(num.numerical_rank(G, SIM_RANK_RTOL))}
        ok = cert.status == "optimal" and cert.gap <= tol and cert.primal_residual <= tol
        info = {"status": cert.status, "solver": cert.solver, "certified_interval": [cert.lower, cert.upper],
                "gap": cert.gap, "primal_residual": cert.primal_residual, **cert.info}
        return Observation(values, info, converged=ok,
                           message=f"{cert.solver} {cert.status}, certified gap {cert.gap:.1e}, "
                                   f"primal residual {cert.primal_residual:.1e}")

    def simulate(self, p, ctx):
        r = sphere.sphere_descent(sphere.exp_energy(1.0), p["K"], p["d"], starts=ctx.by_profile(3, 8),
                                  seed=ctx.seed_for("simulation"), device=ctx.device)
        G = r.X[r.best].T @ r.X[r.best]
        every_start = np.array([num.offdiag(x.T @ x).max() for x in r.X])
        values = {"max_cos": every_start, "gram_diag": np.diag(G), "gram_offdiag": num.offdiag(G),
                  "gram_rank": float(num.numerical_rank(r.X[r.best], SIM_RANK_RTOL))}
        return _flow_observation(r, values)


@register
class OrthogonalFrame(_SymbolicK):
    id = "etf.orthogonal_frame"
    title = "The orthogonal frame minimizes the frame potential of K unit vectors when d >= K"
    summary = "the frame potential of K unit vectors in d ≥ K is ≥ K, equality iff orthogonal"
    summary_source = "Benedetto & Fickus 2003"
    statement = (r"\min_{\|x_i\|=1,\ x_i\in\mathbb{R}^d}\ \textstyle\sum_{i,j}\langle x_i,x_j\rangle^2=K\ (d\ge K),"
                 r"\ \text{attained iff } X^\top X=I_K \text{ (orthogonal frame; } K^2/(K-1) \text{ for the ETF)}")
    source = Source("Benedetto & Fickus", "Finite normalized tight frames (Adv. Comput. Math. 18)", 2003,
                    "Theorem 7.1 (minimizers of the frame potential); OF as the bias-free MSE optimum: "
                    "Tirer & Bruna 2022, arXiv 2202.08087", arxiv=None)
    params = (_K(200), Param("d", int, lambda p: p["K"], "ambient dimension, d >= K", minimum=1))
    hypotheses = ("K >= 2", "d >= K")
    tolerances = {
        "numeric": Tolerance(5e-7, "L-BFGS's line search compares values: FP - K = sum of squared "
                                   "off-diagonal Gram entries is resolved only to ~K*eps, i.e. entries to "
                                   "sqrt(K*eps) ~ 2e-7 at K = 200 (observed 1e-8 at K = 50)"),
        "simulation": Tolerance(1e-8, "descent to Riemannian gradient norm 1e-12 (accepting steps on the "
                                      "gradient norm once the energy is at its rounding floor); observed "
                                      "Gram entries <= 1e-12"),
    }
    negative_controls = (
        NegativeControl("the ETF's value K^2/(K-1) and cosine -1/(K-1)",
                        lambda p, f: {**f, "frame_potential_min": sp.sympify(p["K"]) ** 2 / (p["K"] - 1),
                                      "gram_offdiag": -1 / (sp.sympify(p["K"]) - 1)}),
        NegativeControl("rank K-1 (a simplex) instead of K", lambda p, f: {**f, "gram_rank": sp.sympify(p["K"]) - 1}),
    )

    def validate(self, p):
        if p["d"] < p["K"]:
            raise ParameterError("d", f"d={p['d']} is too small for an orthogonal frame of K={p['K']} vectors "
                                      f"(needs d >= K); for d < K the minimum is K^2/d, a tight frame")

    def formulas(self, p):
        return th.orthogonal_frame_formulas(p["K"])

    def prove(self, p, formulas):
        return th.prove_orthogonal_frame(formulas, p["K"], p["d"])

    def _values(self, X: np.ndarray, every_start) -> dict:
        G = X.T @ X
        return {"frame_potential_min": np.asarray(every_start), "gram_diag": np.diag(G),
                "gram_offdiag": num.offdiag(G), "gram_rank": float(num.numerical_rank(X, SIM_RANK_RTOL))}

    def numeric(self, p, ctx):
        opt = num.min_frame_potential(p["K"], p["d"], ctx.rng("numeric"), starts=ctx.by_profile(3, 8))
        ok = opt.info["grad_norm"] <= 1e-6
        return Observation(self._values(opt.X, opt.info["values"]), opt.info, converged=ok,
                           message=f"L-BFGS, {opt.info['starts']} starts, grad norm {opt.info['grad_norm']:.1e}")

    def simulate(self, p, ctx):
        r = sphere.sphere_descent(sphere.frame_potential, p["K"], p["d"], starts=ctx.by_profile(3, 8),
                                  seed=ctx.seed_for("simulation"), device=ctx.device)
        return _flow_observation(r, self._values(r.X[r.best], r.energy))


def _code_perturbation(p, f):
    """Off by one (the closed form for K+1 points), or the simplex bound where that is unchanged."""
    K, d = p["K"], p["d"]
    wrong = th.spherical_code_formulas(K + 1, d)
    if wrong is None or sp.simplify(wrong["max_cos"] - f["max_cos"]) == 0:
        wrong = {"max_cos": sp.Integer(-1) / (K - 1)}
    return {**f, **wrong}


@register
class SphericalCode(Claim):
    id = "etf.spherical_code"
    title = "Best max-min angle of K unit vectors in R^d, including K > d+1 where no ETF exists"
    summary = "K > d+1: cos 2π/K (d = 2), 0 for d+2 ≤ K ≤ 2d; otherwise no closed form (reported)"
    summary_source = "Rankin 1955"
    test_K = (2, 3, 50)
    statement = (r"\min_{\|x_i\|=1}\max_{i\ne j}\langle x_i,x_j\rangle = -\tfrac1{K-1}\ (K\le d+1),\ "
                 r"\cos\tfrac{2\pi}{K}\ (d=2),\ 0\ (d+2\le K\le 2d);\ \text{otherwise no closed form (reported, not passed)}")
    source = Source("Rankin", "The closest packing of spherical caps in n dimensions (Proc. Glasgow Math. Assoc. 2)",
                    1955, "Theorems 1-2 (K <= 2d: optimum pi/2 for K >= d+2); regular polygon for d = 2",
                    note="optimality in the Rankin range is cited, attainment is proved")
    params = (_K(64, default=6),
              Param("d", int, lambda p: math.ceil(p["K"] / 2) if 4 < p["K"] <= 6 else 2,
                    "ambient dimension (default: the plane, or the cross-polytope range for K = 5, 6)",
                    minimum=2))
    hypotheses = ("K >= 2", "d >= 2")
    tolerances = {
        "numeric": Tolerance(1e-7, "SLSQP (float64) with ftol 1e-15 on the nonconvex max-min program, "
                                   "best of several starts; constraints hold to ~1e-10"),
        "simulation": Tolerance(1e-6, "descent to gradient norm 1e-12 on an exponential energy whose "
                                      "minimizer is the optimal code in the closed-form regimes "
                                      "(universal optimality); cosines ~1e-9 accurate"),
    }
    negative_controls = (NegativeControl("off by one in K (or the unattainable simplex bound)", _code_perturbation),)

    def formulas(self, p):
        return th.spherical_code_formulas(p["K"], p["d"])

    def prove(self, p, formulas):
        return th.prove_spherical_code(formulas, p["K"], p["d"])

    #: SLSQP costs O((dK)^3) per iteration: above this many variables the numeric check is skipped.
    slsqp_budget = {"quick": 400, "full": 1500}

    def numeric(self, p, ctx):
        budget = self.slsqp_budget[ctx.profile]
        if p["K"] * p["d"] > budget:
            return Observation({}, skip=f"d*K = {p['d'] * p['K']} variables exceed the SLSQP budget of the "
                                         f"{ctx.profile} profile ({budget}); no independent optimum computed")
        opt = num.best_spherical_code(p["K"], p["d"], ctx.rng("numeric"), starts=ctx.by_profile(6, 16))
        regime = th.spherical_code_regime(p["K"], p["d"])
        skip = None if regime != "open" else (
            f"no closed form for K={p['K']}, d={p['d']}: best max cosine found {opt.value:.10f} "
            f"(SDP bound {-1 / (p['K'] - 1):.6f} is not attainable for K > d+1)")
        return Observation({"max_cos": opt.value}, {**opt.info, "regime": regime}, skip=skip,
                           message=f"SLSQP best of {opt.info['starts']} starts")

    def simulate(self, p, ctx):
        K, d = p["K"], p["d"]
        tau = 1.0 if d > 2 else min(1.0, 20 / K**2)   # resolve neighbours on the circle
        r = sphere.sphere_descent(sphere.exp_energy(tau), K, d, starts=ctx.by_profile(3, 8),
                                  seed=ctx.seed_for("simulation"), device=ctx.device)
        X = r.X[r.best]
        obs = _flow_observation(r, {"max_cos": num.offdiag(X.T @ X).max()})
        obs.info["tau"] = tau
        if th.spherical_code_regime(K, d) == "open":
            obs.skip = f"no closed form for K={K}, d={d}: exp-energy minimizer has max cosine {obs.values['max_cos']:.10f}"
        return obs
