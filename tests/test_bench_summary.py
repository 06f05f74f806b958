"""The benchmark summary counts a bf16 speed-up only where bf16 trained as well as fp32 in the same
run (benchmarks/bf16_parity.py's pre-registered test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bf16_parity import PARITY_ROW, within_noise
from mae_step import BF16_ROW
from run_all import bf16_counts_with_parity


@pytest.mark.parametrize(("parity", "speed", "met"), [(True, "1.38x", True), (False, "1.38x", False),
                                                      (True, "1.10x", False)])
def test_bf16_speed_counts_only_with_parity(parity: bool, speed: str, met: bool) -> None:
    rows = [(PARITY_ROW, "+0.6 ± 2.8 pt", "within noise", parity), (BF16_ROW, speed, "≥ 1.25x", None)]
    out = dict((name, m) for name, _, _, m in bf16_counts_with_parity(rows))
    assert out[BF16_ROW] is met


def test_bf16_speed_stays_unmarked_without_a_parity_run() -> None:
    rows = [(BF16_ROW, "1.38x", "≥ 1.25x", None)]
    assert bf16_counts_with_parity(rows) == rows


def test_parity_needs_zero_inside_the_interval_and_a_small_mean() -> None:
    assert within_noise(-2.2, 3.4, 0.6, 1.8)
    assert not within_noise(0.5, 3.4, 1.9, 1.8)  # the interval excludes 0
    assert not within_noise(-0.2, 4.2, 2.0, 1.8)  # the mean exceeds the fp32 seed spread
