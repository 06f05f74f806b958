"""A run directory belongs to one trainer: no silent overwrite, an exclusive PID lock, and
stale locks of dead trainers are taken over."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sslab.cli import app
from sslab.errors import ConfigError
from sslab.train.rundir import LOCK, RunDirLock, read_holder

runner = CliRunner()
TRAIN = ["train", "mae", "--epochs", "1", "--batch-size", "256", "--eval-every", "0"]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _snapshot(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}


def _holder_process(run: Path) -> subprocess.Popen:
    """Another process that claims ``run`` and keeps it until killed."""
    code = (
        "import sys, time; from pathlib import Path; from sslab.train.rundir import RunDirLock; "
        "RunDirLock(Path(sys.argv[1]), resume=True).acquire(); print('held', flush=True); time.sleep(600)"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "mae"
    res = invoke(*TRAIN, "--out", str(out))
    assert res.exit_code == 0, res.output
    assert not (out / LOCK).exists()  # released at the end
    return out


def test_train_into_a_run_without_resume_exits_2_and_touches_nothing(finished):
    before = _snapshot(finished)
    res = invoke(*TRAIN, "--lr", "0.01", "--out", str(finished))
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "already holds a run" in lines[0] and "--resume" in lines[0], res.output
    assert _snapshot(finished) == before


def test_resume_on_a_locked_directory_names_the_holder(finished):
    holder = _holder_process(finished)
    try:
        res = invoke(*TRAIN, "--out", str(finished), "--resume")
        assert res.exit_code == 2
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and f"PID {holder.pid}" in lines[0], res.output
        assert read_holder(finished).pid == holder.pid  # the holder's lock is untouched
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_of_a_dead_trainer_is_taken_over(tmp_path):
    run = tmp_path / "run"
    holder = _holder_process(run)
    holder.kill()  # SIGKILL: the lock stays behind
    holder.wait()
    assert read_holder(run).pid == holder.pid and not read_holder(run).running()
    with RunDirLock(run, resume=True):
        assert read_holder(run).pid == os.getpid()
    assert not (run / LOCK).exists()


def test_a_recycled_pid_is_not_mistaken_for_the_trainer(tmp_path):
    """A lock naming a live PID whose process started at another time is stale."""
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK).write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename, "started": 1}))
    assert not read_holder(run).running()
    with RunDirLock(run, resume=False):
        assert read_holder(run).pid == os.getpid()


def test_a_rejected_run_leaves_no_directory(tmp_path):
    out = tmp_path / "new"
    res = invoke(*TRAIN, "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(out))
    assert res.exit_code == 2, res.output
    assert not out.exists()


_RACER = """
import sys, time
from pathlib import Path
from sslab.errors import ConfigError
from sslab.train.rundir import RunDirLock
start = float(sys.argv[2])
while time.time() < start:
    pass
try:
    lock = RunDirLock(Path(sys.argv[1]), resume=True).acquire()
except ConfigError as exc:
    print("lost", exc, flush=True)
else:
    print("won", flush=True)
    time.sleep(4.0)
    lock.release()
"""


def test_racing_claims_have_exactly_one_winner(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": SRC}
    for stale in (False, True):
        if stale:  # the same race over a lock left by a killed trainer
            run.mkdir(exist_ok=True)
            (run / LOCK).write_text(json.dumps({"pid": 2**22 + 7, "host": os.uname().nodename, "started": 1}))
        start = time.time() + 3.0  # after every interpreter has started
        procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(run), str(start)], stdout=subprocess.PIPE,
                                  text=True, env=env) for _ in range(4)]
        outs = [p.communicate(timeout=60)[0] for p in procs]
        assert sorted(o.split()[0] for o in outs) == ["lost", "lost", "lost", "won"], outs
        losers = [o for o in outs if o.startswith("lost")]
        assert all("in use by the trainer with PID" in o or "claimed by another" in o for o in losers), outs
        assert not (run / LOCK).exists()


@pytest.mark.slow
def test_two_trainers_racing_on_one_directory(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "sslab", *TRAIN, "--epochs", "2", "--checkpoint-every", "1", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
             for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "in use by the trainer with PID" in loser or "already holds a run" in loser
    from sslab.train.checkpoint import load_checkpoint

    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2


def test_lock_api_refuses_a_live_holder(tmp_path):
    run = tmp_path / "run"
    holder = _holder_process(run)
    try:
        with pytest.raises(ConfigError, match=f"PID {holder.pid}"):
            RunDirLock(run, resume=True).acquire()
    finally:
        holder.kill()
        holder.wait()
