"""The factory's error hierarchy.

Every error a user can cause derives from :class:`FactoryError`, so the CLI can print it as one
clear line and exit non-zero instead of a traceback. Each message names the thing that is wrong
(field, file, key, shot) and what to do next.

    FactoryError
    ├── SpecError            a campaign spec, script or product record is invalid (file, line, field)
    ├── ConfigError          a setting or an option is invalid or missing
    ├── MediaError           a video/image file cannot be read, or ffmpeg failed on it
    ├── RenderError          a rendering backend failed (out of memory, missing weights, ...)
    ├── StorageError         the database or an object store failed or refused a write
    │   └── PublishRefused   a clip has no allow/approved moderation decision
    └── ModerationError      a moderation detector or term list cannot be used
"""

from __future__ import annotations


class FactoryError(Exception):
    """Base class: an error with a message meant for the person running the factory."""


class SpecError(FactoryError):
    """Raised when a campaign spec, script or product record is invalid.

    ``file``, ``line`` and ``field`` locate the problem; the message always names them.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.line, self.field, self.detail = file, line, field, message
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"{field}: " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")


class ConfigError(FactoryError):
    """Raised when a setting or command-line option is invalid or missing."""


class MediaError(FactoryError):
    """Raised when a media file cannot be read or written (names the file and ffmpeg's reason)."""


class RenderError(FactoryError):
    """Raised when a rendering backend cannot produce a shot."""


class StorageError(FactoryError):
    """Raised when the run database or an object store fails or refuses an operation."""


class PublishRefused(StorageError):
    """Raised when a clip without an ``allow`` or ``approved`` moderation decision is published."""


class ModerationError(FactoryError):
    """Raised when a moderation component (term list, detector) cannot be used as configured."""
