"""Recursive Gaussian fitting: variance martingale, shrinking E sigma_n, negative log drift (THEORY.md §9)."""
from __future__ import annotations

import math

import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import model_collapse_gaussian as nm
from simulations import model_collapse_gaussian as sm
from theory import model_collapse_gaussian as th
from theory.proof import exact

Z_TOL = 4.5
MC_WHY = ("Monte-Carlo: |mean - prediction| <= 4.5 measured standard errors (false failure ~7e-6 per quantity); "
          "{trials} independent chains in the quick profile; at the defaults (M=20, n=10) sigma_n^2 has a finite "
          "4th moment ((21/19)^10 E-ratio 2.7, kurtosis moderate) so the standard error is reliable, and the "
          "smallest negative control (the mean drift with n+1 generations, +10%) is ~10 standard errors away")
QUICK, FULL = 60000, 400000


def _jensen_dropped(p, f):
    return {**f, "std": sp.sqrt(exact(p["sigma"]) ** 2)}


def _digamma_off_by_one(p, f):
    M, n = sp.sympify(p["M"]), sp.sympify(p["n"])
    return {**f, "log_var_drift": n * (sp.polygamma(0, M / 2) + sp.log(2 / (M - 1)))}


def _mle_undecayed(p, f):
    return {**f, "var_mle": exact(p["sigma"]) ** 2}


def _mean_drift_off_by_one(p, f):
    M, n = sp.sympify(p["M"]), sp.sympify(p["n"])
    return {**f, "mean_sq_drift": (n + 1) * exact(p["sigma"]) ** 2 / M}


@register
class GaussianCollapse(Claim):
    id = "model_collapse.gaussian"
    title = "Refitting a Gaussian to its own samples: E sigma_n^2 is constant while E sigma_n and log sigma_n^2 drift down"
    summary = "recursive Gaussian fitting: mean drift, E σ_n² flat, E σ_n and log-variance drift to 0, MLE decay"
    summary_source = "Shumailov et al. 2024 (setting)"
    statement = (r"M\text{ samples per generation}:\ \mathbb E(\mu_n-\mu)^2=\frac{n\sigma^2}{M},\ "
                 r"\mathbb E\sigma_n^2=\sigma^2,\ \mathbb E\sigma_n=\sigma c_M^n,\ "
                 r"c_M=\sqrt{\tfrac{2}{M-1}}\frac{\Gamma(M/2)}{\Gamma((M-1)/2)},\ "
                 r"\mathbb E\log\frac{\sigma_n^2}{\sigma^2}=n\big[\psi(\tfrac{M-1}{2})+\log\tfrac{2}{M-1}\big],\ "
                 r"\text{MLE: }\mathbb E\sigma_n^2=\sigma^2(1-\tfrac1M)^n")
    source = Source("Shumailov, Shumaylov, Zhao, Gal, Papernot & Anderson",
                    "The curse of recursion: training on generated data makes models forget", 2023,
                    "the single-Gaussian recursion (setting recalled); every constant derived here from the "
                    "chi-square Mellin transform", arxiv="2305.17493")
    params = (Param("M", int, 20, "samples per generation (M >= 2)", minimum=2, maximum=100000),
              Param("n", int, 10, "number of generations", minimum=0, maximum=1000),
              Param("sigma", float, 1.0, "standard deviation of the real data", minimum=0.0))
    test_K = ()
    hypotheses = ("generation i draws M iid samples from N(mu_{i-1}, sigma_{i-1}^2)",
                  "mu_i = sample mean; sigma_i^2 = unbiased sample variance (MLE chain: divide by M)",
                  "mu_0 = mu, sigma_0 = sigma (the real distribution)")
    tolerances = {"numeric": Tolerance(Z_TOL, MC_WHY.format(trials=QUICK) + " (numpy)", "zscore"),
                  "simulation": Tolerance(Z_TOL, MC_WHY.format(trials=QUICK) + " (batched torch)", "zscore")}
    negative_controls = (
        NegativeControl("E sigma_n = sigma (the Jensen factor c_M^n dropped)", _jensen_dropped),
        NegativeControl("digamma off by one in M: psi(M/2) instead of psi((M-1)/2)", _digamma_off_by_one),
        NegativeControl("MLE variance without the (1 - 1/M)^n decay", _mle_undecayed),
        NegativeControl("mean drift (n+1) sigma^2/M instead of n sigma^2/M (generations miscounted by one)",
                        _mean_drift_off_by_one),
    )

    def validate(self, p):
        if p["sigma"] <= 0:
            raise ParameterError("sigma", f"sigma={p['sigma']}: need a positive standard deviation")

    def formulas(self, p):
        return th.gaussian_formulas(p["M"], p["n"], p["sigma"])

    def prove(self, p, formulas):
        return th.prove_gaussian(formulas, p["M"], p["n"], p["sigma"])

    def symbolic_params(self, p):
        a = sp.Symbol("a", nonnegative=True, integer=True)
        return {**p, "M": a + 2, "n": sp.Symbol("n", nonnegative=True, integer=True),
                "sigma": sp.Symbol("sigma", positive=True)}

    def numeric(self, p, ctx):
        m = ctx.by_profile(QUICK, FULL)
        r = nm.gaussian_chains(p["M"], p["n"], p["sigma"], m, ctx.rng("numeric"))
        return Observation({k: v.mean for k, v in r.items()}, {"trials": m, "method": "numpy chains"},
                           stderr={k: v.stderr for k, v in r.items()}, message=f"{m} chains (numpy)")

    def simulate(self, p, ctx):
        m = ctx.by_profile(QUICK, FULL)
        r = sm.gaussian_chains(p["M"], p["n"], p["sigma"], m, ctx.seed_for("simulation"), ctx.device)
        names = [k for k in r if k not in ("trials", "device")]
        return Observation({k: r[k][0] for k in names}, {"trials": r["trials"], "device": r["device"]},
                           stderr={k: r[k][1] for k in names},
                           message=f"{r['trials']} chains in one batched torch program on {r['device']}")


# --------------------------------------------------------------------------- accumulate
ACC_QUICK, ACC_FULL = (20000, 16000), (200000, 100000)      # (numeric, simulation) chains
ACC_WHY = ("Monte-Carlo: |mean - prediction| <= 4.5 measured standard errors (false failure ~7e-6 per quantity); "
           "{trials} independent chains in the quick profile (relative standard error ~0.5% at M=10); the pool "
           "variance is an average of kM squares, so its standard error is reliable; the nearest negative control "
           "(the catalogue's MLE product used for the unbiased pool) is ~20 standard errors away at the defaults")
GAP_FRACTION = 0.25     # the n_limit truncation must be below this fraction of a standard error


def _replace_not_accumulate(p, f):
    M, n = sp.sympify(p["M"]), sp.sympify(p["n"])
    return {**f, "var_accumulate": exact(p["sigma"]) ** 2 * (1 - 1 / M) ** n}


def _mle_product_for_unbiased(p, f):
    return {**f, "var_accumulate_unbiased": f["var_accumulate"]}


def _euler_x_one_over_M(p, f):
    M = sp.sympify(p["M"])
    return {**f, "var_accumulate_limit": exact(p["sigma"]) ** 2 * M * sp.sin(sp.pi / M) / sp.pi}


def _collapse_to_zero(p, f):
    return {**f, "var_accumulate_limit": sp.Integer(0)}


@register
class GaussianAccumulate(Claim):
    id = "model_collapse.gaussian_accumulate"
    title = ("Accumulating every generation's samples: the fitted variance tends to "
             "sigma^2 sqrt(M) sin(pi/sqrt(M))/pi > 0 (no collapse)")
    summary = "accumulating every generation's samples (MLE fit on the pool): E σ̂_n² = σ²Π(1 − 1/(Mk²)) → σ²√M·sin(π/√M)/π > 0; the unbiased fit's product too"
    summary_source = "derived (Kazdan et al. 2024 setting)"
    statement = (r"\text{pool of }kM\text{ samples at generation }k,\ \text{MLE fit}:\ "
                 r"\mathbb E\hat\sigma_n^2=\sigma^2\prod_{k=1}^n\Big(1-\frac1{Mk^2}\Big)\ \xrightarrow[n\to\infty]{}\ "
                 r"\sigma^2\frac{\sqrt M}{\pi}\sin\frac{\pi}{\sqrt M}>0;\ "
                 r"\text{unbiased fit}:\ \mathbb E\hat\sigma_n^2=\sigma^2\prod_{k=2}^n\Big(1-\frac1{k(kM-1)}\Big)")
    source = Source("Kazdan, Schaeffer, Dey, Gerstgrasser, Rafailov, Donoho & Koyejo",
                    "Collapse or thrive? Perils and promises of synthetic data in a self-generating world", 2024,
                    "the accumulate workflow for Gaussian fitting (setting recalled, not confirmed in the text); "
                    "the product, its Euler limit and the unbiased variant derived here", arxiv="2410.16713")
    params = (Param("M", int, 10, "samples added per generation (M >= 2)", minimum=2, maximum=100000),
              Param("n", int, 10, "number of fits (n = 1: the fit on the M real samples)", minimum=1, maximum=1000),
              Param("sigma", float, 1.0, "standard deviation of the real data", minimum=0.0),
              Param("n_limit", int, lambda v: max(v["n"], math.ceil(632 / math.sqrt(v["M"]))),
                    "generations simulated to observe the n -> oo limit (>= n; default max(n, ceil(632/sqrt(M))), "
                    "200 at M=10: the truncation bound is then ~0.1 standard errors at the quick sizes)",
                    minimum=1, maximum=100000))
    test_K = ()
    hypotheses = ("generation 1 adds M real samples from N(mu, sigma^2); generation k >= 2 adds M samples from "
                  "N(mu_{k-1}, sigma_{k-1}^2), the previous fit",
                  "fit k uses the whole pool of kM samples: its mean and its MLE variance (sum of squares / kM); "
                  "the unbiased variant divides by kM - 1",
                  "one dimension; for d dimensions the same recursion holds entrywise for the MLE covariance "
                  "(E W = (M-1) Sigma_k, E (b-m)(b-m)^T = Sigma_k / M)",
                  "the limit is observed at n_limit generations; E v_N exceeds it by at most E v_N / (M N), "
                  "required below 0.25 standard errors (else the check reports non-convergence)")
    tolerances = {"numeric": Tolerance(Z_TOL, ACC_WHY.format(trials=ACC_QUICK[0]) + " (numpy, exact sufficient "
                                       "statistics: block mean and chi-square sum of squares)", "zscore"),
                  "simulation": Tolerance(Z_TOL, ACC_WHY.format(trials=ACC_QUICK[1]) + " (batched torch, raw "
                                          "samples, pool tracked by sum x and sum x^2)", "zscore")}
    negative_controls = (
        NegativeControl("replace instead of accumulate: E sigma_n^2 = sigma^2 (1 - 1/M)^n (MLE decay)",
                        _replace_not_accumulate),
        NegativeControl("the MLE product prod (1 - 1/(M k^2)) claimed for the unbiased pool variance",
                        _mle_product_for_unbiased),
        NegativeControl("Euler limit with x = 1/M instead of 1/sqrt(M): sigma^2 M sin(pi/M)/pi", _euler_x_one_over_M),
        NegativeControl("collapse: the accumulated variance tends to 0", _collapse_to_zero),
    )

    def validate(self, p):
        if p["sigma"] <= 0:
            raise ParameterError("sigma", f"sigma={p['sigma']}: need a positive standard deviation")
        if p["n_limit"] < p["n"]:
            raise ParameterError("n_limit", f"n_limit={p['n_limit']} < n={p['n']}")

    def formulas(self, p):
        return th.accumulate_formulas(p["M"], p["n"], p["sigma"])

    def prove(self, p, formulas):
        return th.prove_accumulate(formulas, p["M"], p["n"], p["sigma"])

    def symbolic_params(self, p):
        a = sp.Symbol("a", nonnegative=True, integer=True)
        return {**p, "M": a + 2, "n": sp.Symbol("n", nonnegative=True, integer=True),
                "sigma": sp.Symbol("sigma", positive=True)}

    @staticmethod
    def _observation(p, means, stderrs, info, message):
        # truncation: E v_N - lim <= E v_N sum_{k>N} 1/(M k^2) <= E v_N / (M N) (product form, factors < 1)
        name = "var_accumulate_limit"
        gap = (means[name] + Z_TOL * stderrs[name]) / (p["M"] * p["n_limit"])
        ok = gap <= GAP_FRACTION * stderrs[name]
        info = {**info, "n_limit": p["n_limit"], "limit_truncation_bound": gap,
                "limit_truncation_in_stderr": gap / stderrs[name]}
        msg = message + ("" if ok else f"; n_limit={p['n_limit']} too small: truncation bound {gap:.2e} > "
                                       f"{GAP_FRACTION} standard errors ({stderrs[name]:.2e})")
        return Observation(means, info, converged=ok, message=msg, stderr=stderrs)

    def numeric(self, p, ctx):
        m = ctx.by_profile(ACC_QUICK, ACC_FULL)[0]
        r = nm.accumulate_chains(p["M"], p["n"], p["n_limit"], p["sigma"], m, ctx.rng("numeric"))
        return self._observation(p, {k: v.mean for k, v in r.items()}, {k: v.stderr for k, v in r.items()},
                                 {"trials": m, "method": "numpy, sufficient statistics"}, f"{m} chains (numpy)")

    def simulate(self, p, ctx):
        m = ctx.by_profile(ACC_QUICK, ACC_FULL)[1]
        r = sm.accumulate_chains(p["M"], p["n"], p["n_limit"], p["sigma"], m, ctx.seed_for("simulation"), ctx.device)
        names = [k for k in r if k not in ("trials", "device")]
        return self._observation(p, {k: r[k][0] for k in names}, {k: r[k][1] for k in names},
                                 {"trials": r["trials"], "device": r["device"]},
                                 f"{r['trials']} chains of raw samples in batched torch on {r['device']}")
