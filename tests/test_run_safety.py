"""`sslab run` under bad input and faults: every failure is one line with exit code 2 and
leaves no run directory; interrupted runs are flagged; a full disk is one line."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sslab.cli import app
from sslab.errors import ConfigError
from sslab.experiments import load_all
from sslab.experiments.runner import collect_runs, get_experiment, resolve_config
from sslab.io import atomic_write_json
from test_data_loaders import write_cifar10, write_png_header, write_stl10

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _one_line_exit_2(res, needle: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.output


@pytest.mark.parametrize(
    "sets,needle",
    [
        (["points=true"], "bad value points=True"),
        (["points=2.5"], "bad value points=2.5"),
        (["tolerance=nan"], "bad value tolerance='nan'"),
        (["k=false"], "e.g. --set k=16"),
        (["temperature=inf"], "bad value temperature='inf'"),  # refused as non-finite, before the bounds
        (["temperature=NaN"], "bad value temperature=nan"),
        (["steps=true"], "bad value steps=True"),
    ],
)
def test_bad_config_types_exit_2_and_write_nothing(tmp_path, sets, needle):
    args = [a for s in sets for a in ("--set", s)]
    name = "vit-global-local" if any(s.startswith(("temperature", "steps")) for s in sets) else "linear-limits"
    res = invoke("run", name, "--quick", "--out", str(tmp_path), *args)
    _one_line_exit_2(res, needle)
    assert not any(tmp_path.iterdir())


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_flags_the_run_interrupted_and_exits_128_plus_signal(tmp_path, sig, code):
    # a run long enough to be caught mid-way: 10 million gradient steps
    cmd = [sys.executable, "-m", "sslab", "run", "spectral-dynamics", "--set", "steps=10000000",
           "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(p.read_text().count("experiment spectral-dynamics") for p in
                              tmp_path.glob("spectral-dynamics/*/log.txt")))
        time.sleep(0.5)  # well inside the experiment's loop
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err[-2000:]
    (run_dir,) = (tmp_path / "spectral-dynamics").iterdir()
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "interrupted" and record["signal"] == sig.name
    assert record["error"] == f"interrupted by {sig.name}" and record["seconds"] > 0
    assert sorted(p.name for p in run_dir.iterdir()) == ["log.txt", "result.json"], "temporary file left"
    lines = [ln for ln in (out + err).splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1 and f"interrupted by {sig.name}" in lines[0], out + err


def _record(runs: Path, name: str, stamp: str, status: str, **extra) -> Path:
    run_dir = runs / name / stamp
    atomic_write_json(run_dir / "result.json", {"experiment": name, "status": status, "seconds": 1.0, **extra})
    return run_dir


def test_collect_runs_never_replaces_a_complete_result_with_a_failed_or_interrupted_one(tmp_path):
    a_ok = _record(tmp_path, "a", "20260101T000000000000Z", "ok", numbers={"x": 1})
    a_old_fail = _record(tmp_path, "a", "20251231T000000000000Z", "failed", error="boom")
    a_int = _record(tmp_path, "a", "20260102T000000000000Z", "interrupted", signal="SIGTERM")
    b_old = _record(tmp_path, "b", "20260101T000000000000Z", "ok", numbers={"x": 2})
    b_new = _record(tmp_path, "b", "20260103T000000000000Z", "ok", numbers={"x": 3})
    c_fail = _record(tmp_path, "c", "20260101T000000000000Z", "failed", error="boom")
    _record(tmp_path, "d", "20260101T000000000000Z", "ok", sweep="d/20260101T000000000000Z")  # a sweep point
    _record(tmp_path, "e", "20260101T000000000000Z", "running")
    (tmp_path / "f" / "20260101T000000000000Z").mkdir(parents=True)  # killed with SIGKILL: no result.json
    (tmp_path / "g" / "20260101T000000000000Z").mkdir(parents=True)
    (tmp_path / "g" / "20260101T000000000000Z" / "result.json").write_text('{"experiment": "g", "sta')
    latest, problems = collect_runs(tmp_path)
    assert [(d, r["status"]) for d, r in latest] == [(a_ok, "ok"), (b_new, "ok")]
    assert b_old not in [d for d, _ in latest]
    assert [(d, r["status"]) for d, r in problems] == [
        (a_old_fail, "failed"), (a_int, "interrupted"), (c_fail, "failed")
    ]


def _cifar_with_corrupt_batch(root: Path) -> Path:
    write_cifar10(root, per_batch=20)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02}q\x00(garbage")
    return root


def _truncated_stl10(root: Path) -> Path:
    write_stl10(root)
    x = root / "stl10_binary" / "train_X.bin"
    x.write_bytes(x.read_bytes()[:-100])
    return root


def _image_folder_with_a_broken_png(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    (root / "dog" / "5.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def _image_folder_with_a_bomb(root: Path) -> Path:
    _image_folder_with_a_broken_png(root)
    (root / "dog" / "5.png").unlink()
    write_png_header(root / "dog" / "5.png", 100_000, 100_000)
    return root


def _image_folder_with_one_class(root: Path) -> Path:
    _image_folder_with_a_broken_png(root)
    shutil.rmtree(root / "dog")
    return root


def _image_folder_with_one_image_per_class(root: Path) -> Path:
    for c in ("cat", "dog", "eel"):
        (root / c).mkdir(parents=True)
        Image.new("RGB", (8, 8), (len(c), 0, 0)).save(root / c / "only.png")
    return root


def _missing_batch(root: Path) -> Path:
    write_cifar10(root, per_batch=20)
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    return root


def _empty_dir(root: Path) -> Path:
    root.mkdir()
    return root


@pytest.mark.parametrize(
    "make,needle",
    [
        (_cifar_with_corrupt_batch, "data_batch_3 is truncated or corrupt"),  # found while loading
        (_image_folder_with_a_broken_png, "cannot decode image"),  # found while loading
        (_truncated_stl10, "not a multiple of 3x96x96"),  # found by the layout check
        (_missing_batch, "missing file"),
        (_image_folder_with_a_bomb, "more than the 67,108,864 allowed"),
        (_image_folder_with_one_class, "a probe needs at least 2 classes"),
        (_image_folder_with_one_image_per_class, "holds 1 image; every class needs at least 6"),
        (_empty_dir, "no class sub-folders"),
    ],
)
def test_data_errors_in_run_exit_2_and_leave_no_run_directory(tmp_path, make, needle):
    data = make(tmp_path / "data")
    out = tmp_path / "runs"
    res = invoke("run", "mask-distance", "--quick", "--set", "pairs=200", "--set", "ratios=0,0.5",
                 "--set", "patch=4", "--data-dir", str(data), "--out", str(out))
    _one_line_exit_2(res, needle)
    leftovers = [p for p in out.rglob("*")] if out.exists() else []
    assert leftovers == [], leftovers


class _FullRaw(io.RawIOBase):
    """A file on a full disk: it can be created (inodes are left) but no byte can be written."""

    def __init__(self, path: str) -> None:
        self.name = path

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", self.name)


def simulate_full_disk(monkeypatch, root: Path, *, files_opened_with_open: bool = True) -> None:
    """Every write of data into a file under ``root`` fails with ENOSPC, whether by os.write (as
    sslab's atomic writes do) or through a file object from open() (as logging does)."""
    root = root.resolve()
    real_write, real_open = os.write, builtins.open

    def under_root(path: str | os.PathLike | int) -> bool:
        if isinstance(path, int):
            try:
                path = os.readlink(f"/proc/self/fd/{path}")
            except OSError:
                return False
        return Path(os.path.abspath(path)).is_relative_to(root)

    def write(fd: int, data) -> int:
        if under_root(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def open_(file, mode="r", *args, **kwargs):
        if not isinstance(file, int) and any(m in mode for m in "wax+") and under_root(file):
            real_open(file, "a").close()  # creating the file still works on a full disk
            buffered = io.BufferedWriter(_FullRaw(os.fspath(file)))
            return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding=kwargs.get("encoding"))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "write", write)
    if files_opened_with_open:
        monkeypatch.setattr(builtins, "open", open_)


@pytest.mark.parametrize("log_fails", [True, False])
def test_a_full_disk_is_one_line_exit_2_and_leaves_no_run(tmp_path, monkeypatch, log_fails):
    out = tmp_path / "runs"
    out.mkdir()
    simulate_full_disk(monkeypatch, out, files_opened_with_open=log_fails)
    res = invoke("run", "linear-limits", "--quick", "--set", "points=5", "--out", str(out))
    monkeypatch.undo()
    written = "log.txt" if log_fails else "result.json"
    _one_line_exit_2(res, f"{written}: the disk is full; choose another --out directory or free space")
    assert "Logging error" not in res.output
    assert [p for p in out.rglob("*")] == []


def test_doctor_writes_data_and_reports_a_full_disk(tmp_path, monkeypatch):
    res = invoke("doctor", "--out", str(tmp_path))
    assert res.exit_code == 0 and "│ ok" in res.output and "NO:" not in res.output, res.output
    simulate_full_disk(monkeypatch, tmp_path)
    res = invoke("doctor", "--out", str(tmp_path))
    monkeypatch.undo()
    assert res.exit_code == 2, res.output
    flat = " ".join(res.output.split())
    assert "│ NO: cannot write" in res.output and "disk is full" in flat, res.output
    assert f"error: cannot write {tmp_path}/.sslab-doctor-" in flat, res.output
    assert list(tmp_path.iterdir()) == [], "the probe file was left behind"


# (experiment, overrides, words the one-line error must contain); each pair of settings contradicts
CONFLICTS = [
    ("ssl-compare", {"methods": ["mae", "simclr"], "uniformity_weight": 0.5},
     "uniformity_weight=0.5 has no effect: it weights U-MAE's uniformity term and methods has no umae"),
    ("ssl-compare", {"methods": ["simclr", "latent"], "mask_ratio": 0.5},
     "mask_ratio=0.5 has no effect: only mae and umae mask"),
    ("ssl-compare", {"methods": ["mae", "mae"]}, "methods lists mae more than once"),
    ("global-local-deep", {"methods": ["simclr", "latent"], "mask_ratio": 0.9}, "mask_ratio=0.9 has no effect"),
    ("mask-ratio-probe", {"mask_ratio": 0.5}, "mask_ratio=0.5 has no effect: ratios gives the mask ratio"),
    ("mask-distance", {"modes": ["same"], "draws": 16}, "draws=16 has no effect: only mode 'min'"),
    ("alignment", {"image_size": 16}, "image_size=16 has no effect: it resizes the extra dataset"),
    ("masking-alignment", {"image_size": 16}, "image_size=16 has no effect"),
    ("linear-limits", {"log10_lambda_min": 0, "log10_lambda_max": 0}, "log10_lambda_min=0.0 must be below"),
    ("spectral-dynamics", {"steps": 100, "record_every": 500}, "record_every=500 is more than steps=100"),
]


@pytest.mark.parametrize("name,overrides,needle", CONFLICTS)
def test_contradicting_settings_are_refused(name, overrides, needle):
    with pytest.raises(ConfigError) as exc:
        resolve_config(get_experiment(name), True, overrides)
    assert needle in str(exc.value) and name in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name,overrides", [
    ("ssl-compare", {"methods": ["umae", "simclr"], "uniformity_weight": 0.5}),  # umae uses it
    ("mask-distance", {"modes": ["min"], "draws": 16}),
    ("mask-distance", {"modes": ["same"]}),  # the quick layer's draws=4 is not the user's
    ("alignment", {"image_size": 16, "dataset": "auto"}),
    ("linear-limits", {"log10_lambda_min": -1, "log10_lambda_max": 0}),
])
def test_consistent_settings_pass(name, overrides):
    resolve_config(get_experiment(name), True, overrides)


def test_every_experiment_default_and_quick_config_is_consistent():
    for exp in load_all().values():
        resolve_config(exp, False, {})
        resolve_config(exp, True, {})


@pytest.mark.parametrize("sets,needle", [
    (["--set", "dataset=cifar10"], "dataset 'cifar10' is not bundled: pass --data-dir"),
    (["--set", "dataset=mnist"], "unknown dataset 'mnist'"),
    (["--set", "image_size=16"], "conflicting settings for experiment 'alignment'"),
])
def test_conflicts_and_unusable_datasets_in_run_exit_2_and_write_nothing(tmp_path, sets, needle):
    res = invoke("run", "alignment", "--quick", "--out", str(tmp_path), *sets)
    _one_line_exit_2(res, needle)
    assert not any(tmp_path.iterdir())


def test_a_replayed_full_config_only_checks_the_keys_it_changes():
    exp = get_experiment("mask-distance")
    full = resolve_config(exp, True, {}).model_dump(mode="json")  # every key, draws=4 from the quick layer
    resolve_config(exp, True, {**full, "modes": ["same"]})  # draws is not the user's: no conflict
    with pytest.raises(ConfigError, match="draws=6 has no effect"):
        resolve_config(exp, True, {**full, "modes": ["same"], "draws": 6})


@pytest.mark.parametrize("args", [["run", "linear-limits", "--seed", "-1"],
                                  ["run", "linear-limits", "--seed", str(2**64)],
                                  ["sweep", "linear-limits", "--grid", "k=10,16", "--seeds", "0,-5"]])
def test_a_seed_out_of_range_is_one_line_exit_2(tmp_path, args):
    res = invoke(*args, "--out", str(tmp_path))
    _one_line_exit_2(res, "--seed must be an integer from 0 to 2147483647")
    assert not any(tmp_path.iterdir())
