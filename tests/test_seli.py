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


def test_gram_matrix_guard():
    """The smallest valid input, two classes of one sample, gives P diag(1, 1) P = P = I − J/2; one
    class, or a class without samples, is refused, naming ``counts``."""
    half = sp.Rational(1, 2)
    assert th.gram_matrix((1, 1)) == sp.Matrix([[half, -half], [-half, half]])
    for bad in ((3,), (2, 0)):
        with pytest.raises(ValueError, match="counts"):
            th.gram_matrix(bad)


def test_formula_names():
    """One prediction per class (w_sq, h_sq, wh_ratio) and per unordered pair of classes (w_cos, h_cos),
    numbered from 1, and nothing else besides value, margin and h_within."""
    K = 4
    names = {"value", "margin", "h_within"}
    names |= {f"{q}_{k}" for q in ("w_sq", "h_sq", "wh_ratio") for k in range(1, K + 1)}
    names |= {f"{q}_{a}_{b}" for q in ("w_cos", "h_cos") for a in range(1, K + 1) for b in range(a + 1, K + 1)}
    assert set(th.seli_formulas((5, 5, 1, 1))) == names


def test_proof_names_every_margin_class_and_pair():
    """The proof states each fact once: the margin of every ordered pair of classes, S_kk > 0 for every
    class and a positive dual multiplier for every unordered pair (here K = 3, three sizes: 60 digits)."""
    counts, K = (4, 2, 1), 3
    text = "\n".join(o.name for o in th.prove_seli(th.seli_formulas(counts), counts))
    pairs = [(a, b) for a in range(1, K + 1) for b in range(1, K + 1) if a != b]
    for a, b in pairs:
        assert text.count(f"margin of class {a} vs {b} in") == 1, (a, b)
        if a < b:
            assert text.count(f"μ = −B_{a}{b} > 0") == 1, (a, b)
    for k in range(1, K + 1):
        assert text.count(f"S_{k}{k} > 0") == 1, k


def test_high_precision_route_refutes_wrong_formulas():
    """On the 60-digit route (three class sizes) a formula off by 1e-40 is refuted, and so is every
    negative control: the route decides, it does not only compute."""
    counts = (4, 2, 1)
    c = claim_mod.SELI()
    p = c.resolve({"n": "4,2,1"})
    f = th.seli_formulas(counts)
    assert all(o.ok for o in th.prove_seli(f, counts))
    for name in ("value", "w_cos_2_3", "h_sq_3"):
        assert not all(o.ok for o in th.prove_seli({**f, name: f[name] + sp.Float("1e-40", 60)}, counts)), name
    for nc in c.negative_controls:
        assert not all(o.ok for o in th.prove_seli(nc.perturb(p, f), counts)), nc.name


def test_exact_and_high_precision_agree():
    """The 60-digit route (Sylvester) agrees with the exact one to 58 digits (entries of S, B are O(1);
    observed differences ~3e-62, the rounding to 60 digits)."""
    S, B, exact = th.seli_roots((5, 5, 1, 1))
    S2, B2, exact2 = th.seli_roots((5, 5, 1, 1), allow_exact=False)
    assert exact and not exact2
    assert max(abs(float(x)) for x in (S - S2)) < 1e-58 and max(abs(float(x)) for x in (B - B2)) < 1e-58


@pytest.mark.parametrize("error", ["NotImplementedError", "MatrixError"])
def test_exact_route_failure_falls_back_to_60_digits(monkeypatch, error):
    """When sympy's eigenvectors fail, the exact route gives way to the 60-digit one (same S, B)."""
    exc = th.MatrixError if error == "MatrixError" else NotImplementedError

    def fail(self, *args, **kwargs):
        raise exc("eigenvects unavailable")

    S, B, _ = th._compute_roots((2, 1))
    monkeypatch.setattr(sp.MutableDenseMatrix, "eigenvects", fail)
    S2, B2, exact = th._compute_roots((2, 1))
    assert not exact
    assert max(abs(float(x)) for x in (S - S2)) < 1e-58 and max(abs(float(x)) for x in (B - B2)) < 1e-58


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


def test_factor_rank_is_relative_to_the_largest_singular_value():
    """rank = #{σ > 1e-7·σ_1}: 3e-7 is kept and 1e-7 dropped next to σ_1 = 2, at any overall scale."""
    for scale in (1e-6, 1.0, 1e6):
        Z = scale * np.diag([2.0, 3e-7, 1e-7])
        W, H = ns.factor(Z)
        assert W.shape == (3, 2) and H.shape == (2, 3), scale
        assert np.allclose(W @ H, scale * np.diag([2.0, 3e-7, 0.0]), rtol=0, atol=1e-12 * scale)


def test_measure_value_names_and_within_class_spread():
    """measure(): the value ½(‖W‖² + ‖H‖²) of the balanced factors of Ẑ is ‖Ẑ‖_* = √5 + √3 + 1 (the
    spectrum of PDP is 5, 3, 1, 0); one cosine per pair of classes; and a known within-class spread:
    features (±1, ±δ) around class means (±1, 0) give Σ‖h − h̄‖²/Σ‖h‖² = δ²/(1 + δ²)."""
    counts = (5, 5, 1, 1)
    y = ns.labels_of(counts)
    W, H = ns.factor(np.eye(4)[:, y] - 0.25)
    m = ns.measure(W, H, y)
    assert m["value"] == pytest.approx(np.sqrt(5) + np.sqrt(3) + 1, rel=1e-13)
    pairs = {f"{q}_{a}_{b}" for q in ("w_cos", "h_cos") for a in range(1, 5) for b in range(a + 1, 5)}
    assert {k for k in m if "_cos_" in k} == pairs
    delta = 0.5
    H2 = np.array([[1.0, 1.0, -1.0, -1.0], [delta, -delta, delta, -delta]])
    m2 = ns.measure(np.eye(2), H2, np.array([0, 0, 1, 1]))
    assert m2["h_within"] == pytest.approx(delta**2 / (1 + delta**2), rel=1e-14)


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


@pytest.mark.parametrize("counts", [(3, 1, 1), (5, 2, 2)])
def test_the_sylvester_route_is_as_accurate_as_it_says(counts):
    """Where both routes apply (two distinct sizes), the 60-digit Sylvester route (allow_exact=False)
    agrees with the exact radical route entry by entry to 1e-58 (60 digits, two spent on rounding);
    measured ~1e-61.  Working at fewer guard digits (e.g. M to 50 digits) misses this by 1e6."""
    S_exact, B_exact, exact = th._compute_roots(counts, True)
    S_num, B_num, num_exact = th._compute_roots(counts, False)
    assert exact and not num_exact
    K = len(counts)
    for A, A_num in ((S_exact, S_num), (B_exact, B_num)):
        err = max(abs(sp.N(A[i, j] - A_num[i, j], 80)) for i in range(K) for j in range(K))
        assert err < sp.Float("1e-58"), err
