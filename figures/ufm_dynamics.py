"""(d) Exact dynamics: the simulated gradient flow against the logistic and exponential laws."""
from __future__ import annotations

import math

import numpy as np
import torch

from collapsekit.claims.dyn import aligned_start
from collapsekit.figures import Figure
from simulations import ufm as su
from theory import dynamics as th

K, N_PER, D = 4, 3, 5
LAMBDAS = (0.0, 0.02, 0.04)          # p_inf = 1 - K sqrt(n) lambda: 1, 0.86, 0.72
P0 = 1e-3
LAM_BALANCE = 0.05


def compute(seed: int, device: str) -> dict:
    rng = np.random.default_rng(seed)
    times = np.linspace(0.0, 60.0, 121)
    out = {"t": times}
    for lam in LAMBDAS:
        u = su.UFM("mse", K, D, N_PER, lambda_W=lam, lambda_H=lam, bias=False, S=1, device=device)
        W0, H0 = aligned_start(K, D, N_PER, P0, rng)
        x0 = u.pack(torch.as_tensor(W0)[None], torch.as_tensor(H0)[None]).to(u.device)
        tr = su.flow(u, x0, times, rtol=1e-10, atol=1e-13)
        W, H, _ = u.unpack(torch.as_tensor(tr.x[:, 0]))
        Hbar = H.reshape(len(times), D, K, N_PER).mean(-1)
        out[f"sim_p/{lam}"] = torch.einsum("tkd,tdk->tk", W, Hbar).mean(-1).numpy()
        w, a, b = (float(v) for v in th.logistic_constants(K, N_PER, lam))
        c, p_inf = w / math.sqrt(N_PER), a + b * math.sqrt(N_PER)
        out[f"law_p/{lam}"] = p_inf / (1 + (p_inf / P0 - 1) * np.exp(-c * p_inf * times))
    # balance: CE with a trained bias from a generic random start
    u = su.UFM("ce", K, D, N_PER, lambda_W=LAM_BALANCE, lambda_H=LAM_BALANCE, lambda_b=LAM_BALANCE, S=1,
               device=device)
    tb = np.linspace(0.0, 40.0, 81)
    tr = su.flow(u, u.init(seed, scale=2.0), tb, rtol=1e-10, atol=1e-13)
    W, H, _ = u.unpack(torch.as_tensor(tr.x[:, 0]))
    Dm = W.transpose(1, 2) @ W - H @ H.transpose(1, 2)
    rate = float(th.balance_formulas(LAM_BALANCE, 1, 1)["rate"])
    return {**out, "tb": tb, "sim_balance": (Dm.flatten(1).norm(dim=1) / Dm[0].norm()).numpy(),
            "law_balance": np.exp(-rate * tb), "rate": rate, "K": K, "n": N_PER, "d": D, "p0": P0}


def plot(data: dict, fig) -> None:
    a, b = fig.subplots(1, 2)
    for i, lam in enumerate(LAMBDAS):
        a.plot(data["t"], data[f"law_p/{lam}"], "-", color=f"C{i}", lw=1.2,
               label=f"logistic law, $\\lambda$={lam:g}")
        a.plot(data["t"][::6], data[f"sim_p/{lam}"][::6], "x", color=f"C{i}")
    a.set(xlabel="gradient-flow time t", ylabel=r"$p = w_k\cdot\bar h_k$",
          title=f"aligned collapsed start, MSE (K={K}, n={N_PER}); crosses: engine")
    a.legend(fontsize=7)
    b.semilogy(data["tb"], data["law_balance"], "-", color="k", lw=1.2,
               label=f"$e^{{-2\\lambda t}}$, $\\lambda$={LAM_BALANCE:g}")
    b.semilogy(data["tb"][::4], data["sim_balance"][::4], "x", color="C3", label="engine (CE, trained bias)")
    b.set(xlabel="gradient-flow time t", ylabel=r"$\|W^\top W-HH^\top\|_F / \|\cdot\|_F(0)$",
          title="balance: exponential decay from a random start")
    b.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="ufm_dynamics",
    title="Exact dynamics of the UFM gradient flow",
    claims=("dyn.logistic", "dyn.balance"),
    seed=14,
    compute=compute,
    plot=plot,
    caption="Left: from a collapsed aligned start the product p = ab follows the logistic law to its limit "
            "p_inf = 1 - K sqrt(n) lambda (the MSE optimum). Right: the imbalance W^T W - H H^T decays exactly "
            "like exp(-2 lambda t) for cross-entropy with a trained bias.",
    size=(10.0, 4.0),
)
