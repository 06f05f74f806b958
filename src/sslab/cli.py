"""The ``sslab`` command line: list, run, reproduce, sweep, report, doctor, and the deep
pipeline's train / eval. Any user error prints one line and exits with 2."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from sslab import __version__
from sslab.config import parse_assignments
from sslab.errors import DataError, RunInterrupted, SslabError
from sslab.progress import console, live, track

app = typer.Typer(
    name="sslab",
    help="sslab: self-supervised learning by reconstruction vs joint embedding — runnable theory "
    "and comparable deep SSL.\n\nExamples:\n\n  sslab list\n\n  sslab run alignment --quick\n\n"
    "  sslab sweep umae-lambda --quick --grid epochs=2,4 --workers 2\n\n"
    "  sslab reproduce --quick\n\n  sslab report runs",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
F = TypeVar("F", bound=Callable[..., Any])


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


def _overrides_for(name: str, sets: list[str], data_dir: Path | None) -> dict[str, Any]:
    from sslab.experiments.runner import get_experiment

    overrides = parse_assignments(sets)
    exp = get_experiment(name)
    if data_dir is not None and "dataset" in exp.config.model_fields and "dataset" not in overrides:
        overrides["dataset"] = "auto"
    return overrides


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


@app.command("list")
@user_errors
def list_cmd() -> None:
    """List experiments: name, paper, the claim it checks, and runtime estimates.

    Example: sslab list
    """
    from sslab.experiments import load_all

    table = Table(title="sslab experiments", show_lines=False)
    for col in ("name", "paper", "claim", "quick", "full"):
        table.add_column(col, overflow="fold")
    for exp in sorted(load_all().values(), key=lambda e: e.name):
        table.add_row(exp.name, exp.paper, exp.claim, exp.quick_time, exp.full_time)
    from rich.console import Console

    Console(width=max(140, console.width)).print(table)


def _print_result(run_dir: Path, record: dict[str, Any]) -> None:
    status = record["status"]
    console.print(f"[bold]{record['experiment']}[/] → {run_dir}  ({status}, {record['seconds']:.1f} s)")
    if status != "ok":
        console.print(f"  [red]{escape(str(record.get('error')))}[/]", highlight=False)
    for c in record.get("claims", []):
        from sslab.report.html import verdict_of

        v = verdict_of(c)
        mark = {"held": "[green]held[/]", "not held": "[yellow]not held[/]"}.get(v, f"[dim]{v}[/]")
        console.print(f"  {mark}  {escape(c['name'])}: {escape(c['evidence'])}", highlight=False)


@app.command()
@user_errors
def run(
    name: Annotated[str, typer.Argument(help="Experiment name (see `sslab list`).")],
    quick: QuickOpt = False,
    seed: SeedOpt = 0,
    sets: SetOpt = None,
    out: OutOpt = Path("runs"),
    data_dir: DataOpt = None,
) -> None:
    """Run one experiment into OUT/NAME/<timestamp>/ (result.json, figures, log.txt).

    Examples:

      sslab run alignment --quick

      sslab run alignment --set k_max=40 --seed 3

      sslab run alignment --data-dir ~/data/cifar --set dataset=cifar10
    """
    from sslab.experiments.runner import run_experiment

    _check_data_dir(data_dir)
    overrides = _overrides_for(name, sets or [], data_dir)
    with live():
        run_dir, record = run_experiment(
            name, quick=quick, seed=seed, overrides=overrides, out_root=out, data_dir=data_dir
        )
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
) -> None:
    """Run every experiment (or --only some), then build OUT/report/index.html.

    A failing experiment is recorded and the others still run.

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
    failed = 0
    with live():
        for name in track(names, "experiments"):
            console.print(f"[bold blue]▶ {name}[/]")
            try:
                overrides = _overrides_for(name, [], data_dir)
                run_dir, record = run_experiment(
                    name, quick=quick, seed=seed, overrides=overrides, out_root=out, data_dir=data_dir
                )
            except SslabError as exc:
                console.print(f"  [red]{name}: {exc}[/]", highlight=False)
                failed += 1
                continue
            _print_result(run_dir, record)
            failed += record["status"] != "ok"
    path = build_report(out)
    console.print(f"\n[bold]Report:[/] {path}  ({len(names) - failed}/{len(names)} experiments ran)")


@app.command()
@user_errors
def sweep(
    name: Annotated[str, typer.Argument(help="Experiment name (see `sslab list`).")],
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
) -> None:
    """Run an experiment over a grid of config values × seeds, then add it to the report.

    Every point is a normal run in OUT/NAME/<timestamp>/; the sweep's table and figure go to
    OUT/sweeps/NAME/<timestamp>/ and the report's Sweeps section.

    Examples:

      sslab sweep umae-lambda --quick --grid epochs=2,4 --seeds 0,1 --workers 2

      sslab sweep je-vs-recon-samples --grid gamma=5,20 --ray

      sslab sweep je-vs-recon-samples --grid gamma=5,20 --ray --address auto
    """
    from sslab.experiments.sweep import parse_grid, run_sweep
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
    failed = sum(p["status"] != "ok" for p in record["points"])
    console.print(
        f"sweep → {sweep_dir}  ({len(record['points']) - failed}/{len(record['points'])} ok, "
        f"{record['seconds']:.1f} s); report: {build_report(out)}"
    )
    if failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def report(
    runs_dir: Annotated[Path, typer.Argument(help="Runs directory.")] = Path("runs"),
) -> None:
    """Build RUNS_DIR/report/index.html from the latest run of each experiment.

    Example: sslab report runs
    """
    from sslab.report import build_report

    if not runs_dir.is_dir():
        raise DataError(f"runs directory {runs_dir} does not exist; run `sslab run NAME` first")
    path = build_report(runs_dir)
    console.print(f"Report: {path}")


@app.command()
@user_errors
def doctor(out: OutOpt = Path("runs")) -> None:
    """Print versions, threads, device, write access to the runs dir and optional extras.

    The write check writes 1 MiB to OUT; when that fails (full disk, read-only) it exits 2.

    Example: sslab doctor
    """
    import importlib.util
    import platform

    import numpy
    import torch

    rows = [
        ("sslab", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("numpy", numpy.__version__),
        ("threads (torch)", str(torch.get_num_threads())),
        ("cpus", str(os.cpu_count())),
        ("cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"),
        ("distributed (gloo)", str(torch.distributed.is_available() and torch.distributed.is_gloo_available())),
    ]
    for extra in ("ray", "kornia", "tensorboard"):
        rows.append((extra, "installed" if importlib.util.find_spec(extra) else "not installed"))
    write_error = _probe_write(out)
    rows.append((f"write {out}", "ok" if write_error is None else f"NO: {write_error}"))
    table = Table(title="sslab doctor")
    table.add_column("check")
    table.add_column("value")
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if write_error is not None:
        raise write_error


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


def main() -> None:
    app(prog_name="sslab")


if __name__ == "__main__":
    sys.exit(main())
