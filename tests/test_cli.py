import json

import pytest
from typer.testing import CliRunner

from sslab.cli import app
from sslab.config import ExperimentConfig
from sslab.experiments.base import REGISTRY, Result, register
from sslab.report import build_report

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def alignment_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    res = invoke("run", "alignment", "--quick", "--seed", "3", "--out", str(out))
    assert res.exit_code == 0, res.output
    return out


def test_run_writes_result_schema_and_figure(alignment_run):
    (run_dir,) = list((alignment_run / "alignment").iterdir())
    rec = json.loads((run_dir / "result.json").read_text())
    for key in ("experiment", "version", "seed", "quick", "config", "numbers", "claims", "figures", "seconds"):
        assert key in rec
    assert rec["status"] == "ok" and rec["seed"] == 3 and rec["quick"] is True
    assert all(set(c) == {"name", "held", "evidence"} for c in rec["claims"])
    assert (run_dir / rec["figures"][0]).stat().st_size > 1000
    assert (run_dir / "log.txt").read_text().count("claim") == len(rec["claims"])


def test_second_run_does_not_overwrite(alignment_run):
    res = invoke("run", "alignment", "--quick", "--out", str(alignment_run))
    assert res.exit_code == 0
    assert len(list((alignment_run / "alignment").iterdir())) == 2


def test_report_shows_summary_and_figure(alignment_run):
    res = invoke("report", str(alignment_run))
    assert res.exit_code == 0
    page = (alignment_run / "report" / "index.html").read_text()
    assert "alignment" in page and "data:image/png;base64," in page
    assert "held" in page and "<script" not in page and "http" not in page.replace("http-equiv", "")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "k_max=0"], "k_max=0"),
        (["--set", "bogus=1"], "unknown config key bogus"),
        (["--set", "k_max"], "key=value"),
        (["--data-dir", "/definitely/not/here"], "/definitely/not/here"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    res = invoke("run", "alignment", "--quick", "--out", str(tmp_path), *args)
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert any(needle in ln for ln in lines), res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "alignment").exists(), "a rejected config must not create a run"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--nproc", "3", "--batch-size", "64"], "must be divisible by --nproc 3"),
        (["--nproc", "0"], "--nproc=0"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--precision", "fp8"], "--precision=fp8"),
    ],
)
def test_train_rejects_bad_runtime_options_before_launching(tmp_path, args, needle):
    res = invoke("train", "mae", "--epochs", "1", "--out", str(tmp_path / "t"), *args)
    assert res.exit_code == 2 and needle in " ".join(res.output.split()), res.output
    assert not (tmp_path / "t").exists()


def test_sweep_cli_rejects_bad_grid_and_seeds(tmp_path):
    cases = ((["--grid", "k"], "--grid expects key=v1,v2"), (["--grid", "k=10", "--seeds", "a"], "--seeds"))
    for args, needle in cases:
        res = invoke("sweep", "linear-limits", "--out", str(tmp_path), *args)
        assert res.exit_code == 2 and needle in " ".join(res.output.split()), res.output
    assert not any(tmp_path.iterdir())


def test_unknown_experiment(tmp_path):
    res = invoke("run", "nope", "--out", str(tmp_path))
    assert res.exit_code == 2 and "unknown experiment 'nope'" in res.output


class _FailCfg(ExperimentConfig):
    pass


@pytest.fixture
def failing_experiment():
    @register("always-fails", paper="test", claim="fails", config=_FailCfg)
    def _run(cfg, ctx):
        raise RuntimeError("boom")

    yield "always-fails"
    REGISTRY.pop("always-fails")


def test_failed_experiment_is_reported_and_others_still_run(tmp_path, failing_experiment):
    res = invoke("reproduce", "--quick", "--only", f"{failing_experiment},alignment", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    (fail_dir,) = list((tmp_path / failing_experiment).iterdir())
    rec = json.loads((fail_dir / "result.json").read_text())
    assert rec["status"] == "failed" and "boom" in rec["error"]
    page = build_report(tmp_path).read_text()
    assert "failed" in page and "boom" in page and "alignment_curves.png" in page


def test_list_and_doctor(tmp_path):
    res = invoke("list")
    assert res.exit_code == 0 and "alignment" in res.output
    res = invoke("doctor", "--out", str(tmp_path))
    assert res.exit_code == 0 and "torch" in res.output


def test_python_dash_m_entry_point(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "sslab", "--help"], capture_output=True, text=True, check=True)
    assert "reproduce" in out.stdout


def test_result_defaults_are_independent():
    assert Result().numbers is not Result().numbers


def test_train_then_eval_then_resume(tmp_path):
    out = tmp_path / "mae"
    args = ["train", "mae", "--epochs", "2", "--batch-size", "256", "--eval-every", "1", "--out", str(out)]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0 <= metrics["linear"] <= 1
    assert any((out / "tensorboard").iterdir())
    res = invoke("eval", str(out))
    assert res.exit_code == 0 and '"linear"' in res.output
    res = invoke(*args, "--resume")  # finished: a no-op
    assert res.exit_code == 0
    res = invoke(*args[:-2], "--lr", "0.1", "--out", str(out), "--resume")
    assert res.exit_code == 2 and "cannot resume with a changed config" in res.output


def test_data_dir_runs_an_experiment_on_cifar_files(tmp_path):
    from test_data_loaders import write_cifar10

    write_cifar10(tmp_path / "data", per_batch=20)
    res = invoke("run", "mask-distance", "--quick", "--set", "pairs=200", "--set", "ratios=0,0.5,0.9",
                 "--set", "patch=4", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs"))
    assert res.exit_code == 0, res.output
    (run_dir,) = list((tmp_path / "runs" / "mask-distance").iterdir())
    rec = json.loads((run_dir / "result.json").read_text())
    assert rec["config"]["dataset"] == "auto" and "cifar10" in rec["notes"]


@pytest.mark.parametrize("command", ["train", "eval"])
def test_every_training_option_has_help_text(command):
    import typer.main

    params = typer.main.get_command(app).commands[command].params
    missing = [p.name for p in params if not (getattr(p, "help", None) or "").strip()]
    assert len(params) > 2 and missing == []
