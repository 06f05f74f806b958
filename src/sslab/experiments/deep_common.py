"""What every deep experiment shares: its configuration, the baselines, the seed table of arms,
the learning gate, pre-registered paired claims, and selection on the validation split.

Evidence protocol (fixed before any run):

* **Arms.** Each experiment evaluates its trained arms next to two baselines under the *same*
  probe (features standardised with train statistics, logistic-regression C chosen on the
  validation split): ``pixels`` (the standardised raw pixels) and ``random-init`` (the same ViT
  architecture, initialised with the seed of the paired run and never trained). The table
  ``numbers.arms.<arm>.<metric>`` holds :meth:`sslab.stats.Summary.record` of the per-seed
  values, in % of test images: ``linear``, ``knn`` (and ``finetune`` where run).
* **Seeds.** Seed s of every arm uses the same initialisation seed, data order and splits, so
  arms are compared on paired per-seed differences (:func:`sslab.stats.paired`).
* **Learning gate.** The trained arms named by the experiment must beat ``random-init`` in linear
  accuracy with a paired 95 % CI above 0; otherwise every claim of the experiment is
  ``inconclusive (the runs did not learn)`` (:func:`sslab.stats.gate`).
* **Selection.** Anything chosen (an arm, λ, ρ, the probe's C) is chosen on validation accuracy
  only (:func:`select_on_val`); test accuracy of the chosen arm is reported once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from sslab.config import ExperimentConfig
from sslab.data import Splits, load_dataset
from sslab.data.lazy import flat_pixels, is_lazy
from sslab.distributed import resolve_device
from sslab.eval.features import extract_features
from sslab.eval.probes import DEFAULT_CS
from sslab.experiments.base import Claim, RunContext
from sslab.experiments.common import seeds_for
from sslab.methods import UMAE_WEIGHT, method_options
from sslab.models.vit import ViTConfig, ViTEncoder, vit_config
from sslab.stats import Summary, decide, gate, paired, summarize
from sslab.train.cache import EncoderCache, data_hash
from sslab.train.loop import TrainConfig
from sslab.train.pipeline import Evaluation, Pretrained, evaluate, evaluate_features, finetune_encoder, pretrain

PIXELS, RANDOM = "pixels", "random-init"
# The quick recipe shared by the deep experiments on mnist-5k (docs/recipes.md; batch 64, the default, gives the
# cpu-tiny ViT enough steps, 55 per epoch, to learn within the demo's budget); equal settings give
# equal cache keys, so one pre-training per (method, seed) serves every experiment.
QUICK_RECIPE: dict[str, Any] = {"epochs": 30, "seeds": 3}
NOT_LEARNED = "inconclusive (the runs did not learn)"


def distinct_methods(methods: list[str]) -> list[str]:
    """Each method once: a repeated method would pool its runs as extra seeds."""
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if twice:
        raise ValueError(f"methods lists {', '.join(twice)} more than once; give each method once")
    return methods


class DeepConfig(ExperimentConfig):
    dataset: str = Field("mnist-5k", description="mnist-5k (quick and full default), digits, animal-mnist, ...")
    image_size: int = Field(28, ge=4, le=256, description="image side after resizing")
    patch: int = Field(7, ge=1, le=32)
    preset: Literal["cpu-tiny", "vit-tiny", "vit-small", "vit-base"] = "cpu-tiny"
    depth: int | None = Field(None, ge=1, le=48, description="override the preset's encoder depth")
    epochs: int = Field(150, ge=1, le=100_000, description="full mode: 150, the longest that keeps ssl-compare within "
                        "1 h on 2 cores; chosen on validation (docs/recipes.md)")
    batch_size: int = Field(64, ge=2, le=65_536, description="64: enough steps per epoch on mnist-5k (docs/recipes.md)")
    lr: float = Field(1.5e-3, gt=0, le=1)
    weight_decay: float = Field(0.05, ge=0, le=10)
    warmup_epochs: int | None = Field(None, ge=0, le=10_000, description="default: a tenth of the epochs, ≥ 1")
    mask_ratio: float = Field(0.75, ge=0, lt=1)
    uniformity_weight: float = Field(UMAE_WEIGHT, ge=0, le=10, description="U-MAE λ (the official code's weight)")
    uniformity_form: Literal["gram", "eq9"] | None = Field(None, description="U-MAE term; None: the method's default")
    simclr_temperature: float | None = Field(None, gt=0, le=10, description="None: the method's default")
    seeds: int = Field(5, ge=1, le=100, description="number of paired seeds (≥ 3 quick, ≥ 5 full)")
    finetune_epochs: int = Field(0, ge=0, le=10_000)
    probe_cs: list[float] = Field(default_factory=lambda: list(DEFAULT_CS), min_length=1,
                                  description="logistic-probe C grid (chosen on validation)")
    cache: bool = Field(True, description="share pre-trained encoders through runs/cache (content-addressed)")
    device: str = Field("cpu", pattern=r"^(cpu|auto|cuda(:\d+)?)$", description="pre-training device")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16: autocast during pre-training")
    stream: bool | None = Field(None, description="read imagefolder/stl10/cifar per item from disk (DataLoader "
                                "workers) instead of into memory; None: when in memory they would exceed 4 GiB")
    data_workers: int = Field(2, ge=0, le=256, description="decoding processes of a streamed dataset")

    @model_validator(mode="after")
    def _patch_tiles_image(self) -> DeepConfig:
        if self.image_size % self.patch:
            raise ValueError(f"image_size={self.image_size} is not divisible by patch={self.patch}")
        if any(c <= 0 for c in self.probe_cs):
            raise ValueError(f"probe_cs must be positive, got {self.probe_cs}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device} but this torch build sees no CUDA GPU; use device=cpu or auto")
        return self


@dataclass
class DeepSetup:
    """The standardised splits, the ViT, the seeds and the cache an experiment runs with."""

    cfg: DeepConfig
    splits: Splits
    vit: ViTConfig
    seeds: list[int]
    cache: EncoderCache
    runs: list[dict[str, Any]] = field(default_factory=list)  # one record per pre-training
    prefetched: set[str] = field(default_factory=set)  # cache keys this experiment's prefetch trained

    @property
    def dataset(self) -> str:
        return self.cfg.dataset

    def train_config(self, seed: int, **extra: Any) -> TrainConfig:
        return train_config(self.cfg, seed, **extra)

    def pretrain(self, arm: str, method: str, kwargs: dict[str, Any], seed: int, ctx: RunContext) -> Pretrained:
        pre = pretrain(method, self.vit, self.splits, self.train_config(seed), kwargs, dataset=self.dataset,
                       cache=self.cache)
        rec = pre.record(arm, self.prefetched)
        self.runs.append(rec)
        ctx.log.info("%s seed %d: %s (%.1f s)", arm, seed, "shared from the cache" if rec["shared"] else "trained",
                     pre.seconds)
        return pre

    def prefetch(self, runs: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Train every (method, kwargs) × seed the cache lacks in parallel single-threaded worker
        processes (:mod:`sslab.train.prefetch`); :meth:`pretrain` then serves them from the cache."""
        from sslab.train.prefetch import Job, prefetch

        jobs = [Job(m, dict(kw), self.train_config(seed)) for m, kw in runs for seed in self.seeds]
        trained = prefetch(jobs, self.vit, self.splits, self.dataset, self.cache)
        self.prefetched.update(trained)
        return len(trained)

    def shared_runs(self) -> dict[str, Any]:
        """``numbers.pretraining``: each run with its cache key, and whether this experiment trained it
        or it was shared from the cache (:meth:`Pretrained.record`)."""
        return {"runs": self.runs, **run_counts(self.runs),
                "dataset": self.dataset, "train_images_hash": data_hash(self.splits.train.images),
                **({"streaming": True, "pretrain_images": self.splits.info.get("pretrain_images")}
                   if is_lazy(self.splits.train.images) else {})}


def run_counts(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many runs the experiment trained, how many it shared from the cache, and the training
    seconds of the trained ones."""
    trained = [r for r in runs if r["trained_here"]]
    return {"trained": len(trained), "shared": len(runs) - len(trained),
            "cache_hits": sum(r["cache_hit"] for r in runs),
            "train_seconds": round(sum(r["train_seconds"] for r in trained), 1)}


def train_config(cfg: DeepConfig, seed: int, **extra: Any) -> TrainConfig:
    """The experiment's recipe as a TrainConfig (warm-up: a tenth of the epochs unless set)."""
    warm = cfg.warmup_epochs if cfg.warmup_epochs is not None else max(1, cfg.epochs // 10)
    return TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                       warmup_epochs=warm, seed=seed, checkpoint_every=max(1, cfg.epochs),
                       tensorboard=os.environ.get("SSLAB_TENSORBOARD", "1") != "0",  # log: <cache entry>/tb
                       device=cfg.device, precision=cfg.precision, **extra)


def cache_root(ctx: RunContext) -> Path:
    """``$SSLAB_CACHE_DIR``, else ``<out_root>/cache`` next to the experiments' run folders."""
    env = os.environ.get("SSLAB_CACHE_DIR")
    return Path(env) if env else ctx.out_dir.parent.parent / "cache"


def deep_splits(cfg: DeepConfig, data_dir: Path | None) -> Splits:
    """The standardised splits, in memory or streamed (:func:`sslab.train.stream_run.lazy_splits`,
    the same :class:`Splits` interface) when ``cfg.stream`` says so or, unset, when the in-memory
    float32 splits would exceed :data:`~sslab.train.stream_run.STREAM_ABOVE_BYTES`."""
    from sslab.train import stream_run

    stream = cfg.stream
    if stream is None:
        stream = stream_run.in_memory_bytes(cfg.dataset, data_dir, cfg.image_size) > stream_run.STREAM_ABOVE_BYTES
    if stream:
        device = str(resolve_device(cfg.device))
        return stream_run.lazy_splits(cfg.dataset, data_dir, cfg.image_size, workers=cfg.data_workers, device=device)
    return load_dataset(cfg.dataset, data_dir, cfg.image_size).standardized()


def deep_setup(cfg: DeepConfig, ctx: RunContext) -> DeepSetup:
    splits = deep_splits(cfg, ctx.data_dir)
    overrides = {} if cfg.depth is None else {"depth": cfg.depth}
    vit = vit_config(
        cfg.preset, image_size=cfg.image_size, patch=cfg.patch, channels=splits.train.image_shape[0], **overrides
    )
    cache = EncoderCache(cache_root(ctx) if cfg.cache else None)
    return DeepSetup(cfg, splits, vit, seeds_for(ctx.seed, cfg.seeds), cache)


class ArmTable:
    """Per-seed values of each arm and metric, seeds in the setup's order. Accuracies are stored in
    % (:meth:`add_eval` converts the protocol's fractions); other metrics in their own unit."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = {}

    def add(self, arm: str, metric: str, value: float) -> None:
        self.values.setdefault(arm, {}).setdefault(metric, []).append(float(value))

    def add_eval(self, arm: str, ev: Evaluation) -> None:
        for metric, v in (("linear", ev.linear), ("knn", ev.knn), ("val_linear", ev.val_linear),
                          ("val_knn", ev.val_knn)):
            self.add(arm, metric, 100.0 * v)

    def get(self, arm: str, metric: str = "linear") -> list[float]:
        return self.values[arm][metric]

    def summary(self, arm: str, metric: str = "linear") -> Summary:
        return summarize(self.get(arm, metric))

    def diff(self, a: str, b: str, metric: str = "linear") -> Summary:
        return paired(self.get(a, metric), self.get(b, metric))

    def records(self) -> dict[str, dict[str, dict[str, object]]]:
        """``numbers.arms``: arm → metric → {mean, ci95, per_seed, n_seeds}."""
        return {arm: {m: summarize(v).record() for m, v in ms.items()} for arm, ms in self.values.items()}

    def text(self, arm: str, metric: str = "linear", unit: str | None = None) -> str:
        unit = ("" if metric == "effective_rank" else "%") if unit is None else unit
        return f"{arm} {self.summary(arm, metric).text(unit=unit)}"


def pixel_features(splits: Splits) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(flat_pixels(d.images) for d in (splits.train, splits.val, splits.test))


def add_baselines(table: ArmTable, setup: DeepSetup, ctx: RunContext) -> None:
    """``pixels`` (deterministic: one evaluation, repeated for each seed so that paired
    differences line up) and ``random-init`` (the untrained ViT of each seed)."""
    cs = setup.cfg.probe_cs
    pix = evaluate_features(*pixel_features(setup.splits), setup.splits, cs)
    for seed in setup.seeds:
        table.add_eval(PIXELS, pix)
        torch.manual_seed(seed)  # the same initialisation as the seed's trained encoder
        table.add_eval(RANDOM, evaluate(ViTEncoder(setup.vit).eval(), setup.splits, cs))
    ctx.log.info("baselines: %s; %s", table.text(PIXELS), table.text(RANDOM))


def evaluate_arm(table: ArmTable, arm: str, pre: Pretrained, setup: DeepSetup) -> Evaluation:
    """Probe the pre-trained encoder (and fine-tune it when the config asks) into ``table``."""
    ev = evaluate(pre.method.encoder, setup.splits, setup.cfg.probe_cs)
    table.add_eval(arm, ev)
    if setup.cfg.finetune_epochs > 0:
        table.add(arm, "finetune", 100.0 * finetune_encoder(pre.method.encoder, setup.splits,
                                                            setup.cfg.finetune_epochs, pre.key.seed))
    return ev


def curve(pre: Pretrained, setup: DeepSetup) -> dict[int, Evaluation]:
    """The protocol's linear probe at each snapshot epoch of one run."""
    return {e: evaluate(pre.encoder_at(e), setup.splits, setup.cfg.probe_cs) for e in sorted(pre.snapshots)}


@dataclass(frozen=True)
class Gate:
    """The learning gate's outcome: whether the trained arms beat random init, the numbers, the test."""

    learned: bool
    evidence: str
    test: str


def learning_gate(table: ArmTable, trained: Sequence[str]) -> Gate:
    """Each arm in ``trained`` must beat ``random-init`` in linear test accuracy, paired over
    seeds, with the 95 % CI of the difference above 0."""
    parts, ok = [], True
    for arm in trained:
        d = table.diff(arm, RANDOM, "linear")
        held = decide(d, 0.0) == "held"
        ok &= held
        parts.append(f"{arm} − random-init {d.text(unit=' pt')}{'' if held else ' (not above 0)'}")
    test = (f"learning gate: for each of {', '.join(trained)}, paired linear-accuracy difference to random-init "
            "over the seeds has a 95% CI above 0; otherwise every claim is inconclusive")
    return Gate(ok, "; ".join(parts), test)


def paired_claim(
    name: str,
    table: ArmTable,
    a: str,
    b: str,
    metric: str,
    margin: float,
    g: Gate,
    seeds: Sequence[int],
    extra: str = "",
    unit: str = "pt",
) -> Claim:
    """Claim "a − b > margin" on the paired per-seed differences of ``metric`` (accuracies in
    points of %): held if the 95 % CI lies above ``margin``, not held if below, else inconclusive; gated."""
    d = table.diff(a, b, metric)
    verdict = gate(decide(d, margin), g.learned)
    test = (f"paired difference {a} − {b} of test {metric} ({unit}) over seeds {list(seeds)}: held if the "
            f"95% t-CI lies above {margin:+g} {unit}, not held if below it, else inconclusive; {g.test}")
    evidence = (f"{a} − {b}: {d.text(unit=' ' + unit)}; {table.text(a, metric)}, {table.text(b, metric)}"
                + (f"; {extra}" if extra else "") + ("" if g.learned else f"; {NOT_LEARNED}: {g.evidence}"))
    return Claim(name, verdict, evidence, test=test)


def select_on_val(val_scores: dict[Any, Sequence[float]]) -> Any:
    """The arm with the highest mean validation score (the first listed on ties). It sees only
    validation numbers, so nothing about the test split can change the choice."""
    best, best_mean = None, float("-inf")
    for arm, scores in val_scores.items():
        m = sum(scores) / len(scores)
        if m > best_mean:
            best, best_mean = arm, m
    return best


def gate_claim(table: ArmTable, g: Gate, trained: Sequence[str]) -> Claim:
    """The gate itself as a claim (never gated): the trained arms learned something."""
    d = [table.diff(a, RANDOM, "linear") for a in trained]
    verdicts = [decide(x, 0.0) for x in d]
    verdict = "held" if all(v == "held" for v in verdicts) else (
        "not held" if any(v == "not held" for v in verdicts) else "inconclusive")
    return Claim(f"every trained arm ({', '.join(trained)}) beats the random-init encoder on linear probing",
                 verdict, g.evidence + f"; {table.text(PIXELS)}; {table.text(RANDOM)}",
                 test=g.test.replace("learning gate: ", "").replace("; otherwise every claim is inconclusive", "")
                 + "; not held if any CI lies below 0")


def effective_rank_of(features: torch.Tensor) -> tuple[float, list[float]]:
    """Effective rank exp(H(p)), p = σ / Σσ of the centred features' singular values σ
    (Roy & Vetterli 2007; the measure U-MAE's paper uses for dimensional collapse), and σ / σ₁."""
    f = features.double() - features.double().mean(0, keepdim=True)
    s = torch.linalg.svdvals(f)
    p = s / s.sum().clamp_min(1e-12)
    erank = float(torch.exp(-(p * (p + 1e-12).log()).sum()))
    return erank, (s / s[0].clamp_min(1e-12)).tolist()


def features_of(pre: Pretrained, images: torch.Tensor) -> torch.Tensor:
    return extract_features(pre.method.encoder, images)


def method_kwargs(method: str, cfg: DeepConfig, **override: Any) -> dict[str, Any]:
    """The one spelling of each method's keyword arguments, so that equal runs of different
    experiments have equal cache keys: MAE/U-MAE take the mask ratio (and U-MAE its weight λ and,
    when set, its form), SimCLR its temperature when the config sets one; latent prediction its
    defaults (:func:`sslab.methods.method_options`)."""
    kw = method_options(method, mask_ratio=cfg.mask_ratio, uniformity_weight=cfg.uniformity_weight,
                        uniformity_form=cfg.uniformity_form)
    if method == "simclr" and cfg.simclr_temperature is not None:
        kw["temperature"] = cfg.simclr_temperature
    kw.update(override)
    return kw


def run_arm(
    table: ArmTable, setup: DeepSetup, ctx: RunContext, arm: str, method: str, kwargs: dict[str, Any]
) -> list[Pretrained]:
    """Pre-train (or load) ``method`` for every seed and probe it into ``table`` under ``arm``."""
    from sslab.progress import track

    out = []
    for seed in track(setup.seeds, arm):
        pre = setup.pretrain(arm, method, kwargs, seed, ctx)
        evaluate_arm(table, arm, pre, setup)
        out.append(pre)
    return out


def curves_of(runs: Sequence[Pretrained], setup: DeepSetup) -> dict[str, Any]:
    """Linear test (and validation) accuracy at each snapshot epoch, summarised over seeds."""
    return summarize_curves([curve(p, setup) for p in runs])


def summarize_curves(per_run: Sequence[dict[int, Evaluation]]) -> dict[str, Any]:
    """Per-seed curves (epoch → evaluation) → mean and 95 % CI of linear accuracy per epoch."""
    epochs = sorted(per_run[0])
    return {
        "epochs": epochs,
        "linear": [summarize([100 * c[e].linear for c in per_run]).record() for e in epochs],
        "val_linear": [summarize([100 * c[e].val_linear for c in per_run]).record() for e in epochs],
    }


def plot_curves(ax: Any, curves: dict[str, dict[str, Any]], table: ArmTable, title: str) -> None:
    """Linear accuracy along training (mean and 95% CI over seeds) with the baselines as labelled lines;
    the legend sits to the right of the axes."""
    for arm, c in curves.items():
        means = [r["mean"] for r in c["linear"]]
        lo = [r["ci95"][0] if r["ci95"][0] is not None else r["mean"] for r in c["linear"]]
        hi = [r["ci95"][1] if r["ci95"][1] is not None else r["mean"] for r in c["linear"]]
        (line,) = ax.plot(c["epochs"], means, "o-", label=arm)
        ax.fill_between(c["epochs"], lo, hi, color=line.get_color(), alpha=0.2)
    for arm, style in ((PIXELS, "--"), (RANDOM, ":")):
        if arm in table.values:
            ax.axhline(table.summary(arm, "linear").mean, color="gray", ls=style, label=f"{arm} (linear)")
    ax.set_xlabel("pre-training epoch")
    ax.set_ylabel("linear-probe test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_grid(ax: Any, table: ArmTable, xs: Sequence[float], arms: Sequence[str], method: str) -> None:
    """Linear accuracy of one method over a grid of arms (x = the knob's value), on the test split
    (solid) and the validation split (dashed), with 95% CI error bars (none with one seed), and the
    pixel and random-init test probes as labelled lines."""
    for metric, style in (("linear", "o-"), ("val_linear", "s--")):
        sums = [table.summary(a, metric) for a in arms]
        err = [[s.mean - s.lo if s.n > 1 else 0 for s in sums], [s.hi - s.mean if s.n > 1 else 0 for s in sums]]
        split = "test" if metric == "linear" else "validation"
        ax.errorbar(xs, [s.mean for s in sums], yerr=err, fmt=style, capsize=3, label=f"{method}, {split} split")
    for arm, ls in ((PIXELS, "--"), (RANDOM, ":")):
        ax.axhline(table.summary(arm, "linear").mean, color="gray", ls=ls, label=f"{arm} (linear, test)")


def plot_arms(ax: Any, table: ArmTable, arms: Sequence[str], metrics: Sequence[str], title: str) -> None:
    """Bars of mean test accuracy per arm and metric with 95% CI error bars (none with one seed); the
    legend sits to the right of the axes, outside the bars."""
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        present = [m for m in metrics if m in table.values.get(arm, {})]
        xs = [metrics.index(m) + j * width for m in present]
        sums = [table.summary(arm, m) for m in present]
        err = [[s.mean - s.lo if s.n > 1 else 0 for s in sums], [s.hi - s.mean if s.n > 1 else 0 for s in sums]]
        ax.bar(xs, [s.mean for s in sums], width, yerr=err, capsize=2, label=arm)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(metrics))], list(metrics))
    ax.set_ylabel("test accuracy (%)")
    lows = [min(v) for arm in arms for m, v in table.values.get(arm, {}).items() if m in metrics]
    ax.set_ylim(max(0.0, min(lows) - 10) if lows else 0.0, 100)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
