"""Prefect wrappers of the subtitle stage (a few lines each; the work is in the plain functions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect import task

from tasks.subtitles import (
    Cue, ShotCaptions, SubtitleStyle, build_cues, burn_subtitles, mux_soft_subtitles,
    write_sidecars,
)


@task(name="subtitle-cues")
def build_cues_task(shots: Sequence[ShotCaptions], locale: str) -> list[Cue]:
    return build_cues(shots, locale=locale)


@task(name="subtitle-files")
def write_sidecars_task(cues: Sequence[Cue], locale: str, out_stem: Path, style: SubtitleStyle,
                        frame_size: tuple[int, int]) -> dict[str, Path]:
    return write_sidecars(cues, locale=locale, out_stem=out_stem, style=style,
                          frame_size=frame_size)


@task(name="subtitle-burn-in")
def burn_subtitles_task(src: Path, ass_path: Path, dst: Path, fonts_dir: Path) -> Path:
    return burn_subtitles(src, ass_path, dst, fonts_dir=fonts_dir)


@task(name="subtitle-soft-tracks")
def mux_soft_subtitles_task(src: Path, dst: Path, tracks: dict[str, Path]) -> Path:
    return mux_soft_subtitles(src, dst, tracks)
