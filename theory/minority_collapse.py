r"""Minority collapse in the imbalanced CE layer-peeled model (Fang, He, Long & Su 2021).

Objective (class means h̄_k, weights ω_k = n_k/N; K_A majority classes of n_A samples,
K_B minority classes of n_B = n_A/R)::

    min Σ_k ω_k CE(W h̄_k, k)  s.t. (1/K) Σ_k ‖w_k‖² <= E_W, (1/K) Σ_k ‖h̄_k‖² <= E_H,
    ω_A = R/(K_A R + K_B),  ω_B = 1/(K_A R + K_B).

At R = 1 this is the balanced model: the simplex ETF (:mod:`theory.layer_peeled`).

Collapse certificate (derived here).  The SDP over the Gram X of [H̄ᵀ; Wᵀ] has the
Lagrangian slack S = [[(μ_H/K) I, ½Γᵀ], [½Γ, (μ_W/K) I]] ⪰ 0, SX = 0, with
Γ = (P − I)Ω = ∂f/∂Z (P the column softmax of Z = W H̄ᵀ).  At a configuration whose
minority classifiers coincide and whose minority means coincide, Γ and Γᵀ act on every
vector v supported on the minority classes with Σv = 0 as −ω_B v.  So on that subspace
S is the 2×2 block [[μ_H/K, −ω_B/2], [−ω_B/2, μ_W/K]], positive definite iff
ω_B < 2√(μ_W μ_H)/K (= ‖Γ‖_op at the optimum); then SX = 0 forces X to vanish there:
‖w_k − w_k'‖ = ‖h̄_k − h̄_k'‖ = 0 for minority k, k'.  Whether ω_B < 2√(μ_W μ_H)/K
(i.e. R > R*) is measured numerically, not proved here.
"""
from __future__ import annotations

import sympy as sp

from theory import layer_peeled as lp
from theory.algebra import IJ
from theory.proof import Obligation, positive, zero


def class_weights(K_A, K_B, R) -> tuple[sp.Expr, sp.Expr]:
    """(ω_A, ω_B) = (R, 1)/(K_A R + K_B)."""
    K_A, K_B, R = (sp.sympify(v) for v in (K_A, K_B, R))
    return R / (K_A * R + K_B), 1 / (K_A * R + K_B)


def formulas(K_A, K_B, R, E_W, E_H) -> dict[str, sp.Expr]:
    """Predictions.  R = 1: the ETF closed forms plus minority_cos = minority_h_cos = −1/(K−1).
    R > 1 (beyond the threshold): minority_cos = minority_h_cos = 1 (exact collapse)."""
    K = sp.sympify(K_A) + sp.sympify(K_B)
    if sp.sympify(R) == 1:
        f = lp.layer_peeled_formulas(K, E_W, E_H)
        return {**f, "minority_cos": f["w_cos"], "minority_h_cos": f["w_cos"]}
    return {"minority_cos": sp.Integer(1), "minority_h_cos": sp.Integer(1)}


def gamma_on_minority_differences(K_A, K_B) -> tuple[Obligation, ...]:
    """Γ = (P − I)Ω at a minority-collapsed configuration, on minority vectors summing to 0.

    Minority column k: softmax p_k(j) = q for every minority j (equal logits), p_A for
    every majority j (K_A p_A + K_B q = 1).  Γ_BB = ω_B(qJ − I) (an αI + βJ matrix),
    Γ_AB = ω_B p_A 1 1ᵀ; Γ_BA[j, a] = ω_A p_a(j) is constant in the minority row j."""
    K_B = sp.sympify(K_B)
    q, w_B = sp.symbols("q omega_B", positive=True)
    G_BB = IJ(-w_B, w_B * q, K_B)
    return (
        zero("Γ_BB acts as −ω_B on minority vectors with Σv = 0 (eigenvalue α on 1^⊥)", G_BB.alpha + w_B),
        zero("Γ_BB·1 = ω_B(K_B q − 1)·1: the 1-direction is not the minority-difference block",
             G_BB.row_sum - w_B * (K_B * q - 1)),
    )


def slack_block(mu_W, mu_H, omega_B, K) -> sp.Matrix:
    """S restricted to (minority-difference feature, classifier) directions, per dimension."""
    return sp.Matrix([[mu_H / K, -omega_B / 2], [-omega_B / 2, mu_W / K]])


def lagrangian_slack(K_A, K_B, mu_W, mu_H, omega_A, omega_B) -> sp.Matrix:
    """The whole slack S = ∂/∂X [f + (μ_H/K) tr X_HH + (μ_W/K) tr X_WW] (2K×2K, rows and columns
    ordered as [H̄ᵀ; Wᵀ], so Z = W H̄ᵀ is the lower-left block of X and S holds ½∂f/∂Z there) at a
    minority-collapsed configuration: Γ = ∂f/∂Z = (P − I)Ω, with softmax columns P whose entries
    are free positive symbols except where the coinciding minority rows and columns force equal
    logits: a minority column is q on every minority row and a_j on majority row j, the same for
    every minority column; a majority column k is r_k on every minority row."""
    K = K_A + K_B
    q = sp.Symbol("q", positive=True)
    P = sp.zeros(K, K)
    for j in range(K):
        for k in range(K):
            if k >= K_A:
                P[j, k] = q if j >= K_A else sp.Symbol(f"a_{j}", positive=True)
            else:
                P[j, k] = sp.Symbol(f"r_{k}", positive=True) if j >= K_A else sp.Symbol(f"p_{j}_{k}", positive=True)
    Gamma = (P - sp.eye(K)) * sp.diag(*([omega_A] * K_A + [omega_B] * K_B))
    return sp.BlockMatrix([[mu_H / K * sp.eye(K), Gamma.T / 2], [Gamma / 2, mu_W / K * sp.eye(K)]]).as_explicit()


def slack_obligations(K_A, K_B) -> list[Obligation]:
    """S maps the minority-difference directions (v, 0) and (0, v) (v supported on the minority
    classes, Σv = 0) into their span, as the matrix ``slack_block``: so S is block diagonal in that
    split, and positive definiteness of the block is what SX = 0 needs.  The columns of
    Q = diag(0, I − J/K_B) span every such v."""
    K = K_A + K_B
    mu_W, mu_H, w_A, w_B = sp.symbols("mu_W mu_H omega_A omega_B", positive=True)
    S = lagrangian_slack(K_A, K_B, mu_W, mu_H, w_A, w_B)
    Q = sp.diag(sp.zeros(K_A, K_A), sp.eye(K_B) - sp.ones(K_B, K_B) / K_B)
    U_H, U_W = sp.Matrix.vstack(Q, sp.zeros(K, K)), sp.Matrix.vstack(sp.zeros(K, K), Q)
    s = slack_block(mu_W, mu_H, w_B, K)
    return [
        zero("S(v, 0) = slack_block[0, 0]·(v, 0) + slack_block[1, 0]·(0, v) (Frobenius norm of the residual)",
             sp.expand(S * U_H - (U_H * s[0, 0] + U_W * s[1, 0])).norm()),
        zero("S(0, v) = slack_block[0, 1]·(v, 0) + slack_block[1, 1]·(0, v) (Frobenius norm of the residual)",
             sp.expand(S * U_W - (U_H * s[0, 1] + U_W * s[1, 1])).norm()),
    ]


def prove(f: dict[str, sp.Expr], K_A, K_B, R, E_W, E_H, d=None) -> list[Obligation]:
    """R = 1: the balanced proof of the ETF (dual certificate) and minority cosines = ETF cosine.
    R > 1: the collapse certificate: Γ on minority differences, the slack block positive
    definite when ω_B < 2√(μ_W μ_H)/K, and the consequence of SX = 0 for the formulas'
    minority Grams w(1 − c)·I (classifiers) and h(1 − c_h)·I (means) on 1^⊥."""
    K = sp.sympify(K_A) + sp.sympify(K_B)
    if sp.sympify(R) == 1:
        obs = lp.prove_layer_peeled(f, K, E_W, E_H, d)
        obs.append(zero("minority classifier cosine = ETF cosine at R = 1", f["minority_cos"] - f["w_cos"]))
        obs.append(zero("minority mean cosine = ETF cosine at R = 1 (h̄_k ∝ w_k)", f["minority_h_cos"] - f["w_cos"]))
        return obs
    mu_H, t, v, w, h = sp.symbols("mu_H t v w h", positive=True)
    # parametrize ω_B < t = 2√(μ_W μ_H)/K as ω_B = t/(1 + v), v > 0, and μ_W = (K t/2)²/μ_H;
    # it covers the whole region 0 < ω_B < t: ω_B decreases from t (v → 0) to 0 (v → ∞)
    omega_B = t / (1 + v)
    mu_W = (K * t / 2) ** 2 / mu_H
    S = slack_block(mu_W, mu_H, omega_B, K)
    w_A, w_B = class_weights(K_A, K_B, R)
    obs = [
        zero("weights sum to 1: K_A ω_A + K_B ω_B = 1", K_A * w_A + K_B * w_B - 1),
        zero("weights in the ratio of the class sizes: ω_A = R ω_B", w_A - R * w_B),
        *gamma_on_minority_differences(K_A, K_B),
        *slack_obligations(K_A, K_B),
        zero("parametrization: t = 2√(μ_W μ_H)/K", 2 * sp.sqrt(mu_W * mu_H) / K - t),
        zero("parametrization: ω_B → t as v → 0", sp.limit(omega_B, v, 0) - t),
        zero("parametrization: ω_B → 0 as v → ∞", sp.limit(omega_B, v, sp.oo)),
        positive("parametrization: ω_B strictly decreasing in v (so v > 0 covers 0 < ω_B < t)", -sp.diff(omega_B, v)),
        positive("slack block: leading entry μ_H/K > 0", S[0, 0]),
        positive("slack block: determinant (μ_Wμ_H/K² − ω_B²/4) > 0 when ω_B < 2√(μ_W μ_H)/K", sp.factor(S.det())),
        # tr(S X) = 0 with S positive definite on the block: the block of X, whose entries are
        # the spreads of the minority classifiers and means on 1^⊥, vanishes.
        zero("SX = 0: minority classifier spread w(1 − minority_cos) = 0", w * (1 - f["minority_cos"])),
        zero("SX = 0: minority mean spread h(1 − minority_h_cos) = 0", h * (1 - f["minority_h_cos"])),
    ]
    return obs
