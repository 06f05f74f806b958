"""One static HTML page (no network, no JavaScript) summarising the latest run of every
experiment under a runs directory: a summary table of claims, then a section per
experiment with its figures (embedded as data URIs), numbers and config, then the latest
sweep of each experiment (``runs/sweeps/NAME/<ts>/sweep.json``) as a table and a figure."""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sslab import __version__
from sslab.io import atomic_write_text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:0}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.held{color:#0a7d28;font-weight:600}.not{color:#b45309;font-weight:600}.inc{color:#555;font-style:italic}
.failed{color:#c0152f;font-weight:600}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}.meta{color:#666;font-size:.9em}
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


def collect_latest(runs_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The newest finished result.json of each experiment; sweep points are shown with their sweep."""
    return _newest(runs_dir, "*/*/result.json", lambda r: r.get("status") == "running" or bool(r.get("sweep")))


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
            cells = [_fmt(p["overrides"].get(k)) for k in keys] + [str(p["seed"]), p["status"]]
            cells.append(f"{p.get('claims_held', 0)}/{p.get('claims_total', 0)}")
            cells += [_fmt(p["numbers"].get(m, "")) for m in metrics]
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    return "\n".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 12:
        return "[" + ", ".join(_fmt(v) for v in value[:12]) + f", … ({len(value)} values)]"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


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


def _headline(record: dict[str, Any]) -> str:
    key = record.get("headline")
    if key and key in record.get("numbers", {}):
        return f"{html.escape(key)} = {html.escape(_fmt(record['numbers'][key]))}"
    return ""


def _img(run_dir: Path, name: str) -> str:
    path = run_dir / name
    try:
        data = base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return f"<p class='failed'>figure {html.escape(name)} missing</p>"
    alt = html.escape(name)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f'<figcaption class="meta">{alt}</figcaption></figure>'
    )


def render(
    entries: list[tuple[Path, dict[str, Any]]],
    title: str = "sslab report",
    sweeps: list[tuple[Path, dict[str, Any]]] | None = None,
) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='meta'>sslab {__version__} · built {datetime.now(UTC):%Y-%m-%d %H:%M UTC} · "
        f"{len(entries)} experiments. Each row is one claim of a paper checked on the data named in "
        "its section. Verdicts: 'held' and 'not held' are decided by the pre-registered test shown "
        "next to each claim; 'inconclusive' means the seeds could not tell, or the deep runs did not "
        "beat the random-init encoder.</p>",
        "<h2>Summary</h2><table><tr><th>experiment</th><th>claim</th><th>status</th><th>key number</th>"
        "<th>seed</th><th>mode</th><th>seconds</th></tr>",
    ]
    for run_dir, rec in entries:
        name = html.escape(rec.get("experiment", run_dir.parent.name))
        mode = "quick" if rec.get("quick") else "full"
        tail = f"<td>{rec.get('seed')}</td><td>{mode}</td><td>{rec.get('seconds', 0):.1f}</td>"
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
                f"{_status_cell(verdict_of(c), False)}<td>{_headline(rec) if first else ''}</td>"
                f"{tail if first else '<td></td><td></td><td></td>'}</tr>"
            )
    parts.append("</table>")
    for run_dir, rec in entries:
        name = html.escape(rec.get("experiment", run_dir.parent.name))
        parts.append(f"<h2 id='{name}'>{name}</h2>")
        parts.append(
            f"<p class='meta'>run {html.escape(run_dir.name)} · seed {rec.get('seed')} · "
            f"{'quick' if rec.get('quick') else 'full'} mode · {rec.get('seconds', 0):.1f} s · "
            f"sslab {html.escape(str(rec.get('version')))}</p>"
        )
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
        for fig in rec.get("figures", []):
            parts.append(_img(run_dir, fig))
        if rec.get("numbers"):
            parts.append("<details><summary>numbers</summary><table>")
            for k, v in rec["numbers"].items():
                parts.append(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>")
            parts.append("</table></details>")
        parts.append(
            "<details><summary>config</summary><pre>"
            + html.escape(json.dumps(rec.get("config", {}), indent=2))
            + "</pre></details>"
        )
    parts.append(render_sweeps(sweeps or []))
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(runs_dir: str | Path = "runs", out: str | Path | None = None) -> Path:
    """Write ``<runs_dir>/report/index.html`` (or ``out``) and return its path."""
    runs_dir = Path(runs_dir)
    out = Path(out) if out else runs_dir / "report" / "index.html"
    atomic_write_text(out, render(collect_latest(runs_dir), sweeps=collect_sweeps(runs_dir)))
    return out
