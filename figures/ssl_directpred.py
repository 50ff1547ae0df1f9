"""(e) DirectPred / BYOL linear dynamics: the phase diagram over (η, p(0)) with the p± curves."""
from __future__ import annotations

import numpy as np

from collapsekit.claim import evaluate
from collapsekit.figures import Figure
from simulations import ssl as sim
from theory import ssl as th

TAU, SIGMA2, ALPHA_P = 1.0, 0.5, 2.0


def compute(seed: int, device: str) -> dict:
    thr = float(th.threshold(TAU, SIGMA2))
    etas = np.linspace(0.004, 1.25 * thr, 26)
    p0s = np.linspace(0.01, 0.75, 25)
    E, P = np.meshgrid(etas, p0s)
    lim = sim.mode_limits(P.reshape(-1, 1), E.ravel(), TAU, SIGMA2, ALPHA_P, seed, device=device, t_max=600.0)
    dense = np.linspace(1e-4, thr, 300)
    roots = [[float(v) for v in evaluate(dict(zip(("p_plus", "p_minus"), th.fixed_points(TAU, SIGMA2, e)))).values()]
             for e in dense]
    return {"eta": etas, "p0": p0s, "limit": lim.modes.numpy().reshape(P.shape), "converged": lim.converged,
            "steps": lim.steps, "eta_dense": dense, "p_plus": np.array([r[0] for r in roots]),
            "p_minus": np.array([r[1] for r in roots]), "threshold": thr}


def plot(data: dict, fig) -> None:
    ax = fig.subplots(1, 1)
    mesh = ax.pcolormesh(data["eta"], data["p0"], data["limit"], shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=r"simulated limit $p(\infty)$")
    ax.plot(data["eta_dense"], data["p_plus"], "-", color="w", lw=1.5, label=r"$p_+$ (stable)")
    ax.plot(data["eta_dense"], data["p_minus"], "--", color="r", lw=1.5, label=r"$p_-$ (basin boundary)")
    ax.axvline(data["threshold"], color="k", ls=":", lw=1.2, label=r"$\eta=\tau^2/(4(1+\sigma^2))$")
    ax.set(xlabel=r"weight decay $\eta$", ylabel=r"initial mode $p(0)$",
           title=rf"linear BYOL/DirectPred mode, $\tau$={TAU:g}, $\sigma^2$={SIGMA2:g}")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()


FIGURE = Figure(
    id="ssl_directpred",
    title="Non-contrastive SSL with linear networks: collapse vs learning",
    claims=("ssl.directpred",),
    seed=15,
    compute=compute,
    plot=plot,
    caption="Each cell is a batched matrix gradient flow (online, predictor, target tau*W) from a balanced aligned "
            "start; its colour is the limit of the mode. Starts above p_- reach p_+, starts below collapse to 0, "
            "and past eta = tau^2/(4(1+sigma^2)) every start collapses (Tian, Chen & Ganguli 2021).",
    size=(7.5, 4.8),
)
