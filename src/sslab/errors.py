"""User-facing errors: one line that names the problem and what to do.

The CLI prints `error: <message>` for any :class:`SslabError` and exits with code 2;
everything else is a bug and keeps its traceback.
"""

import signal
from pathlib import Path


class SslabError(Exception):
    """Base class of the errors a user can fix (bad input, bad config, missing data)."""


class ConfigError(SslabError, ValueError):
    """A configuration value is unknown, malformed or outside its allowed range."""


class DataError(SslabError, ValueError):
    """A dataset file is missing, truncated, corrupt or laid out differently than expected."""


class ShapeError(SslabError, ValueError):
    """An array has a shape the operation cannot accept (e.g. image size not divisible by patch)."""


class RankError(SslabError, ValueError):
    """A requested embedding width exceeds the numerical rank of the data."""


class OutputError(SslabError, OSError):
    """The output location cannot be written (read-only, full, or not a directory)."""


class NonFiniteLossError(SslabError, FloatingPointError):
    """Training produced a NaN or infinite loss."""


class RunInterrupted(BaseException):
    """SIGTERM / SIGINT stopped a run; its result.json (status interrupted) is written.

    A BaseException like KeyboardInterrupt, so ``except Exception`` in experiment code does
    not swallow it."""

    def __init__(self, signum: int, run_dir: Path | None = None) -> None:
        self.signum = signum
        self.run_dir = run_dir
        name = signal.Signals(signum).name
        where = f"; the partial run is flagged in {run_dir / 'result.json'}" if run_dir else ""
        super().__init__(f"interrupted by {name}{where}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + signal number."""
        return 128 + self.signum
