"""Publishing a run's clips and its manifest to the target store.

The moderation gate itself lives in ``storage.publish`` (where the object is written, all of a
run's clips or none, leaving nothing behind); this stage publishes the clips' files and writes
one manifest JSON per run that lists every clip of the run currently published to that target
(earlier localization runs' locales included), with locale, checksum, duration and
(presigned) URL.
"""

from __future__ import annotations

import json
from datetime import UTC

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.db import Database
from storage.objects import ObjectStore
from storage.publish import Published, manifest_key, publish_clips
from storage.records import get_run
from tasks.localize import ClipFiles


def publish_run(db: Database, store: ObjectStore, clips: list[ClipFiles], *,
                presign_expiry_s: int, stale_after_s: float,
                extra_metadata: dict[str, str] | None = None) -> dict[str, list[Published]]:
    """Publish the clips' files (MP4 plus sidecars), all or nothing (``extra_metadata``: more
    object metadata, e.g. the variant)."""
    return publish_clips(db, store, {c.content_id: c.publishable() for c in clips},
                         presign_expiry_s=presign_expiry_s, stale_after_s=stale_after_s,
                         extra_metadata=extra_metadata)


def manifest_for(db: Database, run_id: str, target_url: str, extra: dict | None = None) -> dict:
    """The run's manifest: every clip with a video published to ``target_url`` (latest files)."""
    with db.session() as s:
        run = get_run(s, run_id)
        clips, times = [], []
        for clip in sorted(run.clips, key=lambda c: (c.format, c.locale)):
            files = {p.kind: p for p in clip.publications if p.target == target_url and p.current}
            video = files.get("video")
            if video is None:
                continue
            clips.append({
                "locale": clip.locale, **({"format": clip.format} if clip.format else {}),
                "content_id": clip.content_id, "key": video.object_key,
                "url": video.url, "sha256": video.sha256, "size": video.size_bytes,
                "duration": round(clip.duration, 3), "frames": clip.frames,
                "width": clip.width, "height": clip.height, "fps": clip.fps,
                "uploaded": video.uploaded,
                "sidecars": {k: {"key": p.object_key, "url": p.url, "sha256": p.sha256}
                             for k, p in files.items() if k != "video"},
                **({"variant": clip.details["variant"]} if clip.details.get("variant") else {}),
            })
            at = video.published_at
            times.append(at if at.tzinfo else at.replace(tzinfo=UTC))  # SQLite drops the zone
        # The time of the latest clip it lists, not the clock: a rerun writes the same manifest.
        written = max(times).isoformat(timespec="seconds") if times else None
        return {"run_id": run.id, "campaign_id": run.campaign_id, "kind": run.kind,
                "backend": run.backend,
                "locales": list(dict.fromkeys(c["locale"] for c in clips)),
                **({"formats": list(dict.fromkeys(c["format"] for c in clips if "format" in c))}
                   if any("format" in c for c in clips) else {}),
                "written_at": written, "clips": clips, **(extra or {})}


def write_manifest(store: ObjectStore, run_id: str, manifest: dict) -> str:
    """Write ``CAMPAIGN/RUN/manifest.json`` to the target store; returns its key.

    Whether the last publish uploaded a clip or found it there says nothing about the clip, so
    it stays out of the file: a rerun writes the same manifest (on a file store, where URLs do
    not expire, the same bytes)."""
    key = manifest_key(manifest["campaign_id"], run_id)
    saved = {**manifest, "clips": [{k: v for k, v in c.items() if k != "uploaded"}
                                   for c in manifest["clips"]]}
    store.put_bytes(key, json.dumps(saved, indent=2, ensure_ascii=False).encode(),
                    content_type="application/json", cache_control="private, no-cache",
                    metadata={"run": run_id, "campaign": manifest["campaign_id"]})
    return key


@task(name="publish-run", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def publish_run_task(db: Database, store: ObjectStore, clips: list[ClipFiles],
                     presign_expiry_s: int, stale_after_s: float,
                     extra_metadata: dict[str, str] | None = None) -> dict[str, list[Published]]:
    return publish_run(db, store, clips, presign_expiry_s=presign_expiry_s,
                       stale_after_s=stale_after_s, extra_metadata=extra_metadata)


@task(name="write-manifest", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_manifest_task(db: Database, store: ObjectStore, run_id: str,
                        extra: dict | None = None) -> dict:
    manifest = manifest_for(db, run_id, store.url, extra)
    manifest["manifest_key"] = write_manifest(store, run_id, manifest)
    return manifest
