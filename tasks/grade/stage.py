"""The grade over a campaign's shots, and over one file.

    GradeSettings.from_spec(spec, shots)   what the spec asks for (match, reference, look)
    decide_grades(settings, stats, order)  one Correction per shot (None: left as it is)
    CutMeter                               ΔE at every cut, before and after grading
    grade_clip(src, dst, ...)              a file graded (``content-factory grade``)

How a spec keeps colour on purpose: matching is one correction per shot, the same for all of its
frames, so anything that happens *inside* a shot survives it: a fade keeps its course (and its
dark frames are left out of the shot's statistics, so it is not taken for under-exposure), a
colour change within a shot stays a change. A shot that is meant to look different from the
others (a night scene, a flashback in sepia) says ``colour: keep`` in the script and is not
matched; the brand look still applies to it, since the look is the brand's, not the shot's.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from common.errors import ConfigError, MediaError
from media.video import (
    DEFAULT_CRF,
    DEFAULT_PRESET,
    FrameWriter,
    prefetch,
    probe,
    read_frames,
    read_scaled_frames,
    run_ffmpeg,
)
from tasks.grade.cube import Lut3D, load_cube
from tasks.grade.lab import STATS_WIDTH, delta_e, rgb_to_lab, small
from tasks.grade.match import ColourStats, Correction, MatchBounds, fit_correction, frame_stats
from tasks.grade.table import ColourTable

HERO = "hero"
CUT_FRAMES = 3  # frames either side of a cut that the colour jump is measured over


@dataclass(frozen=True)
class GradeSettings:
    """A campaign's grade: matching (to ``reference``, at ``strength``) and the brand look."""

    match: bool = True
    reference: str = HERO           # "hero", a shot id, or an image path
    strength: float = 1.0
    look: Path | None = None
    look_strength: float = 1.0
    keep: frozenset[str] = frozenset()  # shots with ``colour: keep``
    bounds: MatchBounds = MatchBounds()

    @classmethod
    def from_spec(cls, spec, shots) -> GradeSettings:
        """From a :class:`tasks.spec.CampaignSpec` and its shots."""
        return cls(match=spec.colour.match and spec.colour.strength > 0,
                   reference=spec.colour.reference, strength=spec.colour.strength,
                   look=spec.brand.look, look_strength=spec.brand.look_strength,
                   keep=frozenset(s.id for s in shots if s.colour == "keep"))

    @property
    def active(self) -> bool:
        return self.match or (self.look is not None and self.look_strength > 0)

    def fingerprint(self) -> dict:
        """What decides the graded pixels (files by their bytes): for the master's key."""
        reference = self.reference
        if is_image_reference(reference):
            reference = "image:" + _sha256(Path(reference))
        return {"match": self.match, "reference": reference, "strength": self.strength,
                "look": _sha256(self.look) if self.look else None,
                "look_strength": self.look_strength, "keep": sorted(self.keep),
                "bounds": [self.bounds.exposure_stops, self.bounds.balance_stops,
                           self.bounds.saturation]}

    def load_look(self) -> Lut3D | None:
        if self.look is None or self.look_strength <= 0:
            return None
        return load_cube(self.look, field="brand.look")


def is_image_reference(reference: str) -> bool:
    from tasks.spec import IMAGE_SUFFIXES

    return reference.lower().endswith(IMAGE_SUFFIXES)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def image_stats(path: str | os.PathLike) -> ColourStats:
    """:class:`ColourStats` of a reference image (or the frames of a reference video)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"colour reference {path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is not None:
        return frame_stats([cv2.cvtColor(image, cv2.COLOR_BGR2RGB)])
    info = probe(path)  # not an image: a video (MediaError when it is neither)
    width = min(info.width, 2 * STATS_WIDTH)
    size = (width, max(2, round(info.height * width / info.width / 2) * 2))
    return frame_stats(read_scaled_frames(path, size))


@dataclass(frozen=True)
class ShotGrade:
    """What the grade does to one shot."""

    shot_id: str
    correction: Correction | None   # None: not matched (the reference itself, kept, or off)
    reason: str                     # "matched", "reference", "keep", "off"
    stats: ColourStats | None = None

    def to_dict(self) -> dict:
        return {"shot": self.shot_id, "grade": self.reason,
                **({"correction": self.correction.to_dict()} if self.correction else {}),
                **({"stats": self.stats.to_dict()} if self.stats else {})}


def reference_shot(settings: GradeSettings, order: list[str]) -> str | None:
    """The shot the others are matched to (None when the reference is an image)."""
    if is_image_reference(settings.reference):
        return None
    if settings.reference == HERO:
        return HERO if HERO in order else order[0]
    return settings.reference


def decide_grades(settings: GradeSettings, stats: Mapping[str, ColourStats],
                  order: list[str]) -> dict[str, ShotGrade]:
    """One :class:`ShotGrade` per shot in ``order`` (shot ids), from their statistics."""
    if not settings.match:
        return {sid: ShotGrade(sid, None, "off", stats.get(sid)) for sid in order}
    ref_id = reference_shot(settings, order)
    if ref_id is None:
        reference = image_stats(settings.reference)
    elif ref_id in stats:
        reference = stats[ref_id]
    else:
        raise ConfigError(f"colour.reference: shot {ref_id!r} is not in this campaign "
                          f"({', '.join(order)})")
    grades = {}
    for sid in order:
        if sid == ref_id:
            grades[sid] = ShotGrade(sid, None, "reference", stats[sid])
        elif sid in settings.keep:
            grades[sid] = ShotGrade(sid, None, "keep", stats[sid])
        else:
            correction = fit_correction(stats[sid], reference, bounds=settings.bounds,
                                        strength=settings.strength)
            grades[sid] = ShotGrade(sid, None if correction.is_identity else correction,
                                    "matched", stats[sid])
    return grades


class CutMeter:
    """The colour jump at each cut: ΔE (CIEDE2000) between the mean L*a*b* of a shot's last
    ``frames`` frames and of the next shot's first ``frames``, before and after grading.

    Feed every frame with :meth:`add` after naming its shot with :meth:`shot`. Memory: twice
    ``frames`` small copies per side, whatever the length."""

    def __init__(self, frames: int = CUT_FRAMES) -> None:
        self.frames = frames
        self._shots: list[str] = []
        self._first: list[tuple[list, list]] = []   # per shot: (before, after) small frames
        self._last: list[tuple[np.ndarray, np.ndarray]] = []  # per shot: mean Lab, closed
        self._tail: deque = deque(maxlen=frames)

    def shot(self, shot_id: str) -> None:
        self._close()
        self._shots.append(shot_id)
        self._first.append(([], []))

    def add(self, before: np.ndarray, after: np.ndarray) -> None:
        pair = (small(before), small(after) if after is not before else None)
        first = self._first[-1]
        if len(first[0]) < self.frames:
            first[0].append(pair[0])
            first[1].append(pair[1] if pair[1] is not None else pair[0])
        self._tail.append(pair)

    def _close(self) -> None:
        if self._tail:
            before = [p[0] for p in self._tail]
            after = [p[1] if p[1] is not None else p[0] for p in self._tail]
            self._last.append((_mean_lab(before), _mean_lab(after)))
            self._tail.clear()

    def cuts(self) -> list[dict]:
        """``[{"from", "to", "before", "after"}]``, one per cut, ΔE rounded to 0.01."""
        self._close()
        out = []
        for k in range(len(self._shots) - 1):
            first_before, first_after = self._first[k + 1]
            last_before, last_after = self._last[k]
            out.append({"from": self._shots[k], "to": self._shots[k + 1],
                        "before": round(float(delta_e(last_before, _mean_lab(first_before))), 2),
                        "after": round(float(delta_e(last_after, _mean_lab(first_after))), 2)})
        return out


def _mean_lab(frames: list[np.ndarray]) -> np.ndarray:
    return np.mean([rgb_to_lab(f).reshape(-1, 3).mean(axis=0) for f in frames], axis=0)


def cut_summary(cuts: list[dict]) -> dict:
    """Mean and largest ΔE at the cuts, before and after."""
    if not cuts:
        return {"cuts": 0}
    before, after = [c["before"] for c in cuts], [c["after"] for c in cuts]
    return {"cuts": len(cuts), "mean_before": round(float(np.mean(before)), 2),
            "mean_after": round(float(np.mean(after)), 2), "max_before": max(before),
            "max_after": max(after)}


@dataclass(frozen=True)
class GradeReport:
    source: str
    output: str
    frames: int
    correction: dict = field(default_factory=dict)
    look: str | None = None
    look_strength: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"source": self.source, "output": self.output, "frames": self.frames,
                "correction": self.correction, "look": self.look,
                "look_strength": self.look_strength, "seconds": round(self.seconds, 3)}


def grade_clip(src: Path, dst: Path, *, look: Lut3D | None = None, strength: float = 1.0,
               reference: ColourStats | None = None, crf: int = DEFAULT_CRF,
               preset: str = DEFAULT_PRESET, prefetch_depth: int = 4) -> GradeReport:
    """Write ``dst``: ``src`` matched to ``reference`` (if given), then through ``look`` at
    ``strength``. One decode and one encode; decoding, grading and encoding overlap. Audio is
    copied. A grade that changes nothing still re-encodes (use the source as it is instead)."""
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    info = probe(src)
    correction = None
    if reference is not None:
        width = min(info.width, 2 * STATS_WIDTH)
        size = (width, max(2, round(info.height * width / info.width / 2) * 2))
        correction = fit_correction(frame_stats(read_scaled_frames(src, size)), reference)
    table = ColourTable.build(correction, look, strength)
    frames: Iterable[np.ndarray] = prefetch(read_frames(src), prefetch_depth)
    if table is not None:
        frames = prefetch((table.apply(f) for f in frames), prefetch_depth)
    video_only = dst.with_name(f".{dst.name}.video.mp4")
    try:
        with FrameWriter(video_only, fps=info.fps, size=info.size, crf=crf,
                         preset=preset) as writer:
            for frame in frames:
                writer.write(frame)
        if writer.frames_written != info.frames:
            raise MediaError(f"{src}: decoded {writer.frames_written} frames, expected "
                             f"{info.frames}")
        tmp = dst.with_name(f".{dst.name}.mux.mp4")
        run_ffmpeg(["-i", str(video_only), "-i", str(src), "-map", "0:v:0", "-map", "1:a?",
                    "-c", "copy", "-movflags", "+faststart", str(tmp)],
                   what=f"{dst}: carrying the audio over")
        os.replace(tmp, dst)
    finally:
        video_only.unlink(missing_ok=True)
    return GradeReport(source=str(src), output=str(dst), frames=writer.frames_written,
                       correction=correction.to_dict() if correction else {},
                       look=look.source if look else None,
                       look_strength=strength if look else 0.0,
                       seconds=time.perf_counter() - started)
