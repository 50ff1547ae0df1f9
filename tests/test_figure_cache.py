"""Figures as cached declarations: content keys, dependency tracking, --check."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from collapsekit import figures as F
from collapsekit.cli import main

calls = {"a": 0, "b": 0}
SWEEP = (1, 2, 3)          # an upper-case constant: recorded as the figure's input


def _compute_a(seed, device):
    calls["a"] += 1
    return {"x": np.arange(3.0) + seed, "y": np.random.default_rng(seed).standard_normal(4)}


def _compute_b(seed, device):
    calls["b"] += 1
    return {"z": np.linspace(0, 1, 5) * seed}


def _plot(data, fig):
    ax = fig.subplots(1, 1)
    for k, v in data.items():
        ax.plot(np.ravel(v), label=k)


FIGS = {"fa": F.Figure("fa", "A", ("etf.simplex",), 3, _compute_a, _plot),
        "fb": F.Figure("fb", "B", ("ssl.directpred",), 4, _compute_b, _plot)}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(F, "all_figures", lambda: dict(FIGS))
    calls.update(a=0, b=0)
    return FIGS


def _manifest(out):
    return {e["id"]: e for e in json.loads((out / "manifest.json").read_text())["figures"]}


def test_second_build_is_cached_and_byte_identical(tmp_path, fake):
    first = F.build_figures(None, tmp_path / "one")
    again = F.build_figures(None, tmp_path / "one")
    assert calls == {"a": 1, "b": 1}                           # the second build computed nothing
    fresh = F.build_figures(None, tmp_path / "two")             # a fresh folder recomputes...
    assert calls == {"a": 2, "b": 2}
    for m in (again, fresh):                                    # ...to the same bytes
        assert [e["sha256"] for e in m["figures"]] == [e["sha256"] for e in first["figures"]]
        assert [e["key"] for e in m["figures"]] == [e["key"] for e in first["figures"]]
    assert _manifest(tmp_path / "one")["fa"]["inputs"]["SWEEP"] == [1, 2, 3]


def test_deleting_one_cached_artifact_recomputes_only_that_figure(tmp_path, fake):
    F.build_figures(None, tmp_path)
    (cached,) = (tmp_path / "cache").glob("fb-*.json")
    cached.unlink()
    F.build_figures(None, tmp_path)
    assert calls == {"a": 1, "b": 2}


def test_editing_a_claims_code_invalidates_exactly_the_figures_that_depend_on_it(tmp_path, monkeypatch):
    figs = F.all_figures()
    before = {fid: F.cache_key(spec, "cpu") for fid, spec in figs.items()}
    edited = tmp_path / "model_collapse_ridge.py"
    shutil.copy(F._source_path("theory.model_collapse_ridge"), edited)
    edited.write_text(edited.read_text() + "\n# an edit\n")
    real = F._source_path
    monkeypatch.setattr(F, "_source_path", lambda m: edited if m == "theory.model_collapse_ridge" else real(m))
    after = {fid: F.cache_key(spec, "cpu") for fid, spec in figs.items()}
    changed = {fid for fid in figs if before[fid] != after[fid]}
    depends = {fid for fid, spec in figs.items() if "theory.model_collapse_ridge" in F.figure_dependencies(spec)}
    assert changed == depends == {"model_collapse_ridge"}


def test_dependencies_follow_imports_transitively():
    deps = F.figure_dependencies(F.all_figures()["model_collapse_ridge"])
    assert {"theory.model_collapse_ridge", "theory.model_collapse", "simulations.model_collapse_scaling",
            "collapsekit.claims.model_collapse_scaling", "theory.proof"} <= set(deps)
    assert not any(d.startswith(("theory.etf", "simulations.ufm")) for d in deps)
    assert "collapsekit.figures" not in deps and "collapsekit.claims" not in deps


def test_check_finds_tampered_files_and_stale_code(tmp_path, fake, monkeypatch, capsys):
    F.build_figures(None, tmp_path)
    assert F.check_manifest(tmp_path) == []
    assert main(["figures", "--check", "--out", str(tmp_path)]) == 0
    png = tmp_path / "fa.png"
    png.write_bytes(png.read_bytes() + b"x")
    monkeypatch.setattr(F, "cache_key", lambda spec, device: "0" * 64 if spec.id == "fb" else F_KEY(spec, device))
    problems = F.check_manifest(tmp_path)
    assert any("fa.png" in p and "sha256" in p for p in problems)
    assert any(p.startswith("fb: stale") for p in problems)
    assert main(["figures", "--check", "--out", str(tmp_path)]) == 1


F_KEY = F.cache_key


def test_check_without_a_manifest_fails(tmp_path):
    assert F.check_manifest(tmp_path) and main(["figures", "--check", "--out", str(tmp_path)]) == 1


def test_cached_data_is_plain_json(tmp_path, fake):
    F.build_figures(["fa"], tmp_path)
    (cached,) = (tmp_path / "cache").glob("fa-*.json")
    data = F.load_data(cached)
    assert np.array_equal(data["x"], np.arange(3.0) + 3)
