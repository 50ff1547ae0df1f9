"""The README's worked example of adding a claim runs and passes (and its control is rejected)."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from collapsekit import registry
from collapsekit.runner import run_claim


def test_readme_worked_example_claim_passes(monkeypatch):
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```python\n(# theory/example\.py\n.*?)```", text, re.S).group(1)
    theory_src, claim_src = block.split("# collapsekit/claims/example.py\n")
    theory_mod = types.ModuleType("theory.example")
    exec(compile(theory_src, "theory/example.py", "exec"), theory_mod.__dict__)
    monkeypatch.setitem(sys.modules, "theory.example", theory_mod)
    import theory
    monkeypatch.setattr(theory, "example", theory_mod, raising=False)
    registry._load()
    before = dict(registry._CLAIMS)
    try:
        namespace = {"__name__": "collapsekit.claims.example"}
        exec(compile(claim_src, "collapsekit/claims/example.py", "exec"), namespace)
        r = run_claim(registry.get("example.inverse_chi2"), {}, device="cpu")
    finally:
        registry._CLAIMS.clear()
        registry._CLAIMS.update(before)
    assert r.checks["symbolic"].status == "pass", r.checks["symbolic"].message
    assert r.checks["numeric"].status == "pass", r.checks["numeric"].message
    assert r.checks["negative_control"].status == "pass", r.checks["negative_control"].message
