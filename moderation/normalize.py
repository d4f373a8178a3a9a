"""Text normalisation that defeats the common ways of spelling a listed term so it slips past.

Both the term lists and the checked text go through :func:`normalize`, so a term and any of its
disguises end up as the same string:

    "ＰＯＲＮ"  (full width)        -> "porn"    Unicode NFKC + case folding
    "P o r n", "p.o.r.n"            -> "porn"    separators between single letters dropped
    "p\\u200bo\\u200brn"              -> "porn"    zero-width and other format characters dropped
    "p0rn", "c0ca1ne"               -> "porn"    digits for letters inside words
    "黃片"    (traditional)          -> "黄片"    traditional Chinese folded to simplified
    "色 情", "色*情"                 -> "色情"    separators between CJK characters dropped
    "cocaína"                       -> "cocaina" Latin diacritics and Arabic harakat dropped

The result is only ever used for matching; it is never shown or stored.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Format characters (Unicode category Cf: zero-width space/joiners, word joiner, BOM, bidi
# controls, soft hyphen) are invisible, so inserting them between letters is the cheapest evasion.
# The Arabic tatweel (kashida, U+0640) only stretches a word ("قـتـل") and is dropped too.
_INVISIBLE = {"\u0640"}

# Combining marks we strip: Latin diacritics (U+0300-036F) and Arabic harakat (U+064B-065F,
# U+0670). Japanese (han)dakuten (U+3099/309A) change the word and are kept.
_STRIP_MARKS = re.compile("[\u0300-\u036f\u064b-\u065f\u0670]")

# Arabic letter variants that writers use interchangeably (standard Arabic search folding).
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي"})

# Typographic quotes NFKC keeps; French elisions ("d’argent") must match "d'argent".
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'"})

# Digits and symbols used for letters ("l33t"): applied only inside tokens that also hold a
# letter, so prices, dates and "2024" stay as they are.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                       "9": "g", "@": "a", "$": "s", "!": "i"})
_LEET_CHARS = set("01345789@$!")
# A token: word characters plus @ and $ anywhere, and "!" only between them ("k!ll", not "now!").
_TOKEN = re.compile(r"[\w@$]+(?:!+[\w@$]+)*")

# Characters people put between the letters of a term ("s.e.x", "s-e-x", "s e x", "s*e*x").
_SEP = r"[\s.\-_*·|/\\+~:;'\"`^=,]"
# A run of three or more single letters each separated by separators: "s e x" but not "a b cd".
_SPACED_LETTERS = re.compile(rf"(?<![^\W_])[^\W_](?:{_SEP}+[^\W_](?![^\W_])){{2,}}")
_SEP_RUN = re.compile(f"{_SEP}+")

# CJK (Han, kana, Hangul): separators between two of them are dropped. The comma is not one of
# them here, since NFKC turns the Chinese full-width comma into "," and it ends a phrase.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_SEP = re.compile(rf"(?<=[{_CJK}])[\s.\-_*·|/\\+~]+(?=[{_CJK}])")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_CHAR = re.compile(f"[{_CJK}]")

# Runs of whitespace and connector punctuation become one space, so "child-porn" and
# "child   porn" both read "child porn".
_SPACES = re.compile(r"[\s\-_]+")


@lru_cache(maxsize=1)
def _t2s():
    """The OpenCC traditional->simplified converter (pure Python, built once per process)."""
    import opencc  # opencc-python-reimplemented

    return opencc.OpenCC("t2s")


def _drop_invisible(text: str) -> str:
    return "".join(ch for ch in text
                   if ch not in _INVISIBLE and unicodedata.category(ch) != "Cf")


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", _STRIP_MARKS.sub("", decomposed))


def _unleet(match: re.Match) -> str:
    token = match.group(0)
    if any(ch.isalpha() for ch in token) and any(ch in _LEET_CHARS for ch in token):
        return token.translate(_LEET)
    return token


def _join_spaced(match: re.Match) -> str:
    return _SEP_RUN.sub("", match.group(0))


def normalize(text: str) -> str:
    """The matching form of ``text``: see the module docstring for what it folds.

    Order matters: invisible characters go first (they split letters), width and case folding
    next (so full-width digits become leet digits), letters spaced apart are joined before the
    leet step (so "k 1 l l" becomes "k1ll" and then "kill").
    """
    text = unicodedata.normalize("NFKC", text)
    text = _drop_invisible(text)
    text = text.casefold().translate(_QUOTES)
    text = _strip_marks(text).translate(_ARABIC_FOLD)
    if _HAN.search(text):
        text = _t2s().convert(text)
    if _CJK_CHAR.search(text):
        text = _CJK_SEP.sub("", text)
    text = _SPACED_LETTERS.sub(_join_spaced, text)
    text = _TOKEN.sub(_unleet, text)
    return _SPACES.sub(" ", text).strip()


def is_cjk(text: str) -> bool:
    """Whether ``text`` holds Han, kana or Hangul: such terms match as substrings, not words."""
    return bool(_CJK_CHAR.search(text))
