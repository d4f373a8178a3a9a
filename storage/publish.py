"""Publishing clips: the one place where a deliverable is written to its target store.

The moderation gate is enforced here, at the write, not only in the flow: a clip whose latest
moderation decision is not ``allow`` or ``approved`` raises :class:`PublishRefused` and nothing
is written. Keys are derived from content, so a rerun writes the same key and the store skips
the upload when the stored checksum matches.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from common.errors import ChecksumMismatch, PublishRefused, StorageError
from storage.db import Database
from storage.objects import ObjectStore, guess_content_type, sha256_file
from storage.records import assert_publishable, get_clip, get_run, record_publication

# Deliverables are immutable by key (the key holds their hash), so caches may keep them.
CACHE_CONTROL = "private, max-age=31536000, immutable"


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
             suffix: str) -> str:
    """``CAMPAIGN/RUN/LOCALE/KIND-<sha256[:16]>.EXT``: same bytes, same key."""
    safe = [re.sub(r"[^A-Za-z0-9._-]+", "-", part) for part in (campaign_id, run_id, locale)]
    return f"{safe[0]}/{safe[1]}/{safe[2]}/{kind}-{sha256[:16]}{suffix}"


def publish_clip(db: Database, store: ObjectStore, *, content_id: str, files: dict[str, Path],
                 presign_expiry_s: int = 7 * 24 * 3600, extra_metadata: dict[str, str] | None = None
                 ) -> list[Published]:
    """Write a clip's files (``{"video": mp4, "srt": ..., "vtt": ...}``) to ``store``.

    Refuses (``PublishRefused``) before writing anything when the clip is not moderated as
    publishable; records every object in the run records.
    """
    with db.session() as s:
        assert_publishable(s, content_id)
        clip = get_clip(s, content_id)
        campaign_id, run_id, locale = clip.run.campaign_id, clip.run_id, clip.locale
    results: list[Published] = []
    for kind, path in files.items():
        path = Path(path)
        digest = sha256_file(path)
        key = clip_key(campaign_id, run_id, locale, kind, digest, "".join(path.suffixes[-1:]))
        metadata = {"content-id": content_id, "campaign": campaign_id, "run": run_id,
                    "locale": locale, **(extra_metadata or {})}
        put = store.put_file(key, path, content_type=guess_content_type(path),
                             cache_control=CACHE_CONTROL, metadata=metadata)
        url = store.presign(key, expires_s=presign_expiry_s)
        results.append(Published(kind, key, url, put.sha256, put.size, put.uploaded))
        with db.session() as s:
            clip = get_clip(s, content_id)
            record_publication(s, clip=clip, target=store.url, object_key=key, kind=kind,
                               url=url, sha256=put.sha256, size_bytes=put.size,
                               uploaded=put.uploaded)
            if kind == "video":
                clip.state = "published"
    return results


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
            for p in sorted(clip.publications, key=lambda p: (p.target != dest.url,
                                                              p.published_at)):
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
