"""Perturbation analysis of neural collapse (Tirer, Huang & Niles-Weed 2023; THEORY.md §6).

Model (K classes, n samples each, N = Kn, Y = I_K ⊗ 1_nᵀ, features pulled towards H_0)::

    L(W, H) = (1/(2N))‖WH − Y‖_F² + (λ_W/2)‖W‖_F² + (γ/(2N))‖H − H_0‖_F².

Within-class deviations E(H) = HP, P = I_N − I_K ⊗ (J_n/n); Σ_W(H) = E Eᵀ/N.
Facts derived here (and re-proved below on exact instances):

1. YP = 0, so for fixed W the H-problem is the ridge problem with unique minimizer
   H* = (WᵀW + γI)⁻¹(WᵀY + γH_0) and E(H*) = S E(H_0), S = γ(WᵀW + γI)⁻¹:
   Σ_W(H*) = S Σ_W(H_0) S, eigenvalues of S are γ/(σ_j² + γ) ∈ (0, 1], S = I on ker W.
2. Near collapse, H_0 = H̄_0 ⊗ 1ᵀ + εE (EP = E): with H = H̄ ⊗ 1ᵀ + E', L splits into
   a class-mean part and (1/(2N))(‖WE'‖² + γ‖E' − εE‖²); minimizing the latter gives
   E' = εS(W)E and the value ε²(γ/(2N))Tr(Eᵀ(I − S)E).  The reduced objective in (W, H̄)
   is F_0 + ε²G: at a nondegenerate minimizer, (W, H̄) move by O(ε²), so
   H* = H̄_0* ⊗ 1ᵀ + εS(W_0)E + O(ε²) and E(H*) − εS(W_0)E = O(ε³).
3. Central path: g(H) = min_W [(1/(2N))‖WH − Y‖² + (λ_W/2)‖W‖²], W*(H) = YHᵀ(HHᵀ + Nλ_W I)⁻¹,
   ∇g = (1/N)W*ᵀ(W*H − Y) (envelope theorem).  Along Ḣ = −∇g(H): Ė = −(1/N)W*ᵀW* E, so
   d/dt Tr Σ_W = −(2/N²)‖W* E‖_F² ≤ 0.

Instances are exact rationals from a fixed integer sequence, so closed forms are exact.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.proof import Obligation, exact, nonnegative, positive, zero

# --------------------------------------------------------------------------- instances


def _ints(count: int, salt: int) -> list[int]:
    """A fixed pseudo-random sequence of integers in [-4, 4] (a 31-bit LCG)."""
    x, out = (12345 + 7919 * salt) % 2147483647, []
    for _ in range(count):
        x = (1103515245 * x + 12345) % 2147483648
        out.append((x >> 16) % 9 - 4)
    return out


def int_matrix(rows: int, cols: int, salt: int) -> list[list[int]]:
    """rows × cols integers in [-4, 4]; the instance's entries are these divided by 4."""
    v = _ints(rows * cols, salt)
    return [v[i * cols:(i + 1) * cols] for i in range(rows)]


def rational_matrix(rows: int, cols: int, salt: int) -> sp.Matrix:
    return sp.Matrix(int_matrix(rows, cols, salt)) / 4


def labels(K: int, n: int) -> sp.Matrix:
    """Y = I_K ⊗ 1_nᵀ (samples ordered class by class)."""
    return sp.Matrix(K, K * n, lambda k, i: 1 if i // n == k else 0)


def within_projector(K: int, n: int) -> sp.Matrix:
    """P = I_N − I_K ⊗ (J_n/n): H P is the within-class deviation matrix E(H)."""
    N = K * n
    return sp.Matrix(N, N, lambda i, j: (1 if i == j else 0) - (sp.Rational(1, n) if i // n == j // n else 0))


SALT_W, SALT_H0, SALT_MEANS, SALT_E = 1, 2, 3, 4


@lru_cache(maxsize=32)
def contraction_instance(K: int, n: int, d: int):
    """(W, H_0): the fixed classifier and the input features, exact rationals."""
    return rational_matrix(K, d, SALT_W), rational_matrix(d, K * n, SALT_H0)


@lru_cache(maxsize=32)
def near_collapse_instance(K: int, n: int, d: int):
    """(H̄_0, E): class means d×K and a within-class direction d×N with zero class means."""
    E = rational_matrix(d, K * n, SALT_E) * within_projector(K, n)
    return rational_matrix(d, K, SALT_MEANS), E


def sigma_w(H: sp.Matrix, K: int, n: int) -> sp.Matrix:
    """Σ_W(H) = E Eᵀ / N with E = H P."""
    E = H * within_projector(K, n)
    return E * E.T / (K * n)


def _trace(M) -> sp.Expr:
    return sp.Add(*[M[i, i] for i in range(M.shape[0])])


def _fro2(M) -> sp.Expr:
    return sp.Add(*[x ** 2 for x in M])


def _cancel_matrix(M: sp.Matrix) -> sp.Matrix:
    return M.applyfunc(lambda x: sp.cancel(sp.together(x)))


def _zero_matrix(name: str, M: sp.Matrix) -> Obligation:
    """Every entry exactly zero (rational-function arithmetic); the expression is ‖M‖²."""
    M = _cancel_matrix(M)
    bad = [x for x in M if x != 0]
    return zero(name, sp.Add(*[x ** 2 for x in bad]) if bad else sp.Integer(0))


def _null_projector(W: sp.Matrix) -> sp.Matrix:
    """Orthogonal projector onto ker W (exact)."""
    d = W.shape[1]
    basis = W.nullspace()
    if not basis:
        return sp.zeros(d, d)
    B = sp.Matrix.hstack(*basis)
    return B * (B.T * B).inv() * B.T


# --------------------------------------------------------------------------- 1. contraction


def contraction_operator(W: sp.Matrix, gamma) -> sp.Matrix:
    """S = γ(WᵀW + γI)⁻¹."""
    d = W.shape[1]
    return _cancel_matrix(gamma * (W.T * W + gamma * sp.eye(d)).inv())


def contraction_formulas(K: int, n: int, d: int, gamma, S: sp.Matrix | None = None) -> dict[str, sp.Expr]:
    """tr_sigma_w = Tr(S Σ_W(H_0) S), sigma_w_fro_sq = ‖S Σ_W(H_0) S‖_F², tr_ratio = that / Tr Σ_W(H_0),
    null_shift = ‖Π_ker W (S − I) E(H_0)‖_F (= 0)."""
    W, H0 = contraction_instance(K, n, d)
    g = exact(gamma)
    S = contraction_operator(W, g) if S is None else S
    s0 = sigma_w(H0, K, n)
    s_star = S * s0 * S
    tr = sp.cancel(_trace(s_star))
    E0 = H0 * within_projector(K, n)
    shift = _null_projector(W) * (S - sp.eye(d)) * E0
    return {"tr_sigma_w": tr, "sigma_w_fro_sq": sp.cancel(_fro2(s_star)),
            "tr_ratio": sp.cancel(tr / _trace(s0)), "null_shift": sp.sqrt(sp.cancel(_fro2(shift)))}


def prove_contraction(formulas, K: int, n: int, d: int, gamma) -> list[Obligation]:
    """H* from stationarity (not from S), then the formulas against Σ_W(H*)."""
    W, H0 = contraction_instance(K, n, d)
    g = exact(gamma)
    N, Y, P = K * n, labels(K, n), within_projector(K, n)
    A = W.T * W + g * sp.eye(d)
    H_star = _cancel_matrix(A.LUsolve(W.T * Y + g * H0))
    grad = (W.T * (W * H_star - Y) + g * (H_star - H0)) / N
    s_star, s0 = sigma_w(H_star, K, n), sigma_w(H0, K, n)
    tr_star = sp.cancel(_trace(s_star))
    # I − S² = A⁻¹((WᵀW)² + 2γWᵀW)A⁻¹, so 1 − tr_ratio = ‖E_0‖⁻²(‖WᵀWA⁻¹E_0‖² + 2γ‖WA⁻¹E_0‖²): a sum of squares
    E0, AinvE0 = H0 * P, A.LUsolve(H0 * P)
    shrink = sp.cancel((_fro2(W.T * W * AinvE0) + 2 * g * _fro2(W * AinvE0)) / _fro2(E0))
    ob = [zero("labels are constant within classes: YP = 0", _fro2(Y * P)),
          _zero_matrix("H* = (WᵀW+γI)⁻¹(WᵀY+γH_0) is stationary: ∇_H L(H*) = 0", grad),
          positive("γ > 0: the Hessian (WᵀW + γI)/N is positive definite", g),
          _zero_matrix("E(H*) = S E(H_0), S = γ(WᵀW+γI)⁻¹", H_star * P - contraction_operator(W, g) * H0 * P),
          zero("tr_sigma_w = Tr Σ_W(H*)", formulas["tr_sigma_w"] - tr_star),
          zero("sigma_w_fro_sq = ‖Σ_W(H*)‖_F²", formulas["sigma_w_fro_sq"] - sp.cancel(_fro2(s_star))),
          zero("tr_ratio = Tr Σ_W(H*) / Tr Σ_W(H_0)", formulas["tr_ratio"] - sp.cancel(tr_star / _trace(s0))),
          zero("1 − tr_ratio = (‖WᵀWA⁻¹E_0‖² + 2γ‖WA⁻¹E_0‖²)/‖E_0‖², A = WᵀW + γI",
               sp.cancel(1 - formulas["tr_ratio"] - shrink)),
          nonnegative("so Tr Σ_W does not increase: that sum of squares (γ > 0) is >= 0", shrink),
          zero("no contraction on ker W: null_shift = ‖Π_ker W (E(H*) − E(H_0))‖_F",
               formulas["null_shift"] ** 2 - sp.cancel(_fro2(_null_projector(W) * (H_star - H0) * P)))]
    return ob


def prove_contraction_factor() -> list[Obligation]:
    """Along a singular direction of W (σ² >= 0, γ > 0): the factor γ/(σ² + γ) lies in (0, 1]."""
    s2 = sp.Symbol("sigma_sq", nonnegative=True)
    g = sp.Symbol("gamma", positive=True)
    c = g / (s2 + g)
    gap = s2 / (s2 + g)
    return [positive("contraction factor γ/(σ²+γ) > 0", c),
            zero("1 − γ/(σ²+γ) = σ²/(σ²+γ)", sp.cancel(1 - c - gap)),
            nonnegative("so the contraction factor is <= 1: σ²/(σ²+γ) >= 0", gap),
            zero("factor solves (σ² + γ)c = γ (ridge stationarity along the direction)", (s2 + g) * c - g)]


# --------------------------------------------------------------------------- 2. near collapse


def near_collapse_formulas() -> dict[str, sp.Expr]:
    """Exponents p in ‖error‖ ∝ ε^p of the first-order expansion (W_0, H̄_0* ⊗ 1ᵀ + εS(W_0)E)."""
    return {"h_error_exponent": sp.Integer(2), "w_error_exponent": sp.Integer(2),
            "within_error_exponent": sp.Integer(3)}


def prove_near_collapse(formulas, K: int, n: int, d: int, gamma, lambda_W) -> list[Obligation]:
    """On the exact instance, at a generic rational W and class means (any W works: the algebra is
    linear in E), with ε a symbol: the objective splits into mean + within parts, the within part's
    minimizer is εS(W)E and its value starts at ε²; hence the exponents (implicit function theorem
    at a nondegenerate minimizer, whose Hessian the numeric check reports)."""
    ob, m = _near_collapse_structure(K, n, d, exact(gamma), exact(lambda_W))
    ob = list(ob)
    if m is None:
        return ob + [zero("the within part depends on ε", sp.Integer(1))]
    return ob + [
        zero("w_error_exponent = order of ε in the reduced objective (W, H̄ shift)", formulas["w_error_exponent"] - m),
        zero("h_error_exponent = min(mean shift order, within error order)", formulas["h_error_exponent"] - sp.Min(m, m + 1)),
        zero("within_error_exponent = 1 + mean shift order: ε(S(W*) − S(W_0))E", formulas["within_error_exponent"] - (m + 1))]


@lru_cache(maxsize=32)
def _near_collapse_structure(K: int, n: int, d: int, gamma, lambda_W):
    """The formula-independent obligations and the leading order m of ε in the minimized within part."""
    eps = sp.Symbol("epsilon", positive=True)
    g, lw = exact(gamma), exact(lambda_W)
    N, Y, P = K * n, labels(K, n), within_projector(K, n)
    Hbar0, E = near_collapse_instance(K, n, d)
    W = rational_matrix(K, d, SALT_W)           # a generic W and generic class means
    Hbar = rational_matrix(d, K, SALT_H0)
    ones = sp.ones(1, n)
    M0, Mbar = sp.kronecker_product(Hbar0, ones), sp.kronecker_product(Hbar, ones)
    S = contraction_operator(W, g)
    Ep = eps * S * E                              # the within-class minimizer for this W
    H, H0 = Mbar + Ep, M0 + eps * E

    def L(Hm):
        return (_fro2(W * Hm - Y) + g * _fro2(Hm - H0)) / (2 * N) + lw / 2 * _fro2(W)

    mean_part = (n * _fro2(W * Hbar - sp.eye(K)) + g * n * _fro2(Hbar - Hbar0)) / (2 * N) + lw / 2 * _fro2(W)
    within = (_fro2(W * Ep) + g * _fro2(Ep - eps * E)) / (2 * N)
    value = sp.expand(within)
    order = min(sp.Poly(value, eps).monoms())[0] if value != 0 else None
    grad_within = W.T * W * Ep + g * (Ep - eps * E)
    ob = [_zero_matrix("E is a within-class direction: EP = E", E * P - E),
          zero("no cross terms: L(H̄⊗1ᵀ + E') = mean part + within part", sp.expand(L(H) - mean_part - within)),
          _zero_matrix("E' = εS(W)E minimizes the within part: (WᵀW + γI)E' − γεE = 0", grad_within),
          zero("the minimized within part is ε²(γ/(2N))Tr Eᵀ(I − S)E",
               sp.expand(value - eps ** 2 * g / (2 * N) * _trace(E.T * (sp.eye(d) - S) * E))),
          positive("its ε² coefficient is positive (E ≠ 0)", sp.expand(value).coeff(eps, 2))]
    return tuple(ob), (None if order is None else sp.Integer(order))


# --------------------------------------------------------------------------- 3. central path


def central_path_W(H: sp.Matrix, K: int, n: int, lambda_W) -> sp.Matrix:
    """W*(H) = YHᵀ(HHᵀ + Nλ_W I)⁻¹."""
    N, d = K * n, H.shape[0]
    return _cancel_matrix(labels(K, n) * H.T * (H * H.T + N * exact(lambda_W) * sp.eye(d)).inv())


def central_path_formulas(K: int, n: int, d: int, lambda_W) -> dict[str, sp.Expr]:
    """At H_0 on the central path: tr_sigma_w_0 = Tr Σ_W(H_0), initial_rate = −(2/N²)‖W*(H_0)E_0‖²
    (= d/dt Tr Σ_W at t = 0), and tr_increase = 0 (the largest increase of Tr Σ_W along the flow)."""
    _, H0 = contraction_instance(K, n, d)
    N = K * n
    Wc = central_path_W(H0, K, n, lambda_W)
    E0 = H0 * within_projector(K, n)
    return {"tr_sigma_w_0": sp.cancel(_trace(sigma_w(H0, K, n))),
            "initial_rate": sp.cancel(-2 * _fro2(Wc * E0) / N ** 2), "tr_increase": sp.Integer(0)}


def prove_central_path(formulas, K: int, n: int, d: int, lambda_W) -> list[Obligation]:
    """W* is stationary in W; the envelope gradient; Ė = −(1/N)WᵀWE; the rate formula; its sign."""
    _, H0 = contraction_instance(K, n, d)
    N, Y, P = K * n, labels(K, n), within_projector(K, n)
    lw = exact(lambda_W)
    Wc = central_path_W(H0, K, n, lw)
    gW = (Wc * H0 - Y) * H0.T / N + lw * Wc
    gH = Wc.T * (Wc * H0 - Y) / N                 # ∇g(H_0) by the envelope theorem
    Edot = -gH * P
    E0 = H0 * P
    rate = sp.cancel(2 * _trace(Edot * E0.T) / N)  # d/dt Tr(E Eᵀ)/N
    return [_zero_matrix("W*(H_0) = YH_0ᵀ(H_0H_0ᵀ + Nλ_W I)⁻¹ is stationary in W", gW),
            zero("labels are constant within classes: YP = 0", _fro2(Y * P)),
            _zero_matrix("Ė = −∇g P = −(1/N)W*ᵀW* E", Edot + Wc.T * Wc * E0 / N),
            zero("tr_sigma_w_0 = Tr Σ_W(H_0)", formulas["tr_sigma_w_0"] - sp.cancel(_trace(sigma_w(H0, K, n)))),
            zero("initial_rate = (2/N)Tr(Ė Eᵀ) at t = 0", formulas["initial_rate"] - rate),
            nonnegative("the rate is −(2/N²)‖W*E‖² <= 0: −initial_rate >= 0", -formulas["initial_rate"]),
            zero("tr_increase = 0 (the rate is never positive)", formulas["tr_increase"])]


def prove_central_path_general() -> list[Obligation]:
    """For any flow Ė = −A E with A = WᵀW/N ⪰ 0: d/dt Tr(EEᵀ) = −2 Tr(Eᵀ A E) = −(2/N)‖WE‖² <= 0,
    shown for a symbolic 2×2 W and 2×2 E."""
    w = sp.Matrix(2, 2, sp.symbols("w0:4", real=True))
    e = sp.Matrix(2, 2, sp.symbols("e0:4", real=True))
    Nn = sp.Symbol("N", positive=True)
    Edot = -(w.T * w) * e / Nn
    d_tr = _trace(Edot * e.T + e * Edot.T)
    loss = 2 * _fro2(w * e) / Nn
    return [zero("d/dt Tr(EEᵀ) = −(2/N)‖WE‖_F²", sp.expand(d_tr + loss)),
            nonnegative("(2/N)‖WE‖_F² >= 0", loss)]


# --------------------------------------------------------------------------- 4. regularization


def quintic(b, K, lambda_W, gamma, c):
    """(b² + Kλ_W)²·∂φ/∂b at a = a_of_b(b): γ(b − c)(b² + Kλ_W)² − Kλ_W b (one definition, used by the
    instance and by the general proof)."""
    return gamma * (b - c) * (b ** 2 + K * lambda_W) ** 2 - K * lambda_W * b


def a_of_b(b, K, lambda_W):
    """The classifier scale a solving ∂φ/∂a = (ab − 1)b + Kλ_W a = 0."""
    return b / (b ** 2 + K * lambda_W)


def factor_q(a, gamma):
    """The contraction factor γ/(a² + γ) of S(W_0) = γ(W_0ᵀW_0 + γI)⁻¹ on span U (W_0 = a[I_K, 0])."""
    return gamma / (a ** 2 + gamma)


@lru_cache(maxsize=256)
def aligned_root(K: int, lambda_W, gamma, c):
    """b solving γ(b − c)(b² + Kλ_W)² = Kλ_W b with b > c (the unique such root: the largest real one).

    For H̄_0 = cU the class-mean problem reduces (by its symmetry) to W = a[I_K, 0], H̄ = bU and
    φ(a, b) = ½(ab − 1)² + (Kλ_W/2)a² + (γ/2)(b − c)²; ∂φ/∂a = 0 gives a = b/(b² + Kλ_W) and
    then ∂φ/∂b = 0 is the quintic."""
    b = sp.Symbol("b")
    lw, g, cc = exact(lambda_W), exact(gamma), exact(c)
    poly = sp.Poly(quintic(b, K, lw, g, cc), b)
    return sp.real_roots(poly)[-1], poly


def aligned_factor(K: int, lambda_W, gamma, c) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(q, a, b): the contraction factor q = γ/(a² + γ) of S(W_0) on span U (it is 1 off it)."""
    b, _ = aligned_root(K, lambda_W, gamma, c)
    a = a_of_b(b, K, exact(lambda_W))
    return factor_q(a, exact(gamma)), a, b


def regularization_grid(lambda_W, gamma) -> list[tuple[sp.Expr, sp.Expr]]:
    """(λ_W, γ) on the 3 × 3 grid {λ_W/4, λ_W, 4λ_W} × {γ/4, γ, 4γ} (λ_W varies fastest)."""
    lw, g = exact(lambda_W), exact(gamma)
    return [(lw * f, g * h) for h in (sp.Rational(1, 4), 1, 4) for f in (sp.Rational(1, 4), 1, 4)]


def regularization_traces(K: int, n: int, d: int) -> tuple[sp.Expr, sp.Expr]:
    """(tr_U, tr_⊥): Tr of Σ_W(E) = EEᵀ/N on span U and on its complement."""
    _, E = near_collapse_instance(K, n, d)
    s = E * E.T / (K * n)
    tr_U = sp.Add(*[s[i, i] for i in range(K)])
    return tr_U, sp.cancel(_trace(s) - tr_U)


def regularization_formulas(K: int, n: int, d: int, lambda_W, gamma, c, power: int = 2) -> dict[str, sp.Expr]:
    """leading_i = lim ε⁻² Tr Σ_W(H*) = q_i² tr_U + tr_⊥ at grid point i; increasing_in_* = 1 (the
    fraction of grid steps along which it increases)."""
    tr_U, tr_perp = regularization_traces(K, n, d)
    out = {}
    for i, (lw, g) in enumerate(regularization_grid(lambda_W, gamma)):
        q, _, _ = aligned_factor(K, lw, g, c)
        out[f"leading_{i}"] = q ** power * tr_U + tr_perp
    out["increasing_in_lambda_W"] = sp.Integer(1)
    out["increasing_in_gamma"] = sp.Integer(1)
    return out


#: Symbols of the general regularization proof: b = c + t on the branch.
REG_SYMBOLS = sp.symbols("t c lambda_W K gamma b", positive=True)


def implicit_derivatives() -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """(F, ∂F/∂b, dq/dλ_W, dq/dγ) in REG_SYMBOLS: along the root b(λ_W, γ) of F = quintic, by the implicit
    function theorem, dq/dx = ∂q/∂x − ∂q/∂b·F_x/F_b."""
    _, c, l, K, g, b = REG_SYMBOLS
    F = quintic(b, K, l, g, c)
    q = factor_q(a_of_b(b, K, l), g)
    Fb, Fl, Fg = (sp.diff(F, v) for v in (b, l, g))
    return F, Fb, sp.diff(q, l) - sp.diff(q, b) * Fl / Fb, sp.diff(q, g) - sp.diff(q, b) * Fg / Fb


@lru_cache(maxsize=1)
def prove_regularization_general() -> tuple[Obligation, ...]:
    """Along the branch b = c + t (t > 0), writing γ = Kλb/((b − c)(b² + Kλ)²) (the quintic solved for γ):
    dq/dλ_W and dq/dγ (implicit differentiation) are positive for all K, λ, c, t > 0; so is
    ∂F/∂b (the root is simple, hence unique on (c, ∞), and moves smoothly)."""
    t, c, l, K, g, b = REG_SYMBOLS
    F, Fb, dq_dl, dq_dg = implicit_derivatives()
    gam = K * l * b / ((b - c) * (b ** 2 + K * l) ** 2)

    def on_branch(e):
        return sp.factor(sp.together(e.subs(g, gam).subs(b, c + t)))

    return (zero("γ = Kλb/((b − c)(b² + Kλ)²) solves the quintic F = 0 (the branch's parametrization)",
                 sp.simplify(F.subs(g, gam))),
            positive("∂F/∂b > 0 at every root b > c (a simple root: unique on (c, ∞))", on_branch(Fb)),
            positive("dq/dλ_W > 0: more weight decay, farther from collapse", on_branch(dq_dl)),
            positive("dq/dγ > 0: a stronger pull to H_0, farther from collapse", on_branch(dq_dg)))


def _algebraic(name: str, expr, relation: str) -> Obligation:
    """An obligation on an expression in algebraic numbers (CRootOf): identical structure proves
    ``== 0``; otherwise decided by a 50-digit evaluation (|value| > 1e-40), else undecided."""
    expr = sp.sympify(expr)
    if relation == "== 0" and expr == 0:
        return Obligation(name, expr, relation, True)
    v = sp.N(expr, 50)
    big = abs(v) > sp.Float("1e-40", 50)
    if relation == "== 0":
        return Obligation(name, expr, relation, False if big else None)
    return Obligation(name, expr, relation, (bool(v > 0) if big else None))


def prove_regularization(formulas, K: int, n: int, d: int, lambda_W, gamma, c) -> list[Obligation]:
    """Per grid point: the quintic is ∂φ/∂b (identity in b), its largest root exceeds c (the quintic
    is negative at c), the formula equals q² tr_U + tr_⊥; then the general monotonicity and the
    grid's increments (algebraic numbers, decided at 50 digits)."""
    tr_U, tr_perp = regularization_traces(K, n, d)
    ob = [positive("tr_U > 0 (E has within-class spread along span U)", tr_U),
          nonnegative("tr_⊥ >= 0", tr_perp)]
    grid = regularization_grid(lambda_W, gamma)
    bs = sp.Symbol("b")
    cc = exact(c)
    for i, (lw, g) in enumerate(grid):
        q, _, _ = aligned_factor(K, lw, g, c)
        _, poly = aligned_root(K, lw, g, c)
        a = a_of_b(bs, K, lw)
        ob += [zero(f"[{i}] a = b/(b² + Kλ_W) solves ∂φ/∂a = (ab − 1)b + Kλ_W a = 0 (identity in b)",
                    sp.cancel((a * bs - 1) * bs + K * lw * a)),
               zero(f"[{i}] (b² + Kλ_W)²·∂φ/∂b at a = b/(b² + Kλ_W) is the quintic (identity in b)",
                    sp.expand(sp.cancel(((a * bs - 1) * a + g * (bs - cc)) * (bs ** 2 + K * lw) ** 2)
                              - poly.as_expr())),
               positive(f"[{i}] the quintic is negative at b = c, so its largest root exceeds c", -poly.as_expr().subs(bs, cc)),
               _algebraic(f"[{i}] leading_{i} = q² tr_U + tr_⊥", formulas[f"leading_{i}"] - (q ** 2 * tr_U + tr_perp), "== 0")]
    general = list(prove_regularization_general())
    proved = all(o.proved is True for o in general)
    ob += general
    ob += [zero("increasing_in_lambda_W = 1 (every step along λ_W increases it, by dq/dλ_W > 0)",
                formulas["increasing_in_lambda_W"] - (1 if proved else 0)),
           zero("increasing_in_gamma = 1 (every step along γ increases it, by dq/dγ > 0)",
                formulas["increasing_in_gamma"] - (1 if proved else 0))]
    for i in range(len(grid)):
        if i % 3 < 2:
            ob.append(_algebraic(f"leading grows with λ_W: leading_{i + 1} − leading_{i} > 0",
                                 formulas[f"leading_{i + 1}"] - formulas[f"leading_{i}"], "> 0"))
        if i < 6:
            ob.append(_algebraic(f"leading grows with γ: leading_{i + 3} − leading_{i} > 0",
                                 formulas[f"leading_{i + 3}"] - formulas[f"leading_{i}"], "> 0"))
    return ob
