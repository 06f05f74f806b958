"""One module per paper claim; importing a module registers its experiments."""

from __future__ import annotations

import importlib

from sslab.experiments.base import REGISTRY, Claim, Experiment, Result, RunContext, register

MODULES = (
    "alignment",
    "masking_alignment",
    "noise_invariance",
    "linear_limits",
    "spectral_dynamics",
    "umae_vs_mae",
    "umae_lambda",
    "ssl_compare",
    "je_vs_recon",
    "je_vs_recon_deep",
    "attention_locality",
    "mask_ratio",
    "mask_ratio_probe",
    "vit_global_local",
)

__all__ = ["REGISTRY", "Claim", "Experiment", "Result", "RunContext", "load_all", "register"]


def load_all() -> dict[str, Experiment]:
    for mod in MODULES:
        importlib.import_module(f"sslab.experiments.{mod}")
    return REGISTRY
