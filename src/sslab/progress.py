"""One shared rich progress display, so nested loops (reproduce → experiment → sweep)
show stacked bars instead of fighting over the terminal.

``with live():`` is opened by the CLI; :func:`track` adds a bar to it when it is active and
otherwise iterates silently (library use, tests).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
_active: Progress | None = None
console = Console(stderr=True)


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
        console=console,
        transient=False,
        disable=not sys.stderr.isatty(),
    )
    _active = progress
    try:
        with progress:
            yield
    finally:
        _active = None


def track(iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar in the shared display (if open)."""
    if _active is None:
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    task = _active.add_task(description, total=total)
    try:
        for item in iterable:
            yield item
            _active.advance(task)
    finally:
        _active.remove_task(task)
