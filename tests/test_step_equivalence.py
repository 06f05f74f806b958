"""The faster training-step variants compute the eager reference step: fused AdamW equals the
for-loop AdamW, and SDPA attention equals softmax(q kᵀ / √d_h) v written out, within fp32
rounding, on a small MAE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslab.methods import build_method
from sslab.models import vit_config
from sslab.models.vit import Attention, written_out_attention


def written_out(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    b, n, d = x.shape
    h = attn.heads
    q, k, v = attn.qkv(x).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
    w = torch.softmax(q @ k.transpose(-2, -1) / (d // h) ** 0.5, dim=-1)
    return attn.proj((w @ v).transpose(1, 2).reshape(b, n, d))


def test_sdpa_attention_equals_written_out_softmax_attention():
    torch.manual_seed(0)
    attn = Attention(48, 3)
    x = torch.randn(4, 17, 48)
    assert torch.allclose(attn(x), written_out(attn, x), rtol=1e-5, atol=1e-6)


def test_bf16_cpu_attention_is_written_out_and_fp32_uses_sdpa(monkeypatch):
    torch.manual_seed(0)
    attn = Attention(48, 3)
    x = torch.randn(4, 17, 48)
    fp32 = attn(x)
    calls = []
    real = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    attn(x)
    assert calls == [1]  # fp32: the fused kernel
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = attn(x)
    assert calls == [1]  # bf16 on the CPU: never the fused kernel
    assert bf16.dtype == torch.bfloat16
    err = float((bf16.float() - fp32).abs().max() / fp32.abs().max())
    assert 1e-4 < err < 3e-2  # bf16 rounding, not a different function
    model = Attention(48, 3).to(torch.bfloat16)  # a bf16 model without autocast takes the same path
    model.load_state_dict({k: v.to(torch.bfloat16) for k, v in attn.state_dict().items()})
    xb = x.to(torch.bfloat16)
    assert torch.allclose(model(xb).float(), fp32, rtol=0, atol=3e-2 * float(fp32.abs().max()))
    assert calls == [1]


def test_written_out_attention_is_the_function_sdpa_computes():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 6, generator=g) for _ in range(3))  # 1/√6 is not a power of 2
    assert torch.allclose(written_out_attention(q, k, v), F.scaled_dot_product_attention(q, k, v),
                          rtol=1e-5, atol=1e-6)
    assert not torch.allclose(written_out_attention(q, k, v), F.scaled_dot_product_attention(q, k, v, scale=0.5),
                              rtol=1e-3, atol=1e-3)  # the comparison sees the scale


def run_steps(opt_kw: dict, steps: int = 3) -> list[torch.Tensor]:
    """Parameters after ``steps`` AdamW steps. The key bias (middle third of each qkv bias) is
    left out: softmax is invariant to it, so its gradient is rounding noise that Adam
    normalises to ±lr, different for any change of summation order."""
    torch.manual_seed(0)
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=3)
    method = build_method("mae", vit, mask_ratio=0.75)
    opt = torch.optim.AdamW(method.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05, **opt_kw)
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for step in range(steps):
        out = method(x, torch.Generator().manual_seed(step))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    out = []
    for name, p in method.named_parameters():
        p = p.detach().clone()
        if name.endswith("qkv.bias"):
            d = p.numel() // 3
            p = torch.cat([p[:d], p[2 * d :]])
        out.append(p)
    return out


def test_fused_and_foreach_adamw_steps_equal_the_for_loop_step():
    ref = run_steps({"foreach": False})
    start = run_steps({"foreach": False}, steps=0)
    assert max(float((a - b).abs().max()) for a, b in zip(ref, start, strict=True)) > 1e-4  # the steps moved
    for kw in ({"fused": True}, {"foreach": True}):
        other = run_steps(kw)
        for a, b in zip(ref, other, strict=True):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), kw
