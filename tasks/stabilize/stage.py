"""The stabilization stage over files: analyse, decide, then one streaming render pass.

Pass 1 (:func:`tasks.stabilize.analysis.analyse_clip`) reads the clip scaled down by ffmpeg and
measures motion, brightness and cuts; the "before" metrics and both decisions (is there shake?
is there flicker?) come from it. A clip with neither, and no frame rate change, is copied byte
for byte. Otherwise pass 2 decodes the full frames once, in a background thread a few frames
ahead, and streams each through level correction (a lookup table), the shake warp (one
``cv2.warpAffine``) and, when the frame rate changes, flow interpolation, into the encoder.
A clip that only shakes stays in yuv420p through pass 2 (:mod:`tasks.stabilize.yuv`), which
saves two colour conversions and half of every copy; otherwise frames are RGB, through
``media.video``'s reader and writer. Memory is bounded by the prefetch depths and two frames
for interpolation, whatever the clip's length; what grows with length is a few numbers per
frame (the camera path).

The "after" metrics measure the written file with the same analysis as "before".
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.errors import ConfigError, MediaError
from media.video import (
    DEFAULT_CRF,
    DEFAULT_PRESET,
    FrameWriter,
    VideoInfo,
    ffmpeg_exe,
    prefetch,
    probe,
    read_frames,
    read_tags,
    run_ffmpeg,
)
from tasks.stabilize.analysis import ClipAnalysis, analyse_clip
from tasks.stabilize.flicker import FlickerOptions, FlickerPlan, apply_table, plan_deflicker
from tasks.stabilize.interpolate import InterpolateOptions, interpolate_fps
from tasks.stabilize.metrics import ClipMetrics, clip_metrics, describe
from tasks.stabilize.shake import ShakeOptions, ShakePlan, plan_shake, warp_frame
from tasks.stabilize.yuv import warp_i420

if TYPE_CHECKING:
    from tasks.grade import ColourStats, ColourTable

log = logging.getLogger(__name__)

# Container tags ffmpeg writes itself; copying them onto the output would only be noise.
_OWN_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder", "creation_time"}


@dataclass(frozen=True)
class StabilizeOptions:
    """Everything the stage can be told; the defaults are the factory's."""

    shake: ShakeOptions = field(default_factory=ShakeOptions)
    flicker: FlickerOptions = field(default_factory=FlickerOptions)
    interpolate: InterpolateOptions = field(default_factory=InterpolateOptions)
    correct_shake: bool = True
    correct_flicker: bool = True
    measure_after: bool = True   # decode the output once more to report its metrics
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    prefetch: int = 4            # decoded frames held ahead of the render pass


@dataclass(frozen=True)
class StabilizeReport:
    """What the stage did to one clip, with its metrics before and after."""

    source: str
    output: str
    before: ClipMetrics
    after: ClipMetrics | None
    shake_corrected: bool
    flicker_corrected: bool
    copied: bool          # the output is a byte-for-byte copy of the input
    zoom: float           # crop zoom applied (1.0: none)
    fps_in: float
    fps_out: float
    frames_in: int
    frames_out: int
    seconds: float        # wall time of the stage, metrics included
    colour: dict = field(default_factory=dict)  # colour matching, when asked for

    def to_dict(self) -> dict:
        """JSON-able summary (the CLI's ``--report`` file)."""
        return {
            "source": self.source, "output": self.output,
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after is not None else None,
            "shake_corrected": self.shake_corrected, "flicker_corrected": self.flicker_corrected,
            "copied": self.copied, "zoom": round(self.zoom, 4),
            "fps_in": round(self.fps_in, 3), "fps_out": round(self.fps_out, 3),
            "frames_in": self.frames_in, "frames_out": self.frames_out,
            "seconds": round(self.seconds, 3),
            **({"colour": self.colour} if self.colour else {}),
        }

    def summary(self) -> str:
        done = [name for name, flag in (("shake", self.shake_corrected),
                                        ("flicker", self.flicker_corrected)) if flag]
        if self.fps_out != self.fps_in:
            done.append(f"{self.fps_in:g} -> {self.fps_out:g} fps")
        what = ", ".join(done) if done else "nothing to correct (copied)"
        metrics = describe(self.before, self.after) if self.after is not None else ""
        return f"{self.output}: {what}; {self.frames_in} -> {self.frames_out} frames. {metrics}"


class ClipFrames:
    """A video file as a re-iterable of ``uint8 [H, W, 3]`` RGB frames (each ``iter`` decodes
    it again), for the two-pass frame functions such as
    :func:`tasks.stabilize.stabilize_frames`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __iter__(self) -> Iterator[np.ndarray]:
        return read_frames(self.path)


@dataclass
class ClipPlan:
    """Pass 1's outcome for one clip: what pass 2 will do to it, and its "before" metrics."""

    source: Path
    info: VideoInfo
    analysis: ClipAnalysis
    before: ClipMetrics
    shake: ShakePlan | None
    flicker: FlickerPlan | None
    fps_out: Fraction

    @property
    def changes_frames(self) -> bool:
        """False when pass 2 would give back the clip's own frames."""
        return self.shake is not None or self.flicker is not None or self.fps_out != self.info.fps


def plan_clip(src: Path, *, target_fps: int | float | Fraction | None = None,
              options: StabilizeOptions = StabilizeOptions(),
              observe: Callable[[np.ndarray], None] | None = None) -> ClipPlan:
    """Pass 1: analyse ``src`` and decide shake, flicker and frame rate (nothing is decoded at
    full size). ``observe`` sees every scaled-down analysis frame (colour statistics)."""
    src = Path(src)
    if target_fps is not None and float(target_fps) <= 0:
        raise ConfigError(f"target_fps must be a positive frame rate, got {target_fps}")
    info = probe(src)
    analysis = analyse_clip(src, options.shake.motion, info=info, observe=observe)
    if analysis.frames != info.frames:
        raise MediaError(f"{src}: analysis decoded {analysis.frames} frames, probe counted "
                         f"{info.frames}; re-encode the clip and try again")
    shake = plan_shake(analysis, options.shake) if options.correct_shake else None
    flicker = plan_deflicker(analysis, options.flicker) if options.correct_flicker else None
    fps_out = (Fraction(target_fps).limit_denominator(1001) if target_fps is not None
               else info.fps)
    return ClipPlan(source=src, info=info, analysis=analysis, before=clip_metrics(analysis),
                    shake=shake if shake is not None and shake.apply else None,
                    flicker=flicker if flicker is not None and flicker.apply else None,
                    fps_out=fps_out)


def plan_frames(plan: ClipPlan, options: StabilizeOptions = StabilizeOptions()
                ) -> Iterator[np.ndarray]:
    """Pass 2 without the encoder: the clip's ``uint8 [H, W, 3]`` RGB frames with the plan's
    level tables, shake warp and re-timing applied, decoded and corrected in their own threads
    (bounded by ``options.prefetch`` frames each)."""
    frames = corrected_frames(plan.source, plan.analysis, plan.shake, plan.flicker,
                              prefetch_depth=options.prefetch)
    if plan.fps_out != plan.info.fps:
        frames = interpolate_fps(frames, plan.info.fps, plan.fps_out, cuts=plan.analysis.cuts,
                                 options=options.interpolate)
    return prefetch(frames, options.prefetch)


def stabilize_clip(src: Path, dst: Path | None, *,
                   target_fps: int | float | Fraction | None = None,
                   options: StabilizeOptions = StabilizeOptions(),
                   colour_reference: ColourStats | None = None) -> StabilizeReport:
    """Steady one clip: ``src`` video in, ``dst`` H.264 MP4 out, with a report.

    ``target_fps`` (e.g. 24 or 30) re-times the clip by motion-compensated interpolation;
    None keeps the input's rate. A clip with no measurable shake or flicker and no rate change
    is copied unchanged (bit-identical). Audio, if any, is carried over untouched. ``dst``
    None is a dry run: every pass runs but nothing is encoded or written (``after`` is None).
    ``colour_reference`` also matches the clip's colour to it (:mod:`tasks.grade`), in the
    same pass, measured on the same analysis frames.
    """
    from tasks.grade import ColourTable, StatsAccumulator, fit_correction

    started = time.perf_counter()
    src, dst = Path(src), (Path(dst) if dst is not None else None)
    stats = StatsAccumulator() if colour_reference is not None else None
    plan = plan_clip(src, target_fps=target_fps, options=options,
                     observe=stats.add if stats is not None else None)
    info, before = plan.info, plan.before
    grade, colour = None, {}
    if stats is not None:
        measured = stats.result()
        correction = fit_correction(measured, colour_reference)
        grade = ColourTable.build(correction)
        colour = {"before": measured.to_dict(), "reference": colour_reference.to_dict(),
                  "correction": correction.to_dict()}
    if not plan.changes_frames and grade is None:
        if dst is not None:
            _copy(src, dst)
        return StabilizeReport(
            source=str(src), output=str(dst or ""), before=before, after=before,
            shake_corrected=False, flicker_corrected=False, copied=True, zoom=1.0,
            fps_in=float(info.fps), fps_out=float(info.fps), frames_in=info.frames,
            frames_out=info.frames, seconds=time.perf_counter() - started, colour=colour)

    frames_out = _render(plan, dst, options, grade)
    after = None
    if options.measure_after and dst is not None:
        transforms = plan.shake.matrices() if plan.shake is not None else None
        after = clip_metrics(analyse_clip(dst, options.shake.motion), transforms)
    report = StabilizeReport(
        source=str(src), output=str(dst or ""), before=before, after=after,
        shake_corrected=plan.shake is not None, flicker_corrected=plan.flicker is not None,
        copied=False, zoom=plan.shake.zoom if plan.shake is not None else 1.0,
        fps_in=float(info.fps), fps_out=float(plan.fps_out), frames_in=info.frames,
        frames_out=frames_out, seconds=time.perf_counter() - started, colour=colour)
    log.info("%s", report.summary())
    return report


def corrected_frames(src: Path, analysis: ClipAnalysis, shake: ShakePlan | None,
                     flicker: FlickerPlan | None, *, prefetch_depth: int = 4
                     ) -> Iterator[np.ndarray]:
    """Pass 2 before re-timing: ``src``'s full ``uint8 [H, W, 3]`` RGB frames, decoded
    ``prefetch_depth`` ahead in a background thread, each with its level table and shake warp
    applied."""
    matrices = shake.matrices() if shake is not None else None
    frames = _checked(prefetch(read_frames(src), prefetch_depth), analysis.frames, src)
    for index, frame in enumerate(frames):
        if flicker is not None:
            frame = apply_table(frame, flicker.table(index))
        if matrices is not None:
            frame = warp_frame(frame, matrices[index])
        yield frame


def _warped_i420(src: Path, size: tuple[int, int], analysis: ClipAnalysis, shake: ShakePlan,
                 prefetch_depth: int) -> Iterator[np.ndarray]:
    """Pass 2 when only shake is corrected: flat I420 frames, warped plane by plane."""
    matrices = shake.matrices()
    decoded = read_frames(src, pix_fmt="yuv420p")
    frames = _checked(prefetch(decoded, prefetch_depth), analysis.frames, src)
    for index, frame in enumerate(frames):
        yield warp_i420(frame, matrices[index], size)


def _checked(frames: Iterator[np.ndarray], expected: int, src: Path) -> Iterator[np.ndarray]:
    """Pass the frames on, insisting on the frame count the analysis pass saw."""
    count = 0
    for frame in frames:
        count += 1
        if count > expected:
            raise MediaError(f"{src}: more frames on the second read than the first "
                             f"({expected}); the file changed while stabilizing")
        yield frame
    if count != expected:
        raise MediaError(f"{src}: {count} frames on the second read, {expected} on the first; "
                         f"the file changed while stabilizing")


def _render(plan: ClipPlan, dst: Path | None, options: StabilizeOptions,
            grade: ColourTable | None = None) -> int:
    """Pass 2: decode, correct, re-time, grade and encode; returns the number of frames written.

    Four stages overlap, each bounded by ``options.prefetch`` frames: ffmpeg decoding (its own
    process, read by a thread), correcting (a thread; OpenCV releases the GIL), writing to the
    encoder's pipe (this thread) and x264 (its own process and threads). Wall time then
    approaches the slowest of them rather than their sum. ``dst`` None does all of it but the
    encoding (the benchmark's "work" measurement).
    """
    info = plan.info
    pix_fmt = "rgb24"
    if plan.shake is not None and plan.flicker is None and plan.fps_out == info.fps \
            and grade is None:
        # Shake alone: stay in the video's yuv420p from decoder to encoder (see yuv.py).
        frames = prefetch(_warped_i420(plan.source, info.size, plan.analysis, plan.shake,
                                       options.prefetch), options.prefetch)
        pix_fmt = "yuv420p"
    else:
        frames = plan_frames(plan, options)
        if grade is not None:
            frames = prefetch((grade.apply(frame) for frame in frames), options.prefetch)
    if dst is None:
        return sum(1 for _ in frames)
    src = plan.source
    tags = {k: v for k, v in read_tags(src).items() if k not in _OWN_TAGS}
    video_only = dst.with_name(f".{dst.name}.video.mp4") if _has_audio(src) else dst
    with FrameWriter(video_only, fps=plan.fps_out, size=info.size, crf=options.crf,
                     preset=options.preset, metadata=tags, pix_fmt=pix_fmt) as writer:
        for frame in frames:
            writer.write(frame)
    if video_only != dst:
        _mux_audio(video_only, src, dst)
    return writer.frames_written


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (a temporary name, then a rename)."""
    if src.resolve() == dst.resolve():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.partial")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _has_audio(path: Path) -> bool:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                          capture_output=True, text=True, errors="replace")
    return any("Audio:" in line and "Stream #" in line for line in proc.stderr.splitlines())


def _mux_audio(video: Path, source: Path, dst: Path) -> None:
    """Put ``source``'s audio beside ``video``'s picture in ``dst`` (no re-encoding)."""
    tmp = dst.with_name(f".{dst.name}.mux.mp4")
    try:
        run_ffmpeg(["-i", str(video), "-i", str(source), "-map", "0:v:0", "-map", "1:a",
                    "-c", "copy", "-movflags", "+faststart", str(tmp)],
                   what=f"{dst}: carrying the audio over")
        os.replace(tmp, dst)
    finally:
        video.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
