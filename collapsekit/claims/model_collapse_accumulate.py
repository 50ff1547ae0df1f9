"""Replace vs accumulate under recursive OLS retraining on one fixed design (THEORY.md §9)."""
from __future__ import annotations

import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import model_collapse_accumulate as nm
from simulations import model_collapse_accumulate as sm
from theory import model_collapse_accumulate as th
from theory.proof import exact

Z_TOL = 4.5
MC_WHY = ("Monte-Carlo: |mean - prediction| <= 4.5 measured standard errors (a false failure has probability "
          "~7e-6 per quantity); {trials} independent chains in the quick profile give a relative standard error "
          "~0.7% at the defaults, so each negative control (a shift of 60% or more) is > 50 standard errors away")
QUICK, FULL = 6000, 40000
FRESH_QUICK, FRESH_FULL = 1500, 20000     # fresh-design chains: one new T x d design per round (costlier)
FRESH = "test_error_accumulate_fresh_design"


def _one(p):
    d, T = sp.sympify(p["d"]), sp.sympify(p["T"])
    return exact(p["sigma"]) ** 2 * d / (T - d - 1)


def _missing_square(p, f):
    return {**f, "test_error_accumulate": _one(p) * sp.harmonic(sp.sympify(p["n"]))}


def _replace_quadratic(p, f):
    return {**f, "test_error_replace": _one(p) * sp.sympify(p["n"]) ** 2}


def _growing_like_accumulate(p, f):
    return {**f, "test_error_growing": _one(p) * sp.harmonic(sp.sympify(p["n"]), 2)}


@register
class AccumulateCollapse(Claim):
    id = "model_collapse.accumulate"
    title = "Accumulating real and synthetic data bounds the OLS test error by pi^2/6 times one round's; replacing grows linearly"
    summary = "fixed design: replace grows like n, accumulate stays below π²/6 of one round, growing data like log n (a fresh design per round: observed, not proved)"
    summary_source = "Gerstgrasser et al. 2024"
    statement = (r"\text{one fixed }X\in\mathbb R^{T\times d},\ T\ge d+2:\ "
                 r"E^{\rm replace}_{\rm test}(n)=\frac{n\sigma^2 d}{T-d-1},\quad "
                 r"E^{\rm accumulate}_{\rm test}(n)=\frac{\sigma^2 d}{T-d-1}\sum_{i=1}^n\frac1{i^2}"
                 r"<\frac{\sigma^2 d}{T-d-1}\frac{\pi^2}{6},\quad "
                 r"E^{\rm replace,\,iT\ \rm rows}_{\rm test}(n)=\frac{\sigma^2 d}{T-d-1}\sum_{i=1}^n\frac1i")
    source = Source("Gerstgrasser, Schaeffer, Dey, Rafailov, Sleight, Hughes, Korbak, Agrawal, Pai, Gromov, "
                    "Roberts, Yang, Donoho & Koyejo",
                    "Is model collapse inevitable? Breaking the curse of recursion by accumulating real and "
                    "synthetic data", 2024,
                    "the linear-regression theorems (replace: linear growth; accumulate: pi^2/6 bound); the "
                    "growing-data variant and every constant re-derived here",
                    arxiv="2404.01413")
    params = (Param("d", int, 10, "dimension", minimum=1, maximum=2000),
              Param("T", int, 40, "rows of the fixed design, T >= d+2", minimum=3),
              Param("sigma", float, 1.0, "label noise at every iteration", minimum=0.0),
              Param("n", int, 30, "number of fitted iterations (n = 1: the model fit on real data)",
                    minimum=1, maximum=1000))
    test_K = ()                      # no K here; tests/test_model_collapse_accumulate.py moves d, T, sigma, n
    hypotheses = ("one design X, drawn once with N(0, I) rows and reused at every iteration",
                  "labels X w_{i-1} + N(0, sigma^2 I_T), fresh noise every iteration", "T >= d + 2",
                  "OLS at every iteration; accumulate fits all blocks so far with equal weight",
                  "growing data: iteration i fits i copies of X with independent noise",
                  "test rows N(0, I): test error ||w_n - w*||^2, averaged over X and the noise",
                  "OBSERVED, NOT PROVED: accumulate with a fresh design X_i each round (outside the theorem); "
                  "the simulation reports observed.simulation.test_error_accumulate_fresh_design with its "
                  "standard error and whether it stays below the pi^2/6 bound; it is no prediction, so it "
                  "cannot fail the claim")
    tolerances = {"numeric": Tolerance(Z_TOL, MC_WHY.format(trials=QUICK) + " (numpy, numpy.linalg.solve)", "zscore"),
                  "simulation": Tolerance(Z_TOL, MC_WHY.format(trials=QUICK) + " (torch, one Cholesky per design)",
                                          "zscore")}
    negative_controls = (
        NegativeControl("accumulate with sum 1/i instead of sum 1/i^2 (the square dropped: grows like log n, "
                        "no pi^2/6 bound)", _missing_square),
        NegativeControl("replace grows like n^2 instead of n", _replace_quadratic),
        NegativeControl("growing data as good as accumulating (sum 1/i^2 instead of sum 1/i)",
                        _growing_like_accumulate),
    )

    def validate(self, p):
        if p["T"] < p["d"] + 2:
            raise ParameterError("T", f"T={p['T']} < d+2={p['d'] + 2}: the OLS error has no finite mean")

    def formulas(self, p):
        return th.accumulate_formulas(p["d"], p["T"], p["sigma"], p["n"])

    def prove(self, p, formulas):
        return th.prove_accumulate(formulas, p["d"], p["T"], p["sigma"], p["n"])

    def symbolic_params(self, p):
        d = sp.Symbol("d", positive=True, integer=True)
        a = sp.Symbol("a", nonnegative=True, integer=True)
        return {**p, "d": d, "T": d + 2 + a, "sigma": sp.Symbol("sigma", positive=True),
                "n": sp.Symbol("n", positive=True, integer=True)}

    @staticmethod
    def _observation(means, stderrs, info, message):
        names = {"replace": "test_error_replace", "accumulate": "test_error_accumulate", "growing": "test_error_growing"}
        return Observation({names[k]: v for k, v in means.items()}, info,
                           stderr={names[k]: v for k, v in stderrs.items()}, message=message)

    def numeric(self, p, ctx):
        m = ctx.by_profile(QUICK, FULL)
        r = nm.accumulate_chains(p["d"], p["T"], p["sigma"], p["n"], m, ctx.rng("numeric"))
        return self._observation({k: v.mean for k, v in r.items()}, {k: v.stderr for k, v in r.items()},
                                 {"trials": m, "method": "numpy normal equations of the stacked blocks"},
                                 f"{m} chains per scheme (numpy)")

    def simulate(self, p, ctx):
        m = ctx.by_profile(QUICK, FULL)
        r = sm.accumulate_chains(p["d"], p["T"], p["sigma"], p["n"], m, ctx.seed_for("simulation"), ctx.device)
        schemes = ("replace", "accumulate", "growing")
        obs = self._observation({k: r[k][0] for k in schemes}, {k: r[k][1] for k in schemes},
                                {"trials": r["trials"], "device": r["device"]},
                                f"{r['trials']} chains per scheme in one batched torch program on {r['device']}")
        # Observed, not proved: a fresh design per round.  Reported next to the predicted quantities
        # (not a prediction: the runner compares only predicted names, so it cannot fail the check).
        mf = ctx.by_profile(FRESH_QUICK, FRESH_FULL)
        fr = sm.accumulate_fresh_design(p["d"], p["T"], p["sigma"], p["n"], mf, ctx.seed_for("simulation.fresh"),
                                        ctx.device)
        bound = float(th.accumulate_formulas(p["d"], p["T"], p["sigma"], p["n"])["accumulate_bound"])
        obs.values[FRESH], obs.stderr[FRESH] = fr["mean"], fr["stderr"]
        obs.info["fresh_design"] = {
            "status": "observed, not proved (outside the fixed-design theorem)",
            "mean": fr["mean"], "stderr": fr["stderr"], "trials": fr["trials"], "bound_pi2_over_6": bound,
            "below_bound": fr["mean"] < bound, "below_bound_by_4.5_stderr": fr["mean"] + Z_TOL * fr["stderr"] < bound}
        return obs
