"""Publishing clips: the one place where a deliverable is written to its target store.

The moderation gate is enforced here, at the write, not only in the flow: a clip whose latest
moderation decision is not ``allow`` or ``approved`` raises :class:`PublishRefused` and nothing
is written. Keys are derived from content, so a rerun writes the same key and the store skips
the upload when the stored checksum matches.

A publish of a run's clips (:func:`publish_clips`) is all or nothing, and leaves nothing behind:

1. leftovers under the run's prefix (``CAMPAIGN/RUN/``) are cleaned first: temporary files of
   dead writers, unfinished S3 uploads older than ``stale_after_s``;
2. every file of every clip is uploaded; if one fails, the objects this publish uploaded are
   deleted again and the error is raised (a retry or a rerun starts over and completes);
3. only then are the objects recorded, in one transaction, as the clips' current publications;
   an object of an earlier publish that a clip no longer is (a changed spec) is marked
   superseded and deleted;
4. any object under the run's prefix that no clip currently is (left by a publish killed
   between its uploads and its record) is deleted, the manifest excepted;
5. at the end, successful or not, unfinished uploads to this publish's keys are aborted: a
   "create multipart upload" whose answer was lost leaves an upload nobody knows the id of.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from common.errors import ChecksumMismatch, PublishRefused, StorageError
from storage.db import Database
from storage.objects import ObjectStore, guess_content_type, sha256_file
from storage.records import (
    assert_publishable,
    current_keys,
    get_clip,
    get_run,
    record_publication,
    run_prefix,
    supersede_publications,
)

log = logging.getLogger(__name__)

# Deliverables are immutable by key (the key holds their hash), so caches may keep them.
CACHE_CONTROL = "private, max-age=31536000, immutable"
STALE_AFTER_S = 3600  # unfinished uploads and temporary files older than this are abandoned
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Published:
    kind: str
    key: str
    url: str
    sha256: str
    size: int
    uploaded: bool

    def to_dict(self) -> dict:
        return asdict(self)


def clip_key(campaign_id: str, run_id: str, locale: str, kind: str, sha256: str,
             suffix: str, format: str = "") -> str:
    """``CAMPAIGN/RUN/[FORMAT/]LOCALE/KIND-<sha256[:16]>.EXT``: same bytes, same key. The
    format folder is ``9x16`` for 9:16; a clip without a format keeps the old key."""
    safe_locale = re.sub(r"[^A-Za-z0-9._-]+", "-", locale)
    folder = f"{format.replace(':', 'x')}/" if format else ""
    return (f"{run_prefix(campaign_id, run_id)}{folder}{safe_locale}/"
            f"{kind}-{sha256[:16]}{suffix}")


def manifest_key(campaign_id: str, run_id: str) -> str:
    return f"{run_prefix(campaign_id, run_id)}{MANIFEST}"


def publish_clip(db: Database, store: ObjectStore, *, content_id: str, files: dict[str, Path],
                 presign_expiry_s: int = 7 * 24 * 3600, extra_metadata: dict[str, str] | None = None,
                 stale_after_s: float = STALE_AFTER_S) -> list[Published]:
    """Write one clip's files (``{"video": mp4, "srt": ..., "vtt": ...}``): :func:`publish_clips`
    for a single clip."""
    return publish_clips(db, store, {content_id: files}, presign_expiry_s=presign_expiry_s,
                         extra_metadata=extra_metadata, stale_after_s=stale_after_s)[content_id]


def publish_clips(db: Database, store: ObjectStore, clips: Mapping[str, Mapping[str, Path]], *,
                  presign_expiry_s: int = 7 * 24 * 3600,
                  extra_metadata: dict[str, str] | None = None,
                  stale_after_s: float = STALE_AFTER_S) -> dict[str, list[Published]]:
    """Publish clips (content id -> their files) to ``store``, all or nothing (module doc).

    Refuses (``PublishRefused``) before writing anything when any clip is not moderated as
    publishable; records every object in the run records.
    """
    where: dict[str, tuple[str, str, str, str]] = {}
    with db.session() as s:
        for content_id in clips:
            assert_publishable(s, content_id)
            clip = get_clip(s, content_id)
            where[content_id] = (clip.run.campaign_id, clip.run_id, clip.locale, clip.format)
    prefixes = sorted({run_prefix(c, r) for c, r, _, _ in where.values()})
    for prefix in prefixes:
        store.clean_up(prefix, older_than_s=stale_after_s)
    results: dict[str, list[Published]] = {}
    attempted: list[str] = []
    written: list[str] = []  # uploaded by this publish: undone if it fails
    try:
        for content_id, files in clips.items():
            campaign_id, run_id, locale, format = where[content_id]
            metadata = {"content-id": content_id, "campaign": campaign_id, "run": run_id,
                        "locale": locale, **({"format": format} if format else {}),
                        **(extra_metadata or {})}
            results[content_id] = []
            for kind, path in files.items():
                path = Path(path)
                digest = sha256_file(path)
                key = clip_key(campaign_id, run_id, locale, kind, digest,
                               "".join(path.suffixes[-1:]), format)
                attempted.append(key)
                put = store.put_file(key, path, content_type=guess_content_type(path),
                                     cache_control=CACHE_CONTROL, metadata=metadata)
                if put.uploaded:
                    written.append(key)
                url = store.presign(key, expires_s=presign_expiry_s)
                results[content_id].append(Published(kind, key, url, put.sha256, put.size,
                                                     put.uploaded))
        retired = _record(db, store, results)
    except BaseException:
        _undo(store, written)
        raise
    finally:
        for prefix in prefixes:
            store.clean_up(prefix, older_than_s=stale_after_s, keys=attempted)
    _retire(db, store, retired, prefixes)
    return results


def _record(db: Database, store: ObjectStore, results: dict[str, list[Published]]) -> list[str]:
    """Record every object as its clip's current one, in one transaction; the keys it retired."""
    retired: list[str] = []
    with db.session() as s:
        for content_id, published in results.items():
            clip = get_clip(s, content_id)
            for p in published:
                record_publication(s, clip=clip, target=store.url, object_key=p.key, kind=p.kind,
                                   url=p.url, sha256=p.sha256, size_bytes=p.size,
                                   uploaded=p.uploaded)
                retired += supersede_publications(s, clip=clip, target=store.url, kind=p.kind,
                                                  current_key=p.key)
                if p.kind == "video":
                    clip.state = "published"
    return retired


def _undo(store: ObjectStore, written: list[str]) -> None:
    for key in written:
        try:
            store.delete(key)
        except Exception as exc:  # the next publish of the run removes it (step 4)
            log.warning("could not remove %s/%s after a failed publish: %s", store.url, key, exc)


def _retire(db: Database, store: ObjectStore, retired: list[str], prefixes: list[str]) -> None:
    """Delete superseded objects, and any object under the runs' prefixes no clip currently is."""
    with db.session() as s:
        current = set().union(*(current_keys(s, store.url, p) for p in prefixes))
    stray = [key for key in retired if key not in current]
    try:
        for prefix in prefixes:
            stray += [info.key for info in store.list(prefix) if info.key not in current
                      and info.key != prefix + MANIFEST and info.key not in stray]
    except StorageError as exc:  # the clips are published; the next publish of the run retries
        log.warning("could not list %s under %s for leftovers: %s", store.url, prefixes, exc)
    for key in stray:
        try:
            store.delete(key)
            log.info("%s: removed %s (superseded or never recorded)", store.url, key)
        except Exception as exc:  # retried by the next publish of the run
            log.warning("could not remove superseded %s/%s: %s", store.url, key, exc)


@dataclass(frozen=True)
class Republished:
    """One clip of a run written to another target (``refused`` names why it was not)."""

    content_id: str
    locale: str
    published: list[Published]
    refused: str | None = None

    def to_dict(self) -> dict:
        return {"content_id": self.content_id, "locale": self.locale, "refused": self.refused,
                "published": [p.to_dict() for p in self.published]}


def republish_run(db: Database, run_id: str, dest: ObjectStore, *,
                  source_for: Callable[[str], ObjectStore], work_dir: str | os.PathLike,
                  presign_expiry_s: int = 7 * 24 * 3600) -> list[Republished]:
    """Publish every clip a finished run published before to ``dest``, from where it went.

    For each clip and file kind the latest recorded publication on another target is fetched
    from its store (``source_for(target_url)``), checked against its recorded SHA-256 and
    published to ``dest`` with :func:`publish_clip`, so the moderation gate applies again and
    the keys are the same content-derived keys. A clip refused by the gate is reported, not
    raised; nothing of it is written.
    """
    with db.session() as s:
        run = get_run(s, run_id)
        if run.state in ("pending", "running"):
            raise StorageError(f"run {run_id} is {run.state}: re-publish it after it finishes")
        plan: list[tuple[str, str, dict[str, tuple[str, str, str]]]] = []
        for clip in sorted(run.clips, key=lambda c: c.locale):
            latest: dict[str, tuple] = {}
            for p in sorted((p for p in clip.publications if p.current),
                            key=lambda p: (p.target != dest.url, p.published_at)):
                latest[p.kind] = (p.target, p.object_key, p.sha256)  # other targets win
            if latest:
                plan.append((clip.content_id, clip.locale, latest))
    if not plan:
        raise StorageError(f"run {run_id} has no published clips to re-publish "
                           "(see `content-factory runs`)")
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    sources: dict[str, ObjectStore] = {}
    results: list[Republished] = []
    for content_id, locale, latest in plan:
        with tempfile.TemporaryDirectory(dir=work_dir, prefix=f".republish-{run_id}-") as tmp:
            files: dict[str, Path] = {}
            try:
                with db.session() as s:
                    assert_publishable(s, content_id)  # before fetching anything
            except PublishRefused as exc:
                results.append(Republished(content_id, locale, [], refused=str(exc)))
                continue
            for kind, (target, key, digest) in latest.items():
                if target not in sources:
                    sources[target] = dest if target == dest.url else source_for(target)
                path = Path(tmp) / f"{kind}{''.join(Path(key).suffixes[-1:])}"
                sources[target].get_file(key, path)
                if sha256_file(path) != digest:
                    raise ChecksumMismatch(f"{target}/{key}: the stored clip does not match the "
                                           f"SHA-256 recorded when it was published ({digest})")
                files[kind] = path
            published = publish_clip(db, dest, content_id=content_id, files=files,
                                     presign_expiry_s=presign_expiry_s)
            results.append(Republished(content_id, locale, published))
    return results
