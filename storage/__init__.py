"""Storage: run records (SQLAlchemy + Alembic), object stores and the template cache.

Public surface (imported lazily, so ``import storage.objects`` stays light)::

    open_database(url) -> Database          SQLite (WAL) or PostgreSQL, migrated on first use
    open_store(url) -> ObjectStore          file://DIR (FileStore) or s3://BUCKET/PREFIX (S3Store)
    TemplateCache(db, store, ...)           every render stored once, claimed across workers
    publish_clips(db, store, ...)           the one place deliverables are written (moderation gate;
                                            a run's clips all or nothing, leftovers removed)
    storage.records                         small functions over a session: runs, shots, clips, ...
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from common.errors import ConfigError
from storage.objects import ObjectInfo, ObjectStore, PutResult, sha256_file

_LAZY = {
    "Database": "storage.db", "open_database": "storage.db",
    "FileStore": "storage.file_store", "S3Store": "storage.s3", "S3Options": "storage.s3",
    "TemplateCache": "storage.cache", "CachedRender": "storage.cache",
    "Published": "storage.publish", "publish_clip": "storage.publish",
    "publish_clips": "storage.publish",
    "republish_run": "storage.publish",
}

__all__ = ["ObjectInfo", "ObjectStore", "PutResult", "open_store", "sha256_file", *_LAZY]


def open_store(url: str, *, endpoint_url: str | None = None, region: str | None = None
               ) -> ObjectStore:
    """An object store for ``file://DIR`` or ``s3://BUCKET/PREFIX`` (a bare path is a folder)."""
    from storage.file_store import FileStore

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
