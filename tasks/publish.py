"""Publishing a run's clips and its manifest to the target store.

The moderation gate itself lives in ``storage.publish`` (where the object is written); this
stage publishes each clip's files and writes one manifest JSON per run that lists every clip of
the run published to that target (earlier localization runs' locales included), with locale,
checksum, duration and (presigned) URL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.db import Database
from storage.objects import ObjectStore
from storage.publish import Published, publish_clip
from storage.records import get_run
from tasks.localize import ClipFiles


def publish_clip_files(db: Database, store: ObjectStore, clip: ClipFiles, *,
                       presign_expiry_s: int) -> list[Published]:
    return publish_clip(db, store, content_id=clip.content_id, files=clip.publishable(),
                        presign_expiry_s=presign_expiry_s)


def manifest_for(db: Database, run_id: str, target_url: str, extra: dict | None = None) -> dict:
    """The run's manifest: every clip with a video published to ``target_url`` (latest files)."""
    with db.session() as s:
        run = get_run(s, run_id)
        clips = []
        for clip in sorted(run.clips, key=lambda c: c.locale):
            files = {}
            for pub in sorted(clip.publications, key=lambda p: p.published_at):
                if pub.target == target_url:
                    files[pub.kind] = pub  # the latest publication of each kind wins
            video = files.get("video")
            if video is None:
                continue
            clips.append({
                "locale": clip.locale, "content_id": clip.content_id, "key": video.object_key,
                "url": video.url, "sha256": video.sha256, "size": video.size_bytes,
                "duration": round(clip.duration, 3), "frames": clip.frames,
                "width": clip.width, "height": clip.height, "fps": clip.fps,
                "uploaded": video.uploaded,
                "sidecars": {k: {"key": p.object_key, "url": p.url, "sha256": p.sha256}
                             for k, p in files.items() if k != "video"},
            })
        return {"run_id": run.id, "campaign_id": run.campaign_id, "kind": run.kind,
                "backend": run.backend, "locales": [c["locale"] for c in clips],
                "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "clips": clips, **(extra or {})}


def write_manifest(store: ObjectStore, run_id: str, manifest: dict) -> str:
    """Write ``CAMPAIGN/RUN/manifest.json`` to the target store; returns its key."""
    key = f"{manifest['campaign_id']}/{run_id}/manifest.json"
    store.put_bytes(key, json.dumps(manifest, indent=2, ensure_ascii=False).encode(),
                    content_type="application/json", cache_control="private, no-cache",
                    metadata={"run": run_id, "campaign": manifest["campaign_id"]})
    return key


@task(name="publish-clip", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def publish_clip_task(db: Database, store: ObjectStore, clip: ClipFiles,
                      presign_expiry_s: int) -> list[Published]:
    return publish_clip_files(db, store, clip, presign_expiry_s=presign_expiry_s)


@task(name="write-manifest", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_manifest_task(db: Database, store: ObjectStore, run_id: str,
                        extra: dict | None = None) -> dict:
    manifest = manifest_for(db, run_id, store.url, extra)
    manifest["manifest_key"] = write_manifest(store, run_id, manifest)
    return manifest
