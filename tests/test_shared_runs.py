"""The deep experiments share pre-trainings through the content-addressed cache: je-vs-recon-deep's
clean (γ = 0) arm is ssl-compare's run of the same recipe, and its α-arm runs are cached too."""

import json

import pytest

from sslab.experiments.runner import run_experiment

TINY = {"dataset": "digits", "image_size": 8, "patch": 2, "epochs": 1, "seeds": 2}


@pytest.mark.slow
def test_je_vs_recon_deep_reuses_ssl_compare_runs_and_caches_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLAB_PREFETCH_WORKERS", "2")  # the γ > 0 and α runs go through prefetch_groups
    _, first = run_experiment("ssl-compare", quick=True, seed=0, out_root=tmp_path,
                              overrides={**TINY, "methods": ["mae", "simclr"], "curves": False})
    assert first["status"] == "ok", first.get("error")
    over = {**TINY, "gammas": [0.0, 1.0], "alpha_gammas": [1.0], "alphas": [0.0, 1.0], "severities": [3],
            "k_max": 8}
    run_dir, rec = run_experiment("je-vs-recon-deep", quick=True, seed=0, out_root=tmp_path, overrides=over)
    assert rec["status"] == "ok", rec.get("error")
    runs = json.loads((run_dir / "result.json").read_text())["numbers"]["pretraining"]["runs"]
    compare = {r["key"] for r in json.loads(next(tmp_path.glob("ssl-compare/*/result.json")).read_text())
               ["numbers"]["pretraining"]["runs"]}
    clean = [r for r in runs if r["key"] in compare]
    assert len(clean) == 4 and all(r["cache_hit"] for r in clean)  # mae, simclr × 2 seeds at γ = 0
    others = [r for r in runs if r["key"] not in compare]
    assert len(others) == 8  # γ = 1: 2 methods × 2 seeds; α = 1 at γ = 1: 2 methods × 2 seeds
    assert all(r["cache_hit"] and r["trained_here"] for r in others)  # trained by its prefetch workers
    assert all(r["shared"] for r in clean)
    counts = json.loads((run_dir / "result.json").read_text())["numbers"]["pretraining"]
    assert (counts["trained"], counts["shared"]) == (8, 4)
    _, again = run_experiment("je-vs-recon-deep", quick=True, seed=0, out_root=tmp_path, overrides=over)
    assert again["numbers"]["pretraining"]["trained"] == 0
    assert again["numbers"]["drop_difference"] == rec["numbers"]["drop_difference"]
