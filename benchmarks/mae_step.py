"""Benchmark: one MAE pre-training step against the official model, lever by lever.

Configuration of the comparison: 32×32×3 images, patch 4 (64 patches), encoder 192 × 12 (3
heads), decoder 128 × 4, batch 256, mask ratio 0.75, AdamW. The baseline is
``official_mae.OfficialMAE`` (models_mae.py + timm 0.4.9 blocks, re-implemented) with the
for-loop AdamW of its era. All variants run interleaved (one step of each per round; medians),
so machine load hits them alike, and every line is a ratio measured in this run:
  * img/s, speed against the official model, achieved FLOP/s as a % of the dense matmul peak of
    the precision the step runs in (analytic matmul FLOPs × 3 for forward + backward);
  * one line per lever: fused / foreach AdamW, SDPA vs written-out attention, dropping masked
    tokens, channels-last input to the official Conv2d patch embedding, bf16 autocast (only
    where the CPU has AVX512-BF16 or AMX; the detected flags are printed; with sslab's written-out
    attention and with the fused SDPA kernel), torch.compile of
    each transformer block (on by default: the encoder's 12 blocks share one compiled graph
    and the decoder's 4 another, so inductor compiles two small graphs; its compile time is
    printed) and of the whole encoder and decoder (``--compile``: minutes on 2 cores);
  * U-MAE overhead over MAE (median of paired rounds), the latent-prediction and SimCLR steps;
  * a torch.profiler breakdown of the sslab MAE step.

    python benchmarks/mae_step.py [--batch 256] [--steps 5] [--pair-rounds 8] [--compile] [--no-compile-blocks]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from official_mae import OfficialMAE  # benchmarks/ is on sys.path when a script here runs
from sslab.methods import build_method
from sslab.models import vit_config
from sslab.models.vit import Attention, decoder_flops, encoder_flops, written_out_attention
from sslab.views import kept_patches

COMPILED_BLOCKS = "sslab, fused AdamW, torch.compile per block"
BF16_ROW = "MAE bf16 step vs official fp32"
BF16_SDPA = "sslab, fused AdamW, bf16, fused SDPA attention"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    n: int = 2048, reps: int = 5, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> float:
    """Dense n×n matmul FLOP/s measured here (the reference for achieved-FLOP/s ratios)."""
    device = device or torch.device("cpu")
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(reps):  # best of reps: the machine's capability, not its load
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def make_step(model: nn.Module, x: torch.Tensor, opt_kw: dict, bf16: bool = False,
              channels_last: bool = False) -> Callable[[], float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), **opt_kw)
    g = torch.Generator().manual_seed(0)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def one() -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, g)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return time.perf_counter() - t

    return one


def profile_breakdown(step: Callable[[], float], label: str = "sslab MAE step") -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    groups = {"matmul (mm/addmm/bmm/linear)": ("mm", "addmm", "bmm", "matmul", "linear"),
              "attention (SDPA kernels)": ("attention", "sdpa", "flash"),
              "layer norm": ("layer_norm",), "GELU": ("gelu",), "softmax": ("softmax",),
              "optimizer (AdamW)": ("adam", "_foreach", "lerp", "addcdiv", "addcmul", "sqrt", "mul_", "add_", "div_")}
    shares = dict.fromkeys(groups, 0.0)
    shares["other (copies, gathers, elementwise)"] = 0.0
    for e in events:
        name = e.key.lower()
        hit = next((gname for gname, keys in groups.items() if any(k in name for k in keys)), None)
        shares[hit or "other (copies, gathers, elementwise)"] += e.self_cpu_time_total
    print(f"profile of one {label} (self CPU time by kind):")
    for gname, t in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {gname:40s} {t / total:6.1%}")
    print("  top ops:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:10]:
        print(f"    {e.key:45s} {e.self_cpu_time_total / total:6.1%}  ({e.count} calls)")


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, bool | None]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5, help="interleaved rounds (medians)")
    ap.add_argument("--pair-rounds", type=int, default=8, help="paired MAE / U-MAE rounds for the overhead")
    ap.add_argument("--compile", action="store_true", help="also compile the whole encoder and decoder (minutes)")
    ap.add_argument("--no-compile-blocks", action="store_true", help="skip the per-block torch.compile lever")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    vit = vit_config("vit-tiny", image_size=32, patch=4, channels=3)
    x = torch.randn(args.batch, 3, 32, 32)
    flags = cpu_flags()
    native_bf16 = sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})
    print(f"CPU bf16 flags detected: {native_bf16 or 'none'}; {torch.get_num_threads()} threads")

    def sslab(name: str = "mae", **kw) -> nn.Module:
        torch.manual_seed(0)
        return build_method(name, vit, **({"mask_ratio": 0.75} if name in ("mae", "umae") else {}), **kw)

    def manual(model: nn.Module, attend=written_out_attention) -> nn.Module:
        """The model with every Attention's kernel replaced by ``attend(q, k, v)`` at any precision."""
        for m in model.modules():
            if isinstance(m, Attention):
                m.attend = attend
        return model

    loop, fused = {"foreach": False}, {"fused": True}
    variants: dict[str, Callable[[], float]] = {
        "official": make_step(OfficialMAE(vit, 0.75), x, loop),
        "official channels-last input": make_step(OfficialMAE(vit, 0.75), x, loop, channels_last=True),
        "sslab, for-loop AdamW": make_step(sslab(), x, loop),
        "sslab, foreach AdamW": make_step(sslab(), x, {"foreach": True}),
        "sslab, fused AdamW": make_step(sslab(), x, fused),
        "sslab, fused AdamW, written-out attention": make_step(manual(sslab()), x, fused),
        "sslab, fused AdamW, mask tokens in encoder": make_step(sslab(drop_masked=False), x, fused),
        "U-MAE (sslab, fused AdamW)": make_step(sslab("umae"), x, fused),
        "latent prediction (fused AdamW)": make_step(sslab("latent"), x, fused),
        "SimCLR (fused AdamW)": make_step(sslab("simclr"), x, fused),
    }
    if native_bf16:
        variants["sslab, fused AdamW, bf16 autocast"] = make_step(sslab(), x, fused, bf16=True)
        variants[BF16_SDPA] = make_step(manual(sslab(), F.scaled_dot_product_attention), x, fused, bf16=True)
        variants["official, bf16 autocast"] = make_step(OfficialMAE(vit, 0.75), x, loop, bf16=True)
    if args.compile:
        compiled = sslab()
        compiled.encoder = torch.compile(compiled.encoder)
        compiled.decoder = torch.compile(compiled.decoder)
        variants["sslab, fused AdamW, torch.compile"] = make_step(compiled, x, fused)
    if not args.no_compile_blocks:
        regional = sslab()
        for part in (regional.encoder, regional.decoder):
            for block in part.blocks:
                block.compile()  # one Block.forward graph per input shape, shared by the blocks
        variants[COMPILED_BLOCKS] = make_step(regional, x, fused)
    compile_s = float("nan")
    for name, step in variants.items():
        t = time.perf_counter()
        step()  # warm-up (compilation, allocator)
        if name == COMPILED_BLOCKS:
            compile_s = time.perf_counter() - t
    peaks32, peaks16 = [matmul_peak()], [matmul_peak(1024, dtype=torch.bfloat16)] if native_bf16 else []
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.steps):  # interleaved rounds
        for name, step in variants.items():
            times[name].append(step())
        peaks32.append(matmul_peak(reps=2))
    # U-MAE's extra work is a B×B Gram of the [cls] features (< 0.1 % of the FLOPs), a difference
    # smaller than the step-to-step spread of 3 rounds; so it gets its own paired rounds, MAE and
    # U-MAE back to back in alternating order, and the overhead is the median of the per-round ratios
    mae_step, umae_step, ratios = variants["sslab, fused AdamW"], variants["U-MAE (sslab, fused AdamW)"], []
    for r in range(args.pair_rounds):
        if r % 2:
            u, m = umae_step(), mae_step()
        else:
            m, u = mae_step(), umae_step()
        ratios.append(u / m)
    peak32 = max(peaks32)
    peak16 = max(peaks16) if peaks16 else float("nan")
    med = {name: statistics.median(v) for name, v in times.items()}
    flops = 3 * args.batch * (encoder_flops(vit, kept_patches(vit.num_patches, 0.75)) + decoder_flops(vit))
    base = med["official"]
    print(f"dense matmul peak measured here: fp32 {peak32 / 1e9:.1f} GFLOP/s"
          + (f", bf16 {peak16 / 1e9:.1f} GFLOP/s" if peaks16 else "")
          + f"; MAE step {flops / 1e9:.1f} GFLOP (matmuls, fwd+bwd)")
    print(f"{'variant':46s} {'ms/step':>9s} {'img/s':>8s} {'vs official':>12s} {'% of peak':>10s}")
    pct: dict[str, float] = {}
    for name, sec in med.items():
        mae_like = "mask tokens" not in name and not name.startswith(("U-MAE", "latent", "SimCLR"))
        peak = peak16 if "bf16" in name else peak32
        pct[name] = flops / sec / peak if mae_like else float("nan")
        share = f"{pct[name]:9.1%}" if mae_like else f"{'—':>9s}"
        print(f"{name:46s} {sec * 1e3:9.0f} {args.batch / sec:8.1f} {base / sec:11.2f}x {share}")
    best = min((n for n in med if n.startswith("sslab") and "mask tokens" not in n and "bf16" not in n
                and "compile" not in n),
               key=lambda n: med[n])
    ref = med["sslab, fused AdamW"]
    print("levers (ratio of img/s with the lever on vs off, same run):")
    print(f"  fused AdamW vs for-loop AdamW:        {med['sslab, for-loop AdamW'] / ref:.2f}x")
    print(f"  foreach AdamW vs for-loop AdamW:      {med['sslab, for-loop AdamW'] / med['sslab, foreach AdamW']:.2f}x")
    print(f"  SDPA vs written-out attention:        {med['sslab, fused AdamW, written-out attention'] / ref:.2f}x")
    print(f"  dropping masked tokens vs mask tokens through the encoder: "
          f"{med['sslab, fused AdamW, mask tokens in encoder'] / ref:.2f}x")
    print(f"  channels-last input (official Conv2d patch embed): {base / med['official channels-last input']:.2f}x")
    print("  fused qkv: both models already use one qkv Linear (timm's layout), so there is nothing to switch")
    print("  decoder full-length gather: both models unshuffle with one gather of (B, 64, 128) "
          "(< 1% of the step in the profile below)")
    if native_bf16:
        print(f"  bf16 autocast vs fp32:                {ref / med['sslab, fused AdamW, bf16 autocast']:.2f}x")
        print(f"  bf16: written-out vs fused SDPA attention: "
              f"{med[BF16_SDPA] / med['sslab, fused AdamW, bf16 autocast']:.2f}x")
    else:
        print("  bf16 autocast: not run (no AVX512-BF16 / AMX on this CPU)")
    if COMPILED_BLOCKS in med:
        on = med[COMPILED_BLOCKS]
        print(f"  torch.compile per block vs eager:     {ref / on:.2f}x ({args.batch / on:.1f} vs "
              f"{args.batch / ref:.1f} img/s, {pct[COMPILED_BLOCKS]:.1%} vs {pct['sslab, fused AdamW']:.1%} "
              f"of the fp32 matmul peak; first step with compilation {compile_s:.0f} s)")
    if args.compile:
        print(f"  torch.compile vs eager:               {ref / med['sslab, fused AdamW, torch.compile']:.2f}x")
    else:
        print("  torch.compile of the whole encoder/decoder: not run (pass --compile)")
    umae = statistics.median(ratios) - 1
    print(f"U-MAE overhead over MAE: {umae:+.1%} (target < 5%; median of {len(ratios)} paired rounds, per-round "
          f"{min(ratios) - 1:+.1%} to {max(ratios) - 1:+.1%}); latent prediction "
          f"{args.batch / med['latent prediction (fused AdamW)']:.1f} img/s, SimCLR "
          f"{args.batch / med['SimCLR (fused AdamW)']:.1f} img/s (MAE {args.batch / ref:.1f})")
    profile_breakdown(variants["sslab, fused AdamW"])
    if native_bf16:
        profile_breakdown(variants["sslab, fused AdamW, bf16 autocast"], "sslab MAE step in bf16")
        profile_breakdown(variants[BF16_SDPA], "sslab MAE step in bf16 with torch's fused attention kernel")
    speed = base / med[best]
    rows: list[tuple[str, str, str, bool | None]] = [
        (f"MAE step vs official ({best})", f"{speed:.2f}x", "≥ 1.25x", speed >= 1.25),
        ("MAE step % of fp32 matmul peak", f"{pct[best]:.1%}", "≥ 80%", pct[best] >= 0.8),
        ("official MAE % of fp32 matmul peak", f"{pct['official']:.1%}", "", None),
        ("U-MAE overhead over MAE", f"{umae:+.1%}", "< 5%", umae < 0.05),
    ]
    if COMPILED_BLOCKS in med:
        rows.append(("MAE step torch.compile (per block) vs eager", f"{ref / med[COMPILED_BLOCKS]:.2f}x", "", None))
        rows.append(("MAE compiled step % of fp32 matmul peak", f"{pct[COMPILED_BLOCKS]:.1%}", "", None))
    if native_bf16:
        bf = med["sslab, fused AdamW, bf16 autocast"]
        rows.append((BF16_ROW, f"{base / bf:.2f}x", "≥ 1.25x", None))  # met only with bf16 parity (run_all)
        rows.append(("MAE bf16 step % of bf16 peak", f"{pct['sslab, fused AdamW, bf16 autocast']:.1%}", "", None))
        like = med["official, bf16 autocast"] / bf
        rows.append(("MAE bf16 step vs official bf16", f"{like:.2f}x", "≥ 1.25x", like >= 1.25))
    return rows


if __name__ == "__main__":
    main()
