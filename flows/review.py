"""Moderation gates inside a flow run: block stops the run, review pauses it for a person.

``screen`` runs in the flow body (not a task) because pausing for a reviewer needs the flow
run's context. Clips get their own decision, derived from the run's text and frame decisions,
and the publishing code refuses any clip without one that allows it.
"""

from __future__ import annotations

from prefect import get_run_logger

from common.errors import FactoryError
from flows.runtime import Factory
from storage.records import finish_run, latest_decision, record_decision
from tasks.moderate import await_review, record

PASSING = ("allow", "approved")


class RunStopped(FactoryError):
    """Raised when moderation blocks a run, or a reviewer rejects it (nothing is published)."""


def screen(factory: Factory, run_id: str, decision, *, stage: str,
           subject_id: str | None = None) -> str:
    """Record ``decision`` for the run's ``stage`` (text or frames); pause on review.

    Returns "allow" or "approved"; raises :class:`RunStopped` on block or rejection.
    """
    log = get_run_logger()
    kind = "text" if stage == "text" else "render"
    subject = subject_id or run_id
    from prefect.runtime import flow_run

    flow_run_id = str(flow_run.get_id()) if flow_run.get_id() else None
    if decision.decision == "review":
        log.warning("run %s: %s needs review (%s); waiting up to %d s for a reviewer "
                    "(Prefect UI, or `content-factory review approve|reject`)", run_id, stage,
                    "; ".join(decision.reasons), factory.settings.review_timeout_s)
        outcome = await_review(factory.db, subject_kind=kind, subject_id=subject, run_id=run_id,
                               decision=decision, timeout_s=factory.settings.review_timeout_s)
    else:
        record(factory.db, decision, subject_kind=kind, subject_id=subject, run_id=run_id,
               flow_run_id=flow_run_id)
        outcome = decision.decision
    if outcome not in PASSING:
        state = "blocked" if outcome == "block" else "rejected"
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
            if d is None or d.decision not in PASSING:
                raise RunStopped(f"run {run_id}: {name} moderation is "
                                 f"{d.decision if d else 'missing'}; clips are not published")
        decision = "approved" if "approved" in (text.decision, frames.decision) else "allow"
        reviewer = frames.reviewer or text.reviewer
        for content_id in content_ids:
            record_decision(s, subject_kind="clip", subject_id=content_id, decision=decision,
                            reasons=[f"text: {text.decision}", f"frames: {frames.decision}"],
                            scores={**(text.scores or {}), **(frames.scores or {})},
                            detector=f"{text.detector}+{frames.detector}",
                            detector_version=f"{text.detector_version}+{frames.detector_version}",
                            reviewer=reviewer, run_id=run_id)
