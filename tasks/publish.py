"""Publishing a run's clips and its manifest to the target store.

The moderation gate itself lives in ``storage.publish`` (where the object is written); this
stage records each clip, publishes its files, and writes one manifest JSON per run that lists
every clip, locale, checksum, duration and (presigned) URL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.db import Database
from storage.objects import ObjectStore, sha256_file
from storage.publish import Published, publish_clip
from storage.records import get_run, upsert_clip
from tasks.deliver import ClipFiles
from tasks.video import probe


def record_clip(db: Database, run_id: str, clip: ClipFiles) -> None:
    """Store what the clip is (checksum, length, size) before anything is published."""
    info = probe(clip.video)
    with db.session() as s:
        upsert_clip(s, run_id=run_id, locale=clip.locale, content_id=clip.content_id,
                    state="encoded", sha256=sha256_file(clip.video),
                    size_bytes=clip.video.stat().st_size, duration=info.duration,
                    frames=info.frames, width=info.width, height=info.height,
                    fps=float(info.fps),
                    details={"watermark_payload": clip.payload_hex, "c2pa_signed": clip.signed,
                             "sidecars": sorted(clip.sidecars)})


def publish_clip_files(db: Database, store: ObjectStore, clip: ClipFiles, *,
                       presign_expiry_s: int) -> list[Published]:
    return publish_clip(db, store, content_id=clip.content_id, files=clip.publishable(),
                        presign_expiry_s=presign_expiry_s)


def manifest_for(db: Database, run_id: str, published: dict[str, list[Published]],
                 extra: dict | None = None) -> dict:
    with db.session() as s:
        run = get_run(s, run_id)
        clips = []
        for clip in sorted(run.clips, key=lambda c: c.locale):
            if clip.locale not in published:
                continue
            files = {p.kind: p for p in published[clip.locale]}
            video = files["video"]
            clips.append({
                "locale": clip.locale, "content_id": clip.content_id, "key": video.key,
                "url": video.url, "sha256": video.sha256, "size": video.size,
                "duration": round(clip.duration, 3), "frames": clip.frames,
                "width": clip.width, "height": clip.height, "fps": clip.fps,
                "uploaded": video.uploaded,
                "sidecars": {k: {"key": p.key, "url": p.url, "sha256": p.sha256}
                             for k, p in files.items() if k != "video"},
            })
        return {"run_id": run.id, "campaign_id": run.campaign_id, "kind": run.kind,
                "backend": run.backend, "locales": sorted(published),
                "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "clips": clips, **(extra or {})}


def write_manifest(db: Database, store: ObjectStore, run_id: str, manifest: dict) -> str:
    """Write ``CAMPAIGN/RUN/manifest.json`` to the target store; returns its key."""
    key = f"{manifest['campaign_id']}/{run_id}/manifest.json"
    store.put_bytes(key, json.dumps(manifest, indent=2, ensure_ascii=False).encode(),
                    content_type="application/json", cache_control="private, no-cache",
                    metadata={"run": run_id, "campaign": manifest["campaign_id"]})
    return key


@task(name="publish-clip", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def publish_clip_task(db: Database, store: ObjectStore, run_id: str, clip: ClipFiles,
                      presign_expiry_s: int) -> list[Published]:
    return publish_clip_files(db, store, clip, presign_expiry_s=presign_expiry_s)


@task(name="write-manifest", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_manifest_task(db: Database, store: ObjectStore, run_id: str,
                        published: dict[str, list[Published]], extra: dict | None = None) -> dict:
    manifest = manifest_for(db, run_id, published, extra)
    manifest["manifest_key"] = write_manifest(db, store, run_id, manifest)
    return manifest
