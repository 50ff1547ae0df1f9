"""The claim: a published statement and the three independent ways we check it.

A :class:`Claim` subclass declares, as plain data, its id, source, parameters,
tolerances and negative controls, and implements four methods:

``formulas(p)``
    the closed forms (sympy expressions, exact) at the parameters ``p``;
``prove(p, formulas)``
    sympy proof obligations *for the formulas it is given*, so that a perturbed
    formula can be fed to the same proof and must be refuted;
``numeric(p, ctx)``
    an independent optimum or construction (numpy/scipy/cvxpy), returning an
    :class:`Observation` — never an evaluation of the closed form;
``simulate(p, ctx)``
    torch gradient descent/flow from a random start, device-agnostic, with its
    steps, final gradient norm and whether it converged.

The harness (:mod:`collapsekit.runner`) evaluates the formulas, runs the checks,
compares observations with predictions under the stated tolerances, and runs
every negative control through the same comparisons.
"""
from __future__ import annotations

import hashlib
import math
import reprlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import sympy as sp

CHECK_KINDS = ("symbolic", "numeric", "simulation", "negative_control")


def evaluate(formulas: Mapping[str, sp.Expr]) -> dict[str, float]:
    """Exact closed forms → floats (evaluated with 30 digits, then rounded once)."""
    return {k: float(sp.N(v, 30)) for k, v in formulas.items()}


class ParameterError(ValueError):
    """Bad claim parameter; the message names the parameter."""

    def __init__(self, name: str, message: str):
        super().__init__(f"parameter {name}: {message}")
        self.name = name


@dataclass(frozen=True)
class Source:
    authors: str
    title: str
    year: int
    where: str                 # theorem / equation / section
    arxiv: str | None = None
    note: str = ""

    def cite(self) -> str:
        arxiv = f", arXiv:{self.arxiv}" if self.arxiv else ""
        return f"{self.authors} ({self.year}), {self.title}{arxiv}, {self.where}"


#: a parameter without a stated maximum is still rejected above this (a guard against a typo such
#: as d=10000000000 allocating or running without end); claims state tighter maxima where they can
UNSTATED_MAXIMUM = 1e6
#: the most entries a tuple parameter (class sizes) may have
MAX_TUPLE_LENGTH = 1024


@dataclass(frozen=True)
class Param:
    """A typed claim parameter.  ``default`` may depend on earlier parameters.

    Without a ``maximum`` a value above :data:`UNSTATED_MAXIMUM` is rejected all the same.
    """

    name: str
    kind: type                  # int, float, or tuple (of ints: class sizes, "200,100,50,50" on the CLI)
    default: Any                # value, or callable(dict of earlier params) -> value
    doc: str
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, value: Any) -> int | float | tuple:
        if self.kind is tuple:
            return self._coerce_tuple(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                value = int(text) if self.kind is int else float(text)
            except ValueError:
                raise ParameterError(self.name, f"{value!r} is not a valid {self.kind.__name__}") from None
        if isinstance(value, bool):
            raise ParameterError(self.name, f"{value!r} is not a valid {self.kind.__name__}")
        if self.kind is int:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ParameterError(self.name, f"{value!r} is not an integer")
                value = int(value)
            if not isinstance(value, (int, np.integer)):
                raise ParameterError(self.name, f"{value!r} is not an integer")
            value = int(value)
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ParameterError(self.name, f"{value!r} is not a number") from None
            if not math.isfinite(value):
                raise ParameterError(self.name, f"{value!r} is not finite")
        if self.minimum is not None and value < self.minimum:
            raise ParameterError(self.name, f"{value} is below the minimum {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ParameterError(self.name, f"{value} is above the maximum {self.maximum:g}")
        if self.maximum is None and value > UNSTATED_MAXIMUM:
            raise ParameterError(self.name, f"{value} is implausibly large (above {UNSTATED_MAXIMUM:g})")
        return value

    def _coerce_tuple(self, value: Any) -> tuple[int, ...]:
        """A tuple of integers, each within [minimum, maximum]; a string is split on commas."""
        items = value.split(",") if isinstance(value, str) else value
        try:
            items = list(items)
        except TypeError:
            raise ParameterError(self.name, f"{value!r} is not a list of integers") from None
        if not items:
            raise ParameterError(self.name, "an empty list")
        if len(items) > MAX_TUPLE_LENGTH:
            raise ParameterError(self.name, f"{len(items)} entries; at most {MAX_TUPLE_LENGTH}")
        entry = Param(self.name, int, 0, self.doc, self.minimum, self.maximum)
        return tuple(entry.coerce(v) for v in items)


@dataclass(frozen=True)
class Tolerance:
    """A stated tolerance and the reason for its size.

    ``kind="relative"``: relative error (absolute where the prediction is 0) <= value.
    ``kind="zscore"``: for Monte-Carlo checks; every compared quantity comes with its
    measured standard error, and |observed − predicted| / stderr <= value (the number
    of standard errors; the sample size behind the stderr is stated by the check).

    ``kind="rate"``: a relative error, for a statement that holds only in a limit and is
    checked at finite size (a fitted exponent, an asymptotic value): its size is the measured
    finite-size deviation, which ``why`` must give.

    ``asymptotic`` (z-score only): for a prediction that is exact only in a limit (a
    deterministic equivalent), the relative finite-size error it is allowed at the
    stated sizes; the z-score is then (|observed − predicted| − asymptotic·|predicted|)₊
    / stderr.  Its ``why`` must say how that error was measured.
    """

    value: float
    why: str
    kind: str = "relative"
    asymptotic: float = 0.0

    def __post_init__(self):
        if self.kind not in ("relative", "zscore", "rate"):
            raise ValueError(f"Tolerance kind {self.kind!r}: expected 'relative', 'zscore' or 'rate'")
        if self.asymptotic < 0 or (self.asymptotic and self.kind != "zscore"):
            raise ValueError(f"Tolerance asymptotic={self.asymptotic}: a nonnegative allowance, for kind 'zscore' only")


@dataclass
class Observation:
    """What a numeric or simulation check measured.

    ``values`` maps a predicted quantity's name to a number or an array of
    numbers that should all equal the prediction (e.g. every pairwise cosine).
    ``converged`` False (an optimizer out of steps, a solver with an inaccurate
    status, a certificate with a gap) makes the check fail whatever the values.
    """

    values: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    converged: bool = True
    message: str = ""
    skip: str | None = None     # a reason: nothing to compare (e.g. no closed form here)
    stderr: dict[str, Any] = field(default_factory=dict)   # Monte-Carlo standard errors, per value


@dataclass(frozen=True)
class NegativeControl:
    """A named perturbation of some formulas (wrong constant, wrong exponent...)."""

    name: str
    perturb: Callable[[Mapping[str, Any], dict[str, sp.Expr]], dict[str, sp.Expr]]


@dataclass
class Context:
    """What a check may depend on besides the parameters."""

    claim_id: str
    seed: int = 0
    device: str = "auto"
    profile: str = "quick"

    def seed_for(self, check: str) -> int:
        """A seed derived from the root seed, the claim id and the check name."""
        digest = hashlib.sha256(f"{self.seed}:{self.claim_id}:{check}".encode()).digest()
        return int.from_bytes(digest[:4], "little")

    def rng(self, check: str) -> np.random.Generator:
        return np.random.default_rng(self.seed_for(check))

    def by_profile(self, quick, full):
        """The quick profile's value (sized for 2 CPU cores) or the full profile's."""
        return quick if self.profile == "quick" else full


class Claim:
    """Base class of every claim.  Subclasses fill in the class attributes."""

    id: ClassVar[str]
    title: ClassVar[str]
    statement: ClassVar[str]                 # LaTeX
    summary: ClassVar[str] = ""              # one plain-text line for the README's claim table (default: title)
    summary_source: ClassVar[str] = ""       # its short source column (default: "authors year")
    sweep_quantities: ClassVar[tuple[str, ...]] = ()   # what `collapsekit sweep` plots (default: the first four)
    part_of: ClassVar[str] = ""              # the catalogue entry this claim is a part of (selecting it selects this)
    source: ClassVar[Source]
    params: ClassVar[tuple[Param, ...]] = ()
    hypotheses: ClassVar[tuple[str, ...]] = ()
    tolerances: ClassVar[dict[str, Tolerance]] = {}
    negative_controls: ClassVar[tuple[NegativeControl, ...]] = ()
    #: where a negative control that leaves the defaults' formulas unchanged (a wrong threshold, a wrong
    #: value on the other side of it) does apply: control name -> parameter overrides.  The
    #: negative-control audit (``tests/test_claims.py``) runs the claim there and requires a rejection.
    control_points: ClassVar[dict[str, dict[str, Any]]] = {}
    #: quantities predicted to be exactly 0 are compared by absolute error against this scale
    zero_scale: ClassVar[float] = 1.0
    #: K values the default test run checks (``tests/test_claims.py::test_K_range``)
    test_K: ClassVar[tuple[int, ...]] = (2, 3)

    # ---------------------------------------------------------------- parameters
    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults, then overrides, coerced and validated; unknown names are errors."""
        overrides = dict(overrides or {})
        known = {p.name for p in self.params}
        for name in overrides:
            if name not in known:
                raise ParameterError(name, f"unknown for claim {self.id} (it takes {', '.join(sorted(known)) or 'none'})")
        values: dict[str, Any] = {}
        for p in self.params:
            if p.name in overrides or not callable(p.default):
                values[p.name] = p.coerce(overrides[p.name] if p.name in overrides else p.default)
                continue
            try:  # a default derived from earlier parameters: name those when it fails
                values[p.name] = p.coerce(p.default(values))
            except (ArithmeticError, ValueError, TypeError) as exc:
                given = ", ".join(f"{k}={reprlib.repr(values[k])}" for k in overrides if k in values) or "the defaults"
                reason = exc.args[0] if isinstance(exc, ParameterError) else f"{type(exc).__name__}: {exc}"
                raise ParameterError(p.name, f"its default, derived from {given}, is invalid ({reason}); "
                                             f"set {p.name} explicitly or change those") from None
        self.validate(values)
        return values

    def validate(self, p: dict[str, Any]) -> None:
        """Cross-parameter conditions; raise ParameterError naming the parameter."""

    # ---------------------------------------------------------------- the claim
    def formulas(self, p: Mapping[str, Any]) -> dict[str, sp.Expr] | None:
        raise NotImplementedError

    def prove(self, p: Mapping[str, Any], formulas: dict[str, sp.Expr]) -> list:
        raise NotImplementedError

    def numeric(self, p: Mapping[str, Any], ctx: Context) -> Observation:
        raise NotImplementedError

    def simulate(self, p: Mapping[str, Any], ctx: Context) -> Observation:
        raise NotImplementedError

    def batch_key(self, p: Mapping[str, Any]) -> Any:
        """For sweeps: points with equal keys can share one batched simulation (None: no batching)."""
        return None

    def simulate_batch(self, points: list[Mapping[str, Any]], ctx: Context) -> list[Observation]:
        """The simulation of several resolved points with one ``batch_key``, in one batched run on
        one device; the i-th observation must equal what ``simulate(points[i])`` checks."""
        raise NotImplementedError

    def symbolic_params(self, p: Mapping[str, Any]) -> dict[str, Any] | None:
        """Parameters with symbols where sympy can prove the claim in general, else None.

        When given, the symbolic check also proves ``formulas(ps)`` (and every
        negative control applied to it) for these symbolic parameters.
        """
        return None

    def predict(self, p: Mapping[str, Any]) -> dict[str, float] | None:
        f = self.formulas(p)
        return None if f is None else evaluate(f)

    def __repr__(self) -> str:
        return f"<Claim {self.id}>"
