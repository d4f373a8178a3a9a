"""Video files in and out, one frame at a time.

Frames are ``uint8`` arrays of shape ``[H, W, 3]`` (RGB). Clips are streamed through the ffmpeg
binary that imageio-ffmpeg ships, so a whole clip is never held in memory as an array, and
every stage can be tested with a few numpy frames and a temporary path.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from common.errors import MediaError

# H.264 in yuv420p needs even sides; every size the factory accepts is a multiple of 16 anyway.
DEFAULT_CRF = 20
DEFAULT_PRESET = "veryfast"  # docs/reference/platform-facts.md: ~95-135 fps at 720p on 2 cores
# Lossless (QP 0) gives the same pixels with any preset: only size and speed differ, so the
# intermediates later stages re-encode take the fastest one.
LOSSLESS_PRESET = "ultrafast"
PIX_FMTS = {"rgb24": 24, "yuv420p": 12}  # frame layouts on the pipes, bits per pixel


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled by imageio-ffmpeg (has libx264, libass, vid.stab)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read from ffmpeg's own description of it."""

    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float  # seconds
    codec: str
    has_subtitles: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


_STREAM_RE = re.compile(r"Stream #\d+:\d+(?:\[\w+\])?(?:\((\w+)\))?: (Video|Audio|Subtitle|Data): (\w+)")
_SIZE_RE = re.compile(r", (\d{2,5})x(\d{2,5})[, ]")
_FPS_RE = re.compile(r", ([\d.]+(?:/\d+)?) fps")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+\.\d+)")
_INPUT_RE = re.compile(r"Input #0, ([\w,]+), from")
# ffmpeg's demuxers for single pictures (besides every "*_pipe" one: png_pipe, jpeg_pipe, ...).
STILLS = {"image2", "image2pipe", "png", "jpeg", "bmp", "tiff", "webp", "gif_pipe"}


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe a video file: size, frame rate, exact frame count and duration.

    The frame count is counted by decoding (``-f null``), not estimated from the container, so
    tests and manifests can rely on it.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such video file")
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
         "-c", "copy", "-f", "null", "-"],
        capture_output=True, text=True, errors="replace",
    )
    err = proc.stderr
    streams = _STREAM_RE.findall(err)
    video = [s for s in streams if s[1] == "Video"]
    container = _INPUT_RE.search(err)
    if container and (container.group(1).endswith("_pipe") or container.group(1) in STILLS):
        raise MediaError(f"{path}: is a still image ({container.group(1).removesuffix('_pipe')}),"
                         " not a video clip")
    if not video and any(s[1] in ("Audio", "Subtitle") for s in streams):
        kinds = ", ".join(sorted({s[1].lower() for s in streams}))
        raise MediaError(f"{path}: has no video stream (only {kinds}); give a video clip")
    if proc.returncode != 0 or not video:
        raise MediaError(f"{path}: not a video file ffmpeg can read ({_last_line(err)})")
    video_line = next(line for line in err.splitlines() if "Video:" in line)
    size = _SIZE_RE.search(video_line)
    fps = _FPS_RE.search(video_line)
    frames = re.findall(r"frame=\s*(\d+)", err)
    duration = _DURATION_RE.search(err)
    if not (size and fps and frames):
        raise MediaError(f"{path}: could not read size, frame rate or frame count from ffmpeg")
    rate = _parse_rate(fps.group(1))
    n = int(frames[-1])
    if n < 2:
        raise MediaError(f"{path}: has {n} frame(s), a still rather than a clip; give a video "
                         "of at least two frames")
    seconds = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60
               + float(duration.group(3))) if duration else n / float(rate)
    return VideoInfo(width=int(size.group(1)), height=int(size.group(2)), fps=rate, frames=n,
                     duration=seconds, codec=video[0][2],
                     has_subtitles=any(s[1] == "Subtitle" for s in streams))


def read_frames(path: str | os.PathLike, *, pix_fmt: str = "rgb24") -> Iterator[np.ndarray]:
    """Yield the frames of a video one at a time.

    ``rgb24`` (default): ``uint8 [H, W, 3]`` arrays. ``yuv420p``: flat ``uint8 [W*H*3/2]``
    I420 frames (Y, then U and V at half size), for stages that never need RGB.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such video file")
    if pix_fmt not in PIX_FMTS:
        raise MediaError(f"{path}: pix_fmt {pix_fmt!r}: use one of {', '.join(PIX_FMTS)}")
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt=pix_fmt,
                                            bits_per_pixel=PIX_FMTS[pix_fmt])
        meta = next(reader)
    except (RuntimeError, OSError, StopIteration) as exc:
        raise MediaError(f"{path}: cannot decode video ({_last_line(str(exc))})") from None
    width, height = meta["size"]
    if pix_fmt == "yuv420p" and (width % 2 or height % 2):
        reader.close()
        raise MediaError(f"{path}: {width}x{height} has an odd side; yuv420p needs even ones")
    try:
        for raw in reader:
            frame = np.frombuffer(raw, dtype=np.uint8)
            yield frame.reshape(height, width, 3) if pix_fmt == "rgb24" else frame
    except (RuntimeError, OSError) as exc:  # ffmpeg stopped mid-file: a truncated or damaged clip
        raise MediaError(f"{path}: cannot decode the video to its end "
                         f"({_last_line(str(exc))})") from None
    finally:
        reader.close()


class FrameWriter:
    """Encode frames to an H.264 yuv420p MP4 with faststart, streaming them to ffmpeg.

    Use as a context manager; :meth:`write` takes one ``uint8 [H, W, 3]`` frame. The file is
    written to a temporary name and renamed on a clean exit, so a crash never leaves a
    half-written MP4 under the final name. ``lossless=True`` writes RGB H.264 at QP 0
    (``libx264rgb``): bit-exact frames, for renders that later stages decode again.
    ``pix_fmt="yuv420p"`` takes flat I420 frames (as ``read_frames(..., pix_fmt="yuv420p")``
    yields them) and skips the colour conversions.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | Fraction, size: tuple[int, int],
                 crf: int = DEFAULT_CRF, preset: str | None = None,
                 metadata: dict[str, str] | None = None, lossless: bool = False,
                 pix_fmt: str = "rgb24") -> None:
        width, height = size
        if pix_fmt not in PIX_FMTS or (lossless and pix_fmt != "rgb24"):
            raise MediaError(f"{path}: pix_fmt {pix_fmt!r} is not supported here "
                             f"(rgb24, or yuv420p when not lossless)")
        self.pix_fmt = pix_fmt
        if width % 2 or height % 2:
            raise MediaError(f"{path}: frame size {width}x{height} must have even sides for H.264")
        self.path = Path(path)
        self.size = (int(width), int(height))
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frames_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")
        quality = ["-qp", "0"] if lossless else ["-crf", str(crf)]
        preset = preset or (LOSSLESS_PRESET if lossless else DEFAULT_PRESET)
        out_params = ["-preset", preset, *quality, "-r", _rate_arg(self.fps)]
        if self.path.suffix.lower() in (".mp4", ".mov", ""):
            out_params += ["-movflags", "+faststart"]
        for key, value in (metadata or {}).items():
            out_params += ["-metadata", f"{key}={value}"]
        self._gen = imageio_ffmpeg.write_frames(
            str(self._tmp), self.size, pix_fmt_in=pix_fmt,
            pix_fmt_out="rgb24" if lossless else "yuv420p", fps=float(self.fps),
            codec="libx264rgb" if lossless else "libx264", quality=None, macro_block_size=1,
            input_params=["-framerate", _rate_arg(self.fps)], output_params=out_params,
        )
        self._gen.send(None)

    def write(self, frame: np.ndarray) -> None:
        w, h = self.size
        expected = (h, w, 3) if self.pix_fmt == "rgb24" else (w * h * 3 // 2,)
        if frame.dtype != np.uint8 or frame.shape != expected:
            raise MediaError(
                f"{self.path}: frame {self.frames_written} has shape {frame.shape} {frame.dtype}, "
                f"expected {expected} uint8 ({self.pix_fmt})")
        self._gen.send(np.ascontiguousarray(frame))
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

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], *, fps: float | Fraction,
                crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET,
                metadata: dict[str, str] | None = None) -> int:
    """Encode an iterable of frames to ``path``; returns the number of frames written."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise MediaError(f"{path}: no frames to write")
    h, w = first.shape[:2]
    with FrameWriter(path, fps=fps, size=(w, h), crf=crf, preset=preset,
                     metadata=metadata) as writer:
        writer.write(first)
        for frame in it:
            writer.write(frame)
    return writer.frames_written


def run_ffmpeg(args: list[str], *, what: str) -> str:
    """Run the bundled ffmpeg with ``args``; raise MediaError naming ``what`` on failure."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args],
                          capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        raise MediaError(f"{what}: ffmpeg failed: {_last_line(proc.stderr)}")
    return proc.stderr


def read_tags(path: str | os.PathLike) -> dict[str, str]:
    """Container-level metadata tags of an MP4 (``-metadata key=value`` on write)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-f",
                           "ffmetadata", "-"], capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        raise MediaError(f"{path}: cannot read metadata ({_last_line(proc.stderr)})")
    tags: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith((";", "[")) or "=" not in line:
            if line.startswith("["):  # stream/chapter sections follow the global ones
                break
            continue
        key, _, value = line.partition("=")
        tags[key] = value.replace("\\=", "=").replace("\\;", ";").replace("\\#", "#")
    return tags


def _parse_rate(text: str) -> Fraction:
    """ffmpeg prints NTSC rates rounded ("29.97 fps"); map them back to n*1000/1001."""
    rate = Fraction(text).limit_denominator(1001)
    ntsc = round(float(rate) * 1.001)
    if abs(float(rate) - ntsc * 1000 / 1001) < 0.006 and rate.denominator != 1:
        return Fraction(ntsc * 1000, 1001)
    return rate


def _rate_arg(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def dumps_info(info: VideoInfo) -> str:
    return json.dumps({"width": info.width, "height": info.height, "fps": str(info.fps),
                       "frames": info.frames, "duration": round(info.duration, 3)})


def read_scaled_frames(path: str | os.PathLike, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Decode ``path`` scaled by ffmpeg to ``size = (w, h)``: ``uint8 [h, w, 3]`` RGB frames."""
    path = Path(path)
    w, h = size
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24",
                                            output_params=["-vf", f"scale={w}:{h}:flags=area"])
        # imageio-ffmpeg logs a warning that the size differs from the source: we asked it to.
        quiet = _DropSizeWarning()
        logging.getLogger("imageio_ffmpeg").addFilter(quiet)
        try:
            next(reader)  # metadata
        finally:
            logging.getLogger("imageio_ffmpeg").removeFilter(quiet)
    except (RuntimeError, OSError, StopIteration) as exc:
        raise MediaError(f"{path}: cannot decode video for analysis ({exc})") from exc
    try:
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
    finally:
        reader.close()


class _DropSizeWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "different from the source frame size" not in record.getMessage()


_DONE = object()


def prefetch(items: Iterable, depth: int = 4) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead of the consumer.

    Decoding (a pipe read, which releases the GIL) then overlaps with the OpenCV work on the
    previous frame; chained, each stage of a frame pipeline gets its own thread and a queue of
    ``depth`` between it and the next. Memory: ``depth``
    items. Errors raised while producing are raised to the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, which re-raises it
            _put_final(q, stop, exc)
            return
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()
        _put_final(q, stop, _DONE)

    thread = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _put_final(q: queue.Queue, stop: threading.Event, item: object) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
