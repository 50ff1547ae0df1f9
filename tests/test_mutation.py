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


def test_a_small_sample_runs_and_the_suite_kills_formula_mutants():
    """A seeded sample of three mutants of the mixing module, each run in a forked child."""
    from collapsekit.mutation import run

    report = run("theory.model_collapse_mixing", sample=3, seed=1, jobs=1)
    assert report["mutants"] == 3 and report["sampled"] and report["sites"] > 3
    assert report["baseline"] and all(v["status"] == "pass" for v in report["baseline"].values())
    counts = [report[k] for k in ("survived", "uncovered", "timeout")]
    assert report["killed"] + sum(counts) - report["timeout"] == 3      # killed counts the time-outs
    assert report["killed"] >= 1, report["results"]          # the checks do notice a wrong formula
    again = run("theory.model_collapse_mixing", sample=3, seed=1, jobs=1)
    assert [r["description"] for r in again["results"]] == [r["description"] for r in report["results"]]


def test_plan_runs_only_covering_checks_fastest_first_and_marks_the_rest_uncovered():
    from collapsekit.mutation import Mutant, plan

    baseline = {"a|numeric": {"status": "pass", "seconds": 2.0, "lines": [4, 5]},
                "a|symbolic": {"status": "pass", "seconds": 9.0, "lines": [5, 6]},
                "b|numeric": {"status": "pass", "seconds": 0.5, "lines": [5]}}
    far = Mutant(0, 9, 0, "constant 2 -> 3", end_line=9)
    wide = Mutant(1, 3, 0, "operator Add -> Sub", end_line=5)       # a site over lines 3..5
    six = Mutant(2, 6, 0, "unary minus removed", end_line=6)
    queue = plan([(far, "x"), (wide, "y"), (six, "z")], baseline)
    assert far.status == "uncovered" and [q[0] for q in queue] == [wide, six]
    assert queue[0][2] == [["b", "numeric"], ["a", "numeric"], ["a", "symbolic"]]
    assert queue[1][2] == [["a", "symbolic"]]


def test_bad_arguments_are_errors():
    import pytest

    from collapsekit.mutation import run

    with pytest.raises(ValueError, match="not found"):
        run("theory.no_such_module")
    with pytest.raises(ValueError, match="jobs"):
        run("theory.model_collapse_mixing", jobs=0)
    with pytest.raises(ValueError, match="no registered claim"):
        run("collapsekit.bench")
