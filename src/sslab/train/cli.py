"""`sslab train` and `sslab eval`: the deep pipeline from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sslab.errors import ConfigError
from sslab.progress import console, live


def attach(app: typer.Typer, user_errors: Any) -> None:
    @app.command()
    @user_errors
    def train(
        method: Annotated[str, typer.Argument(help="mae, umae, simclr or latent")],
        dataset: Annotated[str, typer.Option(help="digits, cifar10, cifar100, stl10, imagefolder, auto")] = "digits",
        data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
        image_size: Annotated[int, typer.Option()] = 8,
        patch: Annotated[int, typer.Option()] = 2,
        preset: Annotated[str, typer.Option(help="cpu-tiny, vit-tiny, vit-small, vit-base")] = "cpu-tiny",
        epochs: Annotated[int, typer.Option()] = 50,
        batch_size: Annotated[int, typer.Option()] = 128,
        lr: Annotated[float, typer.Option()] = 1.5e-3,
        mask_ratio: Annotated[float, typer.Option()] = 0.75,
        uniformity_weight: Annotated[float | None, typer.Option(help="U-MAE λ (default 1e-3 for umae)")] = None,
        seed: Annotated[int, typer.Option()] = 0,
        checkpoint_every: Annotated[int, typer.Option()] = 5,
        eval_every: Annotated[int, typer.Option(help="online kNN on val every N epochs (0: off)")] = 5,
        on_nan: Annotated[str, typer.Option(help="stop or skip")] = "stop",
        out: Annotated[Path, typer.Option("--out", help="run directory (checkpoint, tensorboard, metrics)")] = Path(
            "runs/train"
        ),
        resume: Annotated[bool, typer.Option("--resume", help="continue from OUT/checkpoint.pt")] = False,
    ) -> None:
        """Pre-train one method; checkpoints, TensorBoard logs and final metrics go to OUT.

        Examples:

          sslab train mae --epochs 50 --out runs/train/mae

          sslab train umae --uniformity-weight 0.01 --out runs/train/umae

          sslab train mae --out runs/train/mae --resume

          tensorboard --logdir runs/train
        """
        from sslab.data import load_dataset
        from sslab.io import atomic_write_json
        from sslab.methods import build_method
        from sslab.models import vit_config
        from sslab.train.loop import TrainConfig
        from sslab.train.loop import train as run_training
        from sslab.train.pipeline import evaluate_encoder, online_knn

        if not 0.0 <= mask_ratio < 1.0:
            raise ConfigError(f"bad value --mask-ratio={mask_ratio}: must be in [0, 1)")
        splits = load_dataset(dataset, data_dir, image_size).standardized()
        vit = vit_config(preset, image_size=image_size, patch=patch, channels=splits.train.image_shape[0])
        kwargs: dict[str, Any] = {}
        if method in ("mae", "umae"):
            kwargs["mask_ratio"] = mask_ratio
            if uniformity_weight is not None:
                kwargs["uniformity_weight"] = uniformity_weight
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            checkpoint_every=checkpoint_every,
            eval_every=eval_every,
            on_nan=on_nan,  # type: ignore[arg-type]
        )
        import torch

        torch.manual_seed(seed)
        model = build_method(method, vit, **kwargs)
        run_config = {"method": method, "vit": vit.to_dict(), "method_kwargs": kwargs, "dataset": dataset}
        out.mkdir(parents=True, exist_ok=True)
        with live():
            state = run_training(
                model, splits.train.images, cfg, out, resume=resume, run_config=run_config,
                evaluate=online_knn(splits),
            )
        linear, knn, _ = evaluate_encoder(model.encoder, splits, seed)
        metrics = {"method": method, "epochs": state.epoch, "linear": linear, "knn": knn, "seed": seed}
        atomic_write_json(out / "metrics.json", metrics)
        console.print(f"{method}: linear {linear:.4f}  kNN {knn:.4f}  → {out}")

    @app.command("eval")
    @user_errors
    def eval_cmd(
        run_dir: Annotated[Path, typer.Argument(help="a `sslab train` output directory")],
        data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
        finetune_epochs: Annotated[int, typer.Option()] = 0,
    ) -> None:
        """Evaluate a trained checkpoint: linear probe, kNN and optional fine-tuning.

        Example: sslab eval runs/train/mae --finetune-epochs 10
        """
        from sslab.data import load_dataset
        from sslab.eval.finetune import finetune
        from sslab.methods import build_method
        from sslab.models import ViTConfig
        from sslab.train.checkpoint import CHECKPOINT, load_checkpoint
        from sslab.train.pipeline import evaluate_encoder

        ck = load_checkpoint(run_dir / CHECKPOINT if run_dir.is_dir() else run_dir)
        run = ck["config"]["run"]
        vit = ViTConfig(**run["vit"])
        model = build_method(run["method"], vit, **run.get("method_kwargs", {}))
        model.load_state_dict(ck["model"])
        splits = load_dataset(run.get("dataset", "digits"), data_dir, vit.image_size).standardized()
        linear, knn, _ = evaluate_encoder(model.encoder, splits)
        result = {"epoch": ck["epoch"], "linear": linear, "knn": knn}
        if finetune_epochs:
            s = splits
            result["finetune"] = finetune(
                model.encoder, s.train.num_classes, s.train.images, s.train.labels, s.test.images, s.test.labels,
                epochs=finetune_epochs,
            )
        console.print(json.dumps(result))
