"""Every bad `sslab train` option is refused before anything is written: exit code 2, one
line naming the option and a valid value, no run directory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sslab.cli import app
from sslab.errors import ConfigError
from sslab.train.options import TrainOptions, validate

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[1] / "src")

# (method, extra options, text the one line must contain: the option and a valid value)
BAD_OPTIONS = [
    ("mae", ["--lr", "nan"], ["--lr=nan", "e.g. --lr 0.0015"]),
    ("mae", ["--lr", "-1"], ["--lr=-1.0", "(0, 10]"]),
    ("mae", ["--lr", "inf"], ["--lr=inf", "e.g. --lr"]),
    ("mae", ["--lr", "0"], ["--lr=0.0", "(0, 10]"]),
    ("mae", ["--checkpoint-every", "0"], ["--checkpoint-every=0", "e.g. --checkpoint-every 5"]),
    ("mae", ["--image-size", "0"], ["--image-size=0", "e.g. --image-size"]),
    ("mae", ["--image-size", "7"], ["--image-size=7", "multiple of --patch 2"]),
    ("mae", ["--image-size", "2"], ["--image-size=2", "at least 2 patches per side"]),
    ("mae", ["--patch", "0"], ["--patch=0", "e.g. --patch 2"]),
    ("mae", ["--seed", str(2**64)], [f"--seed={2**64}", "[0, 4294967295]"]),
    ("mae", ["--seed", "-1"], ["--seed=-1", "e.g. --seed 0"]),
    ("mae", ["--epochs", "0"], ["--epochs=0", "e.g. --epochs 50"]),
    ("mae", ["--epochs", str(10**12)], ["--epochs=", "[1, 100000]"]),
    ("mae", ["--batch-size", "1"], ["--batch-size=1", "e.g. --batch-size 128"]),
    ("mae", ["--batch-size", "-4"], ["--batch-size=-4", "e.g. --batch-size"]),
    ("mae", ["--mask-ratio", "1"], ["--mask-ratio=1.0", "[0, 1)"]),
    ("mae", ["--mask-ratio", "nan"], ["--mask-ratio=nan", "e.g. --mask-ratio 0.75"]),
    ("mae", ["--mask-ratio", "-0.1"], ["--mask-ratio=-0.1", "[0, 1)"]),
    ("mae", ["--uniformity-weight", "0.5"], ["--uniformity-weight applies to umae only", "sslab train umae"]),
    ("simclr", ["--mask-ratio", "0.5"], ["--mask-ratio applies to mae and umae only", "drop it"]),
    ("latent", ["--uniformity-weight", "0.1"], ["--uniformity-weight applies to umae only"]),
    ("umae", ["--uniformity-weight", "nan"], ["--uniformity-weight=nan", "e.g. --uniformity-weight 0.01"]),
    ("umae", ["--uniformity-weight", "-1"], ["--uniformity-weight=-1.0", "[0, 1000]"]),
    ("mae", ["--eval-every", "-1"], ["--eval-every=-1", "e.g. --eval-every 5"]),
    ("mae", ["--on-nan", "ignore"], ["--on-nan=ignore", "use stop, skip, rollback"]),
    ("mae", ["--max-skip-frac", "0.1"], ["--max-skip-frac applies to --on-nan skip only", "drop it"]),
    ("mae", ["--on-nan", "skip", "--max-skip-frac", "1.5"], ["--max-skip-frac=1.5", "e.g. --max-skip-frac 0.01"]),
    ("mae", ["--on-nan", "skip", "--max-skip-frac", "nan"], ["--max-skip-frac=nan", "[0, 1]"]),
    ("mae", ["--on-nan", "skip", "--max-rollbacks", "2"], ["--max-rollbacks applies to --on-nan rollback only"]),
    ("mae", ["--on-nan", "rollback", "--max-rollbacks", "-1"], ["--max-rollbacks=-1", "e.g. --max-rollbacks 3"]),
    ("mae", ["--data-dir", "/definitely/not/here"], ["--data-dir=/definitely/not/here", "give the folder"]),
    ("mae", ["--nproc", "0"], ["--nproc=0", "e.g. --nproc 2"]),
    ("mae", ["--nproc", "3", "--batch-size", "64"], ["--batch-size 64", "divisible by --nproc 3"]),
    ("mae", ["--device", "tpu"], ["unknown device 'tpu'", "use auto, cpu"]),
    ("mae", ["--precision", "fp8"], ["--precision=fp8", "use fp32, bf16"]),
]


def _one_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(("method", "args", "needles"), BAD_OPTIONS, ids=[" ".join([m, *a]) for m, a, _ in BAD_OPTIONS])
def test_bad_option_is_one_line_exit_2_and_writes_nothing(tmp_path, method, args, needles):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", method, "--epochs", "1", "--out", str(out), *args] if "--epochs" not in args
                        else ["train", method, "--out", str(out), *args], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    line = _one_line(res.output)
    assert line.startswith("error:") and all(n in line for n in needles), line
    assert not out.exists()


def test_out_that_is_a_file_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    res = runner.invoke(app, ["train", "mae", "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 2 and "--out=" in _one_line(res.output) and "give a directory" in res.output
    assert out.read_text() == "mine"


# (extra options, text of the one line): values that are not of the option's type
BAD_TYPES = [
    (["--epochs", "true"], "'--epochs'"),
    (["--epochs", "1.5"], "'--epochs'"),
    (["--lr", "abc"], "'--lr'"),
    (["--seed", "1e3"], "'--seed'"),
    (["--bogus", "1"], "No such option: --bogus"),
    (["--preset", "huge"], "'huge' is not one of 'cpu-tiny', 'vit-tiny'"),  # choices
    (["--dataset", "mnist"], "'mnist' is not one of 'digits', 'mnist-5k'"),
]


def test_choices_follow_the_registries():
    import typing

    from sslab.data import DATASETS
    from sslab.methods import METHODS
    from sslab.models import PRESETS
    from sslab.train import cli as train_cli

    assert set(typing.get_args(train_cli.MethodChoice)) == set(METHODS)
    from sslab.train.stream_run import STREAMING

    assert set(typing.get_args(train_cli.DatasetChoice)) == set(DATASETS) | set(STREAMING)
    assert set(typing.get_args(train_cli.PresetChoice)) == set(PRESETS)
    done = subprocess.run([sys.executable, "-m", "sslab", "train", "bogus"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=120)
    assert done.returncode == 2 and "'bogus' is not one of 'mae', 'umae'" in _one_line(done.stdout + done.stderr)


def test_values_of_the_wrong_type_are_one_line_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    for args, needle in BAD_TYPES:
        out = tmp_path / "run"
        done = subprocess.run([sys.executable, "-m", "sslab", "train", "mae", "--out", str(out), *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        line = _one_line(done.stdout + done.stderr)
        assert needle in line and "see `sslab train --help`" in line, line
        assert not out.exists()


@pytest.mark.parametrize("field", ["epochs", "seed", "batch_size", "patch", "checkpoint_every"])
def test_a_bool_is_not_an_integer(field):
    with pytest.raises(ConfigError, match="need an integer"):
        validate(TrainOptions("mae", **{field: True}))


def test_good_options_pass_and_record_the_reference_defaults():
    validate(TrainOptions("mae"))
    validate(TrainOptions("umae", uniformity_weight=0.0))
    assert TrainOptions("mae").method_kwargs() == {"mask_ratio": 0.75}  # official MAE
    assert TrainOptions("simclr").method_kwargs() == {}
