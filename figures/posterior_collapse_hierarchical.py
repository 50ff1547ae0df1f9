"""Numeric study (no closed-form claim): which latents of a two-level linear hierarchical β-VAE stay active."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from collapsekit.claim import evaluate
from collapsekit.figures import Figure
from simulations import hierarchical_vae as hv
from theory import posterior_collapse as th

D, Q1, Q2, LAM1, RHO, SIGMA2 = 6, 4, 2, 4.0, 0.5, 0.4
K_BETA = np.array([2, 4, 7, 14, 28, 56])         # β = k/4, so βσ² = k/10 (none on an eigenvalue)
K_DENSE = np.array([1, 5, 10, 20, 40, 72])       # the step's corners: at βσ² = λ_j the post-jump value
K_FIXED = 7                                       # η² sweep at βσ² = 0.7
ETA2 = np.array([0.05, 0.2, 0.8, 3.2])
STARTS = 3
GTOL = 2e-4                                       # L-BFGS budget (3 rounds x 300 iterations) reaches this everywhere
CUT = 1e-4                                        # a latent is active when its encoder SNR about x exceeds CUT


@lru_cache(maxsize=None)
def _one_level(k: int) -> float:
    """Reference: the one-level linear VAE's active count (q = Q1) from theory.posterior_collapse."""
    return evaluate(th.vae_formulas(th.spectrum(D, LAM1, RHO), Q1, th.exact(SIGMA2), sp.Rational(k, 4)))["active"]


def compute(seed: int, device: str, starts: int = STARTS, max_iter: int = 300) -> dict:
    spec = LAM1 * RHO ** np.arange(D, dtype=np.float64)
    nb, ne = K_BETA.size, ETA2.size
    betas = np.concatenate([np.repeat(K_BETA / 4, starts), np.full(ne * starts, K_FIXED / 4)])
    eta2 = np.concatenate([np.full(nb * starts, SIGMA2), np.repeat(ETA2, starts)])
    r = hv.fit(spec, Q1, Q2, SIGMA2, betas, eta2, seed=seed, device=device, rounds=3, max_iter=max_iter, gtol=GTOL)
    a1, a2 = (a.astype(np.float64) for a in hv.active_counts(r, CUT))
    split = lambda v: (v[:nb * starts].reshape(nb, starts), v[nb * starts:].reshape(ne, starts))   # noqa: E731
    (b1, e1), (b2, e2), (be, ee) = split(a1), split(a2), split(r["elbo"])
    (bs, es) = split(r["snr2"][:, 0])
    return {"lams": spec[:Q1], "x": K_DENSE / 10, "theory/one_level": np.array([_one_level(int(k)) for k in K_DENSE]),
            "x_pts": K_BETA / 10, "eta2": ETA2, "x_fixed": K_FIXED / 10, "starts": starts, "cut": CUT,
            "beta/level1": b1, "beta/level2": b2, "beta/elbo": be, "beta/snr2": bs,
            "eta/level1": e1, "eta/level2": e2, "eta/elbo": ee, "eta/snr2": es,
            "theory_pts/one_level": np.array([_one_level(int(k)) for k in K_BETA]),
            "theory_fixed/one_level": _one_level(K_FIXED),
            "grad_norm": r["grad_norm"], "converged": r["converged"], "steps": r["steps"]}


def _range_points(ax, x, v, shift, **kw):
    """Mean over starts with the min–max range over starts as the bar."""
    m = v.mean(1)
    ax.errorbar(x * shift, m, yerr=np.vstack([m - v.min(1), v.max(1) - m]), fmt="o", ms=4, capsize=2, **kw)


def plot(data: dict, fig) -> None:
    ax, bx = fig.subplots(1, 2)
    for j, lam in enumerate(data["lams"]):
        ax.axvline(lam, color="0.5", ls=":", lw=1, label=r"eigenvalues $\lambda_j$" if j == 0 else None)
    ax.step(data["x"], data["theory/one_level"], where="post", color="k", lw=1.2,
            label=f"one-level linear VAE (q={Q1}), theory")
    _range_points(ax, data["x_pts"], data["beta/level1"], 1.0, color="C0", label=r"level 1 ($z_1$)")
    _range_points(ax, data["x_pts"], data["beta/level2"], 1.08, color="C3", label=rf"level 2 ($z_2$, $q_2$={Q2})")
    ax.set_xscale("log")
    ax.set_xticks([0.2, 0.5, 1, 2, 4, 8], ["0.2", "0.5", "1", "2", "4", "8"])
    ax.minorticks_off()
    ax.set(xlabel=r"$\beta\sigma^2$ ($\eta^2=\sigma^2$)", ylabel="latents informative about x",
           title=f"numeric study: d={D}, $q_1$={Q1}, $q_2$={Q2}, $\\sigma^2$={SIGMA2:g}")
    ax.legend(fontsize=7)
    _range_points(bx, data["eta2"], data["eta/level1"], 1.0, color="C0", label="level 1")
    _range_points(bx, data["eta2"], data["eta/level2"], 1.08, color="C3", label="level 2")
    bx.axhline(data["theory_fixed/one_level"], color="k", lw=1.2, label="one-level theory")
    spread = max(float(np.ptp(data["beta/elbo"], axis=1).max()), float(np.ptp(data["eta/elbo"])))
    bx.set_xscale("log")
    bx.set(xlabel=r"decoder noise $\eta^2$ of $p(z_1|z_2)$", ylabel="latents informative about x",
           title=rf"$\beta\sigma^2$={float(data['x_fixed']):g}; ELBO spread over starts and $\eta^2$: {spread:.0e}")
    bx.set_ylim(-0.3, Q1 + 0.5)
    bx.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="posterior_collapse_hierarchical",
    title="Two-level linear hierarchical VAE: active latents per level (numeric study, no closed-form claim)",
    claims=(),
    seed=19,
    compute=compute,
    plot=plot,
    caption="NUMERIC STUDY, not a proved claim. Linear Markovian HVAE (q(z1|x), q(z2|z1), p(x|z1), p(z1|z2), "
            "learnable diagonal encoder variances, the same beta on both KL terms) maximized exactly (closed-form "
            "Gaussian ELBO, torch L-BFGS to gradient norm < 2e-4) from 3 random starts per point; bars: min-max "
            "over starts. A latent counts when its encoder signal-to-noise ratio about x exceeds 1e-4. Observed: "
            "level 1 follows the one-level linear VAE's threshold lambda_j > beta sigma^2; level 2 is informative "
            "about x in min(q2, level-1 count) directions (never more: z2 sees x only through z1); the optimal ELBO "
            "is the same for every start and every eta^2 (spread ~1e-7: a flat family of optima, consistent with a "
            "free scale of z1), while how much information z2 carries differs between starts.",
    size=(10.0, 4.2),
)
