"""Posterior collapse in linear VAEs (Lucas, Tucker, Grosse & Norouzi 2019; THEORY.md §9).

Model: p(z) = N(0, I_q), p(x|z) = N(Wz, σ²I_d) (data centred, μ = 0), encoder
q(z|x) = N(Vx, D) with D diagonal; data x ~ N(0, Σ), Σ = U diag(λ) Uᵀ.  Objective, the
population β-ELBO per sample (closed-form Gaussian expectations):

    L = −d/2 log(2πσ²) − [tr((I−WV)Σ(I−WV)ᵀ) + tr(WDWᵀ)]/(2σ²)
        − β/2 [tr D + tr(VΣVᵀ) − q − log det D].

In the eigenbasis with W, V, D diagonal the problem splits into scalar problems
f(w, v, D; λ) (derived below from the moments of x ~ N(0, λ), ε ~ N(0, 1)); the optimum
per latent j (matched to the j-th largest λ_j):

    λ_j > βσ²:  ‖w_j‖² = λ_j − βσ²,  D_jj = βσ²/λ_j,  f_j = −β/2 (1 + log(λ_j/(βσ²)));
    λ_j ≤ βσ²:  w_j = 0, v_j = 0, D_jj = 1 (collapse),   f_j = −λ_j/(2σ²).

β = 1: the optimum equals the pPCA log-likelihood (σ² fixed): the ELBO is tight.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from theory.proof import Obligation, exact, nonnegative, positive, zero

w_, v_, D_ = sp.symbols("w v D", real=True)
lam_, s2_, beta_, delta_, t_ = sp.symbols("lambda sigma2 beta delta t", positive=True)


def spectrum(d: int, lam1, rho) -> list[sp.Expr]:
    """λ_j = lam1 · rho^{j−1}, j = 1..d (exact)."""
    lam1, rho = exact(lam1), exact(rho)
    return [lam1 * rho ** j for j in range(d)]


def scalar_elbo(lam, sigma2, beta) -> sp.Expr:
    """f(w, v, D): one eigen-coordinate's β-ELBO (without −½log(2πσ²)), from Gaussian moments.

    z = v x + √D ε; E[(x − w z)²] and KL(N(vx, D) ‖ N(0, 1)) averaged over x ~ N(0, λ),
    by expanding the polynomials and replacing x², ε², xε by λ, 1, 0."""
    x, e = sp.symbols("x epsilon", real=True)
    rD = sp.Symbol("rD", positive=True)            # √D
    sq = sp.Poly(sp.expand((x - w_ * (v_ * x + rD * e)) ** 2), x, e)
    moments = {(2, 0): lam, (0, 2): 1, (1, 1): 0, (1, 0): 0, (0, 1): 0, (0, 0): 1}
    recon = sum(c * moments[m] for m, c in zip(sq.monoms(), sq.coeffs())).subs(rD, sp.sqrt(D_))
    kl = sp.Rational(1, 2) * (D_ + v_ ** 2 * lam - 1 - sp.log(D_))
    return sp.expand(-recon / (2 * sigma2)) - beta * kl


def best_v(lam, sigma2, beta, w):
    """The encoder mean that maximizes f for given w (f is concave quadratic in v)."""
    f = scalar_elbo(lam, sigma2, beta)
    return sp.solve(sp.diff(f, v_), v_)[0].subs(w_, w)


def profile(lam, sigma2, beta, a, D) -> sp.Expr:
    """f at w = √a, v = best_v, encoder variance D (depends on w only through a = w²)."""
    w = sp.sqrt(a)
    return scalar_elbo(lam, sigma2, beta).subs({v_: best_v(lam, sigma2, beta, w)}).subs({w_: w, D_: D})


def vae_formulas(lams, q: int, sigma2, beta, *, threshold=None, gap=None, enc=None) -> dict[str, sp.Expr]:
    """Predicted optimum: active count, ‖w_k‖², D_kk (k = 1..q), population β-ELBO.

    ``threshold``, ``gap``, ``enc`` replace βσ² in the collapse threshold, in ‖w‖² = λ − gap and
    in D = enc/λ (defaults βσ²; negative controls change them)."""
    s2, b = exact(sigma2), exact(beta)
    thr = b * s2 if threshold is None else threshold
    gap = b * s2 if gap is None else gap
    enc = b * s2 if enc is None else enc
    d = len(lams)
    out, total, active = {}, -sp.Rational(d, 2) * sp.log(2 * sp.pi * s2), 0
    for k, lam in enumerate(lams[:q], start=1):
        on = bool(lam > thr)
        a, D = (lam - gap, enc / lam) if on else (sp.Integer(0), sp.Integer(1))
        active += on
        out[f"w_norm_sq_{k}"], out[f"enc_var_{k}"] = a, D
        total += profile(lam, s2, b, a, D)
    total += sum(-lam / (2 * s2) for lam in lams[q:])
    out["active"] = sp.Integer(active)
    out["elbo"] = total            # unsimplified: simplify() on long-decimal beta builds huge powers
    return out


def ppca_loglik(lams, q: int, sigma2) -> sp.Expr:
    """Population pPCA log-likelihood at its maximum over W (σ² fixed, Tipping & Bishop 1999):
    model covariance eigenvalues max(λ_j, σ²) for the q largest, σ² for the rest."""
    s2 = exact(sigma2)
    c = [max(lam, s2) if j < q else s2 for j, lam in enumerate(lams)]
    return -sp.Rational(1, 2) * sum(sp.log(2 * sp.pi) + sp.log(cj) + lam / cj for cj, lam in zip(c, lams))


def _minors(H):
    return [(-H[:k, :k]).det() for k in range(1, H.shape[0] + 1)]


@lru_cache(maxsize=1)
def generic_obligations() -> tuple[Obligation, ...]:
    """Parameter-free facts, with symbolic λ, σ², β (and λ = βσ² ± δ, δ > 0 on each side)."""
    f = scalar_elbo(lam_, s2_, beta_)
    grad = [sp.diff(f, u) for u in (w_, v_, D_)]
    H = sp.hessian(f, (w_, v_, D_))
    # full-matrix ELBO, d = q = 2, diagonal W, V, D, Σ: it splits into the scalar problems
    l1, l2, a1, a2, b1, b2, e1, e2 = sp.symbols("l1 l2 a1 a2 b1 b2 e1 e2", positive=True)
    S, W, V, Dm = sp.diag(l1, l2), sp.diag(a1, a2), sp.diag(b1, b2), sp.diag(e1, e2)
    R = sp.eye(2) - W * V
    L = (-((R * S * R.T).trace() + (W * Dm * W.T).trace()) / (2 * s2_)
         - beta_ / 2 * (Dm.trace() + (V * S * V.T).trace() - 2 - sp.log(e1) - sp.log(e2)))
    split = sum(scalar_elbo(l, s2_, beta_).subs({w_: a, v_: b, D_: e}) for l, a, b, e in
                ((l1, a1, b1, e1), (l2, a2, b2, e2)))
    # active side λ = βσ² + δ, at ‖w‖² = λ − βσ², v = w/λ, D = βσ²/λ
    lam_on = beta_ * s2_ + delta_
    at_on = {w_: sp.sqrt(delta_), v_: sp.sqrt(delta_) / lam_on, D_: beta_ * s2_ / lam_on, lam_: lam_on}
    minors_on = [sp.factor(sp.simplify(m.subs(at_on))) for m in _minors(H)]
    # collapsed point w = v = 0, D = 1: the (w, v) block of the Hessian
    at_off = {w_: 0, v_: 0, D_: 1}
    block = H[:2, :2].subs(at_off)
    h = t_ - 1 - sp.log(t_)
    gain = (profile(lam_, s2_, beta_, lam_ - beta_ * s2_, beta_ * s2_ / lam_) - profile(lam_, s2_, beta_, 0, 1))
    obs = [zero("the matrix beta-ELBO (d = q = 2, diagonal W, V, D, Sigma) splits into scalar problems",
                sp.expand(L - split)),
           zero("best encoder mean v = w/(w^2 + beta sigma^2)", best_v(lam_, s2_, beta_, w_) - w_ / (w_ ** 2 + beta_ * s2_))]
    obs += [zero(f"lambda = beta sigma^2 + delta: d f/d{u} = 0 at ||w||^2 = lambda - beta sigma^2, D = beta sigma^2/lambda",
                 sp.simplify(g.subs(at_on))) for u, g in zip("wvD", grad)]
    obs += [positive(f"lambda > beta sigma^2: leading minor {k + 1} of -Hessian > 0 at the active point (strict max)", m)
            for k, m in enumerate(minors_on)]
    obs += [zero("collapsed point: d f/dD = 0 at D = 1 (w = v = 0)", grad[2].subs(at_off)),
            zero("collapsed point: det of the (w, v) Hessian block = lambda (beta sigma^2 - lambda)/sigma^4 "
                 "(a local max iff lambda <= beta sigma^2: the collapse threshold)",
                 sp.simplify(block.det() - lam_ * (beta_ * s2_ - lam_) / s2_ ** 2)),
            positive("collapsed point: -d2f/dw2 = 1/sigma^2 > 0", -block[0, 0]),
            zero("gain of the active point over collapse = (beta/2) h(lambda/(beta sigma^2)), h(t) = t - 1 - log t",
                 sp.simplify(sp.expand_log(gain - beta_ / 2 * h.subs(t_, lam_ / (beta_ * s2_)), force=True))),
            zero("h(1) = 0", h.subs(t_, 1)), zero("h'(1) = 0", sp.diff(h, t_).subs(t_, 1)),
            positive("h'' = 1/t^2 > 0: h > 0 for t != 1, so activating is better iff lambda != beta sigma^2 "
                     "and the active point exists iff lambda > beta sigma^2", sp.diff(h, t_, 2)),
            zero("beta = 1: the active value -1/2 (1 + log(lambda/sigma^2)) - 1/2 log(2 pi sigma^2) is the pPCA "
                 "term -1/2 (log(2 pi lambda) + 1) (tight ELBO)",
                 sp.expand_log(profile(lam_, s2_, 1, lam_ - s2_, s2_ / lam_) - sp.log(2 * sp.pi * s2_) / 2
                               + (sp.log(2 * sp.pi * lam_) + 1) / 2, force=True)),
            zero("beta = 1: the collapsed value is the pPCA term -1/2 (log(2 pi sigma^2) + lambda/sigma^2)",
                 profile(lam_, s2_, 1, 0, 1) + lam_ / (2 * s2_))]
    return tuple(obs)


def prove_vae(f, lams, q: int, sigma2, beta) -> list[Obligation]:
    """The formulas at concrete parameters: each latent is a stationary point of its scalar
    problem, a strict local max, the better of the two branches; the ELBO is their sum."""
    s2, b = exact(sigma2), exact(beta)
    obs = list(generic_obligations())
    total, n_on = -sp.Rational(len(lams), 2) * sp.log(2 * sp.pi * s2), 0
    for k, lam in enumerate(lams[:q], start=1):
        a, D = f[f"w_norm_sq_{k}"], f[f"enc_var_{k}"]
        fk = scalar_elbo(lam, s2, b)
        obs.append(nonnegative(f"latent {k}: ||w||^2 >= 0", a))
        obs.append(positive(f"latent {k}: D > 0", D))
        if not a.is_zero:
            n_on += 1
            w = sp.sqrt(a)
            at = {v_: best_v(lam, s2, b, w), D_: D}
            pt = {**at, w_: w}
            for u in (w_, D_):
                obs.append(zero(f"latent {k}: d f/d{u} = 0", sp.diff(fk, u).subs(at).subs(w_, w)))
            obs += [positive(f"latent {k}: leading minor {i + 1} of -Hessian > 0", m.subs(pt))
                    for i, m in enumerate(_minors(sp.hessian(fk, (w_, v_, D_))))]
            obs.append(positive(f"latent {k}: the active point beats collapse",
                                profile(lam, s2, b, a, D) - profile(lam, s2, b, 0, 1)))
        else:
            obs.append(zero(f"latent {k} collapsed: d f/dD = 0 at w = v = 0", sp.diff(fk, D_).subs({w_: 0, v_: 0, D_: D})))
            block = sp.hessian(fk, (w_, v_)).subs({w_: 0, v_: 0, D_: D})
            obs.append(nonnegative(f"latent {k} collapsed: det of the (w, v) Hessian block >= 0 (lambda <= beta sigma^2)",
                                   block.det()))
        total += profile(lam, s2, b, a, D)
    total += sum(-lam / (2 * s2) for lam in lams[q:])
    obs.append(zero("active = number of latents with ||w||^2 > 0", f["active"] - n_on))
    obs.append(zero("ELBO = sum of the per-latent optima + uncovered directions", sp.simplify(f["elbo"] - total)))
    if b == 1:
        obs.append(zero("beta = 1: ELBO = pPCA log-likelihood (tight)", sp.simplify(f["elbo"] - ppca_loglik(lams, q, s2))))
    return obs


# ----------------------------------------------------------------------------------------------
# Conditional VAE (Dang, Tran, Nguyen & Ho 2023): x ∈ R^{dx} the condition, y ∈ R^{dy} the output.
# Encoder q(z|x, y) = N(W1 x + W2 y, D), decoder p(y|z, x) = N(U1 z + U2 x, η²I), prior N(0, I_q).
# With r = y − Σ_yxΣ_xx⁻¹x (uncorrelated with x; covariance C = Σ_yy − Σ_yxΣ_xx⁻¹Σ_xy) the
# β-ELBO splits: U2 absorbs every x-term of the reconstruction and the encoder's x-weight only
# adds to the KL, so the optimum is the linear VAE of r with σ² = η²: latent j collapses iff
# θ_j ≤ βη², θ_j the eigenvalues of C.
# ----------------------------------------------------------------------------------------------

def cvae_covariance(dx: int, dy: int, corr, lam1, rho) -> tuple[sp.Matrix, list[sp.Expr]]:
    """Joint covariance of (x, y): x ~ N(0, I), y = A x + r, A_ij = corr/(i + j + 1),
    r ~ N(0, diag(θ)), θ_j = lam1 rho^{j−1}.  Returns (Σ, θ)."""
    A = sp.Matrix(dy, dx, lambda i, j: exact(corr) / (i + j + 1))
    theta = spectrum(dy, lam1, rho)
    Syy = A * A.T + sp.diag(*theta)
    S = sp.BlockMatrix([[sp.eye(dx), A.T], [A, Syy]]).as_explicit()
    return S, theta


def schur(S: sp.Matrix, dx: int) -> sp.Matrix:
    Sxx, Sxy, Syx, Syy = S[:dx, :dx], S[:dx, dx:], S[dx:, :dx], S[dx:, dx:]
    return Syy - Syx * Sxx.inv() * Sxy


def cvae_formulas(S: sp.Matrix, dx: int, q: int, eta2, beta, **kw) -> dict[str, sp.Expr]:
    """The linear-VAE optimum on the eigenvalues of the Schur complement (sorted descending)."""
    C = schur(S, dx)
    if not C.is_diagonal():
        raise ValueError("this construction keeps the Schur complement diagonal (exact eigenvalues)")
    theta = sorted((C[i, i] for i in range(C.shape[0])), key=lambda e: -float(e))
    return vae_formulas(theta, q, eta2, beta, **kw)


def prove_cvae(f, S: sp.Matrix, dx: int, q: int, eta2, beta) -> list[Obligation]:
    C = schur(S, dx)
    theta = sorted((C[i, i] for i in range(C.shape[0])), key=lambda e: -float(e))
    dy = S.shape[0] - dx
    # the reduction, symbolically for dx = dy = q = 1: Σ = [[a, b], [b, c]], r = y − (b/a) x
    a, b, c, u1, u2, w1, w2, D, e2, bt = sp.symbols("a b c u1 u2 w1 w2 D eta2 beta", real=True)
    x, y, eps = sp.symbols("x y epsilon", real=True)
    sq = sp.Poly(sp.expand((y - u1 * (w1 * x + w2 * y + sp.sqrt(D) * eps) - u2 * x) ** 2), x, y, eps)
    mom = {(2, 0, 0): a, (0, 2, 0): c, (1, 1, 0): b, (0, 0, 2): 1, (0, 0, 0): 1}
    Ey = lambda p: sum(co * mom.get(m, 0) for m, co in zip(p.monoms(), p.coeffs()))   # noqa: E731
    Ekl = sp.Poly(sp.expand((w1 * x + w2 * y) ** 2), x, y, eps)
    cvae = -Ey(sq) / (2 * e2) - bt / 2 * (D + Ey(Ekl) - 1 - sp.log(D))
    # at w1 = −w2 b/a (encoder sees only r) and u2 = b/a (decoder absorbs x):
    # the linear VAE of r, variance c − b²/a, with (w, v) = (u1, w2)
    reduced = cvae.subs({w1: -w2 * b / a, u2: b / a})
    lvae = scalar_elbo(c - b ** 2 / a, e2, bt).subs({w_: u1, v_: w2, D_: D})
    du2 = sp.diff(cvae, u2)
    dw1_kl = sp.diff(Ey(Ekl), w1).subs(w1, -w2 * b / a)
    obs = [zero("Schur complement computed from the joint covariance: its eigenvalues are theta",
                sum((C - sp.diag(*[C[i, i] for i in range(dy)])).applyfunc(abs)) if dy > 1 else sp.Integer(0)),
           zero("dx = dy = 1: with u2 = b/a and w1 = -w2 b/a the CVAE ELBO is the linear VAE of "
                "r = y - (b/a) x (variance c - b^2/a)", sp.simplify(reduced - lvae)),
           zero("dx = dy = 1: d ELBO/d u2 = 0 there (u2 absorbs x)",
                sp.simplify(du2.subs({w1: -w2 * b / a, u2: b / a}))),
           zero("dx = dy = 1: the encoder's x-weight only adds KL: E(w1 x + w2 y)^2 is minimal at w1 = -w2 b/a",
                sp.simplify(dw1_kl))]
    return obs + prove_vae(f, theta, q, eta2, beta)


# ----------------------------------------------------------------------------------------------
# β and the encoder variance (Dang, Tran, Nguyen & Ho 2023, linear VAE section; re-derived here).
# Same model and β-ELBO as above (σ² = η_dec², prior N(0, I)), with the data eigenvalues written
# λ_i = θ_i².  Learnable diagonal D: the optimum above, ω_i² = ‖w_i‖² = (θ_i² − βη²)_+.
# Fixed (non-learnable) isotropic encoder covariance D = σ_e² I: per eigen-coordinate, with u the
# decoder and w the encoder weight (singular values; the latent space is rotation-invariant then),
#     f(u, w) = −[λ(1 − uw)² + σ_e² u²]/(2η²) − β/2 (λ w² + σ_e² − 1 − log σ_e²).
# For uw = t ≥ 0 the best split has σ_e² u²/(2η²) + βλw²/2 = t σ_e θ √β/η (AM–GM), leaving the
# concave h(t) = −λ(1 − t)²/(2η²) − t σ_e θ √β/η, h'(0) = θ(θ − √β η σ_e)/η²: collapse (t = 0)
# iff θ ≤ √β η σ_e; else t* = 1 − √β η σ_e/θ, u*² = t* √β η θ/σ_e, w*² = t* σ_e/(√β η θ).
# ----------------------------------------------------------------------------------------------

u_, e_, th_ = sp.symbols("u w_e theta", real=True)
se2_, eta2_ = sp.symbols("sigma_e2 eta2", positive=True)


def fixed_scalar_elbo(lam, eta2, beta, sigma_e2) -> sp.Expr:
    """f(u, w) of one eigen-coordinate with the encoder variance fixed at σ_e² (u = decoder, w = encoder)."""
    return scalar_elbo(lam, eta2, beta).subs({D_: sigma_e2}).subs({w_: u_, v_: e_}, simultaneous=True)


def fixed_optimum(theta, eta2, beta, sigma_e2, *, root_beta=None, se=None):
    """(u*², w*², t*) for one coordinate; ``root_beta``/``se`` replace √β and σ_e (negative controls)."""
    eta = sp.sqrt(eta2)
    rb = sp.sqrt(beta) if root_beta is None else root_beta
    se = sp.sqrt(sigma_e2) if se is None else se
    if not bool(theta > rb * eta * se):
        return sp.Integer(0), sp.Integer(0), sp.Integer(0)
    t = 1 - rb * eta * se / theta
    return t * rb * eta * theta / se, t * se / (rb * eta * theta), t


def beta_formulas(lams, q: int, eta2, beta, sigma_e2, *, root_beta=None, se=None, learn_gap=None,
                  learn_enc=None) -> dict[str, sp.Expr]:
    """Fixed-variance optimum (singular values² of decoder and encoder, active count, ELBO) and the
    learnable-variance optimum (as in ``vae_formulas``, keys prefixed ``learn_``)."""
    e2, b, s2 = exact(eta2), exact(beta), exact(sigma_e2)
    out, total, active = {}, -sp.Rational(len(lams), 2) * sp.log(2 * sp.pi * e2), 0
    for k, lam in enumerate(lams[:q], start=1):
        a, c, t = fixed_optimum(sp.sqrt(lam), e2, b, s2, root_beta=root_beta, se=se)
        out[f"fixed_dec_sv_sq_{k}"], out[f"fixed_enc_sv_sq_{k}"] = a, c
        active += bool(a != 0)
        total += fixed_scalar_elbo(lam, e2, b, s2).subs({u_: sp.sqrt(a), e_: sp.sqrt(c)})
    total += sum(-lam / (2 * e2) for lam in lams[q:])
    out["fixed_active"], out["fixed_elbo"] = sp.Integer(active), total
    out.update(_learn_formulas(tuple(lams), q, e2, b, learn_gap, learn_enc))
    return out


@lru_cache(maxsize=64)
def _learn_formulas(lams: tuple, q: int, e2, b, gap, enc) -> dict[str, sp.Expr]:
    return {f"learn_{k}": v for k, v in vae_formulas(list(lams), q, e2, b, gap=gap, enc=enc).items()}


@lru_cache(maxsize=1)
def fixed_generic_obligations() -> tuple[Obligation, ...]:
    """The fixed-variance reduction with symbolic λ = θ², η², β, σ_e² (and t, u > 0)."""
    theta, t, uu = sp.Symbol("theta", positive=True), sp.Symbol("t", positive=True), sp.Symbol("u", positive=True)
    lam = theta ** 2
    f = fixed_scalar_elbo(lam, eta2_, beta_, se2_)
    const = -beta_ / 2 * (se2_ - 1 - sp.log(se2_))
    eta, rb, se = sp.sqrt(eta2_), sp.sqrt(beta_), sp.sqrt(se2_)
    A, B = se2_ / (2 * eta2_), beta_ * lam * t ** 2 / 2          # σ_e²u²/(2η²) + βλw²/2 with w = t/u
    amgm = A * uu ** 2 + B / uu ** 2 - 2 * sp.sqrt(A * B) - (sp.sqrt(A) * uu - sp.sqrt(B) / uu) ** 2
    h = -lam * (1 - t) ** 2 / (2 * eta2_) - t * se * theta * rb / eta
    tstar = 1 - rb * eta * se / theta
    ustar2, wstar2 = tstar * rb * eta * theta / se, tstar * se / (rb * eta * theta)
    at = {u_: sp.sqrt(ustar2), e_: sp.sqrt(wstar2)}
    H0 = sp.hessian(f, (u_, e_)).subs({u_: 0, e_: 0})
    return (
        zero("fixed D: the objective depends on (u, w) through the reconstruction and the KL mean term only",
             sp.expand(f - const + (lam * (1 - u_ * e_) ** 2 + se2_ * u_ ** 2) / (2 * eta2_)
                       + beta_ * lam * e_ ** 2 / 2)),
        zero("AM-GM: A u^2 + B/u^2 - 2 sqrt(AB) = (sqrt(A) u - sqrt(B)/u)^2 >= 0 (uw = t fixed)", sp.expand(amgm)),
        zero("2 sqrt(AB) = t sigma_e theta sqrt(beta)/eta",
             sp.simplify(2 * sp.sqrt(A * B) - t * se * theta * rb / eta)),
        zero("h'(0) = theta (theta - sqrt(beta) eta sigma_e)/eta^2: collapse iff theta <= sqrt(beta) eta sigma_e",
             sp.simplify(sp.diff(h, t).subs(t, 0) - theta * (theta - rb * eta * se) / eta2_)),
        positive("h is strictly concave: -h'' = theta^2/eta^2 > 0", -sp.diff(h, t, 2)),
        zero("h'(t*) = 0 at t* = 1 - sqrt(beta) eta sigma_e / theta", sp.simplify(sp.diff(h, t).subs(t, tstar))),
        zero("uw = -t < 0 costs the same KL/noise term but more reconstruction: h_-(t) - h(t) = -2 theta^2 t/eta^2",
             sp.expand(-lam * (1 + t) ** 2 / (2 * eta2_) + lam * (1 - t) ** 2 / (2 * eta2_) + 2 * lam * t / eta2_)),
        positive("so uw < 0 is never optimal: 2 theta^2 t/eta^2 > 0", 2 * lam * t / eta2_),
        zero("u*^2 w*^2 = t*^2 (the product is t*)", sp.simplify(ustar2 * wstar2 - tstar ** 2)),
        zero("df/du = 0 at (u*, w*)", sp.simplify(sp.diff(f, u_).subs(at))),
        zero("df/dw = 0 at (u*, w*)", sp.simplify(sp.diff(f, e_).subs(at))),
        zero("collapsed point: det of the Hessian at u = w = 0 is theta^2 (beta eta^2 sigma_e^2 - theta^2)/eta^4",
             sp.simplify(H0.det() - lam * (beta_ * eta2_ * se2_ - lam) / eta2_ ** 2)),
        positive("collapsed point: -d2f/du2 = sigma_e^2/eta^2 > 0", -H0[0, 0]),
    )


def _refuted_numerically(expr, relation) -> bool:
    """A constant whose 30-digit value is clearly nonzero (or clearly negative) refutes the obligation
    at once; sympy's simplification of wrong radical expressions can take seconds."""
    if not getattr(expr, "is_number", False):
        return False
    try:
        x = complex(sp.N(expr, 30))
    except (TypeError, ValueError):
        return False
    return abs(x) > 1e-20 if relation == "== 0" else x.real < -1e-20


def _zero(name, expr):
    expr = sp.sympify(expr)
    return Obligation(name, expr, "== 0", False) if _refuted_numerically(expr, "== 0") else zero(name, expr)


@lru_cache(maxsize=256)
def _fixed_latent(k: int, lam, a, c, e2, b, s2) -> tuple[tuple[Obligation, ...], sp.Expr]:
    """One fixed-variance latent's obligations and its ELBO term (cached: negative controls reuse them)."""
    fk = fixed_scalar_elbo(lam, e2, b, s2)
    obs = [nonnegative(f"fixed latent {k}: u^2 >= 0", a), nonnegative(f"fixed latent {k}: w^2 >= 0", c)]
    H = sp.hessian(fk, (u_, e_))
    if not (a.is_zero and c.is_zero):
        pt = {u_: sp.sqrt(a), e_: sp.sqrt(c)}
        obs += [_zero(f"fixed latent {k}: df/du = 0", sp.diff(fk, u_).subs(pt)),
                _zero(f"fixed latent {k}: df/dw = 0", sp.diff(fk, e_).subs(pt)),
                positive(f"fixed latent {k}: det Hessian > 0 (strict local max; global by the reduction)",
                         H.det().subs(pt))]
    else:
        obs.append(nonnegative(f"fixed latent {k} collapsed: det Hessian at 0 >= 0 (theta <= sqrt(beta) eta "
                               f"sigma_e)", H.det().subs({u_: 0, e_: 0})))
    return tuple(obs), fk.subs({u_: sp.sqrt(a), e_: sp.sqrt(c)})


@lru_cache(maxsize=64)
def _learnable(items: tuple, lams: tuple, q: int, e2, b) -> tuple[Obligation, ...]:
    return tuple(Obligation("learnable D: " + o.name, o.expr, o.relation, o.proved)
                 for o in prove_vae(dict(items), list(lams), q, e2, b))


def prove_beta(f, lams, q: int, eta2, beta, sigma_e2) -> list[Obligation]:
    """Fixed variance: each latent is stationary and a strict local max (or collapsed with a negative
    semidefinite Hessian), the ELBO is the sum; learnable variance: ``prove_vae`` on the learn_ keys."""
    e2, b, s2 = exact(eta2), exact(beta), exact(sigma_e2)
    obs = list(fixed_generic_obligations())
    total, n_on = -sp.Rational(len(lams), 2) * sp.log(2 * sp.pi * e2), 0
    for k, lam in enumerate(lams[:q], start=1):
        a, c = sp.sympify(f[f"fixed_dec_sv_sq_{k}"]), sp.sympify(f[f"fixed_enc_sv_sq_{k}"])
        part, value = _fixed_latent(k, lam, a, c, e2, b, s2)
        obs += part
        n_on += not (a.is_zero and c.is_zero)
        total += value
    total += sum(-lam / (2 * e2) for lam in lams[q:])
    obs += [zero("fixed: active = number of latents with u^2 > 0", f["fixed_active"] - n_on),
            _zero("fixed: ELBO = sum of the per-latent optima + uncovered directions", f["fixed_elbo"] - total)]
    learn = tuple(sorted((k[len("learn_"):], v) for k, v in f.items() if k.startswith("learn_")))
    return obs + list(_learnable(learn, tuple(lams), q, e2, b))
