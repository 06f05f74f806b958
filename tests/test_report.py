"""The HTML report from small synthetic result.json files: which run is shown, what is
embedded, and how numbers, captions and papers read."""

import base64
import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from sslab.report import build_report
from sslab.report.collect import select_runs
from sslab.report.describe import readable_name, seed_text
from sslab.report.html import resolve_figure


def png(color: tuple[int, int, int], size: tuple[int, int] = (120, 80)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def write_run(runs: Path, name: str, stamp: str, status: str = "ok", **fields) -> Path:
    run_dir = runs / name / stamp
    run_dir.mkdir(parents=True)
    record = {
        "experiment": name, "version": "0.1.0", "status": status, "seed": 0, "quick": True,
        "config": {"dataset": "digits", "image_size": 8, "epochs": 6, "seeds": 3, "batch_size": 128},
        "numbers": {}, "claims": [], "figures": [], "headline": None, "seconds": 1.5, **fields,
    }
    if status != "ok":
        record.setdefault("error", "RuntimeError: boom")
    (run_dir / "result.json").write_text(json.dumps(record))
    return run_dir


ARMS = {
    "mae": {"linear": {"mean": 0.8123, "ci95": [0.80, 0.8246], "per_seed": [0.80, 0.81, 0.8269], "n_seeds": 3},
            "knn": {"mean": 0.7, "ci95": [None, None], "per_seed": [0.7], "n_seeds": 1}},
    "random_init": {"linear": {"mean": 0.5, "ci95": [0.45, 0.55], "per_seed": [0.45, 0.5, 0.55], "n_seeds": 3}},
}


def make_runs(root: Path) -> Path:
    """A runs dir: a complete ssl-compare run, then a failed and an interrupted one after it; an
    alignment run with a caption; an experiment that only failed; hostile figure entries."""
    runs = root / "runs"
    good = write_run(
        runs, "ssl-compare", "20260101T000000000000Z",
        numbers={"best_minus_mae": 0.0, "arms": ARMS, "accuracy": 0.91234567},
        headline="best_minus_mae", figures=["bars.png"],
        claims=[{"name": "U-MAE beats MAE", "verdict": "inconclusive", "held": False,
                 "test": "paired linear-probe difference, 95% CI above one test image", "evidence": "+0.2 pts"}],
    )
    (good / "bars.png").write_bytes(png((200, 40, 40)))
    write_run(runs, "ssl-compare", "20260102T000000000000Z", status="failed")
    write_run(runs, "ssl-compare", "20260103T000000000000Z", status="interrupted", error="KeyboardInterrupt")
    align = write_run(
        runs, "alignment", "20260101T000000000000Z", config={"k_max": 40, "synthetic_n": 1000},
        figures=["curves.png", "plain.png", "/etc/hostname", "../../outside.png", "escape.png"],
        figure_captions={"curves.png": "alignment(k) against k, one curve per class count"},
        claims=[{"name": "alignment is non-decreasing", "verdict": "held", "held": True, "test": "exact check",
                 "evidence": "max drop 0"}],
        numbers={"mean_alignment_10_classes": 0.5},
        headline="mean_alignment_10_classes",
    )
    (align / "curves.png").write_bytes(png((40, 40, 200)))
    (align / "plain.png").write_bytes(png((40, 200, 40)))
    (root / "outside.png").write_bytes(png((1, 2, 3)))
    os.symlink(root / "outside.png", align / "escape.png")
    write_run(runs, "mask-graph", "20260101T000000000000Z", status="failed", config={"views": 400})
    return runs


@pytest.fixture
def report(tmp_path):
    runs = make_runs(tmp_path)
    return runs, build_report(runs).read_text()


def test_complete_result_is_never_replaced_by_a_later_failed_or_interrupted_one(report):
    runs, page = report
    collected = select_runs(runs)
    shown = {r["experiment"]: d.name for d, r in collected.latest}
    assert shown == {"alignment": "20260101T000000000000Z", "mask-graph": "20260101T000000000000Z",
                     "ssl-compare": "20260101T000000000000Z"}
    assert [d.name for d, _ in collected.problems] == [
        "20260103T000000000000Z", "20260102T000000000000Z", "20260101T000000000000Z"]
    main, problems = page.split("<h2 id='problems'>Interrupted and failed runs</h2>")
    assert "20260103T000000000000Z" in problems and "interrupted" in problems
    assert "20260102T000000000000Z" in problems and "20260103T" not in main and "20260102T" not in main
    assert "U-MAE beats MAE" in main


def test_only_figures_inside_the_run_directory_are_embedded(report, tmp_path):
    runs, page = report
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    decoded = {base64.b64decode(e) for e in embedded}
    assert decoded == {png((200, 40, 40)), png((40, 40, 200)), png((40, 200, 40))}
    assert png((1, 2, 3)) not in decoded  # the symlink out of the run directory
    for name in ("/etc/hostname", "../../outside.png", "escape.png"):
        assert f"figure {name} not shown" in page
    hostname = Path("/etc/hostname")
    if hostname.exists() and hostname.read_bytes().strip():
        assert base64.b64encode(hostname.read_bytes()).decode() not in page
    align = runs / "alignment" / "20260101T000000000000Z"
    assert resolve_figure(align, "curves.png") == (align / "curves.png").resolve()
    assert resolve_figure(align, "sub/../curves.png") is not None
    assert resolve_figure(align, str(align / "curves.png")) is not None  # absolute, but inside
    assert resolve_figure(align, "result.json") is None and resolve_figure(align, "nope.png") is None


def test_captions_say_what_on_which_data_and_how_many_seeds(report):
    _, page = report
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert any(c.startswith("alignment(k) against k, one curve per class count <span") for c in captions)  # as given
    assert any("Plain: alignment on synthetic data generated in code" in c and "1 seed (0)" in c for c in captions)
    assert any("digits at 8×8 pixels; 3 seeds (0, 1000, 2000)" in c for c in captions), captions


def test_section_paragraph_names_data_budget_paper_and_tests(report):
    _, page = report
    section = page.split("<h2 id='ssl-compare'>")[1].split("<h2")[0]
    assert "digits at 8×8 pixels" in section and "epochs = 6" in section and "batch_size = 128" in section
    for arxiv in ("2402.11337", "2210.08344", "2301.08243"):  # the three papers ssl-compare names
        assert f"<a href='https://arxiv.org/abs/{arxiv}'>" in section
    assert "paired linear-probe difference, 95% CI above one test image" in section
    alignment = page.split("<h2 id='alignment'>")[1].split("<h2")[0]
    assert "https://arxiv.org/abs/2402.11337" in alignment and "2210.08344" not in alignment


def test_numbers_are_readable_and_one_seed_never_shows_plus_minus_zero(report):
    _, page = report
    assert "best_minus_mae" not in page and "<td>Best − MAE: 0</td>" in page
    assert not re.search(r"± ?0(\.0*)?(?![\d.])", page)  # no zero-width interval anywhere
    arms = page.split("<table class='arms'>")[1].split("</table>")[0]
    assert "0.8123 ± 0.012 (95% CI, 3 seeds)" in arms and "0.7 (1 seed)" in arms
    assert "Random init" in arms and arms.count("<tr>") == 3


def test_seed_text_and_readable_name():
    assert seed_text({"mean": 0.5, "ci95": [0.4, 0.6], "n_seeds": 5}) == "0.5 ± 0.1 (95% CI, 5 seeds)"
    assert seed_text({"mean": 0.5, "ci95": [0.5, 0.5], "n_seeds": 1}) == "0.5 (1 seed)"
    assert readable_name("local_gap_mae_minus_simclr") == "Local gap MAE − SimCLR"


def test_report_is_self_contained(report):
    _, page = report
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page.replace(
        "href='https://arxiv.org/abs/", "href='ARXIV"))
