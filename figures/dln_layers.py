"""Issue-4 figure (d): deep linear UFM, singular values of every layer vs depth — every W_l shares
the predicted per-class values (theory lines through the simulated points of each layer)."""
from __future__ import annotations

import numpy as np

from collapsekit.figures import Figure
from simulations import dln as sim
from theory import dln as th

COUNTS = (12, 8, 5, 3)
LAM_W, LAM_H = 0.01, 0.01
DEPTHS = (1, 2, 3, 4)
STARTS, INIT = 8, 1.0


def compute(seed: int, device: str) -> dict:
    out = {"depths": np.array(DEPTHS)}
    K = len(COUNTS)
    for M in DEPTHS:
        f = th.dln_formulas(COUNTS, M, LAM_W, LAM_H)
        out[f"theory/{M}"] = np.sort([float(f[f"w_sq_{k + 1}"]) for k in range(K)])[::-1]
        r = sim.train(COUNTS, K, M, LAM_W, LAM_H, STARTS, seed + M, device, gtol=1e-8, scale=INIT)
        b = r.best
        out[f"sim/{M}"] = r.layer_sv_sq[b]                       # (M, K), descending per layer
        out[f"gap/{M}"] = float(r.f[b]) - float(f["loss"])
        out[f"reached/{M}"] = int(np.sum(r.f <= r.f[b] * (1 + 1e-9)))
    return out


def plot(data: dict, fig) -> None:
    ax = fig.subplots(1, 1)
    K = len(COUNTS)
    for M in DEPTHS:
        theory = data[f"theory/{M}"]
        for k in range(K):
            ax.hlines(theory[k], M - 0.4, M + 0.4, color=f"C{k}", lw=1.2,
                      label=f"class size {sorted(COUNTS, reverse=True)[k]} (theory)" if M == DEPTHS[0] else None)
        sims = data[f"sim/{M}"]
        gap = data[f"gap/{M}"]
        note = "optimum" if abs(gap) < 1e-9 else f"bad basin\n(loss +{gap:.3f})"
        ax.text(M, 1.02, note, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7,
                color="k" if abs(gap) < 1e-9 else "C3")
        for layer in range(M):
            x = M - 0.3 + 0.6 * (layer + 0.5) / M
            for k in range(K):
                ax.plot(x, sims[layer, k], "o", color=f"C{k}", ms=3.5)
    ax.set(xlabel="depth M (dots: layers W_1 ... W_M, left to right)", ylabel=r"squared singular value $s_k^2$",
           xticks=list(DEPTHS))
    ax.set_title(rf"n = {COUNTS}, $\lambda_W$ = $\lambda_H$ = {LAM_W:g}: every layer shares $s_k$", pad=22, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="dln_layers",
    title="Deep linear UFM: every layer carries the same per-class singular values",
    claims=("dln.mse.imbalanced",),
    seed=23,
    compute=compute,
    plot=plot,
    caption="Lines: the per-class squared singular value u/lambda_W of every weight matrix (Dang et al. 2023 setting, "
            "reduction re-derived), for depths 1-4. Dots: the squared singular values of each layer of the best of 8 "
            "torch L-BFGS runs. Deeper networks shrink the modes; and from random starts they increasingly stop in "
            "rank-deficient local minima (zero is always a local minimum for depth >= 2): the label above each "
            "depth says whether the best run reached the predicted optimum, and by how much it missed otherwise.",
    size=(7.5, 4.5),
)
