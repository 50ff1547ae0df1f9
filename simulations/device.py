"""Device selection shared by every simulation: CUDA when present, CPU otherwise."""
from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None) -> torch.device | None:
    """Map a device request to a torch.device.

    None → None (leave the model where it is; inputs follow the model's parameters);
    "auto" → cuda if available else cpu; "cpu", "cuda", "cuda:i" or a torch.device.
    Raises ValueError naming ``device`` if CUDA is requested but unavailable or the
    request is not a valid device.
    """
    if device is None:
        return None
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a valid torch device: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported (use 'auto', 'cpu' or 'cuda')")
    return dev
