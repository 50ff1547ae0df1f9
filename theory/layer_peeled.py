"""Cross-entropy layer-peeled models: the norm-constrained optimum and the max-margin limit.

Two closed forms, each with a proof that takes the formulas to be proved as an
argument (so that a perturbed formula is fed to the same proof and refuted).
K may be symbolic (K = m + 1, :data:`theory.etf.K_SYMBOLIC`); the K×K matrices
involved are all of the form αI + βJ (:mod:`theory.algebra`).

**Layer-peeled model** (Fang, He, Long & Su 2021, balanced case, no bias)::

    min (1/N) Σ_{k,i} CE(W h_{k,i}, k)   s.t. (1/K) Σ_k ‖w_k‖² <= E_W,
                                               (1/K) Σ_k (1/n) Σ_i ‖h_{k,i}‖² <= E_H.

Optimum: simplex ETF, h_{k,i} = √(E_H/E_W) w_k, both constraints active, value
log(1 + (K−1) exp(−(K/(K−1))√(E_W E_H))).  Proof: attainment by the ETF, and a
dual certificate.  For every column-stochastic P (columns p_k), Fenchel–Young
(convexity of log-sum-exp) gives lse(z) >= ⟨p, z⟩ + Ent(p), so with the logits
Z = W H̄ (NC1 may be assumed: CE is convex in h and the constraint is a mean of
squares, so replacing h_{k,i} by the class mean lowers neither side)::

    loss >= (1/K)⟨P − I, Z⟩ + (1/K) Σ_k Ent(p_k)
         >= −(1/K)‖P − I‖_op ‖W‖_F ‖H̄‖_F + (1/K) Σ_k Ent(p_k)
         >= −‖P − I‖_op √(E_W E_H) + (1/K) Σ_k Ent(p_k)  =: LB(P),

and LB(P*) equals the value at the ETF's softmax P*.  The same bound holds for
every PSD Gram of [H̄ᵀ; W] (the SDP relaxation), which is why the relaxation is
exact here.

**Max-margin problem** (Ji, Lu, Zhang, Deng & Su 2022): unregularized CE gradient
flow on (W, H) (no bias) converges in direction to a KKT point of::

    min ½(‖W‖_F² + ‖H‖_F²)   s.t. (w_{y_i} − w_j)ᵀ h_i >= 1  for all i and j ≠ y_i.

Balanced optimum: WWᵀ = √n (I − J/K) (simplex ETF with ‖w_k‖² = √n (K−1)/K),
h_i = w_{y_i}/√n, every margin equal to 1, value √n (K−1) = ‖(I − J/K)Y‖_*.
Proof: attainment, and the dual certificate λ_{ij} = 1/(K√n) on every constraint
(dual feasibility ‖Σ λ_{ij}(e_{y_i} − e_j)e_iᵀ‖_op <= 1, dual value √n(K−1)).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.algebra import IJ, centering
from theory.proof import Obligation, nonnegative, positive, zero

#: Symbols for the general (symbolic-parameter) proofs.
E_W_sym = sp.Symbol("E_W", positive=True)
E_H_sym = sp.Symbol("E_H", positive=True)
n_sym = sp.Symbol("n", positive=True, integer=True)


#: Values for refuting an identity numerically: symbol i (sorted by name) of sample j gets
#: _VALUES[i + j] (integer symbols its integer part), so that symbols never coincide.
_VALUES = (sp.Rational(7, 3), sp.Rational(5, 4), sp.Rational(13, 5), sp.Rational(17, 7), sp.Rational(11, 3),
           sp.Rational(19, 6), sp.Rational(23, 9))


def _counterexample(expr: sp.Expr) -> bool:
    """True when ``expr`` is provably not identically 0: it is nonzero (to 30 digits) at a
    point of its symbols' domain.  A refutation this way is sound; a proof is left to sympy."""
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    for j in range(2):
        values = [_VALUES[(i + j) % len(_VALUES)] for i in range(len(symbols))]
        point = {s: (sp.floor(v) if s.is_integer else v) for s, v in zip(symbols, values)}
        v = expr.subs(point).evalf(30)
        if v.is_number and v.is_finite and abs(v) > sp.Float("1e-20"):
            return True
    return False


def _zero(name: str, expr) -> Obligation:
    """``expr == 0``: refuted at once by a numeric counterexample, otherwise decided by sympy
    after expanding logarithms of positive quantities (sound: no ``force``)."""
    expr = sp.sympify(expr)
    if _counterexample(expr):
        return Obligation(name, expr, "== 0", False)
    return zero(name, sp.expand_log(expr, deep=True))


# --------------------------------------------------------------------------- layer-peeled model
def layer_peeled_formulas(K, E_W, E_H) -> dict[str, sp.Expr]:
    """Closed forms of the balanced CE layer-peeled optimum (objective in the module docstring).

    ``margin`` is the logit margin z_kk − z_jk (j ≠ k); ``mult_W``, ``mult_H`` are the
    KKT multipliers of the Lagrangian f + mult_W((1/K)Σ‖w_k‖² − E_W) + mult_H((1/N)Σ‖h_i‖² − E_H);
    ``gram_rank`` is the rank of the Gram of [H̄ᵀ; W].
    """
    K, E_W, E_H = (sp.sympify(v) for v in (K, E_W, E_H))
    margin = K / (K - 1) * sp.sqrt(E_W * E_H)
    p_off = sp.exp(-margin) / (1 + (K - 1) * sp.exp(-margin))     # softmax of a wrong class
    return {
        "loss": sp.log(1 + (K - 1) * sp.exp(-margin)),
        "margin": margin,
        "w_norm_sq": E_W,
        "h_norm_sq": E_H,
        "w_cos": -1 / (K - 1),
        "h_w_ratio": sp.sqrt(E_H / E_W),
        "gram_rank": K - 1,
        "mult_W": K * p_off * sp.sqrt(E_H / E_W) / 2,
        "mult_H": K * p_off * sp.sqrt(E_W / E_H) / 2,
    }


def _positive(name: str, expr) -> Obligation:
    """``expr > 0``; a closed number is decided by sympy's evaluation directly (no simplify)."""
    expr = sp.sympify(expr)
    if not expr.free_symbols:
        return Obligation(name, expr, "> 0", expr.is_positive)
    return positive(name, expr)


def softmax_probabilities(margin, K) -> tuple[sp.Expr, sp.Expr]:
    """Softmax of a logit column whose own entry exceeds the K − 1 others by ``margin``:
    (probability of the own class, probability of each other class)."""
    K = sp.sympify(K)
    return 1 / (1 + (K - 1) * sp.exp(-margin)), sp.exp(-margin) / (1 + (K - 1) * sp.exp(-margin))


@lru_cache(maxsize=None)
def softmax_certificate_identities(K) -> tuple[Obligation, ...]:
    """Identities of the dual certificate, for a symbolic margin μ > 0 and budget s = √(E_W E_H) > 0.

    P = softmax of the logits Z = c(αI + βJ): P − I = (p_d − p_o − 1)I + p_o J.  Proved:
    unit column sums; P − I vanishes on 1 and equals −K p_o on 1^⊥ (so ‖P − I‖_op = K p_o);
    and, with Ent = −p_d log p_d − (K−1)p_o log p_o,
        LB = Ent − K p_o s = log(1 + (K−1)e^{−μ}) + p_o((K−1)μ − K s),
    so the bound equals the CE of the candidate exactly when (K−1)μ = K s.
    """
    K = sp.sympify(K)
    mu, s = sp.symbols("mu s", positive=True)
    p_d, p_o = softmax_probabilities(mu, K)
    PmI = IJ(p_d - p_o - 1, p_o, K)
    entropy = -p_d * sp.log(p_d) - (K - 1) * p_o * sp.log(p_o)
    lb = entropy - (-PmI.alpha) * s
    ce = sp.log(1 + (K - 1) * sp.exp(-mu))
    return (
        _zero("softmax P has unit column sums", p_d + (K - 1) * p_o - 1),
        _zero("P − I vanishes on 1 (eigenvalue α + Kβ = 0)", PmI.row_sum),
        _zero("P − I = −K·p_o on 1^⊥, so ‖P − I‖_op = K·p_o", PmI.alpha + K * p_o),
        _positive("p_o > 0", p_o),
        _zero("LB(P) = Ent − K p_o s = CE + p_o((K−1)μ − K s)", lb - ce - p_o * ((K - 1) * mu - K * s)),
    )


def prove_layer_peeled(formulas: dict[str, sp.Expr], K, E_W, E_H, d=None) -> list[Obligation]:
    """Optimality of the formulas' configuration for the layer-peeled model.

    The candidate is built *from the formulas*: classifier Gram G = w(1−c)I + wcJ
    (w = w_norm_sq, c = w_cos), features h_k = r w_k (r = h_w_ratio), logits Z = rG,
    margin μ = Z_kk − Z_jk.  Obligations: feasibility with both budgets active,
    centring, the candidate's margin and loss, the dual certificate (its identities
    for symbolic μ, then the tightness condition (K−1)μ = K√(E_W E_H): LB = loss, so
    no feasible point does better), KKT stationarity with positive multipliers, the
    1-D reduction, the Gram rank, and — for symbolic budgets — the envelope identities
    ∂loss/∂E = −multiplier.
    """
    K, E_W, E_H = (sp.sympify(v) for v in (K, E_W, E_H))
    w, c, r = formulas["w_norm_sq"], formulas["w_cos"], formulas["h_w_ratio"]
    G = IJ(w * (1 - c), w * c, K)                  # WWᵀ
    Z = G.scale(r)                                 # logits z_jk = w_jᵀ h_k = r w_jᵀ w_k
    margin = Z.diagonal - Z.off_diagonal
    _, p_o = softmax_probabilities(margin, K)
    obligations = [
        _zero("classifier budget active: (1/K) tr WWᵀ = E_W", G.trace / K - E_W),
        _zero("feature budget active: (1/K) Σ ‖h_k‖² = r²·diag(WWᵀ) = E_H", r**2 * G.diagonal - E_H),
        _zero("h_norm_sq = r² w_norm_sq", formulas["h_norm_sq"] - r**2 * w),
        _zero("centred classifiers: ‖Σ w_k‖² = K·rowsum(WWᵀ) = 0", K * G.row_sum),
        _zero("logit margin z_kk − z_jk of the candidate = margin", margin - formulas["margin"]),
        _zero("CE of the candidate, log(1 + (K−1)e^{−margin}) = loss",
              sp.log(1 + (K - 1) * sp.exp(-formulas["margin"])) - formulas["loss"]),
        *softmax_certificate_identities(K),
        _zero("dual certificate tight: (K−1)·margin = K√(E_W E_H), so LB(softmax Z) = loss",
              (K - 1) * margin - K * sp.sqrt(E_W * E_H)),
        # KKT: ∇_W = (r/K)(P − I)W + (2 mult_W/K)W, ∇_{h_k} ∝ Wᵀ(p_k − e_k) + 2 mult_H h_k,
        # and (P − I)W = −K p_o W because Σ_k w_k = 0.
        _zero("stationarity in W: −r·K·p_o + 2·mult_W = 0", -r * K * p_o + 2 * formulas["mult_W"]),
        _zero("stationarity in H: −K·p_o + 2·r·mult_H = 0", -K * p_o + 2 * r * formulas["mult_H"]),
        _positive("multiplier of the classifier budget > 0 (constraint active)", formulas["mult_W"]),
        _positive("multiplier of the feature budget > 0 (constraint active)", formulas["mult_H"]),
        _positive("Gram eigenvalue on 1^⊥ is positive", G.alpha),
        _zero("rank of the Gram of [H̄ᵀ; W] = rank WWᵀ = K − 1 = gram_rank", (K - 1) - formulas["gram_rank"]),
        *reduction_obligations(K),
    ]
    if isinstance(E_W, sp.Symbol) and isinstance(E_H, sp.Symbol):
        obligations += [
            _zero("envelope: ∂loss/∂E_W = −mult_W", sp.diff(formulas["loss"], E_W) + formulas["mult_W"]),
            _zero("envelope: ∂loss/∂E_H = −mult_H", sp.diff(formulas["loss"], E_H) + formulas["mult_H"]),
        ]
    if d is not None:
        obligations.append(nonnegative("rank K − 1 fits in d dimensions", sp.sympify(d) - (K - 1)))
    return obligations


@lru_cache(maxsize=None)
def reduction_obligations(K) -> tuple[Obligation, ...]:
    """1-D reduction: on the ETF family with ‖w_k‖² = x, ‖h_k‖² = y, h ∝ w, the loss is
    φ = log(1 + (K−1)exp(−(K/(K−1))√(xy))) (proved: the CE of that family, computed in the IJ
    algebra and through the softmax); it strictly decreases in x and in y (so both budgets are
    spent) and is convex in the margin (ψ(t) = log(1 + (K−1)e^{−t}), proved the CE at margin t)."""
    K = sp.sympify(K)
    x, y, t = sp.symbols("x y t", positive=True)
    phi = sp.log(1 + (K - 1) * sp.exp(-K / (K - 1) * sp.sqrt(x * y)))
    psi = sp.log(1 + (K - 1) * sp.exp(-t))
    # The family itself, in the IJ algebra: WWᵀ = x·K/(K−1)·(I − J/K), h_k = √(y/x)·w_k; its
    # logit margin, and the CE −log(softmax on the own class) of a column with that margin.
    family = centering(K).scale(x * K / (K - 1)).scale(sp.sqrt(y / x))
    family_margin = family.diagonal - family.off_diagonal
    own_class = softmax_probabilities(family_margin, K)[0]
    return (
        _zero("φ(x, y) = CE of the family, −log p_own(z_kk − z_jk)", phi + sp.log(own_class)),
        _zero("ψ(t) = CE of a logit column with margin t, −log p_own(t)",
              psi + sp.log(softmax_probabilities(t, K)[0])),
        positive("−∂φ/∂x > 0 (more classifier budget lowers the loss)", -sp.diff(phi, x)),
        positive("−∂φ/∂y > 0 (more feature budget lowers the loss)", -sp.diff(phi, y)),
        positive("φ is convex in the margin t", sp.diff(psi, t, 2)),
    )


# --------------------------------------------------------------------------- max-margin problem
def max_margin_formulas(K, n) -> dict[str, sp.Expr]:
    """Closed forms of the balanced min-norm separation problem (module docstring).

    ``value`` = min ½(‖W‖² + ‖H‖²); ``margin`` = every (w_{y_i} − w_j)ᵀh_i at the optimum;
    ``h_w_ratio`` = r with h_i = r w_{y_i}; ``gram_rank`` = rank of the Gram of [W; Hᵀ].
    """
    K, n = sp.sympify(K), sp.sympify(n)
    return {
        "value": sp.sqrt(n) * (K - 1),
        "w_norm_sq": sp.sqrt(n) * (K - 1) / K,
        "h_norm_sq": (K - 1) / (K * sp.sqrt(n)),
        "w_cos": -1 / (K - 1),
        "h_w_ratio": 1 / sp.sqrt(n),
        "margin": sp.Integer(1),
        "gram_rank": K - 1,
    }


def prove_max_margin(formulas: dict[str, sp.Expr], K, n, d=None) -> list[Obligation]:
    """Optimality of the formulas' configuration for the min-norm separation problem.

    Candidate from the formulas: WWᵀ = G = w(1−c)I + wcJ, h_i = r w_{y_i}, so that
    Z = WH = rGY.  Primal: every margin r(G_kk − G_jk) equals ``margin`` = 1 and the
    objective ½(Kw + Nr²w) equals ``value``.  Dual: Λ(λ) = Σ λ(e_{y_i} − e_j)e_iᵀ =
    λK(I − J/K)Y with ΛΛᵀ = λ²K²n(I − J/K); λ is solved from ‖Λ‖_op = 1 (dual
    feasibility: ½I − [[0, Λ/2], [Λᵀ/2, 0]] ⪰ 0 iff ‖Λ‖_op <= 1), and the dual
    objective Σλ = N(K−1)λ must equal ``value``.  Also Z = (I − J/K)Y, ‖Z‖_* =
    √n(K−1), and WWᵀ = (ZZᵀ)^{1/2} (the balanced factorization).  For concrete small
    K and n, Λ is also built entry by entry from its definition.
    """
    K, n = sp.sympify(K), sp.sympify(n)
    N = n * K
    w, c, r = formulas["w_norm_sq"], formulas["w_cos"], formulas["h_w_ratio"]
    G = IJ(w * (1 - c), w * c, K)
    C = centering(K)
    lam = sp.Symbol("lambda", positive=True)
    LLt = (C @ C).scale(lam**2 * K**2 * n).simplify()            # ΛΛᵀ, using YYᵀ = nI
    roots = [s for s in sp.solve(sp.Eq(LLt.alpha, 1), lam) if s.is_positive]
    lam_star = roots[0] if len(roots) == 1 else None
    ZZt = (C @ C).scale(n).simplify()                              # ((I − J/K)Y)((I − J/K)Y)ᵀ
    nuclear = (K - 1) * sp.sqrt(ZZt.alpha)                         # ZZᵀ: α on 1^⊥ (K−1 times), 0 on 1
    obligations = [
        _zero("every margin r(G_kk − G_jk) = margin", r * (G.diagonal - G.off_diagonal) - formulas["margin"]),
        _zero("margin = 1: every constraint active", formulas["margin"] - 1),
        _zero("objective ½(Σ‖w_k‖² + Σ‖h_i‖²) = ½(Kw + Nr²w) = value",
              (K * w + N * r**2 * w) / 2 - formulas["value"]),
        _zero("h_norm_sq = r² w_norm_sq", formulas["h_norm_sq"] - r**2 * w),
        _zero("centred classifiers: rowsum(WWᵀ) = 0", G.row_sum),
        positive("Gram eigenvalue on 1^⊥ is positive", G.alpha),
        _zero("ΛΛᵀ vanishes on 1", LLt.row_sum),
        Obligation("dual feasibility ‖Λ(λ)‖_op = 1 has one positive root", sp.Integer(len(roots) - 1), "== 0",
                   len(roots) == 1),
    ]
    if lam_star is not None:
        obligations.append(_zero("dual value N(K−1)λ = value (weak duality: optimal)",
                                 N * (K - 1) * lam_star - formulas["value"]))
    obligations += [
        _zero("Z = rGY = (I − J/K)Y: identity part", r * G.alpha - C.alpha),
        _zero("Z = rGY = (I − J/K)Y: J part", r * G.beta - C.beta),
        _zero("‖(I − J/K)Y‖_* = √n(K−1) = value", nuclear - formulas["value"]),
        _zero("ZZᵀ = n(I − J/K) vanishes on 1", ZZt.row_sum),
        _zero("balanced: WWᵀ = (ZZᵀ)^{1/2} = √(α_Z)(I − J/K), identity part",
              G.alpha - sp.sqrt(ZZt.alpha) * C.alpha),
        _zero("balanced: WWᵀ = (ZZᵀ)^{1/2} = √(α_Z)(I − J/K), J part", G.beta - sp.sqrt(ZZt.alpha) * C.beta),
        _zero("rank of the Gram of [W; Hᵀ] = K − 1 = gram_rank", (K - 1) - formulas["gram_rank"]),
    ]
    if K.is_Integer and n.is_Integer and K * n <= EXPLICIT_N_MAX:
        obligations.append(_explicit_dual_matrix(int(K), int(n), lam))
    if d is not None:
        obligations.append(nonnegative("rank K − 1 fits in d dimensions", sp.sympify(d) - (K - 1)))
    return obligations


#: Explicit K×N matrices are built for N = Kn up to this size (well under 0.1 s).
EXPLICIT_N_MAX = 60


def _explicit_dual_matrix(K: int, n: int, lam: sp.Symbol) -> Obligation:
    """Σ_i Σ_{j≠y_i} λ(e_{y_i} − e_j)e_iᵀ − λK(I − J/K)Y = 0, entry by entry (samples class by class)."""
    N = K * n
    Lam = sp.zeros(K, N)
    for i in range(N):
        y = i // n
        for j in range(K):
            if j != y:
                Lam[y, i] += lam
                Lam[j, i] -= lam
    Y = sp.Matrix(K, N, lambda k, i: 1 if i // n == k else 0)
    C = sp.eye(K) - sp.ones(K, K) / K
    diff = Lam - lam * K * C * Y
    return _zero("Λ = λK(I − J/K)Y (explicit)", sum(abs(x) for x in diff))
