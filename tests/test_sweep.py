"""collapsekit sweep: grid parsing, provenance, and resuming after SIGKILL with every point once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collapsekit import registry
from collapsekit.claim import ParameterError
from collapsekit.cli import main
from collapsekit.sweep import parse_grid, read_done

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["sweep", "etf.simplex", "--grid", "K=3:30:28", "--checks", "numeric", "--device", "cpu"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_sigkill_then_resume_gives_every_point_exactly_once(tmp_path):
    out = tmp_path / "sweep"
    jsonl = out / "points.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The child is a real sweep whose fourth point never finishes (it blocks), so the kill always
    # lands mid-sweep: polling for "3 lines written" raced a fast sweep on a loaded CI machine,
    # which sometimes finished all 28 points between two polls.
    child = ("import sys, time\n"
             "import collapsekit.sweep as s\n"
             "row = s._row\n"
             "def stalled(claim, point, *a, **k):\n"
             "    if point['K'] >= 6:\n"
             "        time.sleep(3600)\n"
             "    return row(claim, point, *a, **k)\n"
             "s._row = stalled\n"
             "from collapsekit.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", child, *ARGS, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(_lines(jsonl)) < 3:
        time.sleep(0.05)
    alive = proc.poll() is None
    proc.kill()                                   # SIGKILL: no cleanup runs
    proc.wait()
    before = len(_lines(jsonl))
    assert alive and before == 3, (alive, before)
    with open(jsonl, "ab") as f:                  # and a torn, half-written line
        f.write(b'{"point": {"K": 9')
    assert main([*ARGS, "--out", str(out)]) == 0
    rows = _lines(jsonl)
    assert sorted(r["point"]["K"] for r in rows) == list(range(3, 31))       # each once
    assert all(r["status"] == "pass" for r in rows)
    csv_lines = (out / "results.csv").read_text().splitlines()
    provenance = json.loads(csv_lines[0].split(": ", 1)[1])
    assert provenance["claim"] == "etf.simplex" and "git_commit" in provenance and len(csv_lines) == 2 + 28
    assert (out / "phase.png").exists()


def test_a_second_run_computes_nothing(tmp_path):
    out = tmp_path / "s"
    args = ["sweep", "etf.simplex", "--grid", "K=3,4", "--checks", "numeric", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    stamp = (out / "points.jsonl").read_bytes()
    assert main(args) == 0
    assert (out / "points.jsonl").read_bytes() == stamp


def test_grid_parsing_and_bad_input():
    claim = registry.get("model_collapse.ols")
    assert parse_grid(["n=1,2", "sigma=0:1:3"], claim) == {"n": [1, 2], "sigma": [0.0, 0.5, 1.0]}
    for spec, name in (("q=1,2", "q"), ("n", "n"), ("n=1:2", "n"), ("sigma=abc", "sigma")):
        with pytest.raises(ParameterError) as err:
            parse_grid([spec], claim)
        assert err.value.name == name


def test_invalid_points_are_recorded_not_fatal(tmp_path):
    out = tmp_path / "s"
    rc = main(["sweep", "model_collapse.ols", "--grid", "T=21,60", "--set", "n=0", "--checks", "numeric",
               "--device", "cpu", "--out", str(out)])
    rows = _lines(out / "points.jsonl")
    assert rc == 0 and [r["status"] for r in rows] == ["invalid", "pass"]
    assert "parameter T" in rows[0]["message"]


def test_read_done_cuts_a_torn_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"point": {"K": 3}, "status": "pass"}\n{"point": {"K": 4}, "sta')
    assert list(read_done(path)) == ['{"K": 3}']
    assert path.read_text() == '{"point": {"K": 3}, "status": "pass"}\n'


def test_dask_two_workers_one_killed_mid_sweep_lose_nothing(tmp_path):
    pytest.importorskip("distributed")
    import signal

    from distributed import Client, LocalCluster

    from collapsekit.sweep import run_sweep

    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        def kill_one_worker(i, n, what):
            if not killed:                       # after the first committed point
                addr, pid = sorted(client.run(os.getpid).items())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(addr)
        rows = run_sweep(registry.get("etf.simplex"), {"K": list(range(3, 13))}, tmp_path, kinds=("numeric",),
                         device="cpu", client=client, progress=kill_one_worker)
    assert killed
    assert [r["point"]["K"] for r in rows] == list(range(3, 13)) and all(r["status"] == "pass" for r in rows)
    assert sorted(r["point"]["K"] for r in _lines(tmp_path / "points.jsonl")) == list(range(3, 13))


def test_batched_sweep_agrees_with_point_by_point(tmp_path):
    """ufm.ce.balanced batches the grid's points into one engine run; the rows match running
    each point alone, across the zero-collapse threshold K eta = 1 (lambda_W = 1/(K^2 n lambda_H))."""
    from collapsekit.sweep import run_sweep

    claim = registry.get("ufm.ce.balanced")
    grid = {"lambda_W": [0.02, 0.15, 0.3], "K": [3, 4]}
    fixed = {"lambda_H": 0.1}
    batched = run_sweep(claim, grid, tmp_path / "b", device="cpu", fixed=fixed)
    alone = run_sweep(claim, grid, tmp_path / "a", device="cpu", fixed=fixed, batch_size=1)
    assert all(r["batched"] == 3 for r in batched) and "batched" not in alone[0]     # one run per K
    assert [r["status"] for r in batched] == [r["status"] for r in alone] == ["pass"] * 6
    for rb, ra in zip(batched, alone):
        assert rb["predicted"] == ra["predicted"]
        assert rb["observed"]["simulation.loss"] == pytest.approx(ra["observed"]["simulation.loss"], rel=1e-9)
    zero = [r["point"] for r in batched if r["predicted"]["w_norm_sq"] == 0]
    assert zero == [{"lambda_H": 0.1, "lambda_W": 0.3, "K": 4}]       # past K eta = 1 only there
