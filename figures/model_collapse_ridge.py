"""(b) Ridge after recursive retraining: U-shaped error vs λ for several n (the optimal λ moves right),
and the optimally tuned error vs T: the fast rate, the crossover at T_c and the plateau."""
from __future__ import annotations

import numpy as np

from collapsekit.figures import Figure
from numerics import model_collapse_scaling as ns
from simulations import model_collapse_scaling as ss
from theory import model_collapse_scaling as th

BETA, R, D, T, T0, SIGMA, SIGMA0 = 2.0, 0.4, 300, 300, 450, 0.1, 0.05
NS = (1, 4, 16, 64)
N_CROSS, SIGMA0_CROSS = 2, 0.01          # right panel: T_c = 7750, inside the T range
GRID = np.logspace(-4, 0, 161)


def _instance():
    j = np.arange(1, D + 1, dtype=np.float64)
    w2 = j ** (-float(th.source_exponent(BETA, R)))
    return j ** (-BETA), w2 / w2.sum()


def compute(seed: int, device: str) -> dict:
    s, w2 = _instance()
    rng = np.random.default_rng(seed)
    c = SIGMA0**2 / (T0 - D - 1)
    out = {"lam": GRID, "pts": GRID[::16]}
    designs = [ss.Design(s, np.sqrt(w2), T, rng, device).curves(GRID, SIGMA) for _ in range(8)]
    for n in NS:
        per = np.array([cl + n * c * g for cl, g in designs])             # designs × grid
        out[f"theory/{n}"] = np.array([ns.de_test_error(s, w2, T, T0, SIGMA, SIGMA0, n, lam) for lam in GRID])
        out[f"mc/{n}"], out[f"se/{n}"] = per.mean(0)[::16], per.std(0, ddof=1)[::16] / np.sqrt(len(per))
        out[f"lam_star/{n}"] = ss.grid_minimum(GRID, per.mean(0))[0]
    Tc = float(th.crossover(D, T0, SIGMA, SIGMA0_CROSS, N_CROSS))
    Ts = np.unique(np.round(np.logspace(np.log10(D), np.log10(100 * Tc), 8)).astype(int))
    dense = np.unique(np.round(np.logspace(np.log10(D), np.log10(100 * Tc), 40)).astype(int))
    c = SIGMA0_CROSS**2 / (T0 - D - 1)
    wide = np.logspace(-8, 0, 241)
    curves = {int(t): [ss.Design(s, np.sqrt(w2), int(t), rng, device).curves(wide, SIGMA) for _ in range(4)]
              for t in Ts}                                      # the curves do not depend on n: shared
    for n, key in ((N_CROSS, "synthetic"), (0, "clean")):
        out[f"T_theory/{key}"] = np.array([ns.optimal_ridge(s, w2, t, T0, SIGMA, SIGMA0_CROSS, n, (-20.0, 2.0))[1]
                                           for t in dense])
        per = np.array([[ss.grid_minimum(wide, cl + n * c * g)[1] for cl, g in curves[int(t)]] for t in Ts])
        out[f"T_mc/{key}"], out[f"T_se/{key}"] = per.mean(1), per.std(1, ddof=1) / np.sqrt(per.shape[1])
    out.update(T_dense=dense, T_pts=Ts, T_c=Tc, error_exponent=float(th.scaling_formulas(BETA, R)["error_exponent"]))
    return out


def plot(data: dict, fig) -> None:
    left, right = fig.subplots(1, 2)
    for i, n in enumerate(NS):
        left.plot(data["lam"], data[f"theory/{n}"], "-", color=f"C{i}", lw=1.2, label=f"n = {n}")
        left.errorbar(data["pts"], data[f"mc/{n}"], yerr=2 * data[f"se/{n}"], fmt="o", ms=3, color=f"C{i}", capsize=2)
        left.axvline(data[f"lam_star/{n}"], color=f"C{i}", ls=":", lw=0.8)
    left.set(xscale="log", yscale="log", xlabel=r"ridge $\lambda$", ylabel="test error",
             title=f"U-shapes; dotted: optimal $\\lambda$ (d={D}, T={T}, $T_0$={T0})")
    left.legend(fontsize=7)
    for i, key in enumerate(("clean", "synthetic")):
        label = "no synthetic generations" if key == "clean" else rf"n = {N_CROSS} generations, $\sigma_0$ = {SIGMA0_CROSS:g}"
        right.plot(data["T_dense"], data[f"T_theory/{key}"], "-", color=f"C{i + 4}", lw=1.2, label=label)
        right.errorbar(data["T_pts"], data[f"T_mc/{key}"], yerr=2 * data[f"T_se/{key}"], fmt="o", ms=3,
                       color=f"C{i + 4}", capsize=2)
    Tc, e = data["T_c"], data["error_exponent"]
    ref = data["T_theory/clean"][0] * (data["T_dense"] / data["T_dense"][0]) ** (-e)
    right.plot(data["T_dense"], ref, ":", color="gray", lw=1, label=rf"$T^{{-{e:.3f}}}$ (fast rate)")
    right.axvline(Tc, color="k", ls="--", lw=0.8, label=rf"$T_c$ = {Tc:.0f}")
    right.set(xscale="log", yscale="log", xlabel="downstream samples T", ylabel=r"test error at the optimal $\lambda$",
              title=rf"crossover: power law $\beta$={BETA:g}, r={R:g}")
    right.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="model_collapse_ridge",
    title="Model collapse with ridge: U-shapes, a moving optimum, and the crossover to a plateau",
    claims=("model_collapse.ridge", "model_collapse.scaling"),
    seed=21,
    compute=compute,
    plot=plot,
    caption="Lines: the deterministic equivalents (Dohmatob, Feng & Kempe 2024 setting; rho's equivalent derived here). "
            "Points: random designs (Bartlett draws), the generation chain integrated exactly given the design, "
            "mean ± 2 s.e. Left: the optimal ridge grows with the number of generations n. Right: with synthetic "
            "generations the error follows the fast rate up to T_c = d + sigma^2 (T0-d-1)/(n sigma0^2), then plateaus; "
            "without them it steepens past T ~ 1e5, where the optimal ridge falls below the smallest eigenvalue "
            "d^-beta (a finite-d effect).",
    size=(10.0, 4.2),
)
