"""Numeric layer of collapsekit: independent optima and measurements (numpy, scipy; cvxpy lazily).

``closed_form`` marks the functions here that evaluate a formula — an objective and its gradient,
a metric's definition, a weak-duality bound, a quantity read off a solution — as opposed to a
solver's machinery (step sizes, iteration caps, restarts).  Mutation testing
(``collapsekit mutate``) changes the constants and operators of the marked functions only: a wrong
formula there must be caught by the suite, while a solver setting changed from 200 to 201 steps is
not a formula.  The marker returns the function unchanged.
"""
from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def closed_form(fn: F) -> F:
    """Mark ``fn`` (a function, or a property above its getter) as the evaluation of a formula (see the
    module docstring); returns ``fn`` itself.  Mutation testing reads the mark from the source."""
    try:
        fn.__closed_form__ = True
    except AttributeError:                     # a property: the mark in the source is what counts
        pass
    return fn
