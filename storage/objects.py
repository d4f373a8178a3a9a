"""The object-store interface: ``file://DIR`` (:mod:`storage.file_store`, the embedded default)
and ``s3://BUCKET/PREFIX`` (:mod:`storage.s3`) implement it; :func:`storage.open_store` picks one.

Writes are atomic and idempotent: an object appears under its key only once it is complete,
and putting the same bytes under the same key again uploads nothing. SHA-256 is computed
locally before the write and checked against what the store holds afterwards.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import StorageError

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    # The store's own checksum of the bytes (S3 ``ChecksumSHA256``: base64, ``-N`` when it is
    # the composite of N parts), when the store reports one.
    store_checksum: str | None = None


@dataclass(frozen=True)
class PutResult:
    key: str
    sha256: str
    size: int
    uploaded: bool  # False when the same bytes were already stored under the key


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def guess_content_type(path: str | os.PathLike) -> str:
    name = str(path)
    overrides = {".mp4": "video/mp4", ".vtt": "text/vtt", ".srt": "application/x-subrip",
                 ".ass": "text/x-ssa", ".json": "application/json", ".mkv": "video/x-matroska"}
    for ext, ctype in overrides.items():
        if name.endswith(ext):
            return ctype
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"object key {key!r} is not a clean relative path")
    return key


class ObjectStore(ABC):
    """Where published clips and cached renders live."""

    url: str

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike, *, content_type: str | None = None,
                 cache_control: str | None = None, metadata: dict[str, str] | None = None
                 ) -> PutResult:
        """Store ``path`` under ``key``; skip the write when the stored SHA-256 matches."""

    @abstractmethod
    def get_file(self, key: str, dest: str | os.PathLike) -> Path:
        """Copy the object to ``dest`` (atomically) and return ``dest``."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's description, or ``None`` when there is no such key."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    @abstractmethod
    def presign(self, key: str, *, expires_s: int = 3600) -> str:
        """A URL that lets its holder read the object until it expires."""

    def clean_up(self, prefix: str = "", *, older_than_s: float,
                 keys: Iterable[str] = ()) -> int:
        """Remove what killed or failed writes left under ``prefix`` (temporary files, unfinished
        uploads) that is older than ``older_than_s`` or certainly abandoned (its writer is dead;
        for S3, an unfinished upload to one of ``keys``, which the caller just wrote). Returns
        how many things were removed. Stores with nothing to leave behind return 0."""
        return 0

    def put_bytes(self, key: str, data: bytes, **kwargs) -> PutResult:
        with tempfile.NamedTemporaryFile(delete=False) as tmp:
            tmp.write(data)
        try:
            return self.put_file(key, tmp.name, **kwargs)
        finally:
            os.unlink(tmp.name)

    def get_bytes(self, key: str) -> bytes:
        with tempfile.TemporaryDirectory() as d:
            return self.get_file(key, Path(d) / "obj").read_bytes()

    def exists(self, key: str) -> bool:
        return self.head(key) is not None
