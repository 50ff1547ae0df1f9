"""ufm.ce.minority_collapse: SDP vs projected gradient across R, the threshold R* two ways,
monotonicity of the minority cosine, and the negative controls on R*."""
from __future__ import annotations

import numpy as np
import pytest

from collapsekit.claim import Context, ParameterError
from collapsekit.claims.minority_collapse import MinorityCollapse, threshold
from numerics import minority_collapse as num
from simulations import minority_collapse as sim

K_A, K_B, E_W, E_H = 2, 2, 1.0, 2.0


def _pg_cos(R, seed=0):
    r = sim.projected_gradient(K_A, K_B, R, E_W, E_H, K_A + K_B, starts=3, seed=seed)
    assert r.converged, r.info
    return r, np.concatenate([num.minority_cosines(W, K_A) for W in r.W])


@pytest.mark.parametrize("R", [1.0, 3.0, 10.0, 100.0, 1000.0])
def test_sdp_and_projected_gradient_agree(R):
    s = num.solve_sdp(K_A, K_B, R, E_W, E_H, d=K_A + K_B)
    assert s.status == "optimal" and s.gap <= 1e-7 * s.upper, s.info
    r, cos = _pg_cos(R)
    assert np.max(np.abs(r.loss - s.upper)) <= 1e-7 * s.upper        # the same optimal value
    assert np.max(np.abs(cos - s.minority_cos[0])) <= 1e-6            # the same minority cosine
    assert s.info["dual_bound"] <= np.min(r.loss) + 1e-12            # no start beats the certified bound


def test_minority_cosine_nondecreasing_and_reaches_one():
    Rs = [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 100.0]
    cos = [float(np.min(num.solve_sdp(K_A, K_B, R, E_W, E_H).minority_cos)) for R in Rs]
    assert cos[0] == pytest.approx(-1 / 3, abs=1e-8)
    assert all(b >= a - 1e-9 for a, b in zip(cos, cos[1:])), cos
    assert cos[-1] >= 1 - 1e-9


def test_threshold_sdp_bisection_matches_projected_gradient():
    t = threshold(K_A, K_B, E_W, E_H)
    assert t["bracketed"] and t["hi"] / t["lo"] - 1 <= 1e-2
    lo, hi = t["lo"], t["hi"]
    # projected gradient on the same bracket, widened by the bisection width plus a margin
    # for the cosine tolerance 1e-6 (deficit ~ linear in R* − R): 2%.
    _, below = _pg_cos(lo / 1.02, seed=3)
    _, above = _pg_cos(hi * 1.02, seed=4)
    assert np.min(below) < 1 - 1e-6 and np.min(above) >= 1 - 1e-6
    # its own bisection (3 starts each) lands in the same bracket ± 2%
    a, b = lo / 1.02, hi * 1.02
    while b / a - 1 > 0.01:
        m = np.sqrt(a * b)
        a, b = (a, m) if np.min(_pg_cos(m, seed=5)[1]) >= 1 - 1e-6 else (m, b)
    assert np.sqrt(a * b) == pytest.approx(t["R_star"], rel=0.02)


def test_collapse_certificate_root_lies_in_the_bisection_bracket():
    """Third way: R* as the root of ω_B/(2√(μ_Wμ_H)/K) = 1 along the collapsed optima (Brent);
    the collapsed optimum is the SDP optimum above R* and strictly worse below."""
    t = threshold(K_A, K_B, E_W, E_H)
    c = num.collapse_threshold_certificate(K_A, K_B, E_W, E_H)
    assert c["bracketed"] and t["lo"] <= c["R_star"] <= t["hi"], (c, t)
    for R, above in ((0.9 * t["lo"], False), (1.1 * t["hi"], True)):
        col = num.collapsed_optimum(K_A, K_B, R, E_W, E_H)
        s = num.solve_sdp(K_A, K_B, R, E_W, E_H)
        assert (col["ratio"] < 1) == above
        if above:
            assert col["loss"] == pytest.approx(s.upper, rel=1e-8)
        else:
            assert col["loss"] > s.upper * (1 + 1e-6)


@pytest.mark.parametrize("factor", [0.5])
def test_threshold_off_by_factor_two_rejected(factor):
    """Claiming collapse at R*/2: numeric and simulation both see non-collinear minority classifiers."""
    c = MinorityCollapse()
    t = threshold(K_A, K_B, E_W, E_H)
    p = c.resolve({})
    p = {**p, "R": factor * t["lo"]}                    # bypass validate: below the threshold
    ctx = Context(c.id)
    assert np.min(c.numeric(p, ctx).values["minority_cos"]) < 1 - 1e-3
    assert np.min(c.simulate(p, ctx).values["minority_cos"]) < 1 - 1e-3
    p2 = {**p, "R": 2 * t["hi"]}
    assert np.min(c.numeric(p2, ctx).values["minority_cos"]) >= 1 - 1e-7


def test_validate():
    c = MinorityCollapse()
    with pytest.raises(ParameterError, match="R"):
        c.resolve({"R": 2.0})
    with pytest.raises(ParameterError, match="d"):
        c.resolve({"d": 2})
    assert c.resolve({"R": 1})["R"] == 1


def test_claim_at_R1_is_the_etf_and_its_control_is_rejected():
    from collapsekit.runner import run_claim

    res = run_claim(MinorityCollapse(), {"R": 1})
    assert all(c.status == "pass" for c in res.checks.values()), {k: c.message for k, c in res.checks.items()}
    assert res.predicted["minority_cos"] == pytest.approx(-1 / 3)
