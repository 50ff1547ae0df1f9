"""(d) Linear β-VAE: active latent dimensions vs βσ², with the eigenvalue thresholds λ_j."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from collapsekit.claim import evaluate
from collapsekit.figures import Figure
from numerics import posterior_collapse as nm
from simulations import posterior_collapse as sim
from theory import posterior_collapse as th

D, Q, LAM1, RHO, SIGMA2 = 6, 4, 4.0, 0.5, 0.4
# β = k/4 (σ² = 2/5, so βσ² = k/10): small exact rationals keep theory.vae_formulas' sympy simplification of
# the ELBO cheap (a float β such as 0.99/0.4 becomes a long decimal rational and exhausts memory there)
K_DENSE = np.array([3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 20, 24, 28, 32, 36, 40, 56, 80])   # includes each λ_j
# simulated points: inside the plateaus, >= 20% away from every λ_j (near a threshold the optimum is degenerate
# and SGD converges slowly)
K_PTS = np.array([3, 6, 7, 14, 24, 32, 56])
ACTIVE_FRAC = 0.01          # a latent counts as active when its learned ||w_j||^2 > ACTIVE_FRAC * lambda_1
REPLICAS, STEPS = 6, 1500


def _beta(k) -> sp.Rational:
    return sp.Rational(int(k), 4)


@lru_cache(maxsize=None)
def _theory(k: int) -> dict:
    return evaluate(th.vae_formulas(th.spectrum(D, LAM1, RHO), Q, th.exact(SIGMA2), _beta(k)))


def compute(seed: int, device: str, replicas: int = REPLICAS, steps: int = STEPS) -> dict:
    lams = nm.geometric_spectrum(D, LAM1, RHO)[:Q]
    dense = K_DENSE / 4 * SIGMA2
    x_pts = K_PTS / 4 * SIGMA2
    tdense = [_theory(int(k)) for k in K_DENSE]
    tpts = [_theory(int(k)) for k in K_PTS]
    betas = np.repeat(K_PTS / 4, replicas)                          # replicas consecutive per point
    r = sim.train_sgd_batch(nm.geometric_spectrum(D, LAM1, RHO), Q, SIGMA2, betas, seed, device, steps=steps,
                            batch=128, lr=0.1, average=min(300, steps), init=0.01)
    norms = r["w_norm_sq"].reshape(K_PTS.size, replicas, Q)
    active = (norms > ACTIVE_FRAC * LAM1).sum(-1).astype(np.float64)    # (points, replicas)
    se = lambda a: a.std(1, ddof=1) / np.sqrt(replicas)                  # noqa: E731
    return {"lams": lams, "x": dense, "x_pts": x_pts, "replicas": replicas, "steps": steps,
            "active_cut": ACTIVE_FRAC * LAM1,
            "theory/active": np.array([t["active"] for t in tdense]),
            "theory/w_norm_sq": np.array([[t[f"w_norm_sq_{k}"] for k in range(1, Q + 1)] for t in tdense]),
            "theory_pts/active": np.array([t["active"] for t in tpts]),
            "theory_pts/w_norm_sq": np.array([[t[f"w_norm_sq_{k}"] for k in range(1, Q + 1)] for t in tpts]),
            "mc/active": active.mean(1), "se/active": se(active),
            "mc/w_norm_sq": norms.mean(1), "se/w_norm_sq": se(norms)}


def plot(data: dict, fig) -> None:
    ax, bx = fig.subplots(1, 2)
    for b in (ax, bx):
        for j, lam in enumerate(data["lams"]):
            b.axvline(lam, color="0.5", ls=":", lw=1, label=r"eigenvalues $\lambda_j$" if j == 0 else None)
        b.set_xscale("log")
        b.set_xticks([0.3, 0.5, 1, 2, 4, 8], ["0.3", "0.5", "1", "2", "4", "8"])
        b.minorticks_off()
    ax.step(data["x"], data["theory/active"], where="post", color="C0", lw=1.4,
            label=r"theory: number of $\lambda_j>\beta\sigma^2$, $j\leq q$")
    ax.errorbar(data["x_pts"], data["mc/active"], yerr=2 * data["se/active"], fmt="o", ms=4, color="C0", capsize=2,
                label=f"Adam, {int(data['replicas'])} runs each ± 2 s.e.")
    ax.set(xlabel=r"$\beta\sigma^2$", ylabel="active latent dimensions",
           title=rf"active: learned $\|w_j\|^2>{float(data['active_cut']):g}$")
    ax.legend(fontsize=7)
    for k in range(data["theory/w_norm_sq"].shape[1]):
        bx.plot(data["x"], data["theory/w_norm_sq"][:, k], "-", color=f"C{k}", lw=1.2,
                label=rf"$(\lambda_{k + 1}-\beta\sigma^2)_+$")
        bx.errorbar(data["x_pts"], data["mc/w_norm_sq"][:, k], yerr=2 * data["se/w_norm_sq"][:, k], fmt="o", ms=3,
                    color=f"C{k}", capsize=2)
    bx.set(xlabel=r"$\beta\sigma^2$", ylabel=r"decoder column norm $\|w_j\|^2$",
           title=rf"d={D}, q={Q}, $\lambda_j$={LAM1:g}$\cdot${RHO:g}$^{{j-1}}$, $\sigma^2$={SIGMA2:g}")
    bx.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="posterior_collapse_active",
    title="Posterior collapse in a linear beta-VAE: active latents vs beta sigma^2",
    claims=("posterior_collapse.linear_vae",),
    seed=18,
    compute=compute,
    plot=plot,
    caption="Lines: the closed-form optimum of posterior_collapse.linear_vae (latent j is active iff "
            "lambda_j > beta sigma^2, then ||w_j||^2 = lambda_j - beta sigma^2; dotted: the eigenvalues). Points: "
            "Adam on the stochastic beta-ELBO (fresh Gaussian samples and reparametrized noise every step; small "
            "initialization 0.01; 1500 steps of size 0.1/(1 + t/100); norms averaged over the last 300 steps), 6 "
            "independent runs per point, mean with two standard errors; a latent counts as active when its learned "
            "||w_j||^2 > 0.01 lambda_1 (collapsed latents end below 0.01). At small beta sigma^2 the top two "
            "latents separate slowly (the wider bars at 0.3).",
    size=(10.0, 4.2),
)
