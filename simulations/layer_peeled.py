"""Torch simulations of the two cross-entropy layer-peeled problems, on the UFM engine.

:func:`budget_descent` — the norm-constrained layer-peeled model (Fang et al. 2021)::

    min (1/N) Σ_i CE(W h_i, y_i)  s.t. (1/K)‖W‖_F² <= E_W, (1/N)‖H‖_F² <= E_H   (no bias)

from random starts, batched: projected gradient descent onto the two balls (Armijo
steps), then an L-BFGS polish of log f on the product of the two spheres (the
engine's :func:`simulations.ufm.minimize` on the sphere parametrization).  The
result is then checked as a KKT point of the *ball* problem: ∇_W f + (2μ_W/K)W = 0
and ∇_H f + (2μ_H/N)H = 0 with μ_W, μ_H > 0 measured (not assumed).

:func:`margin_flow` — unregularized CE gradient flow ẋ = −∇f(x) (Ji et al. 2022).
Its orbit is traced with a reparametrized time s, dx/ds = −∇log f(x)/‖x‖²: the
same curve (only the speed differs), along which the margins grow about linearly
in s instead of like log t.  The loss and its gradient are evaluated in a form
that stays accurate at any margin below ~700 (log f, and the label entry of the
softmax as minus the sum of the others): the plain formula softmax − Y loses
relative accuracy like margin·eps·e^margin and rounds to 0 beyond margins ~37.
The original time is recovered as t = ∫ ds/(f‖x‖²).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from simulations.ufm import UFM, flow, minimize


# --------------------------------------------------------------------------- norm-constrained model
class _SphereUFM(UFM):
    """The CE UFM (no bias, no regularization) with W = r_W U/‖U‖, H = r_H V/‖V‖: the
    objective restricted to the two spheres, as a smooth function of (U, V)."""

    def set_radii(self, r_W: float, r_H: float) -> "_SphereUFM":
        self.r_W, self.r_H = r_W, r_H
        return self

    def to_spheres(self, x: torch.Tensor):
        U, V, _ = self.unpack(x)
        nU = U.flatten(1).norm(dim=1).view(-1, 1, 1)
        nV = V.flatten(1).norm(dim=1).view(-1, 1, 1)
        return self.r_W * U / nU, self.r_H * V / nV, nU, nV

    def value_and_grad(self, x: torch.Tensor):
        """log f and its gradient: same minimizers, and the stopping rule on the gradient
        norm becomes relative to the loss (small when the budgets are large)."""
        W, H, nU, nV = self.to_spheres(x)
        f, g = UFM.value_and_grad(self, self.pack(W, H))
        g = g / f.view(-1, 1)
        gW, gH, _ = self.unpack(g)
        uW, uH = W / self.r_W, H / self.r_H
        # d(r U/‖U‖)/dU = (r/‖U‖)(I − ûûᵀ): the radial part of the gradient drops out.
        gU = self.r_W / nU * (gW - uW * (gW * uW).sum((1, 2), keepdim=True))
        gV = self.r_H / nV * (gH - uH * (gH * uH).sum((1, 2), keepdim=True))
        return torch.log(f), self.pack(gU, gV)


@dataclass
class BudgetResult:
    W: np.ndarray            # S×K×d
    H: np.ndarray            # S×d×N
    loss: np.ndarray         # S final objective values
    mult_W: np.ndarray       # S multipliers of (1/K)‖W‖² <= E_W (measured: −K⟨∇_W f, W⟩/(2‖W‖²))
    mult_H: np.ndarray       # S multipliers of (1/N)‖H‖² <= E_H
    kkt_residual: np.ndarray  # S norms of the ball problem's Lagrangian gradient, over f
    converged: bool
    info: dict = field(default_factory=dict)

    @property
    def best(self) -> int:
        return int(np.argmin(self.loss))


def _project(u: UFM, x: torch.Tensor, r_W: float, r_H: float) -> torch.Tensor:
    W, H, _ = u.unpack(x)
    sW = torch.clamp(r_W / W.flatten(1).norm(dim=1), max=1.0).view(-1, 1, 1)
    sH = torch.clamp(r_H / H.flatten(1).norm(dim=1), max=1.0).view(-1, 1, 1)
    return u.pack(W * sW, H * sH)


def budget_descent(K: int, d: int, n: int, E_W: float, E_H: float, *, starts: int = 4, seed: int = 0,
                   device: str = "auto", pg_steps: int = 100, gtol: float = 1e-8,
                   kkt_tol: float = 1e-7, switch: float = 1e-2) -> BudgetResult:
    """Minimize the CE layer-peeled objective over the two norm balls from Gaussian starts.

    The starts lie strictly inside the balls (a quarter of each radius).  Phase 1:
    projected-gradient steps with per-start Armijo backtracking until both budgets
    are active in every start (at most ``pg_steps``; the step at which each start got
    there is recorded).  Phase 2: L-BFGS on the spheres, on log f (same minimizers;
    the gradient tolerance ``gtol`` becomes relative to the loss).  Converged: every
    start's phase 2 converged and its ball-problem KKT residual over f is <=
    ``kkt_tol`` with both multipliers positive.
    """
    if not (E_W > 0 and E_H > 0):
        raise ValueError(f"E_W={E_W}, E_H={E_H}: budgets must be positive")
    u = UFM("ce", K, d, n, bias=False, S=starts, device=device)
    r_W, r_H = math.sqrt(K * E_W), math.sqrt(u.N * E_H)
    x = u.init(seed)
    W0, H0, _ = u.unpack(x)
    W0 = W0 * (0.25 * r_W / W0.flatten(1).norm(dim=1)).view(-1, 1, 1)
    H0 = H0 * (0.25 * r_H / H0.flatten(1).norm(dim=1)).view(-1, 1, 1)
    x = u.pack(W0, H0)
    f, g = u.value_and_grad(x)
    eta = torch.ones(starts, 1, dtype=u.dtype, device=u.device)
    active_at = np.full(starts, -1)
    for step in range(1, pg_steps + 1):
        eta = eta * 2
        for _ in range(60):
            xn = _project(u, x - eta * g, r_W, r_H)
            fn, gn = u.value_and_grad(xn)
            ok = fn <= f - 1e-4 * ((xn - x) ** 2).sum(1) / eta.view(-1)
            if bool(ok.all()):
                break
            eta = torch.where(ok.view(-1, 1), eta, eta / 2)
        x, f, g = torch.where(ok.view(-1, 1), xn, x), torch.where(ok, fn, f), torch.where(ok.view(-1, 1), gn, g)
        W, H, _ = u.unpack(x)
        on = ((W.flatten(1).norm(dim=1) >= r_W * (1 - 1e-12)) & (H.flatten(1).norm(dim=1) >= r_H * (1 - 1e-12)))
        newly = on.cpu().numpy() & (active_at < 0)
        active_at[newly] = step
        if bool((active_at > 0).all()):
            break
    sph = _SphereUFM("ce", K, d, n, bias=False, S=starts, device=device).set_radii(r_W, r_H)
    r = minimize(sph, x, gtol=gtol, switch=switch)   # on log f: f = exp(r.f)
    restarts, gd_total, lbfgs_total = 0, r.gd_steps, r.lbfgs_steps
    while not r.all_converged and restarts < 3:      # a stalled L-BFGS: start afresh on the spheres
        W, H, _, _ = sph.to_spheres(r.x)
        r = minimize(sph, sph.pack(W, H), gtol=gtol, switch=switch)
        restarts, gd_total, lbfgs_total = restarts + 1, gd_total + r.gd_steps, lbfgs_total + r.lbfgs_steps
    W, H, _, _ = sph.to_spheres(r.x)
    f, g = UFM.value_and_grad(u, u.pack(W, H))
    gW, gH, _ = u.unpack(g)
    # Multipliers of the ball problem from the radial components; KKT residual = what is left.
    mW = -K * (gW * W).sum((1, 2)) / (2 * (W * W).sum((1, 2)))
    mH = -u.N * (gH * H).sum((1, 2)) / (2 * (H * H).sum((1, 2)))
    res = torch.sqrt(((gW + (2 * mW / K).view(-1, 1, 1) * W) ** 2).sum((1, 2))
                     + ((gH + (2 * mH / u.N).view(-1, 1, 1) * H) ** 2).sum((1, 2))) / f
    mW, mH, res = (v.cpu().numpy() for v in (mW, mH, res))
    ok = r.all_converged and bool(np.all(res <= kkt_tol)) and bool(np.all(mW > 0) and np.all(mH > 0))
    info = {"pg_steps": pg_steps, "lbfgs_restarts": restarts, "both_budgets_active_at_pg_step": active_at.tolist(),
            **r.summary(), "gd_steps": gd_total, "lbfgs_steps": lbfgs_total, "kkt_residual": float(res.max()),
            "kkt_tol": kkt_tol, "starts": starts,
            "losses": f.cpu().numpy().tolist()}
    return BudgetResult(W.cpu().numpy(), H.cpu().numpy(), f.cpu().numpy(), mW, mH, res, ok, info)


# --------------------------------------------------------------------------- max-margin flow
def _log_loss_and_grad(u: UFM, x: torch.Tensor):
    """log f and ∇log f for the bias-free CE UFM, accurate at any margin.

    With D_ji = z_j − z_{y_i} (j ≠ y_i) and m_i = log Σ_{j≠y_i} e^{D_ji}: ℓ_i = softplus(m_i),
    ∂ℓ_i/∂z_j = σ(m_i) e^{D_ji − m_i} (j ≠ y_i) and ∂ℓ_i/∂z_{y_i} = −Σ_{j≠y_i} of those.
    Also returns Σ_i ℓ_i and every margin −D_ji (S×(K−1)N, as an S×K×N tensor, +inf at the label).
    """
    W, H, _ = u.unpack(x)
    Z = torch.bmm(W, H)
    label = u.Y.bool()
    D = (Z - (Z * u.Y).sum(1, keepdim=True)).masked_fill(label, -math.inf)
    m = torch.logsumexp(D, dim=1)                                    # S×N
    ell = torch.nn.functional.softplus(m)
    Q = torch.sigmoid(m).unsqueeze(1) * torch.exp(D - m.unsqueeze(1))  # 0 at the label
    Q = Q - u.Y * Q.sum(1, keepdim=True)
    total = ell.sum(1)
    G = Q / total.view(-1, 1, 1)                                     # ∂ log Σℓ / ∂Z
    grad = u.pack(torch.bmm(G, H.transpose(1, 2)), torch.bmm(W.transpose(1, 2), G))
    return torch.log(total / u.N), grad, total, -D


@dataclass
class MarginFlow:
    """Snapshots of the traced gradient-flow orbit (S configurations)."""

    s: np.ndarray            # T reparametrized times
    log_t: np.ndarray        # T×S natural log of the original flow time t
    x: np.ndarray            # T×S×P states
    min_margin: np.ndarray   # T×S  min_i,j (w_{y_i} − w_j)ᵀh_i
    norm_sq: np.ndarray      # T×S  ‖W‖² + ‖H‖²
    log_loss: np.ndarray     # T×S  log f
    smoothed_margin: np.ndarray  # T×S  −log(e^{Σℓ} − 1)/‖x‖², a smoothed normalized margin (Lyu & Li 2020)
    kkt_residual: np.ndarray  # T×S  1 − cos∠(x, −∇f): stationarity of the min-norm KKT system
    steps: int
    info: dict = field(default_factory=dict)

    @property
    def norm_value(self) -> np.ndarray:
        """(‖W‖² + ‖H‖²)/(2·min margin): the min-norm objective at the iterate rescaled to
        min margin 1 (a feasible point), hence an upper bound of the min-norm value."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.min_margin > 0, self.norm_sq / (2 * self.min_margin), np.inf)


#: Beyond this margin e^{-margin} approaches the float64 underflow (e^{-745}): stop there.
MAX_MARGIN = 600.0


def _log_time_increment(ds: float, a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
    """log ∫ e^{a(s)} ds over a step of length ds with a linear in s (exact for exponentials)."""
    da = a1 - a0
    with np.errstate(divide="ignore", invalid="ignore"):
        exp_rule = math.log(ds) + a1 + np.log(-np.expm1(-np.abs(da))) - np.log(np.abs(da)) + np.where(da < 0, -da, 0.0)
    flat = math.log(ds) + np.logaddexp(a0, a1) - math.log(2)
    return np.where(np.abs(da) > 1e-8, exp_rule, flat)


def margin_flow(K: int, d: int, n: int, scales, *, seed: int = 0, device: str = "auto",
                target_margin: float = 64.0, points_per_doubling: int = 8, max_s: float = 1e7,
                rtol: float = 1e-8, atol: float = 1e-12) -> MarginFlow:
    """Trace the unregularized CE gradient flow (no bias) until every min margin >= target.

    ``scales`` (one per configuration) scale the engine's Gaussian start.  The orbit
    is integrated by the engine's Dormand–Prince :func:`simulations.ufm.flow` in the
    reparametrized time s over windows [s, 2s], each recorded at ``points_per_doubling``
    snapshots (the last window shortened to land near the target) until the target
    margin is reached, or s exceeds ``max_s``, or a margin exceeds :data:`MAX_MARGIN`
    (``info['reached_target']`` says which).
    """
    scales = np.asarray(scales, dtype=np.float64)
    S = scales.size
    u = UFM("ce", K, d, n, bias=False, S=S, device=device)
    x = u.init(seed) * u.tensor(scales).view(-1, 1)

    def field_fn(v):
        _, g, _, _ = _log_loss_and_grad(u, v)
        return -g / (v * v).sum(1, keepdim=True)

    s0, steps, rows = 0.0, 0, []

    def record(s, v):
        log_f, g, total, M = _log_loss_and_grad(u, v)
        nsq = (v * v).sum(1)
        mins = M.flatten(1).amin(dim=1)
        gm = -torch.log(torch.expm1(total)) / nsq
        cos = -(g * v).sum(1) / (g.norm(dim=1) * v.norm(dim=1))
        rows.append((s, v.detach().cpu().numpy().copy(), mins.cpu().numpy(), nsq.cpu().numpy(),
                     log_f.cpu().numpy(), gm.cpu().numpy(), (1 - cos).cpu().numpy()))

    record(0.0, x)
    window = 1.0
    reached = False
    while s0 < max_s:
        times = np.linspace(0, window, points_per_doubling + 1)[1:]
        tr = flow(u, x, times, rtol=rtol, atol=atol, field_fn=field_fn)
        steps += tr.steps
        for t_rel, xs in zip(tr.times, tr.x):
            record(s0 + float(t_rel), torch.as_tensor(xs, device=u.device))
        x = torch.as_tensor(tr.x[-1], device=u.device)
        s0 += window
        slowest = float(rows[-1][2].min())
        if slowest >= target_margin:
            reached = True
            break
        if float(rows[-1][2].max()) > MAX_MARGIN:
            break
        # Margins grow about linearly in s: double the window, or stop near the target.
        window = s0 if slowest <= 0 else min(s0, max(0.05 * s0, 1.05 * s0 * (target_margin / slowest - 1)))
    s = np.array([r[0] for r in rows])
    X = np.stack([r[1] for r in rows])
    mins, nsq, log_f, gm, kkt = (np.stack([r[i] for r in rows]) for i in range(2, 7))
    # t = ∫ ds/(f‖x‖²): integrate e^{a(s)}, a = −log f − log‖x‖², step by step.
    a = -log_f - np.log(nsq)
    log_t = np.full_like(a, -np.inf)
    for i in range(1, len(s)):
        log_t[i] = np.logaddexp(log_t[i - 1], _log_time_increment(s[i] - s[i - 1], a[i - 1], a[i]))
    info = {"scales": scales.tolist(), "target_margin": target_margin, "reached_target": reached,
            "final_s": float(s[-1]), "device": str(u.device), "rtol": rtol, "steps": steps,
            "log_loss_final": log_f[-1].tolist()}
    return MarginFlow(s, log_t, X, mins, nsq, log_f, gm, kkt, steps, info)


def unpack_numpy(K: int, d: int, n: int, x: np.ndarray):
    """W (K×d) and H (d×N) of one flat bias-free state (the engine's layout)."""
    N = K * n
    return x[:K * d].reshape(K, d), x[K * d:K * d + d * N].reshape(d, N)
