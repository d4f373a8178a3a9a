"""A local directory as an object store (``file://DIR``): the embedded default.

Writes are atomic: the bytes go to a hidden temporary name in the same directory and are
renamed into place, so readers see the whole object or nothing. The object is renamed into
place first and its sidecar metadata (``.meta/<key>.json``) after it, and the metadata names the
file it describes (inode, size, modification time): a process killed between the two renames
leaves an object whose metadata is missing or stale, which :meth:`FileStore.head` recognises
(it hashes the bytes instead) and the next put of the key rewrites. Temporary files carry their
writer's id (``storage.workers``); :meth:`FileStore.clean_up` removes those of dead writers and
old ones, and metadata whose object is gone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
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
from storage.workers import file_tag, is_dead, owner_of

log = logging.getLogger(__name__)

PARTIAL = ".partial"


def _stamp(st: os.stat_result) -> dict:
    return {"ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


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

    def _temp(self, dest: Path) -> Path:
        """A new hidden temporary file beside ``dest`` whose name says which process writes it."""
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.~{file_tag()}~",
                                   suffix=PARTIAL)
        os.close(fd)
        return Path(tmp)

    def _read_meta(self, key: str) -> dict:
        try:
            return json.loads(self._meta_path(key).read_text())
        except (OSError, ValueError):
            return {}

    def _write_meta(self, key: str, meta: dict) -> None:
        meta_path = self._meta_path(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temp(meta_path)
        try:
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, meta_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_file(self, key, path, *, content_type=None, cache_control=None, metadata=None):
        src = Path(path)
        if not src.is_file():
            raise StorageError(f"cannot store {src}: no such file")
        digest = sha256_file(src)
        size = src.stat().st_size
        meta = {"sha256": digest, "size": size,
                "content_type": content_type or guess_content_type(key),
                "cache_control": cache_control, "metadata": dict(metadata or {})}
        current = self.head(key)
        if current is not None and current.sha256 == digest:
            stored = self._read_meta(key)
            st = self._path(key).stat()
            if stored.get("ino") != st.st_ino or stored.get("sha256") != digest:
                self._write_meta(key, {**meta, **_stamp(st)})  # a kill left it out: repair
            return PutResult(key, digest, size, uploaded=False)
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Copy to a hidden temp name in the same directory, verify, rename the object into
        # place, then its metadata: readers see either nothing or the whole object.
        tmp = self._temp(dest)
        try:
            shutil.copyfile(src, tmp)
            if sha256_file(tmp) != digest:
                raise ChecksumMismatch(f"{self.url}/{key}: checksum changed while copying {src}")
            stamp = _stamp(tmp.stat())  # a rename keeps inode and modification time
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._write_meta(key, {**meta, **stamp})
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
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        meta = self._read_meta(key)
        # Metadata counts only for the file it was written for; stores written before it named
        # the inode are checked by size, as they were.
        same = meta.get("size") == st.st_size and meta.get("ino", st.st_ino) == st.st_ino \
            and meta.get("mtime_ns", st.st_mtime_ns) == st.st_mtime_ns
        if not same:
            meta = {"sha256": sha256_file(path)}  # written by hand, changed or a kill: trust bytes
        return ObjectInfo(key=key, size=st.st_size, sha256=meta.get("sha256"),
                          content_type=meta.get("content_type") or guess_content_type(key),
                          metadata=meta.get("metadata") or {})

    def delete(self, key):
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    def list(self, prefix=""):
        folder = self.root / prefix.rpartition("/")[0]  # walk only what the prefix can match
        if not folder.is_dir() or folder.is_relative_to(self.root / ".meta"):
            return
        for path in sorted(folder.rglob("*")):
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

    def clean_up(self, prefix: str = "", *, older_than_s: float, keys=()) -> int:
        """Remove leftovers under ``prefix``: temporary files whose writer is dead or that are
        older than ``older_than_s``, and metadata whose object is gone. Returns how many."""
        removed = 0
        cutoff = time.time() - older_than_s
        for base in (self.root, self.root / ".meta"):
            folder = base / prefix.rstrip("/") if prefix else base
            start = folder if folder.is_dir() else folder.parent
            if not start.is_dir():
                continue
            for path in start.rglob(f".*{PARTIAL}"):
                rel = path.relative_to(base).as_posix()
                if not rel.startswith(prefix) or not path.is_file():
                    continue
                try:
                    old = path.stat().st_mtime < cutoff
                except FileNotFoundError:
                    continue
                if old or is_dead(owner_of(path.name)):
                    path.unlink(missing_ok=True)
                    removed += 1
        meta_root = self.root / ".meta"
        meta_dir = meta_root / prefix.rstrip("/") if prefix else meta_root
        start = meta_dir if meta_dir.is_dir() else meta_dir.parent
        if start.is_dir():
            for meta in start.rglob("*.json"):
                key = meta.relative_to(meta_root).as_posix().removesuffix(".json")
                if meta.name.startswith(".") or not key.startswith(prefix):
                    continue
                if not (self.root / key).is_file():
                    meta.unlink(missing_ok=True)
                    removed += 1
        if removed:
            log.info("%s: removed %d leftover file(s) under %r", self.url, removed, prefix)
        return removed
