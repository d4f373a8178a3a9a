"""The factory's error hierarchy: every error a person running the factory can cause.

The CLI prints any :class:`FactoryError` as one line and exits non-zero instead of showing a
traceback, and the HTTP services answer 4xx with its text. Each message names the thing that is
wrong (field, file, key, shot, locale) and what to do next.

    FactoryError
    ├── SpecError             a campaign spec, script or product record is invalid (file, line,
    field)
    │   └── SpecErrors            several such problems at once (``problems``), in file order
    ├── ConfigError           a setting or a command-line option is invalid or missing
    ├── MediaError            a video, image or audio file cannot be read, or ffmpeg failed on it
    │   ├── MissingGlyphsError    no font in the font folder can draw some caption characters
    │   └── ProvenanceError       a C2PA manifest cannot be signed or read
    ├── RenderError           a rendering backend failed (out of memory, broken weights, ...)
    │   ├── WeightsNotFound       a weights folder or file is missing
    │   └── WeightKeyError        a checkpoint's keys do not match the model
    ├── StorageError          the run database or an object store failed or refused an operation
    │   ├── PublishRefused        a clip has no allow/approved moderation decision
    │   ├── ObjectMissing         a key that should be in a store is not there
    │   ├── ChecksumMismatch      the bytes a store holds are not the bytes that were written
    │   ├── ClaimLost             another worker took over this worker's render claim
    │   ├── ReviewNotFound        a review id or subject names no review
    │   └── ReviewNotPending      a review was already decided
    ├── ModerationError       a moderation detector or term list cannot be used
    └── RunStopped            moderation blocked a run, or a reviewer rejected it

Field paths in messages have one style, :func:`field_path`: dotted names from the top of the
document, list positions and locales in brackets (``brand.colors.primary``, ``locales[1]``,
``shots.hero.caption[zh-CN]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

ECHO_CHARS = 60        # an echoed value (a name, a line of a script) is cut to this many characters
MESSAGE_CHARS = 2000   # a whole message, at most

# Line breaks become one space; other control characters and lone surrogates (undecodable bytes
# in a file name) are written as escapes, so an error is one line and always printable. (No
# pattern here backtracks: the cost is linear in the text.)
_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` as one printable line of at most ``limit`` characters."""
    text = _BREAKS.sub(" ", str(text))
    text = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape",
                                                      "backslashreplace").decode("ascii"), text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """A value quoted for an error message (``'abc'``), escaped, one line, cut to ``limit``."""
    sized = isinstance(value, str | bytes)
    shown = repr(value[:limit] if sized else value)
    if len(shown) <= limit and not (sized and len(value) > limit):
        return shown
    return shown[:limit - 1] + "…" + (f" ({len(value)} characters)" if sized else "")


def field_path(parts: Iterable[str | int]) -> str:
    """``("locales", 1)`` -> ``locales[1]``; ``("brand", "colors", "primary")`` ->
    ``brand.colors.primary``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class FactoryError(Exception):
    """Base class: an error with a message meant for the person running the factory.

    The message is kept to one printable line (:func:`one_line`), whatever was put into it.
    """

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (one_line(args[0]), *args[1:])
        super().__init__(*args)


class SpecError(FactoryError):
    """Raised when a campaign spec, script or product record is invalid.

    ``file``, ``line`` and ``field`` locate the problem; the message always names them.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        file = one_line(file, 300) if file is not None else None
        field = one_line(field, 200) if field is not None else None
        self.file, self.line, self.field, self.detail = file, line, field, one_line(message)
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"{field}: " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")


class SpecErrors(SpecError):
    """Raised when a spec, script or record has several problems: all of them, in ``problems``.

    It reads as its first problem, followed by how many more there are; ``content-factory
    validate`` prints every one on its own line, the jobs API answers them all.
    """

    def __init__(self, problems: list[SpecError]) -> None:
        first = problems[0]
        self.problems = list(problems)
        super().__init__(f"{first.detail} (and {len(problems) - 1} more problem(s); "
                         "`content-factory validate` lists them all)", file=first.file,
                         line=first.line, field=first.field)
        self.detail = first.detail


def spec_problems(problems: list[SpecError]) -> SpecError:
    """One error for ``problems`` (at least one): itself when alone, else :class:`SpecErrors`."""
    flat = [p for e in problems for p in getattr(e, "problems", [e])]
    return flat[0] if len(flat) == 1 else SpecErrors(flat)


@contextmanager
def gathered(problems: list[SpecError] | None) -> Iterator[None]:
    """Collect a :class:`SpecError` raised in the block into ``problems`` and go on after the
    block; with ``problems`` None it propagates (the loaders' strict mode)."""
    if problems is None:
        yield
        return
    try:
        yield
    except SpecError as exc:
        problems.extend(getattr(exc, "problems", [exc]))


class ConfigError(FactoryError):
    """Raised when a setting or command-line option is invalid or missing."""


class LayoutError(ConfigError):
    """Raised when text or a logo cannot be laid out inside a format's safe zone."""


class MediaError(FactoryError):
    """Raised when a media file cannot be read or written (names the file and ffmpeg's reason)."""


class MissingGlyphsError(MediaError):
    """Raised when no font in the font folder can draw some caption characters."""


class ProvenanceError(MediaError):
    """Raised when a C2PA manifest cannot be signed or read (names the file and the reason)."""


class RenderError(FactoryError):
    """Raised when a rendering backend cannot produce a shot."""


class WeightsNotFound(RenderError):
    """Raised when a weights folder or file is missing (names the path and what was expected)."""


class WeightKeyError(RenderError):
    """Raised when a checkpoint's keys do not match the model: lists missing and unexpected keys."""

    def __init__(self, what: str, missing: list[str], unexpected: list[str]) -> None:
        self.missing, self.unexpected = missing, unexpected

        def show(keys: list[str]) -> str:
            if not keys:
                return "none"
            more = f", ... ({len(keys) - 20} more)" if len(keys) > 20 else ""
            return ", ".join(keys[:20]) + more

        super().__init__(f"{what}: checkpoint keys do not match the model "
                         f"({len(missing)} missing: {show(missing)}; "
                         f"{len(unexpected)} unexpected: {show(unexpected)}). "
                         "Check that the weights belong to this preset and layout.")


class StorageError(FactoryError):
    """Raised when the run database or an object store fails or refuses an operation."""


class PublishRefused(StorageError):
    """Raised when a clip without an ``allow`` or ``approved`` moderation decision is published."""


class ObjectMissing(StorageError):
    """Raised when a key that should be in a store is not there (deleted, evicted, wrong URL)."""


class ChecksumMismatch(StorageError):
    """Raised when the bytes a store holds (or sent back) are not the bytes that were written.

    The write is undone before this is raised: nothing is left under the final key.
    """


class ClaimLost(StorageError):
    """Raised when another worker took over this worker's claim (its heartbeat had stalled)."""


class ReviewNotFound(StorageError):
    """Raised when a review id or subject names no review in the run records."""


class ReviewNotPending(StorageError):
    """Raised when a review was already decided (approved, rejected or timed out)."""


class ModerationError(FactoryError):
    """Raised when a moderation component (term list, detector) cannot be used as configured."""


class RunStopped(FactoryError):
    """Raised when moderation blocks a run, or a reviewer rejects it (nothing is published)."""
