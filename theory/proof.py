"""Proof obligations: an identity or a sign condition that sympy must decide.

An obligation is *proved* only when sympy says so (``.equals(0) is True`` after
simplification, or an inequality that simplifies to ``True`` under the symbols'
assumptions).  ``None`` from sympy means *undecided*, which is not a proof.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sympy as sp

Relation = Literal["== 0", "> 0", ">= 0", "!= 0"]


@dataclass(frozen=True)
class Obligation:
    """``expr <relation>`` must hold; ``proved`` is sympy's verdict (None = undecided)."""

    name: str
    expr: sp.Expr
    relation: Relation
    proved: bool | None

    @property
    def ok(self) -> bool:
        return self.proved is True

    def describe(self) -> str:
        verdict = {True: "proved", False: "refuted", None: "undecided"}[self.proved]
        return f"{self.name}: {self.text()} {self.relation}  [{verdict}]"

    def text(self, limit: int = 2000) -> str:
        """The expression as text, cut after ``limit`` characters and labelled with its length.
        An exact rational is never cut mid-number: one whose exact text would be longer than
        ``limit`` (e.g. thousands of digits) is shown to 30 significant digits, and labelled so."""
        if self.expr.is_Number and not self.expr.is_Integer and self.expr.is_Rational:
            try:
                exact_text = sp.sstr(self.expr)
            except ValueError:          # Python prints no integer of over 4300 digits (int_max_str_digits)
                exact_text = None
            if exact_text is None or len(exact_text) > limit:
                return f"{sp.N(self.expr, 30)} (an exact rational, shown to 30 digits)"
        text = sp.sstr(self.expr)
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def exact(value) -> sp.Expr:
    """A parameter as an exact sympy number: ints stay ints, floats become the decimal they
    print as (0.005 → 1/200, the value the user typed); sympy expressions pass through."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    if isinstance(value, int):
        return sp.Integer(value)
    return sp.Rational(repr(float(value)))


def _decide_zero(expr: sp.Expr) -> bool | None:
    simplified = sp.simplify(sp.nsimplify(expr) if expr.is_Float else expr)
    if simplified == 0:
        return True
    verdict = simplified.equals(0)
    return verdict


def zero(name: str, expr) -> Obligation:
    """Obligation ``expr == 0`` (an identity)."""
    expr = sp.sympify(expr)
    return Obligation(name, expr, "== 0", _decide_zero(expr))


def nonzero(name: str, expr) -> Obligation:
    expr = sp.sympify(expr)
    verdict = _decide_zero(expr)
    return Obligation(name, expr, "!= 0", None if verdict is None else not verdict)


def positive(name: str, expr) -> Obligation:
    """Obligation ``expr > 0`` decided from the symbols' assumptions."""
    expr = sp.simplify(sp.sympify(expr))
    verdict = expr.is_positive
    if verdict is None:                     # a factored form often exposes the sign
        verdict = sp.factor(expr).is_positive
    return Obligation(name, expr, "> 0", verdict)


def nonnegative(name: str, expr) -> Obligation:
    expr = sp.simplify(sp.sympify(expr))
    verdict = expr.is_nonnegative
    if verdict is None:
        verdict = sp.factor(expr).is_nonnegative
    return Obligation(name, expr, ">= 0", verdict)


def all_proved(obligations: list[Obligation]) -> bool:
    return bool(obligations) and all(o.ok for o in obligations)
