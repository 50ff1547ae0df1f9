"""Mixup features against a fixed simplex-ETF classifier (THEORY.md §7), exactly.

Objective, per mixed example of classes c != c' with weight λ (Fisher, Meng & Papyan 2024,
their UFM with the classifier fixed to a simplex ETF)::

    f(h) = CE(W h, y_λ) + (β/2)‖h‖²,   W = s·Mᵀ (rows w_k = s·m_k),   y_λ = λe_c + (1−λ)e_c',
    CE(z, y) = −Σ_k y_k log softmax(z)_k,

M the K-class simplex ETF (unit columns, Gram G = K/(K−1)(I − J/K)).  f is β-strongly
convex, so its unique minimizer h* is pinned down by any point with a small gradient:
‖h − h*‖ <= ‖∇f(h)‖/β.

Reduction [derived here]: ∇f = W^T(p − y) + βh = 0 gives h = (s/β)Σ_k (y_k − p_k)m_k and
logits z = κ(y − p(z)), κ = s²K/(β(K−1)).  For k outside {c, c'}: z_k + κe^{z_k}/Z = 0 with
the left side increasing in z_k, so all those logits are equal; Σ_k m_k = 0 then puts h in
span{w_c, w_c'}: h* = a·w_c + b·w_c'.  With x = a e_c + b e_c': z = s²Gx, and stationarity
is p − y + βx ∈ span{1}, i.e. two equations in (a, b) (``equations``).  Differentiating
z = κ(y − p) in λ: (I + κJ_p) dz/dλ = κ(e_c − e_c'), J_p = diag p − ppᵀ ⪰ 0, so
d(z_c − z_c')/dλ = κ vᵀ(I + κJ_p)⁻¹v > 0 (v = e_c − e_c'): the gap is increasing in λ.
No elementary closed form: (a, b) solve a transcendental system (even the same-class
coefficient solves q(e^{κKq} + K − 1) = 1), so they are found by Newton at 60 digits and
certified by the strong-convexity bound.  At λ = ½ the swap c ↔ c' maps the problem to itself,
so a = b and z_c = z_c' (the decision boundary).
"""
from __future__ import annotations

import math
from functools import lru_cache

import sympy as sp

from theory.proof import Obligation, exact, nonnegative, positive, zero

#: Digits of the Newton polish; certified coefficients are rounded to DIGITS − 10 digits.
DIGITS = 60
#: Certificate: ‖∇f(h)‖ <= β·CERT_EPS proves ‖h − h*‖ <= CERT_EPS.
CERT_EPS = sp.Rational(1, 10**30)
#: The points other than λ at which the claim is checked.
HALF, THIRD = sp.Rational(1, 2), sp.Rational(1, 3)


def kappa(K, s, beta) -> sp.Expr:
    K, s, beta = exact(K), exact(s), exact(beta)
    return s**2 * K / (beta * (K - 1))


def _gram(K: int) -> sp.Matrix:
    return sp.Rational(K, K - 1) * (sp.eye(K) - sp.ones(K, K) / K)


def _target(K: int, lam, same: bool) -> sp.Matrix:
    y = sp.zeros(K, 1)
    if same:
        y[0] = 1
    else:
        y[0], y[1] = lam, 1 - lam
    return y


def _softmax(z: sp.Matrix) -> sp.Matrix:
    e = z.applyfunc(sp.exp)
    return e / sum(e)


def point(K: int, s, a, b):
    """x, logits z = s²Gx and the feature's coordinates for h = a·w_0 + b·w_1."""
    x = sp.zeros(K, 1)
    x[0], x[1] = a, b
    return x, exact(s) ** 2 * _gram(K) * x


def gradient_norm_sq(K: int, s, beta, lam, a, b, same: bool = False) -> sp.Expr:
    """‖∇f(h)‖² at h = a·w_0 + b·w_1: ∇f = sM(p − y + βx), so ‖∇f‖² = s² rᵀGr, r = p − y + βx."""
    s, beta = exact(s), exact(beta)
    x, z = point(K, s, a, b)
    r = _softmax(z) - _target(K, exact(lam), same) + beta * x
    return s**2 * (r.T * _gram(K) * r)[0]


def _float_newton(K, s, beta, lam, same):
    """Damped Newton in floats on the reduced convex objective (a start for the polish)."""
    s, beta, lam = float(s), float(beta), float(lam)
    c = s * s * K / (K - 1)

    def F(v):
        a, b = (v[0], 0.0) if same else v
        zc, zd, zo = c * (a - (a + b) / K), c * (b - (a + b) / K), -c * (a + b) / K
        mx = max(zc, zd, zo)
        lse = mx + math.log(math.exp(zc - mx) + math.exp(zd - mx) + (K - 2) * math.exp(zo - mx))
        ya, yb = (1.0, 0.0) if same else (lam, 1 - lam)
        ce = lse - ya * zc - yb * zd
        return ce + beta / 2 * s * s * (a * a + b * b - 2 * a * b / (K - 1))

    n = 1 if same else 2
    v = [0.0] * n
    h = 1e-5
    for _ in range(200):
        g = [(F([v[j] + (h if j == i else 0) for j in range(n)]) - F([v[j] - (h if j == i else 0) for j in range(n)]))
             / (2 * h) for i in range(n)]
        if max(abs(t) for t in g) < 1e-9:
            break
        H = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                ei = [h if k == i else 0 for k in range(n)]
                ej = [h if k == j else 0 for k in range(n)]
                H[i][j] = (F([v[k] + ei[k] + ej[k] for k in range(n)]) - F([v[k] + ei[k] - ej[k] for k in range(n)])
                           - F([v[k] - ei[k] + ej[k] for k in range(n)]) + F([v[k] - ei[k] - ej[k] for k in range(n)])) / (4 * h * h)
        if n == 1:
            step = [g[0] / H[0][0]]
        else:
            det = H[0][0] * H[1][1] - H[0][1] * H[1][0]
            step = [(H[1][1] * g[0] - H[0][1] * g[1]) / det, (H[0][0] * g[1] - H[1][0] * g[0]) / det]
        t, f0 = 1.0, F(v)
        while t > 1e-8 and F([v[i] - t * step[i] for i in range(n)]) > f0 - 1e-4 * t * sum(g[i] * step[i] for i in range(n)):
            t /= 2
        v = [v[i] - t * step[i] for i in range(n)]
    return v


def equations(K: int, s, beta, lam, a, b, same: bool = False) -> list[sp.Expr]:
    """Stationarity in (a, b): p − y + βx = t·1 with t = β(a + b)/K, read at classes 0 and 1."""
    beta = exact(beta)
    x, z = point(K, s, a, b)
    r = _softmax(z) - _target(K, exact(lam), same) + beta * x
    t = beta * (x[0] + x[1]) / K
    return [r[0] - t] if same else [r[0] - t, r[1] - t]


@lru_cache(maxsize=256)
def solve(K: int, s, beta, lam, kind: str = "mixed") -> tuple[sp.Rational, sp.Rational]:
    """Coefficients (a, b) of h* = a·w_0 + b·w_1, to DIGITS − 10 digits, as exact decimals.

    kind: "mixed" (classes 0, 1 with weight lam), "half" (λ = ½, solved on the symmetric
    line a = b), "same" (class 0 mixed with itself: b = 0, any λ).
    """
    s, beta, lam = exact(s), exact(beta), exact(lam)
    A, B = sp.symbols("a b", real=True)
    same = kind == "same"
    if kind == "half":
        eq = equations(K, s, beta, HALF, A, A)[:1]
        start = _float_newton(K, s, beta, HALF, False)[:1]
        unknowns = [A]
    elif same:
        eq, start, unknowns = equations(K, s, beta, 1, A, 0, True), _float_newton(K, s, beta, 1, True), [A]
    else:
        eq, start, unknowns = equations(K, s, beta, lam, A, B), _float_newton(K, s, beta, lam, False), [A, B]
    root = sp.nsolve(eq if len(eq) > 1 else eq[0], unknowns if len(unknowns) > 1 else unknowns[0],
                     start if len(start) > 1 else start[0], prec=DIGITS)
    vals = list(root) if isinstance(root, sp.MatrixBase) else [root]
    rat = [sp.Rational(sp.Float(v, DIGITS).__format__(f".{DIGITS - 10}e")) for v in vals]
    if kind == "half":
        return rat[0], rat[0]
    if same:
        return rat[0], sp.Integer(0)
    return rat[0], rat[1]


def gap_of(K, s, a, b) -> sp.Expr:
    """z_c − z_c' = s²K/(K−1)·(a − b) at h = a·w_c + b·w_c'."""
    return exact(s) ** 2 * sp.Rational(K, K - 1) * (a - b)


def slope_at(K: int, s, beta, a, b) -> sp.Expr:
    """d(z_c − z_c')/dλ = κ vᵀ(I + κJ_p)⁻¹v at the optimum (implicit function theorem)."""
    k = kappa(K, s, beta)
    _, z = point(K, s, a, b)
    p = _softmax(z).evalf(DIGITS)
    Jp = sp.diag(*p) - p * p.T
    v = sp.zeros(K, 1)
    v[0], v[1] = 1, -1
    return (k * (v.T * (sp.eye(K) + k * Jp).LUsolve(v))[0]).evalf(DIGITS)


def _decimal(x) -> sp.Rational:
    return sp.Rational(sp.Float(x, DIGITS).__format__(f".{DIGITS - 10}e"))


def mixup_formulas(K: int, s, beta, lam) -> dict[str, sp.Expr]:
    """Exact decimals (certified to 1e-30 by ``prove_mixup``) of the optimal mixed features."""
    a, b = solve(K, s, beta, lam, "mixed")
    t, _ = solve(K, s, beta, HALF, "half")
    a3, b3 = solve(K, s, beta, THIRD, "mixed")
    u, _ = solve(K, s, beta, 1, "same")
    return {
        "a": a, "b": b,                                  # h*(λ) = a·w_c + b·w_c'
        "gap": gap_of(K, s, a, b),                       # z_c − z_c' at λ
        "others_spread": sp.Integer(0),                  # max − min of the other K − 2 logits
        "out_of_span": sp.Integer(0),                    # ‖h* − proj_{span{w_c, w_c'}} h*‖
        "half_coef": t,                                  # λ = ½: a = b = t
        "gap_half": sp.Integer(0),                       # λ = ½: on the decision boundary
        "a_third": a3, "b_third": b3, "gap_third": gap_of(K, s, a3, b3),
        "same_coef": u,                                  # same-class mix: h* = u·w_c for every λ
        "same_perp": sp.Integer(0),                      # its component orthogonal to w_c
        "gap_slope": _decimal(slope_at(K, s, beta, a, b)),
    }


def _certificate(name, K, s, beta, lam, a, b, same=False) -> Obligation:
    g = sp.sqrt(gradient_norm_sq(K, s, beta, lam, a, b, same)).evalf(DIGITS)
    return positive(f"{name}: ‖∇f(h)‖ <= β·1e-30, so ‖h − h*‖ <= 1e-30 (β-strong convexity)",
                    exact(beta) * CERT_EPS - g)


def prove_mixup(formulas: dict[str, sp.Expr], K: int, s, beta, lam) -> list[Obligation]:
    """Certify the given coefficients as the optimum and derive the claimed structure from them."""
    if K < 3:
        raise ValueError(f"K={K}: the proof needs a class outside {{c, c'}} (K >= 3; for K = 2, w_1 = −w_0)")
    s, beta, lam = exact(s), exact(beta), exact(lam)
    f = formulas
    Z, t = sp.Symbol("Z", positive=True), sp.Symbol("t", real=True)
    G = _gram(K)
    _, z = point(K, s, f["a"], f["b"])
    others = [z[k] for k in range(2, K)]
    # a class outside {c, c'} (K >= 3) at a general h = A·w_c + B·w_c': its stationarity component
    # is p_k − t (y_k = x_k = 0, t = β(A + B)/K), and φ(z_k) = κ·(p_k − t) identically
    A, B = sp.symbols("a b", real=True)
    _, zs = point(K, s, A, B)
    phi = t + kappa(K, s, beta) * sp.exp(t) / Z
    other = 2
    out = [
        positive("β > 0: f = CE∘W + (β/2)‖·‖² is β-strongly convex (CE is convex in z)", beta),
        zero("Σ_k m_k = 0 (1ᵀG1 = 0): the other classes' terms −q·Σ_{k∉{c,c'}} m_k lie in span{m_c, m_c'}",
             (sp.ones(1, K) * G * sp.ones(K, 1))[0]),
        zero("φ(z_k) = z_k + κe^{z_k}/Z equals κ·(p_k − β(a+b)/K) for k ∉ {c, c'} at every h = a·w_c + b·w_c' "
             "(Z = Σ_j e^{z_j}): class k's stationarity equation is φ(z_k) = 0",
             phi.subs({t: zs[other], Z: sum(zs.applyfunc(sp.exp))})
             - kappa(K, s, beta) * (_softmax(zs)[other] - beta * (A + B) / K)),
        positive("φ'(z) > 0: φ is increasing, one root, so the stationary logits of the other classes are equal",
                 sp.diff(phi, t)),
        _certificate(f"λ = {lam}, h = a·w_c + b·w_c'", K, s, beta, lam, f["a"], f["b"]),
        zero("gap = z_c − z_c' = s²K/(K−1)(a − b)", f["gap"] - gap_of(K, s, f["a"], f["b"])),
        zero("others_spread = max − min of the other logits (all −s²(a+b)/(K−1))",
             f["others_spread"] - (sp.Max(*others) - sp.Min(*others))),
        nonnegative("out_of_span <= 1e-30 (the certified point lies in the span)", CERT_EPS - sp.Abs(f["out_of_span"])),
        _certificate("λ = 1/2 on the symmetric line a = b = half_coef", K, s, beta, HALF, f["half_coef"], f["half_coef"]),
        zero("λ = 1/2: gap_half = s²K/(K−1)(t − t) (decision boundary)",
             f["gap_half"] - gap_of(K, s, f["half_coef"], f["half_coef"])),
        _certificate("λ = 1/3", K, s, beta, THIRD, f["a_third"], f["b_third"]),
        zero("gap_third = s²K/(K−1)(a_third − b_third)", f["gap_third"] - gap_of(K, s, f["a_third"], f["b_third"])),
        _certificate("same-class mix: h = same_coef·w_c", K, s, beta, 1, f["same_coef"], 0, True),
        zero("same-class optimum is a multiple of w_c: same_perp = 0", f["same_perp"]),
        positive("gap_slope = κvᵀ(I + κJ_p)⁻¹v at the certified optimum (to 1e-20)",
                 sp.Rational(1, 10**20) - sp.Abs(f["gap_slope"] - slope_at(K, s, beta, f["a"], f["b"]))),
        positive("gap_slope > 0: I + κJ_p ≻ 0, so the gap increases with λ", f["gap_slope"]),
    ]
    return out
