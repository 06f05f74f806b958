"""What an experiment is: a typed config, a ``run(config, ctx) -> Result`` function,
and a registry entry that says which paper claim it checks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from sslab.config import ExperimentConfig
from sslab.io import atomic_write_bytes


@dataclass
class Claim:
    """A paper claim checked on this data: did it hold, and the numbers that say so."""

    name: str
    held: bool
    evidence: str


@dataclass
class Result:
    numbers: dict[str, Any] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    headline: str | None = None  # key of ``numbers`` shown in the report's summary
    notes: str = ""


@dataclass
class RunContext:
    """Where an experiment writes and what it was asked for."""

    out_dir: Path
    seed: int
    quick: bool
    data_dir: Path | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("sslab.run"))
    figures: list[str] = field(default_factory=list)

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)

    def save_figure(self, fig: plt.Figure, name: str) -> str:
        """Save ``fig`` as ``<out_dir>/<name>.png`` atomically and close it."""
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        fname = f"{name}.png"
        atomic_write_bytes(self.out_dir / fname, buf.getvalue())
        self.figures.append(fname)
        return fname


@dataclass(frozen=True)
class Experiment:
    name: str
    paper: str
    claim: str
    config: type[ExperimentConfig]
    run: Callable[[Any, RunContext], Result]
    quick: Mapping[str, Any] = field(default_factory=dict)
    quick_time: str = "?"
    full_time: str = "?"
    issue_tags: tuple[str, ...] = ()


REGISTRY: dict[str, Experiment] = {}


def register(
    name: str,
    *,
    paper: str,
    claim: str,
    config: type[ExperimentConfig],
    quick: Mapping[str, Any] | None = None,
    quick_time: str = "?",
    full_time: str = "?",
) -> Callable[[Callable[[Any, RunContext], Result]], Callable[[Any, RunContext], Result]]:
    """Decorator: register ``run`` under ``name``."""

    def deco(fn: Callable[[Any, RunContext], Result]) -> Callable[[Any, RunContext], Result]:
        if name in REGISTRY:
            raise RuntimeError(f"experiment {name!r} registered twice")
        REGISTRY[name] = Experiment(
            name, paper, claim, config, fn, dict(quick or {}), quick_time, full_time
        )
        return fn

    return deco
