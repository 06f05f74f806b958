"""`sslab run` under bad input and faults: every failure is one line with exit code 2 and
leaves no run directory; interrupted runs are flagged; a full disk is one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sslab.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _one_line_exit_2(res, needle: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.output


@pytest.mark.parametrize(
    "sets,needle",
    [
        (["points=true"], "bad value points=True"),
        (["points=2.5"], "bad value points=2.5"),
        (["tolerance=nan"], "bad value tolerance='nan'"),
        (["k=false"], "e.g. --set k=16"),
        (["heatmap_kappa=inf"], "bad value heatmap_kappa='inf'"),  # a float with no upper bound
        (["heatmap_kappa=NaN"], "bad value heatmap_kappa=nan"),
        (["steps=true"], "bad value steps=True"),
    ],
)
def test_bad_config_types_exit_2_and_write_nothing(tmp_path, sets, needle):
    args = [a for s in sets for a in ("--set", s)]
    name = "vit-global-local" if any(s.startswith(("heatmap", "steps")) for s in sets) else "linear-limits"
    res = invoke("run", name, "--quick", "--out", str(tmp_path), *args)
    _one_line_exit_2(res, needle)
    assert not any(tmp_path.iterdir())
