"""The bias-free UF-SVM solved directly on (W, H) in torch: an augmented Lagrangian.

    min_{W,H} f = ½(‖W‖_F² + ‖H‖_F²)  s.t.  g_ic = 1 − (w_{y_i} − w_c)ᵀ h_i ≤ 0  (c ≠ y_i),
nonconvex in (W, H).  Each round minimizes the augmented Lagrangian
    L_ρ = f + (1/(2ρ)) Σ [max(0, μ + ρ g)² − μ²]
with L-BFGS (strong Wolfe), then updates μ ← max(0, μ + ρ g).  Converged when the largest
violation is below ``tol``, the complementary slackness Σ μ|g| below 10·tol, and the largest entry of
the gradient of the Lagrangian f + Σ μ g below ``kkt_tol`` (default 1e-6: line searches on L_ρ
stall at a gradient ~√(eps·f·curvature) ≈ 1e-7, the float64 floor); then Newton steps on
the KKT system of the active constraints polish each converged start, which is kept as
converged when its violation <= 1e-13, Lagrangian gradient and slackness <= 1e-12, μ >= 0.  Independent random starts are batched.

Why not the gradient flow of unregularized CE (as for ufm.ce.max_margin): its direction
approaches the UF-SVM only like 1/log t, far from a 1e-6 tolerance; solving the UF-SVM itself
on (W, H), nonconvex, from random starts tests the same statement (its global optimum).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


@dataclass
class SVMResult:
    W: np.ndarray               # S×K×d
    H: np.ndarray               # S×d×N
    mu: np.ndarray              # S×K×N multipliers
    f: np.ndarray               # S values ½(‖W‖² + ‖H‖²)
    violation: np.ndarray       # S largest max(0, g)
    kkt: np.ndarray             # S largest |∂(f + Σμg)| entry
    slack: np.ndarray           # S Σ μ|g|
    rounds: int
    lbfgs_iters: int
    converged: np.ndarray       # S booleans (augmented Lagrangian converged and polished)
    kkt_al: np.ndarray          # S Lagrangian gradients before the Newton polish
    newton_steps: np.ndarray    # S

    @property
    def best(self) -> int:
        ok = np.where(self.converged, self.f, np.inf)
        return int(np.argmin(ok)) if np.isfinite(ok).any() else int(np.argmin(self.f))


def solve(counts, d: int, starts: int, seed: int, device: str = "auto", rho: float = 30.0,
          tol: float = 1e-6, kkt_tol: float = 1e-5, max_rounds: int = 60, scale: float = 1.0) -> SVMResult:
    """Augmented-Lagrangian solve of the UF-SVM from ``starts`` Gaussian starts (entries ~ scale·N(0,1))."""
    counts = tuple(int(c) for c in counts)
    K, N = len(counts), sum(counts)
    if K < 2 or min(counts) < 1 or d < K - 1:
        raise ValueError(f"counts={counts}, d={d}: need K >= 2 nonempty classes and d >= K-1")
    dev = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    labels = torch.as_tensor(np.repeat(np.arange(K), counts))
    Y = torch.eye(K, dtype=torch.float64)[:, labels].to(dev)           # K×N
    wrong = 1 - Y
    W = (scale * torch.randn(starts, K, d, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    H = (scale * torch.randn(starts, d, N, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    mu = torch.zeros(starts, K, N, dtype=torch.float64, device=dev)

    def constraints(W, H):
        Z = W @ H
        return (1 - ((Z * Y).sum(1, keepdim=True) - Z)) * wrong          # g, 0 on the correct entries

    def f_of(W, H):
        return 0.5 * ((W**2).sum((1, 2)) + (H**2).sum((1, 2)))

    iters = 0
    with cpu_threads(dev):
        for rnd in range(1, max_rounds + 1):
            opt = torch.optim.LBFGS([W, H], lr=1.0, max_iter=150, tolerance_grad=1e-13, tolerance_change=0.0,
                                    history_size=50, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                g = constraints(W, H)
                L = f_of(W, H) + ((torch.clamp(mu + rho * g, min=0) ** 2 - mu**2) * wrong).sum((1, 2)) / (2 * rho)
                L.sum().backward()
                return L.sum()

            opt.step(closure)
            iters += opt.state[opt._params[0]]["n_iter"]
            with torch.no_grad():
                g = constraints(W, H)
                mu = torch.clamp(mu + rho * g, min=0) * wrong
            Wl, Hl = W.detach().clone().requires_grad_(), H.detach().clone().requires_grad_()
            lag = f_of(Wl, Hl) + (mu * constraints(Wl, Hl)).sum((1, 2))
            gW, gH = torch.autograd.grad(lag.sum(), [Wl, Hl])
            with torch.no_grad():
                kkt = torch.maximum(gW.abs().amax((1, 2)), gH.abs().amax((1, 2)))
                viol = torch.clamp(g, min=0).amax((1, 2))
                slack = (mu * g.abs()).sum((1, 2))
                conv = (viol <= tol) & (kkt <= kkt_tol) & (slack <= 10 * tol)
            if bool(conv.all()):
                break
    Wn, Hn, mun = W.detach().cpu().numpy(), H.detach().cpu().numpy(), mu.cpu().numpy()
    kkt_al = kkt.cpu().numpy()
    newton = np.zeros(starts, dtype=int)
    for s in range(starts):
        if conv[s]:
            Wn[s], Hn[s], mun[s], newton[s] = polish(Wn[s], Hn[s], mun[s], Y.cpu(), wrong.cpu())
    Wt, Ht, mut = torch.as_tensor(Wn), torch.as_tensor(Hn).requires_grad_(), torch.as_tensor(mun)
    Wt.requires_grad_()
    g = constraints(Wt.to(dev), Ht.to(dev)).cpu()
    lag = f_of(Wt, Ht) + (mut * g).sum((1, 2))
    gW, gH = torch.autograd.grad(lag.sum(), [Wt, Ht])
    with torch.no_grad():
        kkt = torch.maximum(gW.abs().amax((1, 2)), gH.abs().amax((1, 2))).numpy()
        viol = torch.clamp(g, min=0).amax((1, 2)).numpy()
        slack = (mut * g.abs()).sum((1, 2)).numpy()
        f = f_of(Wt, Ht).numpy()
    conv = conv.cpu().numpy() & (viol <= 1e-13) & (kkt <= 1e-12) & (slack <= 1e-12) & (mun.min((1, 2)) >= 0)
    return SVMResult(Wn, Hn, mun, f, viol, kkt, slack, rnd, int(iters), conv, kkt_al, newton)


def polish(W: np.ndarray, H: np.ndarray, mu: np.ndarray, Y: torch.Tensor, wrong: torch.Tensor,
           steps: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Newton (least-squares steps: the O(d) gauge makes the Jacobian singular) on the KKT system
    of the constraints with μ > 0: ∇f + Σ μ∇g = 0, g = 0."""
    K, d = W.shape
    N = H.shape[1]
    act = torch.as_tensor(mu > 1e-6 * mu.max())

    def F(v):
        Wv, Hv, m = v[:K * d].reshape(K, d), v[K * d:K * d + d * N].reshape(d, N), v[K * d + d * N:]
        M = torch.zeros(K, N, dtype=torch.float64).masked_scatter(act, m)
        A = Y * M.sum(0, keepdim=True) - M                       # ∂(Σ μ g)/∂Z = −A
        Z = Wv @ Hv
        g = (1 - ((Z * Y).sum(0, keepdim=True) - Z)) * wrong
        return torch.cat([(Wv - A @ Hv.T).ravel(), (Hv - Wv.T @ A).ravel(), g[act]])

    v = torch.cat([torch.as_tensor(W).ravel(), torch.as_tensor(H).ravel(), torch.as_tensor(mu)[act]])
    it = 0
    for it in range(1, steps + 1):
        r = F(v)
        if float(r.abs().max()) <= 1e-14:
            break
        J = torch.autograd.functional.jacobian(F, v, vectorize=True)
        v = v - torch.linalg.lstsq(J, r.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    m = np.zeros((K, N))
    m[act.numpy()] = v[K * d + d * N:].numpy()
    return v[:K * d].reshape(K, d).numpy(), v[K * d:K * d + d * N].reshape(d, N).numpy(), m, it
