"""Content-addressed cache of pre-trained encoders: pre-train once, evaluate many times.

A pre-training run is a pure function of what it is given: the method and its keyword
arguments, the ViT configuration, the training configuration (epochs, batch, optimiser,
schedule, seed, device, precision), the training images, and the training code itself.
:class:`CacheKey` holds exactly these fields; its SHA-256 digest names the entry
``<root>/<digest>/``, so two experiments that ask for the same run (ssl-compare's MAE and
umae-lambda's λ = 0 arm, for instance) get the same weights and the second one skips training.

* The data enter as the dataset name plus a hash of the *training* images: pre-training never
  sees labels or the validation/test splits, so relabelling the test split (a test of
  validation-only selection) still finds the same encoder.
* The code enters as :func:`code_version`, a hash of the source files that define the training
  trajectory (methods, models, views, the loop and its sampler). Any change to them starts a
  new entry instead of serving weights from older code.

An entry holds ``weights.safetensors`` (the method's state dict), ``snapshots.safetensors``
(encoder weights at a few epochs along training, for curves) and ``meta.json`` (the key, the
history, the training seconds and the SHA-256 of both tensor files), and ``tb/``, the run's
TensorBoard log (:mod:`sslab.train.pretrain_log`; not part of the key). It is written to a
temporary sibling directory and renamed into place, so readers never see half an entry. Tensor
files are read with safetensors (no code execution); an entry whose files are missing, fail
their checksum or do not fit the model is deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

log = logging.getLogger("sslab.cache")

# source files whose content defines a pre-training trajectory (relative to the sslab package)
CODE_PATHS = ("methods", "models", "views", "train/loop.py", "train/sampler.py", "data/patches.py",
              "distributed.py")
# training-config fields that do not change the weights (logging and checkpoint cadence)
NEUTRAL_TRAIN_KEYS = ("checkpoint_every", "eval_every", "tensorboard", "compile")

WEIGHTS, SNAPSHOTS, META = "weights.safetensors", "snapshots.safetensors", "meta.json"
LOG_DIR = "tb"  # the entry's TensorBoard log, when the run wrote one


@lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 (first 16 hex digits) over the paths and bytes of the training code."""
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in CODE_PATHS:
        p = pkg / rel
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(pkg)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def tensor_hash(*tensors: torch.Tensor) -> str:
    """SHA-256 (first 16 hex digits) of the shapes, dtypes and bytes of the tensors."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def data_hash(images: Any) -> str:
    """The ``train_images`` field of a cache key: :func:`tensor_hash` of an in-memory tensor,
    the ``fingerprint()`` of streamed images (:class:`sslab.data.lazy.LazyImages`)."""
    fingerprint = getattr(images, "fingerprint", None)
    return fingerprint() if callable(fingerprint) else tensor_hash(images)


@dataclass(frozen=True)
class CacheKey:
    """Everything a pre-trained encoder depends on (see the module docstring)."""

    method: str
    method_kwargs: dict[str, Any]
    vit: dict[str, Any]
    train: dict[str, Any]
    dataset: str
    train_images: str  # data_hash of the training images
    seed: int
    code: str = field(default_factory=code_version)

    @staticmethod
    def train_fields(train_cfg: Any) -> dict[str, Any]:
        """The TrainConfig fields that change the weights."""
        d = asdict(train_cfg)
        return {k: v for k, v in d.items() if k not in NEUTRAL_TRAIN_KEYS}

    def record(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=str))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.record(), sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class CacheEntry:
    history: list[dict[str, float]]
    snapshots: dict[int, dict[str, torch.Tensor]]
    seconds: float


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flat(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies (safetensors refuses shared or strided storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


class EncoderCache:
    """The cache under ``root``; ``root=None`` disables it (every lookup misses, nothing is stored)."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = Path(root) if root is not None else None

    def path(self, key: CacheKey) -> Path | None:
        return None if self.root is None else self.root / key.digest()

    def log_dir(self, key: CacheKey) -> Path | None:
        """The entry's TensorBoard log directory, or None when the entry has none."""
        where = self.path(key)
        return where / LOG_DIR if where is not None and (where / LOG_DIR).is_dir() else None

    def staging_dir(self, key: CacheKey) -> Path | None:
        """A fresh directory beside the entries, for files to :meth:`store` with it (``attach``)."""
        if self.root is None:
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".stage-{key.digest()}-{uuid.uuid4().hex[:8]}"

    def load(self, key: CacheKey, method: nn.Module) -> CacheEntry | None:
        """Fill ``method`` with the cached weights and return the entry, or None on a miss.
        A damaged entry is removed (and logged) so that the caller recomputes it."""
        where = self.path(key)
        if where is None or not where.is_dir():
            return None
        try:
            meta = json.loads((where / META).read_text())
            if meta["key"] != key.record():
                raise ValueError("stored key differs from the requested one")
            for name in (WEIGHTS, SNAPSHOTS):
                if _sha256(where / name) != meta["sha256"][name]:
                    raise ValueError(f"{name} fails its checksum")
            method.load_state_dict(load_file(where / WEIGHTS), strict=True)
            snaps: dict[int, dict[str, torch.Tensor]] = {}
            for name, t in load_file(where / SNAPSHOTS).items():
                epoch, param = name.split("/", 1)
                snaps.setdefault(int(epoch), {})[param] = t
            return CacheEntry(list(meta["history"]), dict(sorted(snaps.items())), float(meta["seconds"]))
        except Exception as exc:  # any damage: drop the entry, the caller retrains
            log.warning("cache entry %s is damaged (%s: %s); recomputing it", where, type(exc).__name__, exc)
            shutil.rmtree(where, ignore_errors=True)
            return None

    def store(
        self,
        key: CacheKey,
        method: nn.Module,
        history: list[dict[str, float]],
        snapshots: dict[int, dict[str, torch.Tensor]],
        seconds: float,
        attach: dict[str, Path] | None = None,
    ) -> Path | None:
        """Write the entry atomically (temporary directory, then rename); an entry that
        appeared meanwhile (another process) is kept. ``attach`` maps names to directories
        (e.g. ``{"tb": staged}``) moved into the entry under those names, outside the checksums."""
        where = self.path(key)
        if where is None:
            for extra in (attach or {}).values():
                shutil.rmtree(extra, ignore_errors=True)
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{where.name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            save_file(_flat(method.state_dict()), str(tmp / WEIGHTS))
            flat_snaps = {f"{e}/{k}": v for e, s in snapshots.items() for k, v in _flat(s).items()}
            save_file(flat_snaps, str(tmp / SNAPSHOTS))
            meta = {
                "key": key.record(),
                "digest": where.name,
                "history": history,
                "seconds": seconds,
                "sha256": {n: _sha256(tmp / n) for n in (WEIGHTS, SNAPSHOTS)},
            }
            (tmp / META).write_text(json.dumps(meta, indent=1))
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            for name, extra in (attach or {}).items():
                if extra.is_dir():
                    os.rename(extra, tmp / name)
            try:
                os.rename(tmp, where)
            except OSError:
                if not where.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            for extra in (attach or {}).values():
                shutil.rmtree(extra, ignore_errors=True)
        return where
