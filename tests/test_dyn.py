"""The exact-dynamics claims (dyn.*): laws over whole trajectories, integrator error, controls."""
from __future__ import annotations

import time

import numpy as np
import pytest
import sympy as sp
import torch

from collapsekit import registry
from collapsekit.claim import ParameterError, evaluate
from collapsekit.claims import dyn
from collapsekit.runner import compare, run_claim
from simulations import ufm as engine
from simulations.device import cpu_threads
from theory import dynamics as th
from theory.proof import all_proved

DYN = ["dyn.balance", "dyn.within_class", "dyn.logistic"]
_cache: dict = {}


def result(claim_id: str, **overrides):
    key = (claim_id, tuple(sorted(overrides.items())))
    if key not in _cache:
        _cache[key] = run_claim(registry.get(claim_id), overrides, device="cpu")
    return _cache[key]


def observation(claim_id: str, kind: str, **overrides):
    """The claim's own numeric or simulation observation (run once)."""
    key = (claim_id, kind, tuple(sorted(overrides.items())))
    if key not in _cache:
        claim = registry.get(claim_id)
        p = claim.resolve(overrides)
        from collapsekit.claim import Context
        ctx = Context(claim.id, device="cpu")
        _cache[key] = (p, claim.numeric(p, ctx) if kind == "numeric" else claim.simulate(p, ctx))
    return _cache[key]


# ----------------------------------------------------------------------------- symbolic layer
def test_balance_law_holds_for_any_loss_and_refutes_a_wrong_rate():
    f = th.balance_formulas(sp.Rational(1, 20), 10, 6)
    assert f["rate"] == sp.Rational(1, 10)
    assert all_proved(th.prove_balance(f, sp.Rational(1, 20), 10, 6))
    for factor in (1, 4):
        bad = th.balance_formulas(sp.Rational(1, 20), 10, 6, rate_factor=factor)
        refuted = [o for o in th.prove_balance(bad, sp.Rational(1, 20), 10, 6) if o.proved is False]
        assert any("Ḋ + rate·D = 0" in o.name for o in refuted), factor


def test_balance_derivative_is_loss_free():
    """Ḋ contains no G at all: the data term cancels whatever the loss."""
    Dd = th.balance_derivative()
    assert th.G_ not in Dd.free_symbols
    Dd_eq = th.balance_derivative(th.lam, th.lam)
    assert th._is_zero_matrix(Dd_eq + 2 * th.lam * (th.W_.T * th.W_ - th.H_ * th.H_.T))


@pytest.mark.parametrize("loss,bias", [("ce", True), ("ce", False), ("mse", True), ("mse", False)])
def test_gradient_lemmas_by_differentiation(loss, bias):
    assert all_proved(list(th.gradient_lemmas(loss, bias)))


def test_within_class_law_and_wrong_rates():
    f = th.within_class_formulas(sp.Rational(1, 20), 3, 4, 5, 20, 6)
    assert all_proved(th.prove_within_class(f, sp.Rational(1, 20), 3, 4, 5, 20, 6))
    for rate in (sp.Rational(1, 10), sp.Rational(1, 20) + sp.Rational(1, 12)):
        bad = th.within_class_formulas(sp.Rational(1, 20), 3, 4, 5, 20, 6, rate=rate)
        assert not all_proved(th.prove_within_class(bad, sp.Rational(1, 20), 3, 4, 5, 20, 6))
    assert not all_proved(th.prove_within_class({**f, "limit_rank": sp.Integer(0)}, sp.Rational(1, 20), 3, 4, 5, 20, 6))


def test_logistic_constants_for_symbolic_K_n_lambda_match_theory_md():
    """ṗ = c₁p + c₂p², c₁ = 2/(K√n) − 2λ, c₂ = −2/(K√n): p_∞ = 1 − K√nλ, r = 2p_∞/(K√n)."""
    _, c1, c2, w, h, excess = th.logistic_derivation()
    K, n, lam = th._Kg, th._ng, th.lam
    assert sp.simplify(c2 + 2 / (K * sp.sqrt(n))) == 0
    assert sp.simplify(-c1 / c2 - (1 - K * sp.sqrt(n) * lam)) == 0                 # p_∞
    assert sp.simplify(c1 - 2 * (1 - K * sp.sqrt(n) * lam) / (K * sp.sqrt(n))) == 0  # r
    assert sp.simplify(w - sp.sqrt(n)) == 0 and sp.simplify(h - 1 / sp.sqrt(n)) == 0
    assert sp.simplify(excess - K * sp.sqrt(n) * lam) == 0                         # f = ½(1−p)² + Kηp


def test_logistic_fixed_point_is_the_mse_nobias_optimum():
    """p_∞ minimizes ½(1 − p)² + Kηp (η = √(nλ_Wλ_H) = √n λ): THEORY.md §4's ufm.mse.nobias."""
    p, K, n, lam = sp.symbols("p K n lambda", positive=True)
    L = (1 - p) ** 2 / 2 + K * sp.sqrt(n) * lam * p
    assert sp.solve(sp.diff(L, p), p) == [1 - K * sp.sqrt(n) * lam]


def test_logistic_formulas_prove_and_refute_quickly():
    args = (4, 3, 0.005, 0.01, 30, 8)
    f = th.logistic_formulas(*args)
    assert all_proved(th.prove_logistic(f, *args[:5], 8))
    wrong_p_inf = (1 - 4 * 3 * sp.Rational(1, 200), 0)                   # 1 − Knλ
    for bad in (th.logistic_formulas(*args, c_factor=1), th.logistic_formulas(*args, p_inf=wrong_p_inf)):
        t0 = time.perf_counter()
        obligations = th.prove_logistic(bad, *args[:5], 8)
        assert not all_proved(obligations)
        assert sum(o.proved is False for o in obligations) >= 8            # every sample refuted, not undecided
        assert time.perf_counter() - t0 < 5


def test_logistic_p_inf_zero_is_hyperbolic():
    """K√nλ = 1 exactly (K=5, n=4, λ=1/10): ṗ = −c p² with c = 2/(K√n) = 1/5, p = p₀/(1 + c p₀ t)."""
    f = th.logistic_formulas(5, 4, 0.1, 0.01, 100, 4)
    assert f["p_inf"] == 0 and f["rate"] == 0
    assert th.explicit(f[th.at("p", 100)]) == sp.Rational(1, 100) / (1 + sp.Rational(1, 5) / 100 * 100)
    assert all_proved(th.prove_logistic(f, 5, 4, 0.1, 0.01, 100, 4))


def test_logistic_atom_is_exact_and_canonical():
    P = th.LogisticP(sp.Rational(1, 2), 1, -sp.Rational(1, 50), 3, sp.Rational(1, 100), 7)
    assert abs(sp.N(P, 30) - sp.N(P.explicit(), 30)) < sp.Float(1e-28)
    assert th.LogisticP(1, 1, 0, 3, sp.Rational(1, 100), 0) == sp.Rational(1, 100)
    for t in (sp.Rational(1, 2), 1, 3):          # every t: the atom is the closed form, not p₀
        P = th.LogisticP(sp.Rational(1, 2), 1, -sp.Rational(1, 50), 3, sp.Rational(1, 100), t)
        assert abs(sp.N(P, 30) - sp.N(P.explicit(), 30)) < sp.Float(1e-28) and P.explicit() != sp.Rational(1, 100)
    # a rational √n is folded, so equal values have equal arguments (n = 4 and n = 1)
    half, r = sp.Rational(1, 2), sp.Rational(1, 10)
    assert th.LogisticP(1, 1, -r, 4, 1, 2) == th.LogisticP(half, 1 - 2 * r, 0, 1, 1, 2)
    assert th.LogisticP(1, 1, -sp.Rational(1, 10), 1, 1, 2) == th.LogisticP(1, sp.Rational(9, 10), 0, 1, 1, 2)


# ----------------------------------------------------------------------------- the proof helpers
def test_explicit_zero_needs_every_entry_to_vanish():
    """Refuted when entries cancel in a sum ([1, −1]) or are all equal ([1, 1]); a proved obligation
    records the expression 0."""
    x = sp.Symbol("x", positive=True)
    for entries in ([1, -1], [1, 1], [x, 0], [x, -x]):
        assert th.explicit_zero("entries", entries).proved is False, entries
    ok = th.explicit_zero("entries", [0, sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1, (x**2 - 1) / (x + 1) - x + 1])
    assert ok.proved is True and ok.expr == 0


def test_rational_identity_is_sound_and_sees_square_roots():
    """√s of a positive symbol becomes a generator σ with σ² = s: identities in √s are decided by
    rational arithmetic; nonzero expressions are not."""
    x, y = sp.symbols("x y", positive=True)
    r = sp.sqrt(x)
    for identity in (x / (x + y) + y / (x + y) - 1, 1 / (r - 1) - (r + 1) / (x - 1),
                     sp.exp(x * (y + 1)) / (1 + sp.exp(x * y + x)) - 1 + 1 / (1 + sp.exp(x + x * y))):
        assert th._rational_identity(identity) is True, identity
    for nonzero in (sp.Integer(1), x, r - x, 1 / (r - 1) - (r - 1) / (x - 1)):
        assert th._rational_identity(nonzero) is False, nonzero


def test_matrix_identity_refutes_with_a_generic_counterexample():
    """A commutator vanishes on matrices with equal entries, so only a generic integer instance
    refutes it; ZeroMatrix is proved with the expression 0."""
    X, Y = sp.MatrixSymbol("X", th.Ks, th.Ks), sp.MatrixSymbol("Y", th.Ks, th.Ks)
    assert th.matrix_identity("commutator", X * Y - Y * X).proved is False
    assert th.matrix_identity("WᵀW − HHᵀ", th.W_.T * th.W_ - th.H_ * th.H_.T).proved is False
    ok = th.matrix_identity("W − W", th.W_ - th.W_)
    assert ok.proved is True and ok.expr == 0


def test_matrix_identity_vanishing_at_one_instance_is_undecided_not_proved(monkeypatch):
    """Only expansion to the zero matrix proves an identity; an expression that does not expand to zero
    but vanishes at the one integer instance tried (no counterexample found) stays undecided."""
    X, Y = sp.MatrixSymbol("X", th.Ks, th.Ks), sp.MatrixSymbol("Y", th.Ks, th.Ks)
    monkeypatch.setattr(th, "_counterexample", lambda expr, dims, seed=1: False)
    assert th.matrix_identity("commutator, no counterexample drawn", X * Y - Y * X).proved is None
    assert th.matrix_identity("W − W", th.W_ - th.W_).proved is True
    assert th.matrix_identity("already reduced to the scalar 0", sp.Integer(0)).proved is True


def test_invisible_block_instance_lies_in_the_invariant_set():
    """The explicit instance of prove_within_class is what it says: the rows V₁ (seen by W) and V₂
    (in U) are within-class (orthogonal to the class indicators), V₁ ⊥ V₂, each pair independent."""
    K, n = 2, 3
    Y = sp.Matrix(K, K * n, lambda k, i: int(i // n == k))
    V1, V2 = sp.Matrix.hstack(*th._V1), sp.Matrix.hstack(*th._V2)
    assert Y * V1 == sp.zeros(K, 2) and Y * V2 == sp.zeros(K, 2)
    assert V1.T * V2 == sp.zeros(2, 2) and V1.rank() == 2 and V2.rank() == 2


# ----------------------------------------------------------------------------- claims over time
@pytest.mark.parametrize("claim_id", DYN)
def test_dyn_claim_passes_with_four_checks(claim_id):
    r = result(claim_id)
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}


@pytest.mark.parametrize("kind", ["numeric", "simulation"])
@pytest.mark.parametrize("claim_id", DYN)
def test_trajectory_agrees_at_every_sample_time(claim_id, kind):
    """Every time-indexed prediction is observed and matches: the law over time, not the end point."""
    r = result(claim_id)
    claim = registry.get(claim_id)
    timed = [k for k in r.predicted if "@t=" in k]
    J = dyn.J_LOGISTIC if claim_id == "dyn.logistic" else dyn.J_SAMPLES
    assert len({k.split("@t=")[1] for k in timed}) == J
    errors = r.checks[kind].detail["errors"]
    assert set(timed) <= set(errors), set(timed) - set(errors)
    tol = claim.tolerances[kind].value
    assert max(errors[k] for k in timed) <= tol
    # and the samples really move: the law is not checked on a constant
    values = sorted(r.predicted[k] for k in timed)
    assert values[-1] - values[0] > 0.1 * abs(values[-1])


def test_balance_observes_both_losses():
    _, num = observation("dyn.balance", "numeric")
    _, sim = observation("dyn.balance", "simulation")
    name = th.at("decay", 10)
    assert np.size(num.values[name]) == 2 and np.size(sim.values[name]) == 4     # CE+bias, MSE; 2 seeds each
    assert [r["loss"] for r in num.info["runs"]] == ["ce", "mse"]


def test_engine_global_error_against_rtol():
    """Engine flow on the logistic ansatz: the error of p(t_j) is below steps × rtol and falls with rtol."""
    claim = registry.get("dyn.logistic")
    p = claim.resolve({})
    f = claim.formulas(p)
    times = dyn._float_times(p, dyn.J_LOGISTIC)
    pred = np.array([float(sp.N(f[th.at("p", t)], 30)) for t in th.sample_times(p["T"], dyn.J_LOGISTIC)])
    u = engine.UFM("mse", p["K"], p["d"], p["n"], lambda_W=p["lambda_W"], lambda_H=p["lambda_H"], bias=False,
                   device="cpu")
    W0, H0 = dyn.aligned_start(p["K"], p["d"], p["n"], p["p0"], np.random.default_rng(5))
    x0 = u.pack(u.tensor(W0[None]), u.tensor(H0[None]))
    errors = []
    for rtol in (1e-6, 1e-8, 1e-10):
        with cpu_threads(u.device):
            tr = engine.flow(u, x0, times, rtol=rtol, atol=rtol * 1e-2)
        W = tr.x[:, 0, :u.sizes[0]].reshape(-1, u.K, u.d)
        H = tr.x[:, 0, u.sizes[0]:u.sizes[0] + u.sizes[1]].reshape(-1, u.d, u.K, u.counts[0]).mean(-1)
        pv = np.einsum("tkd,tdk->t", W, H) / u.K
        err = float(np.max(np.abs(pv - pred) / pred))
        assert err <= tr.steps * rtol, (rtol, err, tr.steps)
        errors.append(err)
    assert errors[0] > 30 * errors[1] > 900 * errors[2]
    assert errors[2] < 1e-2 * claim.tolerances["simulation"].value


def test_scipy_check_uses_step_end_points():
    """The numeric check's states are step end points (DOP853's dense output is ~1e-8 off here)."""
    r = result("dyn.logistic", K=5, n=4, lambda_W=0.1)     # K√nλ = 1: p_∞ = 0, hyperbolic decay
    assert r.status == "pass" and r.predicted["p_inf"] == 0
    assert r.checks["numeric"].max_rel_err < 1e-9


# ----------------------------------------------------------------------------- negative controls
@pytest.mark.parametrize("claim_id", DYN)
def test_every_control_is_rejected_with_a_margin(claim_id):
    r = result(claim_id)
    claim = registry.get(claim_id)
    for nc in claim.negative_controls:
        bad = evaluate(nc.perturb(r.params, claim.formulas(r.params)))
        for kind in ("numeric", "simulation"):
            obs = observation(claim_id, kind)[1]
            err, _, _ = compare(obs.values, bad, claim.zero_scale)
            assert err > 100 * claim.tolerances[kind].value, (nc.name, kind, err)


def test_balance_rate_lambda_instead_of_2lambda_is_visible_at_every_time():
    r = result("dyn.balance")
    p = r.params
    bad = evaluate(th.balance_formulas(p["lambda_W"], p["T"], dyn.J_SAMPLES, rate_factor=1))
    obs = observation("dyn.balance", "simulation")[1]
    _, errors, _ = compare(obs.values, bad, 1.0)
    assert all(errors[th.at("decay", t)] > 1e-3 for t in th.sample_times(p["T"], dyn.J_SAMPLES))


def test_no_full_nc1_in_the_unregularized_limit():
    """Generic start, λ = 0, d > K: E(∞) keeps rank min(d, N) − K; the 'full NC1' control is rejected."""
    _, obs = observation("dyn.within_class", "simulation")
    assert np.all(obs.values["limit_rank"] == 5 - 3)
    svals = obs.info["limit_singular_values"][0]
    assert svals[1] > 0.1 * svals[0] and svals[2] < 1e-9 * svals[0]
    assert obs.info["limit_grad_norm"] <= dyn.LIMIT_GTOL


def test_theory_md_literal_statement_fails_from_a_generic_start():
    """THEORY.md: 'with λ_H = 0 the part of E orthogonal to the row space of W never moves'.
    From a generic start W's row space rotates and that part moves by O(1); only on the
    claim's invariant set (W blind to U, class means out of U, E_U ⊥ E_seen) is it frozen."""
    K, n, d = 3, 4, 5
    u = engine.UFM("mse", K, d, n, lambda_W=0.05, lambda_H=0.0, bias=True, device="cpu")
    C = dyn._within_projector(K, n)
    W0, H0, U = dyn.structured_start(K, d, n, np.random.default_rng(2))
    starts = {"generic": u.init(3), "invariant": u.pack(u.tensor(W0[None]), u.tensor(H0[None]))}
    change = {}
    for name, x0 in starts.items():
        tr = dyn._flow(u, x0, [0.0, 20.0])
        parts = []
        for j in range(2):
            W, H, _ = (a[0].cpu().numpy() for a in u.unpack(torch.as_tensor(tr.x[j])))
            _, _, Vt = np.linalg.svd(W)
            P_ker = np.eye(d) - Vt[:K].T @ Vt[:K]
            parts.append(P_ker @ H @ C)
        change[name] = np.linalg.norm(parts[1] - parts[0]) / np.linalg.norm(parts[0])
    assert change["generic"] > 1e-2
    assert change["invariant"] < 1e-9


def test_generic_start_within_class_energy_bound():
    """d/dt‖E‖² = −(2/N)‖WE‖² − 2λ_H‖E‖²: ‖E(t)‖e^{λ_H t} never increases (generic start, with bias),
    and strictly decreases — the e^{−λ_H t} decay is exact only for the directions W does not see."""
    K, n, d, lam_H = 3, 4, 5, 0.05
    u = engine.UFM("mse", K, d, n, lambda_W=0.05, lambda_H=lam_H, bias=True, device="cpu")
    C = dyn._within_projector(K, n)
    times = np.linspace(0.0, 20.0, 21)
    tr = dyn._flow(u, u.init(11), times)
    H = tr.x[:, 0, u.sizes[0]:u.sizes[0] + u.sizes[1]].reshape(-1, d, u.N)
    scaled = np.linalg.norm(H @ C, axis=(1, 2)) * np.exp(lam_H * times)
    assert np.all(np.diff(scaled) <= 1e-12 * scaled[0])
    assert scaled[-1] < 0.99 * scaled[0]


def test_symbolic_control_is_refuted_not_undecided():
    r = result("dyn.within_class")
    claim = registry.get("dyn.within_class")
    from collapsekit.runner import prove_all
    for nc in claim.negative_controls:
        obligations = prove_all(claim, r.params, claim.formulas(r.params), nc.perturb)
        assert any(o.proved is False for o in obligations), nc.name


# ----------------------------------------------------------------------------- edge cases, parameters
@pytest.mark.parametrize("claim_id,overrides", [
    ("dyn.balance", {"lambda_W": 0}),                     # conservation: controls fall back to a decay 1/(2T)
    ("dyn.within_class", {"lambda_H": 0}),                # the invisible block frozen
    ("dyn.logistic", {"lambda_W": 0.2}),                  # K√nλ > 1: p_∞ < 0, p decays to 0
    ("dyn.logistic", {"n": 1}),                           # √n = n: the p_∞ control falls back
])
def test_edge_parameters_pass(claim_id, overrides):
    r = result(claim_id, **overrides)
    assert r.status == "pass", {k: v.message for k, v in r.checks.items() if v.status != "pass"}


def test_frozen_invisible_block_at_zero_lambda_H():
    r = result("dyn.within_class", lambda_H=0)
    assert all(r.predicted[k] == 1.0 for k in r.predicted if k.startswith("invisible@"))


def test_default_horizon_spans_the_sigmoid():
    r = result("dyn.logistic")
    ps = [r.predicted[k] for k in r.predicted if k.startswith("p@")]
    assert ps[0] < 0.25 * r.predicted["p_inf"] and ps[-1] > 0.9 * r.predicted["p_inf"]


@pytest.mark.parametrize("claim_id,overrides,param", [
    ("dyn.balance", {"lambda_W": 0.05, "lambda_H": 0.01}, "lambda_H"),
    ("dyn.balance", {"lambda_W": -1}, "lambda_W"),
    ("dyn.balance", {"T": 0}, "T"),
    ("dyn.within_class", {"K": 4, "d": 4}, "d"),
    ("dyn.within_class", {"n": 1}, "n"),
    ("dyn.within_class", {"lambda_H": -0.1}, "lambda_H"),
    ("dyn.logistic", {"p0": 0}, "p0"),
    ("dyn.logistic", {"K": 5, "d": 4}, "d"),
    ("dyn.logistic", {"lambda_H": 0.1}, "lambda_H"),
    ("dyn.logistic", {"K": 1}, "K"),
    ("dyn.logistic", {"loss": 1}, "loss"),
])
def test_bad_parameters_name_the_parameter(claim_id, overrides, param):
    with pytest.raises(ParameterError) as err:
        registry.get(claim_id).resolve(overrides)
    assert err.value.name == param and f"parameter {param}" in str(err.value)


def test_coefficients_reads_single_and_product_terms():
    """_coefficients splits a matrix sum into {matrix part: scalar}: single-matrix terms (λ·W) and
    products (c·WᵀW) alike, with like terms collected."""
    lam = sp.Symbol("lam", positive=True)
    got = th._coefficients(lam * th.W_ + 3 * th.W_ - 2 * th.W_ * th.W_.T * th.W_)
    assert got == {th.W_: lam + 3, th.W_ * th.W_.T * th.W_: -2}
