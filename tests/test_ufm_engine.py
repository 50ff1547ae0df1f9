"""Unit tests of the batched UFM engine (simulations/ufm.py) against independent references:
autograd of the objective, closed-form optima (THEORY.md §3, §4), exact gradient-flow
solutions (THEORY.md §8), and the engine's own per-configuration runs."""
import math

import numpy as np
import pytest
import torch

from simulations.ufm import UFM, descend, flow, minimize

CPU = "cpu"


def _random_state(u: UFM, seed: int, scale: float = 2.0) -> torch.Tensor:
    """A generic point: Gaussian W, H and (unlike init) a nonzero bias."""
    x = u.init(seed, scale=scale)
    gen = torch.Generator().manual_seed(seed + 1)
    x[:, u.P - u.K:] = torch.randn(u.S, u.K, generator=gen, dtype=x.dtype)
    return x


# ---------------------------------------------------------------------- gradient
@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("bias", [True, False])
def test_gradient_equals_autograd(loss, bias):
    # imbalanced counts, d < K, batched lambdas including 0: nothing special about the point
    u = UFM(loss, 4, 3, [2, 1, 3, 2], lambda_W=[0.0, 1e-2, 0.3], lambda_H=[0.2, 0.0, 1e-3],
            lambda_b=[1e-2, 0.5, 0.0], bias=bias, device=CPU)
    x = _random_state(u, 11)
    f, g = u.value_and_grad(x)
    xa = x.clone().requires_grad_(True)
    fa = u.objective(xa)
    (ga,) = torch.autograd.grad(fa.sum(), xa)
    fa = fa.detach()
    scale = max(1.0, float(ga.abs().max()))
    assert float((g - ga).abs().max()) <= 1e-14 * scale, float((g - ga).abs().max())
    assert float((f - fa).abs().max()) <= 1e-14 * float(fa.abs().max())
    if not bias:
        assert float(g[:, u.P - u.K:].abs().max()) == 0.0     # b is not a variable


def test_value_and_grad_leaves_input_untouched():
    u = UFM("ce", 3, 4, 2, lambda_W=1e-2, lambda_H=1e-2, lambda_b=1e-2, device=CPU)
    x = _random_state(u, 3)
    x0 = x.clone()
    u.value_and_grad(x)
    assert torch.equal(x, x0)


# ---------------------------------------------------------------------- minimize vs closed forms
def _ce_optimum(K, n, lW, lH):
    """THEORY.md §3: f* = −log(1 − (K−1)η) + (K−1)η·log(1/η − (K−1)), η = √(nλ_Wλ_H), Kη < 1."""
    eta = math.sqrt(n * lW * lH)
    assert K * eta < 1
    return -math.log(1 - (K - 1) * eta) + (K - 1) * eta * math.log(1 / eta - (K - 1))


def _mse_nobias_optimum(K, n, lW, lH):
    """THEORY.md §4 (no bias, d ≥ K): L* = ½(1 − p)² + Kηp, p = (1 − Kη)₊."""
    eta = math.sqrt(n * lW * lH)
    p = max(0.0, 1 - K * eta)
    return 0.5 * (1 - p) ** 2 + K * eta * p


def test_minimize_ce_reaches_closed_form():
    K, n, d = 4, 3, 4
    lW, lH, lb = [5e-3, 1e-2, 2e-2], [5e-3, 2e-2, 1e-2], [1e-2, 1e-3, 0.1]
    u = UFM("ce", K, d, n, lambda_W=lW, lambda_H=lH, lambda_b=lb, device=CPU)
    r = minimize(u, u.init(5), gtol=1e-10)
    assert r.all_converged, r.describe()
    expected = np.array([_ce_optimum(K, n, a, c) for a, c in zip(lW, lH)])
    np.testing.assert_allclose(r.f, expected, rtol=1e-9)


def test_minimize_mse_nobias_reaches_closed_form():
    K, n, d = 3, 2, 4
    lam = [1e-2, 3e-2, 5e-2]
    u = UFM("mse", K, d, n, lambda_W=lam, lambda_H=lam[::-1], bias=False, device=CPU)
    r = minimize(u, u.init(6), gtol=1e-10)
    assert r.all_converged, r.describe()
    expected = np.array([_mse_nobias_optimum(K, n, a, c) for a, c in zip(lam, lam[::-1])])
    np.testing.assert_allclose(r.f, expected, rtol=1e-9)


def test_minimize_reports_unconverged_run():
    u = UFM("ce", 4, 4, 3, lambda_W=5e-3, lambda_H=5e-3, lambda_b=1e-2, S=2, device=CPU)
    r = minimize(u, u.init(1), gtol=1e-10, gd_steps=2, lbfgs_steps=0)
    assert not r.converged.any() and not r.all_converged
    assert r.gd_steps == 2 and r.lbfgs_steps == 0
    assert np.all(r.grad_norm > 1e-10)
    assert r.summary()["converged"] is False
    assert "NOT converged" in r.describe()


# ---------------------------------------------------------------------- flow vs exact solutions
def _logistic(t, p0, K, n, lam):
    """p(t) for ṗ = (2/(K√n)) p (p∞ − p), p∞ = 1 − K√n λ (THEORY.md §8 dyn.logistic; re-derived:
    along W = aQᵀ, H = bQY with a² = n b², p = ab, the bias-free MSE flow is ȧ = (1−p)b/K − λa,
    ḃ = (1−p)a/N − λb)."""
    pinf = 1 - K * math.sqrt(n) * lam
    r = 2 * pinf / (K * math.sqrt(n))
    return pinf / (1 + (pinf / p0 - 1) * np.exp(-r * np.asarray(t)))


def _exact_logistic_states(u: UFM, times, p0, lam) -> np.ndarray:
    """The exact flow states (T×P) of the bias-free MSE UFM ``u`` from the collapsed aligned start."""
    K, d, n = u.K, u.d, u.counts[0]
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((d, K)))   # d×K, orthonormal columns
    Y = np.kron(np.eye(K), np.ones((1, n)))
    out = []
    for p in _logistic(times, p0, K, n, lam):
        a, b = math.sqrt(math.sqrt(n) * p), math.sqrt(p / math.sqrt(n))
        out.append(np.concatenate([(a * Q.T).ravel(), (b * Q @ Y).ravel(), np.zeros(K)]))
    return np.array(out)


def test_flow_matches_exact_logistic_solution():
    K, n, d, lam, p0 = 3, 2, 4, 2e-2, 0.05
    u = UFM("mse", K, d, n, lambda_W=lam, lambda_H=lam, bias=False, device=CPU)
    times = np.array([0.0, 1.0, 5.0, 20.0])
    exact = _exact_logistic_states(u, times, p0, lam)
    tr = flow(u, u.tensor(exact[:1]), times, rtol=1e-10, atol=1e-12)
    err = np.abs(tr.x[:, 0, :] - exact).max() / np.abs(exact).max()
    assert err < 1e-8, err
    # the start is not at rest: p moves from 0.05 most of the way to p∞ ≈ 0.915
    assert _logistic(20.0, p0, K, n, lam) > 0.8


def test_descend_converges_to_the_flow_at_first_order():
    K, n, d, lam, p0, T = 3, 2, 4, 2e-2, 0.05, 4.0
    u = UFM("mse", K, d, n, lambda_W=lam, lambda_H=lam, bias=False, device=CPU)
    exact = _exact_logistic_states(u, [0.0, T], p0, lam)
    errs = []
    for lr in (2e-2, 1e-2):
        tr = descend(u, u.tensor(exact[:1]), lr, round(T / lr))
        assert tr.times[-1] == pytest.approx(T)
        errs.append(np.abs(tr.x[-1, 0] - exact[1]).max())
    assert 1.8 < errs[0] / errs[1] < 2.2, errs      # Euler: global error O(lr)
    assert errs[1] < 1e-2


def test_flow_conserves_the_balance_law():
    # THEORY.md §8 dyn.balance: λ_W = λ_H = λ gives WᵀW − HHᵀ = e^{−2λt}(WᵀW − HHᵀ)(0), any loss and bias
    lam = 0.05
    u = UFM("ce", 3, 4, 2, lambda_W=lam, lambda_H=lam, lambda_b=0.1, device=CPU)
    x0 = _random_state(u, 4, scale=1.0)
    times = [0.0, 2.0, 10.0]
    tr = flow(u, x0, times)
    gram = []
    for k in range(len(times)):
        W, H, _ = u.unpack(torch.as_tensor(tr.x[k]))
        gram.append((W[0].T @ W[0] - H[0] @ H[0].T).numpy())
    for k, t in enumerate(times):
        err = np.abs(gram[k] - math.exp(-2 * lam * t) * gram[0]).max() / np.abs(gram[0]).max()
        assert err < 1e-8, (t, err)
    assert tr.f[-1, 0] < tr.f[0, 0]     # and it did move


# ---------------------------------------------------------------------- input validation
def _small():
    return UFM("ce", 3, 2, 2, lambda_W=1e-2, lambda_H=1e-2, device=CPU)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("run", ["flow", "descend", "minimize"])
def test_non_finite_start_is_rejected(run, bad):
    u = _small()
    x = u.init(0)
    x[0, 1] = bad
    call = {"flow": lambda: flow(u, x, [1.0]), "descend": lambda: descend(u, x, 0.1, 3),
            "minimize": lambda: minimize(u, x)}[run]
    with pytest.raises(ValueError, match=r"^x: .*NaN or inf"):
        call()


@pytest.mark.parametrize("kwargs, name", [
    (dict(loss="ce", K=3, d=2, counts=2, lambda_W=-1e-3), "lambda_W"),
    (dict(loss="mse", K=3, d=2, counts=2, lambda_H=-1.0), "lambda_H"),
    (dict(loss="ce", K=3, d=2, counts=2, lambda_b=[0.1, -0.1]), "lambda_b"),
    (dict(loss="ce", K=3, d=2, counts=2, lambda_W=float("nan")), "lambda_W"),
    (dict(loss="ce", K=1, d=2, counts=2), "K="),
    (dict(loss="ce", K=3, d=0, counts=2), "d="),
    (dict(loss="ce", K=3, d=2, counts=[2, 0, 1]), "counts"),
    (dict(loss="ce", K=3, d=2, counts=[2, 1]), "counts"),
    (dict(loss="hinge", K=3, d=2, counts=2), "loss="),
])
def test_bad_problem_is_rejected(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        UFM(**kwargs, device=CPU)


@pytest.mark.parametrize("times", [[], [1.0, 0.5], [-1.0, 1.0], [0.5, 0.5], [[0.0, 1.0]]])
def test_flow_rejects_bad_times(times):
    u = _small()
    with pytest.raises(ValueError, match="^times"):
        flow(u, u.init(0), times)


def test_bad_step_and_shape_arguments_are_rejected():
    u = _small()
    x = u.init(0)
    with pytest.raises(ValueError, match="^lr="):
        descend(u, x, 0.0, 3)
    with pytest.raises(ValueError, match="^steps="):
        descend(u, x, 0.1, -1)
    with pytest.raises(ValueError, match="^rtol="):
        flow(u, x, [1.0], rtol=0.0)
    with pytest.raises(ValueError, match="^x: expected shape"):
        descend(u, x[:, :-1], 0.1, 3)
    with pytest.raises(ValueError, match="^gtol="):
        minimize(u, x, gtol=-1.0)


# ---------------------------------------------------------------------- determinism and batching
def test_same_seed_same_result():
    u = UFM("ce", 3, 3, 2, lambda_W=[1e-2, 2e-2], lambda_H=1e-2, lambda_b=1e-2, device=CPU)
    assert torch.equal(u.init(7), u.init(7))
    assert not torch.equal(u.init(7), u.init(8))
    r1, r2 = minimize(u, u.init(7)), minimize(u, u.init(7))
    assert torch.equal(r1.x, r2.x) and np.array_equal(r1.f, r2.f)
    t1, t2 = flow(u, u.init(7), [0.5, 1.0]), flow(u, u.init(7), [0.5, 1.0])
    assert np.array_equal(t1.x, t2.x) and t1.steps == t2.steps


@pytest.mark.parametrize("loss, bias, counts", [("ce", True, [2, 3, 1]), ("mse", False, 2)])
def test_batched_run_equals_per_config_runs(loss, bias, counts):
    lW, lH, lb = [5e-3, 2e-2, 5e-2], [5e-2, 5e-3, 2e-2], [0.0, 1e-2, 0.1]
    kw = dict(bias=bias, device=CPU)
    u = UFM(loss, 3, 4, counts, lambda_W=lW, lambda_H=lH, lambda_b=lb, **kw)
    x0 = u.init(9)
    batched_gd = descend(u, x0, 0.5, 200)
    batched_min = minimize(u, x0, gtol=1e-10)
    assert batched_min.all_converged, batched_min.describe()
    for s in range(3):
        one = UFM(loss, 3, 4, counts, lambda_W=lW[s], lambda_H=lH[s], lambda_b=lb[s], **kw)
        gd = descend(one, x0[s:s + 1], 0.5, 200)
        assert np.abs(gd.x[-1, 0] - batched_gd.x[-1, s]).max() <= 1e-12
        assert abs(gd.f[-1, 0] - batched_gd.f[-1, s]) <= 1e-12
        m = minimize(one, x0[s:s + 1], gtol=1e-10)
        assert m.all_converged
        assert float((m.x[0] - batched_min.x[s]).abs().max()) <= 1e-12
        assert abs(m.f[0] - batched_min.f[s]) <= 1e-12


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_cuda_matches_cpu(loss):
    """The same batched problem on both devices: same start (seeded on the CPU), same optimum."""
    runs = {}
    for dev in ("cpu", "cuda"):
        u = UFM(loss, 4, 5, 3, lambda_W=[5e-3, 1e-2], lambda_H=5e-3, lambda_b=5e-3, device=dev)
        x0 = u.init(7)
        r = minimize(u, x0, gtol=1e-10)
        tr = flow(u, x0, [0.5, 2.0])
        runs[dev] = (r, tr, str(u.device))
    (rc, tc, _), (rg, tg, devg) = runs["cpu"], runs["cuda"]
    assert devg.startswith("cuda") and rg.all_converged and rc.all_converged
    assert np.allclose(rc.f, rg.f, rtol=1e-12, atol=0)
    assert np.allclose(tc.x, tg.x, rtol=1e-9, atol=1e-12)
