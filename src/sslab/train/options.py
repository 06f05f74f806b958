"""The options of ``sslab train`` as one value, their validation, and what they turn into
(the method's keyword arguments, the training-loop config).

:func:`validate` runs before anything is written or launched: every range, NaN/inf, type
(a bool is not an integer) and conflict (an option that the method would silently ignore) is
a one-line :class:`~sslab.errors.ConfigError` naming the option and a valid value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sslab.errors import ConfigError
from sslab.methods.mae import UMAE_WEIGHT

SEED_MAX = 2**32 - 1  # numpy and scikit-learn seeds are 32-bit
MASKED_METHODS = ("mae", "umae")
DEFAULT_MASK_RATIO = 0.75  # official MAE
DEFAULT_MAX_SKIP_FRAC = 0.01
DEFAULT_MAX_ROLLBACKS = 3


@dataclass(frozen=True)
class TrainOptions:
    method: str
    dataset: str = "digits"
    data_dir: Path | None = None
    image_size: int = 8
    patch: int = 2
    preset: str = "cpu-tiny"
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1.5e-3
    mask_ratio: float | None = None  # mae/umae only; None: DEFAULT_MASK_RATIO
    uniformity_weight: float | None = None
    seed: int = 0
    checkpoint_every: int = 5
    eval_every: int = 5
    on_nan: str = "stop"
    max_skip_frac: float | None = None  # on_nan="skip" only; None: DEFAULT_MAX_SKIP_FRAC
    max_rollbacks: int | None = None  # on_nan="rollback" only; None: DEFAULT_MAX_ROLLBACKS
    out: Path = Path("runs/train")
    resume: bool = False
    nproc: int = 1
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    max_steps: int | None = None
    stream: bool = False
    workers: int = 2
    augment: str = "mae"
    eval_limit: int = 5000
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int = 29500
    rdzv_endpoint: str | None = None
    rdzv_id: str = "sslab"

    def launch(self):  # -> sslab.train.launch.Launch
        from sslab.train.launch import Launch

        return Launch(self.nproc, self.nnodes, self.node_rank, self.master_addr, self.master_port,
                      self.rdzv_endpoint, self.rdzv_id)

    def method_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`sslab.methods.build_method` (recorded in the run config)."""
        from sslab.methods import method_options

        ratio = DEFAULT_MASK_RATIO if self.mask_ratio is None else self.mask_ratio
        return method_options(self.method, mask_ratio=ratio, uniformity_weight=self.uniformity_weight)

    def train_config(self):  # -> sslab.train.loop.TrainConfig (imported lazily: torch)
        from sslab.train.loop import TrainConfig

        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
            checkpoint_every=self.checkpoint_every,
            eval_every=self.eval_every,
            on_nan=self.on_nan,  # type: ignore[arg-type]
            max_skip_frac=DEFAULT_MAX_SKIP_FRAC if self.max_skip_frac is None else self.max_skip_frac,
            max_rollbacks=DEFAULT_MAX_ROLLBACKS if self.max_rollbacks is None else self.max_rollbacks,
            device=self.device,
            precision=self.precision,  # type: ignore[arg-type]
            compile=self.compile,
        )


def _fail(option: str, value: Any, valid: str) -> NoReturn:
    shown = value if isinstance(value, str) else repr(value)
    raise ConfigError(f"bad value --{option}={shown}: {valid}")


def _integer(option: str, value: Any, lo: int, hi: int, example: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _fail(option, value, f"need an integer in [{lo}, {hi}], e.g. --{option} {example}")


def _number(option: str, value: Any, lo: float, hi: float, example: float, lo_open: bool = False,
            hi_open: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        _fail(option, value, f"need a finite number in {interval}, e.g. --{option} {example:g}")


def _choice(option: str, value: Any, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        _fail(option, value, "use " + ", ".join(choices))


def validate(opts: TrainOptions) -> None:
    """Refuse a bad or conflicting option (one-line ConfigError) before anything is written."""
    from sslab.data import DATASETS
    from sslab.distributed import resolve_device
    from sslab.methods import METHODS
    from sslab.models.vit import PRESETS

    if opts.method not in METHODS:
        raise ConfigError(f"unknown method {opts.method!r}; choose one of {', '.join(METHODS)}")
    from sslab.data.item_augment import AUGMENTS
    from sslab.train.stream_run import STREAMING

    if opts.stream:
        _choice("dataset", opts.dataset, STREAMING)
        _choice("augment", opts.augment, AUGMENTS)
        _integer("workers", opts.workers, 0, 256, 2)
        _integer("eval-limit", opts.eval_limit, 0, 10**9, 5000)
    else:
        _choice("dataset", opts.dataset, DATASETS)
    if opts.max_steps is not None:
        _integer("max-steps", opts.max_steps, 1, 10**9, 300)
    if opts.data_dir is not None and not Path(opts.data_dir).is_dir():
        _fail("data-dir", str(opts.data_dir), "not a directory; give the folder that holds the dataset's files")
    _choice("preset", opts.preset, list(PRESETS))
    _integer("patch", opts.patch, 1, 64, 2)
    _integer("image-size", opts.image_size, 2, 1024, 32)
    if opts.image_size % opts.patch or opts.image_size // opts.patch < 2:
        _fail("image-size", opts.image_size, f"need a multiple of --patch {opts.patch} with at least 2 patches "
              f"per side, e.g. --image-size {4 * opts.patch}")
    _integer("epochs", opts.epochs, 1, 100_000, 50)
    _integer("nproc", opts.nproc, 1, 4096, 2)
    _integer("nnodes", opts.nnodes, 1, 4096, 2)
    _integer("batch-size", opts.batch_size, 2, 1_000_000, 128)
    processes = opts.launch().world_size  # also checks --node-rank and the rendezvous options
    if opts.batch_size % processes:
        raise ConfigError(
            f"--batch-size {opts.batch_size} (the global batch) must be divisible by --nproc {opts.nproc}"
            + (f" × --nnodes {opts.nnodes}" if opts.nnodes > 1 else "")
        )
    _number("lr", opts.lr, 0.0, 10.0, 1.5e-3, lo_open=True)
    if opts.method in MASKED_METHODS:
        if opts.mask_ratio is not None:
            _number("mask-ratio", opts.mask_ratio, 0.0, 1.0, DEFAULT_MASK_RATIO, hi_open=True)
    elif opts.mask_ratio is not None:
        raise ConfigError(f"--mask-ratio applies to mae and umae only; {opts.method} does not mask: drop it")
    if opts.uniformity_weight is not None:
        if opts.method != "umae":
            raise ConfigError(
                f"--uniformity-weight applies to umae only (got {opts.method}); "
                f"use `sslab train umae --uniformity-weight {opts.uniformity_weight}` for U-MAE"
            )
        _number("uniformity-weight", opts.uniformity_weight, 0.0, 1e3, UMAE_WEIGHT)
    _integer("seed", opts.seed, 0, SEED_MAX, 0)
    _integer("checkpoint-every", opts.checkpoint_every, 1, 100_000, 5)
    _integer("eval-every", opts.eval_every, 0, 100_000, 5)
    _choice("on-nan", opts.on_nan, ("stop", "skip", "rollback"))
    if opts.max_skip_frac is not None:
        if opts.on_nan != "skip":
            raise ConfigError(f"--max-skip-frac applies to --on-nan skip only (got --on-nan {opts.on_nan}); drop it")
        _number("max-skip-frac", opts.max_skip_frac, 0.0, 1.0, DEFAULT_MAX_SKIP_FRAC)
    if opts.max_rollbacks is not None:
        if opts.on_nan != "rollback":
            raise ConfigError(
                f"--max-rollbacks applies to --on-nan rollback only (got --on-nan {opts.on_nan}); drop it"
            )
        _integer("max-rollbacks", opts.max_rollbacks, 0, 20, DEFAULT_MAX_ROLLBACKS)
    _choice("precision", opts.precision, ("fp32", "bf16"))
    resolve_device(opts.device)  # a bad or unavailable device
    if Path(opts.out).exists() and not Path(opts.out).is_dir():
        _fail("out", str(opts.out), "a file; give a directory for the run")
