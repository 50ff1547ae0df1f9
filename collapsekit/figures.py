"""Figures as declarations: ``figures/<name>.py`` defines ``FIGURE = Figure(...)``.

``compute(seed, device)`` returns a dict of arrays (the expensive part, stored as
JSON next to the images); ``plot(data, fig)`` draws from that data only.  Images
are written with fixed metadata so the bytes are stable; a manifest lists every
file's sha256, the figure's claims, seed, device, versions and wall time.
"""
from __future__ import annotations

import hashlib
import importlib
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
    """Inverse of the JSON encoding (no pickle anywhere)."""
    raw = json.loads(Path(path).read_text())
    out = {}
    for k, v in raw.items():
        if isinstance(v, dict) and {"dtype", "shape", "values"} <= set(v):
            out[k] = np.asarray(v["values"], dtype=v["dtype"]).reshape(v["shape"])
        else:
            out[k] = v
    return out


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


def build_figures(ids: list[str] | None, out: Path, *, device: str = "cpu", log=None) -> dict[str, Any]:
    available = all_figures()
    chosen = ids or sorted(available)
    for fid in chosen:
        if fid not in available:
            raise KeyError(f"no figure {fid!r}; available: {', '.join(sorted(available))}")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"figures": []}
    entries = {e["id"]: e for e in manifest.get("figures", [])}
    for fid in chosen:
        spec = available[fid]
        if log:
            print(f"figure {fid} ...", file=log, flush=True)
        t0 = time.perf_counter()
        data = spec.compute(spec.seed, device)
        data_path = out / f"{fid}.json"
        data_path.write_text(_to_json(data))
        files = [data_path] + render(spec, load_data(data_path), out)
        entries[fid] = {"id": fid, "title": spec.title, "caption": spec.caption, "claims": list(spec.claims),
                        "seed": spec.seed, "device": device, "wall_s": round(time.perf_counter() - t0, 2),
                        "files": [p.name for p in files], "sha256": {p.name: _sha256(p) for p in files}}
    manifest = {"versions": _versions(), "git_commit": _git_commit(),
                "figures": [entries[k] for k in sorted(entries)]}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest
