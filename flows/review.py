"""The moderation gate inside a flow run: block stops the run, review pauses it for a person.

    screen(factory, run_id, decision, stage=)   record a text or frames decision; pause on review
    approve_clips(factory, run_id, content_ids)  each clip gets the decision its run earned
    await_review(db, ...)                        pause the flow run until a reviewer decides
    decide_review(db, ref, approved=, ...)       what `content-factory review approve|reject` does

``screen`` runs in the flow body (not in a task) because pausing for a reviewer needs the flow
run's context. A review pauses the flow run with Prefect's run input, so a reviewer answers in
the Prefect UI form or from a terminal; one left unanswered for ``timeout_s`` is rejected. The
publishing code refuses any clip without a decision that passes (``common.verdicts``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from uuid import UUID

from prefect import get_run_logger
from prefect.input import RunInput

from common.errors import ModerationError, RunStopped, one_line
from common.verdicts import Verdict, passes
from flows.runtime import Factory
from moderation import Decision
from storage.db import Database
from storage.records import finish_run, latest_decision, record_decision
from storage.reviews import decision_after, find_pending_review, get_review
from tasks.screen import record

log = logging.getLogger(__name__)


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


def screen(factory: Factory, run_id: str, decision, *, stage: str,
           subject_id: str | None = None, shown: Callable[[], str] | None = None) -> str:
    """Record ``decision`` for the run's ``stage`` (text or frames); wait for a person on review.

    ``shown`` makes the markdown the review form shows (the flagged frames, the captions per
    locale); it is called only when a review is needed. Returns "allow" or "approved"; raises
    :class:`RunStopped` on block or rejection.
    """
    log = get_run_logger()
    kind = "text" if stage == "text" else "render"
    subject = subject_id or run_id
    from prefect.runtime import flow_run

    flow_run_id = str(flow_run.get_id()) if flow_run.get_id() else None
    if decision.decision == Verdict.REVIEW:
        log.warning("run %s: %s needs review (%s); waiting up to %d s for a reviewer "
                    "(Prefect UI, or `content-factory review approve|reject`)", run_id, stage,
                    "; ".join(decision.reasons), factory.settings.review_timeout_s)
        outcome = await_review(factory.db, subject_kind=kind, subject_id=subject, run_id=run_id,
                               decision=decision, timeout_s=factory.settings.review_timeout_s,
                               shown=_shown(shown))
    else:
        record(factory.db, decision, subject_kind=kind, subject_id=subject, run_id=run_id,
               flow_run_id=flow_run_id)
        outcome = decision.decision
    if not passes(outcome):
        state = "blocked" if outcome == Verdict.BLOCK else "rejected"
        with factory.db.session() as s:
            finish_run(s, run_id, state=state, error=f"{stage}: {'; '.join(decision.reasons)}")
        raise RunStopped(f"run {run_id} {state} at {stage} moderation: "
                         f"{'; '.join(decision.reasons) or outcome}. Nothing was published.")
    return outcome


def approve_clips(factory: Factory, run_id: str, content_ids: list[str], *,
                  master_key: str) -> None:
    """Give each clip the decision its run earned: allow, or approved by the reviewer."""
    with factory.db.session() as s:
        text = latest_decision(s, "text", run_id)
        frames = latest_decision(s, "render", master_key)
        for name, d in (("text", text), ("frames", frames)):
            if d is None or not passes(d.decision):
                raise RunStopped(f"run {run_id}: {name} moderation is "
                                 f"{d.decision if d else 'missing'}; clips are not published")
        decision = Verdict.APPROVED if Verdict.APPROVED in (text.decision, frames.decision) \
            else Verdict.ALLOW
        reviewer = frames.reviewer or text.reviewer
        for content_id in content_ids:
            record_decision(s, subject_kind="clip", subject_id=content_id, decision=decision,
                            reasons=[f"text: {text.decision}", f"frames: {frames.decision}"],
                            scores={**(text.scores or {}), **(frames.scores or {})},
                            detector=f"{text.detector}+{frames.detector}",
                            detector_version=f"{text.detector_version}+{frames.detector_version}",
                            reviewer=reviewer, run_id=run_id)


# Reviews ---------------------------------------------------------------------------------------

def _shown(make: Callable[[], str] | None) -> str:
    """What the form shows; a picture that cannot be made must not stop the review itself."""
    if make is None:
        return ""
    try:
        return make()
    except Exception as exc:
        log.warning("could not draw what the review shows: %s: %s", type(exc).__name__, exc)
        return f"(the frames could not be shown: {type(exc).__name__}: {exc})"


def _review_form(subject_kind: str, subject_id: str, run_id: str | None,
                 decision: Decision, shown: str = "") -> type[ReviewInput]:
    from tasks.report import plain_reason

    body = shown or "\n".join(f"- {plain_reason(r)}" for r in decision.reasons) \
        + f"\n\nDetector: **{decision.detector}**, version `{decision.detector_version}`."
    description = (f"**Moderation review** of {subject_kind} `{subject_id}`"
                   f"{f' in run `{run_id}`' if run_id else ''}\n\n{body}\n\n"
                   "Set *approved* to publish it, leave it off to reject it, and name yourself "
                   "as reviewer.")
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
                 decision: Decision, timeout_s: int, poll_interval_s: int = 10,
                 shown: str = "") -> str:
    """Record a ``review`` and wait until a reviewer decides; ``"approved"`` or ``"rejected"``.

    Call it in the flow function's body, not in a task: waiting needs the flow run's context.
    The reviewer answers in the Prefect UI (the run's "Resume" form, :class:`ReviewInput`, which
    shows ``shown``) or with ``content-factory review approve|reject ID``.

    A deployment run (started by a worker) is *suspended*: its process exits and its worker
    slot is free for other runs; once resumed, a worker starts the flow again from the top, its
    renders and master come back from the cache, and this call returns the answer given
    (the same review row, the same pause key). Unanswered after ``timeout_s`` seconds, Prefect
    fails the suspended run and nothing is published. Any other run (the CLI, a test) is
    *paused* in its process, because only a deployment can be started again; unanswered after
    ``timeout_s`` the review is rejected, unless a decision was recorded from a terminal that
    could not reach Prefect meanwhile (that one stands).
    """
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run, suspend_flow_run

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise ModerationError(f"await_review for {subject_kind} {subject_id} must be called in a "
                              "flow function's body (pausing needs the flow run)")
    flow_run_id = str(context.flow_run.id)
    review_id = _open_review(db, subject_kind, subject_id, flow_run_id)
    if review_id is None:
        review_id = record(db, Decision("review", decision.reasons, decision.scores,
                                        decision.detector, decision.detector_version),
                           subject_kind=subject_kind, subject_id=subject_id, run_id=run_id,
                           flow_run_id=flow_run_id)
    log.info("%s %s waits for review %d (timeout %d s)", subject_kind, subject_id, review_id,
             timeout_s)
    form = _review_form(subject_kind, subject_id, run_id, decision, shown)
    try:
        if context.flow_run.deployment_id is not None:
            # Raises Pause (the process ends) the first time; returns the answer once resumed.
            answer = suspend_flow_run(wait_for_input=form, timeout=timeout_s,
                                      key=f"review-{review_id}")
        else:
            answer = pause_flow_run(wait_for_input=form, timeout=timeout_s,
                                    poll_interval=poll_interval_s, key=f"review-{review_id}")
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


def _open_review(db: Database, subject_kind: str, subject_id: str, flow_run_id: str
                 ) -> int | None:
    """The review this flow run already opened for the subject (a suspended run started again
    after its resume), or None."""
    from storage.models import ModerationDecision

    with db.session() as s:
        row = s.query(ModerationDecision).filter_by(
            subject_kind=subject_kind, subject_id=subject_id, flow_run_id=flow_run_id,
            decision="review").order_by(ModerationDecision.id.desc()).first()
        return row.id if row is not None else None


def decide_review(db: Database, ref: str | int, *, approved: bool, reviewer: str,
                  note: str = "", resume: bool = True) -> ReviewOutcome:
    """Approve or reject the pending review ``ref`` (review id or subject id): record the
    decision, then resume the paused flow run with it as run input.

    The decision is recorded even when Prefect cannot be reached (the paused run then honours
    it when its review times out); :attr:`ReviewOutcome.message` says what happened.
    ``resume=False``: no Prefect server runs on this machine, so none is started just to find
    that out (flows/connect.py decides).
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
    if not resume:
        return ReviewOutcome(review_id, kind, subject, outcome, reviewer, flow_run_id, False,
                             f"{done}; no Prefect server runs on this machine (no `content-"
                             "factory serve`, no PREFECT_API_URL), so flow run "
                             f"{flow_run_id} was not resumed: it applies this decision when "
                             "its review times out")
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
                   f"{type(exc).__name__}: {one_line(str(exc), 200)}. Set PREFECT_API_URL to "
                   "the Prefect server the factory runs on; the paused run applies this "
                   "decision when its review times out")
        return ReviewOutcome(review_id, kind, subject, outcome, reviewer, flow_run_id, False,
                             message)
    return ReviewOutcome(review_id, kind, subject, outcome, reviewer, flow_run_id, True,
                         f"{done}; flow run {flow_run_id} resumed")
