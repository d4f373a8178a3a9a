"""Fonts: the project's font folder, which family a locale's captions use, and which font file
can draw a given text (for Pillow-drawn labels, end cards and storyboards).

``scripts/install-fonts.sh`` (run by ``make``) fills ``.fonts-cache/`` in the repository with
DejaVu Sans (Latin, Arabic, Hebrew) and WenQuanYi Micro Hei (Chinese, Japanese, Korean). libass
only falls back from one font to another through fontconfig, and its ``fontsdir`` option does not
take part in fallback (docs/reference/platform-facts.md), so the burn-in runs ffmpeg with ``FONTCONFIG_FILE``
pointing at a fonts.conf that lists this folder alone, with its own cache: nothing on the
system is read or changed.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import ImageFont, features

from common.errors import ConfigError
from media.locales import rules_for

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
FONTS_CONF = "fonts.conf"

# Families installed by scripts/install-fonts.sh into the project's font folder.
LATIN_FONT = "DejaVu Sans"           # Latin, Cyrillic, Greek, Arabic, Hebrew
CJK_FONT = "WenQuanYi Micro Hei"     # Chinese, Japanese, Korean (and its own Latin)
# Tried after the font folder when Pillow draws text: Debian's DejaVu and WenQuanYi files.
SYSTEM_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)


def default_fonts_dir() -> Path:
    """``<repository>/.fonts-cache``, where ``make fonts`` puts the subtitle fonts."""
    return Path(__file__).resolve().parents[1] / ".fonts-cache"


def font_files(fonts_dir: Path) -> list[Path]:
    """Font files in ``fonts_dir`` (links to system fonts count when their target exists)."""
    if not fonts_dir.is_dir():
        return []
    return sorted(p for p in fonts_dir.iterdir() if p.suffix.lower() in FONT_SUFFIXES and p.exists())


def fonts_conf_text(fonts_dir: Path) -> str:
    """A fonts.conf that makes fontconfig see ``fonts_dir`` and nothing else."""
    folder = escape(str(fonts_dir.resolve()))
    return ("<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"urn:fontconfig:fonts.dtd\">\n"
            "<fontconfig>\n"
            f"  <dir>{folder}</dir>\n"
            f"  <cachedir>{folder}/cache</cachedir>\n"
            "</fontconfig>\n")


def fontconfig_file(fonts_dir: Path) -> Path:
    """Path of a fonts.conf for ``fonts_dir``, written next to the fonts when missing or stale.

    Raises ConfigError when the folder holds no fonts. When the folder is read-only the file
    goes to a temporary folder instead (fontconfig then cannot keep its cache: slower, correct).
    """
    fonts_dir = Path(fonts_dir)
    if not font_files(fonts_dir):
        raise ConfigError(f"subtitle font folder {fonts_dir} has no fonts; run `make fonts` "
                          "(scripts/install-fonts.sh) or pass fonts_dir= a folder of .ttf/.ttc files")
    wanted = fonts_conf_text(fonts_dir)
    conf = fonts_dir / FONTS_CONF
    try:
        if not conf.is_file() or conf.read_text(encoding="utf-8") != wanted:
            # Unique per writer: two localize tasks are two threads of one process, and a shared
            # temporary name let one rename the other's half-written file into place.
            tmp = conf.with_name(f".{FONTS_CONF}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(wanted, encoding="utf-8")
            os.replace(tmp, conf)
        return conf
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="cf-fontconfig-"))
        conf = folder / FONTS_CONF
        conf.write_text(wanted, encoding="utf-8")
        return conf


def font_for_locale(locale: str) -> str:
    """The primary font family for a locale's captions (others fall back through fontconfig)."""
    return CJK_FONT if rules_for(locale).script in ("cjk", "hangul") else LATIN_FONT


# ---------------------------------------------------------------------------------------------
# Font files for text that Pillow draws


def needs_shaping(text: str) -> bool:
    """Scripts that are wrong without a shaping engine: Arabic, Hebrew, Indic, Thai."""
    return any(0x0590 <= ord(c) <= 0x08FF or 0x0900 <= ord(c) <= 0x0DFF or 0x0E00 <= ord(c) <= 0x0E7F
               or 0xFB1D <= ord(c) <= 0xFEFF for c in text)


def layout_engine() -> ImageFont.Layout:
    """libraqm (HarfBuzz + FriBiDi: joined Arabic, right to left) when Pillow has it."""
    return ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC


def covers(font: ImageFont.FreeTypeFont, text: str) -> bool:
    """Whether ``font`` has a glyph for every visible character of ``text``.

    A missing character is drawn as the font's .notdef glyph, so its mask equals the mask of a
    private-use code point that no font maps.
    """
    notdef = font.getmask("\ue000")
    ref = (notdef.size, bytes(notdef))
    for ch in set(text):
        if ch.isspace() or 0x0300 <= ord(ch) <= 0x036F or 0x064B <= ord(ch) <= 0x065F:
            continue  # spaces and combining marks carry no glyph of their own to compare
        mask = font.getmask(ch)
        if (mask.size, bytes(mask)) == ref:
            return False
    return True


def font_candidates(fonts_dir: Path | None) -> list[Path]:
    """Font files to try, in order: ``fonts_dir`` (bold faces first), then the system fonts."""
    found: list[Path] = []
    if fonts_dir is not None and Path(fonts_dir).is_dir():
        files = [p for p in Path(fonts_dir).iterdir()
                 if p.suffix.lower() in FONT_SUFFIXES and p.exists()]
        found += sorted(files, key=lambda p: ("bold" not in p.name.lower(), p.name))
    found += [p for p in SYSTEM_FONTS if p.exists()]
    unique: dict[Path, Path] = {}
    for p in found:  # the fonts folder usually links to the system files: try each font once
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def pick_font(text: str, size_px: int, fonts_dir: Path | None = None, *,
              candidates: list[Path] | None = None) -> ImageFont.FreeTypeFont:
    """The first candidate font that can draw all of ``text``, at ``size_px``.

    Raises ConfigError naming the text and the fonts tried when none can.
    """
    if needs_shaping(text) and not features.check("raqm"):
        raise ConfigError(f"text {text!r} needs shaping, but this Pillow has no libraqm; "
                          "install Pillow wheels from PyPI (they bundle it) or libraqm0")
    tried = []
    for path in candidates if candidates is not None else font_candidates(fonts_dir):
        try:
            font = ImageFont.truetype(str(path), size_px, layout_engine=layout_engine())
        except OSError:
            continue
        if covers(font, text):
            return font
        tried.append(path.name)
    raise ConfigError(f"no font can draw {text!r} (tried {', '.join(tried) or 'none'}); put a "
                      f"font covering it in the fonts folder ({fonts_dir}) or run `make fonts`")
