"""A local directory as an object store (``file://DIR``): the embedded default.

Writes are atomic: the bytes go to a hidden temporary name in the same directory and are
renamed into place, so readers see the whole object or nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from common.errors import ChecksumMismatch, ObjectMissing, StorageError
from storage.objects import (
    ObjectInfo,
    ObjectStore,
    PutResult,
    check_key,
    guess_content_type,
    sha256_file,
)


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
