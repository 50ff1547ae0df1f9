"""Neural-collapse (NC) metrics computed from streamed class statistics.

Notation: features h_{k,i} ∈ R^d with labels k ∈ {0..K-1}; n_k samples in class k,
N = Σ_k n_k; μ_k class means; μ_G = (1/N) Σ_{k,i} h_{k,i} (sample-weighted global
mean); centred means c_k = μ_k − μ_G (the rows of C ∈ R^{K×d}, M̃ = Cᵀ);

    Σ_W = (1/N) Σ_{k,i} (h_{k,i} − μ_k)(h_{k,i} − μ_k)ᵀ,
    Σ_B = (1/K) Σ_k c_k c_kᵀ,
    Var_k = (1/n_k) Σ_i ‖h_{k,i} − μ_k‖².

A classifier is W ∈ R^{K×d} (rows w_k) with optional bias b ∈ R^K.

References: Papyan, Han & Donoho 2020 (arXiv 2008.08186) for NC1–NC4; Galanti et
al. 2022 (arXiv 2112.15121) for the CDNV; Wu & Papyan 2024 "Linguistic Collapse"
(arXiv 2405.17767) for GNC2 and UNC3.

Memory: statistics are accumulated in one pass in O(K·d + d²); pairwise (K²)
quantities are reduced in row blocks of O(block·K); NC4 is streamed over feature
batches and class chunks in O(batch·chunk). Nothing K×K or N×d is ever held.
Everything is float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numerics import closed_form

__all__ = [
    "ClassStats",
    "NCAccumulator",
    "class_stats",
    "nc1",
    "nc1_trace_ratio",
    "nc2_equinorm",
    "nc2_equiangularity",
    "nc2_etf_error",
    "nc3",
    "nc4",
    "cdnv",
    "gnc2",
    "unc3",
    "nc_metrics",
]

_EPS = float(np.finfo(np.float64).eps)
DEFAULT_BLOCK_SIZE = 128
DEFAULT_CHUNK_SIZE = 4096
DEFAULT_BATCH_SIZE = 1024
#: largest accepted |entry| of features, classifiers and means (squares and sums stay finite)
MAX_ABS = 1e100


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #
def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def _as_float_array(x: Any, name: str) -> np.ndarray:
    """Convert to a float64 ndarray; reject non-numeric, complex and non-finite data."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    if arr.size and float(np.max(np.abs(arr))) > MAX_ABS:
        raise ValueError(f"{name} has entries above {MAX_ABS:g} in magnitude: their second moments would "
                         "overflow float64; rescale (the NC metrics are scale invariant)")
    return arr


def _as_features(features: Any, dim: int | None, name: str = "features") -> np.ndarray:
    arr = _as_float_array(features, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, dim), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has dimension {arr.shape[1]}, expected dim={dim}")
    return arr


def _as_labels(labels: Any, n: int, num_classes: int | None, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (batch,), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has length {arr.shape[0]} but features has {n} rows")
    if arr.size == 0 and np.issubdtype(arr.dtype, np.number):
        return arr.astype(np.int64)  # e.g. np.array([]) for an empty batch
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got minimum {int(arr.min())}")
    if num_classes is not None and arr.size and arr.max() >= num_classes:
        raise ValueError(
            f"{name} must be < num_classes={num_classes}, got maximum {int(arr.max())}"
        )
    return arr


def _as_classifier(W: Any, num_classes: int, dim: int, name: str = "W") -> np.ndarray:
    if W is None:
        raise ValueError(f"{name} is required")
    arr = _as_float_array(W, name)
    if arr.shape != (num_classes, dim):
        raise ValueError(f"{name} must have shape (K, d) = {(num_classes, dim)}, got {arr.shape}")
    return arr


def _as_bias(b: Any, num_classes: int, name: str = "b") -> np.ndarray:
    if b is None:
        return np.zeros(num_classes)
    arr = _as_float_array(b, name)
    if arr.shape != (num_classes,):
        raise ValueError(f"{name} must have shape (K,) = ({num_classes},), got {arr.shape}")
    return arr


# --------------------------------------------------------------------------- #
# Class statistics
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class ClassStats:
    """First and second moments of labelled features (all float64, read-only).

    counts (K,) n_k; means (K,d) μ_k; global_mean (d,) μ_G = Σ n_k μ_k / N;
    sigma_w (d,d) Σ_W = (1/N) Σ (h−μ_k)(h−μ_k)ᵀ; sigma_b (d,d) Σ_B = (1/K) Σ_k c_k c_kᵀ;
    within_var (K,) Var_k = (1/n_k) Σ_i ‖h_{k,i} − μ_k‖².
    """

    counts: np.ndarray
    means: np.ndarray
    global_mean: np.ndarray
    sigma_w: np.ndarray
    sigma_b: np.ndarray
    within_var: np.ndarray

    def __post_init__(self) -> None:
        counts = np.array(self.counts, dtype=np.int64)
        means = np.array(self.means, dtype=np.float64)
        if means.ndim != 2 or means.shape[0] < 2:
            raise ValueError(f"means must have shape (K, d) with K >= 2, got {means.shape}")
        K, d = means.shape
        if counts.shape == (K,) and np.any(counts < 1):
            raise ValueError(f"counts must be >= 1 (no empty class), got {counts.tolist()}")
        fields = {
            "counts": (counts, (K,)),
            "means": (means, (K, d)),
            "global_mean": (np.array(self.global_mean, dtype=np.float64), (d,)),
            "sigma_w": (np.array(self.sigma_w, dtype=np.float64), (d, d)),
            "sigma_b": (np.array(self.sigma_b, dtype=np.float64), (d, d)),
            "within_var": (np.array(self.within_var, dtype=np.float64), (K,)),
        }
        for name, (arr, shape) in fields.items():
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or inf values")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def num_classes(self) -> int:
        """K."""
        return int(self.means.shape[0])

    @property
    def dim(self) -> int:
        """d."""
        return int(self.means.shape[1])

    @property
    def num_samples(self) -> int:
        """N = Σ_k n_k."""
        return int(self.counts.sum())

    @closed_form
    @property
    def centered_means(self) -> np.ndarray:
        """C = [μ_k − μ_G]_k, shape (K, d)."""
        return self.means - self.global_mean


class NCAccumulator:
    """One-pass, numerically stable accumulator of per-class feature moments.

    Shifted-data formulation: for each class a shift c_k (the first sample seen of
    class k) is fixed, and the accumulator keeps

        n_k,   s_k = Σ_i (h_{k,i} − c_k),   q_k = Σ_i ‖h_{k,i} − c_k‖²,
        S = Σ_{k,i} (h_{k,i} − c_k)(h_{k,i} − c_k)ᵀ   (one d×d matrix for all classes).

    At finalize, with δ_k = s_k / n_k:  μ_k = c_k + δ_k,
    N Σ_W = S − Σ_k n_k δ_k δ_kᵀ,  Var_k = q_k / n_k − ‖δ_k‖².
    Because the deviations are taken from a point of the class itself, nearly
    collapsed features with a large common offset keep full relative precision
    (no E[hhᵀ] − μμᵀ cancellation). Memory O(K·d + d²).
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        self.num_classes = _check_int(num_classes, "num_classes", 2)
        self.dim = _check_int(dim, "dim", 1)
        K, d = self.num_classes, self.dim
        self._seen = np.zeros(K, dtype=bool)
        self._shift = np.zeros((K, d))
        self._counts = np.zeros(K, dtype=np.int64)
        self._sum_dev = np.zeros((K, d))
        self._sq_dev = np.zeros(K)
        self._scatter = np.zeros((d, d))

    @property
    def num_samples(self) -> int:
        """Number of samples seen so far."""
        return int(self._counts.sum())

    @closed_form
    def update(self, features: Any, labels: Any) -> None:
        """Add a batch: features (B, d) real, finite; labels (B,) integers in [0, K)."""
        X = _as_features(features, self.dim)
        y = _as_labels(labels, X.shape[0], self.num_classes)
        if X.shape[0] == 0:
            return
        order = np.argsort(y, kind="stable")
        ys = y[order]
        Xs = X[order]
        classes, starts = np.unique(ys, return_index=True)
        new = ~self._seen[classes]
        if np.any(new):  # first sample of a class (in stream order) becomes its shift
            self._shift[classes[new]] = Xs[starts[new]]
            self._seen[classes[new]] = True
        D = Xs - self._shift[ys]
        self._counts[classes] += np.diff(np.append(starts, ys.shape[0]))
        self._sum_dev[classes] += np.add.reduceat(D, starts, axis=0)
        self._sq_dev[classes] += np.add.reduceat(np.einsum("ij,ij->i", D, D), starts)
        self._scatter += D.T @ D

    @closed_form
    def finalize(self) -> ClassStats:
        """Return ClassStats; raises ValueError if some class has no samples."""
        empty = np.flatnonzero(self._counts == 0)
        if empty.size:
            raise ValueError(f"labels: empty class: classes {empty.tolist()} have no samples")
        K = self.num_classes
        n = self._counts.astype(np.float64)
        N = float(n.sum())
        delta = self._sum_dev / n[:, None]
        means = self._shift + delta
        A = self._sum_dev / np.sqrt(n)[:, None]  # Σ_k n_k δ_k δ_kᵀ = AᵀA
        sigma_w = (self._scatter - A.T @ A) / N
        sigma_w = 0.5 * (sigma_w + sigma_w.T)
        within_var = np.maximum(self._sq_dev / n - np.einsum("ij,ij->i", delta, delta), 0.0)
        # global mean and centred means relative to a reference point (class-0 shift)
        ref = self._shift[0]
        rel = (self._shift - ref) + delta
        g_rel = (n @ rel) / N
        centred = rel - g_rel
        sigma_b = centred.T @ centred / K
        sigma_b = 0.5 * (sigma_b + sigma_b.T)
        return ClassStats(
            counts=self._counts.copy(),
            means=means,
            global_mean=ref + g_rel,
            sigma_w=sigma_w,
            sigma_b=sigma_b,
            within_var=within_var,
        )


@closed_form
def class_stats(
    features: Any,
    labels: Any,
    num_classes: int | None = None,
    *,
    batch_size: int = 65536,
) -> ClassStats:
    """ClassStats of an in-memory (N, d) array; K defaults to max(labels) + 1 (at most N:
    every class needs a sample)."""
    X = _as_features(features, None)
    y = _as_labels(labels, X.shape[0], None)
    if num_classes is None:
        if y.size == 0:
            raise ValueError("labels is empty; cannot infer num_classes")
        num_classes = int(y.max()) + 1
    num_classes = _check_int(num_classes, "num_classes", 2)
    if num_classes > y.size:  # before allocating K×d: some class would be empty anyway
        where = "labels" if num_classes == int(y.max(initial=-1)) + 1 else "num_classes"
        raise ValueError(f"{where}: {num_classes} classes but only {y.size} samples, so some class is empty")
    batch_size = _check_int(batch_size, "batch_size", 1)
    acc = NCAccumulator(num_classes, X.shape[1])
    for i in range(0, X.shape[0], batch_size):
        acc.update(X[i : i + batch_size], y[i : i + batch_size])
    return acc.finalize()


# --------------------------------------------------------------------------- #
# Streaming pairwise reductions
# --------------------------------------------------------------------------- #
class _Moments:
    """Running count / mean / M2 combined blockwise with Chan et al.'s formula."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    @closed_form
    def add(self, values: np.ndarray) -> None:
        nb = int(values.size)
        if nb == 0:
            return
        mb = float(values.mean())
        m2b = float(np.sum((values - mb) ** 2))
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n

    @closed_form
    @property
    def var(self) -> float:
        """Population variance M2 / n."""
        return self.m2 / self.n if self.n else 0.0


@closed_form
def _pair_values(
    X: np.ndarray,
    block_size: int,
    kernel: Callable[[np.ndarray, slice, slice], np.ndarray],
) -> Iterator[np.ndarray]:
    """Yield kernel values for all pairs i < j of rows of X, in row blocks.

    kernel(G, rows, cols) maps the inner-product block G = X[rows] @ X[cols]ᵀ to the
    pair values of that block (same shape). For each row block the diagonal square
    contributes its strict upper triangle and the block to its right contributes all
    entries, so at most block_size × K values are held at a time.
    """
    K = X.shape[0]
    for i0 in range(0, K - 1, block_size):
        i1 = min(i0 + block_size, K)
        r = slice(i0, i1)
        square = kernel(X[r] @ X[r].T, r, r)
        yield square[np.triu_indices(i1 - i0, k=1)]
        if i1 < K:
            c = slice(i1, K)
            yield kernel(X[r] @ X[c].T, r, c).ravel()


@closed_form
def _vectors(x: ClassStats | Any, name: str) -> np.ndarray:
    """Centred means of a ClassStats, or the rows of a (K, d) array (e.g. W)."""
    if isinstance(x, ClassStats):
        return x.centered_means
    arr = _as_float_array(x, name)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ValueError(f"{name} must have shape (K, d) with K >= 2, got {arr.shape}")
    return arr


@closed_form
def _unit_rows(X: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{name}: rows {zero.tolist()} have zero norm (direction undefined)")
    return X / norms[:, None]


# --------------------------------------------------------------------------- #
# Metrics
# --------------------------------------------------------------------------- #
@closed_form
def nc1(stats: ClassStats, rtol: float | None = None) -> float:
    """NC1 = Tr(Σ_W Σ_B⁺) / K (Papyan et al. 2020).

    Σ_B = V diag(e) Vᵀ is eigendecomposed and NC1 = (1/K) Σ_{i kept} v_iᵀ Σ_W v_i / e_i.
    Kept eigenvalues: the largest min(K−1, d) (rank Σ_B ≤ K−1) that also exceed
    rtol·max(e), rtol ∈ [0, 1); default 10·max(K, d)·eps, i.e. rounding-level eigenvalues are
    treated as exact zeros (as for a Moore–Penrose pseudo-inverse). Each quadratic
    form v_iᵀ Σ_W v_i is clipped at 0 only when its negativity is at rounding level
    (|·| ≤ 1e-8·Tr Σ_W); a genuinely indefinite Σ_W raises ValueError. Result ≥ 0.
    """
    K, d = stats.num_classes, stats.dim
    real = isinstance(rtol, (int, float, np.integer, np.floating)) and not isinstance(rtol, (bool, np.bool_))
    if rtol is not None and not (real and 0.0 <= float(rtol) < 1.0):
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    evals, evecs = np.linalg.eigh(stats.sigma_b)
    emax = float(evals[-1])
    if not emax > 0.0:
        raise ValueError("sigma_b is zero: all class means coincide, NC1 is undefined")
    if rtol is None:
        rtol = 10.0 * max(K, d) * _EPS
    keep = np.flatnonzero(evals > rtol * emax)[-min(K - 1, d) :]
    V = evecs[:, keep]
    q = np.einsum("ij,ij->j", V, stats.sigma_w @ V)
    tol = 1e-8 * max(float(np.trace(stats.sigma_w)), 0.0) + 1e-300
    if np.any(q < -tol):
        raise ValueError("sigma_w is not positive semidefinite")
    q = np.maximum(q, 0.0)
    return float(np.sum(q / evals[keep]) / K)


@closed_form
def nc1_trace_ratio(stats: ClassStats) -> float:
    """NC1 variant Tr Σ_W / Tr Σ_B."""
    tb = float(np.trace(stats.sigma_b))
    if not tb > 0.0:
        raise ValueError("sigma_b is zero: all class means coincide, ratio is undefined")
    return max(float(np.trace(stats.sigma_w)), 0.0) / tb


@closed_form
def nc2_equinorm(vectors: ClassStats | Any) -> float:
    """Equinorm error std_k ‖v_k‖ / mean_k ‖v_k‖ (population std, ddof=0).

    v_k = μ_k − μ_G for a ClassStats, or the rows w_k of a (K, d) classifier matrix.
    """
    X = _vectors(vectors, "vectors")
    norms = np.linalg.norm(X, axis=1)
    m = float(norms.mean())
    if not m > 0.0:
        raise ValueError("vectors are all zero: equinorm is undefined")
    return float(norms.std()) / m


@closed_form
def nc2_equiangularity(
    vectors: ClassStats | Any, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> tuple[float, float]:
    """Equiangularity (mean_{k≠k'} |cos(v_k, v_k') + 1/(K−1)|, std_{k≠k'} cos(v_k, v_k')).

    v_k = μ_k − μ_G for a ClassStats, or rows of a (K, d) classifier. The cosine
    matrix is symmetric, so statistics over k ≠ k' equal those over k < k'; they are
    reduced in row blocks (O(block·K) memory), std is the population std.
    """
    block_size = _check_int(block_size, "block_size", 1)
    U = _unit_rows(_vectors(vectors, "vectors"), "vectors")
    K = U.shape[0]
    target = 1.0 / (K - 1)
    cos_m = _Moments()
    dev_m = _Moments()
    for cos in _pair_values(U, block_size, lambda g, r, c: g):
        cos_m.add(cos)
        dev_m.add(np.abs(cos + target))
    return dev_m.mean, math.sqrt(cos_m.var)


@closed_form
def nc2_etf_error(stats: ClassStats, *, block_size: int = DEFAULT_BLOCK_SIZE) -> float:
    """ETF error ‖G/‖G‖_F − (I − J/K)/√(K−1)‖_F, G = C Cᵀ the Gram of centred means.

    ‖G‖_F = ‖CᵀC‖_F is computed from the d×d matrix; the difference is summed in row
    blocks of G (O(block·K) memory, no K×K matrix).
    """
    block_size = _check_int(block_size, "block_size", 1)
    C = stats.centered_means
    K = C.shape[0]
    gnorm = float(np.linalg.norm(C.T @ C))
    if not gnorm > 0.0:
        raise ValueError("centred means are all zero: ETF error is undefined")
    scale = 1.0 / math.sqrt(K - 1)
    total = 0.0
    for i0 in range(0, K, block_size):
        i1 = min(i0 + block_size, K)
        diff = (C[i0:i1] @ C.T) / gnorm + scale / K
        diff[np.arange(i1 - i0), np.arange(i0, i1)] -= scale
        total += float(np.sum(diff * diff))
    return math.sqrt(total)


@closed_form
def nc3(stats: ClassStats, W: Any) -> float:
    """NC3 self-duality ‖Wᵀ/‖W‖_F − M̃/‖M̃‖_F‖_F², M̃ = d×K centred means (Papyan et al.)."""
    W = _as_classifier(W, stats.num_classes, stats.dim)
    C = stats.centered_means
    wn, cn = float(np.linalg.norm(W)), float(np.linalg.norm(C))
    if not wn > 0.0:
        raise ValueError("W is zero: NC3 is undefined")
    if not cn > 0.0:
        raise ValueError("centred means are all zero: NC3 is undefined")
    return float(np.sum((W / wn - C / cn) ** 2))


@closed_form
def cdnv(stats: ClassStats, *, block_size: int = DEFAULT_BLOCK_SIZE) -> float:
    """Class-distance normalised variance (Galanti et al. 2022), averaged over pairs.

    CDNV = (2 / (K(K−1))) Σ_{i<j} (Var_i + Var_j) / (2 ‖μ_i − μ_j‖²), with
    Var_k = (1/n_k) Σ ‖h − μ_k‖². This is the squared-distance (‖Δμ‖²) variant of the
    paper, not the ‖Δμ‖⁴ one found in some public analysis code. ‖μ_i − μ_j‖² is
    formed from inner products of centred means, in row blocks (O(block·K) memory).
    Returns inf if two class means coincide (even when both variances are 0).
    """
    block_size = _check_int(block_size, "block_size", 1)
    C = stats.centered_means
    sq = np.einsum("ij,ij->i", C, C)
    var = stats.within_var
    def kernel(g: np.ndarray, r: slice, c: slice) -> np.ndarray:
        dist2 = np.maximum(sq[r, None] + sq[None, c] - 2.0 * g, 0.0)
        # the diagonal of square blocks (dist 0) is discarded by _pair_values;
        # a genuine pair at distance 0 gives inf/nan, reported as inf below
        with np.errstate(divide="ignore", invalid="ignore"):
            return (var[r, None] + var[None, c]) / (2.0 * dist2)

    acc = _Moments()
    for vals in _pair_values(C, block_size, kernel):
        if not np.all(np.isfinite(vals)):
            return math.inf
        acc.add(vals)
    return acc.mean


@closed_form
def gnc2(stats: ClassStats, *, block_size: int = DEFAULT_BLOCK_SIZE) -> float:
    """GNC2 hyperspherical uniformity (Wu & Papyan 2024), logarithmic-kernel form.

    μ̂_k = (μ_k − μ_G)/‖μ_k − μ_G‖;  GNC2 = Var_{k<k'} log(1/‖μ̂_k − μ̂_k'‖)
    (population variance over the K(K−1)/2 pairs; identical to the variance over
    k ≠ k'). On a simplex ETF every distance is √(2K/(K−1)) so GNC2 = 0. Reduced in
    row blocks with Chan's parallel variance; returns inf if two directions coincide.
    """
    block_size = _check_int(block_size, "block_size", 1)
    U = _unit_rows(stats.centered_means, "centred means")
    sq = np.einsum("ij,ij->i", U, U)
    def kernel(g: np.ndarray, r: slice, c: slice) -> np.ndarray:
        return np.maximum(sq[r, None] + sq[None, c] - 2.0 * g, 0.0)

    acc = _Moments()
    for dist2 in _pair_values(U, block_size, kernel):
        if np.any(dist2 == 0.0):
            return math.inf
        acc.add(-0.5 * np.log(dist2))
    return acc.var


@closed_form
def unc3(stats: ClassStats, W: Any, *, normalize: bool = True) -> float:
    """UNC3 uniform duality (Wu & Papyan 2024): coefficient of variation over classes.

    s_k = cos(w_k, μ_k − μ_G) = ⟨w_k, μ_k − μ_G⟩ / (‖w_k‖ ‖μ_k − μ_G‖) (normalize=True,
    the paper's / its code's form); normalize=False uses the raw ⟨w_k, μ_k − μ_G⟩.
    UNC3 = std_k(s_k) / |mean_k(s_k)| (population std, ddof=0).
    """
    W = _as_classifier(W, stats.num_classes, stats.dim)
    C = stats.centered_means
    if normalize:
        s = np.einsum("ij,ij->i", _unit_rows(W, "W"), _unit_rows(C, "centred means"))
    else:
        s = np.einsum("ij,ij->i", W, C)
    m = abs(float(s.mean()))
    if not m > 0.0:
        raise ValueError("mean classifier/mean alignment is zero: UNC3 is undefined")
    return float(s.std()) / m


def _feature_batches(features: Any, labels: Any, batch_size: int) -> Iterator[Any]:
    """Yield raw feature batches from an (N, d) array or an iterable of batches.

    Iterable items may be (B, d) arrays or (features, labels) pairs.
    """
    if isinstance(features, np.ndarray) or (
        hasattr(features, "shape") and hasattr(features, "__array__")
    ):
        X = _as_features(features, None)
        if labels is not None:
            _as_labels(labels, X.shape[0], None)
        for i in range(0, X.shape[0], batch_size):
            yield X[i : i + batch_size]
        return
    if not isinstance(features, Iterable):
        raise ValueError("features must be an (N, d) array or an iterable of batches")
    for item in features:
        if isinstance(item, (tuple, list)) and len(item) == 2 and np.ndim(item[0]) == 2:
            item = item[0]
        yield item


@closed_form
def nc4(
    features: Any,
    labels: Any = None,
    W: Any = None,
    b: Any = None,
    means: ClassStats | Any = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> float:
    """NC4 = fraction of samples with argmax_k(⟨w_k, h⟩ + b_k) ≠ argmin_k ‖h − μ_k‖.

    features: an (N, d) array, or an iterable of (B, d) batches or of
    (features, labels) pairs (consumed once). labels are not needed by NC4; when
    given with an array they are only shape-checked. W (K, d) and means (K, d) or a
    ClassStats are required; b (K,) defaults to 0. Ties go to the lowest index in
    both argmax and argmin. Streamed over batches and over classes in chunks of
    chunk_size, so memory is O(batch·chunk). Distances use features and means
    shifted by the average class mean (same argmin, less cancellation).
    """
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    if means is None:
        raise ValueError("means is required")
    M = means.means if isinstance(means, ClassStats) else _as_float_array(means, "means")
    if M.ndim != 2 or M.shape[0] < 2:
        raise ValueError(f"means must have shape (K, d) with K >= 2, got {M.shape}")
    K, d = M.shape
    W = _as_classifier(W, K, d)
    b = _as_bias(b, K)
    ref = M.mean(axis=0)
    Mc = M - ref
    msq = np.einsum("ij,ij->i", Mc, Mc)
    mismatches = 0
    total = 0
    for raw in _feature_batches(features, labels, batch_size):
        X = _as_features(raw, d)
        B = X.shape[0]
        if B == 0:
            continue
        Xc = X - ref
        rows = np.arange(B)
        best_logit = np.full(B, -np.inf)
        pred = np.zeros(B, dtype=np.int64)
        best_dist = np.full(B, np.inf)
        ncc = np.zeros(B, dtype=np.int64)
        for k0 in range(0, K, chunk_size):
            k1 = min(k0 + chunk_size, K)
            logits = X @ W[k0:k1].T
            logits += b[k0:k1]
            j = np.argmax(logits, axis=1)
            v = logits[rows, j]
            upd = v > best_logit  # strict: earlier chunk (lower index) wins ties
            best_logit[upd] = v[upd]
            pred[upd] = j[upd] + k0
            dist = Xc @ Mc[k0:k1].T
            dist *= -2.0
            dist += msq[k0:k1]  # = ‖h−μ_k‖² − ‖h−ref‖²
            j = np.argmin(dist, axis=1)
            v = dist[rows, j]
            upd = v < best_dist
            best_dist[upd] = v[upd]
            ncc[upd] = j[upd] + k0
        mismatches += int(np.count_nonzero(pred != ncc))
        total += B
    if total == 0:
        raise ValueError("features is empty: NC4 needs at least one sample")
    return mismatches / total


@closed_form
def nc_metrics(
    stats: ClassStats,
    W: Any = None,
    b: Any = None,
    features: Any = None,
    labels: Any = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict[str, float]:
    """All NC metrics that apply, as floats.

    Always: nc1, nc1_trace_ratio, nc2_equinorm_means, nc2_equiangularity_means,
    nc2_cos_std_means, nc2_etf_error, cdnv, gnc2. With W: nc2_equinorm_classifier,
    nc2_equiangularity_classifier, nc3, unc3. With W and features: nc4 (features as
    accepted by ``nc4``; b is used only there).
    """
    eq_mean, cos_std = nc2_equiangularity(stats, block_size=block_size)
    out: dict[str, float] = {
        "nc1": nc1(stats),
        "nc1_trace_ratio": nc1_trace_ratio(stats),
        "nc2_equinorm_means": nc2_equinorm(stats),
        "nc2_equiangularity_means": eq_mean,
        "nc2_cos_std_means": cos_std,
        "nc2_etf_error": nc2_etf_error(stats, block_size=block_size),
        "cdnv": cdnv(stats, block_size=block_size),
        "gnc2": gnc2(stats, block_size=block_size),
    }
    if W is not None:
        Wa = _as_classifier(W, stats.num_classes, stats.dim)
        out["nc2_equinorm_classifier"] = nc2_equinorm(Wa)
        out["nc2_equiangularity_classifier"] = nc2_equiangularity(Wa, block_size=block_size)[0]
        out["nc3"] = nc3(stats, Wa)
        out["unc3"] = unc3(stats, Wa)
        if features is not None:
            out["nc4"] = nc4(features, labels, Wa, b, stats, chunk_size=chunk_size)
    return out
