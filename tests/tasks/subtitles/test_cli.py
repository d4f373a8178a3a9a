"""The `content-factory subtitle` command, run in-process through Typer."""

import numpy as np
import typer
from typer.testing import CliRunner

from flows.commands import subtitle
from media.video import probe, write_video
from tasks.subtitles import read_srt, read_vtt

SRT = """1
00:00:00,000 --> 00:00:01,200
新しいオーロラ・ランニングシューズが
登場しました。

2
00:00:01,300 --> 00:00:02,000
{\\an8}<i>走る</i>
"""


def test_subtitle_command_writes_clip_and_sidecars(tmp_path):
    app = typer.Typer()
    subtitle.register(app)

    @app.command("noop")  # a second command keeps Typer from collapsing to the single one
    def noop() -> None: ...

    video = tmp_path / "in.mp4"
    write_video(video, [np.full((96, 160, 3), 90, np.uint8)] * 48, fps=24)
    (tmp_path / "cues.srt").write_text(SRT, encoding="utf-8")
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["subtitle", str(video), "--cues", str(tmp_path / "cues.srt"),
                                      "--locale", "ja", "--out", str(out), "--soft-track"])
    assert result.exit_code == 0, result.output
    assert probe(out).frames == 48 and probe(out).has_subtitles
    srt, vtt = read_srt(tmp_path / "out.ja.srt"), read_vtt(tmp_path / "out.ja.vtt")
    assert [c.lines for c in srt] == [c.lines for c in vtt]
    assert "".join(srt[0].lines) == "新しいオーロラ・ランニングシューズが登場しました。"
    assert all(len(line) <= 16 for c in srt for line in c.lines)
    assert srt[-1].lines == ("{\\an8}<i>走る</i>",)  # markup in a cue file stays text
    assert not list(tmp_path.glob(".*burned*"))
