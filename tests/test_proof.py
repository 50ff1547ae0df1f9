"""theory.proof: how an obligation's expression is shown in reports (``Obligation.text``).

The verdicts themselves are tested in tests/test_theory.py (three-valued obligations).  Here: an
exact rational is printed exactly when it fits, never cut mid-number when it does not, and its short
form carries as many significant digits as its label says; other long expressions are cut at the
default limit (2000 characters) and say how long they were.
"""
from __future__ import annotations

import re
from fractions import Fraction

import sympy as sp

from theory.proof import Obligation

SHORT = " (an exact rational, shown to 30 digits)"


def _text(expr, **kw) -> str:
    return Obligation("x", sp.sympify(expr), "> 0", True).text(**kw)


def _rational_with_text_length(n: int) -> sp.Rational:
    """A rational whose exact text ``p/7`` is n characters long (p has n − 2 digits, 7 ∤ p)."""
    p = 10 ** (n - 3) + 1
    while p % 7 == 0:
        p += 1
    r = sp.Rational(p, 7)
    assert len(str(p)) == n - 2 and r.q == 7
    return r


def _short_form(text: str) -> tuple[str, Fraction]:
    """The significant digits and the value of a short form ``d.ddd…e±x (… shown to 30 digits)``."""
    m = re.fullmatch(r"(-?)(\d)\.(\d+)[eE]([+-]?\d+)" + re.escape(SHORT), text)
    assert m, text
    digits = m.group(2) + m.group(3)
    value = int(digits) * Fraction(10) ** (int(m.group(4)) - (len(digits) - 1))
    return digits, -value if m.group(1) else value


def test_small_rationals_are_shown_exactly():
    assert _text(sp.Rational(1, 3)) == "1/3"
    assert _text(sp.Rational(-22, 7)) == "-22/7"
    r = sp.Rational(2**200 + 1, 3**100)                  # 61 + 48 digits: fits easily
    assert _text(r) == f"{2**200 + 1}/{3**100}"


def test_rational_at_the_default_limit():
    """Exact text of exactly 2000 characters: shown in full; 2001 characters: the short form."""
    fits, too_long = _rational_with_text_length(2000), _rational_with_text_length(2001)
    assert _text(fits) == sp.sstr(fits) and len(_text(fits)) == 2000
    assert _text(too_long).endswith(SHORT)
    assert _text(too_long, limit=2001) == sp.sstr(too_long)


def test_long_rational_is_never_cut_mid_number():
    """1200-digit numerator over a 1000-digit denominator: 2201 characters, each side short of
    the default limit; the report shows the 30-digit form, not the first 2000 characters."""
    p, q = 10**1199 + 3, 10**999 + 7
    r = sp.Rational(p, q)
    assert (r.p, r.q) == (p, q) and len(sp.sstr(r)) == 2201
    assert _text(r).endswith(SHORT) and "..." not in _text(r)


def test_rational_too_long_to_print_gets_the_short_form():
    """A 5001-digit denominator: Python refuses to print it (over 4300 digits); no error, and the
    30-digit form is the value to 30 digits."""
    q = 10**5000 + 1
    digits, value = _short_form(_text(sp.Rational(1, q)))
    assert abs(value - Fraction(1, q)) <= Fraction(1, q) * Fraction(1, 10**29)


def test_short_form_has_the_digits_its_label_says():
    """The mantissa has exactly as many significant digits as the label says (30), and they are the
    leading digits of the exact value (compared with a Fraction, independently of sympy's printing)."""
    claimed = int(re.search(r"shown to (\d+) digits", SHORT).group(1))
    for p, q in [(10**2500 + 1, 7), (-(3**4000), 2**3001)]:
        digits, value = _short_form(_text(sp.Rational(p, q)))
        assert len(digits) == claimed
        assert abs(value - Fraction(p, q)) <= abs(Fraction(p, q)) * Fraction(1, 10**29)


def test_long_expression_is_cut_at_the_default_limit():
    x = sp.Symbol("x")
    expr = sp.Add(*(sp.Symbol(f"y{i}") * x**i for i in range(400)))
    full = sp.sstr(expr)
    assert len(full) > 2000
    assert _text(expr) == f"{full[:2000]}... ({len(full)} characters)"
    assert _text(expr, limit=len(full)) == full
