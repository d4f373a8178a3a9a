"""Captions are text, never markup.

A caption comes from a campaign spec or a cue file that a person typed. Before it reaches a
subtitle file it is cleaned (:func:`clean_caption`) and then escaped for the target format, so
that nothing in it is ever interpreted by a renderer:

- ASS (libass): ``{`` opens an override block (``{\\fs200}``, ``{\\pos(0,0)}``) and ``\\N``,
  ``\\n``, ``\\h`` are escapes. libass shows ``\\{`` and ``\\}`` as literal braces, and a
  backslash followed by U+2060 WORD JOINER (invisible, unbreakable) no longer forms an escape.
- SRT: players and ffmpeg's SRT decoder read ``<i>``/``<font>`` tags, skip ``{\\...}`` blocks and
  turn ``\\N`` into a line break. A WORD JOINER after ``<``, ``{`` and ``\\`` breaks every one of
  those patterns while the caption looks the same.
- WebVTT: ``&``, ``<`` and ``>`` are written as character references.

Bidi override and embedding controls (U+202A-U+202E, U+2066-U+2069) are removed: they would let a
caption reorder the rest of the line. Control characters are removed or turned into spaces.
"""

from __future__ import annotations

import re
import unicodedata

WORD_JOINER = "\u2060"

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WHITESPACE_CONTROLS = frozenset("\t\n\r\v\f\x85\u2028\u2029")
_REMOVE = BIDI_CONTROLS | {"\ufeff"}


def clean_caption(text: str) -> str:
    """One caption as a single line of plain text: NFC, no controls, single spaces, stripped.

    Line breaks in the input become spaces: where lines break is decided per locale by
    :mod:`tasks.subtitles.linebreak`. Joiners (ZWJ, ZWNJ) and direction marks (LRM, RLM) are
    kept: Persian, Indic scripts and mixed-direction text need them.
    """
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in _WHITESPACE_CONTROLS:
            out.append(" ")
        elif ch in _REMOVE or unicodedata.category(ch) == "Cc":
            continue
        else:
            out.append(ch)
    # Only ASCII spaces collapse: a no-break space (French "prix ?") must keep holding words
    # together.
    return re.sub(" {2,}", " ", "".join(out)).strip(" ")


def ass_escape(line: str) -> str:
    """One cleaned caption line as ASS event text that libass draws exactly as written."""
    line = line.replace("\\", "\\" + WORD_JOINER)
    return line.replace("{", "\\{").replace("}", "\\}")


def ass_unescape(text: str) -> str:
    """Inverse of joining :func:`ass_escape`'d lines with ``\\N``: the caption lines, newline-joined."""
    text = text.replace("\\N", "\n").replace("\\{", "{").replace("\\}", "}")
    return text.replace("\\" + WORD_JOINER, "\\")


_SRT_BREAKERS = re.compile(r"([<{\\])")


def srt_escape(line: str) -> str:
    """One cleaned caption line as SubRip text that no player or ffmpeg reads as a tag."""
    line = _SRT_BREAKERS.sub(lambda m: m.group(1) + WORD_JOINER, line)
    return line.replace("-->", "--" + WORD_JOINER + ">")


def srt_unescape(line: str) -> str:
    for ch in "<{\\":
        line = line.replace(ch + WORD_JOINER, ch)
    return line.replace("--" + WORD_JOINER + ">", "-->")


def vtt_escape(line: str) -> str:
    """One cleaned caption line as WebVTT cue text (character references for ``& < >``)."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt_unescape(line: str) -> str:
    return line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
