"""NC metrics as features collapse onto a simplex ETF, with the slopes theory predicts."""
from __future__ import annotations

import numpy as np

from collapsekit.figures import Figure
from numerics import etf as num
from numerics import metrics


def compute(seed: int, device: str) -> dict:
    rng = np.random.default_rng(seed)
    K, d, n = 8, 24, 40
    M = num.simplex_etf(K, d, rng)                           # d×K, unit columns
    offset = rng.standard_normal(d)
    noise = rng.standard_normal((K * n, d))
    noise_W = rng.standard_normal((K, d))
    labels = np.repeat(np.arange(K), n)
    sigmas = np.logspace(0, -4, 13)
    names = ["nc1", "nc2_equinorm_means", "nc2_equiangularity_means", "nc3", "nc4", "cdnv"]
    out = {name: [] for name in names}
    for s in sigmas:
        H = offset + 3.0 * M.T[labels] + s * noise
        W = 2.0 * M.T + s * noise_W
        stats = metrics.class_stats(H, labels, K)
        values = metrics.nc_metrics(stats, W=W, b=np.zeros(K), features=H, labels=labels)
        for name in names:
            out[name].append(values[name])
    return {"sigma": sigmas, **{k: np.asarray(v) for k, v in out.items()}, "K": K, "d": d, "n": n}


def plot(data: dict, fig) -> None:
    ax = fig.subplots(1, 1)
    labels = {"nc1": r"NC1 $\mathrm{Tr}(\Sigma_W\Sigma_B^+)/K$", "cdnv": "CDNV",
              "nc2_equinorm_means": "NC2 equinorm", "nc2_equiangularity_means": "NC2 equiangularity",
              "nc3": "NC3 self-duality"}
    s = data["sigma"]
    for i, (k, lab) in enumerate(labels.items()):
        ax.loglog(s, data[k], "o-", ms=3, lw=1, color=f"C{i}", label=lab)
    ax.loglog(s, s**2 * data["nc1"][0] / s[0] ** 2, ":", color="k", lw=1, label=r"slope 2 ($\propto\sigma^2$)")
    ax.loglog(s, s * data["nc2_equinorm_means"][0] / s[0], "--", color="0.5", lw=1, label=r"slope 1 ($\propto\sigma$)")
    ax.set(xlabel=r"within-class noise $\sigma$", ylabel="metric",
           title=f"collapse onto a simplex ETF (K={int(data['K'])}, d={int(data['d'])}, n={int(data['n'])}); "
                 f"NC4 = {data['nc4'][-1]:.0f} at the smallest $\\sigma$")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()


FIGURE = Figure(
    id="nc_metrics",
    title="Neural-collapse metrics on features approaching a simplex ETF",
    claims=("etf.simplex",),
    seed=7,
    compute=compute,
    plot=plot,
    caption="Features h = mu_G + 3 m_y + sigma*noise and classifier W = 2 M^T + sigma*noise: NC1, CDNV and "
            "NC3 vanish like sigma^2, the NC2 errors like sigma, and NC4 reaches 0.",
    size=(7.0, 4.2),
)
