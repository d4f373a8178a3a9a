"""Locales: the one parser of locale codes, and what each locale's captions must respect (script
family, line length, reading speed, timing).

A locale is a BCP-47 code (``en``, ``en-US``, ``zh-CN``, ``zh-Hant-TW``, ``ja``, ``ar``). Only its
language (and, for Chinese, its script or region) decides the rules.

Numbers follow Netflix's Timed Text Style Guides (adult programmes): at most 2 lines; 42 characters
a line for Latin, Cyrillic, Arabic and Hebrew scripts; 16 for Chinese, Japanese and Korean;
reading speed 17 characters a second for most languages (20 for English), 9 for Chinese, 4 for
Japanese, 12 for Korean; a cue stays between 5/6 s and 7 s on screen; 2 frames between cues.
Arabic and Hebrew use the general 17 characters a second; Thai's 35 a line and 15 a second are
conservative estimates, not from a guide: have a native reviewer confirm them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from common.errors import ConfigError

# BCP-47 as specs write it: language, optional script, optional region ("zh-Hant-TW", "es-419").
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|\d{3}))?$")

Script = Literal["latin", "cjk", "hangul", "thai", "rtl"]

MIN_CUE_SECONDS = 5 / 6   # Netflix: 20 frames at 24 fps
MAX_CUE_SECONDS = 7.0     # Netflix: 7 seconds
CUE_GAP_SECONDS = 2 / 24  # Netflix: 2 frames between consecutive cues


@dataclass(frozen=True)
class LocaleRules:
    """Layout and timing rules for one locale's captions.

    ``max_width`` is measured by ``tasks.subtitles.linebreak.text_width``: in the ``cjk``,
    ``hangul`` families a full-width character counts 1 and a half-width one 0.5; elsewhere every
    visible character counts 1 and combining marks (Arabic harakat, Thai vowels) count 0.
    """

    locale: str
    language: str                 # ISO 639-1 (or -3 where there is none), lower case
    script: Script
    max_width: float              # per line
    max_lines: int = 2
    chars_per_second: float = 17.0
    min_seconds: float = MIN_CUE_SECONDS
    max_seconds: float = MAX_CUE_SECONDS
    gap_seconds: float = CUE_GAP_SECONDS
    budoux_model: str | None = None  # "ja", "zh-hans", "zh-hant", "th": phrase-aware breaks

    @property
    def rtl(self) -> bool:
        return self.script == "rtl"

    @property
    def joins_without_spaces(self) -> bool:
        """Scripts that write words without spaces between them (breaks come from budoux)."""
        return self.budoux_model is not None


_RTL = {"ar", "he", "iw", "fa", "ur", "ps", "yi", "sd", "ug", "dv", "ckb"}
_TRADITIONAL_REGIONS = {"tw", "hk", "mo"}

# ISO 639-1 -> ISO 639-2/B, the codes MP4 language tags use (ffmpeg writes the bibliographic form).
ISO639_2 = {
    "ar": "ara", "bg": "bul", "bn": "ben", "ca": "cat", "cs": "cze", "da": "dan", "de": "ger",
    "el": "gre", "en": "eng", "es": "spa", "et": "est", "fa": "per", "fi": "fin", "fil": "fil",
    "fr": "fre", "he": "heb", "iw": "heb", "hi": "hin", "hr": "hrv", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "ko": "kor", "lt": "lit", "lv": "lav", "ms": "may", "nb": "nob",
    "nl": "dut", "no": "nor", "pl": "pol", "pt": "por", "ro": "rum", "ru": "rus", "sk": "slo",
    "sl": "slv", "sr": "srp", "sv": "swe", "sw": "swa", "ta": "tam", "th": "tha", "tl": "tgl",
    "tr": "tur", "uk": "ukr", "ur": "urd", "vi": "vie", "zh": "chi",
}


def is_locale(code: str) -> bool:
    """Whether ``code`` is written as specs must write a locale: ``en``, ``zh-CN``, ``zh-Hant-TW``."""
    return bool(LOCALE_PATTERN.match(code))


def split_locale(locale: str) -> tuple[str, str | None, str | None]:
    """``"zh-Hant-TW"`` -> ``("zh", "hant", "tw")``; raises ConfigError for a malformed code."""
    parts = locale.strip().replace("_", "-").split("-")
    if not all(parts) or not parts[0].isalpha() or not 2 <= len(parts[0]) <= 3:
        raise ConfigError(f"locale {locale!r} is not a BCP-47 code such as 'en', 'zh-CN' or 'ar'")
    language = parts[0].lower()
    script = next((p.lower() for p in parts[1:] if len(p) == 4 and p.isalpha()), None)
    region = next((p.lower() for p in parts[1:] if len(p) in (2, 3) and p != parts[0]), None)
    return language, script, region


def language(locale: str) -> str:
    """The lower-case language of a locale: ``zh-Hant-TW`` -> ``zh``, ``pt_BR`` -> ``pt``.

    The one place the factory splits a locale (timing, subtitles, labels, term lists, voices).
    """
    return split_locale(locale)[0]


def rules_for(locale: str) -> LocaleRules:
    """The caption rules for a BCP-47 locale (unknown languages get the Latin rules)."""
    language, script, region = split_locale(locale)
    if language == "zh":
        traditional = script == "hant" or (script is None and region in _TRADITIONAL_REGIONS)
        return LocaleRules(locale, language, "cjk", max_width=16, chars_per_second=9,
                           budoux_model="zh-hant" if traditional else "zh-hans")
    if language == "ja":
        return LocaleRules(locale, language, "cjk", max_width=16, chars_per_second=4,
                           budoux_model="ja")
    if language == "ko":  # Korean puts spaces between words: word wrap, CJK-sized lines
        return LocaleRules(locale, language, "hangul", max_width=16, chars_per_second=12)
    if language == "th":  # no spaces between words: budoux ships a Thai model too
        return LocaleRules(locale, language, "thai", max_width=35, chars_per_second=15,
                           budoux_model="th")
    if language in _RTL:
        return LocaleRules(locale, language, "rtl", max_width=42, chars_per_second=17)
    return LocaleRules(locale, language, "latin", max_width=42,
                       chars_per_second=20 if language == "en" else 17)


def iso639_2(locale: str) -> str:
    """The three-letter language tag for an MP4 track (``zh-CN`` -> ``chi``; unknown -> ``und``)."""
    language, _, _ = split_locale(locale)
    if len(language) == 3:
        return language
    return ISO639_2.get(language, "und")
