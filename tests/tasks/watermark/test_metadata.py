"""The AI-content metadata label in the MP4's tags."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

from media.video import ffmpeg_exe, probe, read_tags, run_ffmpeg
from tasks.watermark import (
    AiContentLabel,
    apply_marks,
    payload_from_content_id,
    read_ai_metadata,
    write_ai_metadata,
)

from .conftest import CONTENT_ID

LABEL = AiContentLabel(content_id=CONTENT_ID, producer="Acme 工厂; id=7 #1",
                       model="animatic:1f2e", created_at=datetime(2026, 11, 21, 8, 0,
                                                                  tzinfo=UTC))


def test_metadata_label_round_trips(clips, tmp_path):
    out = write_ai_metadata(clips["storyboard"], tmp_path / "labelled.mp4", LABEL)
    assert read_ai_metadata(out) == LABEL
    tags = read_tags(out)
    aigc = json.loads(tags["AIGC"])
    assert aigc["Label"] == "1" and aigc["ProduceID"] == CONTENT_ID
    assert aigc["ContentProducer"] == LABEL.producer
    assert tags["ai_generated"] == "true" and tags["ai_model"] == "animatic:1f2e"
    assert probe(out).frames == probe(clips["storyboard"]).frames  # stream copy, all frames


def test_unlabelled_clip_has_no_metadata_label(clips):
    assert read_ai_metadata(clips["storyboard"]) is None


def test_marks_keep_audio_and_metadata_survives_in_place(clips, tmp_path):
    with_audio = tmp_path / "audio.mp4"
    run_ffmpeg(["-i", str(clips["storyboard"]), "-f", "lavfi", "-i",
                "sine=frequency=440:duration=3", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                "-c:a", "aac", "-shortest", str(with_audio)], what="test clip with audio")
    marked = tmp_path / "marked.mp4"
    apply_marks(with_audio, marked, payload=payload_from_content_id(CONTENT_ID),
                label_locale=None)
    write_ai_metadata(marked, marked, LABEL)  # in place
    streams = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(marked)],
                             capture_output=True, text=True).stderr
    assert "Audio: aac" in streams and "Video: h264" in streams
    assert read_ai_metadata(marked) == LABEL
