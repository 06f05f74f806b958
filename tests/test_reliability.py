"""Crash safety and bad input: SIGKILL + resume equals an uninterrupted run; a full disk
leaves earlier files intact; fuzzed shapes never crash the views and solvers."""

import errno
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sslab.errors import ConfigError, OutputError, RankError
from sslab.io import atomic_write_json
from sslab.theory import joint_loss, solve_joint, thin_svd
from sslab.train.checkpoint import load_checkpoint
from sslab.views import Dropout, GaussianNoise, HorizontalFlip, PatchMask, RandomTranslate, monte_carlo_moments

TRAIN = [sys.executable, "-m", "sslab", "train", "mae", "--epochs", "4", "--batch-size", "128",
         "--checkpoint-every", "1", "--eval-every", "0", "--seed", "3"]


def _run(out, *extra, kill_after=None):
    proc = subprocess.Popen([*TRAIN, "--out", str(out), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        return
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _check_files_loadable(out):
    for path in out.rglob("*"):
        if path.is_file() and not path.name.endswith(".tmp") and path.suffix == ".pt":
            load_checkpoint(path)  # raises on a half-written file


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_exact(tmp_path):
    _run(tmp_path / "ref")
    rng = random.Random(0)
    out = tmp_path / "killed"
    for _ in range(3):
        _run(out, "--resume", kill_after=rng.uniform(4.0, 12.0))
        _check_files_loadable(out)
    _run(out, "--resume")
    a, b = load_checkpoint(tmp_path / "ref" / "checkpoint.pt"), load_checkpoint(out / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 4 and a["step"] == b["step"]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        for k in sa:
            assert torch.equal(torch.as_tensor(sa[k]), torch.as_tensor(sb[k]))
    assert not list(out.glob(".checkpoint.pt.*.tmp"))


def test_full_disk_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    atomic_write_json(path, {"v": 1})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match="disk is full"):
        atomic_write_json(path, {"v": 2})
    assert path.read_text().count('"v": 1') == 1
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_patch_not_tiling_image_is_a_config_error():
    from sslab.experiments.runner import get_experiment, resolve_config

    with pytest.raises(ConfigError, match="not divisible by patch=3"):
        resolve_config(get_experiment("umae-vs-mae"), False, {"patch": 3})
    with pytest.raises(ConfigError, match=r"mask_ratio=1\.0"):
        resolve_config(get_experiment("umae-vs-mae"), False, {"mask_ratio": 1.0})


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 4), c=st.integers(1, 3), gh=st.integers(1, 4), gw=st.integers(1, 4),
    p=st.integers(1, 3), drop=st.floats(0, 0.95), seed=st.integers(0, 1000),
)
def test_views_keep_shape_and_are_seeded(b, c, gh, gw, p, drop, seed):
    shape = (c, gh * p, gw * p)
    x = torch.randn(b, *shape)
    for view in (PatchMask(shape, drop, (p, p)), Dropout(shape, drop), GaussianNoise(shape, drop),
                 HorizontalFlip(shape, drop), RandomTranslate(shape, p)):
        a = view.sample(x, torch.Generator().manual_seed(seed))
        assert a.shape == x.shape and torch.isfinite(a).all()
        assert torch.equal(a, view.sample(x, torch.Generator().manual_seed(seed)))
        if not isinstance(view, RandomTranslate):  # the others have exact moments: check their values
            X = x.reshape(b, -1).T.double()
            S, G = view.moments(X)
            assert S.shape == (view.dim, b) and torch.allclose(G, G.T)
            draws = 400
            mc_s, mc_g, s_err, g_err = monte_carlo_moments(view, X, draws, torch.Generator().manual_seed(seed), True)
            # 5 standard errors on the norm, plus 10/draws relative for events too rare to be seen
            # (an event of probability p occurs (1 − p)^draws ≈ e^(−p·draws) of the time not at all,
            # and then has no standard error; e^(−10) ≈ 5e-5).
            # A wrong closed form (a missing factor q, a wrong same-patch rescale) misses by far
            # more on most drawn shapes and probabilities.
            assert (S - mc_s).norm() <= 5 * s_err.norm() + 10 / draws * S.norm(), type(view).__name__
            assert (G - mc_g).norm() <= 5 * g_err.norm() + 10 / draws * G.norm(), type(view).__name__


@settings(max_examples=40, deadline=None)
@given(d=st.integers(2, 9), n=st.integers(2, 30), rank=st.integers(1, 9), k=st.integers(1, 10),
       lam=st.floats(0, 10), seed=st.integers(0, 1000))
def test_solver_on_random_shapes_and_ranks(d, n, rank, k, lam, seed):
    g = torch.Generator().manual_seed(seed)
    r = min(rank, d, n)
    X = torch.randn(d, r, generator=g, dtype=torch.float64) @ torch.randn(r, n, generator=g, dtype=torch.float64)
    Y = torch.randn(3, n, generator=g, dtype=torch.float64)
    try:
        sol = solve_joint(X, Y, lam, k)
    except RankError:
        assert k > thin_svd(X).rank  # only a width above the numerical rank is refused
        return
    assert torch.isfinite(sol.V).all()
    value = float(joint_loss(X, Y, sol.V, sol.W, sol.Z, lam))
    assert abs(value - sol.loss) <= 1e-6 * max(1.0, abs(sol.loss))
