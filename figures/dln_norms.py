"""Issue-4 figure (a): classifier and class-mean norms vs class size in a deep linear UFM with
imbalanced classes — theory curves through simulated points, across the zero threshold."""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.figures import Figure
from simulations import dln as sim
from theory import dln as th

COUNTS = (40, 28, 20, 14, 10, 6, 3, 1)
CASES = ((1, 0.02, 0.0168), (2, 0.01, 0.01))          # (M, lambda_W, lambda_H)
STARTS, INIT = 8, 1.0        # a larger start reaches the basin of the near-threshold class more often


def _curve(M, lw, lh, grid):
    N = sum(COUNTS)
    w, h = [], []
    for n in grid:
        opt = th.class_optimum(sp.Rational(str(n)), N, M, lw, lh)
        u = float((opt["a"] ** 2 * th.exact(lh) * th.exact(lw) ** M) ** sp.Rational(1, M + 1))
        w.append(u / lw)
        h.append(u / (lh * n))
    return np.array(w), np.array(h)


def compute(seed: int, device: str) -> dict:
    grid = np.unique(np.round(np.logspace(0, np.log10(50), 60), 3))
    out = {"n": np.array(COUNTS, dtype=float), "grid": grid}
    for i, (M, lw, lh) in enumerate(CASES):
        out[f"theory_w/{i}"], out[f"theory_h/{i}"] = _curve(M, lw, lh, grid)
        r = sim.train(COUNTS, len(COUNTS), M, lw, lh, STARTS, seed + i, device, gtol=1e-8, scale=INIT)
        b = r.best
        order = np.argsort(-np.array(COUNTS))             # modes sorted by size: larger class, larger mode
        w = np.empty(len(COUNTS))
        w[order] = r.layer_sv_sq[b].mean(0)
        out[f"sim_w/{i}"] = w
        out[f"sim_h/{i}"] = (r.feature_means[b] ** 2).sum(0)
        out[f"reached/{i}"] = int(np.sum(r.f <= r.f[b] * (1 + 1e-9)))
        f = th.dln_formulas(COUNTS, M, lw, lh)
        out[f"loss_gap/{i}"] = float(r.f[b]) - float(f["loss"])
    return out


def plot(data: dict, fig) -> None:
    axes = fig.subplots(1, len(CASES))
    for i, ((M, lw, lh), ax) in enumerate(zip(CASES, axes)):
        ax.plot(data["grid"], data[f"theory_w/{i}"], "-", color="C0", lw=1.2, label=r"$\|w_k\|^2$ per layer (theory)")
        ax.plot(data["grid"], data[f"theory_h/{i}"], "-", color="C1", lw=1.2, label=r"$\|\bar h_k\|^2$ (theory)")
        ax.plot(data["n"], data[f"sim_w/{i}"], "o", color="C0", ms=4, label="simulation (best start)")
        ax.plot(data["n"], data[f"sim_h/{i}"], "s", color="C1", ms=4)
        ax.set(xscale="log", xlabel=r"class size $n_k$", ylabel="squared norm")
        ax.set_title(rf"M = {M}, $\lambda_W$ = {lw:g}, $\lambda_H$ = {lh:g} "
                     f"({int(data[f'reached/{i}'])}/{STARTS} starts at the optimum)", fontsize=9)
        if M == 1:
            ax.axvline(sum(COUNTS) ** 2 * lw * lh, color="k", ls=":", lw=1, label=r"$n_k = N^2\lambda_W\lambda_H$")
        ax.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="dln_norms",
    title="Deep linear UFM, imbalanced classes: norms vs class size across the collapse threshold",
    claims=("dln.mse.imbalanced",),
    seed=22,
    compute=compute,
    plot=plot,
    caption="Lines: the per-class optimum of (a - sqrt(n))^2/(2N) + (L/2) c a^(2/L) at N = 122 (Dang et al. 2023 "
            "setting; reduction re-derived). Points: every class of one torch L-BFGS training (best of 8 starts). "
            "One layer: norms fall continuously to 0 at n = N^2 lambda_W lambda_H. Two layers: the classes below a "
            "size jump to 0 discontinuously; larger classes get longer classifiers and shorter means.",
    size=(10.0, 4.0),
)
