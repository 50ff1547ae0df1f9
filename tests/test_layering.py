"""theory ← numerics ← simulations ← harness: nothing imports upward."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB_OK = {"__future__", "dataclasses", "typing", "math", "collections", "functools", "itertools",
             "fractions", "abc", "enum", "hashlib", "warnings", "re"}
ALLOWED = {
    "theory": STDLIB_OK | {"sympy", "theory"},
    "numerics": STDLIB_OK | {"sympy", "numpy", "scipy", "cvxpy", "theory", "numerics"},
    "simulations": STDLIB_OK | {"sympy", "numpy", "scipy", "torch", "theory", "numerics", "simulations"},
}


def imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_downward(layer):
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
           for p in sorted((ROOT / layer).rglob("*.py")) for mod, line in imports(p) if mod not in ALLOWED[layer]]
    assert not bad, bad


def test_cvxpy_is_imported_lazily():
    """Simulations must run on a machine without cvxpy: no module-level cvxpy import."""
    for p in (ROOT / "numerics").rglob("*.py"):
        tree = ast.parse(p.read_text())
        for node in tree.body:
            names = [a.name for a in getattr(node, "names", [])] + [getattr(node, "module", "") or ""]
            assert not any(n.startswith("cvxpy") for n in names), f"{p}: top-level cvxpy import"
