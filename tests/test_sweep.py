"""Sweeps: grid parsing, validation before any run, local parallel processes, a Ray cluster
started by the test, and the report's sweep section."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sslab.errors import ConfigError
from sslab.experiments.sweep import expand, parse_grid, run_point, run_sweep
from sslab.report import build_report

FAST = {"points": 5}  # linear-limits: a closed-form experiment that runs in about a second


def test_parse_grid_and_expand() -> None:
    grid = parse_grid(["k=10,16", "log10-lambda-max=3.0", "patches=[1,2];[2,4]"])
    assert grid == {"k": [10, 16], "log10_lambda_max": [3.0], "patches": [[1, 2], [2, 4]]}
    points = expand({"a": [1, 2], "b": ["x"]}, seeds=[0, 5], base={"c": 1})
    assert [(p.overrides, p.seed) for p in points] == [
        ({"c": 1, "a": 1, "b": "x"}, 0), ({"c": 1, "a": 1, "b": "x"}, 5),
        ({"c": 1, "a": 2, "b": "x"}, 0), ({"c": 1, "a": 2, "b": "x"}, 5),
    ]
    for bad in (["k"], ["=1,2"], ["k="], ["k=1", "k=2"]):
        with pytest.raises(ConfigError):
            parse_grid(bad)


def test_a_bad_point_stops_the_sweep_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="k"):
        run_sweep("linear-limits", {"k": [10, 2]}, base=FAST, out_root=tmp_path)
    assert not any(tmp_path.iterdir())


def _check_sweep(sweep_dir: Path, record: dict, root: Path, n: int) -> None:
    assert len(record["points"]) == n and all(p["status"] == "ok" for p in record["points"])
    assert json.loads((sweep_dir / "sweep.json").read_text())["points"] == record["points"]
    assert (sweep_dir / "sweep.png").stat().st_size > 2000
    for p in record["points"]:
        result = json.loads((Path(p["run_dir"]) / "result.json").read_text())
        assert result["sweep"] == record["sweep"] and result["seed"] == p["seed"]
        assert result["config"]["k"] == p["overrides"]["k"] and result["config"]["points"] == 5
        assert p["numbers"]["ols_dist_at_min_lambda"] == result["numbers"]["ols_dist_at_min_lambda"]
    assert {Path(p["run_dir"]).parent for p in record["points"]} == {root / "linear-limits"}


def test_local_sweep_in_two_processes_lands_in_runs_and_the_report(tmp_path: Path) -> None:
    sweep_dir, record = run_sweep(
        "linear-limits", {"k": [10, 16]}, seeds=[0, 1], base=FAST, quick=True, out_root=tmp_path, workers=2
    )
    _check_sweep(sweep_dir, record, tmp_path, 4)
    assert len({p["run_dir"] for p in record["points"]}) == 4
    html = build_report(tmp_path).read_text()
    assert "Sweeps" in html and record["sweep"] in html and "ols_dist_at_min_lambda" in html
    # the sweep's points are not mistaken for the experiment's default run
    assert "<h2 id='linear-limits'>" not in html


@pytest.mark.slow
def test_ray_sweep_against_a_local_cluster_started_here(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    assert ray_bin, "the ray command is missing although the package imports"
    from sslab.distributed import free_port

    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    start = [ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=180)
    try:
        cmd = [sys.executable, "-m", "sslab", "sweep", "linear-limits", "--quick", "--grid", "k=10,16",
               "--set", "points=5", "--ray", "--address", f"127.0.0.1:{port}", "--out", str(tmp_path)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)
    (sweep_dir,) = (tmp_path / "sweeps" / "linear-limits").iterdir()
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert record["backend"] == "ray" and record["address"] == f"127.0.0.1:{port}"
    _check_sweep(sweep_dir, record, tmp_path, 2)


def test_ray_backend_without_ray_installed_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[ray\]'"):
        run_sweep("linear-limits", {"k": [10]}, base=FAST, out_root=tmp_path, backend="ray")
    assert not any(tmp_path.iterdir())


def dies_on_some_points(name, point, quick, out_root, data_dir, sweep_id, collect):
    """A point runner (imported by the spawned workers) whose worker kills itself with SIGKILL:
    always at k=16, and only on the first attempt at k=12."""
    k = point.overrides["k"]
    first_time = Path(os.environ["SWEEP_TEST_MARKERS"]) / f"k{k}-seed{point.seed}"
    if k == 16 or (k == 12 and not first_time.exists()):
        first_time.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return run_point(name, point, quick, out_root, data_dir, sweep_id, collect)


def test_a_killed_worker_is_retried_once_then_marked_failed_and_the_others_finish(tmp_path, monkeypatch):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("SWEEP_TEST_MARKERS", str(markers))
    runs = tmp_path / "runs"
    sweep_dir, record = run_sweep(
        "linear-limits", {"k": [10, 12, 16]}, seeds=[0], base=FAST, quick=True, out_root=runs, workers=2,
        point_runner=dies_on_some_points,
    )
    assert [(p["overrides"]["k"], p["status"], p["attempts"]) for p in record["points"]] == [
        (10, "ok", 1), (12, "retried-ok", 2), (16, "failed", 2)
    ]
    ok, retried, failed = record["points"]
    assert failed["error"] == "worker process killed by SIGKILL, 2 times" and failed["run_dir"] is None
    for p in (ok, retried):
        result = json.loads((Path(p["run_dir"]) / "result.json").read_text())
        assert result["status"] == "ok" and result["config"]["k"] == p["overrides"]["k"]
        assert p["numbers"]["ols_dist_at_min_lambda"] == result["numbers"]["ols_dist_at_min_lambda"]
    assert json.loads((sweep_dir / "sweep.json").read_text())["points"] == record["points"]
    assert (sweep_dir / "sweep.png").stat().st_size > 2000  # the retried point is plotted
    assert "retried-ok" in build_report(runs).read_text()


def test_a_point_that_fails_on_corrupt_data_is_marked_failed_and_the_sweep_is_recorded(tmp_path):
    from test_data_loaders import write_cifar10

    data = tmp_path / "data"
    write_cifar10(data, per_batch=20)
    (data / "cifar-10-batches-py" / "data_batch_4").write_bytes(b"\x80\x02garbage")  # right name, bad bytes
    base = {"dataset": "auto", "pairs": 200, "patch": 4, "ratios": [0.0, 0.5]}
    sweep_dir, record = run_sweep("mask-distance", {"draws": [2, 3]}, base=base, out_root=tmp_path / "runs",
                                  data_dir=data)
    assert [p["status"] for p in record["points"]] == ["failed", "failed"]
    assert all("data_batch_4 is truncated or corrupt" in p["error"] and p["run_dir"] is None
               for p in record["points"])
    assert json.loads((sweep_dir / "sweep.json").read_text())["points"] == record["points"]
    assert not (tmp_path / "runs" / "mask-distance").exists()  # no run directories of a bad input


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _started(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), to tell it from a later one with its PID."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_killing_the_sweep_driver_stops_its_workers_and_flags_their_runs(tmp_path):
    cmd = [sys.executable, "-m", "sslab", "sweep", "spectral-dynamics", "--grid", "steps=9000000,9000001",
           "--workers", "2", "--out", str(tmp_path)]
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[tuple[int, str | None]] = []
    try:
        deadline = time.monotonic() + 300
        while len(list(tmp_path.glob("spectral-dynamics/*/log.txt"))) < 2:  # both workers are mid-run
            assert time.monotonic() < deadline and driver.poll() is None, "the workers never started"
            time.sleep(0.2)
        workers = [(pid, _started(pid)) for pid in _children(driver.pid)]
        driver.kill()  # SIGKILL: the driver cannot pass anything on
        driver.wait()
        deadline = time.monotonic() + 120
        results = []
        while len(results) < 2 and time.monotonic() < deadline:
            results = list(tmp_path.glob("spectral-dynamics/*/result.json"))
            time.sleep(0.2)
        assert [json.loads(r.read_text())["status"] for r in results] == ["interrupted", "interrupted"]
        for pid, _ in workers:  # and the workers are gone, not orphans
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        driver.kill()
        for pid, started in workers:  # whatever happened above, leave none of them running
            if started is not None and _started(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
