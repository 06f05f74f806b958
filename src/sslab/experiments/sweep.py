"""Sweeps: one experiment over a grid of config values × seeds, run in parallel local
processes or as tasks on a Ray cluster.

Every point is an ordinary run — ``runs/NAME/<timestamp>/result.json`` with its figures —
tagged with the sweep's id (so the report's per-experiment section keeps showing the untagged
default run). The sweep itself is recorded in ``runs/sweeps/NAME/<timestamp>/sweep.json``
(grid, seeds, backend, and for each point its overrides, run directory, status, scalar numbers
and claims held) with a figure ``sweep.png`` of the scalar numbers against the first grid key.

All points are validated before anything runs: a bad key or value is one ConfigError line.
On Ray, workers return their run directory's files to the driver, which writes whatever is
not already on its own disk, so a cluster without a shared filesystem loses nothing.

A sweep survives dead workers. With ``workers > 1`` every point runs in a process of its own,
so a worker that dies (SIGKILL, the OOM killer, a segfault, SIGTERM) takes only its own point
down: that point is run once more, then marked failed, and the other points finish. Each
point's ``status`` in sweep.json is ``ok``, ``retried-ok`` (its first worker died, the second
finished), or ``failed`` (the experiment failed, or both workers died; ``error`` says which).
With ``workers=1`` the points run in the driver's own process, which has no worker to lose.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sslab.config import parse_value
from sslab.errors import ConfigError, RunInterrupted
from sslab.io import atomic_write_bytes, atomic_write_json, new_run_dir
from sslab.progress import console, track

SWEEPS = "sweeps"
OK_STATUSES = ("ok", "retried-ok")  # a point with one of these has a complete result
ATTEMPTS = 2  # a point whose worker dies is run once more, then marked failed


@dataclass(frozen=True)
class SweepPoint:
    overrides: dict[str, Any]
    seed: int


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["k=1,2", "m=a;b"]`` → ``{"k": [1, 2], "m": ["a", "b"]}``. Values are split on ``;``
    when one is present (so list values like ``[1,2];[2,4]`` work), else on ``,``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not values.strip():
            raise ConfigError(f"--grid expects key=v1,v2,..., got {item!r}; e.g. --grid lam=0,0.01,0.1")
        if key in grid:
            raise ConfigError(f"--grid names {key!r} twice; give all its values in one --grid")
        parts = values.split(";") if ";" in values else values.split(",")
        grid[key] = [parse_value(p.strip()) for p in parts if p.strip()]
    return grid


def expand(grid: Mapping[str, Sequence[Any]], seeds: Sequence[int], base: Mapping[str, Any] | None = None) -> list[
    SweepPoint
]:
    """Cartesian product of the grid (first key varies slowest) times the seeds."""
    keys = list(grid)
    points = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        for seed in seeds:
            points.append(SweepPoint({**(base or {}), **dict(zip(keys, combo, strict=True))}, seed))
    return points


def _scalars(numbers: Mapping[str, Any]) -> dict[str, float]:
    """Top-level numbers and one level of nested dicts (``a.b``) that are plain scalars."""
    out: dict[str, float] = {}
    for k, v in numbers.items():
        if isinstance(v, bool | int | float):
            out[k] = float(v)
        elif isinstance(v, Mapping):
            out.update({f"{k}.{k2}": float(v2) for k2, v2 in v.items() if isinstance(v2, bool | int | float)})
    return out


def run_point(
    name: str, point: SweepPoint, quick: bool, out_root: str, data_dir: str | None, sweep_id: str, collect: bool
) -> dict[str, Any]:
    """Run one point (in whatever process or Ray worker this is) and summarise it."""
    from sslab.experiments.runner import run_experiment

    run_dir, record = run_experiment(
        name, quick=quick, seed=point.seed, overrides=point.overrides, out_root=out_root, data_dir=data_dir,
        sweep=sweep_id,
    )
    summary = {
        "overrides": point.overrides,
        "seed": point.seed,
        "run_dir": str(run_dir),
        "status": record["status"],
        "seconds": record["seconds"],
        "headline": record.get("headline"),
        "numbers": _scalars(record.get("numbers", {})),
        "claims_held": sum(bool(c.get("held")) for c in record.get("claims", [])),
        "claims_total": len(record.get("claims", [])),
        "error": record.get("error"),
        "host": os.uname().nodename,
    }
    if collect:  # Ray: ship the run directory back to the driver
        summary["files"] = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    return summary


def _materialise(summary: dict[str, Any]) -> None:
    """Write a Ray worker's files on the driver's disk if they are not there (no shared FS)."""
    files = summary.pop("files", None) or {}
    run_dir = Path(summary["run_dir"])
    for fname, data in files.items():
        if not (run_dir / fname).exists():
            atomic_write_bytes(run_dir / fname, data)


def _init_worker(threads: int) -> None:
    """Share the cores: each of the pool's processes gets cores / workers intra-op threads."""
    import torch

    torch.set_num_threads(threads)


def _worker_loop(conn: Any, threads: int, target: Callable[..., dict[str, Any]]) -> None:
    """Body of a worker process: run the points sent on ``conn`` one at a time, answering each
    with ``("ok", summary)`` or ``("error", text)``; ``None`` or a closed pipe ends it.

    A signal that stops a run (its result.json is flagged interrupted) ends the process with
    128 + signal and no answer, like a worker killed outright. If the driver dies, even by
    SIGKILL, the worker gets SIGTERM, so its run is flagged and no worker is left orphaned."""
    from sslab.distributed import die_with_parent

    die_with_parent()
    _init_worker(threads)
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        if args is None:
            return
        try:
            message: tuple[str, Any] = ("ok", target(*args))
        except RunInterrupted as exc:
            raise SystemExit(exc.exit_code) from None
        except Exception as exc:
            message = ("error", _one_line(exc))
        conn.send(message)


def _one_line(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    if exitcode is not None and exitcode > 128:
        try:
            return f"stopped by {signal.Signals(exitcode - 128).name} (exit code {exitcode})"
        except ValueError:
            pass
    return f"exited with code {exitcode} without a result"


def _failed_point(point: SweepPoint, error: str) -> dict[str, Any]:
    """The summary of a point that left no result of its own."""
    return {
        "overrides": point.overrides, "seed": point.seed, "run_dir": None, "status": "failed", "seconds": 0.0,
        "headline": None, "numbers": {}, "claims_held": 0, "claims_total": 0, "error": error,
        "host": os.uname().nodename,
    }


def _run_local(name, points, quick, out_root, data_dir, sweep_id, workers, target=None) -> list[dict[str, Any]]:
    target = target or run_point
    if workers <= 1:
        return [_in_process(target, (name, p, quick, out_root, data_dir, sweep_id, False)) for p in
                track(points, "sweep")]
    threads = max(1, (os.cpu_count() or 1) // workers)
    results: list[dict[str, Any] | None] = [None] * len(points)
    for _ in track(_isolated(name, points, quick, out_root, data_dir, sweep_id, workers, target, threads, results),
                   "sweep", total=len(points)):
        pass
    return [r for r in results if r is not None]


def _in_process(target: Callable[..., dict[str, Any]], args: tuple) -> dict[str, Any]:
    """Run one point in this process; an error that stops it (a corrupt data file, say) fails
    the point, as it would in a worker process, and the sweep goes on."""
    try:
        summary = target(*args)
    except Exception as exc:
        summary = _failed_point(args[1], _one_line(exc))
    summary["attempts"] = 1
    return summary


def _isolated(name, points, quick, out_root, data_dir, sweep_id, workers, target, threads, results) -> Iterator[int]:
    """Run the points on ``workers`` spawned processes, one point per process at a time; yield
    each finished point's index.

    The driver knows which point each worker is running, so a worker that dies (its pipe
    closes without an answer) costs only that point: a fresh worker replaces it, and the point
    goes back in the queue until it has had :data:`ATTEMPTS` workers. On the way out (done,
    error, Ctrl-C), workers still running get SIGTERM (their runs are flagged interrupted),
    then SIGKILL."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    queue = deque(range(len(points)))
    attempts = [0] * len(points)
    procs: dict[Any, Any] = {}  # the driver's end of each worker's pipe -> its process
    idle: list[Any] = []
    busy: dict[Any, int] = {}  # pipe -> index of the point its worker runs

    def start_worker() -> None:
        here, there = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_worker_loop, args=(there, threads, target), name="sweep-worker")
        proc.start()
        there.close()  # the worker holds the only other end: its death reads as EOF here
        procs[here] = proc
        idle.append(here)

    def bury(conn: Any) -> int | None:
        proc = procs.pop(conn)
        conn.close()
        proc.join()
        return proc.exitcode

    try:
        for _ in range(min(workers, len(points))):
            start_worker()
        while queue or busy:
            while queue and idle:
                conn = idle.pop()
                i = queue.popleft()
                try:
                    conn.send((name, points[i], quick, out_root, data_dir, sweep_id, False))
                except OSError:  # this worker died while idle: replace it, the point was not tried
                    queue.appendleft(i)
                    bury(conn)
                    start_worker()
                    continue
                attempts[i] += 1
                busy[conn] = i
            for conn in wait(list(busy)):
                i = busy.pop(conn)
                try:
                    message = conn.recv()
                except EOFError:
                    message = None
                if message is None:
                    death = _death(bury(conn))
                    if attempts[i] < ATTEMPTS:
                        console.print(f"[yellow]sweep point {i} ({points[i].overrides}, seed {points[i].seed}): "
                                      f"worker {death}; running it again[/]", highlight=False)
                        queue.append(i)
                    else:
                        summary = _failed_point(points[i], f"worker process {death}, {attempts[i]} times")
                    if queue:
                        start_worker()
                    if attempts[i] < ATTEMPTS:
                        continue
                else:
                    idle.append(conn)
                    if message[0] == "error":
                        summary = _failed_point(points[i], message[1])
                    else:
                        summary = message[1]
                        if attempts[i] > 1 and summary["status"] == "ok":
                            summary["status"] = "retried-ok"
                summary["attempts"] = attempts[i]
                results[i] = summary
                yield i
    finally:
        for conn in idle:
            try:
                conn.send(None)
            except OSError:
                pass
        for conn in busy:
            procs[conn].terminate()
        for conn in list(procs):
            proc = procs[conn]
            proc.join(30)
            if proc.is_alive():
                proc.kill()
            bury(conn)


def _require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray backend needs Ray: pip install -e '.[ray]' (or drop --ray)") from None
    return ray


def _run_ray(name, points, quick, out_root, data_dir, sweep_id, address) -> list[dict[str, Any]]:
    ray = _require_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError) as exc:
            where = address or "a new local instance"
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"cannot start or reach Ray at {where} ({first}); check `ray status` or drop --address"
            ) from None
        started = True
    try:
        # Ray reruns a task whose worker died once (max_retries), like the local backend
        task = ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1)(run_point)
        refs = [task.remote(name, p, quick, out_root, data_dir, sweep_id, True) for p in points]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[dict[str, Any] | None] = [None] * len(points)
        pending = list(refs)
        for _ in track(range(len(refs)), "sweep (ray)"):
            done, pending = ray.wait(pending, num_returns=1)
            i = index[done[0]]
            try:
                summary = ray.get(done[0])
            except Exception as exc:  # the task raised, or its worker died twice
                results[i] = _failed_point(points[i], _one_line(exc))
                continue
            _materialise(summary)
            results[i] = summary
        return [r for r in results if r is not None]
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    name: str,
    grid: Mapping[str, Sequence[Any]],
    *,
    seeds: Sequence[int] = (0,),
    base: Mapping[str, Any] | None = None,
    quick: bool = False,
    out_root: str | Path = "runs",
    data_dir: str | Path | None = None,
    backend: Literal["local", "ray"] = "local",
    workers: int = 1,
    address: str | None = None,
    point_runner: Callable[..., dict[str, Any]] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run ``name`` at every grid point × seed; returns (sweep directory, sweep record).

    ``point_runner`` replaces :func:`run_point` on the local backend (same arguments; it must
    be a module-level function so spawned workers can import it)."""
    from sslab.experiments.runner import check_data, check_seed, get_experiment, resolve_config

    if not grid:
        raise ConfigError("a sweep needs at least one --grid key=v1,v2")
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown sweep backend {backend!r}; use local or ray")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    exp = get_experiment(name)
    for seed in seeds:
        check_seed(seed)
    points = expand(grid, seeds, base)
    for p in points:  # every point must be a valid config, on data of the right layout, before anything is written
        check_data(resolve_config(exp, quick, p.overrides), data_dir)
    if backend == "ray":
        _require_ray()
    out_root = Path(out_root).resolve()
    sweep_dir = new_run_dir(out_root / SWEEPS, name)
    sweep_id = f"{name}/{sweep_dir.name}"
    console.print(f"sweep {sweep_id}: {len(points)} runs on {backend}" + (f" × {workers} workers" if
                  backend == "local" else ""))
    start = time.perf_counter()
    data = str(data_dir) if data_dir else None
    if backend == "ray":
        summaries = _run_ray(name, points, quick, str(out_root), data, sweep_id, address)
    else:
        summaries = _run_local(name, points, quick, str(out_root), data, sweep_id, workers, point_runner)
    record = {
        "sweep": sweep_id,
        "experiment": name,
        "grid": {k: list(v) for k, v in grid.items()},
        "base": dict(base or {}),
        "seeds": list(seeds),
        "quick": quick,
        "backend": backend,
        "workers": workers if backend == "local" else None,
        "address": address,
        "seconds": round(time.perf_counter() - start, 3),
        "points": summaries,
        "figures": [],
    }
    if plot_sweep(record, sweep_dir / "sweep.png"):
        record["figures"] = ["sweep.png"]
    atomic_write_json(sweep_dir / "sweep.json", record)
    return sweep_dir, record


def plotted_metrics(record: Mapping[str, Any], limit: int = 4) -> list[str]:
    """The headline number first, then other scalars, present in every successful point."""
    ok = [p for p in record["points"] if p["status"] in OK_STATUSES]
    if not ok:
        return []
    common = set.intersection(*(set(p["numbers"]) for p in ok))
    headline = ok[0].get("headline")
    ordered = ([headline] if headline in common else []) + sorted(common - {headline})
    return ordered[:limit]


def plot_sweep(record: Mapping[str, Any], path: Path) -> bool:
    """Each metric against the first grid key; one line per setting of the other keys; the mean over
    seeds with its 95 % t-interval (:func:`sslab.stats.summarize`; no bar for one seed). Returns False
    (no figure) when the first key is not numeric or nothing ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from sslab.stats import summarize

    keys = list(record["grid"])
    xs = record["grid"][keys[0]]
    metrics = plotted_metrics(record)
    if not metrics or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs):
        return False
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False,
                             layout="constrained")
    others = sorted({tuple((k, repr(p["overrides"].get(k))) for k in keys[1:]) for p in record["points"]})
    for ax, metric in zip(axes[0], metrics, strict=False):
        for other in others:
            mean, half = [], []
            for x in xs:
                vals = [
                    p["numbers"][metric]
                    for p in record["points"]
                    if p["status"] in OK_STATUSES and p["overrides"].get(keys[0]) == x
                    and all(repr(p["overrides"].get(k)) == v for k, v in other)
                    and metric in p["numbers"]
                ]
                est = summarize(vals) if vals else None
                mean.append(est.mean if est else np.nan)
                half.append((est.hi - est.lo) / 2 if est and est.n > 1 else 0.0)
            label = ", ".join(f"{k}={v}" for k, v in other) or None
            ax.errorbar(xs, mean, yerr=half, marker="o", capsize=3, label=label)
        ax.set_xlabel(keys[0])
        n = len(record["seeds"])
        ax.set_ylabel(f"mean over {n} seeds ± 95% t-CI" if n > 1 else "1 seed (no interval)", fontsize=8)
        ax.set_title(metric, fontsize=9)
        if others and others[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"sweep {record['sweep']} (seeds {record['seeds']})", fontsize=9)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return True


__all__ = [
    "ATTEMPTS", "OK_STATUSES", "SweepPoint", "expand", "parse_grid", "plot_sweep", "plotted_metrics", "run_point",
    "run_sweep",
]
