"""The trainer on streaming sources: same trajectory as the in-memory tensor, exact mid-epoch
resume, ``sslab train --stream/--max-steps``, the multi-node launch options, ``sslab data shard``
and the recipes' quick variants on tiny folders in the true layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sslab.cli import app
from sslab.data.imagefolder import load_image_folder
from sslab.data.streaming import streaming_splits
from sslab.distributed import free_port
from sslab.methods import build_method
from sslab.models.vit import ViTConfig
from sslab.train.launch import Launch
from sslab.train.loop import TrainConfig, train
from test_memmap import write_stl10
from test_streaming import write_folder

VIT = ViTConfig(image_size=8, patch=4, channels=3, dim=32, depth=1, heads=2, decoder_dim=16, decoder_heads=2)
SRC = str(Path(__file__).resolve().parents[1] / "src")


def cfg(**kw: object) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 6, "lr": 1e-3, "warmup_epochs": 1, "seed": 3, "checkpoint_every": 1,
            "tensorboard": False}
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def fresh() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_method("mae", VIT)


def test_training_on_a_stream_equals_training_on_the_in_memory_tensor(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", per_class=8)
    memory = load_image_folder(root, image_size=8)  # unstandardised: the pixels are then bit-identical
    source = streaming_splits(root, 8, augment="none", standardize_stats=False).train  # the plain view
    a, b = fresh(), fresh()
    train(a, memory.train.images, cfg())
    train(b, source, cfg(), workers=2)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
    assert not torch.equal(fresh().encoder.patch_embed.weight, a.encoder.patch_embed.weight)


def test_resume_mid_epoch_on_a_stream_is_bit_exact(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", per_class=8)
    source = streaming_splits(root, 8, augment="mae").train  # random crops and flips per (epoch, sample)
    full = fresh()
    train(full, source, cfg(), tmp_path / "a", workers=2)
    part = fresh()
    train(part, source, cfg(), tmp_path / "b", stop_after_steps=5, workers=2)  # 3 steps/epoch: inside epoch 2
    resumed = fresh()
    state = train(resumed, source, cfg(), tmp_path / "b", resume=True, workers=0)  # other worker count
    assert state.step == 6
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_launch_maps_onto_torchrun_rendezvous_options() -> None:
    c10d = Launch(nproc=8, nnodes=2, rdzv_endpoint="node0:29400", rdzv_id="job7").torchrun()
    assert c10d[3:] == ["--nproc-per-node=8", "--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=node0:29400",
                        "--rdzv-id=job7"]
    static = Launch(nproc=4, nnodes=3, node_rank=2, master_addr="10.0.0.1", master_port=1234).torchrun()
    assert static[3:] == ["--nproc-per-node=4", "--nnodes=3", "--node-rank=2", "--master-addr=10.0.0.1",
                          "--master-port=1234"]
    assert Launch(nproc=2).torchrun()[3:] == ["--nproc-per-node=2", "--standalone"]
    assert Launch(nproc=2, nnodes=2, rdzv_endpoint="h:1").world_size == 4 and not Launch().needs_launcher


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nnodes", "2"], "needs --rdzv-endpoint"),
        (["--nnodes", "2", "--rdzv-endpoint", "nohost"], "use HOST:PORT"),
        (["--nnodes", "2", "--master-addr", "h", "--node-rank", "2"], "--node-rank=2"),
        (["--stream"], "bad value --dataset=digits: use imagefolder"),
        (["--stream", "--dataset", "imagefolder", "--augment", "blur", "--data-dir", "."], "--augment=blur: use none"),
        (["--stream", "--dataset", "imagefolder", "--workers", "-1", "--data-dir", "."], "--workers=-1"),
        (["--max-steps", "0"], "--max-steps=0"),
    ],
)
def test_bad_launch_and_stream_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["train", "mae", "--device", "cpu", "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "r").exists()


def test_data_shard_command_writes_shards_and_refuses_to_overwrite(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", per_class=4)
    result = CliRunner().invoke(app, ["data", "shard", str(root), str(tmp_path / "sh"), "--shard-size", "5"])
    assert result.exit_code == 0, result.output
    assert "12 samples in 3 shards" in result.output and "6 samples in 2 shards" in result.output
    again = CliRunner().invoke(app, ["data", "shard", str(root), str(tmp_path / "sh")])
    assert again.exit_code == 2 and "not empty" in again.output


def _sslab(args: list[str], out: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    where = ["--out", str(out)] if out else []
    done = subprocess.run([sys.executable, "-m", "sslab", *args, *where], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=False)["model"]


def _cli(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_recipe_quick_variants_run_on_tiny_folders_in_the_true_layout(tmp_path: Path) -> None:
    """ImageNet-100 recipe (U-MAE, patch 16, streamed image folder; then shards) and the STL-10
    unlabeled pre-training recipe, shrunk to a few images and steps (docs/scaling.md)."""
    imnet = write_folder(tmp_path / "in100", per_class=6, classes=4)
    common = ["--preset", "cpu-tiny", "--image-size", "32", "--patch", "16", "--batch-size", "8", "--epochs", "1",
              "--eval-every", "0", "--device", "cpu", "--stream", "--workers", "1"]
    _cli(["train", "umae", "--dataset", "imagefolder", "--data-dir", str(imnet), *common, "--out", str(tmp_path / "u")])
    metrics = json.loads((tmp_path / "u" / "metrics.json").read_text())
    assert metrics["steps"] == 2  # 20 train images // 8
    again = CliRunner().invoke(app, ["eval", str(tmp_path / "u"), "--data-dir", str(imnet), "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["knn"] == pytest.approx(metrics["knn"])
    _cli(["data", "shard", str(imnet), str(tmp_path / "in100-shards"), "--shard-size", "5"])
    _cli(["train", "mae", "--dataset", "shards", "--data-dir", str(tmp_path / "in100-shards"), *common,
          "--out", str(tmp_path / "s")])
    write_stl10(tmp_path / "stl", n=100)
    stl = [*common[:2], "--image-size", "96", *common[4:], "--max-steps", "1", "--out", str(tmp_path / "t")]
    _cli(["train", "mae", "--dataset", "stl10", "--data-dir", str(tmp_path / "stl"), *stl])
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["steps"] == 1 and 0 <= metrics["linear"] <= 1
    assert (tmp_path / "t" / "checkpoint.pt").is_file()


@pytest.mark.slow
def test_two_nodes_through_c10d_rendezvous_equal_one_process(tmp_path: Path) -> None:
    """`sslab train --nnodes 2 --rdzv-endpoint` started twice on this host (one process per
    "node") follows the single-process run on the same streamed folder."""
    root = write_folder(tmp_path / "folder", per_class=8)
    args = ["train", "mae", "--dataset", "imagefolder", "--data-dir", str(root), "--stream", "--workers", "1",
            "--image-size", "8", "--patch", "4", "--batch-size", "6", "--epochs", "2", "--eval-every", "0",
            "--device", "cpu"]
    _sslab(args, tmp_path / "one")
    endpoint = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "sslab", *args, "--nnodes", "2", "--rdzv-endpoint", endpoint, "--rdzv-id", "t",
           "--out", str(tmp_path / "two")]
    nodes = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [node.communicate(timeout=400) for node in nodes]
    assert all(node.returncode == 0 for node in nodes), [err[-2000:] for _, err in outputs]
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 6
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for k, v in one.items():
        if k.endswith("attn.qkv.bias"):
            # The key bias b_k adds q·b_k to every logit of a softmax row, so its exact gradient is
            # zero; AdamW scales the roundoff left in it (which depends on the summation order, i.e.
            # on the number of processes) to steps of up to lr. Queries and values must agree.
            ref, got = v.view(3, -1), two[k].view(3, -1)
            torch.testing.assert_close(got[0::2], ref[0::2], rtol=1e-4, atol=1e-5, msg=k)
            assert (got[1] - ref[1]).abs().max() <= 2 * 6 * 1.5e-3  # 6 steps, lr 1.5e-3
            continue
        torch.testing.assert_close(two[k], v, rtol=1e-4, atol=1e-5, msg=k)


@pytest.mark.slow
def test_streaming_training_on_40k_jpegs_stays_under_2_gb(tmp_path: Path) -> None:
    """40,000 JPEGs at 96×96 (4.4 GB as float32), MAE for 200 steps (batch 16) with 2 workers: the peak RSS
    of the process tree stays under 2 GB, so nothing was loaded up front."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from data_memory import train_peak_rss
    from synthetic_folder import write_synthetic_folder

    folder = write_synthetic_folder(Path(os.environ.get("SSLAB_SYNTH_CACHE", "/tmp")) / "sslab-synth-96-40k",
                                    40_000, 96, 100)
    assert 40_000 * 3 * 96 * 96 * 4 > 4 * 1024**3
    peak, _ = train_peak_rss(folder, steps=200, workers=2)
    assert peak < 2 * 1024**3, f"peak RSS {peak / 1024**3:.2f} GB"
    assert np.isfinite(peak) and peak > 100 * 1024**2  # the sampler did see the run
