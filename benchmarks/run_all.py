"""Run every benchmark in turn (each prints its own ratios)."""

import runpy
import sys
from pathlib import Path

here = Path(__file__).parent
for script in ("pair_distances.py", "je_closed_forms.py", "mae_step.py", "masking_sweep.py"):
    print(f"== {script}", flush=True)
    sys.argv = [script]
    runpy.run_path(str(here / script), run_name="__main__")
