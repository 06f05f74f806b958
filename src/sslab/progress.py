"""Where sslab's output goes, and one shared progress display.

* Results (tables, verdicts, JSON) go to **stdout** through :data:`out` / :func:`emit` /
  :func:`emit_json`, so ``sslab eval DIR --json > f.json`` or ``sslab list --json | jq`` work.
* Progress, logs and errors go to **stderr** through :data:`console`.

``with live():`` is opened by the CLI. :func:`track` adds a bar to it when it is open and
otherwise iterates silently (library use, tests). Nested loops (reproduce → experiment →
training epochs) show stacked bars.

A loop reports its current numbers with :func:`note` (``note(loss=0.31, img_s=2400)``):

* on a terminal they appear at the end of the innermost bar (loss and throughput in the bar);
* when stderr is not a terminal (CI, ``nohup``, a pipe) there are no bars, and every iteration
  of a loop that called :func:`note` prints one plain line instead, e.g.
  ``epochs 3/50  loss 0.3127  img/s 2410  0:00:12``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
console = Console(stderr=True)
out = Console(soft_wrap=True)
_active: Progress | None = None
_stack: list[TaskID] = []  # open tasks, innermost last
_noted: dict[TaskID, dict[str, Any]] = {}


def emit(text: str = "", markup: bool = True) -> None:
    """Print a result line on stdout."""
    out.print(text, markup=markup, highlight=False)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (one document, no markup, NaN written as null)."""
    sys.stdout.write(json.dumps(_finite(obj), indent=2, default=str) + "\n")
    sys.stdout.flush()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def is_interactive() -> bool:
    """True when progress bars are drawn (stderr is a terminal)."""
    return console.is_terminal


@contextlib.contextmanager
def live(enabled: bool = True) -> Iterator[None]:
    """Open the shared progress display for the duration of the block."""
    global _active
    if not enabled or _active is not None:
        yield
        return
    progress = Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
        disable=not is_interactive(),
    )
    _active = progress
    try:
        with progress:
            yield
    finally:
        _active = None
        _stack.clear()
        _noted.clear()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def _info(fields: dict[str, Any]) -> str:
    return "  ".join(f"{k[:-2] + '/s' if k.endswith('_s') else k} {_fmt(v)}" for k, v in fields.items())


def note(**fields: Any) -> None:
    """Attach current numbers (loss, throughput, ...) to the innermost open bar."""
    if _active is None or not _stack:
        return
    task = _stack[-1]
    _noted.setdefault(task, {}).update(fields)
    _active.update(task, info=_info(_noted[task]))


def track(iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar in the shared display (if open)."""
    if _active is None:
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    task = _active.add_task(description, total=total, info="")
    _stack.append(task)
    start = time.perf_counter()
    done = 0
    try:
        for item in iterable:
            yield item
            done += 1
            _active.advance(task)
            if not is_interactive() and task in _noted:
                _line(description, done, total, _noted.pop(task), time.perf_counter() - start)
    finally:
        _stack.remove(task)
        _noted.pop(task, None)
        if _active is not None:
            _active.remove_task(task)


def _line(description: str, done: int, total: int | None, fields: dict[str, Any], seconds: float) -> None:
    count = f"{done}/{total}" if total is not None else str(done)
    elapsed = time.strftime("%H:%M:%S", time.gmtime(seconds)).removeprefix("00:")
    console.print(f"{description} {count}  {_info(fields)}  {elapsed}", markup=False, highlight=False)
