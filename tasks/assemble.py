"""Assembling shots into the master render: the campaign's shot sequence, locale-free.

The master is what every locale's clip starts from. It is written losslessly so that adding a
locale later, from the stored master, gives the same pixels as the first run. Shots come in as
frame streams (:class:`Part`), so whatever a shot's frames go through on their way (the shake
warp, re-timing, the grade) happens in this one pass, with no file in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from common.errors import MediaError
from media.video import FrameWriter, probe, read_frames


@dataclass(frozen=True)
class ShotTiming:
    """Where a shot sits on the master's timeline (seconds)."""

    shot_id: str
    start: float
    end: float
    frames: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Part:
    """One shot of the master: its frames (opened when its turn comes), size and rate."""

    shot_id: str
    size: tuple[int, int]
    fps: Fraction
    frames: Callable[[], Iterable[np.ndarray]]

    @classmethod
    def of_file(cls, shot_id: str, path: Path) -> Part:
        info = probe(path)
        return cls(shot_id, info.size, info.fps, lambda: read_frames(path))


def assemble_master(parts: list[Part | tuple[str, Path]], out: Path) -> list[ShotTiming]:
    """Concatenate shots (same size and frame rate) into ``out``; return their timings.

    A part may also be ``(shot_id, path)`` of a clip file."""
    if not parts:
        raise MediaError(f"{out}: no shots to assemble")
    parts = [p if isinstance(p, Part) else Part.of_file(*p) for p in parts]
    first = parts[0]
    for part in parts[1:]:
        if part.size != first.size or part.fps != first.fps:
            raise MediaError(f"shot {part.shot_id} is {part.size[0]}x{part.size[1]} at "
                             f"{part.fps} fps; the master is {first.size[0]}x{first.size[1]} "
                             f"at {first.fps} fps")
    timings: list[ShotTiming] = []
    fps = Fraction(first.fps)
    with FrameWriter(out, fps=fps, size=first.size, lossless=True) as writer:
        for part in parts:
            start = writer.frames_written
            for frame in part.frames():
                writer.write(frame)
            n = writer.frames_written - start
            timings.append(ShotTiming(part.shot_id, float(start / fps),
                                      float((start + n) / fps), n))
    return timings
