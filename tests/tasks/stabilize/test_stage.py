from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from common.errors import MediaError
from media.video import probe, read_frames, run_ffmpeg, write_video
from tasks.stabilize import StabilizeOptions, stabilize_clip

from .conftest import SIZE, film, shaky_camera

KEYS = {"before", "after", "shake_corrected", "flicker_corrected", "fps_in", "fps_out",
        "frames_in", "frames_out"}
METRICS = {"stability", "itf", "cropping", "distortion", "jitter", "flicker", "frames"}


@pytest.fixture(scope="module")
def shaky_file(tmp_path_factory, canvas) -> Path:
    path = tmp_path_factory.mktemp("clips") / "shaky16.mp4"
    write_video(path, film(canvas, SIZE, shaky_camera(32, shake=3.0, seed=21)), fps=16)
    return path


@pytest.fixture(scope="module")
def steady_file(tmp_path_factory, steady) -> Path:
    path = tmp_path_factory.mktemp("clips") / "steady.mp4"
    write_video(path, steady, fps=16)
    return path


def test_steady_clip_is_copied_bit_for_bit(steady_file, tmp_path):
    out = tmp_path / "out.mp4"
    report = stabilize_clip(steady_file, out)
    assert out.read_bytes() == steady_file.read_bytes()
    assert report.copied and not report.shake_corrected and not report.flicker_corrected
    data = json.loads(json.dumps(report.to_dict()))
    assert KEYS <= data.keys() and METRICS <= data["before"].keys()
    assert data["after"] == data["before"]
    assert data["frames_in"] == data["frames_out"] == 40


def test_shaky_clip_is_steadied_and_retimed_exactly(shaky_file, tmp_path):
    out = tmp_path / "out24.mp4"
    report = stabilize_clip(shaky_file, out, target_fps=24)
    info = probe(out)
    assert (info.frames, info.fps, info.size) == (48, 24, SIZE)
    assert abs(info.duration - 2.0) < 1e-3
    assert report.shake_corrected and not report.copied
    assert (report.frames_in, report.frames_out, report.fps_in, report.fps_out) == (32, 48, 16, 24)
    assert report.after.stability > report.before.stability
    assert report.after.jitter < 0.5 * report.before.jitter
    assert 0.8 < report.after.cropping < 1.0 and report.after.distortion == pytest.approx(1.0)


def test_shake_only_clip_keeps_its_rate_and_size(shaky_file, tmp_path):
    out = tmp_path / "out.mp4"
    report = stabilize_clip(shaky_file, out)  # shake alone: the yuv420p path
    info = probe(out)
    assert (info.frames, info.fps, info.size) == (32, 16, SIZE)
    assert report.shake_corrected and not report.flicker_corrected
    assert report.after.stability > report.before.stability
    assert report.after.jitter < 0.5 * report.before.jitter
    assert report.after.itf > report.before.itf + 2.0


def test_dry_run_writes_nothing(shaky_file):
    before = sorted(p.name for p in shaky_file.parent.iterdir())
    report = stabilize_clip(shaky_file, None)
    assert report.shake_corrected and report.after is None and report.frames_out == 32
    assert sorted(p.name for p in shaky_file.parent.iterdir()) == before


def test_flickering_clip_is_deflickered(steady, tmp_path):
    rng = np.random.default_rng(5)
    frames = [np.clip(f * g, 0, 255).astype(np.uint8)
              for f, g in zip(steady, 1 + rng.uniform(-0.1, 0.1, len(steady)))]
    src, out = tmp_path / "flicker.mp4", tmp_path / "out.mp4"
    write_video(src, frames, fps=16)
    report = stabilize_clip(src, out)
    assert report.flicker_corrected and not report.shake_corrected
    assert report.after.flicker < 0.35 * report.before.flicker


@pytest.mark.parametrize("target_fps", [24, None])  # the RGB path and the yuv420p path
def test_memory_does_not_grow_with_clip_length(canvas, tmp_path, target_fps):
    peaks = []
    for n in (24, 96):
        src = tmp_path / f"shaky{n}.mp4"
        write_video(src, film(canvas, SIZE, shaky_camera(n, shake=3.0, seed=n)), fps=16)
        tracemalloc.start()
        stabilize_clip(src, tmp_path / f"out{n}.mp4", target_fps=target_fps,
                       options=StabilizeOptions(measure_after=False))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    frame_bytes = SIZE[0] * SIZE[1] * 3
    # Four times the frames, about the same peak: a few frames in flight, not the clip.
    assert peaks[1] < peaks[0] + 6 * frame_bytes
    assert peaks[1] < 40 * frame_bytes


def test_audio_is_carried_over(shaky_file, tmp_path):
    with_audio = tmp_path / "audio.mp4"
    run_ffmpeg(["-i", str(shaky_file), "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest",
                str(with_audio)], what="test clip with audio")
    out = tmp_path / "out.mp4"
    report = stabilize_clip(with_audio, out)
    assert report.shake_corrected
    streams = run_ffmpeg(["-i", str(out), "-f", "null", "-"], what="read back")
    assert "Audio: aac" in streams and probe(out).frames == 32
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_unreadable_clip_names_the_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="bad.mp4"):
        stabilize_clip(bad, tmp_path / "out.mp4")


def test_cli_writes_the_report(shaky_file, tmp_path):
    from flows.commands.stabilize import register

    app = typer.Typer()
    register(app)

    @app.command("noop")  # a second command, so typer keeps "stabilize" as a subcommand
    def noop() -> None:
        pass

    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    result = CliRunner().invoke(app, ["stabilize", str(shaky_file), str(out), "--fps", "30",
                                      "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["frames_out"] == probe(out).frames == 60
    assert data["fps_in"] == 16 and data["fps_out"] == 30
    assert data["after"]["stability"] > data["before"]["stability"]
    assert len(list(read_frames(out))) == 60


def test_cli_reads_ntsc_rates():
    from fractions import Fraction

    from flows.commands.stabilize import _rate

    assert _rate(29.97) == Fraction(30000, 1001) and _rate(24) == 24 and _rate(30.0) == 30
