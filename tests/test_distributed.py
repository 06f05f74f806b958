"""Two gloo processes on the CPU compute what one process computes on the concatenated batch.

Tolerance: relative 1e-6 in float64 (the only differences are summation orders), with an
absolute floor of 1e-10 for gradients that are zero up to roundoff (e.g. a final LayerNorm
bias whose output is only used through a mean-centred quantity).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from sslab import distributed
from sslab.methods import build_method
from sslab.models.vit import ViTConfig
from sslab.train.loop import TrainConfig, step_generator, train
from sslab.views import Augment

METHOD_KWARGS = {
    "mae": {"mask_ratio": 0.75},
    "umae": {"mask_ratio": 0.5, "uniformity_weight": 0.3},
    "umae-eq9": {"mask_ratio": 0.5, "uniformity_weight": 0.3, "uniformity_form": "eq9", "uniformity_feature": "mean"},
    "simclr": {"augment": Augment(flip=True, noise_std=0.1)},
    "simclr-plain": {"augment": Augment(noise_std=0.1)},
    "latent": {},
}
VIT = ViTConfig(image_size=8, patch=2, dim=32, depth=2, heads=4, decoder_dim=16, decoder_heads=4)
GLOBAL_BATCH = 8


def _make(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    method = build_method(name.split("-")[0], VIT, **METHOD_KWARGS[name])
    images = torch.randn(GLOBAL_BATCH, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return method, images


def _one_step(method: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Forward + backward on this rank's block of the global batch; averaged loss and grads."""
    w = distributed.world()
    model = method
    if w.size > 1:
        model = distributed.data_parallel(method, torch.device("cpu"))
    local = images.shape[0] // w.size
    out = model(images[w.rank * local : (w.rank + 1) * local], step_generator(0, 7))
    out["loss"].backward()
    result = {"loss": distributed.mean_across_ranks(out["loss"].detach())}
    result.update({f"grad/{n}": p.grad.clone() for n, p in method.named_parameters() if p.grad is not None})
    result.update({f"buffer/{n}": b.clone() for n, b in method.named_buffers() if b.dtype.is_floating_point})
    return result


def _step_worker(names: list[str], out_dir: str) -> None:
    for name in names:
        result = _one_step(*_make(name))
        if dist.get_rank() == 0:
            torch.save(result, Path(out_dir) / f"{name}.pt")


def _assert_close(
    got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], rtol: float = 1e-6, atol: float = 1e-10
) -> None:
    assert set(got) == set(want)
    for key, ref in want.items():
        err = (got[key] - ref).norm().item()
        assert err <= max(rtol * ref.norm().item(), atol), f"{key}: |diff| {err:.3g} vs |ref| {ref.norm():.3g}"


def test_two_processes_equal_one_on_the_concatenated_batch(tmp_path: Path) -> None:
    names = list(METHOD_KWARGS)
    distributed.run_local(_step_worker, 2, names, str(tmp_path))
    previous = torch.get_default_dtype()
    try:
        for name in names:
            want = _one_step(*_make(name))
            got = torch.load(tmp_path / f"{name}.pt")
            assert len([k for k in want if k.startswith("grad/")]) > 10
            _assert_close(got, want)
    finally:
        torch.set_default_dtype(previous)


def test_gather_without_sum_backward_would_be_wrong_by_the_world_size(tmp_path: Path) -> None:
    """The test above can fail: a gather whose backward only slices gives U-MAE gradients
    1/W too small on the uniformity part. Check that the two differ for this configuration."""
    distributed.run_local(_naive_gather_worker, 2, str(tmp_path))
    previous = torch.get_default_dtype()
    try:
        want = _one_step(*_make("umae"))
        got = torch.load(tmp_path / "naive.pt")
        diff = max((got[k] - want[k]).norm().item() / want[k].norm().item() for k in want if k.startswith("grad/"))
        assert diff > 1e-3
    finally:
        torch.set_default_dtype(previous)


class _SliceOnlyGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.rows, ctx.rank = x.shape[0], dist.get_rank()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def _naive_gather_worker(out_dir: str) -> None:
    import sslab.methods.mae as mae_module

    mae_module.gather_rows = _SliceOnlyGather.apply
    result = _one_step(*_make("umae"))
    if dist.get_rank() == 0:
        torch.save(result, Path(out_dir) / "naive.pt")


TRAJECTORY_METHODS = ("simclr-plain", "latent", "umae")  # global BatchNorm, EMA target, gathered uniformity


def _train_worker(out_dir: str, steps: int, resume: bool) -> None:
    for name in TRAJECTORY_METHODS:
        method, images = _tiny_training_problem(name)
        train(method, images, _tiny_cfg(), Path(out_dir) / name, resume=resume, stop_after_steps=steps)


def _tiny_training_problem(name: str = "simclr") -> tuple[torch.nn.Module, torch.Tensor]:
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    method = build_method(name.split("-")[0], VIT, **METHOD_KWARGS[name])
    images = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    return method, images


def _tiny_cfg() -> TrainConfig:
    return TrainConfig(epochs=2, batch_size=8, warmup_epochs=1, checkpoint_every=1, tensorboard=False)


def _final_state(out_dir: Path) -> dict[str, torch.Tensor]:
    ck = torch.load(out_dir / "checkpoint.pt", weights_only=True)
    return {k: v for k, v in ck["model"].items() if v.dtype.is_floating_point}


@pytest.mark.slow
def test_training_on_two_processes_follows_the_one_process_trajectory_and_resumes_on_one(tmp_path: Path) -> None:
    one, two, mixed = tmp_path / "one", tmp_path / "two", tmp_path / "mixed"
    previous = torch.get_default_dtype()
    try:
        _train_worker(str(one), 6, False)  # single process, 6 steps (1.5 epochs)
        distributed.run_local(_train_worker, 2, str(two), 6, False)
        distributed.run_local(_train_worker, 2, str(mixed), 3, False)  # killed after 3 steps on 2 processes
        _train_worker(str(mixed), 6, True)  # ... resumed on 1 process
    finally:
        torch.set_default_dtype(previous)
    # AdamW turns roundoff-sized gradients of parameters whose true gradient is zero (e.g. the
    # encoder's last LayerNorm bias under SimCLR, cancelled by the projector's BatchNorm) into
    # updates of order lr·g/ε ≈ 1e-10, hence the absolute floor; the rest agrees to 1e-6.
    for name in TRAJECTORY_METHODS:
        reference = _final_state(one / name)
        _assert_close(_final_state(two / name), reference, atol=1e-8)
        _assert_close(_final_state(mixed / name), reference, atol=1e-8)
        ck = torch.load(mixed / name / "checkpoint.pt", weights_only=True)
        assert ck["step"] == 6 and ck["world_size"] == 1


def test_global_batch_must_split_evenly(tmp_path: Path) -> None:
    distributed.run_local(_uneven_worker, 2, str(tmp_path))
    assert (tmp_path / "error.txt").read_text().startswith("batch_size=9 (the global batch) must be divisible")


def _uneven_worker(out_dir: str) -> None:
    from sslab.errors import ConfigError

    method, images = _tiny_training_problem()
    try:
        train(method, images, TrainConfig(epochs=1, batch_size=9, tensorboard=False))
    except ConfigError as exc:
        if dist.get_rank() == 0:
            (Path(out_dir) / "error.txt").write_text(str(exc))


def test_outside_a_process_group_the_collectives_are_identities() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    assert distributed.gather_rows(x) is x and distributed.sum_across_ranks(x) is x
    assert distributed.global_rows(4) == (0, 4) and distributed.world().size == 1


@pytest.mark.slow
def test_cli_nproc_two_launches_torchrun_and_resumes_on_one_process(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    out = tmp_path / "run"
    args = [sys.executable, "-m", "sslab", "train", "mae", "--epochs", "1", "--batch-size", "64",
            "--eval-every", "0", "--device", "cpu", "--out", str(out)]
    done = subprocess.run([*args, "--nproc", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs"] == 1 and 0.1 < metrics["linear"] <= 1.0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["world_size"] == 2
    again = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "already finished 1 epochs" in " ".join(again.stderr.split())


@pytest.mark.slow
def test_two_nodes_meet_through_torchrun_rendezvous(tmp_path: Path) -> None:
    """Two torchrun invocations (one process each) on this host, joined by c10d rendezvous, as
    on two machines (README, "Many machines")."""
    import json
    import os
    import subprocess
    import sys

    endpoint = f"127.0.0.1:{distributed.free_port()}"
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "sslab-test",
           "-m", "sslab", "train", "mae", "--epochs", "1", "--batch-size", "64", "--eval-every", "0",
           "--device", "cpu", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert all(node.returncode == 0 for node in nodes), [err[-1500:] for _, err in outputs]
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2


def test_bf16_autocast_on_cpu_trains_close_to_fp32() -> None:
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        method = build_method("mae", VIT)
        images = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(3))
        cfg = TrainConfig(epochs=1, batch_size=16, precision=precision, tensorboard=False)  # type: ignore[arg-type]
        losses[precision] = train(method, images, cfg).history[-1]["loss"]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=5e-2)
    assert losses["bf16"] != losses["fp32"]  # autocast did run in reduced precision


def test_global_batch_sampler_shards_tile_the_single_process_batches() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    from sslab.train.sampler import GlobalBatchSampler

    one = GlobalBatchSampler(50, 8, seed=3, world=distributed.World(0, 1))
    shards = [GlobalBatchSampler(50, 8, seed=3, world=distributed.World(r, 4)) for r in range(4)]
    for epoch in (0, 1):
        for s in (one, *shards):
            s.set_epoch(epoch)
        assert len(one) == 6
        for i, batch in enumerate(one):
            assert torch.cat([s.batch(i) for s in shards]).tolist() == batch
    first = list(GlobalBatchSampler(50, 8, seed=3, world=distributed.World(0, 1)))
    assert first != list(one)  # a new epoch is a new order
    loader = DataLoader(TensorDataset(torch.arange(50)), batch_sampler=shards[2])
    assert [b[0].tolist() for b in loader] == [s.tolist() for s in map(shards[2].batch, range(6))]


@pytest.mark.slow
def test_compiled_model_parts_match_eager_on_cpu() -> None:
    """torch.compile (inductor, CPU) of encoder and decoder: loss and gradients as eager."""
    from sslab.train.loop import compile_parts

    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        method = build_method("mae", VIT)
        if compiled:
            compile_parts(method)
        x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        out = method(x, step_generator(0, 3))
        out["loss"].backward()
        results.append({"loss": out["loss"].detach(), **{n: p.grad for n, p in method.named_parameters()}})
    _assert_close(results[1], results[0], rtol=1e-5, atol=1e-7)


def _teardown_worker(out_dir: str, run: int) -> None:
    """One DDP step and one all_reduce (the gloo traffic of a training step), then a result file."""
    torch.manual_seed(run)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    distributed.data_parallel(model, torch.device("cpu"))(torch.randn(8, 16)).pow(2).mean().backward()
    total = torch.ones(3)
    dist.all_reduce(total)
    (Path(out_dir) / f"{run}-{dist.get_rank()}.ok").write_text(str(total.tolist()))


@pytest.mark.slow
def test_two_process_teardown_never_aborts(tmp_path: Path) -> None:
    """Without the barrier + hard exit of the workers, rank 1 died with SIGABRT ("terminate
    called without an active exception") in about a third of these runs: a gloo thread was
    still being destroyed during interpreter shutdown."""
    failures = []
    for run in range(30):
        try:
            distributed.run_local(_teardown_worker, 2, str(tmp_path), run)
        except Exception as exc:  # torch.multiprocessing.ProcessExitedException on a signal
            failures.append(f"run {run}: {exc}")
    assert failures == []
    assert sorted(p.name for p in tmp_path.glob("*.ok")) == sorted(f"{r}-{k}.ok" for r in range(30) for k in (0, 1))
    assert all(p.read_text() == "[2.0, 2.0, 2.0]" for p in tmp_path.glob("*.ok"))


def _failing_worker() -> None:
    if dist.get_rank() == 1:
        raise RuntimeError("rank 1 failed on purpose")


def test_a_worker_exception_still_reaches_the_caller() -> None:
    from torch.multiprocessing import ProcessRaisedException

    with pytest.raises(ProcessRaisedException, match="rank 1 failed on purpose"):
        distributed.run_local(_failing_worker, 2)


def _descendants(pid: int) -> set[int]:
    """Live (non-zombie) descendants of ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_killing_the_nproc_launcher_leaves_no_orphaned_workers(tmp_path: Path, signal_name: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "sslab", "train", "mae", "--nproc", "2", "--epochs", "1000", "--batch-size", "64",
           "--eval-every", "0", "--checkpoint-every", "1000", "--device", "cpu", "--out", str(out)]
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    family: set[int] = set()
    try:
        deadline = time.time() + 240
        while not (out / "trainer.lock").exists() or len(_descendants(launcher.pid)) < 3:  # torchrun + 2 workers
            assert launcher.poll() is None and time.time() < deadline, "the workers did not start"
            time.sleep(0.5)
        family = _descendants(launcher.pid)
        launcher.send_signal(getattr(signal, signal_name))
        launcher.wait(timeout=60)
        deadline = time.time() + 60
        while any(_alive(pid) for pid in family) and time.time() < deadline:
            time.sleep(0.5)
        assert [pid for pid in family if _alive(pid)] == []
    finally:
        for pid in family | {launcher.pid}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
