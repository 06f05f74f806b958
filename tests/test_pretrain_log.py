"""The experiments' pre-trainings write a TensorBoard log into their cache entry (per-epoch
scalars, hparams with the final values, a reconstruction grid for MAE/U-MAE), result.json says
where, and the log changes neither the cache key nor any number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from sslab.cli import app
from sslab.data import load_dataset
from sslab.models import vit_config
from sslab.train.cache import EncoderCache
from sslab.train.loop import TrainConfig
from sslab.train.pipeline import pretrain

SCALARS = {"epoch/loss", "epoch/lr", "epoch/effective_rank", "epoch/seconds"}


def _events(log_dir: Path) -> tuple[set[str], set[str], set[str]]:
    """(scalar tags, image tags, plugins) over every event file of ``log_dir``."""
    scalars, images, plugins = set(), set(), set()
    for f in log_dir.glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(f), size_guidance={"images": 0})
        acc.Reload()
        tags = acc.Tags()
        scalars |= set(tags["scalars"])
        images |= set(tags["images"])
        try:
            acc.PluginTagToContent("hparams")
            plugins.add("hparams")
        except KeyError:  # this file has no hparams
            pass
    return scalars, images, plugins


def test_a_tiny_experiment_logs_each_pretraining_into_its_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLAB_PREFETCH_WORKERS", "0")
    monkeypatch.setenv("SSLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SSLAB_TENSORBOARD", raising=False)
    sets = ["dataset=digits", "image_size=8", "patch=2", "epochs=2", "seeds=1", "finetune_epochs=0", "probe_cs=[1.0]"]
    args = ["run", "umae-vs-mae", "--quick", "--out", str(tmp_path / "runs"), "--json"]
    res = CliRunner().invoke(app, [*args, *(a for s in sets for a in ("--set", s))], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    record = json.loads((Path(json.loads(res.stdout)["run_dir"]) / "result.json").read_text())
    runs = record["numbers"]["pretraining"]["runs"]
    assert {r["method"] for r in runs} == {"mae", "umae"}
    for run in runs:
        log = Path(run["tensorboard"])
        assert log == tmp_path / "cache" / run["key"] / "tb"
        scalars, images, plugins = _events(log)
        assert SCALARS <= scalars, scalars
        assert images == {"reconstruction"} and plugins == {"hparams"}
        acc = EventAccumulator(str(log))
        acc.Reload()
        assert [e.step for e in acc.Scalars("epoch/loss")] == [1, 2]
        meta = json.loads((log.parent / "meta.json").read_text())
        assert [e.value for e in acc.Scalars("epoch/loss")] == pytest.approx([h["loss"] for h in meta["history"]])


@pytest.fixture(scope="module")
def tiny():
    splits = load_dataset("digits", None, 8).standardized()
    return splits, vit_config("cpu-tiny", image_size=8, patch=2, channels=1)


def _pretrain(tiny, root: Path | None, tensorboard: bool, log_dir: Path | None = None):
    splits, vit = tiny
    cfg = TrainConfig(epochs=1, batch_size=256, warmup_epochs=1, tensorboard=tensorboard)
    return pretrain("mae", vit, splits, cfg, {"mask_ratio": 0.75}, dataset="digits", cache=EncoderCache(root),
                    log_dir=log_dir)


def test_the_log_changes_no_key_no_weight_and_no_random_state(tiny, tmp_path):
    torch.manual_seed(5)
    on = _pretrain(tiny, tmp_path / "on", tensorboard=True)
    after_on = torch.rand(3)
    torch.manual_seed(5)
    off = _pretrain(tiny, tmp_path / "off", tensorboard=False)
    after_off = torch.rand(3)
    assert on.key.digest() == off.key.digest()
    timeless = [[{k: v for k, v in h.items() if k != "seconds"} for h in p.history] for p in (on, off)]
    assert timeless[0] == timeless[1]
    for (name, a), b in zip(on.method.state_dict().items(), off.method.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(after_on, after_off)  # the reconstruction grid drew from its own generator
    assert on.log_dir == tmp_path / "on" / on.key.digest() / "tb" and off.log_dir is None
    assert not list((tmp_path / "on").glob(".stage-*"))  # the staged log was moved into the entry
    hit = _pretrain(tiny, tmp_path / "on", tensorboard=True)
    assert hit.cache_hit and hit.log_dir == on.log_dir and hit.record("mae")["tensorboard"] == str(on.log_dir)


def test_without_a_cache_the_log_goes_to_log_dir(tiny, tmp_path):
    pre = _pretrain(tiny, None, tensorboard=True, log_dir=tmp_path / "tb")
    assert pre.log_dir == tmp_path / "tb"
    scalars, images, _ = _events(pre.log_dir)
    assert SCALARS <= scalars and images == {"reconstruction"}
