import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sslab import __version__
from sslab.cli import app
from sslab.config import ExperimentConfig
from sslab.experiments import load_all
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
    assert all(set(c) == {"name", "verdict", "held", "test", "evidence"} for c in rec["claims"])
    assert all(c["held"] == (c["verdict"] == "held") for c in rec["claims"])
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
    assert "held" in page and "<script" not in page and "src='http" not in page and 'src="http' not in page
    assert "<a href='https://arxiv.org/abs/2402.11337'>" in page  # the paper, linked (not loaded)


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


def test_sweep_json_lists_every_point(tmp_path):
    res = invoke("sweep", "linear-limits", "--quick", "--grid", "points=3,4", "--out", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert sorted(p["overrides"]["points"] for p in doc["points"]) == [3, 4] and doc["failed"] == 0
    assert Path(doc["sweep_dir"], "sweep.json").exists() and Path(doc["report"]).exists()


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


def test_failed_experiment_is_reported_others_still_run_and_exit_1(tmp_path, failing_experiment):
    res = invoke("reproduce", "--quick", "--only", f"{failing_experiment},alignment", "--out", str(tmp_path))
    assert res.exit_code == 1, res.output
    assert "1 failed:" in res.stdout and f"{failing_experiment}: RuntimeError: boom" in res.stdout
    (fail_dir,) = list((tmp_path / failing_experiment).iterdir())
    rec = json.loads((fail_dir / "result.json").read_text())
    assert rec["status"] == "failed" and "boom" in rec["error"]
    page = build_report(tmp_path).read_text()
    assert "failed" in page and "boom" in page and "alignment_curves.png" in page


def test_reproduce_json_lists_failures(tmp_path, failing_experiment):
    res = invoke("reproduce", "--only", failing_experiment, "--out", str(tmp_path), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["failed"] == [failing_experiment] and doc["runs"][0]["status"] == "failed"
    assert doc["interrupted"] is None and doc["report"].endswith("index.html")


class _FlakyCfg(ExperimentConfig):
    pass


@pytest.fixture
def interrupted_second_time():
    """An experiment that completes once (one held claim), then is interrupted (Ctrl-C)."""
    from sslab.experiments.base import Claim

    calls = []

    @register("flaky", paper="test", claim="completes once", config=_FlakyCfg)
    def _run(cfg, ctx):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return Result(numbers={"x": 1.0}, claims=[Claim("first run holds", True, "x = 1")])

    yield "flaky"
    REGISTRY.pop("flaky")


def test_ctrl_c_on_reproduce_keeps_the_good_result(tmp_path, interrupted_second_time):
    name = interrupted_second_time
    assert invoke("reproduce", "--only", name, "--out", str(tmp_path)).exit_code == 0
    res = invoke("reproduce", "--only", f"{name},linear-limits", "--out", str(tmp_path))
    assert res.exit_code == 130 and "interrupted during flaky" in res.stdout, res.output
    assert not (tmp_path / "linear-limits").exists(), "Ctrl-C stops the remaining experiments"
    good, bad = sorted((tmp_path / name).iterdir())
    assert json.loads((good / "result.json").read_text())["status"] == "ok"
    assert json.loads((bad / "result.json").read_text())["status"] != "ok"
    page = (tmp_path / "report" / "index.html").read_text()
    summary, problems = page.split("id='problems'")
    assert "first run holds" in summary and good.name in summary and bad.name not in summary
    assert bad.name in problems
    doc = json.loads(invoke("report", str(tmp_path), "--json").stdout)
    assert doc["experiments"][0]["run_dir"] == str(good) and doc["experiments"][0]["verdicts"]["held"] == 1
    assert [p["run_dir"] for p in doc["problems"]] == [str(bad)]


def test_version():
    res = invoke("--version")
    assert res.exit_code == 0 and res.stdout.strip() == f"sslab {__version__}"


def test_list_fits_80_columns_and_shows_latest_verdicts(alignment_run, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    res = invoke("list", "--runs", str(alignment_run))
    assert res.exit_code == 0 and res.stderr == ""
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    rows = json.loads(invoke("list", "--json", "--runs", str(alignment_run)).stdout)
    assert len(rows) == len(load_all())
    by_name = {r["name"]: r for r in rows}
    rec = json.loads(sorted((alignment_run / "alignment").glob("*/result.json"))[-1].read_text())
    held = sum(c["verdict"] == "held" for c in rec["claims"])
    assert by_name["alignment"]["latest"]["verdicts"]["held"] == held
    assert by_name["linear-limits"]["latest"] is None
    assert f"latest: {held} held" in " ".join(res.stdout.split())
    for r in rows:  # every claim is printed in full, wrapped
        assert " ".join(r["claim"].split()) in " ".join(res.stdout.split())


def test_results_on_stdout_progress_on_stderr(alignment_run):
    (run_dir, *_) = sorted((alignment_run / "alignment").iterdir())
    res = invoke("run", "alignment", "--config", str(run_dir / "result.json"), "--out", str(alignment_run),
                 "--json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)  # stdout is exactly one JSON document
    assert doc["experiment"] == "alignment" and doc["status"] == "ok"
    assert all(c["verdict"] in ("held", "not held", "inconclusive") for c in doc["claims"])


def test_run_replays_a_result_json(alignment_run):
    first, *_ = sorted((alignment_run / "alignment").iterdir())
    old = json.loads((first / "result.json").read_text())
    res = invoke("run", "alignment", "--config", str(first / "result.json"), "--out", str(alignment_run), "--json")
    new = json.loads((Path(json.loads(res.stdout)["run_dir"]) / "result.json").read_text())
    assert new["config"] == old["config"] and new["seed"] == old["seed"] == 3 and new["quick"] is True
    assert new["numbers"] == old["numbers"]  # deterministic experiment: same config, same numbers


def test_run_reads_yaml_and_json_config_files_and_set_wins(tmp_path):
    (tmp_path / "c.yaml").write_text("points: 5\ntolerance: 0.01\n")
    (tmp_path / "c.json").write_text(json.dumps({"points": 7}))
    res = invoke("run", "linear-limits", "--config", str(tmp_path / "c.yaml"), "--set", "tolerance=0.02",
                 "--out", str(tmp_path / "runs"), "--json")
    rec = json.loads((Path(json.loads(res.stdout)["run_dir"]) / "result.json").read_text())
    assert rec["config"]["points"] == 5 and rec["config"]["tolerance"] == 0.02
    res = invoke("run", "linear-limits", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "r2"),
                 "--json")
    rec = json.loads((Path(json.loads(res.stdout)["run_dir"]) / "result.json").read_text())
    assert rec["config"]["points"] == 7


@pytest.mark.parametrize(
    "content,needle",
    [
        ("[1, 2]", "expected a mapping"),
        ("{not json", "not valid JSON/YAML"),
        ('{"points": 0}', "points=0"),
        ('{"bogus": 1}', "unknown config key bogus"),
        ('{"experiment": "alignment", "config": {}}', "is a result of experiment 'alignment'"),
    ],
)
def test_bad_config_file_is_one_line_exit_2(tmp_path, content, needle):
    (tmp_path / "c.json").write_text(content)
    res = invoke("run", "linear-limits", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "runs"))
    assert res.exit_code == 2 and needle in " ".join(res.stderr.split()), res.output
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_missing_config_file_is_exit_2(tmp_path):
    res = invoke("run", "linear-limits", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path))
    assert res.exit_code == 2 and "cannot read it" in res.stderr


def test_config_command_prints_keys_types_defaults_ranges():
    from sslab.experiments.runner import get_experiment

    exp = get_experiment("alignment")
    doc = json.loads(invoke("config", "alignment", "--json").stdout)
    keys = {r["key"]: r for r in doc["keys"]}
    assert list(keys) == list(exp.config.model_fields)
    assert keys["k_max"]["default"] == exp.config().k_max and keys["k_max"]["quick"] == exp.quick["k_max"]
    assert keys["k_max"]["allowed"].startswith("int >= 1")
    text = invoke("config", "alignment").stdout
    assert all(k in text for k in keys) and ">= 1" in text
    assert invoke("config", "nope").exit_code == 2


JSON_COMMANDS = ("list", "config", "run", "reproduce", "sweep", "report", "doctor", "train", "eval", "export",
                 "data list", "data show", "data shard")


def _commands(cmd=None, path=()):
    import typer.main

    cmd = cmd or typer.main.get_command(app)
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def test_every_option_of_every_command_has_help():
    commands = dict(_commands())
    assert {"list", "config", "run", "reproduce", "sweep", "report", "train", "eval"} <= set(commands)
    for name, cmd in commands.items():
        assert cmd.help, f"sslab {name} has no help"
        for param in cmd.params:
            assert getattr(param, "help", None), f"sslab {name}: {param.name} has no help text"


@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_result_commands_offer_json_and_examples(command):
    cmd = dict(_commands())[command]
    assert "Example" in cmd.help
    assert "--json" in [o for p in cmd.params for o in getattr(p, "opts", [])]


def test_shell_completion_is_enabled_and_completes_experiment_names():
    from sslab.cli import _complete_experiment

    assert "--install-completion" in invoke("--help").stdout
    assert _complete_experiment("je-vs") == ["je-vs-recon-deep", "je-vs-recon-phase", "je-vs-recon-samples"]


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
    res = invoke("eval", str(out), "--json")
    assert res.exit_code == 0 and '"linear"' in res.stdout
    saved = json.loads((out / "eval.json").read_text())
    assert saved == json.loads(res.stdout) and saved["linear"] == pytest.approx(metrics["linear"])

    assert (out / "tensorboard" / "projector_config.pbtxt").is_file()  # the embedding projector
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
