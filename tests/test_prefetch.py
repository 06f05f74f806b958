"""Parallel pre-training into the cache serves the same encoders as training inline."""

import torch

from sslab.data import load_dataset
from sslab.models import vit_config
from sslab.train.cache import EncoderCache
from sslab.train.loop import TrainConfig
from sslab.train.pipeline import pretrain
from sslab.train.prefetch import Job, prefetch


def test_prefetch_fills_the_cache_with_what_pretrain_would_train(tmp_path):
    splits = load_dataset("digits").standardized()
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    cfg = [TrainConfig(epochs=1, batch_size=256, seed=s, checkpoint_every=1, tensorboard=False) for s in (0, 1)]
    jobs = [Job("mae", {"mask_ratio": 0.75}, c) for c in cfg] + [Job("mae", {"mask_ratio": 0.75}, cfg[0])]
    cache = EncoderCache(tmp_path / "cache")
    assert len(prefetch(jobs, vit, splits, "digits", cache, workers=2)) == 2  # the duplicate job runs once
    assert len(prefetch(jobs, vit, splits, "digits", cache, workers=2)) == 0  # everything is cached now
    served = pretrain("mae", vit, splits, cfg[1], {"mask_ratio": 0.75}, dataset="digits", cache=cache)
    assert served.cache_hit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        inline = pretrain("mae", vit, splits, cfg[1], {"mask_ratio": 0.75}, dataset="digits")
    finally:
        torch.set_num_threads(threads)
    assert not inline.cache_hit
    for (name, a), b in zip(served.method.state_dict().items(), inline.method.state_dict().values(), strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), name


def test_prefetch_is_a_no_op_without_a_cache_or_a_second_worker(tmp_path):
    splits = load_dataset("digits").standardized()
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    jobs = [Job("mae", {}, TrainConfig(epochs=1, seed=s, tensorboard=False)) for s in (0, 1)]
    assert len(prefetch(jobs, vit, splits, "digits", EncoderCache(None), workers=2)) == 0
    assert len(prefetch(jobs, vit, splits, "digits", EncoderCache(tmp_path), workers=1)) == 0
