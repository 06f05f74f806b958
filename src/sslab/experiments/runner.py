"""Run registered experiments into ``runs/NAME/<timestamp>/`` and record what happened.

Every run directory holds ``result.json`` (schema below), its PNG figures and ``log.txt``.
A failing experiment still writes a result with ``status: "failed"`` and the error, so
``sslab reproduce`` goes on and the report shows the failure.

result.json: {"experiment", "version", "status", "seed", "quick", "config", "overrides", "sweep", "numbers",
"claims": [{"name", "verdict", "held", "test", "evidence"}], "figures", "figure_captions": {file: caption},
"headline", "seconds", "error"?}
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sslab import __version__
from sslab.config import build_config
from sslab.errors import ConfigError, SslabError
from sslab.experiments.base import REGISTRY, Experiment, Result, RunContext
from sslab.io import atomic_write_json, new_run_dir


def get_experiment(name: str) -> Experiment:
    from sslab.experiments import load_all

    load_all()
    if name not in REGISTRY:
        raise ConfigError(f"unknown experiment {name!r}; run 'sslab list' (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name]


def resolve_config(exp: Experiment, quick: bool, overrides: Mapping[str, Any]) -> Any:
    layers: list[Mapping[str, Any]] = [exp.quick] if quick else []
    return build_config(exp.config, *layers, overrides, experiment=exp.name)


def run_experiment(
    name: str,
    *,
    quick: bool = False,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    out_root: str | Path = "runs",
    data_dir: str | Path | None = None,
    raise_errors: bool = False,
    sweep: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run one experiment; returns (run directory, result record).

    Config errors raise before anything is written. Errors during the run are recorded in
    result.json; with ``raise_errors`` they are re-raised after recording. ``sweep`` tags the
    run as one point of that sweep (see :mod:`sslab.experiments.sweep`).
    """
    exp = get_experiment(name)
    overrides = dict(overrides or {})
    cfg = resolve_config(exp, quick, overrides)
    out_dir = new_run_dir(out_root, name)
    logger = logging.getLogger(f"sslab.run.{name}.{out_dir.name}")
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(out_dir / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    ctx = RunContext(out_dir, seed, quick, Path(data_dir) if data_dir else None, logger)
    record: dict[str, Any] = {
        "experiment": name,
        "version": __version__,
        "status": "running",
        "seed": seed,
        "quick": quick,
        "config": cfg.model_dump(mode="json"),
        "overrides": overrides,
        "data_dir": str(data_dir) if data_dir else None,
        "sweep": sweep,
        "numbers": {},
        "claims": [],
        "figures": [],
        "headline": None,
        "seconds": 0.0,
    }
    logger.info("experiment %s seed=%d quick=%s config=%s", name, seed, quick, record["config"])
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        result = exp.run(cfg, ctx)
        if not isinstance(result, Result):
            raise TypeError(f"experiment {name} returned {type(result).__name__}, not Result")
        record.update(
            status="ok",
            numbers=result.numbers,
            claims=[c.record() for c in result.claims],
            figures=list(dict.fromkeys(ctx.figures + result.figures)),
            figure_captions=ctx.figure_captions,
            headline=result.headline,
            notes=result.notes,
        )
        for c in result.claims:
            logger.info("claim %s: %s (%s)", c.verdict.upper(), c.name, c.evidence)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
        one_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        record.update(
            status="failed",
            error=f"{type(exc).__name__}: {one_line}",
            figures=list(ctx.figures),
            figure_captions=ctx.figure_captions,
        )
        if not isinstance(exc, SslabError):
            record["traceback"] = traceback.format_exc()
        logger.error("failed: %s\n%s", one_line, traceback.format_exc())
    record["seconds"] = round(time.perf_counter() - start, 3)
    atomic_write_json(out_dir / "result.json", record)
    logger.removeHandler(handler)
    handler.close()
    if error is not None and (raise_errors or isinstance(error, KeyboardInterrupt)):
        raise error
    return out_dir, record
