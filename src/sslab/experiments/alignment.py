"""`alignment`: the alignment(k) curve of Balestriero & LeCun (ICML 2024, Cor. 1.2;
``docs/theory/balestriero-lecun-2024-reconstruction.md``).

alignment(k) = ‖YᵀY P_{:,1:k}‖²_F / ‖YᵀY P‖²_F measures how much of the label Gram matrix
the top-k principal subspace of X reconstructs. Computed on digits with 2 / 5 / 10 classes
(class-count effect) and at 8×8 / 16×16 / 32×32 (resolution effect) — exact, deterministic
closed forms, so those claims are exact checks — and on synthetic data whose labels live in the
low (aligned) or high (poorly aligned) frequencies, one fresh pair of datasets per seed (≥ 3
seeds, decided on a 95 % t-interval), plus the ``--data-dir`` dataset when one is given. Both
normalisations are computed; claims are judged on the thin one. Curves are not clamped: a value
outside [0, 1] (beyond 1e-9) is reported as a numerical error.
"""

from __future__ import annotations

import math

from pydantic import Field

from sslab.config import ExperimentConfig, unused
from sslab.data import load_dataset
from sslab.data.synthetic import banded_classes
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import seed_count
from sslab.experiments.common import (
    at_least,
    ci_text,
    fmt_list,
    is_monotone,
    linear_matrices,
    new_axes,
    seeds_for,
    strictly_decreasing,
)
from sslab.progress import track
from sslab.theory.alignment import alignment_curve

TOL = 1e-9  # rounding allowed outside [0, 1] and for "non-decreasing"

TESTS = {
    "range": f"exact: every value of every curve (both normalisations) in [−{TOL:g}, 1 + {TOL:g}] and each "
             f"curve non-decreasing within {TOL:g}; a value outside is reported as a numerical error",
    "classes": "exact (digits, deterministic): the mean of alignment(k) over k (thin) strictly decreases "
               "across all class counts, every consecutive pair",
    "resolution": "exact (digits, deterministic): the mean alignment (thin) strictly decreases across all "
                  "resolutions, every consecutive pair",
    "synthetic": "per seed: mean alignment (thin) of the low-band minus the high-band synthetic dataset; held "
                 "if the 95% t-CI over seeds is > 0, not held if it is < 0",
}


class AlignmentConfig(ExperimentConfig):
    k_max: int = Field(64, ge=1, le=4096, description="largest k of the curve")
    classes: list[int] = Field([2, 5, 10], min_length=2, description="class counts compared")
    resolutions: list[int] = Field([8, 16, 32], min_length=2, description="digits image sizes")
    synthetic_n: int = Field(2000, ge=50, le=1_000_000, description="synthetic samples")
    seeds: int = Field(5, ge=1, le=100, description="synthetic dataset pairs (first seed: --seed)")
    dataset: str = Field("digits", description="extra dataset (auto/cifar10/cifar100/stl10/imagefolder)")
    image_size: int | None = Field(None, ge=4, le=256, description="resize the extra dataset")

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        return unused(self, explicit, "image_size", self.dataset != "digits",
                      "it resizes the extra dataset, and there is none (dataset digits); pass --data-dir or drop it")


def range_errors(curves: dict[str, dict[str, list[float]]]) -> list[str]:
    """Every value outside [−TOL, 1 + TOL] or non-finite, and every curve that decreases by more
    than TOL: each is a numerical error of the closed form."""
    errs = []
    for label, norms in curves.items():
        for norm, vals in norms.items():
            bad = [(k + 1, v) for k, v in enumerate(vals) if not (math.isfinite(v) and -TOL <= v <= 1 + TOL)]
            if bad:
                errs.append(f"{label} ({norm}): alignment({bad[0][0]}) = {bad[0][1]:.3g} outside [0, 1]")
            if not is_monotone(vals, TOL):
                errs.append(f"{label} ({norm}): decreases in k")
    return errs


def decide_claims(curves: dict[str, dict[str, list[float]]], groups: dict[str, list[str]],
                  synthetic: list[tuple[float, float]], cfg: AlignmentConfig) -> list[Claim]:
    """The four claims from the curves; ``synthetic`` holds (aligned, misaligned) mean alignment per seed."""
    auc = {k: _summary_l(v["thin"]) for k, v in curves.items()}
    auc_full = {k: _summary_l(v["full"]) for k, v in curves.items()}
    errs = range_errors(curves)
    cls_auc = [auc[lbl] for lbl in groups["classes"]]
    res_auc = [auc[lbl] for lbl in groups["resolution"]]
    v_syn, s_syn = at_least([a - b for a, b in synthetic], 0.0)
    return [
        Claim(
            "alignment(k) in [0, 1] and non-decreasing in k (all curves, both normalisations)",
            not errs,
            ("numerical error: " + "; ".join(errs[:3])) if errs else
            f"all {len(curves)} curves in range and non-decreasing (unclamped)",
            TESTS["range"],
        ),
        Claim(
            f"alignment drops as the number of classes grows ({', '.join(map(str, cfg.classes))})",
            strictly_decreasing(cls_auc),
            f"mean alignment over k=1..{cfg.k_max} (thin): {fmt_list(cls_auc)}; "
            f"full normalisation: {fmt_list([auc_full[g] for g in groups['classes']])}",
            TESTS["classes"],
        ),
        Claim(
            f"alignment drops as resolution grows ({', '.join(f'{r}px' for r in cfg.resolutions)}; "
            "digits upsampled bilinearly, so the row space of X is unchanged)",
            strictly_decreasing(res_auc),
            f"mean alignment (thin): {fmt_list(res_auc)}",
            TESTS["resolution"],
        ),
        Claim(
            "labels in the top principal subspace are better aligned than labels in the bottom one",
            v_syn,
            f"aligned − misaligned mean alignment per seed {[round(a - b, 3) for a, b in synthetic]}; "
            f"{ci_text(s_syn)} (95% CI, {len(synthetic)} seeds)",
            TESTS["synthetic"],
        ),
    ]


@register(
    "alignment",
    paper="Balestriero & LeCun 2024 (Cor. 1.2)",
    claim="alignment(k) is in [0,1], non-decreasing; it drops with more classes and higher resolution",
    config=AlignmentConfig,
    quick={"k_max": 40, "synthetic_n": 1000, "seeds": 3},
    quick_time="~16 s",
    full_time="~20 s (+1 min with CIFAR)",
)
def run(cfg: AlignmentConfig, ctx: RunContext) -> Result:
    curves: dict[str, dict[str, list[float]]] = {}
    groups: dict[str, list[str]] = {"classes": [], "resolution": [], "synthetic": [], "extra": []}
    seeds = seeds_for(ctx.seed, cfg.seeds)

    def curve(ds, center_labels: bool = True) -> dict[str, list[float]]:
        X, Y = linear_matrices(ds, center_labels)
        return {norm: alignment_curve(X, Y, cfg.k_max, norm).tolist() for norm in ("thin", "full")}

    jobs: list[tuple[str, str, object]] = []
    for c in cfg.classes:
        jobs.append((f"digits {c} classes", "classes", ("digits", 8, c)))
    for r in cfg.resolutions:
        jobs.append((f"digits {r}x{r}", "resolution", ("digits", r, 10)))
    if ctx.data_dir is not None and cfg.dataset != "digits":
        jobs.append((f"{cfg.dataset} ({ctx.data_dir.name})", "extra", ("extra", None, None)))
    for label, group, (kind, a, b) in track(jobs, "alignment curves"):
        if kind == "digits":
            ds = load_dataset("digits", image_size=a).train.keep_classes(b)
        else:
            ds = load_dataset(cfg.dataset, ctx.data_dir, cfg.image_size).train
        curves[label] = curve(ds)
        groups[group].append(label)
    synthetic, syn_curves = [], {}
    for s in track(seeds, "synthetic seeds"):
        pair = {band: curve(banded_classes(cfg.synthetic_n, 8, 10, band=band, seed=s)) for band in ("low", "high")}
        synthetic.append((_summary_l(pair["low"]["thin"]), _summary_l(pair["high"]["thin"])))
        syn_curves[s] = pair
    curves["synthetic aligned"] = syn_curves[seeds[0]]["low"]
    curves["synthetic misaligned"] = syn_curves[seeds[0]]["high"]
    groups["synthetic"] = ["synthetic aligned", "synthetic misaligned"]
    all_curves = dict(curves)
    for s in seeds[1:]:
        all_curves[f"synthetic aligned (seed {s})"] = syn_curves[s]["low"]
        all_curves[f"synthetic misaligned (seed {s})"] = syn_curves[s]["high"]
    claims = decide_claims(all_curves, groups, synthetic, cfg)
    # the paper's uncentred Y, for the docs' measured effect of centring
    digits10 = load_dataset("digits").train
    raw = curve(digits10, center_labels=False)
    auc = {k: _summary_l(v["thin"]) for k, v in curves.items()}
    numbers: dict[str, object] = {
        "auc_thin": auc, "auc_full": {k: _summary_l(v["full"]) for k, v in curves.items()}, "curves": curves,
        "seeds": seeds, "synthetic_auc_per_seed": synthetic,
        "digits_10_uncentred_y": {"auc_thin": _summary_l(raw["thin"]), "auc_full": _summary_l(raw["full"])},
        "numerical_errors": range_errors(all_curves),
    }

    titles = {"classes": "digits 8×8: class count", "resolution": "digits, 10 classes: resolution",
              "synthetic": f"synthetic (seed {seeds[0]})"}
    if groups["extra"]:
        titles["extra"] = "--data-dir dataset"
    fig, axes = new_axes(len(titles), width=4.6)
    for ax, (group, title) in zip(axes, titles.items(), strict=True):
        for i, label in enumerate(groups[group]):
            color = f"C{i}"
            k = range(1, len(curves[label]["thin"]) + 1)
            ax.plot(k, curves[label]["thin"], color=color, label=label)
            ax.plot(k, curves[label]["full"], color=color, ls="--", alpha=0.6)
        ax.plot([], [], color="gray", label="solid: thin normalisation")
        ax.plot([], [], color="gray", ls="--", alpha=0.6, label="dashed: full normalisation")
        ax.set_title(title)
        ax.set_xlabel("k (top principal directions)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("alignment(k)")
    extra = f"; last panel: {cfg.dataset} from --data-dir" if groups["extra"] else ""
    ctx.save_figure(fig, "alignment_curves", caption=(
        f"alignment(k) (Cor. 1.2) against k = 1…{cfg.k_max} top principal directions of X: digits 8×8 with "
        f"{', '.join(map(str, cfg.classes))} classes; all 10 digit classes upsampled to "
        f"{', '.join(f'{r}×{r}' for r in cfg.resolutions)} pixels (deterministic closed forms, no seeds); "
        f"synthetic data ({cfg.synthetic_n} samples, 10 classes) with labels in the top (aligned) or bottom "
        f"(misaligned) principal band, the first of {seed_count(len(seeds))} drawn (the claim uses all){extra}. "
        "Solid lines: thin normalisation (the claims use it); dashed: full normalisation"))
    numbers["mean_alignment_10_classes"] = auc[groups["classes"][-1]]
    return Result(numbers=numbers, claims=claims, headline="mean_alignment_10_classes")


def _summary_l(values: list[float]) -> float:
    """Mean of alignment(k) over k (area under the curve, in [0, 1])."""
    return sum(values) / len(values)
