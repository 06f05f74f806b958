"""``sslab data list`` and ``sslab data show NAME``: what datasets exist, and what they look like."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sslab.progress import console, emit_json

data_app = typer.Typer(help="Datasets: list them, write a grid of samples, or shard an image folder.",
                       no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON document on stdout.")]


@data_app.command("list")
def list_datasets(as_json: JsonOpt = False) -> None:
    """Every dataset: name, size, resolution, classes, source, licence and what it needs.

    Example: sslab data list --json
    """
    from sslab.data.catalog import dataset_catalog

    rows = dataset_catalog()
    if as_json:
        emit_json(rows)
        return
    table = Table(title="sslab datasets")
    for col in ("name", "size", "resolution", "classes", "source", "licence", "needs"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(str(r[c]) if r[c] is not None else "—" for c in
                        ("name", "size", "resolution", "classes", "source", "licence", "needs")))
    console.print(table)


def show_dataset(
    name: Annotated[str, typer.Argument(help="Dataset name (see `sslab data list`).")],
    out: Annotated[Path | None, typer.Option(help="PNG to write (default: runs/data/NAME.png).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the files of a user dataset.")] = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "train",
    per_class: Annotated[int, typer.Option(min=1, max=32, help="Images per class row.")] = 8,
    as_json: JsonOpt = False,
) -> None:
    """Write a grid of samples (one row per class) of a dataset split as a PNG; print its path.

    Example: sslab data show digits --per-class 4 --out digits.png
    """
    from sslab.data import load_dataset
    from sslab.data.catalog import save_sample_grid
    from sslab.errors import ConfigError

    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split {split!r}: choose train, val or test")
    splits = load_dataset(name, data_dir)
    part = getattr(splits, split)
    path = save_sample_grid(part, out or Path("runs") / "data" / f"{name}.png", per_class)
    if as_json:
        emit_json({"dataset": name, "split": split, "png": str(path), "per_class": per_class,
                   "samples": len(part.labels), "classes": part.num_classes})
        return
    typer.echo(str(path))


def shard_dataset(
    folder: Annotated[Path, typer.Argument(help="Image folder: root/<class>/* or root/{train,val}/<class>/*.")],
    out: Annotated[Path, typer.Argument(help="New folder for the shards and their index.")],
    shard_size: Annotated[int, typer.Option(help="Samples per tar shard.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Write WebDataset-style tar shards and an index (layout: docs/scaling.md, sslab.data.shards).

    Example: sslab data shard /data/imagenet100 /data/imagenet100-shards --shard-size 1000
    """
    from sslab.data.shards import read_index, write_shards

    written = write_shards(folder, out, shard_size)
    parts = [written / p for p in ("train", "val", "test") if (written / p / "index.json").is_file()] or [written]
    written_parts = []
    for part in parts:
        index, _ = read_index(part)
        written_parts.append({"dir": str(part), "samples": index["samples"], "shards": len(index["shards"])})
    if as_json:
        emit_json({"out": str(written), "parts": written_parts})
        return
    for row in written_parts:
        typer.echo(f"{row['dir']}: {row['samples']} samples in {row['shards']} shards")
