"""Foregrounds over real textures: compositing maths, determinism, split hygiene, bad input."""

import hashlib

import pytest
import torch

from sslab.data import load_dataset
from sslab.data.catalog import save_sample_grid
from sslab.data.textured import (
    BACKGROUND_FILES,
    GREY_LEVEL,
    SOURCE_GROUPS,
    composite,
    read_background,
    skimage_data_dir,
    textured_source,
)
from sslab.errors import DataError

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def source():
    fg = load_dataset("digits", image_size=28)
    return textured_source(fg, "digits", seed=3)


def test_composite_hand_values():
    alpha = torch.tensor([0.0, 1.0, 0.5, 0.0]).reshape(1, 1, 2, 2)
    bg = torch.tensor([0.2, 0.4, 0.6, 0.8]).reshape(1, 1, 2, 2)  # mean 0.5, deviations ±0.3, ±0.1
    out = composite(alpha, bg, 1.0)
    assert torch.allclose(out.flatten(), torch.tensor([0.2, 1.0, 0.5 + 0.5 * 0.6, 0.8]))
    out2 = composite(alpha, bg, 2.0)  # deviations doubled, then clipped to [0, 1]
    assert torch.allclose(out2.flatten(), torch.tensor([0.0, 1.0, 0.5 + 0.5 * 0.7, 1.0]))


def test_gamma_zero_is_an_affine_image_of_the_clean_foreground(source):
    clean = source.foreground.test.images
    x = source.dataset("test", 0.0).images
    assert torch.allclose(x, GREY_LEVEL + (1 - GREY_LEVEL) * clean)


def test_compositing_is_deterministic_and_seeded(source):
    again = textured_source(load_dataset("digits", image_size=28), "digits", seed=3)
    for split in ("train", "val", "test"):
        assert torch.equal(source.backgrounds[split], again.backgrounds[split])
        assert torch.equal(source.dataset(split, 1.0).images, again.dataset(split, 1.0).images)
    other = textured_source(load_dataset("digits", image_size=28), "digits", seed=4)
    assert not torch.equal(source.backgrounds["train"], other.backgrounds["train"])


def test_same_crops_at_every_gamma(source):
    """γ only rescales the background's deviation: (x − f)/(1 − f) − c is proportional to γ where unclipped."""
    f = source.foreground.train.images
    d1 = source.dataset("train", 0.5).images - (f + (1 - f) * GREY_LEVEL)
    d2 = source.dataset("train", 0.25).images - (f + (1 - f) * GREY_LEVEL)
    assert torch.allclose(d1, 2 * d2, atol=1e-6)


def test_no_background_source_is_shared_between_splits(source):
    groups = [set(SOURCE_GROUPS[s]) for s in ("train", "val", "test")]
    assert not groups[0] & groups[1] and not groups[0] & groups[2] and not groups[1] & groups[2]
    used = {s: source.sources_of(s) for s in ("train", "val", "test")}
    assert used["train"] <= groups[0] and used["val"] <= groups[1] and used["test"] <= groups[2]
    assert not used["train"] & used["test"] and not used["train"] & used["val"]
    assert len(used["train"]) == len(SOURCE_GROUPS["train"])  # every train source is drawn


def test_no_test_crop_appears_in_train(source):
    """Pixel-level check: no test background crop equals any train crop."""
    tr = source.backgrounds["train"].flatten(1)
    te = source.backgrounds["test"].flatten(1)
    d = torch.cdist(te[:200], tr).min()
    assert d > 1e-3


def test_background_files_match_their_checksums():
    root = skimage_data_dir()
    for name, digest in BACKGROUND_FILES.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest


def test_corrupt_or_missing_background_gives_one_line_error(tmp_path):
    (tmp_path / "brick.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="checksum"):
        read_background("brick.png", tmp_path)
    with pytest.raises(DataError, match="missing"):
        read_background("grass.png", tmp_path)
    with pytest.raises(DataError, match="unknown background"):
        read_background("nope.png", tmp_path)
    with pytest.raises(DataError, match="gamma"):
        composite(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), -1.0)


def test_textured_is_a_named_dataset():
    splits = load_dataset("textured")
    assert splits.train.images.shape[1:] == (1, 28, 28) and splits.info["gamma"] == 1.0
    assert len(splits.train) == 3500 and len(splits.test) == 1000


def test_sample_grid_is_written(source, tmp_path):
    path = save_sample_grid(source.dataset("val", 1.0), tmp_path / "grid.png", per_class=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_standardised_gamma_zero_equals_the_standardised_foreground(source):
    """What lets je-vs-recon-deep corrupt the clean digits at full contrast (standardised alike)."""
    sp = source.splits(0.0).standardized()
    f = source.foreground
    m, s = f.train.images.mean(), f.train.images.std()
    assert torch.allclose(sp.test.images, (f.test.images - m) / s, atol=1e-5)


def test_missing_scikit_image_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skimage" else real(name, *a))
    with pytest.raises(DataError, match="pip install scikit-image=="):
        skimage_data_dir()
