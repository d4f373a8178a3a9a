"""Moderation stage: text before generation, frames after, audit rows, publish gate, reviews."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest

from common.errors import PublishRefused
from moderation import NUDENET_LABELS, Decision, NudeNetDetector, Policy
from storage.db import Database, open_database
from storage.models import ModerationDecision
from storage.objects import FileStore
from storage.publish import publish_clip
from storage.records import latest_decision, record_decision, start_run, upsert_campaign, \
    upsert_clip
from storage.reviews import ReviewNotPending, pending_reviews
from tasks.moderate import TextItem, decide_review, moderate_clip_frames, moderate_texts, \
    record, sample_frames
from tasks.render import RenderRequest
from tasks.video import write_video


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load()


@pytest.fixture
def db(tmp_path) -> Database:
    return open_database(f"sqlite:///{tmp_path / 'factory.db'}")


# Text before generation ---------------------------------------------------------------------

class CountingBackend:
    """A RenderBackend that counts the renders it is asked for."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def fingerprint(self) -> str:
        return "counting-1"

    def render(self, request: RenderRequest, *, on_progress=None) -> Iterator[np.ndarray]:
        self.calls += 1
        for _ in range(request.frames):
            yield np.zeros((request.height, request.width, 3), np.uint8)


def produce_shot(items: list[TextItem], request: RenderRequest, policy: Policy,
                 backend: CountingBackend) -> tuple[Decision, list[np.ndarray]]:
    """The gate order the flows follow: moderate every text, render only what is not blocked."""
    decision = moderate_texts(items, policy)
    if decision.blocked:
        return decision, []
    return decision, list(backend.render(request))


def shot_items(prompt: str, caption_zh: str = "春季新品限时八折") -> list[TextItem]:
    return [TextItem("s1", "prompt", "en", prompt),
            TextItem("s1", "negative_prompt", "en", "blurry, low quality, nudity"),
            TextItem("s1", "caption", "en", "Limited-time offer: 20% off all spring teas"),
            TextItem("s1", "caption", "zh-TW", caption_zh)]


def test_a_blocked_prompt_makes_no_generation_call(policy):
    backend = CountingBackend()
    request = RenderRequest("tea", "", seed=1, width=32, height=16, frames=5, fps=16)
    decision, frames = produce_shot(shot_items("A teapot, then c-o-c-a-i-n-e lines"), request,
                                    policy, backend)
    assert decision.decision == "block" and backend.calls == 0 and frames == []
    assert any("prompt of shot s1 (en): 'cocaine' is drugs" in r for r in decision.reasons)

    decision, frames = produce_shot(shot_items("A teapot on a sunny table"), request, policy,
                                    backend)
    assert decision.decision == "allow" and backend.calls == 1 and len(frames) == 5


def test_captions_of_every_locale_are_checked(policy):
    decision = moderate_texts(shot_items("A teapot", caption_zh="黃片限時免費"), policy)
    assert decision.decision == "block"
    assert decision.reasons[-1].startswith("caption of shot s1 (zh-TW): '黄片' is sexual")
    assert decision.scores["sexual"] == 1.0


# Frames after rendering ---------------------------------------------------------------------

class RecordingDetector:
    """A test double for a model's output: fixed scores, and a log of the frames it saw."""

    name = "nudenet"
    version = "fake 1"

    def __init__(self, scores: dict[str, float] | None = None) -> None:
        self.scores = scores or {}
        self.seen: list[np.ndarray] = []

    def detect(self, frames):
        self.seen.extend(frames)
        return [dict(self.scores) for _ in frames]


class CrashingDetector(RecordingDetector):
    def detect(self, frames):
        raise RuntimeError("onnxruntime: bad allocation")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """25 frames at 10 fps, 64x48; frame i is filled with grey level 10*i (to identify it)."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(25)]
    write_video(path, frames, fps=10)
    return path


def test_sampling_takes_the_rate_plus_first_and_last_frames():
    indices = [i for i, _ in sample_frames(range(23), fps=10, rate_hz=2)]
    assert indices == [0, 5, 10, 15, 20, 22]
    assert [i for i, _ in sample_frames(range(91), fps=29.97, rate_hz=1)] == [0, 30, 60, 90]
    assert [i for i, _ in sample_frames(range(1), fps=24, rate_hz=1)] == [0]


def test_clip_frames_are_sampled_over_the_clip_and_decided_by_the_policy(policy, clip):
    detector = RecordingDetector({"FEMALE_BREAST_EXPOSED": 0.4})
    decision = moderate_clip_frames(clip, detector, policy, sample_rate_hz=1.0)
    grey = [int(round(float(f.mean()) / 10)) for f in detector.seen]
    assert grey == [0, 10, 20, 24]  # 1 Hz at 10 fps, plus the last frame
    assert decision.decision == "review"
    assert (decision.detector, decision.detector_version) == ("nudenet", "fake 1")
    assert decision.scores == {"FEMALE_BREAST_EXPOSED": 0.4}


def test_every_frame_can_be_checked_in_batches(policy, clip):
    detector = RecordingDetector()
    decision = moderate_clip_frames(clip, detector, policy, sample_rate_hz=10.0)
    assert len(detector.seen) == 25 and decision.decision == "allow"


class MiscountingDetector(RecordingDetector):
    def detect(self, frames):
        return super().detect(frames)[:-1]


def test_a_detector_that_answers_for_fewer_frames_leads_to_review(policy, clip):
    decision = moderate_clip_frames(clip, MiscountingDetector(), policy)
    assert decision.decision == "review" and "returned 3 results for 4 frames" in \
        decision.reasons[0]


def test_a_detector_crash_leads_to_review(policy, clip):
    decision = moderate_clip_frames(clip, CrashingDetector(), policy)
    assert decision.decision == "review"
    assert "RuntimeError: onnxruntime: bad allocation" in decision.reasons[0]


def test_a_detector_that_cannot_load_leads_to_review(policy, clip, tmp_path):
    detector = NudeNetDetector(tmp_path / "gone.onnx")
    decision = moderate_clip_frames(clip, detector, policy)
    assert decision.decision == "review" and "gone.onnx is missing" in decision.reasons[0]
    assert decision.detector_version.endswith("model unavailable")


def test_nudenet_moderates_a_clip_on_cpu(policy, clip):
    decision = moderate_clip_frames(clip, NudeNetDetector(), policy, sample_rate_hz=2.0)
    assert decision.decision == "allow"
    assert set(decision.scores) == set(NUDENET_LABELS)
    assert decision.detector_version.startswith("nudenet 3.")


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

    from tasks.moderate import await_review

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
