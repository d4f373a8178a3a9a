"""The moderation audit rows, the publish gate at the write, and the review gate in a flow run.

The flow tests (tests/flows/test_campaign_flow.py) check that a blocked prompt renders nothing.
"""

from __future__ import annotations

import threading
import time
from uuid import UUID

import pytest

from common.errors import PublishRefused, ReviewNotPending
from flows.review import decide_review
from moderation import Decision
from storage.db import Database, open_database
from storage.file_store import FileStore
from storage.models import ModerationDecision
from storage.publish import publish_clip
from storage.records import (
    latest_decision,
    record_decision,
    start_run,
    upsert_campaign,
    upsert_clip,
)
from storage.reviews import pending_reviews
from tasks.screen import record


@pytest.fixture
def db(tmp_path) -> Database:
    return open_database(f"sqlite:///{tmp_path / 'factory.db'}")


# Audit and publish gate ---------------------------------------------------------------------

def make_clip(db: Database, content_id: str = "cid-1") -> str:
    with db.session() as s:
        upsert_campaign(s, campaign_id="spring", name="Spring", kind="campaign", spec_path="",
                        spec_sha256="0" * 64, spec={})
        start_run(s, run_id="run-1", campaign_id="spring", kind="campaign", backend="animatic",
                  locales=["en"])
        upsert_clip(s, run_id="run-1", locale="en", content_id=content_id)
    return content_id


def test_decisions_are_stored_with_detector_version_scores_and_time(db):
    decision = Decision("review", ["FEMALE_BREAST_EXPOSED 0.40 >= review 0.30"],
                        {"FEMALE_BREAST_EXPOSED": 0.4}, "nudenet", "nudenet 3.4.2 320n")
    row_id = record(db, decision, subject_kind="clip", subject_id="cid-9", run_id="run-1",
                    flow_run_id="f-1")
    with db.session() as s:
        row = s.get(ModerationDecision, row_id)
        assert (row.decision, row.detector, row.detector_version) == \
            ("review", "nudenet", "nudenet 3.4.2 320n")
        assert row.scores == {"FEMALE_BREAST_EXPOSED": 0.4} and row.reasons == decision.reasons
        assert (row.run_id, row.flow_run_id, row.reviewer) == ("run-1", "f-1", None)
        assert row.created_at is not None


def test_publishing_an_unapproved_clip_raises_and_writes_nothing(db, tmp_path):
    content_id = make_clip(db)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 64)
    store = FileStore(tmp_path / "store")
    with pytest.raises(PublishRefused, match="no moderation decision"):
        publish_clip(db, store, content_id=content_id, files={"video": video})
    record(db, Decision("review", ["needs a look"]), subject_kind="clip", subject_id=content_id)
    with pytest.raises(PublishRefused, match="'review'"):
        publish_clip(db, store, content_id=content_id, files={"video": video})
    assert list(store.list()) == []

    outcome = decide_review(db, content_id, approved=True, reviewer="ann", note="fine")
    assert outcome.decision == "approved" and not outcome.resumed
    published = publish_clip(db, store, content_id=content_id, files={"video": video})
    assert [p.kind for p in published] == ["video"] and len(list(store.list())) == 1


def test_a_decided_review_cannot_be_decided_again(db):
    record(db, Decision("review", ["x"]), subject_kind="clip", subject_id="cid-2")
    decide_review(db, "cid-2", approved=False, reviewer="bob")
    with pytest.raises(ReviewNotPending, match="no longer pending: rejected by bob"):
        decide_review(db, "cid-2", approved=True, reviewer="eve")
    with db.session() as s:
        assert pending_reviews(s) == []
        assert latest_decision(s, "clip", "cid-2").reviewer == "bob"


# Reviews through Prefect --------------------------------------------------------------------

def start_review_flow(db_url: str, subject_id: str, timeout_s: int) -> tuple[threading.Thread,
                                                                             dict]:
    from prefect import flow

    from flows.review import await_review

    @flow(name="review-test")
    def review_flow() -> str:
        db = open_database(db_url)
        decision = Decision("review", ["FEMALE_BREAST_EXPOSED 0.40 >= review 0.30"],
                            {"FEMALE_BREAST_EXPOSED": 0.4}, "nudenet", "test")
        return await_review(db, subject_kind="clip", subject_id=subject_id, run_id="run-1",
                            decision=decision, timeout_s=timeout_s, poll_interval_s=1)

    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", review_flow()),
                              daemon=True)
    thread.start()
    return thread, out


def wait_until_paused(db: Database, subject_id: str) -> ModerationDecision:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            with db.session() as s:
                rows = [r for r in pending_reviews(s) if r.subject_id == subject_id]
            if rows:
                state = client.read_flow_run(UUID(rows[0].flow_run_id)).state
                if state is not None and state.is_paused():
                    return rows[0]
            time.sleep(0.2)
    raise AssertionError(f"the flow never paused for review of {subject_id}")


def flow_state(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(flow_run_id)).state.type.value


@pytest.mark.parametrize("approved, expected", [(True, "approved"), (False, "rejected")])
def test_review_decision_resumes_the_paused_flow(prefect_harness, tmp_path, approved, expected):
    url = f"sqlite:///{tmp_path / 'factory.db'}"
    db = open_database(url)
    thread, out = start_review_flow(url, "cid-r", timeout_s=60)
    review = wait_until_paused(db, "cid-r")
    outcome = decide_review(db, review.id, approved=approved, reviewer="ann", note="checked")
    assert outcome.resumed, outcome.message
    thread.join(60)
    assert out["result"] == expected
    assert flow_state(review.flow_run_id) == "COMPLETED"
    with db.session() as s:
        rows = s.query(ModerationDecision).filter_by(subject_id="cid-r") \
            .order_by(ModerationDecision.id).all()
        # The review, then one decision: the flow does not record the terminal's decision twice.
        assert [(r.decision, r.reviewer) for r in rows] == [("review", None), (expected, "ann")]
        assert rows[1].reasons == ["checked"]


def test_an_unanswered_review_times_out_to_rejected(prefect_harness, tmp_path):
    url = f"sqlite:///{tmp_path / 'factory.db'}"
    db = open_database(url)
    thread, out = start_review_flow(url, "cid-t", timeout_s=2)
    thread.join(60)
    assert out["result"] == "rejected"
    with db.session() as s:
        last = latest_decision(s, "clip", "cid-t")
        assert last.decision == "rejected" and "timed out" in last.reasons[0]
        # The flow went on after the timeout and finished normally.
        assert flow_state(last.flow_run_id) == "COMPLETED"


def test_a_decision_recorded_while_prefect_was_unreachable_stands_at_timeout(prefect_harness,
                                                                             tmp_path):
    url = f"sqlite:///{tmp_path / 'factory.db'}"
    db = open_database(url)
    thread, out = start_review_flow(url, "cid-u", timeout_s=3)
    review = wait_until_paused(db, "cid-u")
    with db.session() as s:  # what `review approve` leaves behind when it cannot resume
        record_decision(s, subject_kind="clip", subject_id="cid-u", decision="approved",
                        reviewer="ann", run_id=review.run_id, flow_run_id=review.flow_run_id)
    thread.join(60)
    assert out["result"] == "approved"
