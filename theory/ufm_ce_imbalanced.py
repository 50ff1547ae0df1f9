"""Imbalanced CE UFM: Hong & Ling's convex form, NC1 and the minority-collapse threshold.

Objective (engine normalization), class sizes n_k, N = Σ n_k, D = diag(√n_k), μ = √(λ_Wλ_H):
    f(W, H, b) = (1/N) Σ_i CE(W h_i + b, y_i) + (λ_W/2)‖W‖² + (λ_H/2)‖H‖² + (λ_b/2)‖b‖²
    min f = min_{Z, b} (1/N) Σ_k n_k CE(z_k + b, k) + μ‖Z D‖_* + (λ_b/2)‖b‖².
Steps (what is proved here symbolically, and what is only stated):
* within a class, Σ_i ‖h_i‖² = n_k‖h̄_k‖² + Σ_i ‖h_i − h̄_k‖² (proved, n = 3, one coordinate) and CE is
  convex in the logits (its Hessian diag(p) − ppᵀ has the quadratic form Σ_j p_j(v_j − pᵀv)² >= 0,
  proved for the given K), so replacing every h_i by h̄_k lowers f: Jensen.  For fixed (W, b) each
  sample's problem in h_i has Hessian (1/N)Wᵀ(diag p − ppᵀ)W + λ_H I ⪰ λ_H I ≻ 0, so all samples
  of a class share the unique minimizer: NC1 at every optimum (any stationary point in H);
* (λ_W/2)w² + (λ_H/2)h̃² = √(λ_Wλ_H)·w h̃ + ½(√λ_W w − √λ_H h̃)² (proved, scalars), with equality
  at w = c√s, h̃ = √s/c, c = (λ_H/λ_W)^{1/4} (proved); applied to the singular values of X = Z D
  (W = cUS^{1/2}, H̄D = c⁻¹S^{1/2}Vᵀ; the matrix inequality (λ_W/2)‖W‖² + (λ_H/2)‖H̄D‖² >= μ‖WH̄D‖_*
  is von Neumann's trace inequality, stated, not proved here) this is the equivalence.  The paper's
  convention (no ½: λ'‖·‖²) gives the weight 2√(λ'_Wλ'_H), the same number when λ' = λ/2 (proved);
* minority collapse (derived here; the paper's theorem text was not reachable): for a group g of
  >= 2 classes of equal size n_g, at any point whose g-columns and g-rows of Z coincide, the
  softmax columns p_k (k ∈ g) coincide and are constant on g, so the loss gradient Γ = −∇_X L
  acts on the contrast space C_g = {v supported on g, Σv = 0} as P_g Γ P_g = (√n_g/N) P_g
  (proved, symbolic softmax entries).  The nuclear-norm subgradient block on C_g is in [−1, 1]
  where X vanishes there, and equals 1 where it does not; so the g-classes coincide at the
  optimum iff √n_g/N <= μ, i.e. n_g <= N²λ_Wλ_H (paper convention: n_g <= N² l², l the nuclear
  weight), and the contrast multiplier is γ_g = min(μ, √n_g/N).  (The symmetric optimum, the
  average of an optimum over permutations of g, exists by convexity.)
"""
from __future__ import annotations

import sympy as sp

from theory.proof import Obligation, nonnegative, positive, zero


def groups_of(counts) -> list[tuple[int, ...]]:
    """Classes sharing a size, as 0-based index tuples (groups of two or more)."""
    by: dict[int, list[int]] = {}
    for k, c in enumerate(counts):
        by.setdefault(int(c), []).append(k)
    return [tuple(v) for _, v in sorted(by.items()) if len(v) >= 2]


def key(group) -> str:
    """Quantity suffix of a group: its 1-based class numbers, e.g. (2, 3) → "3_4"."""
    return "_".join(str(k + 1) for k in group)


def threshold(counts, group) -> sp.Expr:
    """μ* = √n_g / N: the group's classes coincide at the optimum iff μ >= μ*."""
    return sp.sqrt(sp.Integer(counts[group[0]])) / sp.Integer(sum(counts))


def formulas(counts, lambda_W, lambda_H) -> dict[str, sp.Expr]:
    """Predictions: NC1 and the convex optimum's agreement quantities (0), and per group g of equal
    sizes: threshold_g = √n_g/N, contrast_dual_g = min(μ, √n_g/N), and, where collapsed
    (√n_g/N <= μ), spread_w_g = spread_h_g = 0."""
    mu = sp.sqrt(sp.sympify(lambda_W) * sp.sympify(lambda_H))
    f: dict[str, sp.Expr] = {"h_within": sp.Integer(0), "loss_gap": sp.Integer(0), "z_gap": sp.Integer(0),
                             "stationarity": sp.Integer(0), "mean_gap": sp.Integer(0)}
    for g in groups_of(counts):
        t = threshold(counts, g)
        f[f"threshold_{key(g)}"] = t
        f[f"contrast_dual_{key(g)}"] = sp.Min(mu, t)
        if sp.simplify(mu - t) >= 0:
            f[f"spread_w_{key(g)}"] = sp.Integer(0)
            f[f"spread_h_{key(g)}"] = sp.Integer(0)
    return f


def variational_obligations() -> list[Obligation]:
    """The scalar AM–GM step, its equality case (balancing) and the convention map."""
    lw, lh, s = sp.symbols("lambda_W lambda_H s", positive=True)
    w, h = sp.symbols("w htilde", real=True)
    mu = sp.sqrt(lw * lh)
    c = (lh / lw) ** sp.Rational(1, 4)
    square = (sp.sqrt(lw) * w - sp.sqrt(lh) * h) ** 2 / 2
    return [
        zero("(λ_W/2)w² + (λ_H/2)h̃² − √(λ_Wλ_H)·w·h̃ − ½(√λ_W w − √λ_H h̃)²",
             sp.expand(lw * w**2 / 2 + lh * h**2 / 2 - mu * w * h - square)),
        nonnegative("½(√λ_W w − √λ_H h̃)² (so the regularizer >= μ·|w h̃| = μ·s)", square),
        zero("balanced factors w = c√s, h̃ = √s/c, c = (λ_H/λ_W)^{1/4}: regularizer − μ s",
             lw * (c * sp.sqrt(s)) ** 2 / 2 + lh * (sp.sqrt(s) / c) ** 2 / 2 - mu * s),
        zero("balanced factors: w·h̃ − s", c * sp.sqrt(s) * sp.sqrt(s) / c - s),
        zero("paper's convention λ'‖·‖² (no ½), λ' = λ/2: 2√(λ'_Wλ'_H) − √(λ_Wλ_H)",
             2 * sp.sqrt((lw / 2) * (lh / 2)) - mu),
    ]


def nc1_obligations(K: int, lambda_H) -> list[Obligation]:
    """Within-class decomposition (n = 3, one coordinate), convexity of CE in the logits (K classes:
    its Hessian, differentiated here, is diag p − ppᵀ, whose quadratic form is a variance), strict
    convexity of a sample's feature problem (λ_H > 0)."""
    h = sp.symbols("h1:4", real=True)
    hb = sum(h) / 3
    z = sp.symbols(f"z:{K}", real=True)                            # the K logits (0-based names)
    e = sp.symbols(f"e:{K}", positive=True)                         # e_j = exp(z_j)
    hessian = sp.hessian(sp.log(sum(sp.exp(x) for x in z)), z).subs(dict(zip(map(sp.exp, z), e)))
    soft = sp.Matrix(e) / sum(e)                                    # CE(z, y) = log Σ_j e^{z_j} − z_y
    p = sp.symbols(f"p:{K}", positive=True)
    v = sp.symbols(f"v:{K}", real=True)
    m = sum(pi * vi for pi, vi in zip(p, v))
    quad = sum(pi * vi**2 for pi, vi in zip(p, v)) - m**2          # vᵀ(diag p − ppᵀ)v
    var = sum(pi * (vi - m) ** 2 for pi, vi in zip(p, v))
    on_simplex = {p[-1]: 1 - sum(p[:-1])}
    return [
        zero("Σ_i h_i² − 3h̄² − Σ_i (h_i − h̄)² (n = 3)", sp.expand(sum(x**2 for x in h) - 3 * hb**2
                                                                  - sum((x - hb) ** 2 for x in h))),
        zero(f"∇²_z CE − (diag p − ppᵀ), p = softmax(z): entries that do not cancel to 0 (K = {K})",
             sum(x != 0 for x in (hessian - (sp.diag(*soft) - soft * soft.T)).applyfunc(sp.cancel))),
        zero(f"vᵀ(diag p − ppᵀ)v − Σ_j p_j(v_j − pᵀv)² on the simplex (K = {K})",
             sp.expand((quad - var).subs(on_simplex))),
        nonnegative(f"Σ_j p_j(v_j − pᵀv)² (CE convex in the logits, K = {K})", var),
        positive("λ_H (a sample's feature problem is λ_H-strongly convex: NC1)", sp.sympify(lambda_H)),
    ]


def contrast_block(counts, group) -> sp.Matrix:
    """P_g (−∇_X L) P_g at a point whose g-columns (and g-rows) of Z coincide: softmax columns
    p_k = p for k ∈ g, with p_j = q for j ∈ g (other entries free symbols)."""
    K, N = len(counts), sp.Integer(sum(counts))
    q = sp.Symbol("q", positive=True)
    p = [q if j in group else sp.Symbol(f"p{j + 1}", positive=True) for j in range(K)]
    G = sp.zeros(K, K)                                   # ∂L/∂X = ∂L/∂Z · D⁻¹
    for k in range(K):
        n_k = sp.Integer(counts[k])
        col = [p[j] - (1 if j == k else 0) for j in range(K)] if k in group else \
            [sp.Symbol(f"p{j + 1}_{k + 1}", positive=True) - (1 if j == k else 0) for j in range(K)]
        for j in range(K):
            G[j, k] = n_k / N * col[j] / sp.sqrt(n_k)
    P = projector(K, group)
    return P * (-G) * P


def projector(K: int, group) -> sp.Matrix:
    P = sp.zeros(K, K)
    m = len(group)
    for a in group:
        for b in group:
            P[a, b] = (1 if a == b else 0) - sp.Rational(1, m)
    return P


def prove(formulas: dict[str, sp.Expr], counts, lambda_W, lambda_H) -> list[Obligation]:
    """Obligations for the given formulas (see the module docstring)."""
    mu = sp.sqrt(sp.sympify(lambda_W) * sp.sympify(lambda_H))
    K = len(counts)
    obs = variational_obligations() + nc1_obligations(K, lambda_H)
    for name in ("h_within", "loss_gap", "z_gap", "stationarity", "mean_gap"):
        obs.append(zero(f"{name}: NC1 / the convex optimum is attained by the factorization", formulas[name]))
    for g in groups_of(counts):
        t, kg = threshold(counts, g), key(g)
        B = contrast_block(counts, g) - t * projector(K, g)
        obs.append(zero(f"classes {kg} coincide ⇒ P_g(−∇_X L)P_g − (√n_g/N)P_g (squared Frobenius norm)",
                        sp.simplify((B.T * B).trace())))
        obs.append(zero(f"threshold_{kg} − √n_g/N", formulas[f"threshold_{kg}"] - t))
        collapsed = f"spread_w_{kg}" in formulas or f"spread_h_{kg}" in formulas
        if collapsed:
            obs.append(nonnegative(f"μ − √n_g/N (classes {kg}: the coinciding point is a KKT point)", mu - t))
            obs.append(zero(f"contrast_dual_{kg} − √n_g/N (collapsed)", formulas[f"contrast_dual_{kg}"] - t))
            for name in (f"spread_w_{kg}", f"spread_h_{kg}"):     # both coincide: a missing one is not proved
                obs.append(zero(f"{name} (the classes {kg} coincide)", formulas.get(name, sp.nan)))
        else:
            obs.append(positive(f"√n_g/N − μ (classes {kg}: coinciding violates |γ| <= μ)", t - mu))
            obs.append(zero(f"contrast_dual_{kg} − μ (spread: the subgradient block is the identity)",
                            formulas[f"contrast_dual_{kg}"] - mu))
    return obs
