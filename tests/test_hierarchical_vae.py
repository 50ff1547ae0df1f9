"""Two-level linear hierarchical VAE (numeric study, simulations/hierarchical_vae.py): checks that can fail."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from collapsekit.claim import evaluate
from simulations import hierarchical_vae as hv
from theory import posterior_collapse as th

D, Q1, Q2, LAM1, RHO, SIGMA2 = 6, 4, 2, 4.0, 0.5, 0.4
SPEC = LAM1 * RHO ** np.arange(D, dtype=np.float64)


@pytest.fixture(scope="module")
def sweep():
    """β = k/4 (βσ² = k/10), two starts each: 0.2 and 0.7, 1.4, 2.8 (inside plateaus) and 4.4 (> λ_1)."""
    ks = np.array([2, 7, 14, 28, 44])
    r = hv.fit(SPEC, Q1, Q2, SIGMA2, np.repeat(ks / 4, 2), seed=3, device="cpu")
    return ks, r


def test_converged(sweep):
    _, r = sweep
    assert r["converged"].all(), r["grad_norm"]


def test_level1_matches_the_one_level_linear_vae(sweep):
    ks, r = sweep
    a1, _ = hv.active_counts(r)
    lams = th.spectrum(D, LAM1, RHO)
    one = [evaluate(th.vae_formulas(lams, Q1, th.exact(SIGMA2), sp.Rational(int(k), 4))) for k in ks]
    assert a1.tolist() == np.repeat([f["active"] for f in one], 2).tolist()
    # level-1 signal-to-noise ratios (scale-free) equal the one-level optimum's
    # v_j² λ_j / D_jj = ‖w_j‖²/(λ_j D_jj)
    for i, f in enumerate(np.repeat(one, 2)):
        want = np.array([f[f"w_norm_sq_{j}"] / (float(lams[j - 1]) * f[f"enc_var_{j}"]) for j in range(1, Q1 + 1)])
        assert np.allclose(r["snr1"][i], want, rtol=1e-4, atol=1e-6), (ks[i // 2], r["snr1"][i], want)


def test_everything_collapses_above_the_top_eigenvalue(sweep):
    _, r = sweep
    a1, a2 = hv.active_counts(r)
    assert a1[-2:].tolist() == [0, 0] and a2[-2:].tolist() == [0, 0]
    assert r["snr1"][-2:].max() < 1e-8 and r["snr2"][-2:].max() < 1e-8


def test_level2_is_informative_only_where_level1_is(sweep):
    _, r = sweep
    a1, a2 = hv.active_counts(r)
    assert (a2 <= np.minimum(a1, Q2)).all()


def test_equal_elbo_across_starts(sweep):
    """The observed flat family of optima: every start reaches the same ELBO (to L-BFGS precision)."""
    _, r = sweep
    e = r["elbo"].reshape(-1, 2)
    assert np.abs(e[:, 0] - e[:, 1]).max() < 1e-7 * np.abs(e).max()


def test_deterministic_by_seed():
    a = hv.fit(SPEC, Q1, Q2, SIGMA2, [1.0, 3.0], seed=11, device="cpu", rounds=1, max_iter=50)
    b = hv.fit(SPEC, Q1, Q2, SIGMA2, [1.0, 3.0], seed=11, device="cpu", rounds=1, max_iter=50)
    c = hv.fit(SPEC, Q1, Q2, SIGMA2, [1.0, 3.0], seed=12, device="cpu", rounds=1, max_iter=50)
    for k in ("w1_sv_sq", "snr2", "elbo"):
        assert np.array_equal(a[k], b[k])
    assert not np.array_equal(a["snr2"], c["snr2"])


def test_bad_input():
    with pytest.raises(ValueError, match="q1"):
        hv.fit(SPEC, 2, 3, SIGMA2, 1.0, device="cpu")
    with pytest.raises(ValueError, match="positive"):
        hv.fit(SPEC, Q1, Q2, SIGMA2, -1.0, device="cpu")
