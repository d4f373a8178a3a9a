"""What the run page and the review form show, built without Prefect: reasons in plain words,
the flagged frames, captions per locale, the clip table's rows; progress events outside a run."""

from __future__ import annotations

import base64
import io
import re
from types import SimpleNamespace

import numpy as np
from PIL import Image

from media.video import write_video
from moderation import Decision, Policy
from tasks.report import (
    ProgressEvent,
    RenderProgress,
    artifact_key,
    clip_rows,
    listening,
    plain_reason,
    review_frames_markdown,
    review_text_markdown,
    stabilize_rows,
)


def images_in(markdown: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(d))) for d in
            re.findall(r"\(data:image/\w+;base64,([A-Za-z0-9+/=]+)\)", markdown)]


def test_detector_reasons_read_in_plain_words():
    assert plain_reason("FEMALE_BREAST_EXPOSED 0.40 >= review 0.30") == \
        "female breast exposed: score 0.40, at or above the review threshold 0.30"
    sentence = "prompt of shot a (en): 'naked' is sexual (review, en list)"
    assert plain_reason(sentence) == sentence


def test_frame_decisions_name_the_frames_that_crossed_a_threshold():
    policy = Policy.load()
    per_frame = [{"FEMALE_BREAST_EXPOSED": 0.1}, {"FEMALE_BREAST_EXPOSED": 0.4},
                 {"FEMALE_BREAST_EXPOSED": 0.05}]
    decision = policy.decide_frames(per_frame, detector="nudenet", detector_version="t",
                                    frame_indices=[0, 16, 32])
    assert decision.decision == "review" and decision.frames == [16]


def test_the_frames_review_shows_the_flagged_frames_and_the_detector(tmp_path):
    path = tmp_path / "master.mp4"
    # Frame 12 alone is white: the one the reviewer must see.
    frames = [np.full((64, 96, 3), 255 if i == 12 else 20, np.uint8) for i in range(24)]
    write_video(path, frames, fps=12, crf=0)
    decision = Decision("review", ["FEMALE_BREAST_EXPOSED 0.40 >= review 0.30"],
                        {"FEMALE_BREAST_EXPOSED": 0.4}, "nudenet", "nudenet 3.4.2 320n", [12])
    markdown = review_frames_markdown(path, decision, width=96)
    assert "female breast exposed: score 0.40" in markdown
    assert "**nudenet**" in markdown and "`nudenet 3.4.2 320n`" in markdown
    (sheet,) = images_in(markdown)
    pixels = np.asarray(sheet.convert("RGB"))
    # One flagged frame: the sheet holds a white cell (the flagged frame) and no other frame.
    assert (pixels > 240).all(axis=2).sum() > 0.8 * 64 * 96


def test_the_text_review_shows_each_caption_per_locale():
    shots = [SimpleNamespace(id="intro", prompt="A naked runner", captions={
        "en": ["Run free"], "de": ["Lauf frei"]})]
    decision = Decision("review", ["prompt of shot intro (en): 'naked' is sexual"], {},
                        "terms", "terms 709d")
    markdown = review_text_markdown(SimpleNamespace(shots=shots), decision)
    assert "| intro | en | Run free |" in markdown and "| intro | de | Lauf frei |" in markdown
    assert "'naked' is sexual" in markdown and "**terms**" in markdown


def test_clip_rows_carry_locale_size_hash_decision_and_links():
    manifest = {"clips": [{"locale": "en", "content_id": "c1", "duration": 2.0, "size": 1234,
                           "sha256": "ab" * 32, "url": "file:///s/en.mp4",
                           "sidecars": {"srt": {"url": "file:///s/en.srt"},
                                        "vtt": {"url": "file:///s/en.vtt"}}}]}
    assert clip_rows(manifest, {"c1": "approved"}) == [{
        "locale": "en", "duration_s": 2.0, "size_bytes": 1234, "sha256": "ab" * 32,
        "decision": "approved", "clip": "file:///s/en.mp4", "srt": "file:///s/en.srt",
        "vtt": "file:///s/en.vtt"}]


def test_stabilize_rows_name_each_render_by_its_shot():
    reports = {"k1": {"before": {"jitter": 4.0, "stability": 0.5},
                      "after": {"jitter": 0.5, "stability": 0.9}}}
    (row,) = stabilize_rows(reports, {"k1": "intro"})
    assert (row["shot"], row["jitter_before"], row["jitter_after"]) == ("intro", 4.0, 0.5)


def test_artifact_keys_hold_only_what_prefect_accepts():
    assert artifact_key("Spring_Launch", "clip", "zh-CN") == "spring-launch-clip-zh-cn"


def test_render_progress_outside_a_run_only_tells_the_listeners():
    seen: list[ProgressEvent] = []
    with listening(seen.append):
        progress = RenderProgress("intro", "k" * 64).start()
        for done in range(1, 4):
            progress(done, 3)
        progress.finish("rendered")
    assert progress.artifact_id is None and progress.updates == 0
    assert [(e.kind, e.done, e.total) for e in seen] == [("step", 1, 3), ("step", 2, 3),
                                                        ("step", 3, 3), ("done", 1, 1)]
