"""The ``sslab`` command line: list, config, run, reproduce, sweep, report, doctor, and the deep
pipeline's train / eval. Results go to stdout (``--json`` for machine-readable output),
progress and errors to stderr. Any user error prints one line and exits with 2."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from sslab import __version__
from sslab.config import parse_assignments
from sslab.errors import ConfigError, DataError, RunInterrupted, SslabError
from sslab.progress import console, emit, emit_json, live, track
from sslab.progress import out as stdout

app = typer.Typer(
    name="sslab",
    help="sslab: self-supervised learning by reconstruction vs joint embedding — runnable theory "
    "and comparable deep SSL.\n\nExamples:\n\n  sslab list\n\n  sslab config alignment\n\n"
    "  sslab run alignment --quick\n\n"
    "  sslab sweep umae-lambda --quick --grid epochs=2,4 --workers 2\n\n"
    "  sslab reproduce --quick\n\n  sslab report runs\n\n"
    "Results are printed on stdout (add --json for machine-readable output); progress and errors "
    "on stderr.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
F = TypeVar("F", bound=Callable[..., Any])


def _version(value: bool) -> None:
    if value:
        emit(f"sslab {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the sslab version and exit."),
    ] = False,
) -> None:
    """sslab: self-supervised learning by reconstruction vs joint embedding."""


def user_errors(fn: F) -> F:
    """Turn SslabError into `error: <one line>` and exit code 2, and an interrupted run
    (its result.json already flagged) into one line and exit code 128 + signal."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SslabError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except RunInterrupted as exc:
            console.print(f"[bold yellow]{escape(str(exc))}[/]", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _check_data_dir(data_dir: Path | None) -> None:
    if data_dir is not None and not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} does not exist or is not a directory")


def _overrides_for(name: str, sets: list[str], data_dir: Path | None, base: dict[str, Any] | None = None) -> dict:
    from sslab.experiments.runner import get_experiment

    overrides = {**(base or {}), **parse_assignments(sets)}
    exp = get_experiment(name)
    if data_dir is not None and "dataset" in exp.config.model_fields and "dataset" not in overrides:
        overrides["dataset"] = "auto"
    return overrides


def _complete_experiment(incomplete: str) -> list[str]:
    from sslab.experiments import load_all

    return [n for n in sorted(load_all()) if n.startswith(incomplete)]


NameArg = Annotated[
    str, typer.Argument(help="Experiment name (see `sslab list`).", autocompletion=_complete_experiment)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value: --set key=value (repeatable)."),
]
SeedOpt = Annotated[int, typer.Option(help="Random seed (recorded in result.json).")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="Small, fast settings (minutes on a laptop).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Root directory of runs.")]
DataOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder with CIFAR-10/100, STL-10 or an image-folder tree."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON document on stdout.")]
RunsOpt = Annotated[Path, typer.Option("--runs", help="Runs directory whose latest verdicts are shown.")]


def _wrap(text: str, width: int, indent: str) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent) or [indent]


@app.command("list")
@user_errors
def list_cmd(runs: RunsOpt = Path("runs"), as_json: JsonOpt = False) -> None:
    """List experiments: name, paper, the claim it checks, runtime estimates and, when RUNS
    holds runs, the verdicts of the latest complete run.

    Example: sslab list --runs runs
    """
    from sslab.experiments import load_all
    from sslab.report.collect import select_runs, verdict_counts

    latest = {}
    if runs.is_dir():
        latest = {r.get("experiment"): (d, r) for d, r in select_runs(runs).latest if r.get("status") == "ok"}
    rows = []
    for exp in sorted(load_all().values(), key=lambda e: e.name):
        row: dict[str, Any] = {"name": exp.name, "paper": exp.paper, "claim": exp.claim,
                               "quick_time": exp.quick_time, "full_time": exp.full_time, "latest": None}
        if exp.name in latest:
            run_dir, rec = latest[exp.name]
            row["latest"] = {"run_dir": str(run_dir), "quick": bool(rec.get("quick")),
                             "verdicts": verdict_counts(rec)}
        rows.append(row)
    if as_json:
        emit_json(rows)
        return
    width = max(40, min(stdout.width, 100))
    for row in rows:
        head, *rest = _wrap(f"{row['name']}  {row['paper']}", width, "")
        emit(f"[bold]{escape(head[: len(row['name'])])}[/][dim]{escape(head[len(row['name']) :])}[/]")
        for line in rest:
            emit(f"[dim]{escape(line)}[/]")
        for line in _wrap(row["claim"], width, "  "):
            emit(escape(line))
        times = f"quick {row['quick_time']} · full {row['full_time']}"
        if row["latest"]:
            v = row["latest"]["verdicts"]
            times += f" · latest: {v['held']} held, {v['not held']} not held, {v['inconclusive']} inconclusive"
        for line in _wrap(times, width, "  "):
            emit(escape(line))
    emit(f"{len(rows)} experiments · run one: sslab run NAME --quick · settings: sslab config NAME")


@app.command("config")
@user_errors
def config_cmd(name: NameArg, as_json: JsonOpt = False) -> None:
    """Print an experiment's config keys: type and allowed range, default, and quick-mode value.

    Any key can be changed with `sslab run NAME --set key=value` or a --config file.

    Example: sslab config alignment
    """
    from sslab.config import describe_range
    from sslab.experiments.runner import get_experiment

    exp = get_experiment(name)
    rows = []
    for key, info in exp.config.model_fields.items():
        default = info.get_default(call_default_factory=True)
        rows.append({"key": key, "allowed": describe_range(exp.config, key), "default": default,
                     "quick": exp.quick.get(key, default)})
    if as_json:
        emit_json({"experiment": name, "keys": rows})
        return
    table = Table(title=f"{name} config", title_justify="left")
    for col in ("key", "type and range", "default", "quick"):
        table.add_column(col, overflow="fold")
    for r in rows:
        quick = "" if r["quick"] == r["default"] else json.dumps(r["quick"])
        table.add_row(r["key"], escape(r["allowed"]), escape(json.dumps(r["default"])), escape(quick))
    stdout.print(table)


def load_config_file(path: Path, name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Config values from a YAML/JSON file: ``(values, record)``.

    ``record`` is the whole file when it is a ``result.json`` (its ``config`` field is replayed,
    its seed and mode are reused), else None. Parsing never executes code (``yaml.safe_load``)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.__class__.__name__})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"--config {path}: not valid JSON/YAML ({first})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of key: value, got {type(data).__name__}")
    if "experiment" in data and isinstance(data.get("config"), dict):
        if data["experiment"] != name:
            raise ConfigError(
                f"--config {path} is a result of experiment {data['experiment']!r}, not {name!r}; "
                f"run `sslab run {data['experiment']} --config {path}`"
            )
        return dict(data["config"]), data
    return {str(k).replace("-", "_"): v for k, v in data.items()}, None


def _run_summary(run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    from sslab.report.html import verdict_of

    return {
        "experiment": record.get("experiment"), "run_dir": str(run_dir), "status": record.get("status"),
        "seconds": record.get("seconds"), "error": record.get("error"),
        "claims": [{"name": c.get("name"), "verdict": verdict_of(c), "evidence": c.get("evidence")}
                   for c in record.get("claims", [])],
    }


def _print_result(run_dir: Path, record: dict[str, Any]) -> None:
    from sslab.report.html import verdict_of

    status = record["status"]
    emit(f"[bold]{record['experiment']}[/] → {escape(str(run_dir))}  ({status}, {record['seconds']:.1f} s)")
    if status != "ok":
        emit(f"  [red]{escape(str(record.get('error')))}[/]")
    for c in record.get("claims", []):
        v = verdict_of(c)
        mark = {"held": "[green]held[/]", "not held": "[yellow]not held[/]"}.get(v, f"[dim]{v}[/]")
        emit(f"  {mark}  {escape(c['name'])}: {escape(c['evidence'])}")


@app.command()
@user_errors
def run(
    name: NameArg,
    quick: QuickOpt = False,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (recorded in result.json); default 0, or the seed of a "
                                 "replayed result.json.")
    ] = None,
    sets: SetOpt = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML or JSON file of config values, or a result.json to replay "
                     "(its config and seed); --set wins over it."),
    ] = None,
    out: OutOpt = Path("runs"),
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one experiment into OUT/NAME/<timestamp>/ (result.json, figures, log.txt).

    Exit code: 0 when it completed, 1 when it failed, 2 for bad input, 130 when interrupted.

    Examples:

      sslab run alignment --quick

      sslab run alignment --set k_max=40 --seed 3

      sslab run alignment --config runs/alignment/<timestamp>/result.json

      sslab run alignment --data-dir ~/data/cifar --set dataset=cifar10
    """
    from sslab.experiments.runner import get_experiment, run_experiment

    get_experiment(name)
    _check_data_dir(data_dir)
    base: dict[str, Any] = {}
    if config is not None:
        base, replayed = load_config_file(config, name)
        if replayed is not None:
            seed = replayed.get("seed", 0) if seed is None else seed
            quick = quick or bool(replayed.get("quick"))
    overrides = _overrides_for(name, sets or [], data_dir, base)
    try:
        with live():
            run_dir, record = run_experiment(
                name, quick=quick, seed=seed or 0, overrides=overrides, out_root=out, data_dir=data_dir
            )
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted:[/] {name} (its run directory is marked as not complete)")
        raise typer.Exit(130) from None
    if as_json:
        emit_json(_run_summary(run_dir, record))
    else:
        _print_result(run_dir, record)
    if record["status"] != "ok":
        raise typer.Exit(1)


@app.command()
@user_errors
def reproduce(
    quick: QuickOpt = False,
    only: Annotated[str | None, typer.Option(help="Comma-separated experiment names.")] = None,
    seed: SeedOpt = 0,
    out: OutOpt = Path("runs"),
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run every experiment (or --only some), then build OUT/report/index.html.

    A failing experiment is recorded and the others still run; the command then lists the
    failures and exits with 1. Ctrl-C (SIGTERM) stops after recording the interrupted run, rebuilds
    the report (earlier complete results stay in it) and exits with 130 (143).

    Examples:

      sslab reproduce --quick

      sslab reproduce --only alignment,linear-limits
    """
    from sslab.experiments import load_all
    from sslab.experiments.runner import get_experiment, run_experiment
    from sslab.report import build_report

    _check_data_dir(data_dir)
    names = sorted(load_all()) if not only else [n.strip() for n in only.split(",") if n.strip()]
    for n in names:
        get_experiment(n)
    done: list[dict[str, Any]] = []
    interrupted: str | None = None
    interrupt_code = 130
    with live():
        for name in track(names, "experiments"):
            console.print(f"[bold blue]▶ {name}[/]")
            try:
                overrides = _overrides_for(name, [], data_dir)
                run_dir, record = run_experiment(
                    name, quick=quick, seed=seed, overrides=overrides, out_root=out, data_dir=data_dir
                )
            except SslabError as exc:
                done.append({"experiment": name, "run_dir": None, "status": "failed", "error": str(exc),
                             "seconds": 0.0, "claims": []})
                if not as_json:
                    emit(f"[bold]{name}[/]  [red]failed: {escape(str(exc))}[/]")
                continue
            except (KeyboardInterrupt, RunInterrupted) as exc:
                interrupted = name
                interrupt_code = exc.exit_code if isinstance(exc, RunInterrupted) else 130
                break
            done.append(_run_summary(run_dir, record))
            if not as_json:
                _print_result(run_dir, record)
    path = build_report(out)
    failed = [r for r in done if r["status"] != "ok"]
    if as_json:
        emit_json({"runs": done, "failed": [r["experiment"] for r in failed], "interrupted": interrupted,
                   "not_run": names[len(done) + (interrupted is not None):], "report": str(path)})
    else:
        emit(f"\n[bold]Report:[/] {escape(str(path))}  ({len(done) - len(failed)}/{len(names)} experiments ok)")
        if failed:
            emit(f"[red]{len(failed)} failed:[/]")
            for r in failed:
                emit(f"  {r['experiment']}: {escape(str(r.get('error')))}")
        if interrupted:
            emit(f"[yellow]interrupted during {interrupted}[/]; not run: "
                 f"{', '.join(names[len(done) + 1:]) or 'none'}")
    if interrupted:
        raise typer.Exit(interrupt_code)
    if failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def sweep(
    name: NameArg,
    grid: Annotated[
        list[str] | None, typer.Option("--grid", "-g", help="key=v1,v2,... (repeatable; the product is swept)")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds run at every grid point.")] = "0",
    sets: SetOpt = None,
    quick: QuickOpt = False,
    workers: Annotated[int, typer.Option(help="Parallel local processes.")] = 1,
    ray: Annotated[bool, typer.Option("--ray", help="Run the points as Ray tasks.")] = False,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (e.g. auto or host:6379); default: start a local one.")
    ] = None,
    out: OutOpt = Path("runs"),
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run an experiment over a grid of config values × seeds, then add it to the report.

    Every point is a normal run in OUT/NAME/<timestamp>/; the sweep's table and figure go to
    OUT/sweeps/NAME/<timestamp>/ and the report's Sweeps section. Exits with 1 when a point failed.

    Examples:

      sslab sweep umae-lambda --quick --grid epochs=2,4 --seeds 0,1 --workers 2

      sslab sweep je-vs-recon-samples --grid gamma=5,20 --ray

      sslab sweep je-vs-recon-samples --grid gamma=5,20 --ray --address auto
    """
    from sslab.experiments.sweep import OK_STATUSES, parse_grid, run_sweep
    from sslab.report import build_report

    _check_data_dir(data_dir)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise DataError(f"--seeds expects comma-separated integers, got {seeds!r}") from None
    base = _overrides_for(name, sets or [], data_dir)
    with live():
        sweep_dir, record = run_sweep(
            name, parse_grid(grid or []), seeds=seed_list or [0], base=base, quick=quick, out_root=out,
            data_dir=data_dir, backend="ray" if ray else "local", workers=workers, address=address,
        )
    failed = sum(p["status"] not in OK_STATUSES for p in record["points"])
    report_path = build_report(out)
    if as_json:
        emit_json({"sweep_dir": str(sweep_dir), "points": record["points"], "failed": failed,
                   "seconds": record["seconds"], "report": str(report_path)})
    else:
        emit(
            f"sweep → {escape(str(sweep_dir))}  ({len(record['points']) - failed}/{len(record['points'])} ok, "
            f"{record['seconds']:.1f} s); report: {escape(str(report_path))}"
        )
    if failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def report(
    runs_dir: Annotated[Path, typer.Argument(help="Runs directory.")] = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """Build RUNS_DIR/report/index.html from the latest complete run of each experiment.

    Failed and interrupted runs are listed in their own section and never replace a complete one.

    Example: sslab report runs
    """
    from sslab.report import build_report
    from sslab.report.collect import select_runs, verdict_counts

    if not runs_dir.is_dir():
        raise DataError(f"runs directory {runs_dir} does not exist; run `sslab run NAME` first")
    path = build_report(runs_dir)
    if as_json:
        collected = select_runs(runs_dir)
        emit_json({
            "report": str(path),
            "experiments": [{"experiment": r.get("experiment"), "run_dir": str(d), "status": r.get("status"),
                             "verdicts": verdict_counts(r)} for d, r in collected.latest],
            "problems": [{"experiment": r.get("experiment"), "run_dir": str(d), "status": r.get("status"),
                          "error": r.get("error")} for d, r in collected.problems],
        })
    else:
        emit(f"Report: {escape(str(path))}")


@app.command()
@user_errors
def doctor(out: OutOpt = Path("runs"), as_json: JsonOpt = False) -> None:
    """Print versions, threads, device, write access to the runs dir and optional extras.

    The write check writes 1 MiB to OUT; when that fails (full disk, read-only) it exits 2
    (after printing the checks).

    Examples:

      sslab doctor

      sslab doctor --json --out /scratch/runs
    """
    import importlib.util
    import platform

    import numpy
    import torch

    write_error = _probe_write(out)
    checks: dict[str, Any] = {
        "sslab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "gloo": bool(torch.distributed.is_available() and torch.distributed.is_gloo_available()),
        "extras": {e: importlib.util.find_spec(e) is not None for e in EXTRAS},
        "write": {"dir": str(out), "ok": write_error is None,
                  "error": None if write_error is None else str(write_error)},
    }
    if as_json:
        emit_json(checks)
    else:
        rows = [(k, str(checks[k])) for k in ("sslab", "python", "torch", "numpy")]
        rows += [("threads (torch)", str(checks["threads"])), ("cpus", str(checks["cpus"])),
                 ("cuda", checks["cuda"] or "not available"), ("distributed (gloo)", str(checks["gloo"]))]
        rows += [(e, "installed" if ok else "not installed") for e, ok in checks["extras"].items()]
        rows.append((f"write {out}", "ok" if write_error is None else f"NO: {write_error}"))
        table = Table(title="sslab doctor")
        table.add_column("check")
        table.add_column("value")
        for k, v in rows:
            table.add_row(escape(k), escape(v))
        stdout.print(table)
    if write_error is not None:
        raise write_error


EXTRAS = ("ray", "tensorboard", "safetensors", "skimage")  # optional packages `sslab doctor` looks for


def _probe_write(out: Path, size: int = 1 << 20) -> SslabError | None:
    """Write (and fsync) a 1 MiB file in ``out`` the way runs write theirs, then remove it.

    An empty file would not do: a full disk still creates one; only writing data fails."""
    from sslab.io import atomic_write_bytes

    probe = out / f".sslab-doctor-{os.getpid()}.tmp"
    try:
        atomic_write_bytes(probe, os.urandom(size))
    except SslabError as exc:
        return exc
    finally:
        probe.unlink(missing_ok=True)
    return None


from sslab.train.cli import attach as _attach_training_commands  # noqa: E402 - needs user_errors above

_attach_training_commands(app, user_errors)


def _attach_data_commands() -> None:
    from sslab.data_cli import data_app, shard_dataset, show_dataset

    data_app.command("show")(user_errors(show_dataset))
    data_app.command("shard")(user_errors(shard_dataset))
    app.add_typer(data_app, name="data")


_attach_data_commands()


def main() -> None:
    """Entry point. A malformed command line (unknown option, a value of the wrong type, a
    missing argument) is one line too: `error: <what>; see `sslab CMD --help``, exit code 2."""
    errors = sys.modules[typer.BadParameter.__module__]  # click's exceptions (typer may vendor click)
    no_args = getattr(errors, "NoArgsIsHelpError", ())
    try:
        code = app(prog_name="sslab", standalone_mode=False)
    except no_args:  # bare `sslab`: the help, and exit code 2 as before
        with contextlib.suppress(SystemExit):
            app(prog_name="sslab", args=[*sys.argv[1:], "--help"])
        code = 2
    except errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "sslab"
        message = " ".join(exc.format_message().split()).rstrip(".")
        console.print(f"[bold red]error:[/] {escape(message)}; see `{where} --help`", highlight=False, soft_wrap=True)
        code = 2
    except errors.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except typer.Abort:
        console.print("aborted", highlight=False)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
