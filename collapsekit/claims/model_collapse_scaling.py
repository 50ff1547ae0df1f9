"""Scaling laws of the optimal ridge after recursive retraining, and the crossover to a plateau (THEORY.md §9)."""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import model_collapse_scaling as ns
from simulations import model_collapse_scaling as ss
from theory import model_collapse_scaling as th
from theory.proof import exact

# The exponents are those of the continuum limit; on a finite spectrum (d = 300) and a finite sweep the
# fitted log-log slopes of the deterministic equivalent differ from them by 2.1% (ridge exponent) and
# 4.8% (error exponent) at the defaults (1.2% and 3.5% at d = 500, T = 1000); the plateau ratio is
# (1 + 1/30)^(-e)/(1 + 1/300)^(-e), 1.8% below its limit 1.  The allowance is 8% for all three.
WINDOW = 0.08
Z_TOL = 4.5
GRID = np.logspace(-5, 0, 301)


def _capacity_free(p, f):
    r = exact(p["r"])
    return {**f, "ridge_exponent": 1 / (2 * r + 1)}


def _error_capacity_free(p, f):
    r = exact(p["r"])
    return {**f, "error_exponent": 2 * r / (2 * r + 1)}


def _no_plateau(p, f):
    return {**f, "plateau_ratio": sp.Integer(10) ** (-f["error_exponent"])}


@register
class RidgeScaling(Claim):
    id = "model_collapse.scaling"
    title = "Optimal ridge after recursive retraining grows like eps^(beta/(2 beta r+1)); fast rate, then a plateau past T_c"
    summary = "power-law spectrum: optimal ridge ∝ ε^{β/(2βr+1)}, error ∝ ε^{2βr/(2βr+1)}, plateau past T_c = d + σ²(T0−d−1)/(nσ0²) (log-log fits)"
    summary_source = "Dohmatob, Feng & Kempe 2024"
    statement = (r"s_j=j^{-\beta},\ w_{0,j}^2\propto j^{-(2\beta r-\beta+1)}:\ \lambda^*\propto\varepsilon^{\beta/(2\beta r+1)},"
                 r"\ E^*\propto\varepsilon^{2\beta r/(2\beta r+1)},\ \varepsilon=\frac{\sigma^2+n\sigma_0^2 d/(T_0-d-1)}{T}"
                 r"+\frac{n\sigma_0^2}{T_0-d-1};\ \text{plateau beyond }T_c=d+\frac{\sigma^2(T_0-d-1)}{n\sigma_0^2}")
    source = Source("Dohmatob, Feng & Kempe", "Model collapse demystified: the case of regression", 2024,
                    "Section 5 (power-law spectra: the optimal ridge grows with the number of generations, "
                    "fast-to-slow crossover; recalled); the exponents and T_c re-derived here from the ridge "
                    "deterministic equivalents (model_collapse.ridge)", arxiv="2402.07712")
    params = (Param("beta", float, 2.0, "spectrum decay s_j = j^-beta", minimum=1.01, maximum=4.0),
              Param("r", float, 0.4, "source exponent, 0 < r < 1", minimum=0.05, maximum=0.95),
              Param("d", int, 300, "dimension", minimum=20, maximum=2000),
              Param("T", int, 300, "rows of the downstream fit in the sweep over n (T >= d)", minimum=20),
              Param("T0", int, 450, "rows per synthetic generation (T0 >= d+2)", minimum=3),
              Param("sigma", float, 0.1, "label noise of the downstream fit", minimum=1e-6),
              Param("sigma0", float, 0.05, "label noise of each synthetic generation", minimum=1e-6),
              Param("n_max", int, 64, "the sweep takes n = 1, 2, 4, ..., n_max generations", minimum=4, maximum=4096),
              Param("n_plateau", int, 4, "generations for the plateau check at T = 30 T_c and 300 T_c", minimum=1))
    test_K = ()
    hypotheses = ("Gaussian rows, Sigma = diag(j^-beta); w0_j^2 proportional to j^-(2 beta r - beta + 1)",
                  "OLS generations (T0 >= d + 2), ridge downstream at its optimal lambda",
                  "rates of the continuum limit, fitted on a finite sweep with a stated allowance",
                  "the simulation draws designs (Bartlett) and integrates the chain exactly given the design, "
                  "by the decomposition model_collapse.ridge checks by whole-chain simulation")
    tolerances = {
        "numeric": Tolerance(WINDOW, (
            "the exponents hold in the continuum limit; the deterministic equivalent on the finite spectrum, "
            "fitted over n = 1..n_max, deviates by 2.1% / 4.8% at the defaults (measured) and the plateau ratio "
            "by 1.8% (8% allows for these; the controls are >= 24% away)"), "rate"),
        "simulation": Tolerance(Z_TOL, (
            f"{Z_TOL} jackknife standard errors (over the drawn designs) beyond the same 8% finite-window "
            "allowance; the optimal lambda from a 301-point log grid refined by a parabola"), "zscore",
            asymptotic=WINDOW),
    }
    negative_controls = (
        NegativeControl("capacity-free ridge rate 1/(2r+1) (beta ignored)", _capacity_free),
        NegativeControl("capacity-free error rate 2r/(2r+1)", _error_capacity_free),
        NegativeControl("no plateau: the error keeps falling like T^(-2 beta r/(2 beta r+1)) past T_c", _no_plateau),
    )

    def validate(self, p):
        if p["T0"] < p["d"] + 2:
            raise ParameterError("T0", f"T0={p['T0']} < d+2={p['d'] + 2}: each OLS generation's error has no finite mean")
        if p["T"] < p["d"]:
            raise ParameterError("T", f"T={p['T']} < d={p['d']}: the sweep draws nonsingular sample covariances")
        if p["n_plateau"] > p["n_max"]:
            raise ParameterError("n_plateau", f"n_plateau={p['n_plateau']} > n_max={p['n_max']}")

    def formulas(self, p):
        return th.scaling_formulas(p["beta"], p["r"])

    def prove(self, p, formulas):
        return th.prove_scaling(formulas, p["beta"], p["r"])

    # ------------------------------------------------------------------ shared setup
    def _instance(self, p):
        j = np.arange(1, p["d"] + 1, dtype=np.float64)
        s = j ** (-p["beta"])
        w2 = j ** (-float(th.source_exponent(p["beta"], p["r"])))
        return s, w2 / w2.sum()

    def _sweep(self, p):
        ns_ = 2 ** np.arange(int(np.log2(p["n_max"])) + 1)
        eps = np.array([float(th.effective_noise(p["T"], p["d"], p["T0"], p["sigma"], p["sigma0"], int(n))) for n in ns_])
        Tc = float(th.crossover(p["d"], p["T0"], p["sigma"], p["sigma0"], p["n_plateau"]))
        return ns_, eps, (int(round(30 * Tc)), int(round(300 * Tc))), Tc

    def numeric(self, p, ctx):
        s, w2 = self._instance(p)
        ns_, eps, plateau_T, Tc = self._sweep(p)
        args = (p["T0"], p["sigma"], p["sigma0"])
        opt = np.array([ns.optimal_ridge(s, w2, p["T"], *args, int(n)) for n in ns_])
        lo, hi = (ns.optimal_ridge(s, w2, T, *args, p["n_plateau"])[1] for T in plateau_T)
        values = {"ridge_exponent": ns.fit_slope(eps, opt[:, 0]), "error_exponent": ns.fit_slope(eps, opt[:, 1]),
                  "plateau_ratio": hi / lo}
        return Observation(values, {"n": ns_.tolist(), "lambda_star": opt[:, 0].tolist(), "error_star": opt[:, 1].tolist(),
                                    "T_c": Tc, "plateau_T": list(plateau_T)},
                           message=f"deterministic equivalents, {len(ns_)} generations counts, T_c = {Tc:.0f}")

    def _estimates(self, p, sweep_curves, plateau_curves, ns_, eps):
        """Exponents and plateau ratio from design-averaged curves (sweep: (clean, g) per design)."""
        c = p["sigma0"] ** 2 / (p["T0"] - p["d"] - 1)
        clean, g = (np.mean([cv[i] for cv in sweep_curves], axis=0) for i in (0, 1))
        opt = np.array([ss.grid_minimum(GRID, clean + n * c * g) for n in ns_])
        ends = []
        for curves in plateau_curves:
            cl, gg = (np.mean([cv[i] for cv in curves], axis=0) for i in (0, 1))
            ends.append(ss.grid_minimum(GRID, cl + p["n_plateau"] * c * gg)[1])
        return {"ridge_exponent": ns.fit_slope(eps, opt[:, 0]), "error_exponent": ns.fit_slope(eps, opt[:, 1]),
                "plateau_ratio": ends[1] / ends[0]}, opt

    def simulate(self, p, ctx):
        s, w2 = self._instance(p)
        ns_, eps, plateau_T, Tc = self._sweep(p)
        m = ctx.by_profile(8, 32)
        rng = ctx.rng("simulation")
        w0 = np.sqrt(w2)
        sweep = [ss.Design(s, w0, p["T"], rng, ctx.device).curves(GRID, p["sigma"]) for _ in range(m)]
        plateau = [[ss.Design(s, w0, T, rng, ctx.device).curves(GRID, p["sigma"]) for _ in range(m)]
                   for T in plateau_T]
        full, opt = self._estimates(p, sweep, plateau, ns_, eps)
        # Jackknife over designs (design i of every sweep left out together).
        loo = [self._estimates(p, sweep[:i] + sweep[i + 1:], [c[:i] + c[i + 1:] for c in plateau], ns_, eps)[0]
               for i in range(m)]
        se = {k: float(np.sqrt((m - 1) / m * np.sum((np.array([x[k] for x in loo]) - np.mean([x[k] for x in loo])) ** 2)))
              for k in full}
        return Observation(full, {"designs": m, "lambda_star": opt[:, 0].tolist(), "T_c": Tc,
                                  "device": str(ss.resolve_device(ctx.device))},
                           stderr=se, message=f"{m} designs per sweep point (Bartlett), jackknife standard errors")
