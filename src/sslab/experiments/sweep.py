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
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sslab.config import parse_value
from sslab.errors import ConfigError
from sslab.io import atomic_write_bytes, atomic_write_json, new_run_dir
from sslab.progress import console, track

SWEEPS = "sweeps"


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


def _run_local(name, points, quick, out_root, data_dir, sweep_id, workers) -> list[dict[str, Any]]:
    if workers <= 1:
        return [run_point(name, p, quick, out_root, data_dir, sweep_id, False) for p in track(points, "sweep")]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    results: list[dict[str, Any] | None] = [None] * len(points)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(run_point, name, p, quick, out_root, data_dir, sweep_id, False): i
                   for i, p in enumerate(points)}
        for fut in track(as_completed(futures), "sweep", total=len(points)):
            results[futures[fut]] = fut.result()
    return [r for r in results if r is not None]


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
        task = ray.remote(num_cpus=1)(run_point)
        refs = [task.remote(name, p, quick, out_root, data_dir, sweep_id, True) for p in points]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[dict[str, Any] | None] = [None] * len(points)
        pending = list(refs)
        for _ in track(range(len(refs)), "sweep (ray)"):
            done, pending = ray.wait(pending, num_returns=1)
            summary = ray.get(done[0])
            _materialise(summary)
            results[index[done[0]]] = summary
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
) -> tuple[Path, dict[str, Any]]:
    """Run ``name`` at every grid point × seed; returns (sweep directory, sweep record)."""
    from sslab.experiments.runner import check_data, get_experiment, resolve_config

    if not grid:
        raise ConfigError("a sweep needs at least one --grid key=v1,v2")
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown sweep backend {backend!r}; use local or ray")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    exp = get_experiment(name)
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
        summaries = _run_local(name, points, quick, str(out_root), data, sweep_id, workers)
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
    ok = [p for p in record["points"] if p["status"] == "ok"]
    if not ok:
        return []
    common = set.intersection(*(set(p["numbers"]) for p in ok))
    headline = ok[0].get("headline")
    ordered = ([headline] if headline in common else []) + sorted(common - {headline})
    return ordered[:limit]


def plot_sweep(record: Mapping[str, Any], path: Path) -> bool:
    """Each metric against the first grid key; one line per setting of the other keys; mean ± std
    over seeds. Returns False (no figure) when the first key is not numeric or nothing ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    keys = list(record["grid"])
    xs = record["grid"][keys[0]]
    metrics = plotted_metrics(record)
    if not metrics or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs):
        return False
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    others = sorted({tuple((k, repr(p["overrides"].get(k))) for k in keys[1:]) for p in record["points"]})
    for ax, metric in zip(axes[0], metrics, strict=False):
        for other in others:
            mean, std = [], []
            for x in xs:
                vals = [
                    p["numbers"][metric]
                    for p in record["points"]
                    if p["status"] == "ok" and p["overrides"].get(keys[0]) == x
                    and all(repr(p["overrides"].get(k)) == v for k, v in other)
                    and metric in p["numbers"]
                ]
                mean.append(np.mean(vals) if vals else np.nan)
                std.append(np.std(vals) if vals else np.nan)
            label = ", ".join(f"{k}={v}" for k, v in other) or None
            ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=label)
        ax.set_xlabel(keys[0])
        ax.set_title(metric, fontsize=9)
        if others and others[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"sweep {record['sweep']} (seeds {record['seeds']})", fontsize=9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return True


__all__ = ["SweepPoint", "expand", "parse_grid", "plot_sweep", "plotted_metrics", "run_point", "run_sweep"]
