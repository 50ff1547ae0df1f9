"""SELI geometry of the bias-free UF-SVM (Thrampoulidis, Kini, Vakilian & Behnia 2022).

Problem (class sizes n_1..n_K, N = Σ n_k, labels y_i, Y = one-hot K×N):
    min_{W,H} ½(‖W‖_F² + ‖H‖_F²)  s.t.  (w_{y_i} − w_c)ᵀ h_i ≥ 1  for all i, c ≠ y_i.
Since ½(‖W‖² + ‖H‖²) ≥ ‖WH‖_* (equality for W = UΛ^{1/2}, H = Λ^{1/2}Vᵀ), its value is that
of min ‖Z‖_* over the same margin constraints.  With P = I − J/K, D = diag(n):
    Ẑ = PY,   ẐẐᵀ = PDP,   S := (PDP)^{1/2} = UΛUᵀ = WWᵀ,   B := (PDP)^{+1/2},
    HᵀH = VΛVᵀ = Ẑᵀ B Ẑ = Yᵀ B Y  (h_i·h_j = B_{y_i y_j}: features collapse to class means
    whose Gram is B).
Optimality certificate (derived here): UVᵀ = BẐ has column i = B e_{y_i}; it equals
Σ_{c≠y_i} μ_ic (e_{y_i} − e_c) with μ_ic = −B_{c,y_i} ≥ 0 because 1ᵀB = 0, so the KKT
conditions hold iff every off-diagonal entry of B is ≤ 0; if all are < 0, every optimum
has all margins active, hence Z = Ẑ + 1sᵀ, and tr√(ẐᵀẐ + s1ᵀ1sᵀ) > tr√(ẐᵀẐ) unless s = 0:
Ẑ is the unique optimum.  Dual value Σ_ic μ_ic = Σ_k n_k B_kk = tr S.
"""
from __future__ import annotations

import functools

import sympy as sp

from theory.proof import Obligation, positive, zero

try:
    from sympy.matrices.exceptions import MatrixError      # sympy >= 1.13
except ImportError:                                          # sympy 1.12
    from sympy.matrices.common import MatrixError

#: digits of the high-precision route (eigenvalues not expressible in radicals)
DIGITS = 60
#: |residual| accepted as 0 on the 60-digit route (a numerical sign decision, stated as such)
HP_ZERO = sp.Float("1e-45", DIGITS)


def _centering(K: int) -> sp.Matrix:
    return sp.eye(K) - sp.ones(K, K) / K


def gram_matrix(counts) -> sp.Matrix:
    """ẐẐᵀ = P diag(n) P, exact."""
    if len(counts) < 2 or min(counts) < 1:
        raise ValueError(f"counts: need at least two classes of at least one sample each, got {tuple(counts)}")
    P = _centering(len(counts))
    return P * sp.diag(*[sp.Integer(c) for c in counts]) * P


@functools.lru_cache(maxsize=32)
def _roots(counts: tuple, allow_exact: bool):
    return _compute_roots(counts, allow_exact)


def seli_roots(counts, allow_exact: bool = True) -> tuple[sp.Matrix, sp.Matrix, bool]:
    """(S, B, exact), cached (see _compute_roots)."""
    S, B, exact = _roots(tuple(int(c) for c in counts), allow_exact)
    return S.copy(), B.copy(), exact


def _compute_roots(counts, allow_exact: bool = True) -> tuple[sp.Matrix, sp.Matrix, bool]:
    """(S, B, exact): S = (PDP)^{1/2}, B = its pseudo-inverse.  Exact (radicals, from the
    spectral projectors) for at most two distinct class sizes (rational eigenvalues), else to
    60 digits by Sylvester's formula."""
    M = gram_matrix(counts)
    K = M.shape[0]
    if allow_exact and len(set(counts)) <= 2 and K <= 12:
        try:
            S, B = sp.zeros(K, K), sp.zeros(K, K)
            for lam, _, vecs in M.eigenvects():
                if lam.has(sp.RootOf):
                    raise ValueError(lam)
                V = sp.Matrix.hstack(*vecs)
                proj = V * (V.T * V).inv() * V.T          # orthogonal projector onto the eigenspace
                S += sp.sqrt(lam) * proj
                if lam != 0:
                    B += proj / sp.sqrt(lam)
            return S.applyfunc(sp.radsimp), B.applyfunc(sp.radsimp), True
        except (NotImplementedError, MatrixError, ValueError):
            pass
    # Sylvester's formula f(M) = Σ_j f(λ_j) Π_{i≠j} (M − λ_i I)/(λ_j − λ_i) over the distinct
    # eigenvalues (M is symmetric, hence diagonalizable): the roots of the square-free part of the
    # exact characteristic polynomial, 0 exactly and the others to DIGITS + 10 digits.
    x = sp.Symbol("x")
    q = sp.Poly(sp.sqf_part(M.charpoly(x).as_expr()), x)
    roots = []
    if q.eval(0) == 0:
        roots.append(sp.Integer(0))
        q = sp.quo(q, sp.Poly(x, x))
    roots += [sp.re(r) for r in q.nroots(n=DIGITS + 10)]
    Mf = M.evalf(DIGITS + 10)
    I = sp.eye(K)
    S, B = sp.zeros(K, K), sp.zeros(K, K)
    for j, lj in enumerate(roots):
        proj = I
        for i, li in enumerate(roots):
            if i != j:
                proj = proj * (Mf - li * I) / (lj - li)
        if lj != 0:
            S += sp.sqrt(lj) * proj
            B += proj / sp.sqrt(lj)
    S = S.applyfunc(lambda v: sp.Float(v, DIGITS))
    B = B.applyfunc(lambda v: sp.Float(v, DIGITS))
    return S, B, False


def formulas_from(S: sp.Matrix, B: sp.Matrix) -> dict[str, sp.Expr]:
    """Predicted quantities from WWᵀ = S and class-mean Gram B (classes numbered from 1)."""
    K = S.shape[0]
    f = {"value": sp.simplify(S.trace()), "margin": sp.Integer(1), "h_within": sp.Integer(0)}
    for k in range(K):
        f[f"w_sq_{k + 1}"] = S[k, k]
        f[f"h_sq_{k + 1}"] = B[k, k]
        f[f"wh_ratio_{k + 1}"] = sp.simplify(S[k, k] / B[k, k])
    for a in range(K):
        for b in range(a + 1, K):
            f[f"w_cos_{a + 1}_{b + 1}"] = sp.simplify(S[a, b] / sp.sqrt(S[a, a] * S[b, b]))
            f[f"h_cos_{a + 1}_{b + 1}"] = sp.simplify(B[a, b] / sp.sqrt(B[a, a] * B[b, b]))
    return f


@functools.lru_cache(maxsize=32)
def _formulas(counts: tuple) -> dict:
    S, B, _ = seli_roots(counts)
    return formulas_from(S, B)


def seli_formulas(counts) -> dict[str, sp.Expr]:
    return dict(_formulas(tuple(int(c) for c in counts)))


def _zero(name: str, expr, exact: bool) -> Obligation:
    expr = sp.sympify(expr)
    if exact:
        if abs(sp.N(expr, 30)) > 1e-20:      # nonzero at 30 digits: refuted without simplification
            return Obligation(name, expr, "== 0", False)
        return zero(name, expr)
    ob = positive(f"{name} (|residual| < 1e-45, decided at {DIGITS} digits)", HP_ZERO - sp.Abs(sp.N(expr, DIGITS)))
    return ob


def _frobenius_sq(M: sp.Matrix) -> sp.Expr:
    """‖M‖_F² = tr(MᵀM): zero exactly when every entry is (a sum of squares of reals)."""
    return (M.T * M).trace()


def prove_seli(formulas: dict[str, sp.Expr], counts) -> list[Obligation]:
    """Obligations: Ẑ feasible with every margin 1; S² = PDP, S ⪰ 0, BS = P; the dual
    certificate (off-diagonal B < 0, 1ᵀB = 0, strong duality Σ n_k B_kk = tr S); the given
    formulas equal the quantities of S and B."""
    K = len(counts)
    S, B, exact = seli_roots(counts)
    P = _centering(K)
    obs: list[Obligation] = []
    # Ẑ = PY: column of class y is P e_y; margin to c: (e_y − e_c)ᵀ P e_y = 1 exactly
    for y in range(K):
        for c in range(K):
            if c != y:
                obs.append(zero(f"margin of class {y + 1} vs {c + 1} in Ẑ minus formula",
                                ((sp.eye(K)[:, y] - sp.eye(K)[:, c]).T * P[:, y])[0] - formulas["margin"]))
    M = gram_matrix(counts)
    obs.append(_zero("‖S² − PDP‖_F² (S = (ẐẐᵀ)^{1/2})", _frobenius_sq(S * S - M), exact))
    obs.append(_zero("‖BS − P‖_F² (B = pseudo-inverse of S on 1⊥)", _frobenius_sq(B * S - P), exact))
    obs.append(_zero("‖S1‖² (S vanishes on 1)", _frobenius_sq(S * sp.ones(K, 1)), exact))
    obs.append(_zero("‖B1‖² (B vanishes on 1)", _frobenius_sq(B * sp.ones(K, 1)), exact))
    for k in range(K):
        obs.append(positive(f"S_{k + 1}{k + 1} > 0", S[k, k]))
    for a in range(K):
        for b in range(a + 1, K):
            obs.append(positive(f"dual multiplier μ = −B_{a + 1}{b + 1} > 0 (certificate; uniqueness)",
                                -B[a, b] if exact else sp.N(-B[a, b], DIGITS)))
    obs.append(_zero("strong duality: Σ_k n_k B_kk − tr S", sum(counts[k] * B[k, k] for k in range(K)) - S.trace(),
                     exact))
    want = seli_formulas(counts)
    for name, expr in want.items():
        obs.append(_zero(f"{name}: formula − quantity of S, B", formulas[name] - expr, exact))
    return obs
