"""The ``collapsekit`` command line: list, check, figures, appendix, sweep, bench, reproduce.

Exit codes: 0 all good, 1 a claim failed, 2 bad usage or bad parameters.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from collapsekit import __version__
from collapsekit.claim import ParameterError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
KINDS = ("symbolic", "numeric", "simulation", "negative_control")


class UsageError(Exception):
    """Bad usage; reported on stderr with exit code 2."""


def _parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _device(name: str) -> str:
    from simulations.device import resolve_device

    try:
        return str(resolve_device(name))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_checks(patterns: list[str] | None, sets: dict[str, str], device: str, profile: str,
               seed: int, progress=None) -> list:
    """Select claims, route each --set to the claims that take it, run them."""
    from collapsekit import registry
    from collapsekit.runner import run_claim

    try:
        claims = registry.select(patterns)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    for name in sets:
        if not any(name in {p.name for p in c.params} for c in claims):
            raise ParameterError(name, "no selected claim takes this parameter")
    routed = [{k: v for k, v in sets.items() if k in {p.name for p in c.params}} for c in claims]
    for claim, mine in zip(claims, routed):
        claim.resolve(mine)  # validate every claim's parameters before running any
    results = []
    for i, (claim, mine) in enumerate(zip(claims, routed)):
        if progress:
            progress(i, len(claims), claim.id)
        results.append(run_claim(claim, mine, seed=seed, device=device, profile=profile))
    return results


def check_all_and_save(path: Path, device: str, profile: str, seed: int) -> tuple[list, dict[str, Any]]:
    """Run every claim and write the JSON payload of ``check --json`` to ``path``."""
    progress = _progress(sys.stderr)
    results = run_checks(None, {}, device, profile, seed, progress=progress)
    progress.close()
    payload = results_json(results, device, profile, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    return results, payload


def _status_cell(status: str) -> str:
    return {"pass": "pass", "fail": "FAIL", "skip": "skip", "inconclusive": "INCONCLUSIVE"}.get(status, status)


def format_table(results) -> str:
    width = max([len(r.claim.id) for r in results] + [5])
    head = f"{'claim':<{width}}  " + "  ".join(f"{k:<16}" for k in KINDS) + "  seconds"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.claim.id:<{width}}  " + "  ".join(f"{_status_cell(r.checks[k].status):<16}" for k in KINDS)
                     + f"  {r.seconds:7.2f}")
    problems = [(r.claim.id, k, c.message) for r in results for k, c in r.checks.items() if c.status != "pass"]
    if problems:
        lines.append("")
        lines += [f"{cid} [{k}] {msg}" for cid, k, msg in problems]
    n_fail = sum(r.status == "fail" for r in results)
    n_open = sum(r.status == "inconclusive" for r in results)
    lines.append("")
    lines.append(f"{len(results)} claims: {len(results) - n_fail - n_open} without failures, "
                 + (f"{n_open} inconclusive, " if n_open else "") + f"{n_fail} failed")
    return "\n".join(lines)


def results_json(results, device: str, profile: str, seed: int) -> dict[str, Any]:
    return {"version": __version__, "device": device, "profile": profile, "seed": seed,
            "claims": [r.to_json() for r in results]}


class _progress:
    """Progress of a long loop on ``stream``: a tqdm bar on a terminal (when tqdm is installed),
    one ``[i/n] what ...`` line per step otherwise (logs, CI)."""

    def __init__(self, stream, unit: str = "claim"):
        self.stream, self.unit, self.bar = stream, unit, None
        try:
            from tqdm import tqdm
            self._tqdm = tqdm if stream.isatty() else None
        except ImportError:
            self._tqdm = None

    def __call__(self, i, n, what):
        if self._tqdm is None:
            print(f"[{i + 1}/{n}] {what} ...", file=self.stream, flush=True)
            return
        if self.bar is None:
            self.bar = self._tqdm(total=n, file=self.stream, unit=self.unit, leave=True, dynamic_ncols=True)
        self.bar.n = i
        self.bar.set_postfix_str(what)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.n = self.bar.total
            self.bar.close()
            self.bar = None


# ---------------------------------------------------------------------------- commands
TABLE_BEGIN, TABLE_END = "<!-- claims-table: generated by `collapsekit list --markdown`; do not edit -->", \
    "<!-- claims-table: end -->"


def claims_markdown() -> str:
    """The README's claim table, generated from the registry."""
    from collapsekit import registry

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    rows = ["| id | statement | source |", "|---|---|---|"]
    for c in registry.all_claims():
        src = c.summary_source or f"{c.source.authors} {c.source.year}"
        if c.source.arxiv and "arXiv" not in src:
            src += f" ([arXiv:{c.source.arxiv}](https://arxiv.org/abs/{c.source.arxiv}))"
        rows.append(f"| `{c.id}` | {cell(c.summary or c.title)} | {cell(src)} |")
    return "\n".join(rows)


def update_readme(path: Path) -> bool:
    """Rewrite the generated block of ``path``; True when it changed."""
    text = path.read_text()
    start, end = text.index(TABLE_BEGIN) + len(TABLE_BEGIN), text.index(TABLE_END)
    new = text[:start] + "\n" + claims_markdown() + "\n" + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


def cmd_list(args) -> int:
    from collapsekit import registry

    if args.update_readme:
        changed = update_readme(Path(args.update_readme))
        print(f"{args.update_readme}: claim table {'rewritten' if changed else 'already current'}")
        return EXIT_OK
    if args.markdown:
        print(claims_markdown())
        return EXIT_OK
    claims = registry.all_claims()
    if args.json:
        print(json.dumps([{"id": c.id, "title": c.title, "source": c.source.cite(), "arxiv": c.source.arxiv,
                           "params": {p.name: {"type": p.kind.__name__, "doc": p.doc} for p in c.params}}
                          for c in claims], indent=2))
        return EXIT_OK
    width = max(len(c.id) for c in claims)
    for c in claims:
        print(f"{c.id:<{width}}  {c.title}\n{'':<{width}}  {c.source.cite()}")
    return EXIT_OK


def cmd_check(args) -> int:
    device = _device(args.device)
    sets = _parse_sets(args.set)
    progress = None if args.json else _progress(sys.stderr)
    results = run_checks(args.claims, sets, device, args.profile, args.seed, progress=progress)
    if progress:
        progress.close()
    if args.json:
        print(json.dumps(results_json(results, device, args.profile, args.seed), indent=2))
    else:
        print(format_table(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


def cmd_figures(args) -> int:
    from collapsekit.figures import build_figures, check_manifest

    device = _device(args.device)
    if args.check:
        problems = check_manifest(Path(args.out), device, args.ids or None)
        for line in problems:
            print(line)
        print("manifest verified: every file matches its sha256 and every figure is current" if not problems
              else f"{len(problems)} problem(s)")
        return EXIT_OK if not problems else EXIT_FAIL
    progress = _progress(sys.stderr, unit="figure")
    try:
        manifest = build_figures(args.ids or None, Path(args.out), device=device, use_cache=not args.no_cache,
                                 progress=progress)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    progress.close()
    for fig in manifest["figures"]:
        print(f"{fig['id']}: " + ", ".join(fig["files"]))
    return EXIT_OK


def cmd_appendix(args) -> int:
    from collapsekit.appendix import build_appendix

    results_path = Path(args.results) if args.results else Path(args.out) / "results.json"
    if not results_path.exists():
        check_all_and_save(results_path, _device(args.device), args.profile, args.seed)
    try:
        payload = json.loads(results_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"--results {results_path}: not valid JSON ({exc})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("claims"), list):
        raise UsageError(f"--results {results_path}: not the output of `collapsekit check --json`")
    made = build_appendix(payload, Path(args.out), Path(args.figures), log=sys.stderr)
    for path in made:
        print(path)
    return EXIT_OK


def cmd_reproduce(args) -> int:
    from collapsekit.appendix import build_appendix
    from collapsekit.figures import build_figures

    t0 = time.perf_counter()
    device = _device(args.device)
    out = Path(args.out)
    results, payload = check_all_and_save(out / "results.json", device, args.profile, args.seed)
    progress = _progress(sys.stderr, unit="figure")
    build_figures(None, Path(args.figures), device=device, use_cache=not args.no_cache, progress=progress)
    progress.close()
    made = build_appendix(payload, out, Path(args.figures), log=sys.stderr)
    print(format_table(results))
    print(f"\nappendix: {', '.join(str(p) for p in made)}")
    print(f"reproduce finished in {time.perf_counter() - t0:.1f} s on {device} (profile {args.profile})")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


def cmd_sweep(args) -> int:
    from collapsekit import registry
    from collapsekit.sweep import parse_grid, run_sweep

    try:
        claim = registry.get(args.claim)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    grid = parse_grid(args.grid, claim)
    kinds = tuple(k.strip() for k in args.checks.split(","))
    unknown = set(kinds) - {"symbolic", "numeric", "simulation"}
    if unknown:
        raise UsageError(f"--checks: unknown {', '.join(sorted(unknown))} (symbolic, numeric, simulation)")
    if args.chunk < 1 or args.batch < 1 or args.workers < 0:
        raise UsageError(f"--chunk {args.chunk}, --batch {args.batch}, --workers {args.workers}: "
                         "need chunk >= 1, batch >= 1, workers >= 0")
    fixed = _parse_sets(args.set)
    params = {p.name: p for p in claim.params}
    for name, value in fixed.items():   # a bad --set would make every point invalid: refuse it now
        if name not in params:
            raise ParameterError(name, f"unknown for claim {claim.id} (it takes {', '.join(sorted(params))})")
        params[name].coerce(value)
    client, cluster = None, None
    if args.scheduler or args.workers:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("--scheduler/--workers need Dask: pip install 'dask[distributed]'") from None
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
    progress = _progress(sys.stderr, unit="point")
    try:
        rows = run_sweep(claim, grid, Path(args.out), seed=args.seed, device=_device(args.device),
                         profile=args.profile, kinds=kinds, progress=progress, fixed=fixed,
                         client=client, chunk_size=args.chunk, batch_size=args.batch)
    finally:
        progress.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    counts = {s: sum(r["status"] == s for r in rows) for s in ("pass", "fail", "invalid")}
    print(f"{len(rows)} points: {counts['pass']} pass, {counts['fail']} fail, {counts['invalid']} invalid; "
          f"{Path(args.out) / 'results.csv'}")
    return EXIT_OK if counts["fail"] == 0 else EXIT_FAIL


def cmd_bench(args) -> int:
    from collapsekit.bench import BenchUsageError, run_bench

    try:
        return run_bench(args, _device(args.device))
    except BenchUsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_mutate(args) -> int:
    from collapsekit.mutation import (apply_equivalents, equivalents_markdown, load_equivalents, load_reports, merge,
                                      mutable_modules, run, summary_table, survivors)

    if args.summarize:
        if args.all or args.module:
            raise UsageError("--summarize: reads saved reports; give no MODULE and no --all")
        try:
            explained = load_equivalents(args.equivalents)
            reports = [apply_equivalents(r, explained) for r in load_reports(args.summarize)]
        except ValueError as exc:
            raise UsageError(f"--summarize: {exc}") from None
        if not reports:
            raise UsageError(f"--summarize: no mutation report in {args.summarize}")
        print(summary_table(reports) + "\n\n" + equivalents_markdown(reports))
        return EXIT_OK if not any(survivors(r) for r in reports) else EXIT_FAIL
    if args.all and args.module:
        raise UsageError("mutate: give MODULE names or --all, not both")
    modules = mutable_modules() if args.all else args.module
    if not modules:
        raise UsageError("mutate: give at least one MODULE, or --all")
    if args.jobs < 1:
        raise UsageError(f"--jobs: must be at least 1, got {args.jobs}")
    if args.sample is not None and args.sample < 1:
        raise UsageError(f"--sample: must be at least 1, got {args.sample}")
    if args.timeout is not None and not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise UsageError(f"--timeout: must be a positive number of seconds, got {args.timeout}")
    out = Path(args.out) if args.out else None
    if out is not None and len(modules) > 1 and out.suffix == ".json":
        raise UsageError("--out: with several modules give a folder, not a .json file")
    rerun = Path(args.rerun) if args.rerun else None
    if rerun is not None and not rerun.exists():
        raise UsageError(f"--rerun: {rerun}: no such file or folder")
    if rerun is not None and rerun.is_file() and len(modules) > 1:
        raise UsageError("--rerun: with several modules give the folder of their reports")
    try:
        equivalents = load_equivalents(args.equivalents)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reports, any_survivor = [], False
    for module in modules:
        previous = None
        if rerun is not None:
            path = rerun if rerun.is_file() else rerun / f"{module}.json"
            try:
                previous = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise UsageError(f"--rerun: {path}: cannot read a report ({exc})") from None
            if previous.get("module") != module or "results" not in previous:
                raise UsageError(f"--rerun: {path}: not a mutation report of {module}")
        try:
            report = run(module, limit=args.limit, sample=args.sample, seed=args.seed, jobs=args.jobs,
                         timeout=args.timeout, with_tests=not args.no_tests, equivalents=equivalents,
                         only=survivors(previous) if previous is not None else None, log=sys.stderr)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if previous is not None:
            report = merge(previous, report)
        target = out if out is not None else (path if previous is not None else None)
        if target is not None:
            target = target if target.suffix == ".json" else target / f"{module}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(report, indent=1) + "\n")
        reports.append(report)
        left = survivors(report)
        any_survivor |= bool(left)
        rate = "–" if report["kill_rate"] is None else f"{report['kill_rate']:.1%}"
        print(f"{report['module']}: {report['killed']}/{report['mutants'] - report['equivalent']} non-equivalent "
              f"mutants killed ({rate}; {report['equivalent']} equivalent) by the checks of "
              f"{', '.join(report['claims']) or 'no claim'}{' and its test files' if report['tests'] else ''} "
              f"in {report['seconds']} s", flush=True)
        for r in left:
            print(f"  {r['status']}: line {r['line']}: {r['description']}: {r['code']}", flush=True)
    if len(reports) > 1:
        print(summary_table(reports))
    return EXIT_OK if not any_survivor else EXIT_FAIL


# ---------------------------------------------------------------------------- parser
def _common(p: argparse.ArgumentParser, profile: bool = True) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")
    if profile:
        p.add_argument("--profile", choices=("quick", "full"), default="quick",
                       help="quick: sized for 2 CPU cores; full: more random starts, larger budgets")
        p.add_argument("--seed", type=int, default=0, help="root seed; each check derives its own (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collapsekit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"collapsekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the claims: ids, titles, sources", description="List every registered claim.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--markdown", action="store_true", help="print the README's claim table (Markdown)")
    p.add_argument("--update-readme", metavar="README", default=None,
                   help="rewrite the generated claim table inside README (between its markers)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="run the checks of some or all claims",
                       description="Run the symbolic, numeric, simulation and negative-control checks. "
                                   "Exit 0 when all pass, 1 when any fails, 2 on bad usage or parameters.")
    p.add_argument("claims", nargs="*", metavar="ID-or-glob", help="claim ids or globs, e.g. 'etf.*' (default: all)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter of every selected claim that takes it (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    _common(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("figures", help="regenerate figures (PNG, PDF, data, manifest)",
                       description="Regenerate figures deterministically: compute (or load the cached data, keyed by "
                                   "the code it depends on), draw PNG and PDF, write manifest.json.")
    p.add_argument("ids", nargs="*", metavar="ID", help="figure ids (default: all)")
    p.add_argument("--out", default="figures/generated", help="output folder (default: figures/generated)")
    p.add_argument("--check", action="store_true",
                   help="re-verify the manifest: every file's sha256, and that no figure's code changed since; "
                        "exit 1 on any problem")
    p.add_argument("--no-cache", action="store_true", help="recompute every chosen figure, ignoring cached data")
    _common(p, profile=False)
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("appendix", help="build the appendix (Markdown, LaTeX, PDF if LaTeX is installed)",
                       description="Build appendix/ from check results (runs the checks if RESULTS is absent).")
    p.add_argument("--out", default="appendix", help="output folder (default: appendix)")
    p.add_argument("--results", default=None, help="results JSON from `check --json` (default: OUT/results.json)")
    p.add_argument("--figures", default="figures/generated", help="folder of generated figures")
    _common(p)
    p.set_defaults(func=cmd_appendix)

    p = sub.add_parser("sweep", help="a claim's prediction and simulation over a parameter grid (resumable)",
                       description="Evaluate one claim over the product of the --grid values, one point after "
                                   "another; each finished point is committed to OUT/points.jsonl, so a killed "
                                   "sweep restarted with the same arguments computes only the missing points. "
                                   "Writes OUT/results.csv (with provenance) and OUT/phase.png/.pdf. "
                                   "Exit 1 when any point's check fails.")
    p.add_argument("claim", metavar="ID", help="one claim id")
    p.add_argument("--grid", action="append", default=[], required=True, metavar="NAME=VALUES",
                   help="v1,v2,... or start:stop:count (inclusive); repeat for more parameters")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter held fixed over the grid (repeatable)")
    p.add_argument("--checks", default="simulation", help="comma-separated: simulation (default), numeric, symbolic")
    p.add_argument("--out", default="sweeps/latest", help="output folder (default: sweeps/latest)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="send chunks of points to this Dask scheduler (e.g. tcp://host:8786)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="start a local Dask cluster of N single-thread worker processes (default: in process)")
    p.add_argument("--chunk", type=int, default=1, metavar="M", help="points per Dask task (default 1)")
    p.add_argument("--batch", type=int, default=64, metavar="B",
                   help="points simulated together in one batched run, for claims that support it (default 64; "
                        "1 turns batching off)")
    _common(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("bench", help="run the benchmarks P1-P5 and write one JSON report",
                       description="Run benchmarks/ (P1 UFM step FLOP/s vs matmul, P2 1024 batched configs vs a "
                                   "torch.optim loop, P3 certifying an optimum vs gradient descent, P4 streamed NC "
                                   "metrics), each in its own process; write one JSON report and print a table. "
                                   "P5 is read from --p5 when that file exists. Exit 1 when a benchmark fails.")
    p.add_argument("--quick", action="store_true", help="reduced sizes and rounds (a few minutes on 2 CPU cores)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks the plumbing, not speed")
    p.add_argument("--only", default="P1,P2,P3,P4,P5", help="comma-separated subset (default: all)")
    p.add_argument("--out", default="bench-report.json", help="JSON report (default: bench-report.json)")
    p.add_argument("--p5", default="benchmarks/p5.json",
                   help="JSON file with P5 timings to include (default: benchmarks/p5.json, skipped if absent)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per benchmark process")
    _common(p, profile=False)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("mutate", help="mutation testing of a theory module against the claims that use it",
                       description="Change each numeric constant, arithmetic operator and unary minus of MODULE "
                                   "one at a time and run the symbolic and numeric checks of every claim that "
                                   "depends on it; report the kill rate and the survivors. Exit 1 if any survive.")
    p.add_argument("module", metavar="MODULE", nargs="*", help="e.g. theory.model_collapse_mixing")
    p.add_argument("--all", action="store_true",
                   help="every theory and numerics module that a registered claim depends on")
    p.add_argument("--limit", type=int, default=None, help="only the first N mutants")
    p.add_argument("--sample", type=int, default=None, help="a seeded random sample of N mutants per module")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="mutants run at once, each in a forked child (default 1)")
    p.add_argument("--no-tests", action="store_true",
                   help="judge mutants by the claims' checks only, not also by the test files importing MODULE")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per mutant (default: 30 + 5 x the baseline checks' time; a timeout counts as killed)")
    p.add_argument("--out", default=None, help="write the JSON report here (a folder, one file per module, "
                                               "when several modules run)")
    p.add_argument("--rerun", default=None, metavar="REPORT",
                   help="run only the survivors of an earlier report (a file, or the folder of --out) and merge "
                        "the results into it (written back there unless --out is given)")
    p.add_argument("--summarize", default=None, metavar="FOLDER",
                   help="run nothing: print the kill-rate table and the equivalent mutants of the reports in FOLDER")
    p.add_argument("--equivalents", default=None, metavar="FOLDER",
                   help="survivors explained as equivalent mutants, one MODULE.json each "
                        "(default: docs/mutation/equivalent)")
    p.set_defaults(func=cmd_mutate)

    p = sub.add_parser("reproduce", help="check every claim, regenerate every figure, build the appendix",
                       description="The main job. Exit 1 when any claim fails.")
    p.add_argument("--out", default="appendix", help="appendix folder (default: appendix)")
    p.add_argument("--figures", default="figures/generated", help="figure folder (default: figures/generated)")
    p.add_argument("--no-cache", action="store_true", help="recompute every figure, ignoring cached data")
    _common(p)
    p.set_defaults(func=cmd_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ParameterError, UsageError) as exc:
        print(f"collapsekit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
