"""Build the appendix (Markdown, LaTeX, PDF where a LaTeX engine exists) from check results."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import sympy as sp

from collapsekit import registry

KINDS = ("symbolic", "numeric", "simulation", "negative_control")


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.1e}"


def _latex(expr, limit: int = 600) -> str:
    """sympy's LaTeX of a closed form; an exact number too long to read (a rational with
    thousands of digits, a certified root) is shown to 15 significant digits instead."""
    expr = sp.sympify(expr)
    if expr.is_number:
        if expr.is_Rational and max(abs(int(expr.p)), int(expr.q)).bit_length() > 200:
            return sp.latex(sp.Float(sp.N(expr, 15), 15)) + r"\ (	ext{exact, rounded here})"
        text = sp.latex(expr)
        return text if len(text) <= limit else sp.latex(sp.Float(sp.N(expr, 15), 15)) + r"\ (	ext{rounded})"
    text = sp.latex(expr)
    return text if len(text) <= limit else r"	ext{(a long closed form; see the code)}"


def _general_formulas(claim, params) -> dict[str, str]:
    """The closed forms with symbolic parameters, rendered by sympy."""
    ps = claim.symbolic_params(params)
    if ps is None:
        f = claim.formulas(params)
        return {} if f is None else {k: _latex(v) for k, v in f.items()}
    from theory.etf import m_sym  # symbolic claims write K = m + 1 so that K - 1 > 0 is known

    K = sp.Symbol("K", integer=True, positive=True)
    return {k: _latex(sp.simplify(sp.sympify(v).subs(m_sym, K - 1))) for k, v in claim.formulas(ps).items()}


def _tex_escape(text: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    out = "".join(repl.get(ch, ch) for ch in text)
    for uni, tex in {"≤": r"$\le$", "≥": r"$\ge$", "≠": r"$\ne$", "Σ": r"$\Sigma$", "ᵀ": r"$^\top$",
                     "·": r"$\cdot$", "²": r"$^2$", "‖": r"$\|$", "⟨": r"$\langle$", "⟩": r"$\rangle$",
                     "−": "-", "⊥": r"$\perp$", "α": r"$\alpha$", "β": r"$\beta$", "π": r"$\pi$"}.items():
        out = out.replace(uni, tex)
    return "".join(ch if ord(ch) < 128 or ch.startswith("$") else "?" for ch in out)


def _claim_figures(manifest: dict, claim_id: str) -> list[dict]:
    return [f for f in manifest.get("figures", []) if claim_id in f.get("claims", [])]


def build_markdown(payload: dict, manifest: dict, fig_rel: str) -> str:
    lines = ["# collapsekit appendix: claims and their checks", "",
             f"collapsekit {payload['version']}, device `{payload['device']}`, profile `{payload.get('profile')}`, "
             f"seed {payload.get('seed')}. Every claim is checked symbolically (sympy), numerically (an independent "
             "optimum or construction) and by simulation (torch), and every negative control (a perturbed formula) "
             "must be rejected by every check that passed.", "", "## Summary", "",
             "| claim | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for c in payload["claims"]:
        lines.append(f"| `{c['id']}` | " + " | ".join(c["checks"][k]["status"] for k in KINDS) + " |")
    for c in payload["claims"]:
        claim = registry.get(c["id"])
        lines += ["", f"## `{c['id']}` — {claim.title}", "", f"**Source.** {claim.source.cite()}"
                  + (f" ({claim.source.note})" if claim.source.note else ""), "",
                  f"**Statement.** $${claim.statement}$$", ""]
        if claim.hypotheses:
            lines.append("**Hypotheses.** " + "; ".join(claim.hypotheses) + ".")
        formulas = _general_formulas(claim, c["params"])
        if formulas:
            lines += ["", "**Closed forms (rendered by sympy).**", ""]
            lines += [f"- `{k}` $= {v}$" for k, v in formulas.items()]
        lines += ["", "**Parameters checked.** " + ", ".join(f"{k} = {v}" for k, v in c["params"].items()), "",
                  "| check | status | max rel. error | tolerance | detail |", "|---|---|---|---|---|"]
        for k in KINDS:
            ch = c["checks"][k]
            lines.append(f"| {k} | {ch['status']} | {_fmt(ch.get('max_rel_err'))} | {_fmt(ch.get('tolerance'))} | "
                         f"{ch['message'].replace('|', '/')} |")
        why = {k: t.why for k, t in claim.tolerances.items()}
        if why:
            lines += ["", "**Tolerances.**", ""] + [f"- {k}: {v}" for k, v in why.items()]
        controls = c["checks"]["negative_control"].get("controls", [])
        if controls:
            lines += ["", "**Negative controls.**", ""]
            for nc in controls:
                rej = ", ".join(f"{k}: {'rejected' if v else 'NOT rejected'}" for k, v in nc["rejected_by"].items())
                lines.append(f"- {nc['name']} — {rej}")
        for f in _claim_figures(manifest, c["id"]):
            lines += ["", f"![{f['title']}]({fig_rel}/{f['id']}.png)", "", f"*Figure `{f['id']}`.* {f['caption']}"]
    return "\n".join(lines) + "\n"


def build_latex(payload: dict, manifest: dict, fig_rel: str) -> str:
    out = [r"\documentclass[10pt]{article}", r"\usepackage[margin=2cm]{geometry}", r"\usepackage{amsmath,amssymb}",
           r"\usepackage{graphicx}", r"\usepackage{longtable}", r"\begin{document}",
           r"\section*{collapsekit appendix: claims and their checks}",
           _tex_escape(f"collapsekit {payload['version']}, device {payload['device']}, profile {payload.get('profile')}, "
                       f"seed {payload.get('seed')}."),
           r"\subsection*{Summary}", r"\begin{tabular}{l" + "l" * len(KINDS) + "}",
           "claim & " + " & ".join(_tex_escape(k) for k in KINDS) + r" \\ \hline"]
    for c in payload["claims"]:
        out.append(r"\texttt{" + _tex_escape(c["id"]) + "} & " + " & ".join(c["checks"][k]["status"] for k in KINDS) + r" \\")
    out.append(r"\end{tabular}")
    for c in payload["claims"]:
        claim = registry.get(c["id"])
        out += [r"\subsection*{\texttt{" + _tex_escape(c["id"]) + "}: " + _tex_escape(claim.title) + "}",
                r"\textbf{Source.} " + _tex_escape(claim.source.cite()) + r"\par",
                r"\textbf{Statement.} \[" + claim.statement + r"\]"]
        formulas = _general_formulas(claim, c["params"])
        if formulas:
            out.append(r"\textbf{Closed forms (sympy).} \begin{itemize}" + "".join(
                r"\item \texttt{" + _tex_escape(k) + "} $= " + v + "$" for k, v in formulas.items()) + r"\end{itemize}")
        out += [r"\textbf{Parameters.} " + _tex_escape(", ".join(f"{k} = {v}" for k, v in c["params"].items())) + r"\par",
                r"\begin{longtable}{llllp{7cm}}", r"check & status & max err & tol & detail \\ \hline"]
        for k in KINDS:
            ch = c["checks"][k]
            out.append(" & ".join([_tex_escape(k), ch["status"], _fmt(ch.get("max_rel_err")), _fmt(ch.get("tolerance")),
                                   _tex_escape(ch["message"][:300])]) + r" \\")
        out.append(r"\end{longtable}")
        for f in _claim_figures(manifest, c["id"]):
            out += [r"\begin{figure}[h]\centering", r"\includegraphics[width=\linewidth]{" + f"{fig_rel}/{f['id']}.pdf" + "}",
                    r"\caption{" + _tex_escape(f["caption"]) + "}", r"\end{figure}"]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def latex_engine() -> str | None:
    for engine in ("latexmk", "pdflatex", "tectonic"):
        if shutil.which(engine):
            return engine
    return None


def build_appendix(payload: dict[str, Any], out: Path, figures_dir: Path, log=None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = figures_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"figures": []}
    fig_rel = os.path.relpath(figures_dir.resolve(), out.resolve())
    md, tex = out / "appendix.md", out / "appendix.tex"
    md.write_text(build_markdown(payload, manifest, fig_rel))
    tex.write_text(build_latex(payload, manifest, fig_rel))
    made = [md, tex]
    engine = latex_engine()
    if engine is None:
        if log:
            print("no LaTeX engine found: skipping appendix.pdf (install one, e.g. "
                  "`apt-get install texlive-latex-recommended latexmk`)", file=log)
        return made
    cmd = {"latexmk": ["latexmk", "-pdf", "-interaction=nonstopmode", "-quiet", tex.name],
           "pdflatex": ["pdflatex", "-interaction=nonstopmode", tex.name],
           "tectonic": ["tectonic", tex.name]}[engine]
    try:
        subprocess.run(cmd, cwd=out, capture_output=True, timeout=300, check=True)
        made.append(out / "appendix.pdf")
    except (subprocess.SubprocessError, OSError) as exc:
        if log:
            print(f"LaTeX ({engine}) failed, appendix.pdf not built: {exc}", file=log)
    return made
