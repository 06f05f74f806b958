"""Which runs a report (and ``sslab list``) shows.

:func:`sslab.experiments.runner.collect_runs` reads the runs back: the newest complete run of
each experiment, and the failed or interrupted runs apart, so a crash or a Ctrl-C after a good
run never replaces it. On top of that, an experiment with no complete run at all is shown
through its newest failed or interrupted run (marked failed in the summary), and the problem
runs are listed newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Run = tuple[Path, dict[str, Any]]


@dataclass
class Shown:
    """``latest``: one run per experiment, sorted by name. ``problems``: every failed or
    interrupted run, newest first."""

    latest: list[Run] = field(default_factory=list)
    problems: list[Run] = field(default_factory=list)


def _name(run: Run) -> str:
    return str(run[1].get("experiment") or run[0].parent.name)


def select_runs(runs_dir: str | Path) -> Shown:
    """The runs the report shows, from ``runs_dir/*/*/result.json``."""
    from sslab.experiments.runner import collect_runs

    latest_ok, problems = collect_runs(runs_dir)
    complete = {_name(run) for run in latest_ok}
    newest_problem = {_name(run): run for run in sorted(problems, key=lambda run: run[0].name)}
    only_failed = [run for name, run in newest_problem.items() if name not in complete]
    return Shown(
        latest=sorted(latest_ok + only_failed, key=_name),
        problems=sorted(problems, key=lambda run: run[0].name, reverse=True),
    )


def verdict_counts(record: dict[str, Any]) -> dict[str, int]:
    """How many claims of a run are held / not held / inconclusive."""
    from sslab.report.html import verdict_of

    counts = {"held": 0, "not held": 0, "inconclusive": 0}
    for claim in record.get("claims") or []:
        v = verdict_of(claim)
        counts[v] = counts.get(v, 0) + 1
    return counts
