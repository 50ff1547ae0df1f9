"""Issue-5 figures (c), (d) and the hierarchical-VAE study: deterministic compute(), theory within the error bars."""
from __future__ import annotations

import numpy as np

from collapsekit.figures import all_figures
from figures import model_collapse_gaussian as fig_c
from figures import posterior_collapse_active as fig_d
from figures import posterior_collapse_hierarchical as fig_h

Z = 4.5      # the project's Monte-Carlo tolerance: |mean − prediction| <= 4.5 standard errors


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


def test_registered_with_their_claims():
    figs = all_figures()
    assert figs["model_collapse_gaussian"].claims == ("model_collapse.gaussian",)
    assert figs["posterior_collapse_active"].claims == ("posterior_collapse.linear_vae",)
    assert figs["posterior_collapse_hierarchical"].claims == ()          # numeric study: no claim


def test_gaussian_deterministic():
    _same(fig_c.compute(5, "cpu", chains=300), fig_c.compute(5, "cpu", chains=300))


def test_gaussian_theory_within_error_bars():
    d = fig_c.compute(fig_c.FIGURE.seed, "cpu")
    for key, pts in (("var", d["var_pts"]), ("std", d["pts"]), ("log_var", d["pts"])):
        z = (d[f"mc/{key}"] - d[f"theory/{key}"][pts]) / d[f"se/{key}"]
        assert np.all(np.abs(z) < Z), (key, z)
    # the paths collapse: the median chain ends far below sigma^2 while the mean stays at sigma^2
    assert d["final_median"] < 1e-3 and np.all(d["theory/var"] == d["theory/var"][0])


def test_vae_deterministic():
    _same(fig_d.compute(5, "cpu", replicas=2, steps=60), fig_d.compute(5, "cpu", replicas=2, steps=60))


def test_vae_theory_within_error_bars():
    d = fig_d.compute(fig_d.FIGURE.seed, "cpu")
    assert np.array_equal(d["mc/active"], d["theory_pts/active"]) and np.all(d["se/active"] == 0)
    th, mc, se = d["theory_pts/w_norm_sq"], d["mc/w_norm_sq"], d["se/w_norm_sq"]
    on = th > 0
    assert np.all(np.abs(mc[on] - th[on]) < Z * se[on]), (mc - th) / se
    assert np.all(mc[~on] < d["active_cut"])        # collapsed latents stay below the stated threshold


def test_hierarchical_deterministic():
    _same(fig_h.compute(5, "cpu", starts=1, max_iter=20), fig_h.compute(5, "cpu", starts=1, max_iter=20))


def test_hierarchical_level1_on_the_one_level_theory():
    a = fig_h.compute(fig_h.FIGURE.seed, "cpu", starts=1)
    assert a["converged"].all(), a["grad_norm"]
    assert np.array_equal(a["beta/level1"][:, 0], a["theory_pts/one_level"])
    assert np.all(a["eta/level1"] == a["theory_fixed/one_level"])
    assert np.all(a["beta/level2"] <= np.minimum(a["beta/level1"], fig_h.Q2))
