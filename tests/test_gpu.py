"""GPU checks (skipped on machines without CUDA): the trainer on a CUDA device, numerics of
the CUDA forward against the CPU one, bf16 autocast and torch.compile against fp32 eager."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslab.methods import build_method
from sslab.models.vit import ViTConfig
from sslab.train.loop import TrainConfig, compile_parts, step_generator, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
VIT = ViTConfig(image_size=16, patch=4, channels=3, dim=64, depth=2, heads=4, decoder_dim=32, decoder_heads=4)


def _loss(name: str, device: str, bf16: bool = False, compiled: bool = False) -> float:
    torch.manual_seed(0)
    method = build_method(name, VIT).to(device)
    if compiled:
        compile_parts(method)
    x = torch.randn(32, 3, 16, 16, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        return float(method(x, step_generator(0, 3))["loss"].detach())


@pytest.mark.parametrize("name", ["mae", "umae", "simclr", "latent"])
def test_cuda_forward_matches_cpu_and_bf16_stays_close(name: str) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    cpu, cuda = _loss(name, "cpu"), _loss(name, "cuda")
    assert cuda == pytest.approx(cpu, rel=1e-4)  # same masks and views: drawn on the CPU generator
    assert _loss(name, "cuda", bf16=True) == pytest.approx(cpu, rel=5e-2)


def test_compiled_parts_match_eager() -> None:
    assert _loss("mae", "cuda", compiled=True) == pytest.approx(_loss("mae", "cuda"), rel=1e-4)


def test_trainer_runs_on_cuda_with_bf16(tmp_path: Path) -> None:
    torch.manual_seed(0)
    method = build_method("mae", VIT)
    images = torch.randn(128, 3, 16, 16)
    cfg = TrainConfig(epochs=2, batch_size=32, device="cuda", precision="bf16", tensorboard=False)
    state = train(method, images, cfg, tmp_path)
    assert state.step == 8 and all(torch.isfinite(torch.tensor(h["loss"])) for h in state.history)
    assert next(method.parameters()).device.type == "cuda"
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck["config"]["train"]["device"] == "cuda"
