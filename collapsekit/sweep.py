"""Parameter sweeps of one claim over a grid: prediction and simulation per point, resumable.

Each finished grid point is appended to ``OUT/points.jsonl`` as one JSON line, flushed and
fsync'ed before the next point starts.  A sweep killed at any moment (SIGKILL included) and
started again reads that file, drops a torn last line, skips the points already present and
computes only the rest, so every point ends up in the results exactly once.  ``results.csv``
is then rewritten from the JSON lines with a provenance header (claim, grid, seed, profile,
device, versions, git commit), and ``phase.png``/``phase.pdf`` draw the sweep.

Without a client, points run in this process on one device: claims that define
``batch_key``/``simulate_batch`` (the UFM engine's) have up to ``batch_size`` points with one key
simulated in a single batched run, the others one point after another.  With a Dask
``distributed.Client`` (``--scheduler ADDRESS`` for an existing cluster, ``--workers N`` for a
LocalCluster), chunks of points become tasks with content-derived keys and retries: a worker
killed mid-chunk makes Dask rerun that chunk elsewhere; only this process writes the JSON lines,
as results arrive, so a rerun chunk cannot duplicate a point.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from collapsekit.claim import Claim, ParameterError
from collapsekit.runner import check_simulation_batch, run_claim


#: most values one --grid may give, and most points (their product) one sweep may have
MAX_GRID_VALUES, MAX_GRID_POINTS = 10_000, 100_000


def parse_grid(specs: list[str], claim) -> dict[str, list]:
    """``NAME=v1,v2,...`` or ``NAME=start:stop:count`` (inclusive linspace, finite ends) per spec."""
    grid: dict[str, list] = {}
    kinds = {p.name: p for p in claim.params}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not values:
            raise ParameterError(name or spec, f"grid {spec!r}: expected NAME=v1,v2,... or NAME=start:stop:count")
        if name not in kinds:
            raise ParameterError(name, f"unknown for claim {claim.id} (it takes {', '.join(sorted(kinds))})")
        if name in grid:
            raise ParameterError(name, f"grid {spec!r}: {name} is given twice")
        try:
            if ":" in values:
                a, b, c = values.split(":")
                a, b, c = float(a), float(b), int(c)
                if not (np.isfinite(a) and np.isfinite(b)):
                    raise ValueError(f"start and stop must be finite, got {a}, {b}")
                if not 1 <= c <= MAX_GRID_VALUES:
                    raise ValueError(f"count {c} is not in 1..{MAX_GRID_VALUES}")
                raw = np.linspace(a, b, c).tolist()
            else:
                raw = [v for v in values.split(",") if v.strip()]
                if len(raw) > MAX_GRID_VALUES:
                    raise ValueError(f"{len(raw)} values; at most {MAX_GRID_VALUES}")
            grid[name] = [kinds[name].coerce(v) for v in raw]
        except ValueError as exc:
            why = str(exc).partition(": ")[2] if isinstance(exc, ParameterError) else str(exc)
            raise ParameterError(name, f"grid {spec!r}: {why}") from None
        if not grid[name]:
            raise ParameterError(name, f"grid {spec!r} has no values")
    if not grid:
        raise ParameterError("grid", "give at least one --grid NAME=VALUES")
    total = int(np.prod([len(v) for v in grid.values()], dtype=object))
    if total > MAX_GRID_POINTS:
        raise ParameterError("grid", f"{total} points; at most {MAX_GRID_POINTS} (a coarser grid, or several sweeps)")
    return grid


def points(grid: dict[str, list]) -> list[dict[str, Any]]:
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def point_key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True)


def read_done(path: Path) -> dict[str, dict]:
    """Finished points by key; a torn last line (a kill mid-write) is cut off the file."""
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    raw = path.read_bytes()
    good = 0
    for line in raw.splitlines(keepends=True):
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            break
        if not line.endswith(b"\n"):
            break
        done.setdefault(point_key(row["point"]), row)
        good += len(line)
    if good < len(raw):
        with open(path, "r+b") as f:
            f.truncate(good)
    return done


def _row(claim, point, seed, device, profile, kinds) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        r = run_claim(claim, point, seed=seed, device=device, profile=profile, kinds=kinds)
    except ParameterError as exc:
        return {"point": point, "status": "invalid", "message": str(exc), "seconds": 0.0}
    checks = {k: v.status for k, v in r.checks.items() if k in kinds}
    return {"point": point, "status": "fail" if "fail" in checks.values() else "pass", "checks": checks,
            "predicted": r.predicted or {}, "observed": r.observed,
            "message": "; ".join(f"{k}: {v.message}" for k, v in r.checks.items() if k in kinds),
            "seconds": round(time.perf_counter() - t0, 3)}


def _chunk_rows(claim_id: str, chunk: list[dict], seed: int, device: str, profile: str,
                kinds: tuple[str, ...]) -> list[dict]:
    """A task for a worker: the rows of a chunk of points (imports the registry there)."""
    from collapsekit import registry

    claim = registry.get(claim_id)
    return [_row(claim, p, seed, device, profile, kinds) for p in chunk]


def batchable(claim, kinds) -> bool:
    """Whether the sweep can batch this claim's points (simulation only, and the claim says how)."""
    return tuple(kinds) == ("simulation",) and type(claim).simulate_batch is not Claim.simulate_batch


def _batched_rows(claim, todo, seed, device, profile, batch_size):
    """Rows of points grouped by ``claim.batch_key`` and simulated ``batch_size`` at a time in one run."""
    groups: dict[Any, list[dict]] = {}
    for point in todo:
        try:
            key = claim.batch_key(claim.resolve(point))
        except ParameterError as exc:
            yield {"point": point, "status": "invalid", "message": str(exc), "seconds": 0.0}
            continue
        groups.setdefault(json.dumps(key, sort_keys=True, default=str), []).append(point)
    for pts in groups.values():
        for i in range(0, len(pts), batch_size):
            chunk = pts[i:i + batch_size]
            t0 = time.perf_counter()
            results = check_simulation_batch(claim, chunk, seed=seed, device=device, profile=profile)
            each = round((time.perf_counter() - t0) / len(chunk), 3)
            for point, (_, predicted, observed, check) in zip(chunk, results):
                yield {"point": point, "status": "fail" if check.status == "fail" else "pass",
                       "checks": {"simulation": check.status}, "predicted": predicted or {}, "observed": observed,
                       "message": f"simulation: {check.message}", "seconds": each, "batched": len(chunk)}


def _results(claim, todo, seed, device, profile, kinds, client, chunk_size, batch_size=64):
    """Yield finished rows: in process (batched where the claim supports it), or from Dask tasks."""
    if client is None:
        if batchable(claim, kinds) and batch_size > 1:
            yield from _batched_rows(claim, todo, seed, device, profile, batch_size)
            return
        for point in todo:
            yield _row(claim, point, seed, device, profile, kinds)
        return
    import hashlib

    from distributed import as_completed

    chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]
    futures = []
    for chunk in chunks:
        digest = hashlib.sha256(json.dumps([claim.id, chunk, seed, device, profile, kinds],
                                           sort_keys=True).encode()).hexdigest()[:20]
        futures.append(client.submit(_chunk_rows, claim.id, chunk, seed, device, profile, tuple(kinds),
                                     key=f"collapsekit-sweep-{digest}", retries=3, pure=False))
    for future in as_completed(futures):
        yield from future.result()


def run_sweep(claim, grid: dict[str, list], out: Path, *, seed: int = 0, device: str = "cpu",
              profile: str = "quick", kinds: tuple[str, ...] = ("simulation",), progress=None,
              fixed: dict[str, Any] | None = None, client=None, chunk_size: int = 1,
              batch_size: int = 64) -> list[dict]:
    """Compute the missing points of ``grid`` (with the ``fixed`` parameters; appending each to
    points.jsonl), then write the CSV and the figure.  Returns every point's row, in grid order."""
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "points.jsonl"
    done = read_done(jsonl)
    clash = set(fixed or {}) & set(grid)
    if clash:
        raise ParameterError(sorted(clash)[0], "both fixed (--set) and swept (--grid)")
    everything = [{**(fixed or {}), **p} for p in points(grid)]
    todo = [p for p in everything if point_key(p) not in done]
    with open(jsonl, "a", encoding="utf-8") as f:
        for i, row in enumerate(_results(claim, todo, seed, device, profile, kinds, client, chunk_size, batch_size)):
            if point_key(row["point"]) in done:           # a retried chunk: already committed
                continue
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done[point_key(row["point"])] = row
            if progress:
                progress(i, len(todo), json.dumps(row["point"]))
    rows = [done[point_key(p)] for p in everything]
    write_csv(out / "results.csv", claim, grid, rows, seed=seed, device=device, profile=profile, fixed=fixed)
    plot_sweep(out, claim, grid, rows)
    return rows


def write_csv(path: Path, claim, grid, rows, *, seed, device, profile, fixed=None) -> None:
    from collapsekit.figures import _git_commit, _versions

    names = list(grid)
    quantities = sorted({k for r in rows for k in r.get("predicted", {})})
    observed = sorted({k for r in rows for k in r.get("observed", {})})
    buf = io.StringIO()
    provenance = {"claim": claim.id, "grid": grid, "fixed": fixed or {}, "seed": seed, "device": device, "profile": profile,
                  "versions": _versions(), "git_commit": _git_commit()}
    buf.write(f"# collapsekit sweep: {json.dumps(provenance, sort_keys=True)}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names + ["status"] + [f"predicted.{q}" for q in quantities] + observed + ["seconds"])
    for r in rows:
        w.writerow([r["point"][n] for n in names] + [r["status"]]
                   + [r.get("predicted", {}).get(q, "") for q in quantities]
                   + [r.get("observed", {}).get(q, "") for q in observed] + [r["seconds"]])
    path.write_text(buf.getvalue())


def plot_sweep(out: Path, claim, grid, rows) -> None:
    """One panel per predicted quantity: the prediction as a line (one per value of the second
    grid parameter, if any), the simulated values as points; failed points marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(grid)
    available = sorted({k for r in rows for k in r.get("predicted", {})})
    quantities = [q for q in claim.sweep_quantities if q in available] or available[:4]
    if not quantities:
        return
    x, series = names[0], (names[1] if len(names) > 1 else None)
    fig, axes = plt.subplots(1, len(quantities), figsize=(4.2 * len(quantities), 3.6), squeeze=False)
    for ax, q in zip(axes[0], quantities):
        for j, sv in enumerate(grid[series] if series else [None]):
            sel = [r for r in rows if r["status"] != "invalid" and (series is None or r["point"][series] == sv)]
            if not sel:
                continue
            xs = [r["point"][x] for r in sel]
            label = f"{series} = {sv}" if series else None
            ax.plot(xs, [r["predicted"].get(q, np.nan) for r in sel], "-", color=f"C{j}", lw=1, label=label)
            sim = [r["observed"].get(f"simulation.{q}", np.nan) for r in sel]
            ax.plot(xs, sim, "o", color=f"C{j}", ms=4)
            bad = [(xx, s) for xx, s, r in zip(xs, sim, sel) if r["status"] == "fail"]
            if bad:
                ax.plot(*zip(*bad), "x", color="k", ms=7)
        ax.set(xlabel=x, ylabel=q, title=f"{claim.id}: {q}")
        if series:
            ax.legend(fontsize=7)
    fig.suptitle("lines: prediction; dots: simulation; x: failed check", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "phase.png", dpi=120, metadata={"Software": None})
    fig.savefig(out / "phase.pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})
    plt.close(fig)
