"""Publishing clips: the one place where a deliverable is written to its target store.

The moderation gate is enforced here, at the write, not only in the flow: a clip whose latest
moderation decision is not ``allow`` or ``approved`` raises :class:`PublishRefused` and nothing
is written. Keys are derived from content, so a rerun writes the same key and the store skips
the upload when the stored checksum matches.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from storage.db import Database
from storage.objects import ObjectStore, guess_content_type, sha256_file
from storage.records import assert_publishable, get_clip, record_publication

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
