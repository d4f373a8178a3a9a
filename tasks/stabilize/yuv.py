"""The fast path for the shake warp: frames kept in the video's own yuv420p from decoder to encoder.

When a clip only needs its shake removed (no flicker gains per RGB channel, no interpolation),
converting every frame to RGB and back buys nothing. Kept in yuv420p, a 720p frame is 1.4 MB
instead of 2.8 MB through each pipe, ffmpeg skips two colour conversions, and the warp handles
1.5 bytes per pixel instead of 3 (the two chroma planes at half size). ``tasks.video``'s reader
and writer speak RGB only, so this module drives imageio-ffmpeg the same way they do (same
x264 settings, faststart, atomic rename), with ``yuv420p`` on the pipes.

A frame here is a flat ``uint8 [W * H * 3 / 2]`` array in I420 layout: Y (H x W), then U and V
(H/2 x W/2 each).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from common.errors import MediaError
from tasks.video import DEFAULT_CRF, DEFAULT_PRESET


def planes(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views ``(Y [H, W], U [H/2, W/2], V [H/2, W/2])`` into a flat I420 frame."""
    w, h = size
    luma, chroma = w * h, (w // 2) * (h // 2)
    return (frame[:luma].reshape(h, w),
            frame[luma:luma + chroma].reshape(h // 2, w // 2),
            frame[luma + chroma:luma + 2 * chroma].reshape(h // 2, w // 2))


def chroma_matrix(matrix: np.ndarray) -> np.ndarray:
    """The ``[2, 3]`` luma-plane affine as it acts on the half-size chroma planes.

    Chroma pixel ``i`` sits at luma coordinate ``2 i + 0.5`` (centred siting; H.264's default
    left siting differs by a quarter chroma pixel horizontally, which no one can see).
    """
    to_chroma = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]])
    return (to_chroma @ np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(to_chroma))[:2]


def warp_i420(frame: np.ndarray, matrix: np.ndarray, size: tuple[int, int],
              out: np.ndarray | None = None) -> np.ndarray:
    """Warp a flat I420 frame by the ``[2, 3]`` input -> output affine of its luma plane."""
    w, h = size
    out = np.empty_like(frame) if out is None else out
    chroma = chroma_matrix(matrix)
    for src, dst, m, plane_size in zip(planes(frame, size), planes(out, size),
                                       (matrix, chroma, chroma),
                                       ((w, h), (w // 2, h // 2), (w // 2, h // 2))):
        cv2.warpAffine(src, m, plane_size, dst=dst, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return out


def read_i420(path: str | os.PathLike, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Decode ``path`` (frames of ``size``) to flat I420 frames."""
    w, h = size
    if w % 2 or h % 2:
        raise MediaError(f"{path}: {w}x{h} has an odd side; yuv420p needs even ones")
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="yuv420p", bits_per_pixel=12)
        next(reader)  # metadata
    except (RuntimeError, OSError, StopIteration) as exc:
        raise MediaError(f"{path}: cannot decode video ({exc})") from exc
    try:
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8)
    finally:
        reader.close()


class I420Writer:
    """Encode flat I420 frames as ``tasks.video.FrameWriter`` encodes RGB ones (H.264 yuv420p,
    faststart, a temporary name renamed on a clean exit)."""

    def __init__(self, path: str | os.PathLike, *, fps: Fraction, size: tuple[int, int],
                 crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET,
                 metadata: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.size = size
        self.frames_written = 0
        self._bytes = size[0] * size[1] * 3 // 2
        self._tmp = self.path.with_name(f".{self.path.name}.partial.mp4")
        rate = f"{fps.numerator}/{fps.denominator}"
        out_params = ["-preset", preset, "-crf", str(crf), "-movflags", "+faststart", "-r", rate]
        for key, value in (metadata or {}).items():
            out_params += ["-metadata", f"{key}={value}"]
        self._gen = imageio_ffmpeg.write_frames(
            str(self._tmp), size, pix_fmt_in="yuv420p", pix_fmt_out="yuv420p", fps=float(fps),
            codec="libx264", quality=None, macro_block_size=1, input_params=["-framerate", rate],
            output_params=out_params)
        self._gen.send(None)

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.size != self._bytes:
            raise MediaError(f"{self.path}: frame {self.frames_written} has {frame.size} bytes, "
                             f"expected {self._bytes} (I420 {self.size[0]}x{self.size[1]})")
        self._gen.send(frame)
        self.frames_written += 1

    def close(self, *, keep: bool = True) -> None:
        try:
            self._gen.close()
        except RuntimeError as exc:
            self._tmp.unlink(missing_ok=True)
            raise MediaError(f"{self.path}: ffmpeg failed while encoding ({exc})") from exc
        if keep and self.frames_written:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> I420Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)
