"""`content-factory voice` speaks a text to a WAV; `content-factory mix` puts it (and music)
under a clip and prints the loudness, which an independent meter confirms."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from media.audio import audio_streams, write_wav
from media.video import write_video
from tests.tasks.audio.meters import integrated_lufs, tone, true_peak_dbtp


def test_voice_then_mix(tmp_path):
    from flows.cli import app

    runner = CliRunner()
    wav = tmp_path / "v.wav"
    said = runner.invoke(app, ["voice", "--text", "春天来了。茶好了。", "--locale", "zh-CN",
                               "--out", str(wav)], terminal_width=200)
    assert said.exit_code == 0, said.output
    assert wav.is_file() and "espeak-ng" in said.output
    assert "春天来了。" in said.output and "茶好了。" in said.output

    clip = tmp_path / "clip.mp4"
    write_video(clip, (np.full((128, 128, 3), i % 200, np.uint8) for i in range(24 * 6)), fps=24)
    music = write_wav(tmp_path / "tone.wav", tone(2.0))
    out = tmp_path / "out.mp4"
    mixed = runner.invoke(app, ["mix", str(clip), "--voice", str(wav), "--music", str(music),
                                "--locale", "zh-CN", "--out", str(out), "--loudness", "-16"],
                          terminal_width=200)
    assert mixed.exit_code == 0, mixed.output
    printed = float(re.search(r"integrated (-?[\d.]+) LUFS", mixed.output).group(1))
    assert printed == pytest.approx(-16, abs=0.5)
    assert integrated_lufs(out) == pytest.approx(printed, abs=0.5)  # what it says is so
    assert true_peak_dbtp(out) <= -1.0
    assert [s.language for s in audio_streams(out)] == ["chi"]


def test_mix_refuses_a_voice_longer_than_the_clip(tmp_path):
    from common.errors import ConfigError
    from flows.cli import app

    clip = tmp_path / "clip.mp4"
    write_video(clip, (np.zeros((64, 64, 3), np.uint8) for _ in range(24)), fps=24)
    wav = write_wav(tmp_path / "long.wav", 0.3 * np.sin(np.arange(48000 * 3) / 10))
    result = CliRunner().invoke(app, ["mix", str(clip), "--voice", str(wav), "--out",
                                      str(tmp_path / "o.mp4")])
    assert isinstance(result.exception, ConfigError)
    assert "runs past the end of clip.mp4 (1.00 s)" in str(result.exception)
    assert not (tmp_path / "o.mp4").exists()
