"""Figures say what they show: every saved figure has a caption naming its data and seeds, and the
plotting code follows the layout rules (constrained layout, labelled reference lines and colour
bars, math in mathtext)."""

import ast
import json
import re
from functools import cache
from pathlib import Path

import pytest

from sslab.experiments.captions import count, seed_count, spread_text
from sslab.experiments.runner import run_experiment

SRC = Path(__file__).resolve().parents[1] / "src" / "sslab"
EXPERIMENTS = SRC / "experiments"


@cache
def _all_calls(root: Path) -> tuple[tuple[Path, ast.Call], ...]:
    return tuple((path.relative_to(SRC), node) for path in sorted(root.rglob("*.py"))
                 for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute))


def _calls(root: Path, attr: str):
    """(file, call) for every call ``<anything>.attr(...)`` in the Python files under ``root``."""
    return [(path, call) for path, call in _all_calls(root) if call.func.attr == attr]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_empty(value: ast.expr | None) -> bool:
    return value is None or (isinstance(value, ast.Constant) and not value.value)


def test_every_save_figure_call_passes_a_caption():
    calls = list(_calls(EXPERIMENTS, "save_figure"))
    assert len(calls) >= 20  # the experiments' figures, found by the walk
    missing = [f"{path}:{call.lineno}" for path, call in calls if _is_empty(_keyword(call, "caption"))]
    assert not missing, f"save_figure without caption= at {missing}"


@pytest.mark.parametrize("factory", ["subplots", "figure"])
def test_figures_use_constrained_layout(factory):
    bad = [f"{path}:{call.lineno}" for path, call in _calls(SRC, factory)
           if isinstance(call.func.value, ast.Name) and call.func.value.id == "plt"
           and not (isinstance(v := _keyword(call, "layout"), ast.Constant) and v.value == "constrained")]
    assert not bad, f"plt.{factory} without layout='constrained' at {bad}"
    assert not list(_calls(SRC, "tight_layout")), "tight_layout left in; use layout='constrained'"


@pytest.mark.parametrize("method", ["axhline", "axvline", "colorbar"])
def test_reference_lines_and_colour_bars_are_labelled(method):
    bad = [f"{path}:{call.lineno}" for path, call in _calls(SRC, method) if _is_empty(_keyword(call, "label"))]
    assert not bad, f"{method} without label= at {bad}"


def _texts(node: ast.expr):
    """The literal text of a string or f-string argument."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield "".join(v.value for v in node.values if isinstance(v, ast.Constant))


LABELS = ("set_title", "set_xlabel", "set_ylabel", "suptitle", "plot", "errorbar", "loglog", "semilogx",
          "semilogy", "bar", "axhline", "axvline", "colorbar")


def test_subscripts_in_labels_are_mathtext():
    """'λ_{k+1}' in a title prints the braces; it must be written inside $…$ (mathtext)."""
    bad = []
    for method in LABELS:
        for path, call in _calls(EXPERIMENTS, method):
            args = [*call.args, *(k.value for k in call.keywords if k.arg == "label")]
            for text in (t for a in args for t in _texts(a)):
                for piece in re.split(r"\$[^$]*\$", text):  # what lies outside math
                    if re.search(r"[_^]\{", piece):
                        bad.append(f"{path}:{call.lineno}: {text!r}")
    assert not bad, f"subscripts outside mathtext: {bad}"


def test_seed_words_never_show_an_interval_for_one_seed():
    assert seed_count(1) == "1 seed" and seed_count(3) == "3 seeds" and count(1, "epoch") == "1 epoch"
    assert "interval" not in spread_text(1).replace("no interval", "") and "95%" in spread_text(5)


# fast theory runs, shrunk further (about 10 s in all on 2 cores); one seed where the experiment allows
QUICK = {
    "linear-limits": ({"points": 5}, "digits"),
    "mask-graph": ({"views": 60, "ratios": [0.25, 0.5, 0.75], "seeds": 1}, "digits"),
    "mask-distance": ({"pairs": 200, "ratios": [0.0, 0.5, 0.9], "draws": 2, "seeds": 2}, "digits"),
    "je-vs-recon-phase": ({"gammas": 3, "alphas": 5}, "synthetic"),
    "je-vs-recon-samples": ({"ns": [100, 300, 1000], "seeds": 1, "n_test": 1000}, "synthetic"),
    "vit-global-local": ({"size_ratios": [1, 4], "steps": 10, "samples": 32, "seeds": 2}, "synthetic"),
}


@pytest.mark.parametrize("name", sorted(QUICK))
def test_every_saved_figure_has_a_caption_naming_its_data(name, tmp_path):
    overrides, data = QUICK[name]
    run_dir, rec = run_experiment(name, quick=True, seed=0, overrides=overrides, out_root=tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    on_disk = json.loads((run_dir / "result.json").read_text())
    captions = on_disk["figure_captions"]
    assert on_disk["figures"] and set(captions) == set(on_disk["figures"])
    seeds = on_disk["config"].get("seeds")
    for fig, caption in captions.items():
        assert len(caption) > 80 and data in caption.lower(), (fig, caption)
        assert "seed" in caption or "deterministic" in caption, (fig, caption)
        assert "± 0" not in caption and "1 seeds" not in caption, (fig, caption)
        if seeds is not None:  # the count is the run's own, not the default's
            assert seed_count(seeds) in caption or f"seed {on_disk['seed']}" in caption, (fig, caption)
