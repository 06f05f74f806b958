"""Every registered experiment runs in quick mode (with the smallest sensible settings) and
writes a complete result: claims with evidence, figures on disk, finite headline number."""

import json
import math

import pytest

from sslab.experiments import load_all
from sslab.experiments.runner import run_experiment

DIGITS = {"dataset": "digits", "image_size": 8, "patch": 2}  # the deep experiments' smoke data

# extra shrinking for the test suite only (the quick mode itself is what `make demo` runs)
TINY = {
    "noise-invariance": {"epochs": 5, "trained_sigmas": [0.0, 1.0]},
    "spectral-dynamics": {"steps": 1500},
    "umae-vs-mae": {**DIGITS, "epochs": 2, "seeds": 2, "finetune_epochs": 1},
    "umae-lambda": {**DIGITS, "epochs": 2, "seeds": 2, "lambdas": [0.0, 0.01]},
    "ssl-compare": {**DIGITS, "epochs": 2, "seeds": 2},
    "je-vs-recon-deep": {**DIGITS, "epochs": 1, "seeds": 2, "k_max": 8},
    "attention-locality": {**DIGITS, "epochs": 1, "seeds": 2, "n_images": 16, "figure_images": 1},
    "je-vs-recon-phase": {"gammas": 5, "alphas": 9},
    "je-vs-recon-samples": {"ns": [100, 1000, 3000], "seeds": 1, "n_test": 2000},
    "mask-distance": {"pairs": 300, "ratios": [0.0, 0.5, 0.9], "draws": 2},
    "mask-graph": {"views": 100, "ratios": [0.25, 0.5, 0.75]},
    "mask-ratio-probe": {**DIGITS, "epochs": 2, "seeds": 2, "ratios": [0.0, 0.75]},
    "global-local-deep": {**DIGITS, "epochs": 2, "seeds": 2},
    "vit-global-local": {"size_ratios": [1, 4], "steps": 20, "samples": 48, "seeds": 2},
}


SLOW = {"je-vs-recon-deep", "attention-locality"}  # over 30 s on 2 cores even with the settings above


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(load_all())]
)
def test_experiment_quick_run_is_complete(name, tmp_path):
    run_dir, rec = run_experiment(name, quick=True, seed=0, overrides=TINY.get(name, {}), out_root=tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    on_disk = json.loads((run_dir / "result.json").read_text())
    assert on_disk["claims"] and all(c["evidence"] for c in on_disk["claims"])
    for fig in on_disk["figures"]:
        assert (run_dir / fig).stat().st_size > 2000
    for arm, metrics in on_disk["numbers"].get("arms", {}).items():  # accuracies are in %, never fractions
        for metric, rec in metrics.items():
            if metric.split("-")[0] in ("linear", "knn", "local", "finetune", "val_linear", "val_knn"):
                assert 1.0 < rec["mean"] <= 100.0, (arm, metric, rec["mean"])
    key = on_disk["headline"]
    assert key in on_disk["numbers"]
    assert isinstance(on_disk["numbers"][key], (int, float)) and math.isfinite(on_disk["numbers"][key])
