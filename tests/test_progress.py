import io

from rich.console import Console

from sslab import progress
from sslab.progress import emit_json, live, note, track


def test_non_tty_prints_one_line_per_noted_iteration(capsys):
    with live():
        for i in track(range(3), "epochs"):
            note(loss=0.5 - 0.1 * i, img_s=1000.0)
        for _ in track(range(4), "quiet loop"):  # no note(): no lines
            pass
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("epochs 1/3  loss 0.5000  img/s 1000")
    assert lines[2].startswith("epochs 3/3  loss 0.3000")


def test_tty_bar_shows_loss_and_throughput(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buf, force_terminal=True, width=160))
    with live():
        for _ in track(range(2), "epochs"):
            note(loss=0.25, img_s=2400.0)
            bar = Console(file=io.StringIO(), width=160, force_terminal=False)
            bar.print(progress._active.get_renderable())
            text = bar.file.getvalue()
            assert "epochs" in text and "loss 0.2500" in text and "img/s 2400" in text
    assert "epochs 1/2" not in buf.getvalue()  # no plain lines on a terminal


def test_note_and_track_are_silent_without_live(capsys):
    assert list(track(range(3), "x")) == [0, 1, 2]
    note(loss=1.0)
    assert capsys.readouterr() == ("", "")


def test_emit_json_writes_nan_as_null(capsys):
    emit_json({"a": float("nan"), "b": [1.5, float("inf")]})
    assert capsys.readouterr().out.split() == ["{", '"a":', "null,", '"b":', "[", "1.5,", "null", "]", "}"]
