"""Simplex ETF, orthogonal frame and spherical codes: closed forms and proofs.

Every closed form is a sympy expression in the claim's parameters; every proof
takes the formulas to be proved as an argument, so a perturbed formula can be
fed to the same proof and must be refuted (the negative control).

Conventions (THEORY.md §1).  The K-class simplex ETF is
    M = sqrt(K/(K-1)) · P · (I_K - J/K),   PᵀP = I_K  (d >= K),
or M = sqrt(K/(K-1)) · P with P ∈ R^{(K-1)×K}, PPᵀ = I, P1 = 0  (d = K-1).
Its Gram MᵀM does not depend on P, which is why K can stay symbolic.
"""
from __future__ import annotations

import sympy as sp

from theory.algebra import IJ, centering
from theory.proof import Obligation, nonnegative, positive, zero

#: K = m + 1 with m a positive integer: K >= 2 and K - 1 > 0 are then known to sympy.
m_sym = sp.Symbol("m", integer=True, positive=True)
K_SYMBOLIC = m_sym + 1

#: Concrete K up to this bound also get an explicit-matrix proof (fast: <= 0.1 s each).
EXPLICIT_K_MAX = 12


# --------------------------------------------------------------------------- simplex ETF
def simplex_formulas(K) -> dict[str, sp.Expr]:
    """Closed forms of the simplex ETF's geometry (THEORY.md §1)."""
    K = sp.sympify(K)
    return {
        "norm": sp.Integer(1),                    # ‖m_k‖
        "cos": -1 / (K - 1),                       # ⟨m_i, m_j⟩/(‖m_i‖‖m_j‖), i ≠ j
        "colsum_norm": sp.Integer(0),              # ‖Σ_k m_k‖
        "rank": K - 1,                             # rank M
        "frame_eig": K / (K - 1),                  # every nonzero eigenvalue of M Mᵀ
        "fro2": K,                                 # ‖M‖_F²
        "frame_potential": K**2 / (K - 1),         # Σ_{i,j} ⟨m_i, m_j⟩²
    }


def simplex_gram(K) -> IJ:
    """MᵀM = (K/(K-1)) (I - J/K)² as an element of the αI + βJ algebra."""
    K = sp.sympify(K)
    C = centering(K)
    return (C @ C).scale(K / (K - 1)).simplify()


def prove_simplex(formulas: dict[str, sp.Expr], K) -> list[Obligation]:
    """Each formula against the Gram computed in the αI + βJ algebra.

    ‖Σ m_k‖² = 1ᵀ(MᵀM)1 = K·(row sum); the spectrum of MᵀM is α on 1^⊥ and
    α + Kβ on 1, and MMᵀ shares its nonzero eigenvalues, so the rank is K − 1
    exactly when α ≠ 0 and α + Kβ = 0.
    """
    K = sp.sympify(K)
    G = simplex_gram(K)
    alpha_pos = positive("eigenvalue α on 1^⊥ is positive", G.alpha)
    null_on_ones = zero("eigenvalue on 1 vanishes (α + Kβ = 0)", G.row_sum)
    if alpha_pos.proved is True and null_on_ones.proved is True:
        rank = zero("rank M = K − 1 = formula", (K - 1) - formulas["rank"])
    else:  # the spectrum could not be decided: the rank obligation is undecided too
        rank = Obligation("rank M = formula", formulas["rank"], "== 0", None)
    return [
        zero("diag(MᵀM) = norm²", G.diagonal - formulas["norm"] ** 2),
        zero("offdiag(MᵀM)/diag = cos", G.off_diagonal / G.diagonal - formulas["cos"]),
        zero("‖M1‖² = K·rowsum(MᵀM) = colsum_norm²", K * G.row_sum - formulas["colsum_norm"] ** 2),
        alpha_pos,
        null_on_ones,
        rank,
        zero("nonzero eigenvalue of MMᵀ = frame_eig", G.alpha - formulas["frame_eig"]),
        zero("tr(MᵀM) = fro2", G.trace - formulas["fro2"]),
        zero("‖MᵀM‖_F² = frame_potential", G.frobenius_sq() - formulas["frame_potential"]),
    ]


def helmert_basis(K: int) -> sp.Matrix:
    """Exact P ∈ R^{(K-1)×K} with PPᵀ = I and P1 = 0 (rows of the Helmert matrix)."""
    rows = []
    for j in range(1, K):
        row = [sp.Integer(1)] * j + [sp.Integer(-j)] + [sp.Integer(0)] * (K - j - 1)
        rows.append([x / sp.sqrt(j * (j + 1)) for x in row])
    return sp.Matrix(rows)


def prove_simplex_explicit(formulas: dict[str, sp.Expr], K: int) -> list[Obligation]:
    """The same formulas on the explicit (K−1)-dimensional ETF M = sqrt(K/(K-1))·P.

    Proves the construction itself (PPᵀ = I, P1 = 0) and, entry by entry, the
    Gram, column sum and tight-frame identity MMᵀ = (K/(K-1)) I_{K-1}.
    """
    P = helmert_basis(K)
    M = sp.sqrt(sp.Rational(K, K - 1)) * P
    G = (M.T * M).applyfunc(sp.nsimplify)
    F = (M * M.T).applyfunc(sp.nsimplify)
    off = [G[i, j] for i in range(K) for j in range(K) if i != j]
    colsum = M * sp.ones(K, 1)
    return [
        zero("PPᵀ − I = 0 (explicit)", sum(abs(x) for x in (P * P.T - sp.eye(K - 1)))),
        zero("P1 = 0 (explicit)", sum(abs(x) for x in P * sp.ones(K, 1))),
        zero("every ‖m_k‖² − norm² (explicit)", sum(abs(G[i, i] - formulas["norm"] ** 2) for i in range(K))),
        zero("every cos_ij − cos (explicit)", sum(abs(x - formulas["cos"]) for x in off)),
        zero("‖M1‖² − colsum_norm² (explicit)", (colsum.T * colsum)[0] - formulas["colsum_norm"] ** 2),
        zero("MMᵀ − frame_eig·I (explicit)", sum(abs(x) for x in F - formulas["frame_eig"] * sp.eye(K - 1))),
        zero("rank − formula (explicit)", M.rank() - formulas["rank"]),
        zero("Σ G_ij² − frame_potential (explicit)", sum(x**2 for x in G) - formulas["frame_potential"]),
    ]


# --------------------------------------------------------------------------- max-min angle
def max_min_formulas(K) -> dict[str, sp.Expr]:
    """min over unit x_1..x_K of max_{i≠j} ⟨x_i, x_j⟩, and the optimal Gram's entries."""
    K = sp.sympify(K)
    return {"max_cos": -1 / (K - 1), "gram_diag": sp.Integer(1), "gram_offdiag": -1 / (K - 1),
            "gram_rank": K - 1}


def prove_max_min(formulas: dict[str, sp.Expr], K, d=None) -> list[Obligation]:
    """Optimality of the simplex ETF for the max-min angle problem.

    Lower bound: 0 <= ‖Σ x_i‖² = 1ᵀG1 = K + Σ_{i≠j} G_ij <= K + K(K−1)·t when every
    G_ij <= t, so t >= t_low with K + K(K−1)·t_low = 0.  Attainment: the Gram
    (1 − t)I + tJ with t = t_low is PSD (eigenvalues 1 − t and 1 + (K−1)t) of rank
    K − 1 <= d.  Uniqueness: equality forces every G_ij = t and 1ᵀG1 = 0.
    """
    K = sp.sympify(K)
    t = formulas["max_cos"]
    G = IJ(1 - formulas["gram_offdiag"], formulas["gram_offdiag"], K)
    obligations = [
        zero("the bound K + K(K−1)t >= 0 is tight at t = max_cos", K + K * (K - 1) * t),
        zero("the optimal Gram attains t: offdiag = max_cos", formulas["gram_offdiag"] - t),
        zero("unit diagonal", G.diagonal - formulas["gram_diag"]),
        positive("Gram eigenvalue 1 − t on 1^⊥ is positive", G.alpha),
        zero("Gram eigenvalue on 1 is 0 (Σ x_i = 0, equality case)", G.row_sum),
        zero("Gram rank = K − 1 = gram_rank", (K - 1) - formulas["gram_rank"]),
    ]
    if d is not None:
        obligations.append(nonnegative("rank K − 1 fits in d dimensions", sp.sympify(d) - (K - 1)))
    return obligations


# --------------------------------------------------------------------------- orthogonal frame
def orthogonal_frame_formulas(K) -> dict[str, sp.Expr]:
    """min over unit x_1..x_K ∈ R^d (d >= K) of the frame potential Σ_{i,j}⟨x_i,x_j⟩²."""
    K = sp.sympify(K)
    return {"frame_potential_min": K, "gram_diag": sp.Integer(1), "gram_offdiag": sp.Integer(0),
            "gram_rank": K}


def prove_orthogonal_frame(formulas: dict[str, sp.Expr], K, d=None) -> list[Obligation]:
    """FP(G) = Σ_i G_ii² + Σ_{i≠j} G_ij² = K + (sum of squares) >= K, equality iff G = I.

    Symbolic K: within the symmetric family G = (1−β)I + βJ, FP = K + K(K−1)β².
    Concrete K (<= 6): on a generic symmetric Gram with unit diagonal and free
    symbolic off-diagonal entries, FP − K is exactly the sum of their squares.
    """
    K = sp.sympify(K)
    beta = sp.Symbol("beta", real=True)
    family = IJ(1 - beta, beta, K)
    fp_family = sp.expand(family.frobenius_sq())
    fp_min = formulas["frame_potential_min"]
    obligations = [
        zero("FP((1−β)I + βJ) − FP_min − K(K−1)β² = 0", fp_family - fp_min - K * (K - 1) * beta**2),
        zero("the minimizer β = gram_offdiag is stationary", sp.diff(fp_family, beta).subs(beta, formulas["gram_offdiag"])),
        zero("unit diagonal", formulas["gram_diag"] - 1),
        positive("second derivative 2K(K−1) > 0", sp.diff(fp_family, beta, 2)),
        zero("rank of the optimal Gram I_K is K = gram_rank", K - formulas["gram_rank"]),
    ]
    if K.is_Integer and int(K) <= 6:
        k = int(K)
        g = {(i, j): sp.Symbol(f"g_{i}{j}", real=True) for i in range(k) for j in range(i + 1, k)}
        Gm = sp.Matrix(k, k, lambda i, j: 1 if i == j else g[(min(i, j), max(i, j))])
        sos = 2 * sum(v**2 for v in g.values())
        obligations += [
            zero("generic Gram: FP − FP_min − 2Σ_{i<j} g_ij² = 0", sp.expand(sum(x**2 for x in Gm)) - fp_min - sos),
            nonnegative("the remainder is a sum of squares", sos),
        ]
    if d is not None:
        obligations.append(nonnegative("rank K fits in d dimensions (d >= K)", sp.sympify(d) - K))
    return obligations


# --------------------------------------------------------------------------- spherical codes
def spherical_code_regime(K: int, d: int) -> str:
    """Which closed form applies to the best max-min angle of K points on S^{d−1}."""
    if K <= d + 1:
        return "simplex"
    if d == 2:
        return "polygon"
    if K <= 2 * d:
        return "rankin"
    return "open"


def spherical_code_formulas(K: int, d: int) -> dict[str, sp.Expr] | None:
    """Optimal max pairwise cosine, or None where no closed form is known."""
    regime = spherical_code_regime(K, d)
    if regime == "simplex":
        return {"max_cos": sp.Integer(-1) / (K - 1)}
    if regime == "polygon":
        return {"max_cos": sp.cos(2 * sp.pi / K)}
    if regime == "rankin":
        return {"max_cos": sp.Integer(0)}
    return None


def spherical_code_witness(K: int, d: int) -> sp.Matrix:
    """An explicit configuration (columns) attaining the closed form, exact entries."""
    regime = spherical_code_regime(K, d)
    if regime == "simplex":
        P = helmert_basis(K) * sp.sqrt(sp.Rational(K, K - 1))
        return P.col_join(sp.zeros(d - (K - 1), K))
    if regime == "polygon":
        return sp.Matrix(2, K, lambda i, j: sp.cos(2 * sp.pi * j / K) if i == 0 else sp.sin(2 * sp.pi * j / K))
    if regime == "rankin":  # the first K vertices ±e_i of the cross-polytope
        cols = [(i // 2, 1 if i % 2 == 0 else -1) for i in range(K)]
        return sp.Matrix(d, K, lambda r, c: cols[c][1] if cols[c][0] == r else 0)
    raise ValueError(f"no closed form for K={K}, d={d}")


def prove_spherical_code(formulas: dict[str, sp.Expr], K: int, d: int) -> list[Obligation]:
    """Attainment, exactly: the witness has unit columns and max cosine = formula.

    Optimality is proved here for the simplex regime (the ‖Σx‖² bound) and the
    polygon (the K angular gaps sum to 2π, so one is <= 2π/K).  Rankin's theorem
    (K >= d+2 unit vectors cannot be pairwise obtuse) is cited, not re-proved.
    """
    t = formulas["max_cos"]
    regime = spherical_code_regime(K, d)
    if regime == "polygon":
        # Witness: x_j = (cos 2πj/K, sin 2πj/K); G_ij = cos(2π(i−j)/K), largest at |i−j| = 1
        # (cos decreases on [0, π]).  Optimality: the K angular gaps sum to 2π, so one is <= 2π/K.
        theta = sp.Symbol("theta", real=True)
        return [
            zero("unit columns: cos²θ + sin²θ = 1", sp.trigsimp(sp.cos(theta) ** 2 + sp.sin(theta) ** 2 - 1)),
            zero("⟨x_0, x_1⟩ = cos(2π/K) = max_cos", sp.cos(2 * sp.pi / K) - t),
            zero("K equal gaps of 2π/K fill the circle", K * (2 * sp.pi / K) - 2 * sp.pi),
        ]
    if regime == "simplex":  # the ETF: same proof as etf.max_min_angle, symbolic in K
        return prove_max_min({"max_cos": t, "gram_diag": sp.Integer(1), "gram_offdiag": t,
                              "gram_rank": sp.Integer(K - 1)}, K, d)
    X = spherical_code_witness(K, d)  # cross-polytope vertices: small integer entries
    G = X.T * X
    off = [G[i, j] for i in range(K) for j in range(K) if i != j]
    obligations = [
        zero("unit columns", sum(abs(G[i, i] - 1) for i in range(K))),
        zero("the witness attains max_cos", sp.Max(*off) - t),
        nonnegative("rank of the witness <= d", d - X.rank()),
    ]
    return obligations
