"""The project's font folder for burned-in subtitles.

``scripts/install-fonts.sh`` (run by ``make``) fills ``.fonts-cache/`` in the repository with
DejaVu Sans (Latin, Arabic, Hebrew) and WenQuanYi Micro Hei (Chinese, Japanese, Korean). libass
only falls back from one font to another through fontconfig, and its ``fontsdir`` option does not
take part in fallback (platform-facts.md), so the burn-in runs ffmpeg with ``FONTCONFIG_FILE``
pointing at a fonts.conf that lists this folder alone, with its own cache: nothing on the
system is read or changed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from common.errors import ConfigError

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
FONTS_CONF = "fonts.conf"


def default_fonts_dir() -> Path:
    """``<repository>/.fonts-cache``, where ``make fonts`` puts the subtitle fonts."""
    return Path(__file__).resolve().parents[2] / ".fonts-cache"


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
            tmp = conf.with_name(f".{FONTS_CONF}.{os.getpid()}.tmp")
            tmp.write_text(wanted, encoding="utf-8")
            os.replace(tmp, conf)
        return conf
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="cf-fontconfig-"))
        conf = folder / FONTS_CONF
        conf.write_text(wanted, encoding="utf-8")
        return conf
