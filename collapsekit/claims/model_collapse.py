"""Model collapse of linear regression under recursive retraining (THEORY.md §9)."""
from __future__ import annotations

import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import model_collapse as nm
from simulations import model_collapse as sm
from theory import model_collapse as th

Z_TOL = 4.5


def _mc_why(trials: int, control: str, route: str) -> str:
    return (f"Monte-Carlo: |mean - prediction| <= {Z_TOL} measured standard errors (a false failure has "
            f"probability ~7e-6 per quantity); {trials} independent chains per quantity in the quick profile, "
            f"so {control} is >= 7 standard errors away ({route})")


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
    summary = "recursive OLS retraining: E_test = σ²d/(T−d−1) + n·σ0²d/(T0−d−1), any Σ (Monte-Carlo, z-scores)"
    summary_source = "Dohmatob, Feng & Kempe 2024"
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
    tolerances = {"numeric": Tolerance(Z_TOL, _mc_why(8000, "'T-d' for 'T-d-1' (3% at the defaults)",
                                                      "numpy, normal equations"), "zscore"),
                  "simulation": Tolerance(Z_TOL, _mc_why(8000, "'T-d' for 'T-d-1' (3% at the defaults)",
                                                         "torch, batched Cholesky"), "zscore")}
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
        spec, rng, m = nm.power_spectrum(p["d"], p["alpha"]), ctx.rng("numeric"), ctx.by_profile(8000, 40000)
        full = nm.ols_chain(*self._args(p), p["n"], spec, m, rng)
        clean = nm.ols_chain(*self._args(p), 0, spec, m, rng)
        return Observation({"test_error": full.mean, "clean_error": clean.mean},
                           {"trials": m, "method": "numpy normal equations, chunked"},
                           stderr={"test_error": full.stderr, "clean_error": clean.stderr},
                           message=f"{m} chains per quantity (numpy)")

    def simulate(self, p, ctx):
        spec, m = nm.power_spectrum(p["d"], p["alpha"]), ctx.by_profile(8000, 100000)
        seed = ctx.seed_for("simulation")
        mean, se, trials, dev = sm.ols_chain(*self._args(p), p["n"], spec, m, seed, ctx.device)
        cmean, cse, _, _ = sm.ols_chain(*self._args(p), 0, spec, m, seed + 1, ctx.device)
        return Observation({"test_error": mean, "clean_error": cmean}, {"trials": trials, "device": dev},
                           stderr={"test_error": se, "clean_error": cse},
                           message=f"{trials} chains per quantity in one batched torch program on {dev}")


def _noise_without_minus_one(p, f):
    d, T0, n = (sp.sympify(p[k]) for k in ("d", "T0", "n"))
    psi, s02 = T0 / d, th.exact(p["sigma0"]) ** 2
    return {**f, "error": th.exact(p["w0_norm_sq"]) * (1 - psi**n) + s02 * T0 / (d - T0) * (1 - psi**n) / (1 - psi)}


def _signal_psi_not_psi_n(p, f):
    return {**f, "signal_kept": th.exact(p["w0_norm_sq"]) * sp.sympify(p["T0"]) / p["d"]}


@register
class OverparamCollapse(Claim):
    id = "model_collapse.overparam"
    title = "Recursive minimum-norm refits with T0 < d: the signal decays geometrically, collapse even without noise"
    summary = "T0 < d minimum-norm refits: the signal decays as (T0/d)ⁿ, collapse without noise"
    summary_source = "Dohmatob, Feng & Kempe 2024"
    statement = (r"\Sigma=I,\ T_0<d,\ \psi=T_0/d:\ \mathbb E\|\hat w_n-w_0\|^2=\|w_0\|^2(1-\psi^n)"
                 r"+\sigma_0^2\frac{T_0}{d-T_0-1}\,\frac{1-\psi^n}{1-\psi},\quad "
                 r"\mathbb E\|P_n\cdots P_1w_0\|^2=\psi^n\|w_0\|^2")
    source = Source("Dohmatob, Feng & Kempe", "Model collapse demystified: the case of regression", 2024,
                    "the over-parametrized (T0 < d) regime (setting recalled; the formula derived here from "
                    "E P = psi I and the inverse-Wishart mean of X X^T)", arxiv="2402.07712")
    params = (Param("d", int, 40, "dimension", minimum=3, maximum=2000),
              Param("T0", int, 20, "rows per generation, T0 <= d - 2", minimum=1),
              Param("sigma0", float, 0.5, "label noise of each generation", minimum=0.0),
              Param("n", int, 5, "number of generations", minimum=0, maximum=1000),
              Param("w0_norm_sq", float, 1.0, "squared norm of the true weights", minimum=0.0))
    test_K = ()
    hypotheses = ("isotropic Gaussian rows (Sigma = I)", "fresh design every generation",
                  "minimum-norm interpolation at every generation", "T0 <= d - 2")
    tolerances = {"numeric": Tolerance(Z_TOL, _mc_why(12000, "'d-T0' for 'd-T0-1' (1.7% at the defaults)",
                                                      "numpy, normal equations of X X^T"), "zscore"),
                  "simulation": Tolerance(Z_TOL, _mc_why(12000, "'d-T0' for 'd-T0-1' (1.7% at the defaults)",
                                                         "torch, batched Cholesky"), "zscore")}
    negative_controls = (
        NegativeControl("d - T0 instead of d - T0 - 1 in the noise term", _noise_without_minus_one),
        NegativeControl("signal kept psi instead of psi^n", _signal_psi_not_psi_n),
    )

    def validate(self, p):
        if p["T0"] > p["d"] - 2:
            raise ParameterError("T0", f"T0={p['T0']} > d-2={p['d'] - 2}: the over-parametrized regime needs "
                                       f"T0 <= d - 2 (finite noise term); for T0 >= d+2 see model_collapse.ols")

    def formulas(self, p):
        return th.overparam_formulas(p["d"], p["T0"], p["sigma0"], p["n"], p["w0_norm_sq"])

    def prove(self, p, formulas):
        return th.prove_overparam(formulas, p["d"], p["T0"], p["sigma0"], p["n"], p["w0_norm_sq"])

    def symbolic_params(self, p):
        T0 = sp.Symbol("T0", positive=True, integer=True)
        return {**p, "T0": T0, "d": T0 + 2 + sp.Symbol("a", nonnegative=True, integer=True),
                "n": sp.Symbol("n", positive=True, integer=True), "sigma0": sp.Symbol("sigma0", positive=True),
                "w0_norm_sq": sp.Symbol("w", positive=True)}

    def _args(self, p):
        return (p["d"], p["T0"], p["sigma0"], p["n"], p["w0_norm_sq"])

    def numeric(self, p, ctx):
        m = ctx.by_profile(12000, 50000)
        err, kept = nm.overparam_chain(*self._args(p), m, ctx.rng("numeric"))
        return Observation({"error": err.mean, "signal_kept": kept.mean}, {"trials": m},
                           stderr={"error": err.stderr, "signal_kept": kept.stderr},
                           message=f"{m} chains (numpy)")

    def simulate(self, p, ctx):
        m = ctx.by_profile(12000, 100000)
        r = sm.overparam_chain(*self._args(p), m, ctx.seed_for("simulation"), ctx.device)
        return Observation({"error": r["error"][0], "signal_kept": r["signal_kept"][0]},
                           {"trials": r["trials"], "device": r["device"]},
                           stderr={"error": r["error"][1], "signal_kept": r["signal_kept"][1]},
                           message=f"{r['trials']} chains in one batched torch program on {r['device']}")
