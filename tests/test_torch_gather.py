"""torch's differentiable all-gathers give the same U-MAE and SimCLR losses and gradients on two
gloo processes as :func:`sslab.distributed.gather_rows` (and so as one process on the
concatenated batch): equal in value and in gradient, up to float64 roundoff.

sslab keeps its own gather all the same, for three reasons:

* ``torch.distributed.nn.functional.all_gather`` is deprecated (a FutureWarning on use, torch
  2.13) in favour of ``torch.distributed._functional_collectives.all_gather_single``, which is a
  private module with no stability promise;
* on gloo the deprecated one's backward is W scatters per gather, where ours is one all_reduce;
* ``distributed.py`` and the methods are hashed into the encoder cache's key
  (:data:`sslab.train.cache.CODE_PATHS`): swapping the gather would discard every cached
  pre-training for no change in any number.

This test keeps the comparison honest should that trade change (a torch upgrade)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from sslab import distributed
from test_distributed import _assert_close, _make, _one_step

GATHERED = ("umae", "umae-eq9", "simclr", "simclr-plain")  # the methods whose loss gathers rows


def _nn_functional(x: torch.Tensor) -> torch.Tensor:
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated; see the module docstring
        return torch.cat(all_gather(x))


def _functional_collectives(x: torch.Tensor) -> torch.Tensor:
    from torch.distributed._functional_collectives import all_gather_single

    return all_gather_single(x, 0, dist.group.WORLD)


GATHERS = {"nn.functional.all_gather": _nn_functional, "_functional_collectives.all_gather_single":
           _functional_collectives}


def _torch_gather_worker(which: str, out_dir: str) -> None:
    import sslab.methods.mae as mae_module
    import sslab.methods.simclr as simclr_module

    mae_module.gather_rows = simclr_module.gather_rows = GATHERS[which]
    for name in GATHERED:
        result = _one_step(*_make(name))
        if dist.get_rank() == 0:
            torch.save(result, Path(out_dir) / f"{name}.pt")


@pytest.mark.parametrize("which", sorted(GATHERS))
def test_torchs_gather_equals_ours_in_value_and_gradient(which: str, tmp_path: Path) -> None:
    distributed.run_local(_torch_gather_worker, 2, which, str(tmp_path))
    previous = torch.get_default_dtype()
    try:
        for name in GATHERED:
            want = _one_step(*_make(name))  # one process, the whole batch (= ours on two: test_distributed)
            got = torch.load(tmp_path / f"{name}.pt")
            assert len([k for k in want if k.startswith("grad/")]) > 10
            _assert_close(got, want)
    finally:
        torch.set_default_dtype(previous)
