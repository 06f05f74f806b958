"""One static HTML page (no JavaScript, nothing loaded from the network) summarising the latest
complete run of every experiment under a runs directory (see :mod:`sslab.report.collect`):
a summary table of claims, then a section per experiment (what data, sizes, budget and paper;
the claims with their pre-registered tests; captioned figures embedded as data URIs; per-arm
seed statistics; numbers; config), the failed and interrupted runs, and the latest sweep of
each experiment (``runs/sweeps/NAME/<ts>/sweep.json``).

Only PNG files that resolve to a path inside their run directory are embedded: a ``figures``
entry such as ``/etc/hostname`` or ``../../x.png`` is shown as refused, never read."""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sslab import __version__
from sslab.io import atomic_write_text
from sslab.report.collect import Run, select_runs
from sslab.report.describe import (
    figure_caption,
    headline_text,
    is_seed_record,
    readable_name,
    section_paragraph,
    seed_text,
    value_text,
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:0}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.held{color:#0a7d28;font-weight:600}.not{color:#b45309;font-weight:600}.inc{color:#555;font-style:italic}
td.held,td.not,td.inc,td.failed{white-space:nowrap}
.failed{color:#c0152f;font-weight:600}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}.meta{color:#666;font-size:.9em}
figure{margin:1em 0}figcaption{color:#444;font-size:.9em;max-width:900px}dl.about{margin:.5em 0}
dl.about dt{font-weight:600;float:left;clear:left;width:5.5em}dl.about dd{margin:0 0 .2em 6em}
"""


def _newest(runs_dir: Path, pattern: str, skip=lambda record: False) -> list[tuple[Path, dict[str, Any]]]:
    """The newest readable record matching ``pattern`` per experiment (directory names sort by time)."""
    latest: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(Path(runs_dir).glob(pattern)):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not skip(record):
            latest[record.get("experiment", path.parent.parent.name)] = (path.parent, record)
    return [latest[k] for k in sorted(latest)]


def collect_latest(runs_dir: Path) -> list[Run]:
    """The run the report shows for each experiment: its newest complete one (see select_runs)."""
    return select_runs(runs_dir).latest


def collect_sweeps(runs_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The newest readable sweep.json of each experiment."""
    return _newest(runs_dir, "sweeps/*/*/sweep.json")


def render_sweeps(sweeps: list[tuple[Path, dict[str, Any]]]) -> str:
    from sslab.experiments.sweep import plotted_metrics

    parts = ["<h2 id='sweeps'>Sweeps</h2>"] if sweeps else []
    for sweep_dir, rec in sweeps:
        keys = list(rec.get("grid", {}))
        metrics = plotted_metrics(rec, limit=6)
        parts.append(
            f"<h3>{html.escape(rec.get('sweep', sweep_dir.name))}</h3><p class='meta'>"
            f"{len(rec.get('points', []))} runs · seeds {rec.get('seeds')} · "
            f"{'quick' if rec.get('quick') else 'full'} mode · backend {html.escape(str(rec.get('backend')))} · "
            f"{rec.get('seconds', 0):.1f} s</p>"
        )
        for fig in rec.get("figures", []):
            parts.append(_img(sweep_dir, fig))
        head = "".join(f"<th>{html.escape(k)}</th>" for k in [*keys, "seed", "status", "claims held", *metrics])
        parts.append(f"<table><tr>{head}</tr>")
        for p in rec.get("points", []):
            cells = [value_text(p["overrides"].get(k)) for k in keys] + [str(p["seed"]), p["status"]]
            cells.append(f"{p.get('claims_held', 0)}/{p.get('claims_total', 0)}")
            cells += [value_text(p["numbers"].get(m, "")) for m in metrics]
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    return "\n".join(parts)


def verdict_of(claim: dict[str, Any]) -> str:
    """A claim record's verdict; records written before verdicts were three-valued carry only ``held``."""
    if "verdict" in claim:
        return str(claim["verdict"])
    return "held" if claim.get("held") else "not held"


_VERDICT_CLASS = {"held": "held", "not held": "not", "inconclusive": "inc", "no claim": "inc"}


def _status_cell(verdict: str | None, failed: bool) -> str:
    if failed:
        return '<td class="failed">failed</td>'
    v = verdict or "no claim"
    return f'<td class="{_VERDICT_CLASS.get(v, "inc")}">{html.escape(v)}</td>'


def resolve_figure(run_dir: Path, name: str) -> Path | None:
    """The PNG ``name`` of a run, or None unless it is a file inside ``run_dir`` (no absolute
    paths, no ``..`` escapes, no symlinks pointing out)."""
    if not isinstance(name, str) or not name.lower().endswith(".png"):
        return None
    root = run_dir.resolve()
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError):
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


def _img(run_dir: Path, name: str, caption: str | None = None) -> str:
    path = resolve_figure(run_dir, name)
    if path is None:
        return f"<p class='failed'>figure {html.escape(str(name))} not shown: not a PNG inside the run directory</p>"
    try:
        data = base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return f"<p class='failed'>figure {html.escape(name)} missing</p>"
    cap = html.escape(caption or name)
    return (
        f'<figure><img alt="{cap}" src="data:image/png;base64,{data}">'
        f'<figcaption>{cap} <span class="meta">[{html.escape(name)}]</span></figcaption></figure>'
    )


def render_arms(numbers: dict[str, Any]) -> str:
    """``numbers.arms.<arm>.<metric>`` seed records as one table: arm × metric, mean ± CI (n seeds)."""
    arms = numbers.get("arms")
    if not isinstance(arms, dict) or not arms:
        return ""
    metrics = list(dict.fromkeys(m for rec in arms.values() if isinstance(rec, dict) for m in rec
                                 if is_seed_record(rec[m])))
    if not metrics:
        return ""
    head = "".join(f"<th>{html.escape(readable_name(m))}</th>" for m in metrics)
    rows = [f"<table class='arms'><tr><th>arm</th>{head}</tr>"]
    for arm, rec in arms.items():
        cells = "".join(
            f"<td>{html.escape(seed_text(rec[m]))}</td>" if isinstance(rec, dict) and is_seed_record(rec.get(m))
            else "<td>—</td>"
            for m in metrics
        )
        rows.append(f"<tr><td>{html.escape(readable_name(str(arm)))}</td>{cells}</tr>")
    rows.append("</table><p class='meta'>mean ± half-width of the 95% Student-t interval over seeds; "
                "one seed has no interval.</p>")
    return "".join(rows)


def render_problems(problems: list[Run]) -> str:
    """Failed, interrupted and unfinished runs, newest first; they never replace a complete run."""
    if not problems:
        return ""
    parts = [
        "<h2 id='problems'>Interrupted and failed runs</h2><p class='meta'>Runs that did not complete. "
        "They are not used above: each experiment shows its newest complete run.</p>",
        "<table><tr><th>experiment</th><th>run</th><th>status</th><th>error</th><th>seconds</th></tr>",
    ]
    for run_dir, rec in problems:
        status = str(rec.get("status"))
        parts.append(
            f"<tr><td>{html.escape(str(rec.get('experiment', run_dir.parent.name)))}</td>"
            f"<td>{html.escape(run_dir.name)}</td><td class='failed'>{html.escape(status)}</td>"
            f"<td>{html.escape(str(rec.get('error') or ''))}</td><td>{_seconds(rec)}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def _seconds(rec: dict[str, Any]) -> str:
    value = rec.get("seconds")
    return f"{value:.1f}" if isinstance(value, int | float) else ""


def _papers() -> dict[str, str]:
    """Experiment name → its registry ``paper`` field (empty for experiments no longer registered)."""
    from sslab.experiments import load_all

    return {name: exp.paper for name, exp in load_all().items()}


def _about(rec: dict[str, Any], paper: str) -> str:
    items = []
    for label, text, link in section_paragraph(rec, paper):
        body = html.escape(text)
        if link:
            body = f"<a href='{html.escape(link)}'>{body}</a>"
        items.append(f"<dt>{html.escape(label)}</dt><dd>{body}</dd>")
    return f"<dl class='about'>{''.join(items)}</dl>"


def render(
    entries: list[Run],
    title: str = "sslab report",
    sweeps: list[Run] | None = None,
    problems: list[Run] | None = None,
) -> str:
    papers = _papers()
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='meta'>sslab {__version__} · built {datetime.now(UTC):%Y-%m-%d %H:%M UTC} · "
        f"{len(entries)} experiments. Each row is one claim of a paper checked on the data named in "
        "its section. Verdicts: 'held' and 'not held' are decided by the pre-registered test shown "
        "next to each claim; 'inconclusive' means the seeds could not tell, or the deep runs did not "
        "beat the random-init encoder.</p>",
        "<h2>Summary</h2><table><tr><th>experiment</th><th>claim</th><th>verdict</th><th>key number</th>"
        "<th>seed</th><th>mode</th><th>seconds</th></tr>",
    ]
    for run_dir, rec in entries:
        name = html.escape(rec.get("experiment", run_dir.parent.name))
        mode = "quick" if rec.get("quick") else "full"
        tail = f"<td>{rec.get('seed')}</td><td>{mode}</td><td>{_seconds(rec)}</td>"
        link = f"<a href='#{name}'>{name}</a>"
        if rec.get("status") != "ok":
            err = html.escape(str(rec.get("error", "unknown error")))
            parts.append(f"<tr><td>{link}</td><td>{err}</td>{_status_cell(None, True)}<td></td>{tail}</tr>")
            continue
        claims = rec.get("claims") or [{"name": "(this experiment states no claim)", "verdict": "no claim"}]
        for i, c in enumerate(claims):
            first = i == 0
            parts.append(
                f"<tr><td>{link if first else ''}</td><td>{html.escape(c['name'])}</td>"
                f"{_status_cell(verdict_of(c), False)}<td>{html.escape(headline_text(rec)) if first else ''}</td>"
                f"{tail if first else '<td></td><td></td><td></td>'}</tr>"
            )
    parts.append("</table>")
    for run_dir, rec in entries:
        name = html.escape(rec.get("experiment", run_dir.parent.name))
        parts.append(f"<h2 id='{name}'>{name}</h2>")
        parts.append(
            f"<p class='meta'>run {html.escape(run_dir.name)} · seed {rec.get('seed')} · "
            f"{'quick' if rec.get('quick') else 'full'} mode · {_seconds(rec)} s · "
            f"sslab {html.escape(str(rec.get('version')))}</p>"
        )
        parts.append(_about(rec, papers.get(str(rec.get("experiment")), "")))
        if rec.get("status") != "ok":
            parts.append(f"<p class='failed'>failed: {html.escape(str(rec.get('error')))}</p>")
            if rec.get("traceback"):
                parts.append(f"<pre>{html.escape(rec['traceback'])}</pre>")
        if rec.get("notes"):
            parts.append(f"<p>{html.escape(rec['notes'])}</p>")
        if rec.get("claims"):
            parts.append("<table><tr><th>claim</th><th>verdict</th><th>pre-registered test</th><th>evidence</th></tr>")
            for c in rec["claims"]:
                parts.append(
                    f"<tr><td>{html.escape(c['name'])}</td>{_status_cell(verdict_of(c), False)}"
                    f"<td>{html.escape(c.get('test') or '—')}</td><td>{html.escape(c['evidence'])}</td></tr>"
                )
            parts.append("</table>")
        for fig in rec.get("figures") or []:
            parts.append(_img(run_dir, fig, figure_caption(rec, fig)))
        numbers = rec.get("numbers") or {}
        parts.append(render_arms(numbers))
        shown = {k: v for k, v in numbers.items() if k != "arms"}
        if shown:
            parts.append("<details><summary>numbers</summary><table>")
            for k, v in shown.items():
                parts.append(f"<tr><td>{html.escape(readable_name(k))}</td><td>{html.escape(value_text(v))}</td></tr>")
            parts.append("</table></details>")
        parts.append(
            "<details><summary>config</summary><pre>"
            + html.escape(json.dumps(rec.get("config", {}), indent=2))
            + "</pre></details>"
        )
    parts.append(render_problems(problems or []))
    parts.append(render_sweeps(sweeps or []))
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(runs_dir: str | Path = "runs", out: str | Path | None = None) -> Path:
    """Write ``<runs_dir>/report/index.html`` (or ``out``) and return its path."""
    runs_dir = Path(runs_dir)
    out = Path(out) if out else runs_dir / "report" / "index.html"
    collected = select_runs(runs_dir)
    atomic_write_text(out, render(collected.latest, sweeps=collect_sweeps(runs_dir), problems=collected.problems))
    return out
