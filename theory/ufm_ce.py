"""Balanced cross-entropy UFM (Zhu et al. 2021): closed forms and their proof obligations.

Objective (the engine's, and the paper's Eq. (3) as we read it)::

    f(W, H, b) = (1/N) Σ_{k,i} CE(W h_{k,i} + b, k) + (λ_W/2)‖W‖² + (λ_H/2)‖H‖² + (λ_b/2)‖b‖²,

N = nK.  On the collapsed family ‖w_k‖² = x, W Wᵀ = x·K/(K−1)·(I − J/K),
h_{k,i} = c·w_k with c = √(λ_W/(nλ_H)), b = 0, the objective is the convex

    φ(x) = log(1 + (K−1) e^{−αx}) + Kλ_W x,   α = c·K/(K−1).

Everything below is proved from the *formulas it is given* (so a perturbed formula
is refuted): the reduction itself (with the IJ algebra, K symbolic), the full first-order
conditions of f at the claimed point, φ'' > 0, the sign of φ'(0) on each side of the
threshold Kη = 1 (η = √(nλ_Wλ_H)), and the value.  For symbolic parameters we write
η = 1/(K+s) (s > 0, the nonzero branch) or η = (1+s)/K (s ≥ 0, the zero branch), with
λ_H = η²/(nλ_W), so that sympy knows on which side of the threshold it is.
"""
from __future__ import annotations

import sympy as sp

from theory import algebra
from theory.etf import K_SYMBOLIC
from theory.proof import Obligation, exact, nonnegative, positive, zero

x_sym = sp.Symbol("x", positive=True)
s_sym = sp.Symbol("s", positive=True)
s0_sym = sp.Symbol("s", nonnegative=True)
n_sym = sp.Symbol("n", positive=True, integer=True)
lamW_sym = sp.Symbol("lambda_W", positive=True)
lamb_sym = sp.Symbol("lambda_b", positive=True)


def symbolic_params(branch_nonzero: bool) -> dict:
    """K = m+1, n, λ_W, λ_b symbolic; λ_H placed on the requested side of Kη = 1."""
    K = K_SYMBOLIC
    eta = 1 / (K + s_sym) if branch_nonzero else (1 + s0_sym) / K
    return {"K": K, "n": n_sym, "d": None, "lambda_W": lamW_sym, "lambda_H": eta**2 / (n_sym * lamW_sym),
            "lambda_b": lamb_sym, "_nonzero": branch_nonzero}


def params(p) -> tuple:
    K, n = sp.sympify(p["K"]), sp.sympify(p["n"])
    lW, lH = exact(p["lambda_W"]), exact(p["lambda_H"])
    return K, n, lW, lH, sp.sqrt(n * lW * lH)


def nonzero_branch(p) -> bool:
    """Kη < 1 (decided in exact arithmetic at concrete parameters)."""
    if "_nonzero" in p:
        return p["_nonzero"]
    K, _, _, _, eta = params(p)
    return bool(K * eta < 1)


def phi(p, x):
    """The reduced objective on the collapsed family, and α."""
    K, n, lW, lH, _ = params(p)
    alpha = K / (K - 1) * sp.sqrt(lW / (n * lH))
    return sp.log(1 + (K - 1) * sp.exp(-alpha * x)) + K * lW * x, alpha


def balanced_formulas(p) -> dict:
    """Closed forms of the global minimizer: Zhu et al. 2021, Thm 3.1 structure; constants derived."""
    K, n, lW, lH, eta = params(p)
    if nonzero_branch(p):
        margin = sp.log(1 / eta - (K - 1))
        w2 = (K - 1) / K * sp.sqrt(n * lH / lW) * margin
        loss = -sp.log(1 - (K - 1) * eta) + (K - 1) * eta * margin
        return {"loss": loss, "w_norm_sq": w2, "h_norm_sq": lW / (n * lH) * w2, "margin": margin,
                "w_cos": -1 / (K - 1), "feature_mean_norm": sp.Integer(0), "b_spread": sp.Integer(0),
                "within_class": sp.Integer(0)}
    return {"loss": sp.log(K), "w_norm_sq": sp.Integer(0), "h_norm_sq": sp.Integer(0), "margin": sp.Integer(0),
            "b_spread": sp.Integer(0)}


def prove_balanced(p, f) -> list[Obligation]:
    K, n, lW, lH, eta = params(p)
    N = n * K
    ph, alpha = phi(p, x_sym)
    d1, d2 = sp.diff(ph, x_sym), sp.diff(ph, x_sym, 2)
    # φ'' = (K−1)α²e^{−αx}/(1 + (K−1)e^{−αx})²: the identity, then the numerator's sign
    curvature_num = (K - 1) * alpha**2 * sp.exp(-alpha * x_sym)
    obs = [zero("phi''(x) = (K-1) alpha^2 e^{-alpha x}/(1 + (K-1) e^{-alpha x})^2",
                sp.simplify(d2 - curvature_num / (1 + (K - 1) * sp.exp(-alpha * x_sym)) ** 2)),
           positive("convexity: (K-1) alpha^2 e^{-alpha x} > 0, so phi''(x) > 0", curvature_num)]
    if not nonzero_branch(p):
        return obs + [
            nonnegative("zero branch: phi'(0) >= 0, so x = 0 minimizes the convex phi", sp.simplify(d1.subs(x_sym, 0))),
            zero("value: f* = phi(0) = log K", f["loss"] - ph.subs(x_sym, 0)),
            zero("W = 0", f["w_norm_sq"]), zero("H = 0", f["h_norm_sq"]),
        ]
    x, h2 = f["w_norm_sq"], f["h_norm_sq"]
    c = sp.sqrt(h2 / x)                                   # h_{k,i} = c w_k, read off the formulas
    # Collapsed structure in the IJ algebra: W Wᵀ = x K/(K-1) (I - J/K); mean logits Z̄ = c W Wᵀ.
    G = algebra.centering(K).scale(x * K / (K - 1))
    Zbar = G.scale(c)
    gap = Zbar.diagonal - Zbar.off_diagonal               # z_kk − z_kj
    p_d = 1 / (1 + (K - 1) * sp.exp(-gap))                # softmax on the diagonal / off it
    p_o = sp.exp(-gap) * p_d
    ce = sp.log(1 + (K - 1) * sp.exp(-gap))
    reg = lW / 2 * G.trace + lH / 2 * n * c**2 * G.trace
    coef = p_d - p_o - 1                                  # (P̄ − I) acts as this scalar on range(W)
    return obs + [
        zero("reduction: f on the collapsed family = phi(x)", ce + reg - ph.subs(x_sym, x)),
        positive("nonzero branch: phi'(0) < 0, so W = H = 0 is not optimal", sp.simplify(-d1.subs(x_sym, 0))),
        positive("||w||^2 > 0", x),
        zero("stationarity: phi'(||w||^2) = 0", d1.subs(x_sym, x)),
        zero("first-order condition in W: (c/K)(p_d - p_o - 1) + lambda_W = 0", c / K * coef + lW),
        zero("first-order condition in H: (1/N)(p_d - p_o - 1) + lambda_H c = 0", coef / N + lH * c),
        zero("first-order condition in b (b = 0): rows of softmax sum to 1", p_d + (K - 1) * p_o - 1),
        zero("logit margin = z_kk - z_kj", f["margin"] - gap),
        zero("value: f* = phi(||w||^2)", f["loss"] - ph.subs(x_sym, x)),
        zero("classifier cosine from the Gram", f["w_cos"] - G.off_diagonal / G.diagonal),
        zero("global feature mean: sum_k h_k = c W^T 1 = 0 (row sums of the centred Gram)",
             f["feature_mean_norm"] + c * G.row_sum),
        zero("within-class spread 0 (h_{k,i} = c w_k for every i)", f["within_class"]),
        zero("bias: all entries equal", f["b_spread"]),
    ]


def origin_min_eig(p) -> sp.Expr:
    """Smallest Hessian eigenvalue of f at W = H = 0, b = 0 (balanced classes).

    At the origin the (W, H) Hessian couples W and H through the centred labels
    Y_c = Y − J/K, whose nonzero singular values are √n; per singular pair it is
    [[λ_W, −√n/N], [−√n/N, λ_H]].  The b-block (I − J/K)/K + λ_b I is PSD."""
    K, n, lW, lH, _ = params(p)
    return (lW + lH) / 2 - sp.sqrt(((lW - lH) / 2) ** 2 + 1 / (n * K**2))


def prove_landscape(p, f) -> list[Obligation]:
    K, n, lW, lH, eta = params(p)
    N = n * K
    e = f["origin_min_eig"]
    Yc_gram = algebra.centering(K).scale(n)               # Y_c Y_cᵀ = n (I − J/K)
    sigma_sq = Yc_gram.alpha                              # its eigenvalue on 1^⊥
    obs = [
        zero("Y_c Y_c^T = n(I - J/K): squared singular values n", (Yc_gram @ Yc_gram).alpha - sigma_sq**2),
        zero("eigenvalue of the coupled 2x2 block", (lW - e) * (lH - e) - sigma_sq / N**2),
        positive("it is the smaller root (the other is larger)", (lW + lH) - 2 * e),
        positive("the larger root is positive, so sign(smallest) = sign(det)", (lW + lH) - e),
    ]
    if nonzero_branch(p):
        obs.append(positive("K eta < 1: det < 0, a negative curvature direction at the origin (strict saddle)",
                            sp.simplify(sigma_sq / N**2 - lW * lH)))
    else:
        obs.append(nonnegative("K eta >= 1: det >= 0, the origin's Hessian is PSD", sp.simplify(lW * lH - sigma_sq / N**2)))
    return obs + prove_balanced(p, f)
