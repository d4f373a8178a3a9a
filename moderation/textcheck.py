"""Term lists per category and locale, matched in one Aho-Corasick pass over normalised text.

Each ``moderation/terms/<locale>.yaml`` holds ``terms: {category: {block: [...], review: [...]}}``
and an ``allow`` list. Terms and text are normalised the same way (:mod:`moderation.normalize`),
then all terms of all locales go into one automaton; a match counts when:

- its locale is one of the locales checked (the text's own locale plus English, which prompts
  mix into every language; a locale without a list of its own is checked against every list);
- for a Latin, Arabic or other spaced script, it is a whole word: "ass" is not found in
  "class" (the Scunthorpe problem). A trailing ``*`` in the list makes it a word prefix. Arabic
  terms may carry a proclitic ("والقتل" holds "قتل"). Han/kana/Hangul terms match anywhere;
- it is not inside a match of an ``allow`` phrase ("massage gun", "红色情人节").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.errors import ModerationError
from media.locales import language
from moderation.normalize import is_cjk, normalize

TERMS_DIR = Path(__file__).parent / "terms"
SEVERITIES = ("block", "review")
# The lingua franca of prompts: checked whatever the text's locale.
ALWAYS_LOCALES = frozenset({"en"})

# Arabic proclitics written joined to the next word (conjunctions, prepositions, the article).
_ARABIC_PROCLITICS = frozenset({
    "ال", "و", "ف", "ب", "ل", "ك", "وال", "فال", "بال", "كال", "لل", "ولل", "فلل", "وب", "ول",
    "فب", "فل", "وبال", "وكال"})


@dataclass(frozen=True)
class Term:
    """One list entry: ``text`` as written in the YAML, ``key`` its normalised form."""

    text: str
    key: str
    locale: str
    category: str  # sexual, violence, ... or "allow"
    severity: str  # block | review | allow
    prefix: bool   # "term*": any word starting with the term
    anywhere: bool  # CJK: a substring match is a match


@dataclass(frozen=True)
class TermMatch:
    """A term found in a text; ``start``/``end`` index the normalised text."""

    term: Term
    start: int
    end: int

    @property
    def category(self) -> str:
        return self.term.category

    @property
    def severity(self) -> str:
        return self.term.severity


def _is_word_char(ch: str) -> bool:
    return ch.isalnum()


def _is_arabic(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in text)


class TermLists:
    """All term lists of a folder, compiled into one automaton. Build once, share freely.

    ``version`` is a digest of the lists' bytes: an audit row names exactly which lists decided.
    """

    name = "terms"

    def __init__(self, terms: list[Term], version: str) -> None:
        import ahocorasick  # pyahocorasick

        self.terms = terms
        self.version = version
        self.locales = frozenset(t.locale for t in terms)
        self._automaton = ahocorasick.Automaton()
        for term in terms:
            if self._automaton.exists(term.key):
                self._automaton.get(term.key).append(term)
            else:
                self._automaton.add_word(term.key, [term])
        self._automaton.make_automaton()

    @classmethod
    def load(cls, directory: str | Path | None = None) -> TermLists:
        """Read every ``*.yaml`` in ``directory`` (default: the lists shipped in the package)."""
        directory = Path(directory) if directory else TERMS_DIR
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise ModerationError(f"{directory}: no term lists (*.yaml) found; point the "
                                  "moderation terms directory at a folder of term lists")
        digest = hashlib.sha256()
        terms: list[Term] = []
        for path in files:
            raw = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + raw)
            terms.extend(_parse_list(path, raw))
        return cls(terms, digest.hexdigest()[:16])

    def locales_for(self, locale: str | None) -> frozenset[str]:
        """The lists a text in ``locale`` is checked against (all lists when unknown or None)."""
        if locale is None or language(locale) not in self.locales:
            return self.locales
        return frozenset({language(locale)}) | (ALWAYS_LOCALES & self.locales)

    def match(self, text: str, locale: str | None = None) -> list[TermMatch]:
        """Listed terms in ``text`` (allow phrases already applied), in text order."""
        norm = normalize(text)
        if not norm:
            return []
        active = self.locales_for(locale)
        found: list[TermMatch] = []
        allowed: list[tuple[int, int]] = []
        for end_index, entries in self._automaton.iter(norm):
            for term in entries:
                if term.locale not in active:
                    continue
                start, end = end_index - len(term.key) + 1, end_index + 1
                if not _bounded(norm, start, end, term):
                    continue
                if term.severity == "allow":
                    allowed.append((start, end))
                else:
                    found.append(TermMatch(term, start, end))
        kept = [m for m in found if not any(a <= m.start and m.end <= b for a, b in allowed)]
        return sorted(kept, key=lambda m: (m.start, m.end))


def _bounded(text: str, start: int, end: int, term: Term) -> bool:
    """Whether a raw automaton hit at ``text[start:end]`` is a match for ``term``."""
    if term.anywhere:
        return True
    if start > 0 and _is_word_char(text[start - 1]):
        if not _is_arabic(term.key):
            return False
        word_start = start
        while word_start > 0 and _is_word_char(text[word_start - 1]):
            word_start -= 1
        if text[word_start:start] not in _ARABIC_PROCLITICS:
            return False
    if not term.prefix and end < len(text) and _is_word_char(text[end]):
        return False
    return True


def _entry(path: Path, written: object, *, locale: str, category: str, severity: str) -> Term:
    if not isinstance(written, str) or not written.strip():
        raise ModerationError(f"{path}: {category}.{severity} holds {written!r}; every entry "
                              "must be a non-empty string")
    text = written.strip()
    prefix = text.endswith("*")
    key = normalize(text.rstrip("*"))
    if not key:
        raise ModerationError(f"{path}: {category}.{severity} entry {written!r} is empty once "
                              "normalised; remove it")
    return Term(text=text, key=key, locale=locale, category=category, severity=severity,
                prefix=prefix, anywhere=is_cjk(key))


def _parse_list(path: Path, raw: bytes) -> list[Term]:
    try:
        doc = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise ModerationError(f"{path}: not valid YAML ({exc}); fix the term list") from exc
    if not isinstance(doc, dict):
        raise ModerationError(f"{path}: expected a mapping with 'locale', 'terms' and 'allow'")
    locale = str(doc.get("locale") or path.stem)
    if language(locale) != locale:
        raise ModerationError(f"{path}: locale {locale!r} must be a base language code "
                              f"such as 'en' or 'zh' (regional variants share it)")
    categories = doc.get("terms") or {}
    if not isinstance(categories, dict):
        raise ModerationError(f"{path}: 'terms' must map categories to {{block: [...], "
                              "review: [...]}}")
    terms: list[Term] = []
    for category, levels in categories.items():
        if not isinstance(levels, dict):
            raise ModerationError(f"{path}: terms.{category} must map severities (block, "
                                  "review) to lists of terms")
        for severity, entries in levels.items():
            if severity not in SEVERITIES:
                raise ModerationError(f"{path}: terms.{category}.{severity}: unknown severity; "
                                      f"use one of {', '.join(SEVERITIES)}")
            for written in entries or []:
                terms.append(_entry(path, written, locale=locale, category=str(category),
                                    severity=severity))
    for written in doc.get("allow") or []:
        terms.append(_entry(path, written, locale=locale, category="allow", severity="allow"))
    return terms
