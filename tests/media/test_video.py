"""Video I/O: exact frame counts and rates, lossless renders, I420 frames, atomic writes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from common.errors import MediaError
from media.video import FrameWriter, probe, read_frames, read_tags, write_video


def noise(n: int, w: int = 64, h: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_lossless_render_round_trip_is_bit_exact(tmp_path):
    frames = noise(5)
    with FrameWriter(tmp_path / "r.mkv", fps=16, size=(64, 48), lossless=True) as writer:
        for f in frames:
            writer.write(f)
    back = list(read_frames(tmp_path / "r.mkv"))
    assert len(back) == 5 and all(np.array_equal(a, b) for a, b in zip(frames, back))


def test_probe_counts_frames_and_keeps_ntsc_rates(tmp_path):
    write_video(tmp_path / "a.mp4", noise(17), fps=16, metadata={"title": "x=1;y"})
    info = probe(tmp_path / "a.mp4")
    assert (info.width, info.height, info.frames, info.fps) == (64, 48, 17, 16)
    assert read_tags(tmp_path / "a.mp4")["title"] == "x=1;y"
    write_video(tmp_path / "b.mp4", noise(7), fps=Fraction(30000, 1001))
    assert probe(tmp_path / "b.mp4").fps == Fraction(30000, 1001)


def test_i420_frames_in_and_out(tmp_path):
    write_video(tmp_path / "a.mp4", noise(4), fps=16)
    flat = list(read_frames(tmp_path / "a.mp4", pix_fmt="yuv420p"))
    assert len(flat) == 4 and flat[0].shape == (64 * 48 * 3 // 2,)
    with FrameWriter(tmp_path / "b.mp4", fps=16, size=(64, 48), pix_fmt="yuv420p") as writer:
        for f in flat:
            writer.write(f)
    again = list(read_frames(tmp_path / "b.mp4", pix_fmt="yuv420p"))
    # Only one more lossy encode apart: luma stays close.
    assert np.abs(again[0][:64 * 48].astype(int) - flat[0][:64 * 48]).mean() < 12


def test_wrong_frame_names_the_file_and_leaves_nothing(tmp_path):
    out = tmp_path / "c.mp4"
    with pytest.raises(MediaError, match=r"c\.mp4: frame 1 has shape"):
        with FrameWriter(out, fps=16, size=(64, 48)) as writer:
            writer.write(noise(1)[0])
            writer.write(np.zeros((10, 10, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []  # no half-written file under any name
    with pytest.raises(MediaError, match="no such video file"):
        probe(tmp_path / "missing.mp4")
