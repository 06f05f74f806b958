"""A run directory belongs to one trainer.

``sslab train`` claims its ``--out`` directory with a lock file, ``trainer.lock``, created
with ``O_CREAT | O_EXCL`` (atomic: of two trainers racing, exactly one creates it) and
holding the owner's host, PID and process start time as JSON. The lock is removed when the
trainer ends. A lock whose process is gone (killed with SIGKILL, machine rebooted) is stale and
is taken over; the take-over runs under an ``flock`` of the directory, so two trainers cannot
both replace the same stale lock. The start time tells a dead trainer from an unrelated
process that later received the same PID.

A directory that already holds files is only trained into with ``--resume``: without it the
trainer stops before writing anything (a run is never overwritten silently).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sslab.errors import ConfigError

LOCK = "trainer.lock"


def _start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux /proc), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: int | None

    def describe(self) -> str:
        return f"PID {self.pid}" + ("" if self.host == socket.gethostname() else f" on host {self.host}")

    def running(self) -> bool:
        """Whether the holder may still run (a lock of another host is assumed held)."""
        if self.host != socket.gethostname():
            return True
        if not _alive(self.pid):
            return False
        now = _start_ticks(self.pid)
        return self.started is None or now is None or now == self.started


def read_holder(run_dir: Path) -> Holder | None:
    """The trainer named in ``run_dir/trainer.lock`` (None: no lock; garbage: PID 0, stale)."""
    try:
        text = (run_dir / LOCK).read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["host"]), data.get("started"))
    except (ValueError, KeyError, TypeError):
        return Holder(0, socket.gethostname(), None)  # half-written by a killed trainer


def _contents(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir() if p.name != LOCK) if run_dir.is_dir() else []


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse (ConfigError, nothing written) a directory that holds a run when not resuming,
    or that a running trainer holds."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file; give a directory")
    holder = read_holder(run_dir)
    if holder is not None and holder.running():
        raise ConfigError(
            f"run directory {run_dir} is in use by the trainer with {holder.describe()} "
            f"(lock {run_dir / LOCK}); wait for it to finish or stop it"
        )
    files = _contents(run_dir)
    if files and not resume:
        shown = ", ".join(files[:3]) + (", …" if len(files) > 3 else "")
        raise ConfigError(
            f"--out {run_dir} already holds a run ({shown}); add --resume to continue it or choose a new --out"
        )


class RunDirLock:
    """The exclusive claim of one trainer on a run directory (a context manager)."""

    def __init__(self, run_dir: Path, resume: bool) -> None:
        self.run_dir = run_dir
        self.resume = resume
        self.created_dir = False
        self.held = False

    def acquire(self) -> RunDirLock:
        check_run_dir(self.run_dir, self.resume)
        self.created_dir = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self._create():
            self._take_over_if_stale()
        self.held = True
        return self

    def _create(self) -> bool:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_ticks(os.getpid())}
        try:
            fd = os.open(self.run_dir / LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(record))
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def _take_over_if_stale(self) -> None:
        dir_fd = os.open(self.run_dir, os.O_RDONLY)
        try:
            fcntl.flock(dir_fd, fcntl.LOCK_EX)  # one take-over at a time; released if we die
            holder = read_holder(self.run_dir)
            if holder is not None and holder.running():
                raise ConfigError(
                    f"run directory {self.run_dir} is in use by the trainer with {holder.describe()} "
                    f"(lock {self.run_dir / LOCK}); wait for it to finish or stop it"
                )
            if holder is not None:
                (self.run_dir / LOCK).unlink(missing_ok=True)
            if not self._create():
                raise ConfigError(f"run directory {self.run_dir} was claimed by another trainer; retry later")
        finally:
            os.close(dir_fd)  # also releases the flock

    def release(self) -> None:
        """Remove the lock if it is still ours; remove the directory if we created it and it
        stayed empty (a trainer that failed before writing leaves nothing behind)."""
        if not self.held:
            return
        self.held = False
        holder = read_holder(self.run_dir)
        if holder is not None and holder.pid == os.getpid():
            (self.run_dir / LOCK).unlink(missing_ok=True)
        if self.created_dir:
            try:
                self.run_dir.rmdir()
            except OSError:  # not empty: the run wrote something
                pass

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
