"""Model collapse of linear regression under recursive retraining (THEORY.md §9)."""
from __future__ import annotations

import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import model_collapse as nm
from simulations import model_collapse as sm
from theory import model_collapse as th

Z_TOL = 4.5
MC_WHY = ("Monte-Carlo: |mean - prediction| <= 4.5 measured standard errors (a false failure has "
          "probability ~7e-6 per quantity); {trials} independent chains per quantity in the quick profile, "
          "so a wrong 'T-d' for 'T-d-1' (a 3% shift at the defaults) is ~9 standard errors away")


def _trials(ctx, quick: int, full: int) -> int:
    return quick if ctx.profile == "quick" else full


def _drop_minus_one(p, f):
    d, T, T0, n = (sp.sympify(p[k]) for k in ("d", "T", "T0", "n"))
    s2, s02 = th.exact(p["sigma"]) ** 2, th.exact(p["sigma0"]) ** 2
    clean = s2 * d / (T - d)
    return {**f, "test_error": clean + n * s02 * d / (T0 - d), "clean_error": clean}


def _quadratic_growth(p, f):
    d, T0, n = (sp.sympify(p[k]) for k in ("d", "T0", "n"))
    s02 = th.exact(p["sigma0"]) ** 2
    return {**f, "test_error": f["clean_error"] + n**2 * s02 * d / (T0 - d - 1)}


@register
class OLSCollapse(Claim):
    id = "model_collapse.ols"
    title = "Recursive OLS retraining: the test error grows linearly in the number of generations, for any covariance"
    statement = (r"E_{\rm test}(n)=\mathbb E\|\hat w-w_0\|_\Sigma^2=\frac{\sigma^2 d}{T-d-1}+n\,\frac{\sigma_0^2 d}{T_0-d-1}"
                 r"\quad(T,T_0\ge d+2,\ \text{rows }x\sim N(0,\Sigma),\ \text{any }\Sigma\succ0)")
    source = Source("Dohmatob, Feng & Kempe", "Model collapse demystified: the case of regression", 2024,
                    "the OLS case of their main theorem (setting recalled; the constant re-derived here from the "
                    "inverse-Wishart mean, Muirhead 1982 Thm 3.2.10 for the chi-square Schur complement)",
                    arxiv="2402.07712")
    params = (Param("d", int, 20, "dimension", minimum=1, maximum=2000),
              Param("T", int, 60, "rows of the downstream (clean-label) fit, T >= d+2", minimum=3),
              Param("T0", int, 50, "rows per synthetic generation, T0 >= d+2", minimum=3),
              Param("sigma", float, 1.0, "label noise of the downstream fit", minimum=0.0),
              Param("sigma0", float, 0.7, "label noise of each synthetic generation", minimum=0.0),
              Param("n", int, 10, "number of synthetic generations", minimum=0, maximum=1000),
              Param("alpha", float, 1.0, "covariance spectrum Sigma = diag(j^-alpha)", minimum=0.0, maximum=4.0))
    test_K = ()                      # no K here; tests/test_model_collapse.py moves d, T, T0, n instead
    hypotheses = ("Gaussian rows with covariance Sigma (any; the check uses diag(j^-alpha))",
                  "fresh design every generation", "T, T0 >= d + 2", "OLS at every stage")
    tolerances = {"numeric": Tolerance(Z_TOL, MC_WHY.format(trials=8000) + " (numpy, normal equations)", "zscore"),
                  "simulation": Tolerance(Z_TOL, MC_WHY.format(trials=8000) + " (torch, batched Cholesky)", "zscore")}
    negative_controls = (
        NegativeControl("T - d instead of T - d - 1 (the inverse-Wishart '-1' dropped)", _drop_minus_one),
        NegativeControl("growth n^2 instead of n", _quadratic_growth),
    )

    def validate(self, p):
        if p["T"] < p["d"] + 2:
            raise ParameterError("T", f"T={p['T']} < d+2={p['d'] + 2}: the OLS error has no finite mean")
        if p["n"] > 0 and p["T0"] < p["d"] + 2:
            raise ParameterError("T0", f"T0={p['T0']} < d+2={p['d'] + 2}: each generation's OLS error has no "
                                       f"finite mean (for T0 < d see model_collapse.overparam)")

    def formulas(self, p):
        return th.ols_formulas(p["d"], p["T"], p["T0"], p["sigma"], p["sigma0"], p["n"])

    def prove(self, p, formulas):
        return th.prove_ols(formulas, p["d"], p["T"], p["T0"], p["sigma"], p["sigma0"], p["n"])

    def symbolic_params(self, p):
        d = sp.Symbol("d", positive=True, integer=True)
        a, c = sp.Symbol("a", nonnegative=True, integer=True), sp.Symbol("c", nonnegative=True, integer=True)
        return {**p, "d": d, "T": d + 2 + a, "T0": d + 2 + c, "n": sp.Symbol("n", nonnegative=True, integer=True),
                "sigma": sp.Symbol("sigma", positive=True), "sigma0": sp.Symbol("sigma0", positive=True)}

    def _args(self, p):
        return (p["d"], p["T"], p["T0"], p["sigma"], p["sigma0"])

    def numeric(self, p, ctx):
        spec, rng, m = nm.power_spectrum(p["d"], p["alpha"]), ctx.rng("numeric"), _trials(ctx, 8000, 40000)
        full = nm.ols_chain(*self._args(p), p["n"], spec, m, rng)
        clean = nm.ols_chain(*self._args(p), 0, spec, m, rng)
        return Observation({"test_error": full.mean, "clean_error": clean.mean},
                           {"trials": m, "method": "numpy normal equations, chunked"},
                           stderr={"test_error": full.stderr, "clean_error": clean.stderr},
                           message=f"{m} chains per quantity (numpy)")

    def simulate(self, p, ctx):
        spec, m = nm.power_spectrum(p["d"], p["alpha"]), _trials(ctx, 8000, 100000)
        seed = ctx.seed_for("simulation")
        mean, se, trials, dev = sm.ols_chain(*self._args(p), p["n"], spec, m, seed, ctx.device)
        cmean, cse, _, _ = sm.ols_chain(*self._args(p), 0, spec, m, seed + 1, ctx.device)
        return Observation({"test_error": mean, "clean_error": cmean}, {"trials": trials, "device": dev},
                           stderr={"test_error": se, "clean_error": cse},
                           message=f"{trials} chains per quantity in one batched torch program on {dev}")
