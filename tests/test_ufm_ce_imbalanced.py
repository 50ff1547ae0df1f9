"""ufm.ce.imbalanced: the convex form and its certificate, the minority-collapse threshold on both
sides, NC1, parameters, and every negative control rejected by every check."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import Context, ParameterError
from collapsekit.claims import ufm_ce_imbalanced as claim_mod
from collapsekit.runner import run_claim
from numerics import ufm_ce_imbalanced as nu
from simulations import ufm_ce_imbalanced as su
from theory import ufm_ce_imbalanced as th
from theory.proof import exact

CLAIM = claim_mod.UFMCEImbalanced()
_default: dict = {}


def default_run():
    if "r" not in _default:
        _default["r"] = run_claim(CLAIM, {}, device="cpu")
    return _default["r"]


def test_threshold_and_regimes():
    counts = (8, 8, 2, 1, 1)
    assert th.groups_of(counts) == [(3, 4), (0, 1)]
    assert th.threshold(counts, (3, 4)) == sp.Rational(1, 20)
    assert th.threshold(counts, (0, 1)) == sp.sqrt(2) / 10
    f = th.formulas(counts, exact(0.04), exact(0.09))          # μ = 3/50: minorities collapse, majorities do not
    assert f["contrast_dual_4_5"] == sp.Rational(1, 20) and f["contrast_dual_1_2"] == sp.Rational(3, 50)
    assert "spread_w_4_5" in f and "spread_w_1_2" not in f
    g = th.formulas(counts, exact(0.02), exact(0.02))          # μ = 1/50 < 1/20: nothing collapses
    assert not any(k.startswith("spread_") for k in g) and g["contrast_dual_4_5"] == sp.Rational(1, 50)


def test_proof_holds_and_each_control_is_refuted_symbolically():
    p = CLAIM.resolve({})
    f = CLAIM.formulas(p)
    assert all(o.proved is True for o in CLAIM.prove(p, f))
    for nc in CLAIM.negative_controls:
        bad = nc.perturb(p, dict(f))
        assert any(o.proved is not True for o in CLAIM.prove(p, bad)), nc.name


def test_every_negative_control_rejected_by_every_check():
    r = default_run()
    assert r.status == "pass", {k: c.message for k, c in r.checks.items()}
    controls = r.checks["negative_control"].detail["controls"]
    assert len(controls) == len(CLAIM.negative_controls)
    for c in controls:
        assert c["rejected_by"] == {"symbolic": True, "numeric": True, "simulation": True}, c


def test_solver_status_and_certificate_in_json():
    info = default_run().checks["numeric"].to_json()["info"]
    assert info["solver"]["status"] in ("optimal", "optimal_inaccurate")
    assert info["polished_certificate"]["gap"] < 1e-10
    assert info["thresholds"]["4_5"]["bracketed"]


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_contrast_multiplier_both_sides(factor):
    """γ_g = min(μ, √n_g/N) on either side of the threshold, and the classes coincide only above it."""
    counts, lb = (6, 6, 1, 1), 0.01
    t = 1 / 14
    mu = factor * t
    opt = nu.optimum(counts, mu, mu, lb, 4)
    assert opt.certificate.gap < 1e-9
    gam = nu.contrast_dual(opt.Z, opt.b, counts, (2, 3))[0]
    assert gam == pytest.approx(min(mu, t), rel=1e-8)
    spread = nu.spread(opt.W, (2, 3))
    assert (spread < 1e-8) if factor > 1 else (spread > 1e-2)


def test_certificate_is_a_lower_bound_everywhere():
    counts, mu, lb = (5, 2, 1, 1), 0.05, 0.02
    opt = nu.optimum(counts, mu, mu, lb, 4)
    rng = np.random.default_rng(1)
    for _ in range(10):
        Z = opt.Z + 0.3 * rng.standard_normal(opt.Z.shape)
        b = opt.b + 0.3 * rng.standard_normal(4)
        c = nu.certify(Z, b, counts, mu, lb)
        assert c.lower <= opt.certificate.upper + 1e-12 <= c.upper + 1e-12


def test_authors_convention_same_program():
    """The authors' objective Σ n_k CE/N + l‖ZD‖_* + l_b‖b‖² with l = 2√(λ'_Wλ'_H), λ' = λ/2, l_b = λ_b/2."""
    counts, lw, lh, lb = (4, 2, 1), 0.03, 0.12, 0.02
    rng = np.random.default_rng(2)
    Z, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    ours = nu.objective(Z, b, counts, np.sqrt(lw * lh), lb)
    l = 2 * np.sqrt((lw / 2) * (lh / 2))
    X = Z * np.sqrt(counts)
    theirs = nu.ce_part(Z, b, counts)[0] + l * np.linalg.svd(X, compute_uv=False).sum() + (lb / 2) * b @ b
    assert ours == pytest.approx(theirs, rel=1e-14)


def test_balanced_factorization_attains_the_convex_value():
    counts, lw, lh, lb = (5, 3, 1, 1), 0.02, 0.08, 0.01
    opt = nu.optimum(counts, lw, lh, lb, 4)
    f, g = nu.full_objective(opt.W, opt.Hbar, opt.b, counts, lw, lh, lb)
    assert f == pytest.approx(opt.certificate.upper, rel=1e-13) and g < 1e-10


def test_features_of_a_class_share_one_optimum():
    counts, lw, lh, lb = (5, 3, 1, 1), 0.02, 0.08, 0.01
    opt = nu.optimum(counts, lw, lh, lb, 4)
    feats, grad = nu.feature_optima(opt.W, opt.b, counts, lh, np.random.default_rng(3), starts=3)
    assert grad < 1e-12
    assert np.max(np.abs(feats - opt.Hbar.T[:, None, :])) < 1e-10


def test_engine_from_random_starts_reaches_the_convex_optimum():
    counts, lw, lh, lb = (5, 3, 1, 1), 0.02, 0.08, 0.01
    r = su.train(counts, 4, lw, lh, lb, starts=2, seed=7, device="cpu")
    opt = nu.optimum(counts, lw, lh, lb, 4)
    assert r.converged.all()
    for s in range(2):
        assert r.f[s] == pytest.approx(opt.certificate.upper, rel=1e-12)
        assert np.allclose(r.W[s] @ r.Hbar[s], opt.Z, atol=1e-8)
        assert su.within_class(r.H[s], r.Hbar[s], counts) < 1e-9


def test_unconverged_engine_is_reported():
    r = su.train((3, 1, 1), 3, 0.05, 0.05, 0.01, starts=1, seed=0, device="cpu", gtol=1e-30)
    assert not r.converged.any() and r.info["grad_norm"] > 0


@pytest.mark.parametrize("overrides,param", [
    ({"n": "5"}, "n"), ({"n": "4,3,2", "d": 1}, "d"), ({"n": "0,3"}, "n"),
    ({"n": "8,8,2,1,1", "lambda_W": 0.0025, "lambda_H": 1.0}, "lambda_W"),   # μ = 0.05 = √1/20: at the threshold
    ({"lambda_b": 0.0}, "lambda_b"), ({"n": "3000,1000,100"}, "n"), ({"n": "3,2,1"}, "n"),
])
def test_bad_parameters(overrides, param):
    with pytest.raises(ParameterError) as err:
        CLAIM.resolve(overrides)
    assert err.value.name == param


def test_seeded_simulation_is_deterministic():
    p = CLAIM.resolve({"n": "3,1,1"})
    a = CLAIM.simulate(p, Context(CLAIM.id, seed=5, device="cpu"))
    b = CLAIM.simulate(p, Context(CLAIM.id, seed=5, device="cpu"))
    assert np.array_equal(a.values["loss"], b.values["loss"])


def test_inaccurate_solver_status_fails(monkeypatch):
    cp = pytest.importorskip("cvxpy")
    solve = cp.Problem.solve

    def inaccurate(self, *args, **kw):
        value = solve(self, *args, **kw)
        self._status = "optimal_inaccurate"
        return value

    for cache in (nu._solved, nu._optimum, nu._program):
        cache.cache_clear()
    monkeypatch.setattr(cp.Problem, "solve", inaccurate)
    try:
        r = run_claim(CLAIM, {"n": "3,1,1"}, device="cpu", kinds=("numeric",))
    finally:
        for cache in (nu._solved, nu._optimum, nu._program):
            cache.cache_clear()
    check = r.checks["numeric"]
    assert check.status == "fail" and "did not converge" in check.message
    assert "optimal_inaccurate" in str(check.detail["info"])
