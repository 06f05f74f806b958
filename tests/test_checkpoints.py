"""Checkpoints hold tensors and plain data only: a hostile file is refused before any of its
code can run, and every sslab checkpoint loads with the weights-only unpickler."""

import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sslab.cli import app
from sslab.errors import DataError
from sslab.train.checkpoint import CHECKPOINT, checkpoint_bytes, load_checkpoint

runner = CliRunner()
TRAIN = ["train", "mae", "--epochs", "1", "--batch-size", "256", "--eval-every", "0"]


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


class _OpensAFile:
    """Unpickling this object calls open(marker, "w"): code execution on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "mae"
    res = invoke(*TRAIN, "--out", str(out))
    assert res.exit_code == 0, res.output
    return out


def _hostile_copy(trained: Path, where: Path, marker: Path) -> Path:
    """A run directory whose checkpoint is the real one plus an object that runs code."""
    where.mkdir()
    ck = torch.load(trained / CHECKPOINT, weights_only=True)
    ck["history"].append({"note": _OpensAFile(marker)})
    torch.save(ck, where / CHECKPOINT)
    (where / "metrics.json").write_text((trained / "metrics.json").read_text())
    return where


def test_the_hostile_payload_would_run_if_unpickled(tmp_path, trained):
    """Precondition of the tests below: an unrestricted load of the file does create the marker."""
    marker = tmp_path / "pwned"
    run = _hostile_copy(trained, tmp_path / "hostile", marker)
    torch.load(run / CHECKPOINT, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("command", ["eval", "resume"])
def test_hostile_checkpoint_is_refused_without_running_it(tmp_path, trained, command):
    marker = tmp_path / "pwned"
    run = _hostile_copy(trained, tmp_path / "hostile", marker)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    if command == "eval":
        res = invoke("eval", str(run))
    else:
        res = invoke(*TRAIN[:-2], "--epochs", "2", "--eval-every", "0", "--out", str(run), "--resume")
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unpickling can run arbitrary code" in lines[0] and "io.open" in lines[0], res.output
    assert not marker.exists()
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name in before} == before


def test_sslab_checkpoints_load_weights_only_and_hold_plain_data(trained):
    ck = torch.load(trained / CHECKPOINT, map_location="cpu", weights_only=True)
    assert ck["epoch"] == 1 and isinstance(ck["config"]["run"]["vit"], dict)
    with zipfile.ZipFile(trained / CHECKPOINT) as zf:
        (pkl,) = [n for n in zf.namelist() if n.endswith("data.pkl")]
        import pickletools

        globals_used = {
            arg for op, arg, _ in pickletools.genops(io.BytesIO(zf.read(pkl))) if op.name in ("GLOBAL", "STACK_GLOBAL")
        }
    assert not {g for g in globals_used if g and not str(g).startswith(("torch", "collections"))}


def test_writing_a_non_plain_object_is_refused():
    with pytest.raises(TypeError, match=r"checkpoint\['config'\]\['aug'\] is a _OpensAFile"):
        checkpoint_bytes({"model": {}, "config": {"aug": _OpensAFile(Path("x"))}, "epoch": 0, "step": 0})


def test_plain_pickle_and_junk_files_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"model": _OpensAFile(marker)}, protocol=2))
    with pytest.raises(DataError, match="unpickling can run arbitrary code"):
        load_checkpoint(raw)
    assert not marker.exists()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(DataError, match="not an sslab checkpoint"):
        load_checkpoint(other)


def test_eval_reports_metrics_of_the_safe_checkpoint(trained):
    res = invoke("eval", str(trained), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["epoch"] == 1


def test_exported_encoder_reproduces_the_run_features(tmp_path, trained):
    from sslab.data import load_dataset
    from sslab.eval.features import extract_features
    from sslab.methods import build_method
    from sslab.models import ViTConfig, load_encoder, read_encoder_config

    out = tmp_path / "export" / "mae.safetensors"
    res = invoke("export", str(trained), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.with_suffix(".json").is_file()
    ck = load_checkpoint(trained / CHECKPOINT)
    run = ck["config"]["run"]
    method = build_method(run["method"], ViTConfig(**run["vit"]), **run["method_kwargs"])
    method.load_state_dict(ck["model"])
    splits = load_dataset("digits", None, 8).standardized()
    config = read_encoder_config(out)
    assert config["input"]["pixel_mean"] == splits.info["pixel_mean"] and config["epoch"] == 1
    raw = load_dataset("digits", None, 8).test.images
    mean = torch.tensor(config["input"]["pixel_mean"]).view(1, -1, 1, 1)
    std = torch.tensor(config["input"]["pixel_std"]).view(1, -1, 1, 1)
    encoder = load_encoder(out)
    got = extract_features(encoder, (raw - mean) / std)
    want = extract_features(method.encoder, splits.test.images)
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-6, rtol=0)
    assert torch.equal(extract_features(encoder, splits.test.images), want)  # same input: bit for bit
    assert not encoder.training


def test_export_defaults_beside_the_run_and_loader_refuses_foreign_files(tmp_path, trained):
    from sslab.models import load_encoder

    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT).write_bytes((trained / CHECKPOINT).read_bytes())
    assert invoke("export", str(run)).exit_code == 0
    assert (run / "encoder.safetensors").is_file() and (run / "encoder.json").is_file()
    res = invoke("export", str(run), "--out", str(tmp_path / "x.pt"))
    assert res.exit_code == 2 and "ending in .safetensors" in res.output
    (run / "encoder.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not an sslab encoder config"):
        load_encoder(run / "encoder.safetensors")
    (run / "encoder.json").unlink()
    with pytest.raises(DataError, match="no encoder config"):
        load_encoder(run / "encoder.safetensors")
