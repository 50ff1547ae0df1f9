"""Figure (c): optimal mixup features in the plane of two classifiers, λ ∈ [0, 1], K = 3 and K = 6."""
from __future__ import annotations

import numpy as np
import sympy as sp

from collapsekit.figures import Figure
from numerics import mixup as num
from simulations import mixup as sim
from theory import mixup as th

KS = (3, 6)
S, BETA = 1.0, 0.25
LAMBDAS = tuple(i / 20 for i in range(21))


def _plane(K: int, a, b) -> np.ndarray:
    """Coordinates of a·w_0 + b·w_1 in the orthonormal basis (m_0, m_1 ⊥ m_0) of their plane."""
    c = -1.0 / (K - 1)
    return S * np.stack([np.asarray(a) + c * np.asarray(b), np.sqrt(1 - c * c) * np.asarray(b)], -1)


def compute(seed: int, device: str) -> dict:
    out = {}
    for K in KS:
        interior = [lam for lam in LAMBDAS if 0 < lam < 1]
        ab = [th.solve(K, sp.Rational(S), sp.Rational(BETA), sp.Rational(lam).limit_denominator(1000))
              for lam in interior]
        u, _ = th.solve(K, sp.Rational(S), sp.Rational(BETA), 1, "same")
        ends = [(sp.Integer(0), u)] + ab + [(u, sp.Integer(0))]      # λ = 0, 1: unmixed, ±aligned with w_c', w_c
        theory = _plane(K, [float(a) for a, _ in ends], [float(b) for _, b in ends])
        # simulation: every λ on the grid for the pair (0, 1) and the same-class mix (0, 0), trained jointly
        ts = [num.Task(0, 1, lam, "grid") for lam in LAMBDAS] + [num.Task(0, 0, 0.5, "same")]
        r = sim.train(num.targets(K, ts), K, S, BETA, seed=seed + K, device=device)
        coef = np.linalg.lstsq(r.W[[0, 1]].T, r.H.T, rcond=None)[0].T
        out[f"K{K}_theory"] = theory
        out[f"K{K}_sim"] = _plane(K, coef[:-1, 0], coef[:-1, 1])          # the last row is the same-class mix
        out[f"K{K}_same"] = _plane(K, float(u), 0.0)
        out[f"K{K}_classifiers"] = _plane(K, [1.0, 0.0], [0.0, 1.0])
        out[f"K{K}_sim_grad"] = r.grad_norm
    out["lam_grid"] = np.array(LAMBDAS)
    return out


def plot(data: dict, fig) -> None:
    import matplotlib.pyplot as plt

    axes = fig.subplots(1, len(KS))
    for ax, K in zip(axes, KS):
        W = data[f"K{K}_classifiers"]
        for k, name in enumerate(("$w_c$", "$w_{c'}$")):
            ax.annotate("", xy=W[k], xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="k", lw=1.2))
            ax.text(*(1.08 * W[k]), name, fontsize=9)
        bisector = (W[0] + W[1]) / np.linalg.norm(W[0] + W[1])
        ax.plot(*np.stack([-2.5 * bisector, 2.5 * bisector]).T, ":", color="0.5", lw=1, label="decision boundary $z_c=z_{c'}$")
        th_ = data[f"K{K}_theory"]
        ax.plot(th_[:, 0], th_[:, 1], "-", color="C0", lw=1.5, label=r"certified optimum $a\,w_c+b\,w_{c'}$")
        sc = ax.scatter(*data[f"K{K}_sim"].T, c=data["lam_grid"], cmap="viridis", s=18, zorder=3,
                        label="UFM trained with mixup CE (torch)")
        ax.plot(*data[f"K{K}_same"], "*", color="C3", ms=11, label="same-class mix (any λ)")
        ax.set_aspect("equal")
        ax.set(title=f"K = {K}", xlabel=r"along $w_c$")
        lim = 1.15 * max(np.abs(data[f"K{K}_sim"]).max(), np.abs(data[f"K{K}_same"]).max(), 1.0)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim))
    axes[0].legend(fontsize=7, loc="lower left")
    plt.colorbar(sc, ax=axes[-1], label="λ (weight of class c)")
    fig.tight_layout()


FIGURE = Figure(
    id="mixup_features",
    title="Mixup against a fixed simplex ETF: optimal features run between the classifiers and cross the boundary at λ = ½",
    claims=("mixup.fixed_etf",),
    seed=20246,
    compute=compute,
    plot=plot,
    caption=f"Optimal features of mixed examples λe_c + (1−λ)e_c' with W = s·Mᵀ fixed (s = {S}, β = {BETA}), "
            "drawn in the plane of w_c and w_c' (the optimum lies in it exactly). Curve: certified two-variable "
            "fixed point; dots: features of a UFM trained by gradient descent with the classifier frozen; star: "
            "same-class mixes, aligned with w_c whatever λ. The path crosses the decision boundary at λ = ½.",
    size=(9.0, 4.2),
)
