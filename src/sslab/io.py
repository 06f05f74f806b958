"""Crash-safe file output: every file is written to a temporary sibling, fsynced and renamed.

A reader therefore sees either the previous complete file or the new complete file, never
a half-written one, even if the process is killed mid-write (POSIX rename is atomic).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sslab.errors import OutputError


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(path: Path) -> tuple[int, Path]:
    """Create ``.name.<random>.tmp`` beside ``path`` exclusively, mode 0666 minus the umask.

    ``tempfile.mkstemp`` would create it 0600, and the rename would carry that mode over to
    the final file; every file sslab writes is meant to be as readable as any other file the
    user creates (0644 under the usual umask 022)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename + dir fsync).

    The file gets mode 0666 minus the process umask. Whatever stops the write (a full disk,
    a signal, KeyboardInterrupt) removes the temporary file and leaves ``path`` as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _output_error(path, exc) from None
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def output_error(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one-line error for an OSError while writing ``path`` (full disk, read-only, ...)."""
    return _output_error(Path(path), exc)


def _output_error(path: Path, exc: OSError) -> OutputError:
    if exc.errno == errno.ENOSPC:
        why = "the disk is full"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied (read-only location?)"
    elif exc.errno == errno.ENOTDIR:
        why = "a parent path is a file, not a directory"
    else:
        why = exc.strerror or str(exc)
    return OutputError(f"cannot write {path}: {why}; choose another --out directory or free space")


def new_run_dir(root: str | os.PathLike[str], name: str) -> Path:
    """Create and return a fresh ``root/name/<UTC timestamp>[-n]`` directory.

    ``os.mkdir`` is atomic, so two runs started at the same instant on the same root get
    different directories and never overwrite each other.
    """
    base = Path(root) / name
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(base, exc) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    for n in range(1000):
        candidate = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise _output_error(candidate, exc) from None
    raise OutputError(f"cannot create a unique run directory under {base}; clean it up")


def discard_run_dir(run_dir: str | os.PathLike[str]) -> None:
    """Remove a run directory that must not count as a run (its input was bad).

    It is first renamed to a hidden sibling (one atomic step, so no reader ever sees it half
    deleted), then deleted; its experiment folder goes too if that leaves it empty."""
    run_dir = Path(run_dir)
    trash = run_dir.parent / f".{run_dir.name}.discarded-{secrets.token_hex(4)}"
    try:
        os.replace(run_dir, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)
    try:
        run_dir.parent.rmdir()  # only succeeds when empty
    except OSError:
        pass
