"""Crash-safe checkpoints: the whole state needed to continue bit for bit.

A checkpoint holds the method's parameters (encoder + decoder/projector/predictor/target),
optimiser and scheduler state, the step counters, the torch RNG state, the training history,
the full config and the sslab version. It is serialised in memory and written with
:func:`sslab.io.atomic_write_bytes`, so a kill at any moment leaves the previous complete
checkpoint in place.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from sslab import __version__
from sslab.errors import ConfigError, DataError
from sslab.io import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    buf = io.BytesIO()
    torch.save({**state, "version": __version__}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"no checkpoint at {path}; start without --resume or point at a run directory")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        why = type(exc).__name__
        raise DataError(f"checkpoint {path} is truncated or corrupt ({why}); delete it to restart") from None


def config_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys whose values differ between two nested config dicts."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def check_same_config(saved: dict[str, Any], current: dict[str, Any], ignore: tuple[str, ...] = ()) -> None:
    diffs = [d for d in config_differences(saved, current) if d.split(":")[0] not in ignore]
    if diffs:
        raise ConfigError(
            "cannot resume with a changed config (" + "; ".join(diffs) + "); use the original settings or a new --out"
        )
