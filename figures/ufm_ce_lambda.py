"""(b) Cross-entropy UFM optimum vs weight decay, across the zero threshold K*eta = 1."""
from __future__ import annotations

import numpy as np

from collapsekit.claims.ufm_ce import CEBalanced
from collapsekit.figures import Figure
from numerics import ufm as nu
from simulations import ufm as su

K, N_PER, D = 4, 3, 4


def compute(seed: int, device: str) -> dict:
    claim = CEBalanced()
    threshold = 1 / (K * np.sqrt(N_PER))                      # lambda with K*sqrt(n)*lambda = 1
    dense = np.logspace(-3, 0, 200)
    theory = [claim.predict(claim.resolve({"K": K, "n": N_PER, "d": D, "lambda_W": lam, "lambda_H": lam}))
              for lam in dense]
    pts = np.logspace(-3, 0, 13)
    pts = pts[np.abs(np.log(pts / threshold)) > 0.05]         # the flow slows down at the threshold itself
    rng = np.random.default_rng(seed)
    num = []
    for lam in pts:
        prob = nu.Problem.make("ce", K, D, N_PER, lam, lam, 5e-3)
        r = nu.lbfgs_multistart(prob, rng, starts=2)
        num.append((r.f, np.mean(np.sum(r.W**2, axis=1)), np.mean(np.sum(r.H**2, axis=0)), r.converged))
    u = su.UFM("ce", K, D, N_PER, lambda_W=pts, lambda_H=pts, lambda_b=5e-3, device=device)   # one batch
    res = su.minimize(u, u.init(seed), gtol=1e-10)
    W, H, _ = (t.cpu().numpy() for t in u.unpack(res.x))
    num = np.array(num, dtype=float)
    return {"lambda": dense, "threshold": threshold,
            "loss": np.array([t["loss"] for t in theory]), "w_norm_sq": np.array([t["w_norm_sq"] for t in theory]),
            "h_norm_sq": np.array([t["h_norm_sq"] for t in theory]),
            "pts": pts, "num_loss": num[:, 0], "num_w": num[:, 1], "num_h": num[:, 2], "num_converged": num[:, 3],
            "sim_loss": res.f, "sim_w": np.mean(np.sum(W**2, axis=2), axis=1), "sim_h": np.mean(np.sum(H**2, axis=1), axis=1),
            "sim_converged": res.converged.astype(float), "sim_steps": [res.gd_steps, res.lbfgs_steps]}


def plot(data: dict, fig) -> None:
    a, b = fig.subplots(1, 2)
    lam, pts = data["lambda"], data["pts"]
    a.semilogx(lam, data["loss"], "-", color="k", lw=1.2, label="theory $f^*$")
    a.semilogx(pts, data["num_loss"], "o", mfc="none", color="C0", label="scipy L-BFGS")
    a.semilogx(pts, data["sim_loss"], "x", color="C3", label="torch engine (one batch)")
    a.axhline(np.log(K), ls=":", color="0.5", lw=1)
    a.set(xlabel=r"$\lambda_W=\lambda_H=\lambda$", ylabel="optimal objective", title=r"$f^*$; $\log K$ dotted")
    for ax in (a, b):
        ax.axvline(data["threshold"], ls="--", color="0.4", lw=1)
    b.semilogx(lam, data["w_norm_sq"], "-", color="k", lw=1.2, label=r"theory $\|w_k\|^2$")
    b.semilogx(lam, data["h_norm_sq"], "--", color="k", lw=1.2, label=r"theory $\|h_{k,i}\|^2$")
    b.semilogx(pts, data["num_w"], "o", mfc="none", color="C0", label="L-BFGS")
    b.semilogx(pts, data["num_h"], "s", mfc="none", color="C0")
    b.semilogx(pts, data["sim_w"], "x", color="C3", label="engine")
    b.semilogx(pts, data["sim_h"], "+", color="C3")
    b.set(xlabel=r"$\lambda$", ylabel="squared norm",
          title=r"norms vanish at $K\sqrt{n}\,\lambda=1$ (dashed)")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    fig.tight_layout()


FIGURE = Figure(
    id="ufm_ce_lambda",
    title="Cross-entropy UFM optimum across the zero threshold",
    claims=("ufm.ce.balanced",),
    seed=12,
    compute=compute,
    plot=plot,
    caption="K=4, n=3, d=4, lambda_b=5e-3. Closed forms (lines) against scipy L-BFGS (open markers) and the "
            "torch engine, all lambdas in one batched run (crosses). Above the threshold K*eta = 1 the "
            "optimum is W = H = 0 and f* = log K.",
    size=(10.0, 4.0),
)
