"""Balanced MSE unconstrained-features model: closed forms and proofs (THEORY.md §4).

Objective (K classes, n samples each, N = Kn, Y = I_K ⊗ 1_nᵀ)::

    L(W, H, b) = (1/(2N))‖WH + b1ᵀ − Y‖_F² + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²,

η = √(nλ_Wλ_H), s = √(λ_W/(nλ_H)).  Reduction [derived here, re-proved below]:

1. NC1: for fixed (W, b), L is strictly convex in each column h_i (λ_H > 0) and
   depends on i only through its label, so h_{k,i} = h̄_k and the data term is
   (1/(2K))‖WH̄ + b1ᵀ − I‖², the feature penalty (nλ_H/2)‖H̄‖².
2. Balanced factorization: min{(λ_W/2)‖W‖² + (nλ_H/2)‖H̄‖² : WH̄ = Z} = η‖Z‖_*
   (AM–GM on each singular value; rank Z <= d), attained iff WWᵀ = (ZZᵀ)^{1/2}/s
   and H̄ᵀH̄ = s(ZᵀZ)^{1/2}.
3. The convex problem min (1/(2K))‖Z + b1ᵀ − I‖² + η‖Z‖_* + (λ_b/2)‖b‖² is
   invariant under simultaneous permutations of rows and columns, so (averaging
   a minimizer over the group) Z = p(I − J/K) + (c/K)J and b = β1: one scalar
   problem on 1^⊥, φ(σ) = (1−σ)²/(2K) + ησ, soft-thresholding p = (1 − Kη)₊, and
   one along 1, in (c, β).  Without bias β = 0 and c = p (Z = pI, Tirer & Bruna);
   with λ_b = 0, β = (1 − c)/K and c = 0; with λ_b > 0, β = (1 − c)/(K(1 + λ_b))
   and c = (1 − Kη(1+λ_b)/λ_b)₊ (eliminating β leaves (μ/(2K))(1 − c)² + η|c|,
   μ = λ_b/(1+λ_b): soft-thresholding at Kη/μ).  The minimizer is unique without
   bias or with λ_b > 0 (the quadratic part is strictly convex in Z, resp. (Z, b)).

The proofs take the formulas as arguments so that a perturbed formula is refuted.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.algebra import IJ, centering, identity, ones
from theory.etf import helmert_basis
from theory.proof import Obligation, exact, nonnegative, positive, zero

#: Concrete K up to this bound also get explicit-matrix least-squares proofs (central path).
EXPLICIT_LS_K_MAX = 5


# --------------------------------------------------------------------------- helpers


def pos_part(x) -> sp.Expr:
    """(x)₊, decided from the symbols' assumptions where sympy can; else Max(0, x)."""
    x = sp.sympify(x)
    for e in (x, sp.together(x), sp.factor(sp.together(sp.expand(x)))):
        if e.is_nonnegative:
            return x
        if e.is_nonpositive:
            return sp.Integer(0)
    return sp.Max(0, x)


def fast_zero(name: str, expr) -> Obligation:
    """``zero``, decided first by rational-function arithmetic (``cancel`` with radicals as
    generators: sound, and much faster than ``simplify``).  A nonzero number (50 digits)
    or an expression sympy's assumptions call nonzero is refuted; otherwise ``simplify``."""
    expr = sp.sympify(expr)
    try:
        r = sp.cancel(sp.together(expr))
    except sp.PolynomialError:
        return zero(name, expr)
    if r == 0:
        return Obligation(name, expr, "== 0", True)
    if r.is_number and abs(sp.N(r, 50)) > sp.Float("1e-40"):
        return Obligation(name, expr, "== 0", False)
    if r.is_zero is False:
        return Obligation(name, expr, "== 0", False)
    return zero(name, expr)


def fast_sign(name: str, expr, strict: bool) -> Obligation:
    """``positive``/``nonnegative``, decided first on the factored rational form."""
    expr = sp.sympify(expr)
    try:
        f = sp.factor(sp.cancel(sp.together(expr)))
    except sp.PolynomialError:
        f = None
    verdict = None if f is None else (f.is_positive if strict else f.is_nonnegative)
    if verdict is True:
        return Obligation(name, expr, "> 0" if strict else ">= 0", True)
    return positive(name, expr) if strict else nonnegative(name, expr)


def fast_positive(name: str, expr) -> Obligation:
    return fast_sign(name, expr, True)


def fast_nonnegative(name: str, expr) -> Obligation:
    return fast_sign(name, expr, False)


def is_zero(x) -> bool:
    """x is identically 0 (to pick a branch; proofs use ``fast_zero``)."""
    x = sp.sympify(x)
    if x == 0:
        return True
    r = sp.cancel(sp.together(x))
    if r.is_zero is not None:
        return bool(r.is_zero)
    if r.is_number:
        return abs(sp.N(r, 40)) < sp.Float("1e-30")
    return sp.simplify(r) == 0


def eta(n, lambda_W, lambda_H) -> sp.Expr:
    return sp.sqrt(exact(n) * exact(lambda_W) * exact(lambda_H))


def feature_scale(n, lambda_W, lambda_H) -> sp.Expr:
    """s with H̄ᵀH̄ = s·(ZᵀZ)^{1/2} and WWᵀ = (ZZᵀ)^{1/2}/s at the optimum."""
    return sp.sqrt(exact(lambda_W) / (exact(n) * exact(lambda_H)))


def inverse(A: IJ) -> IJ:
    """(αI + βJ)^{-1} = I/α − β/(α(α + Kβ)) J."""
    a, b = A.alpha, A.beta
    return IJ(1 / a, -b / (a * (a + A.K * b)), A.K)


# --------------------------------------------------------------------------- regularized MSE UFM
def optimal_structure(K, n, lambda_W, lambda_H, lambda_b=0, bias: bool = True) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(p, c, β): Z = WH̄ = p(I − J/K) + (c/K)J and b = β1 at the optimum."""
    K, lb = exact(K), exact(lambda_b)
    e = eta(n, lambda_W, lambda_H)
    p = pos_part(1 - K * e)
    if not bias:
        return p, p, sp.Integer(0)
    if is_zero(lb):
        return p, sp.Integer(0), 1 / K
    mu = lb / (1 + lb)
    c = pos_part(1 - K * e / mu)
    return p, c, (1 - c) / (K * (1 + lb))


def structure_formulas(K, n, lambda_W, lambda_H, lambda_b, bias: bool, p, c, beta) -> dict[str, sp.Expr]:
    """Every predicted quantity from (p, c, β), in the closed forms the papers state.

    loss: L* = (K−1)[(1−p)²/(2K) + ηp] + (μ/(2K))(1−c)² + ηc with μ = λ_b/(1+λ_b)
    (μ = 0 when λ_b = 0; no bias: the 1-direction is one more singular value,
    c = p, giving ½(1−p)² + Kηp).
    """
    K, n, lW, lH, lb = (exact(v) for v in (K, n, lambda_W, lambda_H, lambda_b))
    e, s = eta(n, lW, lH), feature_scale(n, lW, lH)
    if not bias:
        loss = (1 - p) ** 2 / 2 + K * e * p
    else:
        mu = lb / (1 + lb)
        loss = (K - 1) * ((1 - p) ** 2 / (2 * K) + e * p) + mu * (1 - c) ** 2 / (2 * K) + e * c
    f = {
        "p": p,                                            # WH̄ on 1^⊥: z_kk − z_kj
        "c": c,                                            # WH̄ along 1: row sums of WH̄
        "loss": loss,
        "w_norm_sq": (p * (K - 1) + c) / (K * s),          # ‖w_k‖²
        "h_norm_sq": s * (p * (K - 1) + c) / K,            # ‖h_{k,i}‖² = ‖h̄_k‖²
        "w_gram_offdiag": (c - p) / (K * s),               # ⟨w_j, w_k⟩
        "h_gram_offdiag": s * (c - p) / K,                 # ⟨h̄_j, h̄_k⟩
        "mu_g_norm_sq": s * c / K,                         # ‖μ_G‖², global feature mean
        "nc1_spread": sp.Integer(0),                       # max ‖h_{k,i} − h̄_k‖²
    }
    if bias:
        f["b"] = beta
    if not is_zero(p):                                     # angles exist only for nonzero means
        f["cos"] = (c - p) / (p * (K - 1) + c)             # uncentred class means
        f["cos_centred"] = -1 / (K - 1)                    # centred class means
    return f


def mse_formulas(K, n, lambda_W, lambda_H, lambda_b=0, bias: bool = True) -> dict[str, sp.Expr]:
    """The optimum's closed forms (a fresh dict; the sympy work is cached)."""
    args = tuple(exact(v) for v in (K, n, lambda_W, lambda_H, lambda_b))
    return dict(_mse_formulas(*args, bool(bias)))


@lru_cache(maxsize=256)
def _mse_formulas(K, n, lambda_W, lambda_H, lambda_b, bias: bool) -> dict[str, sp.Expr]:
    return structure_formulas(K, n, lambda_W, lambda_H, lambda_b, bias,
                              *optimal_structure(K, n, lambda_W, lambda_H, lambda_b, bias))


def _soft_threshold_optimality(name: str, sigma, K, e) -> list[Obligation]:
    """σ minimizes φ(t) = (1−t)²/(2K) + ηt over t >= 0 (φ'' = 1/K > 0)."""
    t = sp.Symbol("t", real=True)
    phi = (1 - t) ** 2 / (2 * K) + e * t
    dphi = sp.diff(phi, t)
    out = [fast_positive(f"φ'' = 1/K > 0 ({name})", sp.diff(phi, t, 2))]
    if is_zero(sigma):
        out.append(fast_nonnegative(f"{name} = 0: φ'(0) = η − 1/K >= 0 (zero is the minimizer)", dphi.subs(t, 0)))
    else:
        out += [fast_positive(f"{name} > 0", sigma),
                fast_zero(f"φ'({name}) = 0 (soft-thresholding at Kη)", dphi.subs(t, sigma))]
    return out


def prove_mse(formulas: dict[str, sp.Expr], K, n, lambda_W, lambda_H, lambda_b=0, bias: bool = True,
              d=None) -> list[Obligation]:
    """See ``_prove_mse``; cached on the (hashable) formulas and parameters."""
    key = tuple(sorted((k, sp.sympify(v)) for k, v in formulas.items()))
    args = tuple(exact(v) for v in (K, n, lambda_W, lambda_H, lambda_b))
    return list(_prove_mse(key, *args, bool(bias), None if d is None else exact(d)))


@lru_cache(maxsize=512)
def _prove_mse(key, K, n, lambda_W, lambda_H, lambda_b, bias: bool, d) -> tuple[Obligation, ...]:
    return tuple(_prove_mse_uncached(dict(key), K, n, lambda_W, lambda_H, lambda_b, bias, d))


def _prove_mse_uncached(formulas: dict[str, sp.Expr], K, n, lambda_W, lambda_H, lambda_b=0, bias: bool = True,
                        d=None) -> list[Obligation]:
    """The formulas are the optimum of the reduced convex problem (module docstring).

    From p, c, β and the Gram formulas: (i) the Grams are the balanced factorization
    of Z = p(I−J/K) + (c/K)J; (ii) they attain the AM–GM bound η‖Z‖_*; (iii) the
    objective at that point equals ``loss``; (iv) p, c, β satisfy the optimality
    conditions of the scalar problems (stationarity or the subgradient condition
    at 0, with convexity); (v) μ_G, the angles and NC1 follow.
    """
    K, n, lW, lH, lb = (exact(v) for v in (K, n, lambda_W, lambda_H, lambda_b))
    e, s = eta(n, lW, lH), feature_scale(n, lW, lH)
    P, Cv = formulas["p"], formulas["c"]
    beta = formulas["b"] if bias else sp.Integer(0)
    Z = IJ(P, (Cv - P) / K, K)
    GH = IJ(formulas["h_norm_sq"] - formulas["h_gram_offdiag"], formulas["h_gram_offdiag"], K)
    GW = IJ(formulas["w_norm_sq"] - formulas["w_gram_offdiag"], formulas["w_gram_offdiag"], K)
    reg = lW / 2 * GW.trace + n * lH / 2 * GH.trace
    resid = Z + ones(K).scale(beta) - identity(K)
    objective = resid.frobenius_sq() / (2 * K) + reg + (lb / 2 * K * beta**2 if bias else 0)
    out = [
        fast_nonnegative("p >= 0", P), fast_nonnegative("c >= 0", Cv),
        fast_zero("H̄ᵀH̄ = s·Z on 1^⊥ (α part)", GH.alpha - s * Z.alpha),
        fast_zero("H̄ᵀH̄ = s·Z (J part)", GH.beta - s * Z.beta),
        fast_zero("WWᵀ = Z/s on 1^⊥ (α part)", GW.alpha - Z.alpha / s),
        fast_zero("WWᵀ = Z/s (J part)", GW.beta - Z.beta / s),
        fast_zero("AM–GM equality: (λ_W/2)‖W‖² + (nλ_H/2)‖H̄‖² = η‖Z‖_* = η((K−1)p + c)",
                  reg - e * ((K - 1) * P + Cv)),
        fast_zero("objective at this point = loss", objective - formulas["loss"]),
        fast_zero("‖μ_G‖² = 1ᵀH̄ᵀH̄1/K² = mu_g_norm_sq", GH.row_sum / K - formulas["mu_g_norm_sq"]),
        fast_positive("λ_H > 0: strictly convex in each h_i, so NC1", lH),
        fast_zero("NC1: within-class spread 0", formulas["nc1_spread"]),
    ]
    out += _soft_threshold_optimality("p", P, K, e)
    if not bias:
        out += _soft_threshold_optimality("c", Cv, K, e)
    else:
        # F(c, β) = (1 − c − Kβ)²/(2K) + η|c| + (λ_b/2)Kβ²; Hessian of the smooth part has det λ_b >= 0.
        g = 1 - Cv - K * beta
        out += [
            fast_nonnegative("λ_b >= 0: F(c, β) is jointly convex", lb),
            fast_zero("∂F/∂β = −(1 − c − Kβ) + λ_b Kβ = 0", -g + lb * K * beta),
        ]
        if is_zero(Cv):
            out += [fast_nonnegative("c = 0: η − (1 − Kβ)/K >= 0 (subgradient)", e - g / K),
                    fast_nonnegative("c = 0: η + (1 − Kβ)/K >= 0 (subgradient)", e + g / K)]
        else:
            out += [fast_positive("c > 0", Cv), fast_zero("∂F/∂c = −(1 − c − Kβ)/K + η = 0", -g / K + e)]
    if "cos" in formulas:
        out.append(fast_zero("cos = ⟨h̄_j, h̄_k⟩/‖h̄_k‖²", GH.beta / GH.diagonal - formulas["cos"]))
    if "cos_centred" in formulas:
        Gc = (centering(K) @ GH @ centering(K))
        out.append(fast_zero("centred means: cos = −1/(K−1)", Gc.beta / Gc.diagonal - formulas["cos_centred"]))
    if d is not None:
        rank = (0 if is_zero(P) else K - 1) + (0 if is_zero(Cv) else 1)
        out.append(fast_nonnegative(f"rank Z = {rank} fits in d = {d}", exact(d) - rank))
    return out


def lambda_W_for(K, n, lambda_H, K_eta) -> sp.Expr:
    """λ_W giving Kη = K_eta (used to pick a branch with symbolic parameters)."""
    K, n, lambda_H = exact(K), exact(n), exact(lambda_H)
    return K_eta**2 / (K**2 * n * lambda_H)


# --------------------------------------------------------------------------- strong collapse (λ = 0)
def strong_collapse_formulas(K, n) -> dict[str, sp.Expr]:
    """The limit of gradient flow in the invariant subspace (Mixon, Parshall & Pi):
    WWᵀ = √n(I − J/K), h_{k,i} = w_k/√n, b = 1/K, and its norms."""
    K, n = exact(K), exact(n)
    r = sp.sqrt(n)
    return {
        "loss": sp.Integer(0),
        "w_norm_sq": r * (K - 1) / K,
        "w_gram_offdiag": -r / K,
        "cos": -1 / (K - 1),
        "h_norm_sq": (K - 1) / (K * r),
        "b": 1 / K,
        "w_fro_sq": r * (K - 1),
        "h_fro_sq": r * (K - 1),
        "growth_rate": r,          # of ‖W‖ near 0, in the time of ½‖WH + b1ᵀ − Y‖² (no 1/N)
        "nc1_spread": sp.Integer(0),
        "nc3_residual": sp.Integer(0),   # max ‖h_{k,i} − w_k/√n‖²
    }


def prove_strong_collapse(formulas: dict[str, sp.Expr], K, n, d=None) -> list[Obligation]:
    """Interpolation, minimum norm (nuclear-norm certificate), flow fixed point, growth rate.

    With h_{k,i} = w_k/√n: WH + b1ᵀ = (WWᵀ/√n + βJ) ⊗ 1ᵀ, so zero loss iff
    WWᵀ/√n + βJ = I.  Any interpolator has ½(‖W‖² + ‖H‖²) >= ‖Y − b1ᵀ‖_* >=
    ⟨Q, Y − b1ᵀ⟩ with Q = (I − J/K) ⊗ 1ᵀ/√n, ‖Q‖_op = 1 and Q1 = 0, so the bound
    √n(K−1) holds for every b.  In the subspace S the flow of ½‖·‖² is
    Ẇ = (√n I − WWᵀ)W with W = (I − J/K)W; near 0 it is Ẇ = √n W.
    """
    K, n = exact(K), exact(n)
    r = sp.sqrt(n)
    w, wo = formulas["w_norm_sq"], formulas["w_gram_offdiag"]
    GW = IJ(w - wo, wo, K)
    beta = formulas["b"]
    C = centering(K)
    interp = GW.scale(1 / r) + ones(K).scale(beta) - identity(K)
    fixed = (identity(K).scale(r) - GW) @ C
    lin = (identity(K) - ones(K).scale(beta)).scale(r)        # −√n(βJ − I), acting on rows in 1^⊥
    out = [
        fast_zero("interpolation: WWᵀ/√n + βJ − I = 0 (α part)", interp.alpha),
        fast_zero("interpolation: WWᵀ/√n + βJ − I = 0 (J part)", interp.beta),
        fast_zero("zero loss at an interpolator", formulas["loss"]),
        fast_zero("h_{k,i} = w_k/√n: ‖h‖² = ‖w‖²/n", formulas["h_norm_sq"] - w / n),
        fast_zero("‖W‖² = K‖w_k‖²", formulas["w_fro_sq"] - K * w),
        fast_zero("‖H‖² = Kn‖h_{k,i}‖²", formulas["h_fro_sq"] - K * n * formulas["h_norm_sq"]),
        fast_zero("certificate Q: Q1 = 0, so ⟨Q, Y − b1ᵀ⟩ does not depend on b", C.row_sum),
        fast_zero("certificate Q: ‖Q‖_op = 1 (eigenvalues of I − J/K are 1 and 0)", C.alpha - 1),
        fast_zero("attains the bound: ½(‖W‖² + ‖H‖²) = √n·tr(I − J/K)",
                  (formulas["w_fro_sq"] + formulas["h_fro_sq"]) / 2 - r * C.trace),
        fast_zero("fixed point of Ẇ = (√n I − WWᵀ)W (α part)", fixed.alpha),
        fast_zero("fixed point of Ẇ = (√n I − WWᵀ)W (J part)", fixed.beta),
        fast_zero("linearization Ẇ = √n(I − βJ)W on rows in 1^⊥: rate √n", formulas["growth_rate"] - lin.alpha),
        fast_zero("cos = ⟨w_j, w_k⟩/‖w_k‖²", wo / w - formulas["cos"]),
        fast_zero("NC1 in S: within-class spread 0", formulas["nc1_spread"]),
        fast_zero("NC3 in S: h = w/√n", formulas["nc3_residual"]),
    ]
    if d is not None:
        out.append(fast_nonnegative("rank K−1 fits in d", exact(d) - (K - 1)))
    return out


# --------------------------------------------------------------------------- central path (Han, Papyan & Donoho)
def ls_loss_equal_spectrum(K, omega) -> sp.Expr:
    """L_LS of features whose whitened centred means Σ_W^{-1/2}M̃ have K−1 singular values ω.

    L_LS = ½[(K−1)/K − tr(M̃ᵀΣ_T^{-1}M̃)/K²]; with Σ_W = I (affine invariance) and the
    push-through identity M̃ᵀ(I + M̃M̃ᵀ/K)^{-1}M̃ = (I + G/K)^{-1}G, G = M̃ᵀM̃ = ω²(I − J/K).
    """
    K, omega = exact(K), exact(omega)
    G = centering(K).scale(omega**2)
    T = inverse(identity(K) + G.scale(1 / K)) @ G
    return ((K - 1) / K - T.trace / K**2) / 2


def central_path_formulas(K, omega) -> dict[str, sp.Expr]:
    """L_LS = ½Σ_j 1/(K + ω_j²) at ω_j = ω, identities on the central path, and the ω law."""
    K, omega = exact(K), exact(omega)
    L = (K - 1) / (2 * (K + omega**2))
    return {
        "loss_ls": L,                         # least-squares loss by the ω formula
        "loss": L,                            # the UFM objective at W = W_LS(H), b = b_LS(H)
        "perp": sp.Integer(0),                # L_⊥ on the central path
        "decomposition_residual": sp.Integer(0),   # MSE − L_LS − L_⊥ at any (W, b)
        "affine_invariance": sp.Integer(0),   # L_LS(AH + c1ᵀ) − L_LS(H)
        "omega_spread": sp.Integer(0),        # equal ω_j stay equal under the flow
        "law_c1": K**2,                       # c1 log ω + c2 ω² + c3 ω⁴ = t + const
        "law_c2": K,
        "law_c3": sp.Rational(1, 4),
    }


@lru_cache(maxsize=64)
def _explicit_ls(K: int, omega, spectrum=None) -> tuple[sp.Expr, sp.Matrix, sp.Matrix, dict]:
    """Minimize MSE(W, b) = (1/(2K))Σ_k‖Wμ_k + b − e_k‖² + ½‖W‖² (Σ_W = I) exactly,
    μ_k = ω·(Helmert column k) ∈ R^{K−1} (or diag(spectrum)·Helmert), by its normal equations
    [W b](M_a M_aᵀ/K + diag(1, …, 1, 0)) = M_aᵀ/K, M_a = [M; 1ᵀ]; returns (L_LS, W, b, aux)
    with W, b symbolic in aux["mse"]."""
    d = K - 1
    Wm = sp.Matrix(K, d, lambda i, j: sp.Symbol(f"w_{i}{j}", real=True))
    bv = sp.Matrix(K, 1, lambda i, j: sp.Symbol(f"b_{i}", real=True))
    M = helmert_basis(K) * omega if spectrum is None else sp.diag(*spectrum) * helmert_basis(K)
    Ma = M.col_join(sp.ones(1, K))
    D = sp.diag(*([1] * d + [0]))

    def mse(Wx, bx):
        R = Wx * M + bx * sp.ones(1, K) - sp.eye(K)
        return sum(x**2 for x in R) / (2 * K) + sum(x**2 for x in Wx) / 2

    Wa = (Ma.T / K) * (Ma * Ma.T / K + D).inv()
    Wa = Wa.applyfunc(sp.cancel)
    WLS, bLS = Wa[:, :d], Wa[:, d]
    stationary = (Wa * (Ma * Ma.T / K + D) - Ma.T / K).applyfunc(sp.cancel)
    return sp.cancel(mse(WLS, bLS)), Wm, bv, {"mse": mse(Wm, bv), "W_LS": WLS, "b_LS": bLS, "M": M,
                                              "stationarity": stationary}


@lru_cache(maxsize=64)
def _explicit_lemmas(k: int, omega):
    """(L_LS, Σ|normal-equation residuals|, MSE − L_LS − L_⊥ at symbolic (W, b)) for the
    explicit K = k problem with Σ_W = I, μ_G = 0 (Helmert columns sum to 0) and
    Σ_T = I + M̃M̃ᵀ/K."""
    L_ex, Wm, bv, aux = _explicit_ls(k, omega)
    M, WLS = aux["M"], aux["W_LS"]
    SigT = sp.eye(k - 1) + M * M.T / k
    Delta = Wm - WLS
    e = bv - sp.ones(k, 1) / k
    perp = (Delta * SigT * Delta.T).trace() / 2 + (e.T * e)[0] / 2
    return L_ex, sum(abs(x) for x in aux["stationarity"]), sp.expand(aux["mse"] - L_ex - perp)


@lru_cache(maxsize=8)
def _lemmas(k: int):
    """Formula-free lemmas, computed once per k: L_LS for a symbolic spectrum, and
    L_LS(AH + c1ᵀ) − L_LS(H) for symbolic A (both reduced by rational arithmetic)."""
    oms = sp.symbols(f"omega_1:{k}", positive=True)
    L_gen = _explicit_ls(k, None, oms)[0]
    A = sp.Matrix(k - 1, k - 1, lambda i, j: sp.Symbol(f"a_{i}{j}", real=True))
    w = sp.Symbol("omega", positive=True)
    M = helmert_basis(k) * w
    SigT = sp.eye(k - 1) + M * M.T / k

    def quad(Mx, S):
        return (Mx.T * S.inv() * Mx).trace()

    delta = -(quad(A * M, A * SigT * A.T) - quad(M, SigT)) / (2 * k**2)
    return L_gen, oms, sp.cancel(sp.together(delta))


def prove_central_path(formulas: dict[str, sp.Expr], K, omega) -> list[Obligation]:
    """The ω formula, the central-path identities and the ω law.

    (i) L_LS via the αI + βJ algebra (symbolic K) and, for K <= EXPLICIT_LS_K_MAX,
    by solving the normal equations of the explicit least-squares problem; (ii) the
    decomposition MSE = L_LS + L_⊥ with L_⊥ = ½tr(ΔΣ_TΔᵀ) + ½‖Wμ_G + b − 1/K‖²
    (explicit, symbolic W and b); (iii) invariance of tr(M̃ᵀΣ_T^{-1}M̃) under M̃ ↦ AM̃,
    Σ_T ↦ AΣ_TAᵀ (A symbolic; any Σ_W = BBᵀ is absorbed into A; shifts cancel in
    M̃, Σ_W and the bias); (iv) the flow of the whitened class means in the
    Euclidean metric, Σ_W = I fixed, is the gradient flow of the spectral function
    Σ_j ℓ(ω_j), so ω̇ = −ℓ'(ω) and Φ(ω) = c1 log ω + c2 ω² + c3 ω⁴ satisfies Φ' ω̇ = 1.
    """
    K, omega = exact(K), exact(omega)
    x = sp.Symbol("x", positive=True)
    L_ij = ls_loss_equal_spectrum(K, omega)
    ell = ls_loss_equal_spectrum(K, x) / (K - 1)
    speed = -sp.diff(ell, x)
    Phi_prime = formulas["law_c1"] / x + 2 * formulas["law_c2"] * x + 4 * formulas["law_c3"] * x**3
    out = [
        fast_zero("L_LS (αI + βJ algebra, push-through) = loss_ls", L_ij - formulas["loss_ls"]),
        fast_zero("UFM objective on the central path = L_LS", formulas["loss"] - L_ij),
        fast_zero("L_⊥ = 0 on the central path (W = W_LS)", formulas["perp"]),
        fast_zero("ω law: Φ'(ω)·ω̇ = 1 with ω̇ = −ℓ'(ω)", sp.together(Phi_prime * speed) - 1),
        fast_zero("equal ω_j obey one ODE, so they stay equal", formulas["omega_spread"]),
    ]
    if K.is_Integer and 2 <= int(K) <= EXPLICIT_LS_K_MAX:
        k = int(K)
        L_ex, stationarity, decomposition = _explicit_lemmas(k, omega)
        out += [
            fast_zero(f"L_LS by solving the normal equations (explicit K = {k}) = loss_ls", L_ex - formulas["loss_ls"]),
            fast_zero(f"normal equations hold at (W_LS, b_LS) (explicit K = {k})", stationarity),
            fast_zero(f"MSE − L_LS − L_⊥ = decomposition_residual (explicit K = {k}, symbolic W, b)",
                      decomposition - formulas["decomposition_residual"]),
        ]
    k = int(K) if K.is_Integer and int(K) <= 3 else 3
    L_gen, oms, delta = _lemmas(k)
    out.append(fast_zero(f"any spectrum (explicit K = {k}, symbolic ω_j): L_LS = ½Σ 1/(K + ω_j²)",
                         L_gen - sum(1 / (k + o**2) for o in oms) / 2))
    out.append(fast_zero(f"L_LS(AH + c1ᵀ) − L_LS(H) = affine_invariance (explicit K = {k}, A symbolic)",
                         delta - formulas["affine_invariance"]))
    return out
