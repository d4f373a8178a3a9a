"""Moderation verdicts: the one list of them, and which ones let a clip through.

A detector or the term lists decide ``allow``, ``review`` or ``block``; a person (or a review
that timed out) turns a ``review`` into ``approved`` or ``rejected``. Only ``allow`` and
``approved`` pass: the flow's gate and the publishing code both ask :func:`passes`.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"
    APPROVED = "approved"   # a reviewer's yes to a review
    REJECTED = "rejected"   # a reviewer's no, or a review that timed out


AUTOMATIC = (Verdict.ALLOW, Verdict.REVIEW, Verdict.BLOCK)   # least to most severe
REVIEW_OUTCOMES = (Verdict.APPROVED, Verdict.REJECTED)
PASSING = frozenset({Verdict.ALLOW, Verdict.APPROVED})


def passes(verdict: str | None) -> bool:
    """True for ``allow`` and ``approved``: the verdicts after which a clip may be published."""
    return verdict in PASSING
