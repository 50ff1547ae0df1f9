"""Deep linear unconstrained features trained in torch: S random starts batched, float64.

The objective of theory.dln, summed over the starts (they do not interact), is minimized by
``torch.optim.LBFGS`` with a strong-Wolfe line search until every start's largest gradient entry is
below ``gtol`` or the budget is spent.  Depth ≥ 2 has rank-deficient local minima: each start's
final value is reported, and the caller compares the best with the scalar global optimum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


@dataclass
class DLNResult:
    f: np.ndarray              # (S,) final objective per start
    grad_max: np.ndarray       # (S,) largest gradient entry per start
    product_means: np.ndarray  # (S, K, K): W_M⋯W_1 H̄
    feature_means: np.ndarray  # (S, d, K): H̄
    layer_sv_sq: np.ndarray    # (S, M, K): squared top-K singular values of every W_l, descending
    iterations: int
    converged: np.ndarray      # (S,)
    bias: np.ndarray | None = None       # (S, K) when the model has a last-layer bias
    last_layer: np.ndarray | None = None  # (S, K, d): W_M
    logits: np.ndarray | None = None      # (S, K, N): W_M⋯W_1 H (+ b)

    @property
    def best(self) -> int:
        return int(np.argmin(self.f))


def train(counts, d: int, M: int, lam_W: float, lam_H: float, starts: int, seed: int, device: str = "auto",
          gtol: float = 1e-10, max_rounds: int = 60, scale: float = 0.5, bias: bool = False,
          loss: str = "mse") -> DLNResult:
    K, N = len(counts), int(sum(counts))
    if K < 2 or min(counts) < 1:
        raise ValueError(f"counts={counts}: need K >= 2 classes, each with a sample")
    if d < K:
        raise ValueError(f"d={d}: the orthogonal frame needs d >= K={K}")
    if loss not in ("mse", "ce"):
        raise ValueError(f"loss={loss!r}: expected 'mse' or 'ce'")
    if M < 1 or lam_W <= 0 or lam_H <= 0:
        raise ValueError(f"M={M}, lam_W={lam_W}, lam_H={lam_H}: need M >= 1 and positive weight decay")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    labels = torch.as_tensor(np.repeat(np.arange(K), counts))
    Y = torch.eye(K, dtype=torch.float64)[:, labels].to(dev)
    shapes = [(K if l == M - 1 else d, d) for l in range(M)] + [(d, N)]
    if bias:
        shapes.append((K, 1))                          # unregularized last-layer bias
    params = [(scale * torch.randn(starts, r, c, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
              for r, c in shapes]
    n_w = M

    def objective():
        Ws, H = params[:n_w], params[n_w]
        Z = H
        for W in Ws:
            Z = W @ Z
        if bias:
            Z = Z + params[-1]
        if loss == "ce":                               # (1/N) Σ_i CE(z_i, y_i)
            fit = (torch.logsumexp(Z, dim=1) - (Z * Y).sum(1)).sum(-1) / N
        else:
            fit = ((Z - Y) ** 2).sum((1, 2)) / (2 * N)
        return fit + lam_W / 2 * sum((W**2).sum((1, 2)) for W in Ws) + lam_H / 2 * (H**2).sum((1, 2))

    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=500, tolerance_grad=0.0, tolerance_change=0.0,
                            history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f = objective().sum()
        f.backward()
        return f

    def grad_max():
        opt.zero_grad()
        objective().sum().backward()
        return torch.stack([p.grad.abs().amax((1, 2)) for p in params]).amax(0)

    rounds = 0
    with cpu_threads(dev, enabled=N * d < 4096):
        for rounds in range(1, max_rounds + 1):
            opt.step(closure)
            if bool((grad_max() < gtol).all()):
                break
        g = grad_max()
        with torch.no_grad():
            f = objective()
            Ws, H = params[:n_w], params[n_w]
            P = Ws[0]
            for W in Ws[1:]:
                P = W @ P
            Hbar = torch.stack([H[:, :, labels == k].mean(-1) for k in range(K)], dim=-1)
            sv = torch.stack([torch.linalg.svdvals(W)[:, :K] ** 2 for W in Ws], dim=1)
            Z = H
            for W in Ws:
                Z = W @ Z
            if bias:
                Z = Z + params[-1]
    out = lambda t: t.detach().cpu().numpy()  # noqa: E731
    return DLNResult(out(f), out(g), out(P @ Hbar), out(Hbar), out(sv), rounds * 500, out(g < gtol),
                     out(params[-1][..., 0]) if bias else None, out(Ws[-1]), out(Z))
