"""`alignment`: the alignment(k) curve of Balestriero & LeCun (ICML 2024, Cor. 1.2).

alignment(k) = ‖YᵀY P_{:,1:k}‖²_F / ‖YᵀY P‖²_F measures how much of the label Gram matrix
the top-k principal subspace of X reconstructs (THEORY.md §1). Computed on:
digits with 2 / 5 / 10 classes (class-count effect), digits at 8×8 / 16×16 / 32×32
(resolution effect), synthetic data whose labels live in the low (aligned) or high
(poorly aligned) frequencies, and the ``--data-dir`` dataset when one is given.
Both normalisations are computed; claims are judged on the thin one (THEORY.md).
"""

from __future__ import annotations

from pydantic import Field

from sslab.config import ExperimentConfig, unused
from sslab.data import load_dataset
from sslab.data.synthetic import banded_classes
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.common import (
    fmt_list,
    is_monotone,
    linear_matrices,
    new_axes,
    strictly_decreasing,
)
from sslab.progress import track
from sslab.theory.alignment import alignment_curve


class AlignmentConfig(ExperimentConfig):
    k_max: int = Field(64, ge=1, le=4096, description="largest k of the curve")
    classes: list[int] = Field([2, 5, 10], min_length=2, description="class counts compared")
    resolutions: list[int] = Field([8, 16, 32], min_length=2, description="digits image sizes")
    synthetic_n: int = Field(2000, ge=50, le=1_000_000, description="synthetic samples")
    dataset: str = Field("digits", description="extra dataset (auto/cifar10/cifar100/stl10/imagefolder)")
    image_size: int | None = Field(None, ge=4, le=256, description="resize the extra dataset")

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        return unused(self, explicit, "image_size", self.dataset != "digits",
                      "it resizes the extra dataset, and there is none (dataset digits); pass --data-dir or drop it")


@register(
    "alignment",
    paper="Balestriero & LeCun 2024 (seed 002)",
    claim="alignment(k) is in [0,1], non-decreasing; it drops with more classes and higher resolution",
    config=AlignmentConfig,
    quick={"k_max": 40, "synthetic_n": 1000},
    quick_time="~5 s",
    full_time="~15 s (+1 min with CIFAR)",
)
def run(cfg: AlignmentConfig, ctx: RunContext) -> Result:
    curves: dict[str, dict[str, list[float]]] = {}
    groups: dict[str, list[str]] = {"classes": [], "resolution": [], "synthetic": [], "extra": []}

    def add(label: str, group: str, ds) -> None:
        X, Y = linear_matrices(ds)
        curves[label] = {
            norm: alignment_curve(X, Y, cfg.k_max, norm).tolist() for norm in ("thin", "full")
        }
        groups[group].append(label)
        ctx.log.info("%s: D=%d N=%d AUC(thin)=%.4f", label, X.shape[0], X.shape[1], _summary_l(curves[label]["thin"]))

    jobs: list[tuple[str, str, object]] = []
    for c in cfg.classes:
        jobs.append((f"digits {c} classes", "classes", ("digits", 8, c)))
    for r in cfg.resolutions:
        jobs.append((f"digits {r}x{r}", "resolution", ("digits", r, 10)))
    for band, name in (("low", "synthetic aligned"), ("high", "synthetic misaligned")):
        jobs.append((name, "synthetic", ("synthetic", band, None)))
    if ctx.data_dir is not None and cfg.dataset != "digits":
        jobs.append((f"{cfg.dataset} ({ctx.data_dir.name})", "extra", ("extra", None, None)))

    for label, group, spec in track(jobs, "alignment curves"):
        kind, a, b = spec
        if kind == "digits":
            ds = load_dataset("digits", image_size=a).train.keep_classes(b)
        elif kind == "synthetic":
            ds = banded_classes(cfg.synthetic_n, 8, 10, band=a, seed=ctx.seed)
        else:
            ds = load_dataset(cfg.dataset, ctx.data_dir, cfg.image_size).train
        add(label, group, ds)

    auc = {k: _summary_l(v["thin"]) for k, v in curves.items()}
    auc_full = {k: _summary_l(v["full"]) for k, v in curves.items()}
    numbers: dict[str, object] = {"auc_thin": auc, "auc_full": auc_full, "curves": curves}

    bounded = all(0.0 <= x <= 1.0 for v in curves.values() for n in v.values() for x in n)
    monotone = all(is_monotone(n) for v in curves.values() for n in v.values())
    cls_auc = [auc[lbl] for lbl in groups["classes"]]
    res_auc = [auc[lbl] for lbl in groups["resolution"]]
    claims = [
        Claim(
            "alignment(k) in [0, 1] and non-decreasing in k (all curves, both normalisations)",
            bounded and monotone,
            f"bounded={bounded}, monotone={monotone} over {len(curves)} datasets",
        ),
        Claim(
            f"alignment drops as the number of classes grows ({', '.join(map(str, cfg.classes))})",
            strictly_decreasing(cls_auc),
            f"mean alignment over k=1..{cfg.k_max} (thin): {fmt_list(cls_auc)}; "
            f"full normalisation: {fmt_list([auc_full[g] for g in groups['classes']])}",
        ),
        Claim(
            f"alignment drops as resolution grows ({', '.join(f'{r}px' for r in cfg.resolutions)}; "
            "digits upsampled bilinearly, so the row space of X is unchanged)",
            strictly_decreasing(res_auc),
            f"mean alignment (thin): {fmt_list(res_auc)}",
        ),
        Claim(
            "labels in the top principal subspace are better aligned than labels in the bottom one",
            auc["synthetic aligned"] > auc["synthetic misaligned"],
            f"mean alignment aligned={auc['synthetic aligned']:.3f} vs misaligned={auc['synthetic misaligned']:.3f}",
        ),
    ]

    titles = {"classes": "digits: class count", "resolution": "digits: resolution", "synthetic": "synthetic"}
    if groups["extra"]:
        titles["extra"] = "--data-dir dataset"
    fig, axes = new_axes(len(titles), width=4.6)
    for ax, (group, title) in zip(axes, titles.items(), strict=True):
        for i, label in enumerate(groups[group]):
            color = f"C{i}"
            k = range(1, len(curves[label]["thin"]) + 1)
            ax.plot(k, curves[label]["thin"], color=color, label=label)
            ax.plot(k, curves[label]["full"], color=color, ls="--", alpha=0.6)
        ax.set_title(title)
        ax.set_xlabel("k (top principal directions)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("alignment(k)  (solid: thin, dashed: full)")
    ctx.save_figure(fig, "alignment_curves")
    numbers["mean_alignment_10_classes"] = auc[groups["classes"][-1]]
    return Result(numbers=numbers, claims=claims, headline="mean_alignment_10_classes")


def _summary_l(values: list[float]) -> float:
    """Mean of alignment(k) over k (area under the curve, in [0, 1])."""
    return sum(values) / len(values)
