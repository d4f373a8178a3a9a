"""Moderation checks over plain inputs: texts before generation, a clip's frames after."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media.video import write_video
from moderation import NUDENET_LABELS, NudeNetDetector, Policy
from moderation.checks import TextItem, moderate_clip_frames, moderate_texts, sample_frames


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load()


# Text before generation ---------------------------------------------------------------------

def shot_items(prompt: str, caption_zh: str = "春季新品限时八折") -> list[TextItem]:
    return [TextItem("s1", "prompt", "en", prompt),
            TextItem("s1", "negative_prompt", "en", "blurry, low quality, nudity"),
            TextItem("s1", "caption", "en", "Limited-time offer: 20% off all spring teas"),
            TextItem("s1", "caption", "zh-TW", caption_zh)]


def test_an_evasive_prompt_blocks_and_names_the_shot_and_field(policy):
    decision = moderate_texts(shot_items("A teapot, then c-o-c-a-i-n-e lines"), policy)
    assert decision.decision == "block"
    assert any("prompt of shot s1 (en): 'cocaine' is drugs" in r for r in decision.reasons)
    assert moderate_texts(shot_items("A teapot on a sunny table"), policy).decision == "allow"


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


