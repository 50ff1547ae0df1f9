"""Linear non-contrastive SSL (DirectPred model) as a batched torch gradient flow, float64.

Online W, predictor W_p, stop-gradient target W_a = τ·W, expected loss (X = I, X′ = σ²I; theory/ssl.py)
J = ½(1+σ²)‖W_p W‖²_F − ⟨W_p W, sg(W_a)⟩;  Ẇ_p = −α_p ∂J/∂W_p − η W_p,  Ẇ = −∂J/∂W − η W.
The explicit field is checked against autograd of J (``autograd_field``).  Integrated by classical
fixed-step RK4, whose fixed points are exactly the field's zeros; convergence is certified by the
field norm.  Several configurations (random rotations, η values) run as one batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from simulations.device import resolve_device

DT = torch.float64


def field(Wp, W, tau, sigma2, eta, alpha_p):
    """(Ẇ_p, Ẇ) for batches (S, d, d); eta may be a (S, 1, 1) tensor.  With R = −∂J/∂(W_pW) =
    −(1+σ²)W_pW + τW:  −∂J/∂W_p = R Wᵀ, −∂J/∂W = W_pᵀ R (cross-checked against autograd by ``autograd_field``)."""
    R = -(1.0 + sigma2) * Wp @ W + tau * W
    return alpha_p * R @ W.transpose(-1, -2) - eta * Wp, Wp.transpose(-1, -2) @ R - eta * W


def autograd_field(Wp, W, tau, sigma2, eta, alpha_p):
    """The same field from autograd of J with the target detached (the stop-gradient)."""
    with torch.enable_grad():
        Wp_, W_ = Wp.detach().clone().requires_grad_(True), W.detach().clone().requires_grad_(True)
        target = (tau * W).detach()                                  # stop-gradient: W_a = τ·W
        out = Wp_ @ W_
        J = (0.5 * (1.0 + sigma2) * (out ** 2).sum((-2, -1)) - (out * target).sum((-2, -1))).sum()
        gWp, gW = torch.autograd.grad(J, (Wp_, W_))
    return -alpha_p * gWp - eta * Wp, -gW - eta * W


def _rk4(Wp, W, h, F):
    a1, b1 = F(Wp, W)
    a2, b2 = F(Wp + 0.5 * h * a1, W + 0.5 * h * b1)
    a3, b3 = F(Wp + 0.5 * h * a2, W + 0.5 * h * b2)
    a4, b4 = F(Wp + h * a3, W + h * b3)
    return Wp + h / 6 * (a1 + 2 * a2 + 2 * a3 + a4), W + h / 6 * (b1 + 2 * b2 + 2 * b3 + b4)


def step_size(tau, sigma2, eta, alpha_p) -> float:
    """RK4 step well inside the stability region for the Jacobian scale (1+α_p)(τ²/(1+σ²) + η)."""
    return 0.5 / max(1.0, (1.0 + alpha_p) * (tau ** 2 / (1.0 + sigma2) + eta))


def random_orthogonal(S, d, gen):
    q, r = torch.linalg.qr(torch.randn(S, d, d, generator=gen, dtype=DT))
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)


@dataclass
class Limits:
    modes: torch.Tensor      # (S, d): diag(Uᵀ W_p U) at the end, in the order of the starts
    steps: int
    t: float
    field_norm: float
    converged: bool
    device: str


def mode_limits(p0, etas, tau, sigma2, alpha_p, seed, device="auto", t_max=4000.0, ftol=1e-12) -> Limits:
    """Batched flow from balanced aligned starts W_p = U diag(p0_s) Uᵀ, W = U diag(p0_s/√α_p) Vᵀ (random U, V
    per configuration s, η = etas[s]); stops when every entry of the field is below ftol."""
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    p0 = torch.as_tensor(p0, dtype=DT)
    S, d = p0.shape
    U, V = random_orthogonal(S, d, gen), random_orthogonal(S, d, gen)
    Wp = (U * p0.unsqueeze(-2)) @ U.transpose(-1, -2)
    W = (U * (p0 / alpha_p ** 0.5).unsqueeze(-2)) @ V.transpose(-1, -2)
    Wp, W, U = Wp.to(dev), W.to(dev), U.to(dev)
    eta = torch.as_tensor(etas, dtype=DT).reshape(S, 1, 1).to(dev)
    F = lambda a, b: field(a, b, tau, sigma2, eta, alpha_p)
    h = step_size(tau, sigma2, float(eta.max()), alpha_p)
    steps, t, fn = 0, 0.0, float("inf")
    while t < t_max:
        for _ in range(200):
            Wp, W = _rk4(Wp, W, h, F)
        steps, t = steps + 200, t + 200 * h
        a, b = F(Wp, W)
        fn = float(torch.maximum(a.abs().amax(), b.abs().amax()))
        if not torch.isfinite(torch.tensor(fn)):
            break
        if fn < ftol:
            break
    modes = torch.diagonal(U.transpose(-1, -2) @ Wp @ U, dim1=-2, dim2=-1).cpu()
    return Limits(modes, steps, t, fn, fn < ftol, str(dev))


def balance_rates(S, d, tau, sigma2, eta, alpha_p, seed, device="auto", t_end=1.0, steps=1000, every=250):
    """Rates r(t) = −log(⟨C(t),C(0)⟩/⟨C(0),C(0)⟩)/t, C = W_pᵀW_p − α_p WWᵀ, along RK4 flows from S random
    (unbalanced, non-symmetric) starts; returns (S, steps/every) rates."""
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    Wp = (torch.randn(S, d, d, generator=gen, dtype=DT) / d ** 0.5).to(dev)
    W = (torch.randn(S, d, d, generator=gen, dtype=DT) / d ** 0.5).to(dev)
    C = lambda a, b: a.transpose(-1, -2) @ a - alpha_p * b @ b.transpose(-1, -2)
    C0 = C(Wp, W)
    F = lambda a, b: field(a, b, tau, sigma2, eta, alpha_p)
    h, rates = t_end / steps, []
    for k in range(1, steps + 1):
        Wp, W = _rk4(Wp, W, h, F)
        if k % every == 0:
            ratio = (C(Wp, W) * C0).sum((-2, -1)) / (C0 * C0).sum((-2, -1))
            rates.append(-torch.log(ratio) / (k * h))
    return torch.stack(rates, -1).cpu()


def _mode_g(p, eta, tau, sigma2, alpha_p):
    """ṗ/p of one mode from the torch matrix field at W_p = p·I, W = (p/√α_p)·I (differentiable in p, η)."""
    I = torch.eye(2, dtype=DT)
    Wp, W = p * I, (p / alpha_p ** 0.5) * I
    G = -(1.0 + sigma2) * Wp @ W + tau * W                         # −∂J/∂(W_p W) with W_a = τW
    dWp = alpha_p * G @ W.T - eta * Wp
    return dWp[0, 0] / p


def newton_p_minus(tau, sigma2, eta, alpha_p, iters=60) -> float:
    """The smaller positive zero of ṗ/p by Newton (autograd derivative) from p = 0⁺."""
    p = torch.tensor(1e-9, dtype=DT)
    for _ in range(iters):
        x = p.clone().requires_grad_(True)
        g = _mode_g(x, eta, tau, sigma2, alpha_p)
        (dg,) = torch.autograd.grad(g, x)
        p = (p - g.detach() / dg).detach()
    return float(p)


def newton_threshold(tau, sigma2, alpha_p, iters=60) -> float:
    """The saddle-node of the mode field: solve ṗ/p = 0 and ∂_p(ṗ/p) = 0 for (p, η) by Newton (autograd)."""
    z = torch.tensor([tau / (1.0 + sigma2), 0.0], dtype=DT)
    for _ in range(iters):
        def eqs(v):
            p, eta = v[0], v[1]
            pg = p.clone().requires_grad_(True) if not p.requires_grad else p
            g = _mode_g(pg, eta, tau, sigma2, alpha_p)
            (dg,) = torch.autograd.grad(g, pg, create_graph=True)
            return torch.stack([g, dg])
        Jm = torch.autograd.functional.jacobian(eqs, z)
        z = z - torch.linalg.solve(Jm, eqs(z.clone().requires_grad_(True)).detach())
    return float(z[1])
