"""Linear β-VAE trained in torch (float64).

``train_exact``: full-batch L-BFGS (strong Wolfe) on the ELBO of a fixed data set of n samples
whose empirical covariance is exactly Σ (samples x_i = Σ^{1/2} C^{-1/2} z_i, z_i ~ N(0, I) with
empirical second moment C); the reconstruction term is averaged over the data, the encoder
noise expectation E_ε‖x − W(Vx + D^{1/2}ε)‖² = ‖x − WVx‖² + tr(WDWᵀ) is taken in closed form.
Autograd supplies the gradient (independent of the hand-written numpy gradient).

``train_sgd``: Adam on the stochastic β-ELBO with fresh data x ~ N(0, Σ) and reparametrized
z = Vx + D^{1/2}ε every step, a decaying step size; reported as an observation only.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from simulations.device import cpu_threads, resolve_device


def _single_thread(fn, dev: torch.device, *args):
    """Run fn on one CPU thread (tiny tensors; see simulations.device.cpu_threads)."""
    with cpu_threads(dev):
        return fn(*args)


def _data(spectrum: np.ndarray, n: int, gen: torch.Generator) -> torch.Tensor:
    d = spectrum.size
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    root = Q * torch.as_tensor(np.sqrt(spectrum)) @ Q.T                  # Σ^{1/2}
    Z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    Z = Z - Z.mean(0)
    C = Z.T @ Z / n
    e, U = torch.linalg.eigh(C)
    white = (U * e.rsqrt()) @ U.T                                        # C^{-1/2}
    return Z @ white @ root                                              # empirical covariance = Σ


def _loss(X, W, V, s, sigma2, beta):
    d, q = W.shape
    Dg = s.exp()
    recon = ((X - X @ V.T @ W.T) ** 2).sum(1).mean() + (W * W * Dg).sum()
    kl = Dg.sum() + ((X @ V.T) ** 2).sum(1).mean() - q - s.sum()
    return d / 2 * math.log(2 * math.pi * sigma2) + recon / (2 * sigma2) + beta / 2 * kl


def train_exact(spectrum: np.ndarray, q: int, sigma2: float, beta: float, seed: int, device: str = "auto",
                n: int = 64, max_iter: int = 200, rounds: int = 3) -> dict:
    """Full-batch torch L-BFGS on the exact ELBO (module docstring); restarts its memory each round."""
    dev = resolve_device(device)
    return _single_thread(_train_exact, dev, spectrum, q, sigma2, beta, seed, dev, n, max_iter, rounds)


def _train_exact(spectrum, q, sigma2, beta, seed, dev, n, max_iter, rounds):
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    d = spectrum.size
    X = _data(spectrum, n, gen).to(dev)
    W = (0.5 * torch.randn(d, q, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    V = (0.5 * torch.randn(q, d, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    s = (0.3 * torch.randn(q, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    steps = 0
    for _ in range(rounds):          # a fresh L-BFGS memory each round (restarts help ill-conditioned ends)
        opt = torch.optim.LBFGS([W, V, s], lr=1.0, max_iter=max_iter, tolerance_grad=1e-13,
                                tolerance_change=1e-15, history_size=30, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _loss(X, W, V, s, sigma2, beta)
            loss.backward()
            return loss

        opt.step(closure)
        steps += opt.state[opt._params[0]]["n_iter"]
        loss = closure()
        gnorm = float(torch.sqrt(sum((p.grad ** 2).sum() for p in (W, V, s))))
        if gnorm < 2e-7:
            break
    with torch.no_grad():
        norms = (W * W).sum(0).cpu().numpy()
        Dg = s.exp().cpu().numpy()
    order = np.argsort(-norms)
    return {"w_norm_sq": norms[order], "enc_var": Dg[order], "elbo": -float(loss.detach()), "grad_norm": gnorm,
            "steps": int(steps), "device": str(dev), "n": n}


def train_sgd(spectrum: np.ndarray, q: int, sigma2: float, beta: float, seed: int, device: str = "auto",
              steps: int = 1000, batch: int = 256, lr: float = 0.1) -> dict:
    """Adam on the reparametrized stochastic beta-ELBO, step size lr/(1 + t/100)."""
    dev = resolve_device(device)
    return _single_thread(_train_sgd, dev, spectrum, q, sigma2, beta, seed, dev, steps, batch, lr)


def _train_sgd(spectrum, q, sigma2, beta, seed, dev, steps, batch, lr):
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    d = spectrum.size
    root = torch.as_tensor(np.sqrt(spectrum))
    W = (0.5 * torch.randn(d, q, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    V = (0.5 * torch.randn(q, d, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    s = torch.zeros(q, dtype=torch.float64, device=dev, requires_grad=True)
    opt = torch.optim.Adam([W, V, s], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + t / 100))
    for _ in range(steps):
        x = (torch.randn(batch, d, generator=gen, dtype=torch.float64) * root).to(dev)
        eps = torch.randn(batch, q, generator=gen, dtype=torch.float64).to(dev)
        z = x @ V.T + eps * (s / 2).exp()
        recon = ((x - z @ W.T) ** 2).sum(1).mean()
        kl = (s.exp().sum() + (x @ V.T).pow(2).sum(1).mean() - q - s.sum())
        loss = recon / (2 * sigma2) + beta / 2 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        norms = (W * W).sum(0).cpu().numpy()
        Dg = s.exp().cpu().numpy()
    order = np.argsort(-norms)
    return {"w_norm_sq": norms[order], "enc_var": Dg[order], "steps": steps, "batch": batch}


def _joint_data(cov: np.ndarray, n: int, gen: torch.Generator) -> torch.Tensor:
    """n samples whose empirical covariance is exactly ``cov`` (whitened, then coloured)."""
    m = cov.shape[0]
    e, U = np.linalg.eigh(cov)
    root = torch.as_tensor((U * np.sqrt(e)) @ U.T)
    Z = torch.randn(n, m, generator=gen, dtype=torch.float64)
    Z = Z - Z.mean(0)
    ev, Uz = torch.linalg.eigh(Z.T @ Z / n)
    return Z @ ((Uz * ev.rsqrt()) @ Uz.T) @ root


def train_cvae(cov: np.ndarray, dx: int, q: int, eta2: float, beta: float, seed: int, device: str = "auto",
               n: int = 64, max_iter: int = 200, rounds: int = 3) -> dict:
    """Linear CVAE, full-batch torch L-BFGS: encoder N(W1 x + W2 y, D), decoder N(U1 z + U2 x, η²I),
    on (x, y) samples with empirical covariance exactly ``cov``; encoder noise in closed form."""
    dev = resolve_device(device)
    return _single_thread(_train_cvae, dev, cov, dx, q, eta2, beta, seed, dev, n, max_iter, rounds)


def _train_cvae(cov, dx, q, eta2, beta, seed, dev, n, max_iter, rounds):
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    m = cov.shape[0]
    dy = m - dx
    data = _joint_data(cov, n, gen).to(dev)
    X, Y = data[:, :dx], data[:, dx:]
    r = lambda *shape: (0.5 * torch.randn(*shape, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()  # noqa: E731
    W1, W2, U1, U2, s = r(q, dx), r(q, dy), r(dy, q), r(dy, dx), r(q)
    params = [W1, W2, U1, U2, s]

    def loss_fn():
        Dg = s.exp()
        mean = X @ W1.T + Y @ W2.T
        recon = ((Y - mean @ U1.T - X @ U2.T) ** 2).sum(1).mean() + (U1 * U1 * Dg).sum()
        kl = Dg.sum() + (mean ** 2).sum(1).mean() - q - s.sum()
        return dy / 2 * math.log(2 * math.pi * eta2) + recon / (2 * eta2) + beta / 2 * kl

    steps = 0
    for _ in range(rounds):
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=1e-13, tolerance_change=1e-15,
                                history_size=30, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        opt.step(closure)
        steps += opt.state[opt._params[0]]["n_iter"]
        loss = closure()
        gnorm = float(torch.sqrt(sum((p.grad ** 2).sum() for p in params)))
        if gnorm < 2e-7:
            break
    with torch.no_grad():
        norms = (U1 * U1).sum(0).cpu().numpy()
        Dg = s.exp().cpu().numpy()
    order = np.argsort(-norms)
    return {"w_norm_sq": norms[order], "enc_var": Dg[order], "elbo": -float(loss.detach()), "grad_norm": gnorm,
            "steps": int(steps), "device": str(dev), "n": n}


def train_sgd_batch(spectrum: np.ndarray, q: int, sigma2: float, betas, seed: int, device: str = "auto",
                    steps: int = 3000, batch: int = 256, lr: float = 0.05, average: int = 500,
                    decay: float = 100.0, init: float = 0.5) -> dict:
    """``train_sgd`` for S independent runs at once, one KL weight per run (``betas``, length S).

    Adam on the reparametrized stochastic β-ELBO (fresh x ~ N(0, diag λ) and ε each step), step size
    lr/(1 + t/decay), W and V initialized N(0, init²) entrywise, log D at 0; the per-run losses are summed, so each run's gradient (and Adam state, which is
    element-wise) is its own.  Reported ‖w_k‖² and D_kk are sorted by ‖w_k‖² at every step and averaged
    over the last ``average`` steps (tail average; lowers the SGD noise).  Returns arrays (S, q)."""
    dev = resolve_device(device)
    return _single_thread(_train_sgd_batch, dev, spectrum, q, sigma2, np.asarray(betas, dtype=np.float64), seed,
                          dev, steps, batch, lr, average, decay, init)


def _train_sgd_batch(spectrum, q, sigma2, betas, seed, dev, steps, batch, lr, average, decay, init):
    if not 0 < average <= steps:
        raise ValueError(f"average={average}: need 0 < average <= steps={steps}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    f64 = torch.float64
    S, d = betas.size, spectrum.size
    root = torch.as_tensor(np.sqrt(spectrum), dtype=f64, device=dev)
    beta = torch.as_tensor(betas, dtype=f64, device=dev).view(S, 1)
    W = (init * torch.randn(S, d, q, generator=gen, dtype=f64)).to(dev).requires_grad_()
    V = (init * torch.randn(S, q, d, generator=gen, dtype=f64)).to(dev).requires_grad_()
    s = torch.zeros(S, q, dtype=f64, device=dev, requires_grad=True)
    opt = torch.optim.Adam([W, V, s], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + t / decay))
    norm_sum = torch.zeros(S, q, dtype=f64, device=dev)
    enc_sum = torch.zeros(S, q, dtype=f64, device=dev)
    for t in range(steps):
        x = (torch.randn(S, batch, d, generator=gen, dtype=f64).to(dev)) * root
        eps = torch.randn(S, batch, q, generator=gen, dtype=f64).to(dev)
        mean = x @ V.transpose(1, 2)                                         # (S, B, q)
        z = mean + eps * (s / 2).exp().unsqueeze(1)
        recon = ((x - z @ W.transpose(1, 2)) ** 2).sum(-1).mean(-1)          # (S,)
        kl = s.exp().sum(-1) + (mean ** 2).sum(-1).mean(-1) - q - s.sum(-1)
        loss = (recon / (2 * sigma2) + beta[:, 0] / 2 * kl).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if t >= steps - average:
            with torch.no_grad():
                norms = (W * W).sum(1)                                       # (S, q)
                order = torch.argsort(norms, dim=1, descending=True)
                norm_sum += torch.gather(norms, 1, order)
                enc_sum += torch.gather(s.exp(), 1, order)
    return {"w_norm_sq": (norm_sum / average).cpu().numpy(), "enc_var": (enc_sum / average).cpu().numpy(),
            "steps": steps, "batch": batch, "average": average, "device": str(dev)}


# ------------------------------------------------------------------------------ fixed encoder variance
def train_fixed(spectrum: np.ndarray, q: int, eta2: float, beta: float, sigma_e2: float, seed: int,
                device: str = "auto", n: int = 64, max_iter: int = 200, rounds: int = 3) -> dict:
    """Encoder covariance fixed at σ_e² I: full-batch torch L-BFGS on n samples with empirical covariance
    exactly Σ (encoder noise in closed form, autograd gradient).  Returns decoder sv² (descending) and
    the encoder's squared norms in the same latent basis."""
    dev = resolve_device(device)
    return _single_thread(_train_fixed, dev, spectrum, q, eta2, beta, sigma_e2, seed, dev, n, max_iter, rounds)


def _fixed_loss(X, W, V, eta2, beta, sigma_e2):
    d, q = W.shape
    Z = X @ V.T
    recon = ((X - Z @ W.T) ** 2).sum(1).mean() + sigma_e2 * (W * W).sum()
    kl = q * sigma_e2 + (Z ** 2).sum(1).mean() - q - q * math.log(sigma_e2)
    return d / 2 * math.log(2 * math.pi * eta2) + recon / (2 * eta2) + beta / 2 * kl


def _paired(W, V):
    e, R = torch.linalg.eigh(W.T @ W)
    order = torch.argsort(e, descending=True)
    R = R[:, order]
    return e[order].cpu().numpy(), torch.einsum("ik,ij,jk->k", R, V @ V.T, R).cpu().numpy()


def _train_fixed(spectrum, q, eta2, beta, sigma_e2, seed, dev, n, max_iter, rounds):
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    d = spectrum.size
    X = _data(spectrum, n, gen).to(dev)
    W = (0.5 * torch.randn(d, q, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    V = (0.5 * torch.randn(q, d, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    steps = 0
    for _ in range(rounds):
        opt = torch.optim.LBFGS([W, V], lr=1.0, max_iter=max_iter, tolerance_grad=1e-13, tolerance_change=1e-15,
                                history_size=30, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _fixed_loss(X, W, V, eta2, beta, sigma_e2)
            loss.backward()
            return loss

        opt.step(closure)
        steps += opt.state[opt._params[0]]["n_iter"]
        loss = closure()
        gnorm = float(torch.sqrt((W.grad ** 2).sum() + (V.grad ** 2).sum()))
        if gnorm < 2e-7:
            break
    with torch.no_grad():
        dec, enc = _paired(W, V)
    return {"dec_sv_sq": dec, "enc_sv_sq": enc, "elbo": -float(loss.detach()), "grad_norm": gnorm,
            "steps": int(steps), "device": str(dev), "n": n}


def train_fixed_sgd(spectrum: np.ndarray, q: int, eta2: float, beta: float, sigma_e2: float, seed: int,
                    device: str = "auto", steps: int = 600, batch: int = 256, lr: float = 0.05) -> dict:
    """Adam on the reparametrized stochastic β-ELBO with the encoder variance fixed at σ_e² (fresh
    x ~ N(0, diag λ) and ε each step, step size lr/(1 + t/100)); an observation, not a check."""
    dev = resolve_device(device)
    return _single_thread(_train_fixed_sgd, dev, spectrum, q, eta2, beta, sigma_e2, seed, dev, steps, batch, lr)


def _train_fixed_sgd(spectrum, q, eta2, beta, sigma_e2, seed, dev, steps, batch, lr):
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    d = spectrum.size
    root = torch.as_tensor(np.sqrt(spectrum))
    W = (0.5 * torch.randn(d, q, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    V = (0.5 * torch.randn(q, d, generator=gen, dtype=torch.float64)).to(dev).requires_grad_()
    opt = torch.optim.Adam([W, V], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + t / 100))
    sd = math.sqrt(sigma_e2)
    for _ in range(steps):
        x = (torch.randn(batch, d, generator=gen, dtype=torch.float64) * root).to(dev)
        eps = torch.randn(batch, q, generator=gen, dtype=torch.float64).to(dev)
        mean = x @ V.T
        z = mean + sd * eps
        loss = ((x - z @ W.T) ** 2).sum(1).mean() / (2 * eta2) + beta / 2 * (mean ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        dec, enc = _paired(W, V)
    return {"dec_sv_sq": dec, "enc_sv_sq": enc, "steps": steps, "batch": batch}
