"""Run every benchmark once in this process and print one table of the ratios they measured
(each against its target where it has one), the load average at start and end, and the peak RSS
(``VmHWM``) of this process and, in its own row, of the spawned 64×64×3 sweep.

    python benchmarks/run_all.py [--quick]

The bf16 parity run (``bf16_parity.py``) runs only on a CPU with AVX512-BF16 or AMX; the bf16
step's speed counts as met only when parity held in the same run. ``--quick`` runs the large-d
closed forms only up to d = 3072, 3 MAE rounds instead of 5, and leaves out the 64×64×3 masking
sweep. On 2026-12-04 the full run took 820 s (README, "One run of make bench") and --quick 434 s.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import torch

from masking_sweep import own_peak_rss  # benchmarks/ is on sys.path when a script here runs

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    compile_flag = [] if torch.cuda.is_available() else ["--no-compile"]  # inductor on 2 CPU cores: minutes
    plan = [
        ("je_closed_forms", ["--sizes", "256", "1024", "3072"] if args.quick else []),
        ("view_moments", []),
        ("probe_speed", []),
        ("bf16_parity", None if native_bf16() else False),
        ("mae_step", ["--steps", "3"] if args.quick else []),
        ("pair_distances", None),
        ("masking_sweep", ["--no-large"] if args.quick else []),
        ("ddp_scaling", None),
        ("precision_compile", compile_flag),
    ]
    rows: list[tuple[str, str, str, bool | None]] = []
    t_all = time.perf_counter()
    load0 = [f"{x:.2f}" for x in os.getloadavg()]
    for name, argv in plan:
        if argv is False:
            print(f"== {name}: not run (no AVX512-BF16 / AMX on this CPU)", flush=True)
            continue
        print(f"== {name}", flush=True)
        module = importlib.import_module(name)
        sys.argv = [f"{name}.py", *(argv or [])]
        out = module.main(argv) if argv is not None and _takes_argv(module) else module.main()
        if isinstance(out, list):
            rows += out
        print(f"(peak RSS of this process so far: {own_peak_rss() / 2**30:.2f} GiB)", flush=True)
    rows = bf16_counts_with_parity(rows)
    load1 = [f"{x:.2f}" for x in os.getloadavg()]
    rss = own_peak_rss()  # the spawned 64×64×3 sweep reports its own peak above
    print(f"\n== summary ({time.perf_counter() - t_all:.0f} s; load average at start {' '.join(load0)}, "
          f"at end {' '.join(load1)}; {torch.get_num_threads()} threads)")
    width = max(len(r[0]) for r in rows) if rows else 10
    for name, value, target, met in rows:
        mark = "" if met is None else ("met" if met else "MISSED")
        print(f"{name:<{width}}  {value:>14}  {target:>10}  {mark}")
    print(f"peak RSS of this process: {rss / 2**30:.2f} GiB (not counting child processes; the 64×64×3 "
          "sweep's is in its row)")


def native_bf16() -> bool:
    from mae_step import cpu_flags

    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def bf16_counts_with_parity(rows: list[tuple[str, str, str, bool | None]]) -> list[tuple[str, str, str, bool | None]]:
    """The bf16 speed row meets its target only when bf16 trained as well as fp32 in the same run
    (bf16_parity's pre-registered test); without that test it stays unmarked."""
    from bf16_parity import PARITY_ROW
    from mae_step import BF16_ROW

    parity = next((met for name, _, _, met in rows if name == PARITY_ROW), None)
    out = []
    for name, value, target, met in rows:
        if name == BF16_ROW and parity is not None:
            met = parity and float(value.rstrip("x")) >= 1.25
            target = f"{target}, parity"
        out.append((name, value, target, met))
    return out


def _takes_argv(module) -> bool:
    import inspect

    return bool(inspect.signature(module.main).parameters)


if __name__ == "__main__":
    main()
