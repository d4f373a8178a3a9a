"""What the CLI prints while a flow runs: plain lines off a terminal (stage, shot, step, ETA),
Rich bars on one, and clip URLs that never wrap."""

from __future__ import annotations

import io

from flows.display import RunDisplay, eta_seconds
from tasks.report import ProgressEvent, emit


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_show_stage_shot_step_and_eta_at_each_quarter():
    stream = io.StringIO()  # not a terminal: plain lines
    with RunDisplay("campaign spring", stream=stream):
        emit(ProgressEvent("stage", stage="render"))
        for done in range(1, 9):
            emit(ProgressEvent("step", stage="render", shot="intro", done=done, total=8))
        emit(ProgressEvent("done", stage="render", shot="intro", note="rendered"))
        emit(ProgressEvent("done", stage="render", shot="outro", note="from the template cache"))
    emit(ProgressEvent("stage", stage="after"))  # no longer listening
    lines = stream.getvalue().splitlines()
    assert lines[0] == "campaign spring" and lines[1] == "stage render"
    steps = [line for line in lines if line.startswith("render shot intro: step")]
    assert [s.split(" (")[0] for s in steps] == [f"render shot intro: step {n}/8"
                                                  for n in (2, 4, 6, 8)]
    assert "ETA" in steps[0] and "ETA" not in steps[-1]
    assert lines[-1] == "render shot outro: from the template cache"
    assert "stage after" not in stream.getvalue()


def test_a_terminal_gets_bars_with_the_shot_and_its_steps():
    stream = Terminal()
    with RunDisplay("campaign spring", stream=stream) as display:
        emit(ProgressEvent("stage", stage="render"))
        on_progress = display.steps("intro")
        for done in range(1, 5):
            on_progress(done, 4)
    text = stream.getvalue()
    assert "render shot intro" in text and "4/4" in text and "campaign spring" in text


def test_eta_is_the_rate_so_far_times_the_steps_left():
    assert eta_seconds(started=10.0, done=2, total=10, now=14.0) == 16.0
    assert eta_seconds(started=10.0, done=0, total=10, now=14.0) is None
    assert eta_seconds(started=10.0, done=10, total=10, now=14.0) == 0.0


def test_clip_urls_are_printed_whole_on_one_line(capsys):
    from flows.cli import _print_manifest

    url = "https://bucket.example.com/" + "a" * 150 + "/clip.mp4?X-Amz-Signature=" + "f" * 64
    _print_manifest({"run_id": "r1", "clips": [{"locale": "en", "duration": 2.0, "url": url}],
                     "manifest_key": "runs/r1/" + "m" * 100 + ".json"})
    out = capsys.readouterr().out
    assert any(line.endswith(url) for line in out.splitlines())
    assert "runs/r1/" + "m" * 100 + ".json" in out.replace("\n", " ").split()[-1]
