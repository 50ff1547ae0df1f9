"""The torch sphere-descent engine: honest convergence reports, seeds, devices, bad input."""
import numpy as np
import pytest
import torch

from simulations.device import resolve_device
from simulations.sphere import exp_energy, frame_potential, sphere_descent


def test_reports_non_convergence():
    r = sphere_descent(exp_energy(), 6, 6, starts=2, seed=0, max_steps=3, device="cpu")
    assert not r.converged and r.steps == 3 and r.grad_norm.max() > r.gtol


def test_seed_determinism():
    a = sphere_descent(frame_potential, 5, 7, starts=2, seed=11, device="cpu")
    b = sphere_descent(frame_potential, 5, 7, starts=2, seed=11, device="cpu")
    c = sphere_descent(frame_potential, 5, 7, starts=2, seed=12, device="cpu")
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, c.X)


def test_energy_decreases_to_the_etf():
    r = sphere_descent(exp_energy(), 4, 5, starts=3, seed=1, device="cpu")
    assert r.converged
    for X in r.X:
        G = X.T @ X
        assert np.allclose(G, (4 / 3) * (np.eye(4) - 1 / 4), atol=1e-8)


@pytest.mark.parametrize("kwargs,needle", [({"K": 1, "d": 3}, "K=1"), ({"K": 3, "d": 0}, "d=0"),
                                           ({"K": 3, "d": 3, "starts": 0}, "starts"),
                                           ({"K": 3, "d": 3, "gtol": -1.0}, "gtol")])
def test_bad_input(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        sphere_descent(exp_energy(), **kwargs)


def test_bad_tau():
    with pytest.raises(ValueError, match="tau"):
        exp_energy(0.0)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    a = sphere_descent(exp_energy(), 5, 5, starts=2, seed=3, device="cpu")
    b = sphere_descent(exp_energy(), 5, 5, starts=2, seed=3, device="cuda")
    assert b.device.startswith("cuda") and b.converged
    assert np.allclose(a.energy, b.energy, atol=1e-10)


def test_cpu_threads_restores_the_thread_count():
    from simulations.device import cpu_threads
    before = torch.get_num_threads()
    with cpu_threads(torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(torch.device("cpu"), enabled=False):
        assert torch.get_num_threads() == before
