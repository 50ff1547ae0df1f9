"""Deep linear unconstrained features with imbalanced classes (Dang et al. 2023, arXiv 2301.00437).

Objective (MSE, no bias), classes k = 1..K with n_k samples, N = Σ n_k, M weight matrices:
    f = (1/(2N))‖W_M⋯W_1 H − Y‖² + (λ_W/2) Σ_l ‖W_l‖² + (λ_H/2)‖H‖²,   widths ≥ K.
Y's class blocks are orthogonal, and at the optimum every factor is diagonal in one set of
class directions (a general orthogonal frame; Dang et al.'s theorem — cited).  Class k's block
of the product has one singular value a_k; its L = M + 1 factors carry singular values s_l with
Π s_l = a_k (for H the class block's value is ‖h̄_k‖√n_k), and by AM–GM
    min Σ_l (λ_l/2) s_l² subject to Π s_l = a  =  (L/2) c a^{2/L},   c = (λ_H λ_W^M)^{1/L},
attained at λ_l s_l² = u := (a² λ_H λ_W^M)^{1/L} for every factor.  So f* = Σ_k min_{a≥0} g_k(a),
    g_k(a) = (a − √n_k)²/(2N) + (L/2) c a^{2/L}.
* M = 1 (L = 2): g_k is convex, a_k = (√n_k − N c)₊: class k collapses to zero iff n_k ≤ N²λ_Wλ_H;
  p_k = (W H̄)_kk = a_k/√n_k = (1 − N√(λ_Wλ_H/n_k))₊, ‖w_k‖² = u/λ_W, ‖h̄_k‖² = u/(λ_H n_k).
* M ≥ 2: a = 0 is always a local minimum (the penalty's slope is infinite there).  With
  t = a^{1/L} the stationary points a > 0 solve P(t) = t^{2L−2} − √n_k t^{L−2} + N c = 0, which has
  0 or 2 positive roots (Descartes); the larger is the local minimum.  The global one is the
  smaller of g_k(0) = n_k/(2N) and g_k(t_+^L): the jump to zero is discontinuous.
The root is certified by an exact rational bracket 10⁻⁴⁰ wide (sign change − to +).
"""
from __future__ import annotations

import sympy as sp

from theory.proof import Obligation, exact, nonnegative, positive, zero

_a, _t = sp.symbols("a t", positive=True)


def scalar_objective(n_k, N, L, c, a):
    return (a - sp.sqrt(n_k)) ** 2 / (2 * N) + sp.Rational(L, 2) * c * a ** sp.Rational(2, L)


#: Relative half-width of the exact rational brackets that certify a root (10⁻⁴⁰).
BRACKET = sp.Rational(1, 10**40)


def _bracket(root) -> tuple[sp.Rational, sp.Rational]:
    """The exact rational bracket r(1 − 10⁻⁴⁰), r(1 + 10⁻⁴⁰) around a positive root computed to 60 digits
    (r: its decimal digits as a rational); the certificates check the sign change at both ends."""
    r = sp.Rational(str(root))
    return r * (1 - BRACKET), r * (1 + BRACKET)


def _largest_root_bracket(n_k, N, L, c):
    """A rational bracket (lo, hi) around the larger positive root of P, or None if there is none."""
    P = sp.Poly(_t ** (2 * L - 2) - sp.sqrt(n_k) * _t ** (L - 2) + N * c, _t)
    roots = [r for r in P.nroots(n=60, maxsteps=200) if abs(sp.im(r)) < 1e-40 and sp.re(r) > 0]
    if not roots:
        return None
    return _bracket(max(sp.re(x) for x in roots))


def class_optimum(n_k, N, M, lam_W, lam_H) -> dict:
    """The global minimizer a_k of g_k and the data to certify it."""
    L, n_k, N = M + 1, exact(n_k), sp.Integer(N)        # n_k may be a rational (a theory curve)
    lw, lh = exact(lam_W), exact(lam_H)
    c = (lh * lw**M) ** sp.Rational(1, L)
    g = lambda a: scalar_objective(n_k, N, L, c, a)  # noqa: E731
    if M == 1:
        a = sp.Max(sp.sqrt(n_k) - N * c, 0)
        return {"a": sp.simplify(a), "c": c, "L": L, "bracket": None}
    br = _largest_root_bracket(n_k, N, L, c)
    if br is None:
        return {"a": sp.Integer(0), "c": c, "L": L, "bracket": None}
    t_mid = (br[0] + br[1]) / 2
    a_root = t_mid**L
    a = a_root if sp.N(g(0) - g(a_root), 50) > 0 else sp.Integer(0)
    return {"a": a, "c": c, "L": L, "bracket": br, "a_root": a_root}


def dln_formulas(counts, M, lam_W, lam_H) -> dict[str, sp.Expr]:
    """p_k, ‖w‖² per layer on mode k (s_k²), ‖h̄_k‖² for each class, and the optimal loss."""
    N = sum(counts)
    lw, lh = exact(lam_W), exact(lam_H)
    out, loss = {}, sp.Integer(0)
    for k, n_k in enumerate(counts, start=1):
        opt = class_optimum(n_k, N, M, lam_W, lam_H)
        a, L = opt["a"], opt["L"]
        u = (a**2 * lh * lw**M) ** sp.Rational(1, L)
        out[f"p_{k}"] = a / sp.sqrt(n_k)
        out[f"w_sq_{k}"] = u / lw
        out[f"h_sq_{k}"] = u / (lh * n_k)
        loss += scalar_objective(sp.Integer(n_k), sp.Integer(N), L, opt["c"], a)
    out["loss"] = loss
    return out


def prove_dln(f, counts, M, lam_W, lam_H) -> list[Obligation]:
    N = sum(counts)
    L = M + 1
    lw, lh = exact(lam_W), exact(lam_H)
    # AM–GM balance for concrete L: λ_l s_l² = u for all factors gives Π s_l = a and the value (L/2) c a^{2/L}.
    lams = [lw] * M + [lh]
    u = (_a**2 * sp.Mul(*lams)) ** sp.Rational(1, L)
    s = [sp.sqrt(u / lam) for lam in lams]
    c = (lh * lw**M) ** sp.Rational(1, L)
    obligations = [
        zero("balanced factors: prod_l s_l = a", sp.simplify(sp.Mul(*s) - _a)),
        zero("balanced factors: sum_l (lambda_l/2) s_l^2 = (L/2) c a^(2/L)",
             sp.simplify(sum(lam * x**2 for lam, x in zip(lams, s)) / 2 - sp.Rational(L, 2) * c * _a ** sp.Rational(2, L))),
    ]
    total = sp.Integer(0)
    for k, n_k in enumerate(counts, start=1):
        opt = class_optimum(n_k, N, M, lam_W, lam_H)
        a, nk = opt["a"], sp.Integer(n_k)
        g = lambda x: scalar_objective(nk, sp.Integer(N), L, c, x)  # noqa: E731
        obligations += certify_optimum(f"class {k}", nk, N, M, lam_W, lam_H)
        u = (a**2 * lh * lw**M) ** sp.Rational(1, L)
        obligations += [zero(f"class {k}: p_k = a_k/sqrt(n_k)", sp.simplify(f[f"p_{k}"] - a / sp.sqrt(nk))),
                        zero(f"class {k}: each W_l has s_k^2 = u/lambda_W", sp.simplify(f[f"w_sq_{k}"] - u / lw)),
                        zero(f"class {k}: ||hbar_k||^2 = u/(lambda_H n_k)", sp.simplify(f[f"h_sq_{k}"] - u / (lh * nk)))]
        total += g(a)
    obligations.append(zero("loss = sum over classes of min_a g_k(a)", sp.simplify(f["loss"] - total)))
    return obligations


def _min_point(n_k, L):
    """argmin over t > 0 of P(t) − Nc (where P' = 0): t^L = √n_k (L−2)/(2L−2), exact."""
    return (sp.sqrt(n_k) * sp.Rational(L - 2, 2 * L - 2)) ** sp.Rational(1, L)


# --------------------------------------------------------------------------- dln.mse.balanced
def dln_balanced_formulas(K, n, M, lam_W, lam_H, bias: bool) -> dict[str, sp.Expr]:
    """Balanced classes (n each, N = K n).  Without bias the target Y has K modes of singular value
    √n: an orthogonal frame, (W_M⋯W_1 H̄) = p I.  With an unregularized last-layer bias the optimal
    b = (Y − W⋯H)1/N removes the mean, the target becomes (I − J/K)Y with K − 1 modes of value √n,
    and the optimum is a simplex ETF: W_M⋯W_1 H̄ = p (I − J/K), b = 1/K, cosines −1/(K − 1)."""
    N, L = K * n, M + 1
    lw, lh = exact(lam_W), exact(lam_H)
    opt = class_optimum(n, N, M, lam_W, lam_H)
    a = opt["a"]
    u = (a**2 * lh * lw**M) ** sp.Rational(1, L)
    p = a / sp.sqrt(n)
    modes = K - 1 if bias else K
    g = scalar_objective(exact(n), sp.Integer(N), L, opt["c"], a)
    out = {"loss": modes * g, "w_sq": u / lw}
    if bias:
        out.update(diag=p * sp.Rational(K - 1, K), offdiag=-p / K, b=sp.Rational(1, K),
                   h_sq=sp.Rational(K - 1, K) * u / (lh * n))
        if a != 0:
            out.update(cos_h=sp.Rational(-1, K - 1), cos_w=sp.Rational(-1, K - 1))
    else:
        out.update(diag=p, offdiag=sp.Integer(0), h_sq=u / (lh * n))
        if a != 0:
            out.update(cos_h=sp.Integer(0), cos_w=sp.Integer(0))
    return out


def prove_dln_balanced(f, K, n, M, lam_W, lam_H, bias: bool) -> list[Obligation]:
    """The per-mode optimum (as in prove_dln), the mode count, and the bias / Gram structure."""
    N = K * n
    obligations = certify_optimum("each mode", n, N, M, lam_W, lam_H)
    lw, lh = exact(lam_W), exact(lam_H)
    opt = class_optimum(n, N, M, lam_W, lam_H)
    a, L = opt["a"], M + 1
    u = (a**2 * lh * lw**M) ** sp.Rational(1, L)
    p = a / sp.sqrt(n)
    g = scalar_objective(exact(n), sp.Integer(N), L, opt["c"], a)
    modes = K - 1 if bias else K
    obligations.append(zero(f"loss = {modes} modes x min_a g(a)", sp.simplify(f["loss"] - modes * g)))
    obligations.append(zero("every W_l has squared singular value u/lambda_W on each mode", sp.simplify(f["w_sq"] - u / lw)))
    if bias:
        # b = (Y - P H)1/N with P H = p (I - J/K) Y: (I - J/K) Y 1 = n (I - J/K) 1 = 0, Y 1 = n 1.
        Jk = sp.ones(K, K) / K
        PH1 = p * (sp.eye(K) - Jk) * sp.ones(K, 1) * n
        b = (sp.ones(K, 1) * n - PH1) / N
        G = sp.eye(K) - Jk                              # the Gram of class means and of classifier rows, up to scale
        obligations += [
            zero("b = (Y - PH)1/N = 1/K", sum(sp.simplify(x - f["b"]) ** 2 for x in b)),
            zero("diag of p (I - J/K)", sp.simplify(f["diag"] - p * G[0, 0])),
            zero("off-diagonal of p (I - J/K)", sp.simplify(f["offdiag"] - p * G[0, 1])),
            zero("||hbar_k||^2 = (1 - 1/K) u/(lambda_H n) (the K-1 modes span 1-perp)",
                 sp.simplify(f["h_sq"] - G[0, 0] * u / (lh * n))),
        ]
        if "cos_h" in f:
            obligations += [zero("class means: cosine G_12/G_11 = -1/(K-1) (simplex ETF)",
                                 sp.simplify(f["cos_h"] - G[0, 1] / G[0, 0])),
                             zero("classifier rows: the same Gram, cosine -1/(K-1)",
                                  sp.simplify(f["cos_w"] - G[0, 1] / G[0, 0]))]
    else:
        obligations += [zero("diag p = a/sqrt(n)", sp.simplify(f["diag"] - p)),
                        zero("orthogonal frame: off-diagonal 0", f["offdiag"]),
                        zero("||hbar_k||^2 = u/(lambda_H n)", sp.simplify(f["h_sq"] - u / (lh * n)))]
        if "cos_h" in f:
            obligations += [zero("orthogonal class means", f["cos_h"]), zero("orthogonal classifier rows", f["cos_w"])]
    return obligations


def certify_optimum(label: str, n_k, N, M, lam_W, lam_H) -> list[Obligation]:
    """Obligations that class_optimum's a is the global minimizer of g over a >= 0."""
    L = M + 1
    opt = class_optimum(n_k, N, M, lam_W, lam_H)
    c, a, nn = opt["c"], opt["a"], exact(n_k)
    g = lambda x: scalar_objective(nn, sp.Integer(N), L, c, x)  # noqa: E731
    if M == 1:
        dg = sp.diff(g(_a), _a)
        convex = positive(f"{label}: g convex (g'' = 1/N)", sp.diff(g(_a), _a, 2))
        if a != 0:
            return [zero(f"{label}: g'(a) = 0 at a = sqrt(n) - N c", sp.simplify(dg.subs(_a, a))),
                    positive(f"{label}: active, sqrt(n) > N c (n > N^2 lambda_W lambda_H)", a), convex]
        return [nonnegative(f"{label}: g'(0+) = c - sqrt(n)/N >= 0: collapsed (n <= N^2 lambda_W lambda_H)",
                            sp.simplify(c - sp.sqrt(nn) / N)), convex]
    P = _t ** (2 * L - 2) - sp.sqrt(nn) * _t ** (L - 2) + N * c
    if opt["bracket"] is None:
        # P'(t) = t^(L-3) ((2L-2) t^L - sqrt(n)(L-2)) changes sign once, at t_min: P(t_min) is P's minimum on t > 0.
        # g'(a) = t^(2-L) P(t)/N at a = t^L, so P >= 0 makes g increasing (P = 0 at t_min alone, a double root,
        # as for n = 4, N = 15, M = 2, λ_W = 0.1, λ_H = 0.05): a = 0 is the unique minimizer either way
        t_min = _min_point(nn, L)
        return [zero(f"{label}: P'(t_min) = 0, t_min^L = sqrt(n)(L-2)/(2L-2) (P's only stationary point, its minimum)",
                     sp.simplify(sp.diff(P, _t).subs(_t, t_min))),
                zero(f"{label}: g'(t^L) = t^(2-L) P(t)/N",
                     sp.simplify(sp.diff(g(_a), _a).subs(_a, _t**L) - _t ** (2 - L) * P / N)),
                nonnegative(f"{label}: P(t_min) >= 0: P >= 0 on t > 0 (zero at t_min at most), g increasing, a = 0",
                            P.subs(_t, t_min)),
                zero(f"{label}: a = 0", a)]
    lo, hi = opt["bracket"]
    t_root = opt["a_root"] ** sp.Rational(1, L)          # the interior candidate a_root = t_root^L
    better = g(0) - g(opt["a_root"])
    out = [positive(f"{label}: P(t_lo) < 0 (the larger root, bracketed)", -P.subs(_t, lo)),
           positive(f"{label}: P(t_hi) > 0", P.subs(_t, hi)),
           positive(f"{label}: the interior candidate's t = a_root^(1/L) > t_lo", t_root - lo),
           positive(f"{label}: the interior candidate's t < t_hi", hi - t_root)]
    if a != 0:
        return out + [zero(f"{label}: a = the interior candidate", a - opt["a_root"]),
                      positive(f"{label}: the interior minimum beats a = 0", better)]
    return out + [positive(f"{label}: a = 0 beats the interior minimum (the jump)", -better)]


# --------------------------------------------------------------------------- dln.ce.balanced
_tt = sp.Symbol("t", positive=True)


def ce_objective(K, n, M, lam_W, lam_H, t):
    """f(t) = log(1 + (K−1)e^{−t}) + (K−1)(L/2) c (t√n)^{2/L}: the collapsed deep CE objective with
    class-mean logits t(I − J/K) (margin t), K − 1 modes of singular value t√n, c = (λ_Hλ_W^M)^{1/L}."""
    L = M + 1
    c = (exact(lam_H) * exact(lam_W) ** M) ** sp.Rational(1, L)
    return sp.log(1 + (K - 1) * sp.exp(-t)) + (K - 1) * sp.Rational(L, 2) * c * (t * sp.sqrt(n)) ** sp.Rational(2, L)


def ce_margin(K, n, M, lam_W, lam_H) -> dict:
    """The global minimizer t* ≥ 0 of ce_objective and its certificate data.  M = 1: closed form
    t* = log(1/η − (K − 1)), η = √(nλ_Wλ_H), when Kη < 1, else t* = 0.  M ≥ 2: the larger
    root of f' (f' > 0 near 0 and at ∞; log of t^α e^{−t}/(1+(K−1)e^{−t}) is concave, so f' has at
    most two positive roots), bracketed exactly; compared with f(0) = log K."""
    f = ce_objective(K, n, M, lam_W, lam_H, _tt)
    if M == 1:
        eta = sp.sqrt(n * exact(lam_W) * exact(lam_H))
        t = sp.log(1 / eta - (K - 1)) if K * eta < 1 else sp.Integer(0)
        return {"t": t, "bracket": None, "f": f}
    df = sp.diff(f, _tt)
    g = lambda v: df.subs(_tt, v).evalf(60)  # noqa: E731
    grid = [sp.Float(10, 60) ** sp.Rational(k, 8) for k in range(-40, 25)]
    values = [g(v) for v in grid]
    signs = [(a, b) for a, b, ga, gb in zip(grid, grid[1:], values, values[1:]) if ga < 0 <= gb]
    if not signs:
        return {"t": sp.Integer(0), "bracket": None, "f": f}
    lo, hi = _bracket(sp.nsolve(df, _tt, signs[-1], solver="anderson", prec=60))
    r = (lo + hi) / 2
    better = sp.N(f.subs(_tt, 0) - f.subs(_tt, r), 50) > 0
    return {"t": r if better else sp.Integer(0), "bracket": (lo, hi), "root": r, "f": f}


def _ce_peak_bracket(K, L):
    """M >= 2: a rational bracket around the maximizer s* of h(s) = s^α e^{−s}/(1 + (K−1)e^{−s}),
    α = (L−2)/L, the root of (log h)'(s) = α/s − 1/(1 + (K−1)e^{−s}); (log h)' decreases (log h is
    concave), from > 0 at s = α to < 0 at s = Kα (1 + (K−1)e^{−Kα} < K)."""
    alpha, s = sp.Rational(L - 2, L), sp.Symbol("s", positive=True)
    dlogh = alpha / s - 1 / (1 + (K - 1) * sp.exp(-s))
    return _bracket(sp.nsolve(dlogh, s, (alpha, K * alpha), solver="anderson", prec=60))


def dln_ce_formulas(K, n, M, lam_W, lam_H) -> dict[str, sp.Expr]:
    L = M + 1
    lw, lh = exact(lam_W), exact(lam_H)
    opt = ce_margin(K, n, M, lam_W, lam_H)
    t = opt["t"]
    u = ((t * sp.sqrt(n)) ** 2 * lh * lw**M) ** sp.Rational(1, L)
    out = {"loss": ce_objective(K, n, M, lam_W, lam_H, t), "margin": t, "w_sq": u / lw,
           "h_sq": sp.Rational(K - 1, K) * u / (lh * n)}
    if t != 0:
        out.update(cos_h=sp.Rational(-1, K - 1), cos_w=sp.Rational(-1, K - 1))
    return out


def prove_dln_ce(f, K, n, M, lam_W, lam_H) -> list[Obligation]:
    L = M + 1
    lw, lh = exact(lam_W), exact(lam_H)
    opt = ce_margin(K, n, M, lam_W, lam_H)
    t, fo = opt["t"], opt["f"]
    df = sp.diff(fo, _tt)
    obligations = []
    if M == 1:
        if t != 0:
            obligations += [zero("f'(t*) = 0 at t* = log(1/eta - (K-1))", sp.simplify(df.subs(_tt, t))),
                            positive("K eta < 1: t* > 0", t)]
        else:
            obligations.append(nonnegative("K eta >= 1: f'(0+) = -(K-1)/K + (K-1) eta >= 0, so t* = 0",
                                           sp.simplify(df.subs(_tt, 0))))
        obligations.append(positive("f'' > 0 for M = 1 (the log term is convex, the penalty linear)",
                                    sp.simplify(sp.diff(fo, _tt, 2))))
    else:
        a, s_ = sp.Rational(L - 2, L), sp.Symbol("s", positive=True)
        logh = a * sp.log(s_) - s_ - sp.log(1 + (K - 1) * sp.exp(-s_))
        obligations.append(positive("log(t^a e^-t/(1+(K-1)e^-t)) is strictly concave: f' has at most two positive roots",
                                    -sp.simplify(sp.diff(logh, s_, 2))))
        if opt["bracket"] is not None:
            lo, hi = opt["bracket"]
            gap = fo.subs(_tt, 0) - fo.subs(_tt, opt["root"])
            obligations += [positive("f'(t_lo) < 0 (the larger root, bracketed)", -df.subs(_tt, lo)),
                            positive("f'(t_hi) > 0", df.subs(_tt, hi)),
                            positive("the interior candidate lies in the bracket: root > t_lo", opt["root"] - lo),
                            positive("root < t_hi", hi - opt["root"])]
            obligations += ([zero("t* = the interior candidate", t - opt["root"]),
                             positive("the interior minimum beats t = 0", gap)] if t != 0
                            else [positive("t = 0 beats the interior minimum (the jump)", -gap)])
        else:
            # f'(t) = (K-1) (A t^(2/L-1) - e^-t/(1+(K-1)e^-t)), A = c n^(1/L): f' > 0 on t > 0 iff A > max h,
            # h(t) = t^a e^-t/(1+(K-1)e^-t); its maximizer s* lies in [s_lo, s_hi] (log h concave, its
            # derivative + at s_lo and - at s_hi), where h(s*) <= s_hi^a e^-s_lo / (1+(K-1)e^-s_hi)
            c = (lh * lw**M) ** sp.Rational(1, L)
            A = c * sp.Integer(n) ** sp.Rational(1, L)
            h = lambda v: v ** a / (sp.exp(v) + K - 1)  # noqa: E731
            s_lo, s_hi = _ce_peak_bracket(K, L)
            dlogh = sp.diff(logh, s_)
            obligations += [
                zero("f' = (K-1)(A t^(2/L-1) - h(t)/t^a), A = c n^(1/L)",
                     sp.simplify(df - (K - 1) * (A * _tt ** (sp.Rational(2, L) - 1) - h(_tt) / _tt**a))),
                positive("(log h)'(s_lo) > 0", dlogh.subs(s_, s_lo)),
                positive("(log h)'(s_hi) < 0: the maximizer of h is in [s_lo, s_hi]", -dlogh.subs(s_, s_hi)),
                positive("no sign change: A > s_hi^a e^-s_lo/(1+(K-1)e^-s_hi) >= max h, so f' > 0 and t* = 0",
                         A - s_hi**a / (sp.exp(s_lo) + (K - 1) * sp.exp(s_lo - s_hi))),
                zero("t* = 0", t)]
    u = ((t * sp.sqrt(n)) ** 2 * lh * lw**M) ** sp.Rational(1, L)
    obligations += [
        zero("loss = f(t*)", sp.simplify(f["loss"] - fo.subs(_tt, t))),
        zero("margin = t*", sp.simplify(f["margin"] - t)),
        zero("every W_l: squared singular value u/lambda_W on the K-1 modes", sp.simplify(f["w_sq"] - u / lw)),
        zero("||hbar_k||^2 = (1 - 1/K) u/(lambda_H n)", sp.simplify(f["h_sq"] - sp.Rational(K - 1, K) * u / (lh * n))),
    ]
    if "cos_h" in f:
        obligations += [zero("simplex ETF: cosines -1/(K-1)", f["cos_h"] + sp.Rational(1, K - 1)),
                        zero("classifier rows: cosines -1/(K-1)", f["cos_w"] + sp.Rational(1, K - 1))]
    return obligations
