"""Torch front end: collect layer features with a forward hook and stream them into NC metrics.

The features of ``layer`` (an ``nn.Module`` inside ``model``) are captured by a forward
hook, flattened to (B, d), converted to float64 numpy arrays and fed to
``numerics.metrics``. Nothing but one batch of features is held at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from numerics.metrics import ClassStats, NCAccumulator, nc4, nc_metrics
from simulations.device import resolve_device

__all__ = [
    "resolve_device",
    "collect_features",
    "accumulate_features",
    "nc_metrics_from_model",
]


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _check_layer(model: nn.Module, layer: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(layer, nn.Module) or not any(m is layer for m in model.modules()):
        raise ValueError("layer must be an nn.Module contained in model")


def _first_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                return item
    raise ValueError(f"layer output is not a tensor (got {type(out).__name__})")


def _to_device(x: Any, dev: torch.device) -> Any:
    return x.to(dev) if isinstance(x, torch.Tensor) else x


def _labels_numpy(labels: Any) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().numpy()
    return np.asarray(labels)


def _set_eval(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    return modes


def _restore(modes: list[tuple[nn.Module, bool]]) -> None:
    for m, training in modes:
        m.training = training


def collect_features(
    model: nn.Module,
    layer: nn.Module,
    batches: Iterable[Any],
    device: str | torch.device | None = None,
    *,
    eval_mode: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (features (B, d) float64, labels (B,)) for each (inputs, labels) batch.

    A forward hook on ``layer`` captures its output (first tensor of a tuple output),
    flattened to (B, d). The model runs under torch.no_grad() (only around the forward
    call, never across a yield) and, with eval_mode, in eval() mode; the previous
    train/eval flags are restored and the hook removed when the generator finishes,
    raises, or is closed. ``inputs`` may be a tensor or a tuple/list of tensors
    (passed as positional arguments). If ``device`` is given the model is moved there
    (in place); otherwise inputs are moved to the model's device. Raises ValueError
    naming ``features`` on NaN/inf features and naming ``layer`` if the layer does not
    run exactly once per forward.
    """
    _check_layer(model, layer)
    dev = resolve_device(device)
    return _collect(model, layer, batches, dev, eval_mode)


def _collect(
    model: nn.Module,
    layer: nn.Module,
    batches: Iterable[Any],
    dev: torch.device | None,
    eval_mode: bool,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        captured.append(_first_tensor(output).detach())

    handle = layer.register_forward_hook(hook)
    modes = _set_eval(model) if eval_mode else None
    try:
        if dev is not None:
            model.to(dev)
        target = dev if dev is not None else _model_device(model)
        for index, batch in enumerate(batches):
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ValueError(f"batches item {index} must be an (inputs, labels) pair")
            inputs, labels = batch
            args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
            args = tuple(_to_device(a, target) for a in args)
            captured.clear()
            with torch.no_grad():
                model(*args)
            if len(captured) != 1:
                raise ValueError(
                    f"layer ran {len(captured)} times in the forward pass of batch {index}; "
                    "expected exactly once"
                )
            out = captured.pop()
            y = _labels_numpy(labels)
            n = out.shape[0] if out.dim() > 0 else 0
            feats = out.reshape(n, -1).to(device="cpu", dtype=torch.float64).numpy().copy()
            if not np.all(np.isfinite(feats)):
                raise ValueError(f"features from layer contain NaN or inf (batch {index})")
            if y.shape != (feats.shape[0],):
                raise ValueError(
                    f"labels of batch {index} have shape {y.shape}, expected ({feats.shape[0]},)"
                )
            yield feats, y
    finally:
        handle.remove()
        if modes is not None:
            _restore(modes)


def accumulate_features(
    model: nn.Module,
    layer: nn.Module,
    batches: Iterable[Any],
    num_classes: int,
    device: str | torch.device | None = None,
    *,
    eval_mode: bool = True,
) -> ClassStats:
    """Stream the hooked features of ``layer`` into an NCAccumulator and finalize it."""
    acc: NCAccumulator | None = None
    gen = collect_features(model, layer, batches, device, eval_mode=eval_mode)
    try:
        for feats, y in gen:
            if acc is None:
                acc = NCAccumulator(num_classes, feats.shape[1])
            acc.update(feats, y)
    finally:
        gen.close()
    if acc is None:
        raise ValueError("batches is empty: no features were collected")
    return acc.finalize()


def nc_metrics_from_model(
    model: nn.Module,
    layer: nn.Module,
    classifier: nn.Linear,
    batches: Iterable[Any],
    num_classes: int,
    device: str | torch.device | None = None,
    *,
    eval_mode: bool = True,
) -> dict[str, float]:
    """All NC metrics of ``layer``'s features against ``classifier`` (an nn.Linear).

    Two passes over ``batches``, which must therefore be re-iterable (a list, a
    DataLoader, ... — not a generator or other one-shot iterator) and yield the same
    samples each time (order may differ; random augmentation would break NC4):
    pass 1 accumulates ClassStats, pass 2 computes NC4 with W = classifier.weight and
    b = classifier.bias (0 if absent).
    """
    if isinstance(batches, Iterator):
        raise ValueError("batches must be re-iterable (e.g. a list or DataLoader), not an iterator")
    if not isinstance(classifier, nn.Linear):
        raise ValueError(f"classifier must be an nn.Linear, got {type(classifier).__name__}")
    if classifier.out_features != num_classes:
        raise ValueError(
            f"classifier has {classifier.out_features} outputs but num_classes={num_classes}"
        )
    stats = accumulate_features(model, layer, batches, num_classes, device, eval_mode=eval_mode)
    if classifier.in_features != stats.dim:
        raise ValueError(
            f"classifier expects {classifier.in_features} inputs but features have dim {stats.dim}"
        )
    W = classifier.weight.detach().to(device="cpu", dtype=torch.float64).numpy()
    b = (
        None
        if classifier.bias is None
        else classifier.bias.detach().to(device="cpu", dtype=torch.float64).numpy()
    )
    out = nc_metrics(stats, W, b)
    gen = collect_features(model, layer, batches, device, eval_mode=eval_mode)
    try:
        out["nc4"] = nc4((f for f, _ in gen), W=W, b=b, means=stats)
    finally:
        gen.close()
    return out
