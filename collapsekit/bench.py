"""`collapsekit bench`: the benchmarks of benchmarks/ (P1-P4, each in its own process) and the
recorded P5 timings, gathered into one JSON report and a summary table.

Machines are shared and noisy: every ratio is measured inside one run (interleaved rounds,
median and range), never compared across runs.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from collapsekit import __version__


class BenchUsageError(ValueError):
    """Bad `bench` arguments."""


def run_bench(args, device: str) -> int:
    """Run the benchmarks (benchmarks/*.py, each in its own process), write one JSON report, print a table."""
    root = Path(__file__).resolve().parents[1]
    bdir = root / "benchmarks"
    if not bdir.is_dir():
        raise BenchUsageError(f"{bdir} not found: `bench` runs from a source checkout")
    only = [s.strip().upper() for s in args.only.split(",") if s.strip()]
    bad = set(only) - {"P1", "P2", "P3", "P4", "P5"}
    if bad:
        raise BenchUsageError(f"--only: unknown {', '.join(sorted(bad))} (P1, P2, P3, P4, P5)")
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    # P1/P2 call benchmarks/ufm_engine.py's bench_step/bench_small (it has no JSON output of its own)
    engine_sizes = {"smoke": {"step": (20, 16, 5), "small": (4, 8, 3, 32, 10, 2), "rounds": 1},
                    "quick": {"size": "small", "rounds": 3}, "full": {"size": None, "rounds": 7}}[mode]
    rounds = {"smoke": "1", "quick": "3", "full": "5"}[mode]
    p3 = {"smoke": ["--problem", "smoke", "--gd-budget", "2000"], "quick": ["--problem", "default,hard"],
          "full": ["--problem", "all"]}[mode] + ["--rounds", rounds, "--device", device]
    p4 = {"smoke": ["--K", "50", "--d", "16", "--samples", "2000", "--batch", "256", "--nc4-samples", "500",
                    "--no-check"], "quick": ["--quick"], "full": []}[mode]

    def run(name: str, cmd: list[str], out: Path) -> dict[str, Any]:
        print(f"[bench] {name}: {' '.join(cmd[1:3])} ...",
              file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {"status": "error", "message": f"timed out after {args.timeout} s"}
        wall = time.perf_counter() - t0
        sys.stderr.write(proc.stdout)
        if not out.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            return {"status": "error", "message": f"exit {proc.returncode}: {tail}", "wall_s": wall}
        # exit 1 with a result: the script ran but one of its own checks failed (reported, kept)
        return {"status": "ok" if proc.returncode == 0 else "check failed", "wall_s": wall,
                "exit": proc.returncode, "result": json.loads(out.read_text())}

    report: dict[str, Any] = {"collapsekit": __version__, "mode": mode, "device": device,
                              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "python": platform.python_version(), "platform": platform.platform(),
                              "cpu_count": os.cpu_count(), "load_average": os.getloadavg()[0], "benchmarks": {}}
    try:
        import numpy
        import torch
        report.update(numpy=numpy.__version__, torch=torch.__version__)
    except ImportError:
        pass
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        engine_parts = [p for p in ("P1", "P2") if p in only]
        if engine_parts:
            cfg = {**engine_sizes, "device": device}
            out = tmp / "engine.json"
            r = run("P1/P2", [sys.executable, str(bdir / "engine_json.py"), str(bdir), json.dumps(cfg), str(out),
                              ",".join(engine_parts)], out)
            for part in engine_parts:
                report["benchmarks"][part] = ({**r, "result": r["result"][part], "size": r["result"]["size"]}
                                              if r["status"] == "ok" else r)
        for part, script, extra in (("P3", "certify.py", p3), ("P4", "metrics_stream.py", p4)):
            if part in only:
                out = tmp / f"{part}.json"
                report["benchmarks"][part] = run(part, [sys.executable, str(bdir / script), *extra,
                                                        "--json", str(out)], out)
    if "P5" in only:
        src = Path(args.p5)
        if src.is_file():
            report["benchmarks"]["P5"] = {"status": "ok", "source": str(src), "result": json.loads(src.read_text())}
        else:
            report["benchmarks"]["P5"] = {"status": "skipped", "message": (
                f"no timings file {src}: P5 (wall time of the test suite and of `collapsekit reproduce --profile "
                f"quick`) is not measured by `bench`; write them there as JSON, e.g. "
                f"{{\"pytest_s\": ..., \"reproduce_quick_s\": ...}}")}

    B = report["benchmarks"]
    for part, entry in B.items():
        if "result" not in entry:
            rows.append((part, "-", entry["status"], entry.get("message", "").splitlines()[-1][:90]
                         if entry.get("message") else ""))
            continue
        res = entry["result"]
        if part == "P1":
            for r in res:
                cost = (f", grad rel err {r['grad_rel_err']:.0e} vs float64" if r.get("grad_rel_err") else "")
                rows.append((part, f"engine step / matmul FLOP/s, {r['dtype']}, {r['shape']}",
                             f"{r['ratio']:.0%} [{r['lo']:.0%}-{r['hi']:.0%}]{cost}", ">= 60% (GPU)"))
        elif part == "P2":
            for r in res:
                rows.append((part, f"{r['S']} configs batched vs torch.optim loop, {r['dtype']}",
                             f"{r['ratio']:.1f}x [{r['lo']:.1f}-{r['hi']:.1f}]", ">= 30x (GPU)"))
        elif part == "P3":
            for pr in res["results"]:
                for e in pr["engines"]:
                    ratio = (f"{e['ratio']:.1f}x [{e['lo']:.1f}-{e['hi']:.1f}]" if e["ratio"] is not None
                             else f">= {e['ratio_lower_bound']:.1f}x (lower bound)")
                    rows.append((part, f"certify to 1e-8 vs GD, {pr['problem']} (K={pr['params']['K']}), "
                                       f"switch {e['switch']:g}", ratio, ">= 10x"))
        elif part == "P4":
            r = res["run"]
            rows.append((part, f"K={r['K']} d={r['d']} N={r['samples']}: peak memory (tracemalloc)",
                         f"{r['peak_bytes'] / 2**20:,.0f} MiB = {r['peak_over_bound']:.1f}x O(Kd+d^2+Bd)",
                         f"K×K would be {r['dense_KxK_bytes'] / 2**20:,.0f} MiB"))
            rows.append((part, "throughput (generation + update)", f"{r['throughput_samples_s']:,.0f} samples/s", ""))
            if "agreement" in res:
                a = res["agreement"]
                rows.append((part, "streamed vs two-pass (K=200, d=64, 20k samples)",
                             f"max rel diff {a['max_rel_diff']:.1e}", "<= 1e-10"))
        elif part == "P5":
            for k, v in res.items():
                rows.append((part, k, str(v), ""))
    report["summary"] = [dict(zip(("benchmark", "figure", "value", "target"), r)) for r in rows]
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2, default=float))
    w = max([len(r[1]) for r in rows] + [6])
    print(f"collapsekit bench ({mode}) on {device}, python {report['python']}, torch {report.get('torch')}, "
          f"numpy {report.get('numpy')}, {report['cpu_count']} CPUs, load {report['load_average']:.1f}")
    print(f"{'':4} {'figure':{w}}  {'value':34} target")
    for part, fig, val, tgt in rows:
        print(f"{part:4} {fig:{w}}  {val:34} {tgt}")
    print(f"report: {out_path}")
    failed = [p for p, e in B.items() if e["status"] in ("error", "check failed")]
    return 1 if failed else 0
