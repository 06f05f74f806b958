import math
import os
import stat
import threading

import pytest
from pydantic import Field

from sslab.config import ExperimentConfig, build_config, parse_assignments
from sslab.errors import ConfigError, OutputError
from sslab.io import atomic_write_json, atomic_write_text, new_run_dir


class Cfg(ExperimentConfig):
    mask_ratio: float = Field(0.75, ge=0.0, lt=1.0)
    k: int = Field(4, ge=1, le=64)
    names: list[str] = Field(default_factory=lambda: ["a"])


class Strict(ExperimentConfig):
    epochs: int = Field(60, ge=1)
    lr: float = Field(1e-3, gt=0)
    scale: float = 1.0
    depth: int | None = None
    ks: list[int] = Field(default_factory=lambda: [2, 4])
    patches: list[tuple[int, int]] = Field(default_factory=lambda: [(1, 1), (2, 2)])
    flag: bool = False
    bound: float = Field(math.inf, allow_inf_nan=True, description="may be inf")


# (overrides as --set would give them, the key the error must name, the valid value it must suggest)
BAD = [
    ("epochs=true", "epochs", "epochs=60"),
    ("epochs=false", "epochs", "epochs=60"),
    ("epochs=2.5", "epochs", "epochs=60"),
    ("epochs=1e-3", "epochs", "epochs=60"),
    ("lr=true", "lr", "lr=0.001"),
    ("lr=nan", "lr", "lr=0.001"),
    ("lr=NaN", "lr", "lr=0.001"),
    ("scale=inf", "scale", "scale=1.0"),
    ("scale=-Infinity", "scale", "scale=1.0"),
    ("depth=true", "depth", None),
    ("ks=2,true", "ks", "ks=2,4"),
    ("patches=[[1,true]]", "patches", "patches=[[1,1],[2,2]]"),
    ("epochs=ten", "epochs", "epochs=60"),
]


@pytest.mark.parametrize("assignment,key,example", BAD)
def test_bad_types_are_refused_naming_the_key_and_a_valid_value(assignment, key, example):
    with pytest.raises(ConfigError) as exc:
        build_config(Strict, parse_assignments([assignment]), experiment="demo")
    msg = str(exc.value)
    assert "\n" not in msg and f"bad value {key}=" in msg
    if example is not None:
        assert f"e.g. --set {example}" in msg
        # the suggested value is itself accepted
        build_config(Strict, parse_assignments([example]))


GOOD = [
    ("epochs=3", "epochs", 3),
    ("epochs=3.0", "epochs", 3),  # an integral float is the integer
    ("lr=1e-2", "lr", 0.01),
    ("scale=2", "scale", 2.0),
    ("depth=null", "depth", None),
    ("flag=true", "flag", True),
    ("bound=inf", "bound", math.inf),  # this field allows inf
    ("ks=1,3", "ks", [1, 3]),
]


@pytest.mark.parametrize("assignment,key,value", GOOD)
def test_good_values_still_pass(assignment, key, value):
    assert getattr(build_config(Strict, parse_assignments([assignment])), key) == value


def test_parse_assignments_types():
    got = parse_assignments(["mask_ratio=0.5", "k=3", "names=a,b", "flag=true", "x=[1, 2]", "s=hello"])
    assert got == {"mask_ratio": 0.5, "k": 3, "names": ["a", "b"], "flag": True, "x": [1, 2], "s": "hello"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["oops"])


def test_bad_value_names_key_value_and_range():
    with pytest.raises(ConfigError) as exc:
        build_config(Cfg, {"mask_ratio": 1.5}, experiment="demo")
    msg = str(exc.value)
    assert "mask_ratio=1.5" in msg and "< 1.0" in msg and "demo" in msg and "\n" not in msg


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ConfigError, match=r"unknown config key maskratio.*allowed keys: k, mask_ratio, names"):
        build_config(Cfg, {"maskratio": 0.5})


def test_layers_override_in_order():
    cfg = build_config(Cfg, {"k": 8}, {"k": 16})
    assert cfg.k == 16 and cfg.mask_ratio == 0.75


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a" / "r.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert p.read_text().strip().endswith("}") and '"x": 2' in p.read_text()
    assert [f.name for f in p.parent.iterdir()] == ["r.json"], "temp files left behind"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_is_a_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write_text(ro / "f.txt", "x")


def test_output_under_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write_text(blocker / "f.txt", "x")
    with pytest.raises(OutputError):
        new_run_dir(blocker, "exp")


def test_concurrent_run_dirs_are_distinct(tmp_path):
    dirs: list = []

    def make() -> None:
        for _ in range(20):
            dirs.append(new_run_dir(tmp_path, "exp"))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(dirs) == 80 and len(set(dirs)) == 80


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_0666_minus_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "r.json", "{}")
        run_dir = new_run_dir(tmp_path, "exp")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(run_dir.stat().st_mode) == mode | 0o111 & ~umask


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = atomic_write_text(tmp_path / "r.json", "old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_single_value_for_a_list_field_is_a_one_item_list():
    assert build_config(Strict, parse_assignments(["ks=4"])).ks == [4]
    assert build_config(Cfg, parse_assignments(["names=b"])).names == ["b"]
    with pytest.raises(ConfigError, match="bad value ks=True"):
        build_config(Strict, parse_assignments(["ks=true"]))
