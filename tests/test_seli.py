"""ufm.ce.seli: the exact and 60-digit routes, the certificate, the bounds, parameters,
negative controls and non-convergence reporting (the generic suite runs the 4 checks)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import ParameterError, evaluate
from collapsekit.claims import seli as claim_mod
from numerics import seli as ns
from simulations import seli as ss
from theory import seli as th


def test_example_values():
    assert th.gram_matrix((5, 5, 1, 1)).eigenvals() == {5: 1, 3: 1, 1: 1, 0: 1}
    f = th.seli_formulas((5, 5, 1, 1))
    assert sp.simplify(f["w_cos_3_4"] - (sp.sqrt(3) / 4 - sp.Rational(1, 2)) / (sp.sqrt(3) / 4 + sp.Rational(1, 2))) == 0
    assert round(float(f["w_cos_3_4"]), 3) == -0.072          # THEORY.md's example: no minority collapse
    assert float(f["value"]) == pytest.approx(float(sp.sqrt(5) + sp.sqrt(3) + 1), rel=1e-15)


@pytest.mark.parametrize("K,n", [(2, 3), (3, 2), (4, 1)])
def test_balanced_is_etf(K, n):
    f = evaluate(th.seli_formulas((n,) * K))
    for name, v in f.items():
        if "_cos_" in name:
            assert v == pytest.approx(-1 / (K - 1), rel=1e-14)
    assert f["value"] == pytest.approx((K - 1) * np.sqrt(n), rel=1e-14)


def test_exact_and_high_precision_agree():
    S, B, exact = th.seli_roots((5, 5, 1, 1))
    S2, B2, exact2 = th.seli_roots((5, 5, 1, 1), allow_exact=False)
    assert exact and not exact2
    assert max(abs(float(x)) for x in (S - S2)) < 1e-50 and max(abs(float(x)) for x in (B - B2)) < 1e-50


def test_three_sizes_proved_numerically():
    counts = (4, 2, 1)
    obs = th.prove_seli(th.seli_formulas(counts), counts)
    assert all(o.ok for o in obs)
    assert any("60 digits" in o.name for o in obs)


@pytest.mark.parametrize("counts", [(5, 5, 1, 1), (4, 2, 1), (2, 1)])
def test_certificate_brackets_prediction(counts):
    cert = ns.nuclear_svm(counts)
    v = float(th.seli_formulas(counts)["value"])
    assert cert.status == "optimal" and cert.gap < 1e-7
    assert cert.lower - 1e-9 <= v <= cert.upper + 1e-9


def test_upper_bound_valid_for_any_point():
    counts = (5, 5, 1, 1)
    v = float(th.seli_formulas(counts)["value"])
    rng = np.random.default_rng(0)
    y = ns.labels_of(counts)
    for _ in range(20):
        Z = rng.normal(size=(4, 12)) + 3 * np.eye(4)[:, y]
        m = ns.margins(Z, y).min()
        if m > 0:
            assert np.linalg.svd(Z, compute_uv=False).sum() / m >= v - 1e-12


def test_factorization_attains_nuclear_norm():
    Zhat = np.eye(4)[:, ns.labels_of((5, 5, 1, 1))] - 0.25
    W, H = ns.factor(Zhat)
    assert np.allclose(W @ H, Zhat, atol=1e-13)
    assert 0.5 * (np.sum(W * W) + np.sum(H * H)) == pytest.approx(np.linalg.svd(Zhat, compute_uv=False).sum())


def test_parameters():
    c = claim_mod.SELI()
    with pytest.raises(ParameterError) as e:
        c.resolve({"n": "5,5,1,1", "d": 2})
    assert e.value.name == "d"
    with pytest.raises(ParameterError) as e:
        c.resolve({"n": "5"})
    assert e.value.name == "n"
    with pytest.raises(ParameterError) as e:
        c.resolve({"n": "30,30"})
    assert e.value.name == "n"
    with pytest.raises(ParameterError):
        c.resolve({"n": "5,0"})


def test_negative_controls_refuted():
    c = claim_mod.SELI()
    p = c.resolve({})
    f = c.formulas(p)
    for nc in c.negative_controls:
        g = nc.perturb(p, f)
        assert g != f
        assert not all(o.ok for o in c.prove(p, g)), nc.name


def test_not_converged_is_reported():
    r = ss.solve((5, 5, 1, 1), 4, starts=2, seed=0, device="cpu", max_rounds=1, tol=1e-14, kkt_tol=1e-14)
    assert not r.converged.any()


def test_figure_regularized_ce_approaches_seli_logarithmically():
    from figures import seli as fig
    d = fig.compute(fig.FIGURE.seed, "cpu")
    assert d["converged"].all()
    assert np.all(np.diff(d["dist_w"]) < 0) and np.all(np.diff(d["dist_h"]) < 0)
    tail = d["dist_w"][2:] * np.log(1 / d["lambda"][2:])       # ~constant: a 1/log(1/λ) approach
    assert tail.max() / tail.min() < 1.1
    assert d["dist_etf"][-1] > 0.9 * d["etf_vs_seli"]           # the ETF is not the limit
