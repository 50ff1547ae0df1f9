"""P4: neural-collapse metrics of many classes, streamed in batches through ``NCAccumulator``.

Synthetic features h = μ_y + σ·ε (class means μ_k: a common offset plus N(0, 1) entries; ε standard
normal; σ = 0.5), generated batch by batch from a seeded generator (batch j from
``default_rng([seed, j])``) and never stored whole.  Labels: sample i < K has label i (every class
is seen), the others are uniform.  A classifier W = centred means + noise and a bias b make the
classifier metrics (NC2 of W, NC3, UNC3, NC4) meaningful.

Phases, each timed and with its own tracemalloc peak:
  stream    generate each batch, ``NCAccumulator.update`` (throughput in samples/s, with the time
            spent in ``update`` alone reported separately from the generation);
  finalize  ``NCAccumulator.finalize`` → ClassStats;
  metrics   ``nc_metrics(stats, W, b)`` (NC1, NC2, ETF error, CDNV, GNC2, NC3, UNC3);
  nc4       ``nc4`` streamed over the first ``--nc4-samples`` samples (regenerated), in
            sub-batches of 1024 samples and class chunks of 1024 (O(1024²) memory).

Memory: ``tracemalloc`` traces every numpy data buffer (numpy reports its allocations to it), so its
peak is the peak of numpy + Python heap memory during the run (BLAS work buffers excluded);
the peak resident set (whole process, the kernel's high-water mark: VmHWM from /proc/self/status,
``ru_maxrss`` where /proc is absent) is reported as its increase over the value before the run.
The peak is compared with the bound 8·(K·d + d² + B·d + 128·K) bytes — O(K·d + d² + batch·d),
plus the 128-row blocks of the pairwise reductions — and with what one dense K×K or B×K float64
matrix would take.

Agreement: on a subsample (K=200, d=64, 20,000 samples; skipped with ``--no-check``) the streamed statistics and
metrics are compared with a two-pass reference written here (class means, then deviations; dense
K×K pairwise formulas, pinv for NC1); every relative difference must be ≤ 1e-10 (float64).

    PYTHONPATH=. python benchmarks/metrics_stream.py [--quick] [--K 50000 --d 1024 --samples 1000000]
                                                     [--batch 8192] [--nc4-samples N] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

from numerics.metrics import NCAccumulator, nc4, nc_metrics

SIZES = {  # K, d, samples, batch, nc4 samples
    "full": (50_000, 1024, 1_000_000, 8192, 2_000),
    "quick": (5_000, 256, 100_000, 4096, 10_000),
}
CHECK = (200, 64, 20_000, 1000)     # K, d, samples, batch of the agreement check
AGREEMENT_TOL = 1e-10
OFFSET, SIGMA = 3.0, 0.5
BLOCK = 128                          # numerics.metrics.DEFAULT_BLOCK_SIZE (pairwise row blocks)
NC4_BLOCK = 1024                     # NC4: 1024-sample sub-batches × 1024-class chunks


# ---------------------------------------------------------------------- synthetic stream
class Synthetic:
    """Seeded class means, classifier and a reproducible stream of (features, labels) batches."""

    def __init__(self, K: int, d: int, samples: int, batch: int, seed: int = 0):
        self.K, self.d, self.samples, self.batch, self.seed = K, d, samples, batch, seed
        rng = np.random.default_rng([seed, 2**31])
        self.means = OFFSET + rng.standard_normal((K, d))
        self.W = self.means - self.means.mean(axis=0)
        self.W += 0.3 * rng.standard_normal((K, d))
        self.b = 0.1 * rng.standard_normal(K)

    def batches(self, limit: int | None = None):
        """Yield (features (B, d), labels (B,)); only one batch exists at a time."""
        total = self.samples if limit is None else min(limit, self.samples)
        for j, i0 in enumerate(range(0, total, self.batch)):
            i1 = min(i0 + self.batch, total)
            rng = np.random.default_rng([self.seed, j])
            y = rng.integers(0, self.K, i1 - i0)
            first = np.arange(i0, min(i1, self.K))            # sample i < K has label i
            y[:first.size] = first
            X = rng.standard_normal((i1 - i0, self.d))
            X *= SIGMA
            X += self.means[y]
            yield X, y


# ---------------------------------------------------------------------- two-pass reference
def reference_stats(X: np.ndarray, y: np.ndarray, K: int) -> dict:
    """Class statistics by two passes over in-memory data: means, then deviations."""
    N, d = X.shape
    counts = np.bincount(y, minlength=K)
    sums = np.zeros((K, d))
    np.add.at(sums, y, X)
    means = sums / counts[:, None]
    gmean = X.mean(axis=0)
    R = X - means[y]                                           # second pass
    C = means - gmean
    return {"counts": counts, "means": means, "global_mean": gmean, "sigma_w": R.T @ R / N,
            "sigma_b": C.T @ C / K, "within_var": np.bincount(y, np.einsum("ij,ij->i", R, R), K) / counts}


def _pairs(K):
    return np.triu_indices(K, k=1)


def reference_metrics(ref: dict, W: np.ndarray, b: np.ndarray, X: np.ndarray) -> dict:
    """The NC metrics by their dense textbook formulas (K×K matrices, pinv, direct differences)."""
    K = ref["means"].shape[0]
    C = ref["means"] - ref["global_mean"]
    iu = _pairs(K)

    def cos_stats(V):
        U = V / np.linalg.norm(V, axis=1, keepdims=True)
        cos = (U @ U.T)[iu]
        return float(np.mean(np.abs(cos + 1 / (K - 1)))), float(np.std(cos))

    def equinorm(V):
        nrm = np.linalg.norm(V, axis=1)
        return float(nrm.std() / nrm.mean())

    G = C @ C.T
    E = G / np.linalg.norm(G) - (np.eye(K) - 1 / K) / np.sqrt(K - 1)
    diff2 = np.sum((C[:, None, :] - C[None, :, :]) ** 2, axis=2)[iu]
    var = ref["within_var"]
    U = C / np.linalg.norm(C, axis=1, keepdims=True)
    udist = np.linalg.norm(U[:, None, :] - U[None, :, :], axis=2)[iu]
    Wn = W / np.linalg.norm(W)
    s = np.einsum("ij,ij->i", W / np.linalg.norm(W, axis=1, keepdims=True), U)
    eq_m, std_m = cos_stats(C)
    pred = np.argmax(X @ W.T + b, axis=1)
    ncc = np.concatenate([np.argmin(np.sum((X[i:i + 500, None, :] - ref["means"][None]) ** 2, axis=2), axis=1)
                          for i in range(0, X.shape[0], 500)])       # direct distances, 500 rows at a time
    return {
        "nc1": float(np.trace(ref["sigma_w"] @ np.linalg.pinv(ref["sigma_b"])) / K),
        "nc1_trace_ratio": float(np.trace(ref["sigma_w"]) / np.trace(ref["sigma_b"])),
        "nc2_equinorm_means": equinorm(C),
        "nc2_equiangularity_means": eq_m,
        "nc2_cos_std_means": std_m,
        "nc2_etf_error": float(np.linalg.norm(E)),
        "cdnv": float(np.mean((var[iu[0]] + var[iu[1]]) / (2 * diff2))),
        "gnc2": float(np.var(-np.log(udist))),
        "nc2_equinorm_classifier": equinorm(W),
        "nc2_equiangularity_classifier": cos_stats(W)[0],
        "nc3": float(np.sum((Wn - C / np.linalg.norm(C)) ** 2)),
        "unc3": float(s.std() / abs(s.mean())),
        "nc4": float(np.mean(pred != ncc)),
    }


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / scale if scale > 0 else float(np.max(np.abs(a - b)))


def agreement(K: int = CHECK[0], d: int = CHECK[1], samples: int = CHECK[2], batch: int = CHECK[3],
              seed: int = 1) -> dict:
    """Relative differences (max |Δ| / max |reference|) of streamed vs two-pass statistics and metrics."""
    syn = Synthetic(K, d, samples, batch, seed)
    acc = NCAccumulator(K, d)
    for X, y in syn.batches():
        acc.update(X, y)
    st = acc.finalize()
    streamed = nc_metrics(st, W=syn.W, b=syn.b, features=syn.batches())
    X = np.concatenate([xb for xb, _ in syn.batches()])          # only at this small size
    y = np.concatenate([yb for _, yb in syn.batches()])
    ref = reference_stats(X, y, K)
    refm = reference_metrics(ref, syn.W, syn.b, X)
    out = {f"stats.{k}": _rel(getattr(st, k), v) for k, v in ref.items()}
    out.update({f"metric.{k}": _rel(streamed[k], v) for k, v in refm.items()})
    return out


# ---------------------------------------------------------------------- the benchmark
def _maxrss_bytes() -> int:
    """Peak resident set size of this process: VmHWM from /proc/self/status (Linux), else ru_maxrss.

    ru_maxrss of a child process starts from its parent's peak (it survives fork + exec on Linux),
    so under ``collapsekit bench`` its increase can read 0; VmHWM belongs to this process image."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024        # Linux: KiB


def run(K: int, d: int, samples: int, batch: int, nc4_samples: int, seed: int = 0,
        verbose: bool = False) -> dict:
    rss0 = _maxrss_bytes()
    tracemalloc.start()
    phases = {}

    def phase(name, t0):
        cur, peak = tracemalloc.get_traced_memory()
        phases[name] = {"time_s": time.perf_counter() - t0, "peak_bytes": peak, "held_after_bytes": cur}
        tracemalloc.reset_peak()
        if verbose:
            print(f"  ... {name}: {phases[name]['time_s']:.1f} s, peak {_mb(peak)}", flush=True)

    t0 = time.perf_counter()
    syn = Synthetic(K, d, samples, batch, seed)
    acc = NCAccumulator(K, d)
    t_update, rates = 0.0, []
    gen = syn.batches()
    while True:
        tb = time.perf_counter()
        item = next(gen, None)
        if item is None:
            break
        X, y = item
        tu = time.perf_counter()
        acc.update(X, y)
        t_end = time.perf_counter()
        t_update += t_end - tu
        rates.append(X.shape[0] / (t_end - tb))
        del X, y, item
    phase("stream", t0)
    t0 = time.perf_counter()
    stats = acc.finalize()
    phase("finalize", t0)
    t0 = time.perf_counter()
    metrics = nc_metrics(stats, W=syn.W, b=syn.b)
    phase("metrics", t0)
    if nc4_samples > 0:
        t0 = time.perf_counter()
        sub = (xb[i:i + NC4_BLOCK] for xb, _ in syn.batches(limit=nc4_samples)
               for i in range(0, xb.shape[0], NC4_BLOCK))
        metrics["nc4"] = nc4(sub, W=syn.W, b=syn.b, means=stats, chunk_size=NC4_BLOCK)
        phase("nc4", t0)
    peak = max(p["peak_bytes"] for p in phases.values())
    tracemalloc.stop()
    drss = _maxrss_bytes() - rss0
    bound = 8 * (K * d + d * d + batch * d + BLOCK * K)
    t_stream = phases["stream"]["time_s"]
    return {
        "K": K, "d": d, "samples": samples, "batch": batch, "nc4_samples": nc4_samples, "seed": seed,
        "phases": phases, "peak_bytes": peak, "maxrss_increase_bytes": drss, "bound_bytes": bound,
        "peak_over_bound": peak / bound, "kd_bytes": 8 * K * d, "dense_KxK_bytes": 8 * K * K,
        "dense_BxK_bytes": 8 * batch * K, "throughput_samples_s": samples / t_stream,
        "throughput_median_batch_samples_s": float(np.median(rates)),
        "update_only_samples_s": samples / t_update, "metrics": metrics,
        "total_time_s": sum(p["time_s"] for p in phases.values()),
    }


def _mb(x: float) -> str:
    return f"{x / 2**20:,.1f} MiB" if x < 2**30 else f"{x / 2**30:,.2f} GiB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="K=5,000, d=256, 10^5 samples (instead of 50,000/1024/10^6)")
    ap.add_argument("--K", type=int, default=None)
    ap.add_argument("--d", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--nc4-samples", type=int, default=None, help="samples streamed through NC4 (0: skip)")
    ap.add_argument("--no-check", action="store_true", help="skip the two-pass agreement check")
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    args = ap.parse_args(argv)

    K, d, samples, batch, n4 = SIZES["quick" if args.quick else "full"]
    K, d, samples = args.K or K, args.d or d, args.samples or samples
    batch = args.batch or batch
    n4 = n4 if args.nc4_samples is None else args.nc4_samples
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    print(f"P4 streamed NC metrics — numpy {np.__version__}, CPU ({os.cpu_count()} cores, BLAS threads {threads}), "
          f"load average {os.getloadavg()[0]:.2f}")

    report = {"benchmark": "P4", "numpy": np.__version__, "cpu_count": os.cpu_count(), "blas_threads": threads}
    r = run(K, d, samples, batch, n4, verbose=True)
    report["run"] = r
    print(f"  stream: K={K:,} classes, d={d}, {samples:,} samples in batches of {batch}")
    print(f"  {'phase':9} {'time':>9} {'tracemalloc peak':>17} {'held after':>12}")
    for name, p in r["phases"].items():
        print(f"  {name:9} {p['time_s']:8.2f}s {_mb(p['peak_bytes']):>17} {_mb(p['held_after_bytes']):>12}")
    print(f"  throughput: {r['throughput_samples_s']:,.0f} samples/s overall (generation + update; median batch "
          f"{r['throughput_median_batch_samples_s']:,.0f}), update alone {r['update_only_samples_s']:,.0f} samples/s")
    print(f"  peak memory (tracemalloc, numpy + Python heap): {_mb(r['peak_bytes'])}; peak RSS (VmHWM) increase "
          f"{_mb(r['maxrss_increase_bytes'])}")
    print(f"  bound 8·(K·d + d² + B·d + 128·K) = {_mb(r['bound_bytes'])}: peak = {r['peak_over_bound']:.1f}× the bound "
          f"(one K×d array: {_mb(r['kd_bytes'])}); a dense K×K float64 matrix would be {_mb(r['dense_KxK_bytes'])}, "
          f"a dense B×K one {_mb(r['dense_BxK_bytes'])}")
    m = r["metrics"]
    print("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in m.items()))
    if not args.no_check:        # after the run, so that the peak RSS reflects the run alone
        t = time.perf_counter()
        agr = agreement()
        worst = max(agr, key=agr.get)
        ok = agr[worst] <= AGREEMENT_TOL
        report["agreement"] = {"sizes": dict(zip(("K", "d", "samples", "batch"), CHECK)), "rel_diff": agr,
                               "max_rel_diff": agr[worst], "worst": worst, "tol": AGREEMENT_TOL, "passed": ok}
        print(f"  agreement with the two-pass reference (K={CHECK[0]}, d={CHECK[1]}, {CHECK[2]:,} samples, "
              f"{len(agr)} quantities): max relative difference {agr[worst]:.1e} ({worst}), "
              f"tol {AGREEMENT_TOL:.0e}: {'PASS' if ok else 'FAIL'} ({time.perf_counter() - t:.1f} s)")

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return 0 if report.get("agreement", {}).get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
