"""Subtitle files per locale: styled ASS for burn-in, SRT and WebVTT sidecars.

Files are named after the clip and the locale: ``clip.zh-CN.ass``, ``clip.zh-CN.srt``,
``clip.zh-CN.vtt``. Each format gets its own escaping (:mod:`tasks.subtitles.sanitize`) so a
caption is shown as written everywhere. Lines of right-to-left locales start with a
RIGHT-TO-LEFT MARK: it makes renderers that guess the paragraph direction from the first strong
character (WebVTT, most SRT players, libass with ``Encoding: -1``) lay out a line that opens
with a Latin brand name right to left, without reordering anything.

The readers (:func:`read_srt`, :func:`read_vtt`, :func:`read_ass`) undo exactly that escaping;
they exist for round-trip checks and for cue files written by this module or by people.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pysubs2

from common.errors import MediaError, SpecError
from media.locales import rules_for
from tasks.subtitles.cues import Cue
from tasks.subtitles.sanitize import (
    ass_escape,
    ass_unescape,
    srt_escape,
    srt_unescape,
    vtt_escape,
    vtt_unescape,
)
from tasks.subtitles.style import SubtitleStyle

RLM = "\u200f"
STYLE_NAME = "Caption"


def sidecar_path(out_stem: Path, locale: str, ext: str) -> Path:
    """``.../clip`` + ``zh-CN`` + ``srt`` -> ``.../clip.zh-CN.srt``."""
    out_stem = Path(out_stem)
    return out_stem.with_name(f"{out_stem.name}.{locale}.{ext}")


def _atomic_write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)
    return path


def _display_lines(cue: Cue, rtl: bool) -> list[str]:
    return [RLM + line if rtl and not line.startswith(RLM) else line for line in cue.lines]


def _strip_rlm(line: str) -> str:
    return line[1:] if line.startswith(RLM) else line


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_text(cues: Sequence[Cue], *, rtl: bool = False) -> str:
    blocks = []
    for i, cue in enumerate(cues, 1):
        lines = [srt_escape(line) for line in _display_lines(cue, rtl)]
        blocks.append(f"{i}\n{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}\n"
                      + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def vtt_text(cues: Sequence[Cue], *, rtl: bool = False) -> str:
    blocks = ["WEBVTT\n"]
    for cue in cues:
        lines = [vtt_escape(line) for line in _display_lines(cue, rtl)]
        blocks.append(f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n"
                      + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def _ass_color(rgb: tuple[int, int, int], alpha: int = 0) -> pysubs2.Color:
    return pysubs2.Color(rgb[0], rgb[1], rgb[2], alpha)


def ass_file(cues: Sequence[Cue], *, locale: str, style: SubtitleStyle,
             frame_size: tuple[int, int]) -> pysubs2.SSAFile:
    """An ASS script whose coordinates are the frame's pixels (PlayRes = frame size)."""
    width, height = frame_size
    scale = height / style.frame_height  # a style made for another height scales with the frame
    rtl = rules_for(locale).rtl
    subs = pysubs2.SSAFile()
    subs.info.update({
        "Title": f"captions {locale}",
        "PlayResX": str(width), "PlayResY": str(height),
        "WrapStyle": "0",                 # our breaks are \N; smart wrap only if a line overflows
        "ScaledBorderAndShadow": "yes",   # outline in script pixels = frame pixels
        "Language": locale,               # libass passes it to HarfBuzz (locale-specific forms)
    })
    margin_h = round(width * style.margin_h_ratio)
    margin_l = margin_h if style.margin_l_px is None else round(style.margin_l_px * scale)
    margin_r = margin_h if style.margin_r_px is None else round(style.margin_r_px * scale)
    subs.styles = {STYLE_NAME: pysubs2.SSAStyle(
        fontname=style.font_for(locale), fontsize=round(style.font_px * scale),
        primarycolor=_ass_color(style.text_color), secondarycolor=_ass_color(style.text_color),
        outlinecolor=_ass_color(style.outline_color),
        backcolor=_ass_color(style.shadow_color, style.shadow_alpha),
        bold=style.bold, outline=round(style.outline_px * scale, 1),
        shadow=round(style.shadow_px * scale, 1), borderstyle=1,
        alignment=pysubs2.Alignment.BOTTOM_CENTER, marginl=margin_l, marginr=margin_r,
        marginv=round(style.margin_v_px * scale),
        # -1: libass picks each line's base direction from its text (with the RLM: right to left);
        # any other value forces left to right, which misplaces punctuation in Arabic and Hebrew.
        encoding=-1 if rtl else 1,
    )}
    for cue in cues:
        text = "\\N".join(ass_escape(line) for line in _display_lines(cue, rtl))
        subs.events.append(pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000),
                                            text=text, style=STYLE_NAME))
    return subs


def write_sidecars(cues: Sequence[Cue], *, locale: str, out_stem: Path, style: SubtitleStyle,
                   frame_size: tuple[int, int]) -> dict[str, Path]:
    """Write ``<out_stem>.<locale>.{ass,srt,vtt}``; returns ``{"ass": ..., "srt": ..., "vtt": ...}``."""
    rtl = rules_for(locale).rtl
    ass_path = sidecar_path(out_stem, locale, "ass")
    return {
        "ass": _atomic_write(ass_path, ass_file(cues, locale=locale, style=style,
                                                frame_size=frame_size).to_string("ass")),
        "srt": _atomic_write(sidecar_path(out_stem, locale, "srt"), srt_text(cues, rtl=rtl)),
        "vtt": _atomic_write(sidecar_path(out_stem, locale, "vtt"), vtt_text(cues, rtl=rtl)),
    }


_TIMING = re.compile(r"^\s*(\d+):(\d{2}):(\d{2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{2}):(\d{2})[,.](\d{1,3})")
_VTT_TIMING = re.compile(r"^\s*(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})\s*-->"
                         r"\s*(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})")


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: cannot read subtitle file ({exc})") from exc


def read_srt(path: Path) -> list[Cue]:
    """Cues of a SubRip file, text taken literally (tags are not interpreted)."""
    cues = []
    for n, block in enumerate(re.split(r"\r?\n\s*\r?\n", _read_text(path).strip()), 1):
        lines = block.splitlines()
        at = next((i for i, line in enumerate(lines) if _TIMING.match(line)), None)
        if at is None:
            if block.strip():
                raise SpecError(f"cue {n} has no 'HH:MM:SS,mmm --> HH:MM:SS,mmm' line",
                                file=str(path))
            continue
        g = _TIMING.match(lines[at]).groups()
        cues.append(Cue(start=_seconds(*g[:4]), end=_seconds(*g[4:]), shot_id=f"cue {n}",
                        lines=tuple(_strip_rlm(srt_unescape(line)) for line in lines[at + 1:])))
    return cues


def read_vtt(path: Path) -> list[Cue]:
    """Cues of a WebVTT file, character references decoded."""
    text = _read_text(path)
    if not text.startswith("WEBVTT"):
        raise SpecError("not a WebVTT file (first line must be WEBVTT)", file=str(path))
    cues = []
    for block in re.split(r"\r?\n\s*\r?\n", text.strip())[1:]:
        lines = block.splitlines()
        at = next((i for i, line in enumerate(lines) if _VTT_TIMING.match(line)), None)
        if at is None:
            continue  # NOTE / STYLE / REGION blocks
        g = _VTT_TIMING.match(lines[at]).groups()
        cues.append(Cue(start=_seconds(*g[:4]), end=_seconds(*g[4:]), shot_id=f"cue {len(cues) + 1}",
                        lines=tuple(_strip_rlm(vtt_unescape(line)) for line in lines[at + 1:])))
    return cues


def read_ass(path: Path) -> list[Cue]:
    """Cues of an ASS file written by :func:`write_sidecars`, captions unescaped."""
    subs = pysubs2.load(str(path), encoding="utf-8")
    return [Cue(start=ev.start / 1000, end=ev.end / 1000, shot_id=f"cue {i}",
                lines=tuple(_strip_rlm(line) for line in ass_unescape(ev.text).split("\n")))
            for i, ev in enumerate(subs.events, 1) if ev.type == "Dialogue"]
