"""Cue timing: one locale's captions per shot become timed, wrapped cues.

Each caption line of a shot is wrapped (:func:`tasks.subtitles.linebreak.wrap_caption`) into one
or more cues. The shot's time is then shared among its cues in proportion to how long each takes
to read (characters / reading speed, at least the minimum duration), with a gap after every cue so
that consecutive cues, and cues of consecutive shots, never touch. A cue never stays longer than
the maximum duration and never crosses its shot's end: captions change with the picture.

A shot whose captions are spoken (``spoken``: one (start, end) per caption line, from the
voice-over's sentence timings) is timed by the speech instead: each line's first cue starts when
its sentence starts sounding, a line wrapped into several cues is shared out by characters over
its sentence, and a cue stays up a moment after its sentence ends (until the next one starts).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from common.errors import SpecError
from media.locales import LocaleRules, rules_for
from tasks.subtitles.linebreak import text_width, wrap_caption
from tasks.subtitles.sanitize import clean_caption

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShotCaptions:
    """One locale's captions for one shot; times in seconds on the assembled master."""

    shot_id: str
    start: float
    end: float
    lines: Sequence[str] | None = field(default_factory=list)
    spoken: Sequence[tuple[float, float]] | None = None  # per line: where its sentence sounds

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Cue:
    """One subtitle on screen: 1..max_lines lines of plain text, times in seconds."""

    start: float
    end: float
    lines: tuple[str, ...]
    shot_id: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def duration(self) -> float:
        return self.end - self.start


def reading_seconds(lines: Sequence[str], rules: LocaleRules) -> float:
    """Seconds a viewer needs to read ``lines`` at the locale's reading speed."""
    if rules.script in ("cjk", "hangul"):  # CJK reading speeds count characters, not widths
        chars = float(sum(len(line.replace(" ", "")) for line in lines))
    else:
        chars = sum(text_width(line, rules) for line in lines)
    return chars / rules.chars_per_second


def seconds_to_read(lines: Sequence[str], locale: str, *, rules: LocaleRules | None = None
                    ) -> float:
    """How long a shot must show ``lines`` for :func:`build_cues` to give every cue its reading
    time (the minimum on screen, the locale's reading speed, a gap after each): the one rule
    shot timing and subtitles share."""
    rules = rules or rules_for(locale)
    texts = [t for t in (clean_caption(line) for line in lines if isinstance(line, str)) if t]
    groups = [group for text in texts for group in wrap_caption(text, rules)]
    return sum(max(rules.min_seconds, reading_seconds(g, rules)) + rules.gap_seconds
               for g in groups)


def _share(needs: list[float], available: float, floor: float) -> list[float]:
    """Split ``available`` seconds in proportion to ``needs``, giving none less than ``floor``.

    Water-filling: cues whose proportional share falls under the floor are pinned to it and the
    rest of the time is shared among the others again.
    """
    pinned: set[int] = set()
    while True:
        free = available - floor * len(pinned)
        weight = sum(n for i, n in enumerate(needs) if i not in pinned)
        shares = [floor if i in pinned else free * n / weight for i, n in enumerate(needs)]
        low = {i for i, s in enumerate(shares) if s < floor - 1e-9 and i not in pinned}
        if not low:
            return shares
        pinned |= low


def build_cues(shots: Sequence[ShotCaptions], locale: str, *,
               rules: LocaleRules | None = None) -> list[Cue]:
    """Timed, wrapped cues for one locale from its captions per shot (in shot order).

    Raises SpecError naming the shot when it has no caption for ``locale``, ends before it starts,
    or is too short to show its cues for the minimum duration each. Cues shown faster than the
    locale's reading speed are logged as a warning naming the shot.
    """
    rules = rules or rules_for(locale)
    cues: list[Cue] = []
    for shot in shots:
        where = f"shots.{shot.shot_id}.caption[{locale}]"
        texts = [clean_caption(t) for t in (shot.lines or []) if isinstance(t, str)]
        texts = [t for t in texts if t]
        if not texts:
            raise SpecError(f"shot {shot.shot_id!r} has no caption for locale {locale!r}; add "
                            f"caption lines for it or drop {locale!r} from the campaign's locales",
                            field=where)
        if shot.duration <= 0:
            raise SpecError(f"shot {shot.shot_id!r} ends ({shot.end:.3f} s) before it starts "
                            f"({shot.start:.3f} s)", field=where)
        groups = [lines for text in texts for lines in wrap_caption(text, rules)]
        gap = min(rules.gap_seconds, shot.duration / (4 * len(groups)))
        available = shot.duration - gap * len(groups)
        if available + 1e-9 < rules.min_seconds * len(groups):
            raise SpecError(
                f"shot {shot.shot_id!r} lasts {shot.duration:.2f} s but its {len(groups)} "
                f"{locale} cue(s) need at least {rules.min_seconds * len(groups):.2f} s "
                f"({rules.min_seconds:.2f} s each); shorten the captions or lengthen the shot",
                field=where)
        if shot.spoken is not None and len(shot.spoken) == len(texts) \
                and len(texts) == len(shot.lines or []):
            cues.extend(_spoken_cues(shot, texts, rules, gap))
            continue
        needs = [max(rules.min_seconds, reading_seconds(g, rules)) for g in groups]
        if sum(needs) > available + 1e-9:
            log.warning("shot %r: %s captions need %.1f s to read at %.0f characters/s but the "
                        "shot shows them for %.1f s; consider shorter captions", shot.shot_id,
                        locale, sum(needs), rules.chars_per_second, available)
        slots = _share(needs, available, rules.min_seconds)
        t = shot.start
        for lines, slot in zip(groups, slots):
            shown = min(slot, rules.max_seconds)
            start, end = round(t, 3), round(min(t + shown, shot.end), 3)
            cues.append(Cue(start=start, end=end, lines=tuple(lines), shot_id=shot.shot_id))
            t += slot + gap
    return cues


HOLD_SECONDS = 0.5  # a spoken cue stays up this long after its sentence ends (if nothing follows)


def _spoken_cues(shot: ShotCaptions, texts: list[str], rules: LocaleRules, gap: float
                 ) -> list[Cue]:
    """Cues that follow the speech: see the module's docstring."""
    cues: list[Cue] = []
    spans = [(max(shot.start, s), min(shot.end, e)) for s, e in shot.spoken or ()]
    for i, (text, (start, end)) in enumerate(zip(texts, spans)):
        groups = wrap_caption(text, rules)
        following = spans[i + 1][0] - gap if i + 1 < len(spans) else shot.end
        stop = min(following, shot.end, max(end + HOLD_SECONDS, start + rules.min_seconds))
        weights = [max(1.0, sum(text_width(line, rules) for line in g)) for g in groups]
        total = sum(weights)
        t = start
        for k, (lines, weight) in enumerate(zip(groups, weights)):
            # Inside the sentence, a cue starts where its share of the characters is spoken.
            nxt = stop if k == len(groups) - 1 else t + (end - start) * weight / total
            cue_end = min(nxt - (gap if k < len(groups) - 1 else 0), t + rules.max_seconds)
            if cue_end - t < rules.min_seconds - 1e-9:
                log.warning("shot %r: %s cue %r is shown for %.2f s, under the %.2f s minimum; "
                            "the next sentence starts too soon", shot.shot_id, rules.locale,
                            " ".join(lines)[:30], cue_end - t, rules.min_seconds)
            cues.append(Cue(start=round(t, 3), end=round(max(cue_end, t + 0.04), 3),
                            lines=tuple(lines), shot_id=shot.shot_id))
            t = nxt
    return cues


CTA_SECONDS = 2.0  # a call to action holds the clip's last seconds
CTA_AFTER_CAPTION = 1.0  # the caption before it stays at least this long


def with_call_to_action(cues: Sequence[Cue], text: str, *, end: float, locale: str,
                        seconds: float = CTA_SECONDS, rules: LocaleRules | None = None
                        ) -> list[Cue]:
    """``cues`` with a call to action as the final cue, over the last ``seconds`` before ``end``.

    The caption on screen when it starts ends there, after at least ``CTA_AFTER_CAPTION``
    seconds of its own (the call to action starts later, if need be, but keeps at least the
    locale's minimum time); a caption that would start after it is dropped.
    """
    rules = rules or rules_for(locale)
    start = max(0.0, end - seconds)
    if cues:
        start = max(start, min(cues[-1].start + CTA_AFTER_CAPTION, end - rules.min_seconds))
    kept = [replace(c, end=min(c.end, start)) for c in cues if c.start < start]
    groups = wrap_caption(clean_caption(text), rules)
    lines = groups[0] if len(groups) == 1 else tuple(line for g in groups for line in g)
    return [*kept, Cue(start=start, end=end, lines=tuple(lines), shot_id="cta")]
