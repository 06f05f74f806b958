"""Words for the report: paper links, figure captions, the paragraph that opens each
experiment's section, and readable names and numbers for the summary.

Everything is derived from a run's ``result.json`` (its config, seed and numbers) and the
experiment's registry entry (its paper), so old runs get the same treatment as new ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Paper:
    key: str  # matched against an experiment's ``paper`` string
    authors: str
    title: str  # empty where the seed text does not state it
    venue: str
    arxiv: str

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}"


PAPERS: tuple[Paper, ...] = (
    Paper("Balestriero", "Balestriero & LeCun", "How Learning by Reconstruction Produces Uninformative Features "
          "for Perception", "ICML 2024", "2402.11337"),
    Paper("Zhang et al", "Zhang, Wang & Wang", "How Mask Matters: Towards Theoretical Understandings of Masked "
          "Autoencoders", "NeurIPS 2022", "2210.08344"),
    Paper("Van Assel", "Van Assel et al.", "Joint Embedding vs Reconstruction: Provable Benefits of Latent Space "
          "Prediction for Self Supervised Learning", "2025", "2505.12477"),
    Paper("Huang", "Huang, Wen, Chi & Liang", "", "ICLR 2025 (MAE vs contrastive learning in one-layer softmax "
          "ViTs: global and local features)", "2403.02233"),
    Paper("Assran", "Assran et al.", "Self-Supervised Learning from Images with a Joint-Embedding Predictive "
          "Architecture (I-JEPA)", "CVPR 2023", "2301.08243"),
)


def papers_for(paper_field: str) -> list[Paper]:
    """The papers an experiment's ``paper`` string names, in the order it names them."""
    found = [(paper_field.find(p.key), p) for p in PAPERS if p.key in paper_field]
    return [p for _, p in sorted(found, key=lambda t: t[0])]


# -- numbers and names -----------------------------------------------------------------------

_WORDS = {"mae": "MAE", "umae": "U-MAE", "simclr": "SimCLR", "je": "JE", "pca": "PCA", "ols": "OLS",
          "minus": "−", "loglog": "log-log", "knn": "kNN", "gd": "GD", "vs": "vs", "lr": "learning rate",
          "acc": "accuracy", "align": "alignment", "dist": "distance"}


def readable_name(key: str) -> str:
    """``best_minus_mae`` → ``best − MAE``; ``local_gap_mae_minus_simclr`` → ``local gap MAE − SimCLR``."""
    words = [_WORDS.get(w.lower(), w) for w in re.split(r"[_\s]+", key) if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text and text[0].islower() else text


def is_seed_record(value: Any) -> bool:
    """A ``numbers.arms.<arm>.<metric>`` record: {mean, ci95, per_seed, n_seeds}."""
    return isinstance(value, dict) and "mean" in value and "n_seeds" in value


def num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, integers as integers, non-finite as 'n/a'."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def seed_text(record: dict[str, Any]) -> str:
    """``0.823 ± 0.014 (95% CI, 3 seeds)``, or ``0.823 (1 seed)``: never '± 0' for one seed."""
    n = int(record.get("n_seeds") or 0)
    mean = num(record.get("mean"))
    ci = record.get("ci95")
    lo, hi = [*ci, None, None][:2] if isinstance(ci, list) else (None, None)
    if n < 2 or lo is None or hi is None:
        return f"{mean} (1 seed)" if n == 1 else f"{mean} ({n} seeds, no interval)"
    return f"{mean} ± {num((hi - lo) / 2, 2)} (95% CI, {n} seeds)"


def value_text(value: Any) -> str:
    """Readable text for any value in ``numbers``."""
    if is_seed_record(value):
        return seed_text(value)
    if isinstance(value, list):
        shown = ", ".join(value_text(v) for v in value[:12])
        return f"[{shown}, … ({len(value)} values)]" if len(value) > 12 else f"[{shown}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return num(value)


def headline_text(record: dict[str, Any]) -> str:
    key = record.get("headline")
    numbers = record.get("numbers") or {}
    if not key or key not in numbers:
        return ""
    return f"{readable_name(key)}: {value_text(numbers[key])}"


# -- what a run was ----------------------------------------------------------------------------

_SIZE_KEYS = ("n", "d", "k", "k_max", "samples", "synthetic_n", "n_test", "ns", "pairs", "views", "classes",
              "resolutions", "image_size", "patch", "preset", "depth", "noise_rank")
_BUDGET_KEYS = ("epochs", "steps", "batch_size", "lr", "finetune_epochs", "draws")


def _pairs(config: dict[str, Any], keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k} = {value_text(config[k])}" for k in keys if config.get(k) is not None)


def data_text(config: dict[str, Any]) -> str:
    dataset = config.get("dataset")
    if not dataset:
        return "synthetic data generated in code (exact theory setting)"
    size = config.get("image_size")
    return f"{dataset}" + (f" at {size}×{size} pixels" if size else "")


def seeds_text(record: dict[str, Any]) -> str:
    config = record.get("config") or {}
    seeds = config.get("seeds")
    if isinstance(seeds, int) and seeds > 1:
        base = int(record.get("seed") or 0)  # seed s + 1000·i, the rule of sslab.experiments.common.seeds_for
        listed = ", ".join(str(base + 1000 * i) for i in range(seeds))
        return f"{seeds} seeds ({listed})"
    return f"1 seed ({record.get('seed')})"


def figure_caption(record: dict[str, Any], name: str) -> str:
    """The caption the experiment gave ``name`` (``figure_captions``: it names the data and the seeds
    itself, from the run's own settings), else one built from the config."""
    captions = record.get("figure_captions") or {}
    given = captions.get(name) if isinstance(captions, dict) else None
    if given:
        return str(given)
    stem = readable_name(name.rsplit(".", 1)[0].replace("-", "_"))
    return f"{stem}: {record.get('experiment', '')} on {data_text(record.get('config') or {})}; {seeds_text(record)}."


def section_paragraph(record: dict[str, Any], paper_field: str) -> list[tuple[str, str, str | None]]:
    """The opening lines of a section as (label, text, link or None)."""
    config = record.get("config") or {}
    mode = "quick" if record.get("quick") else "full"
    lines: list[tuple[str, str, str | None]] = [("Data", data_text(config), None)]
    sizes = _pairs(config, _SIZE_KEYS)
    if sizes:
        lines.append(("Sizes", sizes, None))
    budget = _pairs(config, _BUDGET_KEYS)
    lines.append(("Budget", f"{mode} mode; {seeds_text(record)}" + (f"; {budget}" if budget else ""), None))
    for paper in papers_for(paper_field):
        title = f"“{paper.title}”, " if paper.title else ""
        lines.append(("Paper", f"{paper.authors}, {title}{paper.venue}, arXiv:{paper.arxiv}", paper.url))
    if paper_field:
        lines.append(("Checks", paper_field, None))
    lines.append(("Tests", "each claim's verdict follows the pre-registered test in the claims table below "
                           "(statistic, margin and seeds, fixed in code before the run)", None))
    return lines
