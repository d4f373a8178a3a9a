"""Moderation stage: check texts before rendering, frames after, and wait for a reviewer.

    moderate_texts(items, policy)                   prompts, negative prompts, captions -> Decision
    moderate_clip_frames(path, detector, policy)    frames sampled at a rate + first + last -> Decision
    record(db, decision, ...)                       one audit row per decision
    await_review(db, ...)                           (in a flow body) pause until a reviewer decides
    decide_review(db, ref, approved=, reviewer=)    what `content-factory review approve|reject` does

Fail closed: a detector that raises or cannot load gives ``review``, never ``allow``. A review
pauses the flow run with Prefect's run input, so a reviewer answers in the Prefect UI form or
from a terminal; one left unanswered for ``timeout_s`` is rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from uuid import UUID

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.input import RunInput

from common.errors import ModerationError
from moderation import Decision, FrameDetector, Policy
from storage.db import Database
from storage.records import record_decision
from storage.reviews import decision_after, find_pending_review, get_review
from tasks.video import probe, read_frames

log = logging.getLogger(__name__)

DETECT_BATCH = 8  # sampled frames handed to the detector at once (bounds memory at 720p: ~22 MB)


@dataclass(frozen=True)
class TextItem:
    """One text to check: ``field`` (prompt, negative_prompt, caption) of shot/clip ``subject_id``."""

    subject_id: str
    field: str
    locale: str | None
    text: str


class ReviewInput(RunInput):
    """The reviewer's answer, entered in the Prefect UI form or sent by ``content-factory review``."""

    approved: bool
    reviewer: str = "prefect-ui"
    note: str = ""


@dataclass(frozen=True)
class ReviewOutcome:
    """What :func:`decide_review` did: the recorded decision and whether the flow was resumed."""

    review_id: int
    subject_kind: str
    subject_id: str
    decision: str  # approved | rejected
    reviewer: str
    flow_run_id: str | None
    resumed: bool
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


# Text ---------------------------------------------------------------------------------------

def moderate_texts(items: Iterable[TextItem], policy: Policy) -> Decision:
    """The most severe decision over ``items``; call it before any generation (no GPU time on
    a blocked prompt)."""
    return Decision.combine(
        policy.check_text(item.text, locale=item.locale, field=item.field,
                          subject=f"shot {item.subject_id}") for item in items)


# Frames -------------------------------------------------------------------------------------

def sample_frames(frames: Iterable[np.ndarray], *, fps: float, rate_hz: float
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)``: the first frame at or after every ``1/rate_hz`` seconds, plus
    the last frame. Streams: only the previous frame is held back."""
    if rate_hz <= 0 or fps <= 0:
        raise ModerationError(f"sample rate {rate_hz} Hz at {fps} fps: both must be positive")
    last: tuple[int, np.ndarray] | None = None
    sampled_last = False
    for index, frame in enumerate(frames):
        # Sampling instant k covers frames whose time crosses k / rate_hz.
        take = index == 0 or int(index * rate_hz / fps) > int((index - 1) * rate_hz / fps)
        if take:
            yield index, frame
        last, sampled_last = (index, frame), take
    if last is not None and not sampled_last:
        yield last


def _detector_version(detector: FrameDetector) -> str:
    try:
        return str(detector.version)
    except Exception as exc:  # a broken detector must still produce an audit row
        return f"unknown ({type(exc).__name__})"


def moderate_clip_frames(path: Path, detector: FrameDetector, policy: Policy,
                         sample_rate_hz: float = 1.0) -> Decision:
    """Run ``detector`` over frames of the clip at ``path`` sampled at ``sample_rate_hz`` (plus
    first and last) and decide with ``policy``. Any detector failure -> ``review``."""
    name, version = getattr(detector, "name", type(detector).__name__), _detector_version(detector)
    fps = float(probe(path).fps)
    indices: list[int] = []
    per_frame: list[dict[str, float]] = []
    batch: list[tuple[int, np.ndarray]] = []

    def flush() -> str | None:
        frames = [frame for _, frame in batch]
        try:
            scores = detector.detect(frames)
        except Exception as exc:  # fail closed: whatever went wrong, a person looks
            log.warning("frame detector %s failed on %s: %s", name, path, exc)
            return f"{type(exc).__name__}: {exc}"
        if not isinstance(scores, list) or len(scores) != len(frames):
            return f"it returned {len(scores) if isinstance(scores, list) else type(scores)} " \
                   f"results for {len(frames)} frames"
        indices.extend(i for i, _ in batch)
        per_frame.extend(scores)
        batch.clear()
        return None

    with closing(read_frames(path)) as frames:  # stop ffmpeg at once on an early return
        for item in sample_frames(frames, fps=fps, rate_hz=sample_rate_hz):
            batch.append(item)
            if len(batch) == DETECT_BATCH and (error := flush()):
                return policy.detector_failed(name, version, error)
    if batch and (error := flush()):
        return policy.detector_failed(name, version, error)
    return policy.decide_frames(per_frame, detector=name, detector_version=version,
                                frame_indices=indices)


# Records and reviews --------------------------------------------------------------------------

def record(db: Database, decision: Decision, *, subject_kind: str, subject_id: str,
           run_id: str | None = None, flow_run_id: str | None = None,
           reviewer: str | None = None) -> int:
    """Store ``decision`` as an audit row (reasons, scores, detector and version); its id."""
    with db.session() as s:
        row = record_decision(s, subject_kind=subject_kind, subject_id=subject_id,
                              decision=decision.decision, reasons=decision.reasons,
                              scores=decision.scores, detector=decision.detector,
                              detector_version=decision.detector_version, reviewer=reviewer,
                              run_id=run_id, flow_run_id=flow_run_id)
        return row.id


def _review_form(subject_kind: str, subject_id: str, run_id: str | None,
                 decision: Decision) -> type[ReviewInput]:
    reasons = "\n".join(f"- {r}" for r in decision.reasons) or "- (no reason given)"
    description = (f"**Moderation review** of {subject_kind} `{subject_id}`"
                   f"{f' in run `{run_id}`' if run_id else ''}\n\n{reasons}\n\n"
                   f"Detector: {decision.detector} {decision.detector_version}. Set *approved* "
                   "to publish it, leave it off to reject it, and name yourself as reviewer.")
    return ReviewInput.with_initial_data(description=description, approved=False,
                                         reviewer="prefect-ui", note="")


def _set_running(flow_run_id: str) -> None:
    """Put a flow run whose pause timed out back to Running.

    Prefect 3.8 leaves it Paused and then fails it when it completes ("The flow was completed
    and never resumed"); a rejection by timeout is an ordinary outcome, so the flow goes on.
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), Running(), force=True)


def await_review(db: Database, *, subject_kind: str, subject_id: str, run_id: str | None,
                 decision: Decision, timeout_s: int, poll_interval_s: int = 10) -> str:
    """Record a ``review`` and pause the flow run until a reviewer decides; ``"approved"`` or
    ``"rejected"``.

    Call it in the flow function's body, not in a task: pausing needs the flow run's context.
    The reviewer answers in the Prefect UI (the run's "Resume" form, :class:`ReviewInput`) or
    with ``content-factory review approve|reject ID``. Unanswered after ``timeout_s`` seconds
    the review is rejected, unless a decision was recorded from a terminal that could not reach
    Prefect meanwhile (that one stands).
    """
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise ModerationError(f"await_review for {subject_kind} {subject_id} must be called in a "
                              "flow function's body (pausing needs the flow run)")
    flow_run_id = str(context.flow_run.id)
    review_id = record(db, Decision("review", decision.reasons, decision.scores,
                                    decision.detector, decision.detector_version),
                       subject_kind=subject_kind, subject_id=subject_id, run_id=run_id,
                       flow_run_id=flow_run_id)
    log.info("%s %s waits for review %d (timeout %d s)", subject_kind, subject_id, review_id,
             timeout_s)
    try:
        answer = pause_flow_run(wait_for_input=_review_form(subject_kind, subject_id, run_id,
                                                            decision),
                                timeout=timeout_s, poll_interval=poll_interval_s,
                                key=f"review-{review_id}")
    except FlowPauseTimeout:
        _set_running(flow_run_id)
        with db.session() as s:
            later = decision_after(s, get_review(s, review_id))
            if later is not None and later.decision in ("approved", "rejected"):
                return later.decision
            record_decision(s, subject_kind=subject_kind, subject_id=subject_id,
                            decision="rejected", detector="review",
                            reasons=[f"review timed out: no decision within {timeout_s} s"],
                            scores=decision.scores, run_id=run_id, flow_run_id=flow_run_id)
        return "rejected"
    outcome = "approved" if answer.approved else "rejected"
    with db.session() as s:
        later = decision_after(s, get_review(s, review_id))
        # The terminal records its decision before resuming; do not write it twice.
        if later is None or (later.decision, later.reviewer) != (outcome, answer.reviewer):
            record_decision(s, subject_kind=subject_kind, subject_id=subject_id,
                            decision=outcome, reviewer=answer.reviewer,
                            reasons=[answer.note or f"{outcome} in the Prefect UI"],
                            scores=decision.scores, detector="review",
                            detector_version="prefect-ui", run_id=run_id,
                            flow_run_id=flow_run_id)
    return outcome


def decide_review(db: Database, ref: str | int, *, approved: bool, reviewer: str,
                  note: str = "") -> ReviewOutcome:
    """Approve or reject the pending review ``ref`` (review id or subject id): record the
    decision, then resume the paused flow run with it as run input.

    The decision is recorded even when Prefect cannot be reached (the paused run then honours
    it when its review times out); :attr:`ReviewOutcome.message` says what happened.
    """
    from prefect.exceptions import NotPausedError
    from prefect.flow_runs import resume_flow_run

    outcome = "approved" if approved else "rejected"
    with db.session() as s:
        row = find_pending_review(s, ref)
        record_decision(s, subject_kind=row.subject_kind, subject_id=row.subject_id,
                        decision=outcome, reviewer=reviewer,
                        reasons=[note or f"{outcome} from the terminal"], scores=row.scores,
                        detector="review", detector_version="terminal", run_id=row.run_id,
                        flow_run_id=row.flow_run_id)
        review_id, kind, subject, flow_run_id = row.id, row.subject_kind, row.subject_id, \
            row.flow_run_id
    done = f"review {review_id} of {kind} {subject}: {outcome} by {reviewer}"
    if not flow_run_id:
        return ReviewOutcome(review_id, kind, subject, outcome, reviewer, None, False,
                             f"{done}; no flow run waits for it")
    try:
        resume_flow_run(UUID(flow_run_id),
                        run_input={"approved": approved, "reviewer": reviewer, "note": note})
    except NotPausedError:
        message = (f"{done}; flow run {flow_run_id} is not paused (it finished or its review "
                   "timed out), so only the record changed")
        return ReviewOutcome(review_id, kind, subject, outcome, reviewer, flow_run_id, False,
                             message)
    except Exception as exc:  # unreachable API, refused resume: the record still stands
        from prefect.settings import PREFECT_API_URL

        api = PREFECT_API_URL.value() or "an ephemeral API (PREFECT_API_URL is not set)"
        message = (f"{done}; could not resume flow run {flow_run_id} through {api}: "
                   f"{type(exc).__name__}: {exc}. Set PREFECT_API_URL to the Prefect server "
                   "the factory runs on; the paused run applies this decision when its review "
                   "times out")
        return ReviewOutcome(review_id, kind, subject, outcome, reviewer, flow_run_id, False,
                             message)
    return ReviewOutcome(review_id, kind, subject, outcome, reviewer, flow_run_id, True,
                         f"{done}; flow run {flow_run_id} resumed")


# Prefect wrappers -----------------------------------------------------------------------------
# No caching: the policy (with its compiled term automaton) and a detector are not inputs to hash.

@task(name="moderate-texts", cache_policy=NO_CACHE)
def moderate_texts_task(items: list[TextItem], policy: Policy) -> Decision:
    return moderate_texts(items, policy)


@task(name="moderate-clip", cache_policy=NO_CACHE)
def moderate_clip_task(path: Path, detector: FrameDetector, policy: Policy,
                       sample_rate_hz: float = 1.0) -> Decision:
    return moderate_clip_frames(path, detector, policy, sample_rate_hz)


@task(name="record-decision", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def record_task(db: Database, decision: Decision, *, subject_kind: str, subject_id: str,
                run_id: str | None = None, flow_run_id: str | None = None) -> int:
    return record(db, decision, subject_kind=subject_kind, subject_id=subject_id, run_id=run_id,
                  flow_run_id=flow_run_id)
