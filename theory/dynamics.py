"""Exact gradient-flow dynamics of the UFM (THEORY.md §8): closed forms and proofs.

Objective (the engine's; every dynamics claim states it)::

    f(W, H, b) = (1/N) Σ_i ℓ(W h_i + b, y_i) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²,

ℓ = cross-entropy or ½‖z − e_y‖² (MSE), W ∈ R^{K×d}, H ∈ R^{d×N}, samples class by
class (Y = I_K ⊗ 1_nᵀ), gradient flow Ẇ = −∇_W f, Ḣ = −∇_H f, ḃ = −∇_b f.

Three layers of proof; the matrix gradient formulas the last two use are themselves proved by
differentiating the objective, so no step rests on a hand-typed derivative:

* **gradient lemmas** — on explicit symbolic matrices (K=2, d=3, n=2) ``sp.diff`` of
  the objective equals the matrix formulas ∇_W f = G Hᵀ + λ_W W, ∇_H f = Wᵀ G + λ_H H,
  ∇_b f = G1 + λ_b b, G = ∂(data)/∂Z (both losses); for MSE also with ``MatrixSymbol``s
  of symbolic size (sympy's matrix calculus);
* **general identities** — with ``MatrixSymbol``s of symbolic size K, d, N (and, for the
  balance law, a generic G: any loss), expanded to ``ZeroMatrix``;
* **reductions** — the collapsed aligned start reduces, in the αI + βJ algebra with
  symbolic K and n, to a logistic equation whose solution is checked by differentiation.

Every ``prove_*`` takes the formulas to be proved, so a perturbed rate or limit is
refuted by the same obligations (the negative controls).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp
from sympy.core.evalf import prec_to_dps
from sympy.matrices.expressions import MatAdd, MatMul, MatrixExpr, ZeroMatrix

from theory.algebra import IJ, identity
from theory.proof import Obligation, exact
from theory.proof import zero as _proof_zero

# ----------------------------------------------------------------------------- helpers
#: symbolic sizes of the general identities
Ks, ds, Ns = sp.symbols("K d N", integer=True, positive=True)
lam_W, lam_H, lam_b, lam = sp.symbols("lambda_W lambda_H lambda_b lambda", nonnegative=True)
t_sym = sp.Symbol("t", nonnegative=True)
#: symbols for the claims' general proofs (symbolic_params)
K_gen, n_gen = sp.symbols("K n", positive=True)
lam_gen = sp.Symbol("lambda", positive=True)
p0_gen = sp.Symbol("p_0", positive=True)


def sample_times(T, J: int) -> list[sp.Expr]:
    """The J sample times t_j = j·T/J, j = 1..J (exact)."""
    T = exact(T)
    return [T * j / J for j in range(1, J + 1)]


def at(name: str, t) -> str:
    """The name of quantity ``name`` at time t, e.g. ``p@t=2.5``."""
    return f"{name}@t={float(t):.6g}"


def _mdiff(expr, X):
    """d expr / dX for a scalar matrix expression, term by term (sympy 1.14 returns 0 for
    the derivative of a sum of traces, so the sum is differentiated piecewise)."""
    parts = [sp.diff(term, X) for term in sp.Add.make_args(expr)]
    parts = [q for q in parts if not (q == 0 or isinstance(q, ZeroMatrix))]
    return MatAdd(*parts).doit() if parts else ZeroMatrix(*X.shape)


def _is_zero_matrix(expr) -> bool:
    e = sp.expand(expr)
    return e == 0 or isinstance(e, ZeroMatrix)


def _counterexample(expr, dims: dict, seed: int = 1) -> bool | None:
    """True when ``expr`` (a matrix expression in MatrixSymbols of symbolic size) is nonzero
    at an explicit integer instance (small sizes, random entries): a counterexample."""
    state = [seed]

    def draw(lo: int, hi: int) -> int:        # a small LCG: deterministic, no global state
        state[0] = (1103515245 * state[0] + 12345) % 2**31
        return lo + state[0] % (hi - lo + 1)

    e = expr.subs(dims)
    reps = {}
    for s in e.free_symbols:
        if isinstance(s, sp.MatrixSymbol):
            r, c = (int(v) for v in s.shape)
            reps[s] = sp.ImmutableMatrix(r, c, lambda i, j: draw(-3, 3))
    for s in e.free_symbols:
        if isinstance(s, sp.Symbol) and not isinstance(s, sp.MatrixSymbol):
            reps[s] = sp.Rational(draw(1, 9), draw(1, 9))
    try:
        m = sp.ImmutableMatrix(e.xreplace(reps).doit())
    except Exception:  # noqa: BLE001 - undecided rather than wrong
        return None
    return any(sp.simplify(v) != 0 for v in m)


def matrix_identity(name: str, expr) -> Obligation:
    """Obligation ``expr = 0`` for a matrix expression of symbolic size: proved when it
    expands to the zero matrix, refuted by an explicit integer counterexample, else undecided."""
    if _is_zero_matrix(expr):
        return Obligation(name, sp.Integer(0), "== 0", True)
    witness = _counterexample(expr, {Ks: 2, ds: 3, Ns: 4})
    # one instance where it vanishes proves nothing: no counterexample leaves it undecided
    return Obligation(name, sp.expand(expr), "== 0", False if witness else None)


def zero(name: str, expr) -> Obligation:
    """Obligation ``expr = 0``: refuted at once when the expression, at a rational probe point for
    its free symbols, evaluates to a significant nonzero number (sympy's evalf raises its working
    precision until the digits are certain, so this is a proof of nonzero — and simplify can take
    minutes on wrong exponentials); proved when it is a rational identity in its exponentials;
    else :func:`theory.proof.zero` (simplify, then ``equals``)."""
    expr = sp.sympify(expr)
    if _nonzero_at_probe(expr):
        return Obligation(name, expr, "== 0", False)
    if _rational_identity(expr):
        return Obligation(name, expr, "== 0", True)
    return _proof_zero(name, expr)


def _nonzero_at_probe(expr) -> bool:
    free = sorted(expr.free_symbols, key=str)
    for base in (7, 2):
        probe = expr.xreplace({s: sp.Rational(base + 3 * i, 11) for i, s in enumerate(free)})
        try:
            value = sp.N(probe, 30, maxn=4000)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        for part in (sp.re(value), sp.im(value)):
            if part.is_Float and part._prec > 1 and part != 0:
                return True
            if part.is_Rational and part != 0:
                return True
    return False


def _rational_identity(expr) -> bool:
    """True when ``expr`` is identically 0 as a rational function of its exponentials (each
    exp(x) with x expanded, then treated as an independent symbol): a proof, and fast where
    ``simplify`` is slow."""
    # positive symbols s → σ² (σ > 0, a bijection of the positive reals): √s becomes σ, rational
    e = expr.xreplace({s: sp.Dummy(positive=True) ** 2 for s in expr.free_symbols
                       if isinstance(s, sp.Symbol) and s.is_positive})
    e = e.replace(sp.exp, lambda x: sp.exp(sp.expand(x)))
    atoms = sorted(e.atoms(sp.exp), key=sp.default_sort_key)
    e = e.xreplace({a: sp.Dummy() for a in atoms})
    return sp.cancel(sp.expand(e)) == 0


def explicit_zero(name: str, M) -> Obligation:
    """Obligation that every entry of an explicit matrix (or a list of expressions) is 0;
    the recorded expression is the sum of squares of the simplified entries."""
    entries = list(M)
    simplified = [sp.simplify(sp.expand(e)) for e in entries]
    expr = sp.Add(*[e**2 for e in simplified])
    if all(e == 0 for e in simplified):
        return Obligation(name, sp.Integer(0), "== 0", True)
    return zero(name, expr)


def _coefficients(expr) -> dict:
    """A MatAdd as {matrix part: scalar coefficient}."""
    out: dict = {}
    for term in MatAdd.make_args(sp.expand(expr)):
        if isinstance(term, ZeroMatrix):
            continue
        c, m = term.as_coeff_mmul()
        scal = [a for a in m.args if not isinstance(a, MatrixExpr)]
        mats = [a for a in m.args if isinstance(a, MatrixExpr)]
        c = c * sp.Mul(*scal)
        key = MatMul(*mats).doit() if len(mats) > 1 else mats[0]
        out[key] = sp.simplify(out.get(key, 0) + c)
    return out


# ----------------------------------------------------------------------------- gradient lemmas
LEMMA_SIZE = (2, 3, 2)   # K, d, n of the explicit instance


@lru_cache(maxsize=None)
def explicit_ufm(loss: str, bias: bool, K: int = LEMMA_SIZE[0], d: int = LEMMA_SIZE[1],
                 n: int = LEMMA_SIZE[2]):
    """Explicit symbolic W (K×d), H (d×N), b (K), Y and the objective f (with λ_W, λ_H, λ_b)."""
    N = K * n
    W = sp.Matrix(K, d, lambda i, j: sp.Symbol(f"w{i}{j}", real=True))
    H = sp.Matrix(d, N, lambda i, j: sp.Symbol(f"h{i}_{j}", real=True))
    b = sp.Matrix(K, 1, lambda i, j: sp.Symbol(f"b{i}", real=True)) if bias else sp.zeros(K, 1)
    Y = sp.Matrix(K, N, lambda k, i: 1 if i // n == k else 0)
    Z = W * H + b * sp.ones(1, N)
    if loss == "ce":
        data = sum(sp.log(sum(sp.exp(Z[k, i]) for k in range(K))) - Z[i // n, i] for i in range(N)) / N
        G = sp.Matrix(K, N, lambda k, i: sp.exp(Z[k, i]) / sum(sp.exp(Z[j, i]) for j in range(K)) - Y[k, i]) / N
    elif loss == "mse":
        data = sum((Z[k, i] - Y[k, i]) ** 2 for k in range(K) for i in range(N)) / (2 * N)
        G = (Z - Y) / N
    else:
        raise ValueError(f"loss={loss!r}: expected 'ce' or 'mse'")
    f = data + lam_W / 2 * sum(w**2 for w in W) + lam_H / 2 * sum(h**2 for h in H)
    if bias:
        f += lam_b / 2 * sum(v**2 for v in b)
    return {"W": W, "H": H, "b": b, "Y": Y, "G": G, "f": f, "K": K, "d": d, "n": n, "N": N, "bias": bias}


def _grad(f, variables: sp.Matrix, loss: str) -> sp.Matrix:
    """sp.diff of f by each entry (MSE: through a Poly in all variables, which is exact and fast)."""
    if loss == "mse":
        gens = sorted(f.free_symbols, key=str)
        P = sp.Poly(f, *gens)
        return variables.applyfunc(lambda v: P.diff(v).as_expr())
    return variables.applyfunc(lambda v: sp.diff(f, v))


@lru_cache(maxsize=None)
def explicit_gradient(loss: str, bias: bool):
    """(∇_W f, ∇_H f, ∇_b f) of the explicit instance by differentiating the objective."""
    u = explicit_ufm(loss, bias)
    f = u["f"]
    gb = _grad(f, u["b"], loss) if bias else sp.zeros(u["K"], 1)
    return _grad(f, u["W"], loss), _grad(f, u["H"], loss), gb


@lru_cache(maxsize=None)
def gradient_lemmas(loss: str, bias: bool) -> tuple[Obligation, ...]:
    """sp.diff of the explicit objective = the matrix gradient formulas."""
    u = explicit_ufm(loss, bias)
    gW, gH, gb = explicit_gradient(loss, bias)
    W, H, b, G = u["W"], u["H"], u["b"], u["G"]
    tag = f"{loss}{', bias' if bias else ''}; K={u['K']}, d={u['d']}, n={u['n']}"
    out = [explicit_zero(f"∂f/∂W = G Hᵀ + λ_W W ({tag})", gW - (G * H.T + lam_W * W)),
           explicit_zero(f"∂f/∂H = Wᵀ G + λ_H H ({tag})", gH - (W.T * G + lam_H * H))]
    if bias:
        out.append(explicit_zero(f"∂f/∂b = G 1 + λ_b b ({tag})", gb - (G * sp.ones(u["N"], 1) + lam_b * b)))
    return tuple(out)


# General-size MSE objective with matrix symbols.
W_ = sp.MatrixSymbol("W", Ks, ds)
H_ = sp.MatrixSymbol("H", ds, Ns)
G_ = sp.MatrixSymbol("G", Ks, Ns)           # ∂(data term)/∂Z: any loss
Y_ = sp.MatrixSymbol("Y", Ks, Ns)
b_ = sp.MatrixSymbol("b", Ks, 1)
one_ = sp.MatrixSymbol("1", Ns, 1)
C_ = sp.MatrixSymbol("C", Ns, Ns)           # I − P: removes class means (Y C = 0, 1ᵀ C = 0, C = Cᵀ)
Id_ = sp.Identity(ds)


@lru_cache(maxsize=None)
def mse_gradient_general():
    """(∇_W f, ∇_H f) of the MSE objective for symbolic sizes, by sympy matrix calculus."""
    R = W_ * H_ + b_ * one_.T - Y_
    f = (sp.Trace(R.T * R) / (2 * Ns) + lam_W / 2 * sp.Trace(W_.T * W_) + lam_H / 2 * sp.Trace(H_.T * H_))
    return _mdiff(f, W_), _mdiff(f, H_)


@lru_cache(maxsize=None)
def mse_gradient_lemma() -> tuple[Obligation, ...]:
    gW, gH = mse_gradient_general()
    R = W_ * H_ + b_ * one_.T - Y_
    return (matrix_identity("MSE, symbolic sizes: ∇_W f = (1/N) R Hᵀ + λ_W W",
                            gW - (R * H_.T / Ns + lam_W * W_)),
            matrix_identity("MSE, symbolic sizes: ∇_H f = (1/N) Wᵀ R + λ_H H",
                            gH - (W_.T * R / Ns + lam_H * H_)))


# ----------------------------------------------------------------------------- dyn.balance
def balance_derivative(lW=lam_W, lH=lam_H):
    """d/dt (WᵀW − HHᵀ) under Ẇ = −(G Hᵀ + λ_W W), Ḣ = −(Wᵀ G + λ_H H), G generic (any loss)."""
    Wd = -(G_ * H_.T + lW * W_)
    Hd = -(W_.T * G_ + lH * H_)
    return sp.expand(Wd.T * W_ + W_.T * Wd - Hd * H_.T - H_ * Hd.T)


def balance_formulas(lam_value, T, J: int, rate_factor=2) -> dict[str, sp.Expr]:
    """D(t) = e^{−2λt} D(0), D = WᵀW − HHᵀ: the decay ‖D(t)‖/‖D(0)‖ at the sample times and the
    cosine between D(t) and D(0) (1: D keeps its direction)."""
    rate = rate_factor * exact(lam_value)
    out = {"rate": rate, "alignment": sp.Integer(1)}
    for t in sample_times(T, J):
        out[at("decay", t)] = sp.exp(-rate * t)
    return out


def prove_balance(formulas: dict, lam_value, T, J: int) -> list[Obligation]:
    lam_value = exact(lam_value)
    Dd = balance_derivative()
    obligations = [*gradient_lemmas("ce", True), *gradient_lemmas("mse", False),
                   matrix_identity("any loss, symbolic sizes: d/dt(WᵀW − HHᵀ) = −2λ_W WᵀW + 2λ_H HHᵀ",
                                   Dd - (-2 * lam_W * W_.T * W_ + 2 * lam_H * H_ * H_.T))]
    D = W_.T * W_ - H_ * H_.T
    obligations.append(matrix_identity("λ_W = λ_H = λ: Ḋ + rate·D = 0 (rate from the formulas)",
                                       balance_derivative(lam_value, lam_value) + formulas["rate"] * D))
    # The derived rate: Ḋ = c·D exactly, so D(t) = e^{ct} D(0), a positive multiple of D(0).
    Dd_eq = balance_derivative(lam, lam)
    c = _coefficients(Dd_eq).get(W_.T * W_, sp.Integer(0))
    obligations.append(matrix_identity("λ_W = λ_H = λ: Ḋ = c·D with c the coefficient of WᵀW", Dd_eq - c * D))
    c = c.subs(lam, lam_value)
    obligations.append(zero("rate = −(coefficient of D in Ḋ)", formulas["rate"] + c))
    obligations.append(zero("cosine(D(t), D(0)) = 1 (D(t) = e^{ct} D(0), e^{ct} > 0)", formulas["alignment"] - 1))
    for t in sample_times(T, J):
        name = at("decay", t)
        obligations.append(zero(f"{name} = e^(c t)", formulas[name] - sp.exp(c * t)))
    return obligations


# ----------------------------------------------------------------------------- dyn.within_class
def within_class_derivative():
    """Ė for E = H C (C = I − P removes class means) under the MSE flow, symbolic sizes,
    with a trained bias; terms containing Y C or 1ᵀ C (both 0) are dropped."""
    _, gH = mse_gradient_general()
    Ed = sp.expand(-gH * C_)
    keep = []
    for term in MatAdd.make_args(Ed):
        mats = [a for a in (term.args if isinstance(term, MatMul) else (term,)) if isinstance(a, MatrixExpr)]
        pairs = list(zip(mats, mats[1:]))
        if any((x == Y_ and y == C_) or (x == one_.T and y == C_) for x, y in pairs):
            continue
        keep.append(term)
    return MatAdd(*keep).doit() if keep else ZeroMatrix(ds, Ns)


def within_class_formulas(lambda_H, K: int, n: int, d: int, T, J: int, rate=None) -> dict[str, sp.Expr]:
    """Predictions of ``dyn.within_class`` (see the claim): the invisible block's decay
    e^{−λ_H t}, its direction (cosine 1), W's blindness to it (0), the generic start's
    invariant sample-space row space (leak 0), and the unregularized limit's rank."""
    rate = exact(lambda_H) if rate is None else rate
    out = {"invisible_rate": rate, "invisible_cos": sp.Integer(1), "W_on_U": sp.Integer(0),
           "row_leak": sp.Integer(0), "limit_rank": sp.Integer(min(d, K * n) - K), "limit_WE": sp.Integer(0)}
    for t in sample_times(T, J):
        out[at("invisible", t)] = sp.exp(-rate * t)
    return out


#: explicit instance of the invisible-block lemma: K=2, d=3 (U = the last coordinate), n=3
_V1 = (sp.Matrix([1, -1, 0, 0, 0, 0]), sp.Matrix([0, 0, 0, 1, 1, -2]))   # rows of E seen by W
_V2 = (sp.Matrix([1, 1, -2, 0, 0, 0]), sp.Matrix([0, 0, 0, 1, -1, 0]))   # rows of E in U


@lru_cache(maxsize=None)
def invisible_block_field():
    """sp.diff field of the MSE objective (bias trained) on the invariant set
    W = [W₁, 0], H = [M₁Y + E₁; E₂], rows of E₁ ⊥ rows of E₂, both within-class."""
    K, d, n = 2, 3, 3
    N = K * n
    u = explicit_ufm("mse", True, K, d, n)
    f, W, H, b, Y = u["f"], u["W"], u["H"], u["b"], u["Y"]
    w1 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"a{i}{j}", real=True))
    m1 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"m{i}{j}", real=True))
    c1 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"c{i}{j}", real=True))
    c2 = sp.Matrix(1, 2, lambda i, j: sp.Symbol(f"e{j}", real=True))
    V1 = sp.Matrix.hstack(*_V1)
    V2 = sp.Matrix.hstack(*_V2)
    E1, E2 = c1 * V1.T, c2 * V2.T
    Wv = sp.Matrix.hstack(w1, sp.zeros(2, 1))
    Hv = sp.Matrix.vstack(m1 * Y + E1, E2)
    point = {**dict(zip(W, Wv)), **dict(zip(H, Hv))}
    gW = _grad(f, W, "mse").xreplace(point)
    gH = _grad(f, H, "mse").xreplace(point)
    P = Y.T * Y / n
    C = sp.eye(N) - P
    return {"Wdot_U": -gW[:, 2], "Hdot_U": -gH[2, :], "Hdot_seen": -gH[:2, :], "E2": E2, "C": C, "N": N,
            "V2": V2}


def prove_within_class(formulas: dict, lambda_H, K: int, n: int, d: int, T, J: int) -> list[Obligation]:
    lambda_H = exact(lambda_H)
    E = H_ * C_
    A = W_.T * W_ / Ns + lam_H * Id_
    Ed = within_class_derivative()
    obligations = [*gradient_lemmas("mse", True), *mse_gradient_lemma()]
    obligations.append(matrix_identity("symbolic sizes, trained bias: Ė = −((1/N)WᵀW + λ_H I)E", Ed + A * E))
    coef = _coefficients(Ed)
    derived_rate = -coef.get(E, sp.Integer(0)).subs(lam_H, lambda_H)
    # The invisible block, from sp.diff on an explicit instance: W never sees U, E_U decays at λ_H.
    blk = invisible_block_field()
    rate = formulas["invisible_rate"]
    obligations.append(explicit_zero("instance K=2, d=3, n=3: d/dt W_U = 0 (W stays blind to U)", blk["Wdot_U"]))
    obligations.append(explicit_zero("instance: d/dt (H_U P) = 0 (class means stay out of U)",
                                     blk["Hdot_U"] * (sp.eye(blk["N"]) - blk["C"])))
    obligations.append(explicit_zero("instance: d/dt E_seen keeps its rows ⊥ those of E_U",
                                     blk["Hdot_seen"] * blk["C"] * blk["V2"]))
    obligations.append(explicit_zero("instance: d/dt E_U + rate·E_U = 0 (rate from the formulas, at this λ_H)",
                                     (blk["Hdot_U"] * blk["C"]).subs(lam_H, lambda_H) + rate * blk["E2"]))
    obligations.append(zero("invisible rate = −(coefficient of E in Ė) at λ_H", rate - derived_rate))
    obligations.append(zero("E_U(t) = e^{−rate t} E_U(0): cosine 1", formulas["invisible_cos"] - 1))
    obligations.append(zero("W_U(t) = 0 for all t (linear homogeneous, zero start)", formulas["W_on_U"]))
    obligations.append(zero("Ė = −A(t)E is a left multiplication: E(t) = Φ(t)E(0), row space fixed",
                            formulas["row_leak"]))
    obligations.append(zero("λ = 0 limit: ∇_H f C = (1/N)WᵀWE = 0 ⇒ WE = 0 (coefficient of E is 0 at λ_H = 0)",
                            coef.get(E, sp.Integer(0)).subs(lam_H, 0)))
    obligations.append(zero("λ = 0 limit (dimension count): W∞H̄∞ = I_K ⇒ rank W∞ = K; E∞ = Φ∞E(0) with "
                            "rank Φ∞ = d − K, E(0) generic ⇒ rank E∞ = min(d, N) − K",
                            formulas["limit_rank"] - (sp.Min(d, K * n) - K)))
    obligations.append(zero("λ = 0 limit: ‖W∞E∞‖ = 0", formulas["limit_WE"]))
    for t in sample_times(T, J):
        name = at("invisible", t)
        obligations.append(zero(f"{name} = e^(−λ_H t)", formulas[name] - sp.exp(-derived_rate * t)))
    return obligations


# ----------------------------------------------------------------------------- dyn.logistic
@lru_cache(maxsize=None)
def aligned_field(K, n, lW, lH):
    """Ȧ, Ḃ for W = A Qᵀ, H = Q B Y (A, B ∈ αI + βJ, QᵀQ = I, YYᵀ = nI, N = nK), bias-free MSE:
    ∇_W f = (1/N)(AB − I)Y YᵀB Qᵀ + λ_W A Qᵀ, ∇_H f = (1/N) Q A(AB − I) Y + λ_H Q B Y."""
    a, ab_, b, bb = sp.symbols("alpha_A beta_A alpha_B beta_B", real=True)
    A, B = IJ(a, ab_, K), IJ(b, bb, K)
    N = n * K
    R = A @ B - identity(K)
    Adot = ((R @ B).scale(-n / N) - A.scale(lW)).simplify()
    Bdot = ((A @ R).scale(-sp.Integer(1) / N) - B.scale(lH)).simplify()
    return (a, ab_, b, bb), Adot, Bdot


def logistic_constants(K, n, lambda_value, *, c_factor=2, p_inf=None):
    """The law ṗ = c·p(p_∞ − p) in the parametrization of :class:`LogisticP`:
    (w, u, v) with c = w/√n, p_∞ = u + v√n.  Claimed: w = 2/K, (u, v) = (1, −Kλ), i.e.
    c = 2/(K√n), p_∞ = 1 − K√nλ.  ``c_factor`` replaces the 2 and ``p_inf`` = (u, v) the limit
    (negative controls)."""
    K, n, lv = exact(K), exact(n), exact(lambda_value)
    u, v = (sp.Integer(1), -K * lv) if p_inf is None else (sp.sympify(p_inf[0]), sp.sympify(p_inf[1]))
    return exact(c_factor) / K, u, v


def logistic_solution(c, p_inf, p0, t):
    """The solution of ṗ = c p (p_∞ − p), p(0) = p0 (hyperbolic when p_∞ = 0)."""
    if p_inf == 0:
        return p0 / (1 + c * p0 * t)
    return p_inf / (1 + (p_inf / p0 - 1) * sp.exp(-c * p_inf * t))


class LogisticP(sp.Function):
    """p(t) solving ṗ = c·p(p_∞ − p), p(0) = p₀, with c = w/√n and p_∞ = u + v√n:
    ``LogisticP(w, u, v, n, p₀, t)``, all arguments rational.

    Exact (``explicit()`` is :func:`logistic_solution`, and ``evalf`` evaluates that), but an
    atom with rational arguments to ``simplify``: deciding that two such values differ (a
    negative control against the claim) is then instant, where simplifying nested
    exponentials of surds takes seconds per value."""

    nargs = 6

    @classmethod
    def eval(cls, w, u, v, n, p0, t):
        if t == 0:
            return p0
        r = sp.sqrt(n)
        if r.is_Rational and (n != 1 or v != 0):      # one representation per value: fold a rational √n
            return cls(w / r, u + v * r, sp.Integer(0), sp.Integer(1), p0, t)
        return None

    def explicit(self) -> sp.Expr:
        w, u, v, n, p0, t = self.args
        return logistic_solution(w / sp.sqrt(n), u + v * sp.sqrt(n), p0, t)

    def _eval_evalf(self, prec):
        return _logistic_evalf(self.args, prec)


@lru_cache(maxsize=4096)
def _logistic_evalf(args, prec):
    return LogisticP(*args).explicit().evalf(prec_to_dps(prec))


def explicit(expr) -> sp.Expr:
    """``expr`` with every :class:`LogisticP` written out."""
    return sp.sympify(expr).replace(lambda e: isinstance(e, LogisticP), lambda e: e.explicit())


def logistic_formulas(K, n, lambda_value, p0, T, J: int, *, c_factor=2, p_inf=None) -> dict[str, sp.Expr]:
    """Predictions of ``dyn.logistic``: the constants p_∞ and r = c·p_∞, p(t_j) at the sample
    times, and the time-independent ratios ‖w_k‖²/p = √n, ‖h_{k,i}‖²/p = 1/√n and
    (f − ½(1 − p)²)/p = K√nλ that hold all along the trajectory."""
    K, n, lv, p0 = exact(K), exact(n), exact(lambda_value), exact(p0)
    w, u, v = logistic_constants(K, n, lv, c_factor=c_factor, p_inf=p_inf)
    rn = sp.sqrt(n)
    pi = u + v * rn
    out = {"p_inf": pi, "rate": w / rn * pi, "w_norm_sq_per_p": rn, "h_norm_sq_per_p": 1 / rn,
           "loss_excess_per_p": K * rn * lv}
    for t in sample_times(T, J):
        out[at("p", t)] = LogisticP(w, u, v, n, p0, t)
    return out


@lru_cache(maxsize=None)
def _aligned_explicit_field():
    """sp.diff field of the explicit bias-free MSE instance (K=2, d=3, n=2) at W = aQᵀ, H = bQY,
    Q = [e1 e2]: returns (−∇_W f, −∇_H f, Q, Y, a, b)."""
    u = explicit_ufm("mse", False)
    K, d = u["K"], u["d"]
    a, b = sp.symbols("a b", real=True)
    Q = sp.eye(d)[:, :K]
    Wv, Hv = a * Q.T, b * Q * u["Y"]
    point = {**dict(zip(u["W"], Wv)), **dict(zip(u["H"], Hv))}
    gW, gH, _ = explicit_gradient("mse", False)
    return -gW.xreplace(point), -gH.xreplace(point), Q, u["Y"], a, b, u["K"], u["n"]


_Kg, _ng = sp.symbols("K n", positive=True)
_a, _b, _p = sp.symbols("a b p", positive=True)


@lru_cache(maxsize=None)
def logistic_derivation():
    """The reduced flow on the collapsed aligned ansatz, for symbolic K, n, λ, and the
    parameter-free obligations of that derivation.

    Returns (obligations, c₁, c₂, ‖w‖²/p, ‖h‖²/p, (f − ½(1 − p)²)/p) with ṗ = c₁p + c₂p²."""
    Kg, ng, a, b, p = _Kg, _ng, _a, _b, _p
    (a_, ab_, b_s, bb), Ad, Bd = aligned_field(Kg, ng, lam_W, lam_H)
    on_ansatz = {a_: a, ab_: 0, b_s: b, bb: 0}
    ob = [*gradient_lemmas("mse", False), *mse_gradient_lemma()]
    ob.append(zero("symbolic K, n: the J-part of Ȧ vanishes at A = aI, B = bI (the ansatz is invariant)",
                   Ad.beta.subs(on_ansatz)))
    ob.append(zero("symbolic K, n: the J-part of Ḃ vanishes at A = aI, B = bI", Bd.beta.subs(on_ansatz)))
    adot, bdot = Ad.alpha.subs(on_ansatz), Bd.alpha.subs(on_ansatz)
    # explicit instance: sp.diff of the objective gives the same field
    gW, gH, Q, Y, ae, be, Ke, ne = _aligned_explicit_field()
    sub = {a: ae, b: be, Kg: Ke, ng: ne}
    ob.append(explicit_zero(f"instance K={Ke}, d=3, n={ne} (sp.diff): −∇_W f = ȧ Qᵀ", gW - adot.subs(sub) * Q.T))
    ob.append(explicit_zero(f"instance K={Ke}, d=3, n={ne} (sp.diff): −∇_H f = ḃ QY", gH - bdot.subs(sub) * Q * Y))
    # from here on λ_W = λ_H = λ
    adot, bdot = adot.subs({lam_W: lam, lam_H: lam}), bdot.subs({lam_W: lam, lam_H: lam})
    bal = sp.expand(2 * a * adot - 2 * ng * b * bdot + 2 * lam * (a**2 - ng * b**2))
    ob.append(zero("symbolic K, n: d/dt(a² − n b²) = −2λ(a² − n b²) (balance persists)", bal))
    # ṗ in terms of p on the balanced ansatz: a = n^{1/4}√p, b = n^{-1/4}√p
    bal_point = {a: ng ** sp.Rational(1, 4) * sp.sqrt(p), b: ng ** sp.Rational(-1, 4) * sp.sqrt(p)}
    pdot = sp.expand(sp.simplify((adot * b + a * bdot).subs(bal_point)))
    c1, c2 = pdot.coeff(p, 1), pdot.coeff(p, 2)
    ob.append(zero("symbolic K, n: ṗ = ȧb + aḃ is quadratic in p: ṗ = c₁p + c₂p²", pdot - c1 * p - c2 * p**2))
    norms_w = sp.simplify((a**2).subs(bal_point) / p)                   # ‖w_k‖² = a²
    norms_h = sp.simplify((b**2).subs(bal_point) / p)                   # ‖h_{k,i}‖² = b²
    f_ansatz = ((a * b - 1) ** 2 / 2 + lam * Kg * a**2 / 2 + lam * ng * Kg * b**2 / 2).subs(bal_point)
    excess = sp.simplify((f_ansatz - (1 - p) ** 2 / 2) / p)
    return tuple(ob), c1, c2, norms_w, norms_h, excess


@lru_cache(maxsize=None)
def logistic_solution_lemma() -> tuple[Obligation, ...]:
    """For symbolic r, p_∞ ≠ 0, p₀: P(t) = p_∞/(1 + (p_∞/p₀ − 1)e^{−rt}) solves ṗ = r p − (r/p_∞) p²
    with P(0) = p₀; for p_∞ = 0, p₀/(1 + c p₀ t) solves ṗ = −c p²."""
    r, q, c = sp.symbols("r p_inf c", nonzero=True)
    p0 = sp.Symbol("p_0", positive=True)
    P = logistic_solution(r / q, q, p0, t_sym)
    H = logistic_solution(c, sp.Integer(0), p0, t_sym)
    return (zero("logistic P(t) solves ṗ = r p − (r/p_∞) p² (symbolic r, p_∞, p₀)",
                 sp.diff(P, t_sym) - r * P + r / q * P**2),
            zero("P(0) = p₀", P.subs(t_sym, 0) - p0),
            zero("p_∞ = 0: p₀/(1 + c p₀ t) solves ṗ = −c p²", sp.diff(H, t_sym) + c * H**2))


def prove_logistic(formulas: dict, K, n, lambda_value, p0, T, J: int) -> list[Obligation]:
    """Derive ṗ from the flow on the ansatz (αI + βJ algebra, symbolic K and n; checked on an
    explicit sp.diff instance), then check the formulas against the derived ODE and its solution."""
    K, n, lv, p0 = exact(K), exact(n), exact(lambda_value), exact(p0)
    general, c1, c2, norms_w, norms_h, excess = logistic_derivation()
    ob = list(general)
    at_params = {_Kg: K, _ng: n, lam: lv}
    c1v, c2v = sp.simplify(c1.subs(at_params)), sp.simplify(c2.subs(at_params))
    pi, rate = formulas["p_inf"], formulas["rate"]
    ob.append(zero("rate = c₁ (growth rate at p → 0)", rate - c1v))
    ob.append(zero("p_∞ is the nonzero root: c₁ + c₂ p_∞ = 0", c1v + c2v * pi))
    ob.extend(logistic_solution_lemma())
    ob.append(zero("‖w_k‖²/p = a²/(ab) on the balanced ansatz",
                   formulas["w_norm_sq_per_p"] - norms_w.subs(at_params)))
    ob.append(zero("‖h_k,i‖²/p = b²/(ab) on the balanced ansatz",
                   formulas["h_norm_sq_per_p"] - norms_h.subs(at_params)))
    ob.append(zero("(f − ½(1 − p)²)/p: f on the ansatz = ½(ab − 1)² + λK a²/2 + λnK b²/2",
                   formulas["loss_excess_per_p"] - excess.subs(at_params)))
    c_der, pi_der = -c2v, sp.simplify(-c1v / c2v)
    for t in sample_times(T, J):
        key = at("p", t)
        ob.append(zero(f"{key} = derived solution", explicit(formulas[key]) - logistic_solution(c_der, pi_der, p0, t)))
    return ob
