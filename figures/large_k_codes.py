"""Figure (d): K > d+1 codes found by Riesz-energy descent, drawn, with ρ and energy against closed forms."""
from __future__ import annotations

import numpy as np

from collapsekit.figures import Figure
from numerics import etf_large_k as num
from simulations import etf_large_k as sim
from theory import etf_large_k as th

CASES = ((5, 2), (7, 2), (4, 3), (6, 3), (5, 3))


def compute(seed: int, device: str) -> dict:
    out = {}
    for i, (K, d) in enumerate(CASES):
        r = sim.min_riesz(K, d, starts=3, seed=seed + i, device=device)
        X = r.X[r.best]
        f = th.formulas(K, d)
        out[f"X{i}"] = X
        out[f"rho{i}"] = num.one_vs_rest(X)
        out[f"energy{i}"] = float(r.energy[r.best])
        out[f"closed{i}"] = np.array([float(f["rho"]), float(f["energy"])]) if f else np.array([np.nan, np.nan])
    return out


def _edges(X: np.ndarray, tol: float = 1e-6) -> list[tuple[int, int]]:
    """Pairs at the smallest distance (the code's edges)."""
    K = X.shape[1]
    D = np.linalg.norm(X[:, :, None] - X[:, None, :], axis=0) + np.eye(K) * 9
    m = D.min()
    return [(i, j) for i in range(K) for j in range(i + 1, K) if D[i, j] <= m + tol]


def plot(data: dict, fig) -> None:
    for i, (K, d) in enumerate(CASES):
        X = np.asarray(data[f"X{i}"])
        closed = np.asarray(data[f"closed{i}"])
        ax = fig.add_subplot(1, len(CASES), i + 1, projection=None if d == 2 else "3d")
        for a, b in _edges(X):
            ax.plot(*np.stack([X[:, a], X[:, b]]).T, "-", color="0.6", lw=1)
        if d == 2:
            t = np.linspace(0, 2 * np.pi, 200)
            ax.plot(np.cos(t), np.sin(t), ":", color="0.8", lw=0.8)
            ax.plot(X[0], X[1], "o", color="C0")
            ax.set_aspect("equal")
            ax.set_axis_off()
        else:
            ax.scatter(X[0], X[1], X[2], color="C0", s=25, depthshade=False)
            ax.set_box_aspect((1, 1, 1))
            ax.set_axis_off()
        rho, E = np.min(data[f"rho{i}"]), float(data[f"energy{i}"])
        known = np.all(np.isfinite(closed))
        txt = (f"K={K}, d={d}\nmin ρ = {rho:.6f}\nE = {E:.6f}"
               + (f"\nclosed: {closed[0]:.6f}, {closed[1]:.6f}" if known else "\nno closed form (reported)"))
        ax.set_title(txt, fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="large_k_codes",
    title="K > d+1: Riesz-energy minimizers are the polygon, tetrahedron and octahedron; their one-vs-rest distances",
    claims=("etf.large_K",),
    seed=20247,
    compute=compute,
    plot=plot,
    caption="Riesz 1-energy minimizers found by torch descent on the sphere (best of 3 random starts), edges at "
            "the smallest pairwise distance. Titles: the smallest one-vs-rest distance ρ (by QP) and the energy, "
            "against the closed forms of the regular polygon, simplex and cross-polytope; K = 5, d = 3 (the "
            "triangular bipyramid) has none and is only reported.",
    size=(12.0, 3.2),
)
