"""Streamed NC statistics and metrics (benchmarks/metrics_stream.py, P4) at CI sizes."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ms():
    spec = importlib.util.spec_from_file_location("metrics_stream", ROOT / "benchmarks" / "metrics_stream.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_streamed_agrees_with_two_pass_reference(ms):
    """K=200, d=64, 20,000 samples in batches of 1000: statistics and every metric to 1e-10 (float64)."""
    diffs = ms.agreement(K=200, d=64, samples=20_000, batch=1000)
    assert len(diffs) == 19                      # 6 statistics + 13 metrics (NC4 included)
    bad = {k: v for k, v in diffs.items() if not v <= 1e-10}
    assert not bad, bad


def test_reference_comparison_can_fail(ms):
    """The relative difference used above sees a perturbation far below the tolerance's scale."""
    a = np.array([1.0, -2.0, 3.0])
    assert ms._rel(a * (1 + 1e-9), a) > 1e-10
    assert ms._rel(a, a) == 0.0


def test_stream_is_reproducible_and_covers_every_class(ms):
    syn = ms.Synthetic(K=30, d=4, samples=500, batch=64, seed=3)
    first = [(x.copy(), y.copy()) for x, y in syn.batches()]
    again = list(syn.batches())
    assert all(np.array_equal(x, x2) and np.array_equal(y, y2) for (x, y), (x2, y2) in zip(first, again))
    labels = np.concatenate([y for _, y in first])
    assert labels.size == 500 and np.all(np.bincount(labels, minlength=30) > 0)
    assert max(x.shape[0] for x, _ in first) == 64


def test_peak_memory_is_linear_not_quadratic(ms):
    """K=5000, d=32: a dense K×K float64 matrix would be 200 MB; the streamed run stays within a
    small multiple of 8·(K·d + d² + B·d + 128·K) bytes (tracemalloc peak over every phase)."""
    r = ms.run(K=5000, d=32, samples=10_000, batch=1024, nc4_samples=0)
    assert r["peak_bytes"] <= 8 * r["bound_bytes"], r["peak_bytes"]
    assert r["peak_bytes"] <= 0.2 * r["dense_KxK_bytes"]
    assert r["throughput_samples_s"] > 0 and np.isfinite(r["metrics"]["nc1"])
