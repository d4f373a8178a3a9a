"""Subtitles into the MP4: burned into the picture (libass) or as soft ``mov_text`` tracks.

Both run the ffmpeg that imageio-ffmpeg ships (libass with HarfBuzz and FriBidi: complex shaping
and right-to-left layout). Outputs are written under a temporary name and renamed when ffmpeg
succeeds, so a failed run never leaves a half-written clip under the final name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ConfigError, MediaError, MissingGlyphsError
from media.fonts import fontconfig_file
from media.locales import iso639_2, rules_for, split_locale
from media.video import DEFAULT_CRF, DEFAULT_PRESET, ffmpeg_exe, probe
from tasks.subtitles.files import read_srt, srt_text


@dataclass(frozen=True)
class BurnOptions:
    """Encoder settings for the burned-in clip (same defaults as media.video.FrameWriter)."""

    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    require_glyphs: bool = True  # a caption character no font can draw is an error, not a tofu box


_NO_FALLBACK = re.compile(r"failed to find any fallback with glyph 0x([0-9A-Fa-f]+)")


def _partial(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.partial.mp4")


def _run(args: list[str], *, what: str, dst: Path, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> str:
    tmp = _partial(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args, str(tmp)],
                          capture_output=True, text=True, errors="replace", cwd=cwd, env=env)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        raise MediaError(f"{what}: ffmpeg failed: {last[0].strip()}")
    return proc.stderr


def _check_input(path: Path, what: str) -> Path:
    path = Path(path).resolve()
    if not path.is_file():
        raise MediaError(f"{what}: no such file {path}")
    return path


def burn_subtitles(src: Path, ass_path: Path, dst: Path, *, fonts_dir: Path,
                   options: BurnOptions = BurnOptions()) -> Path:
    """Draw the cues of ``ass_path`` into the picture of ``src``; write H.264 MP4 ``dst``.

    Audio is copied. Fonts come only from ``fonts_dir`` (see :mod:`media.fonts`).
    Raises MissingGlyphsError naming the characters when no font there covers them.
    """
    src, ass_path = _check_input(src, "burn-in video"), _check_input(ass_path, "burn-in cues")
    dst = Path(dst).resolve()
    conf = fontconfig_file(Path(fonts_dir))
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    env.pop("FONTCONFIG_PATH", None)
    with tempfile.TemporaryDirectory(prefix="cf-burn-") as work:
        # The filter graph has its own quoting rules for ':' '\\' ',' '[' in paths: a plain name
        # in ffmpeg's working folder sidesteps them for every path a user may have.
        shutil.copyfile(ass_path, Path(work) / "captions.ass")
        log = _run(["-loglevel", "info", "-i", str(src), "-map", "0:v:0", "-map", "0:a?",
                    "-vf", "subtitles=filename=captions.ass",
                    "-c:v", "libx264", "-preset", options.preset, "-crf", str(options.crf),
                    "-pix_fmt", "yuv420p", "-c:a", "copy", "-map_metadata", "0",
                    "-movflags", "+faststart"],
                   what=f"burn-in of {ass_path.name} into {src.name}", dst=dst, cwd=Path(work),
                   env=env)
    missing = _missing(log)
    if missing and options.require_glyphs:
        _partial(dst).unlink(missing_ok=True)
        chars = ", ".join(f"U+{cp:04X} {chr(cp)!r}" for cp in missing[:12])
        raise MissingGlyphsError(f"burn-in of {ass_path.name}: no font in {fonts_dir} can draw "
                                 f"{chars}; run `make fonts` or add a font covering them there")
    os.replace(_partial(dst), dst)
    return dst


def _missing(log: str) -> list[int]:
    """Code points libass found no font for (format characters it may skip are fine)."""
    return sorted({int(h, 16) for h in _NO_FALLBACK.findall(log)}
                  - {cp for cp in range(0x2000, 0x2070) if unicodedata.category(chr(cp)) == "Cf"})


def burned_frames(src: Path, ass_path: Path, *, fonts_dir: Path,
                  require_glyphs: bool = True) -> Iterator[np.ndarray]:
    """``src``'s ``uint8 [H, W, 3]`` RGB frames with the cues of ``ass_path`` drawn in by
    libass while ffmpeg decodes, for a stage that encodes them itself (one encode, not two).

    Raises MissingGlyphsError after the last frame when no font in ``fonts_dir`` covers some
    caption characters (a caller writing a file discards it then)."""
    src, ass_path = _check_input(src, "burn-in video"), _check_input(ass_path, "burn-in cues")
    conf = fontconfig_file(Path(fonts_dir))
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    env.pop("FONTCONFIG_PATH", None)
    width, height = probe(src).size
    with tempfile.TemporaryDirectory(prefix="cf-burn-") as work:
        shutil.copyfile(ass_path, Path(work) / "captions.ass")  # see burn_subtitles: quoting
        log_path = Path(work) / "ffmpeg.log"
        with open(log_path, "w+", encoding="utf-8", errors="replace") as log:
            proc = subprocess.Popen(
                [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info", "-i", str(src),
                 "-map", "0:v:0", "-vf", "subtitles=filename=captions.ass", "-f", "rawvideo",
                 "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE, stderr=log, cwd=work, env=env)
            size = width * height * 3
            try:
                while True:
                    raw = proc.stdout.read(size)
                    if len(raw) < size:
                        break
                    yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            finally:
                proc.stdout.close()
                if proc.poll() is None:
                    proc.kill()
                code = proc.wait()
            log.seek(0)
            text = log.read()
    if code != 0:
        last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        raise MediaError(f"burn-in of {ass_path.name} into {src.name}: ffmpeg failed: "
                         f"{last[0].strip()}")
    missing = _missing(text)
    if missing and require_glyphs:
        chars = ", ".join(f"U+{cp:04X} {chr(cp)!r}" for cp in missing[:12])
        raise MissingGlyphsError(f"burn-in of {ass_path.name}: no font in {fonts_dir} can draw "
                                 f"{chars}; run `make fonts` or add a font covering them there")


def mux_soft_subtitles(src: Path, dst: Path, tracks: dict[str, Path]) -> Path:
    """Copy ``src`` to ``dst`` with one ``mov_text`` subtitle track per locale.

    ``tracks`` maps a locale to an SRT file. Each track is tagged with its ISO 639-2 language
    (``zh-CN`` -> ``chi``) and named (handler name) with the full locale (``zh-CN`` vs ``zh-TW``).
    Video and
    audio are copied, subtitle tracks already in ``src`` are replaced, faststart is set. The SRT
    text is read literally and re-escaped, so tags typed in a cue file stay text.
    """
    src, dst = _check_input(src, "soft subtitles video"), Path(dst).resolve()
    if not tracks:
        raise ConfigError(f"soft subtitles for {src.name}: no tracks given (locale -> .srt)")
    args = ["-loglevel", "error", "-i", str(src)]
    meta: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cf-mux-") as work:
        for i, (locale, srt) in enumerate(tracks.items()):
            split_locale(locale)  # a malformed locale is a ConfigError before ffmpeg runs
            cues = read_srt(_check_input(srt, f"subtitle track {locale}"))
            safe = Path(work) / f"{i}.srt"
            safe.write_text(srt_text(cues, rtl=rules_for(locale).rtl), encoding="utf-8")
            args += ["-f", "srt", "-i", str(safe)]
            meta += [f"-metadata:s:s:{i}", f"language={iso639_2(locale)}",
                     f"-metadata:s:s:{i}", f"handler_name={locale}"]
        maps = ["-map", "0:v", "-map", "0:a?"]
        for i in range(len(tracks)):
            maps += ["-map", f"{i + 1}:0"]
        _run([*args, *maps, "-c:v", "copy", "-c:a", "copy", "-c:s", "mov_text", *meta,
              "-map_metadata", "0", "-movflags", "+faststart"],
             what=f"soft subtitles for {src.name}", dst=dst)
    os.replace(_partial(dst), dst)
    return dst
