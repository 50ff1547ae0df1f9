"""Tests for numerics.metrics (NC metrics) and simulations.features (torch front end)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from numerics.metrics import (
    ClassStats,
    NCAccumulator,
    cdnv,
    class_stats,
    gnc2,
    nc1,
    nc1_trace_ratio,
    nc2_equiangularity,
    nc2_equinorm,
    nc2_etf_error,
    nc3,
    nc4,
    nc_metrics,
    unc3,
)
from simulations.features import (
    accumulate_features,
    collect_features,
    nc_metrics_from_model,
)


# --------------------------------------------------------------------------- #
# Plain two-pass reference (simple loops, independent of the implementation)
# --------------------------------------------------------------------------- #
def ref_stats(X: np.ndarray, y: np.ndarray, K: int) -> dict:
    N, d = X.shape
    means = np.zeros((K, d))
    counts = np.zeros(K, dtype=int)
    for k in range(K):
        Xk = X[y == k]
        counts[k] = len(Xk)
        means[k] = Xk.mean(axis=0)
    mu_g = X.mean(axis=0)
    sw = np.zeros((d, d))
    var = np.zeros(K)
    for k in range(K):
        R = X[y == k] - means[k]
        sw += R.T @ R
        var[k] = np.mean(np.sum(R**2, axis=1))
    sw /= N
    sb = np.zeros((d, d))
    for k in range(K):
        c = means[k] - mu_g
        sb += np.outer(c, c)
    sb /= K
    return dict(means=means, counts=counts, mu_g=mu_g, sw=sw, sb=sb, var=var)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def ref_metrics(X: np.ndarray, y: np.ndarray, K: int, W: np.ndarray, b: np.ndarray) -> dict:
    r = ref_stats(X, y, K)
    C = r["means"] - r["mu_g"]
    out = {}
    out["nc1"] = np.trace(r["sw"] @ np.linalg.pinv(r["sb"], rcond=1e-10)) / K
    out["nc1_trace_ratio"] = np.trace(r["sw"]) / np.trace(r["sb"])

    def equinorm(V):
        norms = [np.linalg.norm(v) for v in V]
        return np.std(norms) / np.mean(norms)

    def angles(V):
        cos = [_cos(V[i], V[j]) for i in range(K) for j in range(K) if i != j]
        cos = np.array(cos)
        return np.mean(np.abs(cos + 1.0 / (K - 1))), np.std(cos)

    out["nc2_equinorm_means"] = equinorm(C)
    out["nc2_equinorm_classifier"] = equinorm(W)
    out["nc2_equiangularity_means"], out["nc2_cos_std_means"] = angles(C)
    out["nc2_equiangularity_classifier"] = angles(W)[0]
    G = C @ C.T
    T = (np.eye(K) - np.ones((K, K)) / K) / np.sqrt(K - 1)
    out["nc2_etf_error"] = np.linalg.norm(G / np.linalg.norm(G) - T)
    M = C.T
    out["nc3"] = np.linalg.norm(W.T / np.linalg.norm(W) - M / np.linalg.norm(M)) ** 2
    mism = 0
    for h in X:
        pred = int(np.argmax(W @ h + b))
        ncc = int(np.argmin([np.linalg.norm(h - m) for m in r["means"]]))
        mism += pred != ncc
    out["nc4"] = mism / len(X)
    vals = []
    for i in range(K):
        for j in range(i + 1, K):
            dist2 = np.sum((r["means"][i] - r["means"][j]) ** 2)
            vals.append((r["var"][i] + r["var"][j]) / (2 * dist2))
    out["cdnv"] = np.mean(vals)
    U = C / np.linalg.norm(C, axis=1, keepdims=True)
    logs = [
        np.log(1.0 / np.linalg.norm(U[i] - U[j])) for i in range(K) for j in range(i + 1, K)
    ]
    out["gnc2"] = np.var(logs)
    s = np.array([_cos(W[k], C[k]) for k in range(K)])
    out["unc3"] = np.std(s) / abs(np.mean(s))
    return out


def make_data(rng: np.random.Generator, K: int, d: int, counts: list[int], offset: float = 0.0):
    centers = rng.normal(size=(K, d)) * 2.0
    y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
    X = centers[y] + rng.normal(size=(len(y), d)) + offset
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


def stream(X: np.ndarray, y: np.ndarray, K: int, rng: np.random.Generator) -> ClassStats:
    """Feed the accumulator in uneven batches."""
    acc = NCAccumulator(K, X.shape[1])
    i = 0
    while i < len(X):
        step = int(rng.integers(1, 40))
        acc.update(X[i : i + step], y[i : i + step])
        i += step
    return acc.finalize()


def simplex_etf(K: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """(d, K) simplex ETF: sqrt(K/(K-1)) (I - J/K) rotated into R^d by a random orthogonal Q."""
    assert d >= K
    M = math.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return Q[:, :K] @ M, Q


def collapsed(K: int, d: int, n: int, rng: np.random.Generator, s: float = 3.0):
    """Exactly collapsed balanced features h = mu_G + s m_k, with mu_G ⟂ span{m_k}."""
    assert d > K
    E, Q = simplex_etf(K, d, rng)
    mu_g = 5.0 * Q[:, K:] @ rng.normal(size=d - K)
    y = np.repeat(np.arange(K), n)
    X = mu_g + s * E.T[y]
    perm = rng.permutation(len(y))
    return X[perm], y[perm], E, mu_g


# --------------------------------------------------------------------------- #
# Agreement with the reference
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "K,d,counts",
    [
        (2, 3, [5, 40]),
        (4, 10, [3, 17, 50, 8]),
        (7, 5, [10, 2, 30, 4, 25, 60, 9]),  # K > d: full-rank Sigma_B
        (12, 20, [int(v) for v in np.random.default_rng(1).integers(2, 30, size=12)]),
    ],
)
def test_agrees_with_two_pass_reference(K, d, counts):
    rng = np.random.default_rng(K * 100 + d)
    X, y = make_data(rng, K, d, counts, offset=3.0)
    W = rng.normal(size=(K, d)) + 0.5 * (ref_stats(X, y, K)["means"] - X.mean(0))
    b = rng.normal(size=K)
    stats = stream(X, y, K, rng)
    r = ref_stats(X, y, K)
    np.testing.assert_array_equal(stats.counts, r["counts"])
    for got, want in [
        (stats.means, r["means"]),
        (stats.global_mean, r["mu_g"]),
        (stats.sigma_w, r["sw"]),
        (stats.sigma_b, r["sb"]),
        (stats.within_var, r["var"]),
    ]:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    # feature batches with labels (tuples), uneven, for NC4
    batches = [(X[i : i + 13], y[i : i + 13]) for i in range(0, len(X), 13)]
    got = nc_metrics(stats, W, b, features=batches, block_size=3)
    want = ref_metrics(X, y, K, W, b)
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-10, abs=1e-13), key
    # small chunk sizes and array input give the same NC4
    assert nc4(X, y, W, b, stats.means, chunk_size=2, batch_size=7) == got["nc4"]


def test_nc4_nontrivial_and_ties():
    rng = np.random.default_rng(3)
    K, d = 5, 4
    X, y = make_data(rng, K, d, [30] * K)
    stats = class_stats(X, y)
    W = rng.normal(size=(K, d))
    value = nc4(X, W=W, means=stats)
    assert 0.0 < value <= 1.0
    # ties: duplicated classifier rows (equal bias) and duplicated means -> lowest index
    # in both argmax and argmin, so the predictions agree and NC4 = 0
    M = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    Wt = M.copy()
    Xt = np.array([[2.0, 0.0], [-2.0, 0.5], [0.5, 3.0], [1.0, 0.0]])
    assert nc4(Xt, W=Wt[[2, 0, 1]], means=M[[2, 0, 1]]) == 0.0
    # if argmin broke ties to the highest index, a mismatch would appear here
    assert nc4(Xt, W=Wt, b=np.array([0.0, 1e-3, 0.0]), means=M) == pytest.approx(3 / 4)
    assert nc4(Xt, W=Wt, b=np.zeros(3), means=M) == 0.0
    assert nc4(Xt, W=Wt, b=np.zeros(3), means=M, chunk_size=1) == 0.0


def test_class_stats_matches_accumulator_and_float32():
    rng = np.random.default_rng(4)
    X, y = make_data(rng, 3, 4, [20, 30, 40])
    a = class_stats(X, y, 3)
    b = class_stats(X.astype(np.float32), y.astype(np.int32), 3, batch_size=11)
    assert b.means.dtype == np.float64 and b.sigma_w.dtype == np.float64
    X32 = X.astype(np.float32).astype(np.float64)
    c = class_stats(X32, y, 3)
    np.testing.assert_allclose(b.sigma_w, c.sigma_w, rtol=1e-12)
    np.testing.assert_allclose(a.sigma_b, c.sigma_b, rtol=1e-5)
    with pytest.raises(ValueError):
        a.means[0, 0] = 1.0  # read-only


# --------------------------------------------------------------------------- #
# Ideal values on exactly collapsed features, and a negative control
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("K,d", [(3, 5), (6, 9), (10, 16)])
def test_ideal_collapse(K, d):
    rng = np.random.default_rng(K)
    X, y, E, _ = collapsed(K, d, 7, rng)
    stats = class_stats(X, y, K)
    W = 0.7 * (stats.means - stats.global_mean)  # c * M~^T
    m = nc_metrics(stats, W, np.zeros(K), features=X)
    # Sigma_W is exactly zero: every sample equals its class shift
    assert np.all(stats.sigma_w == 0.0)
    assert m["nc1"] == 0.0 and m["cdnv"] == 0.0 and m["nc1_trace_ratio"] == 0.0
    tol = 1e-12
    for key in [
        "nc2_equinorm_means",
        "nc2_equinorm_classifier",
        "nc2_equiangularity_means",
        "nc2_equiangularity_classifier",
        "nc2_cos_std_means",
        "nc2_etf_error",
        "nc3",
        "unc3",
    ]:
        assert abs(m[key]) < tol, (key, m[key])
    assert m["gnc2"] < 1e-24
    assert m["nc4"] == 0.0
    assert unc3(stats, W, normalize=False) < tol


def test_negative_control_breaks_ideal_values():
    K, d = 6, 9
    rng = np.random.default_rng(0)
    X, y, E, _ = collapsed(K, d, 7, rng)
    W = 0.7 * class_stats(X, y, K).centered_means
    X2 = X.copy()
    X2[y == 0] += 0.8 * rng.normal(size=d)  # perturb one class mean
    X2 += 0.05 * rng.normal(size=X2.shape)  # and add within-class spread
    stats = class_stats(X2, y, K)
    m = nc_metrics(stats, W, np.zeros(K), features=X2)
    assert m["nc1"] > 1e-4 and m["cdnv"] > 1e-4
    for key in ["nc2_equinorm_means", "nc2_equiangularity_means", "nc2_cos_std_means"]:
        assert m[key] > 1e-3, key
    assert m["nc2_etf_error"] > 1e-2
    assert m["nc3"] > 1e-3
    assert m["unc3"] > 1e-3
    assert m["gnc2"] > 1e-5
    # a biased classifier breaks NC4
    b = np.zeros(K)
    b[2] = 100.0
    assert nc4(X2, W=W, b=b, means=stats) > 0.5


# --------------------------------------------------------------------------- #
# Stability on nearly collapsed features with a large offset
# --------------------------------------------------------------------------- #
def test_stability_nearly_collapsed_large_offset():
    rng = np.random.default_rng(11)
    K, d, n = 5, 8, 200
    E, _ = simplex_etf(K, d, rng)
    y = rng.permutation(np.repeat(np.arange(K), n))
    offset = 1e3
    X = offset + E.T[y] + 1e-6 * rng.normal(size=(len(y), d))
    r = ref_stats(X, y, K)
    stats = stream(X, y, K, rng)
    # the two-pass reference is itself only good to ~eps*offset/1e-6 ~ 1e-7 relative
    np.testing.assert_allclose(stats.within_var, r["var"], rtol=1e-6)
    np.testing.assert_allclose(
        stats.sigma_w, r["sw"], rtol=1e-6, atol=1e-6 * np.abs(r["sw"]).max()
    )
    assert nc1(stats) == pytest.approx(
        np.trace(r["sw"] @ np.linalg.pinv(r["sb"], rcond=1e-10)) / K, rel=1e-6
    )
    assert cdnv(stats) > 0
    # a naive one-pass E[hh^T] - mu mu^T formula fails completely here
    naive = X.T @ X / len(X) - np.outer(X.mean(0), X.mean(0)) - r["sb"]  # balanced: Sigma_T = Sigma_W + Sigma_B
    rel_err_naive = np.abs(naive - r["sw"]).max() / np.abs(r["sw"]).max()
    assert rel_err_naive > 1e-2


# --------------------------------------------------------------------------- #
# Invariances and non-negativity
# --------------------------------------------------------------------------- #
def test_invariances():
    rng = np.random.default_rng(5)
    K, d = 6, 8
    X, y = make_data(rng, K, d, [10, 20, 15, 30, 12, 25])
    W = rng.normal(size=(K, d))
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    c = rng.normal(size=d) * 10
    base = class_stats(X, y)
    aff = class_stats(2.5 * X @ Q.T + c, y)
    rot = class_stats(X @ Q.T, y)
    assert nc1(aff) == pytest.approx(nc1(base), rel=1e-9)
    assert nc1_trace_ratio(aff) == pytest.approx(nc1_trace_ratio(base), rel=1e-9)
    assert cdnv(aff) == pytest.approx(cdnv(base), rel=1e-9)
    Wr = W @ Q.T
    for f in (nc2_equinorm, lambda s: nc2_equiangularity(s)[0], lambda s: nc2_equiangularity(s)[1],
              nc2_etf_error, gnc2):
        assert f(rot) == pytest.approx(f(base), rel=1e-9, abs=1e-14)
    assert nc3(rot, Wr) == pytest.approx(nc3(base, W), rel=1e-9)
    assert unc3(rot, Wr) == pytest.approx(unc3(base, W), rel=1e-9)
    assert nc2_equinorm(Wr) == pytest.approx(nc2_equinorm(W), rel=1e-9)


def test_nc1_nonnegative():
    rng = np.random.default_rng(6)
    for trial in range(30):
        K = int(rng.integers(2, 9))
        d = int(rng.integers(1, 12))
        counts = [int(v) for v in rng.integers(1, 6, size=K)]
        X, y = make_data(rng, K, d, counts)
        if trial % 3 == 0:  # nearly degenerate means / rank-deficient Sigma_B
            X = X.copy()
            X[:, 0] *= 1e-9
        stats = class_stats(X, y, K)
        assert nc1(stats) >= 0.0
        assert nc1_trace_ratio(stats) >= 0.0
    # features collapsed onto their means -> Sigma_W round-off only, NC1 stays >= 0
    X, y, _, _ = collapsed(4, 6, 5, rng)
    X = X + 1e-12 * rng.normal(size=X.shape)
    assert nc1(class_stats(X, y)) >= 0.0


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
def _err(match, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)


def test_errors():
    X = np.zeros((4, 3))
    y = np.array([0, 1, 1, 0])
    _err("num_classes", NCAccumulator, 1, 3)
    _err("num_classes", class_stats, X, np.zeros(4, dtype=int))
    _err("dim", NCAccumulator, 2, 0)
    acc = NCAccumulator(3, 3)
    Xn = X.copy()
    Xn[1, 2] = np.nan
    _err("features", acc.update, Xn, y)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    _err("features", acc.update, Xi, y)
    _err("features", acc.update, np.zeros((4, 2)), y)  # wrong dim
    _err("features", acc.update, np.zeros(4), y)  # not 2-D
    _err("labels", acc.update, X, y[:3])  # mismatched length
    _err("labels", acc.update, X, y[:, None])  # wrong ndim
    _err("labels", acc.update, X, np.array([0, 1, 3, 0]))  # out of range
    _err("labels", acc.update, X, np.array([0, -1, 1, 0]))
    _err("labels", acc.update, X, y.astype(float))  # non-integer
    acc.update(X, y)
    with pytest.raises(ValueError, match=r"empty class: classes \[2\] have no samples"):
        acc.finalize()
    acc2 = NCAccumulator(8, 3)
    acc2.update(X + np.arange(4)[:, None], np.array([0, 1, 2, 4]))
    with pytest.raises(ValueError, match=r"classes \[3, 5, 6, 7\]"):
        acc2.finalize()
    stats = class_stats(np.arange(12.0).reshape(4, 3) ** 2, y)
    _err("W", nc3, stats, np.ones((3, 3)))
    _err("W", nc4, X, W=np.ones((2, 2)), means=stats)
    _err("b", nc4, X, W=np.ones((2, 3)), b=np.ones(3), means=stats)
    _err("features", nc4, np.ones((4, 5)), W=np.ones((2, 3)), means=stats)
    _err("labels", nc4, X, np.zeros(3, dtype=int), W=np.ones((2, 3)), means=stats)


# --------------------------------------------------------------------------- #
# Memory shape
# --------------------------------------------------------------------------- #
def test_accumulator_memory_shapes():
    K, d = 5000, 16
    rng = np.random.default_rng(7)
    acc = NCAccumulator(K, d)
    y = rng.integers(0, K, size=20000)
    acc.update(rng.normal(size=(20000, d)), y)
    arrays = [v for v in vars(acc).values() if isinstance(v, np.ndarray)]
    assert arrays
    for a in arrays:
        assert a.size <= max(K * d, d * d), a.shape
        assert a.ndim <= 2 and (a.shape in {(K, d), (d, d)} or a.ndim == 1)
        assert a.shape[0] in (K, d)


# --------------------------------------------------------------------------- #
# Torch front end
# --------------------------------------------------------------------------- #
def _tiny_model(K: int = 4, din: int = 6, hidden: int = 8) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(din, hidden), nn.ReLU(), nn.Linear(hidden, K))


def _torch_batches(K: int = 4, din: int = 6, n: int = 90, bs: int = 16):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, din, generator=g)
    y = torch.arange(n) % K
    return [(x[i : i + bs], y[i : i + bs]) for i in range(0, n, bs)], x, y


def test_hook_features_match_hand_computation():
    model = _tiny_model()
    batches, x, y = _torch_batches()
    got = list(collect_features(model, model[1], batches, device="cpu"))
    feats = np.concatenate([f for f, _ in got])
    labels = np.concatenate([lab for _, lab in got])
    with torch.no_grad():
        hand = torch.relu(x @ model[0].weight.T + model[0].bias).double().numpy()
    assert feats.dtype == np.float64
    np.testing.assert_allclose(feats, hand, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(labels, y.numpy())
    assert len(model[1]._forward_hooks) == 0


def test_nc_metrics_from_model_matches_numpy():
    K = 4
    model = _tiny_model(K)
    batches, x, y = _torch_batches(K)
    with torch.no_grad():
        feats = model[1](model[0](x)).double().numpy()
    stats_np = class_stats(feats, y.numpy(), K)
    W = model[2].weight.detach().double().numpy()
    b = model[2].bias.detach().double().numpy()
    want = nc_metrics(stats_np, W, b, features=feats)
    got = nc_metrics_from_model(model, model[1], model[2], batches, K, device="auto")
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key
    stats_t = accumulate_features(model, model[1], batches, K)
    np.testing.assert_allclose(stats_t.sigma_w, stats_np.sigma_w, rtol=1e-9, atol=1e-14)
    assert len(model[1]._forward_hooks) == 0
    assert model.training  # train/eval flags restored


def test_front_end_errors_and_hook_cleanup():
    K = 4
    model = _tiny_model(K)
    batches, _, _ = _torch_batches(K)

    def failing():
        yield batches[0]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        accumulate_features(model, model[1], failing(), K)
    assert len(model[1]._forward_hooks) == 0

    _err("batches", nc_metrics_from_model, model, model[1], model[2], iter(batches), K)
    _err("layer", collect_features, model, nn.ReLU(), batches)
    _err("classifier", nc_metrics_from_model, model, model[1], model[0], batches, K)
    if not torch.cuda.is_available():
        _err("device", collect_features, model, model[1], batches, device="cuda")

    bad = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, K))
    with torch.no_grad():
        bad[0].bias[0] = float("nan")
    gen = collect_features(bad, bad[1], batches)
    with pytest.raises(ValueError, match="features"):
        next(gen)
    assert len(bad[1]._forward_hooks) == 0


# --------------------------------------------------------------------------- #
# Blocked reductions, degenerate cases
# --------------------------------------------------------------------------- #
def test_block_size_independence_and_key_sets():
    rng = np.random.default_rng(8)
    K, d = 150, 6  # K > d: many classes, several row blocks
    X, y = make_data(rng, K, d, [3] * K)
    stats = class_stats(X, y, K)
    W = rng.normal(size=(K, d))
    a = nc_metrics(stats, W, features=X, block_size=7, chunk_size=11)
    b = nc_metrics(stats, W, features=X)
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-11, abs=1e-14), key
    only_stats = nc_metrics(stats)
    assert set(only_stats) == {
        "nc1", "nc1_trace_ratio", "nc2_equinorm_means", "nc2_equiangularity_means",
        "nc2_cos_std_means", "nc2_etf_error", "cdnv", "gnc2",
    }
    assert "nc4" not in nc_metrics(stats, W)
    assert set(b) == set(only_stats) | {
        "nc2_equinorm_classifier", "nc2_equiangularity_classifier", "nc3", "unc3", "nc4",
    }


def test_coincident_means():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 1.0], [3.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([0, 0, 1, 1, 2, 2])  # classes 0 and 2 share the mean (0.5, 0.5)
    stats = class_stats(X, y)
    assert cdnv(stats) == math.inf
    assert gnc2(stats) == math.inf
    same = class_stats(np.ones((4, 2)), np.array([0, 1, 0, 1]))
    _err("sigma_b", nc1, same)
    _err("sigma_b", nc1_trace_ratio, same)


def test_empty_batches_and_generator_inputs():
    rng = np.random.default_rng(9)
    X, y = make_data(rng, 3, 4, [5, 6, 7])
    acc = NCAccumulator(3, 4)
    acc.update(np.zeros((0, 4)), np.array([]))
    acc.update(X, y)
    stats = acc.finalize()
    W = rng.normal(size=(3, 4))
    from_gen = nc4((X[i : i + 4] for i in range(0, len(X), 4)), W=W, means=stats)
    assert from_gen == nc4(X, W=W, means=stats.means)
    _err("features", nc4, iter([]), W=W, means=stats)


def test_hook_removed_when_generator_closed_early():
    model = _tiny_model()
    batches, _, _ = _torch_batches()
    gen = collect_features(model, model[1], batches)
    feats, labels = next(gen)
    assert feats.shape == (16, 8) and labels.shape == (16,)
    assert len(model[1]._forward_hooks) == 1
    gen.close()
    assert len(model[1]._forward_hooks) == 0
    assert torch.is_grad_enabled()  # no_grad is not left active across yields


# ------------------------------------------------------------------ guards at their boundaries (mutation survivors)
def test_block_size_one_is_the_smallest_valid_block():
    """block_size = 1 (one row of G at a time) is valid and gives the same ETF error and CDNV as the
    default block; 0 is refused, naming block_size."""
    from numerics import metrics as nm

    rng = np.random.default_rng(11)
    y = np.repeat(np.arange(4), 3)
    stats = nm.class_stats(rng.standard_normal((12, 5)) + 3 * np.eye(5)[y], y)
    for fn in (nm.nc2_etf_error, nm.cdnv):
        assert fn(stats, block_size=1) == pytest.approx(fn(stats), rel=1e-12)
        with pytest.raises(ValueError, match="block_size"):
            fn(stats, block_size=0)


def test_too_many_classes_names_the_culprit():
    """More classes than samples: blamed on the labels when K was inferred from them (a label too
    large), on num_classes when the caller passed a K the labels do not reach."""
    from numerics import metrics as nm

    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"^labels: 5 classes but only 3 samples"):
        nm.class_stats(X, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"^num_classes: 4 classes but only 3 samples"):
        nm.class_stats(X, np.array([0, 1, 2]), num_classes=4)
