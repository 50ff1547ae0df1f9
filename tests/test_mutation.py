"""The mutation driver: sites, mutated sources, and the claims a module's mutants are run against."""
from __future__ import annotations

import ast

import pytest

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
    """A seeded sample of three mutants of the mixing module, each run in a forked child (the claims'
    checks only: the module's test files would triple the time)."""
    from collapsekit.mutation import run

    report = run("theory.model_collapse_mixing", sample=3, seed=1, jobs=2, with_tests=False)
    assert report["mutants"] == 3 and report["sampled"] and report["sites"] > 3
    assert report["baseline"] and all(v["status"] == "pass" for v in report["baseline"].values())
    counts = [report[k] for k in ("survived", "uncovered", "timeout", "equivalent")]
    assert report["killed"] + sum(counts) - report["timeout"] == 3      # killed counts the time-outs
    assert report["killed"] >= 1, report["results"]          # the checks do notice a wrong formula
    assert all(r["code"] for r in report["results"])          # each mutant is named by its line's text


def test_the_sample_is_seeded():
    import random

    from collapsekit.mutation import mutants

    from pathlib import Path

    src = (Path(__file__).resolve().parents[1] / "theory/model_collapse_mixing.py").read_text()
    ms = mutants(src)
    pick = [sorted(random.Random(1).sample(range(len(ms)), 3)) for _ in range(2)]
    assert pick[0] == pick[1]
    keys = [m.key for m, _ in ms]
    assert len(set(keys)) == len(keys)                         # (code, description, ordinal) is a name


NUMERIC = '''from numerics import closed_form
import numpy as np


def solver(x, steps=200, tol=1e-9):
    return x * 2


@closed_form
def objective(x):
    return 0.5 * np.sum(x ** 2) + 1


class P:
    @property
    @closed_form
    def value(self):
        return 3 - 1
'''


def test_numerics_modules_are_mutated_only_in_their_closed_form_functions():
    from collapsekit.mutation import closed_form_spans, mutants, scope_of

    import ast
    scope = scope_of("numerics.fake", NUMERIC)
    assert scope == closed_form_spans(ast.parse(NUMERIC)) and len(scope) == 2
    descriptions = sorted(m.description for m, _ in mutants(NUMERIC, scope))
    # objective: 0.5, *, **, 2, +, 1; value: 3, -, 1.  Nothing of solver's 2, 200, 1e-9 (or -9).
    assert descriptions == sorted(["constant 0.5 -> 1.5", "operator Mult -> Div", "operator Pow -> Mult",
                                   "constant 2 -> 3", "operator Add -> Sub", "constant 1 -> 2",
                                   "constant 3 -> 4", "operator Sub -> Add", "constant 1 -> 2"])
    assert all(m.line >= 10 for m, _ in mutants(NUMERIC, scope))
    assert scope_of("theory.fake", NUMERIC) is None            # theory: the whole module
    assert len(mutants(NUMERIC, None)) > len(mutants(NUMERIC, scope))


def test_every_mutated_module_is_covered_by_something_and_numerics_are_marked():
    from collapsekit.mutation import dependent_claims, module_tests, mutable_modules

    mods = mutable_modules()
    assert "numerics.metrics" in mods and "theory.ufm_ce" in mods and "numerics.ufm" in mods
    assert all(m.split(".")[0] in ("theory", "numerics") for m in mods)
    for m in ("numerics.metrics", "numerics.ufm_sdp"):
        assert dependent_claims(m) or module_tests(m)


def test_merge_replaces_rerun_mutants_and_equivalents_leave_the_denominator(tmp_path):
    import json

    from collapsekit.mutation import load_equivalents, merge, summary_table

    def r(code, status, desc="constant 1 -> 2"):
        return {"code": code, "description": desc, "ordinal": 0, "status": status, "line": 1}

    prev = {"module": "theory.x", "mutants": 4, "sites": 4, "killed": 2, "timeout": 0, "survived": 2, "uncovered": 0,
            "equivalent": 0, "seconds": 10.0, "claims": ["c"], "tests": [], "baseline": {},
            "results": [r("a", "killed"), r("b", "killed"), r("c", "survived"), r("d", "survived")]}
    again = {"module": "theory.x", "seconds": 3.0, "claims": ["c"], "tests": [], "baseline": {},
             "results": [r("c", "killed"), r("d", "equivalent")]}
    m = merge(prev, again)
    assert (m["killed"], m["survived"], m["equivalent"], m["kill_rate"]) == (3, 0, 1, 1.0)
    assert m["seconds"] == 13.0 and m["reruns"] == 1
    assert "100.0%" in summary_table([m])
    (tmp_path / "theory.x.json").write_text(json.dumps([{"code": "d", "description": "constant 1 -> 2", "why": ""}]))
    with pytest.raises(ValueError, match="why"):
        load_equivalents(tmp_path)
    (tmp_path / "theory.x.json").write_text(json.dumps([{"code": "d", "description": "constant 1 -> 2",
                                                         "why": "d is multiplied by zero two lines below"}]))
    assert load_equivalents(tmp_path) == {"theory.x": [{"code": "d", "description": "constant 1 -> 2",
                                                        "why": "d is multiplied by zero two lines below"}]}
    assert load_equivalents(tmp_path / "missing") == {}


def test_explanations_written_after_a_run_apply_to_its_saved_report():
    """--summarize marks a saved report's survivors that are explained now as equivalent (no rerun: the
    mutant is the same), leaves other survivors and killed mutants alone, and recomputes the rate."""
    from collapsekit.mutation import apply_equivalents, equivalents_markdown, summary_table

    def r(code, status):
        return {"code": code, "description": "constant 1 -> 2", "ordinal": 0, "status": status, "line": 1}

    rep = {"module": "theory.x", "mutants": 4, "sites": 4, "killed": 2, "timeout": 0, "survived": 2, "uncovered": 0,
           "equivalent": 0, "seconds": 1.0, "results": [r("a", "killed"), r("b", "killed"), r("c", "survived"),
                                                        r("d", "survived")]}
    why = {"theory.x": [{"code": "d", "description": "constant 1 -> 2", "why": "d is multiplied by zero"},
                        {"code": "a", "description": "constant 1 -> 2", "why": "not applied: a was killed"}]}
    out = apply_equivalents(rep, why)
    assert (out["killed"], out["survived"], out["equivalent"]) == (2, 1, 1)
    assert [x["status"] for x in out["results"]] == ["killed", "killed", "survived", "equivalent"]
    assert "66.7%" in summary_table([out]) and "d is multiplied by zero" in equivalents_markdown([out])
    assert rep["results"][3]["status"] == "survived"                     # the saved report is not changed


def test_the_equivalents_file_is_well_formed():
    from collapsekit.mutation import load_equivalents

    from collapsekit.mutation import mutable_modules

    mods = set(mutable_modules())
    for module, items in load_equivalents().items():
        assert module in mods, module
        assert all(len(it["why"]) > 20 for it in items), module        # a reason, not a shrug


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
    from collapsekit.mutation import run

    with pytest.raises(ValueError, match="not found"):
        run("theory.no_such_module")
    with pytest.raises(ValueError, match="jobs"):
        run("theory.model_collapse_mixing", jobs=0)
    with pytest.raises(ValueError, match="closed_form"):
        run("collapsekit.bench")


def _stale_parent_then_mutant_seen(purge: bool) -> bool:
    """In a child: the project imported first (as a parent listing claims would), then a mutant of
    theory.etf's K_SYMBOLIC; does theory.ufm_ce (``from theory.etf import K_SYMBOLIC``) see it?"""
    from collapsekit import mutation, registry

    registry.all_claims()                                   # everything imported, names bound
    if purge:
        mutation._fresh_project()
    import importlib

    etf = importlib.import_module("theory.etf")
    exec("K_SYMBOLIC = 'mutated'", etf.__dict__)
    ufm_ce = importlib.import_module("theory.ufm_ce")
    return ufm_ce.K_SYMBOLIC == "mutated"


def test_children_import_the_project_afresh_so_from_imports_bind_the_mutant():
    import time

    from collapsekit.mutation import _collect, _in_child

    seen = {}
    for purge in (False, True):
        pid, fd = _in_child(_stale_parent_then_mutant_seen, purge)
        seen[purge] = _collect(pid, fd, time.monotonic() + 120)["ok"]
    assert seen == {False: False, True: True}       # without the purge a stale binding hides the mutant


def test_fail_fast_only_where_every_obligation_made_is_listed():
    from collapsekit.mutation import _fail_fast_ok, _listed

    assert _listed("22/22 obligations proved") == 22
    assert _listed("20/22 obligations proved; not proved: [...]") == 22
    assert _listed("error: boom") is None
    assert _fail_fast_ok({"status": "pass", "created": 22, "listed": 22})
    assert not _fail_fast_ok({"status": "pass", "created": 23, "listed": 22})   # one made, not listed
    assert not _fail_fast_ok({"status": "fail", "created": 22, "listed": 22})
    assert not _fail_fast_ok({"status": "pass", "created": 0, "listed": None})


def test_every_equivalent_names_a_mutant_of_the_current_source():
    """An explanation is kept only while its mutant exists: after an edit of the line, the entry in
    docs/mutation/equivalent must be revisited, not silently applied to nothing."""
    import importlib.util
    from pathlib import Path

    from collapsekit.mutation import load_equivalents, scope_of

    for module, items in load_equivalents().items():
        source = Path(importlib.util.find_spec(module).origin).read_text()
        keys = {m.key for m, _ in mutants(source, scope_of(module, source))}
        for it in items:
            assert (it["code"], it["description"], it.get("ordinal", 0)) in keys, (module, it["code"])
