"""`collapsekit bench`: the report assembly, at smoke sizes (P3, P4, P5; P1/P2 cost ~7 s more)."""
import json

from collapsekit.cli import EXIT_OK, EXIT_USAGE, main


def test_bench_smoke_report(tmp_path, capsys):
    p5 = tmp_path / "p5.json"
    p5.write_text(json.dumps({"pytest_s": 12.5, "reproduce_quick_s": 99.0}))
    out = tmp_path / "report.json"
    rc = main(["bench", "--smoke", "--only", "P3,P4,P5", "--device", "cpu", "--out", str(out), "--p5", str(p5)])
    assert rc == EXIT_OK
    rep = json.loads(out.read_text())
    assert rep["mode"] == "smoke" and rep["device"] == "cpu"
    assert {"python", "torch", "numpy", "cpu_count"} <= set(rep)
    b = rep["benchmarks"]
    assert set(b) == {"P3", "P4", "P5"} and all(e["status"] == "ok" for e in b.values())
    p3 = b["P3"]["result"]["results"][0]
    assert all(e["certified"] and e["rel_err"] <= 1e-8 and e["ratio"] > 0 for e in p3["engines"])
    assert p3["gd"]["reached"]
    p4 = b["P4"]["result"]["run"]
    assert p4["K"] == 50 and p4["peak_bytes"] > 0 and p4["throughput_samples_s"] > 0
    assert b["P5"]["result"] == {"pytest_s": 12.5, "reproduce_quick_s": 99.0}
    parts = [row["benchmark"] for row in rep["summary"]]
    assert {"P3", "P4", "P5"} <= set(parts)
    table = capsys.readouterr().out
    assert "certify to 1e-8" in table and "peak memory" in table and str(out) in table


def test_bench_p5_skipped_without_file(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["bench", "--smoke", "--only", "P5", "--out", str(out), "--p5", str(tmp_path / "none.json")])
    assert rc == EXIT_OK
    p5 = json.loads(out.read_text())["benchmarks"]["P5"]
    assert p5["status"] == "skipped" and "not measured" in p5["message"]


def test_bench_rejects_unknown_part(tmp_path, capsys):
    assert main(["bench", "--only", "P9", "--out", str(tmp_path / "x.json")]) == EXIT_USAGE
    assert "P9" in capsys.readouterr().err
