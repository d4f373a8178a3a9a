"""Object stores behind one interface: ``file://DIR`` (embedded default) and ``s3://BUCKET/PREFIX``.

Writes are atomic and idempotent: an object appears under its key only once it is complete,
and putting the same bytes under the same key again uploads nothing. SHA-256 is computed
locally before the write and checked against what the store holds afterwards.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from common.errors import ConfigError, StorageError

CHUNK = 1024 * 1024


class ObjectMissing(StorageError):
    """Raised when a key that should be in a store is not there (deleted, evicted, wrong URL)."""


class ChecksumMismatch(StorageError):
    """Raised when the bytes a store holds (or sent back) are not the bytes that were written.

    The write is undone before this is raised: nothing is left under the final key.
    """


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


class FileStore(ObjectStore):
    """A directory as an object store. Metadata lives in ``.meta/<key>.json`` beside the data."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / f"{check_key(key)}.json"

    def put_file(self, key, path, *, content_type=None, cache_control=None, metadata=None):
        src = Path(path)
        if not src.is_file():
            raise StorageError(f"cannot store {src}: no such file")
        digest = sha256_file(src)
        size = src.stat().st_size
        current = self.head(key)
        if current is not None and current.sha256 == digest:
            return PutResult(key, digest, size, uploaded=False)
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Copy to a hidden temp name in the same directory, verify, then rename: readers see
        # either nothing or the whole object.
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
        os.close(fd)
        meta_tmp: str | None = None
        try:
            shutil.copyfile(src, tmp)
            if sha256_file(tmp) != digest:
                raise ChecksumMismatch(f"{self.url}/{key}: checksum changed while copying {src}")
            meta = {"sha256": digest, "size": size,
                    "content_type": content_type or guess_content_type(key),
                    "cache_control": cache_control, "metadata": dict(metadata or {})}
            meta_path = self._meta_path(key)
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            # A unique temp name: two workers may store the same key at the same time.
            mfd, meta_tmp = tempfile.mkstemp(dir=meta_path.parent, prefix=f".{meta_path.name}.",
                                             suffix=".partial")
            with os.fdopen(mfd, "w") as f:
                f.write(json.dumps(meta))
            os.replace(meta_tmp, meta_path)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            if meta_tmp is not None:
                Path(meta_tmp).unlink(missing_ok=True)
            raise
        return PutResult(key, digest, size, uploaded=True)

    def get_file(self, key, dest):
        info = self.head(key)
        if info is None:
            raise ObjectMissing(f"{self.url}: no object {key!r}")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
        os.close(fd)
        try:
            shutil.copyfile(self._path(key), tmp)
            if info.sha256 and sha256_file(tmp) != info.sha256:
                raise ChecksumMismatch(f"{self.url}/{key}: the stored bytes do not match their "
                                       "recorded SHA-256; delete the object and publish again")
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def head(self, key):
        path = self._path(key)
        if not path.is_file():
            return None
        meta_path = self._meta_path(key)
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        if meta.get("size") != path.stat().st_size:
            meta["sha256"] = sha256_file(path)  # written by hand or changed: trust the bytes
        return ObjectInfo(key=key, size=path.stat().st_size, sha256=meta.get("sha256"),
                          content_type=meta.get("content_type") or guess_content_type(key),
                          metadata=meta.get("metadata") or {})

    def delete(self, key):
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    def list(self, prefix=""):
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and not rel.startswith(".meta/") and not path.name.startswith(".") \
                    and rel.startswith(prefix):
                info = self.head(rel)
                if info is not None:
                    yield info

    def presign(self, key, *, expires_s=3600):
        # A local directory has no signatures: the file URL is what a local user opens.
        return self._path(key).as_uri()

    def local_path(self, key: str) -> Path:
        return self._path(key)


def open_store(url: str, *, endpoint_url: str | None = None, region: str | None = None
               ) -> ObjectStore:
    """An object store for ``file://DIR`` or ``s3://BUCKET/PREFIX``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileStore(Path(parsed.netloc + parsed.path) if parsed.netloc else parsed.path)
    if parsed.scheme == "s3":
        from storage.s3 import S3Store  # boto3 only when S3 is used

        return S3Store(bucket=parsed.netloc, prefix=parsed.path.lstrip("/"),
                       endpoint_url=endpoint_url, region=region)
    if parsed.scheme == "" and url:
        return FileStore(url)
    raise ConfigError(f"store URL {url!r}: use file://DIR or s3://BUCKET/PREFIX")
