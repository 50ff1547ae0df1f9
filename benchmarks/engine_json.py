"""P1/P2 of benchmarks/ufm_engine.py as JSON, for `collapsekit bench`.

    python benchmarks/engine_json.py BENCHMARK_DIR CONFIG_JSON OUT_JSON P1,P2

CONFIG_JSON: {"device": ..., "rounds": ..., and either "size": "small"|"large" or explicit
"step": [K, d, n] and "small": [K, d, n, S, steps, configs_timed]}.  One intra-op thread on
the CPU (the ratios are then per core and less sensitive to other jobs).
"""
from __future__ import annotations

import json
import sys

import torch


def main(argv: list[str]) -> None:
    bench_dir, cfg, out, which = argv[0], json.loads(argv[1]), argv[2], argv[3].split(",")
    sys.path.insert(0, bench_dir)
    import ufm_engine as ue

    from simulations.device import resolve_device

    dev = resolve_device(cfg["device"])
    if dev.type == "cpu":
        torch.set_num_threads(1)
    size = cfg.get("size") or ("large" if dev.type == "cuda" else "small")
    step = cfg.get("step") or ue.SIZES[size]["step"]
    small = cfg.get("small") or ue.SIZES[size]["small"]
    res = {"size": size, "device": str(dev), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}
    dtypes = [torch.float64, torch.float32]
    block = 0.25 if dev.type == "cuda" else 0.15
    if "P1" in which:
        res["P1"] = [ue.bench_step(dev, dt, *step, cfg["rounds"], block) for dt in dtypes]
    if "P2" in which:
        res["P2"] = [ue.bench_small(dev, dt, *small, cfg["rounds"]) for dt in dtypes]
    with open(out, "w") as f:
        json.dump(res, f, indent=2, default=float)


if __name__ == "__main__":
    main(sys.argv[1:])
