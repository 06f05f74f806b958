"""Which runs a report shows.

For every experiment the report shows its newest *complete* run (``status: ok``). Failed,
interrupted and unfinished runs never replace it: they are listed on their own, so a crash
or a Ctrl-C after a good run leaves the good result in place. An experiment with no complete
run at all is shown through its newest problem run, marked failed.

Directory names under ``runs/NAME/`` sort by start time (:func:`sslab.io.new_run_dir`).
Sweep points are shown with their sweep, not here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Run = tuple[Path, dict[str, Any]]


@dataclass
class Collected:
    """``latest``: one run per experiment (newest ok, else newest problem), sorted by name.
    ``problems``: failed / interrupted / unfinished runs newer than that experiment's newest
    complete run (or all of them when it has none), newest first."""

    latest: list[Run] = field(default_factory=list)
    problems: list[Run] = field(default_factory=list)


def read_record(path: Path) -> dict[str, Any] | None:
    """A result.json as a dict, or None when it is unreadable or not a JSON object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def collect_runs(runs_dir: str | Path) -> Collected:
    """Select what the report shows from ``runs_dir/*/*/result.json``."""
    by_exp: dict[str, list[Run]] = {}
    for path in sorted(Path(runs_dir).glob("*/*/result.json")):
        record = read_record(path)
        if record is None or record.get("sweep"):
            continue
        name = str(record.get("experiment") or path.parent.parent.name)
        by_exp.setdefault(name, []).append((path.parent, record))
    out = Collected()
    for name in sorted(by_exp):
        runs = by_exp[name]  # oldest first
        ok = [i for i, (_, r) in enumerate(runs) if r.get("status") == "ok"]
        if ok:
            out.latest.append(runs[ok[-1]])
            out.problems += runs[ok[-1] + 1 :]
        else:
            out.latest.append(runs[-1])
            out.problems += runs
    out.problems.sort(key=lambda run: run[0].name, reverse=True)
    return out


def verdict_counts(record: dict[str, Any]) -> dict[str, int]:
    """How many claims of a run are held / not held / inconclusive."""
    from sslab.report.html import verdict_of

    counts = {"held": 0, "not held": 0, "inconclusive": 0}
    for claim in record.get("claims") or []:
        v = verdict_of(claim)
        counts[v] = counts.get(v, 0) + 1
    return counts
