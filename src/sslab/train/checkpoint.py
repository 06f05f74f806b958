"""Crash-safe checkpoints: the whole state needed to continue bit for bit, and nothing that
can run code when read.

A checkpoint holds the method's parameters (encoder + decoder/projector/predictor/target),
optimiser and scheduler state, the step counters, the torch RNG state, the training history,
the full config and the sslab version. It is serialised in memory and written with
:func:`sslab.io.atomic_write_bytes`, so a kill at any moment leaves the previous complete
checkpoint in place.

Safety: a checkpoint holds tensors and plain data only (dict, list, tuple, str, int, float,
bool, None), checked when it is written, and is read with ``torch.load(weights_only=True)``,
whose unpickler builds only those types. A file that needs any other Python object (a class,
a function) is refused with a one-line error: unpickling arbitrary objects can execute code,
so a checkpoint from an untrusted source must never be unpickled.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from sslab import __version__
from sslab.errors import ConfigError, DataError
from sslab.io import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"
_PLAIN = (str, int, float, bool, type(None))


def plain(obj: Any) -> Any:
    """``obj`` as JSON-like plain data (tuples become lists; a dataclass its field dict; any
    other object its ``repr``): what a config looks like once stored in a checkpoint."""
    import dataclasses

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return repr(o)

    return json.loads(json.dumps(obj, default=default))


def _check_plain(obj: Any, where: str = "checkpoint") -> None:
    if isinstance(obj, (torch.Tensor, *_PLAIN)):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise TypeError(f"{where}: key {key!r} is not a str or int")
            _check_plain(value, f"{where}[{key!r}]")
        return
    if isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {type(obj).__name__}; checkpoints hold tensors and plain data only")


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """The serialised checkpoint (tensors and plain data, checked), with the sslab version."""
    state = {**state, "version": __version__}
    _check_plain(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    return atomic_write_bytes(path, checkpoint_bytes(state))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with the weights-only unpickler; refuse anything that needs more."""
    if not path.is_file():
        raise DataError(f"no checkpoint at {path}; start without --resume or point at a run directory")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"the Python object {found.group(1)}" if found else "Python objects other than tensors and plain data"
        raise DataError(
            f"refusing checkpoint {path}: it needs {what} to be unpickled, and unpickling can run "
            "arbitrary code; only checkpoints of tensors and plain data are loaded (retrain into a new --out)"
        ) from None
    except Exception as exc:
        why = type(exc).__name__
        raise DataError(f"checkpoint {path} is truncated or corrupt ({why}); delete it to restart") from None
    if not isinstance(ck, dict) or not {"model", "config", "epoch", "step"} <= set(ck):
        raise DataError(f"{path} is not an sslab checkpoint (no model/config/epoch/step); point at a run directory")
    return ck


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
    diffs = [d for d in config_differences(plain(saved), plain(current)) if d.split(":")[0] not in ignore]
    if diffs:
        raise ConfigError(
            "cannot resume with a changed config (" + "; ".join(diffs) + "); use the original settings or a new --out"
        )
