"""Run a claim's checks, compare with its predictions, and run its negative controls."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import sympy as sp

from collapsekit.claim import Claim, Context, Observation, ParameterError, evaluate


@dataclass
class CheckResult:
    status: str                        # "pass" | "fail" | "skip" | "inconclusive"
    max_rel_err: float | None = None
    tolerance: float | None = None
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "max_rel_err": _num(self.max_rel_err), "tolerance": self.tolerance,
                "message": self.message, "seconds": round(self.seconds, 4), **_jsonable(self.detail)}


@dataclass
class ClaimResult:
    claim: Claim
    params: dict[str, Any]
    predicted: dict[str, float] | None
    observed: dict[str, float]
    checks: dict[str, CheckResult]
    seconds: float

    @property
    def status(self) -> str:
        """fail (any check failed) > inconclusive (a check could not discriminate its negative
        control) > pass (every check passed) > partial (some skipped, none failed)."""
        states = [c.status for c in self.checks.values()]
        if "fail" in states:
            return "fail"
        if "inconclusive" in states:
            return "inconclusive"
        return "pass" if all(s == "pass" for s in states) else "partial"

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was inconclusive (skipped checks are allowed: ``partial``)."""
        return self.status in ("pass", "partial")

    def to_json(self) -> dict[str, Any]:
        c = self.claim
        return {"id": c.id, "title": c.title, "source": c.source.cite(), "arxiv": c.source.arxiv,
                "params": self.params, "predicted": _jsonable(self.predicted or {}),
                "observed": _jsonable(self.observed), "status": self.status,
                "checks": {k: v.to_json() for k, v in self.checks.items()}, "seconds": round(self.seconds, 3)}


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else str(x)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    if isinstance(obj, sp.Basic):
        return sp.sstr(obj)
    return obj


def compare(observed: Mapping[str, Any], predicted: Mapping[str, float], zero_scale: float,
            stderr: Mapping[str, Any] | None = None, asymptotic: float = 0.0):
    """Per quantity, the worst relative error over its observed entries.

    Relative to |prediction|, or absolute (over ``zero_scale``) where the
    prediction is exactly 0.  With ``stderr`` (Monte-Carlo checks) every compared
    quantity must have one, and the error is the z-score |x − pred| / stderr; a
    quantity without a positive finite stderr gets an infinite error; ``asymptotic``
    first forgives a relative finite-size error of that size (see ``Tolerance``).
    Returns (max error, errors, worst observed value).
    """
    errors, worst = {}, {}
    for name, value in observed.items():
        if name not in predicted:
            continue
        arr = np.asarray(value, dtype=np.float64).ravel()
        if arr.size == 0:
            continue
        pred = predicted[name]
        if stderr is not None:
            se = np.broadcast_to(np.asarray(stderr.get(name, np.nan), dtype=np.float64).ravel(), arr.shape)
            denom = np.where(np.isfinite(se) & (se > 0), se, np.nan)
        else:
            denom = abs(pred) if pred != 0 else zero_scale
        with np.errstate(invalid="ignore"):
            errs = np.maximum(np.abs(arr - pred) - asymptotic * abs(pred), 0.0) / denom
        errs = np.where(np.isfinite(errs), errs, np.inf)
        i = int(np.argmax(errs))
        errors[name], worst[name] = float(errs[i]), float(arr[i])
    if not errors:
        return np.inf, {}, {}
    return max(errors.values()), errors, worst


def _run(fn, *args):
    t0 = time.perf_counter()
    try:
        return fn(*args), None, time.perf_counter() - t0
    except ParameterError:
        raise
    except NotImplementedError:
        return None, "not implemented", time.perf_counter() - t0
    except Exception as exc:  # a crashing check is a failing check, with its reason
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return None, f"error: {tb}", time.perf_counter() - t0


def _obligations_json(obligations) -> list[dict[str, Any]]:
    return [{"name": o.name, "relation": o.relation, "expr": o.text(), "proved": o.proved}
            for o in obligations]


def prove_all(claim: Claim, p, formulas, perturb=None) -> list:
    """Obligations at the concrete parameters, plus at symbolic ones where the claim has them."""
    if perturb is not None:
        formulas = perturb(p, dict(formulas))
    obligations = list(claim.prove(p, formulas))
    ps = claim.symbolic_params(p)
    if ps is not None:
        fs = claim.formulas(ps)
        if perturb is not None:
            fs = perturb(ps, dict(fs))
        general = claim.prove(ps, fs)
        names = ", ".join(f"{k}={v}" for k, v in ps.items() if v is not None and not isinstance(v, (int, float)))
        obligations += [type(o)(f"{o.name} [general: {names}]", o.expr, o.relation, o.proved) for o in general]
    return obligations


def _symbolic(claim: Claim, p, formulas) -> CheckResult:
    obligations, err, dt = _run(prove_all, claim, p, formulas)
    if err == "not implemented":
        return CheckResult("skip", message="no symbolic check", seconds=dt)
    if err:
        return CheckResult("fail", message=err, seconds=dt)
    proved = sum(o.proved is True for o in obligations)
    failed = [o.describe() for o in obligations if o.proved is not True]
    ok = bool(obligations) and not failed
    return CheckResult("pass" if ok else "fail", max_rel_err=0.0 if ok else None, tolerance=0.0,
                       message=f"{proved}/{len(obligations)} obligations proved" + (f"; not proved: {failed}" if failed else ""),
                       detail={"obligations": _obligations_json(obligations)}, seconds=dt)


def _observed_check(claim: Claim, kind: str, obs: Observation | None, err: str | None, dt: float,
                    predicted: dict[str, float] | None) -> CheckResult:
    tol = claim.tolerances.get(kind)
    tol_value = tol.value if tol else None
    if err == "not implemented":
        return CheckResult("skip", tolerance=tol_value, message=f"no {kind} check", seconds=dt)
    if err:
        return CheckResult("fail", tolerance=tol_value, message=err, seconds=dt)
    detail = {"info": obs.info, "tolerance_why": tol.why if tol else None,
              "observed": {k: (np.asarray(v).tolist() if np.ndim(v) == 0 else f"{np.size(v)} values")
                           for k, v in obs.values.items()}}
    if obs.skip or predicted is None:
        return CheckResult("skip", tolerance=tol_value, message=obs.skip or "no closed form to compare with",
                           detail=detail, seconds=dt)
    if tol is None:
        return CheckResult("fail", message=f"claim states no {kind} tolerance", detail=detail, seconds=dt)
    zscore = tol.kind == "zscore"
    max_err, errors, worst = compare(obs.values, predicted, claim.zero_scale, obs.stderr if zscore else None,
                                     tol.asymptotic)
    detail.update(errors=errors, worst=worst, error_kind="z-score" if zscore else "relative")
    if tol.asymptotic:
        detail["asymptotic_allowance"] = tol.asymptotic
    if zscore:
        detail["stderr"] = {k: (np.asarray(v).tolist() if np.ndim(v) == 0 else f"{np.size(v)} values")
                            for k, v in obs.stderr.items()}
    if not errors:
        return CheckResult("fail", tolerance=tol_value, message="nothing observed matches a prediction",
                           detail=detail, seconds=dt)
    if not obs.converged:
        return CheckResult("fail", max_rel_err=max_err, tolerance=tol_value,
                           message=f"did not converge: {obs.message}", detail=detail, seconds=dt)
    ok = max_err <= tol_value
    worst_name = max(errors, key=errors.get)
    msg = (f"max |z| {max_err:.2f} ({worst_name}) {'<=' if ok else '>'} {tol_value:g} standard errors" if zscore
           else f"max rel err {max_err:.2e} ({worst_name}) {'<=' if ok else '>'} tol {tol_value:.1e}")
    if tol.asymptotic:
        msg += f" beyond a {tol.asymptotic:.2%} finite-size allowance"
    return CheckResult("pass" if ok else "fail", max_rel_err=max_err, tolerance=tol_value,
                       message=msg + (f"; {obs.message}" if obs.message else ""), detail=detail, seconds=dt)


def _differs(a, b) -> bool:
    """Whether a perturbed formula differs from the original: numerically first (cheap),
    and by simplification only where the two agree to 30 digits."""
    if b is None:
        return True
    try:
        x, y = complex(sp.N(a, 30)), complex(sp.N(b, 30))
        if abs(x - y) > 1e-25 * max(1.0, abs(y)):
            return True
    except (TypeError, ValueError):
        pass
    return sp.simplify(a - b) != 0


def _negative_controls(claim: Claim, p, formulas, checks, observations) -> CheckResult:
    t0 = time.perf_counter()
    if formulas is None:
        return CheckResult("skip", message="no closed form here, so nothing to perturb")
    if not claim.negative_controls:
        return CheckResult("fail", message="claim declares no negative control")
    usable = [k for k in ("symbolic", "numeric", "simulation") if checks[k].status == "pass"]
    if not usable:
        return CheckResult("fail", message="no check passed, so none can reject a perturbation")
    controls, min_margin, idle, undecided, unresolved = [], np.inf, [], [], []
    for nc in claim.negative_controls:
        bad = nc.perturb(p, dict(formulas))
        changed = {k: v for k, v in bad.items() if _differs(v, formulas.get(k))}
        if not changed:      # e.g. a wrong threshold, on a side of it where both agree
            idle.append(nc.name)
            continue
        bad_pred = evaluate(bad)
        rejected, errs = {}, {}
        for kind in usable:
            if kind == "symbolic":
                obligations = prove_all(claim, p, formulas, nc.perturb)
                rejected[kind] = not all(o.proved is True for o in obligations)
            else:
                t = claim.tolerances[kind]
                e, _, _ = compare(observations[kind].values, bad_pred, claim.zero_scale,
                                  observations[kind].stderr if t.kind == "zscore" else None, t.asymptotic)
                tol = t.value
                rejected[kind] = bool(e > tol)
                errs[kind] = e
                min_margin = min(min_margin, e / tol)
        missed = [k for k, r in rejected.items() if not r]
        # A Monte-Carlo check that passes and yet cannot reject a changed formula has an interval too
        # wide to tell the two apart: that is a lack of samples (inconclusive), not evidence for either.
        # Any other check that cannot reject it is a check that cannot fail there: a failure.
        if missed and all(claim.tolerances[k].kind == "zscore" for k in missed if k != "symbolic") \
                and "symbolic" not in missed:
            undecided.append(f"{nc.name} ({', '.join(missed)}: |z| " +
                             ", ".join(f"{errs[k]:.2f}" for k in missed) + ")")
        elif missed:
            unresolved.append(f"{nc.name} ({', '.join(missed)})")
        controls.append({"name": nc.name, "perturbed": {k: float(sp.N(v)) for k, v in changed.items()},
                         "rejected_by": rejected, "errors": errs})
    if not controls:
        return CheckResult("fail", message=f"no negative control changes a formula at these parameters "
                                           f"({', '.join(idle)}): nothing shows the checks can fail here")
    if unresolved:
        status, msg = "fail", ("a perturbed formula was NOT rejected: the checks cannot tell it apart: "
                               + "; ".join(unresolved))
    elif undecided:
        status, msg = "inconclusive", ("the Monte-Carlo interval is too wide to reject a perturbed formula "
                                       "(more samples needed): " + "; ".join(undecided))
    else:
        status, msg = "pass", f"{len(controls)} perturbation(s), each rejected by every passing check ({', '.join(usable)})"
    if idle:
        msg += f"; not applicable at these parameters: {', '.join(idle)}"
    if np.isfinite(min_margin):
        msg += f"; smallest error/tolerance ratio {min_margin:.2e}"
    return CheckResult(status, max_rel_err=None, tolerance=None, message=msg,
                       detail={"controls": controls, "not_applicable": idle}, seconds=time.perf_counter() - t0)


def observed_entries(kind: str, obs: Observation, predicted: Mapping[str, float] | None) -> dict[str, float]:
    """The JSON ``observed`` entries of one check: per quantity the entry farthest from its
    prediction (or the value itself), and each scalar standard error."""
    out = {}
    for name, value in obs.stderr.items():
        if np.size(value) == 1:
            out[f"{kind}.{name}_stderr"] = float(np.asarray(value).ravel()[0])
    for name, value in obs.values.items():
        arr = np.asarray(value, dtype=np.float64).ravel()
        if arr.size and predicted is not None and name in predicted:
            out[f"{kind}.{name}"] = float(arr[np.argmax(np.abs(arr - predicted[name]))])
        elif arr.size == 1:
            out[f"{kind}.{name}"] = float(arr[0])
    return out


def check_simulation_batch(claim: Claim, points: list[Mapping[str, Any]], *, seed: int = 0, device: str = "auto",
                           profile: str = "quick") -> list[tuple[dict, dict | None, dict, CheckResult]]:
    """The simulation check of several points through ``claim.simulate_batch`` (one batched run).
    Each point is resolved first; returns (params, predicted, observed, check) per point, in order."""
    params = [claim.resolve(q) for q in points]
    ctx = Context(claim.id, seed=seed, device=device, profile=profile)
    observations, err, dt = _run(claim.simulate_batch, params, ctx)
    out = []
    for i, p in enumerate(params):
        formulas = claim.formulas(p)
        predicted = None if formulas is None else evaluate(formulas)
        obs = observations[i] if observations is not None else None
        check = _observed_check(claim, "simulation", obs, err, dt / len(params), predicted)
        out.append((p, predicted, {} if obs is None else observed_entries("simulation", obs, predicted), check))
    return out


def run_claim(claim: Claim, overrides: Mapping[str, Any] | None = None, *, seed: int = 0,
              device: str = "auto", profile: str = "quick",
              kinds: tuple[str, ...] = ("symbolic", "numeric", "simulation", "negative_control")) -> ClaimResult:
    """Resolve parameters (ParameterError on bad ones), run the checks, compare."""
    t0 = time.perf_counter()
    p = claim.resolve(overrides)
    ctx = Context(claim.id, seed=seed, device=device, profile=profile)
    formulas = claim.formulas(p)
    predicted = None if formulas is None else evaluate(formulas)
    checks: dict[str, CheckResult] = {}
    observations: dict[str, Observation] = {}
    observed: dict[str, float] = {}
    if "symbolic" in kinds:
        checks["symbolic"] = (_symbolic(claim, p, formulas) if formulas is not None
                              else CheckResult("skip", message="no closed form at these parameters"))
    else:
        checks["symbolic"] = CheckResult("skip", message="not requested")
    for kind, fn in (("numeric", claim.numeric), ("simulation", claim.simulate)):
        if kind not in kinds:
            checks[kind] = CheckResult("skip", message="not requested")
            continue
        obs, err, dt = _run(fn, p, ctx)
        checks[kind] = _observed_check(claim, kind, obs, err, dt, predicted)
        if obs is not None:
            observations[kind] = obs
            observed.update(observed_entries(kind, obs, predicted))
    if "negative_control" in kinds:
        checks["negative_control"] = _negative_controls(claim, p, formulas, checks, observations)
    else:
        checks["negative_control"] = CheckResult("skip", message="not requested")
    return ClaimResult(claim, p, predicted, observed, checks, time.perf_counter() - t0)
