"""Assembling shots into the master render: the campaign's shot sequence, locale-free.

The master is what every locale's clip starts from. It is written losslessly so that adding a
locale later, from the stored master, gives the same pixels as the first run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

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


def assemble_master(parts: list[tuple[str, Path]], out: Path) -> list[ShotTiming]:
    """Concatenate shot clips (same size and frame rate) into ``out``; return their timings."""
    if not parts:
        raise MediaError(f"{out}: no shots to assemble")
    infos = [(shot_id, path, probe(path)) for shot_id, path in parts]
    first = infos[0][2]
    for shot_id, path, info in infos[1:]:
        if info.size != first.size or info.fps != first.fps:
            raise MediaError(f"shot {shot_id} ({path}) is {info.width}x{info.height} at "
                             f"{info.fps} fps; the master is {first.width}x{first.height} at "
                             f"{first.fps} fps")
    timings: list[ShotTiming] = []
    fps = Fraction(first.fps)
    with FrameWriter(out, fps=fps, size=first.size, lossless=True) as writer:
        for shot_id, path, _ in infos:
            start = writer.frames_written
            for frame in read_frames(path):
                writer.write(frame)
            n = writer.frames_written - start
            timings.append(ShotTiming(shot_id, float(start / fps), float((start + n) / fps), n))
    return timings
