"""Non-contrastive SSL with linear networks: balance law, eigenmode fixed points, collapse (THEORY.md §9)."""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import ssl as nm
from simulations import ssl as sm
from theory import ssl as th


def _threshold_missing_one(p, f):
    t, s2 = th.exact(p["tau"]), th.exact(p["sigma2"])
    return f if s2 == 0 else {**f, "threshold": t**2 / (4 * s2)}


def _wrong_sign_under_root(p, f):
    if "p_plus" not in f:
        return f
    t, s2, e = th.exact(p["tau"]), th.exact(p["sigma2"]), th.exact(p["eta"])
    root = sp.sqrt(t**2 + 4 * e * (1 + s2))
    pp, pm = (t + root) / (2 * (1 + s2)), (t - root) / (2 * (1 + s2))
    return {**f, "p_plus": pp, "p_minus": pm, "limit_above": pp}


def _balance_rate_eta(p, f):
    return {**f, "balance_rate": th.exact(p["eta"])}


def _fixed(p):
    """(p_plus, p_minus) as floats, or None on the collapse side (places the starts, never a prediction)."""
    if th.regime(p["tau"], p["sigma2"], p["eta"]) != "learn":
        return None
    disc = p["tau"] ** 2 - 4 * p["eta"] * (1 + p["sigma2"])
    r = math.sqrt(disc)
    return (p["tau"] + r) / (2 * (1 + p["sigma2"])), (p["tau"] - r) / (2 * (1 + p["sigma2"]))


def starts(p):
    """Initial mode values p(0) (one per mode, d modes) and the label of each: 'above' / 'below' p_minus,
    or 'collapsed' beyond the threshold.  delta sets the offsets from p_minus."""
    d, delta, scale = p["d"], p["delta"], p["tau"] / (1 + p["sigma2"])
    fp = _fixed(p)
    if fp is None:
        return np.linspace(delta, 2.0, d) * scale, ["collapsed"] * d
    pp, pm = fp
    above = [pm + delta * (pp - pm), pp * (1 + delta)]
    below = [pm * (1 - delta), pm * delta]
    if p["eta"] == 0:                      # p_minus = 0: every positive start is above it
        return np.array([above[i % 2] for i in range(d)]), ["above"] * d
    n_above = (d + 1) // 2
    values = [above[i % 2] for i in range(n_above)] + [below[i % 2] for i in range(d - n_above)]
    return np.array(values), ["above"] * n_above + ["below"] * (d - n_above)


def _eta0_starts(p):
    return np.linspace(p["delta"], 2.0, p["d"]) * p["tau"] / (1 + p["sigma2"])


def _limit_values(modes, labels):
    key = {"above": "limit_above", "below": "limit_below", "collapsed": "limit_collapsed"}
    out = {}
    for lab in ("above", "below", "collapsed"):
        sel = [i for i, l in enumerate(labels) if l == lab]
        if sel:
            out[key[lab]] = np.asarray(modes)[..., sel].ravel()
    return out


@register
class DirectPredDynamics(Claim):
    id = "ssl.directpred"
    title = ("Linear non-contrastive SSL (BYOL/SimSiam with a linear predictor): weight decay balances predictor "
             "and encoder; each eigenmode goes to p_+ or collapses to 0, and all collapse beyond eta = tau^2/(4(1+sigma^2))")
    summary = "linear BYOL/DirectPred: balance law, fixed points p±, collapse iff η > τ²/(4(1+σ²)), basin boundary p₋"
    summary_source = "Tian, Chen & Ganguli 2021"
    statement = (r"J=\tfrac12\mathbb E\|W_pWx_1-\mathrm{sg}(W_ax_2)\|^2,\ W_a=\tau W,\ X=I,\ X'=\sigma^2I:\ "
                 r"\dot W_p=-\alpha_p\partial_{W_p}J-\eta W_p,\ \dot W=-\partial_WJ-\eta W\ \Rightarrow\ "
                 r"W_p^\top W_p-\alpha_pWW^\top=e^{-2\eta t}(\cdot)|_0;\ \text{balanced modes: }"
                 r"\dot p=-(1+\sigma^2)p(p-p_-)(p-p_+),\ p_\pm=\frac{\tau\pm\sqrt{\tau^2-4\eta(1+\sigma^2)}}{2(1+\sigma^2)};"
                 r"\ p_+\text{ exists iff }\eta<\frac{\tau^2}{4(1+\sigma^2)};\ p(0)>p_-\Rightarrow p\to p_+,"
                 r"\ p(0)<p_-\Rightarrow p\to0;\ \eta=0:\ p\to\frac{\tau}{1+\sigma^2}")
    source = Source("Tian, Chen & Ganguli", "Understanding self-supervised learning dynamics without contrastive pairs",
                    2021, "ICML 2021, the linear model: weight-decay balance and the decoupled eigenmode dynamics "
                          "(recalled; every statement re-derived here by sympy from the expected loss)",
                    arxiv="2102.06810",
                    note="target W_a = tau*W (the paper's EMA simplification); weight decay eta on both W and W_p, "
                         "not scaled by alpha_p; time t = gradient-flow time of W")
    params = (Param("eta", float, 0.1, "weight decay (on W and W_p)", minimum=0.0),
              Param("tau", float, 1.0, "target ratio W_a = tau*W (EMA simplification; 1 = SimSiam)", minimum=0.0),
              Param("sigma2", float, 0.5, "augmentation variance X' = sigma2*I (data X = I)", minimum=0.0),
              Param("alpha_p", float, 2.0, "predictor learning-rate ratio", minimum=0.0),
              Param("d", int, 4, "dimension (W, W_p are d x d; d eigenmodes)", minimum=2, maximum=64),
              Param("delta", float, 0.3, "relative offset of the starts from p_minus (0 < delta < 1)", minimum=0.0,
                    maximum=1.0))
    test_K = ()
    hypotheses = ("X = I, X' = sigma2*I (isotropic data and augmentation)",
                  "target W_a = tau*W under stop-gradient (EMA simplification)",
                  "balanced, eigenspace-aligned start for the per-mode statements (the balance law holds for any start)")
    tolerances = {
        "numeric": Tolerance(1e-8, "scipy: DOP853 at rtol 1e-12 run until every field entry < 1e-12, so a limit is "
                                   "within ~1e-12/|F'| <= 1e-10 of its fixed point; brentq/bounded Brent to 1e-13; "
                                   "balance rate from rtol-1e-13 trajectories (measured error ~1e-12)"),
        "simulation": Tolerance(1e-7, "torch RK4: its fixed points are the field's zeros and it runs until every field "
                                      "entry < 1e-12 (limits within ~1e-10); the balance rate carries the RK4 "
                                      "truncation error at h = 1e-3 (measured ~3e-10 relative), Newton to machine precision"),
    }
    zero_scale = 1.0
    negative_controls = (
        NegativeControl("threshold tau^2/(4 sigma^2) (the '1+' dropped)", _threshold_missing_one),
        NegativeControl("p_pm with +4 eta (1+sigma^2) under the root (wrong sign)", _wrong_sign_under_root),
        NegativeControl("balance decay rate eta instead of 2 eta", _balance_rate_eta),
    )

    def validate(self, p):
        for name in ("tau", "alpha_p"):
            if p[name] <= 0:
                raise ParameterError(name, f"{p[name]} must be > 0")
        if not 0 < p["delta"] < 1:
            raise ParameterError("delta", f"{p['delta']} must lie strictly between 0 and 1")
        if th.regime(p["tau"], p["sigma2"], p["eta"]) == "critical":
            raise ParameterError("eta", "eta = tau^2/(4(1+sigma2)) exactly: the saddle-node itself (a double, "
                                        "semi-stable fixed point tau/(2(1+sigma2)) reached only algebraically)")

    def formulas(self, p):
        return th.formulas(p["tau"], p["sigma2"], p["eta"], p["alpha_p"])

    def prove(self, p, formulas):
        return th.prove(formulas, p["tau"], p["sigma2"], p["eta"], p["alpha_p"])

    def symbolic_params(self, p):
        s = {k: sp.Symbol(k, positive=True) for k in ("eta", "tau", "sigma2", "alpha_p")}
        return {**p, **s}

    def _phys(self, p):
        return p["tau"], p["sigma2"], p["eta"], p["alpha_p"]

    def numeric(self, p, ctx):
        tau, s2, eta, ap = self._phys(p)
        rng = ctx.rng("numeric")
        p0, labels = starts(p)
        lim = nm.mode_limits(p0, tau, s2, eta, ap, rng)
        lim0 = nm.mode_limits(_eta0_starts(p), tau, s2, 0.0, ap, rng)
        roots = nm.nonzero_fixed_points(tau, s2, eta, ap)
        values = {"threshold": nm.collapse_threshold(tau, s2, ap),
                  "balance_rate": nm.balance_rates(p["d"], tau, s2, eta, ap, rng),
                  "limit_eta0": lim0.modes, **_limit_values(lim.modes, labels)}
        ok, msg = lim.converged and lim0.converged, f"flows to t={lim.t:g} (|field| {lim.field_norm:.1e}), eta=0 to t={lim0.t:g}"
        want = 2 if labels[0] != "collapsed" and eta > 0 else (1 if labels[0] != "collapsed" else 0)
        if len(roots) != want:
            ok, msg = False, f"found {len(roots)} positive fixed points of the mode field, expected {want}; " + msg
        elif want == 2:
            values.update(p_minus=roots[0], p_plus=roots[1])
        elif want == 1:
            values.update(p_plus=roots[0])
        return Observation(values, {"starts": p0.tolist(), "labels": labels, "fixed_points": roots,
                                    "t": lim.t, "field_norm": lim.field_norm, "t_eta0": lim0.t},
                           converged=ok, message=msg)

    def simulate(self, p, ctx):
        tau, s2, eta, ap = self._phys(p)
        seed = ctx.seed_for("simulation")
        p0, labels = starts(p)
        batch = np.stack([p0, p0, _eta0_starts(p)])
        lim = sm.mode_limits(batch, [eta, eta, 0.0], tau, s2, ap, seed, ctx.device)
        rates = sm.balance_rates(3, p["d"], tau, s2, eta, ap, seed + 1, ctx.device)
        values = {"balance_rate": rates.numpy(), "limit_eta0": lim.modes[2].numpy(),
                  "threshold": sm.newton_threshold(tau, s2, ap), **_limit_values(lim.modes[:2].numpy(), labels)}
        if labels[0] != "collapsed":
            values["p_plus"] = values["limit_above"]
            if eta > 0:
                values["p_minus"] = sm.newton_p_minus(tau, s2, eta, ap)
        return Observation(values, {"steps": lim.steps, "t": lim.t, "field_norm": lim.field_norm,
                                    "device": lim.device, "configs": "2 rotations at eta, 1 at eta=0; 3 balance runs"},
                           converged=lim.converged,
                           message=f"batched RK4 flow of 3 configs, {lim.steps} steps to t={lim.t:.4g}, "
                                   f"|field| {lim.field_norm:.1e} on {lim.device}")
