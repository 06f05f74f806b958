"""What ``sslab train`` trains on and evaluates with: in-memory splits, or streaming sources.

:func:`training_data` returns the pre-training data (an ``(N, C, H, W)`` tensor or an
:class:`~sslab.data.streaming.ImageSource`), an online-kNN callback and the final evaluation
(linear probe + kNN on frozen features, the protocol of :mod:`sslab.train.pipeline`). With
``stream``, features are extracted batch by batch through DataLoader workers, so evaluation
memory is bounded too; ``eval_limit`` caps the train-split images whose features fit the probe
(evenly spaced, all of val and test up to the same cap), 0 for no cap.

:func:`lazy_splits` gives the same streaming data as :class:`sslab.data.Splits` of
:class:`sslab.data.lazy.LazyImages`, the form the deep experiments read (``--set stream=true``).

Streaming datasets: ``imagefolder`` (and ``auto`` on a folder), ``cifar10``/``cifar100`` (uint8
cache), ``stl10`` (memory map; pre-training on the unlabeled split when present) and
``shards`` (a ``sslab data shard`` folder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from sslab.data.dataset import Splits, stratified_split
from sslab.data.item_augment import named_augment
from sslab.data.streaming import ImageSource, StreamSplits, channel_stats, streaming_splits
from sslab.errors import ConfigError, DataError

STREAMING = ("imagefolder", "cifar10", "cifar100", "stl10", "shards", "auto")
PROJECTOR_SAMPLE = 256  # test images decoded for the TensorBoard embedding projector of a streamed run


@dataclass
class TrainingData:
    train: torch.Tensor | ImageSource
    channels: int
    online: Callable[[nn.Module], dict[str, float]]
    final: Callable[[nn.Module], tuple[float, float]]
    projector: Callable[[], tuple[torch.Tensor, torch.Tensor]]  # (images, labels) for the embedding projector
    info: dict[str, object]


def _is_shards(data_dir: Path) -> bool:
    return (data_dir / "index.json").is_file() or (data_dir / "train" / "index.json").is_file()


def shard_splits(
    data_dir: Path, image_size: int, augment: str, val_fraction: float = 0.1, split_seed: int = 0, seed: int = 0
) -> StreamSplits:
    from sslab.data.shards import ShardSource

    nested = (data_dir / "train" / "index.json").is_file()
    train = ShardSource.open(data_dir / "train" if nested else data_dir, image_size, seed=seed)
    labels = train.rows[:, 3]
    if nested:
        held = next((data_dir / p for p in ("val", "test") if (data_dir / p / "index.json").is_file()), None)
        if held is None:
            raise DataError(f"{data_dir}/train has shards but there is no val/ or test/ shard folder beside it")
        tr, va = stratified_split(labels, (1 - val_fraction, val_fraction), split_seed)
        test = ShardSource.open(held, image_size, seed=seed)
    else:
        tr, va, te = stratified_split(labels, (0.7, val_fraction, 0.3 - val_fraction), split_seed)
        test = train.subset(te)
    train_eval, val = train.subset(tr), train.subset(va)
    mean, std = channel_stats(train_eval)
    train_eval, val, test = (replace(s, mean=mean, std=std) for s in (train_eval, val, test))
    info: dict[str, object] = {"streaming": True, "shards": str(data_dir), "pixel_mean": list(mean),
                               "pixel_std": list(std)}
    return StreamSplits(train_eval.with_augment(named_augment(augment, image_size)), train_eval, val, test, info)


def load_streaming(
    dataset: str, data_dir: Path | None, image_size: int, augment: str = "mae", seed: int = 0
) -> StreamSplits:
    from sslab.data.memmap import cifar_streaming_splits, stl10_streaming_splits

    if dataset not in STREAMING:
        raise ConfigError(f"--stream reads {', '.join(STREAMING)}; {dataset!r} is small: drop --stream")
    if data_dir is None or not Path(data_dir).is_dir():
        raise DataError(f"--stream needs --data-dir pointing at the {dataset} files (got {data_dir})")
    data_dir = Path(data_dir)
    named_augment(augment, image_size)  # an unknown name fails before any file is read
    if dataset == "auto":
        from sslab.data import detect_dataset

        dataset = "shards" if _is_shards(data_dir) else detect_dataset(data_dir)
    if dataset == "shards":
        return shard_splits(data_dir, image_size, augment, seed=seed)
    if dataset in ("cifar10", "cifar100"):
        return cifar_streaming_splits(data_dir, dataset, image_size, augment, seed=seed)
    if dataset == "stl10":
        root = data_dir / "stl10_binary" if (data_dir / "stl10_binary").is_dir() else data_dir
        pretrain = "unlabeled" if (root / "unlabeled_X.bin").is_file() else "train"
        return stl10_streaming_splits(data_dir, image_size, augment, pretrain, seed=seed)
    return streaming_splits(data_dir, image_size, augment, seed=seed)


STREAM_ABOVE_BYTES = 4 * 2**30  # auto: stream when the float32 splits would take more than 4 GiB in memory


def in_memory_bytes(dataset: str, data_dir: Path | None, image_size: int) -> int:
    """What the in-memory loader would hold for ``dataset`` (all splits, float32), from file names
    and sizes only; 0 for the datasets that do not stream (bundled and packaged ones)."""
    from sslab.data import detect_dataset
    from sslab.data.streaming import scan_folder

    if dataset not in STREAMING or dataset == "shards" or data_dir is None or not Path(data_dir).is_dir():
        return 0
    data_dir = Path(data_dir)
    name = detect_dataset(data_dir) if dataset == "auto" else dataset
    per_image = 4 * image_size * image_size * 3
    if name in ("cifar10", "cifar100"):
        return 60_000 * per_image
    if name == "stl10":
        return 13_000 * per_image
    roots = [data_dir / p for p in ("train", "val", "test") if (data_dir / p).is_dir()] or [data_dir]
    return sum(len(scan_folder(r)[0]) for r in roots) * per_image


def lazy_splits(
    dataset: str, data_dir: Path | None, image_size: int, *, workers: int = 2, device: str = "cpu"
) -> Splits:
    """The streaming splits as :class:`sslab.data.Splits` of :class:`sslab.data.lazy.LazyImages`:
    train/val/test in the deterministic, standardised view (the evaluation protocol's images), the
    train split's images carrying the pre-training source (the train files; STL-10's unlabeled
    split when present) — code written for in-memory splits runs on them unchanged."""
    from sslab.data.dataset import ImageDataset, Splits
    from sslab.data.lazy import LazyImages

    ss = load_streaming(dataset, data_dir, image_size, augment="none")

    def part(source: ImageSource, pretrain: ImageSource | None = None) -> ImageDataset:
        images = LazyImages(source, pretrain, workers=workers, device=device)
        return ImageDataset(images, source.labels, list(source.classes), source.name)  # type: ignore[arg-type]

    info = {**ss.info, "pretrain_images": len(ss.train)}
    return Splits(part(ss.train_eval, ss.train), part(ss.val), part(ss.test), info)


def _features(
    encoder: nn.Module, source: ImageSource, limit: int, workers: int
) -> tuple[torch.Tensor, torch.Tensor]:
    from sslab.train.streaming_loader import source_features

    return source_features(encoder, source, workers=workers, limit=limit or None)


def evaluate_stream(
    encoder: nn.Module, splits: StreamSplits, limit: int = 5000, workers: int = 2
) -> tuple[float, float]:
    """(linear-probe test accuracy, kNN test accuracy) on features extracted through workers."""
    from sslab.eval.knn import knn_accuracy
    from sslab.eval.probes import logistic_probe

    ftr, ytr = _features(encoder, splits.train_eval, limit, workers)
    fva, yva = _features(encoder, splits.val, limit, workers)
    fte, yte = _features(encoder, splits.test, limit, workers)
    probe = logistic_probe(ftr, ytr, fva, yva, fte, yte)
    return probe.test_acc, knn_accuracy(ftr, ytr, fte, yte)


def training_data(
    dataset: str, data_dir: Path | None, image_size: int, seed: int = 0, *, stream: bool = False,
    augment: str = "mae", workers: int = 2, eval_limit: int = 5000,
) -> TrainingData:
    """The data of one ``sslab train`` run (see the module docstring)."""
    from sslab.eval.knn import knn_accuracy

    if not stream:
        from sslab.data import load_dataset
        from sslab.train.pipeline import evaluate_encoder, online_knn

        splits = load_dataset(dataset, data_dir, image_size).standardized()

        def final(encoder: nn.Module) -> tuple[float, float]:
            linear, knn, _ = evaluate_encoder(encoder, splits, seed)
            return linear, knn

        test = splits.test
        return TrainingData(splits.train.images, splits.train.image_shape[0], online_knn(splits), final,
                            lambda: (test.images, test.labels), {})
    if workers < 0 or eval_limit < 0:
        raise ConfigError(f"bad value --workers={workers} / --eval-limit={eval_limit}: must be >= 0")
    ss = load_streaming(dataset, data_dir, image_size, augment, seed)

    def online(method: nn.Module) -> dict[str, float]:
        ftr, ytr = _features(method.encoder, ss.train_eval, eval_limit, workers)
        fva, yva = _features(method.encoder, ss.val, eval_limit, workers)
        return {"val_knn": knn_accuracy(ftr, ytr, fva, yva)}

    def projector() -> tuple[torch.Tensor, torch.Tensor]:
        n = len(ss.test)
        picks = torch.linspace(0, n - 1, min(n, PROJECTOR_SAMPLE)).round().long().unique()
        return torch.stack([ss.test.item(int(i)) for i in picks]), ss.test.labels[picks]

    return TrainingData(
        ss.train, ss.train.image_shape[0], online,
        lambda encoder: evaluate_stream(encoder, ss, eval_limit, workers), projector, {"augment": augment, **ss.info},
    )
