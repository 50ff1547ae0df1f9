"""The registry of claims, selectable by id or shell-style glob."""
from __future__ import annotations

import fnmatch

from collapsekit.claim import Claim

_CLAIMS: dict[str, Claim] = {}


def register(cls: type[Claim]) -> type[Claim]:
    """Class decorator: instantiate and register a claim under its id."""
    claim = cls()
    if claim.id in _CLAIMS:
        raise ValueError(f"duplicate claim id {claim.id}")
    _CLAIMS[claim.id] = claim
    return cls


def _load() -> None:
    import collapsekit.claims  # noqa: F401  (registers the claims on import)


def all_claims() -> list[Claim]:
    _load()
    return [_CLAIMS[k] for k in sorted(_CLAIMS)]


def get(claim_id: str) -> Claim:
    _load()
    try:
        return _CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"no claim {claim_id!r}; `collapsekit list` shows them") from None


def select(patterns: list[str] | None) -> list[Claim]:
    """Claims matching any of the ids/globs; every pattern must match something.  A claim that is
    ``part_of`` a catalogue entry is selected with it: ``ufm.ce.layer_peeled`` (THEORY.md §3, whose
    entry includes minority collapse) selects ``ufm.ce.minority_collapse`` too."""
    claims = all_claims()
    if not patterns:
        return claims
    chosen: dict[str, Claim] = {}
    for pattern in patterns:
        hits = [c for c in claims if fnmatch.fnmatchcase(c.id, pattern)
                or (c.part_of and fnmatch.fnmatchcase(c.part_of, pattern))]
        if not hits:
            raise KeyError(f"no claim matches {pattern!r}; `collapsekit list` shows them")
        chosen.update((c.id, c) for c in hits)
    return [chosen[k] for k in sorted(chosen)]
