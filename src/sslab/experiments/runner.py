"""Run registered experiments into ``runs/NAME/<timestamp>/`` and record what happened.

Every run directory holds ``result.json`` (schema below), its PNG figures and ``log.txt``.
A failing experiment still writes a result with ``status: "failed"`` and the error, so
``sslab reproduce`` goes on and the report shows the failure. SIGTERM or SIGINT (Ctrl-C)
during a run writes ``status: "interrupted"`` (atomically, like every file) and then raises
:class:`RunInterrupted`, which the CLI turns into the conventional exit code 128 + signal
(143 for SIGTERM, 130 for SIGINT).

result.json: {"experiment", "version", "status" (ok | failed | interrupted), "seed", "quick", "config",
"overrides", "sweep", "numbers", "claims": [{"name", "verdict", "held", "test", "evidence"}], "figures",
"figure_captions": {file: caption}, "headline", "seconds", "error"?, "signal"?}

:func:`collect_runs` reads a runs directory back: the newest complete result per experiment and,
separately, every failed or interrupted run, so a report never shows a failed or interrupted run
in place of a complete one.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from sslab import __version__
from sslab.config import build_config
from sslab.errors import ConfigError, DataError, OutputError, RunInterrupted, SslabError
from sslab.experiments.base import REGISTRY, Experiment, Result, RunContext
from sslab.io import atomic_write_json, discard_run_dir, new_run_dir, output_error

PROBLEM_STATUSES = ("failed", "interrupted")


class _SignalGuard:
    """While active (main thread only), SIGTERM and SIGINT raise :class:`RunInterrupted`.

    Once one signal has been raised, or ``armed`` is cleared before the result is written,
    later signals are remembered in ``pending`` instead, so nothing interrupts the write of
    result.json; the caller re-raises them afterwards."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.armed = True
        self.pending: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            self.armed = False
            raise RunInterrupted(signum)
        self.pending = self.pending or signum

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _RunLog(logging.FileHandler):
    """``log.txt`` of one run. A failed write (a full disk) is remembered in ``error`` and the
    handler goes quiet, instead of logging's default of printing a traceback to stderr for
    every later message; the runner turns ``error`` into one line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.error: OSError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.error is None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # not the disk: a bad log call is a bug, shown as usual
            super().handleError(record)
        elif self.error is None:
            self.error = exc

    def close(self) -> None:
        try:
            super().close()  # flushes: the last write may fail here
        except OSError as exc:
            self.error = self.error or exc


def get_experiment(name: str) -> Experiment:
    from sslab.experiments import load_all

    load_all()
    if name not in REGISTRY:
        raise ConfigError(f"unknown experiment {name!r}; run 'sslab list' (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name]


def resolve_config(exp: Experiment, quick: bool, overrides: Mapping[str, Any]) -> Any:
    layers: list[Mapping[str, Any]] = [exp.quick] if quick else []
    return build_config(exp.config, *layers, overrides, experiment=exp.name)


MAX_SEED = 2**31 - 1  # experiments add offsets (seed + 1000·i + n); all must stay valid for numpy and torch


def check_seed(seed: object) -> int:
    """A seed is an int in [0, MAX_SEED]; anything else is a one-line ConfigError."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed!r}; e.g. --seed 0")
    return seed


def check_data(cfg: Any, data_dir: str | Path | None) -> None:
    """Refuse a dataset that cannot be loaded before anything is written: a ``--data-dir`` whose
    layout does not fit the config's dataset (file names and sizes only; contents are checked
    when the experiment loads them), an unknown dataset, or one that needs ``--data-dir``
    without it."""
    if "dataset" not in type(cfg).model_fields:
        return
    from sslab.data import check_data_layout

    check_data_layout(cfg.dataset, data_dir)


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

    Config errors and a ``data_dir`` of the wrong layout raise before anything is written. A
    :class:`~sslab.errors.DataError` during the run (a corrupt file) is bad input too: the run
    directory is removed and the error re-raised, so nothing is left behind. Other errors
    during the run are recorded in result.json; with ``raise_errors`` they are re-raised after
    recording. SIGTERM / SIGINT record ``status: interrupted`` and raise
    :class:`~sslab.errors.RunInterrupted`. ``sweep`` tags the run as one point of that sweep
    (see :mod:`sslab.experiments.sweep`).
    """
    exp = get_experiment(name)
    check_seed(seed)
    overrides = dict(overrides or {})
    cfg = resolve_config(exp, quick, overrides)
    check_data(cfg, data_dir)
    out_dir = new_run_dir(out_root, name)
    logger = logging.getLogger(f"sslab.run.{name}.{out_dir.name}")
    logger.setLevel(logging.INFO)
    try:
        handler = _RunLog(out_dir / "log.txt")
    except OSError as exc:
        discard_run_dir(out_dir)
        raise output_error(out_dir / "log.txt", exc) from None
    logger.addHandler(handler)

    def give_up(error: OutputError) -> OutputError:
        """Nothing of this run can be recorded (e.g. the disk is full): remove what there is."""
        logger.removeHandler(handler)
        handler.close()
        discard_run_dir(out_dir)
        return error

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
    if handler.error is not None:  # e.g. the disk is full: fail now, not after the whole run
        raise give_up(output_error(out_dir / "log.txt", handler.error))
    start = time.perf_counter()
    error: BaseException | None = None
    with _SignalGuard() as guard:
        try:
            try:
                result = exp.run(cfg, ctx)
                if not isinstance(result, Result):
                    raise TypeError(f"experiment {name} returned {type(result).__name__}, not Result")
            finally:
                guard.armed = False  # from here on a signal waits until result.json is written
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
        except (RunInterrupted, KeyboardInterrupt) as exc:
            guard.armed = False
            signum = exc.signum if isinstance(exc, RunInterrupted) else int(signal.SIGINT)
            error = RunInterrupted(signum, out_dir)
            sig_name = signal.Signals(signum).name
            record.update(status="interrupted", error=f"interrupted by {sig_name}", signal=sig_name,
                          figures=list(ctx.figures), figure_captions=ctx.figure_captions)
            logger.warning("interrupted by %s", sig_name)
        except DataError as exc:  # bad input found while loading: no run happened
            logger.removeHandler(handler)
            handler.close()
            discard_run_dir(out_dir)
            raise exc from None
        except Exception as exc:
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
        if handler.error is not None:
            record["log_error"] = f"log.txt is incomplete: {output_error(out_dir / 'log.txt', handler.error)}"
        try:
            atomic_write_json(out_dir / "result.json", record)
        except OutputError as exc:
            raise give_up(exc) from None
        logger.removeHandler(handler)
        handler.close()
    if isinstance(error, RunInterrupted):
        raise error
    if guard.pending is not None:  # the run finished, then a signal came while its result was written
        raise RunInterrupted(guard.pending, out_dir)
    if error is not None and raise_errors:
        raise error
    return out_dir, record


def collect_runs(runs_dir: str | Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[tuple[Path, dict[str, Any]]]]:
    """Read ``runs_dir/NAME/<timestamp>/result.json`` back.

    Returns ``(latest_ok, problems)``: ``latest_ok`` holds, per experiment (sorted by name), the
    newest run whose status is ``ok``; a newer failed or interrupted run never replaces it.
    ``problems`` holds every failed or interrupted run, oldest first within each experiment.
    Each entry is ``(run directory, record)``. Sweep points (records tagged with a sweep) belong
    to their sweep and are left out; unreadable files and runs without result.json (still
    running, or killed with SIGKILL) are skipped.
    """
    latest: dict[str, tuple[Path, dict[str, Any]]] = {}
    problems: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(Path(runs_dir).glob("*/*/result.json")):  # directory names sort by time
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or record.get("sweep"):
            continue
        status = record.get("status")
        if status == "ok":
            latest[str(record.get("experiment", path.parent.parent.name))] = (path.parent, record)
        elif status in PROBLEM_STATUSES:
            problems.append((path.parent, record))
    return [latest[k] for k in sorted(latest)], problems
