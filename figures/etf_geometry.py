"""Max-min angle: closed form vs certified SDP vs sphere descent, and beyond K = d+1."""
from __future__ import annotations

import numpy as np

from collapsekit.figures import Figure
from numerics import etf as num
from simulations import sphere
from theory import etf as th


def compute(seed: int, device: str) -> dict:
    rng = np.random.default_rng(seed)
    Ks = np.arange(2, 17)
    closed = np.array([float(th.max_min_formulas(int(K))["max_cos"]) for K in Ks])
    sdp = np.array([num.max_min_angle_sdp(int(K)).upper for K in Ks])
    flow = np.array([num.offdiag((x := sphere.sphere_descent(sphere.exp_energy(), int(K), int(K), starts=2,
                                                              seed=seed + int(K), device=device)
                                  .X[0]).T @ x).max() for K in Ks])
    d = 3
    Kc = np.arange(2, 13)
    code_closed = np.array([float(f["max_cos"]) if (f := th.spherical_code_formulas(int(K), d)) else np.nan
                            for K in Kc])
    code_sqp = np.array([num.best_spherical_code(int(K), d, rng, starts=6).value for K in Kc])
    code_flow = []
    for K in Kc:
        r = sphere.sphere_descent(sphere.exp_energy(), int(K), d, starts=3, seed=seed + 100 + int(K), device=device,
                                  max_steps=3000)   # open cases: a reported value, not a converged claim
        code_flow.append(num.offdiag(r.X[r.best].T @ r.X[r.best]).max())
    return {"K": Ks, "closed": closed, "sdp": sdp, "flow": flow, "code_K": Kc, "code_d": d,
            "code_closed": code_closed, "code_sqp": code_sqp, "code_flow": np.array(code_flow)}


def plot(data: dict, fig) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(data["K"], data["closed"], "-", color="k", lw=1, label=r"closed form $-1/(K-1)$")
    ax1.plot(data["K"], data["sdp"], "o", mfc="none", color="C0", label="certified SDP (cvxpy)")
    ax1.plot(data["K"], data["flow"], "x", color="C3", label="sphere descent (torch)")
    ax1.set(xlabel="K", ylabel=r"$\min_X \max_{i\neq j}\langle x_i,x_j\rangle$", title="simplex ETF, d = K")
    ax1.legend(fontsize=8)
    K, d = data["code_K"], int(data["code_d"])
    known = np.isfinite(data["code_closed"])
    ax2.plot(K[known], data["code_closed"][known], "s", mfc="none", ms=9, color="k", label="closed form")
    ax2.plot(K, data["code_sqp"], "o", mfc="none", color="C0", label="SLSQP (scipy)")
    ax2.plot(K, data["code_flow"], "x", color="C3", label="exp-energy descent")
    ax2.axvline(d + 1.5, color="0.6", ls=":", lw=1)
    ax2.axvline(2 * d + 0.5, color="0.6", ls=":", lw=1)
    ax2.text(2.2, 0.55, "simplex", fontsize=8)
    ax2.text(d + 1.7, 0.55, "Rankin", fontsize=8)
    ax2.text(2 * d + 0.7, -0.9, "no closed form\n(reported only)", fontsize=8)
    ax2.set(xlabel="K", ylabel="best max cosine", title=f"K points on the sphere in d = {d}")
    ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()


FIGURE = Figure(
    id="etf_geometry",
    title="The simplex ETF maximizes the minimum angle; beyond K = d+1 it no longer exists",
    claims=("etf.max_min_angle", "etf.spherical_code"),
    seed=20240,
    compute=compute,
    plot=plot,
    caption="Left: the optimal max pairwise cosine of K unit vectors, closed form against a certified SDP "
            "and torch sphere descent from random starts. Right: d = 3; the simplex regime (K <= 4), "
            "Rankin's range (5 <= K <= 6, optimum 0), and K > 2d where no closed form is known and the "
            "optimizers' values are only reported.",
)
