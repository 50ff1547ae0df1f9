"""(c) Recursive Gaussian fitting: σ_n² paths collapse to 0 while E σ_n² stays at σ²."""
from __future__ import annotations

import numpy as np

from collapsekit.claim import evaluate
from collapsekit.figures import Figure
from simulations import model_collapse_gaussian as sim
from theory import model_collapse_gaussian as th

M, N_GEN, SIGMA, N_PATHS = 20, 200, 1.0, 12
CHAINS = 10000
# E σ_n² is carried by rare large paths: log σ_n² has variance n·ψ'((M−1)/2) ≈ 0.11 n, and a sample mean of
# a log-normal is trustworthy only while chains ≫ exp(that variance); at n = 50 that is ≈ 250 ≪ CHAINS.
VAR_PTS = np.array([5, 10, 20, 30, 40, 50])
PTS = np.array([10, 25, 50, 75, 100, 150, 200])


def _mean_se(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return a.mean(1), a.std(1, ddof=1) / np.sqrt(a.shape[1])


def compute(seed: int, device: str, chains: int = CHAINS) -> dict:
    gens = np.arange(N_GEN + 1)
    theory = [evaluate(th.gaussian_formulas(M, int(n), SIGMA)) for n in gens]
    var = sim.gaussian_paths(M, N_GEN, SIGMA, chains, seed, device)            # (N_GEN+1, chains)
    paths = sim.gaussian_paths(M, N_GEN, SIGMA, N_PATHS, seed + 1, device)     # separate stream
    out = {"n": gens, "paths": paths.T, "var_pts": VAR_PTS, "pts": PTS, "chains": chains,
           "theory/var": np.array([t["var_unbiased"] for t in theory]),
           "theory/std": np.array([t["std"] for t in theory]),
           "theory/log_var": np.array([t["log_var_drift"] for t in theory])}
    out["mc/var"], out["se/var"] = _mean_se(var[VAR_PTS])
    out["mc/std"], out["se/std"] = _mean_se(np.sqrt(var[PTS]))
    out["mc/log_var"], out["se/log_var"] = _mean_se(np.log(var[PTS]) - np.log(SIGMA ** 2))
    out["final_median"] = float(np.median(var[-1]))
    return out


def plot(data: dict, fig) -> None:
    ax, bx = fig.subplots(1, 2)
    n = data["n"]
    for i, p in enumerate(data["paths"]):
        ax.plot(n, p, color="0.6", lw=0.6, alpha=0.8, label=r"sample paths $\sigma_n^2$" if i == 0 else None)
    ax.plot(n, data["theory/var"], "-", color="C0", lw=1.4, label=r"$\mathbb{E}\sigma_n^2=\sigma^2$ (martingale)")
    ax.errorbar(data["var_pts"], data["mc/var"], yerr=2 * data["se/var"], fmt="o", ms=3, color="C0", capsize=2,
                label=f"Monte-Carlo ({int(data['chains'])} chains) ± 2 s.e.")
    ax.plot(n, data["theory/std"], "-", color="C1", lw=1.4, label=r"$\mathbb{E}\sigma_n=\sigma c_M^n$")
    ax.errorbar(data["pts"], data["mc/std"], yerr=2 * data["se/std"], fmt="s", ms=3, color="C1", capsize=2)
    ax.plot(n, SIGMA ** 2 * np.exp(data["theory/log_var"]), "--", color="C2", lw=1.2,
            label=r"$\exp\,\mathbb{E}\log\sigma_n^2$ (typical path)")
    ax.set_yscale("log")
    ax.set(xlabel="generation n", ylabel="variance / standard deviation",
           title=f"M={M} samples per generation, $\\sigma$={SIGMA:g}")
    ax.legend(fontsize=7, loc="lower left")
    for p in data["paths"]:
        bx.plot(n, np.log(p / SIGMA ** 2), color="0.6", lw=0.6, alpha=0.8)
    bx.plot(n, data["theory/log_var"], "-", color="C2", lw=1.4,
            label=r"$n\,[\psi(\frac{M-1}{2})+\log\frac{2}{M-1}]$")
    bx.errorbar(data["pts"], data["mc/log_var"], yerr=2 * data["se/log_var"], fmt="o", ms=3, color="C2", capsize=2,
                label=f"Monte-Carlo ({int(data['chains'])} chains) ± 2 s.e.")
    bx.set(xlabel="generation n", ylabel=r"$\log(\sigma_n^2/\sigma^2)$", title=r"negative drift: $\sigma_n\to0$ a.s.")
    bx.legend(fontsize=7, loc="lower left")
    fig.tight_layout()


FIGURE = Figure(
    id="model_collapse_gaussian",
    title="Model collapse of a Gaussian refitted to its own samples",
    claims=("model_collapse.gaussian",),
    seed=17,
    compute=compute,
    plot=plot,
    caption="Each generation draws M samples from the previous fit and refits mean and unbiased variance. Grey: "
            "12 sample paths of sigma_n^2, collapsing towards 0. Lines: closed forms of model_collapse.gaussian; "
            "points: batched torch Monte-Carlo (10000 chains) with two standard errors. E sigma_n^2 stays at "
            "sigma^2 because rare large paths carry the mean; its points stop at n = 50, beyond which 10000 "
            "chains no longer sample those paths (Var log sigma_n^2 grows like 0.11 n).",
    size=(10.0, 4.2),
)
