"""Mutation testing of the theory layer and the numerics' closed forms: does the suite notice a wrong formula?

Every mutation site of a module's source — a numeric constant, an arithmetic operator, a unary
minus — is changed one at a time (2 → 3, 1 → 2, 0 → 1, x.5 → x.5 + 1; + ↔ −, * ↔ /, ** → *;
−x → x).  The checks run against a mutant are the symbolic and numeric checks, at the defaults, of
every claim whose code depends on the module (the figures' import-closure rule).

How a run goes:

1. **Baseline and coverage.**  The unmutated module's dependent checks run once, each
   (claim, kind) pair under a line tracer restricted to the module's file; so do the test files
   that import the module directly (``module_tests``), as one more check (``tests``): the suite is
   the claims' checks *and* the unit tests (bad-input guards, helpers no claim calls).  A failing
   baseline stops the run: mutants can only be judged against a passing suite.
2. **Uncovered sites.**  A site on lines that no check executes cannot be noticed by any check;
   it is reported as ``uncovered`` (a survivor) without running it.
3. **Mutants.**  Each remaining mutant runs in a child forked from a parent that has already
   imported sympy, numpy, scipy, torch and cvxpy (about 3 s saved per mutant): the module is
   imported, the mutated source is executed into the module object, and only then are the claims
   imported, so every ``from module import f`` binds the mutant.  The covering (claim, kind)
   pairs run fastest first; the first whose status differs from the baseline kills the mutant.
   A child past the time limit is killed and counted as ``timeout`` (killed: the suite did notice,
   by not finishing).

    collapsekit mutate theory.model_collapse_mixing [--jobs N] [--sample N] [--timeout S] [--out FILE]
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import random
import select
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult}
KINDS = ("symbolic", "numeric")


@dataclass
class Mutant:
    index: int
    line: int
    col: int
    description: str
    end_line: int = 0
    status: str = "pending"        # killed | survived | uncovered | timeout | equivalent
    seconds: float = 0.0
    detail: str = ""
    code: str = ""                 # the mutated line, stripped: with ``description`` it names the mutant
    ordinal: int = 0               # which of the mutants with the same (code, description) this is

    @property
    def key(self) -> tuple[str, str, int]:
        """A name that survives edits elsewhere in the module (line numbers do not)."""
        return (self.code, self.description, self.ordinal)

    @property
    def lines(self) -> set[int]:
        return set(range(self.line, max(self.line, self.end_line) + 1))


def closed_form_spans(tree: ast.AST) -> list[tuple[int, int]]:
    """Line spans of the functions decorated with ``closed_form`` (``numerics.closed_form``)."""
    def marked(dec):
        return (isinstance(dec, ast.Name) and dec.id == "closed_form") or \
               (isinstance(dec, ast.Attribute) and dec.attr == "closed_form")
    return sorted((n.lineno, n.end_lineno) for n in ast.walk(tree)
                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(map(marked, n.decorator_list)))


def scope_of(module: str, source: str) -> list[tuple[int, int]] | None:
    """The lines whose sites are mutated: all of a ``theory`` module (formulas and proofs), only the
    ``closed_form`` functions of any other module (None: everything)."""
    return None if module.split(".")[0] == "theory" else closed_form_spans(ast.parse(source))


def _sites(tree: ast.AST, scope: list[tuple[int, int]] | None = None) -> list[tuple[ast.AST, str]]:
    """(node, description) of every mutable node within ``scope`` (line spans; None: anywhere), in
    source order; docstrings are skipped."""
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float) and id(node) not in docstrings:
            out.append((node, f"constant {node.value!r} -> {_new_constant(node.value)!r}"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _SWAP:
            out.append((node, f"operator {type(node.op).__name__} -> {_SWAP[type(node.op)].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            out.append((node, "unary minus removed"))
    if scope is not None:
        out = [(n, d) for n, d in out if any(a <= n.lineno and n.end_lineno <= b for a, b in scope)]
    return sorted(out, key=lambda s: (s[0].lineno, s[0].col_offset, s[1]))


def _new_constant(v):
    return {0: 1, 1: 2, 2: 3}.get(v, v + 1) if isinstance(v, int) else v + 1.0


def mutants(source: str, scope: list[tuple[int, int]] | None = None) -> list[tuple[Mutant, str]]:
    """Every single-site mutant of ``source`` (within ``scope``, see ``_sites``) with its mutated source."""
    out, seen, lines = [], {}, source.splitlines()
    for i, (_, desc) in enumerate(_sites(ast.parse(source), scope)):
        tree = ast.parse(source)                     # a fresh tree per mutant
        node, _ = _sites(tree, scope)[i]
        code = lines[node.lineno - 1].strip()
        ordinal = seen[(code, desc)] = seen.get((code, desc), -1) + 1
        m = Mutant(i, node.lineno, node.col_offset, desc, end_line=node.end_lineno or node.lineno, code=code,
                   ordinal=ordinal)
        if isinstance(node, ast.Constant):
            node.value = _new_constant(node.value)
        elif isinstance(node, ast.BinOp):
            node.op = _SWAP[type(node.op)]()
        else:                                       # −x → x: replace the node in its parent
            for parent in ast.walk(tree):
                for field, value in ast.iter_fields(parent):
                    if value is node:
                        setattr(parent, field, node.operand)
                    elif isinstance(value, list) and node in value:
                        value[value.index(node)] = node.operand
        out.append((m, ast.unparse(ast.fix_missing_locations(tree))))
    return out


def dependent_claims(module: str) -> list[str]:
    from collapsekit import registry
    from collapsekit.figures import dependencies

    return [c.id for c in registry.all_claims() if module in dependencies(type(c).__module__)]


# ------------------------------------------------------------------------------------- children
def _preload() -> None:
    """Import the heavy third-party libraries once, in the parent, so that forked children share them."""
    for name in ("numpy", "scipy.linalg", "scipy.optimize", "scipy.special", "scipy.stats", "sympy", "torch", "cvxpy"):
        try:
            importlib.import_module(name)
        except ImportError:                          # cvxpy is optional on the GPU machine
            pass


def _in_child(fn: Callable[..., Any], *args) -> tuple[int, int]:
    """Fork; the child runs ``fn(*args)`` and writes its JSON result to a pipe.  Returns (pid, read fd)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                     # the child: never returns
        code = 0
        try:
            os.close(r)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            try:
                import torch
                torch.set_num_threads(1)
            except ImportError:
                pass
            try:
                out = {"ok": fn(*args)}
            except BaseException as exc:             # noqa: BLE001 - everything a mutant raises is a result
                out = {"raised": f"{type(exc).__name__}: {exc}"[:300]}
            data = json.dumps(out).encode()
            while data:
                data = data[os.write(w, data):]
        except BaseException:                        # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _collect(pid: int, fd: int, deadline: float) -> dict | None:
    """Read a child's result, or kill it at ``deadline`` (None)."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(fd)
    os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks).decode())
    except ValueError:
        return {"raised": "the child died without a result"}


#: the pseudo-claim under which a module's own test files run, as one more check
TESTS = "tests"
#: test files never run against a mutant: the mutation tests (they would recurse) and the claims' own
_NOT_RUN = ("test_mutation.py", "test_claims.py")     # test_claims: the claims' checks, run already


def module_tests(module: str) -> list[str]:
    """The test files (``tests/test_*.py``) that import ``module`` itself (``import module``,
    ``from module import f`` or ``from package import module``): its unit tests.  Files that reach it
    only through other modules are left out — for a module every claim uses, that would be the whole
    suite, run again for every survivor; the claims' own checks already judge it through them."""
    from collapsekit.figures import _source_path

    root = Path(__file__).resolve().parents[1]
    out = []
    for f in sorted((root / "tests").glob("test_*.py")):
        if f.name in _NOT_RUN:
            continue
        names = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names |= {f"{node.module}.{a.name}" if _source_path(f"{node.module}.{a.name}") else node.module
                          for a in node.names}
        if module in names:
            out.append(str(f.relative_to(root)))
    return out


#: the project's top-level packages: a child forgets every module of these before it imports anything
PROJECT = ("theory", "numerics", "simulations", "collapsekit", "figures", "benchmarks")


def _fresh_project() -> None:
    """Forget every project module this process (forked from a parent that may have imported the
    project, e.g. to list the dependent claims, or pytest) holds, so that the child imports it anew
    *after* the mutant is executed: a stale ``from module import f`` made in the parent would bind
    the unmutated ``f`` and let a mutant survive unseen.  This driver itself keeps running."""
    for name in [n for n in sys.modules if n.split(".")[0] in PROJECT and n != __name__]:
        del sys.modules[name]


class _Unproved(Exception):
    """Raised, in a mutant's child, by the first obligation sympy does not prove during a claim's
    symbolic check (fail-fast: the check fails either way, so the rest need not be decided)."""


#: [counting, raising]: obligations made through theory.proof's helpers are counted (baseline) or an
#: unproved one raises (mutants), while a claim's symbolic check runs
_PROOF_MODE = {"count": 0, "counting": False, "raising": False}


def _instrument_proofs() -> None:
    """Wrap theory.proof's obligation helpers, before anything else imports them (the child imports
    the project after this).  Sound because a fail-fast kill needs a symbolic check whose baseline
    passed and listed every obligation it made (``created == listed``, measured in the baseline): an
    unproved obligation then appears in the check's list and fails the full check too."""
    import theory.proof as tp

    def wrap(fn):
        def helper(*args, **kwargs):
            ob = fn(*args, **kwargs)
            if _PROOF_MODE["counting"]:
                _PROOF_MODE["count"] += 1
            if _PROOF_MODE["raising"] and ob.proved is not True:
                raise _Unproved(ob.describe()[:200])
            return ob
        helper.__wrapped__ = fn
        return helper

    for name in ("zero", "nonzero", "positive", "nonnegative"):
        fn = getattr(tp, name, None)
        if fn is not None and not hasattr(fn, "__wrapped__"):
            setattr(tp, name, wrap(fn))


def _check(cid: str, kind: str, fail_fast: bool = False) -> tuple[str, str]:
    if cid == TESTS:                                 # the module's own test files, as one check
        import pytest

        files = kind.split(",")
        code = pytest.main([*files, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "addopts="])
        return ("pass" if int(code) == 0 else "fail"), f"pytest {' '.join(files)}: exit {int(code)}"
    from collapsekit import registry
    from collapsekit.runner import run_claim

    _PROOF_MODE.update(count=0, counting=kind == "symbolic", raising=fail_fast and kind == "symbolic")
    try:
        c = run_claim(registry.get(cid), {}, device="cpu", kinds=(kind,)).checks[kind]
    finally:
        _PROOF_MODE.update(counting=False, raising=False)
    return c.status, c.message[:200]


def _baseline_pairs(claims: list[str], tests: list[str]) -> list[tuple[str, str]]:
    """Every (claim, kind) pair, then the module's test files as one more check (``TESTS``)."""
    return [(c, k) for c in claims for k in KINDS] + ([(TESTS, ",".join(tests))] if tests else [])


def _baseline_job(module: str, pairs: list[list[str]]) -> dict:
    """Each (claim, kind) of ``pairs`` once, unmutated, with the module's lines it executed and the
    time it took."""
    spec = importlib.util.find_spec(module)
    target = os.path.realpath(spec.origin)
    lines: set[int] = set()

    def local(frame, event, arg):
        if event == "line":
            lines.add(frame.f_lineno)
        return local

    files: dict[str, bool] = {}

    def fast_tracer(frame, event, arg):              # realpath once per file name
        name = frame.f_code.co_filename
        hit = files.get(name)
        if hit is None:
            hit = files[name] = os.path.realpath(name) == target
        return local if hit else None

    _fresh_project()
    if module != "theory.proof":
        _instrument_proofs()
    sys.settrace(fast_tracer)
    importlib.import_module(module)
    from collapsekit import registry                 # noqa: F401 - import-time lines count for every check
    sys.settrace(None)
    common = set(lines)
    out = {}
    for cid, kind in pairs:
        lines.clear()
        t0 = time.perf_counter()
        sys.settrace(fast_tracer)
        try:
            status, message = _check(cid, kind)
        finally:
            sys.settrace(None)
        entry = {"status": status, "message": message, "seconds": time.perf_counter() - t0,
                 "lines": sorted(lines | common)}
        if kind == "symbolic" and cid != TESTS:
            entry["created"] = _PROOF_MODE["count"]
            entry["listed"] = _listed(message)
        out[f"{cid}|{kind}"] = entry
    return out


def _listed(message: str) -> int | None:
    """The number of obligations a symbolic check's message reports ("25/28 obligations proved")."""
    head = message.split(" obligations", 1)[0].rsplit(" ", 1)[-1]
    try:
        return int(head.split("/")[1])
    except (IndexError, ValueError):
        return None


def _fail_fast_ok(entry: dict) -> bool:
    """A symbolic check may fail fast in a mutant when its baseline passed and every obligation it
    made through theory.proof's helpers is in its list."""
    return entry.get("status") == "pass" and entry.get("created") is not None and \
        entry.get("created") == entry.get("listed")


def _mutant_job(module: str, text: str, pairs: list[list[str]], baseline: dict) -> str | None:
    """Run ``pairs`` against the mutant; the first status that differs from the baseline kills it."""
    _fresh_project()
    if module != "theory.proof":
        _instrument_proofs()
    mod = importlib.import_module(module)
    exec(compile(text, mod.__file__, "exec"), mod.__dict__)
    for cid, kind in pairs:
        status, message = _check(cid, kind, fail_fast=_fail_fast_ok(baseline[f"{cid}|{kind}"]))
        if status != baseline[f"{cid}|{kind}"]["status"]:
            return f"{cid} {kind}: {status}" + (f" ({message})" if message else "")
    return None


# ------------------------------------------------------------------------------------- driver
def plan(todo: list[tuple[Mutant, str]], baseline: dict) -> list[tuple[Mutant, str, list[list[str]]]]:
    """The mutants to run, each with the (claim, kind) pairs whose baseline run executed one of its
    lines, fastest first; a mutant no check reaches is marked ``uncovered`` and not run."""
    order = sorted(baseline, key=lambda k: baseline[k]["seconds"])
    queue = []
    for m, text in todo:
        pairs = [k.split("|") for k in order if m.lines & set(baseline[k]["lines"])]
        if pairs:
            queue.append((m, text, pairs))
        else:
            m.status, m.detail = "uncovered", "no check executes this line"
    return queue


EQUIVALENTS = Path(__file__).resolve().parents[1] / "docs" / "mutation" / "equivalent"


def load_equivalents(folder: str | Path | None = None) -> dict[str, list[dict]]:
    """Survivors explained as equivalent mutants, one file per module in ``folder``
    (``docs/mutation/equivalent/<module>.json`` by default): a list of
    ``{"code", "description", "ordinal", "why"}``, named as in a report's ``results``."""
    folder = Path(folder) if folder is not None else EQUIVALENTS
    out: dict[str, list[dict]] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            items = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"equivalents file {path}: not JSON ({exc})") from None
        if not isinstance(items, list):
            raise ValueError(f"equivalents file {path}: a list of entries expected")
        for it in items:
            if not isinstance(it, dict) or not {"code", "description", "why"} <= set(it) or not str(it["why"]).strip():
                raise ValueError(f"equivalents file {path}: every entry needs code, description and a non-empty "
                                 f"why; got {it}")
        out[path.stem] = items
    return out


def run(module: str, *, limit: int | None = None, sample: int | None = None, seed: int = 0, jobs: int = 1,
        timeout: float | None = None, with_tests: bool = True, only: list[dict] | None = None,
        equivalents: dict[str, list[dict]] | None = None, log=None) -> dict:
    """Mutate ``module`` site by site and run the dependent claims' covering checks on each mutant,
    then (``with_tests``) the test files that import the module, when no claim check noticed.

    ``only``: run just these mutants (entries of an earlier report's ``results``, matched by
    ``code``, ``description`` and ``ordinal``; e.g. its survivors, after a fix).  ``equivalents``:
    survivors listed there (same keys) are reported as ``equivalent``, with the reason, and are left
    out of the kill rate's denominator."""
    spec = importlib.util.find_spec(module) if module else None
    if spec is None or not spec.origin:
        raise ValueError(f"module {module!r}: not found")
    if jobs < 1:
        raise ValueError(f"jobs: must be at least 1, got {jobs}")
    source = Path(spec.origin).read_text()
    scope = scope_of(module, source)
    if scope == []:
        raise ValueError(f"module {module!r}: no function is marked @closed_form (numerics.closed_form)")
    claims = dependent_claims(module)
    tests = module_tests(module) if with_tests else []
    if not claims and not tests:
        raise ValueError(f"module {module!r}: no registered claim depends on it, and no test file imports it")
    everything = mutants(source, scope)
    todo = everything
    if only is not None:
        wanted = {(o["code"], o["description"], o.get("ordinal", 0)) for o in only}
        todo = [mt for mt in todo if mt[0].key in wanted]
    if sample is not None:
        todo = sorted(random.Random(seed).sample(todo, min(sample, len(todo))), key=lambda mt: mt[0].index)
    todo = todo[:limit]
    t_all = time.perf_counter()
    _preload()
    pairs = _baseline_pairs(claims, tests)           # shared out over ``jobs`` children
    children = [_in_child(_baseline_job, module, pairs[i::jobs]) for i in range(min(jobs, len(pairs)))]
    baseline = {}
    for pid, fd in children:
        base = _collect(pid, fd, time.monotonic() + 3600)
        if base is None or "ok" not in base:
            raise ValueError(f"module {module!r}: the baseline run did not finish: {base}")
        baseline.update(base["ok"])
    broken = [k for k in baseline if k.startswith(TESTS + "|") and baseline[k]["status"] != "pass"]
    tests_note = ""
    for k in broken:                                 # unit tests failing unmutated cannot judge a mutant
        tests_note = f"test files not used: they fail unmutated ({baseline.pop(k)['message']})"
    failing = [k for k, v in baseline.items() if v["status"] == "fail"]
    if failing:
        raise ValueError(f"module {module!r}: the unmutated checks fail ({', '.join(failing)}); fix them first")
    if not baseline:
        raise ValueError(f"module {module!r}: nothing left to judge a mutant by ({tests_note})")
    budget = sum(v["seconds"] for v in baseline.values())
    limit_s = timeout if timeout is not None else 30.0 + 5.0 * budget
    queue = plan(todo, baseline)
    running: dict[int, tuple[Mutant, int, float, float]] = {}
    done = len(todo) - len(queue)
    while queue or running:
        while queue and len(running) < jobs:
            m, text, pairs = queue.pop(0)
            cpid, cfd = _in_child(_mutant_job, module, text, pairs, baseline)
            running[cfd] = (m, cpid, time.perf_counter(), time.monotonic() + limit_s)
        soonest = min(v[3] for v in running.values())
        ready, _, _ = select.select(list(running), [], [], max(0.0, soonest - time.monotonic()))
        finished = ready or [fd for fd, v in running.items() if v[3] <= time.monotonic()]
        for cfd in finished:
            m, cpid, t0, deadline = running.pop(cfd)
            res = _collect(cpid, cfd, deadline)
            if res is None:
                m.status, m.detail = "timeout", f"> {limit_s:.0f} s"
            elif "raised" in res:
                m.status, m.detail = "killed", "raised " + res["raised"]
            else:
                m.status, m.detail = ("killed", res["ok"]) if res["ok"] else ("survived", "")
            m.seconds = round(time.perf_counter() - t0, 2)
            done += 1
            if log:
                print(f"[{done}/{len(todo)}] line {m.line}: {m.description}: {m.status}", file=log, flush=True)
    explained = {(e["code"], e["description"], e.get("ordinal", 0)): e["why"]
                 for e in (equivalents or {}).get(module, [])}
    for m, _ in todo:
        if m.status in ("survived", "uncovered") and m.key in explained:
            m.detail = f"{m.status}; equivalent: {explained[m.key]}"
            m.status = "equivalent"
    counts = {s: sum(m.status == s for m, _ in todo) for s in ("killed", "timeout", "survived", "uncovered",
                                                               "equivalent")}
    killed = counts["killed"] + counts["timeout"]
    judged = len(todo) - counts["equivalent"]
    return {"module": module, "claims": claims, "tests": [] if broken else tests, "tests_note": tests_note,
            "scope": "whole module" if scope is None else "closed_form functions: " + ", ".join(
                f"{a}-{b}" for a, b in scope),
            "mutants": len(todo), "sites": len(everything), "sampled": sample is not None, "rerun": only is not None,
            "seed": seed, "killed": killed, **{k: counts[k] for k in ("timeout", "survived", "uncovered", "equivalent")},
            "kill_rate": killed / judged if judged else None, "seconds": round(time.perf_counter() - t_all, 1),
            "baseline": {k: {"status": v["status"], "seconds": round(v["seconds"], 2), "lines": len(v["lines"]),
                             **({"fail_fast": _fail_fast_ok(v)} if "created" in v else {})}
                         for k, v in baseline.items()},
            "timeout_s": round(limit_s, 1), "results": [asdict(m) for m, _ in todo]}


def mutable_modules() -> list[str]:
    """The modules mutation testing covers, in name order: every ``theory`` module some registered
    claim depends on, and every ``numerics`` module with a ``closed_form`` function."""
    from collapsekit import registry
    from collapsekit.figures import _source_path, dependencies

    used = set(dependencies(*sorted({type(c).__module__ for c in registry.all_claims()})))
    theory = {m for m in used if m.startswith("theory.") and m.count(".") == 1}
    root = Path(__file__).resolve().parents[1]
    numerics = {f"numerics.{f.stem}" for f in sorted((root / "numerics").glob("*.py"))
                if f.stem != "__init__" and closed_form_spans(ast.parse(f.read_text()))}
    return sorted(m for m in theory | numerics if _source_path(m))


def merge(previous: dict, rerun: dict) -> dict:
    """``previous`` (a whole-module report) with the mutants of ``rerun`` (an ``only`` run on the same
    module) replacing theirs, matched by name; counts and kill rate recomputed."""
    if previous["module"] != rerun["module"]:
        raise ValueError(f"merge: reports of {previous['module']} and {rerun['module']}")
    new = {(r["code"], r["description"], r["ordinal"]): r for r in rerun["results"]}
    results = [new.get((r["code"], r["description"], r.get("ordinal", 0)), r) for r in previous["results"]]
    return {**_recounted(previous, results), "seconds": round(previous["seconds"] + rerun["seconds"], 1),
            "reruns": previous.get("reruns", 0) + 1, "baseline": rerun["baseline"], "claims": rerun["claims"],
            "tests": rerun["tests"]}


def _recounted(report: dict, results: list[dict]) -> dict:
    """``report`` with ``results`` replaced and its counts and kill rate recomputed from them."""
    counts = {s: sum(r["status"] == s for r in results) for s in ("timeout", "survived", "uncovered", "equivalent")}
    killed = sum(r["status"] in ("killed", "timeout") for r in results)
    judged = len(results) - counts["equivalent"]
    return {**report, **counts, "killed": killed, "kill_rate": killed / judged if judged else None,
            "results": results}


def apply_equivalents(report: dict, equivalents: dict[str, list[dict]]) -> dict:
    """``report`` with its survivors that are explained now (in ``equivalents``, matched by code,
    description and ordinal) marked ``equivalent``, as a run would have marked them; counts and kill
    rate recomputed.  An explanation written after the run needs no rerun: the mutant is the same."""
    explained = {(e["code"], e["description"], e.get("ordinal", 0)): e["why"]
                 for e in equivalents.get(report["module"], [])}
    results = []
    for r in report["results"]:
        key = (r["code"], r["description"], r.get("ordinal", 0))
        if r["status"] in ("survived", "uncovered") and key in explained:
            r = {**r, "status": "equivalent", "detail": f"{r['status']}; equivalent: {explained[key]}"}
        results.append(r)
    return _recounted(report, results)


def survivors(report: dict) -> list[dict]:
    return [r for r in report["results"] if r["status"] in ("survived", "uncovered")]


def summary_table(reports: list[dict]) -> str:
    """A Markdown table of kill rates, one row per module report, and the total.  The kill rate is
    killed / (mutants − equivalent): an equivalent mutant computes the same thing, so no check can
    kill it."""
    keys = ("mutants", "killed", "timeout", "survived", "uncovered", "equivalent", "seconds")
    rows = ["| module | mutants | killed | of which time-outs | survived | uncovered | equivalent | kill rate | time |",
            "|---|---|---|---|---|---|---|---|---|"]
    tot = dict.fromkeys(keys, 0.0)

    def rate(r):
        judged = r["mutants"] - r.get("equivalent", 0)
        return f"{r['killed'] / judged:.1%}" if judged else "–"

    for r in reports:
        n = f"{r['mutants']}" + (f" of {r['sites']}" if r.get("sampled") else "")
        rows.append(f"| `{r['module']}` | {n} | {r['killed']} | {r['timeout']} | {r['survived']} | {r['uncovered']} "
                    f"| {r.get('equivalent', 0)} | {rate(r)} | {r['seconds']:.0f} s |")
        for k in tot:
            tot[k] += r.get(k, 0)
    rows.append(f"| **all** | {tot['mutants']:.0f} | {tot['killed']:.0f} | {tot['timeout']:.0f} | {tot['survived']:.0f} "
                f"| {tot['uncovered']:.0f} | {tot['equivalent']:.0f} | {rate(tot)} | {tot['seconds']:.0f} s |")
    return "\n".join(rows)


def equivalents_markdown(reports: list[dict]) -> str:
    """Every mutant reported ``equivalent``, grouped by module, with its reason."""
    out = []
    for r in reports:
        eq = [m for m in r["results"] if m["status"] == "equivalent"]
        if not eq:
            continue
        out.append(f"#### `{r['module']}` ({len(eq)})\n")
        by_reason: dict[str, list[dict]] = {}                 # mutants sharing a reason are listed together
        for m in eq:
            by_reason.setdefault(m["detail"].split("equivalent: ", 1)[-1], []).append(m)
        for why, ms in by_reason.items():
            where = "; ".join(f"line {m['line']}, {m['description']} in `{m['code'][:90]}`" for m in ms)
            out.append(f"- {where}: {why}")
        out.append("")
    return "\n".join(out)


def load_reports(folder: str | Path) -> list[dict]:
    """The module reports (``MODULE.json``) in ``folder``, in name order."""
    reports = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            r = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from None
        if isinstance(r, dict) and "module" in r and "results" in r:
            reports.append(r)
    return reports
