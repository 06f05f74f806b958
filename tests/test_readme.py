"""The README agrees with the code: its experiment table is the registry, and it keeps the
two commands."""

import re
from pathlib import Path

from sslab.experiments import load_all

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_experiment_table_is_the_registry():
    table = README.split("## Experiments", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (.*?) \| (.*?) \|", table, re.M)
    registry = load_all()
    assert [name for name, *_ in rows] == sorted(registry)
    for name, paper, claim in rows:
        assert (paper, claim) == (registry[name].paper, registry[name].claim), name


def test_stated_experiment_counts_match_the_registry():
    counts = {int(n) for n in re.findall(r"(\d+) experiments", README)}
    assert counts == {len(load_all())}


def test_readme_keeps_the_two_commands_and_the_full_suite():
    for command in ("make demo", "make test", "make test-all"):
        assert command in README
    assert "docs/ARCHITECTURE.md" in README and (Path(__file__).resolve().parents[1] / "docs/ARCHITECTURE.md").exists()
