"""The command line: JSON contract, exit codes, parameter routing."""
import json

import pytest
import torch

from collapsekit.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "etf.simplex" in out and "arXiv:2008.08186" in out
    code, out, _ = run(capsys, "list", "--json")
    assert {c["id"] for c in json.loads(out)} >= {"etf.simplex", "etf.max_min_angle"}


def test_check_json_contract(capsys):
    code, out, _ = run(capsys, "check", "etf.*", "--json", "--device", "cpu", "--set", "K=5")
    assert code == 0
    payload = json.loads(out)
    assert set(payload) >= {"version", "device", "claims"} and payload["device"] == "cpu"
    from collapsekit import registry
    assert [c["id"] for c in payload["claims"]] == [c.id for c in registry.select(["etf.*"])]
    for c in payload["claims"]:
        assert set(c) >= {"id", "title", "source", "params", "predicted", "observed", "checks"}
        assert c["params"]["K"] == 5
        assert set(c["checks"]) == {"symbolic", "numeric", "simulation", "negative_control"}
        for check in c["checks"].values():
            assert check["status"] == "pass"
            assert {"status", "max_rel_err", "tolerance"} <= set(check)
        assert all(isinstance(v, float) for v in c["predicted"].values())
        assert all(isinstance(v, float) for v in c["observed"].values())


@pytest.mark.parametrize("argv,needle", [
    (["check", "etf.simplex", "--set", "K=1"], "parameter K"),
    (["check", "etf.simplex", "--set", "K=6", "--set", "d=2"], "parameter d"),
    (["check", "etf.simplex", "--set", "K=abc"], "parameter K"),
    (["check", "etf.simplex", "--set", "nonsense=3"], "parameter nonsense"),
    (["check", "etf.simplex", "--set", "K"], "NAME=VALUE"),
    (["check", "no.such.claim"], "no claim matches"),
    (["figures", "no_such_figure"], "no figure"),
])
def test_bad_usage_exits_2_and_names_the_problem(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in err


def test_unknown_option_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["check", "--frobnicate"])
    assert e.value.code == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_requested_without_gpu_exits_2(capsys):
    code, _, err = run(capsys, "check", "etf.simplex", "--device", "cuda")
    assert code == 2 and "CUDA" in err


def test_failing_claim_exits_1(capsys, monkeypatch):
    import sympy as sp

    from collapsekit import registry
    claim = registry.get("etf.simplex")
    monkeypatch.setattr(type(claim), "formulas", lambda self, p: {**__import__("theory.etf", fromlist=["x"])
                                                                  .simplex_formulas(p["K"]), "cos": sp.Rational(-1, p["K"])})
    code, out, _ = run(capsys, "check", "etf.simplex", "--device", "cpu")
    assert code == 1 and "FAIL" in out


def test_help_on_every_command(capsys):
    for cmd in ("list", "check", "figures", "appendix", "reproduce"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "usage" in capsys.readouterr().out


def test_readme_claim_table_is_the_generated_one():
    from pathlib import Path

    from collapsekit.cli import TABLE_BEGIN, TABLE_END, claims_markdown

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text[text.index(TABLE_BEGIN) + len(TABLE_BEGIN):text.index(TABLE_END)].strip()
    assert block == claims_markdown(), "run `collapsekit list --update-readme README.md`"


def test_update_readme_rewrites_only_the_block(tmp_path):
    from collapsekit.cli import TABLE_BEGIN, TABLE_END, claims_markdown, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{TABLE_BEGIN}\nold\n{TABLE_END}\n\nafter\n")
    assert update_readme(readme) is True and update_readme(readme) is False
    text = readme.read_text()
    assert text.startswith("# title\n\n") and text.endswith(f"{TABLE_END}\n\nafter\n") and claims_markdown() in text
