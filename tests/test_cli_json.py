"""Every sslab command takes --json: stdout is then exactly one JSON document (progress and
errors stay on stderr), and a bad option is still one line on stderr with exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sslab.cli import app, main
from test_streaming import write_folder

runner = CliRunner()


def _leaf_commands(cmd=None, path=()):
    cmd = cmd or typer.main.get_command(app)
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _leaf_commands(sub, (*path, name))
    else:
        yield " ".join(path)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with one finished 1-epoch `sslab train mae` run (8×8 digits) in train/ and a tiny image folder."""
    root = tmp_path_factory.mktemp("json")
    res = runner.invoke(app, ["train", "mae", "--epochs", "1", "--batch-size", "256", "--eval-every", "0",
                              "--out", str(root / "train")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    write_folder(root / "images", per_class=2, nested=False)
    (root / "runs").mkdir()
    return root


# command line (with {w} for the work folder) → keys its JSON document must have
CASES: dict[str, tuple[list[str], set[str]]] = {
    "list": (["list", "--runs", "{w}/runs"], {"name", "claim", "latest"}),
    "config": (["config", "linear-limits"], {"experiment", "keys"}),
    "run": (["run", "linear-limits", "--quick", "--set", "points=3", "--out", "{w}/runs"],
            {"experiment", "run_dir", "status", "claims"}),
    "reproduce": (["reproduce", "--quick", "--only", "linear-limits", "--out", "{w}/rep"],
                  {"runs", "failed", "interrupted", "not_run", "report"}),
    "sweep": (["sweep", "linear-limits", "--quick", "--grid", "points=3", "--out", "{w}/sweep"],
              {"sweep_dir", "points", "failed", "report"}),
    "report": (["report", "{w}/runs"], {"report", "experiments", "problems"}),
    "doctor": (["doctor", "--out", "{w}/runs"], {"sslab", "torch", "threads", "cuda", "extras", "write"}),
    "train": (["train", "mae", "--epochs", "1", "--batch-size", "256", "--eval-every", "0", "--out", "{w}/t2"],
              {"method", "epochs", "linear", "knn", "world_size", "out"}),
    "eval": (["eval", "{w}/train"], {"epoch", "linear", "knn"}),
    "export": (["export", "{w}/train", "--out", "{w}/enc.safetensors"], {"weights", "config", "input", "method"}),
    "data list": (["data", "list"], {"name", "size", "licence"}),
    "data show": (["data", "show", "digits", "--per-class", "2", "--out", "{w}/digits.png"],
                  {"dataset", "split", "png", "samples", "classes"}),
    "data shard": (["data", "shard", "{w}/images", "{w}/shards", "--shard-size", "4"], {"out", "parts"}),
}


def test_every_command_is_covered():
    assert set(_leaf_commands()) == set(CASES)


@pytest.mark.parametrize("command", sorted(CASES))
def test_json_output_is_one_document_on_stdout(command, work):
    args, keys = CASES[command]
    res = runner.invoke(app, [a.replace("{w}", str(work)) for a in args] + ["--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # raises when anything else is on stdout
    first = doc[0] if isinstance(doc, list) else doc
    assert keys <= set(first), (keys - set(first), res.stdout[:500])
    assert res.stdout.lstrip()[0] in "[{"
    if command == "data show":
        assert Path(doc["png"]).is_file()
    if command == "export":
        assert Path(doc["weights"]).is_file() and Path(doc["config"]).is_file()


@pytest.mark.parametrize("command", sorted(CASES))
def test_bad_option_with_json_is_one_line_exit_2(command, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["sslab", *command.split(), "--json", "--no-such-option"])
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    assert exc.value.code == 2
    assert captured.out == ""
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--no-such-option" in lines[0], captured.err
