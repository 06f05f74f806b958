"""The deep experiments on streamed data: umae-vs-mae on a tiny ImageNet-layout folder of JPEGs
(pre-training, probes and fine-tuning through DataLoader workers, never the whole folder in
memory), the data fingerprint in cache keys, and SimCLR's two views drawn per sample."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sslab.data.lazy import LazyImages
from sslab.data.streaming import ViewPairs, streaming_splits
from sslab.experiments.deep_common import DeepConfig, deep_splits
from sslab.experiments.runner import run_experiment
from sslab.methods import build_method
from sslab.models.vit import ViTConfig
from sslab.train.cache import data_hash, tensor_hash
from sslab.train.loop import TrainConfig, train
from sslab.train.stream_run import lazy_splits
from test_memmap import write_stl10


def write_imagenet(root: Path, per_class: int = 10, held: int = 4, classes: int = 3, seed: int = 0) -> Path:
    """``root/{train,val}/<wnid>/*.JPEG``: the ImageNet layout, odd-sized JPEGs with a class-dependent tint."""
    rng = np.random.default_rng(seed)
    for part, count in (("train", per_class), ("val", held)):
        for c in range(classes):
            d = root / part / f"n0{c:07d}"
            d.mkdir(parents=True)
            for k in range(count):
                h, w = (int(v) for v in rng.integers(36, 60, size=2))
                arr = rng.integers(0, 120, size=(h, w, 3)).astype(np.uint8)
                arr[..., c] += 120  # something to learn
                Image.fromarray(arr).save(d / f"n0{c:07d}_{k}.JPEG", quality=90)
    return root


TINY = {"dataset": "imagefolder", "image_size": 32, "patch": 16, "depth": 1, "epochs": 1, "seeds": 2,
        "batch_size": 8, "finetune_epochs": 1, "stream": True, "data_workers": 1, "probe_cs": [1.0]}


def test_umae_vs_mae_runs_streamed_on_an_imagenet_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSLAB_PREFETCH_WORKERS", "0")
    root = write_imagenet(tmp_path / "in100")
    run_dir, rec = run_experiment("umae-vs-mae", quick=True, overrides=TINY, out_root=tmp_path / "runs",
                                  data_dir=root, raise_errors=True)
    assert rec["status"] == "ok"
    result = json.loads((run_dir / "result.json").read_text())
    numbers = result["numbers"]
    assert {"pixels", "random-init", "mae", "umae"} <= set(numbers["arms"])
    for arm in ("mae", "umae"):
        assert numbers["arms"][arm]["finetune"]["n_seeds"] == 2
        assert numbers["arms"][arm]["linear"]["n_seeds"] == 2
    pre = numbers["pretraining"]
    assert pre["streaming"] is True and pre["train_images_hash"].startswith("stream-")
    assert pre["trained"] == 4 and {r["method"] for r in pre["runs"]} == {"mae", "umae"}


def write_stl10_balanced(root: Path, per_class: int = 5, unlabeled: int = 30, seed: int = 1) -> Path:
    """``root/stl10_binary/*_X.bin`` (each channel column-major) with every class present in train and test."""
    rng = np.random.default_rng(seed)
    d = root / "stl10_binary"
    d.mkdir(parents=True)
    for split, n in (("train", 10 * per_class), ("test", 20), ("unlabeled", unlabeled)):
        rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8).tofile(d / f"{split}_X.bin")
        if split != "unlabeled":
            (np.arange(n) % 10 + 1).astype(np.uint8).tofile(d / f"{split}_y.bin")
    return root


def test_umae_vs_mae_pretrains_on_the_stl10_unlabeled_memmap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSLAB_PREFETCH_WORKERS", "0")
    root = write_stl10_balanced(tmp_path / "stl", unlabeled=30)
    tiny = {**TINY, "dataset": "stl10", "finetune_epochs": 0, "data_workers": 0}
    run_dir, _ = run_experiment("umae-vs-mae", quick=True, overrides=tiny, out_root=tmp_path / "runs",
                                  data_dir=root, raise_errors=True)
    pre = json.loads((run_dir / "result.json").read_text())["numbers"]["pretraining"]
    assert pre["streaming"] is True and pre["pretrain_images"] == 30  # the unlabeled split, not the 45 train images
    assert pre["trained"] == 4


def test_deep_splits_stream_lazily_and_auto_keeps_small_data_in_memory(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "in100", per_class=6, held=2)
    streamed = deep_splits(DeepConfig(**{**TINY, "stream": True}), root)
    assert isinstance(streamed.train.images, LazyImages)
    assert streamed.train.images.shape == (18 - 3, 3, 32, 32) and len(streamed.test) == 6
    auto = deep_splits(DeepConfig(**{**TINY, "stream": None}), root)  # 24 small images: far under 4 GiB
    assert isinstance(auto.train.images, torch.Tensor)
    # the streamed evaluation view is the in-memory one, up to the standardisation statistics
    a, b = streamed.test.images[:4], auto.test.images[:4]
    assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.999


def test_the_data_fingerprint_follows_the_files_and_in_memory_keys_are_unchanged(tmp_path: Path) -> None:
    x = torch.randn(4, 3, 8, 8)
    assert data_hash(x) == tensor_hash(x)  # in-memory runs keep their cache keys
    root = write_imagenet(tmp_path / "in100", per_class=6, held=2)
    first = lazy_splits("imagefolder", root, 16).train.images.fingerprint()
    assert lazy_splits("imagefolder", root, 16).train.images.fingerprint() == first
    assert lazy_splits("imagefolder", root, 24).train.images.fingerprint() != first
    victim = next((root / "train").rglob("*.JPEG"))
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, touched
    assert lazy_splits("imagefolder", root, 16).train.images.fingerprint() != first
    stl = tmp_path / "stl"
    write_stl10(stl, n=12)
    s = lazy_splits("stl10", stl, 16)
    assert s.info["pretrain_images"] == 12 and s.train.images.pretraining("mae").name == "stl10"
    assert s.train.images.fingerprint().startswith("stream-")


def test_simclr_views_are_two_independent_per_sample_draws_and_reproducible(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "in100", per_class=6, held=2)
    images = lazy_splits("imagefolder", root, 16).train.images
    pairs = images.pretraining("simclr", seed=5)
    assert isinstance(pairs, ViewPairs)
    v = pairs.item(3, epoch=2)
    assert v.shape == (2, 3, 16, 16)
    assert not torch.allclose(v[0], v[1])  # two views of one sample differ
    assert torch.equal(v, lazy_splits("imagefolder", root, 16).train.images.pretraining("simclr", 5).item(3, 2))
    assert not torch.equal(v, pairs.item(3, epoch=3))  # a new epoch, new views
    assert not torch.equal(v, images.pretraining("simclr", seed=6).item(3, 2))  # the seed is the run's
    # the views differ beyond geometry: colour jitter / grayscale act on some of the samples
    colour = [pairs.item(i, 0) for i in range(len(pairs))]
    assert any(abs(float(p[0].mean() - p[1].mean())) > 0.05 for p in colour)


def test_simclr_trains_on_loader_view_pairs_without_its_batch_augmentation(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "in100", per_class=6, held=2)
    source = streaming_splits(root, 16, augment="simclr").train
    vit = ViTConfig(image_size=16, patch=8, channels=3, dim=32, depth=1, heads=2, decoder_dim=16, decoder_heads=2)

    def refuse(*_: object) -> torch.Tensor:
        raise AssertionError("the batch augmentation ran on a stream of view pairs")

    torch.manual_seed(0)
    method = build_method("simclr", vit)
    object.__setattr__(method, "augment", refuse)
    cfg = TrainConfig(epochs=1, batch_size=6, warmup_epochs=1, seed=1, checkpoint_every=1, tensorboard=False)
    state = train(method, ViewPairs(source), cfg, workers=1)
    assert state.step == 2 and np.isfinite(state.history[-1]["loss"])


def test_sslab_train_simclr_stream_feeds_per_sample_view_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sslab.cli import app
    from sslab.views.augment import Augment

    def refuse(self: Augment, *_: object) -> torch.Tensor:
        raise AssertionError("the batch augmentation ran on a stream")

    monkeypatch.setattr(Augment, "__call__", refuse)
    root = write_imagenet(tmp_path / "in100", per_class=6, held=2)
    result = CliRunner().invoke(app, [
        "train", "simclr", "--dataset", "imagefolder", "--data-dir", str(root), "--stream", "--augment", "simclr",
        "--preset", "cpu-tiny", "--image-size", "16", "--patch", "8", "--batch-size", "6", "--epochs", "1",
        "--eval-every", "0", "--device", "cpu", "--workers", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 2
