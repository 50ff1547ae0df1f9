"""Benchmark of the batched UFM engine (simulations/ufm.py) against two references.

(i)  Efficiency of one large CE gradient-descent step (``UFM.value_and_grad`` + the update
     x ← x − lr·∇f, S = 1) as a ratio to the three plain matmuls it must do on the same
     shapes — forward W@H, G Hᵀ and Wᵀ G, 6·K·d·N FLOP — timed with ``torch.matmul``.
(ii) Time of 1024 small CE configurations with weight decay (different λ_W, λ_H, λ_b each)
     trained by fixed-step gradient descent, batched in the engine (S = 1024), versus the
     usual per-configuration Python loop: nn.Parameter W, H, b, ``F.cross_entropy`` and
     ``torch.optim.SGD`` with weight decay (autograd).  The loop is timed on a subset of
     configurations and extrapolated linearly to 1024; its final parameters are compared
     with the engine's (same starts, same objective), so both sides compute the same thing.

Machines are shared and noisy, so the two sides of every ratio are timed alternately
(interleaved rounds) and the median of the per-round ratios is reported with its range.

    PYTHONPATH=. python benchmarks/ufm_engine.py [--device auto|cpu|cuda] [--size small|large]

``--size large`` (the default on CUDA): K=1000, d=1024, n=100 for (i), 2000 steps for (ii).
``--size small`` (the default on CPU): K=100, d=256, n=100 for (i), 200 steps for (ii) —
both sides of (ii) are linear in the number of steps, so the ratio is that of 2000 steps.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from simulations.device import resolve_device
from simulations.ufm import UFM

SIZES = {  # (i): K, d, n ; (ii): K, d, n, S, steps, configs timed in the loop
    "large": {"step": (1000, 1024, 100), "small": (10, 32, 10, 1024, 2000, 32)},
    "small": {"step": (100, 256, 100), "small": (10, 32, 10, 1024, 200, 16)},
}
TARGETS = {"step": 0.60, "small": 30.0}


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, inner: int, device: torch.device) -> float:
    """Seconds per call of ``fn``, averaged over ``inner`` calls (device synchronized)."""
    _sync(device)
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    _sync(device)
    return (time.perf_counter() - t) / inner


def _inner_for(fn, device, block_s: float) -> int:
    """How many calls make one timing block of about ``block_s`` seconds."""
    t = _timed(fn, 1, device)
    return max(1, min(50, int(block_s / max(t, 1e-6))))


# ---------------------------------------------------------------------- (i) one large step
def bench_step(device, dtype, K, d, n, rounds, block_s):
    u = UFM("ce", K, d, n, lambda_W=5e-3, lambda_H=5e-3, lambda_b=1e-3, S=1, device=device, dtype=dtype)
    x = u.init(0)
    lr = 0.1
    W = x[0, :K * d].view(K, d).clone()
    H = x[0, K * d:K * d + d * u.N].view(d, u.N).clone()

    def engine():
        f, g = u.value_and_grad(x)
        x.sub_(g, alpha=lr)

    def matmuls():
        Z = torch.matmul(W, H)                  # K×N forward
        torch.matmul(Z, H.T)                    # K×d  (as G Hᵀ)
        torch.matmul(W.T, Z)                    # d×N  (as Wᵀ G)

    for fn in (engine, matmuls, engine, matmuls):  # warm-up (allocator, BLAS, kernels)
        _timed(fn, 1, device)
    inner = _inner_for(engine, device, block_s)
    t_eng, t_mm, ratios = [], [], []
    for _ in range(rounds):            # A B B A: a drift in machine load cancels within a round
        e1 = _timed(engine, inner, device)
        m1, m2 = _timed(matmuls, inner, device), _timed(matmuls, inner, device)
        e2 = _timed(engine, inner, device)
        t_eng += [e1, e2]
        t_mm += [m1, m2]
        ratios.append((m1 + m2) / (e1 + e2))
    flop = 6.0 * K * d * u.N
    te, tm = statistics.median(t_eng), statistics.median(t_mm)
    accuracy = _precision_cost(K, d, n, device, dtype)
    return {**accuracy, "dtype": str(dtype).replace("torch.", ""), "shape": f"K={K} d={d} N={u.N}", "flop": flop,
            "t_engine": te, "t_matmul": tm, "gflops_engine": flop / te / 1e9, "gflops_matmul": flop / tm / 1e9,
            "ratio": statistics.median(ratios), "lo": min(ratios), "hi": max(ratios),
            "best": min(t_mm) / min(t_eng), "rounds": rounds, "inner": inner}


def _precision_cost(K, d, n, device, dtype) -> dict:
    """The accuracy cost of ``dtype``: relative error of the objective and of the gradient at one
    start, against float64 on the same start (0 for float64 itself)."""
    if dtype == torch.float64:
        return {"objective_rel_err": 0.0, "grad_rel_err": 0.0}
    lams = dict(lambda_W=5e-3, lambda_H=5e-3, lambda_b=1e-3, S=1, device=device)
    ref = UFM("ce", K, d, n, dtype=torch.float64, **lams)
    low = UFM("ce", K, d, n, dtype=dtype, **lams)
    x64 = ref.init(0)
    f64, g64 = (t.clone() for t in ref.value_and_grad(x64))
    f, g = low.value_and_grad(x64.to(dtype))
    return {"objective_rel_err": float((f.double() - f64).abs().max() / f64.abs().max()),
            "grad_rel_err": float((g.double() - g64).norm() / g64.norm())}


# ---------------------------------------------------------------------- (ii) many small configs
def _lambdas(S: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return tuple(10.0 ** rng.uniform(-4, -2, S) for _ in range(3))   # λ_W, λ_H, λ_b, log-uniform


def _loop_one(u: UFM, x0_row: torch.Tensor, lams, lr: float, steps: int):
    """One configuration the way public UFM code trains it: parameters, CE, SGD with weight decay."""
    K, d, N = u.K, u.d, u.N
    W = torch.nn.Parameter(x0_row[:K * d].view(K, d).clone())
    H = torch.nn.Parameter(x0_row[K * d:K * d + d * N].view(d, N).clone())
    b = torch.nn.Parameter(x0_row[K * d + d * N:].clone())
    # weight_decay λ adds λ·p to the gradient: the gradient of (λ/2)‖p‖², as in the engine's objective
    opt = torch.optim.SGD([{"params": [W], "weight_decay": lams[0]}, {"params": [H], "weight_decay": lams[1]},
                           {"params": [b], "weight_decay": lams[2]}], lr=lr)
    labels = u.labels
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy((W @ H).T + b, labels)
        loss.backward()
        opt.step()
    return torch.cat([W.detach().reshape(-1), H.detach().reshape(-1), b.detach()])


def bench_small(device, dtype, K, d, n, S, steps, n_loop, rounds):
    lW, lH, lb = _lambdas(S)
    u = UFM("ce", K, d, n, lambda_W=lW, lambda_H=lH, lambda_b=lb, S=S, device=device, dtype=dtype)
    x0 = u.init(1)
    lr = 1.0
    rounds = max(1, min(rounds, n_loop, steps))
    picks = np.linspace(0, S - 1, n_loop).round().astype(int)     # loop subset spread over the λ range
    step_chunks = [len(c) for c in np.array_split(np.arange(steps), rounds)]
    cfg_chunks = np.array_split(picks, rounds)

    # warm-up both sides (kernels, allocator) on throw-away copies
    xw = x0.clone()
    for _ in range(3):
        xw.sub_(u.gradient(xw), alpha=lr)
    _loop_one(u, x0[0], (lW[0], lH[0], lb[0]), lr, 3)

    x = x0.clone()
    t_eng, t_loop, finals = [], [], {}
    for chunk, cfgs in zip(step_chunks, cfg_chunks):
        def engine():
            for _ in range(chunk):          # the body of simulations.ufm.descend
                x.sub_(u.gradient(x), alpha=lr)

        def loop():
            for s in cfgs:
                finals[int(s)] = _loop_one(u, x0[s], (lW[s], lH[s], lb[s]), lr, steps)

        if len(t_eng) % 2 == 0:        # alternate the order from round to round
            t_eng.append(_timed(engine, 1, device))
            t_loop.append(_timed(loop, 1, device))
        else:
            t_loop.append(_timed(loop, 1, device))
            t_eng.append(_timed(engine, 1, device))
    # per round: (loop s/config × S) / (engine s/step × steps)
    ratios = [(tl / len(c) * S) / (te / k * steps) for te, tl, k, c in zip(t_eng, t_loop, step_chunks, cfg_chunks)]
    engine_total = sum(t_eng)
    loop_per_cfg = sum(t_loop) / n_loop
    diff = max(float((x[s] - finals[s]).abs().max()) for s in finals)
    scale = float(x[picks].abs().max())
    return {"dtype": str(dtype).replace("torch.", ""), "S": S, "steps": steps, "n_loop": n_loop,
            "engine_total": engine_total, "engine_step": engine_total / steps, "loop_per_cfg": loop_per_cfg,
            "loop_total": loop_per_cfg * S, "ratio": statistics.median(ratios), "lo": min(ratios),
            "hi": max(ratios), "rounds": rounds, "max_diff": diff, "rel_diff": diff / scale,
            "finite": bool(torch.isfinite(x).all())}


# ---------------------------------------------------------------------- report
def _fmt_t(t: float) -> str:
    return f"{t * 1e3:9.2f} ms" if t < 1 else f"{t:9.2f} s "


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
    ap.add_argument("--size", choices=("small", "large"), default=None,
                    help="problem sizes (default: large on CUDA, small on CPU)")
    ap.add_argument("--dtypes", default="float64,float32", help="comma-separated, float64 first (engine default)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds per ratio")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads (default 1 on CPU: stable on a shared machine; torch's default on CUDA)")
    args = ap.parse_args(argv)

    device = resolve_device(args.device)
    size = args.size or ("large" if device.type == "cuda" else "small")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    elif device.type == "cpu":
        torch.set_num_threads(1)
    dtypes = [getattr(torch, name.strip()) for name in args.dtypes.split(",")]
    K, d, n = SIZES[size]["step"]
    Ks, ds, ns, S, steps, n_loop = SIZES[size]["small"]
    block_s = 0.25 if device.type == "cuda" else 0.15

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"UFM engine benchmark — device {device} [{name}], torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU thread(s), size '{size}', load average {os.getloadavg()[0]:.2f}")
    if size == "small":
        print(f"  NOTE: reduced sizes (the CPU default) — (i) K={K}, d={d}, n={n} instead of K=1000, d=1024, n=100; "
              f"(ii) {steps} steps instead of 2000 (run --size large for the full sizes).")
    t_start = time.perf_counter()

    print(f"\n(i) one CE gradient-descent step (value_and_grad + update, S=1) vs 3 plain matmuls "
          f"of the same shapes (6·K·d·N FLOP), {args.rounds} interleaved rounds")
    print("  times and GFLOP/s: medians over all blocks; ratio = median over rounds of the per-round ratio "
          "matmul time / engine time (rounds ordered A B B A); best = ratio of the fastest blocks")
    hdr = f"  {'dtype':8} {'shape':22} {'engine step':>12} {'3 matmuls':>12} {'engine GF/s':>12} " \
          f"{'matmul GF/s':>12} {'ratio':>7} {'(range)':>15} {'best':>6}"
    print(hdr)
    step_rows = []
    for dt in dtypes:
        r = bench_step(device, dt, K, d, n, args.rounds, block_s)
        step_rows.append(r)
        print(f"  {r['dtype']:8} {r['shape']:22} {_fmt_t(r['t_engine']):>12} {_fmt_t(r['t_matmul']):>12} "
              f"{r['gflops_engine']:12.1f} {r['gflops_matmul']:12.1f} {r['ratio']:7.1%} "
              f"  [{r['lo']:.0%}–{r['hi']:.0%}] {r['best']:6.0%}")

    print(f"\n(ii) {S} CE configs (K={Ks}, d={ds}, n={ns}, λ_W, λ_H, λ_b log-uniform in [1e-4, 1e-2]), "
          f"{steps} GD steps, lr=1: engine (S={S}, the descend update) vs a per-config loop "
          f"(nn.Parameter + F.cross_entropy + SGD weight decay + autograd)")
    print(f"  the loop is timed on {n_loop} configs spread over the λ range and extrapolated linearly to "
          f"{S}; median of per-round ratios (rounds interleave an engine chunk and some loop configs)")
    print(f"  {'dtype':8} {'engine total':>13} {'engine/step':>12} {'loop/config':>12} "
          f"{f'loop ×{S} (extrap.)':>20} {'speed-up':>9} {'(range)':>15} {'max|Δx| loop vs engine':>24}")
    small_rows = []
    for dt in dtypes:
        r = bench_small(device, dt, Ks, ds, ns, S, steps, n_loop, args.rounds)
        small_rows.append(r)
        print(f"  {r['dtype']:8} {_fmt_t(r['engine_total']):>13} {_fmt_t(r['engine_step']):>12} "
              f"{_fmt_t(r['loop_per_cfg']):>12} {_fmt_t(r['loop_total']):>20} {r['ratio']:8.1f}× "
              f"  [{r['lo']:.1f}–{r['hi']:.1f}] {r['max_diff']:14.1e} (rel {r['rel_diff']:.0e})")

    print(f"\nsummary (targets, set for a GPU: (i) ≥ {TARGETS['step']:.0%} of matmul FLOP/s, "
          f"(ii) ≥ {TARGETS['small']:.0f}×; this run: {device.type}, size '{size}')")

    def verdict(value, key):
        return "meets the target" if value >= TARGETS[key] else "BELOW the target"

    for r in step_rows:
        print(f"  (i)  {r['dtype']:8} engine step at {r['ratio']:.1%} of plain-matmul FLOP/s "
              f"({r['gflops_engine']:.1f} vs {r['gflops_matmul']:.1f} GFLOP/s, {r['shape']}): "
              f"{verdict(r['ratio'], 'step')}")
    for r in small_rows:
        print(f"  (ii) {r['dtype']:8} batched engine {r['ratio']:.1f}× faster than the per-config SGD loop "
              f"({_fmt_t(r['engine_total']).strip()} vs {_fmt_t(r['loop_total']).strip()} extrapolated): "
              f"{verdict(r['ratio'], 'small')}")
    ok = all(r["finite"] for r in small_rows)
    print(f"  total benchmark time {time.perf_counter() - t_start:.0f} s"
          + ("" if ok else "; WARNING: the engine run produced non-finite values"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
