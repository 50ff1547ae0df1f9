"""Two-level linear hierarchical β-VAE (numeric study only: no closed-form claim).

Setting, in the form of the linear Markovian HVAE of Dang, Tran, Nguyen & Ho 2023 (arXiv 2306.05023; setting
recalled, not confirmed against the paper's text):

    data        x ~ N(0, Σ),  Σ = diag(λ_1 > … > λ_d)
    encoder     q(z1|x) = N(V1 x, D1),   q(z2|z1) = N(V2 z1, D2),   D1, D2 diagonal and learnable
    decoder     p(x|z1) = N(W1 z1, σ² I_d),   p(z1|z2) = N(W2 z2, η² I_q1),   p(z2) = N(0, I_q2)

Objective (maximized): E log p(x|z1) − β E[log q(z1|x) − log p(z1|z2)] − β E KL(q(z2|z1) ‖ p(z2)), all
expectations in closed form (Gaussian moments; no samples), with C1 = V1 Σ V1ᵀ + D1 = Cov z1:

    E‖x − W1 z1‖²   = tr Σ − 2 tr(W1 V1 Σ) + tr(W1 C1 W1ᵀ)
    E‖z1 − W2 z2‖²  = tr C1 − 2 tr(W2 V2 C1) + tr(W2 (V2 C1 V2ᵀ + D2) W2ᵀ)
    E log q(z1|x)   = −q1/2 log(2πe) − ½ log det D1
    E KL(q(z2|z1)‖p(z2)) = ½ [tr D2 + tr(V2 C1 V2ᵀ) − q2 − log det D2].

All configurations are independent problems; their negative objectives are summed and minimized together by
torch L-BFGS (block-diagonal Hessian), float64, seeded CPU generator.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


def _neg_elbo(P, lam, sigma2, eta2, beta):
    """Per-configuration negative β-ELBO (S,) from the parameter dict P."""
    V1, s1, W1, V2, s2, W2 = (P[k] for k in ("V1", "s1", "W1", "V2", "s2", "W2"))
    S, q1, d = V1.shape
    q2 = V2.shape[1]
    D1, D2 = s1.exp(), s2.exp()
    VS = V1 * lam.view(1, 1, d)                                          # V1 Σ
    C1 = VS @ V1.transpose(1, 2) + torch.diag_embed(D1)                  # Cov z1
    tr = lambda A: A.diagonal(dim1=-2, dim2=-1).sum(-1)                  # noqa: E731
    recon = lam.sum() - 2 * tr(W1 @ VS) + tr(W1 @ C1 @ W1.transpose(1, 2))
    C2 = V2 @ C1 @ V2.transpose(1, 2) + torch.diag_embed(D2)            # Cov z2
    fit1 = tr(C1) - 2 * tr(W2 @ V2 @ C1) + tr(W2 @ C2 @ W2.transpose(1, 2))
    kl1 = (q1 / 2 * torch.log(2 * math.pi * eta2) + fit1 / (2 * eta2) - q1 / 2 * math.log(2 * math.pi * math.e)
           - s1.sum(-1) / 2)
    kl2 = (D2.sum(-1) + tr(V2 @ C1 @ V2.transpose(1, 2)) - q2 - s2.sum(-1)) / 2
    return d / 2 * torch.log(2 * math.pi * sigma2) + recon / (2 * sigma2) + beta * (kl1 + kl2), kl2, C1


def fit(spectrum: np.ndarray, q1: int, q2: int, sigma2, beta, eta2=None, *, seed: int = 0, device: str = "auto",
        max_iter: int = 500, rounds: int = 6, gtol: float = 1e-5) -> dict:
    """Maximize the exact two-level β-ELBO for S configurations at once.

    ``sigma2``, ``beta``, ``eta2`` are scalars or length-S arrays (``eta2`` defaults to ``sigma2``).
    Returns per configuration (arrays with leading dimension S): ``w1_sv_sq``, ``w2_sv_sq`` (squared singular
    values of the decoders W1, W2, descending), ``snr1``, ``snr2`` (signal-to-noise ratios of z1 and of z2 about
    x, see ``_snr``), ``z1_var`` (eigenvalues of Cov z1), ``elbo``, ``grad_norm`` and ``converged``."""
    dev = resolve_device(device)
    with cpu_threads(dev):
        return _fit(np.asarray(spectrum, dtype=np.float64), q1, q2, sigma2, beta, eta2, int(seed), dev, max_iter,
                    rounds, gtol)


def _fit(spectrum, q1, q2, sigma2, beta, eta2, seed, dev, max_iter, rounds, gtol):
    d = spectrum.size
    if not 1 <= q2 <= q1 <= d:
        raise ValueError(f"q1={q1}, q2={q2}, d={d}: need 1 <= q2 <= q1 <= d")
    eta2 = sigma2 if eta2 is None else eta2
    b = np.broadcast_arrays(np.asarray(sigma2, np.float64), np.asarray(beta, np.float64), np.asarray(eta2, np.float64))
    S = max(np.atleast_1d(x).size for x in b)
    sig, bet, eta = (torch.as_tensor(np.broadcast_to(x, (S,)).copy(), device=dev) for x in b)
    if (sig <= 0).any() or (bet <= 0).any() or (eta <= 0).any():
        raise ValueError("sigma2, beta, eta2 must be positive")
    lam = torch.as_tensor(spectrum, device=dev)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    shapes = {"V1": (S, q1, d), "s1": (S, q1), "W1": (S, d, q1), "V2": (S, q2, q1), "s2": (S, q2), "W2": (S, q1, q2)}
    P = {k: (0.5 * torch.randn(*sh, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
         for k, sh in shapes.items()}
    params = list(P.values())
    steps = 0
    for _ in range(rounds):             # a fresh L-BFGS memory each round
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=1e-14, tolerance_change=1e-16,
                                history_size=50, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _neg_elbo(P, lam, sig, eta, bet)[0].sum()
            loss.backward()
            return loss

        opt.step(closure)
        steps += opt.state[opt._params[0]]["n_iter"]
        closure()
        g = torch.sqrt(sum((p.grad.reshape(S, -1) ** 2).sum(-1) for p in params))
        if float(g.max()) < gtol:
            break
    with torch.no_grad():
        f, _, C1 = _neg_elbo(P, lam, sig, eta, bet)
        V1, V2, D1, D2 = P["V1"], P["V2"], P["s1"].exp(), P["s2"].exp()
        out = {"w1_sv_sq": (torch.linalg.svdvals(P["W1"]) ** 2).cpu().numpy(),
               "w2_sv_sq": (torch.linalg.svdvals(P["W2"]) ** 2).cpu().numpy(),
               "snr1": _snr(V1 * lam.view(1, 1, d) @ V1.transpose(1, 2), torch.diag_embed(D1)).cpu().numpy(),
               "snr2": _snr(V2 @ (V1 * lam.view(1, 1, d)) @ V1.transpose(1, 2) @ V2.transpose(1, 2),
                            V2 @ torch.diag_embed(D1) @ V2.transpose(1, 2) + torch.diag_embed(D2)).cpu().numpy(),
               "z1_var": torch.linalg.eigvalsh(C1).flip(-1).cpu().numpy(),
               "elbo": (-f).cpu().numpy(), "grad_norm": g.cpu().numpy()}
    out["converged"] = out["grad_norm"] < gtol
    out["steps"] = int(steps)
    return out


def _snr(signal, noise):
    """Eigenvalues (descending) of N^{-1/2} S N^{-1/2}: the per-direction signal-to-noise ratios of a Gaussian
    channel z = A x + noise; I(x; z) = ½ Σ log(1 + snr)."""
    e, U = torch.linalg.eigh(noise)
    white = U * e.rsqrt().unsqueeze(-2)
    return torch.linalg.eigvalsh(white.transpose(-1, -2) @ signal @ white).flip(-1)


def active_counts(r: dict, cut: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Latents per level that carry information about x: encoder signal-to-noise ratios above ``cut`` (a
    collapsed latent has SNR 0).  Level 2 counts directions of z2 informative about x, not about z1."""
    return (r["snr1"] > cut).sum(-1), (r["snr2"] > cut).sum(-1)
