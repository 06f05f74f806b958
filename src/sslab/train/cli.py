"""`sslab train`, `sslab eval` and `sslab export`: the deep pipeline from the command line.

``sslab train`` runs data-parallel when started by torchrun (``torchrun --nproc-per-node N
-m sslab train ...``) or with ``--nproc N``, which re-launches itself through
``torch.distributed.run`` (one machine, or several with ``--nnodes``: :mod:`sslab.train.launch`).
``--stream`` reads big datasets per item in DataLoader workers (:mod:`sslab.train.stream_run`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape

from sslab.errors import ConfigError
from sslab.progress import console, emit, emit_json, live
from sslab.train.options import TrainOptions, validate

# choices are Literal types (values stay plain strings); keep them in step with sslab.methods.METHODS,
# sslab.data.DATASETS and sslab.models.PRESETS (tests/test_train_options.py checks it)
MethodChoice = Literal["mae", "umae", "simclr", "latent"]
DatasetChoice = Literal[
    "digits", "mnist-5k", "animal-mnist", "textured", "textured-animal", "cifar10", "cifar100", "stl10",
    "imagefolder", "auto", "shards",  # shards: --stream only (sslab.train.stream_run.STREAMING)
]
PresetChoice = Literal["cpu-tiny", "vit-tiny", "vit-small", "vit-base"]
MethodArg = Annotated[MethodChoice, typer.Argument(help="Method to pre-train: mae, umae, simclr or latent.")]
DatasetOpt = Annotated[
    DatasetChoice,
    typer.Option(help="digits (bundled), mnist-5k / animal-mnist / textured (from installed packages), cifar10, "
                 "cifar100, stl10, imagefolder, or auto (detect in --data-dir)."),
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Folder with the dataset's files (not digits).")]
ImageSizeOpt = Annotated[int, typer.Option(help="Side in pixels the images are resized to; a multiple of --patch.")]
PatchOpt = Annotated[int, typer.Option(help="Side length in pixels of the ViT's square patches.")]
PresetOpt = Annotated[PresetChoice, typer.Option(help="ViT size: cpu-tiny, vit-tiny, vit-small or vit-base.")]
EpochsOpt = Annotated[int, typer.Option(help="Passes over the training images.")]
BatchOpt = Annotated[int, typer.Option(help="Global batch size, split evenly over the --nproc processes.")]
LrOpt = Annotated[float, typer.Option(help="Peak AdamW learning rate (linear warmup, then cosine decay).")]
MaskRatioOpt = Annotated[
    float | None, typer.Option(help="Fraction of patches masked, in [0, 1) (mae and umae only; default 0.75).")
]
UniformityOpt = Annotated[
    float | None, typer.Option(help="U-MAE uniformity weight λ >= 0 (umae only; default 0.01, the official code's).")
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the initial weights, data order, masks and views.")]
CheckpointEveryOpt = Annotated[int, typer.Option(help="Write OUT/checkpoint.pt every N epochs and at the end.")]
EvalEveryOpt = Annotated[int, typer.Option(help="Online kNN accuracy on the validation split every N epochs (0: off).")]
OnNanOpt = Annotated[
    str,
    typer.Option(help="On a NaN or infinite loss: stop; skip the step (capped by --max-skip-frac); or rollback "
                 "(reload the last checkpoint and halve the learning rate, at most --max-rollbacks times)."),
]
MaxSkipOpt = Annotated[
    float | None, typer.Option(help="--on-nan skip: most steps that may be skipped, as a fraction (default 0.01).")
]
MaxRollbacksOpt = Annotated[int | None, typer.Option(help="--on-nan rollback: most rollbacks (default 3).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Run directory (checkpoint, TensorBoard logs, metrics.json).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in OUT from OUT/checkpoint.pt.")]
NprocOpt = Annotated[int, typer.Option(help="Data-parallel processes on this machine (launched through torchrun).")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
PrecisionOpt = Annotated[str, typer.Option(help="fp32, or bf16 (autocast).")]
CompileOpt = Annotated[bool, typer.Option("--compile", help="torch.compile the model parts.")]
MaxStepsOpt = Annotated[int | None, typer.Option(help="Stop after this many steps, with a checkpoint (resumable).")]
StreamOpt = Annotated[bool, typer.Option("--stream", help="Decode per item in DataLoader workers (big datasets; "
                                         "imagefolder, cifar10, cifar100, stl10, shards).")]
WorkersOpt = Annotated[int, typer.Option(help="--stream: DataLoader worker processes (0: decode in process).")]
AugmentOpt = Annotated[str, typer.Option(help="--stream: per-sample view, mae (crop + flip), simclr or none.")]
EvalLimitOpt = Annotated[int, typer.Option(help="--stream: images per split behind the probes (0: all).")]
NnodesOpt = Annotated[int, typer.Option(help="Machines (torchrun multi-node; with --rdzv-endpoint or --master-addr).")]
NodeRankOpt = Annotated[int, typer.Option(help="This machine's rank, 0..nnodes-1 (static rendezvous).")]
MasterAddrOpt = Annotated[str | None, typer.Option(help="Static rendezvous: host of node rank 0.")]
MasterPortOpt = Annotated[int, typer.Option(help="Static rendezvous: port on --master-addr.")]
RdzvEndpointOpt = Annotated[str | None, typer.Option(help="c10d rendezvous HOST:PORT (same on every machine).")]
RdzvIdOpt = Annotated[str, typer.Option(help="c10d rendezvous job id (same on every machine).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON document on stdout.")]


def train_command(
    ctx: typer.Context,
    method: MethodArg,
    dataset: DatasetOpt = "digits",
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = 8,
    patch: PatchOpt = 2,
    preset: PresetOpt = "cpu-tiny",
    epochs: EpochsOpt = 50,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 1.5e-3,
    mask_ratio: MaskRatioOpt = None,
    uniformity_weight: UniformityOpt = None,
    seed: SeedOpt = 0,
    checkpoint_every: CheckpointEveryOpt = 5,
    eval_every: EvalEveryOpt = 5,
    on_nan: OnNanOpt = "stop",
    max_skip_frac: MaxSkipOpt = None,
    max_rollbacks: MaxRollbacksOpt = None,
    out: OutOpt = Path("runs/train"),
    resume: ResumeOpt = False,
    nproc: NprocOpt = 1,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    compile: CompileOpt = False,
    max_steps: MaxStepsOpt = None,
    stream: StreamOpt = False,
    workers: WorkersOpt = 2,
    augment: AugmentOpt = "mae",
    eval_limit: EvalLimitOpt = 5000,
    nnodes: NnodesOpt = 1,
    node_rank: NodeRankOpt = 0,
    master_addr: MasterAddrOpt = None,
    master_port: MasterPortOpt = 29500,
    rdzv_endpoint: RdzvEndpointOpt = None,
    rdzv_id: RdzvIdOpt = "sslab",
    as_json: JsonOpt = False,
) -> None:
    """Pre-train one method; checkpoints, TensorBoard logs and final metrics go to OUT.

    Examples:

      sslab train mae --epochs 50 --out runs/train/mae

      sslab train umae --uniformity-weight 0.01 --out runs/train/umae

      sslab train mae --out runs/train/mae --resume

      sslab train simclr --nproc 2 --batch-size 256 --out runs/train/simclr-ddp

      torchrun --nproc-per-node 8 -m sslab train mae --device cuda --precision bf16

      sslab train mae --dataset imagefolder --data-dir IN100 --stream --workers 8 --image-size 224 --patch 16

      sslab train mae --nnodes 2 --nproc 8 --rdzv-endpoint node0:29400 ...  (the same on both machines)

      tensorboard --logdir runs/train

    --batch-size is the global batch, split evenly over the processes. With --json the final
    metrics (as in OUT/metrics.json, plus "out") are the only thing on stdout.
    """
    from sslab.distributed import launched_by_torchrun
    from sslab.train.rundir import check_run_dir

    opts = TrainOptions(**{k: v for k, v in ctx.params.items() if k != "as_json"})
    validate(opts)
    if opts.launch().needs_launcher and not launched_by_torchrun():
        check_run_dir(opts.out, opts.resume)  # the workers' rank 0 claims it; refuse early and cleanly
        raise typer.Exit(relaunch_with_torchrun(ctx, opts.launch()))  # --json travels to the workers
    run_train_process(opts, as_json=as_json)


def run_train_process(opts: TrainOptions, as_json: bool = False) -> None:
    """This process's part of the run: alone, or as one torchrun worker. Rank 0 holds the run
    directory's lock for the whole run (:mod:`sslab.train.rundir`). A worker leaves
    deterministically (barrier, destroy, hard exit; on an error: report it, hard exit)."""
    from sslab import distributed
    from sslab.train.rundir import RunDirLock

    joined = distributed.launched_by_torchrun() and not distributed.active()
    if joined:
        distributed.die_with_parent()  # the torchrun agent gone (even by SIGKILL): leave too
    owner = int(os.environ.get("RANK", "0")) == 0  # rank 0 holds the run directory for all ranks
    claim = RunDirLock(opts.out, opts.resume) if owner else contextlib.nullcontext()
    try:
        with claim:
            world, dev = distributed.init_from_env(opts.device)
            train_and_evaluate(opts, world, dev, as_json=as_json)
            distributed.shutdown()  # every rank is done before the lock is released
    except BaseException as exc:
        if joined:  # leave at once: peers blocked in a collective fail fast on the closed sockets
            distributed.hard_exit(worker_exit_code(exc))
        raise
    if joined:
        distributed.hard_exit(0)


def train_and_evaluate(opts: TrainOptions, world: Any, dev: Any, as_json: bool = False) -> None:
    """Load the data, pre-train (resuming if asked), then evaluate on rank 0 into metrics.json
    (and stdout: one line, or the metrics as JSON when ``as_json``)."""
    import torch

    from sslab.methods import build_method
    from sslab.models import vit_config
    from sslab.train.loop import train as run_training
    from sslab.train.stream_run import training_data
    from sslab.train.streaming_loader import method_data

    data = training_data(opts.dataset, opts.data_dir, opts.image_size, opts.seed, stream=opts.stream,
                         augment=opts.augment, workers=opts.workers, eval_limit=opts.eval_limit)
    vit = vit_config(opts.preset, image_size=opts.image_size, patch=opts.patch, channels=data.channels)
    kwargs = opts.method_kwargs()
    cfg = opts.train_config()
    torch.manual_seed(opts.seed)
    model = build_method(opts.method, vit, **kwargs)
    run_config = {"method": opts.method, "vit": vit.to_dict(), "method_kwargs": kwargs, "dataset": opts.dataset,
                  **({"stream": True, "augment": opts.augment} if opts.stream else {})}
    opts.out.mkdir(parents=True, exist_ok=True)
    with live(enabled=world.is_main):
        state = run_training(
            model, method_data(data.train, opts.method), cfg, opts.out, resume=opts.resume, run_config=run_config,
            evaluate=data.online, stop_after_steps=opts.max_steps, workers=opts.workers,
        )
    if world.is_main:
        write_metrics(opts, model, data, state, world.size, dev, as_json=as_json)


def write_metrics(
    opts: TrainOptions, model: Any, data: Any, state: Any, world_size: int, dev: Any, as_json: bool = False
) -> None:
    """Linear probe and kNN of the trained encoder (``data.final``) → OUT/metrics.json, and on
    stdout one line or (``as_json``) the same metrics with ``out`` as one JSON document."""
    from sslab.io import atomic_write_json

    linear, knn = data.final(model.encoder)
    metrics = {
        "method": opts.method, "epochs": state.epoch, "steps": state.step, "linear": linear, "knn": knn,
        "seed": opts.seed,
        "world_size": world_size, "device": str(dev), "precision": opts.precision,
    }
    atomic_write_json(opts.out / "metrics.json", metrics)
    if (opts.out / "tensorboard").is_dir():  # the trainer's TensorBoard run: add hparams and the projector
        from sslab.train import artifacts

        hparams = {"method": opts.method, **opts.method_kwargs(), "epochs": state.epoch, "lr": opts.lr,
                   "batch_size": opts.batch_size, "seed": opts.seed, "dataset": opts.dataset}
        images, labels = data.projector()  # the test split (a bounded sample of it when streamed)
        artifacts.run_end(opts.out / "tensorboard", hparams, {"linear": linear, "knn": knn}, model.encoder,
                          images, labels, step=state.epoch)
    if as_json:
        emit_json({**metrics, "out": str(opts.out)})
        return
    emit(f"{opts.method}: linear {linear:.4f}  kNN {knn:.4f}  ({world_size} × {dev}) → {opts.out}", markup=False)


def worker_exit_code(exc: BaseException) -> int:
    """Report an exception of a torchrun worker as the CLI would; return its exit code."""
    import traceback

    from sslab.errors import SslabError

    if isinstance(exc, SslabError):
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else 1
    traceback.print_exception(exc)
    return 1


def torchrun_args(ctx: typer.Context) -> list[str]:
    """The command line of this `sslab train` call, without the launch options (--nproc, --nnodes, ...)."""
    from sslab.train.launch import LAUNCH_OPTIONS

    args: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name in LAUNCH_OPTIONS or value is None:
            continue
        if param.param_type_name == "argument":
            args.insert(0, str(value))
        elif getattr(param, "is_flag", False):
            args += [param.opts[0]] if value else []
        else:
            args += [param.opts[0], str(value)]
    return args


def relaunch_with_torchrun(ctx: typer.Context, launch: Any) -> int:
    """Run this same `sslab train` command under torchrun (a :class:`sslab.train.launch.Launch`:
    one machine, or this machine's part of a multi-node rendezvous).

    No orphans: SIGINT, SIGTERM and SIGHUP sent to this launcher are forwarded to torchrun (which
    stops its workers), torchrun receives SIGTERM if this launcher dies in any other way
    (:func:`sslab.distributed.die_with_parent`), and each worker likewise follows torchrun."""
    import signal

    from sslab.distributed import die_with_parent

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // launch.nproc)))
    cmd = launch.torchrun()
    console.print(f"launching {launch.nproc} processes: torchrun {' '.join(cmd[3:])} -m sslab train …")
    proc = subprocess.Popen(  # own session: a terminal Ctrl-C reaches torchrun once, through forward()
        [*cmd, "-m", "sslab", "train", *torchrun_args(ctx)], env=env, preexec_fn=die_with_parent,
        start_new_session=True,
    )

    def forward(signum: int, _frame: Any) -> None:
        proc.send_signal(signum)

    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, forward) for sig in forwarded}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


RunDirArg = Annotated[Path, typer.Argument(help="A `sslab train` output directory (or its checkpoint.pt).")]
FinetuneOpt = Annotated[int, typer.Option(help="Also fine-tune end to end for N epochs (0: no fine-tuning).")]
ExportOutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="The .safetensors file to write, or a directory for encoder.safetensors "
                 "(default: RUN_DIR/encoder.safetensors); the JSON config goes beside it, same name."),
]


def load_run(run_dir: Path) -> tuple[dict[str, Any], Any]:
    """The (safely loaded) checkpoint of a run and its method with the trained weights."""
    from sslab.methods import build_method
    from sslab.models import ViTConfig
    from sslab.train.checkpoint import CHECKPOINT, load_checkpoint

    ck = load_checkpoint(run_dir / CHECKPOINT if run_dir.is_dir() else run_dir)
    run = ck["config"]["run"]
    model = build_method(run["method"], ViTConfig(**run["vit"]), **run.get("method_kwargs", {}))
    model.load_state_dict(ck["model"])
    return ck, model


def eval_command(
    run_dir: RunDirArg, data_dir: DataDirOpt = None, finetune_epochs: FinetuneOpt = 0, as_json: JsonOpt = False
) -> None:
    """Evaluate a trained checkpoint: linear probe, kNN and optional fine-tuning; the result is
    also written to RUN_DIR/eval.json.

    Examples:

      sslab eval runs/train/mae --finetune-epochs 10

      sslab eval runs/train/mae --json > mae-eval.json
    """
    from sslab.data import load_dataset
    from sslab.eval.finetune import finetune
    from sslab.train.pipeline import evaluate_encoder

    ck, model = load_run(run_dir)
    run = ck["config"]["run"]
    size = model.encoder.cfg.image_size
    if run.get("stream"):  # a streamed run is evaluated through the workers too
        from sslab.train.stream_run import training_data

        if finetune_epochs:
            raise ConfigError("--finetune-epochs needs the dataset in memory; a --stream run is probed only: drop it")
        data = training_data(run["dataset"], data_dir, size, stream=True, augment=run.get("augment", "mae"))
        linear, knn = data.final(model.encoder)
    else:
        splits = load_dataset(run.get("dataset", "digits"), data_dir, size).standardized()
        linear, knn, _ = evaluate_encoder(model.encoder, splits)
    result = {"epoch": ck["epoch"], "linear": linear, "knn": knn}
    if finetune_epochs:
        s = splits
        result["finetune"] = finetune(
            model.encoder, s.train.num_classes, s.train.images, s.train.labels, s.test.images, s.test.labels,
            epochs=finetune_epochs,
        )
    if run_dir.is_dir():
        from sslab.io import atomic_write_json

        atomic_write_json(run_dir / "eval.json", result)
    if as_json:
        emit_json(result)
        return
    line = f"epoch {result['epoch']}: linear {linear:.4f}  kNN {knn:.4f}"
    if finetune_epochs:
        line += f"  fine-tuned {result['finetune']:.4f}"
    emit(line, markup=False)


def export_path(run_dir: Path, out: Path | None) -> Path:
    if out is None:
        return (run_dir if run_dir.is_dir() else run_dir.parent) / "encoder.safetensors"
    if out.suffix == ".safetensors":
        return out
    if out.is_dir() or not out.suffix:
        return out / "encoder.safetensors"
    raise ConfigError(f"bad value --out={out}: give a path ending in .safetensors or a directory")


def export_command(
    run_dir: RunDirArg, out: ExportOutOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False
) -> None:
    """Write the trained encoder alone: safetensors weights and a JSON config (ViT settings and
    the input standardisation), for `sslab.models.load_encoder(path)` in another program.

    Example: sslab export runs/train/mae --out mae-encoder.safetensors
    """
    from sslab import __version__
    from sslab.data import load_dataset
    from sslab.models import save_encoder

    weights = export_path(run_dir, out)
    ck, model = load_run(run_dir)
    run, vit = ck["config"]["run"], model.encoder.cfg
    info = load_dataset(run.get("dataset", "digits"), data_dir, vit.image_size).standardized().info
    meta = {
        "input": {"channels": vit.channels, "image_size": vit.image_size, "pixel_mean": info["pixel_mean"],
                  "pixel_std": info["pixel_std"]},
        "method": run["method"], "dataset": run.get("dataset", "digits"), "epoch": ck["epoch"], "step": ck["step"],
        "sslab_version": __version__,
    }
    weights, config = save_encoder(model.encoder, weights, meta)
    if as_json:
        emit_json({"weights": str(weights), "config": str(config), **meta})
        return
    emit(f"encoder → {weights} (config {config})", markup=False)


def attach(app: typer.Typer, user_errors: Any) -> None:
    """Register `train`, `eval` and `export` on the sslab app (``user_errors``: one-line errors, exit 2)."""
    app.command("train")(user_errors(train_command))
    app.command("eval")(user_errors(eval_command))
    app.command("export")(user_errors(export_command))
