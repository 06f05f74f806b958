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
import numpy as np
import torch

from sslab.config import ExperimentConfig
from sslab.io import atomic_write_bytes
from sslab.stats import VERDICTS, Verdict


@dataclass
class Claim:
    """A paper claim checked on this data.

    ``verdict`` is ``held`` / ``not held`` / ``inconclusive`` (a bool is accepted for exact,
    deterministic checks and mapped to held / not held). ``test`` is the pre-registered test:
    the statistic, its margin and the seeds, written next to the claim text before the run.
    ``evidence`` gives the numbers that decided it."""

    name: str
    verdict: Verdict | bool
    evidence: str
    test: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.verdict, bool | np.bool_):
            self.verdict = "held" if bool(self.verdict) else "not held"
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def held(self) -> bool:
        return self.verdict == "held"

    def record(self) -> dict[str, Any]:
        """JSON form in result.json: name, verdict, held (== verdict is held), test, evidence."""
        return {"name": self.name, "verdict": self.verdict, "held": self.held, "test": self.test,
                "evidence": self.evidence}


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
    figure_captions: dict[str, str] = field(default_factory=dict)

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)

    def save_figure(self, fig: plt.Figure, name: str, caption: str | None = None) -> str:
        """Save ``fig`` as ``<out_dir>/<name>.png`` atomically and close it.

        ``caption`` says what is plotted, on what data and with how many seeds; it is stored in
        result.json under ``figure_captions``. Figures are laid out with ``layout="constrained"``; the
        tight bounding box at save time only trims the outer margin (and keeps a label that sticks out)."""
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", pad_inches=0.05)
        plt.close(fig)
        fname = f"{name}.png"
        atomic_write_bytes(self.out_dir / fname, buf.getvalue())
        self.figures.append(fname)
        if caption:
            self.figure_captions[fname] = caption
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
