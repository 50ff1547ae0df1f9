"""Mutation testing of the theory layer: does the suite notice a wrong formula?

Every mutation site of a module's source — a numeric constant, an arithmetic operator, a unary
minus — is changed one at a time (2 → 3, 1 → 2, 0 → 1, x.5 → x.5 + 1; + ↔ −, * ↔ /, ** → *;
−x → x).  Each mutant runs in a fresh process: the mutated source is executed into the real
module object before the claims are imported, and every claim whose code depends on the module
(the figures' import-closure rule) runs its symbolic and numeric checks at the defaults.  The
mutant is *killed* when a check fails or errors, *survives* otherwise (an equivalent mutant, or a
hole in the checks), and *times out* past the limit (counted as killed: the suite did notice).

    collapsekit mutate theory.model_collapse_mixing [--limit N] [--timeout S] [--out FILE]
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult}


@dataclass
class Mutant:
    index: int
    line: int
    col: int
    description: str
    status: str = "pending"        # killed | survived | timeout | error
    seconds: float = 0.0
    detail: str = ""


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """(node, description) of every mutable node, in source order; docstrings are skipped."""
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float) and id(node) not in docstrings:
            out.append((node, f"constant {node.value!r} -> {_new_constant(node.value)!r}"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _SWAP:
            out.append((node, f"operator {type(node.op).__name__} -> {_SWAP[type(node.op)].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            out.append((node, "unary minus removed"))
    return sorted(out, key=lambda s: (s[0].lineno, s[0].col_offset, s[1]))


def _new_constant(v):
    return {0: 1, 1: 2, 2: 3}.get(v, v + 1) if isinstance(v, int) else v + 1.0


def mutants(source: str) -> list[tuple[Mutant, str]]:
    """Every single-site mutant of ``source`` with its mutated source."""
    out = []
    for i, (_, desc) in enumerate(_sites(ast.parse(source))):
        tree = ast.parse(source)                     # a fresh tree per mutant
        node, _ = _sites(tree)[i]
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
        out.append((Mutant(i, node.lineno, node.col_offset, desc), ast.unparse(ast.fix_missing_locations(tree))))
    return out


def dependent_claims(module: str) -> list[str]:
    from collapsekit import registry
    from collapsekit.figures import dependencies

    return [c.id for c in registry.all_claims() if module in dependencies(type(c).__module__)]


_RUNNER = r"""
import importlib, json, sys
module, path, claims = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
mod = importlib.import_module(module)
exec(compile(open(path).read(), mod.__file__, "exec"), mod.__dict__)
from collapsekit import registry
from collapsekit.runner import run_claim
failed = []
for cid in claims:
    r = run_claim(registry.get(cid), {}, device="cpu", kinds=("symbolic", "numeric"))
    bad = [k for k in ("symbolic", "numeric") if r.checks[k].status == "fail"]
    if bad:
        failed.append(f"{cid}: {', '.join(bad)}")
print(json.dumps(failed))
"""


def run(module: str, *, limit: int | None = None, timeout: float = 120.0, log=None) -> dict:
    """Mutate ``module`` site by site and run the dependent claims' checks on each mutant."""
    import importlib.util
    import tempfile

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise ValueError(f"module {module!r}: not found")
    source = Path(spec.origin).read_text()
    claims = dependent_claims(module)
    if not claims:
        raise ValueError(f"module {module!r}: no registered claim depends on it")
    root = Path(__file__).resolve().parents[1]
    todo = mutants(source)[:limit]
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for m, text in todo:
            path = Path(tmp) / f"mutant_{m.index}.py"
            path.write_text(text)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run([sys.executable, "-c", _RUNNER, module, str(path), json.dumps(claims)],
                                      cwd=root, capture_output=True, text=True, timeout=timeout,
                                      env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
                if proc.returncode != 0:
                    m.status, m.detail = "killed", "raised: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:200]
                else:
                    failed = json.loads(proc.stdout.strip().splitlines()[-1])
                    m.status, m.detail = ("killed", "; ".join(failed)) if failed else ("survived", "")
            except subprocess.TimeoutExpired:
                m.status, m.detail = "timeout", f"> {timeout:g} s"
            m.seconds = round(time.perf_counter() - t0, 2)
            if log:
                print(f"[{m.index + 1}/{len(todo)}] line {m.line}: {m.description}: {m.status}", file=log, flush=True)
    killed = sum(m.status in ("killed", "timeout") for m, _ in todo)
    return {"module": module, "claims": claims, "mutants": len(todo), "killed": killed,
            "kill_rate": killed / len(todo) if todo else None, "seconds": round(time.perf_counter() - t_all, 1),
            "results": [asdict(m) for m, _ in todo]}
