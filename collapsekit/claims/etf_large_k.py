"""K > d+1 codes: one-vs-rest distances and Riesz energies of the known optima (THEORY.md §1).

ρ_k(X) = dist(x_k, conv{x_j : j ≠ k}) for unit columns of X ∈ R^{d×K} (Jiang et al. 2023); the
softmax code maximizes min_k ρ_k.  E(X) = Σ_{i<j} ‖x_i − x_j‖⁻¹ (Riesz 1-energy).  Where a known
code applies (simplex ETF, regular polygon, cross-polytope) its ρ and E are closed forms; the
numeric check minimizes E by scipy L-BFGS and builds the known code numerically, the simulation
minimizes E and trains Jiang et al.'s spherical UFM by torch descent on spheres, and every ρ is
measured by a QP.  Elsewhere (e.g. K = 5, d = 3) the values found are reported, not passed.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, Source, Tolerance
from collapsekit.registry import register
from numerics import etf_large_k as num
from simulations import etf_large_k as sim
from theory import etf_large_k as th

#: scipy's value-based line search stalls near gradient norm 1e-9 on this energy; ρ is then
#: accurate to ~1e-8 (its Lipschitz constant in X is 1).
NUMERIC_GTOL = 1e-7
#: Temperature of the spherical UFM (Jiang et al.): the known codes are its optima at τ = 1.
TAU = 1.0
#: The spherical UFM converges slowly for many classes (16654 steps, 29 s at K = 12, d = 2): it
#: runs only up to this K per profile; beyond it the simulation is the Riesz descent alone.
SOFTMAX_CODE_MAX_K = {"quick": 8, "full": 12}


def _off_by_one(p, f):
    reg = th.regime(p["K"], p["d"])
    if reg not in ("simplex", "polygon"):
        return f
    K = sp.Integer(p["K"]) + 1
    return {**f, "rho": K / (K - 1) if reg == "simplex" else 1 - sp.cos(2 * sp.pi / K)}


def _simplex_value(p, f):
    if th.regime(p["K"], p["d"]) == "simplex":
        return f
    return {**f, "rho": sp.Integer(p["K"]) / (p["K"] - 1)}


@register
class LargeKCodes(Claim):
    id = "etf.large_K"
    title = "K > d+1: one-vs-rest distances ρ and Riesz energies of the polygon, cross-polytope and simplex codes"
    summary = ("ρ = K/(K−1) (ETF), 1 − cos 2π/K (polygon), 1 (cross-polytope); energy minimizers and the "
               "spherical-UFM classifier reach them; other (K, d) reported")
    summary_source = "Jiang et al. 2023"
    statement = (r"\rho_k(X)=\operatorname{dist}(x_k,\operatorname{conv}\{x_j\}_{j\ne k}):\ "
                 r"\rho=\tfrac{K}{K-1}\ (K\le d+1),\ 1-\cos\tfrac{2\pi}{K}\ (d=2),\ 1\ (K=2d);\ "
                 r"E=\textstyle\sum_{i<j}\|x_i-x_j\|^{-1}=\binom K2\sqrt{\tfrac{K-1}{2K}},\ "
                 r"\sum_{m}\tfrac{K-m}{2\sin(\pi m/K)},\ \sqrt2\,d(d-1)+\tfrac d2")
    source = Source("Jiang, Zhou, Balzano, Zhu & Qu", "Generalized neural collapse for a large number of classes",
                    2023, "the softmax code (max-min one-vs-rest distance) and the spherical UFM; the closed "
                          "forms are derived and proved here; energy optimality: Cohn & Kumar 2007 (simplex, "
                          "cross-polytope), Fejes Tóth (circle)", arxiv="2310.05351",
                    note="optimality of min ρ is proved for the simplex only; for the polygon and cross-polytope "
                         "it is cited (cross-polytope: Alcala et al. 2026, arXiv 2603.20587, abstract) and "
                         "observed by the simulation")
    params = (Param("K", int, 6, "number of points (classes)", minimum=2, maximum=64),
              Param("d", int, lambda p: 3 if p["K"] in (4, 6) else 2,
                    "ambient dimension (default: the tetrahedron / octahedron for K = 4, 6, else the plane)",
                    minimum=2, maximum=12))
    hypotheses = ("K >= 2", "d >= 2", "closed forms: K <= d+1, d = 2, or K = 2d")
    test_K = (4, 6)
    zero_scale = 1.0
    tolerances = {
        "numeric": Tolerance(1e-6, "L-BFGS on the Riesz energy (d >= 3) stops near gradient norm 1e-8 (value-based "
                                   "line search at its float64 floor), so points, hence ρ (1-Lipschitz), are within "
                                   "~3e-8 (observed <= 3e-8); d = 2: Newton on the angles, ρ to <= 1e-9 relative up "
                                   "to K = 50; QPs polished on their active set to ~1e-15"),
        "simulation": Tolerance(1e-6, "Riemannian descent to gradient norm 1e-12 on both energies; ρ by the "
                                      "same polished QP; observed <= 1e-10"),
    }
    negative_controls = (
        NegativeControl("off by one in K (simplex (K+1)/K, polygon 1 − cos 2π/(K+1))", _off_by_one),
        NegativeControl("the simplex value K/(K−1), unattainable for K > d+1", _simplex_value),
        NegativeControl("Riesz energy with squared distances (s = 2) instead of s = 1",
                        lambda p, f: {**f, "energy": th.energy_formula(p["K"], p["d"], power=2)}),
    )
    control_points = {"off by one in K (simplex (K+1)/K, polygon 1 − cos 2π/(K+1))": {"K": 5, "d": 2}}

    def formulas(self, p):
        return th.formulas(p["K"], p["d"])

    def prove(self, p, formulas):
        return th.prove(formulas, p["K"], p["d"])

    def _skip(self, p, values, what):
        if th.regime(p["K"], p["d"]) != "open":
            return None
        return (f"no closed form for K={p['K']}, d={p['d']}: {what} has min ρ {np.min(values['rho']):.10f}, "
                f"Riesz energy {np.min(values['energy']):.10f}")

    def numeric(self, p, ctx):
        K, d = p["K"], p["d"]
        rng = ctx.rng("numeric")
        starts = ctx.by_profile(3, 8)
        opt = num.min_riesz_circle(K, rng, starts) if d == 2 else num.min_riesz_energy(K, d, rng, starts)
        rho, energy = [num.one_vs_rest(opt.X)], [num.riesz_energy(opt.X)]
        reg = th.regime(K, d)
        if reg != "open":
            X = num.known_code(reg, K, d, rng)
            rho.append(num.one_vs_rest(X))
            energy.append(num.riesz_energy(X))
        values = {"rho": np.concatenate(rho), "energy": np.array(energy)}
        g = opt.info["grad_norm"]
        return Observation(values, {**opt.info, "regime": reg}, converged=g <= NUMERIC_GTOL * max(1.0, opt.value),
                           skip=self._skip(p, values, "the best L-BFGS energy minimizer"),
                           message=f"{'Newton on the angles' if d == 2 else 'L-BFGS'} on the Riesz energy, best of {opt.info['starts']} starts, grad norm "
                                   f"{g:.1e}; ρ by QP" + ("" if reg == "open" else f"; the {reg} code built numerically"))

    def simulate(self, p, ctx):
        K, d = p["K"], p["d"]
        starts, seed = ctx.by_profile(3, 8), ctx.seed_for("simulation")
        e = sim.min_riesz(K, d, starts=starts, seed=seed, device=ctx.device)
        rho = [num.one_vs_rest(e.X[e.best])]
        info = {"riesz": e.summary()}
        msg = f"Riesz descent {e.steps} steps (grad {e.grad_norm.max():.1e}), {starts} starts on {e.device}"
        ok = e.converged
        if K <= SOFTMAX_CODE_MAX_K[ctx.profile]:
            c = sim.train_softmax_code(K, d, TAU, starts=starts, seed=seed + 1, device=ctx.device)
            rho.append(num.one_vs_rest(c.X[c.best][:, :K]))
            info["softmax_code"] = {**c.summary(), "tau": TAU}
            msg += f"; spherical UFM τ = {TAU} {c.steps} steps (grad {c.grad_norm.max():.1e})"
            ok = ok and c.converged
        else:
            msg += f"; spherical UFM not run (K > {SOFTMAX_CODE_MAX_K[ctx.profile]} in the {ctx.profile} profile)"
        values = {"rho": np.concatenate(rho), "energy": float(e.energy[e.best])}
        return Observation(values, info, converged=ok, skip=self._skip(p, values, "the Riesz minimizer / spherical UFM"),
                           message=msg)
