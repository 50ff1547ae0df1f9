"""Linear β-VAE: maximize the exact population ELBO over full matrices with scipy L-BFGS.

Σ = Q diag(λ) Qᵀ with a random rotation Q (so nothing is diagonal a priori); the state is
W (d×q), V (q×d) and s = log diag(D).  Negative ELBO per sample (constant included):

    L = d/2 log(2πσ²) + [tr((I−WV)Σ(I−WV)ᵀ) + tr(WDWᵀ)]/(2σ²) + β/2 [tr D + tr(VΣVᵀ) − q − Σ s]

with its analytic gradient.  The reported latents are sorted by decoder norm ‖w_k‖².
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from numerics import closed_form


@closed_form
def geometric_spectrum(d: int, lam1: float, rho: float) -> np.ndarray:
    """λ_j = lam1 · rho^{j−1}, j = 1..d."""
    if d < 1 or lam1 <= 0 or not 0 < rho <= 1:
        raise ValueError(f"d={d}, lam1={lam1}, rho={rho}: need d >= 1, lam1 > 0, 0 < rho <= 1")
    return lam1 * rho ** np.arange(d, dtype=np.float64)


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


@closed_form
def neg_elbo(x: np.ndarray, S: np.ndarray, q: int, sigma2: float, beta: float) -> tuple[float, np.ndarray]:
    d = S.shape[0]
    W, V, s = x[:d * q].reshape(d, q), x[d * q:2 * d * q].reshape(q, d), x[2 * d * q:]
    Dg = np.exp(s)
    R = np.eye(d) - W @ V
    RS = R @ S
    VS = V @ S
    f = (d / 2 * np.log(2 * np.pi * sigma2) + (np.sum(RS * R) + np.sum(W * W * Dg)) / (2 * sigma2)
         + beta / 2 * (Dg.sum() + np.sum(VS * V) - q - s.sum()))
    gW = (-2 * RS @ V.T + 2 * W * Dg) / (2 * sigma2)
    gV = -2 * W.T @ RS / (2 * sigma2) + beta * VS
    gs = np.sum(W * W, axis=0) * Dg / (2 * sigma2) + beta / 2 * (Dg - 1)
    return float(f), np.concatenate([gW.ravel(), gV.ravel(), gs])


@dataclass
class VaeOptimum:
    w_norm_sq: np.ndarray        # sorted descending
    enc_var: np.ndarray          # of the same latents
    elbo: float
    grad_norm: float
    starts: int
    values: np.ndarray           # final ELBO of every start

    @property
    def converged(self) -> bool:
        return self.grad_norm < 1e-6


def fit(spectrum: np.ndarray, q: int, sigma2: float, beta: float, rng: np.random.Generator,
        starts: int = 4) -> VaeOptimum:
    """Best of ``starts`` random L-BFGS runs (gtol 1e-12) on the rotated covariance."""
    d = spectrum.size
    Q = random_rotation(d, rng)
    S = (Q * spectrum) @ Q.T
    best, values = None, []
    for _ in range(starts):
        x0 = np.concatenate([0.5 * rng.standard_normal(2 * d * q), 0.3 * rng.standard_normal(q)])
        r = minimize(neg_elbo, x0, args=(S, q, sigma2, beta), jac=True, method="L-BFGS-B",
                     options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-16, "maxcor": 30})
        values.append(-r.fun)
        if best is None or r.fun < best.fun:
            best = r
    x = best.x
    W, s = x[:d * q].reshape(d, q), x[2 * d * q:]
    norms = np.sum(W * W, axis=0)
    order = np.argsort(-norms)
    g = neg_elbo(x, S, q, sigma2, beta)[1]
    return VaeOptimum(norms[order], np.exp(s)[order], float(-best.fun), float(np.linalg.norm(g)), starts,
                      np.array(values))


# ------------------------------------------------------------------------------ conditional VAE
@closed_form
def cvae_neg_elbo(x: np.ndarray, S: np.ndarray, dx: int, q: int, eta2: float, beta: float):
    """Negative population β-ELBO of the linear CVAE; u = (x, y) ~ N(0, S).
    State: M = [W1 W2] (q × (dx+dy)), U1 (dy × q), U2 (dy × dx), s = log diag D."""
    n = S.shape[0]
    dy = n - dx
    i = 0
    M = x[i:i + q * n].reshape(q, n); i += q * n
    U1 = x[i:i + dy * q].reshape(dy, q); i += dy * q
    U2 = x[i:i + dy * dx].reshape(dy, dx); i += dy * dx
    s = x[i:]
    Dg = np.exp(s)
    Ey = np.hstack([np.zeros((dy, dx)), np.eye(dy)])
    Ex = np.hstack([np.eye(dx), np.zeros((dx, dy))])
    R = Ey - U1 @ M - U2 @ Ex
    RS, MS = R @ S, M @ S
    f = (dy / 2 * np.log(2 * np.pi * eta2) + (np.sum(RS * R) + np.sum(U1 * U1 * Dg)) / (2 * eta2)
         + beta / 2 * (Dg.sum() + np.sum(MS * M) - q - s.sum()))
    gM = -U1.T @ RS / eta2 + beta * MS
    gU1 = (-RS @ M.T + U1 * Dg) / eta2
    gU2 = -RS @ Ex.T / eta2
    gs = np.sum(U1 * U1, axis=0) * Dg / (2 * eta2) + beta / 2 * (Dg - 1)
    return float(f), np.concatenate([gM.ravel(), gU1.ravel(), gU2.ravel(), gs])


def fit_cvae(S: np.ndarray, dx: int, q: int, eta2: float, beta: float, rng: np.random.Generator,
             starts: int = 4) -> VaeOptimum:
    """Best of ``starts`` L-BFGS runs; latents sorted by decoder norm ‖U1 e_k‖²."""
    n = S.shape[0]
    dy = n - dx
    P = q * n + dy * q + dy * dx
    best, values = None, []
    for _ in range(starts):
        x0 = np.concatenate([0.5 * rng.standard_normal(P), 0.3 * rng.standard_normal(q)])
        r = minimize(cvae_neg_elbo, x0, args=(S, dx, q, eta2, beta), jac=True, method="L-BFGS-B",
                     options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-16, "maxcor": 30})
        values.append(-r.fun)
        if best is None or r.fun < best.fun:
            best = r
    U1 = best.x[q * n:q * n + dy * q].reshape(dy, q)
    norms = np.sum(U1 * U1, axis=0)
    order = np.argsort(-norms)
    g = cvae_neg_elbo(best.x, S, dx, q, eta2, beta)[1]
    return VaeOptimum(norms[order], np.exp(best.x[P:])[order], float(-best.fun), float(np.linalg.norm(g)), starts,
                      np.array(values))


# ------------------------------------------------------------------------------ fixed encoder variance
@closed_form
def fixed_neg_elbo(x: np.ndarray, S: np.ndarray, q: int, eta2: float, beta: float, sigma_e2: float):
    """Negative population β-ELBO with the encoder covariance fixed at σ_e² I; state W (d×q), V (q×d)."""
    d = S.shape[0]
    W, V = x[:d * q].reshape(d, q), x[d * q:].reshape(q, d)
    R = np.eye(d) - W @ V
    RS, VS = R @ S, V @ S
    f = (d / 2 * np.log(2 * np.pi * eta2) + (np.sum(RS * R) + sigma_e2 * np.sum(W * W)) / (2 * eta2)
         + beta / 2 * (q * sigma_e2 + np.sum(VS * V) - q - q * np.log(sigma_e2)))
    gW = (-RS @ V.T + sigma_e2 * W) / eta2
    gV = -W.T @ RS / eta2 + beta * VS
    return float(f), np.concatenate([gW.ravel(), gV.ravel()])


@closed_form
def paired_singular_values(W: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decoder sv² (eigenvalues of WᵀW, descending) and the encoder's ‖V row‖² in the same latent basis."""
    e, R = np.linalg.eigh(W.T @ W)
    order = np.argsort(-e)
    R = R[:, order]
    return e[order], np.einsum("ik,ij,jk->k", R, V @ V.T, R)


def fit_fixed(spectrum: np.ndarray, q: int, eta2: float, beta: float, sigma_e2: float, rng: np.random.Generator,
              starts: int = 4) -> VaeOptimum:
    """Best of ``starts`` L-BFGS runs on the rotated covariance; ``enc_var`` holds the encoder sv²."""
    d = spectrum.size
    Q = random_rotation(d, rng)
    S = (Q * spectrum) @ Q.T
    best, values = None, []
    for _ in range(starts):
        x0 = 0.5 * rng.standard_normal(2 * d * q)
        r = minimize(fixed_neg_elbo, x0, args=(S, q, eta2, beta, sigma_e2), jac=True, method="L-BFGS-B",
                     options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-16, "maxcor": 30})
        values.append(-r.fun)
        if best is None or r.fun < best.fun:
            best = r
    W, V = best.x[:d * q].reshape(d, q), best.x[d * q:].reshape(q, d)
    dec, enc = paired_singular_values(W, V)
    g = fixed_neg_elbo(best.x, S, q, eta2, beta, sigma_e2)[1]
    return VaeOptimum(dec, enc, float(-best.fun), float(np.linalg.norm(g)), starts, np.array(values))
