"""Resident memory of a process tree, read from /proc (Linux), and a sampler of its peak.

The tree's RSS is the sum of VmRSS over the process and all its descendants (DataLoader
workers, torchrun children). Pages shared after fork are counted once per process, so the
sum is an upper bound of the memory the tree really holds.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int | None = None) -> int:
    """Bytes resident in ``pid`` (default: this process) and all its descendants."""
    kids = _children()
    todo, total = [pid or os.getpid()], 0
    while todo:
        p = todo.pop()
        total += _rss(p)
        todo += kids.get(p, [])
    return total


class PeakTreeRSS:
    """``with PeakTreeRSS(pid) as peak: ...`` samples the tree's RSS every ``interval`` s; ``peak.bytes``."""

    def __init__(self, pid: int | None = None, interval: float = 0.2) -> None:
        self.pid, self.interval, self.bytes = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.bytes = max(self.bytes, tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakTreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.bytes = max(self.bytes, tree_rss(self.pid)) if self.pid is None else self.bytes


def wait_and_sample(proc, interval: float = 0.2) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Wait for a ``subprocess.Popen`` while sampling its tree; (return code, peak bytes)."""
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(interval)
    return proc.returncode, peak
