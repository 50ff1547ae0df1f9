"""numerics.ufm, the numeric route's objective and measurements, against references that share no
code with it: the objective summed sample by sample in plain Python (math.exp, math.log), its
gradient by central differences, and class means / within-class spread of features built by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from numerics import ufm as nu

#: central differences with step 1e-6 of an O(1) objective: truncation ~h²|f'''| ~ 1e-12,
#: rounding ~1e-16/h ~ 1e-10
FD_STEP, FD_TOL = 1e-6, 1e-8


def _brute_objective(problem: nu.Problem, W: np.ndarray, H: np.ndarray, b: np.ndarray) -> float:
    """f(W, H, b) of the module docstring, one sample and one logit at a time."""
    total = 0.0
    for i, y in enumerate(problem.labels):
        z = [sum(W[k, a] * H[a, i] for a in range(problem.d)) + b[k] for k in range(problem.K)]
        if problem.loss == "ce":
            top = max(z)
            total += top + math.log(sum(math.exp(v - top) for v in z)) - z[y]
        else:
            total += 0.5 * sum((v - (1.0 if k == y else 0.0)) ** 2 for k, v in enumerate(z))
    reg = problem.lambda_W * float(np.sum(W ** 2)) + problem.lambda_H * float(np.sum(H ** 2))
    if problem.bias:
        reg += problem.lambda_b * sum(x * x for x in b)
    return total / problem.N + reg / 2


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("bias", [True, False])
def test_value_and_grad_against_brute_force_and_finite_differences(loss, bias):
    # imbalanced, d < K, three different penalties, a nonzero bias: no term can hide
    problem = nu.Problem.make(loss, 3, 2, (2, 1, 3), 0.3, 0.05, 0.7, bias=bias)
    rng = np.random.default_rng(7)
    W, H, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 6)), rng.standard_normal(3)
    v = problem.pack(W, H, b)
    f, g = problem.value_and_grad(v)
    ref = _brute_objective(problem, W, H, b if bias else np.zeros(3))
    assert f == pytest.approx(ref, rel=1e-13), (f, ref)
    assert problem.value_and_grad(v, problem.Y)[0] == f                 # the labels passed in = the default
    fd = np.empty(v.size)
    for j in range(v.size):
        e = np.zeros(v.size)
        e[j] = FD_STEP
        fd[j] = (problem.value_and_grad(v + e)[0] - problem.value_and_grad(v - e)[0]) / (2 * FD_STEP)
    assert g.shape == v.shape and np.max(np.abs(g - fd)) < FD_TOL, np.max(np.abs(g - fd))


def test_class_means_and_within_class_spread_of_hand_built_features():
    """Class 0: (1, 0), (3, 0), mean (2, 0); class 1: (0, 1), (0, 1), (0, 4), mean (0, 2).
    Distances to the own mean: 1, 1 and 1, 1, 2, so the spread (the largest) is 2."""
    problem = nu.Problem.make("ce", 2, 2, (2, 3), 0.1, 0.1)
    H = np.array([[1.0, 3.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 1.0, 1.0, 4.0]])
    assert np.array_equal(nu.class_means(problem, H), np.array([[2.0, 0.0], [0.0, 2.0]]))
    assert nu.within_class_spread(problem, H) == 2.0
    # collapsed features (every sample at its class mean) have spread 0
    assert nu.within_class_spread(problem, nu.class_means(problem, H)[:, problem.labels]) == 0.0
