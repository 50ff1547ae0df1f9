"""(c) MSE UFM: orthogonal frame (no bias) vs simplex ETF (free bias) vs regularized bias."""
from __future__ import annotations

import numpy as np
import torch

from collapsekit.claim import evaluate
from collapsekit.figures import Figure
from numerics import ufm as nu
from simulations import ufm as su
from theory import ufm_mse as th

K, N_PER, D, LAM = 4, 3, 5, 5e-3


def _uncentred_cos(u: su.UFM, x: torch.Tensor) -> np.ndarray:
    """Per configuration, the mean pairwise cosine of the uncentred class means."""
    _, H, _ = u.unpack(x)
    M = H.reshape(u.S, u.d, u.K, -1).mean(-1)                  # S×d×K class means
    M = M / M.norm(dim=1, keepdim=True)
    C = M.transpose(1, 2) @ M
    off = ~torch.eye(u.K, dtype=torch.bool, device=C.device)
    return C[:, off].mean(-1).cpu().numpy()


def compute(seed: int, device: str) -> dict:
    lam_b_dense = np.logspace(-3, 3, 200)
    theory_cos = [evaluate(th.mse_formulas(K, N_PER, LAM, LAM, lb, bias=True))["cos"] for lb in lam_b_dense]
    lam_b = np.logspace(-3, 3, 13)
    u = su.UFM("mse", K, D, N_PER, lambda_W=LAM, lambda_H=LAM, lambda_b=lam_b, device=device)   # one batch
    r = su.minimize(u, u.init(seed), gtol=1e-11)
    rng = np.random.default_rng(seed)
    num_cos = []
    for lb in lam_b[::3]:
        m = nu.lbfgs_multistart(nu.Problem.make("mse", K, D, N_PER, LAM, LAM, lb), rng, starts=1)
        M = nu.class_means(nu.Problem.make("mse", K, D, N_PER, LAM, LAM, lb), m.H)
        M = M / np.linalg.norm(M, axis=0)
        C = M.T @ M
        num_cos.append(C[~np.eye(K, dtype=bool)].mean())
    # optimal loss vs K*eta for the three models, engine points from one batch per model
    k_eta_dense = np.linspace(0.02, 1.5, 150)
    lams_dense = k_eta_dense / (K * np.sqrt(N_PER))
    k_eta = np.linspace(0.1, 1.4, 8)
    lams = k_eta / (K * np.sqrt(N_PER))
    models = {"no bias (OF)": (False, 0.0), "free bias (ETF)": (True, 0.0), "bias, lambda_b = 1": (True, 1.0)}
    loss_theory, loss_sim, conv = {}, {}, True
    for name, (bias, lb) in models.items():
        loss_theory[name] = np.array([evaluate(th.mse_formulas(K, N_PER, l, l, lb, bias=bias))["loss"] for l in lams_dense])
        um = su.UFM("mse", K, D, N_PER, lambda_W=lams, lambda_H=lams, lambda_b=lb, bias=bias, device=device)
        rm = su.minimize(um, um.init(seed + 1), gtol=1e-11)
        loss_sim[name], conv = rm.f, conv and rm.all_converged
    return {"lambda_b_dense": lam_b_dense, "theory_cos": np.array(theory_cos), "lambda_b": lam_b,
            "sim_cos": _uncentred_cos(u, r.x), "sim_converged": bool(r.all_converged), "num_lambda_b": lam_b[::3],
            "num_cos": np.array(num_cos), "k_eta_dense": k_eta_dense, "k_eta": k_eta,
            **{f"loss_theory/{k}": v for k, v in loss_theory.items()},
            **{f"loss_sim/{k}": v for k, v in loss_sim.items()}, "loss_sim_converged": conv}


def plot(data: dict, fig) -> None:
    a, b = fig.subplots(1, 2)
    a.semilogx(data["lambda_b_dense"], data["theory_cos"], "-", color="k", lw=1.2, label="theory (Zhou et al. setting)")
    a.semilogx(data["num_lambda_b"], data["num_cos"], "o", mfc="none", color="C0", label="scipy L-BFGS")
    a.semilogx(data["lambda_b"], data["sim_cos"], "x", color="C3", label="torch engine (one batch)")
    a.axhline(0.0, ls=":", color="C2", lw=1, label="orthogonal frame (no bias)")
    a.axhline(-1 / (K - 1), ls="--", color="C1", lw=1, label="simplex ETF (free bias)")
    a.set(xlabel=r"bias regularization $\lambda_b$", ylabel="cosine between uncentred class means",
          title=f"K={K}, n={N_PER}, $\\lambda_W=\\lambda_H$={LAM:g}")
    a.legend(fontsize=7)
    for i, name in enumerate(["no bias (OF)", "free bias (ETF)", "bias, lambda_b = 1"]):
        b.plot(data["k_eta_dense"], data[f"loss_theory/{name}"], "-", color=f"C{i}", lw=1.2, label=name)
        b.plot(data["k_eta"], data[f"loss_sim/{name}"], "x", color=f"C{i}")
    b.axvline(1.0, ls="--", color="0.4", lw=1)
    b.set(xlabel=r"$K\eta = K\sqrt{n\lambda_W\lambda_H}$", ylabel=r"optimal loss $L^*$",
          title="lines: closed forms; crosses: engine")
    b.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="ufm_mse_bias",
    title="MSE UFM: orthogonal frame, simplex ETF, and the regularized-bias interpolation",
    claims=("ufm.mse.nobias", "ufm.mse.bias", "ufm.mse.bias_regularized"),
    seed=13,
    compute=compute,
    plot=plot,
    caption="Left: the uncentred class means move from a simplex ETF (cosine -1/(K-1), small lambda_b) towards "
            "an orthogonal frame (cosine 0) as the bias is regularized more. Right: the optimal loss of the three "
            "models against K*eta; every model collapses to zero at K*eta = 1.",
    size=(10.0, 4.0),
)
