"""Deep linear unconstrained features with imbalanced classes (THEORY.md §5)."""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, NegativeControl, Observation, Param, ParameterError, Source, Tolerance
from collapsekit.registry import register
from numerics import dln as nd
from simulations import dln as sd
from theory import dln as th
from theory.proof import exact


def _per_class(p, f, fn):
    """Formulas with each class's (p, w_sq, h_sq) recomputed from a perturbed a_k = fn(n_k, N, c, L)."""
    counts, M = p["n"], p["M"]
    N, L = sum(counts), M + 1
    lw, lh = exact(p["lambda_W"]), exact(p["lambda_H"])
    c = (lh * lw**M) ** sp.Rational(1, L)
    out, loss = dict(f), sp.Integer(0)
    for k, n_k in enumerate(counts, start=1):
        a = fn(sp.Integer(n_k), sp.Integer(N), c, L, f[f"p_{k}"] * sp.sqrt(n_k))
        u = (a**2 * lh * lw**M) ** sp.Rational(1, L)
        out.update({f"p_{k}": a / sp.sqrt(n_k), f"w_sq_{k}": u / lw, f"h_sq_{k}": u / (lh * n_k)})
        loss += th.scalar_objective(sp.Integer(n_k), sp.Integer(N), L, c, a)
    out["loss"] = loss
    return out


def _threshold_N(p, f):
    """a_k = (√n_k − √N c)₊ for M = 1: collapse iff n_k ≤ N λ_W λ_H (N instead of N²)."""
    if p["M"] != 1:
        return f
    return _per_class(p, f, lambda n, N, c, L, a: sp.Max(sp.sqrt(n) - sp.sqrt(N) * c, 0))


def _roles_swapped(p, f):
    """‖w_k‖² = u/λ_H and ‖h̄_k‖² = u/(λ_W n_k) (the two decays swapped)."""
    lw, lh = exact(p["lambda_W"]), exact(p["lambda_H"])
    out = dict(f)
    for k, n_k in enumerate(p["n"], start=1):
        out[f"w_sq_{k}"] = f[f"w_sq_{k}"] * lw / lh
        out[f"h_sq_{k}"] = f[f"h_sq_{k}"] * lh / lw
    return out


def _no_sqrt(p, f):
    """p_k = a_k/n_k (the block's √n_k forgotten)."""
    return {**f, **{f"p_{k}": f[f"p_{k}"] / sp.sqrt(n_k) for k, n_k in enumerate(p["n"], start=1)}}


def _fit_unhalved(p, f):
    """The fit term ‖·‖²/N instead of ‖·‖²/(2N), a common normalization slip.  Per class,
    (a − √n_k)²/N + (L/2)c·a^{2/L} = 2·[(a − √n_k)²/(2N) + (L/2)(c/2)·a^{2/L}]: the true problem with
    c/2, i.e. λ_H/2^L, and twice its value.  It changes the loss even where every class collapses
    (n = 200, 100, 50, 50 at M = 2: loss 1 instead of 1/2), so some control applies at every instance."""
    L = p["M"] + 1
    g = th.dln_formulas(p["n"], p["M"], exact(p["lambda_W"]), exact(p["lambda_H"]) / 2**L)
    return {**g, "loss": 2 * g["loss"]}


INIT = 1.0        # random-start scale: unit-size starts reach the global basin more often than 0.5 (measured)
GRAD_TOL = 1e-8   # largest gradient entry accepted as converged, both routes


def _basin(best: float, f_star: float) -> str:
    """A note when the best start stopped above the predicted global optimum (a bad basin), or
    below it (the predicted configuration is then not the global optimum at these parameters)."""
    if best < f_star * (1 - 1e-6) - 1e-12:
        return (f"; the optimizers found a LOWER value than predicted (f = {best:.8g} < f* = {f_star:.8g}): the "
                f"predicted configuration is not the global optimum at these parameters")
    if best <= f_star * (1 + 1e-6) + 1e-12:
        return ""
    return (f"; every start stopped in a basin above the global optimum (best f = {best:.8g} > f* = {f_star:.8g}): "
            f"a rank-deficient local minimum, reported as such")


@register
class DeepLinearImbalanced(Claim):
    id = "dln.mse.imbalanced"
    title = "Deep linear UFM, MSE, imbalanced classes: a general orthogonal frame with per-class closed forms"
    summary = ("deep linear MSE UFM, imbalanced: per-class p_k, ‖w_k‖², ‖h̄_k‖² from min_a (a−√n_k)²/(2N) + "
               "(L/2)c·a^{2/L}; M = 1: p_k = (1 − N√(λ_Wλ_H/n_k))₊, collapse iff n_k ≤ N²λ_Wλ_H; M ≥ 2: a discontinuous jump to 0")
    summary_source = "Dang et al. 2023"
    statement = (r"\min\ \tfrac{1}{2N}\|W_M\cdots W_1H-Y\|_F^2+\tfrac{\lambda_W}{2}\sum_l\|W_l\|_F^2+\tfrac{\lambda_H}{2}\|H\|_F^2:"
                 r"\ a_k=\arg\min_{a\ge0}\tfrac{(a-\sqrt{n_k})^2}{2N}+\tfrac{L}{2}c\,a^{2/L},\ c=(\lambda_H\lambda_W^M)^{1/L},"
                 r"\ L=M+1;\ p_k=(W_M\cdots W_1\bar H)_{kk}=a_k/\sqrt{n_k};\ M=1:\ p_k=\big(1-N\sqrt{\lambda_W\lambda_H/n_k}\big)_+")
    source = Source("Dang, Tran, Osher, Tran-The, Ho & Nguyen", "Neural collapse in deep linear networks: from "
                    "balanced to imbalanced data", 2023, "imbalanced MSE theorem (statement recalled: general "
                    "orthogonal frame, per-class closed forms); the per-class scalar reduction re-derived here by "
                    "AM-GM and checked against L-BFGS on the full model", arxiv="2301.00437")
    params = (Param("n", tuple, (8, 4, 2, 1), "samples per class, e.g. --set n=200,100,50,50", minimum=1, maximum=100000),
              Param("M", int, 1, "number of weight matrices (depth)", minimum=1, maximum=6),
              Param("d", int, lambda p: len(p["n"]), "width of every layer and of the features (>= K)", minimum=1),
              Param("lambda_W", float, 0.1, "weight decay of every W_l", minimum=0.0),
              Param("lambda_H", float, 0.05, "weight decay of the features", minimum=0.0),
              Param("starts", int, 6, "random starts of each optimizer (depth >= 2 has bad local minima)",
                    minimum=1, maximum=64))
    test_K = ()
    hypotheses = ("MSE, no bias", "every width >= K", "the optimum is a general orthogonal frame (Dang et al.)",
                  "lambda_W equal across the M weight matrices")
    tolerances = {
        "numeric": Tolerance(1e-6, "scipy L-BFGS to a largest gradient entry <= 1e-8: values (quadratic in "
                                   "the parameters) accurate to ~1e-8; collapsed classes decay only linearly near 0"),
        "simulation": Tolerance(1e-6, "torch L-BFGS (strong Wolfe) to a largest gradient entry <= 1e-8, same "
                                      "argument; the best of the random starts, the others reported"),
    }
    negative_controls = (
        NegativeControl("M = 1 collapse threshold n_k <= N lambda_W lambda_H (N instead of N^2)", _threshold_N),
        NegativeControl("||w_k||^2 = u/lambda_H, ||hbar_k||^2 = u/(lambda_W n_k) (decays swapped)", _roles_swapped),
        NegativeControl("p_k = a_k/n_k (the block's sqrt(n_k) forgotten)", _no_sqrt),
        NegativeControl("fit term ||.||^2/N instead of ||.||^2/(2N) (the optimum of c/2, the value doubled)",
                        _fit_unhalved),
    )
    zero_scale = 1.0

    def validate(self, p):
        K = len(p["n"])
        if K < 2:
            raise ParameterError("n", f"{p['n']}: need at least 2 classes")
        if p["d"] < K:
            raise ParameterError("d", f"d={p['d']} < K={K}: a general orthogonal frame needs d >= K")
        for name in ("lambda_W", "lambda_H"):
            if p[name] <= 0:
                raise ParameterError(name, f"{p[name]}: the closed forms need positive weight decay")

    def _args(self, p):
        return p["n"], p["M"], p["lambda_W"], p["lambda_H"]

    def formulas(self, p):
        return th.dln_formulas(*self._args(p))

    def prove(self, p, formulas):
        return th.prove_dln(formulas, *self._args(p))

    def _observed(self, p, product_means, feature_means, layer_sv_sq):
        """Per-class p_k, ‖h̄_k‖², and every layer's squared singular values matched to the classes
        in order of their predicted size (larger class, larger mode)."""
        K = len(p["n"])
        values = {f"p_{k + 1}": float(product_means[k, k]) for k in range(K)}
        values.update({f"h_sq_{k + 1}": float(feature_means[:, k] @ feature_means[:, k]) for k in range(K)})
        predicted = {k: float(v) for k, v in th.dln_formulas(*self._args(p)).items()}
        order = sorted(range(K), key=lambda k: -predicted[f"w_sq_{k + 1}"])
        for rank, k in enumerate(order):
            values[f"w_sq_{k + 1}"] = np.asarray(layer_sv_sq)[:, rank]
        return values

    def numeric(self, p, ctx):
        prob = nd.DeepLinear(p["n"], p["d"], p["M"], p["lambda_W"], p["lambda_H"])
        r = nd.multistart(prob, ctx.rng("numeric"), starts=p["starts"], scale=INIT)
        PH, Hbar = prob.product_means(r["x"])
        Ws, _ = prob.unpack(r["x"])
        sv = np.stack([np.linalg.svd(W, compute_uv=False)[:len(p["n"])] ** 2 for W in Ws])
        values = {"loss": r["f"], **self._observed(p, PH, Hbar, sv)}
        reached = int(np.sum(np.asarray(r["values"]) <= r["f"] + 1e-9 * max(1.0, abs(r["f"]))))
        return Observation(values, {"starts": p["starts"], "best_reached_by": reached, "values": r["values"],
                                    "grad_max": r["grad_max"]},
                           converged=r["grad_max"] <= GRAD_TOL,
                           message=f"scipy L-BFGS, {reached}/{p['starts']} starts at the best value; "
                                   f"largest gradient entry {r['grad_max']:.1e}"
                                   + _basin(r["f"], float(th.dln_formulas(*self._args(p))["loss"])))

    def simulate(self, p, ctx):
        r = sd.train(p["n"], p["d"], p["M"], p["lambda_W"], p["lambda_H"], p["starts"], ctx.seed_for("simulation"),
                     ctx.device, gtol=GRAD_TOL, scale=INIT)
        b = r.best
        values = {"loss": float(r.f[b]), **self._observed(p, r.product_means[b], r.feature_means[b], r.layer_sv_sq[b])}
        reached = int(np.sum(r.f <= r.f[b] + 1e-9 * max(1.0, abs(r.f[b]))))
        basin = _basin(float(r.f[b]), float(th.dln_formulas(*self._args(p))["loss"]))
        return Observation(values, {"starts": p["starts"], "best_reached_by": reached, "values": r.f.tolist(),
                                    "grad_max": float(r.grad_max[b]), "iterations": r.iterations},
                           converged=bool(r.converged[b]),
                           message=f"torch L-BFGS, {reached}/{p['starts']} starts at the best value"
                                   + (" (the others stopped in other basins)" if reached < p["starts"] else "")
                                   + f"; largest gradient entry {r.grad_max[b]:.1e}" + basin)


def _cosines(V: np.ndarray) -> np.ndarray:
    """Pairwise cosines of the columns of V (i < j)."""
    U = V / np.linalg.norm(V, axis=0, keepdims=True)
    G = U.T @ U
    return G[np.triu_indices(G.shape[0], 1)]


def _balanced_bias_dropped(p, f):
    """Without the bias's mean removal: K modes (an orthogonal frame) predicted even with a bias."""
    if not p["bias"]:
        return f
    g = th.dln_balanced_formulas(p["K"], p["n"], p["M"], p["lambda_W"], p["lambda_H"], False)
    return {**f, "loss": g["loss"], "diag": g["diag"], "offdiag": g["offdiag"], "h_sq": g["h_sq"]}


def _cosine_wrong(p, f):
    """Cosines -1/K instead of -1/(K-1) (with a bias) or -1/K instead of 0 (without)."""
    if "cos_h" not in f:
        return f
    return {**f, "cos_h": sp.Rational(-1, p["K"]), "cos_w": sp.Rational(-1, p["K"])}


def _mode_exponent(p, f):
    """Squared singular values u/lambda_W with u = (a^2 lambda_H lambda_W^M)^(1/M) (H's factor forgotten)."""
    M = p["M"]
    lw, lh = exact(p["lambda_W"]), exact(p["lambda_H"])
    a = th.class_optimum(p["n"], p["K"] * p["n"], M, p["lambda_W"], p["lambda_H"])["a"]
    return {**f, "w_sq": (a**2 * lh * lw**M) ** sp.Rational(1, M) / lw}


@register
class DeepLinearBalanced(Claim):
    id = "dln.mse.balanced"
    title = "Deep linear UFM, MSE, balanced classes: an orthogonal frame without bias, a simplex ETF with a last-layer bias"
    summary = ("deep linear MSE UFM, balanced: orthogonal frame at every layer without bias; with an unregularized "
               "last-layer bias b = 1/K and a simplex ETF (cosines −1/(K−1)) of class means and classifier rows")
    summary_source = "Dang et al. 2023"
    statement = (r"\min\ \tfrac{1}{2N}\|W_M\cdots W_1H+b\mathbf 1^\top-Y\|_F^2+\tfrac{\lambda_W}{2}\sum_l\|W_l\|_F^2+"
                 r"\tfrac{\lambda_H}{2}\|H\|_F^2:\ W_M\cdots W_1\bar H=p\,(I-\tfrac{J}{K}),\ b=\tfrac1K\mathbf 1,\ "
                 r"\cos(\bar h_k,\bar h_l)=\cos(w_k,w_l)=-\tfrac{1}{K-1};\ \text{no bias: }p\,I,\ \text{cosines }0")
    source = Source("Dang, Tran, Osher, Tran-The, Ho & Nguyen", "Neural collapse in deep linear networks: from "
                    "balanced to imbalanced data", 2023, "balanced MSE theorems (recalled: OF without bias, ETF with "
                    "a last-layer bias); the mode reduction and b = 1/K re-derived here", arxiv="2301.00437")
    params = (Param("K", int, 4, "classes", minimum=2, maximum=64),
              Param("n", int, 5, "samples per class", minimum=1, maximum=10000),
              Param("M", int, 1, "number of weight matrices (depth)", minimum=1, maximum=6),
              Param("d", int, lambda p: p["K"], "width of every layer and of the features (>= K)", minimum=1),
              Param("lambda_W", float, 0.03, "weight decay of every W_l", minimum=0.0),
              Param("lambda_H", float, 0.03, "weight decay of the features", minimum=0.0),
              Param("bias", int, 1, "1: an unregularized last-layer bias; 0: none", minimum=0, maximum=1),
              Param("starts", int, 6, "random starts of each optimizer", minimum=1, maximum=64))
    test_K = (2, 3)
    hypotheses = ("MSE; the bias, when present, is not regularized", "every width >= K",
                  "balanced classes", "lambda_W equal across layers")
    tolerances = DeepLinearImbalanced.tolerances
    negative_controls = (
        NegativeControl("with a bias, the K-mode orthogonal-frame solution (the mean not removed)", _balanced_bias_dropped),
        NegativeControl("cosines -1/K", _cosine_wrong),
        NegativeControl("singular values with exponent 1/M (H's factor forgotten)", _mode_exponent),
    )

    def validate(self, p):
        if p["d"] < p["K"]:
            raise ParameterError("d", f"d={p['d']} < K={p['K']}: the frame needs d >= K")
        for name in ("lambda_W", "lambda_H"):
            if p[name] <= 0:
                raise ParameterError(name, f"{p[name]}: the closed forms need positive weight decay")

    def _args(self, p):
        return p["K"], p["n"], p["M"], p["lambda_W"], p["lambda_H"], bool(p["bias"])

    def formulas(self, p):
        return th.dln_balanced_formulas(*self._args(p))

    def prove(self, p, formulas):
        return th.prove_dln_balanced(formulas, *self._args(p))

    def _observed(self, p, loss, PH, Hbar, sv, W_last, b):
        K, modes = p["K"], p["K"] - 1 if p["bias"] else p["K"]
        off = ~np.eye(K, dtype=bool)
        values = {"loss": loss, "diag": np.diag(PH), "offdiag": PH[off], "h_sq": (Hbar**2).sum(0),
                  "w_sq": np.asarray(sv)[:, :modes].ravel(), "cos_h": _cosines(Hbar), "cos_w": _cosines(W_last.T)}
        if b is not None:
            values["b"] = np.ravel(b)
        return values

    def numeric(self, p, ctx):
        prob = nd.DeepLinear((p["n"],) * p["K"], p["d"], p["M"], p["lambda_W"], p["lambda_H"], bias=bool(p["bias"]))
        r = nd.multistart(prob, ctx.rng("numeric"), starts=p["starts"], scale=INIT)
        PH, Hbar = prob.product_means(r["x"])
        Ws, _, *b = prob.unpack(r["x"])
        sv = np.stack([np.linalg.svd(W, compute_uv=False)[:p["K"]] ** 2 for W in Ws])
        values = self._observed(p, r["f"], PH, Hbar, sv, Ws[-1], b[0] if b else None)
        reached = int(np.sum(np.asarray(r["values"]) <= r["f"] + 1e-9 * max(1.0, abs(r["f"]))))
        return Observation(values, {"starts": p["starts"], "best_reached_by": reached, "grad_max": r["grad_max"]},
                           converged=r["grad_max"] <= GRAD_TOL,
                           message=f"scipy L-BFGS, {reached}/{p['starts']} starts at the best value; "
                                   f"largest gradient entry {r['grad_max']:.1e}"
                                   + _basin(r["f"], float(th.dln_balanced_formulas(*self._args(p))["loss"])))

    def simulate(self, p, ctx):
        r = sd.train((p["n"],) * p["K"], p["d"], p["M"], p["lambda_W"], p["lambda_H"], p["starts"],
                     ctx.seed_for("simulation"), ctx.device, gtol=GRAD_TOL, bias=bool(p["bias"]), scale=INIT)
        b = r.best
        values = self._observed(p, float(r.f[b]), r.product_means[b], r.feature_means[b], r.layer_sv_sq[b],
                                r.last_layer[b], None if r.bias is None else r.bias[b])
        reached = int(np.sum(r.f <= r.f[b] + 1e-9 * max(1.0, abs(r.f[b]))))
        return Observation(values, {"starts": p["starts"], "best_reached_by": reached, "grad_max": float(r.grad_max[b])},
                           converged=bool(r.converged[b]),
                           message=f"torch L-BFGS, {reached}/{p['starts']} starts at the best value; "
                                   f"largest gradient entry {r.grad_max[b]:.1e}"
                                   + _basin(float(r.f[b]), float(th.dln_balanced_formulas(*self._args(p))["loss"])))


def _ce_margin_wrong(p, f):
    """The margin log(1/eta - K) (the M = 1 closed form with K for K - 1)."""
    if p["M"] != 1 or f["margin"] == 0:
        return f
    eta = sp.sqrt(p["n"] * exact(p["lambda_W"]) * exact(p["lambda_H"]))
    t = sp.log(1 / eta - p["K"])
    return {**f, "margin": t, "loss": th.ce_objective(p["K"], p["n"], 1, p["lambda_W"], p["lambda_H"], t)}


def _ce_penalty_exponent(p, f):
    """Singular values with u = (a^2 lambda_H lambda_W^M)^(1/M) (H's factor forgotten)."""
    if f["margin"] == 0:
        return f
    lw, lh, M = exact(p["lambda_W"]), exact(p["lambda_H"]), p["M"]
    a = f["margin"] * sp.sqrt(p["n"])
    return {**f, "w_sq": (a**2 * lh * lw**M) ** sp.Rational(1, M) / lw}


@register
class DeepLinearCEBalanced(Claim):
    id = "dln.ce.balanced"
    title = "Deep linear UFM, cross-entropy, balanced classes: a simplex ETF at every layer with a closed-form margin"
    summary = ("deep linear CE UFM, balanced: class means and classifier rows a simplex ETF, margin t* = argmin "
               "log(1+(K−1)e^{−t}) + (K−1)(L/2)c(t√n)^{2/L}; M = 1: t* = log(1/η − (K−1)); M ≥ 2: a jump to 0")
    summary_source = "Dang et al. 2023"
    statement = (r"\min\ \tfrac1N\sum_i\mathrm{CE}(W_M\cdots W_1h_i,y_i)+\tfrac{\lambda_W}{2}\sum_l\|W_l\|_F^2+"
                 r"\tfrac{\lambda_H}{2}\|H\|_F^2:\ W_M\cdots W_1\bar H=t^*(I-\tfrac JK),\ t^*=\arg\min_{t\ge0}"
                 r"\log(1+(K-1)e^{-t})+(K-1)\tfrac L2c\,(t\sqrt n)^{2/L},\ c=(\lambda_H\lambda_W^M)^{1/L}")
    source = Source("Dang, Tran, Osher, Tran-The, Ho & Nguyen", "Neural collapse in deep linear networks: from "
                    "balanced to imbalanced data", 2023, "balanced CE theorem (recalled: ETF at every layer); the "
                    "scalar reduction and its certificate re-derived here", arxiv="2301.00437")
    params = (Param("K", int, 3, "classes", minimum=2, maximum=64),
              Param("n", int, 3, "samples per class", minimum=1, maximum=10000),
              Param("M", int, 1, "number of weight matrices (depth)", minimum=1, maximum=6),
              Param("d", int, lambda p: p["K"], "width of every layer and of the features (>= K)", minimum=1),
              Param("lambda_W", float, 0.01, "weight decay of every W_l", minimum=0.0),
              Param("lambda_H", float, 0.01, "weight decay of the features", minimum=0.0),
              Param("starts", int, 4, "random starts of each optimizer", minimum=1, maximum=64))
    test_K = (2, 3)
    hypotheses = ("cross-entropy, no bias", "every width >= K", "balanced classes", "lambda_W equal across layers",
                  "the optimum is symmetric (a simplex ETF; Dang et al.) — reduced to the margin t")
    tolerances = DeepLinearImbalanced.tolerances
    negative_controls = (
        NegativeControl("M = 1 margin log(1/eta - K) instead of log(1/eta - (K-1))", _ce_margin_wrong),
        NegativeControl("singular values with exponent 1/M (H's factor forgotten)", _ce_penalty_exponent),
        NegativeControl("cosines -1/K", _cosine_wrong),
    )

    def validate(self, p):
        if p["d"] < p["K"]:
            raise ParameterError("d", f"d={p['d']} < K={p['K']}: needs d >= K")
        for name in ("lambda_W", "lambda_H"):
            if p[name] <= 0:
                raise ParameterError(name, f"{p[name]}: the closed forms need positive weight decay")

    def _args(self, p):
        return p["K"], p["n"], p["M"], p["lambda_W"], p["lambda_H"]

    def formulas(self, p):
        return th.dln_ce_formulas(*self._args(p))

    def prove(self, p, formulas):
        return th.prove_dln_ce(formulas, *self._args(p))

    def _observed(self, p, loss, Z, Hbar, sv, W_last):
        K, labels = p["K"], np.repeat(np.arange(p["K"]), p["n"])
        own = Z[labels, np.arange(Z.shape[1])]
        rivals = np.where(np.eye(K, dtype=bool)[:, labels], -np.inf, Z).max(axis=0)
        return {"loss": loss, "margin": own - rivals, "w_sq": np.asarray(sv)[:, :K - 1].ravel(),
                "h_sq": (Hbar**2).sum(0), "cos_h": _cosines(Hbar), "cos_w": _cosines(W_last.T)}

    def numeric(self, p, ctx):
        prob = nd.DeepLinear((p["n"],) * p["K"], p["d"], p["M"], p["lambda_W"], p["lambda_H"], loss="ce")
        r = nd.multistart(prob, ctx.rng("numeric"), starts=p["starts"], scale=INIT)
        Ws, H = prob.unpack(r["x"])
        Z = H
        for W in Ws:
            Z = W @ Z
        _, Hbar = prob.product_means(r["x"])
        sv = np.stack([np.linalg.svd(W, compute_uv=False)[:p["K"]] ** 2 for W in Ws])
        values = self._observed(p, r["f"], Z, Hbar, sv, Ws[-1])
        reached = int(np.sum(np.asarray(r["values"]) <= r["f"] + 1e-9 * max(1.0, abs(r["f"]))))
        return Observation(values, {"starts": p["starts"], "best_reached_by": reached, "grad_max": r["grad_max"]},
                           converged=r["grad_max"] <= GRAD_TOL,
                           message=f"scipy L-BFGS, {reached}/{p['starts']} starts at the best value; "
                                   f"largest gradient entry {r['grad_max']:.1e}"
                                   + _basin(r["f"], float(th.dln_ce_formulas(*self._args(p))["loss"])))

    def simulate(self, p, ctx):
        r = sd.train((p["n"],) * p["K"], p["d"], p["M"], p["lambda_W"], p["lambda_H"], p["starts"],
                     ctx.seed_for("simulation"), ctx.device, gtol=GRAD_TOL, scale=INIT, loss="ce")
        b = r.best
        values = self._observed(p, float(r.f[b]), r.logits[b], r.feature_means[b], r.layer_sv_sq[b], r.last_layer[b])
        reached = int(np.sum(r.f <= r.f[b] + 1e-9 * max(1.0, abs(r.f[b]))))
        return Observation(values, {"starts": p["starts"], "best_reached_by": reached, "grad_max": float(r.grad_max[b])},
                           converged=bool(r.converged[b]),
                           message=f"torch L-BFGS, {reached}/{p['starts']} starts at the best value; "
                                   f"largest gradient entry {r.grad_max[b]:.1e}"
                                   + _basin(float(r.f[b]), float(th.dln_ce_formulas(*self._args(p))["loss"])))
