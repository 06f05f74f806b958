"""`sslab train` and `sslab eval`: the deep pipeline from the command line.

``sslab train`` runs data-parallel when started by torchrun (``torchrun --nproc-per-node N
-m sslab train ...``) or with ``--nproc N``, which re-launches itself through
``torch.distributed.run --standalone`` on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sslab.errors import ConfigError
from sslab.progress import console, live


def attach(app: typer.Typer, user_errors: Any) -> None:
    @app.command()
    @user_errors
    def train(
        ctx: typer.Context,
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
        uniformity_weight: Annotated[float | None, typer.Option(help="U-MAE λ (default UMAE_WEIGHT)")] = None,
        seed: Annotated[int, typer.Option()] = 0,
        checkpoint_every: Annotated[int, typer.Option()] = 5,
        eval_every: Annotated[int, typer.Option(help="online kNN on val every N epochs (0: off)")] = 5,
        on_nan: Annotated[str, typer.Option(help="stop or skip")] = "stop",
        out: Annotated[Path, typer.Option("--out", help="run directory (checkpoint, tensorboard, metrics)")] = Path(
            "runs/train"
        ),
        resume: Annotated[bool, typer.Option("--resume", help="continue from OUT/checkpoint.pt")] = False,
        nproc: Annotated[int, typer.Option(help="data-parallel processes on this machine (torchrun)")] = 1,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
        precision: Annotated[str, typer.Option(help="fp32 or bf16 (autocast)")] = "fp32",
        compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model parts")] = False,
    ) -> None:
        """Pre-train one method; checkpoints, TensorBoard logs and final metrics go to OUT.

        Examples:

          sslab train mae --epochs 50 --out runs/train/mae

          sslab train umae --uniformity-weight 0.01 --out runs/train/umae

          sslab train mae --out runs/train/mae --resume

          sslab train simclr --nproc 2 --batch-size 256 --out runs/train/simclr-ddp

          torchrun --nproc-per-node 8 -m sslab train mae --device cuda --precision bf16

          tensorboard --logdir runs/train

        --batch-size is the global batch, split evenly over the processes.
        """
        from sslab.distributed import launched_by_torchrun, resolve_device

        if nproc < 1:
            raise ConfigError(f"bad value --nproc={nproc}: must be >= 1")
        if batch_size % nproc:
            raise ConfigError(f"--batch-size {batch_size} (the global batch) must be divisible by --nproc {nproc}")
        resolve_device(device)  # a bad or unavailable device fails here, before any process starts
        if nproc > 1 and not launched_by_torchrun():
            raise typer.Exit(relaunch_with_torchrun(ctx, nproc))
        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"bad value --precision={precision}: use fp32 or bf16")
        from sslab import distributed
        from sslab.data import load_dataset
        from sslab.io import atomic_write_json
        from sslab.methods import build_method, method_options
        from sslab.models import vit_config
        from sslab.train.loop import TrainConfig
        from sslab.train.loop import train as run_training
        from sslab.train.pipeline import evaluate_encoder, online_knn

        if not 0.0 <= mask_ratio < 1.0:
            raise ConfigError(f"bad value --mask-ratio={mask_ratio}: must be in [0, 1)")
        splits = load_dataset(dataset, data_dir, image_size).standardized()
        vit = vit_config(preset, image_size=image_size, patch=patch, channels=splits.train.image_shape[0])
        kwargs = method_options(method, mask_ratio=mask_ratio, uniformity_weight=uniformity_weight)
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            checkpoint_every=checkpoint_every,
            eval_every=eval_every,
            on_nan=on_nan,  # type: ignore[arg-type]
            device=device,
            precision=precision,  # type: ignore[arg-type]
            compile=compile,
        )
        import torch

        world, dev = distributed.init_from_env(device)
        try:
            torch.manual_seed(seed)
            model = build_method(method, vit, **kwargs)
            run_config = {"method": method, "vit": vit.to_dict(), "method_kwargs": kwargs, "dataset": dataset}
            out.mkdir(parents=True, exist_ok=True)
            with live(enabled=world.is_main):
                state = run_training(
                    model, splits.train.images, cfg, out, resume=resume, run_config=run_config,
                    evaluate=online_knn(splits),
                )
            if world.is_main:
                linear, knn, _ = evaluate_encoder(model.encoder, splits, seed)
                metrics = {
                    "method": method, "epochs": state.epoch, "linear": linear, "knn": knn, "seed": seed,
                    "world_size": world.size, "device": str(dev), "precision": precision,
                }
                atomic_write_json(out / "metrics.json", metrics)
                console.print(f"{method}: linear {linear:.4f}  kNN {knn:.4f}  ({world.size} × {dev}) → {out}")
            distributed.barrier()
        finally:
            distributed.shutdown()

    def relaunch_with_torchrun(ctx: typer.Context, nproc: int) -> int:
        """Run this same `sslab train` command under torchrun with ``nproc`` local workers."""
        args: list[str] = []
        for param in ctx.command.params:
            value = ctx.params.get(param.name or "")
            if param.name == "nproc" or value is None:
                continue
            if param.param_type_name == "argument":
                args.insert(0, str(value))
            elif getattr(param, "is_flag", False):
                args += [param.opts[0]] if value else []
            else:
                args += [param.opts[0], str(value)]
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        console.print(f"launching {nproc} processes: torchrun --standalone --nproc-per-node={nproc} -m sslab train …")
        return subprocess.call([*cmd, "-m", "sslab", "train", *args], env=env)

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
