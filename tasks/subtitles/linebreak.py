"""Where caption lines break, per script.

A caption (one cleaned line of text) becomes one or more cues of at most ``max_lines`` lines, each
line at most ``max_width`` wide (:func:`text_width`):

- space-separated scripts (Latin, Cyrillic, Korean, Arabic, Hebrew) break between words;
- Chinese, Japanese and Thai break between phrases found by budoux (its models ship inside the
  wheel, no dictionary to install), never inside one unless a phrase is wider than a line;
- kinsoku shori (JIS X 4051, simplified): no line starts with closing punctuation, small kana or
  a prolonged sound mark (``。、」ゃー``), no line ends with opening punctuation (``「（``).

Right-to-left text stays in logical order: the renderer (libass with FriBidi and HarfBuzz, or the
player for SRT/WebVTT) reorders and joins it. Reversing it here would break joining and digits.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace

from media.locales import LocaleRules

# JIS X 4051 "line start prohibited" (gyoto kinsoku), plus the Chinese and Western equivalents.
NO_LINE_START = frozenset(
    ")]}）］｝〕〉》」』】〙〗〟’”｠»›"            # closing brackets and quotes
    "、。，．,.:;!?！？：；・･‥…〜～‐゠–—"     # punctuation that belongs to the preceding text
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ"  # small kana
    "ーヽヾゝゞ々〻%％‰℃°"
)
# JIS X 4051 "line end prohibited" (gyomatsu kinsoku).
NO_LINE_END = frozenset("([{（［｛〔〈《「『【〘〖〝‘“｟«‹")

_CLAUSE_END = frozenset(",;:、，；：،؛")
_SENTENCE_END = frozenset(".!?。！？…؟")


def text_width(text: str, rules: LocaleRules) -> float:
    """Width of a line in the units of ``rules.max_width``.

    CJK and Hangul lines: full-width characters count 1, others 0.5 (so "iPhone" in a Chinese
    caption takes 3 of its 16). Other scripts: 1 per character. Combining marks count 0.
    """
    return _width(text, rules.script in ("cjk", "hangul"))


@functools.lru_cache(maxsize=1 << 16)
def _width(text: str, wide_units: bool) -> float:
    # Cached: laying out a caption measures the same candidate lines many times over.
    width = 0.0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        if wide_units:
            width += 1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5
        else:
            width += 1.0
    return width


@functools.cache
def _budoux_parser(model: str):
    import budoux  # imported here: loading a model takes ~50 ms, only CJK/Thai captions need it

    return {
        "ja": budoux.load_default_japanese_parser,
        "zh-hans": budoux.load_default_simplified_chinese_parser,
        "zh-hant": budoux.load_default_traditional_chinese_parser,
        "th": budoux.load_default_thai_parser,
    }[model]()


def split_units(text: str, rules: LocaleRules) -> list[str]:
    """Split a caption into unbreakable units whose concatenation is ``text``.

    Units carry their trailing space, so a line is ``"".join(units).strip(" ")``. Units are merged
    so that a break between any two of them obeys kinsoku.
    """
    words = re.findall(r"[^ ]+ *", text)
    if rules.budoux_model is not None:
        parser = _budoux_parser(rules.budoux_model)
        units = []
        for word in words:
            core = word.rstrip(" ")
            phrases = parser.parse(core) or [core]
            phrases[-1] += word[len(core):]
            units.extend(phrases)
    else:
        units = words
    merged: list[str] = []
    for unit in units:
        if merged and (unit.lstrip(" ")[:1] in NO_LINE_START
                       or merged[-1].rstrip(" ")[-1:] in NO_LINE_END):
            merged[-1] += unit
        else:
            merged.append(unit)
    return merged


def _break_allowed(text: str, pos: int) -> bool:
    """May a line break fall between ``text[pos - 1]`` and ``text[pos]``?"""
    before, after = text[pos - 1], text[pos]
    return (after not in NO_LINE_START and before not in NO_LINE_END
            and not unicodedata.combining(after)
            and unicodedata.category(after) not in ("Mn", "Me", "Cf")
            and after != "\u00a0" and before != "\u00a0")


def _split_long_unit(unit: str, rules: LocaleRules) -> list[str]:
    """Cut a unit wider than a line (a URL, a long compound, a run-on phrase) at allowed points."""
    pieces, rest = [], unit
    while text_width(rest.strip(" "), rules) > rules.max_width:
        # the longest prefix that fits, then back off to a position where a break is allowed
        end = 1
        while end < len(rest) and text_width(rest[:end + 1].strip(" "), rules) <= rules.max_width:
            end += 1
        # Nothing allowed before the limit (a run of opening brackets, say): cut at the limit
        # anyway, since a piece wider than a line fits no cue.
        cut = next((p for p in range(end, 0, -1) if _break_allowed(rest, p)), end)
        pieces.append(rest[:cut])
        rest = rest[cut:]
        if not rest:
            break
    if rest:
        pieces.append(rest)
    return pieces


def _line(units: Sequence[str], i: int, j: int) -> str:
    return "".join(units[i:j]).strip(" ")


def _break_bonus(unit: str) -> float:
    last = unit.rstrip(" ")[-1:]
    if last in _SENTENCE_END:
        return 2.0
    return 1.0 if last in _CLAUSE_END else 0.0


class _Widths:
    """The width of every candidate line ``_line(units, i, j)`` in constant time, from sums over
    the units: laying out a long caption weighs thousands of candidate lines, and measuring each
    one character by character made a 200-character caption take seconds."""

    def __init__(self, units: Sequence[str], rules: LocaleRules) -> None:
        space = text_width(" ", rules)
        self.prefix = [0.0]
        for unit in units:
            self.prefix.append(self.prefix[-1] + text_width(unit, rules))
        # The spaces a line drops at its ends (every unit holds more than spaces).
        self.lead = [(len(u) - len(u.lstrip(" "))) * space for u in units]
        self.tail = [(len(u) - len(u.rstrip(" "))) * space for u in units]

    def line(self, i: int, j: int) -> float:
        return self.prefix[j] - self.prefix[i] - self.lead[i] - self.tail[j - 1]


def _best_two_lines(units: Sequence[str], i: int, j: int, rules: LocaleRules,
                    widths: _Widths | None = None) -> tuple[str, str] | None:
    """The best split of ``units[i:j]`` into two lines that both fit, or None.

    Prefers balanced lines, then a bottom-heavy shape (the eye starts on the shorter top line),
    then a break after punctuation.
    """
    widths = widths or _Widths(units, rules)
    best, best_cost = None, float("inf")
    for k in range(i + 1, j):
        w1 = widths.line(i, k)
        if w1 > rules.max_width:
            break  # the top line only grows with k
        w2 = widths.line(k, j)
        if w2 > rules.max_width:
            continue
        cost = abs(w1 - w2) + (0.5 if w1 > w2 else 0.0) - 0.25 * rules.max_width * _break_bonus(units[k - 1])
        if cost < best_cost:
            best, best_cost = k, cost
    return None if best is None else (_line(units, i, best), _line(units, best, j))


def _best_two_lines_inside_phrases(text: str, rules: LocaleRules) -> tuple[str, str] | None:
    """For scripts without spaces: two balanced lines cut inside a phrase where kinsoku allows.

    Used only when no split between phrases fits, so a caption that two lines can hold does not
    take a second cue just because budoux found one long phrase. ``text`` is one stripped line;
    widths come from sums over its characters (one pass, not one measurement per cut).
    """
    n = len(text)
    prefix = [0.0]
    for ch in text:
        prefix.append(prefix[-1] + text_width(ch, rules))
    ends = [0] * (n + 1)       # ends[p]: where text[:p].strip(" ") ends
    for p in range(1, n + 1):
        ends[p] = p if text[p - 1] != " " else ends[p - 1]
    starts = [n] * (n + 1)     # starts[p]: where text[p:].strip(" ") starts
    for p in range(n - 1, -1, -1):
        starts[p] = p if text[p] != " " else starts[p + 1]
    best, best_diff = None, float("inf")
    for p in range(1, n):
        if not _break_allowed(text, p) or ends[p] == 0 or starts[p] == n:
            continue
        w1, w2 = prefix[ends[p]], prefix[n] - prefix[starts[p]]
        if w1 <= rules.max_width and w2 <= rules.max_width and abs(w1 - w2) < best_diff:
            best, best_diff = p, abs(w1 - w2)
    return None if best is None else (text[:best].strip(" "), text[best:].strip(" "))


def _fits(units: Sequence[str], i: int, j: int, rules: LocaleRules,
          widths: _Widths | None = None) -> tuple[str, ...] | None:
    """Lines of one cue for ``units[i:j]``, or None when they do not fit in ``max_lines``."""
    widths = widths or _Widths(units, rules)
    if widths.line(i, j) <= rules.max_width:
        return (_line(units, i, j),)
    if rules.max_lines >= 2 and j - i >= 2:
        two = _best_two_lines(units, i, j, rules, widths)
        if two is not None:
            return two
    if rules.max_lines >= 2 and rules.joins_without_spaces:
        two = _best_two_lines_inside_phrases(_line(units, i, j), rules)
        if two is not None:
            return two
    if rules.max_lines > 2:
        for k in range(j - 1, i, -1):
            if widths.line(i, k) <= rules.max_width:
                tail = _fits(units, k, j, replace(rules, max_lines=rules.max_lines - 1), widths)
                if tail is not None:
                    return (_line(units, i, k), *tail)
    return None


def wrap_caption(text: str, rules: LocaleRules) -> list[tuple[str, ...]]:
    """Lay out one cleaned caption as cues: a list of line tuples, each of 1..max_lines lines.

    The fewest cues that hold the caption are used; the text is divided among them so their
    widths are even, preferring cue breaks after sentence or clause punctuation.
    """
    units: list[str] = []
    for unit in split_units(text, rules):
        if text_width(unit.strip(" "), rules) > rules.max_width:
            units.extend(_split_long_unit(unit, rules))
        else:
            units.append(unit)
    units = [u for u in units if u.strip(" ")]
    n = len(units)
    if n == 0:
        return []
    lines_widths = _Widths(units, rules)
    whole = _fits(units, 0, n, rules, lines_widths)
    if whole is not None:
        return [whole]

    # Fewest cues, then even widths: dynamic programming over cue end positions, from the end
    # back (a loop, not recursion: a long caption has hundreds of units).
    total = lines_widths.prefix
    plans: list[tuple[int, float, tuple[int, ...]] | None] = [None] * n + [(0, 0.0, ())]
    for i in range(n - 1, -1, -1):
        best: tuple[int, float, tuple[int, ...]] | None = None
        for j in range(i + 1, n + 1):
            if _fits(units, i, j, rules, lines_widths) is None:
                if total[j] - total[i] > rules.max_width * rules.max_lines * 1.5:
                    break  # adding units only makes it wider
                continue
            cues, cost, ends = plans[j]
            # With the number of cues fixed, the sum of squared widths is least when they are
            # even; a cue break after punctuation is worth up to two full lines' squared width.
            cost += (total[j] - total[i]) ** 2
            if j < n:
                cost -= rules.max_width ** 2 * _break_bonus(units[j - 1])
            candidate = (cues + 1, cost, (j, *ends))
            if best is None or candidate[:2] < best[:2]:
                best = candidate
        if best is None:
            raise AssertionError("a single unit always fits a cue after _split_long_unit")
        plans[i] = best

    _, _, ends = plans[0]
    cues, start = [], 0
    for end in ends:
        lines = _fits(units, start, end, rules, lines_widths)
        assert lines is not None
        cues.append(lines)
        start = end
    return cues


def kinsoku_violations(lines: Sequence[str]) -> list[str]:
    """Lines that start with a no-start character or end with a no-end one (empty: all good)."""
    return [line for line in lines
            if line[:1] in NO_LINE_START or line[-1:] in NO_LINE_END]
