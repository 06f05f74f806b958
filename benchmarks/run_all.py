"""Run every benchmark in turn (each prints its own ratios)."""

import runpy
import sys
from pathlib import Path

import torch

here = Path(__file__).parent
compile_flag = [] if torch.cuda.is_available() else ["--no-compile"]  # inductor on 2 CPU cores: minutes
for script, args in (
    ("pair_distances.py", []),
    ("je_closed_forms.py", []),
    ("mae_step.py", []),
    ("masking_sweep.py", []),
    ("ddp_scaling.py", []),
    ("precision_compile.py", compile_flag),
):
    print(f"== {script}", flush=True)
    sys.argv = [script, *args]
    runpy.run_path(str(here / script), run_name="__main__")
