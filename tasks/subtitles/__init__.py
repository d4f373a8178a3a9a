"""Subtitle stage: captions per shot and locale -> timed cues -> ASS/SRT/WebVTT -> MP4.

    shots = [ShotCaptions(shot_id="s1", start=0.0, end=4.0, lines=["..."]), ...]
    cues = build_cues(shots, locale="zh-CN")
    style = SubtitleStyle.from_brand(primary="#FF5A00", text="#FFFFFF", frame_height=720)
    paths = write_sidecars(cues, locale="zh-CN", out_stem=Path("out/clip"), style=style,
                           frame_size=(1280, 720))           # {"ass", "srt", "vtt"}
    burn_subtitles(Path("clip.mp4"), paths["ass"], Path("clip.zh-CN.mp4"),
                   fonts_dir=default_fonts_dir())            # media.fonts
    mux_soft_subtitles(Path("clip.mp4"), Path("clip.soft.mp4"), {"zh-CN": paths["srt"]})

Each locale's rules (line length, reading speed) come from :mod:`media.locales`.
"""

from tasks.subtitles.burn import BurnOptions, burn_subtitles, burned_frames, mux_soft_subtitles
from tasks.subtitles.cues import (
    Cue,
    ShotCaptions,
    build_cues,
    reading_seconds,
    seconds_to_read,
    with_call_to_action,
)
from tasks.subtitles.files import read_ass, read_srt, read_vtt, sidecar_path, write_sidecars
from tasks.subtitles.linebreak import kinsoku_violations, text_width, wrap_caption
from tasks.subtitles.sanitize import clean_caption
from tasks.subtitles.style import SubtitleStyle

__all__ = [
    "BurnOptions", "Cue", "ShotCaptions", "SubtitleStyle", "build_cues", "burn_subtitles",
    "burned_frames",
    "clean_caption", "kinsoku_violations", "mux_soft_subtitles", "read_ass", "read_srt",
    "read_vtt", "reading_seconds", "seconds_to_read", "sidecar_path", "text_width",
    "with_call_to_action", "wrap_caption", "write_sidecars",
]
