"""The batched gradient-flow engine for unconstrained-features models (UFM).

One :class:`UFM` describes S configurations of the same shape (K classes, d
feature dimensions, per-class counts n_k) that differ in their regularization
(λ_W, λ_H, λ_b, one value per configuration) and in their random start.  All S
advance together: every step is a handful of batched matrix products on a
float64 tensor of shape S×P, on CUDA when present.

Objective of configuration s (the normalization every UFM claim states)::

    f(W, H, b) = (1/N) Σ_i ℓ(W h_i + b, y_i) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²

with ℓ the cross-entropy (``loss="ce"``) or ½‖z − e_y‖² (``loss="mse"``, so the
data term is (1/(2N))‖WH + b1ᵀ − Y‖_F²).  W is K×d, H is d×N (samples ordered
class by class), b ∈ R^K; with ``bias=False`` b is held at 0.

The parameters of all configurations live in one flat tensor ``x`` of shape S×P,
P = Kd + dN + K, so that the integrators below are written once:

* :func:`descend` — plain gradient descent with a fixed step (the discretized
  flow whose trajectory the dynamics claims compare against);
* :func:`flow` — gradient flow ẋ = −∇f(x) by an adaptive Dormand–Prince 5(4)
  integrator with one shared step size, its local error held below
  ``rtol``·|x| + ``atol`` in every configuration;
* :func:`minimize` — gradient descent with per-configuration Armijo steps,
  then a batched L-BFGS polish; it stops on the gradient norm and reports,
  per configuration, whether it converged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from simulations.device import resolve_device

LOSSES = ("ce", "mse")
#: the most float entries a UFM's state (S×P) or label matrix (K×N) may have: a guard against a
#: typo (K, d or n off by orders of magnitude) exhausting memory instead of failing
MAX_ENTRIES = 2 ** 31


def _as_batch(name: str, value, S: int) -> np.ndarray:
    try:
        if np.iscomplexobj(value) or isinstance(value, (str, bytes, bool, np.bool_)):
            raise TypeError(f"{type(value).__name__}")
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a real scalar or {S} real values, got {value!r} ({exc})") from None
    if arr.ndim == 0:
        arr = np.full(S, float(arr))
    if arr.shape != (S,):
        raise ValueError(f"{name}: expected a scalar or {S} values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite, got {arr}")
    if np.any(arr < 0):
        raise ValueError(f"{name}: regularization must be >= 0, got {arr.min():g}")
    return np.ascontiguousarray(arr)


class UFM:
    """S unconstrained-features problems of one shape, batched.

    ``counts`` is n (balanced, n per class) or a sequence of K per-class counts.
    ``lambda_W``, ``lambda_H``, ``lambda_b`` are scalars or length-S sequences.
    """

    def __init__(self, loss: str, K: int, d: int, counts, *, lambda_W=0.0, lambda_H=0.0,
                 lambda_b=0.0, bias: bool = True, S: int | None = None, device: str = "auto",
                 dtype: torch.dtype = torch.float64):
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r}: expected one of {LOSSES}")
        if isinstance(K, (bool, np.bool_)) or not isinstance(K, (int, np.integer)) or K < 2:
            raise ValueError(f"K={K!r}: need an integer K >= 2 classes")
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"d={d!r}: need an integer feature dimension d >= 1")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype={dtype!r}: need a torch floating dtype (float64 by default)")
        if K * max(K, d) > MAX_ENTRIES:   # W is K×d and the labels K×N with N >= K
            raise ValueError(f"K={K}, d={d}: too large (K·max(K, d) above {MAX_ENTRIES} entries)")
        counts = self._counts(counts, int(K))
        sizes = [np.size(v) for v in (lambda_W, lambda_H, lambda_b) if np.ndim(v) > 0]
        if S is None:
            S = max(sizes, default=1)
        if isinstance(S, (bool, np.bool_)) or not isinstance(S, (int, np.integer)) or S < 1:
            raise ValueError(f"S={S!r}: need an integer number of configurations >= 1")
        P = K * d + d * sum(counts) + K
        if S * P > MAX_ENTRIES or K * sum(counts) > MAX_ENTRIES:
            raise ValueError(f"K={K}, d={d}, counts (N={sum(counts)}), S={S}: the state would have {S * P} "
                             f"entries, more than {MAX_ENTRIES}")
        self.loss, self.K, self.d, self.counts, self.bias, self.S = loss, int(K), int(d), list(counts), bias, int(S)
        self.N = int(sum(counts))
        self.device = resolve_device(device)
        self.dtype = dtype
        lams = {"lambda_W": lambda_W, "lambda_H": lambda_H, "lambda_b": lambda_b}
        self.lambdas = {k: _as_batch(k, v, self.S) for k, v in lams.items()}
        t = lambda a: torch.as_tensor(a, dtype=dtype, device=self.device)  # noqa: E731
        self.lW = t(self.lambdas["lambda_W"]).view(-1, 1, 1)
        self.lH = t(self.lambdas["lambda_H"]).view(-1, 1, 1)
        self.lb = t(self.lambdas["lambda_b"]).view(-1, 1)
        self.labels = torch.repeat_interleave(torch.arange(self.K), torch.as_tensor(self.counts)).to(self.device)
        self.Y = torch.zeros(self.K, self.N, dtype=dtype, device=self.device)
        self.cols = torch.arange(self.N, device=self.device)
        self.Y[self.labels, self.cols] = 1.0
        K, d, N = self.K, self.d, self.N
        self.sizes = (K * d, d * N, K)
        self.P = sum(self.sizes)

    @staticmethod
    def _counts(counts, K: int) -> list[int]:
        """n or K per-class counts -> K positive ints; ValueError naming ``counts`` otherwise."""
        given = counts
        try:
            out = []
            for c in ([counts] * K if np.ndim(counts) == 0 else counts):
                if isinstance(c, (bool, np.bool_, str, bytes)) or np.ndim(c) != 0 or np.iscomplexobj(c):
                    raise TypeError(f"{c!r} is not an integer")
                out.append(int(c) if float(c) == int(c) else c)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"counts: need n or K positive integers, got {given!r} ({exc})") from None
        if len(out) != K:
            raise ValueError(f"counts: {len(out)} class counts given for K={K} classes")
        for k, c in enumerate(out):
            if not isinstance(c, int) or c < 1:
                raise ValueError(f"counts: class {k} has n_k={c}; every class needs a positive integer count")
        return out

    # ------------------------------------------------------------------ layout
    def unpack(self, x: torch.Tensor):
        """Views W (S×K×d), H (S×d×N), b (S×K) of a flat S×P tensor."""
        S, (a, c, _) = x.shape[0], self.sizes
        return (x[:, :a].view(S, self.K, self.d), x[:, a:a + c].view(S, self.d, self.N), x[:, a + c:])

    def pack(self, W: torch.Tensor, H: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        S = W.shape[0]
        if b is None:
            b = torch.zeros(S, self.K, dtype=W.dtype, device=W.device)
        return torch.cat([W.reshape(S, -1), H.reshape(S, -1), b.reshape(S, -1)], dim=1)

    def tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=self.dtype).to(self.device)

    def init(self, seed: int, scale: float = 1.0) -> torch.Tensor:
        """Gaussian start, entries N(0, scale²/d) in W and H (b = 0), from a seeded CPU generator
        so that every device draws the same numbers."""
        if not scale > 0:
            raise ValueError(f"scale={scale}: must be positive")
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        x = torch.randn(self.S, self.P, generator=gen, dtype=self.dtype) * (scale / math.sqrt(self.d))
        x[:, self.P - self.K:] = 0.0
        return x.to(self.device)

    # ------------------------------------------------------------------ objective
    def objective(self, x: torch.Tensor) -> torch.Tensor:
        """f per configuration (S,), written with differentiable torch ops (for autograd/Hessians)."""
        W, H, b = self.unpack(x)
        Z = W @ H + (b.unsqueeze(-1) if self.bias else 0.0)
        if self.loss == "ce":
            data = (torch.logsumexp(Z, dim=1) - (Z * self.Y).sum(1)).sum(-1) / self.N
        else:
            data = ((Z - self.Y) ** 2).sum((1, 2)) / (2 * self.N)
        reg = 0.5 * (self.lW.view(-1) * (W ** 2).sum((1, 2)) + self.lH.view(-1) * (H ** 2).sum((1, 2)))
        if self.bias:
            reg = reg + 0.5 * self.lb.view(-1) * (b ** 2).sum(1)
        return data + reg

    def value_and_grad(self, x: torch.Tensor):
        """f (S,) and ∇f (S×P), by the closed-form gradient: three batched matmuls.

        Written for speed (the matmuls dominate): the logits buffer is turned into the
        softmax/residual in place, the label entries are indexed rather than multiplied
        by Y, and the gradient blocks are written straight into one S×P output (no
        concatenation).  Not differentiable — use :meth:`objective` with autograd."""
        W, H, b = self.unpack(x.detach())
        N = self.N
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        gW, gH, gb = self.unpack(out)
        Z = torch.bmm(W, H)                                  # S×K×N logits, reused as G
        if self.bias:
            Z += b.unsqueeze(-1)
        if self.loss == "ce":
            zy = Z[:, self.labels, self.cols]                # S×N logit of the true class
            m = Z.amax(dim=1, keepdim=True)
            G = Z.sub_(m).exp_()
            s = G.sum(dim=1, keepdim=True)
            data = (m + s.log()).squeeze(1).sub_(zy).sum(-1) / N     # Σ_i (logsumexp − z_y) / N
            G.div_(s.mul_(N))                                # softmax / N
            G[:, self.labels, self.cols] -= 1.0 / N          # (softmax − Y) / N
        else:
            G = Z
            G[:, self.labels, self.cols] -= 1.0              # Z − Y
            data = _sumsq(G) / (2 * N)
            G.div_(N)
        # bmm into a fresh (contiguous) buffer, then one fused pass into the strided output
        # view (CPU baddbmm into a strided view falls back to one addmm per configuration)
        torch.addcmul(torch.bmm(G, H.transpose(1, 2)), W, self.lW, out=gW)   # G Hᵀ + λ_W W
        torch.addcmul(torch.bmm(W.transpose(1, 2), G), H, self.lH, out=gH)   # Wᵀ G + λ_H H
        f = data + 0.5 * (self.lW.view(-1) * _sumsq(W) + self.lH.view(-1) * _sumsq(H))
        if self.bias:
            torch.mul(b, self.lb, out=gb).add_(G.sum(-1))
            f = f + 0.5 * self.lb.view(-1) * _sumsq(b)
        else:
            gb.zero_()
        return f, out

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        return self.value_and_grad(x)[1]

    def hessian(self, x: torch.Tensor, s: int = 0) -> np.ndarray:
        """The full P×P Hessian of configuration ``s`` (autograd; for small problems)."""
        sub = _Sub(self, s)
        xs = x[s:s + 1].detach()
        Hm = torch.autograd.functional.hessian(lambda v: sub.objective(v.view(1, -1)).sum(), xs.view(-1))
        if not self.bias:     # b is not a variable: drop its rows and columns
            keep = self.P - self.K
            Hm = Hm[:keep, :keep]
        return Hm.detach().cpu().numpy()


def _sumsq(A: torch.Tensor) -> torch.Tensor:
    """Σ A² over all but the first (configuration) axis, in one reduction pass."""
    return torch.linalg.vector_norm(A.reshape(A.shape[0], -1), dim=1).square()


class _Sub(UFM):
    """Configuration ``s`` of a batched UFM, as a UFM with S = 1."""

    def __init__(self, ufm: UFM, s: int):  # noqa: D107 - shares tensors with the parent
        self.__dict__.update(ufm.__dict__)
        self.S = 1
        self.lW, self.lH, self.lb = ufm.lW[s:s + 1], ufm.lH[s:s + 1], ufm.lb[s:s + 1]
        self.lambdas = {k: v[s:s + 1] for k, v in ufm.lambdas.items()}


def grad_norm(ufm: UFM, g: torch.Tensor) -> torch.Tensor:
    """Per-configuration Euclidean norm of the gradient (b's part excluded when b is fixed)."""
    if not ufm.bias:
        g = g[:, :ufm.P - ufm.K]
    return g.norm(dim=1)


# ---------------------------------------------------------------------- results
@dataclass
class Trajectory:
    """Snapshots of a run: ``times`` (T,), ``x`` (T×S×P, on the CPU), and the f and gradient norm."""

    times: np.ndarray
    x: np.ndarray
    f: np.ndarray            # T×S
    grad_norm: np.ndarray    # T×S
    steps: int
    info: dict = field(default_factory=dict)


@dataclass
class MinimizeResult:
    x: torch.Tensor          # S×P final parameters
    f: np.ndarray            # S final objective values
    grad_norm: np.ndarray    # S final gradient norms
    converged: np.ndarray    # S booleans: grad_norm <= gtol
    gd_steps: int
    lbfgs_steps: int
    gtol: float
    device: str

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())

    def summary(self) -> dict:
        return {"gd_steps": self.gd_steps, "lbfgs_steps": self.lbfgs_steps, "gtol": self.gtol,
                "grad_norm": float(self.grad_norm.max()), "converged": self.all_converged,
                "configs": int(self.f.size), "device": self.device}

    def describe(self) -> str:
        return (f"{self.f.size} runs on {self.device}: {self.gd_steps} GD + {self.lbfgs_steps} L-BFGS steps, "
                f"max grad norm {self.grad_norm.max():.1e} (gtol {self.gtol:.0e})"
                + ("" if self.all_converged else f"; {int((~self.converged).sum())} NOT converged"))


# ---------------------------------------------------------------------- integrators
def _check_x(ufm: UFM, x: torch.Tensor) -> torch.Tensor:
    if x.shape != (ufm.S, ufm.P):
        raise ValueError(f"x: expected shape {(ufm.S, ufm.P)}, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x: the start contains NaN or inf")
    return x.to(device=ufm.device, dtype=ufm.dtype)


def _snapshot(ufm, x, t, store):
    f, g = ufm.value_and_grad(x)
    store["t"].append(t)
    store["x"].append(x.detach().cpu().numpy().copy())
    store["f"].append(f.cpu().numpy())
    store["g"].append(grad_norm(ufm, g).cpu().numpy())


def _trajectory(store, steps, info) -> Trajectory:
    return Trajectory(np.array(store["t"]), np.stack(store["x"]), np.stack(store["f"]), np.stack(store["g"]),
                      steps, info)


def descend(ufm: UFM, x0: torch.Tensor, lr: float, steps: int, record_every: int | None = None) -> Trajectory:
    """Plain gradient descent x ← x − lr·∇f(x): the Euler discretization of the flow at
    time t = lr·step (its global error is O(lr) on a fixed time horizon)."""
    if not lr > 0:
        raise ValueError(f"lr={lr}: must be positive")
    if steps < 0:
        raise ValueError(f"steps={steps}: must be >= 0")
    x = _check_x(ufm, x0).clone()
    store = {"t": [], "x": [], "f": [], "g": []}
    every = record_every or max(steps, 1)
    _snapshot(ufm, x, 0.0, store)
    for k in range(1, steps + 1):
        x.sub_(ufm.gradient(x), alpha=lr)
        if k % every == 0 or k == steps:
            _snapshot(ufm, x, k * lr, store)
    if not bool(torch.isfinite(x).all()):
        raise FloatingPointError(f"gradient descent diverged (lr={lr} is too large for this problem)")
    return _trajectory(store, steps, {"method": "gradient descent", "lr": lr})


# Dormand–Prince 5(4) tableau.
_DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_DP_A = ((), (1 / 5,), (3 / 40, 9 / 40), (44 / 45, -56 / 15, 32 / 9),
         (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
         (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
         (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
_DP_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_DP_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


def flow(ufm: UFM, x0: torch.Tensor, times: Sequence[float], *, rtol: float = 1e-10, atol: float = 1e-12,
         max_steps: int = 200_000, field_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Trajectory:
    """Gradient flow ẋ = −∇f(x), recorded at ``times`` (increasing, from 0).

    Adaptive Dormand–Prince 5(4): a step is accepted when its embedded error
    estimate is below ``atol + rtol·max(|x|, |x_new|)`` entrywise in every
    configuration (one shared step size).  The global error is then of the order
    of rtol times the number of steps; the dynamics claims measure it against
    exact solutions.  ``field_fn`` replaces −∇f (e.g. a projected flow).
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times: need an increasing sequence of times >= 0")
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol={rtol}, atol={atol}: must be positive")
    F = field_fn or (lambda v: -ufm.gradient(v))
    x = _check_x(ufm, x0).clone()
    store = {"t": [], "x": [], "f": [], "g": []}
    t, steps, rejected = 0.0, 0, 0
    k1 = F(x)
    h = 1e-3 * float(1 + x.abs().max()) / float(1e-12 + k1.abs().max())
    for target in times:
        while t < target - 1e-15 * max(1.0, target):
            if steps + rejected >= max_steps:
                raise RuntimeError(f"flow: step budget {max_steps} exhausted at t={t:.4g} of {times[-1]:.4g}")
            h = min(h, target - t)
            ks = [k1]
            for i in range(1, 7):
                xi = x + h * sum(a * k for a, k in zip(_DP_A[i], ks) if a != 0.0)
                ks.append(F(xi))
            x5 = xi                                      # row 7 of A is b5: the FSAL stage point
            err = h * sum((b5 - b4) * k for b5, b4, k in zip(_DP_B5, _DP_B4, ks) if b5 != b4)
            scale = atol + rtol * torch.maximum(x.abs(), x5.abs())
            e = float((err.abs() / scale).max())
            if not math.isfinite(e):
                raise FloatingPointError(f"flow: non-finite state at t={t:.4g}")
            if e <= 1.0:
                t, x, k1 = t + h, x5, ks[6]
                steps += 1
            else:
                rejected += 1
            h *= min(5.0, max(0.2, 0.9 * (1.0 / max(e, 1e-16)) ** 0.2))
        _snapshot(ufm, x, float(target), store)
    return _trajectory(store, steps, {"method": "Dormand-Prince 5(4)", "rtol": rtol, "atol": atol,
                                      "rejected": rejected})


def minimize(ufm: UFM, x0: torch.Tensor, *, gtol: float = 1e-10, gd_steps: int = 5000,
             switch: float = 1e-4, lbfgs_steps: int = 2000, memory: int = 20) -> MinimizeResult:
    """Gradient descent with per-configuration Armijo steps until every gradient norm is
    below ``switch`` (or ``gd_steps``), then a batched L-BFGS polish to ``gtol``.

    Every configuration has its own step sizes and its own L-BFGS memory; a finished
    configuration stops moving.  The result says which configurations converged.
    """
    if not (gtol > 0 and switch > 0):
        raise ValueError(f"gtol={gtol}, switch={switch}: must be positive")
    x = _check_x(ufm, x0).clone()
    f, g = ufm.value_and_grad(x)
    mask = _variable_mask(ufm)
    g = g * mask
    gn = g.norm(dim=1)
    eta = torch.ones(ufm.S, 1, dtype=ufm.dtype, device=ufm.device)
    steps = 0
    while steps < gd_steps and bool((gn > max(switch, gtol)).any()):
        active = gn > max(switch, gtol)
        x, f, g, gn, eta, _ = _armijo_step(ufm, x, f, g, gn, -g, eta, active, mask)
        eta = torch.where(active.view(-1, 1), eta * 2.0, eta)
        steps += 1
    x, f, g, gn, lsteps = _lbfgs(ufm, x, f, g, gn, mask, gtol, lbfgs_steps, memory)
    gn_np = gn.cpu().numpy()
    return MinimizeResult(x, f.cpu().numpy(), gn_np, gn_np <= gtol, steps, lsteps, gtol, str(ufm.device))


def _variable_mask(ufm: UFM) -> torch.Tensor:
    m = torch.ones(1, ufm.P, dtype=ufm.dtype, device=ufm.device)
    if not ufm.bias:
        m[:, ufm.P - ufm.K:] = 0.0
    return m


def _armijo_step(ufm, x, f, g, gn, direction, eta, active, mask, max_halvings: int = 60):
    """One backtracking line search along ``direction`` per active configuration.

    Accepts f(x + ηp) <= f(x) + 1e-4·η·gᵀp; at the float64 rounding floor of f, a
    step that lowers the gradient norm is accepted instead.  Returns the new state
    and which configurations moved."""
    slope = (g * direction).sum(1)
    eps = torch.finfo(ufm.dtype).eps
    accepted = torch.zeros_like(active)
    xa, fa, ga = x, f, g
    for _ in range(max_halvings):
        xn = x + eta * direction
        fn, gn_full = ufm.value_and_grad(xn)
        gn_full = gn_full * mask
        floor = (eta.view(-1) * slope).abs() < 100 * eps * (1 + f.abs())
        ok_armijo = fn <= f + 1e-4 * eta.view(-1) * slope
        ok = torch.where(floor, gn_full.norm(dim=1) < gn, ok_armijo) & torch.isfinite(fn) & active & ~accepted
        t = ok.view(-1, 1)
        xa, ga, fa = torch.where(t, xn, xa), torch.where(t, gn_full, ga), torch.where(ok, fn, fa)
        accepted = accepted | ok
        if bool(accepted[active].all()):
            break
        eta = torch.where((active & ~accepted).view(-1, 1), eta / 2, eta)
    return xa, fa, ga, ga.norm(dim=1), eta, accepted


def _lbfgs(ufm, x, f, g, gn, mask, gtol, max_steps, memory):
    """Batched L-BFGS (two-loop recursion with per-configuration memories and line searches)."""
    S_list, Y_list, rho_list = [], [], []
    eta = torch.ones(ufm.S, 1, dtype=ufm.dtype, device=ufm.device)
    steps = 0
    stalled = torch.zeros(ufm.S, dtype=torch.bool, device=ufm.device)
    while steps < max_steps:
        active = (gn > gtol) & ~stalled
        if not bool(active.any()):
            break
        q = g.clone()
        alphas = []
        for s, y, rho in reversed(list(zip(S_list, Y_list, rho_list))):
            a = rho * (s * q).sum(1, keepdim=True)
            q = q - a * y
            alphas.append(a)
        if S_list:
            s, y = S_list[-1], Y_list[-1]
            gamma = (s * y).sum(1, keepdim=True) / (y * y).sum(1, keepdim=True).clamp_min(1e-300)
            q = q * gamma
        else:
            q = q / gn.clamp_min(1e-300).view(-1, 1)   # first step: unit length
        for (s, y, rho), a in zip(zip(S_list, Y_list, rho_list), reversed(alphas)):
            bcoef = rho * (y * q).sum(1, keepdim=True)
            q = q + (a - bcoef) * s
        p = -q * mask
        descent = (p * g).sum(1) < 0
        p = torch.where(descent.view(-1, 1), p, -g)          # fall back to steepest descent
        eta = torch.ones_like(eta)
        xn, fn, gn_full, gnn, _, moved = _armijo_step(ufm, x, f, g, gn, p, eta, active, mask)
        retry = active & ~moved
        if bool(retry.any()):
            # At the rounding floor of f the quasi-Newton step may fail the gradient-norm
            # test; a short steepest-descent step often passes it.  Only then give up.
            sd = -g / gn.clamp_min(1e-300).view(-1, 1)
            x2, f2, g2, gn2, _, moved2 = _armijo_step(ufm, x, f, g, gn, sd, eta * 1e-2, retry, mask)
            t = moved2.view(-1, 1)
            xn, gn_full = torch.where(t, x2, xn), torch.where(t, g2, gn_full)
            fn, gnn = torch.where(moved2, f2, fn), torch.where(moved2, gn2, gnn)
            moved = moved | moved2
        stalled = stalled | (active & ~moved)
        s, y = xn - x, gn_full - g
        sy = (s * y).sum(1, keepdim=True)
        good = (sy > 1e-300) & moved.view(-1, 1)
        rho = torch.where(good, 1.0 / sy.clamp_min(1e-300), torch.zeros_like(sy))
        S_list.append(torch.where(good, s, torch.zeros_like(s)))
        Y_list.append(torch.where(good, y, torch.zeros_like(y)))
        rho_list.append(rho)
        if len(S_list) > memory:
            S_list.pop(0), Y_list.pop(0), rho_list.pop(0)
        x, f, g, gn = xn, fn, gn_full, gnn
        steps += 1
    return x, f, g, gn, steps
