"""The mutation driver: sites, mutated sources, and the claims a module's mutants are run against."""
from __future__ import annotations

import ast

from collapsekit.mutation import dependent_claims, mutants

SOURCE = '''"""Doc 2."""
def f(x):
    """Not 3 either."""
    return 2 * x ** 2 - x / 4 + (-x)
'''


def test_every_site_gives_one_compiling_mutant_and_docstrings_are_left_alone():
    ms = mutants(SOURCE)
    descriptions = [m.description for m, _ in ms]
    # constants 2, 2, 4; operators * ** - / +; one unary minus
    assert sorted(descriptions) == sorted([
        "constant 2 -> 3", "constant 2 -> 3", "constant 4 -> 5", "operator Mult -> Div", "operator Pow -> Mult",
        "operator Sub -> Add", "operator Div -> Mult", "operator Add -> Sub", "unary minus removed"])
    originals = ast.dump(ast.parse(SOURCE))
    for m, text in ms:
        assert ast.dump(ast.parse(text)) != originals, m.description
        assert '"""Doc 2."""' in text or "'Doc 2.'" in text
        ns = {}
        exec(compile(text, "<mutant>", "exec"), ns)
        x = 1.7
        assert ns["f"](x) != 2 * x ** 2 - x / 4 + (-x), m.description   # each mutant changes f


def test_dependent_claims_follow_imports():
    assert dependent_claims("theory.model_collapse_mixing") == ["model_collapse.mixing"]
    assert "model_collapse.ridge" in dependent_claims("theory.model_collapse")
