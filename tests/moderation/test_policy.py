"""Policy: per-label thresholds from policy.yaml decide frames; anything unusable means review."""

from __future__ import annotations

import pytest

from common.errors import ModerationError
from moderation import Decision, Policy, TermLists


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load()


def decide(policy: Policy, *frames: dict[str, float]) -> Decision:
    return policy.decide_frames(list(frames), detector="nudenet", detector_version="test")


def test_clean_frames_are_allowed_and_every_score_is_kept(policy):
    d = decide(policy, {"FACE_FEMALE": 0.9, "FEET_EXPOSED": 0.7}, {"FACE_FEMALE": 0.8})
    assert d.decision == "allow" and d.reasons == []
    assert d.scores == {"FACE_FEMALE": 0.9, "FEET_EXPOSED": 0.7}
    assert (d.detector, d.detector_version) == ("nudenet", "test")


def test_review_threshold_sends_to_review_with_the_label_and_score(policy):
    d = decide(policy, {"FEMALE_BREAST_EXPOSED": 0.1}, {"FEMALE_BREAST_EXPOSED": 0.45})
    assert d.decision == "review"
    assert d.reasons == ["FEMALE_BREAST_EXPOSED 0.45 >= review 0.30"]
    assert d.scores["FEMALE_BREAST_EXPOSED"] == 0.45


def test_block_needs_the_threshold_in_enough_frames(policy):
    once = decide(policy, {"MALE_GENITALIA_EXPOSED": 0.9}, {"MALE_GENITALIA_EXPOSED": 0.1})
    assert once.decision == "review" and "in only 1 of 2" in once.reasons[0]
    twice = decide(policy, {"MALE_GENITALIA_EXPOSED": 0.9}, {"MALE_GENITALIA_EXPOSED": 0.7})
    assert twice.decision == "block" and "in 2 of 2 sampled frames [0, 1]" in twice.reasons[0]


def test_thresholds_come_from_the_policy_document():
    strict = Policy.from_dict({"frames": {"fake": {"labels": {"FLAME": {"block": 0.2}}}}},
                              terms=TermLists.load())
    d = strict.decide_frames([{"FLAME": 0.25}], detector="fake", detector_version="1")
    assert d.decision == "block"
    assert strict.decide_frames([{"FLAME": 0.19}], detector="fake",
                                detector_version="1").decision == "allow"


@pytest.mark.parametrize("frames, reason", [
    ([], "no frames could be sampled"),
    ([{"FEMALE_BREAST_EXPOSED": float("nan")}], "returned score nan"),
    ([{"FEMALE_BREAST_EXPOSED": 7.0}], "returned score 7.0"),
    ([{"FEMALE_BREAST_EXPOSED": "high"}], "returned score nan"),
    ([[0.9]], "returned list for a frame"),
])
def test_unusable_detector_output_fails_closed_to_review(policy, frames, reason):
    d = policy.decide_frames(frames, detector="nudenet", detector_version="t")
    assert d.decision == "review" and reason in d.reasons[0]


def test_a_detector_the_policy_does_not_know_is_reviewed(policy):
    d = policy.decide_frames([{"X": 0.0}], detector="other-model", detector_version="2")
    assert d.decision == "review" and "frames.other-model" in d.reasons[0]


def test_detector_failure_is_review_never_allow(policy):
    d = policy.detector_failed("nudenet", "v", RuntimeError("CUDA out of memory"))
    assert d.decision == "review"
    assert d.reasons == ["detector nudenet failed, so a person must look: "
                         "RuntimeError: CUDA out of memory"]


def test_combine_keeps_the_most_severe_decision_every_reason_and_top_scores():
    d = Decision.combine([Decision("allow", [], {"a": 0.2}, "terms", "1"),
                          Decision("block", ["x"], {"a": 0.1, "b": 1.0}, "terms", "1"),
                          Decision("review", ["y"], {}, "nudenet", "3")])
    assert (d.decision, d.reasons, d.scores) == ("block", ["x", "y"], {"a": 0.2, "b": 1.0})
    assert (d.detector, d.detector_version) == ("terms+nudenet", "1+3")
    assert Decision.combine([]).decision == "allow"
    assert d.to_dict()["decision"] == "block"


def test_invalid_policy_documents_are_refused():
    with pytest.raises(ModerationError, match="FLAME: block .* is below review"):
        Policy.from_dict({"frames": {"f": {"labels": {"FLAME": {"review": 0.5, "block": 0.2}}}}},
                         terms=TermLists.load())
    with pytest.raises(ModerationError, match="unknown field"):
        Policy.from_dict({"text": {"fields": {"title": {}}}}, terms=TermLists.load())
    with pytest.raises(ModerationError, match="is not one of"):
        Decision("maybe")
