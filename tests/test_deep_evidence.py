"""The deep experiments' evidence machinery: the encoder cache, the learning gate and the
paired claims (three-valued, able to fail), and selection on the validation split only.
All on 8×8 digits with tiny budgets."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from sslab.data import load_dataset
from sslab.eval.probes import logistic_probe
from sslab.experiments import deep_common
from sslab.experiments.deep_common import RANDOM, ArmTable, learning_gate, paired_claim, select_on_val
from sslab.experiments.runner import run_experiment
from sslab.models.vit import vit_config
from sslab.train.cache import META, WEIGHTS, CacheKey, EncoderCache
from sslab.train.checkpoint import CHECKPOINT, load_checkpoint
from sslab.train.loop import TrainConfig
from sslab.train.pipeline import pretrain

DIGITS = {"dataset": "digits", "image_size": 8, "patch": 2}


@pytest.fixture(scope="module")
def splits():
    return load_dataset("digits").standardized()


def tiny_train(seed: int = 0, **kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 256, "seed": seed, "tensorboard": False,
                          "checkpoint_every": 100, **kw})


def _weights(method) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in method.state_dict().items()}


# ---------------------------------------------------------------- cache


def test_cache_hit_returns_the_same_weights_and_history(splits, tmp_path):
    cache = EncoderCache(tmp_path)
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    first = pretrain("mae", vit, splits, tiny_train(), {"mask_ratio": 0.75}, dataset="digits", cache=cache)
    second = pretrain("mae", vit, splits, tiny_train(), {"mask_ratio": 0.75}, dataset="digits", cache=cache)
    assert not first.cache_hit and second.cache_hit
    assert first.key.digest() == second.key.digest()
    w1, w2 = _weights(first.method), _weights(second.method)
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)
    assert second.history == first.history and second.seconds == pytest.approx(first.seconds)
    assert sorted(second.snapshots) == sorted(first.snapshots) == [1]
    # the stored entry is tensors + JSON only (safetensors header, no pickle)
    entry = cache.path(first.key)
    assert (entry / WEIGHTS).read_bytes()[8:9] == b"{"
    assert json.loads((entry / META).read_text())["key"] == first.key.record()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def _key(**change) -> CacheKey:
    base = CacheKey("mae", {"mask_ratio": 0.75}, vit_config("cpu-tiny", image_size=8, patch=2).to_dict(),
                    CacheKey.train_fields(tiny_train()), "digits", "abc", 0, code="v1")
    return replace(base, **change)


@pytest.mark.parametrize(
    "change",
    [
        {"method": "umae"},
        {"method_kwargs": {"mask_ratio": 0.5}},
        {"vit": vit_config("cpu-tiny", image_size=8, patch=4).to_dict()},
        {"train": CacheKey.train_fields(tiny_train(lr=1e-3))},
        {"dataset": "mnist-5k"},
        {"train_images": "abd"},
        {"seed": 1},
        {"code": "v2"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_cache_misses_when_any_key_field_changes(change, tmp_path):
    cache = EncoderCache(tmp_path)
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    from sslab.methods import build_method

    method = build_method("mae", vit)
    cache.store(_key(), method, [], {}, 1.0)
    assert cache.load(_key(), build_method("mae", vit)) is not None
    assert _key(**change).digest() != _key().digest()
    assert cache.load(_key(**change), build_method("mae", vit)) is None


def test_neutral_train_fields_do_not_change_the_key():
    a = CacheKey.train_fields(tiny_train())
    b = CacheKey.train_fields(tiny_train(eval_every=3, checkpoint_every=7, tensorboard=True))
    assert a == b
    assert CacheKey.train_fields(tiny_train(seed=1)) != a


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta", "missing"])
def test_a_damaged_entry_is_recomputed_not_a_crash(damage, splits, tmp_path):
    cache = EncoderCache(tmp_path)
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    first = pretrain("mae", vit, splits, tiny_train(), {"mask_ratio": 0.75}, dataset="digits", cache=cache)
    entry = cache.path(first.key)
    w = entry / WEIGHTS
    if damage == "truncate":
        w.write_bytes(w.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(w.read_bytes())
        data[-5] ^= 0xFF
        w.write_bytes(bytes(data))
    elif damage == "meta":
        (entry / META).write_text("{not json")
    else:
        w.unlink()
    again = pretrain("mae", vit, splits, tiny_train(), {"mask_ratio": 0.75}, dataset="digits", cache=cache)
    assert not again.cache_hit  # recomputed ...
    w1, w2 = _weights(first.method), _weights(again.method)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)  # ... to the same deterministic weights
    third = pretrain("mae", vit, splits, tiny_train(), {"mask_ratio": 0.75}, dataset="digits", cache=cache)
    assert third.cache_hit  # and stored again, intact


def test_the_run_records_its_dataset_for_sslab_eval(splits, tmp_path):
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    pre = pretrain("mae", vit, splits, tiny_train(), {"mask_ratio": 0.75}, dataset="digits", out_dir=tmp_path)
    assert pre.run_config["dataset"] == "digits"
    assert load_checkpoint(tmp_path / CHECKPOINT)["config"]["run"]["dataset"] == "digits"


def test_equal_runs_of_different_experiments_share_one_key():
    """ssl-compare's U-MAE is umae-lambda's λ = 0.01 arm; its MAE is mask-ratio-probe's ρ = 0.75 arm."""
    from sslab.experiments.mask_ratio_probe import MaskRatioProbeConfig
    from sslab.experiments.ssl_compare import SSLCompareConfig
    from sslab.experiments.umae_lambda import UMAELambdaConfig

    cmp_, lam, rho = SSLCompareConfig(), UMAELambdaConfig(), MaskRatioProbeConfig()
    mk = deep_common.method_kwargs
    assert mk("umae", cmp_) == mk("umae", lam, uniformity_weight=0.01)
    assert mk("mae", cmp_) == mk("mae", rho, mask_ratio=0.75)
    assert deep_common.train_config(cmp_, 7) == deep_common.train_config(lam, 7) == deep_common.train_config(rho, 7)


def test_snapshot_epochs_are_a_fixed_rule_ending_at_the_last_epoch():
    from sslab.train.pipeline import snapshot_epochs

    assert snapshot_epochs(8) == [2, 4, 6, 8]
    assert snapshot_epochs(10) == [2, 5, 8, 10]
    assert snapshot_epochs(1) == [1]


# ---------------------------------------------------------------- verdicts


def _table(a: list[float], b: list[float], rand: list[float]) -> ArmTable:
    t = ArmTable()
    for arm, vals in (("a", a), ("b", b), (RANDOM, rand)):
        for v in vals:
            t.add(arm, "linear", v)
    return t


SEEDS = [0, 1000, 2000]


def test_claim_is_inconclusive_when_the_runs_did_not_learn():
    # a clearly beats b, but neither beats the random-init encoder: nothing may be concluded
    t = _table([60.0, 61.0, 60.5], [50.0, 51.0, 50.2], [70.0, 71.0, 70.4])
    g = learning_gate(t, ["a", "b"])
    assert not g.learned
    c = paired_claim("a beats b", t, "a", "b", "linear", 0.0, g, SEEDS)
    assert c.verdict == "inconclusive" and "did not learn" in c.evidence
    assert "95% t-CI lies above +0 pt" in c.test and "[0, 1000, 2000]" in c.test


def test_claim_can_fail_on_a_counter_example():
    # both learned (well above random init), but a is below b on every seed: not held
    t = _table([80.0, 81.0, 80.4], [85.0, 86.2, 85.1], [70.0, 71.0, 70.4])
    g = learning_gate(t, ["a", "b"])
    assert g.learned
    assert paired_claim("a beats b", t, "a", "b", "linear", 0.0, g, SEEDS).verdict == "not held"
    assert paired_claim("b beats a", t, "b", "a", "linear", 0.0, g, SEEDS).verdict == "held"
    # gains of 5.0, 5.2, 4.7 pt: a 5 pt margin lies inside their CI, a 10 pt margin above it
    assert paired_claim("b beats a by 5", t, "b", "a", "linear", 5.0, g, SEEDS).verdict == "inconclusive"
    assert paired_claim("b beats a by 10", t, "b", "a", "linear", 10.0, g, SEEDS).verdict == "not held"


def test_one_seed_is_never_decided():
    t = _table([90.0], [50.0], [10.0])
    g = learning_gate(t, ["a"])
    assert not g.learned  # no interval from one seed
    assert paired_claim("a beats b", t, "a", "b", "linear", 0.0, g, [0]).verdict == "inconclusive"


@pytest.mark.slow
def test_an_untrained_run_gives_inconclusive_verdicts(tmp_path, monkeypatch):
    """Control: with a learning rate of 1e-12 the 'trained' encoders are their random
    initialisations, so the gate must refuse every claim."""
    monkeypatch.setenv("SSLAB_CACHE_DIR", str(tmp_path / "cache"))
    over = {**DIGITS, "epochs": 1, "seeds": 3, "lr": 1e-12, "finetune_epochs": 0}
    _, rec = run_experiment("umae-vs-mae", quick=True, overrides=over, out_root=tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    arms = rec["numbers"]["arms"]
    for arm in ("pixels", RANDOM, "mae", "umae"):
        for metric in ("linear", "knn"):
            assert set(arms[arm][metric]) == {"mean", "ci95", "per_seed", "n_seeds"}
            assert arms[arm][metric]["n_seeds"] == 3
    # the untouched encoder scores like its random initialisation (within 3 of 360 test images: the
    # probe's C is re-chosen on validation, so a roundoff-level feature change can flip it)
    assert arms["mae"]["linear"]["per_seed"] == pytest.approx(arms[RANDOM]["linear"]["per_seed"], abs=1.0)
    assert all(c["verdict"] == "inconclusive" for c in rec["claims"]), [c["verdict"] for c in rec["claims"]]


# ---------------------------------------------------------------- validation-only selection


def test_select_on_val_takes_the_best_mean_and_the_first_on_ties():
    assert select_on_val({0.001: [80, 82], 0.01: [83, 83], 0.1: [70, 99]}) == 0.1
    assert select_on_val({"x": [1.0, 2.0], "y": [2.0, 1.0]}) == "x"


def test_probe_c_is_chosen_without_the_test_labels(splits):
    f = [d.images.flatten(1) for d in (splits.train, splits.val, splits.test)]
    y = [splits.train.labels, splits.val.labels, splits.test.labels]
    cs = (1e-4, 1e-2, 1.0)
    a = logistic_probe(f[0], y[0], f[1], y[1], f[2], y[2], cs=cs)
    perm = y[2][torch.randperm(len(y[2]), generator=torch.Generator().manual_seed(0))]
    b = logistic_probe(f[0], y[0], f[1], y[1], f[2], perm, cs=cs)
    assert a.c == b.c and a.val_acc == b.val_acc
    assert a.test_acc != b.test_acc  # the test labels did change what is reported


@pytest.mark.slow
def test_changing_the_test_labels_cannot_change_the_chosen_lambda(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLAB_CACHE_DIR", str(tmp_path / "cache"))
    over = {**DIGITS, "epochs": 2, "seeds": 2, "lambdas": [0.0, 0.001, 0.1], "tsne": False}
    _, rec = run_experiment("umae-lambda", quick=True, overrides=over, out_root=tmp_path)
    real_load = deep_common.load_dataset

    def shuffled_test_labels(*args, **kwargs):
        s = real_load(*args, **kwargs)
        g = torch.Generator().manual_seed(1)
        s.test.labels = (s.test.labels + 1 + torch.randint(0, 9, s.test.labels.shape, generator=g)) % 10
        return s

    monkeypatch.setattr(deep_common, "load_dataset", shuffled_test_labels)
    _, other = run_experiment("umae-lambda", quick=True, overrides=over, out_root=tmp_path)
    assert rec["status"] == other["status"] == "ok"
    assert other["numbers"]["pretraining"]["trained"] == 0  # same encoders (pre-training never sees labels)
    assert other["numbers"]["chosen_lambda"] == rec["numbers"]["chosen_lambda"]
    for arm, metrics in rec["numbers"]["arms"].items():
        assert other["numbers"]["arms"][arm]["val_linear"] == metrics["val_linear"]
        assert other["numbers"]["arms"][arm]["linear"] != metrics["linear"]  # every test label was changed


def test_logistic_probe_fits_with_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threaded OpenBLAS beside torch's OpenMP pool slowed each fit 15-80x on 2 cores; the probe
    must fit with every BLAS/OpenMP pool limited to one thread (and give the unlimited result)."""
    from threadpoolctl import threadpool_info

    import sslab.eval.probes as probes

    seen: list[int] = []

    class Recording(probes.LogisticRegression):
        def fit(self, *a, **k):  # type: ignore[no-untyped-def]
            seen.extend(p["num_threads"] for p in threadpool_info())
            return super().fit(*a, **k)

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (120,), generator=g)
    f = torch.randn(120, 5, generator=g) + y[:, None].float()
    args = (f[:80], y[:80], f[80:100], y[80:100], f[100:], y[100:])
    plain = probes.logistic_probe(*args)
    monkeypatch.setattr(probes, "LogisticRegression", Recording)
    limited = probes.logistic_probe(*args)
    assert seen and set(seen) == {1}
    assert limited == plain


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where no GPU is visible")
def test_cuda_device_without_a_gpu_is_a_config_error_before_anything_runs(tmp_path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "sslab", "run", "umae-vs-mae", "--quick", "--set", "device=cuda",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "device=cuda" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # no run directory, no baseline evaluated


def test_deep_modes_meet_the_seed_standard_and_full_trains_at_least_as_long_as_quick():
    """≥ 3 seeds quick, ≥ 5 full, for every experiment built on DeepConfig; full mode never trains
    fewer epochs than quick mode, except je-vs-recon-deep, whose 27 runs per seed hold it to 20
    epochs within the hour (docs/recipes.md)."""
    from sslab.experiments import load_all
    from sslab.experiments.runner import resolve_config

    shorter_full = {"je-vs-recon-deep"}
    deep = {n: e for n, e in load_all().items() if issubclass(e.config, deep_common.DeepConfig)}
    assert {"ssl-compare", "umae-vs-mae", "umae-lambda", "mask-ratio-probe"} <= set(deep)
    for name, exp in deep.items():
        quick, full = resolve_config(exp, True, {}), resolve_config(exp, False, {})
        assert quick.seeds >= 3 and full.seeds >= 5, name
        assert (full.epochs < quick.epochs) == (name in shorter_full), (name, quick.epochs, full.epochs)
    assert resolve_config(deep["ssl-compare"], False, {}).epochs == 150
    assert resolve_config(deep["umae-vs-mae"], False, {}).finetune_epochs >= resolve_config(
        deep["umae-vs-mae"], True, {}).finetune_epochs > 0
