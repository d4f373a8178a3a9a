"""Queries over moderation decisions that the review gate and ``content-factory review`` need.

A review is a ``moderation_decisions`` row with decision ``review``; it is pending while it is
still the latest row for its subject. A reviewer's ``approved``/``rejected`` row (or the
``rejected`` a timeout writes) after it closes it.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from common.errors import ReviewNotFound, ReviewNotPending
from storage.models import ModerationDecision
from storage.records import latest_decision


def _newer_than(row: type[ModerationDecision] | ModerationDecision, other):
    """SQL: ``other`` is a later decision for the same subject than ``row``."""
    return and_(other.subject_kind == row.subject_kind, other.subject_id == row.subject_id,
                or_(other.created_at > row.created_at,
                    and_(other.created_at == row.created_at, other.id > row.id)))


def pending_reviews(s: Session, *, limit: int = 200) -> list[ModerationDecision]:
    """Reviews no later decision has closed, oldest first (the order a reviewer works in)."""
    later = aliased(ModerationDecision)
    query = (select(ModerationDecision)
             .where(ModerationDecision.decision == "review",
                    ~exists().where(_newer_than(ModerationDecision, later)))
             .order_by(ModerationDecision.created_at, ModerationDecision.id)
             .limit(limit))
    return list(s.scalars(query))


def get_review(s: Session, review_id: int) -> ModerationDecision:
    row = s.get(ModerationDecision, review_id)
    if row is None or row.decision != "review":
        raise ReviewNotFound(f"no review with id {review_id}; `content-factory review list` "
                             "shows the pending ones")
    return row


def decision_after(s: Session, row: ModerationDecision) -> ModerationDecision | None:
    """The subject's latest decision when it is newer than ``row``, else None."""
    latest = latest_decision(s, row.subject_kind, row.subject_id)
    return None if latest is None or latest.id == row.id else latest


def find_pending_review(s: Session, ref: str | int) -> ModerationDecision:
    """The pending review named by ``ref``: its id, or the subject id (content id, shot id).

    Raises :class:`ReviewNotFound` or, when it was already decided, :class:`ReviewNotPending`.
    """
    text = str(ref).strip()
    if text.isdigit():
        row = get_review(s, int(text))
    else:
        row = s.scalar(select(ModerationDecision)
                       .where(ModerationDecision.subject_id == text,
                              ModerationDecision.decision == "review")
                       .order_by(ModerationDecision.created_at.desc(),
                                 ModerationDecision.id.desc()).limit(1))
        if row is None:
            raise ReviewNotFound(f"no review for subject {text!r}; `content-factory review "
                                 "list` shows the pending ones")
    later = decision_after(s, row)
    if later is not None:
        who = f" by {later.reviewer}" if later.reviewer else ""
        why = f" ({'; '.join(later.reasons)})" if later.reasons else ""
        raise ReviewNotPending(f"review {row.id} of {row.subject_kind} {row.subject_id} is no "
                               f"longer pending: {later.decision}{who} at "
                               f"{later.created_at:%Y-%m-%d %H:%M:%S}{why}")
    return row
