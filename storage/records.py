"""Reading and writing run records. Small functions over a SQLAlchemy session."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import PublishRefused, StorageError
from common.verdicts import passes
from storage.models import (
    Campaign,
    Clip,
    ModerationDecision,
    Publication,
    Render,
    Run,
    Shot,
    utcnow,
)

FINAL_STATES = ("completed", "failed", "blocked", "rejected")


def upsert_campaign(s: Session, *, campaign_id: str, name: str, kind: str, spec_path: str,
                    spec_sha256: str, spec: dict) -> Campaign:
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        campaign = Campaign(id=campaign_id, name=name, kind=kind, spec_path=spec_path,
                            spec_sha256=spec_sha256, spec=spec)
        s.add(campaign)
    else:
        campaign.name, campaign.kind, campaign.spec_path = name, kind, spec_path
        campaign.spec_sha256, campaign.spec = spec_sha256, spec
    s.flush()
    return campaign


def start_run(s: Session, *, run_id: str, campaign_id: str, kind: str, backend: str,
              locales: list[str], flow_run_id: str | None = None,
              parent_run_id: str | None = None) -> Run:
    """Create the run, or reopen it when a failed run is rerun with the same id."""
    run = s.get(Run, run_id)
    if run is None:
        run = Run(id=run_id, campaign_id=campaign_id, kind=kind, locales=list(locales),
                  parent_run_id=parent_run_id, metrics={})
        s.add(run)
    elif run.campaign_id != campaign_id:
        raise StorageError(f"run id {run_id!r} belongs to campaign {run.campaign_id!r}, "
                           f"not {campaign_id!r}: choose another --run-id")
    run.state, run.backend, run.error = "running", backend, None
    run.locales = sorted(set(run.locales or []) | set(locales)) if kind == "localize" \
        else list(locales)
    run.flow_run_id = flow_run_id
    run.attempts = (run.attempts or 0) + 1
    run.started_at, run.finished_at = utcnow(), None
    s.flush()
    return run


def run_prefix(campaign_id: str, run_id: str) -> str:
    """``CAMPAIGN/RUN/``: where everything a run publishes lives on a target."""
    safe = [re.sub(r"[^A-Za-z0-9._-]+", "-", part) for part in (campaign_id, run_id)]
    return f"{safe[0]}/{safe[1]}/"


def queue_run(s: Session, *, run_id: str, campaign_id: str, name: str, kind: str,
              spec_path: str, spec_sha256: str, spec: dict, backend: str,
              locales: list[str]) -> Run:
    """Record a run that was asked for and not started yet (state ``queued``): the jobs API
    answers with its id at once, and ``plan_run`` reopens it when the flow starts."""
    upsert_campaign(s, campaign_id=campaign_id, name=name, kind=kind, spec_path=spec_path,
                    spec_sha256=spec_sha256, spec=spec)
    if s.get(Run, run_id) is not None:
        raise StorageError(f"run id {run_id!r} is taken")
    run = Run(id=run_id, campaign_id=campaign_id, kind=kind, locales=list(locales),
              backend=backend, state="queued", metrics={}, attempts=0)
    s.add(run)
    s.flush()
    return run


def record_failed_start(s: Session, *, run_id: str, campaign_id: str, kind: str, error: str,
                        flow_run_id: str | None = None) -> Run:
    """A run that failed before it was planned (an invalid spec, a missing file): recorded as
    failed, with the reason, so `content-factory runs` and the jobs API show it."""
    run = s.get(Run, run_id)
    if run is None:
        if s.get(Campaign, campaign_id) is None:
            s.add(Campaign(id=campaign_id, name=campaign_id, kind=kind if kind != "localize"
                           else "campaign", spec_path="", spec_sha256="", spec={}))
            s.flush()
        run = Run(id=run_id, campaign_id=campaign_id, kind=kind, locales=[], metrics={},
                  attempts=1, started_at=utcnow())
        s.add(run)
    run.state, run.error, run.finished_at = "failed", error[:2000], utcnow()
    run.flow_run_id = flow_run_id or run.flow_run_id
    s.flush()
    return run


def run_status(s: Session, run: Run) -> dict[str, Any]:
    """What a run is doing, from its records: state, stage, progress (0-1), shots rendered,
    clips made and published (each with its current video's URL and key)."""
    shots = list(run.shots)
    keys = {shot.render_key for shot in shots}
    ready = set(s.scalars(select(Render.key).where(Render.key.in_(keys),
                                                   Render.state == "ready"))) if keys else set()
    rendered = sum(shot.render_key in ready for shot in shots)
    clips = []
    for clip in sorted(run.clips, key=lambda c: c.locale):
        video = next((p for p in clip.publications if p.kind == "video" and p.current), None)
        clips.append({"locale": clip.locale, "content_id": clip.content_id,
                      "state": clip.state, "duration": clip.duration, "sha256": clip.sha256,
                      "size_bytes": clip.size_bytes, "url": video.url if video else None,
                      "key": video.object_key if video else None,
                      "target": video.target if video else None})
    published = sum(c["url"] is not None for c in clips)
    target = next((c["target"] for c in clips if c["target"]), None)
    output = None
    if target:  # CAMPAIGN/RUN/ on the target, where publishing puts a run's files
        output = f"{target.rstrip('/')}/{run_prefix(run.campaign_id, run.id)}"
    locales = max(len(run.locales or []), 1)
    if run.state == "completed":
        stage, progress = "done", 1.0
    elif run.state == "queued":
        stage, progress = "queued", 0.0
    elif not shots:
        stage, progress = "plan", 0.02
    elif run.master_key is None:
        stage, progress = "render", 0.05 + 0.6 * rendered / len(shots)
    elif len(clips) < locales:
        stage, progress = "localize", 0.7 + 0.2 * len(clips) / locales
    else:
        stage, progress = "publish", 0.9 + 0.1 * published / locales
    if run.state in FINAL_STATES and run.state != "completed":
        stage = f"{run.state} at {stage}"
    started, finished = run.started_at, run.finished_at
    return {"run_id": run.id, "campaign_id": run.campaign_id, "kind": run.kind,
            "state": run.state, "stage": stage, "progress": round(min(progress, 1.0), 3),
            "backend": run.backend, "locales": list(run.locales or []),
            "created_at": _iso(run.created_at), "started_at": _iso(started),
            "finished_at": _iso(finished),
            "duration_s": round((finished - started).total_seconds(), 1)
            if started and finished else None,
            "error": run.error, "flow_run_id": run.flow_run_id,
            "shots": {"total": len(shots), "rendered": rendered},
            "clips": clips, "output": output, "manifest_key": run.manifest_key}


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def finish_run(s: Session, run_id: str, *, state: str, error: str | None = None,
               manifest_key: str | None = None) -> Run:
    run = get_run(s, run_id)
    run.state, run.error, run.finished_at = state, error, utcnow()
    if manifest_key:
        run.manifest_key = manifest_key
    s.flush()
    return run


def fail_runs_of_flow_run(s: Session, flow_run_id: str, error: str) -> int:
    """Mark the running runs of a failed or crashed flow run failed; how many there were."""
    runs = list(s.scalars(select(Run).where(Run.flow_run_id == flow_run_id,
                                            Run.state.in_(("running", "pending", "queued")))))
    for run in runs:
        run.state, run.error, run.finished_at = "failed", error[:2000], utcnow()
    s.flush()
    return len(runs)


def get_run(s: Session, run_id: str) -> Run:
    run = s.get(Run, run_id)
    if run is None:
        raise StorageError(f"no run {run_id!r} in the run records (see `content-factory runs`)")
    return run


def resolve_run_id(s: Session, ref: str, *, must_exist: bool = True) -> str:
    """The whole id of the run ``ref`` names: its id, or a prefix only one run id starts with.

    StorageError when none does (unless ``must_exist`` is False: then ``ref`` is a new id) or
    when several do (the message lists a few).
    """
    ref = ref.strip()
    if not ref or s.get(Run, ref) is not None:
        return ref
    matches = list(s.scalars(select(Run.id).where(Run.id.startswith(ref, autoescape=True))
                             .order_by(Run.id).limit(6)))
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise StorageError(f"run id {ref!r} is the start of several runs ({shown}); give more "
                           "of it (see `content-factory runs`)")
    if not must_exist:
        return ref
    raise StorageError(f"no run {ref!r} in the run records (see `content-factory runs`)")


def add_run_metrics(s: Session, run_id: str, **metrics: Any) -> None:
    run = get_run(s, run_id)
    merged = dict(run.metrics or {})
    merged.update(metrics)
    run.metrics = merged  # reassign: JSON columns do not track in-place changes
    s.flush()


def recent_runs(s: Session, limit: int = 20) -> list[Run]:
    return list(s.scalars(select(Run).order_by(Run.created_at.desc()).limit(limit)))


def upsert_shot(s: Session, *, run_id: str, shot_id: str, position: int, prompt: str,
                negative_prompt: str, seed: int, frames: int, duration: float,
                render_key: str) -> Shot:
    shot = s.scalar(select(Shot).where(Shot.run_id == run_id, Shot.shot_id == shot_id))
    if shot is None:
        shot = Shot(run_id=run_id, shot_id=shot_id)
        s.add(shot)
    shot.position, shot.prompt, shot.negative_prompt = position, prompt, negative_prompt
    shot.seed, shot.frames, shot.duration, shot.render_key = seed, frames, duration, render_key
    s.flush()
    return shot


def mark_shots(s: Session, run_id: str, render_key: str, state: str) -> None:
    for shot in s.scalars(select(Shot).where(Shot.run_id == run_id,
                                             Shot.render_key == render_key)):
        shot.state = state
    s.flush()


def upsert_clip(s: Session, *, run_id: str, locale: str, content_id: str, format: str = "",
                **fields: Any) -> Clip:
    clip = s.scalar(select(Clip).where(Clip.run_id == run_id, Clip.locale == locale,
                                       Clip.format == format))
    if clip is None:
        clip = Clip(run_id=run_id, locale=locale, format=format, content_id=content_id,
                    details={})
        s.add(clip)
    for name, value in fields.items():
        setattr(clip, name, value)
    s.flush()
    return clip


def get_clip(s: Session, content_id: str) -> Clip:
    clip = s.scalar(select(Clip).where(Clip.content_id == content_id))
    if clip is None:
        raise StorageError(f"no clip with content id {content_id!r} in the run records")
    return clip


def find_clip_by_content_id(s: Session, content_id: str) -> dict | None:
    """The clip (with its run, campaign and publications) whose content id is ``content_id``."""
    clip = s.scalar(select(Clip).where(Clip.content_id == content_id))
    if clip is None:
        return None
    return clip_summary(clip)


def clip_summary(clip: Clip) -> dict:
    return {
        "content_id": clip.content_id, "run_id": clip.run_id, "locale": clip.locale,
        "format": clip.format or None, "campaign_id": clip.run.campaign_id, "state": clip.state,
        "sha256": clip.sha256,
        "duration": clip.duration, "frames": clip.frames,
        "publications": [{"target": p.target, "key": p.object_key, "kind": p.kind,
                          "sha256": p.sha256} for p in clip.publications],
    }


def record_decision(s: Session, *, subject_kind: str, subject_id: str, decision: str,
                    reasons: list[str] | None = None, scores: dict | None = None,
                    detector: str = "", detector_version: str = "", reviewer: str | None = None,
                    run_id: str | None = None, flow_run_id: str | None = None,
                    at: datetime | None = None) -> ModerationDecision:
    """Append an audit row; the latest row for a subject is its current decision."""
    row = ModerationDecision(subject_kind=subject_kind, subject_id=subject_id, decision=decision,
                             reasons=list(reasons or []), scores=dict(scores or {}),
                             detector=detector, detector_version=detector_version,
                             reviewer=reviewer, run_id=run_id, flow_run_id=flow_run_id,
                             created_at=at or utcnow())
    s.add(row)
    s.flush()
    return row


def latest_decision(s: Session, subject_kind: str, subject_id: str) -> ModerationDecision | None:
    return s.scalar(select(ModerationDecision)
                    .where(ModerationDecision.subject_kind == subject_kind,
                           ModerationDecision.subject_id == subject_id)
                    .order_by(ModerationDecision.created_at.desc(), ModerationDecision.id.desc())
                    .limit(1))


def assert_publishable(s: Session, content_id: str) -> None:
    """Raise :class:`PublishRefused` unless the clip's latest decision is allow or approved."""
    decision = latest_decision(s, "clip", content_id)
    if decision is None:
        raise PublishRefused(f"clip {content_id} has no moderation decision: it cannot be "
                             "published until it is moderated (allow) or approved by a reviewer")
    if not passes(decision.decision):
        raise PublishRefused(f"clip {content_id} is '{decision.decision}' "
                             f"({'; '.join(decision.reasons) or 'no reason given'}): only "
                             "allowed or approved clips are published")


def record_publication(s: Session, *, clip: Clip, target: str, object_key: str, kind: str,
                       url: str, sha256: str, size_bytes: int, uploaded: bool,
                       at: datetime | None = None) -> Publication:
    """Record that ``object_key`` on ``target`` is the clip's current ``kind``.

    Publishing the same object again keeps its first publication time (a rerun publishes
    nothing new); :func:`supersede_publications` retires the clip's other objects of the kind.
    """
    pub = s.scalar(select(Publication).where(Publication.clip_id == clip.id,
                                             Publication.target == target,
                                             Publication.object_key == object_key))
    if pub is None:
        pub = Publication(clip_id=clip.id, target=target, object_key=object_key,
                          published_at=at or utcnow())
        s.add(pub)
    elif pub.sha256 != sha256 or not pub.current:
        pub.published_at = at or utcnow()
    pub.kind, pub.url, pub.sha256, pub.size_bytes = kind, url, sha256, size_bytes
    pub.uploaded, pub.current, pub.superseded_at = uploaded, True, None
    s.flush()
    return pub


def supersede_publications(s: Session, *, clip: Clip, target: str, kind: str,
                           current_key: str, at: datetime | None = None) -> list[str]:
    """Mark the clip's other ``kind`` publications on ``target`` superseded; their keys (for the
    caller to delete from the store)."""
    retired = []
    for pub in s.scalars(select(Publication).where(
            Publication.clip_id == clip.id, Publication.target == target,
            Publication.kind == kind, Publication.object_key != current_key,
            Publication.current.is_(True))):
        pub.current, pub.superseded_at = False, at or utcnow()
        retired.append(pub.object_key)
    s.flush()
    return retired


def current_keys(s: Session, target: str, prefix: str) -> set[str]:
    """Every object key under ``prefix`` on ``target`` that some clip currently is."""
    return set(s.scalars(select(Publication.object_key).where(
        Publication.target == target, Publication.current.is_(True),
        Publication.object_key.startswith(prefix, autoescape=True))))
