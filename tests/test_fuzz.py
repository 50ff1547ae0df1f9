"""Property-based fuzzing (hypothesis) of every public entry point, and invariants on valid input.

Entry points: the CLI's ``--set`` for every parameter of every registered claim (and
``Claim.resolve`` with Python objects), the metrics API (:mod:`numerics.metrics`), the UFM
engine's constructor (:class:`simulations.ufm.UFM`), the sweep grid parser
(:func:`collapsekit.sweep.parse_grid`) and the figure-data loader
(:func:`collapsekit.figures.load_data`).  Every invalid input must end in a ValueError
(ParameterError; exit code 2 and one stderr line from the CLI) that names the parameter —
never a NaN, a hang, another exception or a deep traceback.  The CLI never runs a check here:
the runner is replaced by a function that fails the test if an input were accepted.

Deterministic and bounded: every property runs under :func:`fuzz` (``derandomize=True``, no
example database, a fixed ``max_examples``, no deadline).  The invalid inputs generated are
counted per entry point in ``INVALID``; each fuzz test asserts its quota and the quotas add up
to at least 200 (``test_invalid_input_quotas_reach_200``).

Invariances checked on valid input (Papyan, Han & Donoho 2020; Galanti et al. 2022; Wu &
Papyan 2024), with h the features, W the classifier, b its bias:

* rotation h → Qᵀh, W → WQ (Q orthogonal): every metric;
* global scaling h → c·h (c > 0): NC1, Tr Σ_W/Tr Σ_B, NC2 (equinorm, equiangularity, ETF
  error), CDNV, GNC2, NC3, UNC3, and NC4 when b = 0 (with b ≠ 0 it is not: logits c·Wh + b);
* scaling W → a·W (a > 0): NC3, UNC3, the classifier's NC2, and NC4 when b = 0;
* translation h → h + t: every metric (NC4 with b → b − Wt);
* relabelling the classes (rows of W and b permuted alike): every metric.

NC1 ≥ 0 and every metric is ≥ 0 and never NaN (CDNV and GNC2 are +inf, by definition, when two
class means or directions coincide); the simplex-ETF Gram identity MᵀM = K/(K−1)·(I − J/K)
holds for every K in 2..30 for the theory and numerics constructors.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import re
from collections import Counter
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from collapsekit import figures as F
from collapsekit import registry, runner
from collapsekit import sweep as S
from collapsekit.claim import MAX_TUPLE_LENGTH, UNSTATED_MAXIMUM, Param, ParameterError
from collapsekit.cli import main
from numerics import etf as netf
from numerics import metrics as M
from simulations.ufm import UFM
from theory import etf as tetf

#: invalid inputs generated, per entry point
INVALID: Counter = Counter()
#: the least each entry point's fuzz test must generate (sum >= 200)
QUOTA = {"cli": 110, "resolve": 40, "metrics": 110, "engine": 50, "grid": 50, "cache": 50, "manifest": 30,
         "sweep_cli": 25, "results": 20}


def fuzz(max_examples: int):
    """Deterministic hypothesis settings: the same examples on every run."""
    return settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def _quota(area: str, prop) -> None:
    """Run a property; it must have generated at least QUOTA[area] invalid inputs."""
    before = INVALID[area]
    prop()
    made = INVALID[area] - before
    assert made >= QUOTA[area], f"{area}: only {made} invalid inputs generated (quota {QUOTA[area]})"


def test_invalid_input_quotas_reach_200():
    assert sum(QUOTA.values()) >= 200


# ============================================================================ the CLI's --set
CLAIMS = registry.all_claims()
PAIRS = [(c.id, p) for c in CLAIMS for p in c.params]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _garbage(p: Param) -> st.SearchStrategy[str]:
    """Text that is not a number (for a tuple: some comma-separated entry is not)."""
    alphabet = st.characters(blacklist_characters=":", blacklist_categories=("Cs",))
    return st.text(alphabet, min_size=1, max_size=12).filter(
        lambda s: s.strip() and not all(_is_number(t) for t in s.split(",")))


def _top(p: Param) -> float:
    return p.maximum if p.maximum is not None else UNSTATED_MAXIMUM


def invalid_value(p: Param, for_grid: bool = False) -> st.SearchStrategy[str]:
    """Strings that are no valid value of ``p`` whatever the other parameters are (``for_grid``:
    nor a valid --grid list, where commas separate values and empty entries are skipped)."""
    options = [st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "True", "None", "[1, 2]",
                                "(3,)", "{}", "0x10", "1j", "3+4j", "1/2", "--", "e", "."]),
               _garbage(p)]
    top, low = _top(p), p.minimum
    if p.kind is int:
        options.append(st.floats(allow_nan=False, allow_infinity=False).map(repr))   # "3.0" is no int either
        options.append(st.integers(1, 10 ** 30).map(lambda k: str(int(top) + k)))
        if low is not None:
            options.append(st.integers(1, 10 ** 6).map(lambda k: str(math.ceil(low) - k)))
    elif p.kind is float:
        options.append(st.floats(1e-6, 1e300).map(lambda t: repr(top + t * max(abs(top), 1.0))))
        if low is not None:
            options.append(st.floats(1e-6, 1e6).map(lambda t: repr(low - t * max(abs(low), 1.0))))
    else:  # tuple of class sizes
        lo = int(low) if low is not None else 1
        good = st.integers(lo, min(int(top), lo + 5))
        bad = st.one_of(st.integers(1, 10 ** 9).map(lambda k: str(int(top) + k)),
                        st.integers(1, 10 ** 6).map(lambda k: str(lo - k)),
                        st.floats(allow_nan=False, allow_infinity=False).map(repr),
                        st.just("x" if for_grid else ""))
        options.append(st.tuples(st.lists(good.map(str), max_size=4), bad, st.lists(good.map(str), max_size=4))
                       .map(lambda t: ",".join(t[0] + [t[1]] + t[2])))
        if not for_grid:
            options.append(st.integers(MAX_TUPLE_LENGTH + 1, MAX_TUPLE_LENGTH + 40)
                           .map(lambda n: ",".join([str(lo)] * n)))
    return st.one_of(options)


def _must_not_run(*args, **kwargs):
    raise AssertionError(f"an invalid parameter reached the checks: {args[1:2]} {kwargs}")


def _cli(argv: list[str]) -> tuple[int, str, str]:
    """``collapsekit ARGV`` in process: (exit code, stdout, stderr); no check can run."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(runner, "run_claim", _must_not_run):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _assert_usage_error(code: int, out: str, err: str, names: tuple[str, ...]) -> None:
    line = err.strip()
    assert code == 2, (code, err)
    assert out == "", out
    assert line and "\n" not in line, f"not one line: {err!r}"
    assert line.startswith("collapsekit check: error: "), line
    named = [n for n in names if re.search(rf"parameter {re.escape(n)}:|'{re.escape(n)}[=']", line)]
    assert named, f"{names} not named in {line!r}"


@fuzz(150)
@given(data=st.data())
def _cli_invalid_values(data):
    cid, p = data.draw(st.sampled_from(PAIRS), label="claim.param")
    value = data.draw(invalid_value(p), label="value")
    INVALID["cli"] += 1
    _assert_usage_error(*_cli(["check", cid, "--json", "--set", f"{p.name}={value}"]), (p.name,))


def test_cli_set_rejects_invalid_values():
    """Random claim parameter, random invalid value: exit 2, one line naming the parameter."""
    _quota("cli", _cli_invalid_values)


KD_CLAIMS = [c for c in CLAIMS if {"K", "d"} <= {p.name for p in c.params}]


@fuzz(40)
@given(data=st.data())
def _cli_invalid_geometry(data):
    claim = data.draw(st.sampled_from(KD_CLAIMS), label="claim")
    kp = next(p for p in claim.params if p.name == "K")
    K = data.draw(st.integers(max(int(kp.minimum), 3), int(min(_top(kp), 40))), label="K")
    d = data.draw(st.integers(1, K - 2), label="d")
    try:
        claim.resolve({"K": K, "d": d})
    except ParameterError:
        pass
    else:
        assume(False)      # d >= K - 1 is not needed by this claim: a valid point, not run here
    INVALID["cli"] += 1
    _assert_usage_error(*_cli(["check", claim.id, "--set", f"K={K}", "--set", f"d={d}"]), ("K", "d"))


def test_cli_set_rejects_d_too_small_for_the_geometry():
    before = INVALID["cli"]
    _cli_invalid_geometry()
    assert INVALID["cli"] - before >= 10


@pytest.mark.parametrize("cid,p", PAIRS, ids=[f"{c}:{p.name}" for c, p in PAIRS])
def test_cli_every_parameter_rejects_nan_inf_and_out_of_range(cid, p):
    """Every parameter of every claim, once each: NaN, below its minimum, above its maximum."""
    values = ["nan"]
    if p.kind is tuple:
        values += ["0", f"{int(_top(p)) + 1}"]
    elif p.kind is int:
        values += [str(math.ceil(p.minimum) - 1), str(int(_top(p)) + 1)]
    else:
        values += [repr(p.minimum - max(abs(p.minimum), 1.0) * 1e-3), repr(_top(p) * 10 + 1)]
    for value in values:
        item = f"{p.name}={value}"
        code, out, err = _cli(["check", cid, "--set", item])
        _assert_usage_error(code, out, err, (p.name,))


def test_cli_unknown_parameter_and_bad_set_syntax():
    for argv in (["check", "etf.simplex", "--set", "nope=3"], ["check", "etf.simplex", "--set", "K"],
                 ["check", "etf.simplex", "--set", "=3"], ["check", "etf.simplex", "--set", "K= "]):
        _assert_usage_error(*_cli(argv), ("nope", "K", ""))
    code, _, err = _cli(["check", "no.such.claim"])
    assert code == 2 and "no.such.claim" in err


# ---------------------------------------------------------------------------- Claim.resolve
def _weird(p: Param) -> st.SearchStrategy:
    """Python objects that are no valid value of ``p`` (wrong type, non-finite...)."""
    common = [st.none(), st.complex_numbers(allow_nan=False).filter(lambda z: z.imag != 0),
              st.sampled_from([float("nan"), float("inf"), -float("inf"), object(), np.array([1.0, 2.0]),
                               np.float64("nan"), {}, set()])]
    if p.kind is tuple:
        common += [st.lists(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
                            min_size=1, max_size=4),
                   st.booleans(), st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=2), min_size=1, max_size=3)]
    else:
        common += [st.booleans(), st.lists(st.integers(), min_size=1, max_size=3)]
        if p.kind is int:
            common += [st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())]
    return st.one_of(common)


@fuzz(60)
@given(data=st.data())
def _resolve_invalid_objects(data):
    cid, p = data.draw(st.sampled_from(PAIRS), label="claim.param")
    value = data.draw(_weird(p), label="value")
    INVALID["resolve"] += 1
    with pytest.raises(ParameterError) as info:
        registry.get(cid).resolve({p.name: value})
    assert info.value.name == p.name, str(info.value)


def test_resolve_rejects_wrong_python_types():
    _quota("resolve", _resolve_invalid_objects)


# ============================================================================ the metrics API
@st.composite
def labelled(draw, min_n: int = 1):
    """Valid features (N, d) and labels: K classes, n_k samples each, seeded Gaussian data."""
    K = draw(st.integers(2, 6), label="K")
    d = draw(st.integers(1, 7), label="d")
    counts = draw(st.lists(st.integers(min_n, 4), min_size=K, max_size=K), label="counts")
    seed = draw(st.integers(0, 2 ** 32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    means = 3.0 * rng.standard_normal((K, d))
    y = np.repeat(np.arange(K), counts)
    X = means[y] + rng.standard_normal((y.size, d))
    perm = rng.permutation(y.size)
    W = means - means.mean(axis=0) + 0.5 * rng.standard_normal((K, d))      # roughly aligned, as trained
    b = rng.standard_normal(K)
    return X[perm], y[perm], W, b, rng


def _insert(draw, X: np.ndarray, value) -> np.ndarray:
    X = X.astype(object if isinstance(value, str) else np.float64).copy()
    i = draw(st.integers(0, X.size - 1), label="index")
    X.flat[i] = value
    return X


BAD_FLOATS = st.sampled_from([np.nan, np.inf, -np.inf, 1e101, -1e200, 1.7e308])


def _metric_case(draw):
    """One corrupted call of the metrics API: (what, callable, names one of which the error must give)."""
    X, y, W, b, rng = draw(labelled(min_n=1))
    K, d = W.shape
    stats = M.class_stats(X, y, K)
    kind = draw(st.sampled_from([
        "features_nonfinite", "features_dtype", "features_ndim", "labels_shape", "labels_range", "labels_dtype",
        "one_class", "empty_class", "num_classes_type", "W_bad", "b_bad", "means_bad", "sizes_bad",
        "accumulator", "accumulator_dim", "rtol_bad", "stats_nonfinite"]), label="kind")
    if kind == "features_nonfinite":
        Xb = _insert(draw, X, draw(BAD_FLOATS))
        fn = draw(st.sampled_from(["class_stats", "update", "nc4"]))
        if fn == "class_stats":
            return kind, lambda: M.class_stats(Xb, y), ("features",)
        if fn == "update":
            return kind, lambda: M.NCAccumulator(K, d).update(Xb, y), ("features",)
        return kind, lambda: M.nc4(Xb, y, W, b, stats), ("features",)
    if kind == "features_dtype":
        Xb = draw(st.sampled_from([X.astype(str), X.astype(complex), X.astype(object), X > 0,
                                   _insert(draw, X, "a"), np.full(X.shape, None)]))
        return kind, lambda: M.class_stats(Xb, y), ("features",)
    if kind == "features_ndim":
        Xb = draw(st.sampled_from([X[:, 0], X[None], X.reshape(-1), np.float64(1.0), X[:, :0]]))
        return kind, lambda: M.class_stats(Xb, y, K), ("features", "labels", "dim")
    if kind == "labels_shape":
        yb = draw(st.sampled_from([y[:-1], np.append(y, 0), y[:, None], y.reshape(1, -1)]))
        return kind, lambda: M.class_stats(X, yb, K), ("labels",)
    if kind == "labels_range":
        yb = y.copy()
        yb[draw(st.integers(0, y.size - 1))] = draw(st.one_of(st.integers(-10 ** 12, -1), st.integers(K, 10 ** 12)))
        given_K = draw(st.sampled_from([K, None]))
        return kind, lambda: M.class_stats(X, yb, given_K), ("labels", "num_classes")
    if kind == "labels_dtype":
        yb = draw(st.sampled_from([y.astype(float), y.astype(str), y.astype(complex), y > 0, y.astype(object) * 1.0]))
        return kind, lambda: M.class_stats(X, yb, K), ("labels",)
    if kind == "one_class":
        return kind, lambda: M.class_stats(X, np.zeros_like(y)), ("num_classes",)
    if kind == "empty_class":
        extra = draw(st.integers(1, 10 ** 12))
        return kind, lambda: M.class_stats(X, y, K + extra), ("labels", "num_classes")
    if kind == "num_classes_type":
        nc = draw(st.sampled_from([float(K), str(K), True, 1, 0, -3, [K]]))
        return kind, lambda: M.class_stats(X, y, nc), ("num_classes",)
    if kind == "W_bad":
        Wb = draw(st.sampled_from([W[:-1], W[:, :-1] if d > 1 else W[:, :0], W.T if K != d else W[None], W[0],
                                   _insert(draw, W, draw(BAD_FLOATS)), W.astype(complex), W.astype(str), None]))
        fn = draw(st.sampled_from(["nc3", "unc3", "nc_metrics", "nc4"]))
        call = {"nc3": lambda: M.nc3(stats, Wb), "unc3": lambda: M.unc3(stats, Wb),
                "nc_metrics": lambda: M.nc_metrics(stats, W=Wb if Wb is not None else W[:-1]),
                "nc4": lambda: M.nc4(X, y, Wb, b, stats)}[fn]
        return kind, call, ("W",)
    if kind == "b_bad":
        bb = draw(st.sampled_from([b[:-1], np.append(b, 0.0), b[None], _insert(draw, b, draw(BAD_FLOATS)),
                                   b.astype(complex), b.astype(str)]))
        return kind, lambda: M.nc4(X, y, W, bb, stats), ("b",)
    if kind == "means_bad":
        mb = draw(st.sampled_from([None, stats.means[:1], stats.means[0], stats.means[:, :-1] if d > 1 else None,
                                   _insert(draw, stats.means, draw(BAD_FLOATS)), stats.means.astype(str)]))
        return kind, lambda: M.nc4(X, y, W, b, mb), ("means", "W")
    if kind == "sizes_bad":
        size = draw(st.sampled_from([0, -1, 2.5, "8", True, None]))
        fn = draw(st.sampled_from(["cdnv", "gnc2", "etf", "equi", "nc4_chunk", "nc4_batch", "class_stats"]))
        call = {"cdnv": lambda: M.cdnv(stats, block_size=size), "gnc2": lambda: M.gnc2(stats, block_size=size),
                "etf": lambda: M.nc2_etf_error(stats, block_size=size),
                "equi": lambda: M.nc2_equiangularity(stats, block_size=size),
                "nc4_chunk": lambda: M.nc4(X, y, W, b, stats, chunk_size=size),
                "nc4_batch": lambda: M.nc4(X, y, W, b, stats, batch_size=size),
                "class_stats": lambda: M.class_stats(X, y, K, batch_size=size)}[fn]
        return kind, call, ("block_size", "chunk_size", "batch_size")
    if kind == "accumulator":
        nc, dim = draw(st.sampled_from([(1, d), (0, d), (-2, d), (float(K), d), ("3", d), (K, 0), (K, -1), (K, 2.0),
                                        (K, None), (None, d)]))
        return kind, lambda: M.NCAccumulator(nc, dim), ("num_classes", "dim")
    if kind == "accumulator_dim":
        acc = M.NCAccumulator(K, d + 1)
        return kind, lambda: acc.update(X, y), ("features",)
    if kind == "rtol_bad":
        rtol = draw(st.sampled_from([np.nan, np.inf, -1.0, 1.0, 2.0, "0.1", 1j, True]))
        return kind, lambda: M.nc1(stats, rtol=rtol), ("rtol",)
    # stats_nonfinite: a ClassStats assembled by hand with a NaN/inf field or an empty class
    field = draw(st.sampled_from(["means", "global_mean", "sigma_w", "sigma_b", "within_var", "counts"]))
    parts = {f: np.array(getattr(stats, f)) for f in ("counts", "means", "global_mean", "sigma_w", "sigma_b",
                                                      "within_var")}
    if field == "counts":
        parts["counts"][draw(st.integers(0, K - 1))] = draw(st.integers(-5, 0))
    else:
        parts[field] = _insert(draw, parts[field], draw(st.sampled_from([np.nan, np.inf, -np.inf])))
    return kind, lambda: M.ClassStats(**parts), (field,)


@fuzz(160)
@given(data=st.data())
def _metrics_invalid(data):
    kind, call, names = _metric_case(data.draw)
    INVALID["metrics"] += 1
    with pytest.raises(ValueError) as info:
        call()
    assert any(n in str(info.value) for n in names), f"{kind}: {names} not named in {info.value}"


def test_metrics_reject_invalid_input():
    """NaN/inf, huge entries, wrong dtypes and shapes, labels out of range, K < 2, empty classes."""
    _quota("metrics", _metrics_invalid)


# ---------------------------------------------------------------------------- valid input
STATS_METRICS = ("nc1", "nc1_trace_ratio", "nc2_equinorm_means", "nc2_equiangularity_means", "nc2_cos_std_means",
                 "nc2_etf_error", "cdnv", "gnc2")
W_METRICS = ("nc2_equinorm_classifier", "nc2_equiangularity_classifier", "nc3", "unc3")
CAN_BE_INF = ("cdnv", "gnc2")     # two class means (directions) coincide: +inf by definition


def _all_metrics(X, y, W, b):
    K = W.shape[0]
    out = M.nc_metrics(M.class_stats(X, y, K), W=W, b=b, features=X, labels=y)
    return out


def _same(a: dict, b: dict, keys) -> None:
    for k in keys:
        x, z = a[k], b[k]
        if math.isinf(x) or math.isinf(z):
            assert x == z, (k, x, z)
        else:
            assert math.isclose(x, z, rel_tol=1e-6, abs_tol=1e-9), (k, x, z)


@fuzz(60)
@given(case=labelled(), scale=st.floats(-3.0, 3.0), wscale=st.floats(-3.0, 3.0))
def test_metrics_valid_input_invariances(case, scale, wscale):
    X, y, W, b, rng = case
    K, d = W.shape
    try:
        ref = _all_metrics(X, y, W, b)
    except ValueError as exc:          # a metric undefined here (e.g. UNC3 with mean alignment 0)
        assert "undefined" in str(exc)
        assume(False)
    assert set(ref) == set(STATS_METRICS + W_METRICS + ("nc4",))
    for k, v in ref.items():                      # never NaN; all nonnegative; NC4 a fraction
        assert not math.isnan(v) and v >= 0.0, (k, v)
        assert math.isfinite(v) or k in CAN_BE_INF, (k, v)
    assert ref["nc4"] <= 1.0
    Q = netf.random_orthonormal(d, d, rng)
    _same(ref, _all_metrics(X @ Q, y, W @ Q, b), ref)                        # rotation
    t = 10.0 * rng.standard_normal(d)
    _same(ref, _all_metrics(X + t, y, W, b - W @ t), ref)                    # translation (b -> b - Wt)
    c, a = 10.0 ** scale, 10.0 ** wscale
    zero_b = np.zeros(K)
    base0 = _all_metrics(X, y, W, zero_b)
    _same(base0, _all_metrics(c * X, y, a * W, zero_b), base0)              # scaling, b = 0
    _same(ref, _all_metrics(c * X, y, W, c * b), ref)                        # (b scaled with h)
    perm = rng.permutation(K)                                                # relabelling
    inv = np.argsort(perm)
    _same(ref, _all_metrics(X, perm[y], W[inv], b[inv]), ref)


def test_nc1_scale_invariance_is_a_real_check():
    """The invariance comparison above detects a metric that is not scale invariant."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), np.repeat(np.arange(3), 4)
    s1 = M.class_stats(X, y)
    s2 = M.class_stats(2.0 * X, y)
    assert math.isclose(M.nc1(s1), M.nc1(s2), rel_tol=1e-12)
    assert not math.isclose(float(np.trace(s1.sigma_w)), float(np.trace(s2.sigma_w)), rel_tol=1e-6)


@pytest.mark.parametrize("K", range(2, 31))
def test_etf_gram_identity(K):
    """MᵀM = K/(K−1)·(I − J/K) for the theory (Helmert) and numerics (eigenvector) simplex ETFs,
    and the NC2/NC1 metrics of features collapsed onto it are 0."""
    gram = tetf.simplex_gram(K)
    alpha, beta = float(gram.alpha), float(gram.beta)
    target = alpha * np.eye(K) + beta * np.ones((K, K))
    assert math.isclose(alpha + beta, 1.0, rel_tol=1e-15) and math.isclose(beta, -1.0 / (K - 1), rel_tol=1e-15)
    P = np.array(tetf.helmert_basis(K).evalf(20), dtype=np.float64)            # (K−1)×K, P1 = 0
    H = math.sqrt(K / (K - 1)) * P
    np.testing.assert_allclose(H.T @ H, target, rtol=0, atol=1e-13)
    rng = np.random.default_rng(K)
    for d in (K - 1, K + 2):
        Mx = netf.simplex_etf(K, d, rng)                                          # d×K
        np.testing.assert_allclose(Mx.T @ Mx, target, rtol=0, atol=1e-12)
        y = np.repeat(np.arange(K), 3)
        stats = M.class_stats(5.0 * Mx.T[y] + 1.0, y, K)
        assert M.nc2_etf_error(stats) < 1e-12
        assert M.nc2_equinorm(stats) < 1e-12
        assert M.nc2_equiangularity(stats)[0] < 1e-12
        assert M.nc1(stats) == 0.0
        assert M.gnc2(stats) < 1e-20


# ============================================================================ the engine
ENGINE_BAD = {
    "K": st.one_of(st.integers(-10, 1), st.sampled_from([2.0, 3.5, "3", True, None, np.float64(4), 10 ** 9])),
    "d": st.one_of(st.integers(-10, 0), st.sampled_from([2.0, "3", None, True, 10 ** 12])),
    "counts": st.one_of(st.integers(-5, 0), st.sampled_from([1.5, float("nan"), float("inf"), "3", None, 1j, 10 ** 15]),
                        st.lists(st.integers(1, 3), min_size=1, max_size=2),            # wrong length (K=3)
                        st.lists(st.integers(-3, 0), min_size=3, max_size=3),
                        st.just([[1, 2], [3], [4]]), st.just([1, 2, 2.5])),
    "lambda_W": st.one_of(st.floats(max_value=-1e-300), st.sampled_from([float("nan"), float("inf"), "abc", 1j, True,
                                                                         [0.1, float("nan")], [[0.1]]])),
    "lambda_H": st.one_of(st.floats(max_value=-1e-300), st.sampled_from([-float("inf"), None, "0.1", [-1.0, 1.0]])),
    "lambda_b": st.one_of(st.floats(max_value=-1e-300), st.sampled_from([float("nan"), None, b"1", {}])),
    "dtype": st.sampled_from([torch.int64, torch.bool, "float64", np.float64, None, torch.complex128]),
    "S": st.sampled_from([0, -1, 2.5, "3", True, None]),
    "loss": st.one_of(st.text(max_size=5).filter(lambda s: s not in ("ce", "mse")), st.sampled_from([None, 1, ["ce"]])),
}


@fuzz(120)
@given(data=st.data())
def _engine_invalid(data):
    name = data.draw(st.sampled_from(sorted(ENGINE_BAD)), label="argument")
    kw = {"loss": "mse", "K": 3, "d": 3, "counts": 2}
    if name == "S":
        kw["S"] = None
    kw[name] = data.draw(ENGINE_BAD[name], label=name)
    if name == "S" and kw["S"] is None:
        kw["lambda_W"] = [0.1, 0.2]
        kw["lambda_H"] = [0.1, 0.2, 0.3]                       # inferred S=3 does not fit lambda_W
        name = "lambda_W"
    INVALID["engine"] += 1
    with pytest.raises(ValueError) as info:
        UFM(kw.pop("loss"), kw.pop("K"), kw.pop("d"), kw.pop("counts"), device="cpu", **kw)
    assert re.search(rf"\b{name}\s*[=:(]", str(info.value)), f"{name} not named in {info.value}"


def test_engine_rejects_invalid_construction():
    _quota("engine", _engine_invalid)


# ============================================================================ the sweep grid
GRID_CLAIMS = [c for c in CLAIMS if c.params]


@fuzz(120)
@given(data=st.data())
def _grid_invalid(data):
    claim = data.draw(st.sampled_from(GRID_CLAIMS), label="claim")
    p = data.draw(st.sampled_from(claim.params), label="param")
    num = st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr)
    spec = data.draw(st.one_of(
        st.just(p.name), st.just(f"{p.name}="),
        st.builds(lambda v: f"{p.name}={v}", invalid_value(p, for_grid=True)),
        st.builds(lambda a, b: f"{p.name}={a}:{b}", num, num),                                   # two parts
        st.builds(lambda a, b: f"{p.name}={a}:{b}:3:4", num, num),                               # four parts
        st.builds(lambda a, b, c: f"{p.name}={a}:{b}:{c}", num, num,
                  st.one_of(st.integers(-10 ** 12, 0), st.integers(S.MAX_GRID_VALUES + 1, 10 ** 15))),
        st.builds(lambda a, b: f"{p.name}={a}:{b}:3", st.sampled_from(["nan", "inf", "-inf", "1e400", "x", ""]), num),
        st.builds(lambda c: f"{p.name}=1:2:{c}", st.sampled_from(["2.5", "1e3", "x", "", "nan"])),
        st.builds(lambda n: f"{n}=1", st.text(min_size=1, max_size=8).filter(
            lambda n: n.strip() not in {q.name for q in claim.params} and "=" not in n)),
    ), label="spec")
    specs = [spec]
    if data.draw(st.booleans(), label="twice"):
        specs = [f"{p.name}={','.join(['1'] * 2)}", spec] if "=" in spec else specs
    INVALID["grid"] += 1
    with pytest.raises(ParameterError) as info:
        S.parse_grid(specs, claim)
    assert info.value.name in {p.name, spec.partition("=")[0].strip(), spec, "grid"}, str(info.value)
    assert "\n" not in str(info.value).replace("\\n", "")


def test_grid_parser_rejects_invalid_specs():
    _quota("grid", _grid_invalid)


def test_grid_parser_limits_and_cli_exit_code():
    claim = registry.get("ufm.ce.balanced")
    with pytest.raises(ParameterError, match="at most"):
        S.parse_grid(["d=" + ",".join(map(str, range(1, 400))), "n=" + ",".join(map(str, range(1, 400)))], claim)
    with pytest.raises(ParameterError, match="given twice"):
        S.parse_grid(["K=2,3", "K=4"], claim)
    assert S.parse_grid(["K=2:4:3", "lambda_W=1e-3,2e-3"], claim) == {"K": [2, 3, 4], "lambda_W": [1e-3, 2e-3]}
    with mock.patch.object(S, "run_sweep", _must_not_run):
        code, out, err = _cli(["sweep", "ufm.ce.balanced", "--grid", "K=2:4:100000000000"])
    assert code == 2 and out == "" and "parameter K" in err and "\n" not in err.strip()


# ============================================================================ the figure cache
GOOD = F._to_json({"x": np.arange(6.0).reshape(2, 3), "k": np.arange(3), "n": 3, "label": "a"})


def _bad_entry(draw) -> bytes:
    entry = {"dtype": "float64", "shape": [2], "values": [1.0, 2.0]}
    what = draw(st.sampled_from(["dtype", "shape", "values"]))
    if what == "dtype":
        entry["dtype"] = draw(st.sampled_from(["object", "<U3", "complex128", "V8", "M8[ns]", "float65", "", 5, None,
                                               ["float64"]]))
    elif what == "shape":
        entry["shape"] = draw(st.sampled_from([[3], [-2], [2, 2], "2", None, [2.0], [True, True], [10 ** 12] * 2]))
    else:
        entry["values"] = draw(st.sampled_from([["a", 1.0], [1.0], [[1.0], [2.0]], None, "12", [1.0, None], {}]))
    return json.dumps({"ok": 1, "bad": entry}).encode()


@st.composite
def corrupt_files(draw) -> bytes:
    kind = draw(st.sampled_from(["empty", "truncated", "binary", "toplevel", "entry", "trailing", "int_overflow"]))
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"\n"]))
    if kind == "truncated":
        return GOOD.encode()[:draw(st.integers(0, len(GOOD) - 1))]
    if kind == "binary":
        raw = draw(st.binary(min_size=1, max_size=64))
        try:
            assume(not isinstance(json.loads(raw), dict))
        except (ValueError, RecursionError):
            pass
        return raw
    if kind == "toplevel":
        return json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=5),
                                         st.none(), st.booleans()))).encode()
    if kind == "trailing":
        return GOOD.encode() + draw(st.sampled_from([b"x", b"{}", b",", b"]"]))
    if kind == "int_overflow":
        return json.dumps({"k": {"dtype": "int8", "shape": [1], "values": [draw(st.integers(128, 10 ** 30))]}}).encode()
    return _bad_entry(draw)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_cache")


def test_cache_loader_rejects_corrupted_files(cache_dir):
    path = cache_dir / "fig-0123456789abcdef.json"

    @fuzz(80)
    @given(raw=corrupt_files())
    def prop(raw):
        path.write_bytes(raw)
        INVALID["cache"] += 1
        with pytest.raises(ValueError) as info:
            F.load_data(path)
        assert path.name in str(info.value), str(info.value)

    _quota("cache", prop)
    path.write_text(GOOD)                                     # the valid encoding still loads
    data = F.load_data(path)
    assert data["n"] == 3 and data["x"].shape == (2, 3) and data["k"].dtype == np.int64


def test_corrupted_cache_file_is_rebuilt(tmp_path, monkeypatch):
    """A cached data file that no longer loads is recomputed, not trusted (documented rebuild)."""
    calls = []

    def compute(seed, device):
        calls.append(seed)
        return {"y": np.linspace(0.0, 1.0, 4)}

    def plot(data, fig):
        fig.subplots(1, 1).plot(data["y"])

    fig = F.Figure("fz", "fuzz", ("etf.simplex",), 1, compute, plot)
    monkeypatch.setattr(F, "all_figures", lambda: {"fz": fig})
    F.build_figures(["fz"], tmp_path)
    (cached,) = (tmp_path / "cache").glob("fz-*.json")
    cached.write_bytes(cached.read_bytes()[:10])               # truncated, e.g. by a kill mid-write
    F.build_figures(["fz"], tmp_path)
    assert calls == [1, 1]                                       # computed again
    np.testing.assert_array_equal(F.load_data(cached)["y"], np.linspace(0.0, 1.0, 4))
    F.build_figures(["fz"], tmp_path)
    assert calls == [1, 1]                                       # and then cached as usual


@st.composite
def corrupt_manifests(draw) -> bytes:
    good = json.dumps({"figures": [{"id": "fz", "sha256": {"fz.json": "0" * 64}}]})
    return draw(st.one_of(
        st.integers(0, len(good) - 1).map(lambda i: good[:i].encode()),                  # truncated
        st.binary(max_size=32).filter(lambda b: not b.strip().startswith(b"{")),
        st.sampled_from([b"[]", b"{}", b'{"figures": 3}', b'{"figures": [1]}', b'{"figures": [{"id": 3}]}',
                         b'{"figures": [{"id": "fz"}]}', b'{"figures": [{"id": "fz", "sha256": []}]}',
                         b'{"figures": [{"id": "fz", "sha256": {"a": 1}}]}', b"null", b"\xff\xfe"]),
    ))


def test_corrupted_manifest_is_reported_and_rebuilt(tmp_path, monkeypatch):
    """``figures --check`` reports a manifest that does not load (exit 1, naming it); a build starts it afresh."""
    fig = F.Figure("fz", "fuzz", ("etf.simplex",), 1, lambda seed, device: {"y": np.arange(3.0)},
                   lambda data, f: f.subplots(1, 1).plot(data["y"]))
    monkeypatch.setattr(F, "all_figures", lambda: {"fz": fig})
    path = tmp_path / "manifest.json"

    @fuzz(40)
    @given(raw=corrupt_manifests())
    def prop(raw):
        path.write_bytes(raw)
        INVALID["manifest"] += 1
        problems = F.check_manifest(tmp_path)
        assert len(problems) == 1 and "manifest.json" in problems[0] and "\n" not in problems[0], problems

    _quota("manifest", prop)
    code, out, _ = _cli(["figures", "--check", "--out", str(tmp_path)])
    assert code == 1 and "manifest.json: not a figure manifest" in out
    F.build_figures(["fz"], tmp_path)
    assert F.check_manifest(tmp_path) == []


SWEEP_CLAIMS = [c for c in CLAIMS if any(p.kind is not tuple for p in c.params)]


@fuzz(40)
@given(data=st.data())
def _sweep_cli_invalid(data):
    claim = data.draw(st.sampled_from(SWEEP_CLAIMS), label="claim")
    p = data.draw(st.sampled_from([q for q in claim.params if q.kind is not tuple]), label="swept")
    argv = ["sweep", claim.id, "--grid", f"{p.name}={claim.resolve({})[p.name]}"]     # a valid grid
    bad = data.draw(st.sampled_from(["set", "chunk", "batch", "workers", "checks"]), label="what")
    others = [q for q in claim.params if q.name != p.name]
    if bad == "set" and others:
        q = data.draw(st.sampled_from(others), label="fixed")
        argv += ["--set", f"{q.name}={data.draw(invalid_value(q))}"]
        expect = (f"parameter {q.name}:", f"'{q.name}=")
    elif bad == "set":
        argv += ["--set", "nope=1"]
        expect = ("parameter nope:",)
    elif bad == "checks":
        argv += ["--checks", data.draw(st.sampled_from(["nope", "symbolic,", "negative_control", "simulation,x"]))]
        expect = ("--checks",)
    else:
        argv += [f"--{bad}", str(data.draw(st.integers(-10 ** 6, 0 if bad != "workers" else -1)))]
        expect = (f"--{bad}",)
    INVALID["sweep_cli"] += 1
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(S, "run_sweep", _must_not_run):
        code = main(argv)
    line = err.getvalue().strip()
    assert code == 2 and out.getvalue() == "", (argv, code, line)
    assert line.startswith("collapsekit sweep: error: ") and "\n" not in line, line
    assert any(e in line for e in expect), (argv, line)


def test_sweep_cli_rejects_bad_set_and_options_before_running():
    """A bad --set (every point would be invalid), --chunk/--batch/--workers, --checks: exit 2."""
    _quota("sweep_cli", _sweep_cli_invalid)


def test_appendix_rejects_corrupted_results_file(tmp_path):
    path = tmp_path / "results.json"

    @fuzz(30)
    @given(raw=st.one_of(st.binary(max_size=40), st.sampled_from([b"[]", b"{}", b'{"claims": 3}', b"null", b"{"])))
    def prop(raw):
        try:
            assume(not isinstance(json.loads(raw).get("claims"), list))
        except (ValueError, AttributeError, RecursionError):
            pass
        path.write_bytes(raw)
        INVALID["results"] += 1
        with mock.patch("collapsekit.appendix.build_appendix", _must_not_run):
            code, out, err = _cli(["appendix", "--results", str(path), "--out", str(tmp_path / "app")])
        line = err.strip()
        assert code == 2 and line.startswith("collapsekit appendix: error: --results ") and "\n" not in line, line

    _quota("results", prop)


def test_zz_invalid_inputs_total():
    """When the whole file runs in one process: the total generated (printed with -s) is >= 200."""
    if set(INVALID) != set(QUOTA):
        pytest.skip("only part of the fuzz suite ran in this process")
    print(f"\ninvalid inputs generated: {sum(INVALID.values())} {dict(sorted(INVALID.items()))}")
    assert sum(INVALID.values()) >= 200
