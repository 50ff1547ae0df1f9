"""Figures as declarations: ``figures/<name>.py`` defines ``FIGURE = Figure(...)``.

``compute(seed, device)`` returns a dict of arrays (the expensive part); ``plot(data, fig)``
draws from that data only.  The computed data is cached as JSON (never pickle) under a
content key: the figure id and seed, the device kind, the library versions, and the source
of every project module the figure's compute and its claims import, followed transitively
(``dependencies``).  Editing any of that code changes the key, so exactly the figures that
depend on it are recomputed; deleting a cached file, or corrupting it so that it no longer
loads, recomputes only that figure.  Images are written with fixed metadata so the bytes are
stable; ``manifest.json`` lists, per figure, the
key, the module-level inputs (upper-case constants), claims, seed, device, wall time, every
file's sha256, the versions and the git commit.  ``check_manifest`` re-verifies it.
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import json
import pkgutil
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    claims: tuple[str, ...]
    seed: int
    compute: Callable[[int, str], dict[str, Any]]
    plot: Callable[[dict[str, np.ndarray], Any], None]
    caption: str = ""
    size: tuple[float, float] = (9.0, 3.6)


def all_figures() -> dict[str, Figure]:
    import figures as pkg

    found = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"figures.{info.name}")
        fig = getattr(module, "FIGURE", None)
        if isinstance(fig, Figure):
            found[fig.id] = fig
    return found


PROJECT_PACKAGES = ("theory", "numerics", "simulations", "collapsekit", "figures")
# Harness modules whose code does not enter computed data (drawing, caching, registry, CLI):
# following them would tie every figure to every claim.
_NOT_DATA = {"collapsekit", "collapsekit.figures", "collapsekit.registry", "collapsekit.cli",
             "collapsekit.appendix", "collapsekit.claims", "collapsekit.__main__", "figures"}


def _source_path(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _imports(module: str) -> set[str]:
    """Project modules that ``module`` imports (``from pkg import mod`` counts as pkg.mod)."""
    path = _source_path(module)
    if path is None:
        return set()
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if _source_path(f"{base}.{a.name}") else base for a in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in PROJECT_PACKAGES}
    return found


def dependencies(*modules: str) -> list[str]:
    """The project modules ``modules`` depend on, transitively (themselves included)."""
    seen, todo = set(), [m for m in modules if m not in _NOT_DATA]
    while todo:
        m = todo.pop()
        if m in seen or _source_path(m) is None:
            continue
        seen.add(m)
        todo += [n for n in _imports(m) if n not in seen and n not in _NOT_DATA]
    return sorted(seen)


def figure_dependencies(spec: Figure) -> list[str]:
    from collapsekit import registry

    claim_modules = [type(registry.get(cid)).__module__ for cid in spec.claims]
    return dependencies(spec.compute.__module__, *claim_modules)


def _data_versions() -> dict[str, str]:
    import scipy
    import sympy
    import torch

    return {"python": ".".join(platform.python_version_tuple()[:2]), "numpy": np.__version__,
            "scipy": scipy.__version__, "sympy": sympy.__version__, "torch": torch.__version__.split("+")[0]}


def inputs(spec: Figure) -> dict[str, Any]:
    """The figure module's upper-case constants that are plain data (its declared sweep)."""
    module = importlib.import_module(spec.compute.__module__)
    out = {}
    for name, value in vars(module).items():
        if name.isupper() and not name.startswith("_"):
            if isinstance(value, np.ndarray) and value.size <= 64:
                value = value.tolist()
            try:
                out[name] = json.loads(json.dumps(value))
            except (TypeError, ValueError):
                continue
    return dict(sorted(out.items()))


def cache_key(spec: Figure, device: str) -> str:
    """sha256 of everything the computed data depends on (see the module docstring)."""
    h = hashlib.sha256()
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    h.update(json.dumps({"id": spec.id, "seed": spec.seed, "device": kind, "versions": _data_versions(),
                         "inputs": inputs(spec)}, sort_keys=True).encode())
    for m in figure_dependencies(spec):
        h.update(m.encode() + b"\0" + _source_path(m).read_bytes() + b"\0")
    return h.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    import matplotlib
    import scipy
    import sympy
    import torch

    from collapsekit import __version__

    return {"collapsekit": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "sympy": sympy.__version__, "torch": torch.__version__,
            "matplotlib": matplotlib.__version__}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _to_json(data: dict[str, Any]) -> str:
    def conv(v):
        if isinstance(v, np.ndarray):
            return {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.ravel().tolist()}
        if isinstance(v, (np.floating, np.integer)):
            return v.item()
        return v
    return json.dumps({k: conv(v) for k, v in sorted(data.items())}, sort_keys=True, allow_nan=True)


def load_data(path: Path) -> dict[str, Any]:
    """Inverse of the JSON encoding (no pickle anywhere).

    A file that is not such an encoding (empty, truncated, not JSON, not an object, an array
    entry with a bad dtype, shape or values) raises ValueError naming the file and the entry.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not a figure data file (not valid JSON: {exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a figure data file (a JSON {type(raw).__name__}, expected an object)")
    out = {}
    for k, v in raw.items():
        if isinstance(v, dict) and {"dtype", "shape", "values"} <= set(v):
            out[k] = _decode_array(v, f"{path}: entry {k!r}")
        else:
            out[k] = v
    return out


def _decode_array(v: dict[str, Any], where: str) -> np.ndarray:
    """One ``{"dtype", "shape", "values"}`` entry (as written by ``_to_json``) back to an array."""
    try:
        dtype = np.dtype(v["dtype"]) if isinstance(v["dtype"], str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise ValueError(f"{where}: dtype {v['dtype']!r} is not a numeric dtype")
    shape = v["shape"]
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                              for n in shape):
        raise ValueError(f"{where}: shape {shape!r} is not a list of sizes")
    values = v["values"]
    if not isinstance(values, list) or len(values) != int(np.prod(shape, dtype=object)):
        raise ValueError(f"{where}: values are not a flat list of {int(np.prod(shape, dtype=object))} numbers")
    if not all(isinstance(x, (int, float)) for x in values):
        raise ValueError(f"{where}: values are not all numbers")
    try:
        return np.asarray(values, dtype=dtype).reshape(shape)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{where}: values do not fit dtype {dtype}: {exc}") from None


def _loads(path: Path) -> bool:
    """Whether a cached data file loads (a truncated or corrupted one is recomputed)."""
    try:
        load_data(path)
    except ValueError:
        return False
    return True


def render(fig_spec: Figure, data: dict[str, Any], out: Path) -> list[Path]:
    """Draw and save PNG and PDF with fixed metadata (stable bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.hashsalt": "collapsekit", "pdf.compression": 6,
                                "font.family": "DejaVu Sans"}):
        fig = plt.figure(figsize=fig_spec.size, dpi=100)
        try:
            fig_spec.plot(data, fig)
            png, pdf = out / f"{fig_spec.id}.png", out / f"{fig_spec.id}.pdf"
            fig.savefig(png, dpi=150, metadata={"Software": None})
            fig.savefig(pdf, metadata={"Creator": None, "Producer": None, "CreationDate": None})
        finally:
            plt.close(fig)
    return [png, pdf]


def build_figures(ids: list[str] | None, out: Path, *, device: str = "cpu", log=None, use_cache: bool = True,
                  progress=None) -> dict[str, Any]:
    """Compute (or load from the cache) and draw the chosen figures; update the manifest
    (a manifest that no longer loads is started afresh with the figures built now)."""
    available = all_figures()
    chosen = ids or sorted(available)
    for fid in chosen:
        if fid not in available:
            raise KeyError(f"no figure {fid!r}; available: {', '.join(sorted(available))}")
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"
    cache.mkdir(exist_ok=True)
    manifest_path = out / "manifest.json"
    try:
        manifest = read_manifest(manifest_path) if manifest_path.exists() else {"figures": []}
    except ValueError:
        manifest = {"figures": []}
    entries = {e["id"]: e for e in manifest.get("figures", [])}
    for i, fid in enumerate(chosen):
        spec = available[fid]
        key = cache_key(spec, device)
        cached = cache / f"{fid}-{key[:16]}.json"
        hit = use_cache and cached.exists() and _loads(cached)
        if progress:
            progress(i, len(chosen), f"figure {fid}" + (" (cached)" if hit else ""))
        elif log:
            print(f"figure {fid} {'(cached)' if hit else '...'}", file=log, flush=True)
        t0 = time.perf_counter()
        if not hit:
            text = _to_json(spec.compute(spec.seed, device))
            for stale in cache.glob(f"{fid}-*.json"):
                stale.unlink()
            cached.write_text(text)
        data_path = out / f"{fid}.json"
        data_path.write_bytes(cached.read_bytes())
        files = [data_path] + render(spec, load_data(data_path), out)
        previous = entries.get(fid, {})
        entries[fid] = {"id": fid, "title": spec.title, "caption": spec.caption, "claims": list(spec.claims),
                        "seed": spec.seed, "device": device, "key": key, "inputs": inputs(spec),
                        "depends_on": figure_dependencies(spec),
                        "wall_s": previous.get("wall_s") if hit and previous.get("key") == key
                        else round(time.perf_counter() - t0, 2),
                        "files": [p.name for p in files], "sha256": {p.name: _sha256(p) for p in files}}
    manifest = {"versions": _versions(), "git_commit": _git_commit(),
                "figures": [entries[k] for k in sorted(entries)]}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    """``manifest.json``; ValueError naming the file when it is not one (corrupted, truncated)."""
    try:
        manifest = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not a figure manifest (not valid JSON: {exc})") from None
    entries = manifest.get("figures") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("id"), str) and isinstance(e.get("sha256"), dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in e["sha256"].items()) for e in entries):
        raise ValueError(f"{path}: not a figure manifest (expected {{\"figures\": [{{\"id\": ..., \"sha256\": "
                         f"{{file: digest}}}}, ...]}})")
    return manifest


def check_manifest(out: Path, device: str = "cpu", ids: list[str] | None = None) -> list[str]:
    """Problems found re-verifying ``out/manifest.json``: a missing or changed file, or a
    figure whose code (or inputs, seed, versions) changed since it was computed; without
    ``ids``, also every figure not built."""
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        return [f"{manifest_path}: no manifest (run `collapsekit figures` first)"]
    try:
        recorded = read_manifest(manifest_path)["figures"]
    except ValueError as exc:
        return [f"{exc} (run `collapsekit figures` to rebuild it)"]
    available = all_figures()
    problems = []
    for entry in recorded:
        fid = entry["id"]
        if ids and fid not in ids:
            continue
        for name, digest in entry["sha256"].items():
            path = out / name
            if not path.exists():
                problems.append(f"{fid}: {name} is missing")
            elif _sha256(path) != digest:
                problems.append(f"{fid}: {name} does not match its recorded sha256")
        if fid not in available:
            problems.append(f"{fid}: no such figure any more")
        elif cache_key(available[fid], entry.get("device", device)) != entry.get("key"):
            problems.append(f"{fid}: stale: its code, inputs, seed or library versions changed since it was computed")
    built = {e["id"] for e in recorded}
    missing = sorted((set(ids) if ids else set(available)) - built)
    problems += [f"{fid}: not built" for fid in missing]
    return problems
