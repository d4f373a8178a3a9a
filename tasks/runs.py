"""Run bookkeeping: the small tasks through which flows write the run records.

Flows never open a database session themselves; each write here is one call into
``storage.records``, so it shows as its own step in the Prefect UI and is retried on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from media.video import probe
from storage.db import Database
from storage.objects import sha256_file
from storage.records import (
    add_run_metrics,
    fail_runs_of_flow_run,
    finish_run,
    get_run,
    record_failed_start,
    start_run,
    upsert_clip,
)
from tasks.localize import ClipFiles


def record_clip(db: Database, run_id: str, clip: ClipFiles) -> None:
    """Store what the clip is (checksum, length, size) before anything is published."""
    info = probe(clip.video)
    with db.session() as s:
        upsert_clip(s, run_id=run_id, locale=clip.locale, content_id=clip.content_id,
                    format=clip.format or "",
                    state="encoded", sha256=sha256_file(clip.video),
                    size_bytes=clip.video.stat().st_size, duration=info.duration,
                    frames=info.frames, width=info.width, height=info.height,
                    fps=float(info.fps),
                    details={"watermark_payload": clip.payload_hex, "c2pa_signed": clip.signed,
                             "sidecars": sorted(clip.sidecars), "audio": clip.audio,
                             **({"variant": clip.variant} if clip.variant else {})})


def run_facts(db: Database, run_id: str) -> tuple[str, str | None]:
    """The run's campaign id and stored master key."""
    with db.session() as s:
        run = get_run(s, run_id)
        return run.campaign_id, run.master_key


def run_created_at(db: Database, run_id: str) -> datetime:
    """When the run was first made: the time its clips' metadata gives, on every rerun."""
    with db.session() as s:
        created = get_run(s, run_id).created_at
    return created if created.tzinfo else created.replace(tzinfo=UTC)  # SQLite drops the zone


def set_master(db: Database, run_id: str, master_key: str) -> None:
    with db.session() as s:
        get_run(s, run_id).master_key = master_key  # localize runs start from it


def finish(db: Database, run_id: str, *, manifest_key: str | None, metrics: dict) -> None:
    """Record the run's figures (stage seconds, renders, ...) and mark it completed."""
    with db.session() as s:
        add_run_metrics(s, run_id, **metrics)
        finish_run(s, run_id, state="completed", manifest_key=manifest_key)


def reopen(db: Database, run_id: str, *, kind: str, backend: str, locales: list[str]) -> None:
    """Reopen a finished run for a localization (more locales from its stored master)."""
    with db.session() as s:
        campaign_id = get_run(s, run_id).campaign_id
        start_run(s, run_id=run_id, campaign_id=campaign_id, kind=kind, backend=backend,
                  locales=locales)


def fail_before_plan(db: Database, *, run_id: str, campaign_id: str, kind: str, error: str,
                     flow_run_id: str | None) -> None:
    """Record a run that failed before it was planned (see :func:`record_failed_start`)."""
    with db.session() as s:
        record_failed_start(s, run_id=run_id, campaign_id=campaign_id, kind=kind, error=error,
                            flow_run_id=flow_run_id)


def fail(db: Database, flow_run_id: str, error: str) -> int:
    """The runs a failed flow run was making say failed, with the reason; they can be rerun."""
    with db.session() as s:
        return fail_runs_of_flow_run(s, flow_run_id, error)


@task(name="record-clip", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def record_clip_task(db: Database, run_id: str, clip: ClipFiles) -> None:
    record_clip(db, run_id, clip)


@task(name="run-created-at", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def run_created_at_task(db: Database, run_id: str) -> datetime:
    return run_created_at(db, run_id)


@task(name="set-master", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def set_master_task(db: Database, run_id: str, master_key: str) -> None:
    set_master(db, run_id, master_key)


@task(name="reopen-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def reopen_task(db: Database, run_id: str, *, kind: str, backend: str,
                locales: list[str]) -> None:
    reopen(db, run_id, kind=kind, backend=backend, locales=locales)


@task(name="finish-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def finish_task(db: Database, run_id: str, *, manifest_key: str | None, metrics: dict) -> None:
    finish(db, run_id, manifest_key=manifest_key, metrics=metrics)
