"""Non-contrastive SSL with linear networks (Tian, Chen & Ganguli 2021, arXiv 2102.06810).

Model (THEORY.md §9 ``ssl.directpred``).  Online network W, predictor W_p, target W_a (stop-gradient),
two augmented views x₁, x₂ of x with E[x₁x₁ᵀ] = X + X′, E[x₂x₁ᵀ] = X.  Expected loss
    J = ½ E‖W_p W x₁ − sg(W_a x₂)‖² = ½ tr(W_p W (X+X′) Wᵀ W_pᵀ) − tr(W_p W X W_aᵀ) + const,
gradient flow in time t with unit rate for W, rate α_p for W_p and weight decay η on both:
    Ẇ_p = −α_p ∂J/∂W_p − η W_p,    Ẇ = −∂J/∂W − η W.
The target is the paper's simplification of the EMA, W_a = τ·W (held fixed inside the gradient;
τ = 1 is SimSiam).  Here X = I, X′ = σ²I.  Then (derived below by sympy):
    d/dt (W_pᵀW_p − α_p WWᵀ) = −2η (W_pᵀW_p − α_p WWᵀ)           (any W_a: the balance law),
and on the balanced, aligned ansatz W_p = U diag(p) Uᵀ, W = U diag(p/√α_p) Vᵀ every mode obeys
    ṗ = p²(τ − (1+σ²)p) − ηp = −(1+σ²) p (p − p₋)(p − p₊),
    p_± = [τ ± √(τ² − 4η(1+σ²))] / (2(1+σ²))   (independent of α_p).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.proof import Obligation, exact, positive, zero

P = sp.Symbol("p", real=True)
Q = sp.Symbol("q", real=True)


def _mat(name: str, n: int = 2) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}{i}{j}", real=True))


def expected_loss(Wp, W, Wa, sigma2) -> sp.Expr:
    """J with X = I, X′ = σ²I (constant term dropped)."""
    return (sp.Rational(1, 2) * (1 + sigma2) * (Wp * W * W.T * Wp.T).trace() - (Wp * W * Wa.T).trace())


def matrix_field(Wp, W, tau, sigma2, eta, alpha_p):
    """(Ẇ_p, Ẇ) at (W_p, W), by differentiating J with W_a a separate (stop-gradient) matrix, then W_a = τW."""
    n = W.shape[0]
    Wa = _mat("a", n)
    J = expected_loss(Wp, W, Wa, sigma2)
    gWp = sp.Matrix(n, n, lambda i, j: sp.diff(J, Wp[i, j]))
    gW = sp.Matrix(n, n, lambda i, j: sp.diff(J, W[i, j]))
    sub = {Wa[i, j]: tau * W[i, j] for i in range(n) for j in range(n)}
    return (-alpha_p * gWp.subs(sub) - eta * Wp), (-gW.subs(sub) - eta * W)


def mode_field(tau, sigma2, eta, alpha_p) -> sp.Expr:
    """ṗ of mode 0 from the matrix flow on the two-mode balanced ansatz diag(p, q) (function of P)."""
    Wp_s, W_s = _mat("P"), _mat("W")
    dWp, _ = matrix_field(Wp_s, W_s, tau, sigma2, eta, alpha_p)
    sub = _ansatz_subs(Wp_s, W_s, alpha_p)
    return sp.expand(dWp[0, 0].subs(sub))


def _ansatz_subs(Wp_s, W_s, alpha_p):
    vals_p = {(0, 0): P, (1, 1): Q, (0, 1): 0, (1, 0): 0}
    sub = {Wp_s[i, j]: vals_p[(i, j)] for i in range(2) for j in range(2)}
    sub.update({W_s[i, j]: vals_p[(i, j)] / sp.sqrt(alpha_p) for i in range(2) for j in range(2)})
    return sub


def fixed_points(tau, sigma2, eta):
    root = sp.sqrt(tau**2 - 4 * eta * (1 + sigma2))
    return (tau + root) / (2 * (1 + sigma2)), (tau - root) / (2 * (1 + sigma2))


def threshold(tau, sigma2) -> sp.Expr:
    return tau**2 / (4 * (1 + sigma2))


def regime(tau, sigma2, eta) -> str:
    """'learn' (η < threshold), 'collapse' (η > threshold), 'critical' (equal); symbolic η counts as 'learn'."""
    if any(isinstance(v, sp.Basic) and v.free_symbols for v in (tau, sigma2, eta)):
        return "learn"
    thr, e = threshold(exact(tau), exact(sigma2)), exact(eta)
    return "learn" if e < thr else ("collapse" if e > thr else "critical")


def formulas(tau, sigma2, eta, alpha_p) -> dict[str, sp.Expr]:
    t, s2, e = exact(tau), exact(sigma2), exact(eta)
    f = {"threshold": threshold(t, s2), "balance_rate": 2 * e, "limit_eta0": t / (1 + s2)}
    r = regime(tau, sigma2, eta)
    if r == "learn":
        pp, pm = fixed_points(t, s2, e)
        f.update(p_plus=pp, p_minus=pm, limit_above=pp)
        if e != 0:
            f["limit_below"] = sp.Integer(0)
    elif r == "collapse":
        f["limit_collapsed"] = sp.Integer(0)
    return f


_ETA = sp.Symbol("eta_wd", real=True)


@lru_cache(maxsize=32)
def _derived(t, s2, a):
    """The matrix field (weight decay as a symbol) on generic 2×2 matrices, d/dt C + 2η C, and the per-mode
    field on the ansatz — cached per (tau, sigma2, alpha_p)."""
    Wp_s, W_s = _mat("P"), _mat("W")
    dWp, dW = matrix_field(Wp_s, W_s, t, s2, _ETA, a)
    C = Wp_s.T * Wp_s - a * W_s * W_s.T
    dC = (dWp.T * Wp_s + Wp_s.T * dWp - a * (dW * W_s.T + W_s * dW.T)).applyfunc(sp.expand)
    sub = _ansatz_subs(Wp_s, W_s, a)
    dWp_a, dW_a = dWp.subs(sub).applyfunc(sp.expand), dW.subs(sub).applyfunc(sp.expand)
    return C.applyfunc(sp.expand), dC, dWp_a, dW_a


def prove(f, tau, sigma2, eta, alpha_p) -> list[Obligation]:
    t, s2, e, a = exact(tau), exact(sigma2), exact(eta), exact(alpha_p)
    C_eta, dC_eta, dWp_eta, dW_eta = _derived(t, s2, a)          # weight decay still the symbol _ETA
    C, dC, dWp_a, dW_a = (m.subs(_ETA, e) for m in (C_eta, dC_eta, dWp_eta, dW_eta))
    F, F0 = dWp_a[0, 0], dWp_eta[0, 0].subs(_ETA, 0)
    rate = f["balance_rate"]
    obligations = [
        zero("balance law: d/dt(Wp^T Wp - a_p W W^T) = -rate (Wp^T Wp - a_p W W^T), generic 2x2 (entry 00)",
             sp.expand(dC[0, 0] + rate * C[0, 0])),
        zero("balance law, entry 01 (C is symmetric; entry 11 is entry 00 with the indices relabelled)",
             sp.expand(dC[0, 1] + rate * C[0, 1])),
        zero("the ansatz is invariant: dW_00 = dWp_00/sqrt(a_p) on the balanced manifold",
             sp.expand(dW_a[0, 0] - F / sp.sqrt(a))),
        *[zero(f"modes decouple: {name}[{i}, {j}] = 0 on the ansatz (each off-diagonal entry on its own)", M[i, j])
          for name, M in (("dWp", dWp_a), ("dW", dW_a)) for i, j in ((0, 1), (1, 0))],
        zero("per-mode ODE: dp/dt = p^2 (tau - (1+s2) p) - eta p", sp.expand(F - (P**2 * (t - (1 + s2) * P) - e * P))),
        zero("threshold: the discriminant of p (tau - (1+s2) p) - eta vanishes at eta = threshold",
             t**2 - 4 * f["threshold"] * (1 + s2)),
        zero("eta = 0: limit_eta0 is a non-zero fixed point of the derived per-mode field",
             sp.expand(F0.subs(P, f["limit_eta0"]))),
        positive("eta = 0: limit_eta0 is stable (-F0'(limit_eta0) > 0)", -sp.diff(F0, P).subs(P, f["limit_eta0"])),
    ]
    dF = sp.diff(F, P)
    # the non-zero fixed points are the roots of the derived dp/dt / p, a quadratic in p (no formula enters)
    disc = sp.discriminant(sp.cancel(F / P), P)
    # 0 is a fixed point with F'(0) = -eta: stable iff eta > 0 (stated as the identity plus the sign)
    origin = [zero("F'(0) = -eta", dF.subs(P, 0) + e), positive("0 is stable: eta > 0", e)]
    if "p_plus" in f:
        pp, pm = f["p_plus"], f["p_minus"]
        obligations += [
            zero("factorization: dp/dt = -(1+s2) p (p - p_minus)(p - p_plus)",
                 sp.expand(F + (1 + s2) * P * (P - pm) * (P - pp))),
            zero("limit_above is p_plus", f["limit_above"] - pp),
        ]
        if not e.free_symbols:
            obligations += [positive("p_plus is stable: -F'(p_plus) > 0", -dF.subs(P, pp)),
                            positive("two real non-zero fixed points: the discriminant of dp/dt / p is > 0", disc),
                            zero("p_plus - p_minus = sqrt(discriminant)/(1+s2) > 0 (basin of p_plus is p(0) > p_minus)",
                                 pp - pm - sp.sqrt(disc) / (1 + s2))]
            if e != 0:      # at eta = 0, p_minus = 0 merges with the fixed point 0 (F'(0) = 0: semi-stable)
                obligations += [positive("p_minus is unstable: F'(p_minus) > 0", dF.subs(P, pm)),
                                positive("p_minus > 0", pm), *origin,
                                zero("limit_below is the fixed point 0", f["limit_below"])]
        else:
            obligations += [zero("eta = 0: p_plus = tau/(1+s2)", sp.simplify(pp.subs(e, 0) - f["limit_eta0"])),
                            zero("eta = 0: p_minus = 0", sp.simplify(pm.subs(e, 0)))]
    if "limit_collapsed" in f:
        obligations += [positive("collapse: dp/dt / p has no real root (its discriminant is < 0)", -disc),
                        zero("collapse: -discriminant = 4(1+s2)(eta - threshold), so eta is above the threshold",
                             -disc - 4 * (1 + s2) * (e - f["threshold"])),
                        *origin,
                        zero("limit_collapsed is the fixed point 0", f["limit_collapsed"])]
    return obligations
